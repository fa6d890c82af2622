//! A configurable SAML 2.0 identity provider for conformance testing.
//!
//! It emits valid responses and every broken one a real IdP or an attacker could send: a
//! [`plan::Plan`] says what to send, and the pipeline in [`response`] builds, signs, tampers
//! with and encodes it. Plans are bound to one user agent (a cookie or a `plan` parameter), so
//! scenarios run in parallel without sharing IdP state.
//!
//! Run it as a server with the `mock-idp` binary, or in-process with [`MockIdp::start`].

pub mod authn_request;
pub mod c14n;
pub mod cli;
pub mod clock;
mod dsig;
pub mod exchange;
pub mod flavour;
pub mod idp;
pub mod keys;
pub mod login_page;
pub mod logout;
pub mod metadata;
pub mod meters;
pub mod outage;
pub mod plan;
pub mod registry;
pub mod response;
mod saml;
pub mod server;
pub mod xml;

use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::clock::{Clock, FixedClock, SystemClock};
pub use crate::exchange::{Exchange, PlanId};
pub use crate::flavour::Flavour;
pub use crate::idp::{Idp, IdpSettings, SpLookup};
pub use crate::keys::{KeyChoice, KeyStore, KeyType};
pub use crate::outage::{Outage, OutageSwitch};
pub use crate::plan::Plan;
pub use crate::registry::{SpEntry, SpSource};

/// A random token (128 bits, hex).
pub(crate) fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How to start an in-process IdP.
#[derive(Debug)]
pub struct StartOptions {
    /// Where to listen; loopback with an ephemeral port by default.
    pub bind: SocketAddr,
    /// The public URL; `http://{bound address}` when absent.
    pub public_url: Option<String>,
    /// The entityID; `{public URL}/metadata` when absent.
    pub entity_id: Option<String>,
    /// The user of plans that name none.
    pub default_user: String,
    /// The keys.
    pub keys: KeyStore,
    /// SPs to register at start.
    pub sps: Vec<SpSource>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Send AuthnRequests without a plan to the login page for people.
    pub login_page: bool,
    /// Timeouts, the connection cap and the shutdown grace of the HTTP server.
    pub limits: hardening::serve::Limits,
    /// The token of the `/_control/...` API (random when absent; see [`MockIdp::control_token`]).
    pub control_token: Option<String>,
}

impl StartOptions {
    /// Loopback, an ephemeral port, the real clock, and `keys`.
    pub fn new(keys: KeyStore) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            entity_id: None,
            default_user: "alice@example.test".to_owned(),
            keys,
            sps: Vec::new(),
            clock: Arc::new(SystemClock),
            login_page: false,
            limits: hardening::serve::Limits::default(),
            control_token: None,
        }
    }
}

