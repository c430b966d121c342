//! Webhooks: the SSRF guard, payloads, signed HTTP delivery, and the dispatcher that
//! consumes the events topic and delivers durably.

pub mod delivery;
pub mod dispatcher;
pub mod http;
pub mod intake;
pub mod payload;
pub mod positions;
pub mod ssrf;
