//! One case per hardened check: the defect is refused with its reason code, and the same
//! defect is accepted once the matching weakening turns the check off (which proves the check,
//! not something else, refused it).

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reference_sp::Weakening;
use serde_json::json;

use crate::support::{
    Outcome, idp_login, new_agent, pair, patch_settings, plan, post_acs, sp_login,
};

const ALICE: &str = "alice@corp.example";
const ADMIN: &str = "admin@corp.example";

struct Case {
    weakening: Weakening,
    plan: serde_json::Value,
    /// The email typed at the SP (SP-initiated) or the unsolicited user.
    typed: &'static str,
    unsolicited: bool,
    reason: &'static str,
    /// Who is signed in when the check is off.
    weakened_as: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |weakening, plan, reason, weakened_as| Case {
        weakening,
        plan,
        typed: ALICE,
        unsolicited: false,
        reason,
        weakened_as,
    };
    vec![
        case(
            Weakening::Signature,
            json!({"signing": {"layout": "none"}}),
            "signature_missing",
            ALICE,
        ),
        case(
            Weakening::Algorithms,
            json!({"signing": {"layout": "both", "algorithm": "rsa-sha1", "digest": "sha1"}}),
            "signature_algorithm_refused",
            ALICE,
        ),
        case(
            Weakening::XmlDoctype,
            json!({"tamper": [{"kind": "doctype"}]}),
            "xml_doctype",
            ALICE,
        ),
        case(
            Weakening::XmlSingleRoot,
            json!({"tamper": [{"kind": "trailing-root"}]}),
            "xml_multiple_roots",
            ALICE,
        ),
        case(
            Weakening::Schema,
            json!({"signing": {"layout": "both"}, "tamper": [{"kind": "schema-invalid", "shape": "subject-before-issuer"}]}),
            "schema_invalid",
            ALICE,
        ),
        case(
            Weakening::ReferenceUri,
            json!({"signing": {"layout": "response", "reference_uri": ""}}),
            "reference_uri_invalid",
            ALICE,
        ),
        case(
            Weakening::SingleAssertion,
            json!({"signing": {"layout": "assertion"}, "tamper": [{"kind": "insert-assertion-copy", "position": "after"}]}),
            "multiple_assertions",
            ALICE,
        ),
        case(
            Weakening::Destination,
            json!({"alter": [{"kind": "destination", "value": "https://other.test/acs"}]}),
            "destination_mismatch",
            ALICE,
        ),
        case(
            Weakening::Destination,
            json!({"signing": {"layout": "response"}, "alter": [{"kind": "omit", "element": "destination"}]}),
            "destination_missing",
            ALICE,
        ),
        case(
            Weakening::Recipient,
            json!({"alter": [{"kind": "recipient", "value": "https://other.test/acs"}]}),
            "recipient_mismatch",
            ALICE,
        ),
        case(
            Weakening::InResponseTo,
            json!({"alter": [{"kind": "in-response-to", "value": "_not-a-request-of-this-browser"}]}),
            "in_response_to_unknown",
            ALICE,
        ),
        case(
            Weakening::Audience,
            json!({"alter": [{"kind": "audience", "value": "https://other.test"}]}),
            "audience_mismatch",
            ALICE,
        ),
        case(
            Weakening::Audience,
            json!({"alter": [{"kind": "omit", "element": "audience-restriction"}]}),
            "audience_missing",
            ALICE,
        ),
        case(
            Weakening::Issuer,
            json!({"alter": [{"kind": "issuer", "value": "https://other-idp.test"}]}),
            "issuer_mismatch",
            ALICE,
        ),
        case(
            Weakening::SubjectConfirmationExpiry,
            json!({"alter": [{"kind": "time", "field": "subject-confirmation-not-on-or-after", "offset_seconds": -600}]}),
            "subject_confirmation_expired",
            ALICE,
        ),
        case(
            Weakening::TimeWindow,
            json!({"alter": [{"kind": "time", "field": "not-on-or-after", "offset_seconds": -600}]}),
            "assertion_expired",
            ALICE,
        ),
        case(
            Weakening::TimeWindow,
            json!({"alter": [{"kind": "time", "field": "not-before", "offset_seconds": 600}]}),
            "assertion_not_yet_valid",
            ALICE,
        ),
        case(
            Weakening::AuthnStatement,
            json!({"alter": [{"kind": "omit", "element": "authn-statement"}]}),
            "authn_statement_missing",
            ALICE,
        ),
        case(
            Weakening::NameIdFormat,
            json!({"alter": [{"kind": "name-id-format", "value": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}]}),
            "name_id_format_invalid",
            ALICE,
        ),
        case(
            Weakening::TrustDecrypted,
            json!({"signing": {"layout": "none"}, "encryption": {"method": "aes128-gcm"}}),
            "signature_missing",
            ALICE,
        ),
        case(
            Weakening::EmailMatch,
            json!({"user": "bob@corp.example"}),
            "email_mismatch",
            "bob@corp.example",
        ),
        Case {
            typed: ADMIN,
            ..case(
                Weakening::TrustFirstAssertion,
                json!({"user": ALICE, "signing": {"layout": "assertion"}, "tamper": [{"kind": "insert-assertion-copy", "position": "before", "name_id": ADMIN}]}),
                "multiple_assertions",
                ADMIN,
            )
        },
        Case {
            typed: ADMIN,
            ..case(
                Weakening::AssertionBySearch,
                json!({"user": ALICE, "signing": {"layout": "assertion"}, "tamper": [{"kind": "xsw", "variant": 3, "name_id": ADMIN}]}),
                "multiple_assertions",
                ADMIN,
            )
        },
        Case {
            typed: ADMIN,
            ..case(
                Weakening::NameidTextToFirstComment,
                json!({"user": "admin@corp.example.evil.test", "signing": {"layout": "assertion"}, "tamper": [{"kind": "comment-in-name-id", "after": ADMIN}]}),
                "email_mismatch",
                ADMIN,
            )
        },
        Case {
            unsolicited: true,
            ..case(
                Weakening::IdpInitiated,
                json!({}),
                "unsolicited_not_allowed",
                ALICE,
            )
        },
    ]
}

