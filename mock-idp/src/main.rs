//! `mock-idp`: serve the mock IdP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mock_idp::{KeyStore, KeyType, MockIdp, SpEntry, SpSource, StartOptions, SystemClock};
use serde::Deserialize;

/// A configurable SAML 2.0 IdP that emits valid and deliberately broken responses.
#[derive(Debug, Parser)]
#[command(name = "mock-idp", version)]
struct Cli {
    /// More logs (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the IdP until interrupted.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address exposes a signing IdP.
    #[arg(long, default_value = "127.0.0.1:8180")]
    bind: SocketAddr,
    /// The URL the IdP is reached at, if not http://BIND.
    #[arg(long)]
    public_url: Option<String>,
    /// The IdP's entityID [default: PUBLIC_URL/metadata].
    #[arg(long)]
    entity_id: Option<String>,
    /// Folder holding the signing and rollover keys (made on first start, private keys 0600).
    #[arg(long, default_value = ".mock-idp")]
    state: PathBuf,
    /// Key type of newly made keys.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    key_type: KeyType,
    /// An SP's metadata, as a file path or an http(s) URL (repeatable).
    #[arg(long = "sp-metadata", value_name = "URL|FILE")]
    sp_metadata: Vec<String>,
    /// An SP given as ENTITY_ID=ACS_URL (repeatable).
    #[arg(long = "sp", value_name = "ENTITY_ID=ACS_URL")]
    sp: Vec<String>,
    /// A TOML config file (see README); command-line flags add to it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The user of plans that name none.
    #[arg(long, default_value = "alice@example.test")]
    default_user: String,
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    entity_id: Option<String>,
    public_url: Option<String>,
    default_user: Option<String>,
    #[serde(default)]
    sp: Vec<ConfigSp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSp {
    entity_id: Option<String>,
    acs_url: Option<String>,
    metadata: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn,mock_idp=info",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("failed to start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("failed to parse {}", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let mut sps = Vec::new();
    for (i, sp) in config.sp.into_iter().enumerate() {
        sps.push(match sp {
            ConfigSp {
                metadata: Some(m),
                entity_id: None,
                acs_url: None,
            } => SpSource::Metadata(m),
            ConfigSp {
                entity_id: Some(e),
                acs_url: Some(a),
                metadata: None,
            } => SpSource::Entry(SpEntry::new(e, a)),
            _ => anyhow::bail!(
                "config [[sp]] #{}: give either `metadata` or both `entity_id` and `acs_url`",
                i + 1
            ),
        });
    }
    sps.extend(args.sp_metadata.into_iter().map(SpSource::Metadata));
    for pair in args.sp {
        let (entity_id, acs_url) = pair
            .split_once('=')
            .with_context(|| format!("--sp {pair}: expected ENTITY_ID=ACS_URL"))?;
        sps.push(SpSource::Entry(SpEntry::new(entity_id, acs_url)));
    }
    if !args.bind.ip().is_loopback() {
        tracing::warn!(bind = %args.bind, "listening beyond loopback: anyone who reaches this address can obtain signed assertions");
    }
    let keys = KeyStore::load_or_create(&args.state, args.key_type)?;
    let mut options = StartOptions::new(keys);
    options.bind = args.bind;
    options.public_url = args.public_url.or(config.public_url);
    options.entity_id = args.entity_id.or(config.entity_id);
    options.default_user = config.default_user.unwrap_or(args.default_user);
    options.sps = sps;
    options.clock = Arc::new(SystemClock);
    let idp = MockIdp::start(options).await?;
    tracing::info!(
        url = idp.base_url(),
        entity_id = %idp.idp().settings().entity_id,
        sps = idp.idp().sps().len(),
        "mock IdP listening; metadata at {}/metadata",
        idp.base_url()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    idp.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
