//! The RPCs of a producer's four child collections. They share one shape (create, get,
//! list, update with a mask, delete; addressed by producer id plus child id; guarded by
//! the producer's etag), so the flow is written once here, over [`ChildResource`]: each
//! resource module supplies its message parsing, the storage statements come from
//! `storage::children`, and every request reaches the flow as [`ChildArgs`].

use chrono::NaiveDate;
use prost::Message;
use tonic::Status;

use self::requests::{ChildArgs, ChildRequest};
use super::field_mask::{self, Maskable};
use super::page_token::{self, FilterDigest};
use super::producer_convert::{optional, unknown_enum};
use super::request::{Ran, Retry, run_once, today};
use crate::auth::{Caller, Scope};
use crate::domain::child::{ParentTarget, Stored};
use crate::domain::ids::ResourceId;
use crate::domain::page::{PageRequest, PageSize};
use crate::domain::{Error, InvalidValue, ProducerId, Version, Violations};
use crate::proto::v1 as pb;
use crate::storage::children::{self, ChildTable};
use crate::storage::request_keys::RequestKey;
use crate::storage::{Database, Work, WriteContext};

/// One child collection, as the API sees it: its messages, how they parse, and which
/// fields an update may name. The statements are the storage table's ([`ChildTable`]).
pub trait ChildResource: ChildTable {
    /// The proto message.
    type Message: Message + Maskable + Send + 'static;

    /// The request field holding the message, e.g. `address` (violations are named
    /// `address.state`, …).
    const FIELD: &'static str;
    /// The request field holding the child's id, e.g. `address_id`.
    const ID_FIELD: &'static str;
    /// Updatable fields never read back (a bank account number): an empty value cannot
    /// mean "clear" or "keep", so naming one in the mask requires a value.
    const WRITE_ONLY: &'static [&'static str] = &[];

    /// Parses a message (paths relative to it) into the data and, for a kind with one,
    /// the secret; `current` is the stored child on update.
    fn parse(
        message: &Self::Message,
        today: NaiveDate,
        current: Option<&Stored<Self>>,
    ) -> Result<(Self::Data, Option<Self::Secret>), Violations>;
    /// The message for a stored child and the producer's version.
    fn message(stored: &Stored<Self>, producer_version: Version) -> Self::Message;
    /// The message an update's mask is applied to: by default what a read returns.
    fn merge_base(stored: &Stored<Self>) -> Self::Message {
        Self::message(stored, Version::FIRST)
    }
}

/// What every child handler needs: the database, the write context (keys, event
/// encoder, trace context) and the caller.
pub struct ChildCall<'a> {
    pub db: &'a Database,
    pub cx: WriteContext,
    pub caller: Caller,
}

/// A mutation's parts, and its idempotency input: the request without its `request_id`.
fn split<Q: ChildRequest>(
    mut request: Q,
) -> (ChildArgs<<Q::Resource as ChildResource>::Message>, Retry) {
    let request_id = request.request_id().map(std::mem::take).unwrap_or_default();
    let retry = Retry::new(Q::RPC, request_id, &request);
    (request.into_args(), retry)
}

fn producer_id(raw: &str, violations: &mut Violations) -> Option<ProducerId> {
    violations.check("producer_id", raw.parse::<ProducerId>())
}

/// The child a request names: its producer and its own id.
fn child_of<R: ChildResource>(
    args: &ChildArgs<R::Message>,
    violations: &mut Violations,
) -> Option<(ProducerId, R::Id)> {
    let producer = producer_id(&args.producer_id, violations);
    let id = violations.check(R::ID_FIELD, args.child_id.parse::<R::Id>());
    producer.zip(id)
}

fn expected_version(raw: &str, violations: &mut Violations) -> Option<Option<Version>> {
    violations.check("producer_etag", Version::parse_etag(raw))
}

