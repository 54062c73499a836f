#!/usr/bin/env bash
# The catalogue benchmark of issue 3: builds the catalogue component to wasm, then imports the
# full 2024 catalogue through the test host and measures lookup by code and name search against
# a one-read baseline over HTTP. Prints the figures and the issue's targets; exits 3 if a
# target fails, 1 if the benchmark cannot run, 2 for bad arguments. Arguments go to the
# benchmark: --duration S, --warmup S, --concurrency N, --kv sqlite|memory, --json FILE
# (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --target wasm32-wasip2 --release -p catalogue
cargo build --profile host -p catalogue-bench

# The components log one line per request to stderr, tens of thousands here: keep them (and
# any error of the benchmark itself, which comes last) in a file rather than on the terminal,
# and show the end of it if the benchmark could not run.
log=target/bench-stderr.log
echo "benchmark stderr (the components' request log): $log" >&2
status=0
cargo run -q --profile host -p catalogue-bench -- "$@" 2>"$log" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
  tail -n 15 "$log" >&2
fi
exit "$status"
