//! A fuzz campaign: replay the regression file, generate cases from the seed, judge each
//! against the oracle, shrink every disagreement to a minimal plan, write it as a scenario,
//! and remember it for the next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mock_idp::Plan;
use mock_idp::plan::SigningLayout;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};

use super::FuzzError;
use super::exec::{InProcess, Observed, OverHttp, scenario_file};
use super::oracle::{self, Expected};
use super::strategy;
use crate::scenario::{Origin, Scenario, Severity};

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// Random cases to generate (after the regressions).
    pub cases: u64,
    /// The seed; the same seed gives the same cases.
    pub seed: u64,
    /// Candidate plans tried while shrinking one disagreement, at most.
    pub max_shrink: u32,
    /// Disagreements shrunk and written, at most (later ones are counted only).
    pub max_failures: usize,
    /// Cases handed to the executor at once.
    pub batch: usize,
    /// Threads for the in-process executor.
    pub jobs: usize,
    /// Where minimal scenarios go.
    pub scenario_dir: PathBuf,
    /// The regression file: replayed first, extended with new minimal plans.
    pub regressions: PathBuf,
}

/// The SP side of a campaign.
#[derive(Debug)]
pub enum Executor {
    /// The reference SP's validator, in this process.
    InProcess(std::sync::Arc<InProcess>),
    /// A target over HTTP.
    Http(OverHttp),
}

impl Executor {
    fn users(&self) -> BTreeMap<String, String> {
        match self {
            Executor::InProcess(e) => e.users().clone(),
            Executor::Http(e) => e.users(),
        }
    }

    async fn observe(&self, cases: Vec<(Plan, oracle::Verdict)>, jobs: usize) -> Vec<Observed> {
        match self {
            Executor::InProcess(e) => {
                let e = std::sync::Arc::clone(e);
                let n = cases.len();
                let plans: Vec<(Plan, String)> =
                    cases.into_iter().map(|(p, v)| (p, v.user)).collect();
                tokio::task::spawn_blocking(move || e.run_batch(&plans, jobs))
                    .await
                    .unwrap_or_else(|e| {
                        vec![Observed::Error(format!("fuzz workers failed: {e}")); n]
                    })
            }
            Executor::Http(e) => e.run_batch(&cases).await,
        }
    }
}

/// How the SP got a case wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Someone other than the signed user was signed in.
    Forged,
    /// A response that must be refused signed the user in.
    Accepted,
    /// A response with only benign changes was refused.
    Refused,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Forged => "signed in someone other than the signed user",
            Kind::Accepted => "accepted a response that must be refused",
            Kind::Refused => "refused a response with only benign changes",
        }
    }
}

/// Compares what the SP did with what the oracle expects; `None` when they agree.
pub fn judge(
    verdict: &oracle::Verdict,
    observed: &Observed,
    users: &BTreeMap<String, String>,
) -> Option<Kind> {
    match observed {
        Observed::SignedIn(identity) => {
            let signed = users.get(&verdict.user)?;
            if !identity.eq_ignore_ascii_case(signed) {
                Some(Kind::Forged)
            } else if verdict.expected() == Expected::Refused {
                Some(Kind::Accepted)
            } else {
                None
            }
        }
        Observed::Refused(_) => (verdict.expected() == Expected::SignedIn).then_some(Kind::Refused),
        Observed::Discarded(_) | Observed::Error(_) => None,
    }
}

/// One disagreement, shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// `seed S case N`, or `regression N`.
    pub origin: String,
    /// How the SP got it wrong.
    pub kind: Kind,
    /// The severity of the written scenario.
    pub severity: Severity,
    /// What the oracle expected, in words.
    pub expected: String,
    /// What the SP did with the minimal plan.
    pub observed: String,
    /// The rules that decide the expectation.
    pub rules: Vec<String>,
    /// The plan as generated.
    pub original: Plan,
    /// The smallest plan that still fails the same way.
    pub minimal: Plan,
    /// Shrinking candidates tried.
    pub shrink_steps: u32,
    /// The scenario file written for it.
    pub scenario: Option<PathBuf>,
}

