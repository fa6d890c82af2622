//! A real SAML 2.0 service provider of the kind the harness exists for (a SaaS console whose
//! admins plug in Entra ID, Okta, Google, ADFS or Shibboleth), built on samael (xmlsec), axum
//! and SQLite, hardened where samael is lenient, with deliberate weakenings for self-tests.
//!
//! - [`web`]: the HTTP surface (email-first login, SSO, ACS, password login, `/me`, the API,
//!   the admin API).
//! - [`validate`]: the ACS validator, callable without HTTP ([`validate_response`]); every
//!   refusal is a [`Refusal`] with a [`Reason`].
//! - [`settings`]: tenant policy; [`connection`]: the IdP; [`store`]: SQLite (schema created
//!   and migrated at start).
//! - [`Weakening`]: one check turned off, loudly.
//!
//! # The contract the harness relies on
//!
//! **Rust.** [`ReferenceSp::start`] with a [`Config`] (`Config::new()`: loopback, an ephemeral
//! port, in-memory database, random admin token, no IdP, no demo data); [`ReferenceSp::addr`],
//! [`ReferenceSp::base_url`], [`ReferenceSp::admin_token`], [`ReferenceSp::shutdown`] (dropping
//! it stops it too). [`validate_response`] with a [`Context`] validates a base64 `SAMLResponse`
//! in-process and returns a [`Login`] or a [`Refusal`]; the replay cache and the binding of
//! requests to browsers are the caller's (the ACS handler keeps both in SQLite).
//!
//! **Binary.** `reference-sp serve [--bind 127.0.0.1:8280] [--public-url URL] [--database
//! PATH|:memory:] [--admin-token TOKEN] [--idp-metadata FILE|URL | --idp-entity-id X
//! --idp-sso-url Y --idp-cert PEMFILE] [--demo] [--weaken CHECK]...`. It prints its URL, the SP
//! entityID, the ACS URL and the admin token on stdout, and stops cleanly on SIGTERM or
//! Ctrl-C. `--weaken help` lists the checks and exits 0; an unknown name exits 2.
//!
//! **URLs** (base = the public URL): SP entityID and metadata `{base}/saml/metadata`, ACS
//! `{base}/saml/acs`.
//!
//! | endpoint | behaviour |
//! |---|---|
//! | `GET /healthz` | 200 `ok` |
//! | `GET /saml/metadata` | entityID, ACS (HTTP-POST), NameIDFormat emailAddress, `WantAssertionsSigned` per policy |
//! | `GET /login`, `POST /login` (`email`) | email-first: 303 to `/login/sso?email=` for an SSO domain (SSO on), else `/login/password?email=` |
//! | `GET /login/sso?email=&return_to=` | 503 `idp_unavailable` when the IdP's SSO URL does not answer (below 500) within `idp_patience_ms`; else 303 to the IdP with a DEFLATEd AuthnRequest and an opaque RelayState bound server-side to this browser's pre-login cookie, the request ID, the typed email and the return path |
//! | `POST /saml/acs` (`SAMLResponse`, `RelayState`) | success: session cookie and 303 to the return path (or `/me`); refusal: 403 page with `<code id="reason">REASON</code>`, or `{"error":"refused","reason","detail"}` with `Accept: application/json`; GET is `wrong_binding`; bodies over 1 MiB are 413 |
//! | `GET /login/password`, `POST /login/password` (`email`, `password`) | 303 `/me`, or 403 with a reason (`bad_credentials`, `password_login_disabled_sso_enforced`, `password_reset_required`) |
//! | `POST /password-reset` (`token`, `password`) | sets the password with a token from the admin API |
//! | `GET /me` | 200 `{"email","role","method","tenant","session_expires_at"}`; 401 `{"error":"not_signed_in"}` |
//! | `GET|POST /logout` | ends the session, 303 `/login` |
//! | `GET /api/whoami` (basic auth) | 200 `{"email","role"}` for API users and users whose password login is allowed; 401 otherwise |
//! | `GET|PATCH /admin/settings` | the tenant policy; a partial JSON merge; an unknown field is a 400 naming it |
//! | `GET|PUT /admin/idp` | `{"metadata_xml"}`, `{"metadata_url"}` or `{"entity_id","sso_url","certificate_pem"}`; a connection without a signing key is a 400 |
//! | `GET /admin/users`, `PUT|DELETE /admin/users/{email}`, `POST /admin/users/{email}/reset-password` | users and roles (`member`, `admin`, `api`) |
//! | `GET /admin/clock`, `POST /admin/clock?advance_ms=N` | the SP's clock (`{"now","offset_ms"}`): moved forward by N ms (at most a year in all), for tests of what happens later without waiting |
//! | `POST /admin/idp-patience?ms=N` | sets `idp_patience_ms` (at most 60,000) as `PATCH /admin/settings` would, from a query parameter a harness hook can fill in; answers `{"idp_patience_ms"}` |
//! | `POST /admin/reset` | settings, users (with their passwords), the IdP connection and the clock as the SP started; the replay cache and sessions stay |
//!
//! The admin API takes `Authorization: Bearer TOKEN` or an admin's session cookie; its errors
//! are JSON `{"error": "..."}` with 400, 401 or 404. Cookies are `HttpOnly; SameSite=Lax`, and
//! `Secure` when the public URL is https.
//! A weakened SP adds `X-Reference-Sp-Weakened: name,name` to every response, a red banner to
//! every HTML page, and a warning per weakening to the log at start.
//!
//! **Demo tenant** (`--demo`): SSO domains `corp.example` and `corp.example.evil.test`;
//! `alice@` and `bob@corp.example` (member, SSO only), `admin@corp.example` (admin,
//! `admin-pass-1`), `api@corp.example` (api, `api-pass-1`), `carol@other.example` (member,
//! `carol-pass-1`), `dave@corp.example` (member with a password from before SSO,
//! `dave-pass-1`), `admin@corp.example.evil.test` (member, SSO only: an attacker's ordinary
//! account whose email starts with the admin's). See [`Settings`] for the default policy.

