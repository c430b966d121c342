//! Validated domain types and rules. No I/O: nothing here imports diesel, tonic, prost,
//! rdkafka or an HTTP client, and nothing reads a clock.

pub mod address;
pub mod bank_account;
pub mod changes;
pub mod child;
pub mod dates;
pub mod error;
pub mod event;
pub mod identifiers;
pub mod ids;
pub mod insurance_policy;
pub mod page;
pub mod phone;
pub mod producer;
pub mod text;
pub mod webhook;

pub use error::{Error, FieldViolation, InvalidValue, Violations};
pub use ids::{
    AccountId, AddressId, BankAccountId, DeliveryId, EndpointId, PhoneId, PolicyId, ProducerId,
    RequestId, Version,
};
