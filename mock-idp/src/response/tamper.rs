//! Tampering: edits of the signed, serialized response. One function per variant.
//!
//! Nodes are located with roxmltree, which reports byte ranges into the text, and the text is
//! spliced at those ranges, so everything the edit does not touch stays byte-for-byte as signed.

use std::ops::Range;

use roxmltree::{Document, Node};

use super::PipelineError;
use crate::plan::{CopyPosition, SignatureSelector, Tamper};
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_text, strict_options};

/// Applies one tampering to the serialized response.
pub(crate) fn apply(tamper: &Tamper, xml: &str) -> Result<String, PipelineError> {
    match tamper {
        Tamper::Doctype => return Ok(doctype(xml)),
        Tamper::TrailingRoot => return Ok(trailing_root(xml)),
        _ => {}
    }
    let doc = Document::parse_with_options(xml, strict_options())
        .map_err(|e| PipelineError::Plan(format!("failed to parse the signed response: {e}")))?;
    let edits = match tamper {
        Tamper::RemoveSignature { which } => remove_signature(&doc, *which)?,
        Tamper::EditNameId { value } => edit_name_id(&doc, value)?,
        Tamper::CommentInNameId { after } => comment_in_name_id(&doc, after)?,
        Tamper::InsertAssertionCopy {
            position,
            name_id,
            keep_id,
        } => insert_assertion_copy(&doc, xml, *position, name_id.as_deref(), *keep_id)?,
        Tamper::ReferenceUri { which, value } => reference_uri(&doc, *which, value)?,
        Tamper::Doctype | Tamper::TrailingRoot => Vec::new(),
    };
    Ok(splice(xml, edits))
}

type Edit = (Range<usize>, String);

fn remove_signature(
    doc: &Document<'_>,
    which: SignatureSelector,
) -> Result<Vec<Edit>, PipelineError> {
    let edits: Vec<Edit> = doc
        .descendants()
        .filter(|n| n.has_tag_name((NS_DS, "Signature")))
        .filter(|sig| {
            let parent = sig.parent_element();
            match which {
                SignatureSelector::All => true,
                SignatureSelector::Response => {
                    parent.is_some_and(|p| p.has_tag_name((NS_SAMLP, "Response")))
                }
                SignatureSelector::Assertion => {
                    parent.is_some_and(|p| p.has_tag_name((NS_SAML, "Assertion")))
                }
            }
        })
        .map(|sig| (sig.range(), String::new()))
        .collect();
    if edits.is_empty() && which != SignatureSelector::All {
        return Err(PipelineError::Plan(format!(
            "tamper `remove-signature` ({which:?}): the response has no such signature; check the signing layout"
        )));
    }
    Ok(edits)
}

fn edit_name_id(doc: &Document<'_>, value: &str) -> Result<Vec<Edit>, PipelineError> {
    let name_id = doc
        .descendants()
        .find(|n| n.has_tag_name((NS_SAML, "NameID")) && in_subject(*n))
        .ok_or_else(|| {
            PipelineError::Plan("tamper `edit-name-id`: the response has no NameID".into())
        })?;
    let text = name_id
        .first_child()
        .filter(Node::is_text)
        .ok_or_else(|| PipelineError::Plan("tamper `edit-name-id`: the NameID is empty".into()))?;
    Ok(vec![(text.range(), escape_text(value))])
}

fn name_id_text<'a, 'input>(
    doc: &'a Document<'input>,
    kind: &str,
) -> Result<Node<'a, 'input>, PipelineError> {
    doc.descendants()
        .find(|n| n.has_tag_name((NS_SAML, "NameID")) && in_subject(*n))
        .and_then(|n| n.first_child().filter(Node::is_text))
        .ok_or_else(|| {
            PipelineError::Plan(format!("tamper `{kind}`: the response has no NameID text"))
        })
}

fn comment_in_name_id(doc: &Document<'_>, after: &str) -> Result<Vec<Edit>, PipelineError> {
    let text = name_id_text(doc, "comment-in-name-id")?;
    let value = text.text().unwrap_or_default();
    if !value.starts_with(after) || after.is_empty() {
        return Err(PipelineError::Plan(format!(
            "tamper `comment-in-name-id`: the NameID {value:?} does not start with {after:?}"
        )));
    }
    let at = text.range().start + escape_text(after).len();
    Ok(vec![(at..at, "<!---->".to_owned())])
}

