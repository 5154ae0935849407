//! Logging with `tracing`: text or JSON lines, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global tracing subscriber.
pub fn init(format: LogFormat, filter: &str) -> Result<(), crate::Error> {
    let filter = EnvFilter::try_new(filter).map_err(|e| crate::Error::Telemetry(e.to_string()))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
    result.map_err(|e| crate::Error::Telemetry(e.to_string()))
}
