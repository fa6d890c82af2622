//! The HTTP endpoints through `oneshot`: metadata, malformed input, bindings, control API.

use std::io::Write as _;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use mock_idp::server::PLAN_COOKIE;

use crate::support::{
    ACS_URL, IDP_BASE, SP_ENTITY_ID, call, control, form_response, idp, samael_sp,
};

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub(crate) fn deflate_b64(xml: &str) -> String {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(xml.as_bytes()).expect("write");
    B64.encode(encoder.finish().expect("finish"))
}

pub(crate) fn request_xml(issuer: &str, id: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="{ACS_URL}"><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#
    )
}

fn redirect_uri(xml: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &deflate_b64(xml))
        .append_pair("RelayState", "rs")
        .finish();
    format!("/sso?{query}")
}

fn decoded(html: &str) -> String {
    String::from_utf8(B64.decode(form_response(html)).expect("b64")).expect("utf8")
}

#[tokio::test]
async fn metadata_options_drop_key_use_or_add_the_weak_key_and_unknown_ones_are_refused() {
    let idp = idp();
    let (_, body, _) = call(&idp, get("/metadata?key_use=omit")).await;
    assert_eq!(body.matches("<md:KeyDescriptor>").count(), 2, "{body}");
    let (status, body, _) = call(&idp, get("/metadata?weak_key=include")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.matches("<md:KeyDescriptor use=\"signing\">").count(),
        3
    );
    let weak = idp
        .keys()
        .get(mock_idp::keys::KeyChoice::AttackerRsa1024)
        .expect("weak key")
        .cert_base64();
    assert!(body.contains(&weak), "the 1024-bit key is published");
    let (status, body, _) = call(&idp, get("/metadata?weak_key=yes")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("weak_key=include"), "{body}");
}

#[tokio::test]
async fn metadata_publishes_two_signing_keys_and_both_sso_bindings() {
    let idp = idp();
    let (status, body, headers) = call(&idp, get("/metadata")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/samlmetadata+xml"
    );
    assert_eq!(
        body.matches("<md:KeyDescriptor use=\"signing\">").count(),
        2
    );
    for binding in ["HTTP-Redirect", "HTTP-POST"] {
        assert!(
            body.contains(&format!(
                "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{binding}\""
            )),
            "{binding}"
        );
        assert!(
            body.contains(&format!(
                "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{binding}\""
            )),
            "{binding}"
        );
    }
    assert!(body.contains(
        "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
    ));
    let certs = samael_sp(&idp)
        .idp_signing_certs()
        .expect("certs")
        .expect("some");
    assert_eq!(certs.len(), 2, "samael sees both signing keys");
}

#[tokio::test]
async fn malformed_requests_get_a_400_with_a_one_line_reason() {
    let idp = idp();
    let bomb = "a".repeat(2 * 1024 * 1024);
    let cases = [
        ("/sso", "no SAMLRequest parameter"),
        ("/sso?SAMLRequest=%25%25%25", "not valid base64"),
        (
            &format!("/sso?SAMLRequest={}", B64.encode(b"\x01\x02garbage")) as &str,
            "not valid DEFLATE",
        ),
        (&redirect_uri(&bomb), "inflates beyond"),
        (&redirect_uri("this is not xml"), "not well-formed XML"),
        (
            &redirect_uri("<!DOCTYPE x [<!ENTITY e \"v\">]><x>&e;</x>"),
            "DOCTYPE",
        ),
        (&redirect_uri("<x/>"), "not a samlp:AuthnRequest"),
        (
            &redirect_uri(&request_xml("https://unknown-sp.test", "_r")),
            "unknown SP https://unknown-sp.test",
        ),
        (
            &redirect_uri(
                &request_xml(SP_ENTITY_ID, "_r").replace(ACS_URL, "https://evil.test/acs"),
            ),
            "is not registered",
        ),
    ];
    for (uri, reason) in cases {
        let (status, body, _) = call(&idp, get(uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(reason), "{uri}: {body}");
        assert_eq!(body.trim_end().lines().count(), 1, "one line: {body}");
    }
    let log = idp.log(None, 100);
    assert_eq!(log.len(), cases.len(), "every refusal is logged");
    assert!(log.iter().all(|e| e.status == 400 && e.error.is_some()));
}

#[tokio::test]
async fn the_post_binding_is_read_and_answered() {
    let idp = idp();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLRequest",
            &B64.encode(request_xml(SP_ENTITY_ID, "_post-1")),
        )
        .append_pair("RelayState", "state")
        .finish();
    let request = Request::post("/sso")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let (status, html, _) = call(&idp, request).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let xml = decoded(&html);
    assert!(xml.contains("InResponseTo=\"_post-1\""), "{xml}");
    assert!(html.contains(&format!("action=\"{ACS_URL}\"")));
}

