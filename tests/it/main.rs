//! Integration tests, in one binary so they link once. They run against the real
//! Postgres that `make test` starts, each test on a database of its own, with the server
//! in-process on an ephemeral port.

mod authentication;
mod children_crud;
mod children_flags;
mod children_more;
mod children_rules;
mod cli;
mod coverage;
mod created_events;
mod events;
mod hostile_input;
mod idempotency;
mod jwks;
mod layering;
mod metrics;
mod migrations;
mod operability;
mod producers_crud;
mod producers_list;
mod producers_update;
mod producers_validation;
mod sensitive_data;
mod support;
mod tenancy;
mod webhook_failures;
mod webhooks;
