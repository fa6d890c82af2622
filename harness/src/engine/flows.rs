//! Flows: one scenario's exchanges in a fresh user agent, from the first step to the session
//! probe, recorded as an [`Exchange`] for the judge. Nothing here decides a verdict; a step's
//! own expectation is checked (a step that does not lead where it must ends the scenario).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mock_idp::Outage;

use super::Run;
use super::observe::{
    failed_hop, not_signed_in, probe, record_saml, refusal_from, signed_by_the_idp, transport,
};
use crate::driver::http::{SamlSeen, UserAgent, origin};
use crate::driver::{Agent, DriverKind};
use crate::env::Environment;
use crate::error::Error;
use crate::judge::{Judgement, Refusals, Signed, SpLogoutMessage, judge};
use crate::scenario::{Expectation, Flow, OutageMode, Scenario, Step};
use crate::target::Target;
use crate::template::Vars;
use crate::verdict::{Evidence, Observation, Status};
use crate::witness::Hit;

/// What one scenario's exchanges showed, before judging.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// The observation of the main flow (an error when the exchange did not complete).
    pub(crate) observation: Observation,
    /// A redirect to another origin after the response.
    pub(crate) off_origin: Option<String>,
    /// The SP's own logout message, in a logout flow.
    pub(crate) sp_logout: Option<SpLogoutMessage>,
    /// The witness URL of this run of the scenario, and what reached it.
    pub(crate) witness: (String, Vec<Hit>),
    /// What the IdP's signatures vouched for in the response the main flow's session came
    /// from (`None`: none did, e.g. a password login).
    pub(crate) signed: Option<Signed>,
    /// A step whose own expectation was not met (it ended the scenario).
    pub(crate) step: Option<StepEnd>,
    /// Why the exchange could not complete, when it could not.
    pub(crate) failure: Option<Error>,
    /// The trace.
    pub(crate) evidence: Evidence,
}

/// A step that did not lead where it must.
#[derive(Debug, Clone)]
pub(crate) struct StepEnd {
    /// Its 1-based number.
    pub(crate) n: usize,
    /// Its flow.
    pub(crate) flow: Flow,
    /// Its logical user.
    pub(crate) user: String,
    /// What it had to lead to.
    pub(crate) expect: Expectation,
    /// What it led to.
    pub(crate) observation: Observation,
    /// A redirect to another origin in it.
    pub(crate) off_origin: Option<String>,
    /// What the IdP signed in it.
    pub(crate) signed: Option<Signed>,
}

impl Exchange {
    /// An exchange that could not complete.
    pub(crate) fn failed(error: &Error, evidence: Evidence) -> Self {
        Self {
            observation: Observation::Error {
                message: error.to_string(),
            },
            off_origin: None,
            sp_logout: None,
            witness: (String::new(), Vec::new()),
            signed: None,
            step: None,
            failure: Some(error.clone()),
            evidence,
        }
    }
}

/// Runs the steps and the flow in a fresh user agent of the run's driver. A browser scenario
/// whose exchange looks failed or errs is photographed (`looks_bad` decides from the
/// exchange, as the judge would without a control; a control never turns a pass into a
/// failure).
pub(super) async fn execute(
    run: &Run<'_>,
    scenario: &Scenario,
    notes: &[String],
    looks_bad: impl Fn(&Exchange) -> bool,
) -> Exchange {
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
        Err(e) => {
            return Exchange::failed(&transport(&e, "starting the user agent"), evidence);
        }
    };
    let mut exchange = execute_in(env, scenario, evidence, &mut ua).await;
    if looks_bad(&exchange)
        && let Some(png) = ua.screenshot().await
    {
        exchange.evidence.screenshot = Some(base64::engine::general_purpose::STANDARD.encode(png));
    }
    if let Some(lease) = lease {
        lease.release();
    }
    exchange
}

/// One login of a scenario: the flow, as whom, and whether the IdP is out.
struct Attempt<'a> {
    flow: Flow,
    user_name: &'a str,
    outage: bool,
    want_role: bool,
    relay_state: Option<&'a str>,
    /// Which SP-initiated login URL starts an SP-initiated login.
    sp_login: crate::scenario::SpLogin,
    /// This scenario run's witness URL (`{witness.url}`).
    witness_url: &'a str,
}

/// What one attempt showed.
struct Attempted {
    observation: Observation,
    off_origin: Option<String>,
    signed: Option<Signed>,
    failure: Option<Error>,
}

