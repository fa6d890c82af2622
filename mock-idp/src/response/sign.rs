//! Rendering with signature templates, and signing them with xmlsec.
//!
//! Layouts: the assertion is signed as a standalone element (it declares its own namespaces),
//! then embedded; the response's template sits right after its Issuer, so it is the first
//! template in document order when the response is signed around an already signed assertion.
//! Exclusive canonicalization keeps the inner signature valid.

use super::PipelineError;
use super::cosmetic::apply_all;
use super::model::{ResponseDoc, Template, render_assertion, render_response};
use crate::dsig::{self, SignatureKey};
use crate::keys::{KeyKind, SigningKey};
use crate::plan::{SignatureAlgorithm, Signing, SigningLayout};
use crate::xml::NS_DS;

/// The enveloped `ds:Signature` template for the element with `reference_id`.
pub(crate) fn template(
    reference_id: &str,
    signing: &Signing,
    key: &SigningKey,
    algorithm: SignatureAlgorithm,
) -> String {
    format!(
        concat!(
            "<ds:Signature xmlns:ds=\"{ds}\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"{alg}\"/>",
            "<ds:Reference URI=\"{uri}\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "</ds:Transforms><ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue></ds:DigestValue>",
            "</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>",
            "</ds:X509Data></ds:KeyInfo></ds:Signature>"
        ),
        ds = NS_DS,
        alg = algorithm.uri(),
        uri = crate::xml::escape_attr(
            &signing
                .reference_uri
                .clone()
                .unwrap_or_else(|| format!("#{reference_id}"))
        ),
        digest = signing.digest.uri(),
        cert = key.cert_base64(),
    )
}

/// Renders `doc` and signs what `layout` asks for with `key` (HMAC algorithms with
/// `hmac_secret` instead). `seal` turns the (signed) assertion into what the response carries
/// (itself, or an `EncryptedAssertion`) before the response is signed around it.
pub(crate) fn sign(
    doc: &ResponseDoc,
    layout: SigningLayout,
    signing: &Signing,
    key: &SigningKey,
    hmac_secret: &[u8],
    seal: &dyn Fn(String) -> Result<String, PipelineError>,
) -> Result<String, PipelineError> {
    if layout != SigningLayout::None {
        check_key_fits(signing, key)?;
    }
    let signer = Signer {
        signing,
        algorithm: algorithm(signing, key),
        key: SignatureKey { key, hmac_secret },
    };
    let cosmetic = |text: String| apply_all(&doc.cosmetics, text);
    let assertion_xml = match &doc.assertion {
        Some(assertion) if layout.signs_assertion() => {
            let id = referable(assertion.written_id()).ok_or_else(|| unsigned_id("Assertion"))?;
            let text = signer.template(id);
            let unsigned = cosmetic(render_assertion(
                assertion,
                doc.saml_ns,
                Some(Template { text: &text }),
            ));
            Some(signer.sign_first(&unsigned)?)
        }
        Some(assertion) => Some(cosmetic(render_assertion(assertion, doc.saml_ns, None))),
        None => None,
    };
    let assertion_xml = assertion_xml.map(seal).transpose()?;
    // The response's own text gets the cosmetic changes with the (possibly signed) assertion
    // still out of it, then the assertion goes in unchanged.
    let marker = ASSERTION_MARKER;
    let with_marker = |template: Option<Template<'_>>| {
        let text = cosmetic(render_response(
            doc,
            assertion_xml.as_ref().map(|_| marker),
            template,
        ));
        match &assertion_xml {
            Some(assertion) => text.replacen(marker, assertion, 1),
            None => text,
        }
    };
    if layout.signs_response() {
        let id = referable(doc.written_id()).ok_or_else(|| unsigned_id("Response"))?;
        let text = signer.template(id);
        signer.sign_first(&with_marker(Some(Template { text: &text })))
    } else {
        Ok(with_marker(None))
    }
}

