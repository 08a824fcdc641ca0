#!/usr/bin/env bash
# herald's benchmark run (`make bench`; not a test, not in CI).
#
# REST figures (bench/rest.sh), then three real-time workloads run side by
# side against herald, nginx+nchan and uWebSockets.js, each repeated
# $REPEAT times on a fresh server process:
#   a) $A_SUBS WebSocket subscribers, $A_RATE events/s for $A_DUR s
#   b) $B_CONNS idle subscribed WebSocket connections: server RSS per connection
#   c) a burst of $C_EVENTS events to $C_SUBS subscribers
# Results: bench/results/run.jsonl (raw) and bench/results/summary.md
# (medians and herald/peer ratios). Loopback only; every process started
# here is killed by PID on exit.
#   bench/run.sh [herald binary]
#   env: REPEAT=3 SERVERS="herald nchan uws" WORKLOADS="rest a b c" SSE=0
set -euo pipefail
cd "$(dirname "$0")"
BENCH=$PWD
HERALD=$(realpath "${1:-${HERALD_BIN:-../build/herald}}")
REPEAT=${REPEAT:-3}
SERVERS=${SERVERS:-"herald nchan uws"}
WORKLOADS=${WORKLOADS:-"rest a b c"}
A_SUBS=${A_SUBS:-10000} A_RATE=${A_RATE:-20} A_DUR=${A_DUR:-10}
B_CONNS=${B_CONNS:-15000}
C_SUBS=${C_SUBS:-1000} C_EVENTS=${C_EVENTS:-20000}
PROCS=${PROCS:-2}
RESULTS=${RESULTS:-$BENCH/results}
mkdir -p "$RESULTS"
RUN=$RESULTS/run.jsonl
: >"$RUN"

ulimit -n "$(ulimit -Hn)"
[ -x "$HERALD" ] || { echo "run.sh: no herald binary at $HERALD (make)" >&2; exit 1; }
make -s -C "$BENCH" loadgen
LOADGEN=$BENCH/loadgen
if [[ " $SERVERS " == *" uws "* ]] && [ ! -d peers/uws/node_modules/@trufflesuite ]; then
  (cd peers/uws && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

TMP=$(mktemp -d /tmp/herald-bench.XXXXXX)
SERVER_PID="" LG_PIDS=()
kill_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  for p in "${LG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  kill_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }

PORT_BASE=$((21000 + RANDOM % 20000))
RUNNO=0

# Starts server $1 on a fresh port; sets SERVER_PID, PORT, CHAN.
start_server() {
  RUNNO=$((RUNNO + 1))
  PORT=$((PORT_BASE + RUNNO))
  CHAN=run$RUNNO
  case $1 in
    herald)
      rm -rf "$TMP/h"
      mkdir -p "$TMP/h"
      "$HERALD" --listen 127.0.0.1:$PORT --db "$TMP/h/bench.db" --log-level warn --threads ${HERALD_THREADS:-2} \
        >"$TMP/herald.log" 2>&1 &
      SERVER_PID=$!
      ;;
    nchan)
      rm -rf "$TMP/n"
      mkdir -p "$TMP/n/tmp"
      sed "s|@DIR@|$TMP/n|g; s|@PORT@|$PORT|g" peers/nchan/nginx.conf.in >"$TMP/n/nginx.conf"
      nginx -p "$TMP/n" -c "$TMP/n/nginx.conf" >"$TMP/n/out.log" 2>&1 &
      SERVER_PID=$!
      ;;
    uws)
      node peers/uws/server.js $PORT >"$TMP/uws.log" 2>&1 &
      SERVER_PID=$!
      ;;
  esac
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then break; fi
    sleep 0.1
  done
  sleep 0.3
}

# The PIDs that serve connections: nginx's workers, else the server itself.
server_pids() {
  if [ "$1" = nchan ]; then pgrep -P "$SERVER_PID" || true; else echo "$SERVER_PID"; fi
}
rss_kib() { # sum of VmRSS over the server's PIDs
  local t=0 p v
  for p in $(server_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
    t=$((t + ${v:-0}))
  done
  echo $t
}
cpu_ticks() { # utime+stime over the server's PIDs (clock ticks)
  local t=0 p v
  for p in $(server_pids "$1"); do
    v=$(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0)
    t=$((t + ${v:-0}))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)

sub_path() { # $1 server
  case $1 in
    herald) if [ "${TRANSPORT:-ws}" = sse ]; then echo /api/_stream; else echo /api/_ws; fi ;;
    nchan) echo "/sub?id=$CHAN" ;;
    uws) echo /ws ;;
  esac
}
pub_path() {
  case $1 in herald) echo /api/bench ;; nchan) echo "/pub?id=$CHAN" ;; uws) echo /publish ;; esac
}

