//! The gRPC edge: the server (`grpc`), the tonic services, parsing messages into domain
//! values and update masks, authentication, and the one error → status table. Messages
//! are rendered by `crate::proto::render`.

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
