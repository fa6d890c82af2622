//! `junit.xml`, as CI systems read it: one `<testsuite>` named after the target, one
//! `<testcase classname="FAMILY" name="REST-OF-ID">` per scenario. A failure is a
//! `<failure type="SEVERITY">`, a harness or infrastructure error an `<error>`, a skip a
//! `<skipped>`, an inconclusive scenario a `<skipped message="inconclusive: ...">`, a waived
//! failure a `<skipped message="waived: ...">`; a warning passes, with a note in
//! `<system-out>`. Written with quick-junit (nextest's serializer), which escapes text and drops
//! characters XML 1.0 forbids. Values are not redacted: this is the record of one run.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::model::{Report, ResultEntry};
use crate::verdict::Status;

/// The name of the JUnit report in a report folder.
pub const JUNIT_XML: &str = "junit.xml";

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
    let mut suite = TestSuite::new(report.target.name.as_str());
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        suite.set_timestamp(at);
    }
    suite.set_time(Duration::from_millis(report.duration_ms));
    if let Some(description) = &report.target.description {
        suite.add_property(Property::new("description", description.as_str()));
    }
    for r in &report.results {
        let (family, name) = split_id(&r.id);
        let (status, out) = match r.status {
            Status::Pass => (TestCaseStatus::success(), None),
            Status::Warn => (
                TestCaseStatus::success(),
                Some(format!("warning: {}", details(r))),
            ),
            Status::Fail => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(r.reason.as_str())
                    .set_type(r.severity.map_or("fail", |s| s.as_str()))
                    .set_description(details(r));
                (status, None)
            }
            Status::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(r.reason.as_str())
                    .set_type("error")
                    .set_description(details(r));
                (status, None)
            }
            Status::Skip => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(r.reason.as_str());
                (status, None)
            }
            Status::Inconclusive => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("inconclusive: {}", r.reason));
                (status, Some(details(r)))
            }
            Status::Waived => {
                let message = if r.reason.starts_with("waived:") {
                    r.reason.clone()
                } else {
                    format!("waived: {}", r.reason)
                };
                let mut status = TestCaseStatus::skipped();
                status.set_message(message);
                (status, Some(details(r)))
            }
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(family)
            .set_time(Duration::from_millis(r.duration_ms));
        if let Some(out) = out {
            case.set_system_out(out);
        }
        suite.add_test_case(case);
    }
    let mut junit = quick_junit::Report::new("saml-harness");
    junit.set_time(Duration::from_millis(report.duration_ms));
    junit.add_test_suite(suite);
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- junit.xml could not be written: {e} -->\n"))
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
    fn ids_split_into_family_and_name() {
        assert_eq!(split_id("signature/xsw/both"), ("signature", "xsw/both"));
        assert_eq!(split_id("lonely"), ("lonely", "lonely"));
    }
}
