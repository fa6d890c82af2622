//! Reading AuthnRequests from the HTTP-Redirect and HTTP-POST bindings.
//!
//! Every malformed input is an [`AuthnRequestError`] with a one-line reason, never a panic:
//! bad base64, bad DEFLATE, more than [`MAX_INFLATED`] bytes after inflating, not UTF-8, not
//! XML, a DOCTYPE, or not an AuthnRequest.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use flate2::read::DeflateDecoder;

use crate::xml::{NS_SAML, NS_SAMLP, has_doctype, strict_options};

/// The largest AuthnRequest accepted after inflating (bounds a DEFLATE bomb).
pub const MAX_INFLATED: usize = 1024 * 1024;

/// What the IdP reads from an AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthnRequestInfo {
    /// `@ID`: the response's InResponseTo.
    pub id: String,
    /// `saml:Issuer`: the SP's entityID.
    pub issuer: String,
    /// `@AssertionConsumerServiceURL`.
    pub acs_url: Option<String>,
    /// `@AssertionConsumerServiceIndex`.
    pub acs_index: Option<u16>,
    /// `@ProtocolBinding`.
    pub protocol_binding: Option<String>,
    /// `@Destination`.
    pub destination: Option<String>,
    /// `NameIDPolicy/@Format`.
    pub name_id_format: Option<String>,
    /// `NameIDPolicy/@AllowCreate`.
    pub allow_create: Option<bool>,
    /// `@ForceAuthn`.
    pub force_authn: bool,
    /// `@IsPassive`.
    pub is_passive: bool,
    /// `RequestedAuthnContext/AuthnContextClassRef` values.
    pub requested_authn_context: Vec<String>,
    /// Whether an enveloped `ds:Signature` is present (HTTP-POST binding).
    pub has_xml_signature: bool,
}

impl AuthnRequestInfo {
    /// A plain request `id` from `issuer` for `acs_url`, nothing else asked (for building
    /// responses without HTTP: tests and the in-process fuzzer).
    pub fn plain(id: &str, issuer: &str, acs_url: &str) -> Self {
        Self {
            id: id.to_owned(),
            issuer: issuer.to_owned(),
            acs_url: Some(acs_url.to_owned()),
            acs_index: None,
            protocol_binding: None,
            destination: None,
            name_id_format: None,
            allow_create: None,
            force_authn: false,
            is_passive: false,
            requested_authn_context: Vec::new(),
            has_xml_signature: false,
        }
    }
}

/// Failed to read an AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnRequestError {
    /// The parameter is missing.
    #[error("no SAMLRequest parameter")]
    Missing,
    /// Not base64.
    #[error("SAMLRequest is not valid base64: {0}")]
    Base64(String),
    /// Not raw DEFLATE.
    #[error("SAMLRequest is not valid DEFLATE data: {0}")]
    Deflate(String),
    /// Inflates beyond the limit.
    #[error("SAMLRequest inflates beyond {MAX_INFLATED} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("SAMLRequest is not UTF-8 text")]
    NotUtf8,
    /// A DTD: refused outright (no entity is ever expanded).
    #[error("SAMLRequest carries a DOCTYPE, which SAML forbids")]
    Doctype,
    /// Not well-formed.
    #[error("SAMLRequest is not well-formed XML: {0}")]
    NotXml(String),
    /// Some other root element.
    #[error("SAMLRequest is a {0}, not a samlp:AuthnRequest")]
    WrongRoot(String),
    /// A required part is missing.
    #[error("the AuthnRequest has no {0}")]
    MissingPart(&'static str),
}

/// Decodes an HTTP-Redirect `SAMLRequest` value (already URL-decoded): base64, then raw DEFLATE.
pub fn decode_redirect(value: &str) -> Result<String, AuthnRequestError> {
    let compressed = decode_base64(value)?;
    let mut inflated = Vec::new();
    DeflateDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| AuthnRequestError::Deflate(e.to_string()))?;
    if inflated.len() > MAX_INFLATED {
        return Err(AuthnRequestError::TooLarge);
    }
    String::from_utf8(inflated).map_err(|_| AuthnRequestError::NotUtf8)
}

