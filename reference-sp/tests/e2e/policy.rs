//! Tenant policy under the two weakenings that touch it (`enforcement`,
//! `roles-from-attributes`), the IdP reachability check before a user is sent to the IdP, and
//! the account's own spelling of an email.

use std::time::{Duration, Instant};

use mock_idp::Outage;
use reference_sp::Weakening;
use serde_json::json;

use crate::support::{Pair, TOKEN, agent, pair, patch_settings, plan, sp_login};

const DAVE: &str = "dave@corp.example";

async fn password(pair: &Pair, email: &str, pw: &str) -> (u16, serde_json::Value) {
    let answer = agent()
        .post(format!("{}/login/password", pair.sp.base_url()))
        .header("Accept", "application/json")
        .form(&[("email", email), ("password", pw)])
        .send()
        .await
        .expect("answer");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or_default())
}

async fn role_of(pair: &Pair, email: &str) -> String {
    let users: serde_json::Value = pair
        .client
        .get(format!("{}/admin/users", pair.sp.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == email))
        .and_then(|u| u["role"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn enforcement_refuses_an_enforced_password_unless_weakened() {
    for (weaken, expected) in [(vec![], 403), (vec![Weakening::Enforcement], 303)] {
        let pair = pair(&weaken).await;
        assert_eq!(
            password(&pair, DAVE, "dave-pass-1").await.0,
            303,
            "not enforced yet"
        );
        patch_settings(&pair, json!({"enforced_domains": ["corp.example"]})).await;
        let (status, body) = password(&pair, DAVE, "dave-pass-1").await;
        assert_eq!(status, expected, "{weaken:?}: {body}");
        if expected == 403 {
            assert_eq!(body["reason"], "password_login_disabled_sso_enforced");
        }
    }
}

#[tokio::test]
async fn role_attributes_grant_nothing_unless_weakened() {
    let alice = "alice@corp.example";
    let claims = json!({"user": alice, "attributes": {
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": ["Admin"],
        "groups": ["admins"],
    }});
    for (weaken, expected) in [
        (vec![], "member"),
        (vec![Weakening::RolesFromAttributes], "admin"),
    ] {
        let pair = pair(&weaken).await;
        let out = sp_login(&pair, alice, plan(claims.clone())).await;
        assert_eq!(out.signed_in.as_deref(), Some(alice), "{out:?}");
        assert_eq!(role_of(&pair, alice).await, expected, "{weaken:?}");
    }
}

#[tokio::test]
async fn the_session_carries_the_accounts_spelling_of_the_email() {
    let pair = pair(&[]).await;
    let out = sp_login(
        &pair,
        "alice@corp.example",
        plan(json!({"user": "Alice@Corp.Example"})),
    )
    .await;
    assert_eq!(
        out.signed_in.as_deref(),
        Some("alice@corp.example"),
        "{out:?}"
    );
}

/// `/login/sso` for alice: the status, the reason code, and how long it took.
async fn start_sso(pair: &Pair) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let answer = agent()
        .get(format!("{}/login/sso", pair.sp.base_url()))
        .query(&[("email", "alice@corp.example")])
        .header("Accept", "application/json")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the SP answers");
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    (
        status,
        body["reason"].as_str().map(str::to_owned),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_dead_failing_or_hanging_idp_is_reported_at_once_and_sso_resumes_after() {
    let pair = pair(&[]).await;
    patch_settings(&pair, json!({"idp_patience_ms": 500})).await;
    assert_eq!(start_sso(&pair).await.0, 303, "the IdP answers");
    for outage in [
        Outage::Down,
        Outage::Error,
        Outage::slow(Duration::from_secs(30)),
    ] {
        pair.idp.set_outage(outage);
        let (status, reason, took) = start_sso(&pair).await;
        assert_eq!(status, 503, "{outage:?}");
        assert_eq!(reason.as_deref(), Some("idp_unavailable"), "{outage:?}");
        assert!(took < Duration::from_secs(3), "{outage:?} took {took:?}");
        pair.idp.set_outage(Outage::Up);
    }
    // Back up (the listener of a `down` IdP is bound again): SSO works.
    let mut status = 0;
    for _ in 0..50 {
        status = start_sso(&pair).await.0;
        if status == 303 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 303);
    let out = sp_login(
        &pair,
        "alice@corp.example",
        plan(json!({"user": "alice@corp.example"})),
    )
    .await;
    assert_eq!(
        out.signed_in.as_deref(),
        Some("alice@corp.example"),
        "{out:?}"
    );
    // The check can be turned off: the user is then sent to a dead IdP as before.
    patch_settings(&pair, json!({"idp_patience_ms": 0})).await;
    pair.idp.set_outage(Outage::Down);
    assert_eq!(start_sso(&pair).await.0, 303);
    pair.idp.set_outage(Outage::Up);
}
