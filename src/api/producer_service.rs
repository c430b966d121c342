//! `producerprofile.v1.ProducerProfileService`: the producer RPCs. Each handler checks
//! the caller's scope, parses the request into domain types (every violation at once),
//! runs one storage operation, and renders the result for the caller's view.

use std::sync::Arc;

use chrono::NaiveDate;
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use super::children::ChildCall;
use super::page_token::{self, FilterDigest};
use super::producer_convert::{producer_data, producer_type, time_of, unknown_enum};
use super::request::{
    Ran, Retry, authorize, checked_list, identify, run_once, ssn_view, today, traceparent,
};
use super::update_mask;
use crate::auth::Scope;
use crate::crypto::Protection;
use crate::domain::address::UsState;
use crate::domain::dates::parse_optional_date;
use crate::domain::event::EventEncoder;
use crate::domain::identifiers::{Npn, Ssn};
use crate::domain::page::{PageRequest, PageSize};
use crate::domain::producer::{Producer, ProducerData, ProducerDetails, ProducerFilter, SsnView};
use crate::domain::{AccountId, Error, InvalidValue, ProducerId, Version, Violations};
use crate::proto::render::{full_producer as full_producer_message, producer as producer_message};
use crate::proto::v1 as pb;
use crate::storage::producers;
use crate::storage::request_keys::RequestKey;
use crate::storage::{Database, Work, WriteContext};

/// The `ProducerProfileService` handler: producers and their four child collections.
pub struct ProducerProfileApi {
    db: Database,
    protection: Arc<Protection>,
    encoder: Arc<dyn EventEncoder>,
}

impl ProducerProfileApi {
    /// The service over `db`; `encoder` turns each write's events into the bytes the
    /// event log stores (the binary passes the protobuf one from `events`).
    pub fn new(db: Database, protection: Arc<Protection>, encoder: Arc<dyn EventEncoder>) -> Self {
        Self {
            db,
            protection,
            encoder,
        }
    }

    /// What a write from this request needs: the keys, the event encoder, and the
    /// request's W3C trace context for its events.
    fn write_context<T>(&self, request: &Request<T>) -> WriteContext {
        WriteContext {
            protection: self.protection.clone(),
            encoder: self.encoder.clone(),
            traceparent: traceparent(request),
        }
    }

    /// Runs a producer write at most once per idempotency key ([`run_once`]); `about`
    /// names the producer its answer describes.
    async fn once<M: prost::Message + Default + Send + 'static>(
        &self,
        account: &AccountId,
        key: Option<RequestKey>,
        about: impl FnOnce(&M) -> Option<Uuid> + Send + 'static,
        write: impl Work<M>,
    ) -> Result<(M, Ran), Error> {
        run_once(&self.db, &self.protection, account, key, about, write).await
    }

    /// The caller of a child RPC, with what the shared child flow needs (each flow checks
    /// its own scope).
    fn child_call<T>(&self, request: &Request<T>) -> Result<ChildCall<'_>, Status> {
        Ok(ChildCall {
            db: &self.db,
            cx: self.write_context(request),
            caller: identify(request)?,
        })
    }
}

/// Whether GetProducer should read the children too.
fn full_view(raw: i32) -> Result<bool, InvalidValue> {
    match pb::ProducerView::try_from(raw) {
        Ok(pb::ProducerView::Full) => Ok(true),
        Ok(pb::ProducerView::Basic | pb::ProducerView::Unspecified) => Ok(false),
        Err(_) => Err(unknown_enum()),
    }
}

