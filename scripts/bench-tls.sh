#!/usr/bin/env bash
# What TLS costs the server on the Socket.IO echo path: bench_server built with `--features tls`,
# one worker pinned to the first core(s), volley-loadgen on the others, the echo load of bench.sh
# (emit with ack) run twice in one go against the same binary:
#   plain  http://127.0.0.1:PORT
#   tls    https://127.0.0.1:PORT, the server given VOLLEY_TLS_CERT/VOLLEY_TLS_KEY: a throwaway CA
#          and a server certificate for 127.0.0.1 (ECDSA P-256) made here with the openssl CLI in
#          a temporary directory removed on exit; the load generator trusts that CA (--tls-ca).
# For each: echoes/s, p50/p99 ack latency, server CPU seconds (from /proc/PID/stat, sampled by
# the load generator over the window) per 100k echoes; then the ratio TLS/plain of each figure.
# Then BENCH_IDLE_CONNECTIONS (2000) idle Socket.IO connections, plain and TLS, and the server's
# RSS with them open: the memory a TLS session adds to a connection at rest.
# The TLS connections' handshakes happen during the ramp, before the window: the figures are the
# steady echo path (encryption, decryption, record framing), not handshakes.
#
# Env (defaults): VOLLEY_WORKERS (1; server threads, pinned from core 0), BENCH_SECONDS (5),
# BENCH_WARMUP (1), BENCH_CONNECTIONS (128), BENCH_IN_FLIGHT (1), BENCH_PAYLOAD (64),
# BENCH_PORT (40711), BENCH_OUT (a fresh temporary directory: one JSON file and one log per run),
# BENCH_PREBUILT (1: use $CARGO_TARGET_DIR/release/examples/bench_server, which must have been
# built with --features tls, and volley-loadgen as they are), BENCH_SERVER (a command run instead
# of bench_server, e.g. another Socket.IO server with an `echo` event: it gets VOLLEY_LISTEN and,
# for the TLS run, VOLLEY_TLS_CERT and VOLLEY_TLS_KEY, and must print a line with "listening").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

workers=${VOLLEY_WORKERS:-1}
secs=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
conns=${BENCH_CONNECTIONS:-128}
in_flight=${BENCH_IN_FLIGHT:-1}
payload=${BENCH_PAYLOAD:-64}
port=${BENCH_PORT:-40711}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-tls.XXXXXX)}
mkdir -p "$out"
certs=$(mktemp -d /tmp/volley-bench-tls-certs.XXXXXX)
cleanup() {
  stop_server
  rm -rf "$certs"
}
trap cleanup EXIT

split_cores "$workers"

if [ "${BENCH_PREBUILT:-0}" = 1 ]; then
  for bin in examples/bench_server volley-loadgen; do
    [ -x "$target/$bin" ] || { echo "BENCH_PREBUILT=1 but $target/$bin is missing"; exit 1; }
  done
elif [ -z "${BENCH_SERVER:-}" ]; then
  echo "==> cargo build --release (bench_server with --features tls, volley-loadgen)"
  cargo build --release -p volley --features tls --example bench_server
  cargo build --release -p volley-loadgen --bin volley-loadgen
else
  echo "==> cargo build --release (volley-loadgen; the server is BENCH_SERVER)"
  cargo build --release -p volley-loadgen --bin volley-loadgen
fi

echo "==> throwaway CA and server certificate (openssl) in $certs"
(
  cd "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=volley bench-tls CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout server.key -out server.csr
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem
) > "$out/openssl.log" 2>&1 || { cat "$out/openssl.log"; exit 1; }

# serve NAME [VAR=VALUE...]: the server on $port with the given extra environment, its workers
# pinned to the server cores and (taskset) its other threads kept off the load generator's cores.
serve() {
  local name=$1; shift
  local cmd=("$target/examples/bench_server")
  [ -n "${BENCH_SERVER:-}" ] && cmd=(bash -c "exec $BENCH_SERVER")
  start_server "$out/$name.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=$workers \
    VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 "$@" taskset -c "$server_cores" "${cmd[@]}"
}

