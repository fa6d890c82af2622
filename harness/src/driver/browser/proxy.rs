//! The recording proxy between Chromium and the SP and IdP.
//!
//! Chromium follows redirects and submits the SAML auto-post forms by itself, so the browser
//! driver cannot see each hop the way the HTTP driver does. Every request of the browser goes
//! through this loopback HTTP proxy instead (`--proxy-server`, with loopback addresses
//! proxied too), which forwards it unchanged (cookies and all: the browser keeps its own
//! jar) and records each top-level navigation as a [`Hop`], with the page it answered. The
//! same evidence as the HTTP driver's, without instrumenting the browser.
//!
//! The proxy also enforces what the HTTP driver does by construction: it only talks to the
//! SP and the mock IdP (a navigation anywhere else is recorded as an off-origin redirect and
//! answered `204 No Content`, so the browser stays where it is and nothing leaves the
//! machine), and it can hold the `SAMLResponse` post back so another user agent posts it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::driver::form::Form;
use crate::driver::http::{
    Binding, MAX_BODY, Page, error_chain, excerpt, origin, read_bytes, resolve, shorten,
};
use crate::verdict::Hop;

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and
/// `accept-encoding`: the proxy asks for plain bodies so that the trace can show them.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "content-length",
    "accept-encoding",
];

/// What one navigation (a `goto`, a form post, and everything the browser did until it
/// settled) saw.
#[derive(Debug, Default)]
pub(crate) struct NavigationLog {
    /// The recorded hops, in order.
    pub hops: Vec<Hop>,
    /// The page each recorded hop answered, in order.
    pub pages: Vec<Page>,
    /// The `SAMLRequest` seen, if any.
    pub request: Option<(Binding, String)>,
    /// The form that carried the `SAMLResponse`, as posted (or held).
    pub response_post: Option<Form>,
    /// Whether a `SAMLResponse` went to the SP in this navigation.
    pub posted_response: bool,
    /// Whether the `SAMLResponse` post was held back.
    pub held: bool,
    /// A redirect to another origin, not followed.
    pub off_origin: Option<String>,
}

/// The proxy's view of one browser, shared by the handler and the driver.
#[derive(Debug)]
pub(crate) struct Recorder {
    sp_origin: String,
    idp_origin: String,
    timeout: Duration,
    state: Mutex<RecorderState>,
}

#[derive(Debug)]
struct RecorderState {
    log: NavigationLog,
    /// Hold a `SAMLResponse` post instead of forwarding it.
    hold_response: bool,
    /// Answer only the first navigation (a probe: one request, not followed).
    single: bool,
    /// Navigations being forwarded right now.
    in_flight: usize,
    /// When a navigation last started or ended.
    last_activity: Instant,
}

/// Where a navigation stands, for the driver's "has it settled?" question.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Activity {
    /// Navigations being forwarded.
    pub in_flight: usize,
    /// Time since the last start or end of a navigation.
    pub quiet_for: Duration,
    /// Whether the last answer promises another navigation: a redirect the browser will
    /// follow, or a SAML auto-submit form that was not held.
    pub expects_more: bool,
    /// Navigations recorded so far.
    pub recorded: usize,
}

