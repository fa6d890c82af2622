//! Valid logins and the non-SAML surfaces.

use mock_idp::Flavour;

use crate::support::{TOKEN, idp_login, pair, patch_settings, plan, sp_login};

const ALICE: &str = "alice@corp.example";

#[tokio::test]
async fn every_flavour_signs_in_sp_and_idp_initiated() {
    let pair = pair(&[]).await;
    patch_settings(&pair, serde_json::json!({"idp_initiated": true})).await;
    for flavour in Flavour::ALL {
        // Where the NameID is not an email in the emailAddress format (Okta, Google, Keycloak:
        // unspecified; Shibboleth: transient), the SP reads the flavour's email attribute.
        let identity = if flavour.name_id_is_email()
            && flavour.name_id_format() == mock_idp::flavour::NAMEID_EMAIL
        {
            serde_json::json!({"identity": {"source": "name-id"}, "require_email_name_id_format": true})
        } else {
            serde_json::json!({"identity": {"source": "attribute", "name": flavour.email_attribute()}, "require_email_name_id_format": false})
        };
        patch_settings(&pair, identity).await;
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

#[tokio::test]
async fn jit_creates_unknown_users_with_the_default_role_and_attributes_grant_nothing() {
    let pair = pair(&[]).await;
    let newcomer = "newcomer@corp.example";
    let refused = sp_login(&pair, newcomer, plan(serde_json::json!({"user": newcomer}))).await;
    assert_eq!(
        refused.reason.as_deref(),
        Some("unknown_user"),
        "{refused:?}"
    );
    patch_settings(&pair, serde_json::json!({"jit": true})).await;
    let p = plan(
        serde_json::json!({"user": newcomer, "attributes": {"role": ["admin"], "groups": ["admins"]}}),
    );
    let created = sp_login(&pair, newcomer, p).await;
    assert_eq!(created.signed_in.as_deref(), Some(newcomer), "{created:?}");
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
    let user = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == newcomer))
        .expect("created");
    assert_eq!(
        user["role"], "member",
        "the default role; SAML attributes never grant roles"
    );
}

#[tokio::test]
async fn enforcement_keeps_live_sessions_and_sso_off_requires_a_password_reset() {
    let pair = pair(&[]).await;
    let ua = crate::support::new_agent();
    // A live SSO session, then enforcement is switched on: the session survives.
    let plan_id = pair
        .idp
        .idp()
        .create_plan(plan(serde_json::json!({"user": ALICE})));
    let start = ua
        .get(format!("{}/login/sso?email={ALICE}", pair.sp.base_url()))
        .send()
        .await
        .expect("start");
    let location = start.headers()["location"]
        .to_str()
        .expect("loc")
        .to_owned();
    let html = ua
        .get(format!("{location}&plan={plan_id}"))
        .send()
        .await
        .expect("idp")
        .text()
        .await
        .expect("html");
    let value = html
        .split("name=\"SAMLResponse\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("response")
        .to_owned();
    let login = crate::support::post_acs(
        &pair,
        &ua,
        &format!("{}/saml/acs", pair.sp.base_url()),
        vec![("SAMLResponse".to_owned(), value)],
    )
    .await;
    assert_eq!(login.signed_in.as_deref(), Some(ALICE));
    patch_settings(
        &pair,
        serde_json::json!({"enforced_domains": ["corp.example"]}),
    )
    .await;
    let me = ua
        .get(format!("{}/me", pair.sp.base_url()))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200, "enforcement does not end live sessions");

    // An SSO user who had a password: SSO off means a reset first, and the reset works.
    let put = pair
        .client
        .put(format!(
            "{}/admin/users/bob@corp.example",
            pair.sp.base_url()
        ))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"role": "member", "password": "bob-old-pass"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    patch_settings(&pair, serde_json::json!({"sso_enabled": false})).await;
    let password = |pw: &'static str| {
        let client = pair.client.clone();
        let url = format!("{}/login/password", pair.sp.base_url());
        async move {
            client
                .post(url)
                .header("Accept", "application/json")
                .form(&[("email", "bob@corp.example"), ("password", pw)])
                .send()
                .await
                .expect("answer")
        }
    };
    let blocked: serde_json::Value = password("bob-old-pass").await.json().await.expect("json");
    assert_eq!(blocked["reason"], "password_reset_required");
    let token: serde_json::Value = pair
        .client
        .post(format!(
            "{}/admin/users/bob@corp.example/reset-password",
            pair.sp.base_url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let reset = pair
        .client
        .post(format!("{}/password-reset", pair.sp.base_url()))
        .form(&[
            ("token", token["token"].as_str().expect("token")),
            ("password", "bob-new-pass"),
        ])
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 200);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let ok = client
        .post(format!("{}/login/password", pair.sp.base_url()))
        .form(&[("email", "bob@corp.example"), ("password", "bob-new-pass")])
        .send()
        .await
        .expect("login");
    assert_eq!(ok.status(), 303, "password login works after the reset");
    let sso = client
        .get(format!("{}/login/sso?email={ALICE}", pair.sp.base_url()))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("sso");
    assert_eq!(sso.status(), 403, "SSO is off");
    let body: serde_json::Value = sso.json().await.expect("json");
    assert_eq!(body["reason"], "sso_disabled");
}

