//! Valid logins and the non-SAML surfaces.

use mock_idp::Flavour;

use crate::support::{TOKEN, idp_login, pair, patch_settings, plan, sp_login};

const ALICE: &str = "alice@corp.example";

#[tokio::test]
async fn every_flavour_signs_in_sp_and_idp_initiated() {
    let pair = pair(&[]).await;
    patch_settings(&pair, serde_json::json!({"idp_initiated": true})).await;
    for flavour in Flavour::ALL {
        if flavour == Flavour::Okta {
            // Okta's default NameID format is unspecified: read the email attribute instead.
            patch_settings(
                &pair,
                serde_json::json!({"identity": {"source": "attribute", "name": "email"}, "require_email_name_id_format": false}),
            )
            .await;
        }
        let p = plan(serde_json::json!({"flavour": flavour, "user": ALICE}));
        let sp = sp_login(&pair, ALICE, p.clone()).await;
        assert_eq!(
            sp.signed_in.as_deref(),
            Some(ALICE),
            "{flavour:?} SP-initiated: {sp:?}"
        );
        let idp = idp_login(&pair, ALICE, p, None).await;
        assert_eq!(
            idp.signed_in.as_deref(),
            Some(ALICE),
            "{flavour:?} IdP-initiated: {idp:?}"
        );
    }
}

#[tokio::test]
async fn me_names_the_user_role_and_method_and_is_401_before_login() {
    let pair = pair(&[]).await;
    let me = pair
        .client
        .get(format!("{}/me", pair.sp.base_url()))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401);
    let out = sp_login(&pair, ALICE, plan(serde_json::json!({"user": ALICE}))).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.signed_in.as_deref(), Some(ALICE));
}

#[tokio::test]
async fn enforcement_refuses_passwords_but_admins_and_api_users_keep_theirs() {
    let pair = pair(&[]).await;
    let password = |email: &'static str, pw: &'static str| {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        let url = format!("{}/login/password", pair.sp.base_url());
        async move {
            client
                .post(url)
                .header("Accept", "application/json")
                .form(&[("email", email), ("password", pw)])
                .send()
                .await
                .expect("answer")
        }
    };
    assert_eq!(
        password("carol@other.example", "carol-pass-1")
            .await
            .status(),
        303
    );
    assert_eq!(password("carol@other.example", "wrong").await.status(), 403);
    patch_settings(
        &pair,
        serde_json::json!({"enforced_domains": ["other.example", "corp.example"]}),
    )
    .await;
    let refused = password("carol@other.example", "carol-pass-1").await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["reason"], "password_login_disabled_sso_enforced");
    assert_eq!(
        password("admin@corp.example", "admin-pass-1")
            .await
            .status(),
        303,
        "admin fallback"
    );
    let api = pair
        .client
        .get(format!("{}/api/whoami", pair.sp.base_url()))
        .basic_auth("api@corp.example", Some("api-pass-1"))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200, "API users keep basic auth");
}

#[tokio::test]
async fn the_admin_api_needs_the_token_and_names_unknown_settings() {
    let pair = pair(&[]).await;
    let url = format!("{}/admin/settings", pair.sp.base_url());
    assert_eq!(pair.client.get(&url).send().await.expect("a").status(), 401);
    let bad = pair
        .client
        .patch(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"idp_initated": true}))
        .send()
        .await
        .expect("b");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("t").contains("idp_initated"));
    let reset = pair
        .client
        .post(format!("{}/admin/reset", pair.sp.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("c");
    assert_eq!(reset.status(), 200);
}
