//! Domain values as their protobuf messages: what an API read returns and what an event
//! carries. One rendering for both, so an event shows a resource exactly as a read does.

use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;

use super::v1 as pb;
use crate::domain::Version;
use crate::domain::address::{Address, AddressType};
use crate::domain::bank_account::{BankAccount, BankAccountType};
use crate::domain::identifiers::{CrdNumber, Fein};
use crate::domain::insurance_policy::{InsurancePolicy, PolicyType};
use crate::domain::phone::{Phone, PhoneType};
use crate::domain::producer::{
    BusinessType, FullProducer, Gender, Individual, Producer, ProducerDetails, SsnView,
};
use crate::domain::text::{Email, Name};
use crate::domain::webhook::{Attempt, Delivery, DeliveryStatus, Endpoint};

/// An instant as a `google.protobuf.Timestamp`.
pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// A date as the API writes it: `YYYY-MM-DD`.
pub fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// An optional text field's wire form: empty when not set.
fn text<T>(value: &Option<T>, as_str: fn(&T) -> &str) -> String {
    value
        .as_ref()
        .map(|v| as_str(v).to_owned())
        .unwrap_or_default()
}

/// A stored producer, with the SSN shown as `view` allows.
pub fn producer(producer: &Producer, view: SsnView) -> pb::Producer {
    let (producer_type, details) = match &producer.data.details {
        ProducerDetails::Individual(person) => (
            pb::ProducerType::Individual,
            pb::producer::Details::Individual(individual(person, view)),
        ),
        ProducerDetails::Firm(firm) => (
            pb::ProducerType::Firm,
            pb::producer::Details::Firm(pb::Firm {
                name: firm.name.as_str().to_owned(),
                business_type: firm
                    .business_type
                    .map_or(pb::BusinessType::Unspecified, business_type)
                    as i32,
                email: text(&firm.email, Email::as_str),
                fein: text(&firm.fein, Fein::as_str),
                finra_crd_number: text(&firm.finra_crd_number, CrdNumber::as_str),
            }),
        ),
    };
    pb::Producer {
        id: producer.id.to_string(),
        npn: producer.data.npn.as_str().to_owned(),
        r#type: producer_type as i32,
        details: Some(details),
        version: producer.version.get(),
        etag: producer.version.etag(),
        create_time: Some(timestamp(producer.created_at)),
        update_time: Some(timestamp(producer.updated_at)),
        ..Default::default()
    }
}

/// A producer with every child, each carrying the producer's version.
pub fn full_producer(full: &FullProducer, view: SsnView) -> pb::Producer {
    let version = full.producer.version;
    pb::Producer {
        addresses: full.addresses.iter().map(|a| address(a, version)).collect(),
        phones: full.phones.iter().map(|p| phone(p, version)).collect(),
        bank_accounts: full
            .bank_accounts
            .iter()
            .map(|b| bank_account(b, version))
            .collect(),
        insurance_policies: full
            .insurance_policies
            .iter()
            .map(|p| insurance_policy(p, version))
            .collect(),
        ..producer(&full.producer, view)
    }
}

fn individual(person: &Individual, view: SsnView) -> pb::Individual {
    let ssn = match view {
        SsnView::Full => person.ssn.full().map(|s| s.expose_digits().to_owned()),
        SsnView::LastFourOnly => None,
    };
    pb::Individual {
        first_name: person.first_name.as_str().to_owned(),
        last_name: person.last_name.as_str().to_owned(),
        middle_name: text(&person.middle_name, Name::as_str),
        suffix: text(&person.suffix, Name::as_str),
        gender: person.gender.map_or(pb::Gender::Unspecified, gender) as i32,
        date_of_birth: person
            .date_of_birth
            .map(|d| date_text(d.date()))
            .unwrap_or_default(),
        ssn: ssn.unwrap_or_default(),
        ssn_last4: person
            .ssn
            .last4()
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default(),
        finra_crd_number: text(&person.finra_crd_number, CrdNumber::as_str),
        primary_email: text(&person.primary_email, Email::as_str),
        secondary_email: text(&person.secondary_email, Email::as_str),
        title: text(&person.title, Name::as_str),
    }
}

