//! Compiles `proto/` into Rust (prost messages, tonic services) and writes the encoded
//! descriptor set that server reflection serves. Uses the protoc shipped by
//! `protoc-bin-vendored`, so a fresh machine needs no system protobuf compiler.

use std::path::PathBuf;

const PROTOS: [&str; 8] = [
    "proto/producerprofile/events/v1/events.proto",
    "proto/producerprofile/v1/address.proto",
    "proto/producerprofile/v1/bank_account.proto",
    "proto/producerprofile/v1/insurance_policy.proto",
    "proto/producerprofile/v1/phone.proto",
    "proto/producerprofile/v1/producer.proto",
    "proto/producerprofile/v1/producer_profile_service.proto",
    "proto/producerprofile/v1/webhooks.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let includes = [PathBuf::from("proto"), protoc_bin_vendored::include_path()?];
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("producerprofile_descriptor.bin"))
        .compile_with_config(config, &PROTOS.map(PathBuf::from), &includes)?;
    println!("cargo:rerun-if-changed=proto");
    // The migrations are embedded in the binary (diesel_migrations::embed_migrations!).
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}
