//! Webhooks in domain terms: the ten event types partners subscribe to (compatible with
//! the hosted Producer Profile API), endpoint URLs, and the retry schedule.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::error::InvalidValue;
use super::event::{Action, EventType, ResourceKind};
use super::ids::{DeliveryId, EndpointId};
use super::text::Name;

/// A webhook event type. `*.updated` fires on create and on update; the payload's
/// `data.action` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookType {
    /// What the event is about.
    pub resource: ResourceKind,
    /// Deleted, or not (created and updated share a type).
    pub deleted: bool,
}

impl WebhookType {
    /// The group that subscribes to every type.
    pub const GROUP: &'static str = "id.producer";

    /// Every webhook type: two per resource kind.
    pub fn all() -> impl Iterator<Item = WebhookType> {
        ResourceKind::ALL.into_iter().flat_map(|resource| {
            [false, true]
                .into_iter()
                .map(move |deleted| WebhookType { resource, deleted })
        })
    }

    /// The webhook type of a domain event type.
    pub fn of(event: EventType) -> Self {
        Self {
            resource: event.resource,
            deleted: event.action == Action::Deleted,
        }
    }

    /// Reads a type name as [`fmt::Display`] writes it (`id.producer.phone.deleted`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::all().find(|t| t.to_string() == name)
    }
}

impl fmt::Display for WebhookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = match self.resource {
            ResourceKind::Producer => None,
            ResourceKind::Address => Some("address"),
            ResourceKind::Phone => Some("phone"),
            ResourceKind::BankAccount => Some("bank_account"),
            ResourceKind::InsurancePolicy => Some("errors_and_omissions"),
        };
        let suffix = if self.deleted { "deleted" } else { "updated" };
        match resource {
            None => write!(f, "{}.{suffix}", Self::GROUP),
            Some(resource) => write!(f, "{}.{resource}.{suffix}", Self::GROUP),
        }
    }
}

/// What an endpoint subscribes to: the whole group, or a set of types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// The group: every type, including types added later.
    Everything,
    /// These types, sorted and without repeats.
    Types(Vec<WebhookType>),
}

impl Subscription {
    /// Most names one subscription may list (there are far fewer types; repeats count).
    pub const MAX_NAMES: usize = 50;