fn gender(gender: Gender) -> pb::Gender {
    match gender {
        Gender::Female => pb::Gender::Female,
        Gender::Male => pb::Gender::Male,
        Gender::NonBinary => pb::Gender::NonBinary,
        Gender::Undisclosed => pb::Gender::Undisclosed,
    }
}

fn business_type(business_type: BusinessType) -> pb::BusinessType {
    match business_type {
        BusinessType::Corporation => pb::BusinessType::Corporation,
        BusinessType::Llc => pb::BusinessType::Llc,
        BusinessType::Partnership => pb::BusinessType::Partnership,
        BusinessType::SoleProprietorship => pb::BusinessType::SoleProprietorship,
        BusinessType::SCorporation => pb::BusinessType::SCorporation,
        BusinessType::NonProfit => pb::BusinessType::NonProfit,
        BusinessType::Other => pb::BusinessType::Other,
    }
}

/// A stored address, with its producer's version.
pub fn address(stored: &Address, producer_version: Version) -> pb::Address {
    let data = &stored.data;
    let address_type = match data.address_type {
        AddressType::Mailing => pb::AddressType::Mailing,
        AddressType::Business => pb::AddressType::Business,
        AddressType::Residence => pb::AddressType::Residence,
        AddressType::Billing => pb::AddressType::Billing,
    };
    pb::Address {
        id: stored.id.to_string(),
        producer_id: stored.producer_id.to_string(),
        r#type: address_type as i32,
        preferred: data.preferred,
        address_line1: data.line1.as_str().to_owned(),
        address_line2: text(&data.line2, Name::as_str),
        city: data.city.as_str().to_owned(),
        state: data.location.state().unwrap_or_default().to_owned(),
        zip: data.location.zip().unwrap_or_default().to_owned(),
        country: data.location.country().as_str().to_owned(),
        county: text(&data.county, Name::as_str),
        move_in_date: data.move_in_date.map(date_text).unwrap_or_default(),
        producer_version: producer_version.get(),
        producer_etag: producer_version.etag(),
        create_time: Some(timestamp(stored.created_at)),
        update_time: Some(timestamp(stored.updated_at)),
    }
}

/// A stored phone, with its producer's version.
pub fn phone(stored: &Phone, producer_version: Version) -> pb::Phone {
    let data = &stored.data;
    let phone_type = match data.phone_type {
        PhoneType::Cell => pb::PhoneType::Cell,
        PhoneType::Business => pb::PhoneType::Business,
        PhoneType::Home => pb::PhoneType::Home,
        PhoneType::Fax => pb::PhoneType::Fax,
    };
    pb::Phone {
        id: stored.id.to_string(),
        producer_id: stored.producer_id.to_string(),
        number: data.number.as_str().to_owned(),
        r#type: phone_type as i32,
        extension: data
            .extension
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        preferred: data.preferred,
        producer_version: producer_version.get(),
        producer_etag: producer_version.etag(),
        create_time: Some(timestamp(stored.created_at)),
        update_time: Some(timestamp(stored.updated_at)),
    }
}

/// A stored bank account, with its producer's version: the number as `****` and its
/// last four digits, never more.
pub fn bank_account(stored: &BankAccount, producer_version: Version) -> pb::BankAccount {
    let data = &stored.data;
    let account_type = match data.account_type {
        BankAccountType::Checking => pb::BankAccountType::Checking,
        BankAccountType::Savings => pb::BankAccountType::Savings,
    };
    pb::BankAccount {
        id: stored.id.to_string(),
        producer_id: stored.producer_id.to_string(),
        bank_name: data.bank_name.as_str().to_owned(),
        holder_name: data.holder_name.as_str().to_owned(),
        routing_number: data.routing_number.as_str().to_owned(),
        number: data.number_last4.masked(),
        r#type: account_type as i32,
        nickname: text(&data.nickname, Name::as_str),
        primary_account: data.primary_account,
        name: data.name(),
        producer_version: producer_version.get(),
        producer_etag: producer_version.etag(),
        create_time: Some(timestamp(stored.created_at)),
        update_time: Some(timestamp(stored.updated_at)),
    }
}

