#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (with and without the tokio and tls features),
# unit/property/integration/interop tests built once with those features (volley's three times:
# on the default io_uring backend, with VOLLEY_BACKEND=epoll, and with io_uring direct
# descriptors, VOLLEY_URING_DIRECT=1), and a build of
# the fuzz targets with a pass over their seed corpora. Installs the npm packages the
# interop tests drive (from interop/package-lock.json) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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

# One build of the tests for every pass: volley with its tokio and tls features (clippy above
# checked the build without them), so asynchronous hooks, TLS and the hand-off to axum run too.
features=(--features volley/tokio,volley/tls)

step "tests (with the tokio and tls features: asynchronous hooks, TLS listeners, the axum hand-off)"
cargo test --workspace --all-targets "${features[@]}"

step "without the tokio feature, asynchronous hooks are refused at listen"
cargo test -p volley --test sio_async_events --test sio_async_connect

step "volley's tests again on epoll (VOLLEY_BACKEND=epoll)"
VOLLEY_BACKEND=epoll cargo test -p volley --tests "${features[@]}"

step "and on io_uring with direct descriptors (VOLLEY_URING_DIRECT=1)"
VOLLEY_BACKEND=uring VOLLEY_URING_DIRECT=1 cargo test -p volley --tests "${features[@]}"

step "doc tests"
cargo test --workspace --doc "${features[@]}"

step "fuzz targets build and replay their seed corpora"
(
  cd engine/fuzz
  cargo build --bins
  for target in $(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' Cargo.toml | grep -v volley-fuzz); do
    corpus="corpus/$target"
    [ -d "$corpus" ] || { echo "missing seed corpus $corpus"; exit 1; }
    "${CARGO_TARGET_DIR:-target}/debug/$target" -runs=0 "$corpus" 2>&1 | tail -n 1
  done
)

step "all checks passed"
