//! The engine: runs scenarios against an [`Environment`] with bounded parallelism, a fresh
//! user agent per scenario and a timeout on every step, and reports through events.
//!
//! Scenarios that need an SP setting changed run alone: they take the settings lock for
//! writing, run the setting's hook, run, and run the `reset` hook; every other scenario holds
//! the lock for reading, so parallelism is kept everywhere else.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::sync::{RwLock, Semaphore, mpsc};

use crate::driver::http::{Binding, SamlSeen, UserAgent};
use crate::env::Environment;
use crate::judge::judge;
use crate::scenario::{Flow, Scenario};
use crate::template::Vars;
use crate::verdict::{Evidence, Observation, Status, Verdict};

/// How scenarios run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Scenarios in flight at once.
    pub jobs: usize,
    /// The timeout of every HTTP request.
    pub step_timeout: Duration,
    /// The timeout of a whole scenario.
    pub scenario_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(4, |n| n.get() * 2),
            step_timeout: Duration::from_secs(10),
            scenario_timeout: Duration::from_secs(60),
        }
    }
}

/// What the engine tells its reporter.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins with this many scenarios.
    RunStarted {
        /// The count.
        total: usize,
    },
    /// A scenario finished.
    ScenarioFinished(Box<Verdict>),
}

/// Runs every scenario and returns the verdicts in id order. Events go to `events` as they
/// happen (a closed receiver is fine).
pub async fn run(
    env: Arc<Environment>,
    scenarios: Vec<Scenario>,
    options: RunOptions,
    events: mpsc::UnboundedSender<Event>,
) -> Vec<Verdict> {
    let _ = events.send(Event::RunStarted {
        total: scenarios.len(),
    });
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let settings = Arc::new(RwLock::new(()));
    let mut tasks = tokio::task::JoinSet::new();
    for scenario in scenarios {
        let env = Arc::clone(&env);
        let permits = Arc::clone(&permits);
        let settings = Arc::clone(&settings);
        let events = events.clone();
        tasks.spawn(async move {
            let verdict = run_one(&env, &scenario, options, &permits, &settings).await;
            let _ = events.send(Event::ScenarioFinished(Box::new(verdict.clone())));
            verdict
        });
    }
    let mut verdicts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(v) => verdicts.push(v),
            Err(e) => tracing::error!(error = %e, "a scenario task failed"),
        }
    }
    verdicts.sort_by(|a, b| a.id.cmp(&b.id));
    verdicts
}

async fn run_one(
    env: &Environment,
    scenario: &Scenario,
    options: RunOptions,
    permits: &Semaphore,
    settings: &RwLock<()>,
) -> Verdict {
    let target = env.target();
    // Skips first: capabilities, then settings that no hook can set.
    for capability in &scenario.file.requires.capabilities {
        if target.file.capabilities.get(capability) != Some(&true) {
            return skipped(
                scenario,
                format!(
                    "target {} does not declare capability `{capability}`",
                    target.file.name
                ),
            );
        }
    }
    let mut hooks = Vec::new();
    for setting in &scenario.file.requires.settings {
        match target.can_set(setting) {
            Ok(true) => hooks.push(setting.clone()),
            Ok(false) => {}
            Err(reason) => return skipped(scenario, reason),
        }
    }

    let body = async {
        if hooks.is_empty() {
            let _shared = settings.read().await;
            let _permit = permits.acquire().await;
            let started = Instant::now();
            timed(execute(env, scenario, options, &[]).await, started)
        } else {
            let _exclusive = settings.write().await;
            let _permit = permits.acquire().await;
            let started = Instant::now();
            let mut notes = Vec::new();
            for hook in &hooks {
                if let Err(e) = env.run_hook(hook).await {
                    let _ = env.run_hook("reset").await;
                    return errored(scenario, e.to_string(), Evidence::default());
                }
                notes.push(format!("hook `{hook}` set the SP up"));
            }
            let verdict = timed(execute(env, scenario, options, &notes).await, started);
            if let Err(e) = env.run_hook("reset").await {
                tracing::error!(error = %e, scenario = %scenario.id, "reset hook failed");
                let mut v = verdict;
                v.evidence
                    .notes
                    .push(format!("the reset hook failed afterwards: {e}"));
                return v;
            }
            verdict
        }
    };
    match tokio::time::timeout(options.scenario_timeout, body).await {
        Ok(v) => v,
        Err(_) => errored(
            scenario,
            format!(
                "the scenario did not finish within {} s",
                options.scenario_timeout.as_secs()
            ),
            Evidence::default(),
        ),
    }
}

/// Stamps a verdict with the time since `started` (its hooks included, its queueing not).
fn timed(mut verdict: Verdict, started: Instant) -> Verdict {
    verdict.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    verdict
}

