//! End-to-end suites across the workspace: the harness driving real SPs.
//!
//! - `catalogue`: the embedded catalogue, its schema and its listing.
//! - `reference`: the whole catalogue against the reference SP in-process; the committed
//!   baseline `reports/reference-sp/report.md` must equal a fresh run's.
//! - `self_test`: against `reference-sp --weaken X`, exactly the scenarios that declare they
//!   catch X stop passing.
//! - `fuzz`: `saml-harness fuzz` over HTTP; its minimal scenarios replay through `run`.
//! - `browser`: the browser driver in real Chromium: the catalogue gives the same verdicts and
//!   traces as over HTTP; the HTML report and the mock IdP's login page work for a person.
//! - `real_sps`: the catalogue against the real third-party SPs under `targets/` (node-saml,
//!   Shibboleth SP, SimpleSAMLphp; `cargo xtask setup` installs what they need), each held to
//!   its committed baseline.
//! - `init`: `saml-harness init` against each real SP: the file it writes runs the logins as
//!   written; without a working login it says what is missing and a run stops at it.
//! - `dist`: the Debian package of `cargo xtask dist` (from this run's debug binaries): its
//!   contents and dependencies; as root, installed system-wide, run from a fresh folder, purged.
//! - `trust`: transport failures are errors, refusals without a passing control are
//!   inconclusive, target-file typos stop the run, verdicts do not depend on `--jobs`.

mod browser;
mod catalogue;
mod dist;
mod fuzz;
mod init;
mod real_sps;
mod reference;
mod self_test;
mod support;
mod trust;
mod wrapping;
