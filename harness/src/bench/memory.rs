//! The mock IdP's resident memory (DESIGN.md section 8: under 50 MB, bounded whatever the
//! input or the number of requests), measured on a process of its own: `saml-harness idp
//! serve` on a free loopback port, fed signed-response requests and oversized ones, then read
//! from `/proc/PID/status` (`VmRSS` after start-up, `VmHWM` at the end) and stopped by its pid
//! (as the harness starts and stops an SP).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env::{ChildGuard, wait_ready};
use crate::error::Error;

/// The budget, megabytes.
pub const BUDGET_MB: f64 = 50.0;

/// The SP the mock IdP signs for (its ACS is never called: the harness only reads the form).
const SP: &str = "urn:saml-harness:bench:sp";

/// The size of each oversized request's body: over the mock IdP's limits.
const OVERSIZED_BYTES: usize = 4 << 20;

/// What the mock IdP process held.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpMemory {
    /// Signed responses it made (IdP-initiated logins, Response signed), answered 200 with the
    /// SAML form.
    pub signed_responses: u64,
    /// Requests of 4 MiB it was sent (an AuthnRequest posted to its SSO URL).
    pub oversized_requests: u64,
    /// Resident memory once it answered its metadata, megabytes (`VmRSS`).
    pub started_mb: f64,
    /// Resident memory at the end, megabytes (`VmRSS`).
    pub end_mb: f64,
    /// The most it ever held, megabytes (`VmHWM`).
    pub peak_mb: f64,
    /// DESIGN.md section 8's ceiling for the peak, megabytes.
    pub budget_mb: f64,
}

/// The program to start as the mock IdP: `exe` when given, else this process's own
/// executable, when it is `saml-harness` (in a test, this process is the test binary, which
/// has no `idp serve`).
pub fn idp_program(exe: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(exe) = exe {
        return Ok(exe.to_path_buf());
    }
    let own = std::env::current_exe().map_err(|e| format!("this process's executable: {e}"))?;
    if own.file_stem().is_some_and(|s| s == "saml-harness") {
        Ok(own)
    } else {
        Err(format!(
            "this process ({}) is not saml-harness, whose `idp serve` the measure starts",
            own.display()
        ))
    }
}

/// Starts `program idp serve`, sends it `signed` signed-response requests (4 at a time) and
/// `oversized` requests of 4 MiB, and reads its memory.
pub async fn measure(program: &Path, signed: u64, oversized: u64) -> Result<IdpMemory, Error> {
    let state = tempfile::tempdir()
        .map_err(|e| Error::harness(format!("failed to make a folder for the IdP's keys: {e}")))?;
    let port = crate::driver::browser::free_port()
        .map_err(|e| Error::harness(format!("failed to find a free loopback port: {e}")))?;
    let base = format!("http://127.0.0.1:{port}");
    let argv = [
        program.display().to_string(),
        "idp".to_owned(),
        "serve".to_owned(),
        "--bind".to_owned(),
        format!("127.0.0.1:{port}"),
        "--state".to_owned(),
        state.path().display().to_string(),
        "--sp".to_owned(),
        format!("{SP}=http://127.0.0.1:9/acs"),
    ];
    let mut child = ChildGuard::spawn("the mock IdP", &argv, &[], Path::new("."), None)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::harness(format!("failed to build an HTTP client: {e}")))?;
    wait_ready(
        &client,
        &format!("{base}/metadata"),
        Duration::from_secs(30),
        &mut child,
    )
    .await?;
    let pid = child
        .pid()
        .ok_or_else(|| Error::harness("the mock IdP exited as it started".to_owned()))?;
    let started_mb = status_mb(pid, "VmRSS")?;

    let url = format!("{base}/idp-initiated?sp={SP}&user=alice%40corp.example");
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        workers.spawn(async move {
            for _ in (w..signed).step_by(4) {
                let answer = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                let status = answer.status();
                let body = answer.text().await.map_err(|e| format!("GET {url}: {e}"))?;
                if !status.is_success() || !body.contains("SAMLResponse") {
                    return Err(format!(
                        "GET {url} answered {status} without a SAML form: {}",
                        body.chars().take(200).collect::<String>()
                    ));
                }
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| Error::harness(format!("a request worker failed: {e}")))?
            .map_err(Error::harness)?;
    }
    let body = format!("SAMLRequest={}", "A".repeat(OVERSIZED_BYTES));
    for _ in 0..oversized {
        // The IdP may refuse before it has read the body, and close the connection: either
        // way it must not hold it.
        let _ = client
            .post(format!("{base}/sso"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
    }
    let end_mb = status_mb(pid, "VmRSS")?;
    let peak_mb = status_mb(pid, "VmHWM")?;
    child.stop().await;
    Ok(IdpMemory {
        signed_responses: signed,
        oversized_requests: oversized,
        started_mb,
        end_mb,
        peak_mb,
        budget_mb: BUDGET_MB,
    })
}

/// A `kB` line of `/proc/PID/status`, in megabytes (10^6 bytes).
fn status_mb(pid: u32, field: &str) -> Result<f64, Error> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::harness(format!("failed to read {path}: {e}")))?;
    parse_status_kb(&text, field)
        .map(|kb| kb as f64 * 1024.0 / 1e6)
        .ok_or_else(|| Error::harness(format!("{path} has no `{field}:` line in kB")))
}

/// The value of a `FIELD:   1234 kB` line.
fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_kilobytes() {
        let text = "Name:\tsaml-harness\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(30720));
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(20480));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
        assert_eq!(parse_status_kb("VmRSS:\tlots\n", "VmRSS"), None);
    }

    #[test]
    fn a_test_binary_is_not_taken_for_the_harness() {
        let err = idp_program(None).expect_err("the test binary has no `idp serve`");
        assert!(err.contains("is not saml-harness"), "{err}");
        assert_eq!(
            idp_program(Some(Path::new("/x/saml-harness"))),
            Ok(PathBuf::from("/x/saml-harness"))
        );
    }
}
