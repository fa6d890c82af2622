//! Executors: how a batch of plans reaches an SP and what it did with each.
//!
//! In-process: the mock IdP's pipeline builds and signs the response, and the reference SP's
//! validator judges it, on as many threads as asked, with no HTTP. Over HTTP: each plan
//! becomes a scenario and goes through the engine (the same driver, mock IdP and session
//! probe as `run`), against any target.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use mock_idp::authn_request::AuthnRequestInfo;
use mock_idp::plan::ResponseBinding;
use mock_idp::response::{BuiltResponse, PipelineError};
use mock_idp::{Idp, IdpSettings, KeyStore, KeyType, Plan, SpEntry, SystemClock};
use reference_sp::{Connection, Settings, Weakening};
use tokio::sync::mpsc;

use crate::engine::{self, RunOptions};
use crate::env::Environment;
use crate::scenario::{Flow, Level, Origin, Requirements, Scenario, ScenarioFile};
use crate::target::Target;
use crate::template::Vars;
use crate::verdict::Observation;

use super::FuzzError;
use super::oracle;

/// What the SP did with one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Signed in; the identity as the SP names it.
    SignedIn(String),
    /// Nobody signed in; the SP's reason when it showed one.
    Refused(Option<String>),
    /// The mock IdP cannot build this plan (a tampering that does not fit the layout, ...):
    /// the case says nothing about the SP.
    Discarded(String),
    /// The harness or the SP's infrastructure failed.
    Error(String),
}

impl Observed {
    /// In words.
    pub fn summary(&self) -> String {
        match self {
            Observed::SignedIn(who) => format!("signed in as {who}"),
            Observed::Refused(Some(reason)) => format!("refused ({reason})"),
            Observed::Refused(None) => "refused".to_owned(),
            Observed::Discarded(why) => format!("discarded: {why}"),
            Observed::Error(e) => format!("error: {e}"),
        }
    }
}

/// The reference SP's validator, called directly.
#[derive(Debug)]
pub struct InProcess {
    idp: Idp,
    sp: SpEntry,
    acs_url: String,
    connection: Connection,
    settings: Settings,
    weaken: BTreeSet<Weakening>,
    vars: Vars,
    users: BTreeMap<String, String>,
}

const REQUEST_ID: &str = "_fuzz-request-0123456789abcdef";

impl InProcess {
    /// A mock IdP with the keys of `key_cache` (made and kept there on first use; fresh keys
    /// in memory without one) and the reference SP's default settings, with `weaken` turned
    /// off; users and URLs from the embedded reference target.
    pub fn new(
        weaken: &[Weakening],
        key_type: KeyType,
        key_cache: Option<&std::path::Path>,
    ) -> Result<Self, FuzzError> {
        let target = Target::embedded_reference_sp()
            .map_err(|e| crate::error::Error::input(e.to_string()))?;
        let mut vars = target
            .vars(Some("http://sp.fuzz.test"))
            .map_err(|e| crate::error::Error::input(e.to_string()))?;
        let idp_entity = "http://idp.fuzz.test/metadata";
        vars.set("idp.entity_id", idp_entity)
            .set("idp.base_url", "http://idp.fuzz.test")
            .set("witness.url", "http://127.0.0.1:9/fuzz-witness");
        let keys = match key_cache {
            Some(dir) => KeyStore::load_or_create(dir, key_type),
            None => KeyStore::generate(key_type),
        }
        .map_err(|e| crate::error::Error::harness(e.to_string()))?;
        let idp = Idp::new(
            IdpSettings {
                entity_id: idp_entity.to_owned(),
                base_url: "http://idp.fuzz.test".to_owned(),
                default_user: vars
                    .get("users.member.email")
                    .unwrap_or_default()
                    .to_owned(),
            },
            keys,
            Arc::new(SystemClock),
        );
        let sp_entity = vars.get("sp.entity_id").unwrap_or_default().to_owned();
        let acs = vars.get("sp.acs_url").unwrap_or_default().to_owned();
        let sp = SpEntry::new(&sp_entity, &acs);
        idp.register_entry(sp.clone());
        let connection = Connection::from_metadata(&idp.metadata_xml()).map_err(|e| {
            crate::error::Error::harness(format!("failed to read the mock IdP's metadata: {e}"))
        })?;
        let users = target
            .file
            .users
            .iter()
            .map(|(name, user)| (name.clone(), user.email.clone()))
            .collect();
        Ok(Self {
            idp,
            sp,
            acs_url: acs,
            connection,
            settings: Settings::default(),
            weaken: weaken.iter().copied().collect(),
            vars,
            users,
        })
    }