/// What a campaign found.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignResult {
    /// The seed.
    pub seed: u64,
    /// Random cases run.
    pub cases: u64,
    /// Regression plans replayed first.
    pub regressions_replayed: usize,
    /// Cases the mock IdP could not build (a tampering that does not fit the layout...).
    pub discarded: u64,
    /// Cases that ended in an infrastructure error.
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Disagreements found (shrunk or not).
    pub disagreements: u64,
    /// Disagreements by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Expected outcomes of the judged cases (signed-in, refused, either).
    pub expected: BTreeMap<String, u64>,
    /// The shrunk disagreements.
    pub failures: Vec<Failure>,
    /// Wall time of the random cases (without shrinking).
    pub duration_ms: u64,
    /// Wall time of shrinking.
    pub shrink_ms: u64,
    /// Random cases per second (built, signed, validated; without shrinking).
    pub cases_per_second: f64,
    /// The signing layouts in which a valid response signed the SP's user in, probed first;
    /// signed cases use only these.
    #[serde(default)]
    pub layouts: Vec<SigningLayout>,
}

/// The signed layouts in which a valid login for `member` signs `member` in; an error when
/// none does (the fuzzer would test nothing).
async fn accepted_layouts(
    executor: &Executor,
    users: &BTreeMap<String, String>,
    jobs: usize,
) -> Result<Vec<SigningLayout>, FuzzError> {
    let layouts = [
        SigningLayout::Both,
        SigningLayout::Response,
        SigningLayout::Assertion,
    ];
    let cases: Vec<(Plan, oracle::Verdict)> = layouts
        .iter()
        .map(|layout| {
            let plan = Plan {
                signing: mock_idp::plan::Signing {
                    layout: Some(*layout),
                    ..mock_idp::plan::Signing::default()
                },
                ..Plan::default()
            };
            let verdict = oracle::classify(&plan);
            (plan, verdict)
        })
        .collect();
    let observed = executor.observe(cases, jobs).await;
    let member = users.get("member").map(String::as_str).unwrap_or_default();
    let accepted: Vec<SigningLayout> = layouts
        .iter()
        .zip(&observed)
        .filter(|(_, seen)| {
            matches!(seen, Observed::SignedIn(who) if who.trim().eq_ignore_ascii_case(member))
        })
        .map(|(layout, _)| *layout)
        .collect();
    if accepted.is_empty() {
        let seen: Vec<String> = layouts
            .iter()
            .zip(&observed)
            .map(|(layout, seen)| format!("signed at {layout:?}: {}", seen.summary()))
            .collect();
        return Err(crate::error::Error::input(format!(
            "a valid response signed `member` in in no signing layout ({}): fix the target (run `saml-harness run --filter 'login/*'` to see why) before fuzzing it",
            seen.join("; ")
        )));
    }
    Ok(accepted)
}

/// A regression file: minimal plans that failed before.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regressions {
    /// Each failing plan, with where it came from.
    #[serde(default)]
    pub cases: Vec<RegressionCase>,
}

/// One remembered plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionCase {
    /// `seed S case N`.
    pub origin: String,
    /// How it failed.
    pub kind: Kind,
    /// The minimal plan.
    pub plan: Plan,
}

impl Regressions {
    /// Reads the file; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Self, FuzzError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                crate::error::Error::input(format!(
                    "failed to read regression file {}: line {}: {e}",
                    path.display(),
                    e.line()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(crate::error::Error::input(format!(
                "failed to read regression file {}: {e}",
                path.display()
            ))),
        }
    }

    fn save(&self, path: &Path) -> Result<(), FuzzError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| {
            crate::error::Error::harness(format!("failed to serialize regressions: {e}"))
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::error::Error::harness(format!("failed to create {}: {e}", dir.display()))
            })?;
        }
        crate::report::write_atomically(path, format!("{text}\n").as_bytes())
            .map_err(|e| crate::error::Error::harness(e.to_string()))
    }
}

