#!/usr/bin/env bash
# SIP load benchmark: SIPp (tests/sipp/bench_uac.xml: INVITE-100-180-200-ACK-BYE-200,
# no pause) at rising call rates, first against SIPp's own answering scenario
# (`sipp -sn uas`), then against `hibiki serve` (release build, route 100 with
# ring_ms = 0, SQLite in a temp dir, log level warn), on the same machine at the
# same rates. Then a soak at one rate against hibiki, sampling its RSS.
#
#   bench/sip_load.sh                      # everything (about 5 minutes)
#   RATES="250 500" DURATION=5 SOAK=0 bench/sip_load.sh   # a quick look
#
# Knobs (environment): RATES (calls/s, ascending), DURATION (s per rate),
# SOAK (s of the RSS run, 0 to skip), SOAK_RATE (calls/s), TARGETS ("uas hibiki"),
# BENCH_BIN (skip the release build), OUT (result dir).
#
# Everything is bounded: each step has a call count (-m rate*DURATION), SIPp's
# own -timeout and an outer `timeout`; a rate with any failed call ends the
# climb for that target. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
RATES="${RATES:-250 500 1000 1500 2000 2500 3000 3500 4000}"
DURATION="${DURATION:-10}"
SOAK="${SOAK:-60}"
SOAK_RATE="${SOAK_RATE:-1000}"
TARGETS="${TARGETS:-uas hibiki}"
OUT="${OUT:-$(mktemp -d /tmp/hibiki-bench.XXXXXX)}"
SCENARIO="$ROOT/tests/sipp/bench_uac.xml"
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$OUT"

command -v sipp >/dev/null || { echo "sipp not found: apt-get install sip-tester (or run ./scripts/test.sh)" >&2; exit 1; }

SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # A graceful shutdown may wait for live calls (its grace bound): allow 30 s.
    for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "   (the server did not exit 30 s after SIGTERM: killing it)" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# A UDP+TCP port free on 127.0.0.1 (best effort).
free_port() {
  python3 - <<'EOF' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
for _ in range(100):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(); 
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
EOF
}

