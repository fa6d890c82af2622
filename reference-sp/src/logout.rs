//! Single Logout (SAML Profiles §4.4) at `/saml/slo`, and SP-initiated logout at
//! `/saml/logout`.
//!
//! Every logout message must be signed (saml2int SDP-SP28/SDP-SP33): over HTTP-Redirect the
//! signature is verified over the query octets exactly as received, in the order the binding
//! fixes (SAML Bindings §3.4.4.1), and a repeated parameter is refused outright (parameter
//! smuggling); over HTTP-POST the enveloped signature on the root is checked like a Response's.
//! Then the Issuer, the Destination (§3.4.5.2), and for a LogoutRequest the NameID and
//! SessionIndex: only the SSO sessions they name end, never just "this browser's".
//!
//! The SP's own messages (its LogoutRequest, its LogoutResponse) are signed with its signing
//! key and go to the IdP's HTTP-Redirect `SingleLogoutService` from the IdP's metadata.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roxmltree::Node;

use crate::connection::Connection;
use crate::reason::{Reason, Refusal};
use crate::validate::{self, Context};
use crate::weaken::Weakening;
use crate::web::{
    App, SESSION_COOKIE, cookie, escape, internal, logout_refused, page, redirect_location,
};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The largest logout message accepted after inflating.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

type Shared = Arc<App>;

fn invalid<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(Reason::LogoutInvalid, detail))
}

/// A logout message as it arrived, before any check.
struct Received {
    /// `SAMLRequest` or `SAMLResponse`.
    parameter: &'static str,
    xml: String,
    relay_state: Option<String>,
    /// HTTP-Redirect: the signed octets, `SigAlg` and `Signature` (decoded); HTTP-POST: `None`
    /// (the signature is in the XML).
    query_signature: Option<QuerySignature>,
}

struct QuerySignature {
    octets: String,
    sig_alg: Option<String>,
    signature: Option<String>,
}

fn percent_decode(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn inflate(value: &str) -> Result<String, Refusal> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = B64
        .decode(compact.as_bytes())
        .or_else(|e| invalid(format!("the message is not base64: {e}")))?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .or_else(|e| invalid(format!("the message is not DEFLATE data: {e}")))?;
    if inflated.len() > MAX_MESSAGE_BYTES {
        return invalid(format!(
            "the message inflates beyond {MAX_MESSAGE_BYTES} bytes"
        ));
    }
    String::from_utf8(inflated).or_else(|_| invalid("the message is not UTF-8"))
}

/// Reads an HTTP-Redirect query: every SAML parameter at most once (unless weakened: then the
/// first occurrence is verified and the last one read), the signed octets as received (unless
/// weakened: re-encoded).
fn read_query(raw: &str, app: &App) -> Result<Received, Refusal> {
    let pairs: Vec<(&str, &str)> = raw
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let all = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .collect()
    };
    let smuggling_allowed = app.weaken.contains(&Weakening::LogoutParameters);
    let mut first = std::collections::BTreeMap::new();
    let mut last = std::collections::BTreeMap::new();
    for name in [
        "SAMLRequest",
        "SAMLResponse",
        "RelayState",
        "SigAlg",
        "Signature",
    ] {
        let values = all(name);
        if values.len() > 1 && !smuggling_allowed {
            return invalid(format!(
                "the query carries {name} {} times (parameter smuggling)",
                values.len()
            ));
        }
        if let (Some(f), Some(l)) = (values.first(), values.last()) {
            first.insert(name, *f);
            last.insert(name, *l);
        }
    }
    let parameter = match (first.get("SAMLRequest"), first.get("SAMLResponse")) {
        (Some(_), None) => "SAMLRequest",
        (None, Some(_)) => "SAMLResponse",
        _ => return invalid("the query carries neither or both of SAMLRequest and SAMLResponse"),
    };
    let reencode = app.weaken.contains(&Weakening::RedirectOctets);
    let octet = |name: &str| {
        first.get(name).map(|raw| {
            if reencode {
                form_urlencoded::byte_serialize(percent_decode(raw).as_bytes()).collect()
            } else {
                (*raw).to_owned()
            }
        })
    };
    let mut octets = format!("{parameter}={}", octet(parameter).unwrap_or_default());
    if let Some(relay) = octet("RelayState") {
        octets.push_str(&format!("&RelayState={relay}"));
    }
    if let Some(alg) = octet("SigAlg") {
        octets.push_str(&format!("&SigAlg={alg}"));
    }
    Ok(Received {
        parameter,
        xml: inflate(&percent_decode(last[parameter]))?,
        relay_state: last.get("RelayState").map(|r| percent_decode(r)),
        query_signature: Some(QuerySignature {
            octets,
            sig_alg: first.get("SigAlg").map(|a| percent_decode(a)),
            signature: first.get("Signature").map(|s| percent_decode(s)),
        }),
    })
}

