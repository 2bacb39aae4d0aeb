#!/usr/bin/env bash
# The msgpack parser beside the default one (issue 22): bench_server with one worker pinned to
# core 0 and VOLLEY_PARSER=json or msgpack, driven by the stock socket.io-client (with
# socket.io-msgpack-parser for msgpack) in one Node process on the other core(s)
# (interop/bench_parser.mjs), for each of:
#   echo object   every client keeps 4 `echo` emits with ack in flight, a small JSON object
#   echo binary   the same with a 1 KiB Buffer in the object (an attachment, or a msgpack bin)
#   broadcast     client 0 sends BENCH_RATE broadcasts a second to a room of every client
# Printed per run: messages per second (acks or deliveries) and the server's CPU seconds per
# 100k messages (utime + stime from /proc/PID/stat over the window), then msgpack/json of each.
# The Node client is the bottleneck, so the rates say little; CPU per message is the figure.
#
# Env (defaults): BENCH_CLIENTS (20), BENCH_SECONDS (5), BENCH_RATE (1000 broadcasts/s),
# BENCH_PORT (40811), BENCH_PREBUILT (1: use the release bench_server as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

clients=${BENCH_CLIENTS:-20}
secs=${BENCH_SECONDS:-5}
rate=${BENCH_RATE:-1000}
port=${BENCH_PORT:-40811}

if [ "${BENCH_PREBUILT:-0}" != 1 ]; then
  echo "==> cargo build --release (bench_server)"
  cargo build --release -p volley --example bench_server
fi
[ -d interop/node_modules ] || (cd interop && npm ci --no-audit --no-fund)
split_cores 1
out=$(mktemp -d /tmp/volley-bench-msgpack.XXXXXX)

# ticks PID: utime + stime of the process, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run PARSER MODE KIND: one run; prints "PARSER MODE KIND messages/s cpu-s-per-100k".
run() {
  local parser=$1 mode=$2 kind=$3
  start_server "$out/$parser-$mode-$kind.server.log" env VOLLEY_LISTEN=127.0.0.1:$port \
    VOLLEY_WORKERS=1 VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 VOLLEY_PARSER="$parser" \
    taskset -c "$server_cores" "$target/examples/bench_server"
  # The server's CPU is read when the client says its window begins and when its result
  # comes (polled every 20 ms).
  local res=$out/$parser-$mode-$kind.json t0 t1
  (cd interop && RATE=$rate taskset -c "$client_cores" node bench_parser.mjs \
    "http://127.0.0.1:$port" "$parser" "$mode" "$kind" "$clients" "$secs") > "$res" &
  local client=$!
  until grep -q counting "$res"; do kill -0 "$client" 2>/dev/null || break; sleep 0.02; done
  t0=$(ticks "$pid")
  until grep -q messages "$res"; do kill -0 "$client" 2>/dev/null || break; sleep 0.02; done
  t1=$(ticks "$pid")
  wait "$client"
  stop_server
  python3 - "$out/$parser-$mode-$kind.json" "$t0" "$t1" "$(getconf CLK_TCK)" \
    "$parser" "$mode" "$kind" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
rate = r["messages"] / r["seconds"]
per = cpu / (r["messages"] / 1e5) if r["messages"] else 0
print(f"{sys.argv[5]} {sys.argv[6]} {sys.argv[7]} {rate:.0f} {per:.3f}")
PY
}

results=()
for case in "echo object" "echo binary" "broadcast object"; do
  for parser in json msgpack; do
    echo "==> $parser: $case"
    line=$(run "$parser" $case)
    echo "    $line"
    results+=("$line")
  done
done

echo
echo "bench_server, 1 worker on core 0; socket.io-client in one Node process on cores $client_cores;"
echo "$clients clients, ${secs}s windows after a 1 s warmup; broadcast at $rate/s."
printf '%s\n' "${results[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
by = {(p, m, k): (float(r), float(c)) for p, m, k, r, c in rows}
print("| case | parser | messages/s | server CPU-s per 100k |")
print("|---|---|--:|--:|")
for p, m, k, r, c in rows:
    print(f"| {m} {k} | {p} | {float(r):,.0f} | {float(c):.3f} |")
print()
for (p, m, k), (r, c) in by.items():
    base = by.get(("json", m, k), (0, 0))[1]
    if p == "msgpack" and base:
        print(f"{m} {k}: msgpack/json CPU per message {c / base:.2f}x")
'
echo "Runs: $out"
