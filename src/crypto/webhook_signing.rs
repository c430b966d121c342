//! The Standard Webhooks signature scheme: a per-endpoint secret `whsec_<base64 key>`,
//! and `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` signatures.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "whsec_";
/// Bytes of a new key (the scheme allows 24–64).
const NEW_KEY_LEN: usize = 32;

/// Why a text is not a webhook secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The text does not start with `whsec_`.
    #[error("a webhook secret starts with whsec_")]
    MissingPrefix,
    /// What follows `whsec_` is not base64.
    #[error("a webhook secret is base64 after whsec_")]
    NotBase64(#[source] base64::DecodeError),
    /// The key is shorter than 24 or longer than 64 bytes.
    #[error("a webhook secret holds 24 to 64 bytes")]
    Length,
}

/// An endpoint's signing key. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = vec![0u8; NEW_KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the operating system's random source failed");
        Self(key)
    }

    /// Reads `whsec_<base64>` (24–64 key bytes).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD.decode(encoded).map_err(SecretError::NotBase64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length);
        }
        Ok(Self(key))
    }

    /// The form shown to the endpoint's owner, once: `whsec_<base64>`.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The raw key bytes, for sealing at rest.
    pub fn key_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key of [`WebhookSecret::key_bytes`], opened from storage (not checked again).
    pub fn from_key_bytes(key: Vec<u8>) -> Self {
        Self(key)
    }

    /// `v1,<signature>` of one delivery attempt.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut context = hmac::Context::with_key(&key);
        context.update(webhook_id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

/// The `webhook-signature` header: one signature per active secret, space-separated
/// (the newest first; during a rotation the old secret signs too).
pub fn signature_header(
    secrets: &[&WebhookSecret],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_never_print() {
        let secret = WebhookSecret::generate();
        assert!(secret.reveal().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&secret.reveal()).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(WebhookSecret::parse("secret").is_err());
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let new = WebhookSecret::generate();
        let old = WebhookSecret::generate();
        let header = signature_header(&[&new, &old], "whe_1", 10, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [new.sign("whe_1", 10, b"{}"), old.sign("whe_1", 10, b"{}")]
        );
    }
}