/// A stored E&O policy, with its producer's version.
pub fn insurance_policy(
    stored: &InsurancePolicy,
    producer_version: Version,
) -> pb::InsurancePolicy {
    let data = &stored.data;
    let policy_type = match data.policy_type {
        PolicyType::Individual => pb::PolicyType::Individual,
        PolicyType::Firm => pb::PolicyType::Firm,
    };
    pb::InsurancePolicy {
        id: stored.id.to_string(),
        producer_id: stored.producer_id.to_string(),
        carrier: data.carrier.as_str().to_owned(),
        policy_number: data.policy_number.as_str().to_owned(),
        certificate_number: text(&data.certificate_number, Name::as_str),
        r#type: policy_type as i32,
        total_limit: data.total_limit.map(|l| l.to_string()).unwrap_or_default(),
        effective_date: date_text(data.period.effective()),
        expiry: date_text(data.period.expiry()),
        name: data.name(),
        producer_version: producer_version.get(),
        producer_etag: producer_version.etag(),
        create_time: Some(timestamp(stored.created_at)),
        update_time: Some(timestamp(stored.updated_at)),
    }
}

/// A webhook endpoint (never its signing secrets).
pub fn endpoint(endpoint: &Endpoint) -> pb::Endpoint {
    pb::Endpoint {
        id: endpoint.id.to_string(),
        url: endpoint.data.url.as_str().to_owned(),
        event_types: endpoint.data.subscription.names(),
        description: endpoint
            .data
            .description
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        enabled: endpoint.data.enabled,
        disabled_reason: endpoint.disabled_reason.clone().unwrap_or_default(),
        rate_limit_per_second: endpoint.data.rate_limit_per_second.map_or(0, |n| n as i32),
        create_time: Some(timestamp(endpoint.created_at)),
        update_time: Some(timestamp(endpoint.updated_at)),
    }
}

fn delivery_status(status: DeliveryStatus) -> pb::DeliveryStatus {
    match status {
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Succeeded => pb::DeliveryStatus::Succeeded,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    }
}

/// A delivery of one event to one endpoint.
pub fn delivery(delivery: &Delivery) -> pb::Delivery {
    pb::Delivery {
        id: delivery.id.to_string(),
        endpoint_id: delivery.endpoint_id.to_string(),
        event_id: delivery.event_id.to_string(),
        webhook_id: Delivery::webhook_id(delivery.event_id),
        event_type: delivery.webhook_type.clone(),
        producer_id: delivery.producer_id.to_string(),
        sequence: delivery.sequence,
        status: delivery_status(delivery.status) as i32,
        attempts: delivery.attempts,
        next_attempt_time: (delivery.status == DeliveryStatus::Pending)
            .then(|| timestamp(delivery.next_attempt_at)),
        create_time: Some(timestamp(delivery.created_at)),
        update_time: Some(timestamp(delivery.updated_at)),
    }
}

/// One attempt of a delivery.
pub fn attempt(attempt: &Attempt) -> pb::Attempt {
    pb::Attempt {
        id: attempt.id.to_string(),
        delivery_id: attempt.delivery_id.to_string(),
        attempt_time: Some(timestamp(attempt.attempted_at)),
        status_code: attempt.status_code.map_or(0, i32::from),
        latency_ms: attempt.latency_ms,
        error: attempt.error.clone().unwrap_or_default(),
        response_body: attempt.response_body.clone(),
    }
}
