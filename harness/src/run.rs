//! One whole run, as `saml-harness run` does it: load the catalogue and the target, start the
//! environment, run the engine, apply waivers, write the reports. Bad input and broken
//! infrastructure are errors (exit codes 2 and 3); conformance outcomes are verdicts.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mock_idp::KeyType;
use reference_sp::Weakening;
use tokio::sync::mpsc;

use crate::driver::DriverKind;
use crate::driver::browser::{Browser, BrowserOptions};
use crate::engine::{self, Event, RunOptions};
use crate::env::{EnvOptions, Environment, SpLaunch};
use crate::error::{Error, ExitCode};
use crate::report::{self, Report, ReportDiff};
use crate::scenario::{Catalogue, Scenario};
use crate::target::Target;
use crate::verdict::{Status, Verdict};
use crate::waivers::Waivers;

/// Which SP a run is against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// The embedded reference SP, started in-process, optionally with checks turned off.
    EmbeddedReference {
        /// Checks turned off on purpose.
        weaken: Vec<Weakening>,
    },
    /// A target file.
    File(PathBuf),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The SP.
    pub target: TargetChoice,
    /// Folders of scenarios that add to or replace the embedded catalogue.
    pub scenario_dirs: Vec<PathBuf>,
    /// Whether the embedded catalogue is used at all.
    pub embedded_catalogue: bool,
    /// Id globs to select (all when empty).
    pub filters: Vec<String>,
    /// Shard `k` of `n`.
    pub shard: Option<(usize, usize)>,
    /// Engine options.
    pub options: RunOptions,
    /// Where reports go.
    pub report_dir: PathBuf,
    /// An earlier report folder to compare with.
    pub baseline: Option<PathBuf>,
    /// A waiver file; by default `NAME.waivers.toml` beside a target file, if it exists.
    pub waivers: Option<PathBuf>,
    /// The mock IdP's key type.
    pub key_type: KeyType,
    /// A folder for the mock IdP's keys (kept across runs); fresh keys when absent and the
    /// target names none.
    pub idp_state: Option<PathBuf>,
    /// Where the mock IdP's keys are kept when neither `idp_state` nor the target names a
    /// folder (`saml-harness run` uses a per-user cache); fresh keys when absent.
    pub key_cache: Option<PathBuf>,
    /// With the browser driver: an existing WebDriver server, instead of the ChromeDriver the
    /// harness starts.
    pub webdriver: Option<String>,
    /// Whether inconclusive scenarios fail the run (exit code 1).
    pub strict: bool,
}

