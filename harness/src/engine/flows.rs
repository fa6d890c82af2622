//! The engine: runs scenarios against an [`Environment`] with bounded parallelism, a fresh
//! user agent per scenario and a timeout on every step, and reports through events.
//!
//! Scenarios that need an SP setting changed run alone: they take the settings lock for
//! writing, run the setting's hook, run, and run the `reset` hook; every other scenario holds
//! the lock for reading, so parallelism is kept everywhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::sync::{RwLock, Semaphore, mpsc};

use mock_idp::Outage;

use crate::driver::browser::Browser;
use crate::driver::http::{Binding, Page, SamlSeen, UserAgent, origin};
use crate::driver::{Agent, DriverKind};
use crate::env::Environment;
use crate::judge::{Refusals, judge};
use crate::scenario::{Expectation, Flow, OutageMode, Scenario, Step};
use crate::target::Target;
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
    /// The driver: HTTP, or a real browser (then the run needs a [`Browser`]).
    pub driver: DriverKind,
}

impl RunOptions {
    /// Scenarios in flight by default: twice the cores over HTTP; one browser per two cores
    /// (Chromium is CPU-bound: on 2 cores one browser runs the catalogue in 47 s, two in 59 s).
    pub fn default_jobs(driver: DriverKind) -> usize {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        match driver {
            DriverKind::Http => cores * 2,
            DriverKind::Browser => (cores / 2).max(1),
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(4, |n| n.get() * 2),
            step_timeout: Duration::from_secs(10),
            scenario_timeout: Duration::from_secs(60),
            driver: DriverKind::Http,
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
/// happen (a closed receiver is fine). `browser` is the browser of a run with
/// [`DriverKind::Browser`]; each scenario leases one of its sessions.
pub async fn run(
    env: Arc<Environment>,
    scenarios: Vec<Scenario>,
    options: RunOptions,
    browser: Option<Arc<Browser>>,
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
        let browser = browser.clone();
        tasks.spawn(async move {
            let run = Run {
                env: &env,
                options,
                browser: browser.as_ref(),
            };
            let verdict = run_one(&run, &scenario, &permits, &settings).await;
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

/// What every scenario of a run shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    env: &'a Environment,
    options: RunOptions,
    browser: Option<&'a Arc<Browser>>,
}

async fn run_one(
    run: &Run<'_>,
    scenario: &Scenario,
    permits: &Semaphore,
    settings: &RwLock<()>,
) -> Verdict {
    let env = run.env;
    let options = run.options;
    let target = env.target();
    // Skips first: capabilities, what the flows and expectations need, then settings that no
    // hook can set.
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
    if let Err(reason) = check_needs(target, scenario) {
        return skipped(scenario, reason);
    }
    let mut hooks = Vec::new();
    for setting in &scenario.file.requires.settings {
        match target.can_set(setting) {
            Ok(true) => hooks.push(setting.clone()),
            Ok(false) => {}
            Err(reason) => return skipped(scenario, reason),
        }
    }
    for step in &scenario.file.steps {
        if let Step::Set { setting } = step
            && let Err(reason) = target.can_apply(setting)
        {
            return skipped(scenario, reason);
        }
    }
    let steps_exclusive = scenario.file.steps.iter().any(Step::is_exclusive);
    let needs_reset = !hooks.is_empty()
        || scenario
            .file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Set { .. }));
    let uses_idp_outage = scenario
        .file
        .steps
        .iter()
        .any(|s| matches!(s, Step::Idp { .. }));

    // The scenario's time starts once it holds its locks: queueing is not its time.
    let exclusive = !hooks.is_empty() || steps_exclusive;
    let _shared = if exclusive {
        None
    } else {
        Some(settings.read().await)
    };
    let _exclusive = if exclusive {
        Some(settings.write().await)
    } else {
        None
    };
    let _permit = permits.acquire().await;
    let started = Instant::now();
    let body = async {
        if !exclusive {
            return timed(execute(run, scenario, &[]).await, started);
        }
        let mut notes = Vec::new();
        for hook in &hooks {
            if let Err(e) = env.run_hook(hook).await {
                let _ = env.run_hook("reset").await;
                return errored(scenario, e.to_string(), Evidence::default());
            }
            notes.push(format!("hook `{hook}` set the SP up"));
        }
        let mut verdict = timed(execute(run, scenario, &notes).await, started);
        if uses_idp_outage && let Err(e) = set_outage(env, OutageMode::Up, None).await {
            verdict
                .evidence
                .notes
                .push(format!("the mock IdP did not come back afterwards: {e}"));
        }
        if needs_reset && let Err(e) = env.run_hook("reset").await {
            tracing::error!(error = %e, scenario = %scenario.id, "reset hook failed");
            verdict
                .evidence
                .notes
                .push(format!("the reset hook failed afterwards: {e}"));
        }
        verdict
    };
    match tokio::time::timeout(options.scenario_timeout, body).await {
        Ok(v) => v,
        Err(_) => {
            // Whatever the scenario changed is undone even so.
            if uses_idp_outage {
                let _ = set_outage(env, OutageMode::Up, None).await;
            }
            if needs_reset {
                let _ = env.run_hook("reset").await;
            }
            errored(
                scenario,
                format!(
                    "the scenario did not finish within {} s",
                    options.scenario_timeout.as_secs()
                ),
                Evidence::default(),
            )
        }
    }
}

/// What the scenario's flows, steps and expectations need from the target, beyond
/// capabilities and settings; `Err` is the skip reason.
fn check_needs(target: &Target, scenario: &Scenario) -> Result<(), String> {
    let name = &target.file.name;
    let mut flows = vec![scenario.file.flow];
    let mut expectations = vec![&scenario.file.expect];
    for step in &scenario.file.steps {
        match step {
            Step::Login { flow, expect, .. } => {
                flows.push(*flow);
                expectations.extend(expect.iter());
            }
            Step::Logout if target.file.session.logout_url.is_none() => {
                return Err(format!(
                    "target {name} does not say how to sign out ([session].logout_url)"
                ));
            }
            Step::ResetPassword { .. } if target.file.login.password_reset.is_none() => {
                return Err(format!(
                    "target {name} does not say how to reset a password ([login.password_reset])"
                ));
            }
            _ => {}
        }
    }
    for flow in flows {
        match flow {
            Flow::Password if target.file.login.password.is_none() => {
                return Err(format!(
                    "target {name} has no password login form ([login.password])"
                ));
            }
            Flow::Api if target.file.api.is_none() => {
                return Err(format!("target {name} has no basic-auth API ([api])"));
            }
            Flow::SpLogout if target.file.session.slo_url.is_none() => {
                return Err(format!(
                    "target {name} does not say where its Single Logout starts ([session].slo_url)"
                ));
            }
            _ => {}
        }
    }
    let wants_role = expectations
        .iter()
        .any(|e| matches!(e, Expectation::SignedIn { role: Some(_), .. }));
    if wants_role && target.file.session.role.is_none() {
        return Err(format!(
            "target {name} does not say how to read a user's role ([session].role)"
        ));
    }
    Ok(())
}

/// Puts the mock IdP into an outage mode; back `up`, waits (bounded) until it answers again.
async fn set_outage(
    env: &Environment,
    mode: OutageMode,
    delay_ms: Option<u64>,
) -> Result<(), String> {
    let outage = match mode {
        OutageMode::Up => Outage::Up,
        OutageMode::Down => Outage::Down,
        OutageMode::Error => Outage::Error,
        OutageMode::Slow => Outage::slow(
            delay_ms.map_or(mock_idp::outage::DEFAULT_SLOW_DELAY, Duration::from_millis),
        ),
    };
    if env.idp().outage() == outage {
        return Ok(());
    }
    env.idp().set_outage(outage);
    if outage == Outage::Down {
        // The listener closes asynchronously: wait until connections are refused.
        let addr = env.idp().addr();
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            if started.elapsed() > Duration::from_secs(5) {
                return Err(format!(
                    "the mock IdP at {addr} still accepts connections 5 s into its outage"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        return Ok(());
    }
    if outage != Outage::Up {
        return Ok(());
    }
    let url = format!("{}/metadata", env.idp().base_url());
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(5) {
            return Err(format!(
                "{url} did not answer within 5 s of the outage's end"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stamps a verdict with the time since `started` (its hooks included, its queueing not).
fn timed(mut verdict: Verdict, started: Instant) -> Verdict {
    verdict.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    verdict
}

/// One login of a scenario: the flow, as whom, and whether the IdP is out.
struct Attempt<'a> {
    flow: Flow,
    user_name: &'a str,
    outage: bool,
    want_role: bool,
    relay_state: Option<&'a str>,
    /// This scenario run's witness URL (`{witness.url}`).
    witness_url: &'a str,
}

/// Runs the steps and the flow in a fresh user agent of the run's driver, and judges them. A
/// browser scenario that fails or errs is photographed.
async fn execute(run: &Run<'_>, scenario: &Scenario, notes: &[String]) -> Verdict {
    let env = run.env;
    let sp_base = env.sp_base().to_owned();
    let idp_base = env.idp().base_url().to_owned();
    let evidence = Evidence {
        notes: notes.to_vec(),
        ..Evidence::default()
    };
    let mut lease = None;
    let agent = match (run.options.driver, run.browser) {
        (DriverKind::Http, _) => {
            UserAgent::new(&sp_base, &idp_base, run.options.step_timeout).map(Agent::Http)
        }
        (DriverKind::Browser, None) => Err(crate::driver::DriverError::Browser(
            "the run has no browser".to_owned(),
        )),
        (DriverKind::Browser, Some(browser)) => match browser.lease().await {
            Ok(l) => {
                let agent = crate::driver::browser::BrowserAgent::new(
                    l.session(),
                    &sp_base,
                    &idp_base,
                    run.options.step_timeout,
                );
                lease = Some(l);
                agent.map(|a| Agent::Browser(Box::new(a)))
            }
            Err(e) => Err(crate::driver::DriverError::Browser(e.to_string())),
        },
    };
    let mut ua = match agent {
        Ok(ua) => ua,
        Err(e) => return errored(scenario, e.to_string(), evidence),
    };
    let mut verdict = execute_in(env, scenario, evidence, &mut ua).await;
    if matches!(verdict.status, Status::Fail | Status::Error)
        && let Some(png) = ua.screenshot().await
    {
        verdict.evidence.screenshot = Some(base64::engine::general_purpose::STANDARD.encode(png));
    }
    if let Some(lease) = lease {
        lease.release();
    }
    verdict
}

/// Runs the steps and the flow in `ua`, and judges them.
async fn execute_in(
    env: &Environment,
    scenario: &Scenario,
    mut evidence: Evidence,
    ua: &mut Agent,
) -> Verdict {
    let target = env.target();
    let token = mock_idp::xml::new_id()
        .trim_start_matches('_')
        .chars()
        .take(16)
        .collect::<String>();
    let witness_url = env.witness().url_for(&token);
    // Passwords changed by a reset step, by logical user.
    let mut passwords: BTreeMap<String, String> = BTreeMap::new();
    let mut outage = false;
    let mut off_origin = None;

    // A logout flow needs a session to end: without a login step of its own, an SP-initiated
    // login that must sign the scenario's user in comes first.
    let implicit_login;
    let steps: &[Step] = if scenario.file.flow.is_logout()
        && !scenario
            .file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Login { .. }))
    {
        implicit_login = [
            scenario.file.steps.as_slice(),
            &[Step::Login {
                flow: Flow::SpInitiated,
                user: None,
                expect: Some(Expectation::SignedIn {
                    user: scenario.file.user.clone(),
                    role: None,
                }),
            }],
        ]
        .concat();
        &implicit_login
    } else {
        &scenario.file.steps
    };
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        match step {
            Step::Login { flow, user, expect } => {
                let user_name = user.as_deref().unwrap_or(&scenario.file.user);
                let attempt = Attempt {
                    flow: *flow,
                    user_name,
                    outage,
                    want_role: expect
                        .as_ref()
                        .is_some_and(|e| matches!(e, Expectation::SignedIn { role: Some(_), .. })),
                    relay_state: scenario.file.relay_state.as_deref(),
                    witness_url: &witness_url,
                };
                let mut step_evidence = Evidence::default();
                let mut step_off_origin = None;
                let observation = match attempt_login(
                    env,
                    scenario,
                    &attempt,
                    &passwords,
                    ua,
                    &mut step_evidence,
                    &mut step_off_origin,
                )
                .await
                {
                    Ok(o) => o,
                    Err(message) => Observation::Error { message },
                };
                evidence.hops.append(&mut step_evidence.hops);
                if step_evidence.plan_id.is_some() {
                    evidence.plan_id = step_evidence.plan_id.take();
                    evidence.plan = step_evidence.plan.take();
                }
                evidence.notes.push(format!(
                    "step {n} ({} as {user_name}): {}",
                    flow.as_str(),
                    observation.summary()
                ));
                evidence.notes.append(&mut step_evidence.notes);
                if let Some(expect) = expect {
                    let judgement = judge(
                        expect,
                        scenario.file.level,
                        scenario.file.severity,
                        user_name,
                        &observation,
                        &target.file.users,
                        step_off_origin.as_deref(),
                        Refusals::of(target.file.refusal.as_ref()),
                    );
                    if judgement.status != Status::Pass {
                        return Verdict {
                            id: scenario.id.clone(),
                            title: scenario.file.title.clone(),
                            status: judgement.status,
                            severity: judgement.severity,
                            level: scenario.file.level,
                            expected: format!("step {n}: {}", judgement.expected),
                            observed: format!("step {n}: {}", observation.summary()),
                            reason: format!("step {n} ({}): {}", flow.as_str(), judgement.reason),
                            spec: scenario.file.spec.clone(),
                            duration_ms: 0,
                            observation: Some(observation),
                            expectation: Some(expect.clone()),
                            evidence,
                        };
                    }
                }
            }
            Step::Set { setting } => {
                if let Err(e) = env.run_hook(setting).await {
                    return errored(scenario, format!("step {n}: {e}"), evidence);
                }
                evidence
                    .notes
                    .push(format!("step {n}: hook `{setting}` changed the SP"));
            }
            Step::Idp {
                outage: mode,
                delay_ms,
            } => {
                if let Err(e) = set_outage(env, *mode, *delay_ms).await {
                    return errored(scenario, format!("step {n}: {e}"), evidence);
                }
                outage = *mode != OutageMode::Up;
                evidence.notes.push(format!(
                    "step {n}: the mock IdP is now {}",
                    env.idp().outage().describe()
                ));
            }
            Step::Logout => {
                let url = target
                    .file
                    .session
                    .logout_url
                    .as_deref()
                    .map(|u| env.vars().render(u))
                    .transpose();
                let Ok(Some(url)) = url else {
                    return errored(
                        scenario,
                        format!("step {n}: no usable logout URL"),
                        evidence,
                    );
                };
                let mut seen = SamlSeen::default();
                if let Err(e) = ua.navigate("GET", &url, Vec::new(), &mut seen).await {
                    evidence.hops.extend(ua.take_hops());
                    return errored(scenario, format!("step {n}: {e}"), evidence);
                }
                evidence.hops.extend(ua.take_hops());
                evidence.notes.push(format!("step {n}: signed out ({url})"));
            }
            Step::Wait { ms } => {
                tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
                evidence.notes.push(format!("step {n}: waited {ms} ms"));
            }
            Step::ResetPassword { password } => {
                match reset_password(env, scenario, password, ua).await {
                    Ok(note) => {
                        passwords.insert(scenario.file.user.clone(), password.clone());
                        evidence.notes.push(format!("step {n}: {note}"));
                    }
                    Err(e) => return errored(scenario, format!("step {n}: {e}"), evidence),
                }
            }
        }
    }

    let attempt = Attempt {
        flow: scenario.file.flow,
        user_name: &scenario.file.user,
        outage,
        want_role: matches!(
            scenario.file.expect,
            Expectation::SignedIn { role: Some(_), .. }
        ),
        relay_state: scenario.file.relay_state.as_deref(),
        witness_url: &witness_url,
    };
    let logout_since = evidence.plan_id.as_deref().map(|plan| {
        env.idp()
            .idp()
            .log(Some(plan), LOGOUT_LOG_WINDOW)
            .last()
            .map_or(0, |e| e.seq)
    });
    let observation = match attempt_login(
        env,
        scenario,
        &attempt,
        &passwords,
        ua,
        &mut evidence,
        &mut off_origin,
    )
    .await
    {
        Ok(o) => o,
        Err(message) => Observation::Error { message },
    };
    let plan_id = evidence.plan_id.clone();
    let sp_logout = match (scenario.file.flow.is_logout(), &plan_id, logout_since) {
        (true, Some(plan), Some(since)) => Some(read_logout_log(
            env,
            scenario.file.flow,
            plan,
            since,
            &mut evidence,
        )),
        _ => None,
    };
    let mut judgement = judge(
        &scenario.file.expect,
        scenario.file.level,
        scenario.file.severity,
        &scenario.file.user,
        &observation,
        &target.file.users,
        off_origin.as_deref(),
        Refusals::of(target.file.refusal.as_ref()),
    );
    if let Some(sp_logout) = &sp_logout {
        if matches!(scenario.file.expect, Expectation::SignedOut) {
            judgement = crate::judge::logout_message(
                judgement,
                scenario.file.level,
                scenario.file.severity,
                sp_logout,
            );
        } else if judgement.status != Status::Pass
            && matches!(scenario.file.expect, Expectation::SignedIn { .. })
            && matches!(observation, Observation::NotSignedIn { .. })
        {
            judgement.reason =
                "the SP ended the session on a logout message it must refuse".to_owned();
        }
    }
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
    let observed = match &observation {
        Observation::NotSignedIn {
            status: None,
            reason: None,
            ..
        } if scenario.file.flow.is_logout() => "signed out".to_owned(),
        other => other.summary(),
    };
    Verdict {
        id: scenario.id.clone(),
        title: scenario.file.title.clone(),
        status: judgement.status,
        severity: judgement.severity,
        level: scenario.file.level,
        expected: judgement.expected,
        observed,
        reason: judgement.reason,
        spec: scenario.file.spec.clone(),
        duration_ms: 0,
        observation: Some(observation),
        expectation: Some(scenario.file.expect.clone()),
        evidence,
    }
}

/// One login as `attempt` says, in `ua`; the observation afterwards.
#[allow(clippy::too_many_arguments)]
async fn attempt_login(
    env: &Environment,
    scenario: &Scenario,
    attempt: &Attempt<'_>,
    passwords: &BTreeMap<String, String>,
    ua: &mut Agent,
    evidence: &mut Evidence,
    off_origin: &mut Option<String>,
) -> Result<Observation, String> {
    let target = env.target();
    let user_name = attempt.user_name;
    let Some(user) = target.file.users.get(user_name) else {
        return Err(format!(
            "the scenario's user `{user_name}` is not in target {}'s [users]",
            target.file.name
        ));
    };
    let mut vars = env.vars().clone();
    vars.set("witness.url", attempt.witness_url.to_owned());
    vars.set("user.name", user_name.to_owned())
        .set("user.email", user.email.clone())
        .set(
            "user.password",
            passwords
                .get(user_name)
                .cloned()
                .or_else(|| user.password.clone())
                .unwrap_or_default(),
        );
    match attempt.flow {
        Flow::Password => {
            let Some(form) = &target.file.login.password else {
                return Err(format!("target {} has no password form", target.file.name));
            };
            let url = vars.render(&form.url).map_err(|e| e.to_string())?;
            let fields = form
                .fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), vars.render(v)?)))
                .collect::<Result<Vec<_>, crate::template::TemplateError>>()
                .map_err(|e| e.to_string())?;
            let mut seen = SamlSeen::default();
            let page = ua.navigate("POST", &url, fields, &mut seen).await;
            evidence.hops.extend(ua.take_hops());
            let page = page.map_err(|e| e.to_string())?;
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            // A logout may end at the IdP (its "signed out" page); only an SP page can carry
            // a refusal.
            Ok(if origin(&page.url) == origin(env.sp_base()) {
                refusal_from(observation, Some(&page), env, None)
            } else {
                observation
            })
        }
        Flow::Api => {
            let Some(api) = &target.file.api else {
                return Err(format!("target {} has no API", target.file.name));
            };
            let url = vars.render(&api.url).map_err(|e| e.to_string())?;
            let password = vars.get("user.password").unwrap_or_default().to_owned();
            let page = ua
                .get_basic(&url, &user.email, &password)
                .await
                .map_err(|e| e.to_string())?;
            evidence.hops.extend(ua.take_hops());
            if matches!(ua, Agent::Browser(_)) {
                evidence.notes.push(
                    "the API call went over HTTP, not through the browser: basic auth is an API client's, not a person's"
                        .to_owned(),
                );
            }
            evidence.probe = Some(format!(
                "GET {url} (basic auth as {}) -> {}",
                user.email, page.status
            ));
            Ok(if (200..300).contains(&page.status) {
                match api.identity.extract(&page.body) {
                    Some(identity) => Observation::SignedIn {
                        identity,
                        role: None,
                    },
                    None => {
                        return Err(format!(
                            "the API answered {} but the identity could not be read from it",
                            page.status
                        ));
                    }
                }
            } else {
                refusal_from(
                    Observation::NotSignedIn {
                        status: None,
                        reason: None,
                        ended: None,
                        password_form: false,
                    },
                    Some(&page),
                    env,
                    None,
                )
            })
        }
        Flow::Session => {
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            Ok(observation)
        }
        Flow::IdpLogout | Flow::SpLogout => {
            if evidence.plan_id.is_none() {
                return Err(
                    "no login before the logout: the mock IdP has no session to end".to_owned(),
                );
            }
            let url = if attempt.flow == Flow::IdpLogout {
                format!("{}/slo/start", env.idp().base_url())
            } else {
                let Some(url) = &target.file.session.slo_url else {
                    return Err(format!(
                        "target {} has no [session].slo_url",
                        target.file.name
                    ));
                };
                vars.render(url).map_err(|e| e.to_string())?
            };
            let mut seen = SamlSeen::default();
            let page = ua.navigate("GET", &url, Vec::new(), &mut seen).await;
            evidence.hops.extend(ua.take_hops());
            let page = page.map_err(|e| e.to_string())?;
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            Ok(refusal_from(observation, Some(&page), env, None))
        }
        Flow::SpInitiated
        | Flow::IdpInitiated
        | Flow::Replay
        | Flow::IdpInitiatedReplay
        | Flow::CrossAgent => {
            let plan = render_plan(scenario, &vars, &user.email)?;
            evidence.plan = serde_json::to_value(&plan).ok();
            let plan_id = env.idp().idp().create_plan(plan);
            evidence.plan_id = Some(plan_id.clone());
            let idp_base = env.idp().base_url().to_owned();
            ua.add_cookie(
                &format!("{}={plan_id}; Path=/", mock_idp::server::PLAN_COOKIE),
                &idp_base,
            )
            .await
            .map_err(|e| e.to_string())?;
            drive(
                env,
                attempt,
                &vars,
                &user.email,
                plan_id.as_str(),
                &idp_base,
                ua,
                evidence,
                off_origin,
            )
            .await
        }
    }
}

/// How many of a plan's latest exchanges a logout flow reads.
const LOGOUT_LOG_WINDOW: usize = 64;

/// What the mock IdP logged for `plan` after `since` in a logout flow: every logout message
/// into the evidence, and the SP's own message (its LogoutResponse in an IdP-initiated logout,
/// its LogoutRequest in an SP-initiated one) with its problems.
fn read_logout_log(
    env: &Environment,
    flow: Flow,
    plan: &str,
    since: u64,
    evidence: &mut Evidence,
) -> crate::judge::SpLogoutMessage {
    use mock_idp::exchange::ExchangeKind;

    let exchanges: Vec<mock_idp::Exchange> = env
        .idp()
        .idp()
        .log(Some(plan), LOGOUT_LOG_WINDOW)
        .into_iter()
        .filter(|e| e.seq > since)
        .collect();
    for e in &exchanges {
        let (from_sp, from_idp) = match e.kind {
            ExchangeKind::LogoutStart => (None, Some("IdP → SP: LogoutRequest")),
            ExchangeKind::LogoutRequest => (
                Some("SP → IdP: LogoutRequest"),
                Some("IdP → SP: LogoutResponse"),
            ),
            ExchangeKind::LogoutResponse => (Some("SP → IdP: LogoutResponse"), None),
            _ => (None, None),
        };
        if let (Some(label), Some(xml)) = (from_sp, &e.request_xml) {
            evidence
                .logout
                .push(format!("{label}\n{}", mock_idp::xml::pretty(xml)));
        }
        if let (Some(label), Some(xml)) = (from_idp, &e.response_xml) {
            evidence
                .logout
                .push(format!("{label}\n{}", mock_idp::xml::pretty(xml)));
        }
        if let Some(error) = &e.error {
            evidence
                .notes
                .push(format!("the mock IdP refused a logout message: {error}"));
        }
        for problem in &e.problems {
            evidence
                .notes
                .push(format!("the mock IdP found: {problem}"));
        }
    }
    let (kind, what) = match flow {
        Flow::SpLogout => (ExchangeKind::LogoutRequest, "LogoutRequest"),
        _ => (ExchangeKind::LogoutResponse, "LogoutResponse"),
    };
    let read = exchanges
        .iter()
        .find(|e| e.kind == kind && e.error.is_none());
    // A message the IdP could not read at all was sent, and is wrong.
    let unreadable = exchanges
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                ExchangeKind::LogoutRequest | ExchangeKind::LogoutResponse
            )
        })
        .find_map(|e| e.error.as_ref());
    match (read, unreadable) {
        (Some(e), _) => crate::judge::SpLogoutMessage::Sent {
            what,
            problems: e.problems.clone(),
        },
        (None, Some(error)) => crate::judge::SpLogoutMessage::Sent {
            what,
            problems: vec![format!("the mock IdP could not read it: {error}")],
        },
        (None, None) => crate::judge::SpLogoutMessage::Missing { what },
    }
}