/// A running IdP: its address, the shared state for creating plans without HTTP, the outage
/// switch, and the server task. Dropping it stops the server.
#[derive(Debug)]
pub struct MockIdp {
    idp: Arc<Idp>,
    addr: SocketAddr,
    outage: OutageSwitch,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl MockIdp {
    /// Binds, registers the SPs (a metadata URL that cannot be read yet is logged and retried
    /// in the background; until it loads, requests for unknown SPs get a 503 with
    /// `Retry-After`), and serves until [`MockIdp::shutdown`] or drop.
    pub async fn start(options: StartOptions) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .map_err(|e| StartError::Bind(options.bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(options.bind, e))?;
        let base_url = options
            .public_url
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let settings = IdpSettings {
            entity_id: options
                .entity_id
                .unwrap_or_else(|| format!("{base_url}/metadata")),
            base_url,
            default_user: options.default_user,
        };
        let mut idp = Idp::new(settings, options.keys, options.clock);
        if let Some(token) = options.control_token {
            idp = idp.with_control_token(token);
        }
        let idp = Arc::new(idp);
        idp.set_login_page(options.login_page);
        for source in options.sps {
            match idp.register_at_start(source.clone()).await {
                Ok(ids) => tracing::info!(?ids, "registered SP"),
                Err(e) if source.is_remote() => {
                    tracing::warn!(error = %e, "SP metadata not readable yet; retrying, and answering 503 for unknown SPs until it loads");
                }
                Err(e) => return Err(StartError::Sp(e)),
            }
        }
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        if idp.has_deferred_sps() {
            tokio::spawn(retry_deferred(Arc::clone(&idp), stop.clone()));
        }
        let outage = OutageSwitch::new();
        let app = server::router(Arc::clone(&idp))
            .merge(outage::control_router(outage.clone()).route_layer(
                axum::middleware::from_fn_with_state(Arc::clone(&idp), server::require_control),
            ))
            .layer(axum::middleware::from_fn_with_state(
                outage.clone(),
                outage::middleware,
            ));
        let task = tokio::spawn(serve(
            listener,
            addr,
            app,
            options.limits,
            outage.clone(),
            stop,
        ));
        Ok(Self {
            idp,
            addr,
            outage,
            shutdown,
            task: Some(task),
        })
    }

    /// Puts the IdP into an outage mode, or back [`Outage::Up`]. The listener closes (for
    /// [`Outage::Down`]) and opens again (back up) a moment later, on the server task: poll
    /// the address when the difference matters.
    pub fn set_outage(&self, outage: Outage) {
        self.outage.set(outage);
    }

    /// The current outage mode.
    pub fn outage(&self) -> Outage {
        self.outage.get()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.idp.settings().base_url
    }

    /// The token `/_control/...` requests must carry (`Authorization: Bearer TOKEN`).
    pub fn control_token(&self) -> &str {
        self.idp.control_token()
    }

    /// The IdP's shared state: create plans, read the log, register SPs.
    pub fn idp(&self) -> &Arc<Idp> {
        &self.idp
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.shutdown.send_replace(true);
        // Ends any slow request still waiting, so the graceful shutdown does not wait for it.
        self.outage.set(Outage::Up);
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.outage.set(Outage::Up);
    }
}

/// Serves within `limits` (see [`hardening::serve`]) until `stop` turns true. While the outage
/// switch says [`Outage::Down`], the listener is closed (connections refused) and open
/// connections are shut; afterwards the same address is bound again.
async fn serve(
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    app: axum::Router,
    limits: hardening::serve::Limits,
    outage: OutageSwitch,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut listener = Some(listener);
    loop {
        let current = match listener.take() {
            Some(l) => l,
            None => rebind(addr).await?,
        };
        let mut stop_serving = stop.clone();
        let mut changes = outage.subscribe();
        hardening::serve::serve(current, app.clone(), limits, async move {
            loop {
                if *stop_serving.borrow_and_update() || *changes.borrow_and_update() == Outage::Down
                {
                    return;
                }
                tokio::select! {
                    r = stop_serving.changed() => if r.is_err() { return },
                    r = changes.changed() => if r.is_err() { return },
                }
            }
        })
        .await?;
        // Down (or stopping): wait with the port closed.
        let mut changes = outage.subscribe();
        loop {
            if *stop.borrow_and_update() {
                return Ok(());
            }
            if *changes.borrow_and_update() != Outage::Down {
                break;
            }
            tokio::select! {
                r = stop.changed() => if r.is_err() { return Ok(()) },
                r = changes.changed() => if r.is_err() { return Ok(()) },
            }
        }
        tracing::info!(%addr, "outage over: listening again");
    }
}

/// Retries the SP metadata given at start until all of it is registered or the IdP stops
/// (every 250 ms, then less often, up to every 5 s).
async fn retry_deferred(idp: Arc<Idp>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut pause = std::time::Duration::from_millis(250);
    while idp.has_deferred_sps() && !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        idp.retry_deferred_sps().await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
    }
}

/// Binds `addr` again after an outage, retrying briefly while the port is still settling.
async fn rebind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for _ in 0..40 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("rebind failed")))
}

/// Failed to start an IdP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound.
    #[error("failed to listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// An SP source could not be read.
    #[error(transparent)]
    Sp(#[from] registry::MetadataError),
}
