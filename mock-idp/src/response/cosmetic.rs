//! Cosmetic changes: edits of the rendered text *before* signing that change nothing a SAML
//! consumer may rely on (whitespace between elements, namespace prefixes, a foreign attribute
//! where the schema allows one, attribute order). A conformant SP treats the result exactly as
//! the plain response; the fuzzer uses them as benign noise.

use super::PipelineError;
use crate::xml::escape_attr;

/// One cosmetic change, applied to the assertion and to the response around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cosmetic {
    /// Whitespace before every start tag but the first.
    Whitespace(String),
    /// Other prefixes for the assertion and protocol namespaces.
    Prefixes {
        /// For the assertion namespace.
        saml: String,
        /// For the protocol namespace.
        samlp: String,
    },
    /// A foreign-namespace attribute on `SubjectConfirmationData`.
    ExtraAttribute(String),
    /// Every start tag's attributes in reverse order.
    ReverseAttributes,
}

/// The namespace of the extra attribute.
pub const EXTENSION_NS: &str = "urn:example:harness:extension";

impl Cosmetic {
    /// Checks the change's parameters (a plan error names what is wrong).
    pub(crate) fn check(&self) -> Result<(), PipelineError> {
        match self {
            Cosmetic::Whitespace(text) => {
                if text.is_empty() || !text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                    return Err(PipelineError::Plan(
                        "alteration `whitespace`: `text` must be non-empty XML whitespace (space, tab, CR, LF)".into(),
                    ));
                }
            }
            Cosmetic::Prefixes { saml, samlp } => {
                for (field, value) in [("saml", saml), ("samlp", samlp)] {
                    if !is_ncname(value)
                        || value.to_ascii_lowercase().starts_with("xml")
                        || matches!(value.as_str(), "ds" | "xs" | "xsi" | "fz")
                    {
                        return Err(PipelineError::Plan(format!(
                            "alteration `prefixes`: `{field}` = `{value}` must be an NCName other than ds, xs, xsi, fz and xml*"
                        )));
                    }
                }
                if saml == samlp {
                    return Err(PipelineError::Plan(
                        "alteration `prefixes`: `saml` and `samlp` must differ".into(),
                    ));
                }
            }
            Cosmetic::ExtraAttribute(value) => {
                if value.chars().any(|c| !is_xml_char(c)) {
                    return Err(PipelineError::Plan(
                        "alteration `extra-attribute`: `value` holds a character XML does not allow".into(),
                    ));
                }
            }
            Cosmetic::ReverseAttributes => {}
        }
        Ok(())
    }

    /// Applies the change to a rendered fragment (the assertion, or the response with the
    /// assertion still out of it).
    pub(crate) fn apply(&self, text: &str) -> String {
        match self {
            Cosmetic::Whitespace(ws) => whitespace(text, ws),
            Cosmetic::Prefixes { saml, samlp } => {
                let text = rename_prefix(text, "samlp", samlp);
                rename_prefix(&text, "saml", saml)
            }
            Cosmetic::ExtraAttribute(value) => extra_attribute(text, value),
            Cosmetic::ReverseAttributes => reverse_attributes(text),
        }
    }
}

/// Applies every change in order.
pub(crate) fn apply_all(cosmetics: &[Cosmetic], text: String) -> String {
    cosmetics.iter().fold(text, |t, c| c.apply(&t))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_ncname(value: &str) -> bool {
    let mut chars = value.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `<` at `i` opens a start tag.
fn starts_tag(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'<'
        && bytes
            .get(i + 1)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
}

fn whitespace(text: &str, ws: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() * 2);
    let mut last = 0;
    for i in 1..bytes.len() {
        if starts_tag(bytes, i) {
            out.push_str(&text[last..i]);
            out.push_str(ws);
            last = i;
        }
    }
    out.push_str(&text[last..]);
    out
}

fn rename_prefix(text: &str, from: &str, to: &str) -> String {
    text.replace(&format!("<{from}:"), &format!("<{to}:"))
        .replace(&format!("</{from}:"), &format!("</{to}:"))
        .replace(&format!("xmlns:{from}="), &format!("xmlns:{to}="))
}

fn extra_attribute(text: &str, value: &str) -> String {
    let Some(at) = text.find("SubjectConfirmationData") else {
        return text.to_owned();
    };
    let end = at + "SubjectConfirmationData".len();
    // A second one gets a name of its own (an attribute twice is not XML), and the namespace
    // is declared once.
    let earlier = text.matches(" fz:note").count();
    let attribute = if earlier == 0 {
        format!(
            " xmlns:fz=\"{EXTENSION_NS}\" fz:note=\"{}\"",
            escape_attr(value)
        )
    } else {
        format!(" fz:note{}=\"{}\"", earlier + 1, escape_attr(value))
    };
    format!("{}{attribute}{}", &text[..end], &text[end..])
}

/// One start tag split into its name, its attributes (raw `name="value"` text) and its end
/// (`>` or `/>`); `None` when the text at `start` is not a start tag this scanner reads.
fn scan_tag(text: &str, start: usize) -> Option<(usize, Vec<&str>, usize)> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' && bytes[i] != b'/'
    {
        i += 1;
    }
    let name_end = i;
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' | b'/' => return Some((name_end, attrs, i)),
            _ => {}
        }
        let attr_start = i;
        let eq = i + text[i..].find('=')?;
        let quote = *bytes.get(eq + 1)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let close = eq + 2 + text[eq + 2..].find(quote as char)?;
        attrs.push(&text[attr_start..=close]);
        i = close + 1;
    }
}

