//! Scheduling: every scenario and every control of a run, with bounded parallelism, a settings
//! lock (scenarios that change the SP or the mock IdP run alone, or in a copy of the
//! environment where the harness can make one), timeouts, and events for the reporter. A
//! scenario is judged once its own exchange and its control's are both known.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};

use super::Run;
use super::batches::{Batch, Batches};
use super::controls::{ControlResult, Controls, Planned, Slot, preflight};
use super::flows::{Exchange, execute, set_outage};
use super::observe::authn_request_binding;
use crate::control::{Need, derive};
use crate::driver::DriverKind;
use crate::driver::browser::Browser;
use crate::env::Environment;
use crate::error::Error;
use crate::judge::{Case, ControlState, Refusals, Seen, decide};
use crate::profile::{self, Profile};
use crate::scenario::{OutageMode, Scenario};
use crate::verdict::{ControlRef, ControlSummary, Evidence, Observation, Status, Verdict};

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
    /// Whether scenarios are judged against their controls, and the SP profile is probed
    /// (the fuzzer, which has its own oracle, turns this off).
    pub controls: bool,
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
            jobs: Self::default_jobs(DriverKind::Http),
            step_timeout: Duration::from_secs(10),
            scenario_timeout: Duration::from_secs(60),
            driver: DriverKind::Http,
            controls: true,
        }
    }
}

/// What the engine tells its reporter.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins with these scenarios.
    RunStarted {
        /// Their ids, in the order given.
        ids: Vec<String>,
    },
    /// A scenario finished.
    ScenarioFinished(Box<Verdict>),
}

/// What a run produced: a verdict per scenario, the controls and the SP profile.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The verdicts, in id order.
    pub verdicts: Vec<Verdict>,
    /// Every control of the run, in name order.
    pub controls: Vec<ControlSummary>,
    /// The SP profile (absent when controls are off).
    pub profile: Option<Profile>,
}

/// The circuit breaker: when the SP stops answering (a hung or stopped process), every
/// scenario would wait out its timeouts one after the other. After [`Breaker::LIMIT`]
/// exchanges in a row that got no answer from the SP, the remaining scenarios are not run but
/// errored at once, with one reason that says what happened.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    in_a_row: std::sync::atomic::AtomicUsize,
    tripped: std::sync::OnceLock<String>,
}

impl Breaker {
    /// How many exchanges in a row without an answer from the SP trip it.
    const LIMIT: usize = 4;

    /// Why it tripped, if it did.
    fn tripped(&self) -> Option<&str> {
        self.tripped.get().map(String::as_str)
    }

    /// Counts an exchange: one that got no answer from the SP, or anything else.
    fn record(&self, exchange: &Exchange, sp_base: &str) {
        use std::sync::atomic::Ordering;
        let no_answer = exchange.failure.as_ref().filter(|e| {
            e.kind == crate::error::ErrorKind::Transport && e.message.contains(sp_base)
        });
        match no_answer {
            None => self.in_a_row.store(0, Ordering::SeqCst),
            Some(e) => {
                if self.in_a_row.fetch_add(1, Ordering::SeqCst) + 1 >= Self::LIMIT {
                    let _ = self.tripped.set(format!(
                        "not run: the SP stopped answering ({} exchanges in a row got no answer from it; the last: {})",
                        Self::LIMIT,
                        e.message
                    ));
                }
            }
        }
    }
}

/// What every task of a run holds: the parts of [`Run`], and the permits and the settings lock.
#[derive(Clone)]
struct Shared {
    env: Arc<Environment>,
    options: RunOptions,
    browser: Option<Arc<Browser>>,
    permits: Arc<Semaphore>,
    settings: Arc<Batches>,
    breaker: Arc<Breaker>,
    copies: Arc<Semaphore>,
}

impl Shared {
    fn run(&self) -> Run<'_> {
        Run {
            env: &self.env,
            options: self.options,
            browser: self.browser.as_ref(),
            breaker: &self.breaker,
            copies: &self.copies,
        }
    }
}

/// A scenario's need, resolved to the run's control slots.
enum Needed {
    Own,
    Slots(Vec<Arc<Slot>>),
}

