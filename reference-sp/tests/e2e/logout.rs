//! Single Logout end to end: the IdP's LogoutRequest over HTTP-Redirect and HTTP-POST, the
//! SP's own logout, and one case per logout weakening: the defect is refused (the session
//! survives) and takes effect once the weakening turns its check off.

use mock_idp::exchange::ExchangeKind;
use reference_sp::Weakening;
use serde_json::json;

use crate::support::{
    Pair, agent, auto_form, idp_answer_with, pair, plan, post_acs, signed_in_as, sp_start,
};

const ALICE: &str = "alice@corp.example";
const BOB: &str = "bob@corp.example";

/// What a logout did.
#[derive(Debug)]
struct Logout {
    /// The reason code of the SP's refusal, if it refused.
    reason: Option<String>,
    /// Who `/me` names afterwards.
    signed_in: Option<String>,
    /// What the mock IdP found wrong with the SP's logout message (`None`: the SP sent none).
    sp_message: Option<Vec<String>>,
}

/// Signs ALICE in with a plan whose logout part is `logout`, then runs the logout: from the
/// IdP (`/slo/start`) or from the SP (`/saml/logout`), following redirects and auto-posted
/// forms like a browser.
async fn login_then_logout(pair: &Pair, logout: serde_json::Value, from_idp: bool) -> Logout {
    let ua = agent();
    let location = sp_start(pair, &ua, &[("email", ALICE)]).await;
    let p = plan(json!({"user": ALICE, "logout": logout}));
    let plan_id = pair.idp.idp().create_plan(p.clone());
    let (action, form) = idp_answer_with(&ua, &location, &plan_id).await;
    let login = post_acs(pair, &ua, &action, form).await;
    assert_eq!(
        login.signed_in.as_deref(),
        Some(ALICE),
        "the login before the logout"
    );
    let since = pair
        .idp
        .idp()
        .log(Some(&plan_id), 64)
        .last()
        .map_or(0, |e| e.seq);

    let mut next = if from_idp {
        format!("{}/slo/start?plan={plan_id}", pair.idp.base_url())
    } else {
        format!("{}/saml/logout", pair.sp.base_url())
    };
    let mut form: Option<Vec<(String, String)>> = None;
    let mut reason = None;
    for _ in 0..8 {
        let mut request = match form.take() {
            Some(fields) => ua.post(&next).form(&fields),
            None => ua.get(&next),
        };
        if next.starts_with(pair.idp.base_url()) {
            // The IdP's SLO endpoint reads the plan from the cookie a browser would carry.
            request = request.header(
                "Cookie",
                format!("{}={plan_id}", mock_idp::server::PLAN_COOKIE),
            );
        }
        let answer = request
            .header("Accept", "application/json")
            .send()
            .await
            .expect("an answer");
        let status = answer.status().as_u16();
        if status == 303 {
            next = answer.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            continue;
        }
        let body = answer.text().await.expect("body");
        if status == 403 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            reason = v["reason"].as_str().map(str::to_owned);
            break;
        }
        if body.contains("<form") && (body.contains("SAMLRequest") || body.contains("SAMLResponse"))
        {
            let (action, fields) = auto_form(&body);
            next = action;
            form = Some(fields);
            continue;
        }
        break;
    }
    let signed_in = signed_in_as(pair, &ua).await;
    let wanted = if from_idp {
        ExchangeKind::LogoutResponse
    } else {
        ExchangeKind::LogoutRequest
    };
    let sp_message = pair
        .idp
        .idp()
        .log(Some(&plan_id), 64)
        .into_iter()
        .filter(|e| e.seq > since && e.kind == wanted)
        .map(|e| e.problems)
        .next();
    Logout {
        reason,
        signed_in,
        sp_message,
    }
}

#[tokio::test]
async fn a_signed_idp_logout_ends_the_session_and_the_sp_answers_signed_over_both_bindings() {
    let pair = pair(&[]).await;
    for binding in ["redirect", "post"] {
        let out = login_then_logout(&pair, json!({"binding": binding}), true).await;
        assert_eq!(out.signed_in, None, "{binding}: {out:?}");
        assert_eq!(out.sp_message, Some(Vec::new()), "{binding}: {out:?}");
    }
}

