//! A captured AuthnRequest: how it travelled, the octets it came in (an HTTP-Redirect query is
//! kept exactly as sent, since its signature is over those octets), and what it says, read
//! into owned values with every attribute as written.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::support::facts::{DS, SAML, SAMLP};

/// How an AuthnRequest travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestBinding {
    /// DEFLATE + base64 in a query string; a signature is in `SigAlg` and `Signature`.
    Redirect,
    /// base64 in a form field; a signature is enveloped in the XML.
    Post,
    /// Not known (XML given as it is).
    Unknown,
}

impl RequestBinding {
    /// `HTTP-Redirect`, `HTTP-POST`, `binding unknown`.
    pub fn words(self) -> &'static str {
        match self {
            RequestBinding::Redirect => "HTTP-Redirect",
            RequestBinding::Post => "HTTP-POST",
            RequestBinding::Unknown => "binding unknown",
        }
    }

    /// The binding URI.
    pub fn uri(self) -> Option<&'static str> {
        match self {
            RequestBinding::Redirect => Some(REDIRECT),
            RequestBinding::Post => Some(POST),
            RequestBinding::Unknown => None,
        }
    }
}

pub(crate) const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub(crate) const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// One AuthnRequest the SP sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// For people: `request 2 (HTTP-Redirect)`, `HAR entry 3: GET https://idp/sso`.
    pub label: String,
    /// How it travelled.
    pub binding: RequestBinding,
    /// The decoded XML.
    pub xml: String,
    /// HTTP-Redirect: the query string exactly as sent (after `?`).
    pub raw_query: Option<String>,
    /// The RelayState beside it.
    pub relay_state: Option<String>,
    /// When it reached the IdP (or, in a capture, when the browser sent it).
    pub received_at: Option<DateTime<Utc>>,
    /// The URL it was sent to, without the query.
    pub sent_to: Option<String>,
    /// What it says, or why it cannot be read.
    pub read: Result<RequestFacts, String>,
}

/// What an AuthnRequest says, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestFacts {
    /// `@ID`.
    pub id: Option<String>,
    /// `@Version`.
    pub version: Option<String>,
    /// `@IssueInstant`.
    pub issue_instant: Option<String>,
    /// `@Destination`.
    pub destination: Option<String>,
    /// `saml:Issuer` text (trimmed), when there is one.
    pub issuer: Option<String>,
    /// `saml:Issuer/@Format`.
    pub issuer_format: Option<String>,
    /// `@AssertionConsumerServiceURL`.
    pub acs_url: Option<String>,
    /// `@AssertionConsumerServiceIndex` as written.
    pub acs_index: Option<String>,
    /// `@ProtocolBinding`.
    pub protocol_binding: Option<String>,
    /// Whether there is a `samlp:NameIDPolicy`.
    pub name_id_policy: bool,
    /// `NameIDPolicy/@Format`.
    pub name_id_format: Option<String>,
    /// `NameIDPolicy/@AllowCreate` as written.
    pub allow_create: Option<String>,
    /// `@ForceAuthn` as written.
    pub force_authn: Option<String>,
    /// `@IsPassive` as written.
    pub is_passive: Option<String>,
    /// Whether the root carries an enveloped `ds:Signature`.
    pub xml_signature: bool,
}

impl RequestFacts {
    /// Reads an AuthnRequest; `Err` says what the XML is instead.
    pub fn parse(xml: &str) -> Result<Self, String> {
        if mock_idp::xml::has_doctype(xml) {
            return Err("it carries a DOCTYPE, which SAML protocol messages must not".to_owned());
        }
        let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
            .map_err(|e| format!("it is not well-formed XML: {e}"))?;
        let root = doc.root_element();
        if !root.has_tag_name((SAMLP, "AuthnRequest")) {
            return Err(format!(
                "its root element is <{}>, not samlp:AuthnRequest",
                root.tag_name().name()
            ));
        }
        let child = |ns: &str, name: &str| root.children().find(|n| n.has_tag_name((ns, name)));
        let attr = |name: &str| root.attribute(name).map(str::to_owned);
        let issuer = child(SAML, "Issuer");
        let policy = child(SAMLP, "NameIDPolicy");
        Ok(Self {
            id: attr("ID"),
            version: attr("Version"),
            issue_instant: attr("IssueInstant"),
            destination: attr("Destination"),
            issuer: issuer.map(|n| crate::support::facts::full_text(n).trim().to_owned()),
            issuer_format: issuer
                .and_then(|n| n.attribute("Format"))
                .map(str::to_owned),
            acs_url: attr("AssertionConsumerServiceURL"),
            acs_index: attr("AssertionConsumerServiceIndex"),
            protocol_binding: attr("ProtocolBinding"),
            name_id_policy: policy.is_some(),
            name_id_format: policy
                .and_then(|p| p.attribute("Format"))
                .map(str::to_owned),
            allow_create: policy
                .and_then(|p| p.attribute("AllowCreate"))
                .map(str::to_owned),
            force_authn: attr("ForceAuthn"),
            is_passive: attr("IsPassive"),
            xml_signature: child(DS, "Signature").is_some(),
        })
    }
}

