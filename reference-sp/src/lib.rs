//! A real SAML 2.0 service provider of the kind the harness exists for (a SaaS console whose
//! admins plug in Entra ID, Okta, Google, ADFS or Shibboleth), built on samael, axum and
//! SQLite, hardened where samael is lenient, with deliberate weakenings for self-tests.
//!
//! - [`web`]: the HTTP surface (email-first login, SSO, ACS, password login, `/me`, the API,
//!   the admin API).
//! - [`validate`]: the ACS validator; every refusal has a [`Reason`].
//! - [`settings`]: tenant policy; [`connection`]: the IdP; [`store`]: SQLite.
//! - [`Weakening`]: one check turned off, loudly.
//!
//! The contract the harness relies on: SP entityID `{base}/saml/metadata`, ACS
//! `{base}/saml/acs`; `/login/sso?email=E` starts SSO; `/me` answers 200 with
//! `{"email","role","method","tenant","session_expires_at"}` or 401; refusals are HTTP 403
//! pages carrying `<code id="reason">REASON</code>` (JSON with `Accept: application/json`);
//! `/admin/settings` (GET, PATCH), `/admin/idp` (GET, PUT), `/admin/users[/{email}]`,
//! `/admin/reset` with `Authorization: Bearer TOKEN`.

pub mod cli;
pub mod connection;
pub mod reason;
pub mod settings;
pub mod store;
pub mod validate;
pub mod weaken;
pub mod web;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::connection::Connection;
pub use crate::reason::{Reason, Refusal};
pub use crate::settings::Settings;
pub use crate::store::Database;
pub use crate::weaken::Weakening;

/// A random URL-safe token (128 bits).
pub(crate) fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the IdP connection comes from at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpSource {
    /// Metadata XML.
    MetadataXml(String),
    /// A metadata URL, fetched at start (retried for a while: the IdP may start later).
    MetadataUrl(String),
    /// The three fields an admin pastes.
    Fields {
        /// The IdP's entityID.
        entity_id: String,
        /// The SSO URL (HTTP-Redirect).
        sso_url: String,
        /// The signing certificate (PEM).
        certificate_pem: String,
    },
}

/// How to start the SP.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (loopback, an ephemeral port by default).
    pub bind: SocketAddr,
    /// The public URL (`http://{bound address}` when absent).
    pub public_url: Option<String>,
    /// The database.
    pub database: Database,
    /// The admin API token (random when absent).
    pub admin_token: Option<String>,
    /// Checks turned off.
    pub weaken: BTreeSet<Weakening>,
    /// The IdP connection.
    pub idp: Option<IdpSource>,
    /// Seed the demo tenant (users and SSO domain `corp.example`).
    pub demo: bool,
}

impl Config {
    /// Loopback, an ephemeral port, in-memory, no IdP, no demo data.
    pub fn new() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            database: Database::Memory,
            admin_token: None,
            weaken: BTreeSet::new(),
            idp: None,
            demo: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Failed to start the SP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound.
    #[error("failed to listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The IdP connection is unusable.
    #[error("{0}")]
    Idp(String),
}

/// The demo tenant's users: (email, role, password, api).
pub const DEMO_USERS: &[(&str, &str, Option<&str>, bool)] = &[
    ("alice@corp.example", "member", None, false),
    ("bob@corp.example", "member", None, false),
    ("admin@corp.example", "admin", Some("admin-pass-1"), false),
    ("api@corp.example", "api", Some("api-pass-1"), true),
    ("carol@other.example", "member", Some("carol-pass-1"), false),
];

/// Fetches IdP metadata over HTTP(S), bounded in time and size, without proxies.
pub(crate) async fn fetch_metadata(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("failed to fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("failed to fetch {url}: HTTP {}", response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("failed to read {url}: {e}"))?;
    if text.len() > 1 << 20 {
        return Err(format!("{url} is larger than 1 MiB"));
    }
    Ok(text)
}

/// Opens the database, configures the IdP and seeds the demo tenant: everything but the
/// socket (handler tests use it with `tower::ServiceExt::oneshot`).
pub(crate) async fn build_app(config: Config, base_url: &str) -> Result<web::App, StartError> {
    let base_url = base_url.trim_end_matches('/').to_owned();
    let store = store::Store::open(&config.database)?;
    let connection = match config.idp {
        None => None,
        Some(IdpSource::MetadataXml(xml)) => Some(Connection::from_metadata(&xml)),
        Some(IdpSource::Fields {
            entity_id,
            sso_url,
            certificate_pem,
        }) => Some(Connection::from_fields(
            &entity_id,
            &sso_url,
            &certificate_pem,
        )),
        Some(IdpSource::MetadataUrl(url)) => {
            let mut last = String::new();
            let mut fetched = None;
            for _ in 0..50 {
                match fetch_metadata(&url).await {
                    Ok(xml) => {
                        fetched = Some(xml);
                        break;
                    }
                    Err(e) => last = e,
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let xml = fetched.ok_or(StartError::Idp(last))?;
            Some(Connection::from_metadata(&xml))
        }
    };
    if let Some(c) = connection {
        let c = c.map_err(|e| StartError::Idp(e.to_string()))?;
        store.set_connection(&c)?;
    }
    let mut settings = store.settings()?;
    if config.demo {
        if settings.sso_domains.is_empty() {
            settings.sso_domains = vec!["corp.example".to_owned()];
        }
        store.set_settings(&settings)?;
        for (email, role, password, api) in DEMO_USERS {
            store.put_user(email, role, *password, *api)?;
        }
    }
    let initial_users = store.snapshot_users()?;
    for w in &config.weaken {
        tracing::warn!(check = w.name(), "WEAKENED: {}", w.description());
    }
    if !config.weaken.is_empty() {
        tracing::warn!(
            "this SP is deliberately weakened and accepts responses a correct SP refuses; for harness self-tests only"
        );
    }
    let initial_connection = store.connection()?;
    Ok(web::App {
        store,
        base_url,
        admin_token: config.admin_token.unwrap_or_else(random_token),
        weaken: config.weaken,
        initial_settings: settings,
        initial_users,
        initial_connection,
    })
}

/// A running SP. Dropping it stops the server.
#[derive(Debug)]
pub struct ReferenceSp {
    app: Arc<web::App>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl ReferenceSp {
    /// Opens the database, configures the IdP, seeds the demo tenant if asked, and serves.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| StartError::Bind(config.bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.bind, e))?;
        let base_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let app = Arc::new(build_app(config, &base_url).await?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = web::router(Arc::clone(&app));
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            app,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.app.base_url
    }

    /// The SP's entityID.
    pub fn entity_id(&self) -> String {
        self.app.entity_id()
    }

    /// The ACS URL.
    pub fn acs_url(&self) -> String {
        self.app.acs_url()
    }

    /// The admin API token.
    pub fn admin_token(&self) -> &str {
        &self.app.admin_token
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for ReferenceSp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