impl Attempted {
    /// An attempt that could not be made or completed.
    #[allow(clippy::needless_pass_by_value)] // the shape `unwrap_or_else` hands over
    fn failed(e: Error) -> Self {
        Self {
            observation: Observation::Error {
                message: e.to_string(),
            },
            off_origin: None,
            signed: None,
            failure: Some(e),
        }
    }
}

/// Runs the steps and the flow in `ua`.
async fn execute_in(
    env: &Environment,
    scenario: &Scenario,
    mut evidence: Evidence,
    ua: &mut Agent,
) -> Exchange {
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
    // What the IdP signed in the latest SAML login: the session a `session` flow probes came
    // from it.
    let mut last_signed: Option<Signed> = None;

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
    let finish = |attempted: Attempted,
                  evidence: Evidence,
                  sp_logout: Option<SpLogoutMessage>,
                  step: Option<StepEnd>| Exchange {
        observation: attempted.observation,
        off_origin: attempted.off_origin,
        sp_logout,
        witness: (witness_url.clone(), env.witness().hits_for(&token)),
        signed: attempted.signed,
        step,
        failure: attempted.failure,
        evidence,
    };
    // A step that could not be taken ends the scenario as an error.
    let failed = |e: Error, evidence: Evidence| finish(Attempted::failed(e), evidence, None, None);
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
                    sp_login: scenario.file.sp_login,
                    witness_url: &witness_url,
                };
                let mut step_evidence = Evidence::default();
                let attempted =
                    attempt_login(env, scenario, &attempt, &passwords, ua, &mut step_evidence)
                        .await
                        .unwrap_or_else(Attempted::failed);
                evidence.hops.append(&mut step_evidence.hops);
                if attempted.signed.is_some() {
                    last_signed.clone_from(&attempted.signed);
                }
                if step_evidence.plan_id.is_some() {
                    evidence.plan_id = step_evidence.plan_id.take();
                    evidence.plan = step_evidence.plan.take();
                }
                evidence.notes.push(format!(
                    "step {n} ({} as {user_name}): {}",
                    flow.as_str(),
                    attempted.observation.summary()
                ));
                evidence.notes.append(&mut step_evidence.notes);
                if let Some(expect) = expect {
                    let met: Judgement = judge(
                        expect,
                        scenario.file.level,
                        scenario.file.severity,
                        user_name,
                        &attempted.observation,
                        &target.file.users,
                        attempted.off_origin.as_deref(),
                        Refusals::of(target.file.refusal.as_ref()),
                    );
                    if met.status != Status::Pass {
                        let end = StepEnd {
                            n,
                            flow: *flow,
                            user: user_name.to_owned(),
                            expect: expect.clone(),
                            observation: attempted.observation.clone(),
                            off_origin: attempted.off_origin.clone(),
                            signed: attempted.signed.clone(),
                        };
                        return finish(attempted, evidence, None, Some(end));
                    }
                }
            }
            Step::Set { setting } => {
                if let Err(e) = env.run_hook(setting).await {
                    let e = e.context(format!("step {n}"));
                    return failed(e, evidence);
                }
                evidence
                    .notes
                    .push(format!("step {n}: hook `{setting}` changed the SP"));
            }
            Step::Idp {
                outage: mode,
                delay_ms,
            } => {
                if let Some(ms) = short_patience(target, *mode, *delay_ms) {
                    // The scenario runs alone or in a copy of its own (see `preflight`), and
                    // `reset` gives the SP its own patience back.
                    if let Err(e) = env.set_idp_patience(ms).await {
                        return failed(e.context(format!("step {n}")), evidence);
                    }
                    evidence.notes.push(format!(
                        "step {n}: set the SP's patience with the IdP to {ms} ms (hook `patience`) instead of waiting for its own"
                    ));
                }
                if let Err(e) = set_outage(env, *mode, *delay_ms).await {
                    return failed(e.context(format!("step {n}")), evidence);
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
                    return failed(
                        Error::input(format!("step {n}: no usable logout URL")),
                        evidence,
                    );
                };
                let mut seen = SamlSeen::default();
                let navigated = ua.navigate("GET", &url, Vec::new(), &mut seen).await;
                evidence.hops.extend(ua.take_hops());
                if let Err(e) = navigated {
                    return failed(transport(&e, &format!("step {n} (logout)")), evidence);
                }
                evidence.notes.push(format!("step {n}: signed out ({url})"));
            }
            Step::Wait { ms } if env.target().time_travel() => {
                // The scenario runs alone (see `preflight`), and `reset` sets the
                // clock back after it.
                if let Err(e) = env.advance_clock(*ms).await {
                    return failed(e.context(format!("step {n} (wait)")), evidence);
                }
                evidence.notes.push(format!(
                    "step {n}: moved the SP's clock {ms} ms forward (hook `clock`) instead of waiting"
                ));
            }
            Step::Wait { ms } => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                evidence.notes.push(format!("step {n}: waited {ms} ms"));
            }
            Step::ResetPassword { password } => {
                match reset_password(env, scenario, password, ua).await {
                    Ok(note) => {
                        passwords.insert(scenario.file.user.clone(), password.clone());
                        evidence.notes.push(format!("step {n}: {note}"));
                    }
                    Err(e) => {
                        return failed(e.context(format!("step {n}")), evidence);
                    }
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
        sp_login: scenario.file.sp_login,
        witness_url: &witness_url,
    };
    let logout_since = evidence.plan_id.as_deref().map(|plan| {
        env.idp()
            .idp()
            .log(Some(plan), LOGOUT_LOG_WINDOW)
            .last()
            .map_or(0, |e| e.seq)
    });
    let mut attempted = attempt_login(env, scenario, &attempt, &passwords, ua, &mut evidence)
        .await
        .unwrap_or_else(Attempted::failed);
    if scenario.file.flow == Flow::Session {
        attempted.signed = last_signed;
    }
    let sp_logout = match (
        scenario.file.flow.is_logout(),
        evidence.plan_id.clone(),
        logout_since,
    ) {
        (true, Some(plan), Some(since)) => Some(read_logout_log(
            env,
            scenario.file.flow,
            &plan,
            since,
            &mut evidence,
        )),
        _ => None,
    };
    for hit in env.witness().hits_for(&token) {
        evidence.notes.push(format!(
            "the SP fetched the witness: {} {}",
            hit.method, hit.path
        ));
    }
    finish(attempted, evidence, sp_logout, None)
}

