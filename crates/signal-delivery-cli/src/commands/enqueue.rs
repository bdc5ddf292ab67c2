//! `signal-delivery enqueue`: signals in, stored durably, one JSON
//! acknowledgement per signal after its batch committed.

use super::open_input;
use crate::args::EnqueueArgs;
use crate::exit;
use crate::output::JsonLines;
use signal_delivery::enqueue::{Ack, enqueue_lines};
use signal_delivery::{DeliveryConfig, DeliveryService, telemetry};
use signal_outbox::SqliteOutbox;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `enqueue`.
pub(super) async fn exec(config: DeliveryConfig, args: EnqueueArgs) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let path = args
        .outbox
        .outbox
        .unwrap_or_else(|| config.outbox.path.clone());
    let input = match open_input(args.input.path().map(|p| p.as_path())).await {
        Ok(input) => input,
        Err(code) => return code,
    };
    let outbox = match SqliteOutbox::open(&path) {
        Ok(outbox) => Arc::new(outbox),
        Err(e) => return exit::usage(format_args!("{e}\nNothing was enqueued.")),
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit::usage(format_args!("{e}\nNothing was enqueued.")),
    };
    let mut output = JsonLines::default();
    let report = enqueue_lines(&service, outbox, input, |ack: &Ack| {
        let _ = output.write(ack);
    })
    .await;
    eprintln!("signal-delivery: {}", report.summary);
    if let Some(failure) = &report.failure {
        eprintln!("signal-delivery: {failure}");
    }
    if let Some(error) = output.error() {
        eprintln!(
            "signal-delivery: standard output failed ({error}); the acknowledgements that could not be printed are in the log"
        );
        return ExitCode::from(exit::FAILURE);
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    }
}