/// Decodes an HTTP-POST `SAMLRequest` value: base64 only.
pub fn decode_post(value: &str) -> Result<String, AuthnRequestError> {
    let bytes = decode_base64(value)?;
    if bytes.len() > MAX_INFLATED {
        return Err(AuthnRequestError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| AuthnRequestError::NotUtf8)
}

fn decode_base64(value: &str) -> Result<Vec<u8>, AuthnRequestError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(AuthnRequestError::Missing);
    }
    B64.decode(compact.as_bytes())
        .map_err(|e| AuthnRequestError::Base64(e.to_string()))
}

/// Parses the AuthnRequest XML.
pub fn parse(xml: &str) -> Result<AuthnRequestInfo, AuthnRequestError> {
    if has_doctype(xml) {
        return Err(AuthnRequestError::Doctype);
    }
    let doc = roxmltree::Document::parse_with_options(xml, strict_options())
        .map_err(|e| AuthnRequestError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS_SAMLP, "AuthnRequest")) {
        let name = root.tag_name();
        return Err(AuthnRequestError::WrongRoot(match name.namespace() {
            Some(ns) => format!("{{{ns}}}{}", name.name()),
            None => name.name().to_owned(),
        }));
    }
    let child = |ns: &str, name: &str| root.children().find(|n| n.has_tag_name((ns, name)));
    let issuer = child(NS_SAML, "Issuer")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthnRequestError::MissingPart("Issuer"))?;
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or(AuthnRequestError::MissingPart("ID"))?;
    let policy = child(NS_SAMLP, "NameIDPolicy");
    let flag = |name: &str| {
        root.attribute(name)
            .is_some_and(|v| v == "true" || v == "1")
    };
    let requested_authn_context = child(NS_SAMLP, "RequestedAuthnContext")
        .map(|ctx| {
            ctx.children()
                .filter(|n| n.has_tag_name((NS_SAML, "AuthnContextClassRef")))
                .filter_map(|n| n.text())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok(AuthnRequestInfo {
        id: id.to_owned(),
        issuer: issuer.to_owned(),
        acs_url: root
            .attribute("AssertionConsumerServiceURL")
            .map(str::to_owned),
        acs_index: root
            .attribute("AssertionConsumerServiceIndex")
            .and_then(|v| v.parse().ok()),
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_owned),
        destination: root.attribute("Destination").map(str::to_owned),
        name_id_format: policy
            .and_then(|p| p.attribute("Format"))
            .map(str::to_owned),
        allow_create: policy
            .and_then(|p| p.attribute("AllowCreate"))
            .map(|v| v == "true" || v == "1"),
        force_authn: flag("ForceAuthn"),
        is_passive: flag("IsPassive"),
        requested_authn_context,
        has_xml_signature: root
            .children()
            .any(|n| n.has_tag_name((crate::xml::NS_DS, "Signature"))),
    })
}

