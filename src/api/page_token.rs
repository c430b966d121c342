//! Opaque page tokens for keyset pagination: the id of the last item served and a digest
//! of the filters, so a token replayed with other filters is refused instead of silently
//! paging through a different result set. The account is never in the token: it always
//! comes from the caller's credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use uuid::Uuid;

use crate::domain::InvalidValue;

const FORMAT_VERSION: u8 = 1;
const TOKEN_LEN: usize = 1 + 16 + 8;

/// A digest of the filters a listing ran with: feed it every filter value in a fixed order.
#[derive(Default)]
pub struct FilterDigest(Vec<u8>);

impl FilterDigest {
    pub fn add(mut self, part: &[u8]) -> Self {
        self.0.extend_from_slice(&(part.len() as u32).to_be_bytes());
        self.0.extend_from_slice(part);
        self
    }

    fn finish(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest(&SHA256, &self.0).as_ref()[..8]);
        out
    }
}

/// The token that resumes after `last` under `filters`.
pub fn encode(last: Uuid, filters: &FilterDigest) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(FORMAT_VERSION);
    bytes.extend_from_slice(last.as_bytes());
    bytes.extend_from_slice(&filters.finish());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The id to resume after; `None` for an empty token (the first page).
pub fn decode(token: &str, filters: &FilterDigest) -> Result<Option<Uuid>, InvalidValue> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || InvalidValue::new("is not a page token issued by this API");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if bytes.len() != TOKEN_LEN || bytes[0] != FORMAT_VERSION {
        return Err(invalid());
    }
    if bytes[17..] != filters.finish() {
        return Err(InvalidValue::new(
            "was issued for different filters: repeat the filters of the first page",
        ));
    }
    Ok(Some(
        Uuid::from_slice(&bytes[1..17]).map_err(|_| invalid())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tokens_round_trip_under_the_same_filters(id in any::<u128>(), filter in any::<Vec<u8>>()) {
            let uuid = Uuid::from_u128(id);
            let token = encode(uuid, &FilterDigest::default().add(&filter));
            prop_assert_eq!(decode(&token, &FilterDigest::default().add(&filter)), Ok(Some(uuid)));
        }

        #[test]
        fn garbage_never_decodes_to_a_cursor(token in "[A-Za-z0-9_-]{1,40}") {
            // Only a 25-byte token with the right version and digest can decode.
            let decoded = decode(&token, &FilterDigest::default());
            prop_assert!(decoded.is_err() || token.len() == 34);
        }
    }

    #[test]
    fn tokens_are_bound_to_their_filters() {
        let token = encode(Uuid::nil(), &FilterDigest::default().add(b"FIRM"));
        assert!(decode(&token, &FilterDigest::default().add(b"INDIVIDUAL")).is_err());
        assert_eq!(decode("", &FilterDigest::default()), Ok(None));
    }
}
