//! A small fixed report for the tests: every status, a waived failure, a stale waiver, and
//! run-specific values (ports, instants, SAML ids, digests, certificates, tokens) that the
//! snapshot must redact, plus markup that must be escaped.

use chrono::TimeZone as _;

use super::model::Report;
use crate::scenario::{Expectation, Level, Severity};
use crate::verdict::{ControlRef, ControlSummary, Evidence, Hop, Observation, Status, Verdict};
use crate::waivers::Waivers;

fn verdict(id: &str, status: Status, level: Level) -> Verdict {
    Verdict {
        id: id.to_owned(),
        title: format!("Title of {id}"),
        status,
        severity: None,
        severity_reason: None,
        level,
        expected: "refused".to_owned(),
        observed: "refused (403 destination_mismatch)".to_owned(),
        reason: "the SP refused the response".to_owned(),
        spec: vec!["SAML Core §3.2.2".to_owned()],
        duration_ms: 17,
        observation: Some(Observation::NotSignedIn {
            status: Some(403),
            reason: Some("destination_mismatch".to_owned()),
            ended: None,
            password_form: false,
        }),
        expectation: Some(Expectation::Refused {
            reason: None,
            clear: false,
        }),
        control: None,
        evidence: Evidence::default(),
    }
}

/// The verdicts, before waivers, in no particular order.
pub(crate) fn verdicts() -> Vec<Verdict> {
    let signed_in = |who: &str| Observation::SignedIn {
        identity: who.to_owned(),
        role: None,
    };

    let mut unsigned = verdict("signature/unsigned-response", Status::Fail, Level::Must);
    unsigned.severity = Some(Severity::Critical);
    unsigned.severity_reason = Some(
        "critical: mallory@corp.example signed in on a response no trusted signature covers"
            .to_owned(),
    );
    unsigned.observed = "signed in as mallory@corp.example".to_owned();
    unsigned.reason =
        "the SP accepted a response it must refuse and signed in mallory@corp.example".to_owned();
    unsigned.spec = vec![
        "SAML Profiles §4.1.4.3".to_owned(),
        "saml2int SDP-SP08".to_owned(),
    ];
    unsigned.observation = Some(signed_in("mallory@corp.example"));
    unsigned.duration_ms = 250;
    unsigned.evidence = Evidence {
        hops: vec![Hop {
            to: "sp".to_owned(),
            method: "POST".to_owned(),
            url: "http://127.0.0.1:43121/saml/acs".to_owned(),
            form: vec![("SAMLResponse".to_owned(), "PHNhbWxwOlJlc3BvbnNl…".to_owned())],
            status: Some(302),
            location: Some("/".to_owned()),
            body_excerpt: None,
            duration_ms: 4,
            error: None,
        }],
        response: Some(
            "<samlp:Response ID=\"_0f1e2d3c4b5a69788796a5b4c3d2e1f0\" IssueInstant=\"2026-11-25T10:00:00.512Z\"/>"
                .to_owned(),
        ),
        notes: vec!["plan 9c1d".to_owned()],
        ..Evidence::default()
    };

    let mut xsw = verdict("xsw/xsw3-assertion-wrapped", Status::Fail, Level::Must);
    xsw.severity = Some(Severity::Critical);
    xsw.observed = "signed in as mallory@corp.example".to_owned();
    xsw.reason = "the SP accepted a wrapped assertion _a1b2c3d4e5f60718293a4b5c6d7e8f90".to_owned();
    xsw.observation = Some(signed_in("mallory@corp.example"));

    let mut warn = verdict(
        "freshness/issue-instant-future",
        Status::Warn,
        Level::Policy,
    );
    warn.expected = "policy; recommended: refused".to_owned();
    warn.observed = "signed in as alice@corp.example".to_owned();
    warn.reason =
        "policy: IssueInstant 2026-11-25T10:05:00Z was accepted | differs from the recommendation"
            .to_owned();
    warn.observation = Some(signed_in("alice@corp.example"));

    let mut skip = verdict(
        "login/flavour-okta-email-attribute",
        Status::Skip,
        Level::Must,
    );
    skip.expected = "signed in as member".to_owned();
    skip.observed = "not run".to_owned();
    skip.reason = "target example-sp has no hook for setting `identity=email-attribute`".to_owned();
    skip.observation = None;
    skip.duration_ms = 0;

    let mut error = verdict("xml/doctype-entities", Status::Error, Level::Must);
    error.observed = "error: timed out\nwaiting for http://127.0.0.1:43121/sessions/3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d?state=Zx81kQpL0aBcD3eF9gHiJ2k&lang=en".to_owned();
    error.reason = concat!(
        "the SP did not answer <in time> & the digest was 7d5b3Qf1k+u0yN3kF6o1pN8v2c4g5h6j7k8l9m0n1o2p3q=; ",
        "cert MIIC8DCCAdigAwIBAgIQbWlzc2luZ2NlcnRpZmljYXRlMA0GCSqGSIb3DQEBCwUA; ",
        "see xml/id-attribute-duplicated, ID id-4f9a8b7c6d5e4f3a2b1c0d9e \u{1} at 2026-11-25T10:00:03.250+01:00"
    )
    .to_owned();
    error.observation = Some(Observation::Error {
        message: "timed out".to_owned(),
    });

    let mut pass = verdict(
        "addressing/destination-wrong/both",
        Status::Pass,
        Level::Must,
    );
    pass.control = Some(ControlRef {
        name: "a valid sp-initiated login as member, signed at both".to_owned(),
        reached: true,
        observed: "signed in as alice@corp.example".to_owned(),
    });

    let mut inconclusive = verdict(
        "addressing/recipient-wrong/assertion",
        Status::Inconclusive,
        Level::Must,
    );
    inconclusive.reason = "nothing was tested: the control (a valid sp-initiated login as member, signed at the assertion) did not sign in (refused (403 Invalid document signature)), so the SP's refusal may have any cause".to_owned();
    inconclusive.control = Some(ControlRef {
        name: "a valid sp-initiated login as member, signed at the assertion".to_owned(),
        reached: false,
        observed: "refused (403 Invalid document signature)".to_owned(),
    });

    let mut login = verdict("login/valid-response-signed", Status::Pass, Level::Must);
    login.expected = "signed in as alice@corp.example".to_owned();
    login.observed = "signed in as alice@corp.example".to_owned();
    login.reason = "the SP signed in the expected user".to_owned();
    login.observation = Some(signed_in("alice@corp.example"));
    login.expectation = Some(Expectation::SignedIn {
        user: "member".to_owned(),
        role: None,
    });

    vec![login, unsigned, xsw, warn, skip, error, pass, inconclusive]
}