/// Verifies the HTTP-Redirect binding's query signature (SAML Bindings §3.4.4.1) over the raw
/// octets received, `SAMLRequest=..&RelayState=..&SigAlg=..` (or `SAMLResponse=..` for a
/// LogoutResponse), against any of `certs` (DER).
///
/// Returns `Ok(false)` when the query carries no `Signature`, `Ok(true)` when it verifies.
pub fn verify_redirect_signature(raw_query: &str, certs: &[Vec<u8>]) -> Result<bool, String> {
    use openssl::hash::MessageDigest;

    let raw = |name: &str| {
        let mut found = raw_query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| *key == name)
            .map(|(_, value)| value);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => Err(format!("the query carries {name} twice")),
            (value, _) => Ok(value),
        }
    };
    let Some(signature) = raw("Signature")? else {
        return Ok(false);
    };
    let sig_alg_raw = raw("SigAlg")?.ok_or("the query has a Signature but no SigAlg")?;
    let decode = |v: &str| -> String {
        form_urlencoded::parse(format!("v={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let sig_alg = decode(sig_alg_raw);
    let (digest, ecdsa) = match sig_alg.as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (MessageDigest::sha1(), false),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), true),
        other => return Err(format!("unsupported SigAlg {other}")),
    };
    let (message, value) = match (raw("SAMLRequest")?, raw("SAMLResponse")?) {
        (Some(v), None) => ("SAMLRequest", v),
        (None, Some(v)) => ("SAMLResponse", v),
        (Some(_), Some(_)) => {
            return Err("the query carries both SAMLRequest and SAMLResponse".into());
        }
        (None, None) => return Err("the query carries no SAMLRequest or SAMLResponse".into()),
    };
    let mut signed = format!("{message}={value}");
    if let Some(relay) = raw("RelayState")? {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg_raw}"));
    let mut signature = decode_base64(&decode(signature)).map_err(|e| e.to_string())?;
    if ecdsa {
        // XML Signature carries ECDSA as r || s; openssl wants DER.
        let half = signature.len() / 2;
        let r = openssl::bn::BigNum::from_slice(&signature[..half]).map_err(|e| e.to_string())?;
        let s = openssl::bn::BigNum::from_slice(&signature[half..]).map_err(|e| e.to_string())?;
        signature = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
            .and_then(|sig| sig.to_der())
            .map_err(|e| e.to_string())?;
    }
    for cert in certs {
        let Ok(key) = openssl::x509::X509::from_der(cert).and_then(|c| c.public_key()) else {
            continue;
        };
        let Ok(mut verifier) = openssl::sign::Verifier::new(digest, &key) else {
            continue;
        };
        if verifier.update(signed.as_bytes()).is_ok()
            && verifier.verify(&signature).unwrap_or(false)
        {
            return Ok(true);
        }
    }
    Err("the query signature does not verify with the SP's signing keys".into())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use proptest::prelude::*;

    use super::*;

    const REQUEST: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="http://127.0.0.1:1/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>https://sp.test</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#;

    fn deflate(bytes: &[u8]) -> String {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("write");
        B64.encode(encoder.finish().expect("finish"))
    }

    #[test]
    fn a_redirect_request_is_decoded_and_read() {
        let xml = decode_redirect(&deflate(REQUEST.as_bytes())).expect("decode");
        let info = parse(&xml).expect("parse");
        assert_eq!(info.id, "_r1");
        assert_eq!(info.issuer, "https://sp.test");
        assert_eq!(info.acs_url.as_deref(), Some("http://127.0.0.1:1/acs"));
        assert_eq!(info.allow_create, Some(true));
        assert!(
            info.name_id_format
                .is_some_and(|f| f.ends_with("emailAddress"))
        );
    }

    #[test]
    fn a_post_request_is_base64_only_and_may_wrap_lines() {
        let encoded = B64.encode(REQUEST);
        let wrapped: String = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n")
            .collect();
        assert_eq!(
            parse(&decode_post(&wrapped).expect("decode"))
                .expect("parse")
                .id,
            "_r1"
        );
    }

    #[test]
    fn malformed_input_gets_a_reason_never_a_panic() {
        assert!(matches!(
            decode_redirect("%%%"),
            Err(AuthnRequestError::Base64(_))
        ));
        assert!(matches!(
            decode_redirect(&B64.encode(b"\xff\xfe not deflate")),
            Err(AuthnRequestError::Deflate(_))
        ));
        assert!(matches!(
            parse("not xml"),
            Err(AuthnRequestError::NotXml(_))
        ));
        assert!(matches!(
            parse("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>"),
            Err(AuthnRequestError::Doctype)
        ));
        assert!(matches!(
            parse("<x/>"),
            Err(AuthnRequestError::WrongRoot(_))
        ));
        let no_issuer = REQUEST.replace("<saml:Issuer>https://sp.test</saml:Issuer>", "");
        assert_eq!(
            parse(&no_issuer),
            Err(AuthnRequestError::MissingPart("Issuer"))
        );
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        let bomb = vec![b'a'; MAX_INFLATED * 8];
        assert_eq!(
            decode_redirect(&deflate(&bomb)),
            Err(AuthnRequestError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in ".{0,400}") {
            let _ = decode_redirect(&input).and_then(|x| parse(&x));
            let _ = decode_post(&input).and_then(|x| parse(&x));
            let _ = parse(&input);
        }

        #[test]
        fn arbitrary_deflated_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_redirect(&deflate(&bytes)).and_then(|x| parse(&x));
        }
    }
}
