//! Replays a captured response: a plan that makes the mock IdP send the same shape again
//! (NameID and format, the email attribute, signing layout and key, how Destination, Recipient
//! and Audience relate to the SP, the status, time offsets), aimed at the target's own URLs
//! with the same defect, run by the engine against the target like any scenario. The SP's
//! verdict is then shown beside the diagnosis.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mock_idp::plan::{
    Alteration, DigestAlgorithm, IssuerScope, Omittable, SignatureAlgorithm, Signing,
    SigningLayout, Tamper, TimeField,
};
use mock_idp::{Flavour, KeyChoice, Plan};
use serde::Serialize;

use super::checks::{Context, Diagnosis, EmailSource, Outcome};
use super::facts::{Facts, Instant, looks_like_email};
use super::input::Capture;
use super::signature::SignedBy;
use crate::engine::{self, RunOptions};
use crate::env::{EnvOptions, Environment, SpLaunch};
use crate::run::TargetChoice;
use crate::scenario::{
    Expectation, Flow, Level, Origin, Requirements, Scenario, ScenarioFile, Severity,
};
use crate::target::Target;
use crate::verdict::{Observation, Verdict};

const ENTRA_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";

/// The target's own addresses, which the mirrored plan aims at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrls {
    /// The target's ACS URL.
    pub acs_url: String,
    /// The target's entityID.
    pub entity_id: String,
}

/// A scenario that mirrors one capture, and what could not be mirrored.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The scenario (its plan is the mirror).
    pub scenario: Scenario,
    /// How each part was mirrored, and what was left out.
    pub notes: Vec<String>,
}

/// One reproduction: the diagnosis's prediction beside what the SP did.
#[derive(Debug, Clone, Serialize)]
pub struct Reproduction {
    /// Which capture.
    pub capture: String,
    /// The failed checks' rules, the diagnosis's verdict.
    pub failed_rules: Vec<&'static str>,
    /// The reference SP's reason the diagnosis predicts (none: it predicts a sign-in).
    pub predicted_refusal: Option<&'static str>,
    /// What the SP did, in words.
    pub observed: String,
    /// The refusal reason the SP showed, if any.
    pub sp_reason: Option<String>,
    /// Whether the SP did what the diagnosis predicts (refused iff a check failed).
    pub agrees: bool,
    /// Whether the SP's reason is the predicted reference-SP reason code.
    pub same_reason: bool,
    /// The plan sent, as JSON.
    pub plan: serde_json::Value,
    /// How the capture was mirrored.
    pub notes: Vec<String>,
    /// The harness's full verdict (hops, XML).
    #[serde(skip)]
    pub verdict: Verdict,
}

/// Failed to reproduce: a bad target (exit code 2) or the environment (exit code 3).
pub type ReproduceError = crate::error::Error;

/// Starts the target (the embedded reference SP when `target` says so), replays each capture
/// with its diagnosis, and stops everything.
pub async fn reproduce(
    items: &[(Capture, Diagnosis, Context)],
    target: &TargetChoice,
) -> Result<Vec<Reproduction>, ReproduceError> {
    let (target, launch) = match target {
        TargetChoice::EmbeddedReference { weaken } => (
            Target::embedded_reference_sp()
                .map_err(|e| crate::error::Error::input(e.to_string()))?,
            SpLaunch::InProcessReference {
                weaken: weaken.clone(),
            },
        ),
        TargetChoice::File(path) => (
            Target::load(path).map_err(|e| crate::error::Error::input(e.to_string()))?,
            SpLaunch::FromTarget,
        ),
    };
    let env = Environment::start(EnvOptions {
        target,
        launch,
        key_type: mock_idp::KeyType::Rsa2048,
        sp_log: None,
        idp_state: None,
        key_cache: None,
    })
    .await?;
    let urls = TargetUrls {
        acs_url: env.vars().get("sp.acs_url").unwrap_or_default().to_owned(),
        entity_id: env
            .vars()
            .get("sp.entity_id")
            .unwrap_or_default()
            .to_owned(),
    };
    let env = Arc::new(env);
    let mut out = Vec::new();
    for (i, (capture, diagnosis, ctx)) in items.iter().enumerate() {
        let facts = Facts::read(&capture.xml).map_err(crate::error::Error::input)?;
        let mirror = mirror(i + 1, capture, &facts, diagnosis, ctx, &urls);
        let plan = serde_json::to_value(&mirror.scenario.file.plan).unwrap_or_default();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let verdicts = engine::run(
            Arc::clone(&env),
            vec![mirror.scenario],
            RunOptions {
                jobs: 1,
                ..RunOptions::default()
            },
            None,
            tx,
        )
        .await;
        let Some(verdict) = verdicts.verdicts.into_iter().next() else {
            return Err(crate::error::Error::harness(
                "the engine returned no verdict".to_owned(),
            ));
        };
        let predicted = diagnosis.expected_refusal();
        let refused_predicted = diagnosis.failures().next().is_some();
        let (refused, sp_reason) = match &verdict.observation {
            Some(Observation::NotSignedIn { reason, .. }) => (Some(true), reason.clone()),
            Some(Observation::SignedIn { .. }) => (Some(false), None),
            _ => (None, None),
        };
        out.push(Reproduction {
            capture: capture.label.clone(),
            failed_rules: diagnosis.failures().map(|c| c.rule).collect(),
            predicted_refusal: predicted,
            observed: verdict.observed.clone(),
            agrees: refused == Some(refused_predicted),
            same_reason: predicted.is_some() && sp_reason.as_deref() == predicted,
            sp_reason,
            plan,
            notes: mirror.notes,
            verdict,
        });
    }
    match Arc::try_unwrap(env) {
        Ok(env) => env.stop().await,
        Err(_) => tracing::warn!("environment still in use; it stops when dropped"),
    }
    Ok(out)
}

