//! Test support: databases, the issuer's keys, the in-process server, sample data.

pub mod database;
pub mod fixtures;
pub mod hooks;
pub mod kafka;
pub mod keys;
pub mod receiver;
pub mod server;

pub use fixtures::*;
pub use keys::{ALL_PRODUCER_SCOPES, TokenSpec, token};
pub use server::TestServer;