async fn attempt(weaken: &[Weakening], case: &Case) -> Outcome {
    let pair = pair(weaken).await;
    let mut json = case.plan.clone();
    if json.get("user").is_none() {
        json["user"] = json!(case.typed);
    }
    let p = plan(json);
    if case.unsolicited {
        idp_login(&pair, case.typed, p, None).await
    } else {
        sp_login(&pair, case.typed, p).await
    }
}

#[tokio::test]
async fn each_defect_is_refused_with_its_reason_and_accepted_when_its_check_is_off() {
    let mut problems = Vec::new();
    for case in cases() {
        let strict = attempt(&[], &case).await;
        if strict.reason.as_deref() != Some(case.reason) || strict.signed_in.is_some() {
            problems.push(format!(
                "{}: expected refusal `{}`, got {strict:?}",
                case.weakening, case.reason
            ));
        }
        let weak = attempt(&[case.weakening], &case).await;
        if weak.signed_in.as_deref() != Some(case.weakened_as) {
            problems.push(format!(
                "--weaken {}: expected a session for {}, got {weak:?}",
                case.weakening, case.weakened_as
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn a_replayed_unsolicited_response_is_refused_unless_the_cache_is_off() {
    for (weaken, replay_accepted) in [(vec![], false), (vec![Weakening::Replay], true)] {
        let pair = pair(&weaken).await;
        patch_settings(&pair, json!({"idp_initiated": true})).await;
        let first = idp_login(&pair, ALICE, plan(json!({})), None).await;
        assert_eq!(first.signed_in.as_deref(), Some(ALICE));
        let action = format!("{}/saml/acs", pair.sp.base_url());
        let again = post_acs(&pair, &new_agent(), &action, first.form.clone()).await;
        if replay_accepted {
            assert_eq!(again.signed_in.as_deref(), Some(ALICE), "{again:?}");
        } else {
            assert_eq!(again.reason.as_deref(), Some("replayed"), "{again:?}");
            assert_eq!(again.signed_in, None);
        }
    }
}

#[tokio::test]
async fn a_remote_reference_uri_is_refused_before_anything_is_fetched() {
    // A loopback listener that counts connections; xmlsec would fetch this URI if asked to
    // verify the signature (the mock IdP does fetch it, when it signs).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    {
        let hits = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                hits.fetch_add(1, Ordering::SeqCst);
                let mut stream = stream;
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
    }
    // The signature is signed normally, then its Reference URI is pointed at the listener: a
    // verifier that honours the URI fetches it before it finds the signature broken.
    let probe = format!("http://127.0.0.1:{port}/probe");
    for (weaken, fetch_expected) in [(vec![], false), (vec![Weakening::ReferenceUri], true)] {
        let pair = pair(&weaken).await;
        let before = hits.load(Ordering::SeqCst);
        let out = sp_login(
            &pair,
            ALICE,
            plan(json!({
                "user": ALICE,
                "signing": {"layout": "response"},
                "tamper": [{"kind": "reference-uri", "which": "response", "value": probe}]
            })),
        )
        .await;
        assert_eq!(out.signed_in, None, "{out:?}");
        let fetched = hits.load(Ordering::SeqCst) > before;
        if fetch_expected {
            assert!(
                fetched,
                "with the check off, xmlsec fetches the URI (this proves the probe works)"
            );
        } else {
            assert_eq!(
                out.reason.as_deref(),
                Some("reference_uri_invalid"),
                "{out:?}"
            );
            assert!(!fetched, "the SP fetched the Reference URI");
        }
    }
}

#[tokio::test]
async fn a_1024_bit_key_in_the_idp_metadata_is_ignored_unless_weakened() {
    for weaken in [&[][..], &[Weakening::KeySize][..]] {
        let pair = pair(weaken).await;
        let imported = pair
            .client
            .put(format!("{}/admin/idp", pair.sp.base_url()))
            .bearer_auth(crate::support::TOKEN)
            .json(&json!({"metadata_url": format!("{}/metadata?weak_key=include", pair.idp.base_url())}))
            .send()
            .await
            .expect("admin");
        assert_eq!(imported.status(), 200);
        let body: serde_json::Value = imported.json().await.expect("json");
        let ignored = body.to_string();
        assert!(ignored.contains("RSA key of 1024 bits"), "{ignored}");
        let out = sp_login(
            &pair,
            ALICE,
            plan(json!({"user": ALICE, "signing": {"layout": "both", "key": "attacker-rsa1024"}})),
        )
        .await;
        if weaken.is_empty() {
            assert_eq!(out.reason.as_deref(), Some("signature_invalid"), "{out:?}");
        } else {
            assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
        }
    }
}

#[test]
fn every_weakening_is_exercised_by_a_case_here() {
    // Cases in the table, plus the ones with a test of their own (replay, the remote Reference
    // URI probe, and relay-state in `sessions`, in-response-to there too; enforcement and
    // roles-from-attributes in `policy`).
    let mut covered: std::collections::BTreeSet<Weakening> =
        cases().iter().map(|c| c.weakening).collect();
    covered.extend([
        Weakening::Replay,
        Weakening::ReferenceUri,
        Weakening::RelayState,
        Weakening::Enforcement,
        Weakening::RolesFromAttributes,
        Weakening::KeySize,
        // In `logout`.
        Weakening::LogoutSignature,
        Weakening::LogoutSession,
        Weakening::LogoutParameters,
        Weakening::RedirectOctets,
        Weakening::LogoutDestination,
        Weakening::UnsignedLogout,
    ]);
    let missing: Vec<_> = Weakening::ALL
        .iter()
        .filter(|w| !covered.contains(w))
        .collect();
    assert!(missing.is_empty(), "no end-to-end case for {missing:?}");
}

#[tokio::test]
async fn tampered_signed_content_and_foreign_keys_are_refused() {
    let pair = pair(&[]).await;
    for (p, reason) in [
        (
            json!({"user": ALICE, "tamper": [{"kind": "edit-name-id", "value": ADMIN}]}),
            "signature_invalid",
        ),
        (
            json!({"user": ALICE, "signing": {"key": "attacker-self-signed"}}),
            "signature_invalid",
        ),
        (
            json!({"user": ALICE, "signing": {"key": "attacker-clone"}}),
            "signature_invalid",
        ),
        (
            json!({"user": ALICE, "signing": {"layout": "assertion"}, "tamper": [{"kind": "remove-signature", "which": "all"}]}),
            "signature_missing",
        ),
        (
            json!({"user": ALICE, "signing": {"layout": "assertion"}, "tamper": [{"kind": "insert-assertion-copy", "position": "before", "name_id": ADMIN, "keep_id": true}]}),
            "duplicate_id",
        ),
        (
            json!({"user": ALICE, "signing": {"layout": "both"}, "tamper": [{"kind": "second-signed-assertion", "name_id": ADMIN}]}),
            "multiple_assertions",
        ),
        (
            json!({"user": ALICE, "signing": {"layout": "both"}, "tamper": [{"kind": "id", "element": "assertion", "value": "1-not-an-ncname"}]}),
            "id_invalid",
        ),
    ] {
        let out = sp_login(&pair, ALICE, plan(p.clone())).await;
        assert_eq!(out.reason.as_deref(), Some(reason), "{p}: {out:?}");
        assert_eq!(out.signed_in, None);
    }
}