fn signed_assertion<'a, 'input>(
    doc: &'a Document<'input>,
) -> Result<Node<'a, 'input>, PipelineError> {
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name((NS_SAML, "Assertion")))
        .ok_or_else(|| PipelineError::Plan("tamper: the response has no assertion".into()))
}

fn insert_assertion_copy(
    doc: &Document<'_>,
    xml: &str,
    position: CopyPosition,
    name_id: Option<&str>,
    keep_id: bool,
) -> Result<Vec<Edit>, PipelineError> {
    let assertion = signed_assertion(doc)?;
    let range = assertion.range();
    let mut inner: Vec<Edit> = Vec::new();
    for sig in assertion
        .children()
        .filter(|n| n.has_tag_name((NS_DS, "Signature")))
    {
        inner.push((sig.range(), String::new()));
    }
    if let Some(value) = name_id {
        let text = name_id_text(doc, "insert-assertion-copy")?;
        if range.contains(&text.range().start) {
            inner.push((text.range(), escape_text(value)));
        }
    }
    let mut copy = xml[range.clone()].to_owned();
    let shifted: Vec<Edit> = inner
        .into_iter()
        .map(|(r, s)| ((r.start - range.start)..(r.end - range.start), s))
        .collect();
    copy = splice(&copy, shifted);
    let old_id = assertion.attribute("ID").unwrap_or_default();
    if !keep_id {
        copy = copy.replacen(
            &format!("ID=\"{old_id}\""),
            &format!("ID=\"{}\"", crate::xml::new_id()),
            1,
        );
    }
    let at = match position {
        CopyPosition::Before => range.start,
        CopyPosition::After => range.end,
    };
    Ok(vec![(at..at, copy)])
}

fn reference_uri(
    doc: &Document<'_>,
    which: SignatureSelector,
    value: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let mut edits = Vec::new();
    for sig in doc
        .descendants()
        .filter(|n| n.has_tag_name((NS_DS, "Signature")))
    {
        let parent = sig.parent_element();
        let selected = match which {
            SignatureSelector::All => true,
            SignatureSelector::Response => {
                parent.is_some_and(|p| p.has_tag_name((NS_SAMLP, "Response")))
            }
            SignatureSelector::Assertion => {
                parent.is_some_and(|p| p.has_tag_name((NS_SAML, "Assertion")))
            }
        };
        if !selected {
            continue;
        }
        if let Some(reference) = sig
            .descendants()
            .find(|n| n.has_tag_name((NS_DS, "Reference")))
            && let Some(attr) = reference.attribute_node("URI")
        {
            edits.push((attr.range_value(), crate::xml::escape_attr(value)));
        }
    }
    if edits.is_empty() {
        return Err(PipelineError::Plan(format!(
            "tamper `reference-uri` ({which:?}): the response has no such signature; check the signing layout"
        )));
    }
    Ok(edits)
}

/// The DOCTYPE goes after the XML declaration (if any), before the root.
fn doctype(xml: &str) -> String {
    let dtd = "<!DOCTYPE samlp:Response [<!ENTITY harness \"harness\">]>";
    match xml.find("?>").filter(|_| xml.starts_with("<?xml")) {
        Some(end) => format!("{}{dtd}{}", &xml[..end + 2], &xml[end + 2..]),
        None => format!("{dtd}{xml}"),
    }
}

fn trailing_root(xml: &str) -> String {
    format!(
        "{xml}<samlp:Response xmlns:samlp=\"{NS_SAMLP}\" ID=\"{}\" Version=\"2.0\"/>",
        crate::xml::new_id()
    )
}

fn in_subject(node: Node<'_, '_>) -> bool {
    node.parent_element()
        .is_some_and(|p| p.has_tag_name((NS_SAML, "Subject")))
}

/// Applies non-overlapping edits, last first so earlier ranges stay valid.
fn splice(xml: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = xml.to_owned();
    for (range, replacement) in edits {
        out.replace_range(range, &replacement);
    }
    out
}
