//! `producerprofile.v1.WebhookService`: partners' endpoints, managed by API (scope
//! `webhooks:manage`, one account each). Creating an endpoint (or moving it to a new URL)
//! first sends it a signed verification request through the SSRF guard; only a 2xx
//! within the verification timeout saves it.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use super::field_mask::{self, Maskable};
use super::page_token::{self, FilterDigest};
use super::producer_convert::{time_of, unknown_enum};
use super::request::{Ran, Retry, authorize, replayed, run_once, traceparent};
use crate::auth::{Caller, Scope};
use crate::config::WebhooksConfig;
use crate::crypto::Protection;
use crate::crypto::webhook_signing::WebhookSecret;
use crate::domain::page::{PageRequest, PageSize};
use crate::domain::text::Name;
use crate::domain::webhook::{
    DeliveryStatus, Endpoint, EndpointData, EndpointUrl, Subscription, WebhookType,
};
use crate::domain::{AccountId, DeliveryId, EndpointId, Error, InvalidValue, Violations};
use crate::proto::render::{self, timestamp};
use crate::proto::v1 as pb;
use crate::storage::request_keys::RequestKey;
use crate::storage::webhook_deliveries::{self, NewDelivery};
use crate::storage::webhook_endpoints;
use crate::storage::{Database, Work};
use crate::webhooks::http::Deliverer;
use crate::webhooks::payload;

/// Longest endpoint description.
const MAX_DESCRIPTION: usize = 500;
/// The verification request's type.
const VERIFICATION_TYPE: &str = "webhook.endpoint.verification";

/// The `WebhookService` handler (scope `webhooks:manage`).
pub struct WebhookApi {
    db: Database,
    protection: Arc<Protection>,
    verifier: Deliverer,
    settings: WebhooksConfig,
}

impl WebhookApi {
    /// The service over `db`; `verifier` sends endpoints their verification requests
    /// (through the SSRF guard, within the verification timeout of `settings`).
    pub fn new(
        db: Database,
        protection: Arc<Protection>,
        verifier: Deliverer,
        settings: WebhooksConfig,
    ) -> Self {
        Self {
            db,
            protection,
            verifier,
            settings,
        }
    }

    /// Runs an endpoint or delivery write at most once per idempotency key
    /// ([`run_once`]).
    async fn once<M: prost::Message + Default + Send + 'static>(
        &self,
        account: &AccountId,
        key: Option<RequestKey>,
        write: impl Work<M>,
    ) -> Result<(M, Ran), Error> {
        // The answers describe endpoints and deliveries, no producer.
        run_once(&self.db, &self.protection, account, key, |_| None, write).await
    }

    /// Sends the signed verification request; `Ok` on a 2xx. A refused address is a
    /// violation of `field`; any other answer fails the call with what the endpoint said.
    async fn verify(
        &self,
        url: &EndpointUrl,
        id: EndpointId,
        secret: &WebhookSecret,
        field: &str,
    ) -> Result<(), Error> {
        let webhook_id = format!("whe_verify_{}", Uuid::now_v7().simple());
        let body = json!({
            "id": webhook_id,
            "type": VERIFICATION_TYPE,
            "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": {"endpointId": id.to_string()},
        })
        .to_string();
        let outcome = self
            .verifier
            .send(url.url(), &webhook_id, &body, &[secret], None)
            .await;
        if outcome.succeeded() {
            return Ok(());
        }
        let error = outcome.error.unwrap_or_default();
        if outcome.refused {
            return Err(Violations::one(field, error).into());
        }
        let answer = match outcome.status {
            Some(status) => {
                let excerpt: String = outcome.body_excerpt.chars().take(200).collect();
                format!(
                    "it answered {status}{}",
                    if excerpt.is_empty() {
                        String::new()
                    } else {
                        format!(": {excerpt}")
                    }
                )
            }
            None => error,
        };
        Err(Error::FailedPrecondition(format!(
            "the endpoint did not accept its verification request (a 2xx within {} ms is needed): {answer}",
            self.settings.verification_timeout_ms
        )))
    }
}

