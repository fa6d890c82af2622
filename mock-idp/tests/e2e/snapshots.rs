//! Snapshots of the redacted, pretty-printed response for the valid plan and each defect, so a
//! review sees exactly which field a defect changes. The clock is fixed; IDs, digests,
//! signature values and certificates are redacted.

use std::sync::Arc;

use chrono::TimeZone as _;
use mock_idp::authn_request;
use mock_idp::plan::{
    Alteration, InResponseToScope, IssuerScope, Omittable, SignatureSelector, Signing,
    SigningLayout, Tamper, TimeField,
};
use mock_idp::{FixedClock, Flavour, Plan, SpEntry};

use crate::support::{ACS_URL, SP_ENTITY_ID, idp_with};

fn cases() -> Vec<(&'static str, Plan)> {
    let with = |alter: Alteration| Plan {
        alter: vec![alter],
        ..Plan::default()
    };
    let tampered = |tamper: Tamper| Plan {
        tamper: vec![tamper],
        ..Plan::default()
    };
    let time = |field, offset_seconds| {
        with(Alteration::Time {
            field,
            offset_seconds,
        })
    };
    vec![
        ("valid-generic", Plan::default()),
        (
            "valid-entra",
            Plan {
                flavour: Flavour::Entra,
                ..Plan::default()
            },
        ),
        (
            "valid-okta",
            Plan {
                flavour: Flavour::Okta,
                ..Plan::default()
            },
        ),
        (
            "unsigned",
            Plan {
                signing: Signing {
                    layout: Some(SigningLayout::None),
                    ..Signing::default()
                },
                ..Plan::default()
            },
        ),
        (
            "destination-wrong",
            with(Alteration::Destination {
                value: "https://evil.test/acs".into(),
            }),
        ),
        (
            "destination-missing",
            with(Alteration::Omit {
                element: Omittable::Destination,
            }),
        ),
        (
            "recipient-wrong",
            with(Alteration::Recipient {
                value: "https://evil.test/acs".into(),
            }),
        ),
        (
            "recipient-missing",
            with(Alteration::Omit {
                element: Omittable::Recipient,
            }),
        ),
        (
            "audience-wrong",
            with(Alteration::Audience {
                value: "https://other-sp.test".into(),
            }),
        ),
        (
            "issuer-wrong",
            with(Alteration::Issuer {
                value: "https://evil-idp.test".into(),
                scope: IssuerScope::Both,
            }),
        ),
        (
            "name-id-wrong",
            with(Alteration::NameId {
                value: "mallory@example.test".into(),
            }),
        ),
        (
            "name-id-format-wrong",
            with(Alteration::NameIdFormat {
                value: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into(),
            }),
        ),
        (
            "in-response-to-wrong",
            with(Alteration::InResponseTo {
                value: "_another-request".into(),
                scope: InResponseToScope::Both,
            }),
        ),
        (
            "issue-instant-future",
            time(TimeField::ResponseIssueInstant, 3600),
        ),
        ("not-before-future", time(TimeField::NotBefore, 600)),
        ("not-on-or-after-past", time(TimeField::NotOnOrAfter, -600)),
        (
            "scd-not-on-or-after-past",
            time(TimeField::SubjectConfirmationNotOnOrAfter, -600),
        ),
        (
            "status-requester",
            with(Alteration::Status {
                code: "Requester".into(),
                second_level: Some("RequestDenied".into()),
            }),
        ),
        (
            "signature-removed-all",
            tampered(Tamper::RemoveSignature {
                which: SignatureSelector::All,
            }),
        ),
        (
            "signature-removed-assertion",
            tampered(Tamper::RemoveSignature {
                which: SignatureSelector::Assertion,
            }),
        ),
        (
            "name-id-edited-after-signing",
            tampered(Tamper::EditNameId {
                value: "admin@example.test".into(),
            }),
        ),
    ]
}

/// Redactions: IDs, digests, signature values and certificates change on every run.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"_[0-9a-f]{32}", "[id]");
    for element in ["DigestValue", "SignatureValue", "X509Certificate"] {
        settings.add_filter(
            &format!(r"(?s)<ds:{element}>.*?</ds:{element}>"),
            format!("<ds:{element}>[redacted]</ds:{element}>"),
        );
    }
    settings.set_prepend_module_to_snapshot(false);
    settings
}

#[test]
fn each_defect_changes_exactly_its_field() {
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("instant");
    let idp = idp_with(Arc::new(FixedClock(at)));
    let request = authn_request::parse(&format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_request-1" Version="2.0" IssueInstant="2026-01-02T03:04:00Z" AssertionConsumerServiceURL="{ACS_URL}"><saml:Issuer>{SP_ENTITY_ID}</saml:Issuer></samlp:AuthnRequest>"#
    ))
    .expect("request");
    let sp = SpEntry::new(SP_ENTITY_ID, ACS_URL);
    for (name, plan) in cases() {
        let built = idp
            .respond(&plan, &sp, ACS_URL, Some(&request))
            .expect(name);
        let pretty = mock_idp::xml::pretty(&built.xml);
        let mut settings = settings();
        settings.set_info(&plan);
        settings.bind(|| insta::assert_snapshot!(name, pretty));
    }
}
