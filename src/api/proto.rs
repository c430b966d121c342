//! Code generated from `proto/` by `build.rs`: prost messages and tonic services. These
//! types stay in the `api` layer; everything below it speaks domain types.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("producerprofile.v1");
}

/// The encoded descriptors of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("producerprofile_descriptor");
