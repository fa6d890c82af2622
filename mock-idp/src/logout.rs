//! Single Logout (SAML Profiles §4.4): the LogoutRequest the IdP sends to end a session it
//! issued, the LogoutResponse it answers an SP's LogoutRequest with, and reading the SP's own
//! logout messages.
//!
//! The IdP's messages follow the plan's [`Logout`]: signed with the trusted key over
//! HTTP-Redirect (the signature over the query octets, SAML Bindings §3.4.4.1) or HTTP-POST
//! (an enveloped XML signature), or unsigned, altered before signing, or tampered with after.
//! The SP's messages are checked the way a careful IdP would, and every problem is recorded
//! for the harness to judge: unsigned, a signature that does not verify with the SP's
//! metadata keys, another NameID or SessionIndex than the IdP issued, a wrong Destination or
//! InResponseTo.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use crate::dsig::{self, SignatureKey};
use crate::keys::{KeyStore, SigningKey};
use crate::plan::{
    Logout, LogoutAlteration, LogoutBinding, LogoutTamper, SignatureAlgorithm, Signing,
};
use crate::registry::SpEntry;
use crate::response::PipelineError;
use crate::response::encode::{Delivery, deflate, post_form_field};
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_attr, escape_text, has_doctype, strict_options};

/// The HTTP-Redirect binding URI.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// The HTTP-POST binding URI.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The top-level status of a successful message.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

impl LogoutBinding {
    /// The binding's URI.
    pub fn uri(self) -> &'static str {
        match self {
            LogoutBinding::Redirect => BINDING_REDIRECT,
            LogoutBinding::Post => BINDING_POST,
        }
    }
}

/// The session an SSO response issued: what a LogoutRequest names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedSession {
    /// The SP it was issued to.
    pub sp_entity_id: String,
    /// The NameID value.
    pub name_id: String,
    /// The NameID format.
    pub name_id_format: Option<String>,
    /// The AuthnStatement's SessionIndex.
    pub session_index: Option<String>,
}

/// A logout message on its way to the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The message's `ID`.
    pub id: String,
    /// The `ID` of the unsigned LogoutRequest smuggled after the signed one (the
    /// `smuggled-request` tamper), if any.
    pub smuggled_id: Option<String>,
    /// The serialized message (after tampering; the POST form carries exactly this).
    pub xml: String,
    /// How the user agent carries it.
    pub delivery: Delivery,
}

/// What the IdP knows when it writes a logout message.
#[derive(Debug, Clone, Copy)]
pub struct LogoutContext<'a> {
    /// The IdP's entityID (the Issuer).
    pub idp_entity_id: &'a str,
    /// Now, as the message says it.
    pub issue_instant: &'a str,
    /// The SP.
    pub sp: &'a SpEntry,
    /// RelayState to carry along, if any.
    pub relay_state: Option<&'a str>,
}

/// Where the SP takes logout messages over `binding`: (`Location`, `ResponseLocation` or
/// `Location`).
fn sp_endpoint(sp: &SpEntry, binding: LogoutBinding) -> Result<(String, String), PipelineError> {
    let endpoint = sp.slo_endpoint(binding.uri()).ok_or_else(|| {
        PipelineError::Plan(format!(
            "SP {} lists no SingleLogoutService for {} in its metadata",
            sp.entity_id,
            binding.uri()
        ))
    })?;
    Ok((
        endpoint.url.clone(),
        endpoint
            .response_url
            .clone()
            .unwrap_or_else(|| endpoint.url.clone()),
    ))
}

/// The fields of a message before rendering.
#[derive(Debug, Clone)]
struct Fields {
    id: String,
    destination: String,
    issuer: String,
    name_id: String,
    name_id_format: Option<String>,
    session_index: Option<String>,
}