fn rng_for(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.rotate_left(i as u32 * 16).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Runs a campaign.
pub async fn run(
    executor: &Executor,
    options: &CampaignOptions,
) -> Result<CampaignResult, FuzzError> {
    let users = executor.users();
    for needed in ["member", "admin", "attacker"] {
        if !users.contains_key(needed) {
            return Err(crate::error::Error::input(format!(
                "the target has no user `{needed}` in [users]; the fuzzer signs in `member`, forges `admin` and splits text for `attacker` (an account whose email starts with the admin's)"
            )));
        }
    }
    let mut result = CampaignResult {
        seed: options.seed,
        cases: 0,
        regressions_replayed: 0,
        discarded: 0,
        errors: 0,
        error_samples: Vec::new(),
        disagreements: 0,
        by_kind: BTreeMap::new(),
        expected: BTreeMap::new(),
        failures: Vec::new(),
        duration_ms: 0,
        shrink_ms: 0,
        cases_per_second: 0.0,
        layouts: Vec::new(),
    };
    let mut regressions = Regressions::load(&options.regressions)?;
    let mut shrink_time = Duration::ZERO;

    // 1. What failed before, first.
    let replay: Vec<RegressionCase> = regressions.cases.clone();
    result.regressions_replayed = replay.len();
    if !replay.is_empty() {
        let cases: Vec<(Plan, oracle::Verdict)> = replay
            .iter()
            .map(|c| (c.plan.clone(), oracle::classify(&c.plan)))
            .collect();
        let observed = executor.observe(cases.clone(), options.jobs).await;
        for (i, ((plan, verdict), seen)) in cases.iter().zip(&observed).enumerate() {
            tally(&mut result, verdict, seen);
            if let Some(kind) = judge(verdict, seen, &users) {
                record(&mut result, kind);
                let failure = Failure {
                    origin: format!("regression {} ({})", i + 1, replay[i].origin),
                    kind,
                    severity: severity(kind, verdict),
                    expected: expected_words(verdict),
                    observed: seen.summary(),
                    rules: verdict.rules(),
                    original: plan.clone(),
                    minimal: plan.clone(),
                    shrink_steps: 0,
                    scenario: None,
                };
                push_failure(&mut result, failure, options)?;
            }
        }
    }

    // 2. Which signing layouts the SP accepts: a valid response in each.
    result.layouts = accepted_layouts(executor, &users, options.jobs).await?;

    // 3. New cases from the seed.
    let strategy = strategy::plan(&result.layouts).boxed();
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(options.seed));
    let started = Instant::now();
    let mut index: u64 = 0;
    while index < options.cases {
        let n = (options.cases - index).min(options.batch.max(1) as u64) as usize;
        let mut trees = Vec::with_capacity(n);
        for _ in 0..n {
            let tree = strategy.new_tree(&mut runner).map_err(|e| {
                crate::error::Error::harness(format!("failed to generate a case: {e}"))
            })?;
            trees.push(tree);
        }
        let cases: Vec<(Plan, oracle::Verdict)> = trees
            .iter()
            .map(|t| {
                let plan = t.current();
                let verdict = oracle::classify(&plan);
                (plan, verdict)
            })
            .collect();
        let observed = executor.observe(cases.clone(), options.jobs).await;
        for (i, (tree, ((plan, verdict), seen))) in trees
            .into_iter()
            .zip(cases.iter().zip(&observed))
            .enumerate()
        {
            tally(&mut result, verdict, seen);
            let Some(kind) = judge(verdict, seen, &users) else {
                continue;
            };
            record(&mut result, kind);
            if result.failures.len() >= options.max_failures {
                continue;
            }
            let case = index + i as u64;
            let shrink_started = Instant::now();
            let (minimal, steps, last_seen) =
                shrink(executor, tree, kind, seen.clone(), &users, options).await;
            shrink_time += shrink_started.elapsed();
            let minimal_verdict = oracle::classify(&minimal);
            let failure = Failure {
                origin: format!("seed {} case {case}", options.seed),
                kind,
                severity: severity(kind, &minimal_verdict),
                expected: expected_words(&minimal_verdict),
                observed: last_seen.summary(),
                rules: minimal_verdict.rules(),
                original: plan.clone(),
                minimal: minimal.clone(),
                shrink_steps: steps,
                scenario: None,
            };
            if push_failure(&mut result, failure, options)? {
                regressions.cases.push(RegressionCase {
                    origin: format!("seed {} case {case}", options.seed),
                    kind,
                    plan: minimal,
                });
            }
        }
        index += n as u64;
        result.cases = index;
    }
    let total = started.elapsed().saturating_sub(shrink_time);
    result.duration_ms = total.as_millis() as u64;
    result.shrink_ms = shrink_time.as_millis() as u64;
    result.cases_per_second = if total.as_secs_f64() > 0.0 {
        result.cases as f64 / total.as_secs_f64()
    } else {
        0.0
    };
    if regressions.cases.len() > replay.len() {
        regressions.save(&options.regressions)?;
    }
    Ok(result)
}

