//! What `saml-harness diagnose` reads for the SP-side checks: a captured AuthnRequest (the XML,
//! a base64 value, an HTTP-Redirect URL or query, an HTTP-POST form body, a HAR file, a
//! SAML-tracer export) or the SP's metadata. An HTTP-Redirect query is kept exactly as
//! captured, since its signature is over those octets. Nothing the input names is fetched or
//! read: a URL in it is only where the request went.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::metadata::{MD, MetadataDoc};
use super::request::{RequestBinding, SeenRequest};

/// The SP-side subject of a diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpInput {
    /// AuthnRequests, in the order captured.
    Requests(Vec<SeenRequest>),
    /// The SP's metadata.
    Metadata(Box<MetadataDoc>),
}

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The root element's name and namespace, when `xml` parses.
fn root_of(xml: &str) -> Option<(String, String)> {
    let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}').trim_start()).ok()?;
    let root = doc.root_element();
    Some((
        root.tag_name().name().to_owned(),
        root.tag_name().namespace().unwrap_or_default().to_owned(),
    ))
}

fn is_authn_request(xml: &str) -> bool {
    root_of(xml).is_some_and(|(name, ns)| name == "AuthnRequest" && ns == SAMLP)
}

/// Whether `xml` is SAML metadata with an SPSSODescriptor.
fn is_sp_metadata(xml: &str) -> bool {
    root_of(xml).is_some_and(|(name, ns)| {
        ns == MD && matches!(name.as_str(), "EntityDescriptor" | "EntitiesDescriptor")
    }) && xml.contains("SPSSODescriptor")
}

/// Reads `text` as an SP-side subject: `None` when it is neither an AuthnRequest nor SP
/// metadata (a Response, say: the response diagnosis reads it); `Err` when it is one of them
/// but cannot be read, saying why.
pub fn detect(source_name: &str, text: &str) -> Option<Result<SpInput, String>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('<') {
        if is_sp_metadata(trimmed) {
            return Some(Ok(SpInput::Metadata(Box::new(MetadataDoc::new(
                source_name,
                trimmed.to_owned(),
            )))));
        }
        return is_authn_request(trimmed).then(|| {
            Ok(SpInput::Requests(vec![SeenRequest::from_xml(
                "XML".to_owned(),
                trimmed.to_owned(),
                RequestBinding::Unknown,
            )]))
        });
    }
    if trimmed.starts_with('{') {
        let json: Value = serde_json::from_str(trimmed).ok()?;
        let requests = if let Some(entries) = json.pointer("/log/entries").and_then(Value::as_array)
        {
            from_har(entries)
        } else {
            from_saml_tracer(json.get("requests")?.as_array()?)
        };
        // A capture with a Response in it is the response diagnosis's.
        if requests.is_empty() || trimmed.contains("SAMLResponse") {
            return None;
        }
        return Some(Ok(SpInput::Requests(requests)));
    }
    if trimmed.contains("SAMLRequest=") {
        let (url, query) = match trimmed.split_once('?') {
            Some((url, q)) => (Some(url.to_owned()), q),
            None => (None, trimmed),
        };
        return Some(
            from_fields("captured request".to_owned(), url, query, None)
                .map(|r| SpInput::Requests(vec![r])),
        );
    }
    // A bare value: the POST binding's base64, or the Redirect binding's DEFLATE + base64.
    let value = if trimmed.contains('%') {
        form_urlencoded::parse(format!("v={trimmed}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?
    } else {
        trimmed.to_owned()
    };
    let read = mock_idp::authn_request::decode_post(&value)
        .map(|xml| (xml, RequestBinding::Post))
        .or_else(|_| {
            mock_idp::authn_request::decode_redirect(&value)
                .map(|xml| (xml, RequestBinding::Unknown))
        })
        .ok()?;
    is_authn_request(&read.0).then(|| {
        Ok(SpInput::Requests(vec![SeenRequest::from_xml(
            "SAMLRequest value".to_owned(),
            read.0,
            read.1,
        )]))
    })
}

/// A query string or a form body with a `SAMLRequest`: an HTTP-Redirect query when the value
/// inflates (kept to the octet), else an HTTP-POST body.
fn from_fields(
    label: String,
    sent_to: Option<String>,
    fields: &str,
    at: Option<DateTime<Utc>>,
) -> Result<SeenRequest, String> {
    SeenRequest::from_query(label.clone(), sent_to.clone(), fields, at).or_else(|redirect| {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(fields.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let value = get("SAMLRequest").ok_or("it carries no SAMLRequest")?;
        SeenRequest::from_post(label, sent_to, &value, get("RelayState"), at).map_err(|post| {
            format!(
                "the SAMLRequest neither inflates ({redirect}) nor decodes as base64 XML ({post})"
            )
        })
    })
}

fn keep(out: &mut Vec<SeenRequest>, read: Result<SeenRequest, String>) {
    if let Ok(r) = read
        && r.read.is_ok()
    {
        out.push(r);
    }
}

/// Every HAR entry that sent a SAMLRequest: in its URL (HTTP-Redirect, the URL as recorded)
/// or its POST body.
fn from_har(entries: &[Value]) -> Vec<SeenRequest> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let (request, method, url, at) = crate::support::input::har_entry(entry);
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let label = format!("HAR entry {}: {method} {base}", i + 1);
        if query.contains("SAMLRequest=") {
            keep(
                &mut out,
                from_fields(label, Some(base.to_owned()), query, at),
            );
        } else if let Some(body) = request["postData"]["text"].as_str()
            && body.contains("SAMLRequest=")
        {
            keep(
                &mut out,
                from_fields(label, Some(base.to_owned()), body, at),
            );
        }
    }
    out
}