impl Fields {
    fn alter(&mut self, alteration: &LogoutAlteration, request: bool) -> Result<(), PipelineError> {
        let only_request = |what: &str| {
            PipelineError::Plan(format!(
                "the logout alteration {what} changes a LogoutRequest, but the IdP is sending a LogoutResponse"
            ))
        };
        match alteration {
            LogoutAlteration::NameId { value } if request => self.name_id.clone_from(value),
            LogoutAlteration::SessionIndex { value } if request => {
                self.session_index = Some(value.clone());
            }
            LogoutAlteration::NameId { .. } => return Err(only_request("name-id")),
            LogoutAlteration::SessionIndex { .. } => return Err(only_request("session-index")),
            LogoutAlteration::Destination { value } => self.destination.clone_from(value),
            LogoutAlteration::Issuer { value } => self.issuer.clone_from(value),
        }
        Ok(())
    }
}

fn render_request(f: &Fields, instant: &str, signature: &str) -> String {
    let format = f
        .name_id_format
        .as_deref()
        .map(|v| format!(" Format=\"{}\"", escape_attr(v)))
        .unwrap_or_default();
    let session_index = f
        .session_index
        .as_deref()
        .map(|v| {
            format!(
                "<samlp:SessionIndex>{}</samlp:SessionIndex>",
                escape_text(v)
            )
        })
        .unwrap_or_default();
    format!(
        concat!(
            "<samlp:LogoutRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
            "IssueInstant=\"{instant}\" Destination=\"{destination}\">",
            "<saml:Issuer>{issuer}</saml:Issuer>{signature}",
            "<saml:NameID{format}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = escape_attr(&f.id),
        instant = instant,
        destination = escape_attr(&f.destination),
        issuer = escape_text(&f.issuer),
        signature = signature,
        format = format,
        name_id = escape_text(&f.name_id),
        session_index = session_index,
    )
}

fn render_response(f: &Fields, in_response_to: &str, instant: &str, signature: &str) -> String {
    format!(
        concat!(
            "<samlp:LogoutResponse xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
            "IssueInstant=\"{instant}\" Destination=\"{destination}\" InResponseTo=\"{irt}\">",
            "<saml:Issuer>{issuer}</saml:Issuer>{signature}",
            "<samlp:Status><samlp:StatusCode Value=\"{success}\"/></samlp:Status></samlp:LogoutResponse>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = escape_attr(&f.id),
        instant = instant,
        destination = escape_attr(&f.destination),
        irt = escape_attr(in_response_to),
        issuer = escape_text(&f.issuer),
        signature = signature,
        success = STATUS_SUCCESS,
    )
}

/// The LogoutRequest that ends `session` at the SP (IdP-initiated logout).
pub fn build_request(
    ctx: &LogoutContext<'_>,
    plan: &Logout,
    keys: &KeyStore,
    session: &IssuedSession,
) -> Result<Outgoing, PipelineError> {
    let (location, _) = sp_endpoint(ctx.sp, plan.binding)?;
    let honest = Fields {
        id: crate::xml::new_id(),
        destination: location.clone(),
        issuer: ctx.idp_entity_id.to_owned(),
        name_id: session.name_id.clone(),
        name_id_format: session.name_id_format.clone(),
        session_index: session.session_index.clone(),
    };
    let mut fields = honest.clone();
    for alteration in &plan.alter {
        fields.alter(alteration, true)?;
    }
    let render = |f: &Fields, signature: &str| render_request(f, ctx.issue_instant, signature);
    // The smuggled request has an ID of its own, so that the SP's LogoutResponse says which
    // of the two it acted on.
    let smuggled = plan
        .tamper
        .contains(&LogoutTamper::SmuggledRequest)
        .then(|| {
            let mut fields = honest.clone();
            fields.id = crate::xml::new_id();
            (fields.id.clone(), render(&fields, ""))
        });
    send(
        ctx,
        plan,
        keys,
        &fields,
        &location,
        "SAMLRequest",
        &render,
        smuggled,
    )
}

/// The LogoutResponse to the SP's LogoutRequest `in_response_to` (SP-initiated logout).
pub fn build_response(
    ctx: &LogoutContext<'_>,
    plan: &Logout,
    keys: &KeyStore,
    in_response_to: &str,
) -> Result<Outgoing, PipelineError> {
    let (_, location) = sp_endpoint(ctx.sp, plan.binding)?;
    let mut fields = Fields {
        id: crate::xml::new_id(),
        destination: location.clone(),
        issuer: ctx.idp_entity_id.to_owned(),
        name_id: String::new(),
        name_id_format: None,
        session_index: None,
    };
    for alteration in &plan.alter {
        fields.alter(alteration, false)?;
    }
    if plan.tamper.contains(&LogoutTamper::SmuggledRequest) {
        return Err(PipelineError::Plan(
            "smuggled-request appends a LogoutRequest; the IdP is sending a LogoutResponse".into(),
        ));
    }
    let render = |f: &Fields, signature: &str| {
        render_response(f, in_response_to, ctx.issue_instant, signature)
    };
    send(
        ctx,
        plan,
        keys,
        &fields,
        &location,
        "SAMLResponse",
        &render,
        None,
    )
}

/// Signs (or not), tampers with and encodes one message.
#[allow(clippy::too_many_arguments)]
fn send(
    ctx: &LogoutContext<'_>,
    plan: &Logout,
    keys: &KeyStore,
    fields: &Fields,
    location: &str,
    parameter: &str,
    render: &dyn Fn(&Fields, &str) -> String,
    smuggled: Option<(String, String)>,
) -> Result<Outgoing, PipelineError> {
    let key = keys.get(plan.key)?;
    let algorithm = SignatureAlgorithm::for_key(key.kind());
    let removed = plan.tamper.contains(&LogoutTamper::SignatureRemoved);
    match plan.binding {
        LogoutBinding::Post => {
            if smuggled.is_some() {
                return Err(PipelineError::Plan(
                    "smuggled-request needs the HTTP-Redirect binding (a second query parameter)"
                        .into(),
                ));
            }
            let mut xml = if plan.unsigned {
                render(fields, "")
            } else {
                let template = crate::response::sign::template(
                    &fields.id,
                    &Signing::default(),
                    key,
                    algorithm,
                );
                crate::saml::sign_first_template(&render(fields, &template), key)
                    .map_err(|e| PipelineError::Sign(e.to_string()))?
            };
            if removed {
                xml = remove_signature(&xml);
            }
            let html = post_form_field(location, parameter, &B64.encode(&xml), ctx.relay_state);
            Ok(Outgoing {
                id: fields.id.clone(),
                smuggled_id: None,
                xml,
                delivery: Delivery::PostForm { html },
            })
        }
        LogoutBinding::Redirect => {
            let xml = render(fields, "");
            let encode = |value: &str| {
                let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                if plan.lowercase_escapes {
                    lowercase_escapes(&encoded)
                } else {
                    encoded
                }
            };
            let mut query = format!("{parameter}={}", encode(&B64.encode(deflate(&xml))));
            if let Some(relay) = ctx.relay_state {
                query.push_str(&format!("&RelayState={}", encode(relay)));
            }
            if !plan.unsigned {
                query.push_str(&format!("&SigAlg={}", encode(algorithm.uri())));
                let value = sign_octets(query.as_bytes(), algorithm, key)?;
                if !removed {
                    query.push_str(&format!("&Signature={}", encode(&B64.encode(value))));
                }
            }
            let smuggled_id = smuggled.map(|(id, smuggled)| {
                query.push_str(&format!(
                    "&{parameter}={}",
                    encode(&B64.encode(deflate(&smuggled)))
                ));
                id
            });
            let separator = if location.contains('?') { '&' } else { '?' };
            Ok(Outgoing {
                id: fields.id.clone(),
                smuggled_id,
                xml,
                delivery: Delivery::Redirect {
                    location: format!("{location}{separator}{query}"),
                },
            })
        }
    }
}

fn sign_octets(
    octets: &[u8],
    algorithm: SignatureAlgorithm,
    key: &SigningKey,
) -> Result<Vec<u8>, PipelineError> {
    dsig::signature_value(
        octets,
        algorithm,
        SignatureKey {
            key,
            hmac_secret: &[],
        },
    )
    .map_err(|e| PipelineError::Sign(e.to_string()))
}

/// `%2F` → `%2f`: the same octets decoded, other octets signed.
fn lowercase_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = 0;
    for c in encoded.chars() {
        if rest > 0 {
            out.push(c.to_ascii_lowercase());
            rest -= 1;
        } else {
            if c == '%' {
                rest = 2;
            }
            out.push(c);
        }
    }
    out
}

/// The document without its first `ds:Signature` element.
fn remove_signature(xml: &str) -> String {
    match (xml.find("<ds:Signature"), xml.find("</ds:Signature>")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &xml[..start], &xml[end + "</ds:Signature>".len()..])
        }
        _ => xml.to_owned(),
    }
}

