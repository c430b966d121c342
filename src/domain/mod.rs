//! Validated domain types and rules. No I/O: nothing here imports diesel, tonic, prost,
//! rdkafka or an HTTP client, and nothing reads a clock.

pub mod dates;
pub mod error;
pub mod identifiers;
pub mod ids;
pub mod producer;
pub mod text;

pub use error::{Error, FieldViolation, InvalidValue, Violations};
pub use ids::{AccountId, ProducerId, RequestId, Version};
