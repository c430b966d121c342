//! The `webhook_endpoints` table: partners' endpoints, their sealed signing secrets (the
//! previous one kept through a rotation's overlap), and their health.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::webhook_endpoints;
use crate::crypto::webhook_signing::WebhookSecret;
use crate::crypto::{FieldContext, Protection, SealedValue};
use crate::domain::page::{Page, PageRequest};
use crate::domain::text::Name;
use crate::domain::webhook::{
    Decision, DisableReason, Endpoint, EndpointData, EndpointUrl, Subscription, UrlPolicy,
    WebhookType,
};
use crate::domain::{AccountId, EndpointId, Error};

/// Column name bound into the secrets' associated data.
const SECRET_FIELD: &str = "webhook_endpoint.secret";

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
struct EndpointRow {
    id: Uuid,
    url: String,
    description: Option<String>,
    event_types: Vec<Option<String>>,
    enabled: bool,
    disabled_reason: Option<String>,
    rate_limit_per_second: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = webhook_endpoints, treat_none_as_null = true, treat_none_as_default_value = false)]
struct EndpointValues {
    url: String,
    description: Option<String>,
    event_types: Vec<Option<String>>,
    enabled: bool,
    rate_limit_per_second: Option<i32>,
}

impl From<&EndpointData> for EndpointValues {
    fn from(data: &EndpointData) -> Self {
        Self {
            url: data.url.as_str().to_owned(),
            description: data.description.as_ref().map(|d| d.as_str().to_owned()),
            event_types: data.subscription.names().into_iter().map(Some).collect(),
            enabled: data.enabled,
            rate_limit_per_second: data.rate_limit_per_second.map(|n| n as i32),
        }
    }
}

impl EndpointRow {
    fn into_domain(self) -> Result<Endpoint, Error> {
        let id = self.id;
        let corrupt =
            |what: &str| Error::Internal(format!("endpoint {id} has an invalid stored {what}"));
        let names: Vec<String> = self.event_types.into_iter().flatten().collect();
        Ok(Endpoint {
            id: EndpointId::from_uuid(self.id),
            data: EndpointData {
                // Stored URLs were valid when written; the address policy is enforced at
                // every delivery.
                url: EndpointUrl::parse(&self.url, UrlPolicy::AllowHttp)
                    .map_err(|_| corrupt("url"))?,
                subscription: Subscription::parse(&names).map_err(|_| corrupt("event_types"))?,
                description: self
                    .description
                    .as_deref()
                    .map(Name::parse)
                    .transpose()
                    .map_err(|_| corrupt("description"))?,
                enabled: self.enabled,
                rate_limit_per_second: self.rate_limit_per_second.map(|n| n as u32),
            },
            disabled_reason: self.disabled_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn seal(
    protection: &Protection,
    account: &AccountId,
    id: EndpointId,
    secret: &WebhookSecret,
) -> SealedValue {
    let owner = id.to_string();
    protection.cipher.seal(
        secret.key_bytes(),
        &FieldContext {
            account_id: account.as_str(),
            owner_id: &owner,
            field: SECRET_FIELD,
        },
    )
}

fn open(
    protection: &Protection,
    account: &str,
    id: Uuid,
    bytes: Vec<u8>,
    key_id: String,
) -> Result<WebhookSecret, Error> {
    let owner = id.to_string();
    let context = FieldContext {
        account_id: account,
        owner_id: &owner,
        field: SECRET_FIELD,
    };
    protection
        .cipher
        .open(&SealedValue { key_id, bytes }, &context)
        .map(WebhookSecret::from_key_bytes)
        .map_err(|e| Error::Internal(format!("endpoint {owner}: cannot open its secret: {e}")))
}

/// Saves a new endpoint with its (sealed) secret.
pub fn create(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    id: EndpointId,
    data: &EndpointData,
    secret: &WebhookSecret,
) -> Result<Endpoint, Error> {
    let sealed = seal(protection, account, id, secret);
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::account_id.eq(account.as_str()),
            webhook_endpoints::id.eq(id.as_uuid()),
            EndpointValues::from(data),
            webhook_endpoints::secret_ciphertext.eq(sealed.bytes),
            webhook_endpoints::secret_key_id.eq(sealed.key_id),
        ))
        .returning(EndpointRow::as_returning())
        .get_result(conn)?
        .into_domain()
}

/// The caller's endpoint, enabled or not.
pub fn find(
    conn: &mut PgConnection,
    account: &AccountId,
    id: EndpointId,
) -> Result<Endpoint, Error> {
    webhook_endpoints::table
        .find((account.as_str(), id.as_uuid()))
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("endpoint"))?
        .into_domain()
}

/// The caller's endpoint, which must be enabled for anything to be sent to it. Called
/// in the transaction that queues the sending: the row is share-locked, so a disable
/// waits for that transaction (and its deliveries are failed with the rest).
pub(super) fn find_enabled(
    conn: &mut PgConnection,
    account: &AccountId,
    id: EndpointId,
) -> Result<Endpoint, Error> {
    let endpoint = webhook_endpoints::table
        .find((account.as_str(), id.as_uuid()))
        .select(EndpointRow::as_select())
        .for_share()
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("endpoint"))?
        .into_domain()?;
    if !endpoint.data.enabled {
        return Err(Error::FailedPrecondition(
            "the endpoint is disabled: enable it (UpdateEndpoint) before sending to it".into(),
        ));
    }
    Ok(endpoint)
}

