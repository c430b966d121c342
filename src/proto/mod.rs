//! The protobuf types: the code `build.rs` generates from `proto/` (prost messages,
//! tonic services), its descriptor set, and the rendering of domain values as messages.
//! The one place the wire types are defined; `api` and `events` both use it.

pub mod render;

/// The generated modules mirror the proto packages (the generated code refers across
/// them by path).
#[allow(clippy::all, missing_docs)]
pub mod producerprofile {
    pub mod v1 {
        tonic::include_proto!("producerprofile.v1");
    }

    pub mod events {
        pub mod v1 {
            tonic::include_proto!("producerprofile.events.v1");
        }
    }
}

/// The domain events (`producerprofile.events.v1`).
pub use producerprofile::events::v1 as events;
/// The API (`producerprofile.v1`).
pub use producerprofile::v1;

/// The encoded descriptors of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("producerprofile_descriptor");