/// The waivers: one used, one stale.
pub(crate) fn waivers() -> Waivers {
    Waivers::parse(
        concat!(
            "[[waiver]]\n",
            "id = \"xsw/*\"\n",
            "reason = \"wrapping is left to the application | tracked in ISSUE-12\"\n",
            "\n",
            "[[waiver]]\n",
            "id = \"addressing/destination-wrong\"\n",
            "reason = \"fixed in 2.1\"\n",
        ),
        "example-sp.waivers.toml",
    )
    .expect("the fixture's waivers are valid")
}

/// The report: every status once, two passes, one stale waiver.
pub(crate) fn report() -> Report {
    let mut verdicts = verdicts();
    let stale = waivers().apply(&mut verdicts);
    let started_at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
        .single()
        .expect("a valid instant");
    Report::new(
        "example-sp",
        Some("An example SP | staging at http://127.0.0.1:39001/"),
        started_at,
        std::time::Duration::from_millis(1234),
        verdicts,
        stale,
        vec![
            ControlSummary {
                name: "a valid sp-initiated login as member, signed at both".to_owned(),
                reached: true,
                observed: "signed in as alice@corp.example".to_owned(),
                used_by: 1,
                probe: true,
            },
            ControlSummary {
                name: "a valid sp-initiated login as member, signed at the assertion".to_owned(),
                reached: false,
                observed: "refused (403 Invalid document signature)".to_owned(),
                used_by: 1,
                probe: true,
            },
        ],
        Some(profile()),
    )
}

/// A profile with an accepted and a refused layout, and a contradiction.
fn profile() -> crate::profile::Profile {
    use crate::profile::{Entry, Outcome, Profile};
    let entry = |value: &str, outcome: Outcome, observed: &str| Entry {
        aspect: "signing layout".to_owned(),
        value: value.to_owned(),
        outcome,
        observed: observed.to_owned(),
    };
    Profile {
        authn_request_binding: Some("HTTP-Redirect".to_owned()),
        entries: vec![
            entry(
                "signed at the Assertion only",
                Outcome::Refused,
                "refused (403 Invalid document signature)",
            ),
            entry(
                "signed at both",
                Outcome::Accepted,
                "signed in as alice@corp.example",
            ),
        ],
        contradictions: vec![
            "example-sp declares `signature=either`, but a valid response signed at the Assertion only was refused"
                .to_owned(),
        ],
    }
}
