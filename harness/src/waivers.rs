//! Waiver files (`targets/NAME.waivers.toml`): expected failures, each with a reason.
//!
//! ```toml
//! [[waiver]]
//! id = "signature/xsw-*"        # a scenario id or a glob
//! reason = "node-saml leaves this to the application; tracked in ISSUE-12"
//! ```
//!
//! A pattern is a glob ([`globset`] syntax; `*` also crosses `/`) matched against whole
//! scenario ids; a pattern also covers the per-layout variants of what it names
//! (`addressing/destination-wrong` covers `addressing/destination-wrong/both`). A failure that
//! a waiver matches reports as `waived`, keeping its severity. A waiver that matches no failure
//! and only scenarios that ran and did not fail (or nothing at all) is *stale*: it is reported
//! so that it gets removed. A waiver that matches a skipped or errored scenario is not stale:
//! that run could not tell whether the failure is still there.

use std::collections::HashMap;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::scenario::line_column;
use crate::verdict::{Status, Verdict};

/// A waiver file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default)]
    waiver: Vec<RawWaiver>,
}

/// One `[[waiver]]` table, with the places of its values for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    id: toml::Spanned<String>,
    reason: toml::Spanned<String>,
}

/// One waiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// A scenario id or a glob.
    pub pattern: String,
    /// Why the failure is accepted.
    pub reason: String,
    /// The 1-based line of its `id` in the file.
    pub line: usize,
}

/// A waiver that no failure needs any more: remove it from the waiver file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleWaiver {
    /// The waiver's id or glob.
    pub pattern: String,
    /// Its reason.
    pub reason: String,
    /// The scenarios it matches, all of which ran and did not fail (pass or warn); empty when
    /// it matches no scenario of the run.
    #[serde(default)]
    pub matched_passing: Vec<String>,
}

/// Failed to load a waiver file: which file, where in it, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to load waivers from {file}{}: {message}", location(*.line, *.column))]
pub struct WaiverError {
    /// The file.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// The field at fault (`id`, `reason`, or an unknown one), when known.
    pub field: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// The waivers of one target.
#[derive(Debug, Clone)]
pub struct Waivers {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    waiver: Waiver,
    /// The pattern, and the pattern followed by `/*` (the layout variants).
    matcher: GlobSet,
}

impl Default for Waivers {
    fn default() -> Self {
        Self::none()
    }
}

impl Waivers {
    /// No waivers.
    pub fn none() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Reads a waiver file.
    pub fn load(path: &Path) -> Result<Self, WaiverError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| WaiverError {
            file: file.clone(),
            line: None,
            column: None,
            field: None,
            message: e.to_string(),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses the text of a waiver file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, WaiverError> {
        let error = |offset: Option<usize>, field: Option<String>, message: String| {
            let (line, column) = offset
                .map(|o| line_column(text, o))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            WaiverError {
                file: file.to_owned(),
                line,
                column,
                field,
                message,
            }
        };
        let parsed: WaiverFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            let at = e.span().map(|span| span.start);
            let field = field_in_message(&message)
                .or_else(|| at.and_then(|o| key_on_line(text, o)).map(str::to_owned));
            error(at, field, message)
        })?;
        let mut entries: Vec<Entry> = Vec::with_capacity(parsed.waiver.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for raw in parsed.waiver {
            let id_at = raw.id.span().start;
            let pattern = raw.id.get_ref().trim().to_owned();
            if pattern.is_empty() {
                return Err(error(
                    Some(id_at),
                    Some("id".to_owned()),
                    "field `id` must name a scenario id or a glob".to_owned(),
                ));
            }
            if raw.reason.get_ref().trim().is_empty() {
                return Err(error(
                    Some(raw.reason.span().start),
                    Some("reason".to_owned()),
                    format!(
                        "field `reason` of waiver `{pattern}` must say why the failure is accepted"
                    ),
                ));
            }
            let line = line_column(text, id_at).0;
            if let Some(first) = seen.insert(pattern.clone(), line) {
                return Err(error(
                    Some(id_at),
                    Some("id".to_owned()),
                    format!("field `id`: waiver `{pattern}` is already listed on line {first}"),
                ));
            }
            let matcher = matcher(&pattern).map_err(|e| {
                error(
                    Some(id_at),
                    Some("id".to_owned()),
                    format!("field `id`: `{pattern}` is not a valid glob: {}", e.kind()),
                )
            })?;
            entries.push(Entry {
                waiver: Waiver {
                    pattern,
                    reason: raw.reason.into_inner().trim().to_owned(),
                    line,
                },
                matcher,
            });
        }
        Ok(Self { entries })
    }

    /// Whether there are no waivers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The waivers, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Waiver> {
        self.entries.iter().map(|e| &e.waiver)
    }

    /// The first waiver that matches a scenario id.
    pub fn find(&self, id: &str) -> Option<&Waiver> {
        self.entries
            .iter()
            .find(|e| e.matcher.is_match(id))
            .map(|e| &e.waiver)
    }