    /// The logical users and their emails.
    pub fn users(&self) -> &BTreeMap<String, String> {
        &self.users
    }

    /// Builds, signs and validates one case.
    pub fn run(&self, plan: &Plan, user: &str) -> Observed {
        match self.encode(plan, user) {
            Ok(encoded) => self.validate(&encoded),
            Err(observed) => observed,
        }
    }

    /// The mock IdP's response to `plan` (filled in already), answering the one outstanding
    /// request.
    pub fn respond(&self, plan: &Plan) -> Result<BuiltResponse, PipelineError> {
        let request = AuthnRequestInfo::plain(REQUEST_ID, &self.sp.entity_id, &self.acs_url);
        self.idp
            .respond(plan, &self.sp, &self.acs_url, Some(&request))
    }

    /// The mock IdP's half of a case: the plan filled in, the response built and signed, and
    /// encoded as its binding's `SAMLResponse` value (or why the case ends here).
    pub fn encode(&self, plan: &Plan, user: &str) -> Result<String, Observed> {
        let plan = match fill(plan, &self.vars) {
            Ok(mut plan) => {
                if plan.user.is_none() {
                    plan.user = self.users.get(user).cloned();
                }
                plan
            }
            Err(e) => return Err(Observed::Discarded(e)),
        };
        let built = match self.respond(&plan) {
            Ok(b) => b,
            Err(e) if e.is_plan_error() => return Err(Observed::Discarded(e.to_string())),
            // A response the IdP signed but cannot verify itself is the IdP's bug, not a case
            // to drop quietly.
            Err(e @ PipelineError::SelfCheck(_)) => return Err(Observed::Error(e.to_string())),
            Err(e) => {
                return Err(Observed::Discarded(format!(
                    "the mock IdP cannot build it: {e}"
                )));
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        match plan.binding {
            ResponseBinding::Post => Ok(b64.encode(&built.xml)),
            ResponseBinding::PostDoubleBase64 => Ok(b64.encode(b64.encode(&built.xml))),
            ResponseBinding::PostDeflated => {
                let mut encoder =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                match encoder
                    .write_all(built.xml.as_bytes())
                    .and_then(|()| encoder.finish())
                {
                    Ok(bytes) => Ok(b64.encode(bytes)),
                    Err(e) => Err(Observed::Error(format!("failed to deflate: {e}"))),
                }
            }
            ResponseBinding::Redirect => Err(Observed::Discarded(
                "the Redirect binding needs HTTP (the validator takes a POST value)".into(),
            )),
        }
    }

    /// The reference SP's half of a case: its ACS validation of an encoded `SAMLResponse`
    /// (answering the one outstanding request [`Self::encode`] answers), at this instant.
    pub fn validate(&self, encoded: &str) -> Observed {
        let outstanding = [REQUEST_ID.to_owned()];
        let ctx = reference_sp::Context {
            sp_entity_id: &self.sp.entity_id,
            acs_url: &self.acs_url,
            connection: &self.connection,
            settings: &self.settings,
            weaken: &self.weaken,
            outstanding: &outstanding,
            relay_request: None,
            now: chrono::Utc::now(),
            decryption_key: None,
        };
        match reference_sp::validate_response(encoded, &ctx) {
            Ok(login) => Observed::SignedIn(login.email),
            Err(refusal) => Observed::Refused(Some(refusal.reason.to_string())),
        }
    }

    /// Runs a batch on `jobs` threads; the observations come back in order.
    pub fn run_batch(&self, cases: &[(Plan, String)], jobs: usize) -> Vec<Observed> {
        let jobs = jobs.clamp(1, cases.len().max(1));
        let chunk = cases.len().div_ceil(jobs).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(plan, user)| self.run(plan, user))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Observed::Error("a fuzz worker thread panicked".into())]
                    })
                })
                .collect()
        })
    }
}

/// The plan with placeholders filled.
fn fill(plan: &Plan, vars: &Vars) -> Result<Plan, String> {
    let mut json =
        serde_json::to_value(plan).map_err(|e| format!("failed to serialize the plan: {e}"))?;
    vars.render_json(&mut json)
        .map_err(|e| format!("failed to fill the plan: {e}"))?;
    serde_json::from_value(json).map_err(|e| format!("failed to read the filled plan: {e}"))
}

/// Any target, through the engine.
#[derive(Debug)]
pub struct OverHttp {
    env: Arc<Environment>,
    options: RunOptions,
}