# load NAME ARGS...: the echo load against the running server, saved as $out/NAME.{json,log}.
load() {
  local name=$1 rc=0; shift
  echo "==> echo ($name) against $url (server cores $server_cores, client cores $client_cores)"
  run_load "$out/$name" echo --url "$url" -c "$conns" -k "$in_flight" --payload "$payload" \
    --duration "$secs" --warmup "$warmup" --drain 1 "$@" || rc=$?
  if (( rc == 1 )); then cat "$out/$name.log"; exit 1; fi
  (( rc == 0 )) || echo "    errors counted, see $out/$name.log"
}

# hold NAME ARGS...: $idle_conns connections held open (Socket.IO connected, no traffic), so the
# server's RSS at the end of the window shows what a connection costs at rest.
hold() {
  local name=$1 rc=0; shift
  echo "==> $idle_conns idle connections ($name) against $url"
  run_load "$out/$name" idle --url "$url" -c "$idle_conns" --duration 2 --warmup 1 "$@" || rc=$?
  if (( rc == 1 )); then cat "$out/$name.log"; exit 1; fi
  (( rc == 0 )) || echo "    errors counted, see $out/$name.log"
}
idle_conns=${BENCH_IDLE_CONNECTIONS:-2000}

url=http://127.0.0.1:$port
serve plain
load plain
stop_server
serve plain-idle
hold plain-idle
stop_server

url=https://127.0.0.1:$port
serve tls VOLLEY_TLS_CERT="$certs/server.pem" VOLLEY_TLS_KEY="$certs/server.key"
load tls --tls-ca "$certs/ca.pem"
stop_server
serve tls-idle VOLLEY_TLS_CERT="$certs/server.pem" VOLLEY_TLS_KEY="$certs/server.key"
hold tls-idle --tls-ca "$certs/ca.pem"
stop_server

server="bench_server (--features tls), $workers worker(s)"
[ -n "${BENCH_SERVER:-}" ] && server="BENCH_SERVER ($BENCH_SERVER)"
echo
echo "$server pinned from core 0; load generator on cores $client_cores; $conns connections" \
  "x $in_flight in flight, $payload-byte payloads, ${secs}s windows."
echo
python3 - "$out" "$idle_conns" <<'PY'
import json, sys
out = sys.argv[1]
def figures(name):
    s = json.load(open(f"{out}/{name}.json"))["summary"]
    done = s["counters"]["completed"]
    cpu = (s.get("server") or {}).get("cpu_s")
    return {
        "echoes/s": s["completed_per_s"],
        "p50 ms": s["latency"]["p50_us"] / 1000,
        "p99 ms": s["latency"]["p99_us"] / 1000,
        "server CPU s / 100k echoes": cpu / done * 1e5 if cpu and done else None,
        "errors": s["errors_total"],
    }
runs = {name: figures(name) for name in ("plain", "tls")}
keys = list(runs["plain"])
def fmt(v):
    if v is None:
        return "-"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}" if v >= 1000 else f"{v:.3f}"
print("| run | " + " | ".join(keys) + " |")
print("|---|" + "--:|" * len(keys))
for name, f in runs.items():
    print(f"| {name} | " + " | ".join(fmt(f[k]) for k in keys) + " |")
ratio = lambda k: (f"{runs['tls'][k] / runs['plain'][k]:.2f}x"
                   if runs["plain"][k] and runs["tls"][k] is not None else "-")
print("| tls / plain | " + " | ".join(ratio(k) for k in keys[:-1]) + " | |")
idle = {}
for name in ("plain-idle", "tls-idle"):
    s = json.load(open(f"{out}/{name}.json"))["summary"]
    idle[name] = ((s.get("server") or {}).get("rss_end_bytes"), s["errors_total"])
n = int(sys.argv[2])
print()
print(f"| {n} idle connections | server RSS (MiB) |")
print("|---|--:|")
for name, (rss, _) in idle.items():
    print(f"| {name.removesuffix('-idle')} | " + (f"{rss / 2**20:.1f}" if rss else "-") + " |")
(plain_rss, _), (tls_rss, _) = idle["plain-idle"], idle["tls-idle"]
if plain_rss and tls_rss:
    print(f"| TLS adds per connection at rest | {(tls_rss - plain_rss) / n / 1024:.1f} KiB |")
if any(f["errors"] for f in runs.values()) or any(e for (_, e) in idle.values()):
    sys.exit("errors were counted: see the logs")
PY
echo
echo "Runs (JSON and full reports): $out"