/// Runs the flow and judges it.
async fn execute(
    env: &Environment,
    scenario: &Scenario,
    options: RunOptions,
    notes: &[String],
) -> Verdict {
    let mut evidence = Evidence {
        notes: notes.to_vec(),
        ..Evidence::default()
    };
    let target = env.target();
    let user_name = &scenario.file.user;
    let Some(user) = target.file.users.get(user_name) else {
        return errored(
            scenario,
            format!(
                "the scenario's user `{user_name}` is not in target {}'s [users]",
                target.file.name
            ),
            evidence,
        );
    };
    let token = mock_idp::xml::new_id()
        .trim_start_matches('_')
        .chars()
        .take(16)
        .collect::<String>();
    let witness_url = env.witness().url_for(&token);
    let mut vars = env.vars().clone();
    vars.set("witness.url", witness_url.clone());
    vars.set("user.name", user_name.clone())
        .set("user.email", user.email.clone())
        .set("user.password", user.password.clone().unwrap_or_default());

    let plan = match render_plan(scenario, &vars, &user.email) {
        Ok(plan) => plan,
        Err(message) => return errored(scenario, message, evidence),
    };
    evidence.plan = serde_json::to_value(&plan).ok();
    let plan_id = env.idp().idp().create_plan(plan);
    let idp_base = env.idp().base_url().to_owned();
    let sp_base = env.sp_base().to_owned();

    let mut off_origin = None;
    let observation = match drive(
        env,
        scenario,
        &vars,
        &user.email,
        plan_id.as_str(),
        &idp_base,
        &sp_base,
        options,
        &mut evidence,
        &mut off_origin,
    )
    .await
    {
        Ok(o) => o,
        Err(message) => Observation::Error { message },
    };
    let mut judgement = judge(
        &scenario.file.expect,
        scenario.file.level,
        scenario.file.severity,
        user_name,
        &observation,
        &target.file.users,
        off_origin.as_deref(),
    );
    let fetched = env.witness().hits_for(&token);
    if !fetched.is_empty() {
        for hit in &fetched {
            evidence.notes.push(format!(
                "the SP fetched the witness: {} {}",
                hit.method, hit.path
            ));
        }
        judgement = crate::judge::fetched(judgement, &witness_url, fetched.len());
    }
    Verdict {
        id: scenario.id.clone(),
        title: scenario.file.title.clone(),
        status: judgement.status,
        severity: judgement.severity,
        level: scenario.file.level,
        expected: judgement.expected,
        observed: observation.summary(),
        reason: judgement.reason,
        spec: scenario.file.spec.clone(),
        duration_ms: 0,
        observation: Some(observation),
        expectation: Some(scenario.file.expect.clone()),
        evidence,
    }
}

/// The scenario's plan with placeholders filled and the user defaulted.
fn render_plan(scenario: &Scenario, vars: &Vars, email: &str) -> Result<mock_idp::Plan, String> {
    let mut json = serde_json::to_value(&scenario.file.plan)
        .map_err(|e| format!("failed to serialize the plan: {e}"))?;
    vars.render_json(&mut json)
        .map_err(|e| format!("failed to fill the plan: {e}"))?;
    let mut plan: mock_idp::Plan =
        serde_json::from_value(json).map_err(|e| format!("failed to read the filled plan: {e}"))?;
    if plan.user.is_none() {
        plan.user = Some(email.to_owned());
    }
    Ok(plan)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    env: &Environment,
    scenario: &Scenario,
    vars: &Vars,
    email: &str,
    plan_id: &str,
    idp_base: &str,
    sp_base: &str,
    options: RunOptions,
    evidence: &mut Evidence,
    off_origin: &mut Option<String>,
) -> Result<Observation, String> {
    let target = env.target();
    let new_agent =
        || UserAgent::new(sp_base, idp_base, options.step_timeout).map_err(|e| e.to_string());
    let mut ua = new_agent()?;
    ua.add_cookie(
        &format!("{}={plan_id}; Path=/", mock_idp::server::PLAN_COOKIE),
        idp_base,
    );
    let mut seen = SamlSeen {
        hold_response: scenario.file.flow == Flow::CrossAgent,
        ..SamlSeen::default()
    };
    let start_url = match scenario.file.flow {
        Flow::SpInitiated | Flow::Replay | Flow::CrossAgent => vars
            .render(&target.file.login.sp_initiated_url)
            .map_err(|e| e.to_string())?,
        Flow::IdpInitiated | Flow::IdpInitiatedReplay => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("sp", vars.get("sp.entity_id").unwrap_or_default())
                .append_pair("user", email)
                .append_pair("plan", plan_id);
            if let Some(rs) = &scenario.file.relay_state {
                query.append_pair("relay_state", &vars.render(rs).map_err(|e| e.to_string())?);
            }
            format!("{idp_base}/idp-initiated?{}", query.finish())
        }
    };
    let navigation = ua.navigate("GET", &start_url, Vec::new(), &mut seen).await;
    record_saml(&seen, evidence);
    if let Err(e) = &navigation
        && seen.response_post.is_none()
        && seen.after_response.is_none()
    {
        evidence.hops = ua.take_hops();
        return Err(e.to_string());
    }
    if let Err(e) = &navigation {
        evidence
            .notes
            .push(format!("navigation after the response ended early: {e}"));
    }

    let second_agent = match scenario.file.flow {
        Flow::CrossAgent => Some((
            "the first user agent's login did not produce a response",
            "a second user agent starts its own login, then posts the first one's response",
        )),
        Flow::Replay | Flow::IdpInitiatedReplay => {
            let first = probe(&mut ua, env, vars).await?;
            evidence.notes.push(format!(
                "first attempt (the legitimate login): {}",
                first.0.summary()
            ));
            Some((
                "the first login did not deliver a response to replay",
                "replaying the same response from a fresh user agent",
            ))
        }
        Flow::SpInitiated | Flow::IdpInitiated => None,
    };
    let (mut ua, seen) = match second_agent {
        None => (ua, seen),
        Some((missing, note)) => {
            let form = seen.response_post.clone();
            evidence.hops = ua.take_hops();
            let Some(form) = form else {
                return Err(missing.to_owned());
            };
            evidence.notes.push(note.to_owned());
            let mut other = new_agent()?;
            if scenario.file.flow == Flow::CrossAgent {
                // The second browser has a login of its own in flight.
                let mut own = SamlSeen {
                    hold_response: true,
                    ..SamlSeen::default()
                };
                other
                    .navigate("GET", &start_url, Vec::new(), &mut own)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let mut seen_other = SamlSeen::default();
            let posted = other
                .navigate("POST", &form.action, form.fields, &mut seen_other)
                .await;
            if let Err(e) = posted
                && seen_other.after_response.is_none()
            {
                evidence.hops.extend(other.take_hops());
                return Err(e.to_string());
            }
            (other, seen_other)
        }
    };

    if let Some(url) = &seen.off_origin_redirect {
        evidence.notes.push(format!(
            "the SP redirected to {url}; not followed (another origin)"
        ));
        *off_origin = Some(url.clone());
    }
    let (observation, probe_note) = probe(&mut ua, env, vars).await?;
    evidence.probe = Some(probe_note);
    evidence.hops.extend(ua.take_hops());
    Ok(match observation {
        Observation::NotSignedIn { .. } => {
            let after = seen.after_response.as_ref();
            Observation::NotSignedIn {
                status: after.map(|p| p.status),
                reason: after.and_then(|p| {
                    target
                        .file
                        .refusal
                        .as_ref()
                        .and_then(|r| r.reason.extract(&p.body))
                }),
            }
        }
        other => other,
    })
}

