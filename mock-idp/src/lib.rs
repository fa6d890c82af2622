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
pub mod metadata;
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
pub use crate::idp::{Idp, IdpSettings};
pub use crate::keys::{KeyChoice, KeyStore, KeyType};
pub use crate::plan::Plan;
pub use crate::registry::{SpEntry, SpSource};

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
        }
    }
}

/// A running IdP: its address, the shared state for creating plans without HTTP, and the
/// server task. Dropping it stops the server.
#[derive(Debug)]
pub struct MockIdp {
    idp: Arc<Idp>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl MockIdp {
    /// Binds, registers the SPs (a metadata URL that cannot be read yet is retried later and
    /// only logged), and serves until [`MockIdp::shutdown`] or drop.
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
        let idp = Arc::new(Idp::new(settings, options.keys, options.clock));
        for source in options.sps {
            match idp.register(source.clone()).await {
                Ok(ids) => tracing::info!(?ids, "registered SP"),
                Err(e) if source.is_remote() => {
                    tracing::warn!(error = %e, "SP metadata not readable yet; will retry on first request");
                }
                Err(e) => return Err(StartError::Sp(e)),
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(Arc::clone(&idp));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            idp,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.idp.settings().base_url
    }

    /// The IdP's shared state: create plans, read the log, register SPs.
    pub fn idp(&self) -> &Arc<Idp> {
        &self.idp
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

impl Drop for MockIdp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
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
