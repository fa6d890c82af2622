//! Which key signed what, and whether the signed content is intact.
//!
//! Two independent looks: xmlsec (through samael, as the reference SP verifies) decides
//! whether every signature verifies with the IdP's published certificates; our own exclusive
//! canonicalization (the mock IdP's, [`mock_idp::c14n`]) checks each signature separately, so
//! the report can say *which* element was changed after signing and *which* key signed: a
//! metadata certificate, or only the certificate the message carries (a rolled-over IdP key
//! the SP does not know yet). Nothing is ever fetched: references are same-document only.

use base64::Engine as _;
use openssl::hash::MessageDigest;
use roxmltree::{Document, Node};
use samael::crypto::{CertificateDer, CryptoProvider as _, ReduceMode, XmlSec};
use serde::Serialize;

use super::facts::{DS, Facts, SignedElement};
use super::metadata::CertInfo;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// What the signature look found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// One entry per `ds:Signature`.
    pub signatures: Vec<SignatureResult>,
    /// xmlsec verified every signature with the IdP's certificates (`None`: none given).
    pub verified_with_metadata: Option<bool>,
    /// xmlsec verified every signature with the certificates the message carries (`None`:
    /// the message carries none).
    pub verified_with_key_info: Option<bool>,
    /// The certificates the message carries.
    pub key_info_certs: Vec<CertInfo>,
}

/// One signature, checked on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureResult {
    /// What it sits on.
    pub on: SignedElement,
    /// Whether the digest of the referenced element matches (`None`: could not be checked
    /// here, e.g. an InclusiveNamespaces list or another canonicalization).
    pub digest_matches: Option<bool>,
    /// Who signed SignedInfo.
    pub signed_by: SignedBy,
}

/// Whose key verifies a SignatureValue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "index")]
pub enum SignedBy {
    /// The IdP metadata's certificate number N (0-based).
    Metadata(usize),
    /// Only the certificate in the message's KeyInfo.
    KeyInfoOnly,
    /// Neither.
    Unknown,
    /// Not checked (an algorithm or canonicalization this look does not handle).
    NotChecked,
}

/// Runs both looks.
pub fn analyse(xml: &str, facts: &Facts, trusted: &[CertInfo]) -> SignatureReport {
    let mut key_info_certs: Vec<CertInfo> = Vec::new();
    for sig in &facts.signatures {
        for der in &sig.key_info_certs {
            if !key_info_certs.iter().any(|c| &c.der == der)
                && let Some(info) = CertInfo::from_der(der)
            {
                key_info_certs.push(info);
            }
        }
    }
    if facts.signatures.is_empty() {
        return SignatureReport {
            signatures: Vec::new(),
            verified_with_metadata: None,
            verified_with_key_info: None,
            key_info_certs,
        };
    }
    let signatures = own_look(xml, facts, trusted);
    // xmlsec prints a line on stderr for every key that fails to verify: give it the keys our
    // own look identified first, and spare it the metadata keys when our look proved that a
    // key from outside the metadata made every signature.
    let identified: Vec<CertInfo> = signatures
        .iter()
        .filter_map(|s| match s.signed_by {
            SignedBy::Metadata(i) => trusted.get(i).cloned(),
            _ => None,
        })
        .collect();
    let all_outside = signatures
        .iter()
        .all(|s| s.signed_by == SignedBy::KeyInfoOnly);
    let verified_with_metadata = if trusted.is_empty() {
        None
    } else if all_outside {
        Some(false)
    } else if !identified.is_empty() && xmlsec_verifies(xml, &identified) {
        Some(true)
    } else {
        Some(xmlsec_verifies(xml, trusted))
    };
    let verified_with_key_info = match verified_with_metadata {
        // Already shown intact with a trusted key; no second, noisy look.
        Some(true) => None,
        _ => (!key_info_certs.is_empty()).then(|| xmlsec_verifies(xml, &key_info_certs)),
    };
    SignatureReport {
        signatures,
        verified_with_metadata,
        verified_with_key_info,
        key_info_certs,
    }
}

fn xmlsec_verifies(xml: &str, certs: &[CertInfo]) -> bool {
    // A capture is hostile input: its Reference URIs and RetrievalMethods are never
    // dereferenced (a file is not read, a URL not fetched, a FIFO not opened).
    hardening::xml_io::forbid_external_loads();
    let certs: Vec<CertificateDer> = certs.iter().map(|c| c.der.clone().into()).collect();
    XmlSec::reduce_xml_to_signed(xml, &certs, ReduceMode::ValidateAndMarkNoAncestors).is_ok()
}

fn own_look(xml: &str, facts: &Facts, trusted: &[CertInfo]) -> Vec<SignatureResult> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        nodes_limit: 200_000,
        ..roxmltree::ParsingOptions::default()
    };
    let Ok(doc) = Document::parse_with_options(xml, options) else {
        return Vec::new();
    };
    facts
        .signatures
        .iter()
        .map(|s| {
            let node = doc
                .descendants()
                .find(|n| n.has_tag_name((DS, "Signature")) && n.range().start == s.at);
            let (digest_matches, signed_by) = match node {
                Some(sig) => check_one(xml, &doc, sig, trusted),
                None => (None, SignedBy::NotChecked),
            };
            SignatureResult {
                on: s.on.clone(),
                digest_matches,
                signed_by,
            }
        })
        .collect()
}

