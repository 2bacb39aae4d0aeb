#!/usr/bin/env bash
# What permessage-deflate costs the server: bench_server (release) with one worker pinned to the
# first core(s), volley-loadgen on the others, each load run twice against the same binary:
#   plain    VOLLEY_PER_MESSAGE_DEFLATE=0, the load generator not offering the extension
#   deflate  VOLLEY_PER_MESSAGE_DEFLATE=1, the load generator offering it as browsers and the
#            Node client do (`--deflate`: with context takeover, its messages of 1 KiB or more
#            compressed; the server compresses from VOLLEY_DEFLATE_THRESHOLD, 1024)
# Loads: the Socket.IO echo (emit with ack) and a room broadcast (one sender, BENCH_MEMBERS
# members, BENCH_BROADCAST_RATE per second), with BENCH_PAYLOAD-byte payloads padded with words
# (`--words`: text that compresses about as chat JSON does, where the default `x` padding would
# compress without limit). For each: messages per second, server CPU per 100k messages (from
# /proc/PID/stat over the window), server RSS at the end; then deflate/plain of each figure.
# Bytes on the wire per message for real chat JSON are measured by the deflate micro-benchmark
# (`cargo bench -p volley-benches --bench deflate -- permessage`), which prints them.
#
# Env (defaults): VOLLEY_WORKERS (1), BENCH_SECONDS (5), BENCH_WARMUP (1), BENCH_CONNECTIONS
# (64), BENCH_PAYLOAD (2048), BENCH_MEMBERS (200), BENCH_BROADCAST_RATE (10), BENCH_PORT
# (40811), BENCH_OUT (a fresh temporary directory: one JSON file and one log per run),
# BENCH_PREBUILT (1: use the release binaries as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

workers=${VOLLEY_WORKERS:-1}
secs=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
conns=${BENCH_CONNECTIONS:-64}
payload=${BENCH_PAYLOAD:-2048}
members=${BENCH_MEMBERS:-200}
bcast_rate=${BENCH_BROADCAST_RATE:-10}
port=${BENCH_PORT:-40811}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-deflate.XXXXXX)}
mkdir -p "$out"
trap stop_server EXIT

split_cores "$workers"
build_release

url=http://127.0.0.1:$port
window=(--duration "$secs" --warmup "$warmup" --drain 1)

# run NAME DEFLATE SCENARIO ARGS...: bench_server with VOLLEY_PER_MESSAGE_DEFLATE=DEFLATE and
# one load run against it, saved as $out/NAME.{json,log}.
run() {
  local name=$1 deflate=$2 scenario=$3 rc=0; shift 3
  start_server "$out/$name.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=$workers \
    VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 VOLLEY_PER_MESSAGE_DEFLATE="$deflate" \
    taskset -c "$server_cores" "$target/examples/bench_server"
  echo "==> $scenario ($name) against $url (server cores $server_cores, client cores $client_cores)"
  run_load "$out/$name" "$scenario" --url "$url" --payload "$payload" --words "${window[@]}" \
    "$@" || rc=$?
  stop_server
  if (( rc == 1 )); then cat "$out/$name.log"; exit 1; fi
  (( rc == 0 )) || echo "    errors counted, see $out/$name.log"
}

run echo-plain 0 echo -c "$conns"
run echo-deflate 1 echo -c "$conns" --deflate
run broadcast-plain 0 broadcast -c "$members" --senders 1 --rate "$bcast_rate"
run broadcast-deflate 1 broadcast -c "$members" --senders 1 --rate "$bcast_rate" --deflate

echo
echo "bench_server, $workers worker(s) pinned from core 0; load generator on cores $client_cores;" \
  "$payload-byte payloads padded with words; echo: $conns connections; broadcast: $members" \
  "members, $bcast_rate/s; ${secs}s windows."
echo
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def figures(name):
    s = json.load(open(f"{out}/{name}.json"))["summary"]
    done = s["counters"]["completed"]
    server = s.get("server") or {}
    cpu = server.get("cpu_s")
    rss = server.get("rss_end_bytes")
    return {
        "messages/s": s["completed_per_s"],
        "server CPU s / 100k messages": cpu / done * 1e5 if cpu and done else None,
        "server RSS MiB": rss / 2**20 if rss else None,
        "errors": s["errors_total"],
    }
def fmt(v):
    if v is None:
        return "-"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}" if v >= 1000 else f"{v:.3f}"
failed = False
for load in ("echo", "broadcast"):
    runs = {mode: figures(f"{load}-{mode}") for mode in ("plain", "deflate")}
    keys = list(runs["plain"])
    print(f"| {load} | " + " | ".join(keys) + " |")
    print("|---|" + "--:|" * len(keys))
    for mode, f in runs.items():
        print(f"| {mode} | " + " | ".join(fmt(f[k]) for k in keys) + " |")
    ratio = lambda k: (f"{runs['deflate'][k] / runs['plain'][k]:.2f}x"
                       if runs["plain"][k] and runs["deflate"][k] is not None else "-")
    print("| deflate / plain | " + " | ".join(ratio(k) for k in keys[:-1]) + " | |")
    print()
    failed |= any(f["errors"] for f in runs.values())
if failed:
    sys.exit("errors were counted: see the logs")
PY
echo "Runs (JSON and full reports): $out"
