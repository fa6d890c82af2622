//! Small helpers for writing and reading XML text.

use std::fmt::Write as _;

/// SAML 2.0 protocol namespace.
pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace.
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 metadata namespace.
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML Signature namespace.
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Schema instance namespace.
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// XML Schema namespace.
pub const NS_XS: &str = "http://www.w3.org/2001/XMLSchema";

/// Escapes text content.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value for double quotes.
pub fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
    out
}

/// A new random xs:ID value: `_` followed by 32 hex digits.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut id = String::with_capacity(33);
    id.push('_');
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    id
}

/// Removes a leading `<?xml ...?>` declaration and the whitespace after it.
pub fn strip_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    if let Some(rest) = trimmed.strip_prefix("<?xml")
        && let Some(end) = rest.find("?>")
    {
        return rest[end + 2..].trim_start();
    }
    trimmed
}

/// Whether the text carries a document type declaration anywhere before its root element.
///
/// Used to refuse DTDs with a clear reason before any parser sees them.
pub fn has_doctype(xml: &str) -> bool {
    xml.contains("<!DOCTYPE") || xml.contains("<!doctype")
}

/// Parsing options that refuse DTDs and bound nesting: for every document we read.
pub fn strict_options<'input>() -> roxmltree::ParsingOptions<'input> {
    roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
        entity_resolver: None,
    }
}

/// Pretty-prints XML one element per line, indented, keeping every tag byte-for-byte as it was
/// (attributes, prefixes, escapes), so a diff of two pretty-printed documents shows exactly the
/// changed field. Elements whose only child is text stay on one line. Text that is not XML is
/// returned unchanged.
pub fn pretty(xml: &str) -> String {
    let Ok(doc) = roxmltree::Document::parse_with_options(xml, strict_options()) else {
        return xml.to_owned();
    };
    let mut out = String::with_capacity(xml.len() * 2);
    for node in doc.root().children() {
        pretty_node(node, 0, xml, &mut out);
    }
    out
}

fn pretty_node(node: roxmltree::Node<'_, '_>, depth: usize, src: &str, out: &mut String) {
    fn line(out: &mut String, depth: usize, text: &str) {
        out.push_str(&"  ".repeat(depth));
        out.push_str(text);
        out.push('\n');
    }
    let range = node.range();
    if node.is_text() {
        let text = src[range].trim();
        if !text.is_empty() {
            line(out, depth, text);
        }
        return;
    }
    if !node.is_element() {
        line(out, depth, &src[range]);
        return;
    }
    let children: Vec<_> = node.children().collect();
    match (children.first(), children.last()) {
        (Some(first), Some(last)) if !(children.len() == 1 && first.is_text()) => {
            line(out, depth, &src[range.start..first.range().start]);
            for child in &children {
                pretty_node(*child, depth + 1, src, out);
            }
            line(out, depth, &src[last.range().end..range.end]);
        }
        _ => line(out, depth, &src[range]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(escape_text("a<b&c>"), "a&lt;b&amp;c&gt;");
        assert_eq!(escape_attr("\"x\"\n"), "&quot;x&quot;&#10;");
    }

    #[test]
    fn ids_are_ncnames_and_unique() {
        let a = new_id();
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('_'));
        assert_ne!(a, new_id());
    }

    #[test]
    fn pretty_printing_keeps_tags_verbatim() {
        let xml = r#"<a xmlns:x="u" k='v'><x:b>t &amp; u</x:b><c/><!--n--></a>"#;
        assert_eq!(
            pretty(xml),
            "<a xmlns:x=\"u\" k='v'>\n  <x:b>t &amp; u</x:b>\n  <c/>\n  <!--n-->\n</a>\n"
        );
        assert_eq!(pretty("not xml"), "not xml");
    }

    #[test]
    fn the_declaration_is_stripped() {
        assert_eq!(strip_declaration("<?xml version=\"1.0\"?>\n<a/>"), "<a/>");
        assert_eq!(strip_declaration("<a/>"), "<a/>");
    }
}
