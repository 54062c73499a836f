#!/usr/bin/env bash
# Issue 19, measured the way Spin was (spin-notes.md, ../shared/baseline/README.md): wrk -t2 -c16
# with `Connection: close`, against the test host's `serve` in Spin's mode (SQLite with Spin's
# journal, no request log), the floor (tests/floor) and the app (demo data) served side by side,
# in interleaved rounds; prints each endpoint's median req/s and its ratio to the one-read floor,
# beside Spin's own figures for the floor. The filing check runs with reading ahead (the default)
# and without (kv_read_ahead off: "check-off"), on one store.
#   scripts/bench-wrk.sh [--rounds N] [--duration S]
# Needs wrk and jq (Debian: apt-get install wrk jq). Not part of CI: a benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5
duration=4
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--duration S]" >&2; exit 2 ;;
  esac
done
for tool in wrk jq; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

cargo build -q --target wasm32-wasip2 --release -p catalogue -p filing -p prescription -p settlement -p monitoring -p web -p floor
cargo build -q --profile host -p spin-test-host --bin serve
cargo build -q -p issue-token

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
target/host/serve --manifest tests/floor/spin.toml --listen 127.0.0.1:3981 --sqlite-path "$work/floor.db" >"$work/floor.log" 2>&1 &
pids+=($!)
# the app twice on one store: reading ahead (the default) and not (kv_read_ahead off, as on
# Redis), for the filing check's before and after; the demo's business date inside its agreements
export SPIN_VARIABLE_SANDBOX_CLOCK=-180d
target/host/serve --manifest spin.toml --listen 127.0.0.1:3982 --sqlite-path "$work/app.db" >"$work/app.log" 2>&1 &
pids+=($!)
SPIN_VARIABLE_KV_READ_AHEAD=off target/host/serve --manifest spin.toml --listen 127.0.0.1:3983 --sqlite-path "$work/app.db" >"$work/app-off.log" 2>&1 &
pids+=($!)
for port in 3981 3982 3983; do
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/.well-known/spin/health" >/dev/null && break; sleep 0.2; done
done
# the floor's key, and the app's demo data (written by its first request)
curl -sf http://127.0.0.1:3981/write >/dev/null
curl -sf http://127.0.0.1:3982/api/catalogue/status >/dev/null

floor=http://127.0.0.1:3981
app=http://127.0.0.1:3982
app_off=http://127.0.0.1:3983
as_of=2026-06-01
code=nrdl-928fa9fa9882
# the README's filing (patient applies, physician recommends, office approves), for the check
token() { target/debug/issue-token "$@"; }
json=(-H 'content-type: application/json')
filing=$(curl -sf -X POST "$app/api/filings" -H "Authorization: Bearer $(token patient --psn-no P4201000001)" "${json[@]}" \
  -d '{"psn_no":"P4201000001","code":"nrdl-928fa9fa9882","fixmedins_code":"H42010000001","dr_code":"D420100000001","diagnoses":["C18.900"],"records":["基因检测报告 RAS/BRAF 野生型"],"treatment_plan":"联合 FOLFIRI"}' \
  | jq -r .id)
curl -sf -o /dev/null -X POST "$app/api/filings/$filing/actions" -H "Authorization: Bearer $(token physician --dr-code D420100000001 --fixmedins-code H42010000001)" "${json[@]}" -d '{"action":"recommend","attestation":"符合限定支付范围"}'
curl -sf -o /dev/null -X POST "$app/api/filings/$filing/actions" -H "Authorization: Bearer $(token hospital-office --fixmedins-code H42010000001)" "${json[@]}" -d '{"action":"approve","pharmacy":"P42010000001"}'
pharmacist="Authorization: Bearer $(token pharmacist --phar-code F1 --fixmedins-code P42010000001)"
check="api/filings/check?psn_no=P4201000001&code=$code"
curl -sf -H "$pharmacist" "$app/$check" | grep -q '"valid":true' || { echo "the filing check is not valid: $(curl -s -H "$pharmacist" "$app/$check")" >&2; exit 1; }
names=(empty one-read status baseline lookup coverage search "check" "check-off")
# the same endpoints on real Spin 4.1 (issue 19's table, SQLite, the same wrk settings); search
# was not measured there, the filing check before reading ahead (5 reads)
spin=(11400 8400 6800 4850 4370 4470 "" "" 3390)
urls=("$floor/empty" "$floor/kv" "$app/api/catalogue/status" "$app/api/catalogue/status/baseline"
      "$app/api/catalogue/drugs/$code?as_of=$as_of" "$app/api/catalogue/regions/420100/drugs/$code?as_of=$as_of"
      "$app/api/catalogue/drugs?q=%E9%98%BF&as_of=$as_of" "$app/$check" "$app_off/$check")
# headers per endpoint: the filing check is a pharmacist's
headers=("" "" "" "" "" "" "" "$pharmacist" "$pharmacist")
for i in "${!urls[@]}"; do
  curl -sf -o /dev/null ${headers[$i]:+-H "${headers[$i]}"} "${urls[$i]}" || { echo "not answered 200: ${urls[$i]}" >&2; exit 1; }
done

declare -A figures
for round in $(seq "$rounds"); do
  for i in "${!names[@]}"; do
    rate=$(wrk -t2 -c16 -d"${duration}s" -H 'Connection: close' ${headers[$i]:+-H "${headers[$i]}"} "${urls[$i]}" | awk '/Requests\/sec/ {print $2}')
    figures[${names[$i]}]+="$rate "
  done
  echo "round $round done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
declare -A med
for name in "${names[@]}"; do med[$name]=$(echo "${figures[$name]}" | median); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-10s %8s  %-12s %-16s %s\n' endpoint "req/s" "to one read" "Spin: to one read" "rounds (req/s)"
for i in "${!names[@]}"; do
  name=${names[$i]}
  on_spin=-
  [ -z "${spin[$i]}" ] || on_spin=$(ratio "${spin[$i]}" 8400)
  printf '%-10s %8.0f  %-12s %-16s %s\n' "$name" "${med[$name]}" "$(ratio "${med[$name]}" "${med[one-read]}")" "$on_spin" "${figures[$name]}"
done
echo
echo "one read / empty: $(ratio "${med[one-read]}" "${med[empty]}") (Spin 4.1: 0.74 = 8400 / 11400 req/s; 0.63-0.85 is within 15%)"
echo "status / empty:   $(ratio "${med[status]}" "${med[empty]}") (issue 19's target: 0.9)"
echo "filing check, reading ahead / not: $(ratio "${med[check]}" "${med[check-off]}") (1 store operation / 5)"