#[tonic::async_trait]
impl pb::producer_profile_service_server::ProducerProfileService for ProducerProfileApi {
    #[instrument(name = "CreateProducer", skip_all, fields(account))]
    async fn create_producer(
        &self,
        request: Request<pb::CreateProducerRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersWrite)?;
        let cx = self.write_context(&request);
        let mut request = request.into_inner();
        let retry = Retry::take("CreateProducer", &mut request, |r| &mut r.request_id);
        let producer = request.producer.unwrap_or_default();
        let mut violations = Violations::new();
        let data = producer_data(&producer, today(), None)
            .map_err(|invalid| violations.extend_prefixed("producer", invalid))
            .ok();
        let key = retry.key(&mut violations, &self.protection, &caller);
        let data = violations.finish(data)?;
        let account = caller.account.clone();
        let view = ssn_view(&caller);
        let about = |created: &pb::Producer| created.id.parse().ok();
        let (created, ran) = self
            .once(&caller.account, key, about, move |conn| {
                let created = producers::create(conn, &cx, &account, &data)?;
                Ok(producer_message(&created, view))
            })
            .await?;
        if ran == Ran::Now {
            tracing::info!(producer_id = %created.id, "producer created");
        }
        Ok(Response::new(created))
    }

    #[instrument(name = "GetProducer", skip_all, fields(account))]
    async fn get_producer(
        &self,
        request: Request<pb::GetProducerRequest>,
    ) -> Result<Response<pb::Producer>, Status> {
        let caller = authorize(&request, Scope::ProducersRead)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let id = violations.check("id", request.id.parse::<ProducerId>());
        let full = violations.check("view", full_view(request.view));
        let (id, full) = violations.finish(id.zip(full))?;
        let view = ssn_view(&caller);
        let protection = self.protection.clone();
        let account = caller.account.clone();
        if full {
            let found = self
                .db
                .read(move |conn| producers::find_full(conn, &protection, &account, id, view))
                .await?;
            return Ok(Response::new(full_producer_message(&found, view)));
        }
        let producer = self
            .db
            .read(move |conn| producers::find(conn, &protection, &account, id, view))
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
            .read(move |conn| producers::find_by_npn(conn, &protection, &account, &npn, view))
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
            .read(move |conn| producers::list(conn, &protection, &account, &filter, page, view))
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
        let cx = self.write_context(&request);
        let mut request = request.into_inner();
        let retry = Retry::take("UpdateProducer", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = violations.check("id", request.id.parse::<ProducerId>());
        let expected = violations.check_optional("etag", Version::parse_etag(&request.etag));
        let paths = update_mask::parse(request.update_mask.as_ref())
            .map_err(|invalid| violations.extend(invalid))
            .ok();
        let key = retry.key(&mut violations, &self.protection, &caller);
        let (id, paths) = violations.finish(id.zip(paths))?;
        if update_mask::names_ssn(&paths) {
            // Only a caller who may see the SSN may change it: for anyone else a write
            // would also probe the stored value (an unchanged version means a right guess).
            caller.require(Scope::ProducersPii)?;
        }
        let update = ProducerUpdate {
            patch: request.producer.unwrap_or_default(),
            paths,
            reveals_ssn: caller.may_read_pii(),
            today: today(),
        };
        let view = ssn_view(&caller);
        let account = caller.account.clone();
        let about = move |_: &pb::Producer| Some(id.as_uuid());
        let (updated, _) = self
            .once(&caller.account, key, about, move |conn| {
                let updated =
                    producers::update(conn, &cx, &account, id, expected, |c| update.apply(c))?;
                Ok(producer_message(&updated, view))
            })
            .await?;
        Ok(Response::new(updated))
    }

    #[instrument(name = "DeleteProducer", skip_all, fields(account))]
    async fn delete_producer(
        &self,
        request: Request<pb::DeleteProducerRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = authorize(&request, Scope::ProducersWrite)?;
        let cx = self.write_context(&request);
        let mut request = request.into_inner();
        let retry = Retry::take("DeleteProducer", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = violations.check("id", request.id.parse::<ProducerId>());
        let expected = violations.check_optional("etag", Version::parse_etag(&request.etag));
        let key = retry.key(&mut violations, &self.protection, &caller);
        let id = violations.finish(id)?;
        let account = caller.account.clone();
        // The answer holds nothing of the producer: it outlives it, and a replay succeeds.
        let (_, ran) = self
            .once(
                &caller.account,
                key,
                |_| None,
                move |conn| producers::delete(conn, &cx, &account, id, expected),
            )
            .await?;
        if ran == Ran::Now {
            tracing::info!(producer_id = %id, "producer deleted");
        }
        Ok(Response::new(()))
    }

    // The children: every RPC is the shared flow over its request.

    #[instrument(name = "CreateAddress", skip_all, fields(account))]
    async fn create_address(
        &self,
        request: Request<pb::CreateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.create(request.into_inner()).await?))
    }

    #[instrument(name = "GetAddress", skip_all, fields(account))]
    async fn get_address(
        &self,
        request: Request<pb::GetAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.get(request.into_inner()).await?))
    }

    #[instrument(name = "ListAddresses", skip_all, fields(account))]
    async fn list_addresses(
        &self,
        request: Request<pb::ListAddressesRequest>,
    ) -> Result<Response<pb::ListAddressesResponse>, Status> {
        let call = self.child_call(&request)?;
        let (addresses, next_page_token) = call.list(request.into_inner()).await?;
        Ok(Response::new(pb::ListAddressesResponse {
            addresses,
            next_page_token,
        }))
    }

    #[instrument(name = "UpdateAddress", skip_all, fields(account))]
    async fn update_address(
        &self,
        request: Request<pb::UpdateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.update(request.into_inner()).await?))
    }

    #[instrument(name = "DeleteAddress", skip_all, fields(account))]
    async fn delete_address(
        &self,
        request: Request<pb::DeleteAddressRequest>,
    ) -> Result<Response<pb::DeleteChildResponse>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.delete(request.into_inner()).await?))
    }

    #[instrument(name = "CreatePhone", skip_all, fields(account))]
    async fn create_phone(
        &self,
        request: Request<pb::CreatePhoneRequest>,
    ) -> Result<Response<pb::Phone>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.create(request.into_inner()).await?))
    }

    #[instrument(name = "GetPhone", skip_all, fields(account))]
    async fn get_phone(
        &self,
        request: Request<pb::GetPhoneRequest>,
    ) -> Result<Response<pb::Phone>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.get(request.into_inner()).await?))
    }

    #[instrument(name = "ListPhones", skip_all, fields(account))]
    async fn list_phones(
        &self,
        request: Request<pb::ListPhonesRequest>,
    ) -> Result<Response<pb::ListPhonesResponse>, Status> {
        let call = self.child_call(&request)?;
        let (phones, next_page_token) = call.list(request.into_inner()).await?;
        Ok(Response::new(pb::ListPhonesResponse {
            phones,
            next_page_token,
        }))
    }

    #[instrument(name = "UpdatePhone", skip_all, fields(account))]
    async fn update_phone(
        &self,
        request: Request<pb::UpdatePhoneRequest>,
    ) -> Result<Response<pb::Phone>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.update(request.into_inner()).await?))
    }

    #[instrument(name = "DeletePhone", skip_all, fields(account))]
    async fn delete_phone(
        &self,
        request: Request<pb::DeletePhoneRequest>,
    ) -> Result<Response<pb::DeleteChildResponse>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.delete(request.into_inner()).await?))
    }

    #[instrument(name = "CreateBankAccount", skip_all, fields(account))]
    async fn create_bank_account(
        &self,
        request: Request<pb::CreateBankAccountRequest>,
    ) -> Result<Response<pb::BankAccount>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.create(request.into_inner()).await?))
    }

    #[instrument(name = "GetBankAccount", skip_all, fields(account))]
    async fn get_bank_account(
        &self,
        request: Request<pb::GetBankAccountRequest>,
    ) -> Result<Response<pb::BankAccount>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.get(request.into_inner()).await?))
    }

    #[instrument(name = "ListBankAccounts", skip_all, fields(account))]
    async fn list_bank_accounts(
        &self,
        request: Request<pb::ListBankAccountsRequest>,
    ) -> Result<Response<pb::ListBankAccountsResponse>, Status> {
        let call = self.child_call(&request)?;
        let (bank_accounts, next_page_token) = call.list(request.into_inner()).await?;
        Ok(Response::new(pb::ListBankAccountsResponse {
            bank_accounts,
            next_page_token,
        }))
    }

    #[instrument(name = "UpdateBankAccount", skip_all, fields(account))]
    async fn update_bank_account(
        &self,
        request: Request<pb::UpdateBankAccountRequest>,
    ) -> Result<Response<pb::BankAccount>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.update(request.into_inner()).await?))
    }

    #[instrument(name = "DeleteBankAccount", skip_all, fields(account))]
    async fn delete_bank_account(
        &self,
        request: Request<pb::DeleteBankAccountRequest>,
    ) -> Result<Response<pb::DeleteChildResponse>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.delete(request.into_inner()).await?))
    }

    #[instrument(name = "CreateInsurancePolicy", skip_all, fields(account))]
    async fn create_insurance_policy(
        &self,
        request: Request<pb::CreateInsurancePolicyRequest>,
    ) -> Result<Response<pb::InsurancePolicy>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.create(request.into_inner()).await?))
    }

    #[instrument(name = "GetInsurancePolicy", skip_all, fields(account))]
    async fn get_insurance_policy(
        &self,
        request: Request<pb::GetInsurancePolicyRequest>,
    ) -> Result<Response<pb::InsurancePolicy>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.get(request.into_inner()).await?))
    }

    #[instrument(name = "ListInsurancePolicies", skip_all, fields(account))]
    async fn list_insurance_policies(
        &self,
        request: Request<pb::ListInsurancePoliciesRequest>,
    ) -> Result<Response<pb::ListInsurancePoliciesResponse>, Status> {
        let call = self.child_call(&request)?;
        let (insurance_policies, next_page_token) = call.list(request.into_inner()).await?;
        Ok(Response::new(pb::ListInsurancePoliciesResponse {
            insurance_policies,
            next_page_token,
        }))
    }

    #[instrument(name = "UpdateInsurancePolicy", skip_all, fields(account))]
    async fn update_insurance_policy(
        &self,
        request: Request<pb::UpdateInsurancePolicyRequest>,
    ) -> Result<Response<pb::InsurancePolicy>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.update(request.into_inner()).await?))
    }

    #[instrument(name = "DeleteInsurancePolicy", skip_all, fields(account))]
    async fn delete_insurance_policy(
        &self,
        request: Request<pb::DeleteInsurancePolicyRequest>,
    ) -> Result<Response<pb::DeleteChildResponse>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(call.delete(request.into_inner()).await?))
    }

    #[instrument(name = "CheckCoverage", skip_all, fields(account))]
    async fn check_coverage(
        &self,
        request: Request<pb::CheckCoverageRequest>,
    ) -> Result<Response<pb::CheckCoverageResponse>, Status> {
        let call = self.child_call(&request)?;
        Ok(Response::new(
            call.check_coverage(request.into_inner()).await?,
        ))
    }
}