/// Reads an HTTP-POST form: base64 XML (not DEFLATEd), every field at most once.
fn read_form(body: &[u8]) -> Result<Received, Refusal> {
    let mut request = None;
    let mut response = None;
    let mut relay_state = None;
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "SAMLRequest" => &mut request,
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay_state,
            _ => continue,
        };
        if slot.is_some() {
            return invalid(format!("the form carries {key} twice"));
        }
        *slot = Some(value.into_owned());
    }
    let (parameter, value) = match (request, response) {
        (Some(v), None) => ("SAMLRequest", v),
        (None, Some(v)) => ("SAMLResponse", v),
        _ => return invalid("the form carries neither or both of SAMLRequest and SAMLResponse"),
    };
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = B64
        .decode(compact.as_bytes())
        .or_else(|e| invalid(format!("the message is not base64: {e}")))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return invalid(format!(
            "the message is larger than {MAX_MESSAGE_BYTES} bytes"
        ));
    }
    Ok(Received {
        parameter,
        xml: String::from_utf8(bytes).or_else(|_| invalid("the message is not UTF-8"))?,
        relay_state,
        query_signature: None,
    })
}

/// Verifies an HTTP-Redirect signature over the octets: an allowed `SigAlg`, a `Signature`
/// that verifies with one of the IdP's keys.
fn verify_query(q: &QuerySignature, ctx: &Context<'_>) -> Result<(), Refusal> {
    let (Some(sig_alg), Some(signature)) = (&q.sig_alg, &q.signature) else {
        return Err(Refusal::new(
            Reason::SignatureMissing,
            "the logout message is unsigned (no SigAlg and Signature); logout messages must be signed (saml2int SDP-SP28/SDP-SP33)",
        ));
    };
    if !ctx.settings.allowed_algorithms.iter().any(|a| a == sig_alg) {
        return Err(Refusal::new(
            Reason::SignatureAlgorithmRefused,
            format!("SigAlg {sig_alg:?} is not allowed"),
        ));
    }
    use openssl::hash::MessageDigest;
    let (digest, ecdsa) = match sig_alg.as_str() {
        RSA_SHA256 => (MessageDigest::sha256(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (MessageDigest::sha1(), false),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), true),
        other => {
            return Err(Refusal::new(
                Reason::SignatureAlgorithmRefused,
                format!(
                    "SigAlg {other:?} is not an algorithm this SP verifies query signatures with"
                ),
            ));
        }
    };
    let invalid_signature = |detail: String| Refusal::new(Reason::SignatureInvalid, detail);
    let compact: String = signature
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let mut bytes = B64
        .decode(compact.as_bytes())
        .map_err(|e| invalid_signature(format!("the Signature parameter is not base64: {e}")))?;
    if ecdsa {
        // XML Signature's r || s to DER.
        let half = bytes.len() / 2;
        bytes = openssl::bn::BigNum::from_slice(&bytes[..half])
            .and_then(|r| {
                openssl::bn::BigNum::from_slice(&bytes[half..])
                    .and_then(|s| openssl::ecdsa::EcdsaSig::from_private_components(r, s))
            })
            .and_then(|sig| sig.to_der())
            .map_err(|e| invalid_signature(format!("the ECDSA signature is malformed: {e}")))?;
    }
    for cert in validate::trusted_certs(ctx)? {
        let Ok(key) = openssl::x509::X509::from_der(cert.der_data()).and_then(|c| c.public_key())
        else {
            continue;
        };
        let Ok(mut verifier) = openssl::sign::Verifier::new(digest, &key) else {
            continue;
        };
        if verifier.update(q.octets.as_bytes()).is_ok() && verifier.verify(&bytes).unwrap_or(false)
        {
            return Ok(());
        }
    }
    Err(invalid_signature(
        "the query signature does not verify with the IdP's keys over the octets received"
            .to_owned(),
    ))
}

