//! The gRPC edge: tonic services, proto ↔ domain conversion, authentication, and the one
//! error → status table. Prost types never leave this module.

pub mod authn;
mod children;
pub mod event_feed;
mod field_mask;
pub mod grpc;
mod page_token;
mod producer_convert;
pub mod producer_service;

mod request;
mod status;
mod update_mask;
pub mod webhook_service;