    /// Turns every failure a waiver matches into [`Status::Waived`] (severity kept, `reason`
    /// becomes `waived: REASON`, the judge's reason moves to the evidence notes) and returns
    /// the stale waivers, in file order. Applying twice changes nothing more.
    pub fn apply(&self, verdicts: &mut [Verdict]) -> Vec<StaleWaiver> {
        #[derive(Default, Clone)]
        struct Use {
            needed: bool,
            inconclusive: bool,
            passing: Vec<String>,
        }
        let mut uses = vec![Use::default(); self.entries.len()];
        for verdict in verdicts.iter_mut() {
            let matching: Vec<usize> = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.matcher.is_match(&verdict.id))
                .map(|(i, _)| i)
                .collect();
            let Some(&first) = matching.first() else {
                continue;
            };
            for &i in &matching {
                let used = &mut uses[i];
                match verdict.status {
                    Status::Fail | Status::Waived => used.needed = true,
                    Status::Pass | Status::Warn => used.passing.push(verdict.id.clone()),
                    Status::Skip | Status::Inconclusive | Status::Error => used.inconclusive = true,
                }
            }
            if verdict.status == Status::Fail {
                let waiver = &self.entries[first].waiver;
                let judged =
                    std::mem::replace(&mut verdict.reason, format!("waived: {}", waiver.reason));
                verdict.status = Status::Waived;
                verdict.evidence.notes.push(format!(
                    "failure waived by `{}` (line {}); the judge said: {judged}",
                    waiver.pattern, waiver.line
                ));
            }
        }
        self.entries
            .iter()
            .zip(uses)
            .filter(|(_, used)| !used.needed && !used.inconclusive)
            .map(|(entry, used)| StaleWaiver {
                pattern: entry.waiver.pattern.clone(),
                reason: entry.waiver.reason.clone(),
                matched_passing: used.passing,
            })
            .collect()
    }
}

/// A matcher for a pattern and its layout variants (`PATTERN/*`).
fn matcher(pattern: &str) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    builder.add(Glob::new(pattern)?);
    builder.add(Glob::new(&format!("{pattern}/*"))?);
    builder.build()
}

/// The field an error message names: ``unknown field `reson`, expected ...``.
fn field_in_message(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(field, _)| field.to_owned())
}