/// Verifies the enveloped signature of a POSTed message: exactly one, on the root, checked and
/// verified like a Response's.
fn verify_xml(xml: &str, root: Node<'_, '_>, ctx: &Context<'_>) -> Result<(), Refusal> {
    let signatures: Vec<Node<'_, '_>> = root
        .descendants()
        .filter(|n| n.has_tag_name((DS, "Signature")))
        .collect();
    let sig = match signatures[..] {
        [] => {
            return Err(Refusal::new(
                Reason::SignatureMissing,
                "the logout message is unsigned; logout messages must be signed (saml2int SDP-SP28/SDP-SP33)",
            ));
        }
        [sig] if sig.parent_element() == Some(root) => sig,
        _ => {
            return Err(Refusal::new(
                Reason::SignatureMisplaced,
                "a logout message carries exactly one signature, on its root element",
            ));
        }
    };
    validate::check_signature(&sig, Some(root), ctx)?;
    validate::verify_signatures(xml, ctx, 1)
}

/// What a verified message says.
enum Message {
    Request {
        id: String,
        name_id: String,
        session_indexes: Vec<String>,
    },
    Response {
        in_response_to: Option<String>,
        status: Option<String>,
    },
}

/// Every check, in order: well-formed, the signature, the Issuer, the Destination.
fn check(received: &Received, ctx: &Context<'_>, slo_url: &str) -> Result<Message, Refusal> {
    if received.xml.contains("<!DOCTYPE") || received.xml.contains("<!doctype") {
        return Err(Refusal::new(
            Reason::XmlDoctype,
            "the logout message carries a DOCTYPE",
        ));
    }
    let doc = roxmltree::Document::parse(&received.xml)
        .or_else(|e| invalid(format!("the logout message is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    let expected = match received.parameter {
        "SAMLRequest" => "LogoutRequest",
        _ => "LogoutResponse",
    };
    if !root.has_tag_name((SAMLP, expected)) {
        return invalid(format!(
            "{} carries a {}, not a samlp:{expected}",
            received.parameter,
            root.tag_name().name()
        ));
    }
    if !ctx.weaken.contains(&Weakening::LogoutSignature) {
        match &received.query_signature {
            Some(q) => verify_query(q, ctx)?,
            None => verify_xml(&received.xml, root, ctx)?,
        }
    }
    let child = |ns: &str, name: &str| root.children().find(|n| n.has_tag_name((ns, name)));
    let text = |n: Node<'_, '_>| {
        n.descendants()
            .filter(Node::is_text)
            .filter_map(|t| t.text())
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let issuer = child(SAML, "Issuer").map(text);
    if issuer.as_deref() != Some(ctx.connection.entity_id.as_str()) {
        return Err(Refusal::new(
            Reason::IssuerMismatch,
            format!(
                "the logout message's Issuer is {issuer:?}, not the IdP's entityID {}",
                ctx.connection.entity_id
            ),
        ));
    }
    if !ctx.weaken.contains(&Weakening::LogoutDestination) {
        let destination = root.attribute("Destination");
        if destination != Some(slo_url) {
            return Err(Refusal::new(
                Reason::DestinationMismatch,
                format!(
                    "the signed logout message's Destination is {destination:?}, not this SP's logout endpoint {slo_url} (SAML Bindings §3.4.5.2)"
                ),
            ));
        }
    }
    let id = root
        .attribute("ID")
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Refusal::new(Reason::IdInvalid, "the logout message has no ID"))?;
    if received.parameter == "SAMLRequest" {
        let name_id = child(SAML, "NameID").map(text).filter(|v| !v.is_empty());
        let Some(name_id) = name_id else {
            return invalid(
                "the LogoutRequest names no NameID (EncryptedID and BaseID are not supported)",
            );
        };
        Ok(Message::Request {
            id,
            name_id,
            session_indexes: root
                .children()
                .filter(|n| n.has_tag_name((SAMLP, "SessionIndex")))
                .map(text)
                .collect(),
        })
    } else {
        Ok(Message::Response {
            in_response_to: root.attribute("InResponseTo").map(str::to_owned),
            status: child(SAMLP, "Status")
                .and_then(|s| s.children().find(|n| n.has_tag_name((SAMLP, "StatusCode"))))
                .and_then(|c| c.attribute("Value"))
                .map(str::to_owned),
        })
    }
}

/// `GET /saml/slo`: a logout message over HTTP-Redirect.
pub(crate) async fn slo_redirect(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let received = read_query(raw.as_deref().unwrap_or_default(), &app);
    receive(&app, &headers, received)
}

/// `POST /saml/slo`: a logout message over HTTP-POST.
pub(crate) async fn slo_post(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&app, &headers, read_form(&body))
}

fn receive(app: &App, headers: &HeaderMap, received: Result<Received, Refusal>) -> Response {
    let settings = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let connection = match app.store.connection() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return logout_refused(
                app,
                headers,
                &Refusal::new(Reason::IdpNotConfigured, "no IdP is configured"),
            );
        }
        Err(e) => return internal(e),
    };
    let slo_url = app.slo_url();
    let entity_id = app.entity_id();
    let ctx = Context {
        sp_entity_id: &entity_id,
        acs_url: &slo_url,
        connection: &connection,
        settings: &settings,
        weaken: &app.weaken,
        outstanding: &[],
        relay_request: None,
        now: app.clock.now(),
        decryption_key: None,
    };
    let message = match received.and_then(|r| check(&r, &ctx, &slo_url).map(|m| (m, r))) {
        Ok(message) => message,
        Err(refusal) => return logout_refused(app, headers, &refusal),
    };
    match message {
        (
            Message::Request {
                id,
                name_id,
                session_indexes,
            },
            received,
        ) => answer_request(
            app,
            headers,
            &connection,
            &id,
            &name_id,
            &session_indexes,
            received.relay_state.as_deref(),
        ),
        (
            Message::Response {
                in_response_to,
                status,
            },
            _,
        ) => {
            let known = match in_response_to
                .as_deref()
                .map(|id| app.store.take_logout_request(id))
            {
                Some(Ok(known)) => known,
                Some(Err(e)) => return internal(e),
                None => false,
            };
            if !known {
                return logout_refused(
                    app,
                    headers,
                    &Refusal::new(
                        Reason::LogoutUnknown,
                        format!(
                            "the LogoutResponse answers {in_response_to:?}, which is no outstanding LogoutRequest of this SP"
                        ),
                    ),
                );
            }
            if status.as_deref() != Some(STATUS_SUCCESS) {
                return logout_refused(
                    app,
                    headers,
                    &Refusal::new(
                        Reason::LogoutFailed,
                        format!("the IdP answered with status {status:?}"),
                    ),
                );
            }
            signed_out_page(
                app,
                "You are signed out here and at your identity provider.",
            )
        }
    }
}