#[tokio::test]
async fn an_sp_logout_sends_a_signed_request_for_the_session_and_reads_either_binding() {
    let pair = pair(&[]).await;
    for binding in ["redirect", "post"] {
        let out = login_then_logout(&pair, json!({"binding": binding}), false).await;
        assert_eq!(out.signed_in, None, "{binding}: {out:?}");
        assert_eq!(out.reason, None, "{binding}: {out:?}");
        assert_eq!(out.sp_message, Some(Vec::new()), "{binding}: {out:?}");
    }
    let unsigned = login_then_logout(&pair, json!({"unsigned": true}), false).await;
    assert_eq!(
        unsigned.reason.as_deref(),
        Some("signature_missing"),
        "{unsigned:?}"
    );
}

struct Case {
    weakening: Weakening,
    logout: serde_json::Value,
    /// The refusal with the check on (`None`: the SP answers, but ends no session).
    reason: Option<&'static str>,
    /// Whether the check protects a valid logout (it must end the session with the check on,
    /// and the weakening breaks it) instead of refusing a bad one.
    valid: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            weakening: Weakening::LogoutSignature,
            logout: json!({"unsigned": true}),
            reason: Some("signature_missing"),
            valid: false,
        },
        Case {
            weakening: Weakening::LogoutSignature,
            logout: json!({"binding": "post", "key": "attacker-self-signed"}),
            reason: Some("signature_invalid"),
            valid: false,
        },
        Case {
            weakening: Weakening::LogoutSession,
            logout: json!({"alter": [{"kind": "name-id", "value": BOB}]}),
            reason: None,
            valid: false,
        },
        Case {
            weakening: Weakening::LogoutSession,
            logout: json!({"alter": [{"kind": "session-index", "value": "_other"}]}),
            reason: None,
            valid: false,
        },
        Case {
            weakening: Weakening::LogoutParameters,
            logout: json!({"alter": [{"kind": "name-id", "value": BOB}], "tamper": [{"kind": "smuggled-request"}]}),
            reason: Some("logout_invalid"),
            valid: false,
        },
        Case {
            weakening: Weakening::LogoutDestination,
            logout: json!({"alter": [{"kind": "destination", "value": "https://other-sp.example/saml/slo"}]}),
            reason: Some("destination_mismatch"),
            valid: false,
        },
        Case {
            weakening: Weakening::RedirectOctets,
            logout: json!({"lowercase_escapes": true}),
            reason: None,
            valid: true,
        },
    ]
}

#[tokio::test]
async fn each_logout_defect_is_refused_and_takes_effect_when_its_check_is_off() {
    let mut problems = Vec::new();
    for case in cases() {
        let strict = login_then_logout(&pair(&[]).await, case.logout.clone(), true).await;
        let weak =
            login_then_logout(&pair(&[case.weakening]).await, case.logout.clone(), true).await;
        let (strict_ok, weak_ok) = if case.valid {
            (
                strict.signed_in.is_none(),
                weak.signed_in.as_deref() == Some(ALICE),
            )
        } else {
            (
                strict.signed_in.as_deref() == Some(ALICE)
                    && strict.reason.as_deref() == case.reason,
                weak.signed_in.is_none(),
            )
        };
        if !strict_ok {
            problems.push(format!(
                "{} {}: strict SP: {strict:?}",
                case.weakening, case.logout
            ));
        }
        if !weak_ok {
            problems.push(format!(
                "--weaken {} {}: {weak:?}",
                case.weakening, case.logout
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn the_sps_own_logout_messages_are_signed_unless_weakened() {
    for (weaken, unsigned) in [(vec![], false), (vec![Weakening::UnsignedLogout], true)] {
        let pair = pair(&weaken).await;
        for from_idp in [true, false] {
            let out = login_then_logout(&pair, json!({}), from_idp).await;
            assert_eq!(out.signed_in, None, "{weaken:?} {out:?}");
            let problems = out.sp_message.expect("the SP sent its logout message");
            assert_eq!(
                problems.iter().any(|p| p.contains("unsigned")),
                unsigned,
                "{weaken:?}, from the IdP: {from_idp}: {problems:?}"
            );
        }
    }
}

#[test]
fn every_logout_weakening_has_a_case() {
    let covered: std::collections::BTreeSet<Weakening> =
        cases().iter().map(|c| c.weakening).collect();
    for w in [
        Weakening::LogoutSignature,
        Weakening::LogoutSession,
        Weakening::LogoutParameters,
        Weakening::RedirectOctets,
        Weakening::LogoutDestination,
    ] {
        assert!(covered.contains(&w), "no case for {w}");
    }
}
