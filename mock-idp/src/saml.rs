//! The one place that calls samael (an anti-corruption layer): enveloped signing and the
//! self-check verification, both through samael's libxmlsec binding, with libxml2's and
//! xmlsec's external loads turned off ([`hardening::xml_io`]).
//!
//! samael's own IdP module is not used: it hard-codes a SHA-1 digest, signs only the response,
//! cannot use EC keys, and its output fails samael's own SP (shared/reference/build-notes.md).

use samael::crypto::{CertificateDer, CryptoProvider as _, ReduceMode, XmlSec};

/// Failed to sign or verify with xmlsec.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct XmlSecError(String);

/// Fills in the first `ds:Signature` template in document order (DigestValue and
/// SignatureValue) with the PKCS#8 DER key. Returns the document without an XML declaration.
///
/// Only well-formed input may come here: libxml2 parses in recovery mode and would repair
/// malformed text before signing, so every malformation is applied after signing.
pub(crate) fn sign_first_template(
    xml: &str,
    private_pkcs8_der: &[u8],
) -> Result<String, XmlSecError> {
    hardening::xml_io::forbid_external_loads();
    let signed = XmlSec::sign_xml(xml, private_pkcs8_der)
        .map_err(|e| XmlSecError(format!("failed to sign: {e}")))?;
    Ok(crate::xml::strip_declaration(&signed).to_owned())
}

/// Verifies every signature in the document against the given certificates, the way samael's
/// service provider does before it reads anything. Used by the self-check and for SPs'
/// signed AuthnRequests. Nothing a document names is loaded ([`hardening::xml_io`]).
pub(crate) fn verify_all_signatures(xml: &str, certs_der: &[&[u8]]) -> Result<(), XmlSecError> {
    hardening::xml_io::forbid_external_loads();
    let certs: Vec<CertificateDer> = certs_der.iter().map(|c| c.to_vec().into()).collect();
    XmlSec::reduce_xml_to_signed(xml, &certs, ReduceMode::ValidateAndMarkNoAncestors)
        .map(|_| ())
        .map_err(|e| XmlSecError(format!("failed to verify: {e}")))
}