#[test]
fn a_connection_from_the_three_fields_works_and_one_without_a_key_is_refused() {
    let keys = mock_idp::KeyStore::generate(mock_idp::KeyType::EcdsaP256).expect("keys");
    let c = reference_sp::Connection::from_fields(
        "https://idp.test/metadata",
        "https://idp.test/sso",
        &keys.trusted().cert_pem(),
    )
    .expect("three fields");
    assert_eq!(c.certificates.len(), 1);
    let no_key = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
    let err = reference_sp::Connection::from_metadata(no_key).expect_err("no key");
    assert!(err.to_string().contains("no signing certificate"), "{err}");
}

#[tokio::test]
async fn an_ecdsa_idp_signs_in_in_every_layout() {
    let pair = crate::support::ecdsa_pair().await;
    for layout in ["response", "assertion", "both"] {
        let out = sp_login(
            &pair,
            ALICE,
            plan(serde_json::json!({"user": ALICE, "signing": {"layout": layout}})),
        )
        .await;
        assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{layout}: {out:?}");
    }
}

#[tokio::test]
async fn the_identity_comes_from_each_documented_attribute() {
    let pair = pair(&[]).await;
    for (name, flavour) in [
        ("email", "generic"),
        (mock_idp::flavour::CLAIM_EMAIL, "entra"),
        ("urn:oid:0.9.2342.19200300.100.1.3", "generic"),
    ] {
        patch_settings(
            &pair,
            serde_json::json!({"identity": {"source": "attribute", "name": name}, "require_email_name_id_format": false}),
        )
        .await;
        // The NameID names someone else: only the attribute may decide.
        let p = plan(serde_json::json!({
            "flavour": flavour,
            "user": ALICE,
            "attributes": {"urn:oid:0.9.2342.19200300.100.1.3": [ALICE]},
            "alter": [{"kind": "name-id", "value": "opaque-id-123"}]
        }));
        let out = sp_login(&pair, ALICE, p).await;
        assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{name}: {out:?}");
    }
    patch_settings(
        &pair,
        serde_json::json!({"identity": {"source": "attribute", "name": "mail"}}),
    )
    .await;
    let missing = sp_login(&pair, ALICE, plan(serde_json::json!({"user": ALICE}))).await;
    assert_eq!(
        missing.reason.as_deref(),
        Some("identity_missing"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn the_idp_connection_can_be_replaced_from_a_metadata_url_or_the_three_fields() {
    let pair = pair(&[]).await;
    let url = format!("{}/admin/idp", pair.sp.base_url());
    let put = |body: serde_json::Value| {
        let client = pair.client.clone();
        let url = url.clone();
        async move {
            client
                .put(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .expect("admin")
        }
    };
    let from_url =
        put(serde_json::json!({"metadata_url": format!("{}/metadata", pair.idp.base_url())})).await;
    assert_eq!(from_url.status(), 200);
    let out = sp_login(&pair, ALICE, plan(serde_json::json!({"user": ALICE}))).await;
    assert_eq!(out.signed_in.as_deref(), Some(ALICE), "{out:?}");
    // The three fields with another key: the IdP's real key no longer verifies.
    let other = mock_idp::KeyStore::generate(mock_idp::KeyType::EcdsaP256).expect("keys");
    let fields = put(serde_json::json!({
        "entity_id": pair.idp.idp().settings().entity_id,
        "sso_url": format!("{}/sso", pair.idp.base_url()),
        "certificate_pem": other.trusted().cert_pem(),
    }))
    .await;
    assert_eq!(fields.status(), 200);
    let out = sp_login(&pair, ALICE, plan(serde_json::json!({"user": ALICE}))).await;
    assert_eq!(out.reason.as_deref(), Some("signature_invalid"), "{out:?}");
    let unreachable = put(serde_json::json!({"metadata_url": "http://127.0.0.1:9/metadata"})).await;
    assert_eq!(unreachable.status(), 400);
}
