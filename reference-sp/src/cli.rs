//! The `serve` command, shared by the `reference-sp` binary and `saml-harness sp serve`. A
//! binary edge: errors are `anyhow` values for people.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Connections served at once (more wait in the listen backlog). Request heads must
    /// arrive within 10 s, bodies within 30 s; idle connections close after 30 s.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.weaken.iter().any(|w| w == "help") {
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, crate::weaken::help().as_bytes())?;
        return Ok(());
    }
    // Before anything listens: a SIGTERM during start-up stops the SP cleanly.
    let stop = hardening::serve::termination()?;
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
    config.limits.max_connections = args.max_connections as usize;
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
            hardening::limited::read_file_to_string(
                std::path::Path::new(&m),
                hardening::limited::METADATA_LIMIT,
            )?,
        )),
        (None, Some(entity_id)) => {
            let cert = args.idp_cert.unwrap_or_default();
            Some(IdpSource::Fields {
                entity_id,
                sso_url: args.idp_sso_url.unwrap_or_default(),
                certificate_pem: hardening::limited::read_file_to_string(
                    &cert,
                    hardening::limited::METADATA_LIMIT,
                )?,
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
        "reference SP listening (the admin token is on stdout, never in the log)"
    );
    stop.await;
    tracing::info!("shutting down");
    sp.shutdown().await?;
    Ok(())
}