impl OverHttp {
    /// Uses a started environment.
    pub fn new(env: Arc<Environment>, options: RunOptions) -> Self {
        Self { env, options }
    }

    /// The environment (to stop it afterwards).
    pub fn into_env(self) -> Arc<Environment> {
        self.env
    }

    /// The logical users and their emails.
    pub fn users(&self) -> BTreeMap<String, String> {
        self.env
            .target()
            .file
            .users
            .iter()
            .map(|(name, user)| (name.clone(), user.email.clone()))
            .collect()
    }

    /// Runs a batch as scenarios, in parallel (`--jobs`); observations in order.
    pub async fn run_batch(&self, cases: &[(Plan, oracle::Verdict)]) -> Vec<Observed> {
        let scenarios: Vec<Scenario> = cases
            .iter()
            .enumerate()
            .map(|(i, (plan, verdict))| Scenario {
                id: format!("fuzz/case-{i:06}"),
                origin: Origin::Embedded,
                file: scenario_file(plan, verdict, "fuzz case".to_owned()),
            })
            .collect();
        let (tx, _rx) = mpsc::unbounded_channel();
        // The oracle judges fuzz cases itself, plan by plan: no controls, no profile.
        let options = RunOptions {
            controls: false,
            ..self.options
        };
        let verdicts = engine::run(Arc::clone(&self.env), scenarios, options, None, tx)
            .await
            .verdicts;
        let by_id: BTreeMap<&str, &crate::verdict::Verdict> =
            verdicts.iter().map(|v| (v.id.as_str(), v)).collect();
        (0..cases.len())
            .map(|i| {
                let id = format!("fuzz/case-{i:06}");
                match by_id.get(id.as_str()) {
                    None => Observed::Error("the engine returned no verdict".into()),
                    Some(v) => match &v.observation {
                        Some(Observation::SignedIn { identity, .. }) => {
                            Observed::SignedIn(identity.clone())
                        }
                        Some(Observation::NotSignedIn { reason, .. }) => {
                            // The mock IdP answers a plan it cannot build with an error
                            // page instead of a response: nothing reached the SP's ACS.
                            let idp_status = |bad: fn(u16) -> bool| {
                                v.evidence
                                    .hops
                                    .iter()
                                    .any(|h| h.to == "idp" && h.status.is_some_and(bad))
                            };
                            if idp_status(|s| s >= 500) {
                                // A 500 is the IdP's own failure (a response it signed but
                                // could not verify itself), not a plan it refused.
                                Observed::Error(format!("the mock IdP failed ({})", v.reason))
                            } else if idp_status(|s| s >= 400) {
                                Observed::Discarded(format!(
                                    "the mock IdP could not build the response ({})",
                                    v.reason
                                ))
                            } else {
                                Observed::Refused(reason.clone())
                            }
                        }
                        Some(Observation::Error { message }) => Observed::Error(message.clone()),
                        None => Observed::Error(v.reason.clone()),
                    },
                }
            })
            .collect()
    }
}

/// The scenario a plan and its oracle verdict make.
pub fn scenario_file(plan: &Plan, verdict: &oracle::Verdict, title: String) -> ScenarioFile {
    let severity = match verdict.expected() {
        // A scenario file gives the severity of the non-conformance alone; `critical` is the
        // judge's, from what the SP does (another identity signed in).
        oracle::Expected::Refused => match verdict.refusal_severity() {
            crate::scenario::Severity::Critical => crate::scenario::Severity::High,
            other => other,
        },
        oracle::Expected::SignedIn => crate::scenario::Severity::Medium,
        oracle::Expected::Either => crate::scenario::Severity::High,
    };
    ScenarioFile {
        title,
        spec: verdict.spec(),
        rules: verdict.rules(),
        level: Level::Must,
        severity,
        description: None,
        flow: Flow::SpInitiated,
        // The forged identity types its email; the IdP signs for the signed user.
        user: verdict.typed.clone(),
        relay_state: None,
        sp_login: crate::scenario::SpLogin::Usual,
        requires: Requirements::default(),
        steps: Vec::new(),
        catches: Vec::new(),
        layouts: Vec::new(),
        plan: {
            let mut plan = plan.clone();
            if plan.user.is_none() && verdict.typed != verdict.user {
                plan.user = Some(format!("{{users.{}.email}}", verdict.user));
            }
            plan
        },
        expect: verdict.expectation(),
        control: crate::scenario::ControlOverride::default(),
    }
}
