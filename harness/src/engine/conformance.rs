//! The SP-side conformance scenarios (`expect.outcome = "conforms"`): judged from what the SP
//! publishes and sends, not from a login's outcome. The run collects once what they read, the
//! SP's metadata from the target's metadata URL and the AuthnRequests of a few SP-initiated
//! logins (as the mock IdP received them, HTTP-Redirect queries to the octet), then runs each
//! scenario's check over them ([`crate::conformance`]).

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::batches::Batches;

use super::Run;
use super::controls::{Skip, preflight};
use super::schedule::exchange;
use crate::conformance::metadata::MetadataDoc;
use crate::conformance::{
    CheckName, Finding, Known, Outcome, RequestBinding, SeenRequest, Subject,
};
use crate::control::Control;
use crate::scenario::{Expectation, Flow, Level, Scenario, SpLogin};
use crate::verdict::{Evidence, Status, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// How many SP-initiated logins the run starts to collect AuthnRequests (IDs are compared
/// across them).
const LOGINS: usize = 5;

/// Whether a scenario is one of these.
pub(super) fn is_conformance(scenario: &Scenario) -> bool {
    matches!(scenario.file.expect, Expectation::Conforms { .. })
}

/// What the checks read, collected once per run.
pub(super) struct Collected {
    metadata: Result<MetadataDoc, String>,
    /// The AuthnRequests, by the login URL that made the SP send them.
    requests: BTreeMap<SpLogin, Requests>,
}

/// The AuthnRequests of some logins.
struct Requests {
    seen: Result<Vec<SeenRequest>, String>,
    /// Notes on how they were collected (a login that went wrong).
    notes: Vec<String>,
}

/// Collects the metadata (when a scenario needs it) and the AuthnRequests (when one needs them).
pub(super) async fn collect(
    run: &Run<'_>,
    scenarios: &[&Scenario],
    permits: &Semaphore,
    settings: &Batches,
) -> Collected {
    let checks: Vec<CheckName> = scenarios.iter().filter_map(|s| check_of(s)).collect();
    let env = run.env;
    let metadata = if checks
        .iter()
        .any(|c| c.needs().metadata != crate::conformance::catalog::Use::No)
    {
        env.fetch_sp_metadata(run.options.step_timeout)
            .await
            .map(|(source, xml)| MetadataDoc::new(&source, xml))
    } else {
        Err("not needed".to_owned())
    };
    let kinds: BTreeSet<SpLogin> = checks
        .iter()
        .filter(|c| c.needs().requests)
        .map(|c| c.needs().asked.unwrap_or_default())
        .collect();
    let mut requests = BTreeMap::new();
    for kind in kinds {
        // The usual login's requests are compared with each other; one login says what the
        // SP sends when the application asks for something.
        let logins = if kind == SpLogin::Usual { LOGINS } else { 1 };
        let mut notes = Vec::new();
        let seen = collect_requests(run, permits, settings, kind, logins, &mut notes).await;
        requests.insert(kind, Requests { seen, notes });
    }
    Collected { metadata, requests }
}

fn check_of(scenario: &Scenario) -> Option<CheckName> {
    match &scenario.file.expect {
        Expectation::Conforms { check, .. } => Some(*check),
        _ => None,
    }
}

async fn collect_requests(
    run: &Run<'_>,
    permits: &Semaphore,
    settings: &Batches,
    kind: SpLogin,
    logins: usize,
    notes: &mut Vec<String>,
) -> Result<Vec<SeenRequest>, String> {
    let env = run.env;
    let login = Control {
        flow: Flow::SpInitiated,
        user: "member".to_owned(),
        plan: mock_idp::Plan::default(),
        steps: Vec::new(),
        settings: Vec::new(),
        sp_login: kind,
    }
    .to_scenario(
        "conformance/collect",
        "an SP-initiated login, for its AuthnRequest",
    );
    let sp = env.sp_entry();
    let planned = match preflight(env.target(), sp.as_ref(), &login, true) {
        Ok(p) => p,
        Err(Skip(reason)) => {
            return Err(format!(
                "no SP-initiated login to collect AuthnRequests from: {reason}"
            ));
        }
    };
    let sso = format!("{}/sso", env.idp().base_url());
    let mut out = Vec::new();
    for n in 1..=logins {
        let (done, _) = exchange(run, &planned, permits, settings, &[]).await;
        let Some(plan) = done.evidence.plan_id.as_deref() else {
            notes.push(format!(
                "login {n} reached no mock IdP plan: {}",
                done.observation.summary()
            ));
            continue;
        };
        let log = env.idp().idp().log(Some(plan), 16);
        let Some(e) = log.iter().find(|e| {
            matches!(
                e.kind,
                mock_idp::exchange::ExchangeKind::SsoRedirect
                    | mock_idp::exchange::ExchangeKind::SsoPost
            ) && e.request_xml.is_some()
        }) else {
            notes.push(format!("login {n}: the mock IdP received no AuthnRequest"));
            continue;
        };
        let at = DateTime::parse_from_rfc3339(&e.at)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let seen = match (e.kind, &e.request_query, &e.request_xml) {
            (mock_idp::exchange::ExchangeKind::SsoRedirect, Some(query), _) => {
                SeenRequest::from_query(
                    format!("request {n} (HTTP-Redirect)"),
                    Some(sso.clone()),
                    query,
                    at,
                )
            }
            (_, _, Some(xml)) => {
                let mut r = SeenRequest::from_xml(
                    format!("request {n} (HTTP-POST)"),
                    xml.clone(),
                    RequestBinding::Post,
                );
                r.sent_to = Some(sso.clone());
                r.relay_state.clone_from(&e.relay_state);
                r.received_at = at;
                Ok(r)
            }
            _ => Err("the mock IdP logged no request".to_owned()),
        };
        match seen {
            Ok(r) => out.push(r),
            Err(e) => notes.push(format!("login {n}: the AuthnRequest cannot be read: {e}")),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no AuthnRequest reached the mock IdP in {logins} SP-initiated logins{}",
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        ));
    }
    Ok(out)
}