pub mod cli;
pub mod clock;
pub mod connection;
pub mod decrypt;
mod logout;
pub mod meters;
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
pub use crate::decrypt::{EncryptionKey, KeyPurpose};
pub use crate::reason::{Reason, Refusal};
pub use crate::settings::Settings;
pub use crate::store::Database;
pub use crate::validate::{Context, Login, validate_response};
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
    /// Timeouts, the connection cap and the shutdown grace of the HTTP server.
    pub limits: hardening::serve::Limits,
    /// With an in-memory database: a folder that keeps the SP's encryption and signing keys
    /// between starts (RSA key generation is most of a start), made on first use; without
    /// it, keys are made once per process. A database file keeps its own keys.
    pub key_folder: Option<std::path::PathBuf>,
    /// Keys another SP of this process already holds ([`ReferenceSp::keys`]): used as they
    /// are, instead of the folder's or the database's (a copy of that SP reads nothing).
    pub keys: Option<SpKeys>,
}

/// The SP's two keys, as loaded: shared by reference between SPs of one process.
#[derive(Debug, Clone)]
pub struct SpKeys {
    /// Decrypts `EncryptedAssertion`s (the metadata's `use="encryption"` certificate).
    pub encryption: Arc<EncryptionKey>,
    /// Signs AuthnRequests and logout messages (the metadata's `use="signing"` certificate).
    pub signing: Arc<EncryptionKey>,
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
            limits: hardening::serve::Limits::default(),
            key_folder: None,
            keys: None,
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
    /// The SP's encryption key could not be made.
    #[error("{0}")]
    Key(String),
}

/// The demo tenant's users: (email, role, password, api).
pub const DEMO_USERS: &[(&str, &str, Option<&str>, bool)] = &[
    ("alice@corp.example", "member", None, false),
    ("bob@corp.example", "member", None, false),
    ("admin@corp.example", "admin", Some("admin-pass-1"), false),
    ("api@corp.example", "api", Some("api-pass-1"), true),
    ("carol@other.example", "member", Some("carol-pass-1"), false),
    ("dave@corp.example", "member", Some("dave-pass-1"), false),
    // An ordinary account whose email starts with the admin's (an attacker's): the text-split
    // attacks need the SP to accept its own valid login, or their refusal proves nothing.
    ("admin@corp.example.evil.test", "member", None, false),
];

/// Fetches IdP metadata over HTTP(S), without proxies, bounded while it arrives: at most
/// 1 MiB (refused as soon as more comes, or a `Content-Length` announces more) within 5 s.
pub(crate) async fn fetch_metadata(url: &str) -> Result<String, hardening::limited::LimitedError> {
    hardening::limited::fetch_text(
        url,
        hardening::limited::METADATA_LIMIT,
        hardening::limited::FETCH_TIMEOUT,
    )
    .await
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
                    // Not up yet: try again. Anything else (too large, an error status, too
                    // slow) would only repeat.
                    Err(e) if matches!(e.kind, hardening::limited::LimitedErrorKind::Io(_)) => {
                        last = e.to_string();
                    }
                    Err(e) => return Err(StartError::Idp(e.to_string())),
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
            settings.sso_domains = vec![
                "corp.example".to_owned(),
                "corp.example.evil.test".to_owned(),
            ];
        }
        store.set_settings(&settings)?;
        for (email, role, password, api) in DEMO_USERS {
            store.put_demo_user(email, role, *password, *api)?;
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
    let keys = match config.keys {
        Some(keys) => keys,
        None => {
            let key_folder = config.key_folder.as_deref();
            SpKeys {
                encryption: sp_key(&config.database, key_folder, &store, KeyPurpose::Encryption)?,
                signing: sp_key(&config.database, key_folder, &store, KeyPurpose::Signing)?,
            }
        }
    };
    Ok(web::App {
        encryption_key: keys.encryption,
        signing_key: keys.signing,
        store,
        base_url,
        admin_token: config.admin_token.unwrap_or_else(random_token),
        weaken: config.weaken,
        initial_settings: settings,
        initial_users,
        initial_connection,
        clock: clock::Clock::default(),
    })
}