impl Recorder {
    pub(crate) fn new(sp_base: &str, idp_base: &str, timeout: Duration) -> Self {
        Self {
            sp_origin: origin(sp_base),
            idp_origin: origin(idp_base),
            timeout,
            state: Mutex::new(RecorderState {
                log: NavigationLog::default(),
                hold_response: false,
                single: false,
                in_flight: 0,
                last_activity: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a new navigation log.
    pub(crate) fn begin(&self, hold_response: bool, single: bool) {
        let mut state = self.lock();
        state.log = NavigationLog::default();
        state.hold_response = hold_response;
        state.single = single;
        state.last_activity = Instant::now();
    }

    /// Ends the navigation log and returns it; later traffic is recorded into a fresh log
    /// (and dropped by the next [`Recorder::begin`]).
    pub(crate) fn finish(&self) -> NavigationLog {
        let mut state = self.lock();
        state.hold_response = false;
        state.single = false;
        std::mem::take(&mut state.log)
    }

    pub(crate) fn activity(&self) -> Activity {
        let state = self.lock();
        let expects_more = match (state.log.hops.last(), state.log.pages.last()) {
            (Some(hop), Some(page)) => {
                let redirect = hop.location.is_some()
                    && hop.status.is_some_and(|s| (300..400).contains(&s))
                    && state.log.off_origin.is_none();
                let form = !state.log.held
                    && !state.single
                    && crate::driver::form::find_saml_form(&page.body).is_some();
                redirect || form
            }
            _ => false,
        };
        Activity {
            in_flight: state.in_flight,
            quiet_for: state.last_activity.elapsed(),
            expects_more,
            recorded: state.log.hops.len(),
        }
    }

    fn actor(&self, url: &str) -> &'static str {
        let o = origin(url);
        if o == self.sp_origin {
            "sp"
        } else if o == self.idp_origin {
            "idp"
        } else {
            "other"
        }
    }

    fn is_known(&self, url: &str) -> bool {
        let o = origin(url);
        o == self.sp_origin || o == self.idp_origin
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub(crate) struct Proxy {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port for `recorder`.
    pub(crate) async fn start(recorder: Arc<Recorder>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(recorder.timeout)
            .connect_timeout(recorder.timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::new(Shared { recorder, client }));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT`, for `--proxy-server`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug)]
struct Shared {
    recorder: Arc<Recorder>,
    client: reqwest::Client,
}

/// Whether a request is a top-level navigation (what a person sees as a page), as the
/// browser's fetch metadata says; without it, an HTML `Accept` header.
fn is_navigation(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok()) {
        Some(mode) => {
            mode == "navigate"
                && headers
                    .get("sec-fetch-dest")
                    .and_then(|v| v.to_str().ok())
                    .is_none_or(|d| d == "document")
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let recorder = &shared.recorder;
    let uri = request.uri().clone();
    if uri.authority().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "this is the harness's recording proxy: send absolute URLs\n",
        )
            .into_response();
    }
    let url = uri.to_string();
    let method = request.method().clone();
    let headers = request.headers().clone();
    let navigation = is_navigation(&headers);
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    };
    if !recorder.is_known(&url) {
        // Never leaves the machine; the browser stays on its page.
        if navigation {
            let mut state = recorder.lock();
            if state.log.off_origin.is_none() {
                state.log.off_origin = Some(url);
            }
        }
        return no_content();
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());

    if navigation {
        let mut state = recorder.lock();
        if state.single && !state.log.hops.is_empty() {
            // A probe answers once and is not followed.
            return no_content();
        }
        if method == "GET" {
            if let Ok(parsed) = url.parse::<reqwest::Url>() {
                if let Some((_, v)) = parsed.query_pairs().find(|(k, _)| k == "SAMLRequest") {
                    state.log.request = Some((Binding::Redirect, v.into_owned()));
                }
                if parsed.query_pairs().any(|(k, _)| k == "SAMLResponse") {
                    state.log.posted_response = true;
                }
            }
        } else if let Some(v) = field("SAMLRequest") {
            state.log.request = Some((Binding::Post, v));
        }
        if method == "POST" && field("SAMLResponse").is_some() {
            state.log.response_post = Some(Form {
                action: url.clone(),
                method: "POST".to_owned(),
                fields: form.clone(),
            });
            if state.hold_response {
                state.log.held = true;
                state.last_activity = Instant::now();
                return no_content();
            }
            state.log.posted_response = true;
        }
        state.in_flight += 1;
        state.last_activity = Instant::now();
    }

    let started = Instant::now();
    let mut outgoing = shared.client.request(method.clone(), &url);
    for (name, value) in &headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            outgoing = outgoing.header(name, value);
        }
    }
    let result = outgoing.body(body.to_vec()).send().await;
    let mut hop = Hop {
        to: recorder.actor(&url).to_owned(),
        method: method.to_string(),
        url: url.clone(),
        form: form.iter().map(|(k, v)| (k.clone(), shorten(v))).collect(),
        status: None,
        location: None,
        body_excerpt: None,
        duration_ms: 0,
        error: None,
    };
    let received = match result {
        Ok(response) => {
            let status = response.status();
            let response_headers = response.headers().clone();
            hop.status = Some(status.as_u16());
            read_bytes(response, MAX_BODY)
                .await
                .map(|bytes| (status, response_headers, bytes))
        }
        Err(e) => Err(error_chain(&e)),
    };
    let (answer, page) = match received {
        Ok((status, response_headers, bytes)) => {
            let location = response_headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let is_text = response_headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|t| t.contains("text") || t.contains("json") || t.contains("xml"));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            hop.location.clone_from(&location);
            if location.is_none() && !text.is_empty() {
                hop.body_excerpt = Some(if is_text {
                    excerpt(&text)
                } else {
                    format!("({} bytes, not text)", bytes.len())
                });
            }
            let mut builder = Response::builder().status(status.as_u16());
            for (name, value) in &response_headers {
                if !NOT_FORWARDED.contains(&name.as_str()) {
                    builder = builder.header(name, value);
                }
            }
            let answer = builder
                .body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
            let page = Page {
                url: url.clone(),
                status: status.as_u16(),
                body: text,
            };
            (answer, (page, location))
        }
        Err(message) => {
            hop.error = Some(message.clone());
            let mut answer = (
                StatusCode::BAD_GATEWAY,
                format!("the harness's proxy could not reach or read {url}: {message}\n"),
            )
                .into_response();
            answer.headers_mut().insert(
                HeaderName::from_static("x-harness-proxy-error"),
                HeaderValue::from_static("1"),
            );
            let page = Page {
                url: url.clone(),
                status: 502,
                body: String::new(),
            };
            (answer, (page, None))
        }
    };
    hop.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if navigation {
        let mut state = recorder.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_activity = Instant::now();
        let (page, location) = page;
        if let Some(next) = location.as_deref().and_then(|l| resolve(&url, l))
            && hop.status.is_some_and(|s| (300..400).contains(&s))
            && !recorder.is_known(&next)
            && !state.single
        {
            state.log.off_origin = Some(next);
        }
        state.log.hops.push(hop);
        state.log.pages.push(page);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigations_are_told_from_subresources() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        headers.insert("sec-fetch-dest", HeaderValue::from_static("document"));
        assert!(is_navigation(&headers));
        headers.insert("sec-fetch-dest", HeaderValue::from_static("iframe"));
        assert!(!is_navigation(&headers));
        let mut favicon = HeaderMap::new();
        favicon.insert("sec-fetch-mode", HeaderValue::from_static("no-cors"));
        favicon.insert("sec-fetch-dest", HeaderValue::from_static("image"));
        assert!(!is_navigation(&favicon));
        let mut old = HeaderMap::new();
        old.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert!(is_navigation(&old));
    }

    #[test]
    fn only_the_sp_and_the_idp_are_reachable() {
        let r = Recorder::new(
            "http://127.0.0.1:10/x",
            "http://127.0.0.1:20",
            Duration::from_secs(1),
        );
        assert!(r.is_known("http://127.0.0.1:10/saml/acs"));
        assert!(r.is_known("http://127.0.0.1:20/sso?a=b"));
        assert!(!r.is_known("http://127.0.0.1:30/"));
        assert!(!r.is_known("https://other-sp.test/saml/acs"));
        assert_eq!(r.actor("http://127.0.0.1:20/sso"), "idp");
        assert_eq!(r.actor("http://127.0.0.1:10/me"), "sp");
    }
}