/// The target's password reset for the scenario's user: a token, then the form.
async fn reset_password(
    env: &Environment,
    scenario: &Scenario,
    password: &str,
    ua: &mut Agent,
) -> Result<String, String> {
    let target = env.target();
    let Some(reset) = &target.file.login.password_reset else {
        return Err(format!(
            "target {} has no [login.password_reset]",
            target.file.name
        ));
    };
    let Some(user) = target.file.users.get(&scenario.file.user) else {
        return Err(format!("no user `{}` in the target", scenario.file.user));
    };
    let mut vars = env.vars().clone();
    vars.set("user.email", user.email.clone())
        .set("reset.password", password.to_owned());
    let body = env
        .http_request(&reset.token_request, &vars)
        .await
        .map_err(|e| format!("the reset token request failed: {e}"))?;
    let token = reset
        .token
        .extract(&body)
        .ok_or_else(|| "no reset token in the answer to the token request".to_owned())?;
    vars.set("reset.token", token);
    let url = vars.render(&reset.url).map_err(|e| e.to_string())?;
    let fields = reset
        .fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), vars.render(v)?)))
        .collect::<Result<Vec<_>, crate::template::TemplateError>>()
        .map_err(|e| e.to_string())?;
    let mut seen = SamlSeen::default();
    let page = ua
        .navigate("POST", &url, fields, &mut seen)
        .await
        .map_err(|e| e.to_string())?;
    if page.status >= 400 {
        return Err(format!(
            "the reset form answered {}: {}",
            page.status,
            page.body.chars().take(200).collect::<String>()
        ));
    }
    Ok(format!(
        "password reset for {} through {url} ({})",
        user.email, page.status
    ))
}

