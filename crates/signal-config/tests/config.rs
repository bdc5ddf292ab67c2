//! The one configuration: every bad value is reported at once, naming the
//! variable and what is allowed; unset means default, set means valid.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signal_config::{AlertSetting, BudgetSetting, DeliveryConfig, LogFormat};
use std::collections::HashMap;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn load(vars: &[(&str, &str)]) -> Result<DeliveryConfig, signal_config::ConfigErrors> {
    let base: HashMap<&str, &str> = [
        ("SIGNAL_SERVER_URL", "http://127.0.0.1:9/signals"),
        ("SIGNAL_HMAC_SECRET", SECRET),
        ("OPS_TELEGRAM_BOT_TOKEN", "123:abc"),
        ("OPS_TELEGRAM_CHAT_ID", "42"),
    ]
    .into_iter()
    .chain(vars.iter().copied())
    .collect();
    DeliveryConfig::from_lookup(|k| base.get(k).map(|v| (*v).to_owned()))
}

fn problems(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    load(vars)
        .unwrap_err()
        .0
        .into_iter()
        .map(|p| (p.variable.clone(), p.to_string()))
        .collect()
}

#[test]
fn defaults_when_only_the_required_variables_are_set() {
    let config = load(&[]).unwrap();
    assert_eq!(config.retry.max_retries(), 5);
    assert_eq!(config.budget, BudgetSetting::DEFAULT);
    assert_eq!(config.telemetry.metrics_addr, None);
    assert_eq!(config.telemetry.log_format, LogFormat::Text);
    assert_eq!(config.telemetry.log_filter, "info");
    assert_eq!(config.input, signal_config::InputSettings::default());
    assert!(matches!(config.alerts, AlertSetting::Telegram(_)));
}

