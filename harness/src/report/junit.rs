//! `junit.xml`: failures as `<failure>`, infrastructure errors as `<error>`, skips and waivers
//! as `<skipped>`, warnings as passing cases with a note in `<system-out>`.

use std::fmt::Write as _;

use super::model::{Report, ResultEntry};
use crate::verdict::Status;

/// Escapes text for XML 1.0 (attribute and text contexts), dropping characters XML forbids.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn details(r: &ResultEntry) -> String {
    format!(
        "expected: {}\nobserved: {}\nreason: {}\nspec: {}",
        r.expected,
        r.observed,
        r.reason,
        r.spec.join("; ")
    )
}

/// Renders the JUnit XML.
pub fn render_junit(report: &Report) -> String {
    let s = &report.summary;
    let seconds = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"saml-harness\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        s.total,
        s.failed,
        s.errored,
        s.skipped + s.waived,
        seconds(report.duration_ms)
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        esc(&report.target.name),
        s.total,
        s.failed,
        s.errored,
        s.skipped + s.waived,
        seconds(report.duration_ms),
        esc(&report.started_at)
    );
    for r in &report.results {
        let (family, name) = r.id.split_once('/').unwrap_or(("", r.id.as_str()));
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            esc(family),
            esc(name),
            seconds(r.duration_ms)
        );
        match r.status {
            Status::Pass => out.push_str("/>\n"),
            Status::Fail => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    esc(&r.reason),
                    r.severity.map(|s| s.as_str()).unwrap_or("fail"),
                    esc(&details(r))
                );
            }
            Status::Error => {
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                    esc(&r.reason),
                    esc(&details(r))
                );
            }
            Status::Skip | Status::Waived => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(&r.reason)
                );
            }
            Status::Warn => {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                    esc(&details(r))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_drops_illegal_characters() {
        assert_eq!(esc("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
