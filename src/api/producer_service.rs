//! `producerprofile.v1.ProducerProfileService`: the producer RPCs. Each handler checks
//! the caller's scope, parses the request into domain types (every violation at once),
//! runs one storage operation, and renders the result for the caller's view.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::authn::caller;
use super::page_token::{self, FilterDigest};
use super::producer_convert::{producer_data, producer_message, producer_type};
use super::proto::v1 as pb;
use super::update_mask;
use crate::auth::{Caller, Scope};
use crate::crypto::{Protection, REQUEST_FINGERPRINT_LABEL};
use crate::domain::identifiers::{Npn, Ssn};
use crate::domain::producer::{PageRequest, PageSize, ProducerDetails, ProducerFilter, SsnView};
use crate::domain::{AccountId, Error, InvalidValue, ProducerId, RequestId, Version, Violations};
use crate::storage::Database;
use crate::storage::producers::{self, Idempotency};

pub struct ProducerProfileApi {
    db: Database,
    protection: Arc<Protection>,
}

impl ProducerProfileApi {
    pub fn new(db: Database, protection: Arc<Protection>) -> Self {
        Self { db, protection }
    }
}

fn ssn_view(caller: &Caller) -> SsnView {
    if caller.may_read_pii() {
        SsnView::Full
    } else {
        SsnView::LastFourOnly
    }
}

/// The caller, after checking it holds `scope`; records the account on the current span.
fn authorize<T>(request: &Request<T>, scope: Scope) -> Result<Caller, Status> {
    let caller = caller(request)?;
    tracing::Span::current().record("account", caller.account.as_str());
    caller.require(scope)?;
    Ok(caller)
}

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

fn parse_id(raw: &str) -> Result<ProducerId, Error> {
    raw.parse::<ProducerId>()
        .map_err(|e: InvalidValue| Violations::one("id", e.0).into())
}

/// The request body with the fields the server ignores cleared, so two creates that
/// differ only in those count as the same request.
fn create_fingerprint(
    protection: &Protection,
    account: &AccountId,
    producer: &pb::Producer,
) -> [u8; 32] {
    let significant = pb::Producer {
        npn: producer.npn.clone(),
        details: producer.details.clone(),
        ..Default::default()
    };
    protection.hasher.hash(
        REQUEST_FINGERPRINT_LABEL,
        account.as_str(),
        &significant.encode_to_vec(),
    )
}

#[tonic::async_trait]
impl pb::producer_profile_service_server::ProducerProfileService for ProducerProfileApi {
    #[instrument(name = "CreateProducer", skip_all, fields(account))]
    async fn create_producer(
        &self,
        request: Request<pb::CreateProducerRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersWrite)?;
        let request = request.into_inner();
        let producer = request.producer.unwrap_or_default();
        let mut violations = Violations::new();
        let data = producer_data(&producer, today(), None)
            .map_err(|invalid| violations.extend_prefixed("producer", invalid))
            .ok();
        let request_id =
            violations.check_optional("request_id", RequestId::parse(&request.request_id));
        let data = violations.finish(data)?;
        let idempotency = request_id.map(|request_id| Idempotency {
            request_id,
            fingerprint: create_fingerprint(&self.protection, &caller.account, &producer),
        });
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let created = self
            .db
            .run(move |conn| producers::create(conn, &protection, &account, &data, idempotency))
            .await?;
        tracing::info!(producer_id = %created.id, "producer created");
        Ok(Response::new(producer_message(&created, ssn_view(&caller))))
    }

    #[instrument(name = "GetProducer", skip_all, fields(account))]
    async fn get_producer(
        &self,
        request: Request<pb::GetProducerRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersRead)?;
        let id = parse_id(&request.get_ref().id)?;
        let view = ssn_view(&caller);
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let producer = self
            .db
            .run(move |conn| producers::find(conn, &protection, &account, id, view))
            .await?;
        Ok(Response::new(producer_message(&producer, view)))
    }

    #[instrument(name = "GetProducerByNpn", skip_all, fields(account))]
    async fn get_producer_by_npn(
        &self,
        request: Request<pb::GetProducerByNpnRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersRead)?;
        let npn = Npn::parse(&request.get_ref().npn)
            .map_err(|e| Error::from(Violations::one("npn", e.0)))?;
        let view = ssn_view(&caller);
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let producer = self
            .db
            .run(move |conn| producers::find_by_npn(conn, &protection, &account, &npn, view))
            .await?;
        Ok(Response::new(producer_message(&producer, view)))
    }

    #[instrument(name = "ListProducers", skip_all, fields(account))]
    async fn list_producers(
        &self,
        request: Request<pb::ListProducersRequest>,
    ) -> Result<Response<pb::ListProducersResponse>, Status> {
        let caller = authorize(&request, Scope::ProducersRead)?;
        let request = request.into_inner();
        if !request.ssn.is_empty() {
            caller.require(Scope::ProducersPii)?;
        }
        let (filter, page) = list_query(&request, &caller.account, &self.protection)?;
        let digest = filter_digest(&filter);
        let view = ssn_view(&caller);
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let found = self
            .db
            .run(move |conn| producers::list(conn, &protection, &account, &filter, page, view))
            .await?;
        let next_page_token = match found.items.last() {
            Some(last) if found.has_more => page_token::encode(last.id.as_uuid(), &digest),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListProducersResponse {
            producers: found
                .items
                .iter()
                .map(|p| producer_message(p, view))
                .collect(),
            next_page_token,
        }))
    }

    #[instrument(name = "UpdateProducer", skip_all, fields(account))]
    async fn update_producer(
        &self,
        request: Request<pb::UpdateProducerRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersWrite)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let id = violations.check("id", request.id.parse::<ProducerId>());
        let expected = violations.check_optional("etag", Version::parse_etag(&request.etag));
        let paths = update_mask::parse(request.update_mask.as_ref())
            .map_err(|invalid| violations.extend(invalid))
            .ok();
        let (id, paths) = violations.finish(id.zip(paths))?;
        if update_mask::names_ssn(&paths) {
            // Only a caller who may see the SSN may change it: for anyone else a write
            // would also probe the stored value (an unchanged version means a right guess).
            caller.require(Scope::ProducersPii)?;
        }
        let reveals_ssn = caller.may_read_pii();
        let patch = request.producer.unwrap_or_default();
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let today = today();
        let updated = self
            .db
            .run(move |conn| {
                producers::update(conn, &protection, &account, id, expected, |current| {
                    // The merge starts from the full SSN so an untouched SSN survives.
                    let stored = producer_message(current, SsnView::Full);
                    let mut merged = stored.clone();
                    update_mask::apply(&mut merged, &patch, &paths)?;
                    if !reveals_ssn {
                        update_mask::keep_hidden_ssn(&mut merged, &stored);
                    }
                    let stored_birth_date = match &current.data.details {
                        ProducerDetails::Individual(person) => {
                            person.date_of_birth.map(|d| d.date())
                        }
                        ProducerDetails::Firm(_) => None,
                    };
                    producer_data(&merged, today, stored_birth_date).map_err(|invalid| {
                        let mut prefixed = Violations::new();
                        prefixed.extend_prefixed("producer", invalid);
                        Error::from(prefixed)
                    })
                })
            })
            .await?;
        Ok(Response::new(producer_message(&updated, ssn_view(&caller))))
    }

    #[instrument(name = "DeleteProducer", skip_all, fields(account))]
    async fn delete_producer(
        &self,
        request: Request<pb::DeleteProducerRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = authorize(&request, Scope::ProducersWrite)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let id = violations.check("id", request.id.parse::<ProducerId>());
        let expected = violations.check_optional("etag", Version::parse_etag(&request.etag));
        let id = violations.finish(id)?;
        let account = caller.account.clone();
        self.db
            .run(move |conn| producers::delete(conn, &account, id, expected))
            .await?;
        tracing::info!(producer_id = %id, "producer deleted");
        Ok(Response::new(()))
    }
}