/// Ends the sessions an IdP's LogoutRequest names and answers it with a signed LogoutResponse.
fn answer_request(
    app: &App,
    headers: &HeaderMap,
    connection: &Connection,
    request_id: &str,
    name_id: &str,
    session_indexes: &[String],
    relay_state: Option<&str>,
) -> Response {
    let browser_session = cookie(headers, SESSION_COOKIE);
    let ended = if app.weaken.contains(&Weakening::LogoutSession) {
        match &browser_session {
            Some(id) => match app.store.end_session(id) {
                Ok(()) => vec![id.clone()],
                Err(e) => return internal(e),
            },
            None => Vec::new(),
        }
    } else {
        match app.store.end_sso_sessions(name_id, session_indexes) {
            Ok(ended) => ended,
            Err(e) => return internal(e),
        }
    };
    tracing::info!(
        name_id,
        ?session_indexes,
        ended = ended.len(),
        "IdP-initiated logout"
    );
    let status = if ended.is_empty() {
        format!(
            "<samlp:Status><samlp:StatusCode Value=\"{STATUS_REQUESTER}\"><samlp:StatusCode Value=\"{STATUS_UNKNOWN_PRINCIPAL}\"/></samlp:StatusCode></samlp:Status>"
        )
    } else {
        format!("<samlp:Status><samlp:StatusCode Value=\"{STATUS_SUCCESS}\"/></samlp:Status>")
    };
    let clear_cookie = browser_session.is_some_and(|id| ended.contains(&id));
    let Some(slo) = &connection.slo_url else {
        let mut response = signed_out_page(
            app,
            if ended.is_empty() {
                "No session here matched the logout request."
            } else {
                "You are signed out."
            },
        );
        if clear_cookie {
            add_clear_cookie(app, &mut response);
        }
        return response;
    };
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{status}</samlp:LogoutResponse>"#,
        id = crate::random_token(),
        instant = app.clock.now().format("%Y-%m-%dT%H:%M:%SZ"),
        dest = escape(slo),
        irt = escape(request_id),
        issuer = escape(&app.entity_id()),
    );
    let mut response = match redirect(app, slo, "SAMLResponse", &xml, relay_state) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    if clear_cookie {
        add_clear_cookie(app, &mut response);
    }
    response
}

