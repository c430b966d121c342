//! Webhooks: the SSRF guard, payloads, signing and delivery, and the dispatcher that
//! consumes the events topic.

pub mod ssrf;
