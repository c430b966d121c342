//! producer-profile: the system of record for insurance producer profiles.
//!
//! Dependencies point one way, inwards (`tests/it/layering.rs` enforces it):
//!
//! ```text
//! binaries (src/bin), server     the composition roots
//!   ↓
//! api · events · webhooks        the gRPC edge · the event log to Kafka · webhook delivery
//!   ↓        (api sends a new endpoint's verification and test webhooks through
//!   ↓         webhooks' sender and payloads; webhooks never import api)
//! storage · proto                Postgres through diesel · protobuf types and rendering
//!   ↓
//! domain                         validated types and rules: no I/O, nothing of the crate
//! ```
//!
//! `auth`, `config`, `crypto`, `metrics`, `tasks` and `telemetry` serve every layer and
//! import none above `storage`. diesel is named only in `storage`, tonic's server types
//! only in `api`, and the webhook dispatcher's binary does not pull in the gRPC server.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod events;
pub mod metrics;
pub mod proto;
pub mod server;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod webhooks;
