//! The browser driver: real Chromium through ChromeDriver (fantoccini).
//!
//! - [`Browser`]: ChromeDriver (started by the harness on a free loopback port, or an existing
//!   one at a `--webdriver` URL) and a pool of sessions, one per worker, each with a fresh
//!   profile folder. [`Browser::shutdown`] closes every session and ends every process the
//!   harness started; dropping a [`Browser`] kills them as a last resort.
//! - [`BrowserAgent`]: one scenario's user agent on a leased session. Cookies are cleared when a
//!   scenario starts; every navigation goes through the recording proxy (`proxy`), so a browser
//!   scenario leaves the same trace (hops, the SAML messages, the pages) as an HTTP one.
//!
//! The session probe runs in a second tab of the same browser (same cookies), so the first tab
//! still shows the SP's answer when a failing scenario is photographed.

mod chromedriver;
mod proxy;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fantoccini::wd::{WebDriverCompatibleCommand, WindowHandle};
use serde_json::{Value, json};

use self::chromedriver::DriverProcess;
pub(crate) use self::chromedriver::free_port;
pub use self::chromedriver::{find_chromedriver, find_chromium};
use self::proxy::{Proxy, Recorder};
use crate::driver::http::{DriverError, Page, SamlSeen, UserAgent};
use crate::verdict::Hop;

/// How long the traffic must be quiet before a navigation counts as settled.
const QUIET: Duration = Duration::from_millis(15);
/// How long a navigation that has not reached the proxy yet is waited for.
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(3);
/// The window size of every session (screenshots included).
const WINDOW: (u32, u32) = (1280, 900);

/// A browser that could not be started or driven.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// ChromeDriver is missing or did not start.
    #[error("failed to start the browser: {0}")]
    Driver(String),
    /// A session (a Chromium instance) could not be created.
    #[error("failed to start a Chromium session through {webdriver}: {message}")]
    Session {
        /// The WebDriver URL.
        webdriver: String,
        /// What went wrong.
        message: String,
    },
    /// A WebDriver command failed.
    #[error("failed to {action}: {message}")]
    Command {
        /// What the driver was doing.
        action: String,
        /// What went wrong.
        message: String,
    },
}

fn command_error(action: &str) -> impl Fn(fantoccini::error::CmdError) -> BrowserError + '_ {
    move |e| BrowserError::Command {
        action: action.to_owned(),
        message: e.to_string(),
    }
}

/// What a [`Browser`] needs to know.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// An existing WebDriver server; else the harness starts ChromeDriver.
    pub webdriver: Option<String>,
    /// The SP's base URL (the proxy only talks to its origin and the IdP's).
    pub sp_base: String,
    /// The mock IdP's base URL.
    pub idp_base: String,
    /// The timeout of every request and page load.
    pub step_timeout: Duration,
}

/// ChromeDriver and a pool of Chromium sessions.
#[derive(Debug)]
pub struct Browser {
    webdriver: String,
    driver: Mutex<Option<DriverProcess>>,
    options: BrowserOptions,
    chromium: Option<PathBuf>,
    idle: Mutex<Vec<Session>>,
    every: Mutex<Vec<fantoccini::Client>>,
    closed: AtomicBool,
}

