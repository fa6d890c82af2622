//! The login page for people through `oneshot`: the form, the preview of the response it is
//! about to send, and AuthnRequests sent to the page when it is on.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::http::{deflate_b64, request_xml};
use crate::support::{ACS_URL, SP_ENTITY_ID, call, form_response, idp};

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn post(uri: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

fn redirect_uri(id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &deflate_b64(&request_xml(SP_ENTITY_ID, id)))
        .append_pair("RelayState", "back-to-page-2")
        .finish();
    format!("/sso?{query}")
}

#[tokio::test]
async fn the_form_offers_the_sps_flavours_and_every_defect() {
    let idp = idp();
    let (status, body, _) = call(&idp, get("/login?defect=expired&user=bob%40corp.example")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(&format!("<option value=\"{SP_ENTITY_ID}\"")),
        "{body}"
    );
    for flavour in ["generic", "entra", "okta"] {
        assert!(
            body.contains(&format!("<option value=\"{flavour}\"")),
            "{flavour}"
        );
    }
    for defect in mock_idp::login_page::DEFECTS {
        assert!(
            body.contains(&format!("<option value=\"{}\"", defect.id)),
            "{}",
            defect.id
        );
    }
    assert!(
        body.contains("<option value=\"expired\" selected>"),
        "prefilled from the link"
    );
    assert!(
        body.contains("value=\"bob@corp.example\""),
        "prefilled from the link"
    );
}

#[tokio::test]
async fn the_preview_shows_the_decoded_response_and_posts_exactly_it() {
    let idp = idp();
    let (status, body, _) = call(
        &idp,
        post(
            "/login",
            &[
                ("sp", SP_ENTITY_ID),
                ("user", "carol@corp.example"),
                ("attributes", "department = support"),
                ("flavour", "generic"),
                ("layout", "default"),
                ("defect", "destination"),
                ("relay_state", "rs-1"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Deliberately broken"), "{body}");
    assert!(body.contains(&format!("action=\"{ACS_URL}\"")), "{body}");
    assert!(
        body.contains("name=\"RelayState\" value=\"rs-1\""),
        "{body}"
    );
    let sent = String::from_utf8(B64.decode(form_response(&body)).expect("base64")).expect("utf8");
    assert!(
        sent.contains("Destination=\"https://other-sp.test/saml/acs\""),
        "{sent}"
    );
    assert!(sent.contains("carol@corp.example"), "{sent}");
    assert!(sent.contains("support"), "{sent}");
    // The page shows that very document, decoded (escaped for HTML).
    assert!(
        body.contains("Destination=&quot;https://other-sp.test/saml/acs&quot;"),
        "{body}"
    );
    let logged = idp.log(None, 1);
    assert_eq!(logged[0].response_xml.as_deref(), Some(sent.as_str()));

    let (_, valid, _) = call(
        &idp,
        post(
            "/login",
            &[("sp", SP_ENTITY_ID), ("user", "carol@corp.example")],
        ),
    )
    .await;
    assert!(valid.contains("A valid response"), "{valid}");
}

#[tokio::test]
async fn bad_choices_are_explained_not_crashed_on() {
    let idp = idp();
    let (status, body, _) = call(
        &idp,
        post(
            "/login",
            &[
                ("sp", SP_ENTITY_ID),
                ("user", "a@b"),
                ("attributes", "no equals sign"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("attribute line 1 has no `=`"), "{body}");
    let (status, body, _) = call(
        &idp,
        post("/login", &[("sp", "https://unknown.test"), ("user", "a@b")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown SP https://unknown.test"), "{body}");
    let (status, _, _) = call(&idp, get("/login?request=r-nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_the_page_on_a_request_without_a_plan_is_answered_by_a_person() {
    let idp = idp();
    // Off (the default): answered at once for the default user.
    let (status, body, _) = call(&idp, get(&redirect_uri("_req-off"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("SAMLResponse"), "{body}");

    idp.set_login_page(true);
    let (status, _, headers) = call(&idp, get(&redirect_uri("_req-on"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/login?request="), "{location}");
    let (status, page, _) = call(&idp, get(&location)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("_req-on"),
        "the page names the request: {page}"
    );
    assert!(
        page.contains("value=\"back-to-page-2\""),
        "its RelayState: {page}"
    );

    let request = location.trim_start_matches("/login?request=");
    let (status, preview, _) = call(
        &idp,
        post(
            "/login",
            &[
                ("request", request),
                ("user", "alice@corp.example"),
                ("relay_state", "back-to-page-2"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let sent =
        String::from_utf8(B64.decode(form_response(&preview)).expect("base64")).expect("utf8");
    assert!(
        sent.contains("InResponseTo=\"_req-on\""),
        "answers that request: {sent}"
    );
    assert!(preview.contains("name=\"RelayState\" value=\"back-to-page-2\""));

    // A bound plan still wins: the harness's own runs are unchanged.
    let plan = idp.create_plan(mock_idp::Plan::default());
    let (status, body, _) = call(
        &idp,
        get(&format!("{}&plan={plan}", redirect_uri("_req-plan"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("SAMLResponse"), "{body}");
}
