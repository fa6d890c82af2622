//! The HTTP surface through `tower::ServiceExt::oneshot`: no socket, no IdP round trip (the
//! end-to-end suite does those).

use std::io::Read as _;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use super::*;
use crate::{Config, IdpSource};

const BASE: &str = "http://sp.test";
const TOKEN: &str = "t0ken";

async fn app(weaken: &[Weakening]) -> Router {
    app_at(BASE, weaken).await
}

async fn app_at(base: &str, weaken: &[Weakening]) -> Router {
    let keys = mock_idp::KeyStore::generate(mock_idp::KeyType::EcdsaP256).expect("keys");
    let mut config = Config::new();
    config.demo = true;
    config.admin_token = Some(TOKEN.to_owned());
    config.weaken = weaken.iter().copied().collect();
    config.idp = Some(IdpSource::Fields {
        entity_id: "http://idp.test/metadata".to_owned(),
        sso_url: "http://idp.test/sso".to_owned(),
        certificate_pem: keys.trusted().cert_pem(),
    });
    let mut app = crate::build_app(config, base).await.expect("app");
    // idp.test does not exist: no reachability check before the redirect (tests of the
    // check itself run against a real mock IdP in tests/e2e/policy.rs).
    app.initial_settings.idp_patience_ms = 0;
    app.store
        .set_settings(&app.initial_settings)
        .expect("settings");
    router(Arc::new(app))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// `name=value` of a Set-Cookie header.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
    }
}

async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(uri: &str) -> axum::http::request::Builder {
    Request::get(uri)
}

fn post_form(uri: &str, fields: &[(&str, &str)]) -> axum::http::request::Builder {
    let _ = fields;
    Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}

fn form_body(fields: &[(&str, &str)]) -> Body {
    Body::from(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish(),
    )
}

async fn password_login(router: &Router, email: &str, password: &str) -> Answer {
    let fields = [("email", email), ("password", password)];
    call(
        router,
        post_form("/login/password", &fields)
            .header(header::ACCEPT, "application/json")
            .body(form_body(&fields))
            .expect("request"),
    )
    .await
}

async fn admin(
    router: &Router,
    method: &str,
    uri: &str,
    json: Option<serde_json::Value>,
) -> Answer {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json");
    let body = json.map_or_else(Body::empty, |j| Body::from(j.to_string()));
    call(router, builder.body(body).expect("request")).await
}

async fn patch(router: &Router, json: serde_json::Value) -> Answer {
    admin(router, "PATCH", "/admin/settings", Some(json)).await
}

/// A GET with headers.
async fn get_with(router: &Router, uri: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
    let mut builder = get(uri);
    for (name, value) in headers {
        builder = builder.header(name, *value);
    }
    call(router, builder.body(Body::empty()).expect("request")).await
}

fn basic(email: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
    )
}

async fn whoami(router: &Router, email: &str, password: &str) -> StatusCode {
    call(
        router,
        get("/api/whoami")
            .header(header::AUTHORIZATION, basic(email, password))
            .body(Body::empty())
            .expect("request"),
    )
    .await
    .status
}

#[tokio::test]
async fn health_and_metadata() {
    let router = app(&[]).await;
    let health = get_with(&router, "/healthz", &[]).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let md = get_with(&router, "/saml/metadata", &[]).await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(
        md.body
            .contains("entityID=\"http://sp.test/saml/metadata\""),
        "{}",
        md.body
    );
    assert!(md.body.contains("Location=\"http://sp.test/saml/acs\""));
    assert!(
        md.body
            .contains("nameid-format:emailAddress</md:NameIDFormat>")
    );
    assert!(md.body.contains("WantAssertionsSigned=\"false\""));
    patch(&router, serde_json::json!({"want_assertions_signed": true})).await;
    let md = get_with(&router, "/saml/metadata", &[]).await;
    assert!(md.body.contains("WantAssertionsSigned=\"true\""));
    assert!(
        health.headers.get("x-reference-sp-weakened").is_none(),
        "a strict SP carries no weakening header"
    );
}