    /// Reads a non-empty list of type names (or the group name).
    pub fn parse(names: &[String]) -> Result<Self, InvalidValue> {
        if names.is_empty() {
            return Err(InvalidValue::new(
                "must name at least one event type, or the group id.producer",
            ));
        }
        if names.len() > Self::MAX_NAMES {
            return Err(InvalidValue::new(format!(
                "must name at most {} event types",
                Self::MAX_NAMES
            )));
        }
        if names.iter().any(|n| n.trim() == WebhookType::GROUP) {
            return Ok(Subscription::Everything);
        }
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let parsed = WebhookType::parse(name.trim()).ok_or_else(|| {
                InvalidValue::new(format!(
                    "{} is not a webhook event type (e.g. id.producer.address.updated, or id.producer for all)",
                    super::text::excerpt(name)
                ))
            })?;
            types.push(parsed);
        }
        types.sort();
        types.dedup();
        Ok(Subscription::Types(types))
    }

    /// Whether an event of `webhook_type` goes to an endpoint with this subscription.
    pub fn matches(&self, webhook_type: WebhookType) -> bool {
        match self {
            Subscription::Everything => true,
            Subscription::Types(types) => types.contains(&webhook_type),
        }
    }

    /// The names as stored and returned.
    pub fn names(&self) -> Vec<String> {
        match self {
            Subscription::Everything => vec![WebhookType::GROUP.to_owned()],
            Subscription::Types(types) => types.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Whether plain `http://` endpoint URLs are accepted (local use and tests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// Only `https://`.
    HttpsOnly,
    /// `http://` as well.
    AllowHttp,
}

/// An endpoint URL: absolute http(s), with a host, without credentials or fragment, at
/// most 2048 characters. Whether its host is a public address is checked when it is
/// used (the address can change), by the SSRF guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    /// Longest URL accepted, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Trims surrounding spaces; then the rules above, with `http` allowed only by
    /// `policy`.
    pub fn parse(raw: &str, policy: UrlPolicy) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("is required"));
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(InvalidValue::new("must be at most 2048 characters"));
        }
        let url = Url::parse(trimmed).map_err(|_| InvalidValue::new("must be an absolute URL"))?;
        match (url.scheme(), policy) {
            ("https", _) | ("http", UrlPolicy::AllowHttp) => {}
            ("http", UrlPolicy::HttpsOnly) => {
                return Err(InvalidValue::new("must use https"));
            }
            _ => return Err(InvalidValue::new("must be an https URL")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidValue::new("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidValue::new("must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(InvalidValue::new("must not have a #fragment"));
        }
        Ok(Self(url))
    }

    /// The parsed URL, to send to.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The URL as stored and returned.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// An endpoint as its owner describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointData {
    /// Where deliveries are sent.
    pub url: EndpointUrl,
    /// Which event types it receives.
    pub subscription: Subscription,
    /// The owner's note on it, if any.
    pub description: Option<Name>,
    /// Disabled endpoints are sent nothing; their deliveries fail and can be replayed
    /// once enabled again.
    pub enabled: bool,
    /// Most deliveries per second; `None`: no limit.
    pub rate_limit_per_second: Option<u32>,
}

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Server-assigned; UUID v7.
    pub id: EndpointId,
    /// What the owner last wrote (or the service, when it disabled the endpoint).
    pub data: EndpointData,
    /// Why the service disabled it (410 Gone, failing too long), if it did.
    pub disabled_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Out of retries, or its endpoint was disabled: can be replayed.
    Failed,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Server-assigned; UUID v7.
    pub id: DeliveryId,
    /// The endpoint it goes to.
    pub endpoint_id: EndpointId,
    /// The domain event it delivers; one delivery per (event, endpoint).
    pub event_id: uuid::Uuid,
    /// The event's producer: deliveries of one producer to one endpoint go in `sequence`
    /// order.
    pub producer_id: uuid::Uuid,
    /// The producer's version after the event: the order within one producer.
    pub sequence: i64,
    /// The webhook type's name, as sent.
    pub webhook_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When it is due next, while pending.
    pub next_attempt_at: DateTime<Utc>,
    /// When it was recorded, as the dispatcher took the event in.
    pub created_at: DateTime<Utc>,
    /// When it last changed (an attempt recorded, a replay).
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// The webhook id: the payload's `id` and the `webhook-id` header, the same on every
    /// attempt so receivers can deduplicate.
    pub fn webhook_id(event_id: uuid::Uuid) -> String {
        format!("whe_{}", event_id.simple())
    }
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// UUID v7.
    pub id: uuid::Uuid,
    /// The delivery it belongs to.
    pub delivery_id: DeliveryId,
    /// When the request went out.
    pub attempted_at: DateTime<Utc>,
    /// `None` when no response came (refused address, timeout, connection error).
    pub status_code: Option<u16>,
    /// Milliseconds from sending the request until the body excerpt was read (or the
    /// request failed).
    pub latency_ms: i64,
    /// Why it failed without a usable response, or why the response is a failure.
    pub error: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_body: String,
}

/// When failed attempts are retried: the delays after the 1st, 2nd, … failure, each
/// varied by ±`jitter` (a fraction), so many deliveries failing together do not retry
/// together. After the last delay the delivery fails for good.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// The wait after each failure in turn; their count is the number of retries.
    pub delays: Vec<Duration>,
    /// How much each delay varies either way, as a fraction of it (0.2 is ±20 %).
    pub jitter: f64,
}

