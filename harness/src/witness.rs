//! The witness: a loopback HTTP listener that records every request. Scenarios point external
//! entities, XSLT `document()` calls, KeyInfo RetrievalMethods and Reference URIs at
//! `{witness.url}`, a URL unique to one scenario run; a request that arrives under it is
//! evidence that the SP fetched something while it handled an untrusted document.
//!
//! It answers every request with an empty `200`, so an SP that resolves an external entity
//! sees the same text it would without it: the fetch, not a parse error, is what is judged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri};
use tokio::sync::oneshot;

/// One request the witness saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The scenario token (the first path segment after `/w/`).
    pub token: String,
    /// The request method.
    pub method: String,
    /// The whole path and query.
    pub path: String,
}

type Hits = Arc<Mutex<Vec<Hit>>>;

/// A running witness listener.
#[derive(Debug)]
pub struct Witness {
    base_url: String,
    hits: Hits,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Witness {
    /// Listens on `bind` (loopback with an ephemeral port is what the harness uses).
    pub async fn start(bind: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let hits: Hits = Arc::default();
        let app = Router::new().fallback(record).with_state(Arc::clone(&hits));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            base_url: format!("http://{addr}"),
            hits,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The URL for one scenario run's `token`.
    pub fn url_for(&self, token: &str) -> String {
        format!("{}/w/{token}", self.base_url)
    }

    /// The requests seen for `token`.
    pub fn hits_for(&self, token: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .map(|hits| hits.iter().filter(|h| h.token == token).cloned().collect())
            .unwrap_or_default()
    }

    /// Stops listening.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take()
            && let Ok(Err(e)) = task.await
        {
            tracing::warn!(error = %e, "the witness listener did not stop cleanly");
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn record(State(hits): State<Hits>, method: Method, uri: Uri) -> &'static str {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let token = uri
        .path()
        .strip_prefix("/w/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    tracing::warn!(%method, %path, "the witness was fetched");
    if let Ok(mut hits) = hits.lock() {
        hits.push(Hit {
            token,
            method: method.to_string(),
            path,
        });
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_recorded_per_token() {
        let witness = Witness::start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start");
        let url = witness.url_for("scenario-1");
        assert!(url.starts_with("http://127.0.0.1:"));
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let answer = client
            .get(format!("{url}/entity.dtd?x=1"))
            .send()
            .await
            .expect("get");
        assert!(answer.status().is_success());
        assert_eq!(answer.text().await.expect("body"), "");
        let hits = witness.hits_for("scenario-1");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].path, "/w/scenario-1/entity.dtd?x=1");
        assert!(witness.hits_for("scenario-2").is_empty());
        witness.shutdown().await;
    }
}
