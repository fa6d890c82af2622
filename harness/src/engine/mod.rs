//! The engine: runs scenarios against an [`Environment`] and reports through events.
//!
//! - `schedule`: bounded parallelism, the settings lock (`batches`: scenarios that need the
//!   same hooks run together, those that change the SP or the mock IdP as they run, alone),
//!   timeouts, events; each scenario is judged once its exchange and its control's are known.
//! - `conformance`: the SP-side conformance scenarios, judged from the SP's metadata and the
//!   AuthnRequests of a few SP-initiated logins, collected once per run.
//! - `controls`: preflight (whether a scenario can run on the target, which hooks it needs)
//!   and the run's controls, each run once and shared.
//! - `flows`: one scenario's steps and flow in a fresh user agent, recorded for the judge.
//! - `observe`: the session probe, refusal pages, the SAML messages in the trace, transport
//!   failures, and what the IdP's signatures vouched for.

mod batches;
mod conformance;
mod controls;
mod flows;
mod observe;
mod schedule;

pub use self::controls::check_inputs;
pub use self::observe::decode_saml;
pub use self::schedule::{Event, Outcome, RunOptions, run};

use std::sync::Arc;

use crate::driver::browser::Browser;
use crate::env::Environment;

/// What every scenario of a run shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    env: &'a Environment,
    options: RunOptions,
    browser: Option<&'a Arc<Browser>>,
    breaker: &'a schedule::Breaker,
    /// Permits of the exchanges that run in environments of their own
    /// ([`Environment::private_copy`]): the run's `jobs` bound what one SP is asked at once,
    /// and a copy is an SP of its own, so these do not queue behind the shared SP's work.
    copies: &'a tokio::sync::Semaphore,
}