/// A page of the account's endpoints, in id (creation) order.
pub fn list(
    conn: &mut PgConnection,
    account: &AccountId,
    page: PageRequest<EndpointId>,
) -> Result<Page<Endpoint>, Error> {
    let mut query = webhook_endpoints::table
        .filter(webhook_endpoints::account_id.eq(account.as_str()))
        .select(EndpointRow::as_select())
        .order(webhook_endpoints::id.asc())
        .limit(page.size.get() as i64 + 1)
        .into_boxed();
    if let Some(after) = page.after {
        query = query.filter(webhook_endpoints::id.gt(after.as_uuid()));
    }
    super::page_of(query.load(conn)?, page.size, EndpointRow::into_domain)
}

/// Replaces the endpoint's data with what `change` derives from it (under a row lock, so
/// concurrent updates do not lose each other's changes). Enabling it clears the reason it
/// was disabled; disabling it fails its pending deliveries (they can be replayed with
/// RecoverEndpoint). A new URL or re-enabling starts its failure clock afresh; other
/// edits leave it running.
pub fn update(
    conn: &mut PgConnection,
    account: &AccountId,
    id: EndpointId,
    change: impl FnOnce(&Endpoint) -> Result<EndpointData, Error>,
) -> Result<Endpoint, Error> {
    conn.transaction(|conn| {
        let target = webhook_endpoints::table.find((account.as_str(), id.as_uuid()));
        let current = target
            .select(EndpointRow::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("endpoint"))?
            .into_domain()?;
        let data = change(&current)?;
        let reason = if data.enabled {
            None
        } else {
            current.disabled_reason.clone()
        };
        let updated = diesel::update(target)
            .set((
                EndpointValues::from(&data),
                webhook_endpoints::disabled_reason.eq(reason),
                webhook_endpoints::updated_at.eq(now),
            ))
            .returning(EndpointRow::as_returning())
            .get_result(conn)?
            .into_domain()?;
        let enabled_again = !current.data.enabled && data.enabled;
        if enabled_again || current.data.url != data.url {
            diesel::update(target)
                .set((
                    webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>),
                    webhook_endpoints::paused_until.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)?;
        }
        if current.data.enabled && !data.enabled {
            super::webhook_deliveries::fail_pending(conn, id)?;
        }
        Ok(updated)
    })
}