/// Asks the SP who is signed in. Returns the observation and a note for the evidence.
async fn probe(
    ua: &mut UserAgent,
    env: &Environment,
    vars: &Vars,
) -> Result<(Observation, String), String> {
    let session = &env.target().file.session;
    let url = vars.render(&session.probe_url).map_err(|e| e.to_string())?;
    let page = ua.get(&url).await.map_err(|e| e.to_string())?;
    let excerpt: String = page.body.chars().take(300).collect();
    let note = format!("GET {url} -> {}: {excerpt}", page.status);
    if page.status != session.signed_in_status {
        return Ok((
            Observation::NotSignedIn {
                status: None,
                reason: None,
            },
            note,
        ));
    }
    match session.identity.extract(&page.body) {
        Some(identity) => Ok((Observation::SignedIn { identity }, note)),
        None => Err(format!(
            "the session probe answered {} (signed in) but the identity could not be read from it: {excerpt}",
            page.status
        )),
    }
}

fn record_saml(seen: &SamlSeen, evidence: &mut Evidence) {
    if let Some((binding, value)) = &seen.request {
        evidence.authn_request = decode_saml(value, *binding == Binding::Redirect)
            .map(|xml| mock_idp::xml::pretty(&xml));
    }
    if let Some(form) = &seen.response_post
        && let Some((_, value)) = form.fields.iter().find(|(k, _)| k == "SAMLResponse")
    {
        evidence.response = decode_saml(value, false);
    }
}

/// Decodes a SAML message: base64, then DEFLATE for the Redirect binding. `None` when it is
/// neither (a wrong-binding scenario may send anything).
pub fn decode_saml(value: &str, deflated: bool) -> Option<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let bytes = if deflated {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[..])
            .take(1 << 20)
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).ok()
}

fn skipped(scenario: &Scenario, reason: String) -> Verdict {
    bare(scenario, Status::Skip, reason, Evidence::default())
}

fn errored(scenario: &Scenario, reason: String, evidence: Evidence) -> Verdict {
    bare(scenario, Status::Error, reason, evidence)
}

fn bare(scenario: &Scenario, status: Status, reason: String, evidence: Evidence) -> Verdict {
    Verdict {
        id: scenario.id.clone(),
        title: scenario.file.title.clone(),
        status,
        severity: None,
        level: scenario.file.level,
        expected: crate::judge::describe(&scenario.file.expect),
        observed: match status {
            Status::Skip => "not run".to_owned(),
            _ => format!("error: {reason}"),
        },
        reason,
        spec: scenario.file.spec.clone(),
        duration_ms: 0,
        observation: None,
        expectation: Some(scenario.file.expect.clone()),
        evidence,
    }
}

/// The scenario ids in a set of verdicts with a given status.
pub fn ids_with(verdicts: &[Verdict], status: Status) -> BTreeSet<String> {
    verdicts
        .iter()
        .filter(|v| v.status == status)
        .map(|v| v.id.clone())
        .collect()
}