/// The key of a `key = value` line holding `offset`.
fn key_on_line(text: &str, offset: usize) -> Option<&str> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)))
    .then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Level, Severity};
    use crate::verdict::Evidence;

    fn verdict(id: &str, status: Status) -> Verdict {
        Verdict {
            id: id.to_owned(),
            title: format!("title of {id}"),
            status,
            severity: (status == Status::Fail).then_some(Severity::Critical),
            severity_reason: None,
            control: None,
            level: Level::Must,
            expected: "refused".to_owned(),
            observed: "signed in as alice@corp.example".to_owned(),
            reason: "the SP accepted a response it must refuse".to_owned(),
            spec: vec!["SAML Core §5".to_owned()],
            duration_ms: 3,
            observation: None,
            expectation: None,
            evidence: Evidence::default(),
        }
    }

    fn parse(text: &str) -> Result<Waivers, WaiverError> {
        Waivers::parse(text, "targets/sp.waivers.toml")
    }

    #[test]
    fn a_matching_failure_is_waived_and_keeps_its_severity() {
        let waivers =
            parse("[[waiver]]\nid = \"signature/xsw-*\"\nreason = \"tracked in ISSUE-12\"\n")
                .expect("valid");
        let mut verdicts = vec![
            verdict("signature/xsw-1/both", Status::Fail),
            verdict("signature/unsigned", Status::Fail),
        ];
        let stale = waivers.apply(&mut verdicts);
        assert!(stale.is_empty(), "{stale:?}");
        assert_eq!(verdicts[0].status, Status::Waived);
        assert_eq!(verdicts[0].reason, "waived: tracked in ISSUE-12");
        assert_eq!(verdicts[0].severity, Some(Severity::Critical));
        assert!(
            verdicts[0].evidence.notes[0].contains("the SP accepted a response it must refuse"),
            "the judge's reason is kept: {:?}",
            verdicts[0].evidence.notes
        );
        assert_eq!(verdicts[1].status, Status::Fail, "not matched");
    }

    #[test]
    fn only_failures_are_waived() {
        let waivers = parse("[[waiver]]\nid = \"*\"\nreason = \"all\"\n").expect("valid");
        let mut verdicts: Vec<Verdict> = [Status::Pass, Status::Warn, Status::Skip, Status::Error]
            .into_iter()
            .enumerate()
            .map(|(i, s)| verdict(&format!("f/{i}"), s))
            .collect();
        let before = verdicts.clone();
        let _ = waivers.apply(&mut verdicts);
        assert_eq!(verdicts, before);
    }

    #[test]
    fn an_exact_id_covers_its_layout_variants_only() {
        let waivers = parse("[[waiver]]\nid = \"a/b\"\nreason = \"r\"\n").expect("valid");
        let mut verdicts = vec![
            verdict("a/b/both", Status::Fail),
            verdict("a/b", Status::Fail),
            verdict("a/bc", Status::Fail),
        ];
        let _ = waivers.apply(&mut verdicts);
        let statuses: Vec<Status> = verdicts.iter().map(|v| v.status).collect();
        assert_eq!(statuses, [Status::Waived, Status::Waived, Status::Fail]);
    }

    #[test]
    fn waivers_matching_only_passing_scenarios_or_nothing_are_stale() {
        let waivers = parse(concat!(
            "[[waiver]]\nid = \"fixed/*\"\nreason = \"fixed upstream\"\n\n",
            "[[waiver]]\nid = \"gone\"\nreason = \"scenario removed\"\n\n",
            "[[waiver]]\nid = \"flaky/*\"\nreason = \"infrastructure\"\n\n",
            "[[waiver]]\nid = \"mixed/*\"\nreason = \"one still fails\"\n",
        ))
        .expect("valid");
        let mut verdicts = vec![
            verdict("fixed/a", Status::Pass),
            verdict("fixed/b", Status::Warn),
            verdict("flaky/a", Status::Error),
            verdict("mixed/a", Status::Pass),
            verdict("mixed/b", Status::Fail),
        ];
        let stale = waivers.apply(&mut verdicts);
        assert_eq!(
            stale,
            [
                StaleWaiver {
                    pattern: "fixed/*".to_owned(),
                    reason: "fixed upstream".to_owned(),
                    matched_passing: vec!["fixed/a".to_owned(), "fixed/b".to_owned()],
                },
                StaleWaiver {
                    pattern: "gone".to_owned(),
                    reason: "scenario removed".to_owned(),
                    matched_passing: vec![],
                },
            ]
        );
    }

    #[test]
    fn applying_twice_changes_nothing_more() {
        let waivers = parse("[[waiver]]\nid = \"a\"\nreason = \"r\"\n").expect("valid");
        let mut verdicts = vec![verdict("a", Status::Fail)];
        assert!(waivers.apply(&mut verdicts).is_empty());
        let once = verdicts.clone();
        assert!(waivers.apply(&mut verdicts).is_empty(), "not stale");
        assert_eq!(verdicts, once);
    }

    #[test]
    fn an_empty_file_and_none_waive_nothing() {
        assert!(parse("").expect("valid").is_empty());
        let mut verdicts = vec![verdict("a", Status::Fail)];
        assert!(Waivers::none().apply(&mut verdicts).is_empty());
        assert_eq!(verdicts[0].status, Status::Fail);
    }

    #[test]
    fn an_unknown_field_is_refused_with_file_line_and_field() {
        let err = parse("[[waiver]]\nid = \"a\"\nreson = \"x\"\n").expect_err("typo");
        assert_eq!(err.line, Some(3));
        assert_eq!(err.field.as_deref(), Some("reson"));
        let text = err.to_string();
        assert!(
            text.starts_with("failed to load waivers from targets/sp.waivers.toml:3:"),
            "{text}"
        );
        assert!(text.contains("reson"), "{text}");
    }

    #[test]
    fn a_missing_or_empty_reason_is_refused() {
        let err = parse("[[waiver]]\nid = \"a\"\n").expect_err("missing");
        assert_eq!(err.field.as_deref(), Some("reason"));
        assert_eq!(err.line, Some(1));

        let err = parse("[[waiver]]\nid = \"a\"\nreason = \"  \"\n").expect_err("empty");
        assert_eq!(err.field.as_deref(), Some("reason"));
        assert_eq!((err.line, err.column), (Some(3), Some(10)));
        assert!(err.to_string().contains("waiver `a`"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let err = parse("[[waiver]]\nid = 3\nreason = \"r\"\n").expect_err("integer");
        assert_eq!(err.line, Some(2));
        assert_eq!(err.field.as_deref(), Some("id"));
    }

    #[test]
    fn a_bad_glob_and_a_duplicate_are_refused() {
        let err = parse("[[waiver]]\nid = \"a/[b\"\nreason = \"r\"\n").expect_err("glob");
        assert_eq!((err.line, err.field.as_deref()), (Some(2), Some("id")));
        assert!(err.message.contains("not a valid glob"), "{err}");

        let err = parse(
            "[[waiver]]\nid = \"a\"\nreason = \"r\"\n[[waiver]]\nid = \"a\"\nreason = \"s\"\n",
        )
        .expect_err("duplicate");
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("already listed on line 2"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Waivers::load(Path::new("/nonexistent/x.waivers.toml")).expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("failed to load waivers from /nonexistent/x.waivers.toml: "),
            "{err}"
        );
    }
}
