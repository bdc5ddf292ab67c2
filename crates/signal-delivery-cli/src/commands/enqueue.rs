//! `signal-delivery enqueue`: signals in, stored durably, one JSON
//! acknowledgement per signal after its batch committed.

use super::{Stop, open_input, termination};
use crate::args::EnqueueArgs;
use crate::exit;
use crate::output::JsonLines;
use signal_delivery::enqueue::{Ack, OutputFailed, enqueue_stream};
use signal_delivery::{DeliveryConfig, DeliveryService, telemetry};
use std::process::ExitCode;
use std::sync::OnceLock;

/// Runs `enqueue`.
pub(super) async fn exec(config: DeliveryConfig, args: EnqueueArgs) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let input = match open_input(args.input.path().map(|p| p.as_path())).await {
        Ok(input) => input,
        Err(code) => return code,
    };
    let termination = match termination().await {
        Ok(termination) => termination,
        Err(e) => {
            return exit::usage(format_args!(
                "cannot install the SIGTERM/SIGINT handlers: {e}\nNothing was enqueued."
            ));
        }
    };
    let outbox =
        match super::open::outbox(&args.outbox, &config.outbox, "Nothing was enqueued.").await {
            Ok(outbox) => outbox,
            Err(code) => return code,
        };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit::usage(format_args!("{e}\nNothing was enqueued.")),
    };
    let stopped_by: OnceLock<Stop> = OnceLock::new();
    let stop = async {
        let _ = stopped_by.set(termination.await);
    };
    let mut output = JsonLines::default();
    let report = enqueue_stream(
        &service,
        outbox,
        input,
        config.input.max_signal_bytes,
        stop,
        |ack: &Ack| output.write(ack).map_err(|()| OutputFailed),
    )
    .await;
    eprintln!("signal-delivery: {}", report.summary);
    if let Some(failure) = &report.failure {
        eprintln!("signal-delivery: {failure}");
    }
    if let Some(error) = output.error() {
        eprintln!(
            "signal-delivery: standard output failed ({error}); reading stopped; the lines read were stored, and the acknowledgements that could not be printed are in the log (standard error)"
        );
    }
    if let Some(stop) = stopped_by.get() {
        eprintln!(
            "signal-delivery: stopped by {}; every line read was stored and acknowledged",
            stop.name()
        );
        return stop.exit_code();
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    }
}
