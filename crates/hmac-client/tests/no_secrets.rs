//! Every public configuration and error type, formatted with `{:?}` and
//! `{}`, must not show any form of a secret: the `whsec_` string, its base64
//! body (or a piece of it), the decoded bytes as hex, or as lossy text; nor
//! a query value of the server URL, in errors, their source chains or logs.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use support::capture_logs;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac_client::{
    ClientConfig, PostErrorKind, ReplayGuard, ServerUrl, SignalClient, SigningKeys, SigningSecret,
    Verifier, redact_url, sign,
};

/// Printable key bytes, so a lossy-UTF-8 leak would be readable and caught.
const KEY: &[u8] = b"correct horse battery staple 0123456789";
const T0: i64 = 1_700_000_000;

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

/// Every form in which `key` could leak.
fn forms(key: &[u8]) -> Vec<String> {
    let encoded = STANDARD.encode(key);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        format!("whsec_{encoded}"),
        encoded.clone(),
        encoded.trim_end_matches('=').to_owned(),
        hex.clone(),
        hex.to_uppercase(),
        String::from_utf8_lossy(key).into_owned(),
        format!("{key:?}"),
    ];
    // Any 12-character window of the base64 body or the text: a partial leak
    // (a truncated key in a message) is still a leak.
    for window in [encoded.as_bytes(), key] {
        for piece in window.windows(12) {
            forms.push(String::from_utf8_lossy(piece).into_owned());
        }
    }
    forms
}

/// Formats `value` both ways (when it has Display) and checks every form.
fn assert_clean(label: &str, shown: &[String], secrets: &[Vec<u8>]) {
    for text in shown {
        for key in secrets {
            for form in forms(key) {
                assert!(
                    !text.contains(&form),
                    "{label} leaks a secret form {form:?} in: {text}"
                );
            }
        }
    }
}

macro_rules! check {
    ($secrets:expr, debug: $($value:expr),+ $(,)?) => {
        $( assert_clean(stringify!($value), &[format!("{:?}", $value), format!("{:#?}", $value)], $secrets); )+
    };
    ($secrets:expr, both: $($value:expr),+ $(,)?) => {
        $( assert_clean(
            stringify!($value),
            &[format!("{:?}", $value), format!("{:#?}", $value), format!("{}", $value)],
            $secrets,
        ); )+
    };
}