/// Deletes the endpoint, with its deliveries and their attempts.
pub fn delete(conn: &mut PgConnection, account: &AccountId, id: EndpointId) -> Result<(), Error> {
    let deleted = diesel::delete(webhook_endpoints::table.find((account.as_str(), id.as_uuid())))
        .execute(conn)?;
    if deleted == 0 {
        return Err(Error::NotFound("endpoint"));
    }
    Ok(())
}

/// Installs a new secret; the current one keeps signing until `overlap_until`.
pub fn rotate_secret(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    id: EndpointId,
    secret: &WebhookSecret,
    overlap_until: DateTime<Utc>,
) -> Result<(), Error> {
    let sealed = seal(protection, account, id, secret);
    let target = webhook_endpoints::table.find((account.as_str(), id.as_uuid()));
    let rotated = diesel::update(target)
        .set((
            webhook_endpoints::previous_secret_ciphertext
                .eq(webhook_endpoints::secret_ciphertext.nullable()),
            webhook_endpoints::previous_secret_key_id
                .eq(webhook_endpoints::secret_key_id.nullable()),
            webhook_endpoints::previous_secret_expires_at.eq(overlap_until),
            webhook_endpoints::secret_ciphertext.eq(sealed.bytes),
            webhook_endpoints::secret_key_id.eq(sealed.key_id),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(conn)?;
    if rotated == 0 {
        return Err(Error::NotFound("endpoint"));
    }
    Ok(())
}

/// The secrets that sign a delivery now: the current one, then the previous one while its
/// overlap lasts.
pub fn signing_secrets(
    conn: &mut PgConnection,
    protection: &Protection,
    id: EndpointId,
) -> Result<Vec<WebhookSecret>, Error> {
    let sealed: SealedSecrets = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(id.as_uuid()))
        .select(SealedSecrets::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("endpoint"))?;
    sealed.open(protection, id)
}

/// An endpoint's signing secrets as stored (sealed), read with whatever needs them — a
/// claimed delivery brings them along, saving a query per attempt.
#[derive(Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct SealedSecrets {
    account_id: String,
    secret_ciphertext: Vec<u8>,
    secret_key_id: String,
    previous_secret_ciphertext: Option<Vec<u8>>,
    previous_secret_key_id: Option<String>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// Ciphertext stays out of logs too: it names the account, and says nothing useful.
impl std::fmt::Debug for SealedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecrets { .. }")
    }
}

impl SealedSecrets {
    /// The secrets that sign now: the current one, then the previous one while its
    /// overlap lasts. Fails (INTERNAL) when a key is missing from the key ring.
    pub fn open(
        self,
        protection: &Protection,
        id: EndpointId,
    ) -> Result<Vec<WebhookSecret>, Error> {
        let account = self.account_id;
        let mut secrets = vec![open(
            protection,
            &account,
            id.as_uuid(),
            self.secret_ciphertext,
            self.secret_key_id,
        )?];
        if let (Some(bytes), Some(key), Some(expires)) = (
            self.previous_secret_ciphertext,
            self.previous_secret_key_id,
            self.previous_secret_expires_at,
        ) && expires > Utc::now()
        {
            secrets.push(open(protection, &account, id.as_uuid(), bytes, key)?);
        }
        Ok(secrets)
    }
}

/// An endpoint an event goes to.
pub(super) struct Subscriber {
    /// The endpoint.
    pub id: EndpointId,
    /// A disabled endpoint's delivery is recorded as failed at once.
    pub enabled: bool,
}

/// The account's endpoints subscribed to `webhook_type` that existed when the event
/// happened (a new endpoint, or a new dispatcher group reading the topic from its start,
/// must not flood it with older events). Disabled ones are included: their deliveries
/// are recorded as failed, for RecoverEndpoint to replay once they are enabled again.
pub(super) fn subscribed(
    conn: &mut PgConnection,
    account: &str,
    webhook_type: WebhookType,
    occurred_at: DateTime<Utc>,
) -> Result<Vec<Subscriber>, Error> {
    let names = vec![
        Some(webhook_type.to_string()),
        Some(WebhookType::GROUP.to_owned()),
    ];
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::account_id.eq(account))
        .filter(webhook_endpoints::event_types.overlaps_with(names))
        .filter(webhook_endpoints::created_at.le(occurred_at))
        .select((webhook_endpoints::id, webhook_endpoints::enabled))
        .load::<(Uuid, bool)>(conn)?
        .into_iter()
        .map(|(id, enabled)| Subscriber {
            id: EndpointId::from_uuid(id),
            enabled,
        })
        .collect())
}