impl Browser {
    /// Starts ChromeDriver (unless `options.webdriver` names one, which must answer) and a
    /// first Chromium session, so that a browser that cannot start fails the run at once
    /// rather than every scenario. Further sessions are created when leased.
    pub async fn start(options: BrowserOptions) -> Result<Arc<Self>, BrowserError> {
        let (webdriver, driver) = match &options.webdriver {
            Some(url) => {
                let url = url.trim_end_matches('/').to_owned();
                chromedriver::check_status(&url).await?;
                (url, None)
            }
            None => {
                let process = DriverProcess::start().await?;
                (process.url().to_owned(), Some(process))
            }
        };
        let browser = Arc::new(Self {
            webdriver,
            driver: Mutex::new(driver),
            options,
            chromium: find_chromium(),
            idle: Mutex::new(Vec::new()),
            every: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        match browser.new_session().await {
            Ok(first) => {
                browser
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(first);
                Ok(browser)
            }
            Err(e) => {
                browser.shutdown().await;
                Err(e)
            }
        }
    }

    /// The WebDriver URL in use.
    pub fn webdriver_url(&self) -> &str {
        &self.webdriver
    }

    /// A session for one scenario: an idle one, or a new one, with its cookies cleared.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, BrowserError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let started = Instant::now();
        let session = match idle {
            Some(s) => s,
            None => self.new_session().await?,
        };
        let created = started.elapsed();
        session.reset().await?;
        tracing::debug!(
            created_ms = created.as_millis(),
            ready_ms = started.elapsed().as_millis(),
            "browser session leased"
        );
        Ok(Lease {
            browser: Arc::clone(self),
            session: Some(session),
            clean: false,
        })
    }

    async fn new_session(&self) -> Result<Session, BrowserError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BrowserError::Session {
                webdriver: self.webdriver.clone(),
                message: "the browser is shutting down".to_owned(),
            });
        }
        let session_error = |message: String| BrowserError::Session {
            webdriver: self.webdriver.clone(),
            message,
        };
        let recorder = Arc::new(Recorder::new(
            &self.options.sp_base,
            &self.options.idp_base,
            self.options.step_timeout,
        ));
        let proxy = Proxy::start(Arc::clone(&recorder))
            .await
            .map_err(|e| session_error(format!("failed to start the recording proxy: {e}")))?;
        let profile = tempfile::Builder::new()
            .prefix("saml-harness-chromium-")
            .tempdir()
            .map_err(|e| session_error(format!("failed to make a profile folder: {e}")))?;
        let capabilities = capabilities(
            self.chromium.as_deref(),
            &profile.path().to_string_lossy(),
            &proxy.url(),
            self.options.step_timeout,
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&self.webdriver)
        .await
        .map_err(|e| session_error(e.to_string()))?;
        self.every
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(client.clone());
        let main = client
            .window()
            .await
            .map_err(command_error("read the window handle"))?;
        let probe = client
            .new_window(true)
            .await
            .map_err(command_error("open the probe tab"))?
            .handle;
        client
            .switch_to_window(main.clone())
            .await
            .map_err(command_error("switch to the main tab"))?;
        Ok(Session(Arc::new(SessionInner {
            client,
            recorder,
            main,
            probe,
            step_timeout: self.options.step_timeout,
            _proxy: proxy,
            _profile: profile,
        })))
    }

    /// Closes every session (each Chromium with it), then ends ChromeDriver and whatever it
    /// left behind. Idempotent.
    pub async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let clients =
            std::mem::take(&mut *self.every.lock().unwrap_or_else(PoisonError::into_inner));
        for client in clients {
            if let Err(e) = tokio::time::timeout(Duration::from_secs(5), client.close()).await {
                tracing::warn!(error = %e, "a browser session did not close in time");
            }
        }
        let driver = self
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(driver) = driver {
            driver.stop().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Without an orderly shutdown, end the processes at least (sessions die with them).
        if let Some(mut driver) = self
            .driver
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            driver.kill_now();
        }
    }
}

/// The WebDriver capabilities of a session: headless Chromium with a fresh profile, every
/// request through the recording proxy (loopback included), nothing in the background.
fn capabilities(
    chromium: Option<&std::path::Path>,
    profile: &str,
    proxy: &str,
    step_timeout: Duration,
) -> fantoccini::wd::Capabilities {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-default-apps".to_owned(),
        "--disable-client-side-phishing-detection".to_owned(),
        "--disable-crash-reporter".to_owned(),
        "--disable-breakpad".to_owned(),
        "--password-store=basic".to_owned(),
        "--use-mock-keychain".to_owned(),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        format!("--user-data-dir={profile}"),
        format!("--proxy-server={proxy}"),
        // Chromium bypasses proxies for loopback unless told not to.
        "--proxy-bypass-list=<-loopback>".to_owned(),
    ];
    if std::env::var_os("SAML_HARNESS_HEADFUL").is_some() {
        args.retain(|a| a != "--headless");
    }
    let mut chrome = json!({ "args": args });
    if let Some(binary) = chromium {
        chrome["binary"] = Value::String(binary.to_string_lossy().into_owned());
    }
    let page_load = u64::try_from(step_timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(5_000);
    let value = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": { "pageLoad": page_load, "script": page_load },
        "goog:chromeOptions": chrome,
    });
    match value {
        Value::Object(map) => map,
        _ => fantoccini::wd::Capabilities::new(),
    }
}

