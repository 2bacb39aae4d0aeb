//! The examples' logger: `tracing` events to stderr, filtered by `RUST_LOG`
//! (`RUST_LOG=volley=debug` shows every connect and disconnect with its reason); warnings and
//! errors when it is unset. Included with `#[path = "support/logging.rs"] mod logging;`.

/// Installs the logger for the whole process.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
