//! The app's logger: the core's `tracing` events (debug and above) go to a foreign
//! `CoreLogger` (logcat, os_log). One forwarding subscriber is installed as the process's
//! global default the first time a logger is given; the latest logger given receives the
//! events. (Named `CoreLogger`, not `Logger`: Swift code importing the bindings beside `os`
//! would otherwise see two `Logger` types.)
//!
//! Invariants: the core never puts secrets in events (see each module), and a logger that
//! fails or throws is ignored: logging never changes an operation's result.

use std::fmt::Write;
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed that the user may notice.
    Error,
    /// Something unexpected that the core recovered from.
    Warn,
    /// A milestone (opened, paired, service started).
    Info,
    /// Details for support.
    Debug,
    /// Finer details (not forwarded today).
    Trace,
}

/// Why the app's logger could not write a line (ignored by the core).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum LoggerError {
    /// The line could not be written.
    #[error("the logger failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for LoggerError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed {
            reason: error.reason,
        }
    }
}

/// Receives the core's log lines. Called from the core's threads; must not block for long.
#[uniffi::export(foreign)]
pub trait CoreLogger: Send + Sync {
    /// One line: its level, the core module it comes from (`target`) and the text.
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), LoggerError>;
}

static LOGGER: RwLock<Option<Arc<dyn CoreLogger>>> = RwLock::new(None);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Makes `logger` the receiver of the core's events.
pub(super) fn install(logger: Arc<dyn CoreLogger>) {
    if let Ok(mut slot) = LOGGER.write() {
        *slot = Some(logger);
    }
    // If the process already has another global subscriber, that one keeps the events.
    INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Forwarder).is_ok());
}

fn current() -> Option<Arc<dyn CoreLogger>> {
    LOGGER.read().ok().and_then(|slot| slot.clone())
}

/// The subscriber: no spans, each event formatted as `message key=value ...`.
struct Forwarder;

impl Subscriber for Forwarder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Decided per event (the logger may be given later); `enabled` filters by level.
        if *metadata.level() <= Level::DEBUG {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::DEBUG && metadata.is_event()
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(logger) = current() else {
            return;
        };
        let metadata = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let level = match *metadata.level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        };
        // A failing logger is ignored; there is nowhere else to report it.
        let _ = logger.log(level, metadata.target().to_string(), text.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's fields as one line: the message first, then `name=value` pairs.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Lines(Mutex<Vec<(LogLevel, String)>>);

    impl CoreLogger for Lines {
        fn log(&self, level: LogLevel, _: String, message: String) -> Result<(), LoggerError> {
            if let Ok(mut lines) = self.0.lock() {
                lines.push((level, message));
            }
            Err(LoggerError::Failed {
                reason: "ignored".into(),
            })
        }
    }

    #[test]
    fn events_reach_the_logger_as_lines_and_trace_does_not() {
        let lines = Arc::new(Lines(Mutex::new(Vec::new())));
        install(lines.clone());
        let attempt = 2;
        tracing::warn!(attempt, "workspace call failed; retrying");
        tracing::trace!("too fine to forward");
        let seen = lines.0.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(
            seen.contains(&(
                LogLevel::Warn,
                "workspace call failed; retrying attempt=2".to_string()
            )),
            "{seen:?}"
        );
        assert!(!seen.iter().any(|(_, m)| m.contains("too fine")));
    }
}
