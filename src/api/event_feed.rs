//! ListEvents: an account's events after a cursor, from the event log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Message;
use tonic::Status;

use super::proto::{events as pb_events, v1 as pb};
use crate::auth::{Caller, Scope};
use crate::domain::event::EventType;
use crate::domain::producer::PageSize;
use crate::domain::{Error, InvalidValue, ProducerId, Violations};
use crate::storage::Database;
use crate::storage::outbox::{self, FeedFilter};

const CURSOR_PREFIX: &str = "ev1:";

/// The opaque cursor after log position `position`.
fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{position}"))
}

/// The log position a cursor stands for; empty is the start of the log.
fn decode_cursor(cursor: &str) -> Result<i64, InvalidValue> {
    if cursor.is_empty() {
        return Ok(0);
    }
    let invalid = || InvalidValue::new("is not a cursor issued by this API");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(invalid)
}

/// Answers a ListEvents call for `caller`.
pub async fn list_events(
    db: &Database,
    caller: &Caller,
    request: pb::ListEventsRequest,
) -> Result<pb::ListEventsResponse, Status> {
    caller.require(Scope::EventsRead)?;
    let mut violations = Violations::new();
    let after = violations.check("after", decode_cursor(&request.after));
    let size = violations.check("page_size", PageSize::parse(request.page_size));
    let types: Vec<EventType> = request
        .event_types
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let parsed = EventType::parse(name).ok_or_else(|| {
                InvalidValue::new("is not an event type (e.g. producerprofile.address.updated.v1)")
            });
            violations.check(&format!("event_types[{i}]"), parsed)
        })
        .collect();
    let producer = if request.producer_id.is_empty() {
        None
    } else {
        violations.check("producer_id", request.producer_id.parse::<ProducerId>())
    };
    let (after, size) = violations.finish(after.zip(size))?;
    let filter = FeedFilter { types, producer };
    let account = caller.account.clone();
    let page = db
        .run(move |conn| outbox::feed(conn, &account, after, &filter, size.get()))
        .await?;
    let events = page
        .events
        .iter()
        .map(|row| {
            pb_events::Event::decode(row.payload.as_slice())
                .map_err(|e| Error::Internal(format!("event {} does not decode: {e}", row.id)))
        })
        .collect::<Result<_, _>>()?;
    Ok(pb::ListEventsResponse {
        events,
        next_cursor: encode_cursor(page.resume_after),
        more: page.more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cursors_round_trip(position in 0i64..i64::MAX) {
            prop_assert_eq!(decode_cursor(&encode_cursor(position)), Ok(position));
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert_eq!(decode_cursor(""), Ok(0));
        assert!(decode_cursor("bm90LWEtY3Vyc29y").is_err());
        assert!(decode_cursor("%%%").is_err());
    }
}
