#!/usr/bin/env bash
# Builds //apps:netisr optimised and runs one dispatch experiment:
#   scripts/run.sh                 the default experiment below
#   scripts/run.sh --json          the default experiment, JSON output
#   scripts/run.sh --cpus 1 ...    your own flags (replace the defaults)
# Arguments are passed to `netisr run`; a leading `run` is accepted too.
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
if [[ ${#args[@]} -gt 0 && ${args[0]} == run ]]; then
  args=("${args[@]:1}")
fi
if [[ ${#args[@]} -eq 0 || (${#args[@]} -eq 1 && ${args[0]} == --json) ]]; then
  args=("${DEFAULT_ARGS[@]}" "${args[@]}")
fi

exec "$binary" run "${args[@]}"
