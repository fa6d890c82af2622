//! Outage modes: the IdP as SPs meet it on a bad day. Fallback scenarios switch them on, and
//! back off, while nothing else runs.
//!
//! - [`Outage::Down`]: the listener is closed, so connections are refused; it is bound again
//!   (same address) when the outage ends. Open connections are closed too.
//! - [`Outage::Error`]: every endpoint but `/_control/...` answers HTTP 500.
//! - [`Outage::Slow`]: every endpoint but `/_control/...` answers only after a delay (then
//!   normally); a waiting request ends early when the mode changes or the IdP stops, so a slow
//!   IdP never holds up a shutdown.
//!
//! The control endpoint `POST /_control/outage` takes `{"mode": "up" | "error" | "slow" |
//! "down", "delay_ms": N, "seconds": N}`: `delay_ms` for `slow` (default 30000), `seconds`
//! ends the outage by itself (required for `down`, which also closes the control endpoint).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The default delay of [`Outage::Slow`] when none is given.
pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(30);

/// How the IdP is failing, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Outage {
    /// Working normally.
    #[default]
    Up,
    /// Not listening: connections are refused.
    Down,
    /// Every endpoint answers HTTP 500.
    Error,
    /// Every endpoint answers only after `delay_ms`.
    Slow {
        /// The delay in milliseconds.
        delay_ms: u64,
    },
}

impl Outage {
    /// A slow IdP that answers after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Outage::Slow {
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A short name for logs and notes: `up`, `down`, `error`, `slow (30000 ms)`.
    pub fn describe(self) -> String {
        match self {
            Outage::Up => "up".to_owned(),
            Outage::Down => "down (connections refused)".to_owned(),
            Outage::Error => "error (HTTP 500)".to_owned(),
            Outage::Slow { delay_ms } => format!("slow (answers after {delay_ms} ms)"),
        }
    }
}

/// The switch shared by the server task, the middleware and whoever controls the IdP.
#[derive(Debug, Clone)]
pub struct OutageSwitch {
    tx: Arc<watch::Sender<Outage>>,
}

impl Default for OutageSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl OutageSwitch {
    /// A switch in the [`Outage::Up`] position.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(Outage::Up).0),
        }
    }

    /// The current mode.
    pub fn get(&self) -> Outage {
        *self.tx.borrow()
    }

    /// Sets the mode (waiters wake up).
    pub fn set(&self, outage: Outage) {
        tracing::info!(mode = %outage.describe(), "outage mode");
        self.tx.send_replace(outage);
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<Outage> {
        self.tx.subscribe()
    }
}

/// The middleware: 500 or a delay for everything but `/_control/...`.
pub async fn middleware(
    State(switch): State<OutageSwitch>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_control/") {
        return next.run(request).await;
    }
    match switch.get() {
        Outage::Up | Outage::Down => next.run(request).await,
        Outage::Error => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock IdP outage: HTTP 500 on purpose\n",
        )
            .into_response(),
        Outage::Slow { delay_ms } => {
            let mut changes = switch.subscribe();
            let waited = tokio::time::timeout(Duration::from_millis(delay_ms), async {
                // Ends early when the mode changes (or the switch goes away at shutdown).
                let _ = changes.changed().await;
            })
            .await;
            match waited {
                Err(_) => next.run(request).await,
                Ok(()) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Body::from("mock IdP outage ended while this request waited\n"),
                )
                    .into_response(),
            }
        }
    }
}

/// The longest outage (`seconds`) and slow answer (`delay_ms`) the control API sets.
pub const MAX_OUTAGE_SECONDS: u64 = 600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageBody {
    mode: String,
    delay_ms: Option<u64>,
    seconds: Option<u64>,
}

/// `POST /_control/outage`.
pub fn control_router(switch: OutageSwitch) -> Router {
    Router::new()
        .route("/_control/outage", post(set_outage).get(get_outage))
        .with_state(switch)
}

async fn get_outage(State(switch): State<OutageSwitch>) -> Response {
    Json(switch.get()).into_response()
}

async fn set_outage(State(switch): State<OutageSwitch>, body: axum::body::Bytes) -> Response {
    let body: OutageBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid body: {e}\n")).into_response(),
    };
    if let Some(seconds) = body.seconds.filter(|s| *s > MAX_OUTAGE_SECONDS) {
        return (
            StatusCode::BAD_REQUEST,
            format!("`seconds` is {seconds}; an outage lasts at most {MAX_OUTAGE_SECONDS} s\n"),
        )
            .into_response();
    }
    if let Some(delay) = body.delay_ms.filter(|d| *d > MAX_OUTAGE_SECONDS * 1000) {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "`delay_ms` is {delay}; a slow answer waits at most {} ms\n",
                MAX_OUTAGE_SECONDS * 1000
            ),
        )
            .into_response();
    }
    let outage = match body.mode.as_str() {
        "up" => Outage::Up,
        "error" => Outage::Error,
        "slow" => Outage::slow(
            body.delay_ms
                .map_or(DEFAULT_SLOW_DELAY, Duration::from_millis),
        ),
        "down" if body.seconds.is_none() => {
            return (
                StatusCode::BAD_REQUEST,
                "mode `down` needs `seconds`: the control endpoint goes down with the IdP\n",
            )
                .into_response();
        }
        "down" => Outage::Down,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown mode `{other}` (up, down, error, slow)\n"),
            )
                .into_response();
        }
    };
    switch.set(outage);
    if let Some(seconds) = body.seconds {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            if switch.get() == outage {
                switch.set(Outage::Up);
            }
        });
    }
    Json(outage).into_response()
}