/// Completes a not-signed-in observation with what the last page shows: its status and
/// refusal reason when it is one of the SP's error pages, whether it is a password form, and
/// `ended` when the attempt did not end at the SP.
fn refusal_from(
    observation: Observation,
    page: Option<&Page>,
    env: &Environment,
    ended: Option<String>,
) -> Observation {
    let Observation::NotSignedIn { status, reason, .. } = observation else {
        return observation;
    };
    let sp_page = page.filter(|p| origin(&p.url) == origin(env.sp_base()));
    let error_page = sp_page.filter(|p| p.status >= 400);
    Observation::NotSignedIn {
        status: status.or(error_page.map(|p| p.status)),
        reason: reason.or_else(|| {
            error_page.and_then(|p| {
                env.target()
                    .file
                    .refusal
                    .as_ref()
                    .and_then(|r| r.reason.extract(&p.body))
            })
        }),
        ended: ended.or_else(|| match page {
            Some(p) if sp_page.is_none() => Some(format!(
                "the attempt ended at {} (HTTP {})",
                origin(&p.url),
                p.status
            )),
            _ => None,
        }),
        password_form: sp_page.is_some_and(|p| has_password_field(&p.body)),
    }
}

/// Whether an HTML page has a password input.
fn has_password_field(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("type=\"password\"")
        || lower.contains("type='password'")
        || lower.contains("type=password")
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
    attempt: &Attempt<'_>,
    vars: &Vars,
    email: &str,
    plan_id: &str,
    idp_base: &str,
    first: &mut Agent,
    evidence: &mut Evidence,
    off_origin: &mut Option<String>,
) -> Result<Observation, String> {
    let target = env.target();
    let sp_base = env.sp_base().to_owned();
    let flow = attempt.flow;
    let mut seen = SamlSeen {
        hold_response: flow == Flow::CrossAgent,
        ..SamlSeen::default()
    };
    let start_url = match flow {
        Flow::IdpInitiated | Flow::IdpInitiatedReplay => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("sp", vars.get("sp.entity_id").unwrap_or_default())
                .append_pair("user", email)
                .append_pair("plan", plan_id);
            if let Some(rs) = attempt.relay_state {
                query.append_pair("relay_state", &vars.render(rs).map_err(|e| e.to_string())?);
            }
            format!("{idp_base}/idp-initiated?{}", query.finish())
        }
        _ => vars
            .render(&target.file.login.sp_initiated_url)
            .map_err(|e| e.to_string())?,
    };
    let navigation = first
        .navigate("GET", &start_url, Vec::new(), &mut seen)
        .await;
    record_saml(&seen, evidence);
    let mut ended = None;
    let mut last_page = None;
    match &navigation {
        Ok(page) => last_page = Some(page.clone()),
        Err(e) if seen.response_post.is_none() && seen.after_response.is_none() => {
            if !attempt.outage {
                evidence.hops.extend(first.take_hops());
                return Err(e.to_string());
            }
            // The IdP is out on purpose: where the attempt died is the observation (in words
            // that do not change from run to run: no URLs, no ports).
            let _ = e;
            ended = Some(match first.hops().last() {
                Some(hop) => format!(
                    "no answer from {}: {}",
                    if hop.to == "sp" { "the SP" } else { "the IdP" },
                    hop.error
                        .as_deref()
                        .and_then(|m| m.split(':').next())
                        .unwrap_or("request failed")
                ),
                None => "no answer".to_owned(),
            });
        }
        Err(e) => evidence
            .notes
            .push(format!("navigation after the response ended early: {e}")),
    }

    let second_agent = match flow {
        Flow::CrossAgent => Some((
            "the first user agent's login did not produce a response",
            "a second user agent starts its own login, then posts the first one's response",
        )),
        Flow::Replay | Flow::IdpInitiatedReplay => {
            let first_try = probe(first, env, vars, false).await?;
            evidence.notes.push(format!(
                "first attempt (the legitimate login): {}",
                first_try.0.summary()
            ));
            Some((
                "the first login did not deliver a response to replay",
                "replaying the same response from a fresh user agent",
            ))
        }
        _ => None,
    };
    let mut other_agent = None;
    let seen = match second_agent {
        None => seen,
        Some((missing, note)) => {
            let form = seen.response_post.clone();
            evidence.hops.extend(first.take_hops());
            let Some(form) = form else {
                return Err(missing.to_owned());
            };
            evidence.notes.push(note.to_owned());
            let mut other = first
                .fresh(&sp_base, idp_base)
                .await
                .map_err(|e| e.to_string())?;
            if flow == Flow::CrossAgent {
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
            match posted {
                Ok(page) => last_page = Some(page),
                Err(e) if seen_other.after_response.is_none() => {
                    evidence.hops.extend(other.take_hops());
                    return Err(e.to_string());
                }
                Err(_) => {}
            }
            other_agent = Some(other);
            seen_other
        }
    };
    let ua: &mut Agent = match other_agent.as_mut() {
        Some(other) => other,
        None => first,
    };

    if let Some(url) = &seen.off_origin_redirect {
        evidence.notes.push(format!(
            "the SP redirected to {url}; not followed (another origin)"
        ));
        *off_origin = Some(url.clone());
    }
    let (observation, probe_note) = probe(ua, env, vars, attempt.want_role).await?;
    evidence.probe = Some(probe_note);
    evidence.hops.extend(ua.take_hops());
    Ok(match observation {
        Observation::NotSignedIn { .. } => {
            let after = seen.after_response.as_ref();
            let observed = Observation::NotSignedIn {
                status: after.map(|p| p.status),
                reason: after.and_then(|p| {
                    target
                        .file
                        .refusal
                        .as_ref()
                        .and_then(|r| r.reason.extract(&p.body))
                }),
                ended: None,
                password_form: false,
            };
            let page = after.or(last_page.as_ref());
            if ended.is_some() {
                refusal_from(observed, None, env, ended)
            } else {
                refusal_from(observed, page, env, None)
            }
        }
        other => other,
    })
}

