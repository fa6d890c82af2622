//! `junit.xml`, as CI systems read it: one `<testsuite>` named after the target, one
//! `<testcase classname="FAMILY" name="REST-OF-ID">` per scenario. A failure is a
//! `<failure type="SEVERITY">`, a harness or infrastructure error an `<error>`, a skip a
//! `<skipped>`, a waived failure a `<skipped message="waived: ...">`; a warning passes, with a
//! note in `<system-out>`. Values are not redacted: this is the record of one run.

use std::fmt::Write as _;

use super::model::{Report, ResultEntry};
use crate::verdict::Status;

/// The name of the JUnit report in a report folder.
pub const JUNIT_XML: &str = "junit.xml";

/// Whether XML 1.0 allows the character at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes text content; drops characters XML 1.0 forbids.
fn text(value: &str) -> String {
    escape(value, false)
}

/// Escapes an attribute value (in double quotes); line breaks and tabs become character
/// references so that parsers do not fold them into spaces. Drops forbidden characters.
fn attr(value: &str) -> String {
    escape(value, true)
}

fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `family` and the rest of an id; an id without `/` is its own family.
fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, id))
}

/// The body of a failure, an error or a note: everything a reader needs without the JSON.
fn details(r: &ResultEntry) -> String {
    let mut out = format!(
        "{}\nexpected: {}\nobserved: {}\nreason: {}",
        r.title, r.expected, r.observed, r.reason
    );
    if !r.spec.is_empty() {
        let _ = write!(out, "\nspec: {}", r.spec.join("; "));
    }
    if let Some(severity) = r.severity {
        let _ = write!(out, "\nseverity: {}", severity.as_str());
    }
    if let Some(why) = &r.severity_reason {
        let _ = write!(out, " ({why})");
    }
    if let Some(control) = &r.control {
        let _ = write!(
            out,
            "\ncontrol: {} ({}: {})",
            control.name,
            if control.reached {
                "reached"
            } else {
                "not reached"
            },
            control.observed
        );
    }
    out
}