wait_ready() { # file pid seconds
  local i
  for i in $(seq $(($3 * 10))); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Subscribers + publisher; appends one JSON line to $RUN.
fanout() { # workload server rep subs pubargs...
  local wl=$1 srv=$2 rep=$3 subs=$4 expect=$5 timeout=$6
  shift 6
  local ready=$TMP/ready out=$TMP/sub.json
  rm -f "$ready"
  "$LOADGEN" sub --proto "$srv" --port "$PORT" --path "$(sub_path "$srv")" --conns "$subs" --procs "$PROCS" --transport "${TRANSPORT:-ws}" \
    --expect "$expect" --timeout "$timeout" --quiet 10 --ready-file "$ready" >"$out" 2>"$TMP/sub.err" &
  local lg=$!
  LG_PIDS=($lg)
  if ! wait_ready "$ready" $lg 120; then
    log "$wl/$srv: subscribers not ready"
  fi
  sleep 1
  local c0
  c0=$(cpu_ticks "$srv")
  local pub
  pub=$("$LOADGEN" pub --proto "$srv" --port "$PORT" --path "$(pub_path "$srv")" "$@" 2>"$TMP/pub.err" || true)
  wait $lg || true
  LG_PIDS=()
  local c1
  c1=$(cpu_ticks "$srv")
  local sub
  sub=$(cat "$out")
  [ -n "$sub" ] || sub='{}'
  [ -n "$pub" ] || pub='{}'
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
  echo "{\"workload\":\"$wl\",\"server\":\"$srv\",\"rep\":$rep,\"server_cpu_s\":$cpu,\"sub\":$sub,\"pub\":$pub}" >>"$RUN"
  log "$wl/$srv#$rep: $(jq -c '{d:.sub.deliveries, dps:.sub.deliveries_per_s, p50:.sub.p50_us, p99:.sub.p99_us, max:.sub.max_us, err:.sub.errors, pub_ok:.pub.ok, pub_rps:.pub.req_per_s, cpu:.server_cpu_s}' <<<"$(tail -1 "$RUN")")"
}

idle() { # server rep
  local srv=$1 rep=$2 ready=$TMP/ready out=$TMP/sub.json
  rm -f "$ready"
  sleep 1
  local before
  before=$(rss_kib "$srv")
  "$LOADGEN" sub --proto "$srv" --port "$PORT" --path "$(sub_path "$srv")" --conns "$B_CONNS" --procs "$PROCS" \
    --hold 120 --ready-file "$ready" >"$out" 2>"$TMP/sub.err" &
  local lg=$!
  LG_PIDS=($lg)
  wait_ready "$ready" $lg 150 || log "idle/$srv: not ready"
  sleep 3
  local after
  after=$(rss_kib "$srv")
  kill -TERM $lg 2>/dev/null || true
  wait $lg || true
  LG_PIDS=()
  local sub
  sub=$(cat "$out")
  [ -n "$sub" ] || sub='{"ready":0}'
  local ready_n
  ready_n=$(jq '.ready' <<<"$sub")
  local per
  per=$(awk -v a="$before" -v b="$after" -v n="$ready_n" 'BEGIN {printf "%.0f", (n > 0 ? (b - a) * 1024 / n : 0)}')
  echo "{\"workload\":\"b\",\"server\":\"$srv\",\"rep\":$rep,\"rss_before_kib\":$before,\"rss_after_kib\":$after,\"bytes_per_conn\":$per,\"sub\":$sub}" >>"$RUN"
  log "b/$srv#$rep: ready $ready_n, RSS $before -> $after KiB, $per bytes/connection"
}

log "herald $("$HERALD" --version 2>&1 | head -1); results in $RESULTS"
if [[ " $WORKLOADS " == *" rest "* ]]; then
  log "REST (wrk, long-poll)"
  OUT=$RESULTS/rest.jsonl
  : >"$OUT"
  OUT=$OUT ./rest.sh "$HERALD" || log "rest.sh failed"
fi
for rep in $(seq "$REPEAT"); do
  for wl in a b c; do
    [[ " $WORKLOADS " == *" $wl "* ]] || continue
    for srv in $SERVERS; do
      start_server "$srv"
      case $wl in
        a) fanout a "$srv" "$rep" "$A_SUBS" $((A_RATE * A_DUR)) $((A_DUR + 30)) \
             --rate "$A_RATE" --duration "$A_DUR" --conns 4 ;;
        b) idle "$srv" "$rep" ;;
        c) fanout c "$srv" "$rep" "$C_SUBS" "$C_EVENTS" 240 --count "$C_EVENTS" --conns 32 --depth 2 --timeout 240 ;;
      esac
      kill_server
    done
  done
  if [ "${SSE:-0}" = 1 ]; then
    for srv in herald nchan; do
      start_server "$srv"
      TRANSPORT=sse fanout c-sse "$srv" "$rep" "$C_SUBS" "$C_EVENTS" 240 --count "$C_EVENTS" --conns 32 --depth 2 --timeout 240
      kill_server
    done
  fi
done
node report.cjs "$RESULTS" >"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