/// The SP's key for `purpose`: kept in the database file (made and stored on first start),
/// or, in memory, the one this process shares between its SPs. The encryption key and the
/// signing key are never the same key.
fn sp_key(
    database: &Database,
    key_folder: Option<&std::path::Path>,
    store: &store::Store,
    purpose: KeyPurpose,
) -> Result<Arc<EncryptionKey>, StartError> {
    if matches!(database, Database::Memory) {
        return match key_folder {
            Some(folder) => folder_key(folder, purpose),
            None => EncryptionKey::process(purpose).map_err(StartError::Key),
        };
    }
    if let Some((private, cert)) = store.key(purpose)? {
        return EncryptionKey::from_der(&private, &cert)
            .map(Arc::new)
            .map_err(StartError::Key);
    }
    let key = EncryptionKey::generate(purpose.common_name()).map_err(|e| {
        StartError::Key(format!(
            "failed to generate the SP's {} key: {e}",
            purpose.name()
        ))
    })?;
    let private = key.private_pkcs8_der().map_err(|e| {
        StartError::Key(format!(
            "failed to store the SP's {} key: {e}",
            purpose.name()
        ))
    })?;
    store.set_key(purpose, &private, key.cert_der())?;
    Ok(Arc::new(key))
}

/// The key for `purpose` kept in `folder` (`{purpose}-key.der`, PKCS#8, mode 0600, and
/// `{purpose}-cert.der`), made and kept there when the folder has none that reads back. Written
/// through temporary files and renames, so that another process starting meanwhile reads an
/// old pair or a new one, never half of one (a pair that does not match is made again).
fn folder_key(
    folder: &std::path::Path,
    purpose: KeyPurpose,
) -> Result<Arc<EncryptionKey>, StartError> {
    let key_path = folder.join(format!("{}-key.der", purpose.name()));
    let cert_path = folder.join(format!("{}-cert.der", purpose.name()));
    if let (Ok(private), Ok(cert)) = (std::fs::read(&key_path), std::fs::read(&cert_path))
        && let Ok(key) = EncryptionKey::from_der(&private, &cert)
    {
        return Ok(Arc::new(key));
    }
    let key = EncryptionKey::process(purpose).map_err(StartError::Key)?;
    let kept = key
        .private_pkcs8_der()
        .map_err(|e| e.to_string())
        .and_then(|private| {
            hardening::private_file::create_dir(folder)
                .and_then(|()| hardening::private_file::replace(&key_path, &private))
                .and_then(|()| hardening::private_file::replace(&cert_path, key.cert_der()))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = kept {
        tracing::warn!(folder = %folder.display(), "failed to keep the SP's {} key: {e}", purpose.name());
    }
    Ok(key)
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
    /// Opens the database, configures the IdP, seeds the demo tenant if asked, and serves
    /// within [`Config::limits`] (see [`hardening::serve`]).
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
        let limits = config.limits;
        let app = Arc::new(build_app(config, &base_url).await?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = web::router(Arc::clone(&app));
        let task = tokio::spawn(hardening::serve::serve(listener, router, limits, async {
            let _ = rx.await;
        }));
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

    /// Its two keys, to start another SP of this process with ([`Config::keys`]).
    pub fn keys(&self) -> SpKeys {
        SpKeys {
            encryption: Arc::clone(&self.app.encryption_key),
            signing: Arc::clone(&self.app.signing_key),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_folder_keeps_the_keys_between_starts_and_remakes_a_damaged_pair() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("keys");
        let first = folder_key(&folder, KeyPurpose::Encryption).expect("made");
        let again = folder_key(&folder, KeyPurpose::Encryption).expect("read back");
        assert_eq!(first.cert_der(), again.cert_der());
        let signing = folder_key(&folder, KeyPurpose::Signing).expect("made");
        assert_ne!(first.cert_der(), signing.cert_der(), "two keys, never one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
            };
            assert_eq!(mode(&folder), 0o700);
            assert_eq!(mode(&folder.join("encryption-key.der")), 0o600);
        }
        std::fs::write(folder.join("signing-cert.der"), b"damaged").expect("damage");
        let remade = folder_key(&folder, KeyPurpose::Signing).expect("made again");
        let read = std::fs::read(folder.join("signing-cert.der")).expect("kept");
        assert_eq!(read, remade.cert_der());
    }
}