#[test]
fn optional_values_are_read() {
    let config = load(&[
        ("METRICS_ADDR", "127.0.0.1:9464"),
        ("LOG_FORMAT", "json"),
        ("RETRY_BUDGET", "off"),
        ("OPS_ALERTS_DISABLED", "true"),
        ("OPS_TELEGRAM_BOT_TOKEN", "not even a token"),
        ("RUST_LOG", "signal_delivery=debug,warn"),
        ("SIGNAL_MAX_BYTES", "2048"),
    ])
    .unwrap();
    assert!(
        !config.budget.enabled,
        "RETRY_BUDGET=off turns the budget off"
    );
    let budget = load(&[
        ("RETRY_BUDGET_PERCENT", "50"),
        ("RETRY_BUDGET_MIN_PER_SECOND", "5"),
        ("RETRY_BUDGET_WINDOW_SECONDS", "30"),
    ])
    .unwrap()
    .budget;
    assert_eq!(
        budget,
        BudgetSetting {
            enabled: true,
            percent: 50,
            min_per_second: 5,
            window_seconds: 30
        }
    );
    assert_eq!(
        config.telemetry.metrics_addr,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(config.telemetry.log_format, LogFormat::Json);
    assert_eq!(config.telemetry.log_filter, "signal_delivery=debug,warn");
    assert_eq!(config.input.max_signal_bytes.get(), 2048);
    // Alerts explicitly disabled: the Telegram variables are not read at all.
    assert!(matches!(config.alerts, AlertSetting::Disabled));
}

#[test]
fn each_bad_value_names_its_variable_and_the_allowed_values() {
    for (variable, value, allowed) in [
        ("METRICS_ADDR", "localhost:9464", "IP:PORT"),
        ("METRICS_ADDR", "", "IP:PORT"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("LOG_FORMAT", "", "text or json"),
        ("OPS_ALERTS_DISABLED", "maybe", "true or false"),
        ("RETRY_BUDGET", "yes", "on or off, default on"),
        ("RETRY_BUDGET_PERCENT", "0", "1 to 1000"),
        ("RETRY_BUDGET_MIN_PER_SECOND", "", "1 to 10000"),
        ("RETRY_BUDGET_WINDOW_SECONDS", "601", "1 to 600"),
        (
            "RETRY_BUDGET_MAX_TOKENS",
            "0",
            "replaced by RETRY_BUDGET_PERCENT",
        ),
        (
            "RETRY_BUDGET_TOKEN_RATIO",
            "",
            "replaced by RETRY_BUDGET_PERCENT",
        ),
        ("SIGNAL_MAX_BYTES", "512", "1024 to 16777216"),
        ("SEND_SHUTDOWN_GRACE_SECONDS", "x", "0 to 300"),
        ("RUST_LOG", "=[", "log filter"),
        ("MAX_RETRIES", "abc", "0 to 10"),
        ("SIGNAL_REQUEST_TIMEOUT_SECONDS", "0", "1 to 300"),
        ("OPS_ALERT_TIMEOUT_SECONDS", "0", "1 to 600"),
    ] {
        let found = problems(&[(variable, value)]);
        assert_eq!(found.len(), 1, "{variable}={value:?}: {found:?}");
        assert_eq!(found[0].0, variable);
        assert!(found[0].1.contains(variable), "{}", found[0].1);
        assert!(
            found[0].1.contains(allowed),
            "{variable}={value:?}: {}",
            found[0].1
        );
    }
}

#[test]
fn every_problem_of_every_crate_is_reported_at_once() {
    let errors = DeliveryConfig::from_lookup(|k| match k {
        "MAX_RETRIES" => Some("11".into()),
        "SIGNAL_HMAC_SECRET" => Some("plain".into()),
        "OPS_TELEGRAM_CHAT_ID" => Some("me".into()),
        "LOG_FORMAT" => Some("xml".into()),
        _ => None,
    })
    .unwrap_err();
    let variables: Vec<&str> = errors.0.iter().map(|p| p.variable.as_str()).collect();
    for expected in [
        "MAX_RETRIES",
        "SIGNAL_SERVER_URL",
        "SIGNAL_HMAC_SECRET",
        "OPS_TELEGRAM_BOT_TOKEN",
        "OPS_TELEGRAM_CHAT_ID",
        "LOG_FORMAT",
    ] {
        assert!(
            variables.contains(&expected),
            "{expected} missing from {variables:?}"
        );
    }
    let text = errors.to_string();
    assert!(
        text.starts_with(&format!("{} configuration problem(s):", errors.0.len())),
        "{text}"
    );
    // A missing Telegram credential says how to run without alerts, for development.
    assert!(text.contains("OPS_ALERTS_DISABLED=true"), "{text}");
    // Secrets are never echoed.
    assert!(!text.contains("plain\""), "{text}");
}

#[test]
fn describe_lists_every_setting_with_secrets_redacted() {
    let config = load(&[
        ("OPS_TELEGRAM_BOT_TOKEN", "123456:AAH-secret-token-value"),
        (
            "SIGNAL_SERVER_URL",
            "https://signals.example.com/v1?api_key=hunter2&x=1",
        ),
        ("RUST_LOG", "debug"),
    ])
    .unwrap();
    let text = signal_config::describe(&config);
    for expected in [
        "SIGNAL_SERVER_URL=https://signals.example.com/v1?api_key=REDACTED&x=REDACTED\n",
        "SIGNAL_HMAC_SECRET=[REDACTED] (1 key(s))\n",
        "OPS_TELEGRAM_BOT_TOKEN=[REDACTED]\n",
        "OPS_TELEGRAM_CHAT_ID=42\n",
        "RUST_LOG=debug\n",
        "SIGNAL_MAX_BYTES=1048576\n",
        "SEND_SHUTDOWN_GRACE_SECONDS=5\n",
        "MAX_RETRIES=5\n",
        "RETRY_BUDGET=on\nRETRY_BUDGET_PERCENT=30\nRETRY_BUDGET_MIN_PER_SECOND=10\nRETRY_BUDGET_WINDOW_SECONDS=10\n",
        "OUTBOX_PATH=./signal-outbox.db\n",
        "# METRICS_ADDR unset (no metrics endpoint)\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    // Every line is NAME=value or a comment.
    for line in text.lines() {
        assert!(line.starts_with('#') || line.contains('='), "{line}");
    }
    for secret in ["C2FVsBQIhrscChlQIMV", "AAH-secret-token-value", "hunter2"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{config:?}").contains(secret), "{config:?}");
    }
}

#[test]
fn secrets_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hmac");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "123456:AAH-from-a-file").unwrap();
    let (secret, token) = (
        secret.to_str().unwrap().to_owned(),
        token.to_str().unwrap().to_owned(),
    );
    let vars: HashMap<&str, &str> = [
        ("SIGNAL_SERVER_URL", "http://127.0.0.1:9/signals"),
        ("SIGNAL_HMAC_SECRET_FILE", secret.as_str()),
        ("OPS_TELEGRAM_BOT_TOKEN_FILE", token.as_str()),
        ("OPS_TELEGRAM_CHAT_ID", "42"),
    ]
    .into_iter()
    .collect();
    let config = DeliveryConfig::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap();
    assert_eq!(config.client.keys.len(), 1);
    let text = signal_config::describe(&config);
    assert!(
        text.contains(&format!("SIGNAL_HMAC_SECRET_FILE={secret}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("OPS_TELEGRAM_BOT_TOKEN_FILE={token}\n")),
        "{text}"
    );
    assert!(!text.contains("AAH-from-a-file"), "{text}");
}
