//! The HTTP driver: a user agent on reqwest with its own cookie jar. Redirects are followed by
//! hand so that every hop is recorded; SAML auto-submit forms (HTTP-POST binding) are parsed
//! and posted the way a browser's `onload` submit would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::Jar;
use reqwest::header::{CONTENT_TYPE, LOCATION};

use crate::driver::form::{self, Form};
use crate::verdict::Hop;

/// The most redirects and form posts one navigation follows.
const MAX_HOPS: usize = 20;
/// How much of a body a hop keeps.
const BODY_EXCERPT: usize = 2048;
/// The largest body read.
/// The largest body read (the mock IdP's form page for a padded response is the largest).
pub(crate) const MAX_BODY: usize = 128 * 1024 * 1024;

/// A page the user agent ended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The URL of the last request.
    pub url: String,
    /// Its status.
    pub status: u16,
    /// Its body (UTF-8, lossy).
    pub body: String,
}

/// What a navigation saw of the SAML exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlSeen {
    /// The base64 `SAMLRequest` the SP sent (query or form), as received.
    pub request: Option<(Binding, String)>,
    /// The form that carried the `SAMLResponse` to the ACS, as posted.
    pub response_post: Option<Form>,
    /// The page the SP answered the response with (after its redirects).
    pub after_response: Option<Page>,
    /// A redirect to an origin that is neither the SP's nor the IdP's: recorded, never
    /// followed (the harness only talks to the SP and its own IdP).
    pub off_origin_redirect: Option<String>,
    /// Stop before posting a `SAMLResponse` form (it is kept in `response_post`), so another
    /// user agent can post it.
    pub hold_response: bool,
}

/// How a SAML message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// In a query string (DEFLATE + base64).
    Redirect,
    /// In a form (base64).
    Post,
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The request could not be made or timed out.
    #[error("failed to {method} {url}: {message}")]
    Request {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Too many redirects or forms in a row.
    #[error("gave up after {MAX_HOPS} redirects and form posts, last at {0}")]
    TooManyHops(String),
    /// A redirect without a usable `Location`.
    #[error("redirect from {0} has no usable Location header")]
    BadRedirect(String),
    /// The browser could not be driven.
    #[error("browser: {0}")]
    Browser(String),
}

/// One user agent: a cookie jar, a trace, and the two origins it tells apart.
#[derive(Debug)]
pub struct UserAgent {
    client: reqwest::Client,
    jar: Arc<Jar>,
    hops: Vec<Hop>,
    sp_origin: String,
    idp_origin: String,
    step_timeout: Duration,
}

impl UserAgent {
    /// A fresh user agent with an empty cookie jar; every request times out after
    /// `step_timeout`.
    pub fn new(sp_base: &str, idp_base: &str, step_timeout: Duration) -> Result<Self, DriverError> {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(step_timeout)
            .connect_timeout(step_timeout)
            .no_proxy()
            .user_agent(concat!("saml-harness/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DriverError::Request {
                method: "build".to_owned(),
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            jar,
            hops: Vec::new(),
            sp_origin: origin(sp_base),
            idp_origin: origin(idp_base),
            step_timeout,
        })
    }

    /// The timeout of every request.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// Adds a cookie for `url`, as if that server had set it.
    pub fn add_cookie(&self, cookie: &str, url: &str) {
        if let Ok(url) = url.parse::<reqwest::Url>() {
            self.jar.add_cookie_str(cookie, &url);
        }
    }

    /// The hops so far.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// Takes the hops, leaving none.
    pub fn take_hops(&mut self) -> Vec<Hop> {
        std::mem::take(&mut self.hops)
    }

