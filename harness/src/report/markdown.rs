//! `report.md`: a stable snapshot, meant to be committed and diffed. Nothing run-specific
//! survives: durations and timestamps are left out, and every free-text value goes through
//! [`normalize`].
//!
//! Layout: the title with the target's name, its description, the counts, the SP profile (and
//! where it contradicts the target file), the stale waivers, a table of everything that did
//! not pass (id, status, severity, expected, observed, reason), the controls, then a table of
//! every scenario (id, level, status, expected, observed). Rows in id order.

use std::fmt::Write as _;

use super::model::Report;
use super::normalize::normalize;
use crate::verdict::Status;

/// The name of the Markdown report in a report folder.
pub const REPORT_MD: &str = "report.md";

/// A table cell: normalized, control characters dropped, white space (line breaks too)
/// folded into single spaces, `|` and `<` escaped (a renderer would take `<b>` for HTML).
fn cell(text: &str) -> String {
    let normalized: String = normalize(text)
        .chars()
        .filter(|&c| !c.is_control() || c.is_whitespace())
        .collect();
    normalized
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
        .replace('<', "\\<")
}

/// A scenario id as code, in a table.
fn code(id: &str) -> String {
    format!("`{}`", id.replace('|', "\\|").replace(['\r', '\n'], " "))
}

/// Renders `report.md`.
pub fn render_markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# SAML Harness report: {}\n",
        line(&report.target.name)
    );
    if let Some(description) = &report.target.description {
        let _ = writeln!(out, "{}\n", line(&normalize(description)));
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "**Interrupted:** the run was stopped before it finished; the scenarios that did not finish are listed as errors (`not run`).\n"
        );
    }
    let _ = writeln!(
        out,
        "| total | passed | failed | warned | skipped | inconclusive | errored | waived |\n\
         |---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        s.total, s.passed, s.failed, s.warned, s.skipped, s.inconclusive, s.errored, s.waived
    );

    if let Some(profile) = &report.profile {
        render_profile(&mut out, profile);
    }

    if !s.stale_waivers.is_empty() {
        let _ = writeln!(
            out,
            "## Stale waivers\n\n\
             No failure needs these any more: remove them from the waiver file.\n\n\
             | waiver | reason | matches (none failing) |\n|---|---|---|"
        );
        for stale in &s.stale_waivers {
            let matched = if stale.matched_passing.is_empty() {
                "no scenario".to_owned()
            } else {
                stale
                    .matched_passing
                    .iter()
                    .map(|id| code(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {matched} |",
                code(&stale.pattern),
                cell(&stale.reason)
            );
        }
        out.push('\n');
    }

    let attention: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(
            out,
            "## Needs attention\n\n\
             | id | status | severity | expected | observed | reason |\n\
             |---|---|---|---|---|---|"
        );
        for r in attention {
            let reason = match &r.severity_reason {
                Some(why) => format!("{} (severity {why})", r.reason),
                None => r.reason.clone(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                code(&r.id),
                r.status,
                r.severity.map_or("-", |s| s.as_str()),
                cell(&r.expected),
                cell(&r.observed),
                cell(&reason)
            );
        }
        out.push('\n');
    }

    if !report.controls.is_empty() {
        let _ = writeln!(
            out,
            "## Controls\n\n\
             Each is the exchange of some scenarios without their deviation; a scenario whose \
             control did not reach its positive outcome is inconclusive.\n\n\
             | control | reached | observed | scenarios |\n|---|---|---|---|"
        );
        for c in &report.controls {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} |",
                cell(&c.name),
                if c.reached { "yes" } else { "no" },
                cell(&c.observed),
                c.used_by,
                if c.probe { " (and the profile)" } else { "" }
            );
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "## All scenarios\n\n\
         | id | level | status | expected | observed |\n\
         |---|---|---|---|---|"
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&r.id),
            r.level.as_str(),
            r.status,
            cell(&r.expected),
            cell(&r.observed)
        );
    }
    out
}

/// The SP profile: one row per probe, the AuthnRequest binding, and the contradictions with
/// the target file.
fn render_profile(out: &mut String, profile: &crate::profile::Profile) {
    let _ = writeln!(
        out,
        "## SP profile\n\n\
         What the SP accepts, from valid exchanges under the target's defaults.\n\n\
         | aspect | tried | outcome | observed |\n|---|---|---|---|"
    );
    for e in &profile.entries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&e.aspect),
            cell(&e.value),
            cell(&e.outcome.words()),
            cell(&e.observed)
        );
    }
    if let Some(binding) = &profile.authn_request_binding {
        let _ = writeln!(
            out,
            "\nThe SP sends its AuthnRequest over {}.",
            line(binding)
        );
    }
    if !profile.contradictions.is_empty() {
        let _ = writeln!(
            out,
            "\n**Warning: the SP contradicts its target file** (the declarations stay as written; \
             check them):\n"
        );
        for c in &profile.contradictions {
            let _ = writeln!(out, "- {}", line(&normalize(c)));
        }
    }
    out.push('\n');
}

/// Text on one line (a heading or a paragraph).
fn line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn report_md_is_a_stable_snapshot() {
        let text = render_markdown(&fixtures::report());
        insta::assert_snapshot!("report_md", text);
    }

    #[test]
    fn nothing_run_specific_survives() {
        let text = render_markdown(&fixtures::report());
        for leak in [
            "43121",
            "39001",
            "2026-11-25T",
            "a1b2c3d4e5f6",
            "4f9a8b7c6d5e",
            "3f2b1c4d",
            "Zx81kQpL0aBcD3eF9gHiJ2k",
            "7d5b3Qf1k",
            "MIIC8DCC",
            "1234",
            "\u{1}",
        ] {
            assert!(!text.contains(leak), "`{leak}` leaked into:\n{text}");
        }
        assert!(
            text.contains("xml/id-attribute-duplicated"),
            "words are kept"
        );
    }

    #[test]
    fn table_cells_escape_pipes_and_fold_line_breaks() {
        assert_eq!(cell("a | b\nc\r\n\nd"), "a \\| b c d");
        assert_eq!(cell("a\u{1}\u{7f}b\tc"), "ab c");
        assert_eq!(cell("<ds:Signature> missing"), "\\<ds:Signature> missing");
        assert_eq!(cell("[xmldom error]\\telement"), "[xmldom error]\\telement");
        assert_eq!(code("a|b"), "`a\\|b`");
    }

    #[test]
    fn every_row_of_every_table_has_its_columns() {
        let text = render_markdown(&fixtures::report());
        for row in text.lines().filter(|l| l.starts_with('|')) {
            let unescaped_pipes = row.match_indices('|').filter(|(i, _)| {
                // A pipe preceded by an odd number of backslashes is escaped.
                row[..*i].chars().rev().take_while(|&c| c == '\\').count() % 2 == 0
            });
            let columns = unescaped_pipes.count() - 1;
            assert!(
                [3, 4, 5, 6, 8].contains(&columns),
                "{columns} columns: {row}"
            );
        }
    }

    #[test]
    fn a_report_with_only_passes_has_no_attention_table() {
        let mut report = fixtures::report();
        report
            .results
            .retain(|r| r.status == crate::verdict::Status::Pass);
        report.summary = super::super::model::Summary::of(&report.results, Vec::new());
        let text = render_markdown(&report);
        assert!(!text.contains("## Needs attention"), "{text}");
        assert!(!text.contains("## Stale waivers"), "{text}");
        assert!(text.contains("## All scenarios"), "{text}");
    }
}
