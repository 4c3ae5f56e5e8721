#!/usr/bin/env bash
# Runs the whole test suite in three Bazel invocations plus two one-test
# steps, and prints a final "N passed, N failed, N skipped" line:
#   1. default config, every test            (bazel test //...)
#   2. ThreadSanitizer, tests tagged `concurrency`
#   3. ASan+UBSan, every test not tagged `concurrency` or `no_asan`
#   tsa:  clang thread-safety analysis, `bazel build --config=tsa` of every
#         target (not only tests); one test, passed if the build succeeds
#   fuzz: the parse-chain fuzzer, bounded in time; one test
# Every run is attempted even if an earlier one failed. Per-run logs go to
# out/test-logs/<run>.log and are streamed to stdout as well.
#
# passed/failed count test targets (and the two steps). Bazel reports a
# target whose test cases skipped as PASSED, so skips are counted apart:
# "skipped" is the number of skipped test cases inside targets that passed
# (such a target still counts as passed), read from each passed target's
# test.log: gtest's "[  SKIPPED ] Suite.Case" lines (GTEST_SKIP), and for
# shell tests a line starting "SKIPPED: <reason>" (the convention for an
# sh_test that cannot run: print that line and exit 0). Each skipped case is
# listed by name with its run.
#
# Environment:
#   NETISR_TEST_FAST=1       skip the two sanitizer runs (developer iteration)
#   NETISR_TEST_TARGETS=...  space-separated target patterns (default //...)
set -uo pipefail

cd "$(dirname "$0")/.."

LOG_DIR=out/test-logs
mkdir -p "$LOG_DIR"

