//! Drivers: how a user agent is simulated.
//!
//! - [`http`]: reqwest with a cookie jar; redirects and SAML auto-submit forms followed by hand.
//! - [`browser`]: real Chromium through ChromeDriver (fantoccini); the browser follows
//!   everything itself and a recording proxy keeps the same trace.
//!
//! [`Agent`] is either, with one interface for the engine.

pub mod browser;
pub mod form;
pub mod http;

pub use self::http::{DriverError, Page, SamlSeen, UserAgent};

use self::browser::BrowserAgent;
use crate::verdict::Hop;

/// Which driver a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverKind {
    /// reqwest, every hop by hand.
    #[default]
    Http,
    /// Chromium through ChromeDriver.
    Browser,
}

impl DriverKind {
    /// `http` or `browser`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Http => "http",
            DriverKind::Browser => "browser",
        }
    }
}

/// One scenario's user agent, HTTP or browser.
#[derive(Debug)]
pub enum Agent {
    /// The HTTP driver.
    Http(UserAgent),
    /// The browser driver.
    Browser(Box<BrowserAgent>),
}

impl Agent {
    /// Another user agent of the same kind with an empty cookie jar.
    pub async fn fresh(&self, sp_base: &str, idp_base: &str) -> Result<Self, DriverError> {
        match self {
            Agent::Http(ua) => {
                UserAgent::new(sp_base, idp_base, ua.step_timeout()).map(Agent::Http)
            }
            Agent::Browser(b) => b
                .fresh(sp_base, idp_base)
                .await
                .map(|b| Agent::Browser(Box::new(b))),
        }
    }

    /// Adds a cookie for `url`, as if that server had set it.
    pub async fn add_cookie(&self, cookie: &str, url: &str) -> Result<(), DriverError> {
        match self {
            Agent::Http(ua) => {
                ua.add_cookie(cookie, url);
                Ok(())
            }
            Agent::Browser(b) => b.add_cookie(cookie, url).await,
        }
    }

    /// The hops so far.
    pub fn hops(&self) -> &[Hop] {
        match self {
            Agent::Http(ua) => ua.hops(),
            Agent::Browser(b) => b.hops(),
        }
    }

    /// Takes the hops, leaving none.
    pub fn take_hops(&mut self) -> Vec<Hop> {
        match self {
            Agent::Http(ua) => ua.take_hops(),
            Agent::Browser(b) => b.take_hops(),
        }
    }

    /// Opens `url` (GET, or POST with `form`) and follows redirects and SAML auto-submit
    /// forms until a page that is neither.
    pub async fn navigate(
        &mut self,
        method: &str,
        url: &str,
        form: Vec<(String, String)>,
        seen: &mut SamlSeen,
    ) -> Result<Page, DriverError> {
        match self {
            Agent::Http(ua) => ua.navigate(method, url, form, seen).await,
            Agent::Browser(b) => b.navigate(method, url, form, seen).await,
        }
    }

    /// GETs a URL, one request, not followed (the session probe).
    pub async fn get(&mut self, url: &str) -> Result<Page, DriverError> {
        match self {
            Agent::Http(ua) => ua.get(url).await,
            Agent::Browser(b) => b.get(url).await,
        }
    }

    /// GETs a URL with HTTP basic auth (an API call).
    pub async fn get_basic(
        &mut self,
        url: &str,
        user: &str,
        password: &str,
    ) -> Result<Page, DriverError> {
        match self {
            Agent::Http(ua) => ua.get_basic(url, user, password).await,
            Agent::Browser(b) => b.get_basic(url, user, password).await,
        }
    }

    /// A PNG of what the user sees, when the driver has a screen.
    pub async fn screenshot(&self) -> Option<Vec<u8>> {
        match self {
            Agent::Http(_) => None,
            Agent::Browser(b) => b.screenshot().await.ok(),
        }
    }
}
