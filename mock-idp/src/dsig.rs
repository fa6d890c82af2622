//! Signatures the mock IdP computes itself, over its own canonical form of SignedInfo
//! ([`crate::c14n`]): the algorithms xmlsec will not make (rsa-md5, HMAC keyed with the
//! certificate) and SignedInfo re-signed after a tampering changed it (extra transforms, an
//! XSLT transform, an unknown canonicalization method).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use roxmltree::{Document, Node};

use crate::keys::SigningKey;
use crate::plan::{DigestAlgorithm, SignatureAlgorithm};
use crate::xml::{NS_DS, strict_options};

/// What signs: the plan's key, or the HMAC secret for HMAC algorithms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignatureKey<'a> {
    /// The plan's signing key.
    pub key: &'a SigningKey,
    /// The HMAC key-confusion secret (the trusted certificate's PEM text).
    pub hmac_secret: &'a [u8],
}

/// Failed to compute a signature.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DsigError(String);

fn crypto(e: impl std::fmt::Display) -> DsigError {
    DsigError(format!("openssl: {e}"))
}

/// The base64 digest of `bytes`.
pub(crate) fn digest(algorithm: DigestAlgorithm, bytes: &[u8]) -> String {
    let md = match algorithm {
        DigestAlgorithm::Sha256 => MessageDigest::sha256(),
        DigestAlgorithm::Sha1 => MessageDigest::sha1(),
    };
    match openssl::hash::hash(md, bytes) {
        Ok(d) => B64.encode(d),
        // Hashing in memory with a built-in digest does not fail.
        Err(e) => unreachable!("openssl refused to hash: {e}"),
    }
}

/// The XML Signature value (raw bytes) of `data` with `algorithm`.
pub(crate) fn signature_value(
    data: &[u8],
    algorithm: SignatureAlgorithm,
    key: SignatureKey<'_>,
) -> Result<Vec<u8>, DsigError> {
    let md = match algorithm {
        SignatureAlgorithm::RsaSha256
        | SignatureAlgorithm::EcdsaSha256
        | SignatureAlgorithm::HmacSha256 => MessageDigest::sha256(),
        SignatureAlgorithm::RsaSha1 | SignatureAlgorithm::HmacSha1 => MessageDigest::sha1(),
        SignatureAlgorithm::RsaSha512 => MessageDigest::sha512(),
        SignatureAlgorithm::RsaMd5 => MessageDigest::md5(),
    };
    if algorithm.is_hmac() {
        let pkey = PKey::hmac(key.hmac_secret).map_err(crypto)?;
        let mut signer = openssl::sign::Signer::new(md, &pkey).map_err(crypto)?;
        signer.update(data).map_err(crypto)?;
        return signer.sign_to_vec().map_err(crypto);
    }
    let pkey = key.key.pkey().map_err(|e| DsigError(e.to_string()))?;
    let der = crate::meters::SIGNATURES.time(|| {
        let mut signer = openssl::sign::Signer::new(md, &pkey).map_err(crypto)?;
        signer.update(data).map_err(crypto)?;
        signer.sign_to_vec().map_err(crypto)
    })?;
    if algorithm != SignatureAlgorithm::EcdsaSha256 {
        return Ok(der);
    }
    // XML Signature wants ECDSA as r || s, each the size of the field.
    let sig = openssl::ecdsa::EcdsaSig::from_der(&der).map_err(crypto)?;
    let mut raw = sig.r().to_vec_padded(32).map_err(crypto)?;
    raw.extend(sig.s().to_vec_padded(32).map_err(crypto)?);
    Ok(raw)
}

/// Recomputes the SignatureValue of the `ds:Signature` element that starts at byte `at`, over
/// its SignedInfo as it now stands, with `algorithm`. Everything else stays byte-for-byte.
pub(crate) fn resign(
    xml: &str,
    at: usize,
    algorithm: SignatureAlgorithm,
    key: SignatureKey<'_>,
) -> Result<String, DsigError> {
    let doc = Document::parse_with_options(xml, strict_options())
        .map_err(|e| DsigError(format!("failed to parse the document to re-sign: {e}")))?;
    let signature = doc
        .descendants()
        .find(|n| n.has_tag_name((NS_DS, "Signature")) && n.range().start == at)
        .ok_or_else(|| DsigError(format!("no ds:Signature starts at byte {at}")))?;
    let signed_info = child(signature, "SignedInfo")?;
    let value = child(signature, "SignatureValue")?;
    let canonical = crate::c14n::canonicalize(xml, signed_info, None);
    let raw = signature_value(canonical.as_bytes(), algorithm, key)?;
    let range = inner_range(xml, value);
    let mut out = xml.to_owned();
    out.replace_range(range, &B64.encode(raw));
    Ok(out)
}

