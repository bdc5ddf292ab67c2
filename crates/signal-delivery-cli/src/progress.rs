//! Progress of `send` on standard error, only when it is a terminal (and
//! `NO_COLOR` is unset: the line is redrawn with a control sequence), at
//! most once a second.

use std::time::{Duration, Instant};

/// Counts of outcomes so far, redrawn on one line.
#[derive(Debug)]
pub(crate) struct Progress {
    enabled: bool,
    last: Instant,
    delivered: u64,
    failed: u64,
}

impl Progress {
    pub(crate) fn new(is_terminal: bool) -> Progress {
        Progress {
            enabled: is_terminal && std::env::var_os("NO_COLOR").is_none(),
            last: Instant::now(),
            delivered: 0,
            failed: 0,
        }
    }

    pub(crate) fn tick(&mut self, delivered: bool) {
        if delivered {
            self.delivered += 1;
        } else {
            self.failed += 1;
        }
        if self.enabled && self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            eprint!("\r{} delivered, {} failed ...", self.delivered, self.failed);
        }
    }

    pub(crate) fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }
}
