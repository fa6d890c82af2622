//! What `run` shows while it runs: on a terminal, one status line rewritten in place (done and
//! total, failures so far, time spent and an estimate of what is left); elsewhere (a CI log,
//! a pipe), one line per family when its last scenario finishes. Pure state and text: the
//! caller owns the clock and the stream.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::verdict::{Status, Verdict};

/// The family of a scenario id (`xsw/xsw3` is in `xsw`; an id without a folder is its own).
fn family(id: &str) -> &str {
    id.split_once('/').map_or(id, |(family, _)| family)
}

#[derive(Debug, Default)]
struct Family {
    total: usize,
    done: usize,
    counts: BTreeMap<&'static str, usize>,
}

/// The counts a run has reached.
#[derive(Debug, Default)]
pub struct Progress {
    total: usize,
    done: usize,
    failing: usize,
    families: BTreeMap<String, Family>,
}

impl Progress {
    /// A run of these scenarios, none finished.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut progress = Self::default();
        for id in ids {
            progress.total += 1;
            progress
                .families
                .entry(family(id).to_owned())
                .or_default()
                .total += 1;
        }
        progress
    }

    /// Counts a finished scenario; returns its family's line when it was the family's last.
    pub fn finished(&mut self, verdict: &Verdict, elapsed: Duration) -> Option<String> {
        self.done += 1;
        if matches!(verdict.status, Status::Fail | Status::Error) {
            self.failing += 1;
        }
        let name = family(&verdict.id);
        let family = self.families.get_mut(name)?;
        family.done += 1;
        *family.counts.entry(verdict.status.as_str()).or_default() += 1;
        (family.done == family.total).then(|| {
            let counts: Vec<String> = family
                .counts
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            format!(
                "[{}/{}] {name}: {} ({})",
                self.done,
                self.total,
                counts.join(", "),
                seconds(elapsed)
            )
        })
    }

    /// The terminal's status line after `last` finished, `elapsed` into the run. The estimate
    /// (time per finished scenario so far, times those left) appears once a tenth of the run,
    /// and at least five scenarios, are done.
    pub fn status_line(&self, last: &Verdict, elapsed: Duration) -> String {
        let mut line = format!(
            "[{}/{}] {} failing  {}",
            self.done,
            self.total,
            self.failing,
            seconds(elapsed)
        );
        if self.done >= 5 && self.done * 10 >= self.total && self.done < self.total {
            let left = elapsed.mul_f64((self.total - self.done) as f64 / self.done as f64);
            line.push_str(&format!(", about {} left", seconds(left)));
        }
        line.push_str(&format!("  {} ", last.status));
        // Under 80 columns whatever the id (a wrapped line is not rewritten in place): the id
        // is cut to what is left, with an ellipsis.
        let room = (WIDTH - 1).saturating_sub(line.chars().count()).max(12);
        if last.id.chars().count() <= room {
            line.push_str(&last.id);
        } else {
            line.extend(last.id.chars().take(room - 1));
            line.push('…');
        }
        line
    }
}

/// The terminal width the status line keeps under.
const WIDTH: usize = 80;

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Level;

    fn verdict(id: &str, status: Status) -> Verdict {
        Verdict {
            id: id.to_owned(),
            title: String::new(),
            status,
            severity: None,
            severity_reason: None,
            level: Level::Must,
            expected: String::new(),
            observed: String::new(),
            reason: String::new(),
            spec: Vec::new(),
            duration_ms: 0,
            observation: None,
            expectation: None,
            control: None,
            evidence: Default::default(),
        }
    }

    #[test]
    fn a_family_line_comes_once_when_its_last_scenario_finishes() {
        let mut p = Progress::new(["xsw/a", "login/a", "xsw/b", "xsw/c"]);
        let s = Duration::from_secs(2);
        assert_eq!(p.finished(&verdict("xsw/a", Status::Pass), s), None);
        assert_eq!(
            p.finished(&verdict("login/a", Status::Pass), s).as_deref(),
            Some("[2/4] login: 1 pass (2.0 s)")
        );
        assert_eq!(p.finished(&verdict("xsw/c", Status::Fail), s), None);
        assert_eq!(
            p.finished(&verdict("xsw/b", Status::Pass), Duration::from_secs(75))
                .as_deref(),
            Some("[4/4] xsw: 1 fail, 2 pass (1m15s)")
        );
    }

    #[test]
    fn the_status_line_counts_failures_and_estimates_once_it_can() {
        let ids: Vec<String> = (0..100).map(|i| format!("f/s{i}")).collect();
        let mut p = Progress::new(ids.iter().map(String::as_str));
        let elapsed = Duration::from_secs(4);
        for (i, id) in ids.iter().take(9).enumerate() {
            let status = if i == 3 { Status::Error } else { Status::Pass };
            let _ = p.finished(&verdict(id, status), elapsed);
        }
        // Nine of a hundred: too few to guess from.
        assert_eq!(
            p.status_line(&verdict("f/s8", Status::Pass), elapsed),
            "[9/100] 1 failing  4.0 s  pass f/s8"
        );
        let _ = p.finished(&verdict("f/s9", Status::Pass), elapsed);
        assert_eq!(
            p.status_line(&verdict("f/s9", Status::Pass), elapsed),
            "[10/100] 1 failing  4.0 s, about 36.0 s left  pass f/s9"
        );
        let long = verdict(&format!("f/{}", "x".repeat(80)), Status::Pass);
        let line = p.status_line(&long, elapsed);
        assert_eq!(line.chars().count(), 79, "{line}");
        assert!(line.ends_with("xxx…"), "{line}");
    }
}
