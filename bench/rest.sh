#!/usr/bin/env bash
# REST benchmark for herald (not a test): GET by id, POST create and
# long-poll wake-up latency. Starts its own herald on a free loopback port
# with a throwaway database, prints a summary and writes JSON lines to
# $OUT (default bench/results/rest.jsonl).
#   bench/rest.sh [herald binary]      env: DURATION=10 CONNS="64 256"
set -euo pipefail
cd "$(dirname "$0")"
HERALD=${1:-${HERALD_BIN:-../build/herald}}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"64 256"}
OUT=${OUT:-results/rest.jsonl}
mkdir -p "$(dirname "$OUT")"
command -v wrk >/dev/null || { echo "rest.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/herald-rest.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=${PORT:-$((20000 + RANDOM % 20000))}
"$HERALD" --listen 127.0.0.1:$PORT --db "$TMP/rest.db" --log-level warn >"$TMP/herald.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"

id=$(curl -sf -X POST -H 'Content-Type: application/json' -d '{"name":"one","n":1}' "$BASE/api/bench" |
  sed 's/.*"id":"\([^"]*\)".*/\1/')

# wrk's "Requests/sec:" and latency percentiles -> one JSON line.
run_wrk() { # name conns args...
  local name=$1 c=$2
  shift 2
  local txt
  txt=$(wrk -t2 -c"$c" -d"${DURATION}s" --latency "$@")
  local rps p50 p99 errs
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$txt")
  p50=$(awk '$1=="50%" {print $2}' <<<"$txt")
  p99=$(awk '$1=="99%" {print $2}' <<<"$txt")
  errs=$(grep -o 'non2xx=.*' <<<"$txt" || true)
  printf '%-22s conns=%-4s %10s req/s  p50 %-8s p99 %-8s %s\n' "$name" "$c" "$rps" "$p50" "$p99" "$errs" >&2
  printf '{"bench":"%s","conns":%s,"req_per_s":%s,"p50":"%s","p99":"%s","errors":"%s"}\n' \
    "$name" "$c" "$rps" "$p50" "$p99" "$errs" >>"$OUT"
}

for c in $CONNS; do run_wrk get_by_id "$c" -s get.lua "$BASE/api/bench/$id"; done
for c in $CONNS; do run_wrk post_create "$c" -s post.lua "$BASE/api/bench"; done

lp=$(node longpoll.cjs "$PORT" 10 20)
echo "longpoll_wakeup         $lp" >&2
echo "{\"bench\":\"longpoll_wakeup\",\"result\":$lp}" >>"$OUT"
