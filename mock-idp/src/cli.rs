//! The `serve` command, shared by the `mock-idp` binary and `saml-harness idp serve`.
//!
//! This is a binary edge: errors are `anyhow` values meant for a person to read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;

use crate::{KeyStore, KeyType, MockIdp, SpEntry, SpSource, StartOptions, SystemClock};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address exposes a signing IdP.
    #[arg(long, default_value = "127.0.0.1:8180")]
    pub bind: SocketAddr,
    /// The URL the IdP is reached at, if not http://BIND.
    #[arg(long)]
    pub public_url: Option<String>,
    /// The IdP's entityID [default: PUBLIC_URL/metadata].
    #[arg(long)]
    pub entity_id: Option<String>,
    /// Folder holding the signing and rollover keys (made on first start, private keys 0600).
    #[arg(long, default_value = ".mock-idp")]
    pub state: PathBuf,
    /// Key type of newly made keys.
    #[arg(long, value_enum, default_value_t = KeyType::Rsa2048)]
    pub key_type: KeyType,
    /// An SP's metadata, as a file path or an http(s) URL (repeatable).
    #[arg(long = "sp-metadata", value_name = "URL|FILE")]
    pub sp_metadata: Vec<String>,
    /// An SP given as ENTITY_ID=ACS_URL (repeatable).
    #[arg(long = "sp", value_name = "ENTITY_ID=ACS_URL")]
    pub sp: Vec<String>,
    /// A TOML config file (see docs/mock-idp.md); command-line flags add to it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The user of plans that name none.
    #[arg(long, default_value = "alice@example.test")]
    pub default_user: String,
    /// Send AuthnRequests that come without a plan to the login page for people (pick a
    /// user, attributes, a flavour and a defect, see the response, then sign in) instead of
    /// answering them at once for the default user. The page is at /login either way.
    #[arg(long)]
    pub login_page: bool,
    /// The token of the /_control/... API (`Authorization: Bearer TOKEN`) [default: random,
    /// printed at start].
    #[arg(long, env = "MOCK_IDP_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Connections served at once (more wait in the listen backlog). Request heads must
    /// arrive within 10 s, bodies within 30 s; idle connections close after 30 s.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
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

/// Serves the IdP until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before anything listens: a SIGTERM during start-up stops the IdP cleanly.
    let stop = hardening::serve::termination()?;
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
    options.login_page = args.login_page;
    options.limits.max_connections = args.max_connections as usize;
    options.control_token = args.control_token;
    options.sps = sps;
    options.clock = Arc::new(SystemClock);
    let idp = MockIdp::start(options).await?;
    // For the person (or script) who started it: where it is, and the control token (printed
    // here once, never logged).
    let banner = format!(
        "mock IdP listening on {url}\nmetadata: {url}/metadata\ncontrol token: {token}\n",
        url = idp.base_url(),
        token = idp.control_token(),
    );
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(banner.as_bytes())?;
        out.flush()?;
    }
    tracing::info!(
        url = idp.base_url(),
        entity_id = %idp.idp().settings().entity_id,
        sps = idp.idp().sps().len(),
        "mock IdP listening; metadata at {}/metadata",
        idp.base_url()
    );
    stop.await;
    tracing::info!("shutting down");
    idp.shutdown().await?;
    Ok(())
}