# GET http://127.0.0.1:PORT/PATH with bash alone; prints the body, returns 0 on 200.
http_get() {
  local port="$1" path="$2" resp
  resp="$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3 && timeout 2 cat <&3)" || return 1
  printf '%s' "${resp#*$'\r\n\r\n'}"
  [[ "$resp" == "HTTP/1."?" 200"* ]]
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
vm_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

start_uas() {
  SIP_PORT="$(free_port)"
  sipp -sn uas -i 127.0.0.1 -p "$SIP_PORT" -nostdin -max_socket 4096 \
    >"$OUT/uas.stdout" 2>"$OUT/uas.stderr" &
  SERVER_PID=$!
  SERVER_LOG="$OUT/uas.stderr"
  sleep 0.5 # SIPp has no readiness signal; it binds before its first screen
  kill -0 "$SERVER_PID" || { echo "sipp uas did not start" >&2; cat "$OUT/uas.stderr" >&2; exit 1; }
}

# start_hibiki [NAME]: a fresh server in $OUT/NAME (default "hibiki").
start_hibiki() {
  local name="${1:-hibiki}"
  local bin="${BENCH_BIN:-}"
  if [[ -z "$bin" ]]; then
    echo "building hibiki (release)..."
    cargo build --release --bin hibiki >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
    bin="$ROOT/target/release/hibiki"
    BENCH_BIN="$bin"
  fi
  SIP_PORT="$(free_port)"
  HTTP_PORT="$(free_port)"
  local dir="$OUT/$name"
  SERVER_LOG="$dir/stderr.log"
  mkdir -p "$dir/data"
  cat >"$dir/hibiki.toml" <<EOF
[sip]
listen = "127.0.0.1:$SIP_PORT"

[http]
listen = "127.0.0.1:$HTTP_PORT"

[data]
dir = "$dir/data"

[database]
url = "sqlite://$dir/data/hibiki.db"

[[trunks]]
name = "carrier"
[trunks.inbound]
sources = ["127.0.0.1/32"]

[[routes]]
number = "100"
action = "test"
ring_ms = 0
EOF
  (cd "$dir" && for v in $(compgen -e | grep '^HIBIKI_' || true); do unset "$v"; done &&
    RUST_LOG=warn NO_COLOR=1 exec "$bin" serve --config "$dir/hibiki.toml") \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    http_get "$HTTP_PORT" /readyz >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "hibiki did not become ready" >&2
  tail -30 "$dir/stderr.log" >&2
  exit 1
}

# percentile P (0-100) of a sorted file of numbers
pct() { awk -v p="$2" '{a[NR]=$1} END {if (NR==0) {print "-"; exit} i=int((p/100)*NR+0.999999); if (i<1) i=1; if (i>NR) i=NR; print a[i]}' "$1"; }

# column value by header name from the last line of a SIPp -trace_stat CSV
stat_col() {
  awk -F';' -v c="$2" 'NR==1 {for (i=1;i<=NF;i++) if ($i==c) k=i} END {print (k ? $k : "")}' "$1"
}

RESULTS="$OUT/results.tsv"
printf 'target\trate\tcalls\tok\tfailed\tinv180_p50_ms\tinv180_p99_ms\tinv200_p50_ms\tinv200_p99_ms\tcpu_us_per_call\tpeak_rss_kb\n' >"$RESULTS"

# run_rate TARGET RATE: one bounded step; returns 1 when any call failed.
run_rate() {
  local target="$1" rate="$2" calls=$(( $2 * DURATION ))
  local dir="$OUT/$target-$rate"
  mkdir -p "$dir"
  local before after
  before="$(cpu_ticks "$SERVER_PID")"
  local rc=0
  (cd "$dir" && timeout $((DURATION + 60)) sipp -sf "$SCENARIO" -s 100 -i 127.0.0.1 -p "$(free_port)" \
      -r "$rate" -rp 1000 -m "$calls" -l $((rate * 2)) -max_socket 4096 \
      -nostdin -timeout $((DURATION + 30))s -timeout_error \
      -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1000 \
      -trace_err -error_file errors.log \
      "127.0.0.1:$SIP_PORT" >sipp.stdout 2>sipp.stderr) || rc=$?
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    local code=0
    wait "$SERVER_PID" || code=$?
    echo "   $target DIED during the $rate calls/s step (exit status $code); its stderr ends:" >&2
    tail -n 20 "$SERVER_LOG" >&2 || true
    printf '%s\t%s\t%s\tdied (exit %s)\n' "$target" "$rate" "$calls" "$code" | tee -a "$RESULTS"
    SERVER_PID=""
    return 1
  fi
  after="$(cpu_ticks "$SERVER_PID")"
  local ok failed
  ok="$(stat_col "$dir/stat.csv" 'SuccessfulCall(C)')"
  failed="$(stat_col "$dir/stat.csv" 'FailedCall(C)')"
  ok="${ok:-0}"
  failed="${failed:-$calls}"
  local rtt
  rtt="$(ls "$dir"/*_rtt.csv 2>/dev/null | head -n 1 || true)"
  awk -F';' '$3=="inv180" {print $2}' "${rtt:-/dev/null}" | sort -n >"$dir/inv180.txt"
  awk -F';' '$3=="inv200" {print $2}' "${rtt:-/dev/null}" | sort -n >"$dir/inv200.txt"
  local cpu_us="-"
  if [[ "$ok" -gt 0 ]]; then
    cpu_us=$(( (after - before) * 1000000 / CLK_TCK / ok ))
  fi
  local rss
  rss="$(vm_kb "$SERVER_PID" VmHWM)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$rate" "$calls" "$ok" "$failed" \
    "$(pct "$dir/inv180.txt" 50)" "$(pct "$dir/inv180.txt" 99)" \
    "$(pct "$dir/inv200.txt" 50)" "$(pct "$dir/inv200.txt" 99)" "$cpu_us" "$rss" | tee -a "$RESULTS"
  [[ "$rc" -eq 0 && "$failed" -eq 0 && "$ok" -eq "$calls" ]]
}

declare -A BEST
for target in $TARGETS; do
  BEST[$target]=0
  echo "== $target =="
  "start_$target"
  for rate in $RATES; do
    if run_rate "$target" "$rate"; then
      BEST[$target]=$rate
    else
      echo "   $target: failures at $rate calls/s; stopping the climb (details: $OUT/$target-$rate/)"
      break
    fi
  done
  if [[ "$target" == hibiki && -n "${HTTP_PORT:-}" ]]; then
    http_get "$HTTP_PORT" /metrics >"$OUT/hibiki-metrics.txt" 2>/dev/null || true
  fi
  cleanup
  SERVER_PID=""
done

SOAK_LOG="$OUT/soak.tsv"
if [[ "$SOAK" -gt 0 && " $TARGETS " == *" hibiki "* ]]; then
  echo "== soak: hibiki at $SOAK_RATE calls/s for $SOAK s, RSS every 5 s =="
  start_hibiki hibiki-soak
  dir="$OUT/soak"
  mkdir -p "$dir"
  (cd "$dir" && timeout $((SOAK + 60)) sipp -sf "$SCENARIO" -s 100 -i 127.0.0.1 -p "$(free_port)" \
      -r "$SOAK_RATE" -rp 1000 -m $((SOAK_RATE * SOAK)) -l $((SOAK_RATE * 2)) -max_socket 4096 \
      -nostdin -timeout $((SOAK + 30))s -timeout_error -trace_stat -stf stat.csv -fd 1 \
      "127.0.0.1:$SIP_PORT" >sipp.stdout 2>sipp.stderr) &
  SOAK_SIPP=$!
  printf 'seconds\trss_kb\n' >"$SOAK_LOG"
  t=0
  while kill -0 "$SOAK_SIPP" 2>/dev/null && [[ $t -le $((SOAK + 30)) ]]; do
    printf '%s\t%s\n' "$t" "$(vm_kb "$SERVER_PID" VmRSS)" | tee -a "$SOAK_LOG"
    sleep 5
    t=$((t + 5))
  done
  wait "$SOAK_SIPP" || true
  printf 'soak calls: ok %s failed %s\n' "$(stat_col "$dir/stat.csv" 'SuccessfulCall(C)')" \
    "$(stat_col "$dir/stat.csv" 'FailedCall(C)')" | tee "$OUT/soak-calls.txt"
  cleanup
  SERVER_PID=""
fi

{
  echo
  echo "| target | calls/s | calls | ok | failed | INVITE→180 p50/p99 ms | INVITE→200 p50/p99 ms | server CPU µs/call | server peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  tail -n +2 "$RESULTS" | while IFS=$'\t' read -r tg rate calls ok failed a50 a99 b50 b99 cpu rss; do
    if [[ "$ok" == died* ]]; then
      printf '| %s | %s | %s | %s | | | | | |\n' "$tg" "$rate" "$calls" "$ok"
      continue
    fi
    printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |\n' "$tg" "$rate" "$calls" "$ok" "$failed" \
      "$a50" "$a99" "$b50" "$b99" "$cpu" "$(awk -v k="$rss" 'BEGIN {printf "%.1f", k/1024}')"
  done
  if [[ -s "$SOAK_LOG" ]]; then
    echo
    echo "Soak RSS (kB) every 5 s: $(tail -n +2 "$SOAK_LOG" | cut -f2 | paste -sd' ')"
  fi
  echo
  uas="${BEST[uas]:-0}"
  hib="${BEST[hibiki]:-0}"
  ratio="-"
  if [[ "$uas" -gt 0 ]]; then ratio="$(awk -v a="$hib" -v b="$uas" 'BEGIN {printf "%.2f", a/b}')"; fi
  echo "Highest zero-failure rate: sipp-uas ${uas} calls/s, hibiki ${hib} calls/s, ratio hibiki/uas ${ratio}"
} | tee "$OUT/summary.md"
echo "raw results: $OUT"
