//! Event-feed cursors that reveal nothing: the cursor after log position N, sealed for
//! one account. The event log is shared by every account, so a bare position would let
//! one tenant count every other tenant's writes between two of its own reads.
//!
//! A cursor is AES-256-GCM of the position, with the account as associated data and a
//! synthetic nonce (an HMAC of account and position, as in SIV constructions): the same
//! position gives the same cursor (a caught-up poll gets back the cursor it sent), a
//! cursor altered in any bit or presented by another account fails authentication, and
//! nothing about the position shows. Both keys are derived from the blind-index key,
//! which never rotates (the SSN index depends on it), so cursors stay valid across
//! restarts and field-key rotations.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::KeyedHasher;

/// First byte of every cursor: the format, so a later one can be told apart.
const FORMAT: u8 = 2;
const KEY_LABEL: &str = "feed-cursor-key";
const NONCE_LABEL: &str = "feed-cursor-nonce";
/// Format byte, nonce, the sealed 8-byte position and its 16-byte tag.
const CURSOR_LEN: usize = 1 + NONCE_LEN + 8 + 16;

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor this service issued to this account (altered, foreign, garbage).
    Foreign,
    /// A cursor of the format before cursors were sealed (`ev1:` + a bare position).
    Legacy,
}

/// Seals and opens feed cursors.
pub struct CursorSealer {
    key: LessSafeKey,
    nonces: KeyedHasher,
}

impl std::fmt::Debug for CursorSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSealer(..)")
    }
}

impl CursorSealer {
    /// Derives both cursor keys from `hasher`'s key: the same key gives the same cursors.
    pub fn new(hasher: &KeyedHasher) -> Self {
        let key_bytes = hasher.hash(KEY_LABEL, "", b"");
        let key = UnboundKey::new(&AES_256_GCM, &key_bytes).expect("a 32-byte AES-256 key");
        let nonce_key = hasher.hash(NONCE_LABEL, "", b"");
        Self {
            key: LessSafeKey::new(key),
            nonces: KeyedHasher::new(&nonce_key).expect("a 32-byte HMAC key"),
        }
    }

    /// The cursor after `position` for `account`.
    pub fn seal(&self, account: &str, position: i64) -> String {
        let synthetic = self
            .nonces
            .hash(NONCE_LABEL, account, &position.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&synthetic[..NONCE_LEN]);
        let mut sealed = position.to_be_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(account.as_bytes()),
                &mut sealed,
            )
            .expect("sealing 8 bytes cannot fail");
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a cursor sealed for `account` stands for.
    pub fn open(&self, account: &str, cursor: &str) -> Result<i64, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| CursorError::Foreign)?;
        if bytes.starts_with(b"ev1:") {
            return Err(CursorError::Legacy);
        }
        if bytes.len() != CURSOR_LEN || bytes[0] != FORMAT {
            return Err(CursorError::Foreign);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..=NONCE_LEN]);
        let mut sealed = bytes[1 + NONCE_LEN..].to_vec();
        let opened = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(account.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| CursorError::Foreign)?;
        let position = i64::from_be_bytes(opened.try_into().map_err(|_| CursorError::Foreign)?);
        if position < 0 {
            return Err(CursorError::Foreign);
        }
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hasher() -> KeyedHasher {
        KeyedHasher::new(&[9u8; 32]).unwrap()
    }

    proptest! {
        #[test]
        fn cursors_round_trip_for_their_account_only(position in 0i64..i64::MAX) {
            let sealer = CursorSealer::new(&hasher());
            let cursor = sealer.seal("ACME", position);
            prop_assert_eq!(sealer.open("ACME", &cursor), Ok(position));
            prop_assert_eq!(sealer.open("GLOBEX", &cursor), Err(CursorError::Foreign));
            prop_assert!(!cursor.contains(&position.to_string()) || position < 10);
        }

        #[test]
        fn an_altered_cursor_is_refused(position in 0i64..1_000_000, flip in 0usize..CURSOR_LEN * 8) {
            let sealer = CursorSealer::new(&hasher());
            let mut bytes = URL_SAFE_NO_PAD.decode(sealer.seal("ACME", position)).unwrap();
            bytes[flip / 8] ^= 1 << (flip % 8);
            prop_assert!(sealer.open("ACME", &URL_SAFE_NO_PAD.encode(bytes)).is_err());
        }
    }

    #[test]
    fn the_same_position_gives_the_same_cursor_and_neighbours_look_unrelated() {
        let sealer = CursorSealer::new(&hasher());
        let a = sealer.seal("ACME", 41);
        assert_eq!(a, sealer.seal("ACME", 41));
        let b = sealer.seal("ACME", 42);
        let common = a
            .bytes()
            .zip(b.bytes())
            .skip(2)
            .filter(|(x, y)| x == y)
            .count();
        assert!(common < 10, "{a} and {b} share {common} characters");
    }

    #[test]
    fn old_bare_position_cursors_are_told_apart_from_garbage() {
        let sealer = CursorSealer::new(&hasher());
        let legacy = URL_SAFE_NO_PAD.encode("ev1:42");
        assert_eq!(sealer.open("ACME", &legacy), Err(CursorError::Legacy));
        assert_eq!(sealer.open("ACME", "%%%"), Err(CursorError::Foreign));
        assert_eq!(
            sealer.open("ACME", "bm90LWEtY3Vyc29y"),
            Err(CursorError::Foreign)
        );
    }
}
