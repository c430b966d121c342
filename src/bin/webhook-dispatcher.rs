//! `webhook-dispatcher`: consumes the events topic and delivers webhooks to partners'
//! endpoints until SIGTERM or Ctrl-C. Configuration → telemetry → run; nothing else.

use std::path::PathBuf;

use clap::Parser;

use producer_profile::config::Config;
use producer_profile::{tasks, telemetry, webhooks};

#[derive(Parser)]
#[command(
    version,
    about = "Delivers producer-profile events to webhook endpoints"
)]
struct Cli {
    /// TOML configuration file (default: $PP_CONFIG, else .local/producer-profile.toml
    /// when it exists). `PP_` environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    tasks::runtime(&config)?.block_on(async move {
        let telemetry = telemetry::init(&config.log, &config.tracing, "webhook-dispatcher")?;
        let shutdown = tasks::termination_signal();
        let ran = webhooks::dispatcher::run(config, shutdown).await;
        telemetry.shutdown().await;
        // The message names every cause already (errors are logged on one line); anyhow's
        // own chain would print each cause a second time.
        ran.map_err(|error| anyhow::anyhow!("{error}"))
    })
}
