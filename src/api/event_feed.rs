//! `producerprofile.events.v1.EventService`: ListEvents, an account's events after a
//! cursor, from the event log. Cursors are sealed for the account
//! ([`crate::crypto::feed_cursor`]): the log is shared, its positions are not.

use prost::Message;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::request::{authorize, checked_list};
use crate::auth::Scope;
use crate::crypto::Protection;
use crate::crypto::feed_cursor::{CursorError, CursorSealer};
use crate::domain::event::EventType;
use crate::domain::page::PageSize;
use crate::domain::{AccountId, Error, InvalidValue, ProducerId, Violations};
use crate::proto::events as pb;
use crate::storage::Database;
use crate::storage::outbox::{self, FeedFilter};

/// Most `event_types` one call may name.
pub const MAX_EVENT_TYPES: usize = 50;

/// The `EventService` handler (scope `events:read`).
pub struct EventFeedApi {
    db: Database,
    cursors: CursorSealer,
}

impl EventFeedApi {
    /// The feed over `db`; cursors are sealed with keys derived from `protection`'s hasher.
    pub fn new(db: Database, protection: &Protection) -> Self {
        Self {
            db,
            cursors: CursorSealer::new(&protection.hasher),
        }
    }

    /// The log position a request's cursor stands for; empty is the start of the log.
    fn position(&self, account: &AccountId, cursor: &str) -> Result<i64, InvalidValue> {
        if cursor.is_empty() {
            return Ok(0);
        }
        self.cursors
            .open(account.as_str(), cursor)
            .map_err(|error| match error {
                CursorError::Foreign => {
                    InvalidValue::new("is not a cursor issued to this account by this API")
                }
                CursorError::Legacy => InvalidValue::new(
                    "is a cursor of the old format, which is no longer accepted: read again \
                     from an empty cursor and drop the events you already have by event_id",
                ),
            })
    }
}

#[tonic::async_trait]
impl pb::event_service_server::EventService for EventFeedApi {
    #[instrument(name = "ListEvents", skip_all, fields(account))]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let caller = authorize(&request, Scope::EventsRead)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let after = violations.check("after", self.position(&caller.account, &request.after));
        let size = violations.check("page_size", PageSize::parse(request.page_size));
        let types: Vec<EventType> = checked_list(
            &mut violations,
            "event_types",
            &request.event_types,
            MAX_EVENT_TYPES,
            |name| {
                EventType::parse(name).ok_or_else(|| {
                    InvalidValue::new(
                        "is not an event type (e.g. producerprofile.address.updated.v1)",
                    )
                })
            },
        );
        let producer = if request.producer_id.is_empty() {
            None
        } else {
            violations.check("producer_id", request.producer_id.parse::<ProducerId>())
        };
        let (after, size) = violations.finish(after.zip(size))?;
        let filter = FeedFilter { types, producer };
        let account = caller.account.clone();
        let page = self
            .db
            .read(move |conn| outbox::feed(conn, &account, after, &filter, size.get()))
            .await?;
        let events = page
            .events
            .iter()
            .map(|row| {
                pb::Event::decode(row.payload.as_slice())
                    .map_err(|e| Error::Internal(format!("event {} does not decode: {e}", row.id)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListEventsResponse {
            events,
            next_cursor: self
                .cursors
                .seal(caller.account.as_str(), page.resume_after),
            more: page.more,
        }))
    }
}

/// Where ListEvents was served before it moved to `EventService` (to keep the API
/// packages free of import cycles).
const OLD_FEED_PATH: &str = "/producerprofile.v1.ProducerProfileService/ListEvents";
const FEED_PATH: &str = "/producerprofile.events.v1.EventService/ListEvents";

/// The producer service, with calls to ListEvents' old address handed to the feed:
/// clients compiled before the move keep working (the request and response messages
/// are the same on the wire). Deprecated; reflection shows only the new address.
#[derive(Clone)]
pub struct WithOldFeedAddress<P, F> {
    /// The producer service, which gets every other call.
    pub(super) producers: P,
    /// The event feed, which gets calls to the old ListEvents path.
    pub(super) feed: F,
}

impl<P: tonic::server::NamedService, F> tonic::server::NamedService for WithOldFeedAddress<P, F> {
    const NAME: &'static str = P::NAME;
}

impl<P, F> tower_service::Service<http::Request<tonic::body::Body>> for WithOldFeedAddress<P, F>
where
    P: tower_service::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    P::Future: Send + 'static,
    F: tower_service::Service<
            http::Request<tonic::body::Body>,
            Response = P::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    F::Future: Send + 'static,
{
    type Response = P::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<P::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Each call goes to a clone of the service it is for, made ready there.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() == OLD_FEED_PATH {
            *request.uri_mut() = http::Uri::from_static(FEED_PATH);
            let mut feed = self.feed.clone();
            return Box::pin(async move {
                std::future::poll_fn(|cx| feed.poll_ready(cx)).await?;
                feed.call(request).await
            });
        }
        let mut producers = self.producers.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| producers.poll_ready(cx)).await?;
            producers.call(request).await
        })
    }
}