#[tokio::test]
async fn an_idp_initiated_response_is_unsolicited_and_names_the_user() {
    let idp = idp();
    let uri = format!(
        "/idp-initiated?sp={}&user=carol%40example.test&relay_state=%2Fhome",
        urlencode(SP_ENTITY_ID)
    );
    let (status, html, _) = call(&idp, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let xml = decoded(&html);
    assert!(!xml.contains("InResponseTo"), "{xml}");
    assert!(xml.contains(">carol@example.test</saml:NameID>"), "{xml}");
    assert!(html.contains("name=\"RelayState\" value=\"/home\""));
    let (status, body, _) = call(&idp, get("/idp-initiated?sp=https%3A%2F%2Fnobody.test")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown SP"));
}

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn plans_are_created_bound_logged_and_reset_over_http() {
    let idp = idp();
    let plan = serde_json::json!({
        "user": "dave@example.test",
        "alter": [{ "kind": "destination", "value": "https://evil.test/acs" }]
    });
    let (status, body, _) = call(
        &idp,
        control(&idp, "POST", "/_control/plans", &plan.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, _, headers) = call(&idp, get(&format!("/_control/bind?plan={id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.starts_with(&format!("{PLAN_COOKIE}={id};")),
        "{cookie}"
    );

    let with_cookie = Request::get(redirect_uri(&request_xml(SP_ENTITY_ID, "_bound")))
        .header(header::COOKIE, format!("{PLAN_COOKIE}={id}"))
        .body(Body::empty())
        .expect("request");
    let (status, html, _) = call(&idp, with_cookie).await;
    assert_eq!(status, StatusCode::OK);
    let xml = decoded(&html);
    assert!(
        xml.contains("Destination=\"https://evil.test/acs\"") && xml.contains("dave@example.test")
    );

    // Without a cookie or parameter the default, valid plan answers.
    let (_, html, _) = call(
        &idp,
        get(&redirect_uri(&request_xml(SP_ENTITY_ID, "_default"))),
    )
    .await;
    assert!(decoded(&html).contains(&format!("Destination=\"{ACS_URL}\"")));

    let (_, log, _) = call(
        &idp,
        control(&idp, "GET", &format!("/_control/log?plan={id}"), ""),
    )
    .await;
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).expect("log json");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["request_id"], "_bound");
    assert!(
        log[0]["request_xml"]
            .as_str()
            .expect("request xml")
            .contains("AuthnRequest")
    );
    assert!(
        log[0]["response_xml"]
            .as_str()
            .expect("response xml")
            .contains("evil.test")
    );
    assert_eq!(log[0]["valid"], false);

    let (status, _, _) = call(&idp, control(&idp, "POST", "/_control/reset", "")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(idp.log(None, 10).is_empty());
    let (status, body, _) = call(
        &idp,
        control(&idp, "GET", &format!("/_control/plans/{id}"), ""),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_plan_with_a_typo_is_refused_naming_the_field() {
    let idp = idp();
    let plan = r#"{"alter": [{"kind": "destination", "valeu": "x"}]}"#;
    let (status, body, _) = call(&idp, control(&idp, "POST", "/_control/plans", plan)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("valeu"), "{body}");
}

#[tokio::test]
async fn an_sp_registered_from_metadata_is_answered() {
    let idp = idp();
    let metadata = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://second-sp.test"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:9/second/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#;
    let body = serde_json::json!({ "metadata": metadata }).to_string();
    let (status, answer, _) = call(&idp, control(&idp, "POST", "/_control/sps", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let uri = format!("/idp-initiated?sp={}", urlencode("https://second-sp.test"));
    let (status, html, _) = call(&idp, get(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("action=\"http://127.0.0.1:9/second/acs\""));
}

#[tokio::test]
async fn a_plan_error_is_a_400_not_a_crash() {
    let idp = idp();
    let plan = serde_json::json!({ "signing": { "algorithm": "ecdsa-sha256" } });
    let id = idp.create_plan(serde_json::from_value(plan).expect("plan"));
    let (status, body, _) = call(
        &idp,
        get(&format!(
            "/idp-initiated?sp={}&plan={id}",
            urlencode(SP_ENTITY_ID)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("needs an EC key"), "{body}");
}

#[tokio::test]
async fn signed_redirect_requests_are_verified_against_the_sps_key() {
    use crate::support::shared_keys;
    let idp = idp();
    // Any key pair will do as the SP's: use the shared rollover key.
    let sp_key = shared_keys().rollover();
    let mut entry = mock_idp::SpEntry::new(SP_ENTITY_ID, ACS_URL);
    entry.signing_certs = vec![sp_key.cert_der().to_vec()];
    entry.authn_requests_signed = true;
    idp.register_entry(entry);
    let pkey =
        openssl::pkey::PKey::private_key_from_pem(sp_key.private_pem().as_bytes()).expect("key");
    let request = samael_sp(&idp)
        .make_authentication_request(&format!("{}/sso", crate::support::IDP_BASE))
        .expect("request");
    let signed = request
        .signed_redirect("relay-signed", &pkey)
        .expect("sign")
        .expect("url");
    let query = signed.query().expect("query").to_owned();
    assert!(query.contains("Signature="), "{query}");

    let (status, body, _) = call(&idp, get(&format!("/sso?{query}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let forged = query.replace("relay-signed", "relay-forged");
    let (status, body, _) = call(&idp, get(&format!("/sso?{forged}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("does not verify"), "{body}");

    let unsigned = request.redirect("relay").expect("redirect").expect("url");
    let (status, body, _) = call(
        &idp,
        get(&format!("/sso?{}", unsigned.query().expect("query"))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("AuthnRequestsSigned"), "{body}");
}

#[tokio::test]
async fn single_logout_input_errors_are_400s_with_a_reason() {
    let idp = idp();
    let plan = idp.create_plan(mock_idp::Plan::default());
    let (status, body, _) = call(&idp, get(&format!("/slo/start?plan={plan}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("no session to log out"), "{body}");

    let both = format!(
        "/slo?SAMLRequest={0}&SAMLResponse={0}",
        form_urlencoded::byte_serialize(deflate_b64("<x/>").as_bytes()).collect::<String>()
    );
    let (status, body, _) = call(&idp, get(&both)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("exactly one"), "{body}");

    let (status, body, _) = call(&idp, get("/slo?SAMLRequest=%%%")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let not_logout = format!(
        "/slo?SAMLRequest={}",
        form_urlencoded::byte_serialize(deflate_b64(&request_xml(SP_ENTITY_ID, "_r")).as_bytes())
            .collect::<String>()
    );
    let (status, body, _) = call(&idp, get(&not_logout)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not a samlp:LogoutRequest"), "{body}");
}

/// The SP's LogoutRequest over HTTP-POST, signed with `key` (the SP's metadata key is the
/// rollover key here), optionally with its signature removed; the problems the IdP logs.
/// The session a logout names in these tests.
fn alice_session() -> mock_idp::logout::IssuedSession {
    mock_idp::logout::IssuedSession {
        sp_entity_id: SP_ENTITY_ID.to_owned(),
        name_id: "alice@example.test".to_owned(),
        name_id_format: None,
        session_index: Some("_s1".to_owned()),
    }
}

async fn posted_sp_logout(key: mock_idp::KeyChoice, remove_signature: bool) -> Vec<String> {
    use mock_idp::logout::{BINDING_POST, LogoutContext, build_request};
    use mock_idp::plan::{Logout, LogoutAlteration, LogoutBinding, LogoutTamper};

    let idp = idp();
    let mut sp = mock_idp::SpEntry::new(SP_ENTITY_ID, ACS_URL);
    sp.signing_certs = vec![idp.keys().rollover().cert_der().to_vec()];
    sp.slo = [BINDING_POST, mock_idp::logout::BINDING_REDIRECT]
        .into_iter()
        .map(|binding| mock_idp::registry::SloEndpoint {
            binding: binding.to_owned(),
            url: "http://127.0.0.1:9/saml/slo".to_owned(),
            response_url: None,
        })
        .collect();
    idp.register_entry(sp.clone());
    // The logout module writes LogoutRequests; with the SP as Issuer and the IdP's endpoint as
    // Destination, it writes the SP's.
    let plan = Logout {
        binding: LogoutBinding::Post,
        key,
        alter: vec![
            LogoutAlteration::Issuer {
                value: SP_ENTITY_ID.to_owned(),
            },
            LogoutAlteration::Destination {
                value: format!("{IDP_BASE}/slo"),
            },
        ],
        tamper: if remove_signature {
            vec![LogoutTamper::SignatureRemoved]
        } else {
            Vec::new()
        },
        ..Logout::default()
    };
    let ctx = LogoutContext {
        idp_entity_id: "unused",
        issue_instant: "2026-01-01T00:00:00Z",
        sp: &sp,
        relay_state: None,
    };
    let session = alice_session();
    let message = build_request(&ctx, &plan, idp.keys(), &session).expect("built");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &B64.encode(&message.xml))
        .finish();
    let request = Request::post("/slo")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let (status, _, headers) = call(&idp, request).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the IdP answers over HTTP-Redirect"
    );
    let location = headers[header::LOCATION].to_str().expect("location");
    assert!(location.contains("SAMLResponse="), "{location}");
    idp.log(None, 1).pop().expect("logged").problems
}

#[tokio::test]
async fn a_posted_sp_logout_request_is_verified_with_the_sps_metadata_keys() {
    let signed = posted_sp_logout(mock_idp::KeyChoice::Rollover, false).await;
    assert!(
        signed
            .iter()
            .all(|p| !p.contains("signature") && !p.contains("unsigned")),
        "{signed:?}"
    );
    assert!(
        signed.iter().any(|p| p.contains("issued no session")),
        "this user agent never logged in: {signed:?}"
    );
    let removed = posted_sp_logout(mock_idp::KeyChoice::Rollover, true).await;
    assert!(
        removed.iter().any(|p| p.contains("unsigned")),
        "{removed:?}"
    );
    let other_key = posted_sp_logout(mock_idp::KeyChoice::Trusted, false).await;
    assert!(
        other_key
            .iter()
            .any(|p| p.contains("signature is not valid")),
        "{other_key:?}"
    );
}

/// Runs one request through the router on a runtime of its own, on the calling thread (so a
/// FIFO watchdog can run it).
fn call_blocking(
    idp: &std::sync::Arc<mock_idp::Idp>,
    request: Request<Body>,
) -> (StatusCode, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body, _) = runtime.block_on(call(idp, request));
    (status, body)
}

#[test]
fn nothing_a_signature_names_is_read_or_fetched_by_the_idp() {
    use hardening::probe::{Fifo, Listener};
    use samael::crypto::{CryptoProvider as _, XmlSec};
    use std::time::Duration;

    let listener = Listener::start();
    let fifo = Fifo::new();
    let uris = [
        listener.url().to_owned(),
        fifo.path().display().to_string(),
        format!("file://{}", fifo.path().display()),
        "file:///etc/passwd".to_owned(),
    ];

    // An SP's signed AuthnRequest over HTTP-POST, its Reference pointed elsewhere after
    // signing: verified with the SP's key, it must fail at once, loading nothing.
    let idp = idp();
    let sp_key = crate::support::shared_keys().rollover();
    let mut entry = mock_idp::SpEntry::new(SP_ENTITY_ID, ACS_URL);
    entry.signing_certs = vec![sp_key.cert_der().to_vec()];
    idp.register_entry(entry);
    let template = format!(
        concat!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_signed\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\" AssertionConsumerServiceURL=\"{acs}\"><saml:Issuer>{sp}</saml:Issuer>",
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
            "<ds:Reference URI=\"#_signed\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>",
            "</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature></samlp:AuthnRequest>"
        ),
        acs = ACS_URL,
        sp = SP_ENTITY_ID,
    );
    let signed = XmlSec::sign_xml(&template, sp_key.private_pkcs8_der()).expect("sign");
    for uri in &uris {
        let edited = signed.replace("URI=\"#_signed\"", &format!("URI=\"{uri}\""));
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLRequest", &B64.encode(edited))
            .finish();
        let request = Request::post("/sso")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let idp = std::sync::Arc::clone(&idp);
        let (status, body) = fifo
            .within(Duration::from_secs(10), move || {
                call_blocking(&idp, request)
            })
            .unwrap_or_else(|e| panic!("POST /sso, Reference URI {uri}: {e}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains("does not verify"), "{uri}: {body}");
    }

    // A plan that signs with such a Reference URI: signing (and the self-check after it)
    // must not load it either; the plan fails at once.
    for uri in &uris {
        let plan = serde_json::json!({ "signing": { "layout": "response", "reference_uri": uri } });
        let id = idp.create_plan(serde_json::from_value(plan).expect("plan"));
        let request = get(&format!(
            "/idp-initiated?sp={}&plan={id}",
            urlencode(SP_ENTITY_ID)
        ));
        let idp = std::sync::Arc::clone(&idp);
        let (status, body) = fifo
            .within(Duration::from_secs(10), move || {
                call_blocking(&idp, request)
            })
            .unwrap_or_else(|e| panic!("a plan signing over {uri}: {e}"));
        assert!(!status.is_success(), "{uri}: {status} {body}");
    }
    assert_eq!(listener.hits(), 0, "the IdP fetched a Reference URI");
}

#[test]
fn a_smuggled_logout_request_has_an_id_of_its_own_so_the_answer_tells_which_was_read() {
    use std::io::Read as _;

    use mock_idp::logout::{BINDING_REDIRECT, LogoutContext, build_request};
    use mock_idp::plan::{Logout, LogoutBinding, LogoutTamper};
    use mock_idp::response::encode::Delivery;

    let idp = idp();
    let mut sp = mock_idp::SpEntry::new(SP_ENTITY_ID, ACS_URL);
    sp.slo = vec![mock_idp::registry::SloEndpoint {
        binding: BINDING_REDIRECT.to_owned(),
        url: "http://127.0.0.1:9/saml/slo".to_owned(),
        response_url: None,
    }];
    let plan = Logout {
        binding: LogoutBinding::Redirect,
        tamper: vec![LogoutTamper::SmuggledRequest],
        ..Logout::default()
    };
    let ctx = LogoutContext {
        idp_entity_id: "https://idp.test",
        issue_instant: "2026-01-01T00:00:00Z",
        sp: &sp,
        relay_state: None,
    };
    let session = alice_session();
    let message = build_request(&ctx, &plan, idp.keys(), &session).expect("built");
    let Delivery::Redirect { location } = &message.delivery else {
        panic!("HTTP-Redirect: {:?}", message.delivery);
    };
    let query = location.split_once('?').expect("a query").1;
    let ids: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| {
            let raw = B64.decode(v.as_bytes()).expect("base64");
            let mut xml = String::new();
            flate2::read::DeflateDecoder::new(&raw[..])
                .read_to_string(&mut xml)
                .expect("deflated");
            let doc = roxmltree::Document::parse(&xml).expect("xml");
            doc.root_element().attribute("ID").expect("ID").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{location}");
    assert_eq!(ids[0], message.id, "the signed request comes first");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(message.smuggled_id.as_deref(), Some(ids[1].as_str()));
}
