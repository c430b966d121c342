//! The reference for the health benchmark and for idle memory: a tonic server with the
//! gRPC health service alone, built from the same tonic version and release profile as
//! ours. `cargo run --release --example minimal-health [ADDR]` (default 127.0.0.1:50061).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50061".into())
        .parse()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .add_service(health)
        .serve(addr)
        .await?;
    Ok(())
}