fn check_one(
    xml: &str,
    doc: &Document<'_>,
    sig: Node<'_, '_>,
    trusted: &[CertInfo],
) -> (Option<bool>, SignedBy) {
    let Some(info) = child(sig, "SignedInfo") else {
        return (None, SignedBy::NotChecked);
    };
    let exclusive = |n: Node<'_, '_>| {
        !n.descendants()
            .any(|d| d.tag_name().name() == "InclusiveNamespaces")
    };
    let c14n_ok = child(info, "CanonicalizationMethod").and_then(|c| c.attribute("Algorithm"))
        == Some(EXC_C14N)
        && exclusive(info);
    let digest_matches = child(info, "Reference").and_then(|reference| {
        let id = reference.attribute("URI")?.strip_prefix('#')?;
        let target = doc
            .descendants()
            .find(|n| n.is_element() && n.attribute("ID") == Some(id))?;
        let transforms: Vec<&str> = reference
            .descendants()
            .filter(|n| n.has_tag_name((DS, "Transform")))
            .filter_map(|n| n.attribute("Algorithm"))
            .collect();
        if !exclusive(reference) || !transforms.iter().all(|t| *t == ENVELOPED || *t == EXC_C14N) {
            return None;
        }
        let exclude = transforms.contains(&ENVELOPED).then_some(sig);
        let canonical = mock_idp::c14n::canonicalize(xml, target, exclude);
        let algorithm = child(reference, "DigestMethod")?.attribute("Algorithm")?;
        let md = digest_of(algorithm)?;
        let ours = openssl::hash::hash(md, canonical.as_bytes()).ok()?;
        let written: String = child(reference, "DigestValue")?
            .text()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let written = base64::engine::general_purpose::STANDARD
            .decode(written)
            .ok()?;
        Some(ours.as_ref() == written.as_slice())
    });
    if !c14n_ok {
        return (digest_matches, SignedBy::NotChecked);
    }
    let Some(algorithm) = child(info, "SignatureMethod").and_then(|m| m.attribute("Algorithm"))
    else {
        return (digest_matches, SignedBy::NotChecked);
    };
    let Some(value) = child(sig, "SignatureValue").and_then(|v| {
        let text: String = v
            .text()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    }) else {
        return (digest_matches, SignedBy::NotChecked);
    };
    let canonical = mock_idp::c14n::canonicalize(xml, info, None);
    let verifies =
        |der: &[u8]| -> Option<bool> { verify_value(der, algorithm, canonical.as_bytes(), &value) };
    let mut checked = false;
    for (i, cert) in trusted.iter().enumerate() {
        match verifies(&cert.der) {
            Some(true) => return (digest_matches, SignedBy::Metadata(i)),
            Some(false) => checked = true,
            None => {}
        }
    }
    let key_info: Vec<Vec<u8>> = child(sig, "KeyInfo")
        .into_iter()
        .flat_map(|k| k.descendants())
        .filter(|n| n.has_tag_name((DS, "X509Certificate")))
        .filter_map(|c| {
            let t: String = c
                .text()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD.decode(t).ok()
        })
        .collect();
    for der in &key_info {
        match verifies(der) {
            Some(true) => return (digest_matches, SignedBy::KeyInfoOnly),
            Some(false) => checked = true,
            None => {}
        }
    }
    (
        digest_matches,
        if checked {
            SignedBy::Unknown
        } else {
            SignedBy::NotChecked
        },
    )
}

fn child<'a, 'input>(parent: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    parent.children().find(|n| n.has_tag_name((DS, name)))
}

fn digest_of(uri: &str) -> Option<MessageDigest> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2000/09/xmldsig#sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        _ => return None,
    })
}

/// Whether `value` is a signature of `data` by the certificate's key; `None` when the
/// algorithm is not one this look verifies (HMAC, unknown).
fn verify_value(cert_der: &[u8], algorithm: &str, data: &[u8], value: &[u8]) -> Option<bool> {
    let (md, ec) = match algorithm {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), false),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (MessageDigest::sha1(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-md5" => (MessageDigest::md5(), false),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), true),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (MessageDigest::sha384(), true),
        _ => return None,
    };
    let key = openssl::x509::X509::from_der(cert_der)
        .ok()?
        .public_key()
        .ok()?;
    let is_ec = key.id() == openssl::pkey::Id::EC;
    if is_ec != ec {
        return Some(false);
    }
    let signature = if ec {
        if !value.len().is_multiple_of(2) {
            return Some(false);
        }
        let (r, s) = value.split_at(value.len() / 2);
        let r = openssl::bn::BigNum::from_slice(r).ok()?;
        let s = openssl::bn::BigNum::from_slice(s).ok()?;
        openssl::ecdsa::EcdsaSig::from_private_components(r, s)
            .ok()?
            .to_der()
            .ok()?
    } else {
        value.to_vec()
    };
    let mut verifier = openssl::sign::Verifier::new(md, &key).ok()?;
    verifier.update(data).ok()?;
    Some(verifier.verify(&signature).unwrap_or(false))
}