/// Runs every scenario, and every control they name once, and returns the verdicts in id
/// order with the controls and the SP profile. Events go to `events` as they happen (a closed
/// receiver is fine). `browser` is the browser of a run with [`DriverKind::Browser`]; each
/// scenario leases one of its sessions.
pub async fn run(
    env: Arc<Environment>,
    scenarios: Vec<Scenario>,
    options: RunOptions,
    browser: Option<Arc<Browser>>,
    events: mpsc::UnboundedSender<Event>,
) -> Outcome {
    let _ = events.send(Event::RunStarted {
        ids: scenarios.iter().map(|s| s.id.clone()).collect(),
    });
    let target = env.target();
    let sp = env.sp_entry();
    let mut verdicts = Vec::new();
    let mut planned: Vec<(Planned, Option<Need>)> = Vec::new();
    // The SP-side conformance scenarios are judged from what the SP publishes and sends,
    // collected once after the logins (they read the SP profile).
    let (conformance, scenarios): (Vec<Scenario>, Vec<Scenario>) = scenarios
        .into_iter()
        .partition(super::conformance::is_conformance);
    for scenario in &scenarios {
        match preflight(target, sp.as_ref(), scenario, true) {
            Ok(p) => {
                let need = options.controls.then(|| control_need(scenario, &p));
                planned.push((p, need));
            }
            Err(super::controls::Skip(reason)) => {
                let v = skipped(scenario, reason);
                let _ = events.send(Event::ScenarioFinished(Box::new(v.clone())));
                verdicts.push(v);
            }
        }
    }
    let probes = if options.controls {
        profile::probes(target)
    } else {
        Vec::new()
    };
    let controls = Arc::new(Controls::build(
        planned
            .iter()
            .filter_map(|(_, n)| n.as_ref())
            .flat_map(Need::controls),
        probes.iter().map(|p| &p.control),
    ));

    let shared = Shared {
        env: Arc::clone(&env),
        options,
        browser: browser.clone(),
        permits: Arc::new(Semaphore::new(options.jobs.max(1))),
        settings: Arc::new(Batches::default()),
        breaker: Arc::new(Breaker::default()),
        copies: Arc::new(Semaphore::new((options.jobs / 2).max(1))),
    };
    let mut tasks = tokio::task::JoinSet::new();
    let spawn_scenario = |tasks: &mut tokio::task::JoinSet<Option<Verdict>>,
                          (p, need): (Planned, Option<Need>)| {
        let (shared, events) = (shared.clone(), events.clone());
        let needed = match &need {
            None | Some(Need::Own) => Needed::Own,
            Some(n) => Needed::Slots(
                n.controls()
                    .iter()
                    .filter_map(|c| controls.get(c))
                    .collect(),
            ),
        };
        tasks.spawn(async move {
            let (run, permits, settings) = (shared.run(), &*shared.permits, &*shared.settings);
            let scenario = &p.scenario;
            let (exchange, took) = exchange(&run, &p, permits, settings, &[]).await;
            let control = match &needed {
                Needed::Own => None,
                Needed::Slots(slots) => {
                    let mut results = Vec::new();
                    for slot in slots {
                        let r = control_result(&run, slot, permits, settings).await;
                        results.push((slot.name.clone(), r));
                    }
                    Some(control_ref(&results))
                }
            };
            let mut verdict = verdict_of(run.env, scenario, exchange, control);
            verdict.duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            let _ = events.send(Event::ScenarioFinished(Box::new(verdict.clone())));
            Some(verdict)
        });
    };
    // Scenarios that need the SP to themselves first, even before the controls: where they
    // run in environments of their own, some wait on the SP's timers (a slow IdP: the SP's
    // patience) while the rest run; queued behind the others, they would be the run's tail.
    let (alone, together): (Vec<_>, Vec<_>) = planned
        .into_iter()
        .partition(|(p, _)| matches!(p.batch, Batch::Alone(_)));
    for scenario in alone {
        spawn_scenario(&mut tasks, scenario);
    }
    // Then the controls: most scenarios wait for one.
    for slot in controls.iter() {
        let (shared, slot) = (shared.clone(), Arc::clone(slot));
        tasks.spawn(async move {
            control_result(&shared.run(), &slot, &shared.permits, &shared.settings).await;
            None
        });
    }
    for scenario in together {
        spawn_scenario(&mut tasks, scenario);
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some(v)) => verdicts.push(v),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "a scenario task failed"),
        }
    }
    verdicts.sort_by(|a, b| a.id.cmp(&b.id));

    let summaries = controls
        .iter()
        .filter_map(|slot| {
            let r = slot.cell.get()?;
            Some(ControlSummary {
                name: slot.name.clone(),
                reached: r.reached,
                observed: r.observed.clone(),
                used_by: slot.used_by,
                probe: slot.probe,
            })
        })
        .collect::<Vec<_>>();
    let profile = options.controls.then(|| {
        let mut profile = Profile::default();
        for probe in &probes {
            let result = controls
                .get(&probe.control)
                .and_then(|s| s.cell.get().cloned());
            if profile.authn_request_binding.is_none() {
                profile.authn_request_binding = result
                    .as_ref()
                    .and_then(|r| r.authn_request_binding)
                    .map(str::to_owned);
            }
            profile
                .entries
                .push(profile_entry(probe, result.as_ref(), target));
        }
        profile.compare(target);
        profile
    });
    if !conformance.is_empty() {
        let run = shared.run();
        let started = Instant::now();
        let all: Vec<&Scenario> = conformance.iter().collect();
        let collected =
            super::conformance::collect(&run, &all, &shared.permits, &shared.settings).await;
        let known = super::conformance::known(&run, profile.as_ref());
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
            / u64::try_from(conformance.len()).unwrap_or(1).max(1);
        for scenario in &conformance {
            let mut v = super::conformance::verdict(scenario, &collected, &known);
            v.duration_ms = took;
            let _ = events.send(Event::ScenarioFinished(Box::new(v.clone())));
            verdicts.push(v);
        }
        verdicts.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let mut summaries = summaries;
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    Outcome {
        verdicts,
        controls: summaries,
        profile,
    }
}

