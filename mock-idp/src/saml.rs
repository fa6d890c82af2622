//! The one place that calls samael (an anti-corruption layer): enveloped signing and the
//! self-check verification, both through samael's libxmlsec binding, with libxml2's and
//! xmlsec's external loads turned off ([`hardening::xml_io`]).
//!
//! samael's own IdP module is not used: it hard-codes a SHA-1 digest, signs only the response,
//! cannot use EC keys, and its output fails samael's own SP (shared/reference/build-notes.md).

use samael::crypto::{CertificateDer, CryptoProvider as _, ReduceMode, XmlSec};

use crate::keys::SigningKey;

/// Failed to sign or verify with xmlsec.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct XmlSecError(String);

/// Fills in the first `ds:Signature` template in document order (DigestValue and
/// SignatureValue) with the PKCS#8 DER key. Returns the document without an XML declaration.
///
/// Only well-formed input may come here: libxml2 parses in recovery mode and would repair
/// malformed text before signing, so every malformation is applied after signing.
///
/// The key is the one xmlsec loaded once ([`SigningKey::xmlsec_key`]: byte for byte what
/// samael's `sign_xml` writes, without parsing the key again), else samael's `sign_xml`.
pub(crate) fn sign_first_template(xml: &str, key: &SigningKey) -> Result<String, XmlSecError> {
    hardening::xml_io::forbid_external_loads();
    let signed = crate::meters::SIGNATURES.time(|| match key.xmlsec_key() {
        Some(kept) => kept
            .sign_first_template(xml)
            .map_err(|e| XmlSecError(format!("failed to sign: {e}"))),
        None => XmlSec::sign_xml(xml, key.private_pkcs8_der())
            .map_err(|e| XmlSecError(format!("failed to sign: {e}"))),
    })?;
    Ok(crate::xml::strip_declaration(&signed).to_owned())
}

/// Verifies every signature in the document against the given certificates, the way samael's
/// service provider does before it reads anything. Used by the self-check and for SPs'
/// signed AuthnRequests. Nothing a document names is loaded ([`hardening::xml_io`]).
///
/// samael's reduction refuses a document with an `ID` that is not an NCName (or is empty)
/// before it verifies anything. A plan may write such an ID (the `omit`, `empty` and `raw`
/// alterations of an ID); each signature of such a document is then verified directly over
/// the element that holds it (cut out as text: the mock IdP declares every namespace an
/// assertion uses on the assertion itself), with every `ID` attribute registered as given.
pub(crate) fn verify_all_signatures(xml: &str, certs_der: &[&[u8]]) -> Result<(), XmlSecError> {
    hardening::xml_io::forbid_external_loads();
    let certs: Vec<CertificateDer> = certs_der.iter().map(|c| c.to_vec().into()).collect();
    let failed = |e: String| XmlSecError(format!("failed to verify: {e}"));
    if let Some(signed) = signed_beside_odd_ids(xml) {
        for range in signed {
            let mut last = String::from("no certificate");
            let verified = certs.iter().any(|cert| {
                XmlSec::verify_signed_xml(&xml[range.clone()], cert, Some("ID"))
                    .map_err(|e| last = e.to_string())
                    .is_ok()
            });
            if !verified {
                return Err(failed(last));
            }
        }
        return Ok(());
    }
    XmlSec::reduce_xml_to_signed(xml, &certs, ReduceMode::ValidateAndMarkNoAncestors)
        .map(|_| ())
        .map_err(|e| failed(e.to_string()))
}

/// The self-check: every signature of the document verifies with one of the certificates the
/// IdP publishes. First with their keys as xmlsec loaded them once
/// ([`hardening::xmlsec_key::KeptCerts`]: each signature verified as samael does, without
/// decoding the certificates or reducing the document again); what that does not accept goes
/// through [`verify_all_signatures`] (samael's path, with its handling of odd IDs), whose
/// answer stands.
pub(crate) fn verify_published(xml: &str, keys: &crate::keys::KeyStore) -> Result<(), XmlSecError> {
    crate::meters::SELF_CHECKS.time(|| verify_published_unmetered(xml, keys))
}

fn verify_published_unmetered(xml: &str, keys: &crate::keys::KeyStore) -> Result<(), XmlSecError> {
    if keys
        .published_certs()
        .is_some_and(|kept| kept.verify_all(xml).is_ok())
    {
        return Ok(());
    }
    let [trusted, rollover] = keys.published();
    verify_all_signatures(xml, &[trusted.cert_der(), rollover.cert_der()])
}

/// With an `ID` attribute that is empty or no NCName somewhere in `xml`: the text of each
/// element that holds a `ds:Signature` (the whole document for the root). `None` when every
/// ID is an NCName (or `xml` does not parse).
fn signed_beside_odd_ids(xml: &str) -> Option<Vec<std::ops::Range<usize>>> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let ncname = |v: &str| {
        let mut chars = v.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let odd = doc
        .descendants()
        .filter_map(|n| n.attribute("ID"))
        .any(|id| !ncname(id));
    odd.then(|| {
        doc.descendants()
            .filter(|n| n.has_tag_name((crate::xml::NS_DS, "Signature")))
            .filter_map(|s| s.parent_element())
            .map(|p| {
                if p == doc.root_element() {
                    0..xml.len()
                } else {
                    p.range()
                }
            })
            .collect()
    })
}