/// A logout message from the SP, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpMessage {
    /// `LogoutRequest` or `LogoutResponse`.
    pub kind: SpMessageKind,
    /// `@ID`.
    pub id: String,
    /// `saml:Issuer`.
    pub issuer: Option<String>,
    /// `@Destination`.
    pub destination: Option<String>,
    /// `@InResponseTo` (a LogoutResponse).
    pub in_response_to: Option<String>,
    /// The top-level `StatusCode/@Value` (a LogoutResponse).
    pub status: Option<String>,
    /// `saml:NameID` text and `@Format` (a LogoutRequest).
    pub name_id: Option<(String, Option<String>)>,
    /// `samlp:SessionIndex` values (a LogoutRequest).
    pub session_indexes: Vec<String>,
    /// Whether a `ds:Signature` is a child of the root.
    pub has_xml_signature: bool,
}

/// Which logout message the SP sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpMessageKind {
    /// `samlp:LogoutRequest`.
    Request,
    /// `samlp:LogoutResponse`.
    Response,
}

/// Reads an SP's LogoutRequest or LogoutResponse; the error is a one-line reason.
pub fn parse_sp_message(xml: &str) -> Result<SpMessage, String> {
    if has_doctype(xml) {
        return Err("the logout message carries a DOCTYPE, which SAML forbids".into());
    }
    let doc = roxmltree::Document::parse_with_options(xml, strict_options())
        .map_err(|e| format!("the logout message is not well-formed XML: {e}"))?;
    let root = doc.root_element();
    let kind = if root.has_tag_name((NS_SAMLP, "LogoutRequest")) {
        SpMessageKind::Request
    } else if root.has_tag_name((NS_SAMLP, "LogoutResponse")) {
        SpMessageKind::Response
    } else {
        return Err(format!(
            "the message is a {}, not a samlp:LogoutRequest or samlp:LogoutResponse",
            root.tag_name().name()
        ));
    };
    let child = |ns: &str, name: &str| root.children().find(|n| n.has_tag_name((ns, name)));
    let text = |n: roxmltree::Node<'_, '_>| n.text().unwrap_or_default().trim().to_owned();
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or("the logout message has no ID")?;
    Ok(SpMessage {
        kind,
        id: id.to_owned(),
        issuer: child(NS_SAML, "Issuer").map(text),
        destination: root.attribute("Destination").map(str::to_owned),
        in_response_to: root.attribute("InResponseTo").map(str::to_owned),
        status: child(NS_SAMLP, "Status")
            .and_then(|s| {
                s.children()
                    .find(|n| n.has_tag_name((NS_SAMLP, "StatusCode")))
            })
            .and_then(|c| c.attribute("Value"))
            .map(str::to_owned),
        name_id: child(NS_SAML, "NameID")
            .map(|n| (text(n), n.attribute("Format").map(str::to_owned))),
        session_indexes: root
            .children()
            .filter(|n| n.has_tag_name((NS_SAMLP, "SessionIndex")))
            .map(text)
            .collect(),
        has_xml_signature: child(NS_DS, "Signature").is_some(),
    })
}

