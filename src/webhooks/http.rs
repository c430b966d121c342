//! Sending one signed webhook over HTTP: pooled connections, the SSRF guard on every
//! request, no redirects, a timeout, and a report of what happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::ssrf::{AddressPolicy, GuardedResolver, Refused, check_literal_host};
use crate::crypto::webhook_signing::{WebhookSecret, signature_header};

/// How much of a response body is kept.
pub const RESPONSE_EXCERPT: usize = 4096;
/// The longest `Retry-After` honoured; beyond it the retry schedule decides.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// From sending the request until the body excerpt was read, or the request failed.
    pub latency: Duration,
    /// Why it failed without a usable response, or why the response is a failure.
    pub error: Option<String>,
    /// The first 4 KiB of the response body.
    pub body_excerpt: String,
    /// The receiver's `Retry-After` (429 and 503).
    pub retry_after: Option<Duration>,
    /// The SSRF guard refused the target (nothing was sent).
    pub refused: bool,
}

impl Outcome {
    /// Whether the endpoint answered 2xx: only that counts as delivered.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// An attempt that was not made: the target is not allowed.
    pub fn refused(reason: String) -> Self {
        Self {
            status: None,
            latency: Duration::ZERO,
            error: Some(reason),
            body_excerpt: String::new(),
            retry_after: None,
            refused: true,
        }
    }
}

/// Sends webhooks. Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    policy: AddressPolicy,
}

/// The HTTP client could not be built (its TLS backend did not start).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[source] reqwest::Error);

impl Deliverer {
    /// A sender whose requests time out after `timeout`, to addresses `policy` allows.
    pub fn build(timeout: Duration, policy: AddressPolicy) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the partner's host itself, around the guard.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(16)
            .user_agent(concat!(
                "producer-profile-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(ClientError)?;
        Ok(Self { client, policy })
    }

    /// POSTs `body` to `url`, signed for `webhook_id` with every secret in `secrets`.
    pub async fn send(
        &self,
        url: &url::Url,
        webhook_id: &str,
        body: &str,
        secrets: &[&WebhookSecret],
        traceparent: Option<&str>,
    ) -> Outcome {
        if url.scheme() != "https" && self.policy == AddressPolicy::PublicOnly {
            return Outcome::refused("refused: only https endpoints are allowed".into());
        }
        if let Err(Refused(reason)) = check_literal_host(url, self.policy) {
            return Outcome::refused(format!("refused: {reason}"));
        }
        let timestamp = Utc::now().timestamp();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut put = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("webhook-id", webhook_id);
        put("webhook-timestamp", &timestamp.to_string());
        put(
            "webhook-signature",
            &signature_header(secrets, webhook_id, timestamp, body.as_bytes()),
        );
        if let Some(traceparent) = traceparent {
            put("traceparent", traceparent);
        }
        let started = Instant::now();
        let response = self
            .client
            .post(url.clone())
            .headers(headers)
            .body(body.to_owned())
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => {
                let refused = refused_by_guard(&error);
                return Outcome {
                    status: None,
                    latency: started.elapsed(),
                    error: Some(describe(error)),
                    body_excerpt: String::new(),
                    retry_after: None,
                    refused,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
            .filter(|_| status == 429 || status == 503);
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT);
        let latency = started.elapsed();
        let error = match status {
            200..=299 => None,
            300..=399 => Some(format!("answered {status}: redirects are not followed")),
            _ => Some(format!("answered {status}")),
        };
        Outcome {
            status: Some(status),
            latency,
            error,
            body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            retry_after,
            refused: false,
        }
    }
}

/// Whether the request failed because the resolver refused every address.
fn refused_by_guard(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A readable reason for a failed request (the guard's refusal shows through).
/// The URL is left out: partners put tokens in query strings, and this text goes to the
/// log and to the attempt record.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        format!("timed out: {text}")
    } else {
        text
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_dates_and_is_capped() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        let soon = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let parsed = parse_retry_after(&soon).unwrap();
        assert!(parsed <= Duration::from_secs(90) && parsed >= Duration::from_secs(85));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn private_and_plain_http_targets_are_refused_before_any_request() {
        let deliverer =
            Deliverer::build(Duration::from_secs(1), AddressPolicy::PublicOnly).unwrap();
        let secret = WebhookSecret::generate();
        for url in [
            "http://example.com/hook",
            "https://169.254.169.254/latest",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/hook",
        ] {
            let outcome = deliverer
                .send(
                    &url::Url::parse(url).unwrap(),
                    "whe_1",
                    "{}",
                    &[&secret],
                    None,
                )
                .await;
            assert_eq!(outcome.status, None, "{url}");
            let error = outcome.error.unwrap();
            assert!(
                error.contains("refused") || error.contains("not a public address"),
                "{url}: {error}"
            );
        }
    }
}