/// Parses a list request's filters and paging.
fn list_query(
    request: &pb::ListProducersRequest,
    account: &AccountId,
    protection: &Protection,
) -> Result<(ProducerFilter, PageRequest<ProducerId>), Error> {
    let mut violations = Violations::new();
    let size = violations.check("page_size", PageSize::parse(request.page_size));
    let producer_type = violations.check("type", producer_type(request.r#type));
    if request.npns.len() > ProducerFilter::MAX_NPNS {
        violations.add(
            "npns",
            format!("must list at most {} NPNs", ProducerFilter::MAX_NPNS),
        );
    }
    let npns: Vec<Npn> = request
        .npns
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| violations.check(&format!("npns[{i}]"), Npn::parse(raw)))
        .collect();
    let updated_since = request.updated_since.as_ref().and_then(|ts| {
        let parsed = u32::try_from(ts.nanos)
            .ok()
            .and_then(|nanos| DateTime::<Utc>::from_timestamp(ts.seconds, nanos))
            .ok_or_else(|| InvalidValue::new("is not a valid timestamp"));
        violations.check("updated_since", parsed)
    });
    let ssn = if request.ssn.is_empty() {
        None
    } else {
        violations
            .check("ssn", Ssn::parse(&request.ssn))
            .map(|ssn| producers::ssn_blind_index(protection, account, &ssn))
    };
    let filter = ProducerFilter {
        producer_type: producer_type.flatten(),
        npns,
        updated_since,
        ssn,
    };
    let after = violations.check(
        "page_token",
        page_token::decode(&request.page_token, &filter_digest(&filter)),
    );
    let page = PageRequest {
        size: violations.finish(size)?,
        after: after.flatten().map(ProducerId::from_uuid),
    };
    Ok((filter, page))
}

fn filter_digest(filter: &ProducerFilter) -> FilterDigest {
    let mut npns: Vec<&str> = filter.npns.iter().map(Npn::as_str).collect();
    npns.sort_unstable();
    npns.dedup();
    let mut digest = FilterDigest::default()
        .add(format!("{:?}", filter.producer_type).as_bytes())
        .add(
            filter
                .updated_since
                .map(|t| t.timestamp_micros().to_be_bytes().to_vec())
                .unwrap_or_default()
                .as_slice(),
        )
        .add(
            filter
                .ssn
                .as_ref()
                .map(|s| s.0.as_slice())
                .unwrap_or_default(),
        );
    for npn in npns {
        digest = digest.add(npn.as_bytes());
    }
    digest
}
