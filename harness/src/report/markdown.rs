//! `report.md`: a stable snapshot. Nothing run-specific survives: durations and timestamps are
//! left out, and ports, instants, SAML ids, base64 values and tokens are redacted.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use super::model::Report;
use crate::verdict::Status;

static REDACTIONS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Loopback and other ports.
        (r"(127\.0\.0\.1|localhost|\[::1\]):\d+", "$1:PORT"),
        // xs:dateTime instants.
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?",
            "INSTANT",
        ),
        // SAML ids: an underscore or id- followed by a long random part.
        (r"\b(_|id-)[0-9A-Za-z_-]{16,}", "ID"),
        // Long base64 runs: signature and digest values, certificates, encoded messages.
        (r"[A-Za-z0-9+/]{40,}={0,2}", "BASE64"),
        // Long hex runs (tokens, plan ids).
        (r"\b[0-9a-f]{16,}\b", "HEX"),
        // Parser positions in an SP's error message (they move with random bytes).
        (
            r"\b(line|col|column|offset|position)([:= ]\s*)\d+",
            "${1}${2}N",
        ),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|r| (r, replacement)))
    .collect()
});

/// Redacts every run-specific value in `text`.
pub fn normalize(text: &str) -> String {
    let mut out = text.to_owned();
    for (re, replacement) in REDACTIONS.iter() {
        out = re.replace_all(&out, *replacement).into_owned();
    }
    out
}

fn cell(text: &str) -> String {
    normalize(text)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Renders the Markdown snapshot.
pub fn render_markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "# SAML Harness report: {}\n", report.target.name);
    if let Some(d) = &report.target.description {
        let _ = writeln!(out, "{}\n", cell(d));
    }
    let _ = writeln!(
        out,
        "| total | passed | failed | warned | skipped | errored | waived |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |\n",
        s.total, s.passed, s.failed, s.warned, s.skipped, s.errored, s.waived
    );
    for stale in &s.stale_waivers {
        let _ = writeln!(
            out,
            "- stale waiver `{}` ({}): no failure matches it any more",
            stale.pattern,
            cell(&stale.reason)
        );
    }
    let attention: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(
            out,
            "## Needs attention\n\n| id | status | severity | expected | observed | reason |\n|---|---|---|---|---|---|"
        );
        for r in attention {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                r.id,
                r.status,
                r.severity.map(|s| s.as_str()).unwrap_or("-"),
                cell(&r.expected),
                cell(&r.observed),
                cell(&r.reason)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## All scenarios\n\n| id | level | status | expected | observed |\n|---|---|---|---|---|"
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.id,
            r.level.as_str(),
            r.status,
            cell(&r.expected),
            cell(&r.observed)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_specific_values_are_redacted() {
        assert_eq!(
            normalize("http://127.0.0.1:43121/me"),
            "http://127.0.0.1:PORT/me"
        );
        assert_eq!(normalize("at 2026-11-25T10:00:00.123Z."), "at INSTANT.");
        assert_eq!(normalize("ID=\"_a1b2c3d4e5f6a7b8c9d0\""), "ID=\"ID\"");
        assert_eq!(
            normalize("sig MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA=="),
            "sig BASE64"
        );
        assert_eq!(normalize("plan 0123456789abcdef01"), "plan HEX");
        assert_eq!(
            normalize("parse error @#[line:3,col:88]"),
            "parse error @#[line:N,col:N]"
        );
        assert_eq!(
            normalize("signed in as alice@corp.example"),
            "signed in as alice@corp.example"
        );
    }
}