impl ChildCall<'_> {
    /// Creates a child. Scope `producers:write`.
    pub async fn create<Q, R>(&self, request: Q) -> Result<R::Message, Status>
    where
        Q: ChildRequest<Resource = R>,
        R: ChildResource,
    {
        self.caller.require(Scope::ProducersWrite)?;
        let (args, retry) = split(request);
        let message = args.child.unwrap_or_default();
        let mut violations = Violations::new();
        let producer = producer_id(&args.producer_id, &mut violations);
        let expected = expected_version(&args.producer_etag, &mut violations);
        let input = R::parse(&message, today(), None)
            .map_err(|invalid| violations.extend_prefixed(R::FIELD, invalid))
            .ok();
        let key = retry.key(&mut violations, &self.cx.protection, &self.caller);
        let ((producer, expected), input) = violations.finish(producer.zip(expected).zip(input))?;
        let target = ParentTarget {
            account: self.caller.account.clone(),
            producer,
            expected,
        };
        let cx = self.cx.clone();
        let (data, secret) = input;
        let (created, ran) = self
            .once(key, Some(producer), move |conn| {
                let created = children::create::<R>(conn, &cx, &target, &data, secret.as_ref())?;
                Ok(R::message(&created.item, created.producer_version))
            })
            .await?;
        if ran == Ran::Now {
            tracing::info!(resource = R::FIELD, %producer, "child created");
        }
        Ok(created)
    }

    /// Reads one child. Scope `producers:read`.
    pub async fn get<Q, R>(&self, request: Q) -> Result<R::Message, Status>
    where
        Q: ChildRequest<Resource = R>,
        R: ChildResource,
    {
        self.caller.require(Scope::ProducersRead)?;
        let args = request.into_args();
        let mut violations = Violations::new();
        let child = child_of::<R>(&args, &mut violations);
        let (producer, id) = violations.finish(child)?;
        let account = self.caller.account.clone();
        let found = self
            .db
            .read(move |conn| children::find::<R>(conn, &account, producer, id))
            .await?;
        Ok(R::message(&found.item, found.producer_version))
    }

    /// Lists one page of a producer's children, and the next page's token. Scope
    /// `producers:read`.
    pub async fn list<Q, R>(&self, request: Q) -> Result<(Vec<R::Message>, String), Status>
    where
        Q: ChildRequest<Resource = R>,
        R: ChildResource,
    {
        self.caller.require(Scope::ProducersRead)?;
        let args = request.into_args();
        let mut violations = Violations::new();
        let producer = producer_id(&args.producer_id, &mut violations);
        let size = violations.check("page_size", PageSize::parse(args.page_size));
        // A token belongs to one listing: this resource of this producer.
        let digest = FilterDigest::default()
            .add(R::FIELD.as_bytes())
            .add(args.producer_id.trim().as_bytes());
        let after = violations.check("page_token", page_token::decode(&args.page_token, &digest));
        let (producer, size) = violations.finish(producer.zip(size))?;
        let page = PageRequest {
            size,
            after: after.flatten().map(R::Id::from_uuid),
        };
        let account = self.caller.account.clone();
        let found = self
            .db
            .read(move |conn| children::list::<R>(conn, &account, producer, page))
            .await?;
        let next = match found.item.items.last() {
            Some(last) if found.item.has_more => page_token::encode(last.id.as_uuid(), &digest),
            _ => String::new(),
        };
        let messages = found
            .item
            .items
            .iter()
            .map(|child| R::message(child, found.producer_version))
            .collect();
        Ok((messages, next))
    }

    /// Updates the fields an update mask names. Scope `producers:write`.
    pub async fn update<Q, R>(&self, request: Q) -> Result<R::Message, Status>
    where
        Q: ChildRequest<Resource = R>,
        R: ChildResource,
    {
        self.caller.require(Scope::ProducersWrite)?;
        let (args, retry) = split(request);
        let mut violations = Violations::new();
        let child = child_of::<R>(&args, &mut violations);
        let expected = expected_version(&args.producer_etag, &mut violations);
        let paths = field_mask::fields::<R::Message>(args.update_mask.as_ref())
            .map_err(|v| violations.extend(v))
            .ok();
        let key = retry.key(&mut violations, &self.cx.protection, &self.caller);
        let (((producer, id), expected), paths) =
            violations.finish(child.zip(expected).zip(paths))?;
        let patch = args.child.unwrap_or_default();
        for field in paths.iter().filter(|f| R::WRITE_ONLY.contains(f)) {
            if field_mask::is_empty_in(&patch, field) {
                let problem = Violations::one(
                    format!("{}.{field}", R::FIELD),
                    "is required when update_mask names it",
                );
                return Err(Error::from(problem).into());
            }
        }
        let target = ParentTarget {
            account: self.caller.account.clone(),
            producer,
            expected,
        };
        let cx = self.cx.clone();
        let today = today();
        let (updated, _) = self
            .once(key, Some(producer), move |conn| {
                let updated = children::update::<R>(conn, &cx, &target, id, |current| {
                    let mut merged = R::merge_base(current);
                    field_mask::apply(&mut merged, &patch, &paths);
                    R::parse(&merged, today, Some(current)).map_err(|invalid| {
                        let mut prefixed = Violations::new();
                        prefixed.extend_prefixed(R::FIELD, invalid);
                        Error::from(prefixed)
                    })
                })?;
                Ok(R::message(&updated.item, updated.producer_version))
            })
            .await?;
        Ok(updated)
    }

    /// Deletes a child; answers the producer's version after it. Scope `producers:write`.
    pub async fn delete<Q, R>(&self, request: Q) -> Result<pb::DeleteChildResponse, Status>
    where
        Q: ChildRequest<Resource = R>,
        R: ChildResource,
    {
        self.caller.require(Scope::ProducersWrite)?;
        let (args, retry) = split(request);
        let mut violations = Violations::new();
        let child = child_of::<R>(&args, &mut violations);
        let expected = expected_version(&args.producer_etag, &mut violations);
        let key = retry.key(&mut violations, &self.cx.protection, &self.caller);
        let ((producer, id), expected) = violations.finish(child.zip(expected))?;
        let target = ParentTarget {
            account: self.caller.account.clone(),
            producer,
            expected,
        };
        let cx = self.cx.clone();
        let (deleted, ran) = self
            .once(key, None, move |conn| {
                let version = children::delete::<R>(conn, &cx, &target, id)?.producer_version;
                Ok(pb::DeleteChildResponse {
                    producer_version: version.get(),
                    producer_etag: version.etag(),
                })
            })
            .await?;
        if ran == Ran::Now {
            tracing::info!(resource = R::FIELD, %producer, "child deleted");
        }
        Ok(deleted)
    }

    /// Runs a child write at most once per idempotency key; `about` is the producer its
    /// answer describes, when it holds the child (deleting the producer erases it).
    async fn once<M: Message + Default + Send + 'static>(
        &self,
        key: Option<RequestKey>,
        about: Option<ProducerId>,
        write: impl Work<M>,
    ) -> Result<(M, Ran), Status> {
        let about = move |_: &M| about.map(|producer| producer.as_uuid());
        let account = &self.caller.account;
        Ok(run_once(self.db, &self.cx.protection, account, key, about, write).await?)
    }
}

mod addresses;
mod bank_accounts;
mod insurance_policies;
mod phones;
mod requests;

/// The error for a required enum left UNSPECIFIED.
fn required_enum() -> InvalidValue {
    InvalidValue::new("is required")
}

/// Parses a required `YYYY-MM-DD` date.
fn required_date(raw: &str) -> Result<NaiveDate, InvalidValue> {
    crate::domain::dates::parse_optional_date(raw)?.ok_or_else(|| InvalidValue::new("is required"))
}