/// One Chromium session with its proxy and profile. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Session(Arc<SessionInner>);

#[derive(Debug)]
struct SessionInner {
    client: fantoccini::Client,
    recorder: Arc<Recorder>,
    main: WindowHandle,
    probe: WindowHandle,
    step_timeout: Duration,
    _proxy: Proxy,
    _profile: tempfile::TempDir,
}

/// A Chrome DevTools command through ChromeDriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// The script that posts a form from the current page, as a person's browser would submit
/// one (`arguments`: the action and the fields).
const POST_SCRIPT: &str = r#"
const [action, fields] = arguments;
const form = document.createElement('form');
form.method = 'POST';
form.action = action;
for (const [name, value] of fields) {
  const input = document.createElement('input');
  input.type = 'hidden';
  input.name = name;
  input.value = value;
  form.appendChild(input);
}
(document.body || document.documentElement).appendChild(form);
form.submit();
"#;

impl Session {
    /// The WebDriver client, for driving pages the scenarios do not (the report, the mock
    /// IdP's login page). Leave the session on its main tab.
    pub fn client(&self) -> &fantoccini::Client {
        &self.0.client
    }

    async fn cdp(&self, cmd: &'static str, params: Value) -> Result<Value, BrowserError> {
        self.client()
            .issue_cmd(Cdp { cmd, params })
            .await
            .map_err(command_error(cmd))
    }

    /// A clean slate for a scenario: no cookies (for every site), nothing recorded. The tabs
    /// keep showing the last pages of the previous scenario: every scenario starts by opening
    /// a URL or posting a form, and blanking both tabs cost more than the rest of a scenario.
    async fn reset(&self) -> Result<(), BrowserError> {
        self.clear_cookies().await?;
        self.0.recorder.begin(false, false);
        let _ = self.0.recorder.finish();
        Ok(())
    }

    async fn clear_cookies(&self) -> Result<(), BrowserError> {
        self.cdp("Network.clearBrowserCookies", json!({})).await?;
        Ok(())
    }

    /// Sets a cookie (`name=value; Path=/`) for `url` without visiting it.
    async fn set_cookie(&self, cookie: &str, url: &str) -> Result<(), BrowserError> {
        let pair = cookie.split(';').next().unwrap_or_default();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        self.cdp(
            "Network.setCookie",
            json!({ "name": name.trim(), "value": value.trim(), "url": url, "path": "/" }),
        )
        .await?;
        Ok(())
    }