fn add_clear_cookie(app: &App, response: &mut Response) {
    let (name, value) = crate::web::clear_session_cookie(app);
    if let Ok(v) = value.parse() {
        response.headers_mut().append(name, v);
    }
}

fn signed_out_page(app: &App, message: &str) -> Response {
    Html(page(
        app,
        "Signed out",
        &format!(
            "<p id=\"message\">{}</p><p><a href=\"/login\">Sign in again</a></p>",
            escape(message)
        ),
    ))
    .into_response()
}

/// A 303 to `url` carrying `xml` over HTTP-Redirect, signed with the SP's key (unless the
/// `unsigned-logout` weakening is on).
fn redirect(
    app: &App,
    url: &str,
    parameter: &str,
    xml: &str,
    relay_state: Option<&str>,
) -> Result<Response, String> {
    let signing_key =
        (!app.weaken.contains(&Weakening::UnsignedLogout)).then_some(&*app.signing_key);
    let location = redirect_location(url, parameter, xml, relay_state, signing_key)?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}

/// `GET|POST /saml/logout`: ends this browser's session, and for an SSO session with an IdP
/// that does Single Logout, sends the IdP a signed LogoutRequest naming the session's NameID
/// and SessionIndex.
pub(crate) async fn start(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let now = app.clock.now();
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(id) => match app.store.session(&id, now) {
            Ok(s) => {
                if let Err(e) = app.store.end_session(&id) {
                    return internal(e);
                }
                s
            }
            Err(e) => return internal(e),
        },
        None => None,
    };
    let connection = match app.store.connection() {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let target = session
        .and_then(|s| s.sso)
        .zip(connection.and_then(|c| c.slo_url));
    let mut response = match target {
        Some((link, slo)) => {
            let id = format!("_{}", crate::random_token());
            if let Err(e) = app.store.add_logout_request(&id, now) {
                return internal(e);
            }
            let session_index = link
                .session_index
                .as_deref()
                .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s)))
                .unwrap_or_default();
            let xml = format!(
                r#"<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"#,
                instant = now.format("%Y-%m-%dT%H:%M:%SZ"),
                dest = escape(&slo),
                issuer = escape(&app.entity_id()),
                name_id = escape(&link.name_id),
            );
            match redirect(&app, &slo, "SAMLRequest", &xml, None) {
                Ok(r) => r,
                Err(e) => return internal(e),
            }
        }
        None => (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response(),
    };
    add_clear_cookie(&app, &mut response);
    response
}
