//! The `cargo xtask verify-alert` drill in local mode, run as a test for
//! every failure kind, on tokio's paused clock (the schedule costs no time).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use xtask::verify_alert::{REQUIRED_FIELDS, drill, parse};

async fn run(args: &[&str]) -> xtask::verify_alert::DrillReport {
    let mut all: Vec<String> = vec!["--local".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let options = parse(all).unwrap().unwrap();
    // No variables at all: the drill must work on embedded defaults.
    drill(&options, &|_| None).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn default_drill_http_500_exhausts_and_alert_has_every_field() {
    let report = run(&[]).await;
    assert!(!report.real_telegram);
    assert_eq!(report.reason, "exhausted");
    assert_eq!(report.attempts, 3, "2 retries by default");
    for field in REQUIRED_FIELDS {
        assert!(
            report.alert.contains(field),
            "{field} missing:\n{}",
            report.alert
        );
    }
    assert!(report.alert.contains(&report.signal_id));
    assert!(report.alert.contains("500"));
}

#[tokio::test(start_paused = true)]
async fn every_failure_kind_ends_in_its_alert() {
    for (failure, reason, attempts, marker) in [
        ("refused", "exhausted", 2, "ERROR"),
        ("timeout", "exhausted", 2, "ERROR"),
        ("http-401", "signature_rejected", 1, "CRITICAL"),
    ] {
        let report = run(&["--failure", failure, "--max-retries", "1"]).await;
        assert_eq!(report.reason, reason, "{failure}");
        assert_eq!(report.attempts, attempts, "{failure}");
        assert!(
            report.alert.contains(marker),
            "{failure}:\n{}",
            report.alert
        );
    }
}
