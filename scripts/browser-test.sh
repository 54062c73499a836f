#!/usr/bin/env bash
# Browser tests of the web app (issue 18): builds the web app and the six components, serves
# them with the project's test host (`serve`, in-memory store, demo data on), and drives Debian's
# headless Chromium (/usr/bin/chromium) with playwright-core through web/tests/*.test.mjs.
# Screenshots land in target/browser-tests/. Needs: node ≥ 20.19 with npm, `chromium`, and a
# CJK font (fonts-wqy-zenhei or fonts-noto-cjk) from Debian.
#
# The demo catalogue is the 2024 edition, whose agreements end in 2025 and 2026: the server's
# sandbox clock is set so its business date is 2026-06-01 whatever today is (override with
# BROWSER_TEST_DATE=YYYY-MM-DD).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium fonts-wqy-zenhei)" >&2; exit 1; }

# BROWSER_TEST_PREBUILT=1: the web app and the components are built already (scripts/test.sh,
# whose scenario runs are reading the .wasm files meanwhile: rebuilding them now would race)
if [ -z "${BROWSER_TEST_PREBUILT:-}" ]; then
  scripts/web-build.sh
  cargo build --target wasm32-wasip2 --release -p catalogue -p filing -p prescription -p settlement -p monitoring -p web
fi
# the test host's `serve`: SERVE_BIN names one already built (scripts/test.sh passes the one
# `cargo test` built), else it is built here with the quick `host` profile
serve=${SERVE_BIN:-}
if [ -z "$serve" ] || [ ! -x "$serve" ]; then
  cargo build --profile host -p spin-test-host --bin serve
  serve=target/host/serve
fi

date_wanted=${BROWSER_TEST_DATE:-2026-06-01}
days=$(( ( $(date -u +%s) - $(date -u -d "$date_wanted" +%s) ) / 86400 ))
if [ "$days" -gt 0 ]; then export SPIN_VARIABLE_SANDBOX_CLOCK="-${days}d"
elif [ "$days" -lt 0 ]; then export SPIN_VARIABLE_SANDBOX_CLOCK="+$(( -days ))d"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$serve" --kv memory --listen "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 900); do   # up to 3 minutes: six components are compiled at start, on a busy CI machine
  curl -sf "http://127.0.0.1:$port/api/catalogue/status" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the test host did not start" >&2; exit 1; }
  sleep 0.2
done

cd web
status=0
APP_URL="http://127.0.0.1:$port" node --test --test-concurrency=1 tests/ || status=$?
if [ "$status" -ne 0 ]; then
  echo "=== test host log (last 40 lines) ===" >&2
  grep -v -E ' -> (2|3)[0-9][0-9] ' "$log" | tail -n 40 >&2 || true
fi
echo "screenshots: target/browser-tests/"
exit "$status"