/// A scenario's control, derived from the scenario as written and given the settings the
/// declared signature policy added to it.
fn control_need(scenario: &Scenario, planned: &Planned) -> Need {
    let add = |mut c: crate::control::Control| {
        for s in &planned.added_settings {
            if !c.settings.contains(s) {
                c.settings.push(s.clone());
            }
        }
        c
    };
    // The catalogue refuses scenarios without a usable control at load time.
    match derive(scenario) {
        Ok(Need::One(c)) => Need::One(Box::new(add(*c))),
        Ok(Need::AnyOf(cs)) => Need::AnyOf(cs.into_iter().map(add).collect()),
        Ok(Need::Own) | Err(_) => Need::Own,
    }
}

/// A control's result, running it if nobody has yet.
async fn control_result(
    run: &Run<'_>,
    slot: &Slot,
    permits: &Semaphore,
    settings: &Batches,
) -> ControlResult {
    slot.cell
        .get_or_init(|| async {
            let scenario = slot.control.to_scenario("control", &slot.name);
            let sp = run.env.sp_entry();
            let planned = match preflight(run.env.target(), sp.as_ref(), &scenario, false) {
                Ok(p) => p,
                Err(super::controls::Skip(reason)) => {
                    return ControlResult {
                        reached: false,
                        status: Status::Skip,
                        observed: format!("could not run: {reason}"),
                        observation: None,
                        authn_request_binding: None,
                    };
                }
            };
            let notes = [format!("control: {}", slot.name)];
            let (mut exchange, _) = exchange(run, &planned, permits, settings, &notes).await;
            // A control asks whether the SP ends the session on a valid logout message; how
            // it tells the IdP is the business of the scenarios about that.
            exchange.sp_logout = None;
            let binding = authn_request_binding(&exchange.evidence.hops);
            let verdict = verdict_of(run.env, &planned.scenario, exchange, None);
            ControlResult {
                reached: verdict.status == Status::Pass,
                status: verdict.status,
                observed: verdict.observed.clone(),
                observation: verdict.observation,
                authn_request_binding: binding,
            }
        })
        .await
        .clone()
}