    /// Waits until the navigation has settled: something was recorded (or held), nothing is in
    /// flight, nothing moved for [`QUIET`], and the last answer does not promise another hop.
    async fn settle(&self, single: bool) {
        let recorder = &self.0.recorder;
        let started = Instant::now();
        let deadline = self.0.step_timeout.saturating_mul(2) + Duration::from_secs(2);
        loop {
            let activity = recorder.activity();
            let waited = started.elapsed();
            if single && activity.recorded > 0 && activity.in_flight == 0 {
                // A probe answers once and is not followed: nothing more can come.
                return;
            }
            let nothing_yet = activity.recorded == 0 && waited < FIRST_REQUEST_WAIT;
            if activity.in_flight == 0
                && activity.quiet_for >= QUIET
                && !activity.expects_more
                && !nothing_yet
            {
                return;
            }
            if waited > deadline {
                tracing::warn!("a browser navigation did not settle in time");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Takes a PNG screenshot of the main tab.
    pub async fn screenshot(&self) -> Result<Vec<u8>, BrowserError> {
        self.client()
            .screenshot()
            .await
            .map_err(command_error("take a screenshot"))
    }
}

/// A session leased for one scenario; back to the pool when released, discarded when dropped
/// without a release (a scenario that was cut short may have left it mid-command).
#[derive(Debug)]
pub struct Lease {
    browser: Arc<Browser>,
    session: Option<Session>,
    clean: bool,
}

impl Lease {
    /// The session.
    pub fn session(&self) -> Session {
        self.session
            .clone()
            .unwrap_or_else(|| unreachable!("a lease holds its session until dropped"))
    }

    /// Returns the session to the pool.
    pub fn release(mut self) {
        self.clean = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if self.clean && !self.browser.closed.load(Ordering::SeqCst) {
            self.browser
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(session);
        } else if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let client = session.client().clone();
            drop(session);
            handle.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
            });
        }
    }
}

/// One scenario's user agent in a real browser.
#[derive(Debug)]
pub struct BrowserAgent {
    session: Session,
    hops: Vec<Hop>,
    api: UserAgent,
}

impl BrowserAgent {
    /// A user agent on `session`. API calls (basic auth, no browser involved) go through an
    /// HTTP client of its own.
    pub fn new(
        session: Session,
        sp_base: &str,
        idp_base: &str,
        step_timeout: Duration,
    ) -> Result<Self, DriverError> {
        Ok(Self {
            session,
            hops: Vec::new(),
            api: UserAgent::new(sp_base, idp_base, step_timeout)?,
        })
    }

    /// The session it drives.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Another user agent with an empty cookie jar: the same browser with its cookies cleared
    /// (the previous agent's part is over when a scenario asks for a fresh one).
    pub async fn fresh(&self, sp_base: &str, idp_base: &str) -> Result<Self, DriverError> {
        self.session
            .clear_cookies()
            .await
            .map_err(|e| DriverError::Browser(e.to_string()))?;
        Self::new(
            self.session.clone(),
            sp_base,
            idp_base,
            self.session.0.step_timeout,
        )
    }

    /// Adds a cookie for `url`, as if that server had set it.
    pub async fn add_cookie(&self, cookie: &str, url: &str) -> Result<(), DriverError> {
        self.session
            .set_cookie(cookie, url)
            .await
            .map_err(|e| DriverError::Browser(e.to_string()))
    }

    /// The hops so far.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// Takes the hops, leaving none.
    pub fn take_hops(&mut self) -> Vec<Hop> {
        std::mem::take(&mut self.hops)
    }

    /// Opens `url` in the main tab (GET), or submits a form to it from the current page
    /// (POST), and lets the browser follow redirects and run the pages' scripts (the SAML
    /// auto-submit forms) until it settles.
    pub async fn navigate(
        &mut self,
        method: &str,
        url: &str,
        form: Vec<(String, String)>,
        seen: &mut SamlSeen,
    ) -> Result<Page, DriverError> {
        let started = Instant::now();
        let recorder = &self.session.0.recorder;
        recorder.begin(seen.hold_response, false);
        let client = self.session.client();
        let command = if method == "POST" {
            let fields: Vec<Value> = form.iter().map(|(k, v)| json!([k, v])).collect();
            client
                .execute(POST_SCRIPT, vec![json!(url), Value::Array(fields)])
                .await
                .map(|_| ())
        } else {
            client.goto(url).await
        };
        if let Err(e) = &command {
            tracing::debug!(error = %e, url, "the browser reported an error while navigating");
        }
        let commanded = started.elapsed();
        self.session.settle(false).await;
        tracing::debug!(
            url,
            command_ms = commanded.as_millis(),
            settled_ms = started.elapsed().as_millis(),
            "navigation settled"
        );
        let log = recorder.finish();
        self.hops.extend(log.hops.iter().cloned());
        if log.request.is_some() {
            seen.request = log.request;
        }
        if log.response_post.is_some() {
            seen.response_post = log.response_post;
        }
        if log.off_origin.is_some() {
            seen.off_origin_redirect = log.off_origin;
        }
        if let Some(hop) = log.hops.last()
            && let Some(error) = &hop.error
        {
            return Err(DriverError::Request {
                method: hop.method.clone(),
                url: hop.url.clone(),
                message: error.clone(),
            });
        }
        let Some(page) = log.pages.last().cloned() else {
            return Err(match command {
                Err(e) => DriverError::Browser(format!("failed to open {url}: {e}")),
                Ok(()) if seen.off_origin_redirect.is_some() => {
                    return Ok(Page {
                        url: url.to_owned(),
                        status: 204,
                        body: String::new(),
                    });
                }
                Ok(()) => DriverError::Browser(format!(
                    "the browser made no request for {url} within {} s",
                    FIRST_REQUEST_WAIT.as_secs()
                )),
            });
        };
        if log.posted_response {
            seen.after_response = Some(page.clone());
        }
        Ok(page)
    }