/// An endpoint's fields an update may name. (`*` is not one: a full replacement would
/// re-verify the URL and reset the subscription by accident.)
impl Maskable for pb::Endpoint {
    const NAME: &'static str = "Endpoint";
    const UPDATABLE: &'static [&'static str] = &[
        "url",
        "event_types",
        "enabled",
        "description",
        "rate_limit_per_second",
    ];
    const STAR: bool = false;

    fn copy_field(target: &mut Self, source: &Self, field: &str) {
        match field {
            "url" => target.url.clone_from(&source.url),
            "event_types" => target.event_types.clone_from(&source.event_types),
            "enabled" => target.enabled = source.enabled,
            "description" => target.description.clone_from(&source.description),
            "rate_limit_per_second" => target.rate_limit_per_second = source.rate_limit_per_second,
            // UPDATABLE is the list of names; field_mask admits no others.
            _ => {}
        }
    }
}

/// The endpoint with the masked fields of `patch` applied, validated.
fn patched(
    current: &Endpoint,
    fields: &[&str],
    patch: &pb::Endpoint,
    settings: &WebhooksConfig,
) -> Result<EndpointData, Error> {
    let mut merged = render::endpoint(current);
    field_mask::apply(&mut merged, patch, fields);
    endpoint_data(&merged, settings, merged.enabled).map_err(endpoint_violations)
}

/// An endpoint message's violations, named as fields of the request's `endpoint`.
fn endpoint_violations(invalid: Violations) -> Error {
    let mut prefixed = Violations::new();
    prefixed.extend_prefixed("endpoint", invalid);
    Error::from(prefixed)
}

fn caller_of<T>(request: &Request<T>) -> Result<Caller, Status> {
    authorize(request, Scope::WebhooksManage)
}

fn parse_endpoint_id(field: &str, raw: &str, violations: &mut Violations) -> Option<EndpointId> {
    violations.check(field, raw.parse::<EndpointId>())
}

/// The fields of an endpoint message, parsed; `enabled` comes from the caller.
fn endpoint_data(
    message: &pb::Endpoint,
    settings: &WebhooksConfig,
    enabled: bool,
) -> Result<EndpointData, Violations> {
    let mut v = Violations::new();
    let url = v.check(
        "url",
        EndpointUrl::parse(&message.url, settings.url_policy()),
    );
    let subscription = v.check("event_types", Subscription::parse(&message.event_types));
    let description = v.check(
        "description",
        Name::parse_optional_within(&message.description, MAX_DESCRIPTION),
    );
    let rate = v.check(
        "rate_limit_per_second",
        match message.rate_limit_per_second {
            n if n < 0 => Err(InvalidValue::new("must not be negative")),
            0 => Ok(None),
            n => Ok(Some(n as u32)),
        },
    );
    match (url, subscription, description, rate) {
        (Some(url), Some(subscription), Some(description), Some(rate)) if v.is_empty() => {
            Ok(EndpointData {
                url,
                subscription,
                description,
                enabled,
                rate_limit_per_second: rate,
            })
        }
        _ => Err(v),
    }
}

