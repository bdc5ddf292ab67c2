//! The Bot API base URL (`OPS_TELEGRAM_API_URL`).

use url::Url;

use super::error::AlertConfigError;
use super::{DEFAULT_API_URL, ENV_API_URL, push};

pub(super) const URL_FORM: &str = "an http:// or https:// URL such as https://api.telegram.org";

// A constant that parses (checked by a unit test): the expect cannot fire.
#[allow(clippy::expect_used)]
pub(super) fn default_api_url() -> Url {
    Url::parse(DEFAULT_API_URL).expect("DEFAULT_API_URL is a valid URL")
}

pub(super) fn normalize_url(mut url: Url) -> Url {
    let path = url.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
    }
    url
}

pub(super) fn check_url(value: &str, errors: &mut Vec<AlertConfigError>) -> Option<Url> {
    match Url::parse(value.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(normalize_url(url))
        }
        _ => push(errors, ENV_API_URL, URL_FORM),
    }
}