fn tally(result: &mut CampaignResult, verdict: &oracle::Verdict, seen: &Observed) {
    match seen {
        Observed::Discarded(_) => result.discarded += 1,
        Observed::Error(e) => {
            result.errors += 1;
            if result.error_samples.len() < 5 {
                result.error_samples.push(e.clone());
            }
        }
        _ => {
            let key = match verdict.expected() {
                Expected::SignedIn => "signed-in",
                Expected::Refused => "refused",
                Expected::Either => "either",
            };
            *result.expected.entry(key.to_owned()).or_default() += 1;
        }
    }
}

fn record(result: &mut CampaignResult, kind: Kind) {
    result.disagreements += 1;
    let name = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    *result.by_kind.entry(name).or_default() += 1;
}

fn severity(kind: Kind, verdict: &oracle::Verdict) -> Severity {
    match kind {
        Kind::Forged => Severity::Critical,
        Kind::Accepted => verdict.refusal_severity(),
        Kind::Refused => Severity::Medium,
    }
}

fn expected_words(verdict: &oracle::Verdict) -> String {
    match verdict.expected() {
        Expected::SignedIn => format!("signed in as {}", verdict.user),
        Expected::Refused => "refused".to_owned(),
        Expected::Either => format!("refused, or signed in as {} only", verdict.user),
    }
}

/// Adds a failure unless the same minimal plan is already there, and writes its scenario;
/// `true` when it was new.
fn push_failure(
    result: &mut CampaignResult,
    mut failure: Failure,
    options: &CampaignOptions,
) -> Result<bool, FuzzError> {
    if result
        .failures
        .iter()
        .any(|f| f.minimal == failure.minimal && f.kind == failure.kind)
    {
        return Ok(false);
    }
    let n = result.failures.len() + 1;
    let path = write_scenario(&failure, n, options)?;
    failure.scenario = Some(path);
    result.failures.push(failure);
    Ok(true)
}

/// proptest's shrinking loop over one value tree: simplify while the case still fails the
/// same way, complicate back when it stops failing.
async fn shrink(
    executor: &Executor,
    mut tree: Box<dyn ValueTree<Value = Plan>>,
    kind: Kind,
    first: Observed,
    users: &BTreeMap<String, String>,
    options: &CampaignOptions,
) -> (Plan, u32, Observed) {
    let mut minimal = tree.current();
    let mut seen = first;
    let mut steps = 0;
    if !tree.simplify() {
        return (minimal, steps, seen);
    }
    while steps < options.max_shrink {
        steps += 1;
        let candidate = tree.current();
        let verdict = oracle::classify(&candidate);
        let observed = executor
            .observe(vec![(candidate.clone(), verdict.clone())], 1)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| Observed::Error("no observation".into()));
        let still = judge(&verdict, &observed, users) == Some(kind);
        let more = if still {
            minimal = candidate;
            seen = observed;
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !more {
            break;
        }
    }
    (minimal, steps, seen)
}

