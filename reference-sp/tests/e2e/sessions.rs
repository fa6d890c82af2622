//! Session binding, RelayState, replay and session lifetime through real flows.

use reference_sp::Weakening;
use serde_json::json;

use crate::support::{
    agent, idp_answer, idp_login_with_relay, pair, patch_settings, plan, post_acs, sp_start,
};

const ALICE: &str = "alice@corp.example";

#[tokio::test]
async fn sp_initiated_login_returns_to_the_requested_path_and_the_relay_state_is_opaque() {
    let pair = pair(&[]).await;
    let ua = agent();
    let location = sp_start(
        &pair,
        &ua,
        &[("email", ALICE), ("return_to", "/settings?tab=sso")],
    )
    .await;
    assert!(
        !location.contains("settings"),
        "the return path stays on the server: {location}"
    );
    let (action, form) = idp_answer(&pair, &ua, &location, plan(json!({"user": ALICE}))).await;
    let out = post_acs(&pair, &ua, &action, form).await;
    assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
    assert_eq!(out.location.as_deref(), Some("/settings?tab=sso"));
    // An off-site return path is replaced with /me.
    let ua = agent();
    let location = sp_start(
        &pair,
        &ua,
        &[("email", ALICE), ("return_to", "//evil.test/x")],
    )
    .await;
    let (action, form) = idp_answer(&pair, &ua, &location, plan(json!({"user": ALICE}))).await;
    let out = post_acs(&pair, &ua, &action, form).await;
    assert_eq!(out.location.as_deref(), Some("/me"));
}

#[tokio::test]
async fn a_response_is_bound_to_the_browser_that_asked_and_used_once() {
    for (weaken, accepted) in [(vec![], false), (vec![Weakening::InResponseTo], true)] {
        let pair = pair(&weaken).await;
        // Login CSRF: the attacker's browser asks, the victim's browser gets the response.
        let attacker = agent();
        let location = sp_start(&pair, &attacker, &[("email", ALICE)]).await;
        let (action, form) =
            idp_answer(&pair, &attacker, &location, plan(json!({"user": ALICE}))).await;
        let victim = agent();
        let _ = sp_start(&pair, &victim, &[("email", ALICE)]).await;
        let out = post_acs(&pair, &victim, &action, form.clone()).await;
        if accepted {
            assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
        } else {
            assert_eq!(
                out.reason.as_deref(),
                Some("in_response_to_unknown"),
                "{out:?}"
            );
            assert_eq!(out.signed_in, None);
            // The right browser can still use it; then never again.
            let first = post_acs(&pair, &attacker, &action, form.clone()).await;
            assert_eq!(first.signed_in.as_deref(), Some(ALICE), "{first:?}");
            let again = post_acs(&pair, &attacker, &action, form).await;
            assert_eq!(again.status, 403, "{again:?}");
            assert!(
                matches!(
                    again.reason.as_deref(),
                    Some("replayed" | "in_response_to_unknown")
                ),
                "{again:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_sp_relay_state_on_a_response_without_in_response_to_is_refused() {
    let pair = pair(&[]).await;
    patch_settings(&pair, json!({"idp_initiated": true})).await;
    let ua = agent();
    let location = sp_start(&pair, &ua, &[("email", ALICE)]).await;
    let relay = location
        .split("RelayState=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("relay state")
        .to_owned();
    let out = idp_login_with_relay(&pair, ALICE, plan(json!({})), Some(&ua), Some(&relay)).await;
    assert_eq!(
        out.reason.as_deref(),
        Some("in_response_to_missing"),
        "{out:?}"
    );
    assert_eq!(out.signed_in, None);
}

#[tokio::test]
async fn an_unsolicited_relay_state_never_redirects_off_site_unless_weakened() {
    for (weaken, expected) in [
        (vec![], "/me"),
        (vec![Weakening::RelayState], "https://evil.test/"),
    ] {
        let pair = pair(&weaken).await;
        patch_settings(&pair, json!({"idp_initiated": true})).await;
        let out = idp_login_with_relay(
            &pair,
            ALICE,
            plan(json!({})),
            None,
            Some("https://evil.test/"),
        )
        .await;
        assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
        assert_eq!(out.location.as_deref(), Some(expected), "{weaken:?}");
        let inside =
            idp_login_with_relay(&pair, ALICE, plan(json!({})), None, Some("/reports")).await;
        assert_eq!(inside.location.as_deref(), Some("/reports"));
    }
}

#[tokio::test]
async fn the_session_ends_at_session_not_on_or_after() {
    let pair = pair(&[]).await;
    let ua = agent();
    let location = sp_start(&pair, &ua, &[("email", ALICE)]).await;
    let (action, form) = idp_answer(
        &pair,
        &ua,
        &location,
        plan(json!({"user": ALICE, "alter": [{"kind": "time", "field": "session-not-on-or-after", "offset_seconds": 2}]})),
    )
    .await;
    let out = post_acs(&pair, &ua, &action, form).await;
    assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
    let me: serde_json::Value = ua
        .get(format!("{}/me", pair.sp.base_url()))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["method"], "sso");
    assert!(me["session_expires_at"].is_string(), "{me}");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let after = ua
        .get(format!("{}/me", pair.sp.base_url()))
        .send()
        .await
        .expect("me");
    assert_eq!(after.status(), 401, "the session is gone");
}
