//! Logging (JSON lines or pretty text on stdout through `tracing`; fields name ids, never
//! values) and the metrics registry: a leaf, so any layer may log and count.

pub mod metrics;

use crate::config::LogSettings;
use tracing_subscriber::EnvFilter;

pub fn init(settings: &LogSettings) {
    // actix-server's start-up chatter ("Tokio runtime found…") stays out unless RUST_LOG
    // asks for it.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},actix_server=warn", settings.level)));
    // Colour codes only for a terminal: never in a file, a pipe or a log collector.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(false);
    let result = if settings.format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    };
    // Already initialised (tests run several servers in one process): keep the first.
    let _ = result;
}
