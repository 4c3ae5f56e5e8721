#!/usr/bin/env bash
# Builds //apps:netisr optimised and runs the main job, `netisr compare`:
#   scripts/run.sh                 netisr compare (report in netisr-report/)
#   scripts/run.sh --json          netisr compare --json
#   scripts/run.sh SUBCOMMAND ...  any subcommand: run, sim, compare,
#                                  calibrate, sweep, lockprof, tcp-echo, router
#   scripts/run.sh --cpus 1 ...    other flags: `netisr run` with your flags
#                                  (the default bench experiment's replaced)
set -euo pipefail

cd "$(dirname "$0")/.."

DEFAULT_ARGS=(--cpus 2 --model threads --dispatch hybrid --policy flow
  --flows 64 --packets 2000000 --handler-ns 0)

scripts/bootstrap.sh >&2

# Quiet sandbox: Debian's bazel-bootstrap linux-sandbox logs every action.
bazel build -c opt --noshow_progress --color=no --curses=no \
  --spawn_strategy=processwrapper-sandbox //apps:netisr >&2

# Resolve the opt output tree explicitly: the bazel-bin convenience symlink
# follows whatever configuration the most recent bazel command used.
bin_dir=$(bazel info -c opt bazel-bin 2>/dev/null || echo bazel-bin)
binary="$bin_dir/apps/netisr"
if [[ ! -x $binary ]]; then
  echo "run: $binary not found after build" >&2
  exit 1
fi

args=("$@")
if [[ ${#args[@]} -eq 0 || (${#args[@]} -eq 1 && ${args[0]} == --json) ]]; then
  exec "$binary" compare "${args[@]}"
fi
case ${args[0]} in
  sim | compare | calibrate | sweep | lockprof | tcp-echo | router) exec "$binary" "${args[@]}" ;;
  run) args=("${args[@]:1}") ;;
esac
if [[ ${#args[@]} -eq 0 ]]; then
  args=("${DEFAULT_ARGS[@]}")
fi

exec "$binary" run "${args[@]}"
