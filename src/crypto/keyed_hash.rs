//! Keyed hashes (HMAC-SHA256) of values that must be compared without being stored in
//! clear: the SSN blind index, and request fingerprints for idempotent creates (a create
//! body holds an SSN, and a plain hash of it could be brute-forced from the 10⁹ possible
//! SSNs). Each use has its own label, so one hash can never stand in for another.

use std::fmt;

use ring::hmac;

/// HMAC-SHA256 under the configured blind-index key.
pub struct KeyedHasher {
    key: hmac::Key,
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedHasher(..)")
    }
}

/// Shortest accepted key: the full strength of HMAC-SHA256.
pub const MIN_KEY_LEN: usize = 32;

/// A key shorter than [`MIN_KEY_LEN`].
#[derive(Debug, thiserror::Error)]
#[error("must be at least {MIN_KEY_LEN} bytes")]
pub struct KeyTooShort;

impl KeyedHasher {
    /// A hasher under `key`, which must hold at least [`MIN_KEY_LEN`] bytes.
    pub fn new(key: &[u8]) -> Result<Self, KeyTooShort> {
        if key.len() < MIN_KEY_LEN {
            return Err(KeyTooShort);
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    /// The hash of `value` for the use named by `label` (e.g. `"ssn"`) within `account_id`.
    pub fn hash(&self, label: &str, account_id: &str, value: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        for part in [label.as_bytes(), account_id.as_bytes(), value] {
            context.update(&(part.len() as u32).to_be_bytes());
            context.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_label_account_and_value() {
        let hasher = KeyedHasher::new(&[7u8; 32]).unwrap();
        let base = hasher.hash("ssn", "ACME", b"123456789");
        assert_eq!(base, hasher.hash("ssn", "ACME", b"123456789"));
        assert_ne!(base, hasher.hash("request", "ACME", b"123456789"));
        assert_ne!(base, hasher.hash("ssn", "OTHER", b"123456789"));
        assert_ne!(base, hasher.hash("ssn", "ACME", b"123456788"));
        let other_key = KeyedHasher::new(&[8u8; 32]).unwrap();
        assert_ne!(base, other_key.hash("ssn", "ACME", b"123456789"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(KeyedHasher::new(&[0u8; 31]).is_err());
    }
}
