//! producer-profile: the system of record for insurance producer profiles.
//!
//! Layers, from the edge inwards: `api` (gRPC) → `storage` (Postgres) → `domain`
//! (validated types, no I/O). `auth`, `crypto`, `config`, `telemetry` and `events` are
//! leaves used where needed; `server` wires them together for `producer-profile serve`.

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