/// Every SAML-tracer request that sent a SAMLRequest (its URL, or its `post` pairs).
fn from_saml_tracer(requests: &[Value]) -> Vec<SeenRequest> {
    let mut out = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let method = request["method"].as_str().unwrap_or("GET");
        let url = request["url"].as_str().unwrap_or_default();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let label = format!("SAML-tracer request {}: {method} {base}", i + 1);
        if query.contains("SAMLRequest=") {
            keep(
                &mut out,
                from_fields(label, Some(base.to_owned()), query, None),
            );
            continue;
        }
        let post: Vec<(String, String)> = request["post"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.get(0)?.as_str()?.to_owned(),
                    p.get(1)?.as_str()?.to_owned(),
                ))
            })
            .collect();
        let get = |name: &str| post.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(value) = get("SAMLRequest") {
            keep(
                &mut out,
                SeenRequest::from_post(
                    label,
                    Some(base.to_owned()),
                    &value,
                    get("RelayState"),
                    None,
                ),
            );
        }
    }
    out
}

/// What an IdP's metadata says that the request checks compare with: its SSO URL per binding
/// and whether it wants signed AuthnRequests (`WantAuthnRequestsSigned`, when written).
pub type IdpFacts = (Vec<(RequestBinding, String)>, Option<bool>);

/// Reads [`IdpFacts`] from an IdP's metadata.
pub fn idp_facts(xml: &str) -> Result<IdpFacts, String> {
    let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("it is not well-formed XML: {e}"))?;
    let idp = doc
        .descendants()
        .find(|n| n.has_tag_name((MD, "IDPSSODescriptor")))
        .ok_or("it has no IDPSSODescriptor")?;
    let sso = idp
        .children()
        .filter(|n| n.has_tag_name((MD, "SingleSignOnService")))
        .filter_map(|n| {
            let binding = match n.attribute("Binding")? {
                super::request::REDIRECT => RequestBinding::Redirect,
                super::request::POST => RequestBinding::Post,
                _ => return None,
            };
            Some((binding, n.attribute("Location")?.to_owned()))
        })
        .collect();
    let wants = idp
        .attribute("WantAuthnRequestsSigned")
        .map(|v| super::metadata::is_true(Some(v)));
    Ok((sso, wants))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_of_a_captured_request_is_read_and_a_response_is_left_alone() {
        let xml = super::super::request::tests::XML;
        let deflated = super::super::request::tests::deflated(xml);
        let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let url = format!(
            "https://idp.test/sso?SAMLRequest={}&RelayState=r",
            enc(&deflated)
        );
        let Some(Ok(SpInput::Requests(r))) = detect("u", &url) else {
            panic!("a redirect URL");
        };
        assert_eq!(r[0].binding, RequestBinding::Redirect);
        assert_eq!(r[0].sent_to.as_deref(), Some("https://idp.test/sso"));
        assert_eq!(
            r[0].raw_query.as_deref(),
            url.split_once('?').map(|(_, q)| q)
        );
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml);
        let Some(Ok(SpInput::Requests(r))) = detect("b", &format!("SAMLRequest={}", enc(&b64)))
        else {
            panic!("a POST body");
        };
        assert_eq!(r[0].binding, RequestBinding::Post);
        assert!(matches!(detect("v", &b64), Some(Ok(SpInput::Requests(_)))));
        assert!(matches!(detect("x", xml), Some(Ok(SpInput::Requests(_)))));
        let response = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>";
        assert!(detect("r", response).is_none());
        let har = serde_json::json!({"log": {"entries": [
            {"startedDateTime": "2026-11-25T10:00:00Z", "request": {"method": "GET", "url": url}},
        ]}});
        let Some(Ok(SpInput::Requests(r))) = detect("h", &har.to_string()) else {
            panic!("a HAR file");
        };
        assert!(r[0].received_at.is_some() && r[0].label.starts_with("HAR entry 1"));
    }
}