/// How many endpoints are disabled, in every account.
pub fn disabled_count(conn: &mut PgConnection) -> Result<i64, Error> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(false))
        .count()
        .get_result(conn)?)
}

/// Holds every delivery to the endpoint until `until`: it answered 429 or 503 with
/// `Retry-After`, which is about the endpoint, not one request.
pub fn pause(conn: &mut PgConnection, id: EndpointId, until: DateTime<Utc>) -> Result<(), Error> {
    diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id.as_uuid())))
        .set(webhook_endpoints::paused_until.eq(until))
        .execute(conn)?;
    Ok(())
}

/// Notes an attempt's outcome for the endpoint's health: a success ends a failing run
/// (and makes the endpoint's waiting retries due now); a failure starts one, and disables
/// the endpoint when the run is older than `disable_after` (its pending deliveries fail
/// with it). Returns whether it was disabled.
pub fn note_outcome(
    conn: &mut PgConnection,
    id: EndpointId,
    succeeded: bool,
    disable_after: chrono::Duration,
) -> Result<bool, Error> {
    let target = webhook_endpoints::table.filter(webhook_endpoints::id.eq(id.as_uuid()));
    if succeeded {
        let recovered =
            diesel::update(target.filter(webhook_endpoints::failing_since.is_not_null()))
                .set(webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>))
                .execute(conn)?;
        if recovered > 0 {
            super::webhook_deliveries::retry_now(conn, id)?;
        }
        return Ok(false);
    }
    let since: Option<DateTime<Utc>> = diesel::update(target)
        .set(webhook_endpoints::failing_since.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("COALESCE(failing_since, now())")))
        .returning(webhook_endpoints::failing_since)
        .get_result(conn)
        .optional()?
        .flatten();
    if let Some(since) = since
        && Utc::now() - since >= disable_after
    {
        let hours = disable_after.num_hours();
        disable(conn, id, &format!("every attempt failed for {hours} hours"))?;
        return Ok(true);
    }
    Ok(false)
}

/// What an attempt's decision does to its endpoint: a 410 disables it, a `Retry-After`
/// pauses it, and its health notes the outcome (a long failing run disables it).
/// `Some` with the reason when it was disabled.
pub fn apply_decision(
    conn: &mut PgConnection,
    endpoint: EndpointId,
    decision: Decision,
    disable_after: chrono::Duration,
) -> Result<Option<DisableReason>, Error> {
    let pause_until = match decision {
        Decision::EndpointGone => {
            disable(conn, endpoint, "the endpoint answered 410 Gone")?;
            return Ok(Some(DisableReason::Gone));
        }
        Decision::Retry { pause_until, .. } | Decision::Failed { pause_until } => pause_until,
        Decision::Succeeded => None,
    };
    if let Some(until) = pause_until {
        pause(conn, endpoint, until)?;
    }
    let succeeded = decision == Decision::Succeeded;
    let disabled = note_outcome(conn, endpoint, succeeded, disable_after)?;
    Ok(disabled.then_some(DisableReason::Failing))
}

/// Disables the endpoint for `reason` and fails its pending deliveries.
pub fn disable(conn: &mut PgConnection, id: EndpointId, reason: &str) -> Result<(), Error> {
    conn.transaction(|conn| {
        diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(id.as_uuid())))
            .set((
                webhook_endpoints::enabled.eq(false),
                webhook_endpoints::disabled_reason.eq(reason),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        super::webhook_deliveries::fail_pending(conn, id)
    })
}
