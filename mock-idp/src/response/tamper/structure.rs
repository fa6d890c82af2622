//! Structural edits under valid signatures: an ID that is not an NCName, a second separately
//! signed assertion, and shapes the SAML schemas forbid. Each edit is followed by
//! [`resign_all`], so only the SP's structural checks (not signature verification) can catch
//! it.

use roxmltree::{Document, Node};

use super::{
    Edit, TamperContext, id_edit, identity_edits, parse, signatures, signed_assertion,
    signed_assertion_and_signature, signed_name, splice,
};
use crate::dsig;
use crate::plan::{IdElement, SchemaShape, SignatureSelector};
use crate::response::PipelineError;
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP};

fn sign_error(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Sign(e.to_string())
}

/// Recomputes every signature's DigestValue over its referenced element as it now stands, and
/// then its SignatureValue, innermost signatures first (so a Response signature covers the
/// re-signed assertions).
pub(super) fn resign_all(xml: &str, ctx: &TamperContext<'_>) -> Result<String, PipelineError> {
    let mut order: Vec<(usize, usize)> = {
        let doc = parse(xml)?;
        signatures(&doc, SignatureSelector::All)
            .iter()
            .enumerate()
            .map(|(index, sig)| (index, sig.ancestors().count()))
            .collect()
    };
    order.sort_by_key(|&(_, depth)| std::cmp::Reverse(depth));
    let mut out = xml.to_owned();
    for (index, _) in order {
        let (edit, at) = {
            let doc = parse(&out)?;
            let sig = signatures(&doc, SignatureSelector::All)[index];
            let reference = sig
                .descendants()
                .find(|n| n.has_tag_name((NS_DS, "Reference")))
                .ok_or_else(|| sign_error("the signature has no Reference"))?;
            let uri = reference.attribute("URI").unwrap_or_default();
            let signed = referenced(&doc, uri).ok_or_else(|| {
                sign_error(format!("no element has the ID the Reference names ({uri})"))
            })?;
            let digest_value = reference
                .descendants()
                .find(|n| n.has_tag_name((NS_DS, "DigestValue")))
                .ok_or_else(|| sign_error("the signature has no DigestValue"))?;
            let digest = super::signature::digest_of(&out[signed.range()], ctx)?;
            (
                (dsig::inner_range(&out, digest_value), digest),
                sig.range().start,
            )
        };
        out = splice(&out, vec![edit]);
        out = dsig::resign(&out, at, ctx.algorithm, ctx.key).map_err(sign_error)?;
    }
    Ok(out)
}

/// The element a same-document Reference URI names (`""`: the document element).
fn referenced<'a, 'input>(doc: &'a Document<'input>, uri: &str) -> Option<Node<'a, 'input>> {
    match uri.strip_prefix('#') {
        Some(id) => doc
            .descendants()
            .find(|n| n.is_element() && n.attribute("ID") == Some(id)),
        None if uri.is_empty() => Some(doc.root_element()),
        None => None,
    }
}

/// [`crate::plan::Tamper::Id`].
pub(super) fn id(
    xml: &str,
    element: IdElement,
    value: &str,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let doc = parse(xml)?;
    let node = match element {
        IdElement::Response => doc.root_element(),
        IdElement::Assertion => signed_assertion(&doc)?,
    };
    let old = node.attribute("ID").unwrap_or_default();
    // The value the plan asks for, made unique to this response (the random part of a fresh
    // ID, without its leading `_`): an SP with a replay cache must not refuse the next
    // response that tries the same shape as a replay of this one.
    let value = &format!("{value}-{}", &crate::xml::new_id()[1..17]);
    let mut edits = vec![id_edit(node, value)?];
    for reference in doc
        .descendants()
        .filter(|n| n.has_tag_name((NS_DS, "Reference")))
    {
        if let Some(attr) = reference.attribute_node("URI")
            && attr.value().strip_prefix('#') == Some(old)
        {
            edits.push((
                attr.range_value(),
                format!("#{}", crate::xml::escape_attr(value)),
            ));
        }
    }
    resign_all(&splice(xml, edits), ctx)
}

/// [`crate::plan::Tamper::SecondSignedAssertion`].
pub(super) fn second_signed_assertion(
    xml: &str,
    name_id: &str,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let doc = parse(xml)?;
    let original = signed_name(&doc, "second-signed-assertion")?;
    let (assertion, signature) = signed_assertion_and_signature(&doc, "second-signed-assertion")?;
    let id = crate::xml::new_id();
    let mut edits = identity_edits(assertion, &original, name_id);
    edits.push(id_edit(assertion, &id)?);
    if let Some(attr) = signature
        .descendants()
        .find(|n| n.has_tag_name((NS_DS, "Reference")))
        .and_then(|r| r.attribute_node("URI"))
    {
        edits.push((attr.range_value(), format!("#{id}")));
    }
    let second = super::copy(xml, assertion, edits);
    let at = assertion.range().end;
    resign_all(&splice(xml, vec![(at..at, second)]), ctx)
}

/// [`crate::plan::Tamper::SchemaInvalid`].
pub(super) fn schema_invalid(
    xml: &str,
    shape: SchemaShape,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let doc = parse(xml)?;
    let assertion = signed_assertion(&doc)?;
    let child = |parent: Node<'_, '_>, ns: &str, name: &str| {
        parent
            .children()
            .find(|n| n.has_tag_name((ns, name)))
            .map(|n| n.range())
            .ok_or_else(|| {
                PipelineError::Plan(format!(
                    "tamper `schema-invalid`: the response has no {name} to move"
                ))
            })
    };
    let edits: Vec<Edit> = match shape {
        SchemaShape::SubjectBeforeIssuer => {
            let issuer = child(assertion, NS_SAML, "Issuer")?;
            let subject = child(assertion, NS_SAML, "Subject")?;
            vec![
                (issuer.start..issuer.start, xml[subject.clone()].to_owned()),
                (subject, String::new()),
            ]
        }
        SchemaShape::UnknownAssertionChild => {
            let issuer = child(assertion, NS_SAML, "Issuer")?;
            let prefix = assertion
                .lookup_prefix(NS_SAML)
                .map(|p| format!("{p}:"))
                .unwrap_or_default();
            vec![(
                issuer.end..issuer.end,
                format!("<{prefix}Extension>unknown</{prefix}Extension>"),
            )]
        }
        SchemaShape::StatusAfterAssertion => {
            let status = child(doc.root_element(), NS_SAMLP, "Status")?;
            let end = assertion.range().end;
            vec![
                (end..end, xml[status.clone()].to_owned()),
                (status, String::new()),
            ]
        }
    };
    resign_all(&splice(xml, edits), ctx)
}