/// The scenario that mirrors `capture` against a target at `urls`.
pub fn mirror(
    n: usize,
    capture: &Capture,
    facts: &Facts,
    d: &Diagnosis,
    ctx: &Context,
    urls: &TargetUrls,
) -> Mirror {
    let mut notes = Vec::new();
    let mut plan = Plan::default();
    let mut settings = Vec::new();
    let assertion = facts.assertion.as_ref();
    let failed = |id: &str| {
        d.checks
            .iter()
            .any(|c| c.id == id && c.outcome == Outcome::Fail)
    };

    // Who: the user who typed is the target's `member`; an asserted email that differs from
    // the typed one is the target's `other` user.
    let asserted_other = failed("identity.entered-email");
    let user_placeholder = if asserted_other {
        notes.push("the asserted email differs from the typed one: the target's `other` user is asserted while `member` signs in".to_owned());
        "{users.other.email}"
    } else {
        "{users.member.email}"
    };
    plan.user = Some(user_placeholder.to_owned());

    // The email attribute: pick the flavour that does (or does not) carry the attribute the
    // SP reads, as the capture does.
    let email_attrs: Vec<&str> = assertion
        .iter()
        .flat_map(|a| a.attributes.iter())
        .filter(|a| a.values.iter().any(|v| looks_like_email(v)))
        .map(|a| a.name.as_str())
        .collect();
    let read = match &d.summary.email_source {
        EmailSource::Attribute(name) => Some(name.as_str()),
        _ => None,
    };
    plan.flavour = d.idp.product.mock_flavour();
    if let Some(name) = read {
        let setting = match name {
            "email" => Some("identity=email-attribute"),
            OID_MAIL => Some("identity=oid-mail-attribute"),
            ENTRA_EMAIL => Some("identity=entra-email-claim"),
            _ => None,
        };
        match setting {
            Some(s) => settings.push(s.to_owned()),
            None => notes.push(format!(
                "the SP reads the email from {name:?}; the target's hooks cannot be set to read that name, so the target's own identity setting applies"
            )),
        }
        let present = email_attrs.contains(&name);
        if !present && flavour_has(plan.flavour, name) {
            plan.flavour = if name == ENTRA_EMAIL {
                Flavour::Generic
            } else {
                Flavour::Entra
            };
            notes.push(format!(
                "flavour {:?}, which does not send {name:?} (the capture lacks it)",
                plan.flavour
            ));
        }
        if present && !flavour_has(plan.flavour, name) {
            plan.attributes
                .insert(name.to_owned(), vec![user_placeholder.to_owned()]);
        }
    } else if matches!(d.summary.email_source, EmailSource::NameId) {
        settings.push("identity=name-id".to_owned());
    }
    for name in email_attrs {
        if Some(name) != read && !flavour_has(plan.flavour, name) {
            plan.attributes
                .insert(name.to_owned(), vec![user_placeholder.to_owned()]);
        }
    }

    // The NameID: its format as captured; an opaque value stays opaque (but not the
    // customer's).
    if let Some(a) = assertion {
        let default_format = plan.flavour.name_id_format();
        match a.name_id_format.as_deref() {
            Some(f) if f != default_format => plan.alter.push(Alteration::NameIdFormat {
                value: f.to_owned(),
            }),
            _ => {}
        }
        if let Some(v) = a.name_id.as_deref()
            && !looks_like_email(v)
        {
            plan.alter.push(Alteration::NameId {
                value: "00u1a2b3c4d5e6f7g8h9".to_owned(),
            });
            notes.push(
                "the NameID is an opaque identifier: mirrored by another opaque value".to_owned(),
            );
        }
        if d.summary.email_source == EmailSource::NameId && failed("identity.name-id-format") {
            settings.push("name-id-format=email".to_owned());
        }
    }

    // Signing: layout, key, algorithm; content edited after signing.
    let layout = match (facts.response_signed(), facts.assertion_signed()) {
        (true, true) => SigningLayout::Both,
        (true, false) => SigningLayout::Response,
        (false, true) => SigningLayout::Assertion,
        (false, false) => SigningLayout::None,
    };
    let key = if failed("signature.key") {
        notes.push("signed by a key the target does not trust (the capture's key is not in the IdP metadata)".to_owned());
        KeyChoice::AttackerSelfSigned
    } else if d
        .signatures
        .signatures
        .iter()
        .any(|s| s.signed_by == SignedBy::Metadata(1))
    {
        KeyChoice::Rollover
    } else {
        KeyChoice::Trusted
    };
    let sha1 = facts.signatures.iter().any(|s| {
        s.algorithm
            .as_deref()
            .is_some_and(|a| a.ends_with("rsa-sha1"))
    });
    plan.signing = Signing {
        layout: Some(layout),
        algorithm: sha1.then_some(SignatureAlgorithm::RsaSha1),
        digest: if facts
            .signatures
            .iter()
            .any(|s| s.digest_algorithms.iter().any(|a| a.ends_with("#sha1")))
        {
            DigestAlgorithm::Sha1
        } else {
            DigestAlgorithm::Sha256
        },
        key,
        reference_uri: None,
    };
    if d.signatures
        .signatures
        .iter()
        .any(|s| s.digest_matches == Some(false))
        && d.signatures.verified_with_metadata != Some(true)
    {
        plan.tamper.push(Tamper::EditNameId {
            value: "{users.other.email}".to_owned(),
        });
        notes.push(
            "signed content was changed after signing: mirrored by editing the signed NameID"
                .to_owned(),
        );
    }
    if facts.signatures.iter().any(|s| !s.references_parent) {
        notes.push("a signature's reference shape is not mirrored".to_owned());
    }

    // Addressing: the same relation to the target's URLs as to the SP's.
    let expected_acs = ctx
        .sp
        .as_ref()
        .and_then(|s| s.acs_urls.first().cloned())
        .or_else(|| capture.delivered_to.clone());
    match (&facts.destination, &expected_acs) {
        (None, _) => plan.alter.push(Alteration::Omit {
            element: Omittable::Destination,
        }),
        (Some(v), Some(e)) if v != e => plan.alter.push(Alteration::Destination {
            value: same_defect(v, e, &urls.acs_url),
        }),
        _ => {}
    }
    if let Some(b) = facts.bearer() {
        match (&b.recipient, &expected_acs) {
            (None, _) => plan.alter.push(Alteration::Omit {
                element: Omittable::Recipient,
            }),
            (Some(v), Some(e)) if v != e => plan.alter.push(Alteration::Recipient {
                value: same_defect(v, e, &urls.acs_url),
            }),
            _ => {}
        }
    }
    let audiences: Vec<String> = assertion
        .and_then(|a| a.conditions.as_ref())
        .map(|c| c.audience_restrictions.iter().flatten().cloned().collect())
        .unwrap_or_default();
    if assertion.is_some_and(|a| a.conditions.is_none()) {
        plan.alter.push(Alteration::Omit {
            element: Omittable::Conditions,
        });
    } else if audiences.is_empty() {
        plan.alter.push(Alteration::Omit {
            element: Omittable::AudienceRestriction,
        });
    } else if let (Some(sp), Some(first)) = (&ctx.sp, audiences.first())
        && !audiences.contains(&sp.entity_id)
    {
        plan.alter.push(Alteration::Audience {
            value: same_defect(first, &sp.entity_id, &urls.entity_id),
        });
    }

    // Issuer: a wrong one stays wrong (the target trusts only the mock IdP's entityID).
    let response_issuer_wrong = failed("issuer.response");
    let assertion_issuer_wrong = failed("issuer.assertion");
    let issuer_value = facts
        .issuer
        .as_ref()
        .or_else(|| assertion.and_then(|a| a.issuer.as_ref()))
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let scope = match (response_issuer_wrong, assertion_issuer_wrong) {
        (true, true) => Some(IssuerScope::Both),
        (true, false) => Some(IssuerScope::Response),
        (false, true) => Some(IssuerScope::Assertion),
        (false, false) => None,
    };
    if let Some(scope) = scope {
        plan.alter.push(Alteration::Issuer {
            value: issuer_value,
            scope,
        });
    }
    if facts.issuer.is_none() {
        plan.alter.push(Alteration::Omit {
            element: Omittable::ResponseIssuer,
        });
    }

    // Status, AuthnStatement.
    if let Some(code) = facts.status.as_deref()
        && !code.ends_with(":Success")
    {
        plan.alter.push(Alteration::Status {
            code: code.to_owned(),
            second_level: facts.status_detail.clone(),
        });
    }
    if assertion.is_some_and(|a| a.authn.is_none()) {
        plan.alter.push(Alteration::Omit {
            element: Omittable::AuthnStatement,
        });
    }
    if facts.assertion_count == 0 {
        plan.alter.push(Alteration::Omit {
            element: Omittable::Assertion,
        });
    }

    // Times: every instant at its offset from the capture's time (or, without one, from the
    // Response's IssueInstant).
    let base = d.time.as_ref().map(|t| t.at).or(facts.issue_instant.value);
    if d.time.is_none() {
        notes.push("no capture time: instants are mirrored relative to the Response's IssueInstant, so an expiry caused by a late post is not reproduced (pass --at)".to_owned());
    }
    if let Some(base) = base {
        let mut time = |field: TimeField, instant: &Instant| {
            if let Some(v) = instant.value {
                plan.alter.push(Alteration::Time {
                    field,
                    offset_seconds: offset(v, base),
                });
            }
        };
        time(TimeField::ResponseIssueInstant, &facts.issue_instant);
        if let Some(a) = assertion {
            time(TimeField::AssertionIssueInstant, &a.issue_instant);
            if let Some(c) = &a.conditions {
                time(TimeField::NotBefore, &c.not_before);
                time(TimeField::NotOnOrAfter, &c.not_on_or_after);
            }
            if let Some(s) = &a.authn {
                time(TimeField::SessionNotOnOrAfter, &s.session_not_on_or_after);
            }
        }
        if let Some(b) = facts.bearer() {
            time(
                TimeField::SubjectConfirmationNotOnOrAfter,
                &b.not_on_or_after,
            );
            time(TimeField::SubjectConfirmationNotBefore, &b.not_before);
        }
    }
    if let Some(b) = facts.bearer()
        && b.not_on_or_after.text.is_none()
    {
        plan.alter.push(Alteration::Omit {
            element: Omittable::SubjectConfirmationNotOnOrAfter,
        });
    }

    // Solicited or not.
    let flow = if facts.in_response_to.is_none()
        && facts.bearer().is_none_or(|b| b.in_response_to.is_none())
    {
        settings.push("idp-initiated=on".to_owned());
        notes.push("no InResponseTo: replayed IdP-initiated".to_owned());
        Flow::IdpInitiated
    } else {
        if failed("in-response-to") {
            plan.alter.push(Alteration::InResponseTo {
                value: "_an-older-request".to_owned(),
                scope: if facts.in_response_to.is_some()
                    && facts.bearer().and_then(|b| b.in_response_to.as_ref())
                        == facts.in_response_to.as_ref()
                {
                    mock_idp::plan::InResponseToScope::Both
                } else {
                    mock_idp::plan::InResponseToScope::SubjectConfirmation
                },
            });
        }
        Flow::SpInitiated
    };

    let expect = if d.failures().next().is_some() {
        Expectation::Refused {
            reason: None,
            clear: false,
        }
    } else {
        Expectation::SignedIn {
            user: "member".to_owned(),
            role: None,
        }
    };
    settings.sort();
    settings.dedup();
    let file = ScenarioFile {
        title: format!("Reproduction of {}", capture.label),
        spec: vec!["saml-harness reproduce".to_owned()],
        rules: d.failures().map(|c| c.rule.to_owned()).collect(),
        level: Level::Must,
        severity: Severity::Medium,
        description: None,
        flow,
        user: "member".to_owned(),
        relay_state: None,
        sp_login: crate::scenario::SpLogin::Usual,
        requires: Requirements {
            capabilities: Vec::new(),
            settings,
        },
        steps: Vec::new(),
        catches: Vec::new(),
        layouts: Vec::new(),
        plan,
        expect,
        control: crate::scenario::ControlOverride::default(),
    };
    Mirror {
        scenario: Scenario {
            id: format!("reproduce/capture-{n}"),
            origin: Origin::File(capture.label.clone().into()),
            file,
        },
        notes,
    }
}

