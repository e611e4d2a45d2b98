#!/usr/bin/env bash
# Agent benchmark: screen pops under call load. AGENTS simulated agents
# (bench/agentload: websocket clients of /api/v1/agent/ws, no media, all
# answering on one SIP phone socket of the tool) take the calls SIPp
# (tests/sipp/bench_queue_uac.xml) places at RATE calls/s for DURATION s
# into an IVR flow whose first step queues them
# (bench/ivr-flows/agents.toml, queue `bench`: ring 10 s, no wrap-up, no
# announcements). Each agent answers on its phone, hangs up from its
# screen after HOLD s, wraps up (`resolved`) and is available again.
# One fresh `hibiki serve` (release build, SQLite in a temp dir).
#
#   bench/agent_load.sh                                   # 200 agents, 40 calls/s, 60 s, hold 3 s
#   AGENTS=20 RATE=2 DURATION=10 HOLD=2 bench/agent_load.sh   # a quick look
#
# Measured (the tool's JSON in OUT/report.json, its table in
# OUT/agentload.txt): the pop latency, from the ACD's routing decision
# (`call.offered`'s `offered_at_us`, the server's wall clock) to the
# frame's arrival at the agent's socket (same machine, same clock), p50,
# p90, p99, max; routing decisions per second over the steady window
# (the calling time from the first offer, 3 s trimmed at each end);
# calls offered/connected; errors (offers withdrawn, agents forced not
# ready, error replies, socket errors, phone errors); the server's CPU.
#
# Criteria: every agent available; every SIPp call completed (answered,
# then hung up by its agent); calls offered = calls placed and every
# offer connected; no error; no call waited ≥ 1 s for an agent (the load
# stays below the agents' capacity: RATE × (HOLD + 1) ≤ AGENTS is
# required up front); pop p99 under 20 ms (the target).
#
# Knobs (environment): AGENTS (200), RATE (calls/s, integer, 40),
# DURATION (s of calling, 60), HOLD (s an agent stays on a call, 3),
# RECORDING (1: calls recorded, as in production; 0: not; the WAVs are
# deleted unless KEEP_RECORDINGS=1), BENCH_BIN / AGENTLOAD_BIN (already
# built binaries), OUT (result dir). Loopback only; every step is bounded
# (the tool stops by itself, SIPp has -m, -timeout and a call limit, both
# run under an outer `timeout`).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
case "${1:-}" in
  -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
AGENTS="${AGENTS:-200}"
RATE="${RATE:-40}"
DURATION="${DURATION:-60}"
HOLD="${HOLD:-3}"
RECORDING="${RECORDING:-1}"
KEEP_RECORDINGS="${KEEP_RECORDINGS:-0}"
for v in AGENTS RATE DURATION HOLD; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "$v must be a positive integer (got ${!v})" >&2; exit 2; }
done
case "$RECORDING" in 0) REC_ENABLED=false ;; 1) REC_ENABLED=true ;; *) echo "RECORDING must be 0 or 1" >&2; exit 2 ;; esac
# Each call holds an agent for HOLD s plus its setup (offer, ring, answer:
# well under 1 s); above the agents' capacity calls would queue without
# bound and the pop latency would no longer be what is measured.
if [[ $(( RATE * (HOLD + 1) )) -gt "$AGENTS" ]]; then
  echo "RATE × (HOLD + 1) = $(( RATE * (HOLD + 1) )) exceeds AGENTS = $AGENTS: calls would pile up in the queue" >&2
  exit 2
fi
# The SIPp scenario waits 60 s for the agent's BYE.
if [[ "$HOLD" -gt 40 ]]; then echo "HOLD must be at most 40 s (the caller waits 60 s for its BYE)" >&2; exit 2; fi
command -v sipp >/dev/null || { echo "sipp not found: apt-get install sip-tester" >&2; exit 1; }

OUT="${OUT:-$(mktemp -d /tmp/hibiki-agent-bench.XXXXXX)}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NUMBER=400
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$OUT"

SERVER_PID=""
TOOL_PID=""
cleanup() {
  if [[ -n "$TOOL_PID" ]] && kill -0 "$TOOL_PID" 2>/dev/null; then
    kill -TERM "$TOOL_PID" 2>/dev/null || true
    wait "$TOOL_PID" 2>/dev/null || true
  fi
  TOOL_PID=""
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "   (the server did not exit 30 s after SIGTERM: killing it)" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap cleanup EXIT

# A UDP+TCP port free on 127.0.0.1 (best effort).
free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 10000))
import socket
for _ in range(100):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

# GET http://127.0.0.1:PORT/PATH with bash alone; returns 0 on 200.
http_get() {
  local port="$1" path="$2" resp
  resp="$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3 && timeout 2 cat <&3)" || return 1
  [[ "$resp" == "HTTP/1."?" 200"* ]]
}

