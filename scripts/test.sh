#!/usr/bin/env bash
# The project's one test command: builds the web app and the six Spin components to wasm (exactly as
# spin.toml's build commands do), then runs every test in the workspace — rule unit and
# property tests, store and API tests, the test host's own tests, and the HTTP scenario tests
# that drive the built .wasm files through the host — and the scenario suite again on the
# stores production runs on: SQLite, and Redis.
#
# Redis: SPIN_TEST_REDIS_URL names a server to use; else, where `redis-server` is installed,
# this script starts one of its own on a free port and stops it at the end. Without either the
# Redis runs are skipped (and fail when SPIN_TEST_REDIS_REQUIRED is set, as CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

# the web component embeds the built web app (web/dist): build that first (npm, pinned lockfile)
scripts/web-build.sh
# tests/floor: the minimal components the benchmarks (and their smoke tests) measure beside the app
cargo build --target wasm32-wasip2 --release -p catalogue -p filing -p prescription -p settlement -p monitoring -p web -p floor
# the README's examples mint their first token with `cargo run -q -p issue-token` (the scenario
# suite's readme test runs them): built here, so that run finds it built
cargo build -q -p issue-token

if [ -z "${SPIN_TEST_REDIS_URL:-}" ] && command -v redis-server >/dev/null; then
  redis_dir=$(mktemp -d)
  port=$((20000 + RANDOM % 20000))
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
    --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  trap 'kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export SPIN_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
fi
if [ -z "${SPIN_TEST_REDIS_URL:-}" ]; then
  echo "warning: no Redis (SPIN_TEST_REDIS_URL unset, no redis-server): the Redis runs are skipped" >&2
  [ -z "${SPIN_TEST_REDIS_REQUIRED:-}" ] || { echo "SPIN_TEST_REDIS_REQUIRED is set" >&2; exit 1; }
fi

# Every test, the scenarios on the in-memory store.
cargo test --workspace "$@"

# The scenario suite on SQLite and on Redis, the two at once (each is mostly waiting on the
# store and the sockets), each with its own log shown whole at the end. The contention tests
# already ran on both stores (two host processes each) and the fault sweeps do not depend on
# the store: they are not run again.
logs=$(mktemp -d)
again=(-- --skip contention:: --skip faults::)
SCENARIO_KV=sqlite cargo test -p scenarios --test scenarios "$@" "${again[@]}" >"$logs/sqlite.log" 2>&1 &
sqlite=$!
redis=
if [ -n "${SPIN_TEST_REDIS_URL:-}" ]; then
  SCENARIO_KV="$SPIN_TEST_REDIS_URL" cargo test -p scenarios --test scenarios "$@" "${again[@]}" >"$logs/redis.log" 2>&1 &
  redis=$!
fi
# The browser tests (web/tests, headless Chromium against the test host's `serve`), beside the
# two runs above; `serve` is the one `cargo test` just built. Skipped without Chromium unless
# BROWSER_TESTS_REQUIRED is set (CI sets it).
browser=
if command -v chromium >/dev/null; then
  BROWSER_TEST_PREBUILT=1 SERVE_BIN=target/debug/serve scripts/browser-test.sh >"$logs/browser.log" 2>&1 &
  browser=$!
else
  echo "warning: chromium is not installed: the browser tests are skipped" >&2
  [ -z "${BROWSER_TESTS_REQUIRED:-}" ] || { echo "BROWSER_TESTS_REQUIRED is set" >&2; exit 1; }
fi
status=0
wait "$sqlite" || status=1
echo "=== scenario suite on SQLite ==="; grep -v -E '^(GET|POST|PUT|DELETE) ' "$logs/sqlite.log" || true
if [ -n "$redis" ]; then
  wait "$redis" || status=1
  echo "=== scenario suite on Redis ==="; grep -v -E '^(GET|POST|PUT|DELETE) ' "$logs/redis.log" || true
fi
if [ -n "$browser" ]; then
  wait "$browser" || status=1
  echo "=== browser tests ==="; cat "$logs/browser.log"
fi
rm -rf "$logs"
exit "$status"