impl RunConfig {
    /// The whole embedded catalogue against the embedded reference SP, reports in
    /// `reports/latest/`.
    pub fn new() -> Self {
        Self {
            target: TargetChoice::EmbeddedReference { weaken: Vec::new() },
            scenario_dirs: Vec::new(),
            embedded_catalogue: true,
            filters: Vec::new(),
            shard: None,
            options: RunOptions::default(),
            report_dir: PathBuf::from("reports/latest"),
            baseline: None,
            waivers: None,
            key_type: KeyType::Rsa2048,
            idp_state: None,
            key_cache: None,
            webdriver: None,
            strict: false,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report written.
    pub report: Report,
    /// Changes against the baseline, when one was given.
    pub diff: Option<ReportDiff>,
    /// Whether the run was interrupted (the report covers what finished).
    pub interrupted: bool,
    /// Notes from setting up.
    pub notes: Vec<String>,
}

impl RunOutcome {
    /// The exit code: all passed or waived (warnings, skips and inconclusive scenarios
    /// included, unless `strict`), conformance failures, or harness and infrastructure errors
    /// (which win: results are incomplete; an interrupted run is incomplete too).
    pub fn exit_code(&self, strict: bool) -> ExitCode {
        let has = |s: Status| self.report.results.iter().any(|r| r.status == s);
        if self.interrupted || has(Status::Error) {
            ExitCode::Infrastructure
        } else if has(Status::Fail) || (strict && has(Status::Inconclusive)) {
            ExitCode::Failures
        } else {
            ExitCode::Passed
        }
    }
}

/// Why a run could not produce verdicts: bad input or configuration (exit code 2), or the
/// harness or the SP's infrastructure (exit code 3).
pub type RunError = Error;

/// Loads the catalogue a run or a listing uses.
pub fn load_catalogue(
    embedded: bool,
    dirs: &[PathBuf],
    filters: &[String],
    shard: Option<(usize, usize)>,
) -> Result<Catalogue, RunError> {
    let mut catalogue = if embedded {
        Catalogue::embedded().map_err(|e| Error::input(e.to_string()))?
    } else {
        Catalogue::default()
    };
    for dir in dirs {
        catalogue
            .add_dir(dir)
            .map_err(|e| Error::input(e.to_string()))?;
    }
    catalogue
        .filter(filters)
        .map_err(|e| Error::input(e.to_string()))?;
    if let Some((k, n)) = shard {
        catalogue.shard(k, n);
    }
    Ok(catalogue)
}

/// Runs, writing reports even when `cancel` resolves first (then of what finished).
pub async fn run(
    config: RunConfig,
    progress: mpsc::UnboundedSender<Event>,
    cancel: impl Future<Output = ()>,
) -> Result<RunOutcome, RunError> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let catalogue = load_catalogue(
        config.embedded_catalogue,
        &config.scenario_dirs,
        &config.filters,
        config.shard,
    )?;
    if catalogue.is_empty() {
        return Err(Error::input(
            "no scenarios selected (check --filter, --shard and --scenarios)".to_owned(),
        ));
    }
    let (target, launch, default_waivers) = match &config.target {
        TargetChoice::EmbeddedReference { weaken } => (
            Target::embedded_reference_sp().map_err(|e| Error::input(e.to_string()))?,
            SpLaunch::InProcessReference {
                weaken: weaken.clone(),
            },
            None,
        ),
        TargetChoice::File(path) => (
            Target::load(path).map_err(|e| Error::input(e.to_string()))?,
            SpLaunch::FromTarget,
            Some(waiver_path_for(path)),
        ),
    };
    let waivers = match config
        .waivers
        .clone()
        .or(default_waivers.filter(|p| p.exists()))
    {
        Some(path) => Waivers::load(&path).map_err(|e| Error::input(e.to_string()))?,
        None => Waivers::none(),
    };
    let baseline = match &config.baseline {
        Some(dir) => Some(Report::load(dir).map_err(|e| Error::input(e.to_string()))?),
        None => None,
    };

    let scenarios: Vec<Scenario> = catalogue.iter().cloned().collect();
    engine::check_inputs(&target, &scenarios)?;
    check_report_folder(&config.report_dir)?;

    let target_name = target.file.name.clone();
    let description = target.file.description.clone();
    let env = Environment::start(EnvOptions {
        target,
        launch,
        key_type: config.key_type,
        sp_log: Some(config.report_dir.join("sp.log")),
        idp_state: config.idp_state.clone(),
        key_cache: config.key_cache.clone(),
    })
    .await?;
    let env = Arc::new(env);
    let notes = env.notes().to_vec();
    let browser = match config.options.driver {
        DriverKind::Http => None,
        DriverKind::Browser => match Browser::start(BrowserOptions {
            webdriver: config.webdriver.clone(),
            sp_base: env.sp_base().to_owned(),
            idp_base: env.idp().base_url().to_owned(),
            step_timeout: config.options.step_timeout,
        })
        .await
        {
            Ok(b) => Some(b),
            Err(e) => {
                if let Ok(env) = Arc::try_unwrap(env) {
                    env.stop().await;
                }
                return Err(Error::harness(e.to_string()));
            }
        },
    };

    let finished: Arc<Mutex<Vec<Verdict>>> = Arc::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let collector = {
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if let Event::ScenarioFinished(v) = &event {
                    finished
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((**v).clone());
                }
                let _ = progress.send(event);
            }
        })
    };
    let unfinished = scenarios.clone();
    let engine_run = engine::run(
        Arc::clone(&env),
        scenarios,
        config.options,
        browser.clone(),
        tx,
    );
    let (outcome, interrupted) = tokio::select! {
        outcome = engine_run => (outcome, false),
        () = cancel => (engine::Outcome::default(), true),
    };
    let engine::Outcome {
        mut verdicts,
        controls,
        profile,
    } = outcome;
    let _ = collector.await;
    // Every session closed and every process the harness started ended, interrupted or not.
    if let Some(browser) = browser {
        browser.shutdown().await;
    }
    if interrupted {
        verdicts = std::mem::take(&mut *finished.lock().unwrap_or_else(PoisonError::into_inner));
        // What did not finish is in the report too, as an error each: a partial report must
        // not read as a smaller, passing run.
        let done: std::collections::BTreeSet<String> =
            verdicts.iter().map(|v| v.id.clone()).collect();
        verdicts.extend(
            unfinished
                .iter()
                .filter(|s| !done.contains(&s.id))
                .map(not_run),
        );
        verdicts.sort_by(|a, b| a.id.cmp(&b.id));
    }
    match Arc::try_unwrap(env) {
        Ok(env) => env.stop().await,
        Err(_) => tracing::warn!("environment still in use; it stops when dropped"),
    }

    let stale = waivers.apply(&mut verdicts);
    let duration = clock.elapsed();
    let mut report = Report::new(
        &target_name,
        description.as_deref(),
        started_at,
        duration,
        verdicts,
        stale,
        controls,
        profile,
    );
    report.interrupted = interrupted;
    report::write_report(&config.report_dir, &report).map_err(|e| Error::harness(e.to_string()))?;
    let diff = baseline.as_ref().map(|old| report::diff(old, &report));
    Ok(RunOutcome {
        report,
        diff,
        interrupted,
        notes,
    })
}

