//! `signal-delivery send`: delivers each signal read, one JSON outcome line
//! per signal on standard output as soon as it is known, a summary on
//! standard error.

use super::{Stop, open_input, termination};
use crate::args::SendArgs;
use crate::exit;
use crate::output::JsonLines;
use crate::progress::Progress;
use signal_delivery::send::{OutcomeLine, OutputFailed, SendSettings, send_stream};
use signal_delivery::{DeliveryConfig, DeliveryService, telemetry};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::OnceLock;

/// Runs `send`.
pub(super) async fn exec(mut config: DeliveryConfig, args: SendArgs) -> ExitCode {
    if args.metrics_addr.is_some() {
        config.telemetry.metrics_addr = args.metrics_addr;
    }
    telemetry::init_logging(&config.telemetry);
    if let Some(addr) = config.telemetry.metrics_addr
        && let Err(e) = telemetry::serve_metrics(addr, std::sync::Arc::new(|| true)).await
    {
        return exit::usage(format_args!("{e}\nNothing was sent."));
    }
    let input = match open_input(args.input.path().map(|p| p.as_path())).await {
        Ok(input) => input,
        Err(code) => return code,
    };
    let termination = match termination().await {
        Ok(termination) => termination,
        Err(e) => {
            return exit::usage(format_args!(
                "cannot install the SIGTERM/SIGINT handlers: {e}\nNothing was sent."
            ));
        }
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit::usage(format_args!("{e}\nNothing was sent.")),
    };

    let settings = SendSettings::new(
        &config.input,
        usize::try_from(args.concurrency).unwrap_or(1),
    );
    let stopped_by: OnceLock<Stop> = OnceLock::new();
    let stop = async {
        let _ = stopped_by.set(termination.await);
    };
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut output = JsonLines::default();
    let report = send_stream(&service, input, &settings, stop, |line: &OutcomeLine| {
        progress.tick(line.is_delivered());
        output.write(line).map_err(|()| OutputFailed)
    })
    .await;
    progress.finish();
    // Pending alert summaries go out before the exit, SIGTERM included.
    service.shutdown().await;

    eprintln!("signal-delivery: {}", report.summary);
    let mut code = exit::SUCCESS;
    if let Some(error) = &report.read_error {
        eprintln!("signal-delivery: {error}; signals after it were not read");
        code = exit::FAILURE;
    }
    if let Some(error) = output.error() {
        eprintln!(
            "signal-delivery: standard output failed ({error}); reading stopped, and the outcome lines that could not be printed are in the log (standard error)"
        );
        code = exit::FAILURE;
    }
    if report.summary.failed_total() > 0 {
        code = exit::FAILURE;
    }
    match stopped_by.get() {
        Some(stop) => {
            eprintln!(
                "signal-delivery: stopped by {}; every signal read has its outcome",
                stop.name()
            );
            stop.exit_code()
        }
        None => ExitCode::from(code),
    }
}
