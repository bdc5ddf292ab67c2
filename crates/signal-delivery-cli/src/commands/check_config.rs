//! `signal-delivery check-config`: every effective setting, or every problem.

use crate::exit;
use signal_delivery::DeliveryConfig;
use std::io::Write;
use std::process::ExitCode;

/// Prints the listing and exits 0, or the problems and exits 2.
pub(super) fn exec() -> ExitCode {
    match DeliveryConfig::from_env() {
        Ok(config) => {
            // Fails where `run` would: a backend this binary does not have.
            if let Err(problem) = super::open::supported(&config.outbox.target) {
                return exit::usage(format_args!(
                    "1 configuration problem(s):\n  - OUTBOX_URL: {problem}\nSee docs/configuration.md."
                ));
            }
            let listing = signal_config::describe(&config);
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(listing.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => exit::failure(format_args!("cannot write to standard output: {e}")),
            }
        }
        Err(errors) => exit::usage(format_args!("{errors}\nSee docs/configuration.md.")),
    }
}