/// What an interrupted run observed of a scenario it did not finish.
pub const NOT_RUN: &str = "not run";

/// A scenario an interrupted run did not finish, as an error.
fn not_run(scenario: &Scenario) -> Verdict {
    Verdict {
        id: scenario.id.clone(),
        title: scenario.file.title.clone(),
        status: Status::Error,
        severity: None,
        severity_reason: None,
        level: scenario.file.level,
        expected: crate::judge::describe(&scenario.file.expect),
        observed: NOT_RUN.to_owned(),
        reason: "not run: the run was interrupted before this scenario finished".to_owned(),
        spec: scenario.file.spec.clone(),
        duration_ms: 0,
        observation: None,
        expectation: Some(scenario.file.expect.clone()),
        control: None,
        evidence: crate::verdict::Evidence::default(),
    }
}

/// Makes the report folder and checks that a file can be written there, before the run (a
/// run whose report cannot be written is found out at the start, not at the end).
fn check_report_folder(dir: &Path) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::input(format!(
            "failed to write to the report folder {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".saml-harness-write-check");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// The per-user folder that keeps the mock IdP's keys between runs (key generation is the
/// largest part of a short run's start-up): `$XDG_CACHE_HOME/saml-harness/mock-idp-keys/TYPE`,
/// else `$HOME/.cache/...`; none when neither is set.
pub fn key_cache(key_type: KeyType) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let name = match key_type {
        KeyType::Rsa2048 => "rsa2048",
        KeyType::EcdsaP256 => "ecdsa-p256",
    };
    Some(base.join("saml-harness/mock-idp-keys").join(name))
}

/// `targets/NAME.waivers.toml` for `targets/NAME.toml`.
pub fn waiver_path_for(target: &Path) -> PathBuf {
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!("{stem}.waivers.toml"))
}