/// Which of two LogoutRequests the SP's LogoutResponse answers (`None`: no smuggled request
/// was sent, the message is no LogoutResponse, or it answers neither).
pub fn answered(
    message: &SpMessage,
    sent_request: Option<&str>,
    smuggled_request: Option<&str>,
) -> Option<crate::exchange::LogoutAnswered> {
    use crate::exchange::LogoutAnswered;
    let smuggled = smuggled_request?;
    if message.kind != SpMessageKind::Response {
        return None;
    }
    let answers = message.in_response_to.as_deref()?;
    if answers == smuggled {
        Some(LogoutAnswered::SmuggledRequest)
    } else if Some(answers) == sent_request {
        Some(LogoutAnswered::SignedRequest)
    } else {
        None
    }
}

/// What is wrong with an SP's logout message, in the words of the rule it breaks: its
/// signature (`signature`: verified over the query or the XML, or an error saying why not),
/// issuer, destination, and what it says against what the IdP issued or asked.
pub fn problems(
    message: &SpMessage,
    signature: Result<bool, String>,
    sp: &SpEntry,
    slo_url: &str,
    session: Option<&IssuedSession>,
    sent_request: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    let what = match message.kind {
        SpMessageKind::Request => "LogoutRequest",
        SpMessageKind::Response => "LogoutResponse",
    };
    match signature {
        Ok(true) => {}
        Ok(false) => out.push(format!(
            "the SP's {what} is unsigned (saml2int SDP-SP28/SDP-SP33: logout messages MUST be signed)"
        )),
        Err(e) => out.push(format!("the SP's {what} signature is not valid: {e}")),
    }
    if message.issuer.as_deref() != Some(sp.entity_id.as_str()) {
        out.push(format!(
            "the {what}'s Issuer is {:?}, not the SP's entityID {}",
            message.issuer, sp.entity_id
        ));
    }
    if message.destination.as_deref() != Some(slo_url) {
        out.push(format!(
            "the {what}'s Destination is {:?}, not the IdP's SingleLogoutService {slo_url} (SAML Bindings §3.4.5.2)",
            message.destination
        ));
    }
    match message.kind {
        SpMessageKind::Request => match session {
            None => out.push(
                "the IdP issued no session to this user agent that a LogoutRequest could name"
                    .to_owned(),
            ),
            Some(session) => {
                let name_id = message.name_id.as_ref().map(|(v, _)| v.as_str());
                if name_id != Some(session.name_id.as_str()) {
                    out.push(format!(
                        "the LogoutRequest names NameID {name_id:?}, but the session's NameID is {} (SAML Core §3.7.1)",
                        session.name_id
                    ));
                }
                if let Some(index) = &session.session_index
                    && !message.session_indexes.is_empty()
                    && !message.session_indexes.contains(index)
                {
                    out.push(format!(
                        "the LogoutRequest names SessionIndex {:?}, but the session's is {index}",
                        message.session_indexes
                    ));
                }
            }
        },
        SpMessageKind::Response => {
            if message.in_response_to.as_deref() != sent_request || sent_request.is_none() {
                out.push(format!(
                    "the LogoutResponse answers {:?}, not the IdP's LogoutRequest {:?}",
                    message.in_response_to, sent_request
                ));
            }
            if message.status.as_deref() != Some(STATUS_SUCCESS) {
                out.push(format!(
                    "the LogoutResponse's status is {:?}, not Success: the SP did not log the session out",
                    message.status
                ));
            }
        }
    }
    out
}