/// One login as `attempt` says, in `ua`; the observation afterwards.
async fn attempt_login(
    env: &Environment,
    scenario: &Scenario,
    attempt: &Attempt<'_>,
    passwords: &BTreeMap<String, String>,
    ua: &mut Agent,
    evidence: &mut Evidence,
) -> Result<Attempted, Error> {
    let target = env.target();
    let user_name = attempt.user_name;
    let Some(user) = target.file.users.get(user_name) else {
        return Err(Error::input(format!(
            "the scenario's user `{user_name}` is not in target {}'s [users]",
            target.file.name
        )));
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
    let plain = |observation| Attempted {
        observation,
        off_origin: None,
        signed: None,
        failure: None,
    };
    match attempt.flow {
        Flow::Password => {
            let Some(form) = &target.file.login.password else {
                return Err(Error::input(format!(
                    "target {} has no password form",
                    target.file.name
                )));
            };
            let url = vars.render(&form.url)?;
            let fields = form
                .fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), vars.render(v)?)))
                .collect::<Result<Vec<_>, crate::template::TemplateError>>()?;
            let mut seen = SamlSeen::default();
            let page = ua.navigate("POST", &url, fields, &mut seen).await;
            evidence.hops.extend(ua.take_hops());
            let page = page.map_err(|e| transport(&e, "the password login"))?;
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            // A logout may end at the IdP (its "signed out" page); only an SP page can carry
            // a refusal.
            Ok(plain(if origin(&page.url) == origin(env.sp_base()) {
                refusal_from(observation, Some(&page), env, None)
            } else {
                observation
            }))
        }
        Flow::Api => {
            let Some(api) = &target.file.api else {
                return Err(Error::input(format!(
                    "target {} has no API",
                    target.file.name
                )));
            };
            let url = vars.render(&api.url)?;
            let password = vars.get("user.password").unwrap_or_default().to_owned();
            let page = ua
                .get_basic(&url, &user.email, &password)
                .await
                .map_err(|e| transport(&e, "the API call"))?;
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
            Ok(plain(if (200..300).contains(&page.status) {
                match api.identity.extract(&page.body) {
                    Some(identity) => Observation::SignedIn {
                        identity,
                        role: None,
                    },
                    None => {
                        return Err(Error::sp(format!(
                            "the API answered {} but the identity could not be read from it",
                            page.status
                        )));
                    }
                }
            } else {
                refusal_from(not_signed_in(), Some(&page), env, None)
            }))
        }
        Flow::Session => {
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            Ok(plain(observation))
        }
        Flow::IdpLogout | Flow::SpLogout => {
            if evidence.plan_id.is_none() {
                return Err(Error::harness(
                    "no login before the logout: the mock IdP has no session to end",
                ));
            }
            let url = if attempt.flow == Flow::IdpLogout {
                format!("{}/slo/start", env.idp().base_url())
            } else {
                let Some(url) = &target.file.session.slo_url else {
                    return Err(Error::input(format!(
                        "target {} has no [session].slo_url",
                        target.file.name
                    )));
                };
                vars.render(url)?
            };
            let mut seen = SamlSeen::default();
            let page = ua.navigate("GET", &url, Vec::new(), &mut seen).await;
            evidence.hops.extend(ua.take_hops());
            let page = page.map_err(|e| transport(&e, "the logout"))?;
            let (observation, note) = probe(ua, env, &vars, attempt.want_role).await?;
            evidence.probe = Some(note);
            evidence.hops.extend(ua.take_hops());
            Ok(plain(refusal_from(observation, Some(&page), env, None)))
        }
        Flow::SpInitiated
        | Flow::IdpInitiated
        | Flow::Replay
        | Flow::IdpInitiatedReplay
        | Flow::CrossAgent => {
            let plan = render_plan(scenario, &vars, &user.email)?;
            let signed = signed_by_the_idp(&plan, &scenario.file.requires.settings, &user.email);
            evidence.plan = serde_json::to_value(&plan).ok();
            let plan_id = env.idp().idp().create_plan(plan);
            evidence.plan_id = Some(plan_id.clone());
            let idp_base = env.idp().base_url().to_owned();
            ua.add_cookie(
                &format!("{}={plan_id}; Path=/", mock_idp::server::PLAN_COOKIE),
                &idp_base,
            )
            .await
            .map_err(|e| transport(&e, "binding the plan to the user agent"))?;
            let mut off_origin = None;
            let observation = drive(
                env,
                attempt,
                &vars,
                &user.email,
                plan_id.as_str(),
                &idp_base,
                ua,
                evidence,
                &mut off_origin,
            )
            .await?;
            Ok(Attempted {
                observation,
                off_origin,
                signed: Some(signed),
                failure: None,
            })
        }
    }
}