impl SeenRequest {
    /// An HTTP-Redirect request: `raw_query` is the query string as sent (without `?`).
    pub fn from_query(
        label: String,
        sent_to: Option<String>,
        raw_query: &str,
        received_at: Option<DateTime<Utc>>,
    ) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let value = field("SAMLRequest").ok_or("the query carries no SAMLRequest")?;
        let xml = mock_idp::authn_request::decode_redirect(&value).map_err(|e| e.to_string())?;
        Ok(Self {
            label,
            binding: RequestBinding::Redirect,
            read: RequestFacts::parse(&xml),
            xml,
            raw_query: Some(raw_query.to_owned()),
            relay_state: field("RelayState"),
            received_at,
            sent_to,
        })
    }

    /// An HTTP-POST request: the `SAMLRequest` form value (base64) and the RelayState.
    pub fn from_post(
        label: String,
        sent_to: Option<String>,
        value: &str,
        relay_state: Option<String>,
        received_at: Option<DateTime<Utc>>,
    ) -> Result<Self, String> {
        let xml = mock_idp::authn_request::decode_post(value).map_err(|e| e.to_string())?;
        Ok(
            Self::from_xml(label, xml, RequestBinding::Post).with(
                sent_to,
                relay_state,
                received_at,
            ),
        )
    }

    /// The XML itself (a capture that says nothing of how it travelled, or the IdP's log).
    pub fn from_xml(label: String, xml: String, binding: RequestBinding) -> Self {
        Self {
            label,
            binding,
            read: RequestFacts::parse(&xml),
            xml,
            raw_query: None,
            relay_state: None,
            received_at: None,
            sent_to: None,
        }
    }

    fn with(
        mut self,
        sent_to: Option<String>,
        relay_state: Option<String>,
        received_at: Option<DateTime<Utc>>,
    ) -> Self {
        self.sent_to = sent_to;
        self.relay_state = relay_state;
        self.received_at = received_at;
        self
    }

    /// Whether it is signed: a `Signature` query parameter (HTTP-Redirect) or an enveloped
    /// `ds:Signature` (HTTP-POST, or XML of an unknown binding).
    pub fn signed(&self) -> bool {
        match self.binding {
            RequestBinding::Redirect => self.query_param_raw("Signature").is_some(),
            RequestBinding::Post | RequestBinding::Unknown => {
                self.read.as_ref().is_ok_and(|f| f.xml_signature)
            }
        }
    }

    /// A query parameter's value as sent (still URL-encoded).
    pub fn query_param_raw(&self, name: &str) -> Option<&str> {
        self.raw_query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A query parameter's value, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let raw = self.query_param_raw(name)?;
        form_urlencoded::parse(format!("v={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    }

    /// The ID, or the label when it has none (to name it in evidence).
    pub fn name(&self) -> String {
        match self.read.as_ref().ok().and_then(|f| f.id.as_deref()) {
            Some(id) => format!("{} ID {id:?}", self.label),
            None => self.label.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write as _;

    use base64::Engine as _;

    use super::*;

    pub(crate) const XML: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1b2" Version="2.0" IssueInstant="2026-11-25T10:00:00Z" Destination="https://idp.test/sso" AssertionConsumerServiceURL="https://sp.test/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ForceAuthn="true"><saml:Issuer>https://sp.test/md</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#;

    pub(crate) fn deflated(xml: &str) -> String {
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(xml.as_bytes()).expect("deflate");
        base64::engine::general_purpose::STANDARD.encode(d.finish().expect("deflate"))
    }

    #[test]
    fn a_redirect_query_keeps_its_octets_and_is_read() {
        let value: String = form_urlencoded::byte_serialize(deflated(XML).as_bytes()).collect();
        let query = format!("SAMLRequest={value}&RelayState=rs%2D1&SigAlg=x&Signature=a%2Bb");
        let r = SeenRequest::from_query("r".into(), None, &query, None).expect("reads");
        assert_eq!(r.raw_query.as_deref(), Some(query.as_str()));
        assert_eq!(r.relay_state.as_deref(), Some("rs-1"));
        assert!(r.signed());
        assert_eq!(r.query_param_raw("Signature"), Some("a%2Bb"));
        assert_eq!(r.query_param("Signature").as_deref(), Some("a+b"));
        let f = r.read.as_ref().expect("facts");
        assert_eq!(f.id.as_deref(), Some("_a1b2"));
        assert_eq!(f.issuer.as_deref(), Some("https://sp.test/md"));
        assert_eq!(f.force_authn.as_deref(), Some("true"));
        assert!(f.name_id_policy);
        assert_eq!(r.name(), "r ID \"_a1b2\"");
    }

    #[test]
    fn a_post_value_is_base64_and_anything_else_says_what_it_is() {
        let value = base64::engine::general_purpose::STANDARD.encode(XML);
        let r = SeenRequest::from_post("p".into(), None, &value, Some("x".into()), None)
            .expect("reads");
        assert_eq!(r.binding, RequestBinding::Post);
        assert!(!r.signed());
        let other = SeenRequest::from_xml(
            "x".into(),
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>".into(),
            RequestBinding::Unknown,
        );
        assert!(
            other
                .read
                .expect_err("a response")
                .contains("samlp:AuthnRequest")
        );
        assert!(SeenRequest::from_query("q".into(), None, "RelayState=x", None).is_err());
    }
}
