#!/usr/bin/env bash
# The io_uring backend against epoll (issue 8), measured in one run on the same machine:
# bench_server with one worker pinned to core 0, volley-loadgen on the other cores, for
#   epoll         VOLLEY_BACKEND=epoll,
#   uring         VOLLEY_BACKEND=uring,
#   uring-direct  VOLLEY_BACKEND=uring VOLLEY_URING_DIRECT=1,
# in the four scenarios of bench-peers.sh: raw WebSocket echo (the ws_echo example) and
# Socket.IO echo with acks at BENCH_CONNECTIONS connections, a room broadcast to BENCH_MEMBERS
# members, and BENCH_CONNECTS paced connects (full handshakes); and echo-rate, the Socket.IO echo
# at a fixed BENCH_ECHO_RATE, so that every backend does the same work at the same pace (closed
# loop, the faster server gets more requests and idles differently). The backends take turns, BENCH_ROUNDS rounds, so drift on a
# shared machine reaches all of them alike; the table shows each backend's median per server
# CPU-second (every round's value beside it) and its ratio to epoll's median.
#
# Env (defaults): BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_CONNECTIONS (128), BENCH_MEMBERS
# (1000), BENCH_BROADCAST_RATE (100 per second), BENCH_CONNECTS (2000, at 1000 per second),
# BENCH_ECHO_RATE (100000 per second), BENCH_SCENARIOS (ws-echo echo broadcast connect; add
# echo-rate), BENCH_PORT (37141), BENCH_RECORD (0; 1 writes
# the table under benches/RESULTS.md's "<!-- backend rows -->" marker, above earlier runs),
# BENCH_OUT (a fresh
# temporary directory: one JSON file and one log per run), BENCH_LO_RPS (0; 1, as root, steers
# loopback receive processing to the load generator's cores for the run, see below).
#
# On loopback a send runs the receiving socket's TCP processing inline, as a softirq charged to
# the sender: the server pays for its clients' receive work (about a third of its echo profile),
# which a network card would never charge it. BENCH_LO_RPS=1 sets RPS on lo so that this work
# runs on the load generator's cores instead, and restores lo's setting on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

rounds=${BENCH_ROUNDS:-5}
secs=${BENCH_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-128}
members=${BENCH_MEMBERS:-1000}
bcast_rate=${BENCH_BROADCAST_RATE:-100}
connects=${BENCH_CONNECTS:-2000}
echo_rate=${BENCH_ECHO_RATE:-100000}
scenarios=${BENCH_SCENARIOS:-ws-echo echo broadcast connect}
port=${BENCH_PORT:-37141}
record=${BENCH_RECORD:-0}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-backends.XXXXXX)}
mkdir -p "$out"

build_release
split_cores 1