read -r -a TARGETS <<<"${NETISR_TEST_TARGETS:-//...}"
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  TARGETS=(//...)
fi

# Debian's bazel-bootstrap 4.2.3 linux-sandbox prints its debug trace for
# every action (even without --sandbox_debug), which buries compiler errors and
# test output; the process-wrapper sandbox is quiet. Not part of any cache key.
COMMON_FLAGS=(
  --noshow_progress --color=no --curses=no
  --spawn_strategy=processwrapper-sandbox
  --keep_going
  --test_output=errors --test_summary=short
)

total_passed=0
total_failed=0
total_skipped=0
skipped_list=()  # "run: //target: case"

if ! scripts/bootstrap.sh; then
  echo "test: scripts/bootstrap.sh failed; cannot run the tests" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# skipped_cases <testlogs dir> <//pkg:target>: prints the target's skipped
# test cases, one a line, from its test.log files (all shards and attempts
# of the run just made; bazel-testlogs points at that run's configuration).
skipped_cases() {
  local dir=$1 target=$2
  [[ -n $dir ]] || return 0
  local rel=${target#//}
  rel=${rel/://}
  rel=${rel#/}
  # The target's own log, or its shards' (not a subpackage's targets).
  local logs=() f
  for f in "$dir/$rel/test.log" "$dir/$rel"/shard_*/test.log; do
    [[ -f $f ]] && logs+=("$f")
  done
  [[ ${#logs[@]} -gt 0 ]] || return 0
  sed -n -E \
    -e 's/^\[  SKIPPED \] ([^ ]+\.[^ ]+)( \(.*)?$/\1/p' \
    -e 's/^SKIPPED: (.*)$/shell test: \1/p' \
    "${logs[@]}" |
    sort -u
}

# run_bazel <index> <name> <description> <extra bazel flags...>
run_bazel() {
  local index=$1 name=$2 desc=$3
  shift 3
  local log="$LOG_DIR/$name.log"
  echo "== run $index/3: $name ($desc) =="

  bazel test "${COMMON_FLAGS[@]}" "$@" -- "${TARGETS[@]}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}

  # Parse the per-target summary lines, e.g.
  #   //tests:foo_test        (cached) PASSED in 0.1s
  #   //tests:bar_test                 FAILED in 2 out of 2 in 0.3s
  #   //tests:baz_test                 FAILED TO BUILD
  #   //tests:qux_test                 FLAKY, failed in 1 out of 2 in 0.2s
  # Anything that is not PASSED (FAILED, TIMEOUT, FLAKY, NO STATUS,
  # FAILED TO BUILD, INCOMPLETE, ...) counts as failed. Keyed by target so a
  # target that shows up twice is counted once.
  local -A status=()
  local line target rest
  while IFS= read -r line; do
    if [[ $line =~ ^(//[^[:space:]]+)[[:space:]]+(\(cached\)[[:space:]]+)?([A-Z][A-Z ,]*[A-Z]) ]]; then
      target=${BASH_REMATCH[1]}
      rest=${BASH_REMATCH[3]}
      status[$target]=$rest
    fi
  done <"$log"

  local passed=0 failed=0 skipped=0 t
  local testlogs
  testlogs=$(readlink -f bazel-testlogs 2>/dev/null || true)
  for t in "${!status[@]}"; do
    case ${status[$t]} in
      PASSED*)
        passed=$((passed + 1))
        local c
        while IFS= read -r c; do
          [[ -n $c ]] || continue
          skipped=$((skipped + 1))
          skipped_list+=("$name: $t: $c")
        done < <(skipped_cases "$testlogs" "$t")
        ;;
      SKIPPED*) ;;  # target incompatible with the platform: neither
      *) failed=$((failed + 1)) ;;
    esac
  done

  local note=""
  case $rc in
    0) ;;
    4)
      # "No test targets were found": nothing matched the tag filter.
      if [[ $passed -eq 0 && $failed -eq 0 ]]; then
        note=" (no tests matched)"
      else
        note=" (bazel exit 4)"
      fi
      ;;
    3)
      # Some tests failed; make sure that is reflected even if the summary
      # could not be parsed.
      if [[ $failed -eq 0 ]]; then
        failed=1
      fi
      note=" (bazel exit 3: tests failed)"
      ;;
    *)
      # Build/analysis error (1), bad command line (2), crash, ...: a failure
      # even when every test that did build passed.
      if [[ $failed -eq 0 ]]; then
        failed=1
      fi
      note=" (bazel exit $rc: BUILD ERROR, see $log)"
      ;;
  esac

  echo "== run $index/3: $name: $passed passed, $failed failed, $skipped skipped$note =="
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

run_bazel 1 default "all tests"

if [[ ${NETISR_TEST_FAST:-0} == 1 ]]; then
  echo "== run 2/3: tsan skipped (NETISR_TEST_FAST=1) =="
  echo "== run 3/3: asan skipped (NETISR_TEST_FAST=1) =="
else
  # --build_tests_only: under a sanitizer only the selected tests are built,
  # not every binary and benchmark (run 1 already checks those build).
  run_bazel 2 tsan "tests tagged concurrency" \
    --config=tsan --build_tests_only --test_tag_filters=concurrency
  run_bazel 3 asan "ASan+UBSan, tests not tagged concurrency or no_asan" \
    --config=asan --build_tests_only --test_tag_filters=-concurrency,-no_asan
  # Clang's thread-safety analysis over every target (GUARDED_BY, REQUIRES,
  # ... in lockprof/thread_annotations.h): -Werror=thread-safety, so a field
  # read or written without the lock its annotation names fails the build.
  # One test.
  echo "== tsa: bazel build --config=tsa ${TARGETS[*]} =="
  if bazel build "${COMMON_FLAGS[@]}" --config=tsa -- "${TARGETS[@]}" \
      >"$LOG_DIR/tsa.log" 2>&1; then
    echo "== tsa: 1 passed, 0 failed =="
    total_passed=$((total_passed + 1))
  else
    echo "== tsa: FAILED, see $LOG_DIR/tsa.log =="
    grep -E "error:|^ERROR" "$LOG_DIR/tsa.log" | head -n 30
    total_failed=$((total_failed + 1))
  fi

  # The parse-chain fuzzer (clang libFuzzer + ASan/UBSan), bounded in time;
  # it counts as one test.
  echo "== fuzz: parse chain (${FUZZ_SECONDS:-60} s) =="
  mkdir -p out/test-logs
  if FUZZ_SECONDS=${FUZZ_SECONDS:-60} fuzz/run_fuzzer.sh >out/test-logs/fuzz.log 2>&1; then
    echo "== fuzz: 1 passed, 0 failed =="
    total_passed=$((total_passed + 1))
  else
    echo "== fuzz: FAILED, see out/test-logs/fuzz.log =="
    tail -n 30 out/test-logs/fuzz.log
    total_failed=$((total_failed + 1))
  fi
fi

if [[ $total_skipped -gt 0 ]]; then
  echo "== skipped test cases (their targets count as passed) =="
  printf '  %s\n' "${skipped_list[@]}"
fi
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[[ $total_failed -eq 0 ]]