/// An UpdateProducer's change, applied to the stored producer inside the write.
struct ProducerUpdate {
    patch: pb::Producer,
    paths: Vec<update_mask::MaskPath>,
    /// Whether the caller may see (and so send back) the full SSN.
    reveals_ssn: bool,
    today: NaiveDate,
}

impl ProducerUpdate {
    /// The stored producer with the masked fields of the patch, parsed like a create.
    /// The merge starts from the full SSN so an untouched SSN survives.
    fn apply(&self, current: &Producer) -> Result<ProducerData, Error> {
        let stored = producer_message(current, SsnView::Full);
        let mut merged = stored.clone();
        update_mask::apply(&mut merged, &self.patch, &self.paths)?;
        if !self.reveals_ssn {
            update_mask::keep_hidden_ssn(&mut merged, &stored);
        }
        let stored_birth_date = match &current.data.details {
            ProducerDetails::Individual(person) => person.date_of_birth.map(|d| d.date()),
            ProducerDetails::Firm(_) => None,
        };
        producer_data(&merged, self.today, stored_birth_date).map_err(|invalid| {
            let mut prefixed = Violations::new();
            prefixed.extend_prefixed("producer", invalid);
            Error::from(prefixed)
        })
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
    let npns = checked_list(
        &mut violations,
        "npns",
        &request.npns,
        ProducerFilter::MAX_NPNS,
        Npn::parse,
    );
    let updated_since = request
        .updated_since
        .as_ref()
        .and_then(|ts| violations.check("updated_since", time_of(ts)));
    let ssn = if request.ssn.is_empty() {
        None
    } else {
        violations
            .check("ssn", Ssn::parse(&request.ssn))
            .map(|ssn| producers::ssn_blind_index(protection, account, &ssn))
    };
    let address_state = if request.address_state.is_empty() {
        None
    } else {
        violations.check("address_state", UsState::parse(&request.address_state))
    };
    let covered_on =
        violations.check_optional("covered_on", parse_optional_date(&request.covered_on));
    let filter = ProducerFilter {
        producer_type: producer_type.flatten(),
        npns,
        updated_since,
        ssn,
        address_state,
        covered_on,
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
    digest = digest
        .add(
            filter
                .address_state
                .as_ref()
                .map(UsState::as_str)
                .unwrap_or_default()
                .as_bytes(),
        )
        .add(
            filter
                .covered_on
                .map(|d| d.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
    for npn in npns {
        digest = digest.add(npn.as_bytes());
    }
    digest
}
