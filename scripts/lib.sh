# Shared by the benchmark and test scripts (sourced after `cd` to the repository root): building the
# release binaries, starting a server and waiting for its "listening" line, stopping it by its PID
# (also on exit), and splitting the cores between the server and the load generator.

target=${CARGO_TARGET_DIR:-target}/release

# build_release: bench_server, ws_echo, volley-loadgen and volley-bench-table in release mode under $target. With
# BENCH_PREBUILT=1 nothing is built and the binaries must already be there (a machine without a
# Rust toolchain, given binaries built elsewhere).
build_release() {
  if [ "${BENCH_PREBUILT:-0}" = 1 ]; then
    local bin
    for bin in examples/bench_server examples/ws_echo volley-loadgen volley-bench-table; do
      [ -x "$target/$bin" ] || { echo "BENCH_PREBUILT=1 but $target/$bin is missing"; exit 1; }
    done
    return
  fi
  echo "==> cargo build --release (bench_server, ws_echo, volley-loadgen)"
  cargo build --release -p volley --example bench_server --example ws_echo
  cargo build --release -p volley-loadgen --bins
}

pid=
stop_server() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap stop_server EXIT

# start_server LOG COMMAND...: runs COMMAND in the background (output to LOG), sets $pid and
# waits for its "listening" line; exits the script with the log when the server dies or stays
# silent for 20 s.
start_server() {
  local log=$1; shift
  "$@" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 400); do
    grep -q listening "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "server did not start: $*"; cat "$log"; exit 1
}

# run_load BASE SCENARIO ARGS...: one volley-loadgen run on the client cores against the running
# server (whose CPU and RSS it samples); its JSON goes to BASE.json, its report to BASE.log. Returns
# the load generator's exit status (1: the run failed; 2: it ran but counted errors).
run_load() {
  local base=$1 scenario=$2; shift 2
  taskset -c "$client_cores" "$target/volley-loadgen" "$scenario" --threads "$client_threads" \
    --server-pid "$pid" --json "$base.json" -q "$@" > "$base.log" 2>&1
}

# split_cores N: the server gets cores 0..N-1 (server_cores); the load generator gets the rest
# (client_cores, client_threads), or shares the last core when none is left.
split_cores() {
  local n=$1 cores
  cores=$(nproc)
  server_cores="0-$(( (n < cores ? n : cores) - 1 ))"
  if (( n < cores )); then
    client_cores="$n-$(( cores - 1 ))"
    client_threads=$(( cores - n ))
  else
    client_cores=$(( cores - 1 ))
    client_threads=1
  fi
}