/// The scenario's plan with placeholders filled and the user defaulted.
fn render_plan(scenario: &Scenario, vars: &Vars, email: &str) -> Result<mock_idp::Plan, Error> {
    let mut json = serde_json::to_value(&scenario.file.plan)
        .map_err(|e| Error::harness(format!("failed to serialize the plan: {e}")))?;
    vars.render_json(&mut json)?;
    let mut plan: mock_idp::Plan = serde_json::from_value(json)
        .map_err(|e| Error::input(format!("failed to read the filled plan: {e}")))?;
    if plan.user.is_none() {
        plan.user = Some(email.to_owned());
    }
    Ok(plan)
}

/// A SAML login: the user agent starts it, follows every hop, and the SP is asked who is signed
/// in. A hop that gets no usable answer (from the SP, or from the IdP while it is not out on
/// purpose) makes the attempt an error, whenever it happens: a reset connection is never a
/// refusal.
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
) -> Result<Observation, Error> {
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
                query.append_pair("relay_state", &vars.render(rs)?);
            }
            format!("{idp_base}/idp-initiated?{}", query.finish())
        }
        _ => {
            // Preflight skips a scenario whose login URL the target lacks.
            let url = target.file.login.url(attempt.sp_login).ok_or_else(|| {
                Error::input(format!("the target has no {}", attempt.sp_login.field()))
            })?;
            vars.render(url)?
        }
    };
    let navigation = first
        .navigate("GET", &start_url, Vec::new(), &mut seen)
        .await;
    record_saml(&seen, evidence);
    let mut ended = None;
    let mut last_page = None;
    match &navigation {
        Ok(page) => last_page = Some(page.clone()),
        Err(e) => {
            let request_failed = matches!(e, crate::driver::DriverError::Request { .. });
            if attempt.outage && request_failed {
                // The IdP is out on purpose: where the attempt died is the observation (in
                // words that do not change from run to run: no URLs, no ports). An SP that
                // hangs on a dead IdP is what the scenario is about.
                ended = Some(match failed_hop(first.hops()) {
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
            } else if request_failed
                || (seen.response_post.is_none() && seen.after_response.is_none())
            {
                evidence.hops.extend(first.take_hops());
                return Err(transport(e, "the login"));
            } else {
                // The SP answered every hop, but the navigation could not go on (a redirect
                // loop, a redirect without a Location): the session probe decides.
                evidence
                    .notes
                    .push(format!("navigation after the response ended early: {e}"));
            }
        }
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
                return Err(Error::sp(missing));
            };
            evidence.notes.push(note.to_owned());
            let mut other = first
                .fresh(&sp_base, idp_base)
                .await
                .map_err(|e| transport(&e, "starting a second user agent"))?;
            if flow == Flow::CrossAgent {
                // The second browser has a login of its own in flight.
                let mut own = SamlSeen {
                    hold_response: true,
                    ..SamlSeen::default()
                };
                other
                    .navigate("GET", &start_url, Vec::new(), &mut own)
                    .await
                    .map_err(|e| transport(&e, "the second user agent's login"))?;
            }
            let mut seen_other = SamlSeen::default();
            let posted = other
                .navigate("POST", &form.action, form.fields, &mut seen_other)
                .await;
            match posted {
                Ok(page) => last_page = Some(page),
                Err(e) => {
                    if matches!(e, crate::driver::DriverError::Request { .. })
                        || seen_other.after_response.is_none()
                    {
                        evidence.hops.extend(other.take_hops());
                        return Err(transport(&e, "posting the response again"));
                    }
                }
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

/// The patience the SP is given with the `patience` hook before a `slow` outage, when the
/// target has that hook and the IdP's delay is well beyond it (at least twice); `None`: the
/// scenario waits for the SP's own patience.
pub(super) fn short_patience(
    target: &Target,
    mode: OutageMode,
    delay_ms: Option<u64>,
) -> Option<u64> {
    let delay = delay_ms.map_or(mock_idp::outage::DEFAULT_SLOW_DELAY, Duration::from_millis);
    let ms = crate::vocabulary::SHORT_PATIENCE_MS;
    (mode == OutageMode::Slow
        && target.shortens_patience()
        && delay >= Duration::from_millis(2 * ms))
    .then_some(ms)
}

/// Puts the mock IdP into an outage mode; back `up`, waits (bounded) until it answers again.
pub(super) async fn set_outage(
    env: &Environment,
    mode: OutageMode,
    delay_ms: Option<u64>,
) -> Result<(), Error> {
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
                return Err(Error::harness(format!(
                    "the mock IdP at {addr} still accepts connections 5 s into its outage"
                )));
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
        .map_err(|e| Error::harness(e.to_string()))?;
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
            return Err(Error::harness(format!(
                "{url} did not answer within 5 s of the outage's end"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
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
) -> SpLogoutMessage {
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
        (Some(e), _) => SpLogoutMessage::Sent {
            what,
            problems: e.problems.clone(),
            answered: e.answered,
        },
        (None, Some(error)) => SpLogoutMessage::Sent {
            what,
            problems: vec![format!("the mock IdP could not read it: {error}")],
            answered: None,
        },
        (None, None) => SpLogoutMessage::Missing { what },
    }
}

/// The target's password reset for the scenario's user: a token, then the form.
async fn reset_password(
    env: &Environment,
    scenario: &Scenario,
    password: &str,
    ua: &mut Agent,
) -> Result<String, Error> {
    let target = env.target();
    let Some(reset) = &target.file.login.password_reset else {
        return Err(Error::input(format!(
            "target {} has no [login.password_reset]",
            target.file.name
        )));
    };
    let Some(user) = target.file.users.get(&scenario.file.user) else {
        return Err(Error::input(format!(
            "no user `{}` in the target",
            scenario.file.user
        )));
    };
    let mut vars = env.vars().clone();
    vars.set("user.email", user.email.clone())
        .set("reset.password", password.to_owned());
    let body = env
        .http_request(&reset.token_request, &vars)
        .await
        .map_err(|e| e.context("the reset token request failed"))?;
    let token = reset
        .token
        .extract(&body)
        .ok_or_else(|| Error::sp("no reset token in the answer to the token request"))?;
    vars.set("reset.token", token);
    let url = vars.render(&reset.url)?;
    let fields = reset
        .fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), vars.render(v)?)))
        .collect::<Result<Vec<_>, crate::template::TemplateError>>()?;
    let mut seen = SamlSeen::default();
    let page = ua
        .navigate("POST", &url, fields, &mut seen)
        .await
        .map_err(|e| transport(&e, "the password reset form"))?;
    if page.status >= 400 {
        return Err(Error::sp(format!(
            "the reset form answered {}: {}",
            page.status,
            page.body.chars().take(200).collect::<String>()
        )));
    }
    Ok(format!(
        "password reset for {} through {url} ({})",
        user.email, page.status
    ))
}