# jget FILE KEY: a value of the tool's flat JSON (one key per line).
jget() {
  awk -v k="$2" '{ line = $0; sub(/^ *"/, "", line); n = index(line, "\": ");
    if (n > 0 && substr(line, 1, n - 1) == k) { v = substr(line, n + 3); sub(/,$/, "", v); gsub(/"/, "", v); print v } }' "$1"
}

# A column of the last line of SIPp's -trace_stat CSV, by header name.
stat_col() {
  awk -F';' -v c="$2" 'NR==1 {for (i=1;i<=NF;i++) if ($i==c) k=i} END {print (k ? $k : "")}' "$1"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

if [[ -z "${BENCH_BIN:-}" || -z "${AGENTLOAD_BIN:-}" ]]; then
  echo "building hibiki and hibiki-agentload (release)..."
  cargo build --release --bin hibiki -p hibiki --bin hibiki-agentload -p hibiki-agentload \
    >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
  BENCH_BIN="${BENCH_BIN:-$TARGET_DIR/release/hibiki}"
  AGENTLOAD_BIN="${AGENTLOAD_BIN:-$TARGET_DIR/release/hibiki-agentload}"
fi

# The server: config, admin user, start.
SIP_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
dir="$OUT/server"
mkdir -p "$dir/data" "$dir/recordings"
cat >"$dir/hibiki.toml" <<TOML
[sip]
listen = "127.0.0.1:$SIP_PORT"

[http]
listen = "127.0.0.1:$HTTP_PORT"

[data]
dir = "$dir/data"

[database]
url = "sqlite://$dir/data/hibiki.db"

[media]
port_min = 10000
port_max = 19999
# Nobody sends RTP here (SIPp's caller and the agents' phone are silent).
timeout_seconds = 0
prompts_dir = "$ROOT/ivr-flows/prompts"

[recording]
enabled = $REC_ENABLED
dir = "$dir/recordings"

[ivr]
flows_dir = "$ROOT/bench/ivr-flows"
watch = false

[[queues]]
name = "bench"
skills = [{ name = "support", min_level = 1 }]
ring_seconds = 10
wrap_up_seconds = 0
announce_seconds = 0

[[trunks]]
name = "loadgen"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[routes]]
number = "$NUMBER"
action = "ivr"
flow = "agents"
TOML
ADMIN_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
(cd "$dir" && for v in $(compgen -e | grep '^HIBIKI_' || true); do unset "$v"; done &&
  printf '%s\n' "$ADMIN_PASSWORD" | RUST_LOG=warn NO_COLOR=1 "$BENCH_BIN" --config "$dir/hibiki.toml" \
    user add benchadmin --role admin --password-stdin) >"$dir/user-add.log" 2>&1 \
  || { echo "hibiki user add failed:" >&2; cat "$dir/user-add.log" >&2; exit 1; }
(cd "$dir" && for v in $(compgen -e | grep '^HIBIKI_' || true); do unset "$v"; done &&
  RUST_LOG=warn NO_COLOR=1 exec "$BENCH_BIN" serve --config "$dir/hibiki.toml") \
  >"$dir/stdout.log" 2>"$dir/stderr.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do
  http_get "$HTTP_PORT" /readyz 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "hibiki exited at start:" >&2; tail -30 "$dir/stderr.log" >&2; exit 1; }
  sleep 0.1
done
http_get "$HTTP_PORT" /readyz || { echo "hibiki did not become ready" >&2; tail -30 "$dir/stderr.log" >&2; exit 1; }

# The agents: set up, log in, available; the ready file says so.
SETUP_TIMEOUT=180
FIRST_OFFER_TIMEOUT=30
DRAIN=$(( HOLD + 10 + 15 ))
READY="$OUT/agents.ready"
rm -f "$READY"
echo "== $AGENTS agents, $RATE calls/s for $DURATION s, hold $HOLD s (server: SIP $SIP_PORT, HTTP $HTTP_PORT) =="
AGENTLOAD_ADMIN_USER=benchadmin AGENTLOAD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  timeout $(( SETUP_TIMEOUT + FIRST_OFFER_TIMEOUT + DURATION + DRAIN + 30 )) \
  "$AGENTLOAD_BIN" --http "127.0.0.1:$HTTP_PORT" --agents "$AGENTS" --hold "$HOLD" \
  --duration "$DURATION" --setup-timeout "$SETUP_TIMEOUT" --first-offer-timeout "$FIRST_OFFER_TIMEOUT" \
  --drain "$DRAIN" --ready-file "$READY" --json "$OUT/report.json" \
  >"$OUT/agentload.txt" 2>&1 &
TOOL_PID=$!
for _ in $(seq 1 $(( SETUP_TIMEOUT * 10 ))); do
  [[ -e "$READY" ]] && break
  kill -0 "$TOOL_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -e "$READY" ]]; then
  echo "the agents did not all become available; the tool says:" >&2
  cat "$OUT/agentload.txt" >&2
  exit 1
fi
cat "$OUT/agentload.txt"

# The callers.
CALLS=$(( RATE * DURATION ))
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu_before="$(cpu_ticks "$SERVER_PID")"
t_before="$(date +%s.%N)"
sipp_rc=0
(cd "$OUT" && timeout $(( DURATION + 120 )) sipp -sf "$ROOT/tests/sipp/bench_queue_uac.xml" -s "$NUMBER" \
    -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$(free_port)" \
    -r "$RATE" -rp 1000 -m "$CALLS" -l "$AGENTS" -max_socket 4096 \
    -nostdin -timeout $(( DURATION + 90 ))s -timeout_error \
    -trace_stat -stf sipp-stat.csv -fd 1 -trace_err -error_file sipp-errors.log \
    "127.0.0.1:$SIP_PORT" >sipp.stdout 2>sipp.stderr) || sipp_rc=$?
tool_rc=0
wait "$TOOL_PID" || tool_rc=$?
TOOL_PID=""
cpu_after="$(cpu_ticks "$SERVER_PID")"
t_after="$(date +%s.%N)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
server_cpu_pct="$(awk -v a="$cpu_before" -v b="$cpu_after" -v t0="$t_before" -v t1="$t_after" -v hz="$CLK_TCK" \
  'BEGIN { printf "%.1f", 100 * (b - a) / hz / (t1 - t0) }')"
died=""
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  code=0; wait "$SERVER_PID" || code=$?
  died="server died (exit $code)"
  echo "hibiki DIED (exit status $code); its stderr ends:" >&2
  tail -n 20 "$dir/stderr.log" >&2 || true
  SERVER_PID=""
fi
cleanup
recordings="$(find "$dir/recordings" -name '*.wav' | wc -l)"
if [[ "$KEEP_RECORDINGS" != 1 ]]; then rm -rf "$dir/recordings"; fi
with_agent="-"
if command -v sqlite3 >/dev/null; then
  with_agent="$(sqlite3 "$dir/data/hibiki.db" "SELECT count(*) FROM calls WHERE agent IS NOT NULL;" 2>/dev/null || echo -)"
fi

echo
tail -n +1 "$OUT/agentload.txt" | sed -n '/^agents ready/,$p'
j="$OUT/report.json"
if [[ ! -s "$j" ]]; then
  echo "no report (tool status $tool_rc): see $OUT/agentload.txt" >&2
  exit 1
fi
sipp_ok="$(stat_col "$OUT/sipp-stat.csv" 'SuccessfulCall(C)' 2>/dev/null || true)"
sipp_failed="$(stat_col "$OUT/sipp-stat.csv" 'FailedCall(C)' 2>/dev/null || true)"
sipp_ok="${sipp_ok:-0}"
sipp_failed="${sipp_failed:-$CALLS}"
offered="$(jget "$j" calls_offered)"
connected="$(jget "$j" calls_connected)"
why=()
[[ "$(jget "$j" agents_ready)" == "$AGENTS" ]] || why+=("agents not ready")
[[ "$sipp_ok" == "$CALLS" && "$sipp_failed" == 0 && "$sipp_rc" == 0 ]] || why+=("SIPp calls failed")
[[ "$offered" == "$CALLS" && "$connected" == "$CALLS" ]] || why+=("offered/connected ≠ calls")
[[ "$(jget "$j" errors)" == 0 ]] || why+=("errors")
[[ "$(jget "$j" offers_after_waiting)" == 0 ]] || why+=("calls waited for an agent")
[[ "$(jget "$j" pop_p99_under_20ms)" == true ]] || why+=("pop p99 ≥ 20 ms")
[[ -z "$died" ]] || why+=("$died")
[[ "$tool_rc" -eq 0 ]] || why+=("tool status $tool_rc")
pass=yes
if [[ ${#why[@]} -gt 0 ]]; then pass="no ($(IFS=,; echo "${why[*]}"))"; fi

{
  echo
  echo "$AGENTS agents, SIPp $RATE calls/s for $DURATION s ($CALLS calls), hold $HOLD s, recording $REC_ENABLED; $(nproc) cores; load average $load_before → $load_after"
  echo
  echo "| agents | calls placed | SIPp ok / failed | offered | connected | pop p50 µs | p90 µs | p99 µs | max µs | decisions/s (steady) | busy agents peak | waited ≥ 1 s | errors | server CPU % | calls with agent (DB) | pass |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '| %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$AGENTS" "$CALLS" "$sipp_ok" "$sipp_failed" "$offered" "$connected" \
    "$(jget "$j" pop_p50_us)" "$(jget "$j" pop_p90_us)" "$(jget "$j" pop_p99_us)" "$(jget "$j" pop_max_us)" \
    "$(jget "$j" decisions_per_second)" "$(jget "$j" busy_agents_peak)" "$(jget "$j" offers_after_waiting)" \
    "$(jget "$j" errors)" "$server_cpu_pct" "$with_agent" "$pass"
  echo
  echo "$recordings recordings written"
} | tee "$OUT/summary.md"
echo "raw results: $OUT"
[[ "$pass" == yes ]]