/// Whether the flavour's own response carries an attribute of that name (with the email).
fn flavour_has(flavour: Flavour, name: &str) -> bool {
    name == flavour.email_attribute()
        || matches!(
            (flavour, name),
            (
                Flavour::Entra,
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
            ) | (Flavour::Adfs, mock_idp::flavour::CLAIM_UPN)
                | (Flavour::Shibboleth, "urn:oid:1.3.6.1.4.1.5923.1.1.1.6")
        )
}

fn offset(t: DateTime<Utc>, base: DateTime<Utc>) -> i64 {
    (t - base).num_seconds()
}

/// `value` relates to `expected` as the result relates to `target`: the same scheme, host,
/// trailing-slash or letter-case slip, or a path elsewhere on the target's host; anything
/// else is kept as captured (it differs from the target's URL either way).
pub fn same_defect(value: &str, expected: &str, target: &str) -> String {
    if value == expected {
        return target.to_owned();
    }
    let swap_scheme = |u: &str| {
        if let Some(rest) = u.strip_prefix("https://") {
            format!("http://{rest}")
        } else if let Some(rest) = u.strip_prefix("http://") {
            format!("https://{rest}")
        } else {
            u.to_owned()
        }
    };
    if swap_scheme(value) == expected {
        return swap_scheme(target);
    }
    if value.trim_end_matches('/') == expected.trim_end_matches('/') {
        return if target.ends_with('/') {
            target.trim_end_matches('/').to_owned()
        } else {
            format!("{target}/")
        };
    }
    if value.eq_ignore_ascii_case(expected) {
        return target.to_uppercase();
    }
    let split = |u: &str| -> Option<(String, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        Some((format!("{scheme}://{host}"), format!("/{path}")))
    };
    match (split(value), split(expected), split(target)) {
        (Some((vo, vp)), Some((eo, ep)), Some((to, tp))) => {
            if vp == ep && vo != eo {
                let host = vo.split_once("://").map_or(vo.as_str(), |(_, h)| h);
                format!(
                    "{}://other-{}{tp}",
                    to.split("://").next().unwrap_or("https"),
                    host.split(':').next().unwrap_or(host)
                )
            } else if vo == eo && vp != ep {
                format!("{to}{vp}")
            } else {
                value.to_owned()
            }
        }
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::checks::diagnose;
    use crate::support::fixtures::{self, capture, context};

    #[test]
    fn a_url_keeps_its_slip_on_the_target() {
        let t = "http://127.0.0.1:8280/saml/acs";
        let e = "https://sp.example.test/saml/acs";
        assert_eq!(same_defect(e, e, t), t);
        assert_eq!(
            same_defect("http://sp.example.test/saml/acs", e, t),
            "https://127.0.0.1:8280/saml/acs"
        );
        assert_eq!(
            same_defect("https://sp.example.test/saml/acs/", e, t),
            format!("{t}/")
        );
        assert_eq!(
            same_defect("https://SP.example.test/saml/acs", e, t),
            t.to_uppercase()
        );
        assert_eq!(
            same_defect("https://sp.example.test/sso/saml", e, t),
            "http://127.0.0.1:8280/sso/saml"
        );
        assert_eq!(
            same_defect("https://old.example.test/saml/acs", e, t),
            "http://other-old.example.test/saml/acs"
        );
        for v in [
            "http://sp.example.test/saml/acs",
            "https://sp.example.test/saml/acs/",
            "https://old.example.test/saml/acs",
        ] {
            assert_ne!(same_defect(v, e, t), t, "{v}");
        }
    }

    /// The wrong-email family: the SP reads `email`, Entra sends its emailaddress claim. The
    /// capture itself, validated by the reference SP configured the same way, is refused with
    /// some reason; the reproduction against the running reference SP must give the same one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reproducing_a_wrong_email_capture_gets_the_refusal_the_capture_would_have_had() {
        let plan = mock_idp::Plan {
            flavour: Flavour::Entra,
            ..mock_idp::Plan::default()
        };
        let capture = capture(&plan);
        let mut ctx = context();
        ctx.email_attribute = Some("email".to_owned());

        let connection = reference_sp::Connection::from_metadata(&fixtures::idp_metadata_xml())
            .expect("connection");
        let settings = reference_sp::Settings {
            identity: reference_sp::settings::IdentitySource::Attribute {
                name: "email".to_owned(),
            },
            ..reference_sp::Settings::default()
        };
        let outstanding = vec![fixtures::REQUEST_ID.to_owned()];
        let weaken = std::collections::BTreeSet::new();
        let sp_ctx = reference_sp::Context {
            sp_entity_id: fixtures::SP,
            acs_url: fixtures::ACS,
            connection: &connection,
            settings: &settings,
            weaken: &weaken,
            outstanding: &outstanding,
            relay_request: None,
            now: fixtures::now(),
            decryption_key: None,
        };
        let would_have = reference_sp::validate::validate(&capture.xml, &sp_ctx)
            .expect_err("the reference SP refuses the capture");

        let d = diagnose(&capture, &ctx).expect("diagnose");
        assert_eq!(d.expected_refusal(), Some(would_have.reason.code()));
        let r = reproduce(
            &[(capture, d, ctx)],
            &TargetChoice::EmbeddedReference { weaken: Vec::new() },
        )
        .await
        .expect("reproduce");
        assert_eq!(r.len(), 1);
        assert!(r[0].agrees, "{:?}", r[0].observed);
        assert_eq!(
            r[0].sp_reason.as_deref(),
            Some(would_have.reason.code()),
            "{:?}",
            r[0].verdict
        );
        assert!(r[0].same_reason);
    }

    /// Every defect family of the diagnose tests, replayed against the running reference SP:
    /// it refuses exactly those the diagnosis refuses, with the predicted reason.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_family_replayed_is_refused_with_the_predicted_reason() {
        let families = fixtures::families();
        let items: Vec<(Capture, Diagnosis, Context)> = families
            .iter()
            .map(|f| {
                let mut ctx = context();
                (f.ctx)(&mut ctx);
                let c = capture(&f.plan);
                let d = diagnose(&c, &ctx).expect("diagnose");
                (c, d, ctx)
            })
            .collect();
        let results = reproduce(
            &items,
            &TargetChoice::EmbeddedReference { weaken: Vec::new() },
        )
        .await
        .expect("reproduce");
        assert_eq!(results.len(), families.len());
        let mut wrong = Vec::new();
        for (f, r) in families.iter().zip(&results) {
            assert_eq!(r.predicted_refusal, f.refusal, "{}", f.name);
            if !(r.agrees && (f.refusal.is_none() || r.same_reason)) {
                wrong.push(format!(
                    "{}: predicted {:?}, the SP: {} ({:?})",
                    f.name, r.predicted_refusal, r.observed, r.notes
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_mirror_carries_layout_key_offsets_and_addressing() {
        let plan = mock_idp::Plan {
            signing: Signing {
                layout: Some(SigningLayout::Response),
                key: KeyChoice::AttackerSelfSigned,
                ..Signing::default()
            },
            alter: vec![
                Alteration::Destination {
                    value: "http://sp.example.test/saml/acs".to_owned(),
                },
                Alteration::Time {
                    field: TimeField::NotOnOrAfter,
                    offset_seconds: -600,
                },
            ],
            ..mock_idp::Plan::default()
        };
        let capture = capture(&plan);
        let d = diagnose(&capture, &context()).expect("diagnose");
        let facts = Facts::read(&capture.xml).expect("facts");
        let urls = TargetUrls {
            acs_url: "http://127.0.0.1:9/saml/acs".to_owned(),
            entity_id: "http://127.0.0.1:9/saml/metadata".to_owned(),
        };
        let m = mirror(1, &capture, &facts, &d, &context(), &urls);
        let p = &m.scenario.file.plan;
        assert_eq!(p.signing.layout, Some(SigningLayout::Response));
        assert_eq!(p.signing.key, KeyChoice::AttackerSelfSigned);
        assert!(
            p.alter.contains(&Alteration::Destination {
                value: "https://127.0.0.1:9/saml/acs".to_owned()
            }),
            "{:?}",
            p.alter
        );
        assert!(
            p.alter.contains(&Alteration::Time {
                field: TimeField::NotOnOrAfter,
                offset_seconds: -600
            }),
            "{:?}",
            p.alter
        );
        assert!(matches!(
            m.scenario.file.expect,
            Expectation::Refused { .. }
        ));
        assert_eq!(m.scenario.file.flow, Flow::SpInitiated);
    }
}
