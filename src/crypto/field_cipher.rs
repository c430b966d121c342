//! Field-level encryption for sensitive values (SSN, bank account numbers): AES-256-GCM
//! with a random 96-bit nonce per value.
//!
//! Keys live in configuration, never in the database. The ring holds one active key,
//! which encrypts, and any number of older keys, which still decrypt: rotating means
//! adding a new key, making it active, and keeping the old one until no row uses it (rows
//! record their key id, so `WHERE ssn_key_id = 'old'` finds them).
//!
//! The associated data binds a ciphertext to its place (account, owner, field): a
//! ciphertext copied to another row or column fails to decrypt instead of revealing a
//! value where it does not belong.

use std::collections::HashMap;
use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// A value encrypted by [`FieldCipher::seal`]: the id of the key and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The key that sealed it, stored beside the value so rotation can find it.
    pub key_id: String,
    /// `nonce || ciphertext || tag`.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedValue(key {}, {} bytes)",
            self.key_id,
            self.bytes.len()
        )
    }
}

/// Where a sealed value belongs; authenticated but not encrypted.
pub struct FieldContext<'a> {
    /// The account (tenant) of the row.
    pub account_id: &'a str,
    /// The row that owns the value, e.g. the producer id.
    pub owner_id: &'a str,
    /// The column, e.g. `producer.ssn`.
    pub field: &'a str,
}

impl FieldContext<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // Length-prefixed parts: no choice of ids can make two contexts encode alike.
        let mut aad = Vec::with_capacity(64);
        for part in [self.account_id, self.owner_id, self.field] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// Why a sealed value could not be opened, or the key ring could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    /// The value names a key the ring does not hold (removed too early).
    #[error("encryption key {0:?} is not configured")]
    UnknownKey(String),
    /// The bytes do not open for this context: wrong key, moved to another place, or
    /// corrupted.
    #[error("sealed value failed authentication (wrong key, place or corrupted bytes)")]
    Unauthentic,
    /// The configured keys do not make a ring; the text says why.
    #[error("invalid key ring configuration: {0}")]
    Config(String),
}

/// The configured encryption keys.
pub struct FieldCipher {
    active_key_id: String,
    keys: HashMap<String, LessSafeKey>,
    rng: SystemRandom,
}

impl fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("FieldCipher")
            .field("active_key_id", &self.active_key_id)
            .field("key_ids", &ids)
            .finish()
    }
}

impl FieldCipher {
    /// Builds the ring from `(key id, 32 raw key bytes)` pairs; `active_key_id` must be
    /// one of them.
    pub fn new(
        active_key_id: &str,
        keys: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self, CipherError> {
        let mut ring_keys = HashMap::new();
        for (id, bytes) in keys {
            if id.is_empty() {
                return Err(CipherError::Config("a key id is empty".into()));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| CipherError::Config(format!("key {id:?} must be exactly 32 bytes")))?;
            if ring_keys
                .insert(id.clone(), LessSafeKey::new(unbound))
                .is_some()
            {
                return Err(CipherError::Config(format!("key {id:?} is listed twice")));
            }
        }
        if !ring_keys.contains_key(active_key_id) {
            return Err(CipherError::Config(format!(
                "the active key {active_key_id:?} is not among the keys"
            )));
        }
        Ok(Self {
            active_key_id: active_key_id.to_owned(),
            keys: ring_keys,
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plaintext` with the active key, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &FieldContext<'_>) -> SealedValue {
        let key = &self.keys[&self.active_key_id];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the operating system's random source failed");
        let mut bytes = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.associated_data()),
                &mut bytes[NONCE_LEN..],
            )
            .expect("AES-GCM sealing of a short field cannot fail");
        bytes.extend_from_slice(tag.as_ref());
        SealedValue {
            key_id: self.active_key_id.clone(),
            bytes,
        }
    }

    /// Decrypts a value sealed for exactly this `context` by any key of the ring.
    pub fn open(
        &self,
        sealed: &SealedValue,
        context: &FieldContext<'_>,
    ) -> Result<Vec<u8>, CipherError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CipherError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(CipherError::Unauthentic);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Unauthentic)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = key
            .open_in_place(nonce, Aad::from(context.associated_data()), &mut buffer)
            .map_err(|_| CipherError::Unauthentic)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(owner: &'a str) -> FieldContext<'a> {
        FieldContext {
            account_id: "ACME",
            owner_id: owner,
            field: "producer.ssn",
        }
    }

    fn cipher(active: &str) -> FieldCipher {
        FieldCipher::new(
            active,
            [
                ("old".to_owned(), vec![1u8; 32]),
                ("new".to_owned(), vec![2u8; 32]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn sealed_values_open_in_their_own_context_only() {
        let cipher = cipher("new");
        let sealed = cipher.seal(b"123456789", &context("p1"));
        assert_eq!(sealed.key_id, "new");
        assert!(!sealed.bytes.windows(9).any(|w| w == b"123456789"));
        assert_eq!(cipher.open(&sealed, &context("p1")).unwrap(), b"123456789");
        assert_eq!(
            cipher.open(&sealed, &context("p2")),
            Err(CipherError::Unauthentic)
        );
    }

    #[test]
    fn older_keys_still_open_after_rotation() {
        let sealed = cipher("old").seal(b"secret", &context("p1"));
        assert_eq!(
            cipher("new").open(&sealed, &context("p1")).unwrap(),
            b"secret"
        );
        let only_new = FieldCipher::new("new", [("new".to_owned(), vec![2u8; 32])]).unwrap();
        assert_eq!(
            only_new.open(&sealed, &context("p1")),
            Err(CipherError::UnknownKey("old".into()))
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let cipher = cipher("new");
        let a = cipher.seal(b"123456789", &context("p1"));
        let b = cipher.seal(b"123456789", &context("p1"));
        assert_ne!(a.bytes, b.bytes);
    }

    #[test]
    fn tampered_bytes_fail_authentication() {
        let cipher = cipher("new");
        let mut sealed = cipher.seal(b"123456789", &context("p1"));
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert_eq!(
            cipher.open(&sealed, &context("p1")),
            Err(CipherError::Unauthentic)
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(FieldCipher::new("a", [("a".to_owned(), vec![0u8; 16])]).is_err());
        assert!(FieldCipher::new("b", [("a".to_owned(), vec![0u8; 32])]).is_err());
        assert!(
            FieldCipher::new(
                "a",
                [
                    ("a".to_owned(), vec![0u8; 32]),
                    ("a".to_owned(), vec![1u8; 32])
                ]
            )
            .is_err()
        );
    }
}
