//! Exclusive XML canonicalization without comments (`http://www.w3.org/2001/10/xml-exc-c14n#`)
//! of one element subtree, optionally leaving out one descendant (the enveloped signature).
//!
//! xmlsec signs the mock IdP's honest responses. This canonicalizer exists for the attacks that
//! need a digest or a signature xmlsec will not make: the digest of a forged assertion (a second
//! SignedInfo, a comment in DigestValue, a stray DigestValue), a SignedInfo re-signed after its
//! transforms or algorithms were changed (HMAC key confusion, rsa-md5, an XSLT transform).
//! The tests check it against xmlsec: the digest of a signed assertion equals the DigestValue
//! xmlsec wrote, and SignedInfo re-signed with the same RSA key gives the same SignatureValue.
//!
//! It implements the parts of the recommendation our documents use: namespace rendering by
//! visible utilization, attribute order, text and attribute escaping, processing instructions,
//! and `xmlns=""` where the default namespace is undeclared. It takes no InclusiveNamespaces
//! prefix list.

use std::collections::BTreeMap;

use roxmltree::{Node, NodeType};

/// The canonical form of `apex` and its descendants, leaving out `exclude` (and its subtree)
/// when given.
pub fn canonicalize(xml: &str, apex: Node<'_, '_>, exclude: Option<Node<'_, '_>>) -> String {
    let mut out = String::new();
    let mut rendered: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    element(xml, apex, exclude, &mut rendered, &mut out);
    out
}

fn element(
    xml: &str,
    node: Node<'_, '_>,
    exclude: Option<Node<'_, '_>>,
    rendered: &mut Vec<BTreeMap<String, String>>,
    out: &mut String,
) {
    let qname = element_qname(xml, node);
    let (prefix, _) = split_qname(qname);

    // The namespaces this element visibly uses: its own prefix (or the default namespace) and
    // the prefixes of its attributes.
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    let element_ns = node.tag_name().namespace().unwrap_or("");
    used.insert(prefix.to_owned(), element_ns.to_owned());
    for attr in node.attributes() {
        if let Some(ns) = attr.namespace() {
            let attr_qname = &xml[attr.range_qname()];
            let (attr_prefix, _) = split_qname(attr_qname);
            if !attr_prefix.is_empty() && attr_prefix != "xml" {
                used.insert(attr_prefix.to_owned(), ns.to_owned());
            }
        }
    }
    let in_output = |p: &str, stack: &[BTreeMap<String, String>]| -> Option<String> {
        stack.iter().rev().find_map(|m| m.get(p).cloned())
    };
    let mut here = BTreeMap::new();
    for (p, uri) in &used {
        let current = in_output(p, rendered);
        let needed = if p.is_empty() {
            // The default namespace: render it when it differs from what the output has; an
            // empty one only when a non-empty one is in effect.
            current.as_deref().unwrap_or("") != uri
        } else {
            current.as_deref() != Some(uri.as_str())
        };
        if needed {
            here.insert(p.clone(), uri.clone());
        }
    }

    out.push('<');
    out.push_str(qname);
    for (p, uri) in &here {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        out.push_str(&escape_attr(uri));
        out.push('"');
    }
    let mut attrs: Vec<(&str, &str, &str, &str)> = node
        .attributes()
        .map(|a| {
            (
                a.namespace().unwrap_or(""),
                a.name(),
                &xml[a.range_qname()],
                a.value(),
            )
        })
        .collect();
    attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (_, _, name, value) in attrs {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape_attr(value));
        out.push('"');
    }
    out.push('>');

    rendered.push(here);
    for child in node.children() {
        if exclude.is_some_and(|x| x == child) {
            continue;
        }
        match child.node_type() {
            NodeType::Element => element(xml, child, exclude, rendered, out),
            NodeType::Text => out.push_str(&escape_text(child.text().unwrap_or_default())),
            NodeType::PI => {
                if let Some(pi) = child.pi() {
                    out.push_str("<?");
                    out.push_str(pi.target);
                    if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
                        out.push(' ');
                        out.push_str(value);
                    }
                    out.push_str("?>");
                }
            }
            NodeType::Comment | NodeType::Root => {}
        }
    }
    rendered.pop();

    out.push_str("</");
    out.push_str(qname);
    out.push('>');
}

/// The element's qualified name as written in the start tag.
fn element_qname<'x>(xml: &'x str, node: Node<'_, '_>) -> &'x str {
    let start = &xml[node.range().start + 1..];
    let end = start
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(start.len());
    &start[..end]
}

fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((prefix, local)) => (prefix, local),
        None => ("", qname),
    }
}

fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
}

fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).expect("xml");
        canonicalize(xml, doc.root_element(), None)
    }

    #[test]
    fn unused_namespaces_are_dropped_and_used_ones_rendered_once() {
        assert_eq!(
            c14n(
                r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><a:x b:k="1"/><c:y/></a:r>"#
            ),
            r#"<a:r xmlns:a="urn:a"><a:x xmlns:b="urn:b" b:k="1"></a:x><c:y xmlns:c="urn:c"></c:y></a:r>"#
        );
    }

    #[test]
    fn attributes_sort_by_namespace_then_name_and_escape() {
        assert_eq!(
            c14n("<r xmlns:z=\"urn:a\" z:b=\"1\" b=\"x&quot;&#9;\" a=\"&lt;\"/>"),
            "<r xmlns:z=\"urn:a\" a=\"&lt;\" b=\"x&quot;&#x9;\" z:b=\"1\"></r>"
        );
    }

    #[test]
    fn comments_go_cdata_becomes_text_and_pis_stay() {
        assert_eq!(
            c14n("<r>a<!--c-->b<![CDATA[<&>]]><?p d?></r>"),
            "<r>ab&lt;&amp;&gt;<?p d?></r>"
        );
    }

    #[test]
    fn the_default_namespace_is_undeclared_for_an_element_in_no_namespace() {
        assert_eq!(
            c14n(r#"<r xmlns="urn:d"><x xmlns=""/></r>"#),
            r#"<r xmlns="urn:d"><x xmlns=""></x></r>"#
        );
    }

    #[test]
    fn an_excluded_subtree_is_left_out() {
        let xml = "<r><s><t/></s><u/></r>";
        let doc = roxmltree::Document::parse(xml).expect("xml");
        let s = doc.descendants().find(|n| n.has_tag_name("s")).expect("s");
        assert_eq!(
            canonicalize(xml, doc.root_element(), Some(s)),
            "<r><u></u></r>"
        );
    }
}