#[tokio::test]
async fn the_metadata_publishes_an_encryption_key_a_signing_key_and_single_logout() {
    let router = app(&[]).await;
    let md = get_with(&router, "/saml/metadata", &[]).await;
    let sp = &mock_idp::SpEntry::from_metadata(&md.body).expect("the mock IdP reads it")[0];
    let key = crate::EncryptionKey::process(crate::KeyPurpose::Encryption).expect("key");
    let signing = crate::EncryptionKey::process(crate::KeyPurpose::Signing).expect("key");
    assert_eq!(sp.encryption_certs, vec![key.cert_der().to_vec()]);
    assert_eq!(
        sp.signing_certs,
        vec![signing.cert_der().to_vec()],
        "one key, one purpose: the signing key is not the encryption key"
    );
    let slo: Vec<_> = sp.slo.iter().map(|e| e.url.as_str()).collect();
    assert_eq!(
        slo,
        [format!("{BASE}/saml/slo"), format!("{BASE}/saml/slo")]
    );
}

#[tokio::test]
async fn a_database_file_keeps_the_encryption_key_across_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || {
        let mut config = Config::new();
        config.database = crate::Database::File(dir.path().join("sp.sqlite"));
        crate::build_app(config, BASE)
    };
    let first = start().await.expect("first start");
    let second = start().await.expect("second start");
    assert_eq!(
        first.encryption_key.cert_der(),
        second.encryption_key.cert_der()
    );
    let process = crate::EncryptionKey::process(crate::KeyPurpose::Encryption).expect("key");
    assert_ne!(first.encryption_key.cert_der(), process.cert_der());
}

#[tokio::test]
async fn email_first_login_routes_by_domain() {
    let router = app(&[]).await;
    let submit = |email: &'static str| {
        let fields = [("email", email)];
        post_form("/login", &fields)
            .body(form_body(&fields))
            .expect("r")
    };
    let page = get_with(&router, "/login", &[]).await;
    assert!(page.body.contains("name=\"email\""));
    let sso = call(&router, submit("alice@corp.example")).await;
    assert_eq!(sso.status, StatusCode::SEE_OTHER);
    assert_eq!(sso.location(), "/login/sso?email=alice%40corp.example");
    let password = call(&router, submit("carol@other.example")).await;
    assert_eq!(
        password.location(),
        "/login/password?email=carol%40other.example"
    );
    patch(&router, serde_json::json!({"sso_enabled": false})).await;
    let off = call(&router, submit("alice@corp.example")).await;
    assert_eq!(off.location(), "/login/password?email=alice%40corp.example");
}

