//! `signal-delivery send`: delivers each signal read, one JSON outcome line
//! per signal on standard output, a summary on standard error.

use super::open_input;
use crate::args::SendArgs;
use crate::exit;
use crate::output::JsonLines;
use crate::progress::Progress;
use signal_delivery::batch::{OutcomeLine, deliver_lines};
use signal_delivery::{DeliveryConfig, DeliveryService, telemetry};
use std::io::IsTerminal;
use std::process::ExitCode;

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
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit::usage(format_args!("{e}\nNothing was sent.")),
    };

    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut output = JsonLines::default();
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    let (summary, read_error) =
        deliver_lines(&service, input, concurrency, |line: &OutcomeLine| {
            let _ = output.write(line);
            progress.tick(line.is_delivered());
        })
        .await;
    progress.finish();
    service.shutdown().await;

    eprintln!("signal-delivery: {summary}");
    let mut code = exit::SUCCESS;
    if let Some(error) = &read_error {
        eprintln!("signal-delivery: {error}; signals after it were not read");
        code = exit::FAILURE;
    }
    if let Some(error) = output.error() {
        eprintln!(
            "signal-delivery: standard output failed ({error}); the outcome lines that could not be printed are in the log"
        );
        code = exit::FAILURE;
    }
    if summary.failed_total() > 0 {
        code = exit::FAILURE;
    }
    ExitCode::from(code)
}