impl RetrySchedule {
    /// The Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±20 %.
    pub fn standard() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            delays: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            jitter: 0.2,
        }
    }

    /// Reads a comma-separated list of delays: `5s,5m,30m,2h,5h,10h,10h` (units s, m,
    /// h; a bare number is seconds; `ms` for tests).
    pub fn parse(delays: &str, jitter: f64) -> Result<Self, InvalidValue> {
        let parse_one = |text: &str| -> Option<Duration> {
            let text = text.trim();
            let (number, unit) = text
                .find(|c: char| !c.is_ascii_digit())
                .map_or((text, ""), |at| text.split_at(at));
            let n: u64 = number.parse().ok()?;
            match unit {
                "" | "s" => Some(Duration::from_secs(n)),
                "ms" => Some(Duration::from_millis(n)),
                "m" => Some(Duration::from_secs(n * 60)),
                "h" => Some(Duration::from_secs(n * 3600)),
                _ => None,
            }
        };
        let delays = delays
            .split(',')
            .map(|d| {
                parse_one(d).ok_or_else(|| {
                    InvalidValue::new(format!("{:?} is not a delay like 5s, 5m or 2h", d.trim()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(0.0..=1.0).contains(&jitter) {
            return Err(InvalidValue::new("jitter must be between 0 and 1"));
        }
        Ok(Self { delays, jitter })
    }

    /// The wait after `failures` failed attempts (1 = the first), or `None` when the
    /// delivery is out of retries. `unit` is a random number in [0, 1).
    pub fn delay_after(&self, failures: usize, unit: f64) -> Option<Duration> {
        let base = *self.delays.get(failures.checked_sub(1)?)?;
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Some(base.mul_f64(factor.max(0.0)))
    }
}

/// What an attempt's answer means for its delivery and its endpoint: decided once, by
/// `webhooks::delivery::decide`; the record, the log line and the metrics all follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A 2xx: delivered; the endpoint's failing run, if any, ends.
    Succeeded,
    /// Failed; tried again at `at`.
    Retry {
        /// When the delivery is due again.
        at: DateTime<Utc>,
        /// The receiver's `Retry-After`, which is about the endpoint, not one request:
        /// every delivery to it waits until then.
        pause_until: Option<DateTime<Utc>>,
    },
    /// Failed for good: out of retries.
    Failed {
        /// As for [`Decision::Retry`].
        pause_until: Option<DateTime<Utc>>,
    },
    /// 410 Gone: failed, and the endpoint is disabled (the receiver asks never to be
    /// called again).
    EndpointGone,
}

impl Decision {
    /// The delivery's next step as the attempt's log line names it (log queries rely on
    /// it): `Succeeded`, `RetryAt(<time>)` or `Failed`.
    pub fn next_step(&self) -> String {
        match self {
            Decision::Succeeded => "Succeeded".to_owned(),
            Decision::Retry { at, .. } => format!("RetryAt({at:?})"),
            Decision::Failed { .. } | Decision::EndpointGone => "Failed".to_owned(),
        }
    }

    /// The delivery's stored status from now on, and when a pending one is due again.
    pub fn next(self) -> (DeliveryStatus, Option<DateTime<Utc>>) {
        match self {
            Decision::Succeeded => (DeliveryStatus::Succeeded, None),
            Decision::Retry { at, .. } => (DeliveryStatus::Pending, Some(at)),
            Decision::Failed { .. } | Decision::EndpointGone => (DeliveryStatus::Failed, None),
        }
    }
}

/// Why an attempt disabled its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// It answered 410 Gone.
    Gone,
    /// Every attempt failed for `webhooks.disable_after_hours`.
    Failing,
}

impl DisableReason {
    /// Every reason, for metrics that list each from the start.
    pub const ALL: [DisableReason; 2] = [DisableReason::Gone, DisableReason::Failing];
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ten_types_are_the_hosted_apis() {
        let names: Vec<String> = WebhookType::all().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            [
                "id.producer.updated",
                "id.producer.deleted",
                "id.producer.address.updated",
                "id.producer.address.deleted",
                "id.producer.phone.updated",
                "id.producer.phone.deleted",
                "id.producer.bank_account.updated",
                "id.producer.bank_account.deleted",
                "id.producer.errors_and_omissions.updated",
                "id.producer.errors_and_omissions.deleted",
            ]
        );
        for name in &names {
            assert_eq!(WebhookType::parse(name).unwrap().to_string(), *name);
        }
    }

    #[test]
    fn created_and_updated_events_share_a_type() {
        let created = EventType {
            resource: ResourceKind::Address,
            action: Action::Created,
        };
        assert_eq!(
            WebhookType::of(created).to_string(),
            "id.producer.address.updated"
        );
        let deleted = EventType {
            resource: ResourceKind::InsurancePolicy,
            action: Action::Deleted,
        };
        assert_eq!(
            WebhookType::of(deleted).to_string(),
            "id.producer.errors_and_omissions.deleted"
        );
    }

    #[test]
    fn subscriptions_take_types_or_the_group() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let group = Subscription::parse(&names(&["id.producer"])).unwrap();
        assert!(WebhookType::all().all(|t| group.matches(t)));
        let some = Subscription::parse(&names(&["id.producer.phone.deleted"])).unwrap();
        assert!(some.matches(WebhookType::parse("id.producer.phone.deleted").unwrap()));
        assert!(!some.matches(WebhookType::parse("id.producer.phone.updated").unwrap()));
        assert!(Subscription::parse(&[]).is_err());
        assert!(Subscription::parse(&names(&["id.producer.moved"])).is_err());
    }

    #[test]
    fn endpoint_urls_must_be_https_absolute_and_clean() {
        assert!(EndpointUrl::parse("https://hooks.example.com/in", UrlPolicy::HttpsOnly).is_ok());
        assert!(EndpointUrl::parse("http://hooks.example.com/in", UrlPolicy::HttpsOnly).is_err());
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/in", UrlPolicy::AllowHttp).is_ok());
        for bad in [
            "",
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://user:pw@hooks.example.com",
            "https://hooks.example.com/#x",
        ] {
            assert!(
                EndpointUrl::parse(bad, UrlPolicy::AllowHttp).is_err(),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(EndpointUrl::parse(&long, UrlPolicy::HttpsOnly).is_err());
    }

    #[test]
    fn schedules_parse_from_configuration() {
        let standard = RetrySchedule::parse("5s,5m,30m,2h,5h,10h,10h", 0.2).unwrap();
        assert_eq!(standard, RetrySchedule::standard());
        let short = RetrySchedule::parse("100ms, 200ms", 0.0).unwrap();
        assert_eq!(
            short.delays,
            [Duration::from_millis(100), Duration::from_millis(200)]
        );
        assert!(RetrySchedule::parse("5x", 0.2).is_err());
        assert!(RetrySchedule::parse("5s", 2.0).is_err());
    }

    #[test]
    fn the_standard_schedule_ends_after_seven_retries() {
        let schedule = RetrySchedule::standard();
        assert_eq!(schedule.delay_after(1, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(
            schedule.delay_after(7, 0.5),
            Some(Duration::from_secs(36_000))
        );
        assert_eq!(schedule.delay_after(8, 0.5), None);
        assert_eq!(schedule.delay_after(0, 0.5), None);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_twenty_percent(failures in 1usize..=7, unit in 0.0f64..1.0) {
            let schedule = RetrySchedule::standard();
            let base = schedule.delays[failures - 1].as_secs_f64();
            let delay = schedule.delay_after(failures, unit).unwrap().as_secs_f64();
            prop_assert!(delay >= base * 0.8 - 1e-9 && delay <= base * 1.2 + 1e-9);
        }

        #[test]
        fn url_parsing_never_panics(raw in "\\PC{0,64}") {
            let _ = EndpointUrl::parse(&raw, UrlPolicy::AllowHttp);
        }
    }
}
