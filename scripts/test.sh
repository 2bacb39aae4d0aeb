#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (with and without the tokio and tls features),
# unit/property/integration/interop tests built once with those features and run two at a
# time by scripts/test_passes.py (volley's integration tests three times: on the default
# io_uring backend, with VOLLEY_BACKEND=epoll (but the protocol suites), and with io_uring
# direct descriptors and compression, VOLLEY_URING_DIRECT=1 VOLLEY_PER_MESSAGE_DEFLATE=1), a
# subset of the Autobahn WebSocket suite on both backends (kosoku from PyPI, in a venv under
# .cache/), and a build of the fuzz targets with a pass over their seed corpora. Installs the
# npm packages the interop tests drive (from interop/package-lock.json) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%s s] %s\n' "$SECONDS" "$*"; }

step "npm packages for interop tests (interop/, from the lockfile)"
if [ ! -d interop/node_modules ] || [ interop/package-lock.json -nt interop/node_modules ]; then
  (cd interop && npm ci --no-audit --no-fund)
fi

# Installs Debian packages (through sudo unless root).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

step "redis-server for the cluster tests (Debian package, installed when missing)"
command -v redis-server >/dev/null || apt_install redis-server

step "Chromium for the browser test (Debian package, installed when missing; or CHROME_PATH)"
if [ -z "${CHROME_PATH:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy with the tokio and tls features (asynchronous hooks, TLS listeners)"
cargo clippy -p volley --features tokio,tls --all-targets -- -D warnings

# The test binaries are built once (volley with its tokio and tls features, so asynchronous
# hooks, TLS and the hand-off to axum run too; clippy above checked the build without them)
# and run in passes, two binaries at a time (TEST_JOBS) but the long ones one at a time: on
# the default io_uring backend; again on epoll (VOLLEY_BACKEND=epoll) but the suites that
# check the protocols through Node scripts (parity, protocol suites, msgpack, browser, admin
# UI, v2 clients, README), which run on io_uring and again with direct descriptors; on
# io_uring with direct descriptors and permessage-deflate offered wherever a server reads the
# environment (VOLLEY_URING_DIRECT=1 VOLLEY_PER_MESSAGE_DEFLATE=1), unit tests included; and the
# asynchronous-hook tests built without the tokio feature, which must refuse such hooks at
# listen. A binary that fails is run once more, alone: only a repeated failure fails the
# suite (a passing retry is printed as FLAKY). scripts/test_passes.py holds the plan.
features=(--features volley/tokio,volley/tls)
step "tests: every pass (io_uring, epoll, direct descriptors with deflate, without tokio), $(nproc) cores, ${TEST_JOBS:-2} binaries at a time"
python3 scripts/test_passes.py

step "Autobahn WebSocket suite: a fixed subset of every section 1-13, on both backends (scripts/autobahn.sh runs all)"
# The ws_echo the test step built (the same features: nothing is rebuilt); the subset takes the
# quick cases of each section, and of 12 and 13 the smallest of each permessage-deflate setup.
cargo build --workspace --examples "${features[@]}"
AUTOBAHN_BIN=${CARGO_TARGET_DIR:-target}/debug/examples/ws_echo AUTOBAHN_CASES="1.* 2.* 3.* 4.* \
5.* 6.* 7.* 9.1.1 9.2.1 9.3.1 9.4.1 9.5.1 9.6.1 9.7.1 9.8.1 10.* 12.1.1 12.2.1 12.3.1 12.4.1 \
12.5.1 12.1.11 13.1.1 13.2.1 13.3.1 13.4.1 13.5.1 13.6.1 13.7.1 13.1.2 13.3.2 13.5.2 13.7.2" \
  ./scripts/autobahn.sh

step "doc tests"
cargo test --workspace --doc "${features[@]}"

step "fuzz targets build and replay their seed corpora"
# Built into the workspace's target directory, so the dependencies they share with the tests
# are not compiled twice.
fuzz_target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
(
  cd engine/fuzz
  CARGO_TARGET_DIR=$fuzz_target cargo build --bins
  for target in $(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' Cargo.toml | grep -v volley-fuzz); do
    corpus="corpus/$target"
    [ -d "$corpus" ] || { echo "missing seed corpus $corpus"; exit 1; }
    "$fuzz_target/debug/$target" -runs=0 "$corpus" 2>&1 | tail -n 1
  done
)

step "all checks passed"