/// The control as a verdict names it: for several (any of the signed layouts), reached when
/// any one is.
fn control_ref(results: &[(String, ControlResult)]) -> ControlRef {
    if let Some((name, r)) = results.iter().find(|(_, r)| r.reached) {
        return ControlRef {
            name: name.clone(),
            reached: true,
            observed: r.observed.clone(),
        };
    }
    ControlRef {
        name: results
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("; or "),
        reached: false,
        observed: results
            .iter()
            .map(|(_, r)| r.observed.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// One line of the SP profile from a probe's result.
fn profile_entry(
    probe: &profile::Probe,
    result: Option<&ControlResult>,
    target: &crate::target::Target,
) -> profile::Entry {
    let member = target
        .file
        .users
        .get(&probe.control.user)
        .map(|u| u.email.as_str());
    let outcome = match result {
        None => profile::Outcome::NotRun,
        Some(r) => match (&r.observation, r.status) {
            (_, Status::Skip) => profile::Outcome::NotRun,
            (Some(Observation::Error { .. }), _) | (None, _) => profile::Outcome::Error,
            _ if r.reached => profile::Outcome::Accepted,
            (Some(Observation::SignedIn { identity, .. }), _)
                if !probe.control.flow.is_logout()
                    && member.is_none_or(|m| !m.eq_ignore_ascii_case(identity)) =>
            {
                profile::Outcome::SignedInAs(identity.clone())
            }
            _ => profile::Outcome::Refused,
        },
    };
    profile::Entry {
        aspect: probe.aspect.to_owned(),
        value: probe.value.to_owned(),
        outcome,
        observed: result.map_or_else(|| "not run".to_owned(), |r| r.observed.clone()),
    }
}

/// Runs one planned scenario's exchange in its batch (see [`Batches`]) and with a permit:
/// the batch's hooks before its first member, the mock IdP back up and `reset` after its last
/// (also after a timeout). A scenario that needs the SP and the mock IdP to itself runs in an
/// environment of its own instead, where the harness can start one (the embedded reference
/// SP, with the HTTP driver), beside the others. Returns the exchange and the time it took
/// once it held its permit (queueing is not its time).
pub(super) async fn exchange(
    run: &Run<'_>,
    planned: &Planned,
    permits: &Semaphore,
    settings: &Batches,
    notes: &[String],
) -> (Exchange, Duration) {
    // A browser's sessions belong to the run's environment (its origins); the HTTP driver's
    // user agents are made for whichever environment a scenario runs in.
    if matches!(planned.batch, Batch::Alone(_))
        && matches!(run.options.driver, DriverKind::Http)
        && run.env.can_copy()
    {
        return exchange_in_copy(run, planned, notes).await;
    }
    let env = run.env;
    let scenario = &planned.scenario;
    let member = settings
        .enter(&planned.batch, || async {
            for hook in &planned.hooks {
                env.run_hook(hook).await?;
            }
            Ok(())
        })
        .await;
    let (mut exchange, took) = match member.failure.clone() {
        Some(e) => (Exchange::failed(&e, Evidence::default()), Duration::ZERO),
        None => exchange_in_batch(run, planned, permits, notes).await,
    };
    let mut closing = Vec::new();
    settings
        .leave(member, || async {
            if planned.uses_idp_outage
                && let Err(e) = set_outage(env, OutageMode::Up, None).await
            {
                closing.push(format!("the mock IdP did not come back afterwards: {e}"));
            }
            if planned.needs_reset
                && let Err(e) = env.run_hook("reset").await
            {
                tracing::error!(error = %e, scenario = %scenario.id, "reset hook failed");
                closing.push(format!("the reset hook failed afterwards: {e}"));
            }
        })
        .await;
    exchange.evidence.notes.extend(closing);
    run.breaker.record(&exchange, env.sp_base());
    (exchange, took)
}

/// An exchange that would have the SP and the mock IdP to itself, in a private copy of the
/// environment ([`Environment::private_copy`]), with a permit of the copies' own: its hooks
/// run there first; nothing is undone after it (no `reset`, no IdP back up), since the copy
/// is stopped.
async fn exchange_in_copy(
    run: &Run<'_>,
    planned: &Planned,
    notes: &[String],
) -> (Exchange, Duration) {
    let _permit = run.copies.acquire().await;
    let env = match run.env.private_copy().await {
        Ok(env) => env,
        Err(e) => {
            let e = Error::new(
                e.kind,
                format!("failed to start an environment of its own: {e}"),
            );
            return (Exchange::failed(&e, Evidence::default()), Duration::ZERO);
        }
    };
    let mut failure = None;
    for hook in &planned.hooks {
        if let Err(e) = env.run_hook(hook).await {
            failure = Some(e);
            break;
        }
    }
    let (exchange, took) = match failure {
        Some(e) => (Exchange::failed(&e, Evidence::default()), Duration::ZERO),
        None => {
            let mut notes = notes.to_vec();
            notes.push(
                "ran in an environment of its own (a fresh embedded reference SP and mock IdP, with the run's keys), beside the other scenarios".to_owned(),
            );
            let private = Run { env: &env, ..*run };
            exchange_held(&private, planned, &notes).await
        }
    };
    run.breaker.record(&exchange, env.sp_base());
    env.stop().await;
    (exchange, took)
}

/// The exchange itself, once its batch is open: with a permit and the scenario timeout.
async fn exchange_in_batch(
    run: &Run<'_>,
    planned: &Planned,
    permits: &Semaphore,
    notes: &[String],
) -> (Exchange, Duration) {
    let _permit = permits.acquire().await;
    exchange_held(run, planned, notes).await
}

/// The exchange itself, with its permit held: the scenario timeout, and the breaker's word.
async fn exchange_held(run: &Run<'_>, planned: &Planned, notes: &[String]) -> (Exchange, Duration) {
    let env = run.env;
    let scenario = &planned.scenario;
    if let Some(reason) = run.breaker.tripped() {
        return (
            Exchange::failed(&Error::transport(reason), Evidence::default()),
            Duration::ZERO,
        );
    }
    let started = Instant::now();
    let looks_bad = |e: &Exchange| {
        matches!(
            verdict_of(env, scenario, e.clone(), None).status,
            Status::Fail | Status::Error
        )
    };
    let mut notes = notes.to_vec();
    notes.extend(
        planned
            .hooks
            .iter()
            .map(|hook| format!("hook `{hook}` set the SP up")),
    );
    let body = execute(run, scenario, &notes, looks_bad);
    let exchange = match tokio::time::timeout(run.options.scenario_timeout, body).await {
        Ok(e) => e,
        // Whatever the scenario changed is undone even so, when its batch closes.
        Err(_) => Exchange::failed(
            &Error::transport(format!(
                "the scenario did not finish within {} s",
                run.options.scenario_timeout.as_secs()
            )),
            Evidence::default(),
        ),
    };
    (exchange, started.elapsed())
}

/// The verdict on a scenario's exchange, given its control (`None`: it is its own, or it is a
/// control). A step that did not lead where it must is judged as the scenario's outcome.
fn verdict_of(
    env: &Environment,
    scenario: &Scenario,
    exchange: Exchange,
    control: Option<ControlRef>,
) -> Verdict {
    let target = env.target();
    let file = &scenario.file;
    let refusals = Refusals::of(target.file.refusal.as_ref());
    let fetched = (!exchange.witness.1.is_empty())
        .then_some((exchange.witness.0.as_str(), exchange.witness.1.len()));
    let state = match &control {
        None => ControlState::Own,
        Some(c) if c.reached => ControlState::Reached { name: &c.name },
        Some(c) => ControlState::NotReached {
            name: &c.name,
            observed: &c.observed,
        },
    };
    // What is judged: the step that ended the scenario, or the main flow.
    let (case, seen, state, step) = match &exchange.step {
        Some(step) => (
            Case {
                expectation: &step.expect,
                level: file.level,
                severity: file.severity,
                user: &step.user,
                logout_flow: false,
                session_flow: false,
            },
            Seen {
                observation: &step.observation,
                off_origin: step.off_origin.as_deref(),
                sp_logout: None,
                fetched,
                signed: step.signed.as_ref(),
            },
            ControlState::Own,
            Some((step.n, step.flow)),
        ),
        None => (
            Case {
                expectation: &file.expect,
                level: file.level,
                severity: file.severity,
                user: &file.user,
                logout_flow: file.flow.is_logout(),
                session_flow: file.flow == crate::scenario::Flow::Session,
            },
            Seen {
                observation: &exchange.observation,
                off_origin: exchange.off_origin.as_deref(),
                sp_logout: exchange.sp_logout.as_ref(),
                fetched,
                signed: exchange.signed.as_ref(),
            },
            state,
            None,
        ),
    };
    let j = decide(&case, &seen, state, &target.file.users, refusals);
    let observed = match seen.observation {
        Observation::NotSignedIn {
            status: None,
            reason: None,
            ..
        } if case.logout_flow => "signed out".to_owned(),
        other => other.summary(),
    };
    let (expected, observed, reason) = match step {
        Some((n, flow)) => (
            format!("step {n}: {}", j.expected),
            format!("step {n}: {observed}"),
            format!("step {n} ({}): {}", flow.as_str(), j.reason),
        ),
        None => (j.expected, observed, j.reason),
    };
    Verdict {
        id: scenario.id.clone(),
        title: file.title.clone(),
        status: j.status,
        severity: j.severity,
        severity_reason: j.severity_reason,
        level: file.level,
        expected,
        observed,
        reason,
        spec: file.spec.clone(),
        duration_ms: 0,
        observation: Some(seen.observation.clone()),
        expectation: Some(case.expectation.clone()),
        control,
        evidence: exchange.evidence,
    }
}

/// A scenario that does not run on this target, and why.
fn skipped(scenario: &Scenario, reason: String) -> Verdict {
    Verdict {
        id: scenario.id.clone(),
        title: scenario.file.title.clone(),
        status: Status::Skip,
        severity: None,
        severity_reason: None,
        level: scenario.file.level,
        expected: crate::judge::describe(&scenario.file.expect),
        observed: "not run".to_owned(),
        reason,
        spec: scenario.file.spec.clone(),
        duration_ms: 0,
        observation: None,
        expectation: Some(scenario.file.expect.clone()),
        control: None,
        evidence: Evidence::default(),
    }
}
