#!/usr/bin/env bash
# The benchmarks, through the test host over HTTP, each against a one-read baseline measured in
# the same run:
#   scripts/bench.sh catalogue [options]     issue 3: import, lookup by code, name search
#   scripts/bench.sh prescription [options]  issue 5: pre-check and dispensing with 100,000
#                                            prescriptions and 50,000 filings stored
#   scripts/bench.sh settlement [options]    issue 6: pre-settlement and settlement
#   scripts/bench.sh floor [options]         issue 19: the minimal components of tests/floor alone
#                                            (empty, one read, writes, increment), the host's
#                                            ratios beside Spin's
# Every in-process run also serves tests/floor beside the app and reports each endpoint against
# its one-read component (issue 19's column; not with --url, where the floor is not deployed).
#   scripts/bench.sh --url URL catalogue …   the same against a running app (real Spin, Redis,
#                                            Kubernetes), seeded through its API: it WRITES into
#                                            that app's store (README.md, "Benchmark")
# Builds the components to wasm first (not with --url). Prints the figures and the issue's
# targets; exits 3 if a target fails, 1 if the benchmark cannot run, 2 for bad arguments.
# Options: --duration S, --warmup S, --concurrency N, --kv sqlite|memory, --url URL,
# --connection-close, --json FILE, and each benchmark's scale (see `--help` of each).
set -euo pipefail
cd "$(dirname "$0")/.."

case " $* " in
  *" --url "* | *" --url="*) ;;
  *) cargo build --target wasm32-wasip2 --release -p catalogue -p filing -p prescription -p settlement -p monitoring -p floor ;;
esac
cargo build --profile host -p app-bench

# With SPIN_VARIABLE_REQUEST_LOG=all the components log one line per request to stderr, hundreds
# of thousands here (by default only 4xx and 5xx answers): keep them (and
# any error of the benchmark itself, which comes last) in a file rather than on the terminal,
# and show the end of it if the benchmark could not run.
log=target/bench-stderr.log
echo "benchmark stderr (the components' request log): $log" >&2
status=0
cargo run -q --profile host -p app-bench -- "$@" 2>"$log" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
  tail -n 15 "$log" >&2
fi
exit "$status"