fn reverse_attributes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if starts_tag(bytes, i)
            && let Some((name_end, attrs, end)) = scan_tag(text, i)
        {
            if attrs.len() > 1 {
                out.push_str(&text[last..name_end]);
                for attr in attrs.iter().rev() {
                    out.push(' ');
                    out.push_str(attr);
                }
                last = end;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_goes_before_start_tags_only() {
        assert_eq!(
            whitespace("<a><b>x</b><c/></a>", "\n "),
            "<a>\n <b>x</b>\n <c/></a>"
        );
    }

    #[test]
    fn prefixes_are_renamed_in_tags_and_declarations_only() {
        let text = r#"<samlp:R xmlns:samlp="p" xmlns:saml="a"><saml:I>saml:x</saml:I></samlp:R>"#;
        assert_eq!(
            Cosmetic::Prefixes {
                saml: "s2".into(),
                samlp: "p2".into()
            }
            .apply(text),
            r#"<p2:R xmlns:p2="p" xmlns:s2="a"><s2:I>saml:x</s2:I></p2:R>"#
        );
    }

    #[test]
    fn attributes_are_reversed_with_quotes_respected() {
        assert_eq!(
            reverse_attributes(r#"<a x="1>" y='2'><b z="3"/><c p="a b" q="c"/></a>"#),
            r#"<a y='2' x="1>"><b z="3"/><c q="c" p="a b"/></a>"#
        );
    }

    #[test]
    fn a_second_extra_attribute_gets_a_name_of_its_own() {
        let once = extra_attribute(
            r#"<r xmlns:saml="urn:a"><saml:SubjectConfirmationData Recipient="r"/></r>"#,
            "one",
        );
        let twice = extra_attribute(&once, "two \" <");
        let doc = roxmltree::Document::parse(&twice).expect("still XML");
        let data = doc
            .descendants()
            .find(|n| n.tag_name().name() == "SubjectConfirmationData")
            .expect("the element");
        assert_eq!(data.attribute((EXTENSION_NS, "note")), Some("one"));
        assert_eq!(data.attribute((EXTENSION_NS, "note2")), Some("two \" <"));
    }

    #[test]
    fn the_extra_attribute_lands_on_subject_confirmation_data() {
        let out = extra_attribute(
            r#"<saml:SubjectConfirmationData Recipient="r"/>"#,
            "é \"q\"",
        );
        assert_eq!(
            out,
            format!(
                r#"<saml:SubjectConfirmationData xmlns:fz="{EXTENSION_NS}" fz:note="é &quot;q&quot;" Recipient="r"/>"#
            )
        );
    }

    #[test]
    fn bad_parameters_are_plan_errors() {
        assert!(Cosmetic::Whitespace("x".into()).check().is_err());
        assert!(Cosmetic::Whitespace(String::new()).check().is_err());
        assert!(
            Cosmetic::Prefixes {
                saml: "ds".into(),
                samlp: "p".into()
            }
            .check()
            .is_err()
        );
        assert!(Cosmetic::ExtraAttribute("\u{0}".into()).check().is_err());
        assert!(Cosmetic::Whitespace("\n\t".into()).check().is_ok());
    }
}