/// The first `ds:{name}` child of `node`.
pub(crate) fn child<'a, 'input>(
    node: Node<'a, 'input>,
    name: &str,
) -> Result<Node<'a, 'input>, DsigError> {
    node.children()
        .find(|n| n.has_tag_name((NS_DS, name)))
        .ok_or_else(|| DsigError(format!("the signature has no ds:{name}")))
}

/// The byte range between an element's start tag and end tag (its content), or the point
/// before `/>` of an empty element written self-closed (where content can go only after
/// rewriting the tag; callers use elements written with both tags).
pub(crate) fn inner_range(xml: &str, node: Node<'_, '_>) -> std::ops::Range<usize> {
    let range = node.range();
    let tag = &xml[range.clone()];
    if tag.ends_with("/>") {
        return range.end - 2..range.end - 2;
    }
    let open_end = range.start + tag.find('>').map_or(0, |i| i + 1);
    let close_start = range.start + tag.rfind("</").unwrap_or(tag.len());
    open_end..close_start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyStore, KeyType};
    use crate::plan::{Signing, SigningLayout};
    use crate::response::model::ResponseDoc;

    fn signed(layout: SigningLayout, keys: &KeyStore) -> String {
        let ctx = crate::response::ResponseContext::for_tests(None);
        let doc: ResponseDoc = crate::Flavour::Generic.baseline(&ctx, "alice@example.test");
        crate::response::sign::sign(
            &doc,
            layout,
            &Signing::default(),
            keys.trusted(),
            &keys.attacker_hmac_secret(),
            &Ok,
        )
        .expect("sign")
    }

    fn signature_parts(xml: &str, parent: &str) -> (String, String, usize) {
        let doc = Document::parse_with_options(xml, strict_options()).expect("xml");
        let sig = doc
            .descendants()
            .find(|n| {
                n.has_tag_name((NS_DS, "Signature"))
                    && n.parent_element()
                        .is_some_and(|p| p.tag_name().name() == parent)
            })
            .expect("signature");
        let digest_value = sig
            .descendants()
            .find(|n| n.has_tag_name((NS_DS, "DigestValue")))
            .and_then(|n| n.text())
            .expect("digest")
            .to_owned();
        let value: String = child(sig, "SignatureValue")
            .expect("value")
            .text()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        (digest_value, value, sig.range().start)
    }

    #[test]
    fn our_canonical_digest_of_a_signed_assertion_equals_xmlsec_s() {
        let keys = KeyStore::generate(KeyType::Rsa2048).expect("keys");
        let xml = signed(SigningLayout::Both, &keys);
        let doc = Document::parse_with_options(&xml, strict_options()).expect("xml");
        for parent in ["Assertion", "Response"] {
            let element = doc
                .descendants()
                .find(|n| n.is_element() && n.tag_name().name() == parent)
                .expect("element");
            let sig = element
                .children()
                .find(|n| n.has_tag_name((NS_DS, "Signature")))
                .expect("signature");
            let ours = digest(
                DigestAlgorithm::Sha256,
                crate::c14n::canonicalize(&xml, element, Some(sig)).as_bytes(),
            );
            assert_eq!(ours, signature_parts(&xml, parent).0, "{parent}");
        }
    }

    #[test]
    fn re_signing_unchanged_signed_info_with_the_same_rsa_key_reproduces_xmlsec_s_value() {
        let keys = KeyStore::generate(KeyType::Rsa2048).expect("keys");
        let xml = signed(SigningLayout::Response, &keys);
        let (_, before, at) = signature_parts(&xml, "Response");
        let key = SignatureKey {
            key: keys.trusted(),
            hmac_secret: b"",
        };
        let again = resign(&xml, at, SignatureAlgorithm::RsaSha256, key).expect("resign");
        assert_eq!(signature_parts(&again, "Response").1, before);
    }

    #[test]
    fn ecdsa_values_are_r_and_s_and_hmac_values_the_digest_size() {
        let keys = KeyStore::generate(KeyType::EcdsaP256).expect("keys");
        let key = SignatureKey {
            key: keys.trusted(),
            hmac_secret: b"secret",
        };
        let ec = signature_value(b"data", SignatureAlgorithm::EcdsaSha256, key).expect("ec");
        assert_eq!(ec.len(), 64);
        let mac = signature_value(b"data", SignatureAlgorithm::HmacSha256, key).expect("mac");
        assert_eq!(mac.len(), 32);
    }
}