#[tonic::async_trait]
impl pb::webhook_service_server::WebhookService for WebhookApi {
    #[instrument(name = "CreateEndpoint", skip_all, fields(account))]
    async fn create_endpoint(
        &self,
        request: Request<pb::CreateEndpointRequest>,
    ) -> Result<Response<pb::CreateEndpointResponse>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("CreateEndpoint", &mut request, |r| &mut r.request_id);
        let message = request.endpoint.unwrap_or_default();
        let mut violations = Violations::new();
        let data = endpoint_data(&message, &self.settings, true)
            .map_err(|invalid| violations.extend_prefixed("endpoint", invalid))
            .ok();
        let key = retry.key(&mut violations, &self.protection, &caller);
        let data = violations.finish(data)?;
        // A retry of a create that went through answers it again, without a second
        // verification request (the endpoint may be down by now).
        if let Some(first) =
            replayed(&self.db, &self.protection, &caller.account, key.as_ref()).await?
        {
            return Ok(Response::new(first));
        }
        let id = EndpointId::generate();
        let secret = WebhookSecret::generate();
        self.verify(&data.url, id, &secret, "endpoint.url").await?;
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let (created, ran) = self
            .once(&caller.account, key, move |conn| {
                let endpoint =
                    webhook_endpoints::create(conn, &protection, &account, id, &data, &secret)?;
                Ok(pb::CreateEndpointResponse {
                    endpoint: Some(render::endpoint(&endpoint)),
                    secret: secret.reveal(),
                })
            })
            .await?;
        if ran == Ran::Now {
            tracing::info!(endpoint = %id, "webhook endpoint created");
        }
        Ok(Response::new(created))
    }

    #[instrument(name = "GetEndpoint", skip_all, fields(account))]
    async fn get_endpoint(
        &self,
        request: Request<pb::GetEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        let caller = caller_of(&request)?;
        let mut violations = Violations::new();
        let id = parse_endpoint_id("id", &request.get_ref().id, &mut violations);
        let id = violations.finish(id)?;
        let account = caller.account.clone();
        let endpoint = self
            .db
            .read(move |conn| webhook_endpoints::find(conn, &account, id))
            .await?;
        Ok(Response::new(render::endpoint(&endpoint)))
    }

    #[instrument(name = "ListEndpoints", skip_all, fields(account))]
    async fn list_endpoints(
        &self,
        request: Request<pb::ListEndpointsRequest>,
    ) -> Result<Response<pb::ListEndpointsResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let digest = FilterDigest::default().add(b"endpoints");
        let mut violations = Violations::new();
        let size = violations.check("page_size", PageSize::parse(request.page_size));
        let after = violations.check(
            "page_token",
            page_token::decode(&request.page_token, &digest),
        );
        let size = violations.finish(size)?;
        let page = PageRequest {
            size,
            after: after.flatten().map(EndpointId::from_uuid),
        };
        let account = caller.account.clone();
        let found = self
            .db
            .read(move |conn| webhook_endpoints::list(conn, &account, page))
            .await?;
        let next_page_token = match found.items.last() {
            Some(last) if found.has_more => page_token::encode(last.id.as_uuid(), &digest),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListEndpointsResponse {
            endpoints: found.items.iter().map(render::endpoint).collect(),
            next_page_token,
        }))
    }

    #[instrument(name = "UpdateEndpoint", skip_all, fields(account))]
    async fn update_endpoint(
        &self,
        request: Request<pb::UpdateEndpointRequest>,
    ) -> Result<Response<pb::Endpoint>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("UpdateEndpoint", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("id", &request.id, &mut violations);
        let fields = field_mask::fields::<pb::Endpoint>(request.update_mask.as_ref())
            .map_err(|invalid| violations.extend(invalid))
            .ok();
        let key = retry.key(&mut violations, &self.protection, &caller);
        let (id, fields) = violations.finish(id.zip(fields))?;
        if let Some(first) =
            replayed(&self.db, &self.protection, &caller.account, key.as_ref()).await?
        {
            return Ok(Response::new(first));
        }
        let patch = request.endpoint.unwrap_or_default();
        let account = caller.account.clone();
        let current = self
            .db
            .read(move |conn| webhook_endpoints::find(conn, &account, id))
            .await?;
        let proposed = patched(&current, &fields, &patch, &self.settings)?;
        // A new URL is verified first, outside the transaction (it is an HTTP call).
        let verified_url = if proposed.url != current.data.url {
            let protection = self.protection.clone();
            let secrets = self
                .db
                .read(move |conn| webhook_endpoints::signing_secrets(conn, &protection, id))
                .await?;
            self.verify(&proposed.url, id, &secrets[0], "endpoint.url")
                .await?;
            Some(proposed.url)
        } else {
            None
        };
        let account = caller.account.clone();
        let settings = self.settings.clone();
        let (updated, _) = self
            .once(&caller.account, key, move |conn| {
                // Applied again to the locked row: a concurrent update is kept, not lost.
                let updated = webhook_endpoints::update(conn, &account, id, |fresh| {
                    let data = patched(fresh, &fields, &patch, &settings)?;
                    if data.url != fresh.data.url && verified_url.as_ref() != Some(&data.url) {
                        return Err(Error::FailedPrecondition(
                            "the endpoint's URL changed meanwhile; read it again and retry".into(),
                        ));
                    }
                    Ok(data)
                })?;
                Ok(render::endpoint(&updated))
            })
            .await?;
        Ok(Response::new(updated))
    }

    #[instrument(name = "DeleteEndpoint", skip_all, fields(account))]
    async fn delete_endpoint(
        &self,
        request: Request<pb::DeleteEndpointRequest>,
    ) -> Result<Response<pb::DeleteEndpointResponse>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("DeleteEndpoint", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("id", &request.id, &mut violations);
        let key = retry.key(&mut violations, &self.protection, &caller);
        let id = violations.finish(id)?;
        let account = caller.account.clone();
        let (deleted, _) = self
            .once(&caller.account, key, move |conn| {
                webhook_endpoints::delete(conn, &account, id)?;
                Ok(pb::DeleteEndpointResponse {})
            })
            .await?;
        Ok(Response::new(deleted))
    }

    #[instrument(name = "RotateEndpointSecret", skip_all, fields(account))]
    async fn rotate_endpoint_secret(
        &self,
        request: Request<pb::RotateEndpointSecretRequest>,
    ) -> Result<Response<pb::RotateEndpointSecretResponse>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("RotateEndpointSecret", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("id", &request.id, &mut violations);
        let key = retry.key(&mut violations, &self.protection, &caller);
        let id = violations.finish(id)?;
        let secret = WebhookSecret::generate();
        let until = Utc::now() + chrono::Duration::hours(self.settings.secret_overlap_hours as i64);
        let protection = self.protection.clone();
        let account = caller.account.clone();
        let (rotated, ran) = self
            .once(&caller.account, key, move |conn| {
                webhook_endpoints::rotate_secret(conn, &protection, &account, id, &secret, until)?;
                Ok(pb::RotateEndpointSecretResponse {
                    secret: secret.reveal(),
                    previous_secret_expire_time: Some(timestamp(until)),
                })
            })
            .await?;
        if ran == Ran::Now {
            tracing::info!(endpoint = %id, "webhook secret rotated");
        }
        Ok(Response::new(rotated))
    }

    #[instrument(name = "SendTestEvent", skip_all, fields(account))]
    async fn send_test_event(
        &self,
        request: Request<pb::SendTestEventRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let caller = caller_of(&request)?;
        let trace = traceparent(&request);
        let mut request = request.into_inner();
        let retry = Retry::take("SendTestEvent", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("endpoint_id", &request.endpoint_id, &mut violations);
        let webhook_type = violations.check(
            "event_type",
            WebhookType::parse(&request.event_type).ok_or_else(|| {
                InvalidValue::new("must be a webhook event type, e.g. id.producer.address.updated")
            }),
        );
        let key = retry.key(&mut violations, &self.protection, &caller);
        let (id, webhook_type) = violations.finish(id.zip(webhook_type))?;
        let event_id = Uuid::now_v7();
        let sample = payload::sample(webhook_type, event_id, Utc::now());
        let account = caller.account.clone();
        let (delivery, _) = self
            .once(&caller.account, key, move |conn| {
                let test = NewDelivery {
                    endpoint_id: id,
                    event_id,
                    // Test events belong to no producer: they wait for nobody's earlier event.
                    producer_id: Uuid::nil(),
                    sequence: 0,
                    webhook_type: webhook_type.to_string(),
                    body: sample.body,
                    traceparent: trace,
                    failed: false,
                };
                webhook_deliveries::send_test(conn, &account, test)
                    .map(|delivery| render::delivery(&delivery))
            })
            .await?;
        Ok(Response::new(delivery))
    }

    #[instrument(name = "ListDeliveries", skip_all, fields(account))]
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let id = parse_endpoint_id("endpoint_id", &request.endpoint_id, &mut violations);
        let status = violations.check(
            "status",
            match pb::DeliveryStatus::try_from(request.status) {
                Ok(pb::DeliveryStatus::Unspecified) => Ok(None),
                Ok(pb::DeliveryStatus::Pending) => Ok(Some(DeliveryStatus::Pending)),
                Ok(pb::DeliveryStatus::Succeeded) => Ok(Some(DeliveryStatus::Succeeded)),
                Ok(pb::DeliveryStatus::Failed) => Ok(Some(DeliveryStatus::Failed)),
                Err(_) => Err(unknown_enum()),
            },
        );
        let size = violations.check("page_size", PageSize::parse(request.page_size));
        let digest = FilterDigest::default()
            .add(request.endpoint_id.as_bytes())
            .add(&request.status.to_be_bytes());
        let after = violations.check(
            "page_token",
            page_token::decode(&request.page_token, &digest),
        );
        let ((id, status), size) = violations.finish(id.zip(status).zip(size))?;
        let page = PageRequest {
            size,
            after: after.flatten().map(DeliveryId::from_uuid),
        };
        let account = caller.account.clone();
        let found = self
            .db
            .read(move |conn| webhook_deliveries::list(conn, &account, id, status, page))
            .await?;
        let next_page_token = match found.items.last() {
            Some(last) if found.has_more => page_token::encode(last.id.as_uuid(), &digest),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: found.items.iter().map(render::delivery).collect(),
            next_page_token,
        }))
    }

    #[instrument(name = "ListAttempts", skip_all, fields(account))]
    async fn list_attempts(
        &self,
        request: Request<pb::ListAttemptsRequest>,
    ) -> Result<Response<pb::ListAttemptsResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let id = parse_endpoint_id("endpoint_id", &request.endpoint_id, &mut violations);
        let delivery = if request.delivery_id.is_empty() {
            Some(None)
        } else {
            violations
                .check("delivery_id", request.delivery_id.parse::<DeliveryId>())
                .map(Some)
        };
        let size = violations.check("page_size", PageSize::parse(request.page_size));
        let digest = FilterDigest::default()
            .add(request.endpoint_id.as_bytes())
            .add(request.delivery_id.as_bytes());
        let after = violations.check(
            "page_token",
            page_token::decode(&request.page_token, &digest),
        );
        let ((id, delivery), size) = violations.finish(id.zip(delivery).zip(size))?;
        let page = PageRequest {
            size,
            after: after.flatten(),
        };
        let account = caller.account.clone();
        let found = self
            .db
            .read(move |conn| webhook_deliveries::attempts(conn, &account, id, delivery, page))
            .await?;
        let next_page_token = match found.items.last() {
            Some(last) if found.has_more => page_token::encode(last.id, &digest),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAttemptsResponse {
            attempts: found.items.iter().map(render::attempt).collect(),
            next_page_token,
        }))
    }

    #[instrument(name = "RedeliverEvent", skip_all, fields(account))]
    async fn redeliver_event(
        &self,
        request: Request<pb::RedeliverEventRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("RedeliverEvent", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("endpoint_id", &request.endpoint_id, &mut violations);
        let event = violations.check(
            "event_id",
            Uuid::parse_str(request.event_id.trim())
                .map_err(|_| InvalidValue::new("must be an event id")),
        );
        let key = retry.key(&mut violations, &self.protection, &caller);
        let (id, event) = violations.finish(id.zip(event))?;
        let account = caller.account.clone();
        let (delivery, _) = self
            .once(&caller.account, key, move |conn| {
                webhook_deliveries::redeliver(conn, &account, id, event)
                    .map(|delivery| render::delivery(&delivery))
            })
            .await?;
        Ok(Response::new(delivery))
    }

    #[instrument(name = "RecoverEndpoint", skip_all, fields(account))]
    async fn recover_endpoint(
        &self,
        request: Request<pb::RecoverEndpointRequest>,
    ) -> Result<Response<pb::RecoverEndpointResponse>, Status> {
        let caller = caller_of(&request)?;
        let mut request = request.into_inner();
        let retry = Retry::take("RecoverEndpoint", &mut request, |r| &mut r.request_id);
        let mut violations = Violations::new();
        let id = parse_endpoint_id("endpoint_id", &request.endpoint_id, &mut violations);
        let since = violations.check(
            "since",
            request
                .since
                .as_ref()
                .ok_or_else(|| InvalidValue::new("is required"))
                .and_then(time_of),
        );
        let key = retry.key(&mut violations, &self.protection, &caller);
        let (id, since) = violations.finish(id.zip(since))?;
        let account = caller.account.clone();
        let (recovered, _) = self
            .once(&caller.account, key, move |conn| {
                let requeued = webhook_deliveries::recover(conn, &account, id, since)?;
                Ok(pb::RecoverEndpointResponse {
                    requeued: requeued as i64,
                })
            })
            .await?;
        Ok(Response::new(recovered))
    }
}