#[tokio::test]
async fn no_public_type_shows_a_secret() {
    let other: &[u8] = b"second key for the rotation !!!!";
    let secrets = vec![KEY.to_vec(), other.to_vec()];
    let secrets = &secrets;
    let both = format!("{} {}", whsec(KEY), whsec(other));

    // Secrets and keys.
    let keys = SigningKeys::parse(&both).unwrap();
    let secret = SigningSecret::parse(&whsec(KEY)).unwrap();
    check!(secrets, debug: keys, secret);

    // Secret errors, including entries that look like secrets but are not valid.
    let short: &[u8] = b"short secret text";
    let mut with_bad = secrets.clone();
    with_bad.push(short.to_vec());
    with_bad.push(b"***topsecret***".to_vec());
    let with_bad = &with_bad;
    for value in [
        format!("{both} {}", whsec(short)),
        format!("{both} whsec_***topsecret***"),
        format!("{both} ***topsecret***"),
        vec![whsec(KEY); 11].join(" "),
        String::new(),
    ] {
        let error = SigningKeys::parse(&value).unwrap_err();
        check!(with_bad, both: error);
        // The error says which entry, never what it was.
        assert!(!error.to_string().contains("topsecret"));
    }

    // Configuration and its errors (a secret pasted into the URL variable too).
    let config = ClientConfig::new("http://127.0.0.1:9/signals", &both).unwrap();
    check!(secrets, debug: config);
    let errors = ClientConfig::from_lookup(|name| match name {
        "SIGNAL_SERVER_URL" => Some(whsec(KEY)),
        "SIGNAL_HMAC_SECRET" => Some(format!("{} {}", whsec(other), whsec(short))),
        "SIGNAL_REQUEST_TIMEOUT_SECONDS" => Some(whsec(KEY)),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(errors.len(), 3);
    for error in &errors {
        check!(with_bad, both: error);
    }
    check!(with_bad, debug: errors);
    let errors = ClientConfig::from_lookup(|_| None).unwrap_err();
    for error in &errors {
        check!(secrets, both: error);
    }
    let errors =
        ClientConfig::new(&format!("https://user:{}@example.com/", whsec(KEY)), "").unwrap_err();
    for error in &errors {
        check!(secrets, both: error);
    }

    // The client.
    let clock = Arc::new(AtomicI64::new(T0));
    let now = clock.clone();
    let client = SignalClient::new(
        config
            .clone()
            .with_request_timeout(Duration::from_millis(200)),
    )
    .unwrap()
    .with_unix_time(Arc::new(move || now.load(Ordering::SeqCst)));
    check!(secrets, debug: client, client.config());

    // Post errors: every kind we can provoke, from a server that answers
    // `/status/{code}` with that status and an echo of the request headers
    // (signatures are not secrets; the keys must still not appear).
    let router = Router::new().route(
        "/status/{code}",
        post(|Path(code): Path<u16>, headers: HeaderMap| async move {
            if code == 0 {
                std::future::pending::<()>().await;
            }
            let echo = format!("{headers:?}");
            (
                StatusCode::from_u16(code).unwrap(),
                [("retry-after", "5")],
                echo,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut post_errors = Vec::new();
    for code in [0, 302, 400, 401, 403, 404, 409, 418, 422, 429, 500, 503] {
        let url = format!("http://{addr}/status/{code}");
        let client = SignalClient::new(
            ClientConfig::new(&url, &both)
                .unwrap()
                .with_request_timeout(Duration::from_millis(200)),
        )
        .unwrap()
        .with_unix_time(Arc::new(|| T0));
        post_errors.push(
            client
                .post_signal("sig_1", Bytes::from_static(b"{}"))
                .await
                .unwrap_err(),
        );
    }
    post_errors.push(
        client
            .post_signal("bad.id", Bytes::new())
            .await
            .unwrap_err(),
    );
    let refused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused_addr = refused.local_addr().unwrap();
    drop(refused);
    let refused_client =
        SignalClient::new(ClientConfig::new(&format!("http://{refused_addr}/"), &both).unwrap())
            .unwrap();
    post_errors.push(
        refused_client
            .post_signal("sig_1", Bytes::new())
            .await
            .unwrap_err(),
    );
    for error in &post_errors {
        check!(secrets, both: error);
        assert_clean(
            "kind",
            &[format!("{:?}", error.kind()), error.error_class()],
            secrets,
        );
    }

    // The verifier, its results and errors.
    let guard = ReplayGuard::default();
    let verifier = Verifier::new(keys.clone()).with_replay_guard(guard.clone());
    let body = b"{}";
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_static("sig_1"));
    headers.insert("webhook-timestamp", HeaderValue::from(T0));
    headers.insert(
        "webhook-signature",
        sign(&keys, "sig_1", T0, body).parse().unwrap(),
    );
    let verified = verifier.verify_at(&headers, body, T0).unwrap();
    check!(secrets, debug: verifier, guard, verified);
    let mut verify_errors = vec![verifier.verify_at(&headers, body, T0).unwrap_err()];
    verify_errors.push(verifier.verify_at(&headers, b"{ }", T0).unwrap_err());
    verify_errors.push(verifier.verify_at(&headers, body, T0 + 10_000).unwrap_err());
    verify_errors.push(verifier.verify_at(&headers, body, T0 - 10_000).unwrap_err());
    verify_errors.push(verifier.verify_at(&HeaderMap::new(), body, T0).unwrap_err());
    verify_errors.push(
        Verifier::new(keys.clone())
            .with_max_body_bytes(1)
            .verify_at(&headers, body, T0)
            .unwrap_err(),
    );
    for error in &verify_errors {
        check!(secrets, both: error);
        assert_clean("public", &[error.public_message().to_owned()], secrets);
    }
}

/// A query value as an operator would paste it: only unreserved characters,
/// so no percent-encoding could hide a leak from the search.
const QUERY_SECRET: &str = "qsSecret-7f3a9c-Value_42";

/// `error` with `{}`, `{:?}`, `{:#?}` and every `source()` below it.
fn every_rendering(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut shown = vec![
        error.to_string(),
        format!("{error:?}"),
        format!("{error:#?}"),
    ];
    let mut source = error.source();
    while let Some(cause) = source {
        shown.push(cause.to_string());
        shown.push(format!("{cause:?}"));
        source = cause.source();
    }
    shown
}

fn assert_no_query_secret(label: &str, shown: &[String]) {
    for text in shown {
        assert!(
            !text.contains(QUERY_SECRET),
            "{label} leaks the query secret in: {text}"
        );
    }
}

// Real time for the timeout, as in tests/client.rs: the socket I/O is real,
// so a paused clock would fire the timeout whenever the runtime idles.
#[tokio::test]
async fn url_query_values_never_leak() {
    let (logs, _guard) = capture_logs();
    let secret = whsec(KEY);

    // A closed port: connection refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    // A port that completes the TCP handshake (the backlog) but never
    // answers: the per-attempt timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();

    for (addr, expected_kind) in [
        (closed_addr, PostErrorKind::Connect),
        (silent_addr, PostErrorKind::Timeout),
    ] {
        let url = format!("http://{addr}/s?api_key={QUERY_SECRET}&region=eu");
        let config = ClientConfig::new(&url, &secret)
            .unwrap()
            .with_request_timeout(Duration::from_millis(200))
            .with_connect_timeout(Duration::from_millis(200));
        let redacted = format!("http://{addr}/s?api_key=REDACTED&region=REDACTED");
        assert_eq!(config.server_url.to_string(), redacted);
        assert_eq!(redact_url(config.server_url.as_url()), redacted);
        // The full URL is still what is sent.
        assert_eq!(config.server_url.as_url().as_str(), url);
        assert_no_query_secret(
            "config",
            &[
                format!("{config:?}"),
                format!("{config:#?}"),
                config.server_url.to_string(),
                format!("{:?}", config.server_url),
            ],
        );

        let client = SignalClient::new(config).unwrap();
        assert_no_query_secret("client", &[format!("{client:?}"), format!("{client:#?}")]);
        let error = client
            .post_signal("sig_1", Bytes::from_static(b"{}"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected_kind, "{error}");
        assert_eq!(error.url(), Some(redacted.as_str()));
        assert!(error.to_string().contains(&redacted), "{error}");
        let mut shown = every_rendering(&error);
        shown.push(error.error_class());
        assert_no_query_secret("post error", &shown);
        check!(&[KEY.to_vec()], both: error);
    }
    drop(silent);

    // Refused URLs: the error never repeats the URL, whatever part held it.
    for url in [
        format!("ftp://x.com/s?api_key={QUERY_SECRET}"),
        format!("http:///s?api_key={QUERY_SECRET}"),
        format!("http:/x.com/s?api_key={QUERY_SECRET}"),
        format!("http://user:{QUERY_SECRET}@x.com/s"),
        format!("http://x.com/s?api_key={QUERY_SECRET}\t&b=1"),
    ] {
        assert!(ServerUrl::parse(&url).is_err(), "{url}");
        let errors = ClientConfig::new(&url, &secret).unwrap_err();
        let lookup_errors = ClientConfig::from_lookup(|name| match name {
            "SIGNAL_SERVER_URL" => Some(url.clone()),
            "SIGNAL_HMAC_SECRET" => Some(secret.clone()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(errors, lookup_errors);
        for error in &errors {
            assert_eq!(error.variable(), "SIGNAL_SERVER_URL");
            assert_no_query_secret("config error", &every_rendering(error));
        }
    }

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    // The capture works: the client's own line for each failed attempt is there.
    assert_eq!(logs.matches("signal attempt failed").count(), 2, "{logs}");
    assert!(logs.contains("api_key=REDACTED"), "{logs}");
    assert_no_query_secret("logs", &[logs]);
}
