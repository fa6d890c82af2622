//! Shared set-up: an IdP router, a samael SP that trusts it, and helpers to run one exchange.

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use mock_idp::{Clock, Idp, IdpSettings, KeyStore, KeyType, Plan, SpEntry, SystemClock};
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::EntityDescriptor;
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};
use tower::ServiceExt as _;

pub(crate) const SP_ENTITY_ID: &str = "https://sp.test/saml";
pub(crate) const ACS_URL: &str = "http://127.0.0.1:9/saml/acs";
pub(crate) const IDP_BASE: &str = "http://127.0.0.1:8/idp";

/// RSA keys are slow to make in debug builds: every test shares one store.
pub(crate) fn shared_keys() -> &'static KeyStore {
    static KEYS: OnceLock<KeyStore> = OnceLock::new();
    KEYS.get_or_init(|| KeyStore::generate(KeyType::Rsa2048).expect("keys"))
}

pub(crate) fn idp_with(clock: Arc<dyn Clock>) -> Arc<Idp> {
    let keys = shared_keys();
    // KeyStore is not Clone on purpose (attacker keys are lazily made); rebuild from PEM.
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, key) in [("signing", keys.trusted()), ("rollover", keys.rollover())] {
        std::fs::write(
            dir.path().join(format!("{name}-key.pem")),
            key.private_pem(),
        )
        .expect("write");
        std::fs::write(dir.path().join(format!("{name}-cert.pem")), key.cert_pem()).expect("write");
    }
    let store = KeyStore::load_or_create(dir.path(), KeyType::Rsa2048).expect("load");
    let idp = Arc::new(Idp::new(
        IdpSettings {
            entity_id: format!("{IDP_BASE}/metadata"),
            base_url: IDP_BASE.to_owned(),
            default_user: "alice@example.test".to_owned(),
        },
        store,
        clock,
    ));
    idp.register_entry(SpEntry::new(SP_ENTITY_ID, ACS_URL));
    idp
}

pub(crate) fn idp() -> Arc<Idp> {
    idp_with(Arc::new(SystemClock))
}

/// A samael SP that trusts the IdP's metadata and allows only SHA-256 signatures.
pub(crate) fn samael_sp(idp: &Idp) -> ServiceProvider {
    let metadata =
        EntityDescriptor::from_str(&idp.metadata_xml()).expect("samael imports the metadata");
    ServiceProviderBuilder::default()
        .entity_id(SP_ENTITY_ID.to_owned())
        .acs_url(ACS_URL.to_owned())
        .idp_metadata(metadata)
        .allowed_signature_algorithms(vec![AllowedSignatureAlgorithm::RsaSha256])
        .build()
        .expect("sp")
}

/// The status and body of one request through the router.
pub(crate) async fn call(
    idp: &Arc<Idp>,
    request: Request<Body>,
) -> (StatusCode, String, axum::http::HeaderMap) {
    let response = mock_idp::server::router(Arc::clone(idp))
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

/// Pulls the `SAMLResponse` value out of the auto-submit form.
pub(crate) fn form_response(html: &str) -> String {
    let marker = "name=\"SAMLResponse\" value=\"";
    let start = html.find(marker).expect("form has SAMLResponse") + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end].to_owned()
}

/// One SP-initiated exchange: the samael SP makes an AuthnRequest (HTTP-Redirect), the IdP
/// answers with `plan` bound through the cookie, and the SP judges the response.
/// Returns the SP's verdict (`Ok(NameID)` or `Err(reason)`) and the response XML.
pub(crate) async fn sp_initiated(idp: &Arc<Idp>, plan: Plan) -> (Result<String, String>, String) {
    let sp = samael_sp(idp);
    let request = sp
        .make_authentication_request(&format!("{IDP_BASE}/sso"))
        .expect("authn request");
    let url = request.redirect("relay-1").expect("redirect").expect("url");
    let plan_id = idp.create_plan(plan);
    let (status, body, _) = call(
        idp,
        Request::get(format!("/sso?{}", url.query().expect("query")))
            .header(
                header::COOKIE,
                format!("other=1; {}={plan_id}", mock_idp::server::PLAN_COOKIE),
            )
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "IdP refused: {body}");
    assert!(
        body.contains("name=\"RelayState\" value=\"relay-1\""),
        "RelayState echoed"
    );
    let encoded = form_response(&body);
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .expect("b64"),
    )
    .expect("utf8");
    let verdict = sp
        .parse_base64_response(&encoded, Some(&[request.id.as_str()]))
        .map_err(|e| e.to_string())
        .and_then(|assertion| {
            assertion
                .subject
                .and_then(|s| s.name_id)
                .map(|n| n.value)
                .ok_or_else(|| "no NameID".to_owned())
        });
    (verdict, xml)
}

/// A `/_control/...` request as the harness sends it: the IdP's token and a JSON body.
pub(crate) fn control(idp: &Idp, method: &str, uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", idp.control_token()),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}