/// What else the checks know in a run.
pub(super) fn known(run: &Run<'_>, profile: Option<&crate::profile::Profile>) -> Known {
    let env = run.env;
    let sso = format!("{}/sso", env.idp().base_url());
    Known {
        now: Utc::now(),
        clock_skew_seconds: 60,
        idp_sso: vec![
            (RequestBinding::Redirect, sso.clone()),
            (RequestBinding::Post, sso),
        ],
        // The mock IdP's metadata, as the target was given it, says false.
        idp_wants_signed: Some(false),
        emails: env
            .target()
            .file
            .users
            .values()
            .map(|u| u.email.clone())
            .collect(),
        profile: profile.cloned(),
    }
}

/// The verdict of one conformance scenario.
pub(super) fn verdict(scenario: &Scenario, collected: &Collected, known: &Known) -> Verdict {
    let file = &scenario.file;
    let Expectation::Conforms { check, params } = &file.expect else {
        // The engine sends only conformance scenarios here.
        return Verdict {
            status: Status::Error,
            ..skeleton(scenario, "not a conformance scenario".to_owned())
        };
    };
    let asked = check.needs().asked;
    let set = collected.requests.get(&asked.unwrap_or_default());
    let requests: Result<&[SeenRequest], &str> = match set {
        Some(Requests { seen: Ok(r), .. }) => Ok(r),
        Some(Requests { seen: Err(why), .. }) => Err(why),
        None => Err("no AuthnRequest was collected"),
    };
    let subject = Subject {
        metadata: collected.metadata.as_ref().map_err(String::as_str),
        requests,
        asked,
        known,
    };
    let found: Finding = crate::conformance::run(*check, params, &subject);
    let status = match (found.outcome, file.level) {
        (Outcome::Pass, _) => Status::Pass,
        (Outcome::Fail, Level::Must) => Status::Fail,
        (Outcome::Fail | Outcome::Warn, _) => Status::Warn,
        (Outcome::Skip, _) => Status::Skip,
    };
    let mut v = skeleton(scenario, found.summary.clone());
    v.status = status;
    v.severity = (status == Status::Fail).then_some(file.severity);
    // What was seen, in one line; the reason says what it was judged from.
    v.observed = if found.outcome == Outcome::Skip {
        "not judged".to_owned()
    } else {
        found.summary.clone()
    };
    v.reason = match (found.outcome, check.is_metadata()) {
        (Outcome::Skip, _) => found.summary.clone(),
        (_, true) => match &collected.metadata {
            Ok(doc) => format!("{}; from the SP's metadata ({})", found.summary, doc.source),
            Err(_) => found.summary.clone(),
        },
        (_, false) => format!(
            "{}; from {} AuthnRequest(s) of SP-initiated logins{}",
            found.summary,
            requests.map_or(0, <[SeenRequest]>::len),
            match asked {
                Some(kind) => format!(" started at {}", kind.field()),
                None => String::new(),
            }
        ),
    };
    let mut notes = found.evidence;
    if let Some(set) = set
        && !check.is_metadata()
        && found.outcome != Outcome::Skip
    {
        notes.extend(set.notes.iter().cloned());
    }
    v.evidence = Evidence {
        notes,
        authn_request: (!check.is_metadata())
            .then(|| {
                requests
                    .ok()?
                    .first()
                    .map(|r| mock_idp::xml::pretty(&r.xml))
            })
            .flatten(),
        ..Evidence::default()
    };
    v
}

fn skeleton(scenario: &Scenario, reason: String) -> Verdict {
    let file = &scenario.file;
    Verdict {
        id: scenario.id.clone(),
        title: file.title.clone(),
        status: Status::Skip,
        severity: None,
        severity_reason: None,
        level: file.level,
        expected: crate::judge::describe(&file.expect),
        observed: String::new(),
        reason,
        spec: file.spec.clone(),
        duration_ms: 0,
        observation: None,
        expectation: Some(file.expect.clone()),
        control: None,
        evidence: Evidence::default(),
    }
}