/// An ID a same-document Reference can name: present, not empty, and without white space
/// (xmlsec resolves `#id` as XPointer `id('id')`, whose argument is a white-space separated
/// list of IDs).
fn referable(id: Option<&str>) -> Option<&str> {
    id.filter(|id| !id.chars().any(char::is_whitespace))
}

/// A signed element without an ID its Reference could name (SAML Core §5.4.2).
fn unsigned_id(what: &str) -> PipelineError {
    PipelineError::Plan(format!(
        "the signing layout signs the {what}, but the plan leaves its ID out, empty or with white space, so no Reference can name it (SAML Core §5.4.2): choose a layout that does not sign the {what}"
    ))
}

/// Stands for the assertion while the response's own text gets its cosmetic changes (no
/// cosmetic change touches text without `<`, `saml` or `SubjectConfirmationData`).
const ASSERTION_MARKER: &str = "\u{1}assertion\u{1}";

struct Signer<'a> {
    signing: &'a Signing,
    algorithm: SignatureAlgorithm,
    key: SignatureKey<'a>,
}

impl Signer<'_> {
    /// The algorithm xmlsec signs with: the plan's, or for algorithms xmlsec cannot make, the
    /// key's own (the mock IdP then signs SignedInfo again with the plan's).
    fn xmlsec_algorithm(&self) -> SignatureAlgorithm {
        if self.algorithm.xmlsec_signs() {
            self.algorithm
        } else {
            SignatureAlgorithm::for_key(self.key.key.kind())
        }
    }

    fn template(&self, reference_id: &str) -> String {
        template(
            reference_id,
            self.signing,
            self.key.key,
            self.xmlsec_algorithm(),
        )
    }

    /// Signs the first template in document order.
    fn sign_first(&self, xml: &str) -> Result<String, PipelineError> {
        let signed = crate::saml::sign_first_template(xml, self.key.key)
            .map_err(|e| PipelineError::Sign(e.to_string()))?;
        if self.algorithm.xmlsec_signs() {
            return Ok(signed);
        }
        let from = format!(
            "<ds:SignatureMethod Algorithm=\"{}\"/>",
            self.xmlsec_algorithm().uri()
        );
        let to = format!(
            "<ds:SignatureMethod Algorithm=\"{}\"/>",
            self.algorithm.uri()
        );
        let at = signed.find("<ds:Signature").unwrap_or_default();
        let swapped = signed.replacen(&from, &to, 1);
        dsig::resign(&swapped, at, self.algorithm, self.key)
            .map_err(|e| PipelineError::Sign(e.to_string()))
    }
}

/// The plan's algorithm, or the one that fits the key.
pub(crate) fn algorithm(signing: &Signing, key: &SigningKey) -> SignatureAlgorithm {
    signing
        .algorithm
        .unwrap_or_else(|| SignatureAlgorithm::for_key(key.kind()))
}

fn check_key_fits(signing: &Signing, key: &SigningKey) -> Result<(), PipelineError> {
    let is_rsa = matches!(key.kind(), KeyKind::Rsa { .. });
    let algorithm = algorithm(signing, key);
    if algorithm.is_hmac() || algorithm.is_rsa() == is_rsa {
        return Ok(());
    }
    let family = |rsa: bool| if rsa { "an RSA" } else { "an EC" };
    Err(PipelineError::KeyAlgorithm {
        algorithm: algorithm.uri(),
        needs: family(algorithm.is_rsa()),
        key: match signing.key {
            crate::keys::KeyChoice::Trusted => "trusted",
            crate::keys::KeyChoice::Rollover => "rollover",
            crate::keys::KeyChoice::AttackerSelfSigned => "attacker-self-signed",
            crate::keys::KeyChoice::AttackerClone => "attacker-clone",
            crate::keys::KeyChoice::AttackerRsa1024 => "attacker-rsa1024",
        },
        is: family(is_rsa),
    })
}