/// Asks the SP who is signed in (and, with `want_role`, with which role). Returns the
/// observation and a note for the evidence.
async fn probe(
    ua: &mut Agent,
    env: &Environment,
    vars: &Vars,
    want_role: bool,
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
                ended: None,
                password_form: false,
            },
            note,
        ));
    }
    match session.identity.extract(&page.body) {
        Some(identity) => {
            let role = if want_role {
                session.role.as_ref().and_then(|r| r.extract(&page.body))
            } else {
                None
            };
            Ok((Observation::SignedIn { identity, role }, note))
        }
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
        evidence.response = decode_saml(value, false).map(elide_middle);
    }
}

/// The most of a decoded message the evidence keeps; a padded response (a size or
/// decompression scenario) keeps its start and end around a note of what was left out.
const MAX_EVIDENCE_XML: usize = 64 * 1024;

fn elide_middle(xml: String) -> String {
    if xml.len() <= MAX_EVIDENCE_XML {
        return xml;
    }
    let half = MAX_EVIDENCE_XML / 2;
    let head = xml.floor_char_boundary(half);
    let tail = xml.ceil_char_boundary(xml.len() - half);
    format!(
        "{}\n<!-- saml-harness: {} bytes left out of the evidence -->\n{}",
        &xml[..head],
        tail - head,
        &xml[tail..]
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_responses_keep_their_ends_in_the_evidence_and_say_what_was_left_out() {
        let small = "<samlp:Response/>".to_owned();
        assert_eq!(elide_middle(small.clone()), small);
        let big = format!("<r>{}é{}</r>", "a".repeat(40_000), "b".repeat(40_000));
        let kept = elide_middle(big.clone());
        assert!(kept.len() < MAX_EVIDENCE_XML + 100, "{}", kept.len());
        assert!(kept.starts_with("<r>aaa") && kept.ends_with("bbb</r>"));
        let left_out = big.len() - (kept.len() - kept.lines().nth(1).map_or(0, str::len) - 2);
        assert!(
            kept.contains(&format!(
                "<!-- saml-harness: {left_out} bytes left out of the evidence -->"
            )),
            "{}",
            kept.lines().nth(1).unwrap_or_default()
        );
    }
}