fn write_scenario(
    failure: &Failure,
    n: usize,
    options: &CampaignOptions,
) -> Result<PathBuf, FuzzError> {
    let verdict = oracle::classify(&failure.minimal);
    let title = format!(
        "Fuzz ({}): the SP {} (must: {})",
        failure.origin,
        failure.kind.describe(),
        expected_words(&verdict)
    );
    let mut file = scenario_file(&failure.minimal, &verdict, title);
    // A scenario file gives the severity of the non-conformance; `critical` is the judge's,
    // from what the SP does when the scenario runs.
    file.severity = match failure.severity {
        Severity::Critical => Severity::High,
        other => other,
    };
    file.description = Some(format!(
        "Found by `saml-harness fuzz` and shrunk to this plan. What the oracle saw in it: {}.",
        verdict
            .findings
            .iter()
            .map(|f| format!("{} ({:?}, {})", f.what, f.class, f.rule))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let text = toml::to_string(&file)
        .map_err(|e| crate::error::Error::harness(format!("failed to write a scenario: {e}")))?;
    let id = format!("fuzz-s{}-{n}", options.seed);
    let path = options.scenario_dir.join(format!("{id}.toml"));
    // The file must load as a scenario, or it is of no use to anyone.
    Scenario::parse(&id, Origin::File(path.clone()), &text).map_err(|e| {
        crate::error::Error::harness(format!("a written scenario does not load: {e}"))
    })?;
    std::fs::create_dir_all(&options.scenario_dir).map_err(|e| {
        crate::error::Error::harness(format!(
            "failed to create {}: {e}",
            options.scenario_dir.display()
        ))
    })?;
    crate::report::write_atomically(&path, text.as_bytes())
        .map_err(|e| crate::error::Error::harness(e.to_string()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mock_idp::KeyType;
    use mock_idp::plan::{Alteration, Tamper, TextField, TextSplit};
    use reference_sp::Weakening;

    use super::*;
    use crate::fuzz::oracle::values;

    fn options(dir: &Path, cases: u64, seed: u64) -> CampaignOptions {
        CampaignOptions {
            cases,
            seed,
            max_shrink: 256,
            max_failures: 1,
            batch: 64,
            jobs: 2,
            scenario_dir: dir.join("scenarios"),
            regressions: dir.join("regressions.json"),
        }
    }

    fn in_process(weaken: &[Weakening]) -> Executor {
        Executor::InProcess(Arc::new(
            InProcess::new(weaken, KeyType::Rsa2048, None).expect("in-process executor"),
        ))
    }

    fn changes(plan: &Plan) -> usize {
        plan.alter.len() + plan.tamper.len()
    }

    /// A weakened check is found within 500 cases of seed 1 and shrunk to a plan of at most
    /// two changes whose oracle verdict names the rule the check enforces (`rule` is a part
    /// of its name; "" when the verdict is a forged identity, which names no one rule); the
    /// scenario written for it loads, and the next run replays it first and finds it again.
    async fn found_shrunk_written_and_replayed(weaken: Weakening, rule: &str) {
        let dir = tempfile::tempdir().expect("temp dir");
        let executor = in_process(&[weaken]);
        let result = run(&executor, &options(dir.path(), 500, 1))
            .await
            .expect("a campaign");
        assert!(result.disagreements > 0, "{weaken}: nothing found");
        let failure = &result.failures[0];
        assert!(
            changes(&failure.minimal) <= 2
                && changes(&failure.minimal) <= changes(&failure.original),
            "{weaken}: not shrunk: {:?}",
            failure.minimal
        );
        assert!(
            failure.rules.iter().any(|r| r.contains(rule)),
            "{weaken}: rules {:?}",
            failure.rules
        );
        if matches!(
            weaken,
            Weakening::TrustFirstAssertion | Weakening::NameidTextToFirstComment
        ) {
            assert_eq!(failure.kind, Kind::Forged, "{failure:?}");
        }
        let path = failure.scenario.as_ref().expect("a scenario file");
        let text = std::fs::read_to_string(path).expect("the scenario");
        Scenario::parse("fuzz-s1-1", Origin::File(path.clone()), &text).expect("a valid scenario");

        // The regression file holds the minimal plan; a run with no new cases replays it.
        let again = run(&executor, &options(dir.path(), 0, 2))
            .await
            .expect("a replay");
        assert_eq!(again.regressions_replayed, 1, "{weaken}");
        assert_eq!(again.disagreements, 1, "{weaken}");
        assert_eq!(again.failures[0].minimal, failure.minimal);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_skipped_destination_check_is_found() {
        found_shrunk_written_and_replayed(Weakening::Destination, "CORE-3.2.2-Destination").await;
    }

    /// Skipping the audience check also admits an assertion with no audience at all
    /// (PROF-4.1.4.2-AudienceRequired): either rule is the weakened check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_skipped_audience_check_is_found() {
        found_shrunk_written_and_replayed(Weakening::Audience, "Audience").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_skipped_signature_check_is_found() {
        found_shrunk_written_and_replayed(Weakening::Signature, "").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signature_wrapping_is_found_as_a_forgery() {
        found_shrunk_written_and_replayed(Weakening::TrustFirstAssertion, "").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn comment_truncation_is_found_as_a_forgery() {
        found_shrunk_written_and_replayed(Weakening::NameidTextToFirstComment, "").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_skipped_in_response_to_check_is_found() {
        found_shrunk_written_and_replayed(Weakening::InResponseTo, "InResponseTo").await;
    }

    /// The unweakened reference SP agrees with the oracle (the 10,000-case run is in the
    /// README's figures; this one stays fast).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_sp_agrees_with_the_oracle() {
        let dir = tempfile::tempdir().expect("temp dir");
        let result = run(&in_process(&[]), &options(dir.path(), 400, 11))
            .await
            .expect("a campaign");
        assert_eq!(result.errors, 0, "{:?}", result.error_samples);
        assert_eq!(result.disagreements, 0, "{:?}", result.failures);
        // The cases are a mix, not all refusals.
        for outcome in ["signed-in", "refused", "either"] {
            assert!(
                result.expected.get(outcome).copied().unwrap_or(0) >= 20,
                "{:?}",
                result.expected
            );
        }
        assert!(result.discarded < 100, "{} discarded", result.discarded);
    }

    #[test]
    fn an_edit_that_writes_what_a_split_left_changes_nothing() {
        let plan = Plan {
            tamper: vec![
                Tamper::SplitText {
                    field: TextField::NameId,
                    after: values::ADMIN.into(),
                    with: TextSplit::Comment,
                },
                Tamper::EditNameId {
                    value: values::ADMIN.into(),
                },
            ],
            ..Plan::default()
        };
        let verdict = oracle::classify(&plan);
        assert_eq!(verdict.expected(), Expected::Either, "{verdict:?}");
        assert_eq!(verdict.user, "attacker");
        let mut edited = plan;
        edited.tamper.reverse();
        assert_eq!(oracle::classify(&edited).expected(), Expected::Refused);
    }

    #[test]
    fn the_judge_flags_forgeries_whatever_was_expected() {
        let users: BTreeMap<String, String> = [
            ("member".to_owned(), "alice@corp.example".to_owned()),
            ("admin".to_owned(), "admin@corp.example".to_owned()),
        ]
        .into();
        let benign = oracle::classify(&Plan {
            alter: vec![Alteration::ReverseAttributes],
            ..Plan::default()
        });
        let refuse = oracle::classify(&Plan {
            alter: vec![Alteration::Destination {
                value: "https://other-sp.test/acs".into(),
            }],
            ..Plan::default()
        });
        let alice = Observed::SignedIn("Alice@corp.example".into());
        let admin = Observed::SignedIn("admin@corp.example".into());
        let refused = Observed::Refused(None);
        assert_eq!(judge(&benign, &alice, &users), None);
        assert_eq!(judge(&benign, &refused, &users), Some(Kind::Refused));
        assert_eq!(judge(&benign, &admin, &users), Some(Kind::Forged));
        assert_eq!(judge(&refuse, &alice, &users), Some(Kind::Accepted));
        assert_eq!(judge(&refuse, &refused, &users), None);
        assert_eq!(judge(&refuse, &admin, &users), Some(Kind::Forged));
        assert_eq!(
            judge(&refuse, &Observed::Discarded("x".into()), &users),
            None
        );
    }
}
