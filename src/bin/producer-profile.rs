//! `producer-profile`: `serve` the gRPC API, `migrate` the database, or mint a development
//! `token`. Configuration → telemetry → run; nothing else lives here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use producer_profile::auth::DevSigningKey;
use producer_profile::config::Config;
use producer_profile::domain::AccountId;
use producer_profile::{server, storage, tasks, telemetry};

#[derive(Parser)]
#[command(version, about = "System of record for insurance producer profiles")]
struct Cli {
    /// TOML configuration file (default: $PP_CONFIG, else .local/producer-profile.toml
    /// when it exists). `PP_` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Mint an access token with the local development key (auth.dev_signing_key).
    Token {
        /// The account (tenant) the token acts for.
        #[arg(long)]
        account: String,
        /// Space-separated scopes, e.g. "producers:read producers:write producers:pii".
        #[arg(long)]
        scope: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    tasks::runtime(&config)?.block_on(async move {
        let telemetry = telemetry::init(&config.log, &config.tracing, "producer-profile")?;
        match cli.command {
            Command::Serve => {
                let shutdown = tasks::termination_signal();
                let listener = tokio::net::TcpListener::bind(config.listen_addr)
                    .await
                    .with_context(|| format!("listen_addr: cannot listen on {}", config.listen_addr))?;
                let served = server::run(config, listener, shutdown).await;
                telemetry.shutdown().await;
                // The message names every cause already (errors are logged on one line);
                // anyhow's own chain would print each cause a second time.
                served.map_err(|error| anyhow::anyhow!("{error}"))?;
            }
            Command::Migrate => {
                let url = config.database.url.expose_secret().to_owned();
                let applied =
                    tokio::task::spawn_blocking(move || storage::migrations::run_pending(&url))
                        .await?
                        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
                if applied.is_empty() {
                    println!("database schema is up to date");
                }
                for name in applied {
                    println!("applied {name}");
                }
            }
            Command::Token {
                account,
                scope,
                ttl_secs,
            } => {
                let Some(path) = &config.auth.dev_signing_key else {
                    bail!(
                        "no development signing key is configured (auth.dev_signing_key): \
                         `make run` creates one for local use; elsewhere, tokens come from your identity provider"
                    );
                };
                let key = DevSigningKey::load(path)
                    .map_err(|e| anyhow::anyhow!("auth.dev_signing_key: {e}"))?;
                let account =
                    AccountId::parse(&account).map_err(|e| anyhow::anyhow!("--account {e}"))?;
                println!(
                    "{}",
                    key.mint(
                        &config.auth,
                        &account,
                        &scope,
                        Duration::from_secs(ttl_secs)
                    )
                );
            }
        }
        Ok(())
    })
}
