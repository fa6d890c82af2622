//! Tampering: edits of the signed, serialized response. One function per variant.
//!
//! Nodes are located with roxmltree, which reports byte ranges into the text, and the text is
//! spliced at those ranges, so everything the edit does not touch stays byte-for-byte as signed.

use std::ops::Range;

use roxmltree::{Document, Node};

use super::PipelineError;
use crate::plan::{SignatureSelector, Tamper};
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_text, strict_options};

/// Applies one tampering to the serialized response.
pub(crate) fn apply(tamper: &Tamper, xml: &str) -> Result<String, PipelineError> {
    let doc = Document::parse_with_options(xml, strict_options())
        .map_err(|e| PipelineError::Plan(format!("failed to parse the signed response: {e}")))?;
    let edits = match tamper {
        Tamper::RemoveSignature { which } => remove_signature(&doc, *which)?,
        Tamper::EditNameId { value } => edit_name_id(&doc, value)?,
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
