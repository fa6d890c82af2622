//! One `saml-harness fuzz` run: set the SP up (in-process validator, the embedded reference
//! SP over HTTP, or a target file), run the campaign, write the report.

use std::path::PathBuf;
use std::sync::Arc;

use mock_idp::KeyType;
use reference_sp::Weakening;

use super::FuzzError;
use super::campaign::{self, CampaignOptions, Executor};
use super::exec::{InProcess, OverHttp};
use super::report::{self, FuzzReport};
use crate::engine::RunOptions;
use crate::env::{EnvOptions, Environment, SpLaunch};
use crate::target::Target;

/// Which SP a fuzz run is against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuzzTarget {
    /// The reference SP's validator, called directly (no HTTP).
    InProcess {
        /// Checks turned off.
        weaken: Vec<Weakening>,
    },
    /// The embedded reference SP over HTTP, started in-process.
    EmbeddedReference {
        /// Checks turned off.
        weaken: Vec<Weakening>,
    },
    /// A target file, over HTTP.
    File(PathBuf),
}

/// Everything a fuzz run needs.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// The SP.
    pub target: FuzzTarget,
    /// Random cases.
    pub cases: u64,
    /// The seed.
    pub seed: u64,
    /// Shrinking candidates per disagreement, at most.
    pub max_shrink: u32,
    /// Disagreements shrunk and written, at most.
    pub max_failures: usize,
    /// Parallelism (threads in-process, scenarios in flight over HTTP).
    pub jobs: usize,
    /// Where `fuzz.json`, `fuzz.md` and `scenarios/` go.
    pub report_dir: PathBuf,
    /// The regression file [default: `REPORT_DIR/regressions.json`].
    pub regressions: Option<PathBuf>,
    /// The mock IdP's key type.
    pub key_type: KeyType,
    /// The folder that keeps the mock IdP's keys (and the embedded reference SP's) between
    /// runs; none: fresh keys in memory.
    pub key_cache: Option<PathBuf>,
    /// Engine options over HTTP (timeouts).
    pub options: RunOptions,
}

impl FuzzConfig {
    /// 256 cases in-process against the reference SP, seed 0, reports in `reports/fuzz`.
    pub fn new() -> Self {
        let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            target: FuzzTarget::InProcess { weaken: Vec::new() },
            cases: 256,
            seed: 0,
            max_shrink: 512,
            max_failures: 3,
            jobs,
            report_dir: PathBuf::from("reports/fuzz"),
            regressions: None,
            key_type: KeyType::Rsa2048,
            key_cache: None,
            options: RunOptions {
                jobs: jobs * 2,
                ..RunOptions::default()
            },
        }
    }

    /// The regression file in use.
    pub fn regressions_path(&self) -> PathBuf {
        self.regressions
            .clone()
            .unwrap_or_else(|| self.report_dir.join("regressions.json"))
    }

    fn reproduce(&self) -> String {
        let mut cmd = String::from("saml-harness fuzz");
        let weaken = match &self.target {
            FuzzTarget::InProcess { weaken } => {
                cmd.push_str(" --in-process");
                weaken.clone()
            }
            FuzzTarget::EmbeddedReference { weaken } => weaken.clone(),
            FuzzTarget::File(path) => {
                cmd.push_str(&format!(" --target {}", path.display()));
                Vec::new()
            }
        };
        for w in weaken {
            cmd.push_str(&format!(" --weaken {w}"));
        }
        cmd.push_str(&format!(" --cases {} --seed {}", self.cases, self.seed));
        cmd
    }
}

impl Default for FuzzConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// What a fuzz run produced.
#[derive(Debug)]
pub struct FuzzOutcome {
    /// The report written.
    pub report: FuzzReport,
}

impl FuzzOutcome {
    /// 0 no disagreement, 1 disagreements, 3 infrastructure errors (they win: the run is
    /// incomplete).
    pub fn exit_code(&self) -> crate::error::ExitCode {
        use crate::error::ExitCode;
        if self.report.result.errors > 0 {
            ExitCode::Infrastructure
        } else if self.report.result.disagreements > 0 {
            ExitCode::Failures
        } else {
            ExitCode::Passed
        }
    }
}

/// Runs the fuzzer and writes its report.
pub async fn fuzz(config: FuzzConfig) -> Result<FuzzOutcome, FuzzError> {
    if config.cases == 0 && !config.regressions_path().exists() {
        return Err(crate::error::Error::input(
            "--cases 0 with no regression file: nothing to run".to_owned(),
        ));
    }
    let options = CampaignOptions {
        cases: config.cases,
        seed: config.seed,
        max_shrink: config.max_shrink,
        max_failures: config.max_failures,
        batch: 256,
        jobs: config.jobs.max(1),
        scenario_dir: config.report_dir.join("scenarios"),
        regressions: config.regressions_path(),
    };
    let (executor, target_name, mode, weaken) = match &config.target {
        FuzzTarget::InProcess { weaken } => (
            Executor::InProcess(Arc::new(InProcess::new(
                weaken,
                config.key_type,
                config.key_cache.as_deref(),
            )?)),
            "reference-sp".to_owned(),
            "in-process",
            weaken.clone(),
        ),
        FuzzTarget::EmbeddedReference { weaken } => {
            let target = Target::embedded_reference_sp()
                .map_err(|e| crate::error::Error::input(e.to_string()))?;
            let env = start(
                target,
                SpLaunch::InProcessReference {
                    weaken: weaken.clone(),
                },
                &config,
            )
            .await?;
            (
                Executor::Http(OverHttp::new(env, config.options)),
                "reference-sp".to_owned(),
                "http",
                weaken.clone(),
            )
        }
        FuzzTarget::File(path) => {
            let target =
                Target::load(path).map_err(|e| crate::error::Error::input(e.to_string()))?;
            let name = target.file.name.clone();
            let env = start(target, SpLaunch::FromTarget, &config).await?;
            (
                Executor::Http(OverHttp::new(env, config.options)),
                name,
                "http",
                Vec::new(),
            )
        }
    };
    let result = campaign::run(&executor, &options).await;
    if let Executor::Http(http) = executor {
        match Arc::try_unwrap(http.into_env()) {
            Ok(env) => env.stop().await,
            Err(_) => tracing::warn!("environment still in use; it stops when dropped"),
        }
    }
    let report = FuzzReport {
        schema_version: 1,
        target: target_name,
        mode: mode.to_owned(),
        weaken: weaken.iter().map(|w| w.name().to_owned()).collect(),
        reproduce: config.reproduce(),
        result: result?,
    };
    report::write(&config.report_dir, &report)?;
    Ok(FuzzOutcome { report })
}

async fn start(
    target: Target,
    launch: SpLaunch,
    config: &FuzzConfig,
) -> Result<Arc<Environment>, FuzzError> {
    let env = Environment::start(EnvOptions {
        target,
        launch,
        key_type: config.key_type,
        sp_log: Some(config.report_dir.join("sp.log")),
        idp_state: None,
        key_cache: config.key_cache.clone(),
    })
    .await?;
    Ok(Arc::new(env))
}
