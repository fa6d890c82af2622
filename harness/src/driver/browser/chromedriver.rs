//! Finding Chromium and ChromeDriver, and running ChromeDriver on a free loopback port.
//!
//! ChromeDriver runs in a process group of its own, and every Chromium it launches inherits
//! that group: stopping the group ends them all, even a browser whose session could not be
//! closed (killing ChromeDriver alone leaves its browsers running).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::BrowserError;

/// How long ChromeDriver has to answer `/status` after it starts.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// ChromeDriver: `$CHROMEDRIVER`, else `chromedriver` on the `PATH`, else Debian's
/// `/usr/bin/chromedriver`.
pub fn find_chromedriver() -> Option<PathBuf> {
    find("CHROMEDRIVER", "chromedriver", &["/usr/bin/chromedriver"])
}

/// Chromium: `$CHROMIUM`, else `chromium` on the `PATH`, else Debian's `/usr/bin/chromium`.
/// `None` lets ChromeDriver look for a browser itself.
pub fn find_chromium() -> Option<PathBuf> {
    find("CHROMIUM", "chromium", &["/usr/bin/chromium"])
}

fn find(variable: &str, name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable).map(PathBuf::from)
        && path.is_file()
    {
        return Some(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A ChromeDriver process the harness started.
#[derive(Debug)]
pub(crate) struct DriverProcess {
    child: tokio::process::Child,
    group: Option<Pid>,
    url: String,
}

impl DriverProcess {
    /// Starts ChromeDriver on a free loopback port and waits until it answers.
    pub(crate) async fn start() -> Result<Self, BrowserError> {
        let binary = find_chromedriver().ok_or_else(|| {
            BrowserError::Driver(
                "chromedriver not found: run `cargo xtask setup` (Debian: apt-get install chromium chromium-driver), set CHROMEDRIVER, or pass --webdriver URL".to_owned(),
            )
        })?;
        let port = free_port().map_err(|e| BrowserError::Driver(format!("no free port: {e}")))?;
        crate::watchdog::arm();
        let child = tokio::process::Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg("--log-level=OFF")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BrowserError::Driver(format!("failed to run {}: {e}", binary.display()))
            })?;
        if let Some(id) = child.id() {
            crate::watchdog::guard(id);
        }
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let mut process = Self {
            child,
            group,
            url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(e) = process.wait_ready(&binary).await {
            process.kill_now();
            return Err(e);
        }
        Ok(process)
    }

    async fn wait_ready(&mut self, binary: &Path) -> Result<(), BrowserError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| BrowserError::Driver(e.to_string()))?;
        let status = format!("{}/status", self.url);
        let started = Instant::now();
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                return Err(BrowserError::Driver(format!(
                    "{} exited at start ({exit})",
                    binary.display()
                )));
            }
            if let Ok(response) = client.get(&status).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                return Err(BrowserError::Driver(format!(
                    "{} did not answer {status} within {} s",
                    binary.display(),
                    READY_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The WebDriver URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Asks the process group to stop, then kills what is left.
    pub(crate) async fn stop(mut self) {
        if let Some(group) = self.group {
            let _ = killpg(group, Signal::SIGTERM);
        }
        let exited = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        if exited.is_err() {
            let _ = self.child.start_kill();
        }
        // Browsers that outlived their driver.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.kill_now();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
    }

    /// Kills the whole process group at once (synchronous: usable in `Drop`).
    pub(crate) fn kill_now(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = killpg(group, Signal::SIGKILL);
            if let Ok(id) = u32::try_from(group.as_raw()) {
                crate::watchdog::release(id);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Checks that a WebDriver server answers `GET /status` at `url`.
pub(crate) async fn check_status(url: &str) -> Result<(), BrowserError> {
    let status = format!("{url}/status");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| BrowserError::Driver(e.to_string()))?;
    match client.get(&status).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(BrowserError::Driver(format!(
            "the WebDriver server at {url} answered {} to /status",
            r.status()
        ))),
        Err(e) => Err(BrowserError::Driver(format!(
            "no WebDriver server answers at {url}: {e}"
        ))),
    }
}

/// A loopback port free now (bound, then let go).
pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