    /// One request, recorded as a hop. Not followed.
    pub async fn request(
        &mut self,
        method: &str,
        url: &str,
        form: &[(String, String)],
    ) -> Result<(Page, Option<String>), DriverError> {
        let started = Instant::now();
        let mut builder = if method == "POST" {
            self.client.post(url).form(form)
        } else {
            self.client.get(url)
        };
        builder = builder.header("Accept", "text/html,application/json;q=0.9,*/*;q=0.8");
        let result = builder.send().await;
        let mut hop = Hop {
            to: self.actor(url),
            method: method.to_owned(),
            url: url.to_owned(),
            form: form.iter().map(|(k, v)| (k.clone(), shorten(v))).collect(),
            status: None,
            location: None,
            body_excerpt: None,
            duration_ms: 0,
            error: None,
        };
        let outcome = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let is_text = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_none_or(|t| t.contains("text") || t.contains("json") || t.contains("xml"));
                let body = match read_body(response).await {
                    Ok(body) => body,
                    Err(message) => {
                        hop.status = Some(status);
                        return Err(self.failed(hop, started, method, message));
                    }
                };
                hop.status = Some(status);
                hop.location.clone_from(&location);
                if location.is_none() && !body.is_empty() {
                    hop.body_excerpt = Some(if is_text {
                        excerpt(&body)
                    } else {
                        format!("({} bytes, not text)", body.len())
                    });
                }
                Ok((
                    Page {
                        url: url.to_owned(),
                        status,
                        body,
                    },
                    location,
                ))
            }
            Err(e) => {
                let message = error_chain(&e);
                hop.error = Some(message.clone());
                Err(DriverError::Request {
                    method: method.to_owned(),
                    url: url.to_owned(),
                    message,
                })
            }
        };
        hop.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.hops.push(hop);
        outcome
    }

    /// Opens `url` (GET, or POST with `form`), then follows redirects and SAML auto-submit
    /// forms until a page that is neither. Records what it sees of the SAML exchange in `seen`.
    pub async fn navigate(
        &mut self,
        method: &str,
        url: &str,
        form: Vec<(String, String)>,
        seen: &mut SamlSeen,
    ) -> Result<Page, DriverError> {
        let mut method = method.to_owned();
        let mut url = url.to_owned();
        let mut fields = form;
        let mut posted_response = false;
        for _ in 0..MAX_HOPS {
            if method == "GET" {
                note_redirect_request(&url, seen);
            } else if let Some(v) = field(&fields, "SAMLRequest") {
                seen.request = Some((Binding::Post, v.to_owned()));
            }
            if method == "POST" && field(&fields, "SAMLResponse").is_some() {
                seen.response_post = Some(Form {
                    action: url.clone(),
                    method: "POST".to_owned(),
                    fields: fields.clone(),
                });
                posted_response = true;
            } else if method == "GET" && url_has_param(&url, "SAMLResponse") {
                posted_response = true;
            }
            let (page, location) = self.request(&method, &url, &fields).await?;
            if (300..400).contains(&page.status) {
                let next = location
                    .and_then(|l| resolve(&url, &l))
                    .ok_or_else(|| DriverError::BadRedirect(url.clone()))?;
                if !self.is_known_origin(&next) {
                    seen.off_origin_redirect = Some(next);
                    return Ok(self.finish(page, posted_response, seen));
                }
                // 307/308 keep the method and body; every other redirect becomes a GET.
                if !matches!(page.status, 307 | 308) {
                    method = "GET".to_owned();
                    fields.clear();
                }
                url = next;
                continue;
            }
            if let Some(next) = form::find_saml_form(&page.body) {
                let Some(action) = resolve(&url, &next.action) else {
                    return Ok(self.finish(page, posted_response, seen));
                };
                if seen.hold_response && next.fields.iter().any(|(k, _)| k == "SAMLResponse") {
                    seen.response_post = Some(Form {
                        action,
                        method: next.method,
                        fields: next.fields,
                    });
                    return Ok(page);
                }
                if next.method.eq_ignore_ascii_case("GET") {
                    let mut target = action;
                    let query = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&next.fields)
                        .finish();
                    target.push(if target.contains('?') { '&' } else { '?' });
                    target.push_str(&query);
                    method = "GET".to_owned();
                    url = target;
                    fields = Vec::new();
                } else {
                    method = "POST".to_owned();
                    url = action;
                    fields = next.fields;
                }
                continue;
            }
            return Ok(self.finish(page, posted_response, seen));
        }
        Err(DriverError::TooManyHops(url))
    }

    fn finish(&self, page: Page, posted_response: bool, seen: &mut SamlSeen) -> Page {
        if posted_response {
            seen.after_response = Some(page.clone());
        }
        page
    }

    /// GETs a URL with HTTP basic auth, without following anything (an API call).
    pub async fn get_basic(
        &mut self,
        url: &str,
        user: &str,
        password: &str,
    ) -> Result<Page, DriverError> {
        let started = Instant::now();
        let result = self
            .client
            .get(url)
            .basic_auth(user, Some(password))
            .header("Accept", "application/json")
            .send()
            .await;
        let mut hop = Hop {
            to: self.actor(url),
            method: "GET".to_owned(),
            url: url.to_owned(),
            form: Vec::new(),
            status: None,
            location: None,
            body_excerpt: None,
            duration_ms: 0,
            error: None,
        };
        let outcome = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = match read_body(response).await {
                    Ok(body) => body,
                    Err(message) => {
                        hop.status = Some(status);
                        return Err(self.failed(hop, started, "GET", message));
                    }
                };
                hop.status = Some(status);
                hop.body_excerpt = (!body.is_empty()).then(|| excerpt(&body));
                Ok(Page {
                    url: url.to_owned(),
                    status,
                    body,
                })
            }
            Err(e) => {
                let message = error_chain(&e);
                hop.error = Some(message.clone());
                Err(DriverError::Request {
                    method: "GET".to_owned(),
                    url: url.to_owned(),
                    message,
                })
            }
        };
        hop.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.hops.push(hop);
        outcome
    }

    /// Records `hop` as failed with `message` and returns the error.
    fn failed(
        &mut self,
        mut hop: Hop,
        started: Instant,
        method: &str,
        message: String,
    ) -> DriverError {
        hop.error = Some(message.clone());
        hop.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let url = hop.url.clone();
        self.hops.push(hop);
        DriverError::Request {
            method: method.to_owned(),
            url,
            message,
        }
    }

    /// GETs a URL without following anything (the session probe).
    pub async fn get(&mut self, url: &str) -> Result<Page, DriverError> {
        self.request("GET", url, &[]).await.map(|(page, _)| page)
    }

    fn is_known_origin(&self, url: &str) -> bool {
        let o = origin(url);
        o == self.sp_origin || o == self.idp_origin
    }

    fn actor(&self, url: &str) -> String {
        let o = origin(url);
        if o == self.sp_origin {
            "sp".to_owned()
        } else if o == self.idp_origin {
            "idp".to_owned()
        } else {
            "other".to_owned()
        }
    }
}