lo_rps=/sys/class/net/lo/queues/rx-0/rps_cpus
if [ "${BENCH_LO_RPS:-0}" = 1 ]; then
  [ -w "$lo_rps" ] || { echo "BENCH_LO_RPS=1 needs root (it writes $lo_rps)"; exit 1; }
  old_rps=$(cat "$lo_rps")
  trap 'echo "$old_rps" > "$lo_rps"; stop_server' EXIT
  mask=0
  for c in $(seq "${client_cores%-*}" "${client_cores#*-}"); do mask=$(( mask | 1 << c )); done
  # The kernel reads the mask as comma-separated 32-bit words.
  hex=$(printf '%x' "$mask")
  while (( ${#hex} > 8 )); do rps_words=",${hex: -8}${rps_words:-}"; hex=${hex:0:${#hex}-8}; done
  echo "$hex${rps_words:-}" > "$lo_rps"
  echo "==> RPS on lo: receive processing on cores $client_cores ($(cat "$lo_rps"))"
fi

declare -A env_of=(
  [epoll]="VOLLEY_BACKEND=epoll"
  [uring]="VOLLEY_BACKEND=uring"
  [uring-direct]="VOLLEY_BACKEND=uring VOLLEY_URING_DIRECT=1"
)
backends=(epoll uring uring-direct)
url=http://127.0.0.1:$port
window=(--duration "$secs" --warmup 1 --drain 1)

# serve BACKEND EXAMPLE LOG: starts EXAMPLE on BACKEND, pinned to core 0.
serve() {
  # shellcheck disable=SC2086 # the env assignments are meant to split
  start_server "$3" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=1 VOLLEY_PIN_CORES=1 \
    VOLLEY_FIRST_CORE=0 ${env_of[$1]} taskset -c "$server_cores" "$target/examples/$2"
  if [ "$1" != epoll ] && ! ls -l "/proc/$pid/fd" | grep -q io_uring; then
    echo "the server opened no io_uring (the kernel refused it): nothing to compare"; exit 1
  fi
}

wants() { [[ " $scenarios " == *" $1 "* ]]; }

for round in $(seq 1 "$rounds"); do
  for backend in "${backends[@]}"; do
    base="$out/$backend.$round"
    echo "==> round $round/$rounds: $backend"
    if wants ws-echo; then
      serve "$backend" ws_echo "$base.ws_echo.log"
      run_load "$base.ws-echo" ws-echo --url "ws://127.0.0.1:$port/" -c "$conns" -k 1 --payload 64 \
        "${window[@]}"
      stop_server
    fi
    serve "$backend" bench_server "$base.bench_server.log"
    if wants echo; then
      run_load "$base.echo" echo --url "$url" -c "$conns" -k 1 --payload 64 "${window[@]}"
    fi
    if wants echo-rate; then
      run_load "$base.echo-rate" echo --url "$url" -c "$conns" --rate "$echo_rate" --payload 64 \
        "${window[@]}"
    fi
    if wants broadcast; then
      run_load "$base.broadcast" broadcast --url "$url" -c "$members" --connect-rate 1000 --senders 1 \
        --rate "$bcast_rate" --payload 64 "${window[@]}"
    fi
    if wants connect; then
      run_load "$base.connect" connect --url "$url" -c "$connects" --rate 1000 --duration 0 --drain 0.5
    fi
    stop_server
  done
done

table=$(python3 - "$out" "$rounds" "$scenarios" "${backends[@]}" <<'PY'
import json, statistics, sys
out, rounds, wanted, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
def per_cpu(path, scenario):
    r = json.load(open(path))["result"]
    c = r["stats"]["counters"]
    s = r["server"]
    cpu = s["end"]["cpu_s"] - s["start"]["cpu_s"]
    if c["lost"] or c["duplicated"] or c["protocol_errors"] or c["timeouts"] or cpu <= 0:
        sys.exit(f"{path}: errors or no CPU time recorded")
    return (c["connected"] if scenario == "connect" else c["completed"]) / cpu
rows = []
scenarios = (("ws-echo", "echoes"), ("echo", "acks"), ("echo-rate", "acks"),
             ("broadcast", "deliveries"), ("connect", "connects"))
for scenario, unit in scenarios:
    if scenario not in wanted:
        continue
    vals = {b: [per_cpu(f"{out}/{b}.{i}.{scenario}.json", scenario) for i in range(1, rounds + 1)]
            for b in backends}
    base = statistics.median(vals["epoll"])
    for b in backends:
        med = statistics.median(vals[b])
        each = ", ".join(f"{v/1000:.1f}k" for v in vals[b])
        rows.append(f"| {scenario} ({unit} per server CPU-s) | {b} | {med:,.0f} | {med/base:.2f}x | {each} |")
print("| scenario | backend | median | / epoll | each round |")
print("|---|---|--:|--:|---|")
print("\n".join(rows))
PY
)
echo
rps_note=
[ "${BENCH_LO_RPS:-0}" = 1 ] && rps_note=" loopback receive processing on cores $client_cores (RPS);"
echo "bench_server, 1 worker on core 0, load generator on cores $client_cores; $rounds rounds;$rps_note"
echo "echoes: $conns connections x 1 in flight (echo-rate: $echo_rate/s in all), 64-byte" \
  "payloads; broadcast: $members members, $bcast_rate/s; connect: $connects at 1000/s;" \
  "${secs}s windows."
echo
echo "$table"
echo
echo "Runs (JSON and full reports): $out"
if [ "$record" = 1 ]; then
  python3 - benches/RESULTS.md "$table" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short HEAD)" "$rounds" "$conns" "${BENCH_LO_RPS:-0}" <<'PY'
import sys
path, table, day, rev, rounds, conns, rps = sys.argv[1:]
text = open(path).read()
marker = "<!-- backend rows -->"
if marker not in text:
    sys.exit(f"{path} has no {marker} line")
rps = ", BENCH_LO_RPS=1" if rps == "1" else ""
block = f"{day}, {rev}, `scripts/bench-backends.sh` ({rounds} rounds, echoes at {conns} connections{rps}):\n\n{table}\n"
open(path, "w").write(text.replace(marker, f"{marker}\n\n{block}", 1))
PY
  echo "recorded in benches/RESULTS.md"
fi
