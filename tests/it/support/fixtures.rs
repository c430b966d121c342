//! Sample producers and helpers for reading statuses.

use tonic::{Code, Status};
use tonic_types::StatusExt;

use pb::producer::Details;
use producer_profile::proto::v1 as pb;

/// A valid individual with a full SSN.
pub fn individual(npn: &str) -> pb::Producer {
    pb::Producer {
        npn: npn.into(),
        details: Some(Details::Individual(pb::Individual {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            middle_name: "King".into(),
            gender: pb::Gender::Female as i32,
            date_of_birth: "1985-12-10".into(),
            ssn: "123-45-6789".into(),
            finra_crd_number: "1234567".into(),
            primary_email: "ada@example.com".into(),
            title: "Principal Agent".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A valid firm.
pub fn firm(npn: &str) -> pb::Producer {
    pb::Producer {
        npn: npn.into(),
        details: Some(Details::Firm(pb::Firm {
            name: "Analytical Engines Agency".into(),
            business_type: pb::BusinessType::Llc as i32,
            email: "office@engines.example".into(),
            fein: "12-3456789".into(),
            finra_crd_number: "99".into(),
        })),
        ..Default::default()
    }
}

pub fn create(producer: pb::Producer) -> pb::CreateProducerRequest {
    pb::CreateProducerRequest {
        producer: Some(producer),
        request_id: String::new(),
    }
}

/// The individual block of a producer message.
pub fn person(producer: &pb::Producer) -> &pb::Individual {
    match &producer.details {
        Some(Details::Individual(person)) => person,
        other => panic!("expected an individual, got {other:?}"),
    }
}

/// Mutable access to the individual block of a producer message.
pub fn person_mut(producer: &mut pb::Producer) -> &mut pb::Individual {
    match &mut producer.details {
        Some(Details::Individual(person)) => person,
        other => panic!("expected an individual, got {other:?}"),
    }
}

pub fn firm_of(producer: &pb::Producer) -> &pb::Firm {
    match &producer.details {
        Some(Details::Firm(firm)) => firm,
        other => panic!("expected a firm, got {other:?}"),
    }
}

/// The fields an INVALID_ARGUMENT status names in its BadRequest detail.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("a google.rpc.BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

pub fn update_mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// An update that changes only the NPN, without an etag precondition.
pub fn change_npn(id: &str, npn: &str) -> pb::UpdateProducerRequest {
    pb::UpdateProducerRequest {
        request_id: String::new(),
        id: id.into(),
        producer: Some(pb::Producer {
            npn: npn.into(),
            ..Default::default()
        }),
        update_mask: update_mask(&["npn"]),
        etag: String::new(),
    }
}

/// GetProducer for `id`, basic view.
pub fn by_id(id: impl Into<String>) -> pb::GetProducerRequest {
    pb::GetProducerRequest {
        id: id.into(),
        view: pb::ProducerView::Basic as i32,
    }
}

/// A valid US mailing address.
pub fn mailing_address() -> pb::Address {
    pb::Address {
        r#type: pb::AddressType::Mailing as i32,
        address_line1: "1 Main St".into(),
        city: "Springfield".into(),
        state: "il".into(),
        zip: "62701".into(),
        ..Default::default()
    }
}

/// A valid US cell phone.
pub fn cell_phone() -> pb::Phone {
    pb::Phone {
        number: "(415) 555-0132".into(),
        r#type: pb::PhoneType::Cell as i32,
        ..Default::default()
    }
}

/// A valid checking account; its number ends in 6789.
pub fn checking_account() -> pb::BankAccount {
    pb::BankAccount {
        bank_name: "First Bank".into(),
        holder_name: "Ada Lovelace".into(),
        routing_number: "021000021".into(),
        number: "000123456789".into(),
        r#type: pb::BankAccountType::Checking as i32,
        ..Default::default()
    }
}

/// A valid E&O policy for calendar year 2026.
pub fn eo_policy() -> pb::InsurancePolicy {
    pb::InsurancePolicy {
        carrier: "Acme Mutual".into(),
        policy_number: "EO-123".into(),
        r#type: pb::PolicyType::Individual as i32,
        total_limit: "1000000".into(),
        effective_date: "2026-01-01".into(),
        expiry: "2027-01-01".into(),
        ..Default::default()
    }
}

/// A timestamp as a comparable pair (prost's Timestamp has no ordering).
pub fn time_of(time: &Option<prost_types::Timestamp>) -> (i64, i32) {
    let time = time.as_ref().expect("a timestamp");
    (time.seconds, time.nanos)
}
