#!/usr/bin/env bash
# Soak test: CONNECTIONS socket.io clients (split over several client processes and loopback
# source addresses 127.0.0.2, 127.0.0.3...) joining and leaving rooms, emitting with acks,
# broadcasting and reconnecting against the conformance server for SECONDS. At the end every
# accounted message must have been delivered exactly once and the server's RSS must be back
# within 10% of its level before the run.
# Env: SOAK_CONNECTIONS (10000), SOAK_SECONDS (600), SOAK_PROCESSES (4), SOAK_PORT (37211),
# SOAK_RECORD=1 adds the figures to the soak table of benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

conns=${SOAK_CONNECTIONS:-10000}
secs=${SOAK_SECONDS:-600}
procs=${SOAK_PROCESSES:-4}
port=${SOAK_PORT:-37211}

echo "==> npm packages (interop/)"
[ -d interop/node_modules ] || (cd interop && npm ci --no-audit --no-fund)
echo "==> cargo build --release --example conformance"
cargo build --release -p volley --example conformance
echo "==> starting the conformance server on 127.0.0.1:$port"
start_server /tmp/volley-soak-server.log env VOLLEY_LISTEN=127.0.0.1:$port \
  VOLLEY_PING_INTERVAL_MS=10000 VOLLEY_PING_TIMEOUT_MS=20000 "$target/examples/conformance"
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# Runs the client processes for $1 seconds; fills `outs` with their result files and tracks the
# server's peak RSS.
peak=0
run_clients() {
  outs=()
  local clients=()
  for i in $(seq 0 $(( procs - 1 ))); do
    local out
    out=$(mktemp)
    outs+=("$out")
    node interop/soak.mjs "http://127.0.0.1:$port" "$per" "$1" "$i" "127.0.0.$(( i + 2 ))" > "$out" &
    clients+=($!)
  done
  alive() { for c in "${clients[@]}"; do kill -0 "$c" 2>/dev/null && return 0; done; return 1; }
  while alive; do
    now=$(rss_kib $pid); [ "$now" -gt "$peak" ] && peak=$now
    sleep 1
  done
  for c in "${clients[@]}"; do wait "$c" || true; done
}

per=$(( conns / procs ))
# A warm-up at full size first: the baseline is the server after it has held this many clients
# once (allocator arenas, slab and table capacity), so the comparison shows growth, not first use.
warmup=$(( secs / 10 < 10 ? 10 : secs / 10 ))
echo "==> warm-up: $conns connections in $procs processes for ${warmup}s"
run_clients "$warmup"
sleep 3
rss_before=$(rss_kib $pid)
echo "==> soak: $conns connections in $procs processes for ${secs}s"
run_clients "$secs"
sleep 3
rss_after=$(rss_kib $pid)
stop_server

node -e '
const fs = require("fs");
const [before, peak, after, secs, conns, ...files] = process.argv.slice(1);
const all = files.map((f) => JSON.parse(fs.readFileSync(f, "utf8").trim().split("\n").pop()));
const sum = (k) => all.reduce((a, s) => a + s[k], 0);
const keys = ["acksSent", "acksOk", "acksFailed", "broadcasts", "expected", "delivered", "duplicates", "missing", "reconnects", "joins", "connectErrors"];
const row = (k, v) => console.log(k.padEnd(34), v);
console.log(`\nVolley soak: ${conns} connections, ${secs} s`);
for (const k of keys) row(k, sum(k));
row("server RSS before / peak / after (KiB)", `${before} / ${peak} / ${after}`);
const rssOk = Number(after) <= Number(before) * 1.1;
const ok = sum("missing") === 0 && sum("duplicates") === 0 && sum("acksFailed") === 0 && sum("acksOk") === sum("acksSent") && rssOk;
row("RSS back within 10%", rssOk ? "yes" : "NO");
row("verdict", ok ? "PASS" : "FAIL");
if (process.env.SOAK_RECORD === "1") {
  const line = `| ${new Date().toISOString().slice(0, 10)} | ${conns} | ${secs} | ${sum("acksOk")}/${sum("acksSent")} | ${sum("delivered")}/${sum("expected")} | ${sum("duplicates")} | ${sum("reconnects")} | ${before} / ${peak} / ${after} | ${ok ? "pass" : "FAIL"} |\n`;
  const file = "benches/RESULTS.md";
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("<!-- soak rows -->", line + "<!-- soak rows -->"));
}
process.exit(ok ? 0 : 1);
' "$rss_before" "$peak" "$rss_after" "$secs" "$conns" "${outs[@]}"
