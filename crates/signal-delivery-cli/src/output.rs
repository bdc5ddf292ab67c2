//! Standard output: one JSON line per signal, written and flushed at once.
//!
//! A write error (a full disk, a closed pipe) is remembered, not ignored: the
//! command stops reading, and the lines it can no longer print are logged on
//! standard error instead, so no outcome is lost silently.

use serde::Serialize;
use std::io::Write;

/// Standard output as a sink of JSON lines.
#[derive(Debug, Default)]
pub(crate) struct JsonLines {
    error: Option<std::io::Error>,
}

impl JsonLines {
    /// Writes `value` as one line and flushes. After the first failure every
    /// later line is only logged.
    pub(crate) fn write(&mut self, value: &impl Serialize) -> Result<(), ()> {
        let json = match serde_json::to_string(value) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize an output line");
                return Err(());
            }
        };
        if self.error.is_none() {
            let mut stdout = std::io::stdout().lock();
            match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "cannot write to standard output; stopping");
                    self.error = Some(e);
                }
            }
        }
        tracing::error!(line = %json, "output line not printed (standard output failed)");
        Err(())
    }

    /// The write error, if standard output failed.
    pub(crate) fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }
}