#[tokio::test]
async fn login_sso_sends_a_deflated_authn_request_bound_to_the_browser() {
    let router = app(&[]).await;
    let answer = get_with(
        &router,
        "/login/sso?email=alice%40corp.example&return_to=%2F%2Fevil.test",
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.location().to_owned();
    assert!(
        location.starts_with("http://idp.test/sso?SAMLRequest="),
        "{location}"
    );
    let query: Vec<(String, String)> = form_urlencoded::parse(
        location
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .as_bytes(),
    )
    .into_owned()
    .collect();
    let value = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(value("SAMLRequest"))
        .expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .expect("raw DEFLATE");
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let request = doc.root_element();
    assert_eq!(request.tag_name().name(), "AuthnRequest");
    for (attr, expected) in [
        ("Version", Some("2.0")),
        ("Destination", Some("http://idp.test/sso")),
        (
            "AssertionConsumerServiceURL",
            Some("http://sp.test/saml/acs"),
        ),
        (
            "ProtocolBinding",
            Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"),
        ),
        // Only a login where the application asks for them (`force_authn=1`, `passive=1`).
        ("ForceAuthn", None),
        ("IsPassive", None),
    ] {
        assert_eq!(request.attribute(attr), expected, "{attr}");
    }
    assert!(
        request
            .attribute("ID")
            .is_some_and(|id| id.starts_with('_'))
    );
    assert!(request.attribute("IssueInstant").is_some());
    assert!(xml.contains(">http://sp.test/saml/metadata</saml:Issuer>"));
    assert!(xml.contains("Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\""));
    let relay = value("RelayState");
    assert_eq!(relay.len(), 32, "an opaque token, not the return path");
    let browser = answer.cookie(BROWSER_COOKIE).expect("pre-login cookie");
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    assert!(!set_cookie.contains("Secure"), "plain http on loopback");
    // A second login from the same browser keeps the same pre-login cookie.
    let again = get_with(&router, "/login/sso", &[(header::COOKIE, &browser)]).await;
    assert_eq!(
        again.cookie(BROWSER_COOKIE).as_deref(),
        Some(browser.as_str())
    );
}

#[tokio::test]
async fn the_acs_refuses_wrong_bindings_and_garbage_with_403_and_a_reason() {
    let router = app(&[]).await;
    let html = get_with(&router, "/saml/acs?SAMLResponse=abc", &[]).await;
    assert_eq!(html.status, StatusCode::FORBIDDEN);
    assert!(
        html.body
            .contains("<code id=\"reason\">wrong_binding</code>"),
        "{}",
        html.body
    );
    assert!(html.body.contains(Reason::WrongBinding.message()));
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("RelayState", "x")], "wrong_binding"),
        (&[("SAMLResponse", "%%%not base64")], "response_not_base64"),
        (&[("SAMLResponse", "aGVsbG8=")], "wrong_binding"),
        (&[("SAMLResponse", "PGEvPg==")], "not_a_response"),
        (&[("SAMLResponse", "PGE+")], "xml_malformed"),
        (
            &[("SAMLResponse", "PGEvPg=="), ("SAMLResponse", "PGEvPg==")],
            "wrong_binding",
        ),
    ];
    for (fields, reason) in cases {
        let answer = call(
            &router,
            post_form("/saml/acs", fields)
                .header(header::ACCEPT, "application/json")
                .body(form_body(fields))
                .expect("r"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fields:?}");
        let json = answer.json();
        assert_eq!(json["error"], "refused");
        assert_eq!(json["reason"], *reason, "{fields:?}: {json}");
        assert!(json["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // A body beyond the limit is refused before it is read, never a 5xx.
    let huge = "A".repeat(MAX_BODY_BYTES + 1);
    let answer = call(
        &router,
        post_form("/saml/acs", &[])
            .body(Body::from(format!("SAMLResponse={huge}")))
            .expect("r"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A large but admissible response is refused for its size, not crashed on.
    let big =
        base64::engine::general_purpose::STANDARD
            .encode(vec![b'<'; validate::MAX_RESPONSE_BYTES + 1]);
    let fields = [("SAMLResponse", big.as_str())];
    let answer = call(
        &router,
        post_form("/saml/acs", &fields)
            .header(header::ACCEPT, "application/json")
            .body(form_body(&fields))
            .expect("r"),
    )
    .await;
    assert_eq!(answer.json()["reason"], "response_too_large");
}

#[tokio::test]
async fn password_login_me_and_logout() {
    let router = app(&[]).await;
    let me = |cookie: Option<String>| {
        let mut builder = get("/me");
        if let Some(c) = cookie {
            builder = builder.header(header::COOKIE, c);
        }
        builder.body(Body::empty()).expect("r")
    };
    let anonymous = call(&router, me(None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.json(),
        serde_json::json!({"error": "not_signed_in"})
    );
    let wrong = password_login(&router, "carol@other.example", "nope").await;
    assert_eq!(
        (wrong.status, wrong.json()["reason"].clone()),
        (StatusCode::FORBIDDEN, "bad_credentials".into())
    );
    let nobody = password_login(&router, "nobody@other.example", "x").await;
    assert_eq!(nobody.json()["reason"], "bad_credentials");
    let sso_only = password_login(&router, "alice@corp.example", "").await;
    assert_eq!(
        sso_only.json()["reason"],
        "bad_credentials",
        "alice has no password"
    );
    let ok = password_login(&router, "carol@other.example", "carol-pass-1").await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/me"));
    let session = ok.cookie(SESSION_COOKIE).expect("session cookie");
    let signed_in = call(&router, me(Some(session.clone()))).await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let json = signed_in.json();
    assert_eq!(json["email"], "carol@other.example");
    assert_eq!(json["role"], "member");
    assert_eq!(json["method"], "password");
    assert_eq!(json["tenant"], "default");
    assert!(json["session_expires_at"].is_null());
    let out = call(
        &router,
        Request::post("/logout")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(
        (out.status, out.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert_eq!(
        call(&router, me(Some(session))).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A deleted user's session names nobody.
    let ok = password_login(&router, "carol@other.example", "carol-pass-1").await;
    let session = ok.cookie(SESSION_COOKIE).expect("session");
    admin(&router, "DELETE", "/admin/users/carol@other.example", None).await;
    assert_eq!(
        call(&router, me(Some(session))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn enforcement_admin_fallback_and_api_basic_auth() {
    let router = app(&[]).await;
    assert_eq!(
        whoami(&router, "api@corp.example", "api-pass-1").await,
        StatusCode::OK
    );
    assert_eq!(
        whoami(&router, "carol@other.example", "carol-pass-1").await,
        StatusCode::OK
    );
    assert_eq!(
        whoami(&router, "api@corp.example", "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    let anonymous = get_with(&router, "/api/whoami", &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers.contains_key(header::WWW_AUTHENTICATE));

    patch(
        &router,
        serde_json::json!({"enforced_domains": ["corp.example", "other.example"]}),
    )
    .await;
    let refused = password_login(&router, "carol@other.example", "carol-pass-1").await;
    assert_eq!(
        refused.json()["reason"],
        "password_login_disabled_sso_enforced"
    );
    assert_eq!(
        whoami(&router, "carol@other.example", "carol-pass-1").await,
        StatusCode::UNAUTHORIZED,
        "no password path around enforcement"
    );
    assert_eq!(
        whoami(&router, "api@corp.example", "api-pass-1").await,
        StatusCode::OK,
        "API users keep their passwords"
    );
    assert_eq!(
        password_login(&router, "admin@corp.example", "admin-pass-1")
            .await
            .status,
        StatusCode::SEE_OTHER,
        "admin fallback"
    );
    patch(
        &router,
        serde_json::json!({"admin_password_fallback": false}),
    )
    .await;
    let admin_refused = password_login(&router, "admin@corp.example", "admin-pass-1").await;
    assert_eq!(
        admin_refused.json()["reason"],
        "password_login_disabled_sso_enforced"
    );
}

#[tokio::test]
async fn turning_sso_off_sends_former_sso_users_through_a_reset() {
    let router = app(&[]).await;
    admin(
        &router,
        "PUT",
        "/admin/users/bob@corp.example",
        Some(serde_json::json!({"role": "member", "password": "bob-pass-123"})),
    )
    .await;
    patch(&router, serde_json::json!({"sso_enabled": false})).await;
    for email in ["alice@corp.example", "bob@corp.example"] {
        let answer = password_login(&router, email, "bob-pass-123").await;
        assert_eq!(
            answer.json()["reason"],
            "password_reset_required",
            "{email}"
        );
    }
    assert_eq!(
        password_login(&router, "admin@corp.example", "admin-pass-1")
            .await
            .status,
        StatusCode::SEE_OTHER,
        "the admin's fallback password stays"
    );
    assert_eq!(
        password_login(&router, "carol@other.example", "carol-pass-1")
            .await
            .status,
        StatusCode::SEE_OTHER,
        "never an SSO user"
    );
    assert_eq!(
        whoami(&router, "api@corp.example", "api-pass-1").await,
        StatusCode::OK
    );
    let sso = get_with(
        &router,
        "/login/sso",
        &[(header::ACCEPT, "application/json")],
    )
    .await;
    assert_eq!(sso.json()["reason"], "sso_disabled");
    let token = admin(
        &router,
        "POST",
        "/admin/users/alice@corp.example/reset-password",
        None,
    )
    .await
    .json();
    let token = token["token"].as_str().expect("token").to_owned();
    let short = [("token", token.as_str()), ("password", "short")];
    let answer = call(
        &router,
        post_form("/password-reset", &short)
            .header(header::ACCEPT, "application/json")
            .body(form_body(&short))
            .expect("r"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "too short");
    let json = call(
        &router,
        Request::post("/password-reset")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({"token": "not-a-token", "password": "long-enough"}).to_string(),
            ))
            .expect("r"),
    )
    .await;
    assert_eq!(
        json.status,
        StatusCode::FORBIDDEN,
        "JSON bodies are read too"
    );
    let fields = [("token", token.as_str()), ("password", "alice-new-pass")];
    let answer = call(
        &router,
        post_form("/password-reset", &fields)
            .body(form_body(&fields))
            .expect("r"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        password_login(&router, "alice@corp.example", "alice-new-pass")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let reused = call(
        &router,
        post_form("/password-reset", &fields)
            .header(header::ACCEPT, "application/json")
            .body(form_body(&fields))
            .expect("r"),
    )
    .await;
    assert_eq!(
        reused.status,
        StatusCode::FORBIDDEN,
        "a reset token works once"
    );
}

#[tokio::test]
async fn the_admin_api_authorizes_validates_and_resets() {
    let router = app(&[]).await;
    let anonymous = get_with(&router, "/admin/settings", &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.json()["error"].is_string());
    let wrong = get_with(
        &router,
        "/admin/settings",
        &[(header::AUTHORIZATION, "Bearer t0ke")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let settings = admin(&router, "GET", "/admin/settings", None).await.json();
    assert_eq!(settings["signature_policy"], "either");
    assert_eq!(settings["clock_skew_seconds"], 120);
    assert_eq!(
        settings["identity"],
        serde_json::json!({"source": "name-id"})
    );
    assert_eq!(
        settings["sso_domains"],
        serde_json::json!(["corp.example", "corp.example.evil.test"])
    );
    let unknown = patch(&router, serde_json::json!({"jit": true, "nope": 1})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("nope"))
    );
    let bad_value = patch(
        &router,
        serde_json::json!({"signature_policy": "sometimes"}),
    )
    .await;
    assert_eq!(bad_value.status, StatusCode::BAD_REQUEST);
    let changed = patch(&router, serde_json::json!({"allowed_algorithms": ["rsa-sha1", "sha1"], "identity": {"source": "attribute", "name": "urn:oid:0.9.2342.19200300.100.1.3"}})).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(
        changed.json()["allowed_algorithms"][0],
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    );

    // Users: create, read, delete, 404.
    let created = admin(
        &router,
        "PUT",
        "/admin/users/dave@corp.example",
        Some(serde_json::json!({"role": "admin", "password": "dave-pass-1"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.json()["role"], "admin");
    let bad_role = admin(
        &router,
        "PUT",
        "/admin/users/eve@corp.example",
        Some(serde_json::json!({"role": "root"})),
    )
    .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    let users = admin(&router, "GET", "/admin/users", None).await.json();
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(crate::DEMO_USERS.len())
    );
    assert!(
        users.to_string().find("password_hash").is_none(),
        "hashes never leave"
    );
    // An admin session authorizes the admin API too.
    let session = password_login(&router, "dave@corp.example", "dave-pass-1")
        .await
        .cookie(SESSION_COOKIE)
        .expect("session");
    let by_session = get_with(&router, "/admin/users", &[(header::COOKIE, &session)]).await;
    assert_eq!(by_session.status, StatusCode::OK);
    let member = password_login(&router, "carol@other.example", "carol-pass-1")
        .await
        .cookie(SESSION_COOKIE)
        .expect("session");
    let by_member = get_with(&router, "/admin/users", &[(header::COOKIE, &member)]).await;
    assert_eq!(by_member.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin(&router, "DELETE", "/admin/users/dave@corp.example", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin(&router, "DELETE", "/admin/users/dave@corp.example", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin(
            &router,
            "POST",
            "/admin/users/nobody@x.test/reset-password",
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // The IdP connection: validated, and never without a key.
    let idp = admin(&router, "GET", "/admin/idp", None).await.json();
    assert_eq!(idp["entity_id"], "http://idp.test/metadata");
    let keyless = admin(&router, "PUT", "/admin/idp", Some(serde_json::json!({"metadata_xml": "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"><md:IDPSSODescriptor><md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"http://x.test/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>"}))).await;
    assert_eq!(keyless.status, StatusCode::BAD_REQUEST);
    assert!(
        keyless.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("no signing certificate"))
    );
    let neither = admin(
        &router,
        "PUT",
        "/admin/idp",
        Some(serde_json::json!({"entity_id": "x"})),
    )
    .await;
    assert_eq!(neither.status, StatusCode::BAD_REQUEST);

    // Reset: settings and users as they started, passwords included.
    admin(
        &router,
        "PUT",
        "/admin/users/carol@other.example",
        Some(serde_json::json!({"role": "admin", "password": "changed-pass"})),
    )
    .await;
    admin(&router, "DELETE", "/admin/users/bob@corp.example", None).await;
    assert_eq!(
        admin(&router, "POST", "/admin/reset", None).await.status,
        StatusCode::OK
    );
    let settings = admin(&router, "GET", "/admin/settings", None).await.json();
    assert_eq!(
        settings["identity"],
        serde_json::json!({"source": "name-id"})
    );
    assert_eq!(settings["jit"], false);
    let users = admin(&router, "GET", "/admin/users", None).await.json();
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(crate::DEMO_USERS.len())
    );
    assert_eq!(
        password_login(&router, "carol@other.example", "carol-pass-1")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let api = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == "api@corp.example"))
        .cloned()
        .expect("api user");
    assert_eq!(
        (api["role"].clone(), api["api"].clone()),
        ("api".into(), true.into())
    );
}

/// Posts each bad query to an admin route (400, with an error that says `says`), and a good
/// one without credentials (401).
async fn refuses_bad_and_anonymous_posts(
    router: &Router,
    route: &str,
    bad: &[(&str, &str)],
    good: &str,
) {
    for (query, says) in bad {
        let bad = admin(router, "POST", &format!("{route}{query}"), None).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            bad.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains(says)),
            "{query}: {}",
            bad.body
        );
    }
    let anonymous = call(
        router,
        Request::builder()
            .method("POST")
            .uri(format!("{route}{good}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_api_sets_the_patience_with_the_idp_and_reset_gives_the_initial_one_back() {
    let router = app(&[]).await;
    let patience = || async {
        admin(&router, "GET", "/admin/settings", None).await.json()["idp_patience_ms"].clone()
    };
    let initial = patience().await;
    let set = admin(&router, "POST", "/admin/idp-patience?ms=500", None).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.json()["idp_patience_ms"], 500);
    assert_eq!(patience().await, 500);
    refuses_bad_and_anonymous_posts(
        &router,
        "/admin/idp-patience",
        &[
            ("", "needs ?ms"),
            ("?ms=soon", "whole number"),
            ("?ms=-5", "whole number"),
            ("?ms=60001", "at most 60000"),
        ],
        "?ms=1",
    )
    .await;
    assert_eq!(
        patience().await,
        500,
        "neither a bad request nor an anonymous one changed it"
    );
    admin(&router, "POST", "/admin/reset", None).await;
    assert_eq!(patience().await, initial);
}

#[tokio::test]
async fn the_admin_api_moves_the_clock_forward_and_reset_brings_it_back() {
    let router = app(&[]).await;
    let clock = admin(&router, "GET", "/admin/clock", None).await.json();
    assert_eq!(clock["offset_ms"], 0);
    let moved = admin(&router, "POST", "/admin/clock?advance_ms=2100", None).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(moved.json()["offset_ms"], 2100);
    let now = chrono::DateTime::parse_from_rfc3339(moved.json()["now"].as_str().expect("now"))
        .expect("rfc3339");
    assert!(now > chrono::Utc::now() + chrono::Duration::milliseconds(2000));
    refuses_bad_and_anonymous_posts(
        &router,
        "/admin/clock",
        &[
            ("", "needs ?advance_ms"),
            ("?advance_ms=soon", "whole number"),
            ("?advance_ms=-5", "between 0"),
            ("?advance_ms=99999999999999", "between 0"),
        ],
        "?advance_ms=1",
    )
    .await;
    assert_eq!(
        admin(&router, "GET", "/admin/clock", None).await.json()["offset_ms"],
        2100,
        "neither a bad request nor an anonymous one moved it"
    );
    admin(&router, "POST", "/admin/reset", None).await;
    assert_eq!(
        admin(&router, "GET", "/admin/clock", None).await.json()["offset_ms"],
        0
    );
}

#[tokio::test]
async fn a_weakened_sp_says_so_on_every_response_and_page() {
    let router = app(&[Weakening::Audience, Weakening::Replay]).await;
    for uri in ["/healthz", "/login", "/me", "/saml/metadata"] {
        let answer = get_with(&router, uri, &[]).await;
        assert_eq!(
            answer
                .headers
                .get("x-reference-sp-weakened")
                .and_then(|v| v.to_str().ok()),
            Some("audience,replay"),
            "{uri}"
        );
    }
    let page = get_with(&router, "/login", &[]).await;
    assert!(
        page.body
            .contains("WARNING: this SP is deliberately weakened (audience, replay)")
    );
    let refusal = get_with(&router, "/saml/acs", &[]).await;
    assert!(refusal.body.contains("deliberately weakened"));
}

/// A loopback server that answers any request with 200 and an endless body (no
/// Content-Length), counting the bytes it managed to send.
async fn endless_body() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/metadata", listener.local_addr().expect("addr"));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<x>")
                    .await;
                let chunk = vec![b' '; 64 * 1024];
                // At most 256 MiB, so a broken client cannot keep the test going for ever.
                for _ in 0..4096 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                    counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn idp_metadata_downloads_stop_at_1_mib_while_they_arrive() {
    let router = app(&[]).await;
    let (url, sent) = endless_body().await;
    let answer = admin(
        &router,
        "PUT",
        "/admin/idp",
        Some(serde_json::json!({ "metadata_url": url })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(answer.body.contains("larger than 1 MiB"), "{}", answer.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent < 16 << 20,
        "the SP read {} MiB before refusing",
        sent >> 20
    );
}

#[tokio::test]
async fn a_session_cookie_drives_the_admin_api_only_same_origin_and_with_json() {
    let router = app(&[]).await;
    let session = password_login(&router, "admin@corp.example", "admin-pass-1")
        .await
        .cookie(SESSION_COOKIE)
        .expect("session");
    let session = session.as_str();
    let bearer = format!("Bearer {TOKEN}");
    let bearer = bearer.as_str();
    let body = r#"{"clock_skew_seconds": 60}"#;
    // (method, uri, headers, status); before: every one of them was answered 200/204.
    let cases = [
        (
            "PATCH",
            "/admin/settings",
            vec![("cookie", session), ("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "PATCH",
            "/admin/settings",
            vec![
                ("cookie", session),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "POST",
            "/admin/reset",
            vec![("cookie", session)],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "PATCH",
            "/admin/settings",
            vec![
                ("cookie", session),
                ("content-type", "application/json"),
                ("origin", "https://evil.test"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "PATCH",
            "/admin/settings",
            vec![
                ("cookie", session),
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "GET",
            "/admin/users",
            vec![("cookie", session), ("origin", "https://evil.test")],
            StatusCode::FORBIDDEN,
        ),
        (
            "PATCH",
            "/admin/settings",
            vec![
                ("cookie", session),
                ("content-type", "application/json"),
                ("origin", "http://sp.test"),
                ("sec-fetch-site", "same-origin"),
            ],
            StatusCode::OK,
        ),
        (
            "GET",
            "/admin/users",
            vec![("cookie", session)],
            StatusCode::OK,
        ),
        // The token is no browser's: it passes as it is.
        (
            "PATCH",
            "/admin/settings",
            vec![("authorization", bearer), ("content-type", "text/plain")],
            StatusCode::OK,
        ),
        // Neither token nor cookie: 401 as before.
        (
            "PATCH",
            "/admin/settings",
            vec![("content-type", "text/plain")],
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (method, uri, headers, want) in cases {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let answer = call(&router, request.body(Body::from(body)).expect("request")).await;
        assert_eq!(
            answer.status, want,
            "{method} {uri} {headers:?}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_public_url() {
    for (base, secure) in [("http://sp.test", false), ("https://sp.example", true)] {
        let router = app_at(base, &[]).await;
        let login = password_login(&router, "dave@corp.example", "dave-pass-1").await;
        let sso = call(
            &router,
            get("/login/sso?email=alice@corp.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        let session = login.cookie(SESSION_COOKIE).expect("session");
        let logout = get_with(&router, "/logout", &[(header::COOKIE, &session)]).await;
        for (what, answer) in [
            ("session", &login),
            ("pre-login", &sso),
            ("logout", &logout),
        ] {
            let set_cookie: Vec<&str> = answer
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            assert!(!set_cookie.is_empty(), "{base} {what}: no cookie");
            for cookie in set_cookie {
                assert_eq!(
                    cookie.split(';').any(|a| a.trim() == "Secure"),
                    secure,
                    "{base} {what}: {cookie}"
                );
                assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
            }
        }
    }
}

#[tokio::test]
async fn a_refused_logout_message_is_titled_logout_refused() {
    let router = app(&[]).await;
    for uri in [
        "/saml/slo?SAMLRequest=%25%25%25not-base64",
        "/saml/slo?SAMLResponse=AAAA",
    ] {
        let answer = get_with(&router, uri, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{uri}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("Logout refused"),
            "{uri}: {}",
            answer.body
        );
        assert!(
            !answer.body.contains("Sign-in refused"),
            "{uri}: {}",
            answer.body
        );
    }
}
