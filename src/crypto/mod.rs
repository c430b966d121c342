//! Cryptography for sensitive fields, with ring: encryption at rest and keyed hashes.

pub mod feed_cursor;
pub mod field_cipher;
pub mod keyed_hash;
pub mod webhook_signing;

pub use field_cipher::{CipherError, FieldCipher, FieldContext, SealedValue};
pub use keyed_hash::KeyedHasher;

/// The keys that protect sensitive fields, handed together to the layers that need them.
#[derive(Debug)]
pub struct Protection {
    /// Encrypts sensitive fields at rest.
    pub cipher: FieldCipher,
    /// Blind indexes, request fingerprints and feed cursors.
    pub hasher: KeyedHasher,
}

/// [`KeyedHasher`] label of the SSN blind index.
pub const SSN_INDEX_LABEL: &str = "ssn";
/// [`KeyedHasher`] label of request fingerprints (idempotency keys), followed by the RPC.
pub const REQUEST_FINGERPRINT_LABEL: &str = "request";