    /// GETs a URL in the probe tab, one request, not followed (the session probe); the main
    /// tab keeps showing the SP's answer.
    pub async fn get(&mut self, url: &str) -> Result<Page, DriverError> {
        let inner = &self.session.0;
        let client = self.session.client();
        let browser_error = |e: fantoccini::error::CmdError| DriverError::Browser(e.to_string());
        client
            .switch_to_window(inner.probe.clone())
            .await
            .map_err(browser_error)?;
        let started = Instant::now();
        inner.recorder.begin(false, true);
        let command = client.goto(url).await;
        let commanded = started.elapsed();
        self.session.settle(true).await;
        let log = inner.recorder.finish();
        client
            .switch_to_window(inner.main.clone())
            .await
            .map_err(browser_error)?;
        tracing::debug!(
            url,
            command_ms = commanded.as_millis(),
            done_ms = started.elapsed().as_millis(),
            "probe"
        );
        self.hops.extend(log.hops.iter().take(1).cloned());
        if let Some(hop) = log.hops.first()
            && let Some(error) = &hop.error
        {
            return Err(DriverError::Request {
                method: "GET".to_owned(),
                url: url.to_owned(),
                message: error.clone(),
            });
        }
        match log.pages.into_iter().next() {
            Some(page) => Ok(page),
            None => Err(DriverError::Browser(match command {
                Err(e) => format!("failed to open {url}: {e}"),
                Ok(()) => format!("the browser made no request for {url}"),
            })),
        }
    }

    /// GETs a URL with HTTP basic auth: an API client, not a browser.
    pub async fn get_basic(
        &mut self,
        url: &str,
        user: &str,
        password: &str,
    ) -> Result<Page, DriverError> {
        let page = self.api.get_basic(url, user, password).await;
        self.hops.extend(self.api.take_hops());
        page
    }

    /// A PNG of what the main tab shows.
    pub async fn screenshot(&self) -> Result<Vec<u8>, DriverError> {
        self.session
            .screenshot()
            .await
            .map_err(|e| DriverError::Browser(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_headless_proxied_and_isolated() {
        let caps = capabilities(
            Some(std::path::Path::new("/usr/bin/chromium")),
            "/tmp/profile-1",
            "http://127.0.0.1:4444",
            Duration::from_secs(10),
        );
        let args: Vec<&str> = caps["goog:chromeOptions"]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for wanted in [
            "--no-sandbox",
            "--user-data-dir=/tmp/profile-1",
            "--proxy-server=http://127.0.0.1:4444",
            "--proxy-bypass-list=<-loopback>",
            "--disable-background-networking",
        ] {
            assert!(args.contains(&wanted), "{wanted} in {args:?}");
        }
        assert_eq!(caps["goog:chromeOptions"]["binary"], "/usr/bin/chromium");
        assert_eq!(caps["timeouts"]["pageLoad"], 15_000);
    }
}