fn note_redirect_request(url: &str, seen: &mut SamlSeen) {
    if let Ok(parsed) = url.parse::<reqwest::Url>()
        && let Some((_, v)) = parsed.query_pairs().find(|(k, _)| k == "SAMLRequest")
    {
        seen.request = Some((Binding::Redirect, v.into_owned()));
    }
}

fn url_has_param(url: &str, name: &str) -> bool {
    url.parse::<reqwest::Url>()
        .is_ok_and(|u| u.query_pairs().any(|(k, _)| k == name))
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The whole body, or why it could not be read: a read error, or more than [`MAX_BODY`]
/// bytes (never a silently truncated page, whose form would go unseen).
async fn read_body(response: reqwest::Response) -> Result<String, String> {
    read_bytes(response, MAX_BODY)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// The whole body of a response, or why not: a read error, or more than `limit` bytes.
pub(crate) async fn read_bytes(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > limit {
                    return Err(format!(
                        "the body is larger than the harness reads ({limit} bytes)"
                    ));
                }
            }
            Ok(None) => return Ok(bytes),
            Err(e) => {
                return Err(format!(
                    "the body broke off after {} bytes: {}",
                    bytes.len(),
                    error_chain(&e)
                ));
            }
        }
    }
}

pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut message = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// `scheme://host:port` of a URL (empty when it does not parse).
pub fn origin(url: &str) -> String {
    url.parse::<reqwest::Url>()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// Resolves a possibly relative reference against `base`.
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let base = base.parse::<reqwest::Url>().ok()?;
    base.join(reference).ok().map(String::from)
}

pub(crate) fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT {
        return body.to_owned();
    }
    let mut end = BODY_EXCERPT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

pub(crate) fn shorten(value: &str) -> String {
    if value.len() <= 120 {
        return value.to_owned();
    }
    let mut end = 60;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} chars)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_resolve_against_the_request() {
        assert_eq!(
            resolve("http://127.0.0.1:1/a/b?x", "/me").as_deref(),
            Some("http://127.0.0.1:1/me")
        );
        assert_eq!(
            resolve("http://127.0.0.1:1/a/b", "c").as_deref(),
            Some("http://127.0.0.1:1/a/c")
        );
        assert_eq!(origin("http://127.0.0.1:8/x?y"), "http://127.0.0.1:8");
    }

    #[test]
    fn long_values_are_shortened_in_hops() {
        let long = "a".repeat(500);
        let s = shorten(&long);
        assert!(s.len() < 100 && s.ends_with("(500 chars)"), "{s}");
        assert_eq!(shorten("short"), "short");
    }
}