/// Verifies the enveloped signature of a POSTed logout message with the SP's signing keys:
/// `Ok(false)` when there is none.
pub fn verify_post_signature(xml: &str, message: &SpMessage, sp: &SpEntry) -> Result<bool, String> {
    if !message.has_xml_signature {
        return Ok(false);
    }
    if sp.signing_certs.is_empty() {
        return Err("the SP's metadata has no signing key to verify it with".into());
    }
    let certs: Vec<&[u8]> = sp.signing_certs.iter().map(Vec::as_slice).collect();
    crate::saml::verify_all_signatures(xml, &certs)
        .map(|()| true)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_escapes_change_only_the_hex_digits() {
        assert_eq!(lowercase_escapes("a%2Fb%3D%3D+c"), "a%2fb%3d%3d+c");
        assert_eq!(lowercase_escapes("plain"), "plain");
    }

    #[test]
    fn a_removed_signature_leaves_the_rest_intact() {
        let xml = "<a><b/><ds:Signature x=\"1\"><c/></ds:Signature><d/></a>";
        assert_eq!(remove_signature(xml), "<a><b/><d/></a>");
    }

    #[test]
    fn sp_messages_are_read_and_foreign_roots_refused() {
        let xml = format!(
            "<samlp:LogoutRequest xmlns:samlp=\"{NS_SAMLP}\" xmlns:saml=\"{NS_SAML}\" ID=\"_r1\" Destination=\"http://idp/slo\"><saml:Issuer>sp</saml:Issuer><saml:NameID>a@b</saml:NameID><samlp:SessionIndex>s1</samlp:SessionIndex></samlp:LogoutRequest>"
        );
        let message = parse_sp_message(&xml).expect("a LogoutRequest");
        assert_eq!(message.kind, SpMessageKind::Request);
        assert_eq!(message.name_id, Some(("a@b".to_owned(), None)));
        assert_eq!(message.session_indexes, ["s1"]);
        assert!(parse_sp_message("<x/>").is_err());
        assert!(parse_sp_message("<!DOCTYPE x []><x/>").is_err());
    }

    #[test]
    fn problems_name_every_deviation() {
        let sp = SpEntry::new("sp", "http://sp/acs");
        let session = IssuedSession {
            sp_entity_id: "sp".into(),
            name_id: "a@b".into(),
            name_id_format: None,
            session_index: Some("s1".into()),
        };
        let message = SpMessage {
            kind: SpMessageKind::Request,
            id: "_r".into(),
            issuer: Some("sp".into()),
            destination: Some("http://idp/slo".into()),
            in_response_to: None,
            status: None,
            name_id: Some(("a@b".into(), None)),
            session_indexes: vec!["s1".into()],
            has_xml_signature: false,
        };
        let ok = problems(
            &message,
            Ok(true),
            &sp,
            "http://idp/slo",
            Some(&session),
            None,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let wrong = SpMessage {
            name_id: Some(("mallory@b".into(), None)),
            session_indexes: vec!["s2".into()],
            ..message
        };
        let found = problems(
            &wrong,
            Ok(false),
            &sp,
            "http://idp/slo",
            Some(&session),
            None,
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn the_logout_response_says_which_of_two_requests_the_sp_acted_on() {
        use crate::exchange::LogoutAnswered;
        let response = |irt: &str| SpMessage {
            kind: SpMessageKind::Response,
            id: "_r".into(),
            issuer: Some("sp".into()),
            destination: Some("http://idp/slo".into()),
            in_response_to: Some(irt.into()),
            status: Some(STATUS_SUCCESS.into()),
            name_id: None,
            session_indexes: Vec::new(),
            has_xml_signature: false,
        };
        let (signed, smuggled) = (Some("_signed"), Some("_smuggled"));
        assert_eq!(
            answered(&response("_smuggled"), signed, smuggled),
            Some(LogoutAnswered::SmuggledRequest)
        );
        assert_eq!(
            answered(&response("_signed"), signed, smuggled),
            Some(LogoutAnswered::SignedRequest)
        );
        assert_eq!(answered(&response("_other"), signed, smuggled), None);
        // Nothing smuggled: nothing to tell apart.
        assert_eq!(answered(&response("_signed"), signed, None), None);
        let request = SpMessage {
            kind: SpMessageKind::Request,
            ..response("_smuggled")
        };
        assert_eq!(answered(&request, signed, smuggled), None);
    }
}