/// Renders `junit.xml`.
pub fn render_junit(report: &Report) -> String {
    let s = &report.summary;
    let counts = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
        s.total,
        s.failed,
        s.errored,
        s.skipped + s.inconclusive + s.waived,
        seconds(report.duration_ms)
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"saml-harness\" {counts}>");
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" {counts} timestamp=\"{}\">",
        attr(&report.target.name),
        attr(&report.started_at)
    );
    if let Some(description) = &report.target.description {
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"description\" value=\"{}\"/>\n    </properties>",
            attr(description)
        );
    }
    for r in &report.results {
        let (family, name) = split_id(&r.id);
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            attr(family),
            attr(name),
            seconds(r.duration_ms)
        );
        let body = match r.status {
            Status::Pass => None,
            Status::Fail => Some(format!(
                "<failure message=\"{}\" type=\"{}\">{}</failure>",
                attr(&r.reason),
                r.severity.map_or("fail", |s| s.as_str()),
                text(&details(r))
            )),
            Status::Error => Some(format!(
                "<error message=\"{}\" type=\"error\">{}</error>",
                attr(&r.reason),
                text(&details(r))
            )),
            Status::Skip => Some(format!("<skipped message=\"{}\"/>", attr(&r.reason))),
            Status::Inconclusive => Some(format!(
                "<skipped message=\"{}\"/>\n      <system-out>{}</system-out>",
                attr(&format!("inconclusive: {}", r.reason)),
                text(&details(r))
            )),
            Status::Waived => {
                let message = if r.reason.starts_with("waived:") {
                    r.reason.clone()
                } else {
                    format!("waived: {}", r.reason)
                };
                Some(format!(
                    "<skipped message=\"{}\"/>\n      <system-out>{}</system-out>",
                    attr(&message),
                    text(&details(r))
                ))
            }
            Status::Warn => Some(format!(
                "<system-out>warning: {}</system-out>",
                text(&details(r))
            )),
        };
        match body {
            None => out.push_str("/>\n"),
            Some(body) => {
                let _ = writeln!(out, ">\n      {body}\n    </testcase>");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn junit_xml_is_a_stable_snapshot() {
        insta::assert_snapshot!("junit_xml", render_junit(&fixtures::report()));
    }

    #[test]
    fn junit_xml_parses_and_its_counts_match() {
        let report = fixtures::report();
        let xml = render_junit(&report);
        let doc = roxmltree::Document::parse(&xml).expect("junit.xml is well-formed XML");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("a testsuite");
        let attribute = |name: &str| suite.attribute(name).unwrap_or_default().to_owned();
        assert_eq!(attribute("name"), "example-sp");
        assert_eq!(attribute("tests"), "8");
        assert_eq!(attribute("time"), "1.234");
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), report.results.len());
        let with = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
                .count()
                .to_string()
        };
        assert_eq!(attribute("failures"), with("failure"));
        assert_eq!(attribute("errors"), with("error"));
        assert_eq!(attribute("skipped"), with("skipped"));
        assert_eq!(
            (with("failure"), with("error"), with("skipped")),
            ("1".to_owned(), "1".to_owned(), "3".to_owned())
        );

        let case = |classname: &str, name: &str| {
            cases
                .iter()
                .find(|c| {
                    c.attribute("classname") == Some(classname) && c.attribute("name") == Some(name)
                })
                .copied()
                .unwrap_or_else(|| panic!("no testcase {classname} {name}"))
        };
        let failure = case("signature", "unsigned-response")
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert_eq!(failure.attribute("type"), Some("critical"));
        let body = failure.text().unwrap_or_default();
        assert!(body.contains("expected: refused"), "{body}");
        assert!(
            body.contains("observed: signed in as mallory@corp.example"),
            "{body}"
        );
        assert!(
            body.contains("spec: SAML Profiles §4.1.4.3; saml2int SDP-SP08"),
            "{body}"
        );

        let waived = case("xsw", "xsw3-assertion-wrapped")
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .expect("skipped");
        assert_eq!(
            waived.attribute("message"),
            Some("waived: wrapping is left to the application | tracked in ISSUE-12")
        );

        let error = case("xml", "doctype-entities")
            .children()
            .find(|n| n.has_tag_name("error"))
            .expect("an error");
        let message = error.attribute("message").unwrap_or_default();
        assert!(
            message.contains("<in time> & the digest"),
            "unescaped round trip: {message}"
        );
        assert!(!message.contains('\u{1}'), "illegal characters dropped");

        let warn = case("freshness", "issue-instant-future");
        assert!(warn.children().any(|n| n.has_tag_name("system-out")));
        assert!(!warn.children().any(|n| n.has_tag_name("failure")));
    }

    #[test]
    fn escaping_covers_both_contexts_and_drops_illegal_characters() {
        assert_eq!(text("a<b>&\"'\u{1}\u{FFFE}c\nd"), "a&lt;b&gt;&amp;\"'c\nd");
        assert_eq!(
            attr("a<b>&\"'\u{0}c\n\td"),
            "a&lt;b&gt;&amp;&quot;'c&#10;&#9;d"
        );
        assert_eq!(text("]]>"), "]]&gt;");
        assert_eq!(text("emoji 🎉 kept"), "emoji 🎉 kept");
    }

    #[test]
    fn attribute_line_breaks_survive_parsing() {
        let xml = format!("<a b=\"{}\"/>", attr("one\ntwo"));
        let doc = roxmltree::Document::parse(&xml).expect("parses");
        assert_eq!(doc.root_element().attribute("b"), Some("one\ntwo"));
    }

    #[test]
    fn ids_split_into_family_and_name() {
        assert_eq!(split_id("signature/xsw/both"), ("signature", "xsw/both"));
        assert_eq!(split_id("lonely"), ("lonely", "lonely"));
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
