//! `signal-delivery run`: the outbox worker, until SIGTERM or SIGINT.

use super::termination;
use crate::args::RunArgs;
use crate::exit;
use signal_delivery::ops::CommandPoller;
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_delivery::{AlertSetting, DeliveryConfig, DeliveryService, telemetry};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the worker; exits 0 after a graceful shutdown.
pub(super) async fn exec(mut config: DeliveryConfig, args: RunArgs) -> ExitCode {
    if args.metrics_addr.is_some() {
        config.telemetry.metrics_addr = args.metrics_addr;
    }
    telemetry::init_logging(&config.telemetry);
    let outbox = match super::open::outbox_patiently(
        &args.outbox,
        &config.outbox,
        "The worker did not start.",
    )
    .await
    {
        Ok(outbox) => outbox,
        Err(code) => return code,
    };
    let path = outbox.describe();
    let shutdown = match termination().await {
        Ok(shutdown) => shutdown,
        Err(e) => {
            return exit::usage(format_args!(
                "cannot install the SIGTERM/SIGINT handlers: {e}"
            ));
        }
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit::usage(format_args!("{e}\nThe worker did not start.")),
    };
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    let settings = WorkerSettings::new(&config.outbox, concurrency);
    if settings.lease <= config.client.request_timeout {
        tracing::warn!(
            lease_s = settings.lease.as_secs_f64(),
            request_timeout_s = config.client.request_timeout.as_secs_f64(),
            "OUTBOX_LEASE_SECONDS is not longer than SIGNAL_REQUEST_TIMEOUT_SECONDS: a slow attempt keeps its row only through lease renewals (every third of the lease); if one renewal is late (a busy or unreachable outbox), another worker may send the signal again (receivers deduplicate on webhook-id)"
        );
    }
    let worker = Worker::new(Arc::clone(&outbox), service, settings);
    // Commands run on their own task beside the worker, under its name (so
    // they share its alert sender lease: one poller per fleet).
    let poller = match (&config.alerts, config.commands.enabled) {
        (AlertSetting::Telegram(alerts), true) => {
            match CommandPoller::new(alerts, &config.commands, Arc::clone(&outbox), worker.name()) {
                Ok(poller) => Some(poller),
                Err(e) => return exit::usage(format_args!("{e}\nThe worker did not start.")),
            }
        }
        _ => None,
    };
    if let Some(addr) = config.telemetry.metrics_addr {
        let health = worker.health();
        let healthy = Arc::new(move || health.load(Ordering::Relaxed));
        if let Err(e) = telemetry::serve_metrics(addr, healthy).await {
            return exit::usage(format_args!("{e}\nThe worker did not start."));
        }
    }
    eprintln!(
        "signal-delivery: worker {} delivering from {}",
        worker.name(),
        path
    );
    let poller = poller.map(CommandPoller::spawn);
    let result = worker
        .run(async move {
            shutdown.await;
        })
        .await;
    if let Some(poller) = poller {
        poller.stop().await;
    }
    match result {
        Ok(report) => {
            eprintln!(
                "signal-delivery: worker stopped: {} claimed, {} delivered, {} rescheduled, {} dead-lettered, {} released",
                report.claimed,
                report.delivered,
                report.rescheduled,
                report.dead_lettered,
                report.released
            );
            ExitCode::SUCCESS
        }
        Err(e) => exit::failure(format_args!("worker stopped with an error: {e}")),
    }
}
