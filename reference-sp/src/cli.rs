//! The `serve` command, shared by the `reference-sp` binary and `saml-harness sp serve`. A
//! binary edge: errors are `anyhow` values for people.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::{Config, Database, IdpSource, ReferenceSp, Weakening};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8280")]
    pub bind: SocketAddr,
    /// The URL the SP is reached at, if not http://BIND.
    #[arg(long)]
    pub public_url: Option<String>,
    /// The SQLite database file, or `:memory:`.
    #[arg(long, default_value = ":memory:")]
    pub database: String,
    /// The admin API token [default: random, printed at start].
    #[arg(long)]
    pub admin_token: Option<String>,
    /// The IdP's metadata: a file or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    pub idp_metadata: Option<String>,
    /// The IdP's entityID (with --idp-sso-url and --idp-cert, instead of metadata).
    #[arg(long, requires_all = ["idp_sso_url", "idp_cert"])]
    pub idp_entity_id: Option<String>,
    /// The IdP's SSO URL (HTTP-Redirect).
    #[arg(long)]
    pub idp_sso_url: Option<String>,
    /// The IdP's signing certificate (PEM file).
    #[arg(long)]
    pub idp_cert: Option<PathBuf>,
    /// Seed the demo tenant (SSO domain corp.example; alice, bob, admin, api, carol).
    #[arg(long)]
    pub demo: bool,
    /// Turn one check off, loudly (repeatable); `--weaken help` lists them.
    #[arg(long, value_name = "CHECK")]
    pub weaken: Vec<String>,
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.weaken.iter().any(|w| w == "help") {
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, crate::weaken::help().as_bytes())?;
        return Ok(());
    }
    let mut config = Config::new();
    config.bind = args.bind;
    config.public_url = args.public_url;
    config.database = if args.database == ":memory:" {
        Database::Memory
    } else {
        Database::File(PathBuf::from(&args.database))
    };
    config.admin_token = args.admin_token;
    config.demo = args.demo;
    config.weaken = args
        .weaken
        .iter()
        .map(|w| w.parse::<Weakening>())
        .collect::<Result<_, _>>()?;
    config.idp = match (args.idp_metadata, args.idp_entity_id) {
        (Some(m), _) if m.starts_with("http://") || m.starts_with("https://") => {
            Some(IdpSource::MetadataUrl(m))
        }
        (Some(m), _) => Some(IdpSource::MetadataXml(
            std::fs::read_to_string(&m).with_context(|| format!("failed to read {m}"))?,
        )),
        (None, Some(entity_id)) => {
            let cert = args.idp_cert.unwrap_or_default();
            Some(IdpSource::Fields {
                entity_id,
                sso_url: args.idp_sso_url.unwrap_or_default(),
                certificate_pem: std::fs::read_to_string(&cert)
                    .with_context(|| format!("failed to read {}", cert.display()))?,
            })
        }
        (None, None) => None,
    };
    if !config.bind.ip().is_loopback() {
        tracing::warn!(bind = %config.bind, "listening beyond loopback");
    }
    let weakened: Vec<&str> = config.weaken.iter().map(|w| w.name()).collect();
    let sp = ReferenceSp::start(config).await?;
    // For the person (or script) who started it: where it is, what to paste into the IdP, and
    // the admin token.
    let mut banner = format!(
        "reference-sp listening on {url}\nSP entityID: {entity}\nACS URL: {acs}\nmetadata: {entity}\nadmin token: {token}\n",
        url = sp.base_url(),
        entity = sp.entity_id(),
        acs = sp.acs_url(),
        token = sp.admin_token(),
    );
    if !weakened.is_empty() {
        banner.push_str(&format!(
            "WARNING: deliberately weakened ({}): accepts responses a correct SP refuses\n",
            weakened.join(", ")
        ));
    }
    {
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, banner.as_bytes())?;
        std::io::Write::flush(&mut out)?;
    }
    tracing::info!(
        url = sp.base_url(),
        entity_id = %sp.entity_id(),
        acs = %sp.acs_url(),
        admin_token = sp.admin_token(),
        "reference SP listening"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    sp.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
