//! `saml-harness bench` (what `cargo xtask bench` runs): throughput measured as ratios to this
//! machine's RSA-2048 sign rate, all in one run (DESIGN.md section 8: machines differ, so the
//! budgets are ratios to `openssl speed rsa2048` measured in the same run).
//!
//! In order: `openssl speed rsa2048` (when the `openssl` command is there) and the same
//! operation through the openssl crate; a bare HTTP exchange ([`http_floor`]); the mock IdP's
//! signed responses on one thread; the reference SP's ACS validation on one thread; fuzzing
//! in-process and over HTTP (the `saml-harness fuzz` campaigns themselves); the catalogue
//! against the embedded reference SP (the `saml-harness run` itself); a few scenarios in a
//! real browser, where Chromium is installed; last, the mock IdP's resident memory as a
//! process of its own ([`memory`]). One-thread rates are per second of that thread's CPU time,
//! as `openssl speed` counts its own (user CPU time), so they compare on a machine shared with
//! other work; the fuzz and catalogue figures are wall-clock, with the process's CPU time
//! beside them. Each measure also says where its CPU went ([`CpuSplit`]: the
//! mock IdP's responses, signatures and self-checks, the reference SP's validations, from the
//! process's [`hardening::meter`]s), and what the design's own parts cost at the least
//! (`essential`), which bounds the ratio any implementation of DESIGN.md sections 4 and 5 can
//! reach on this machine; where the measure makes HTTP requests, those requests and their
//! connections at the price of a bare exchange on the same stack ([`http_floor`], measured
//! first) bound it further. Nothing here is a test: the figures go to `bench.json` and to the
//! terminal, and no figure is checked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hardening::meter::{Reading, process_cpu, thread_cpu};
use mock_idp::plan::{SignatureAlgorithm, Signing, SigningLayout};
use mock_idp::{KeyType, Plan};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fuzz::exec::{InProcess, Observed};
use crate::fuzz::{FuzzConfig, FuzzTarget};
use crate::run::{RunConfig, TargetChoice};
use http_floor::HttpFloor;

pub mod http_floor;
pub mod memory;

/// What a bench run measures and where it writes.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// How long each one-thread measurement runs (and `openssl speed -seconds`, rounded up).
    pub seconds: f64,
    /// Random cases of the in-process fuzz campaign.
    pub fuzz_cases: u64,
    /// Random cases of the fuzz campaign over HTTP.
    pub http_fuzz_cases: u64,
    /// Scenario id globs for the catalogue run (all when empty).
    pub catalogue_filters: Vec<String>,
    /// Scenario id globs for the browser run (`login/*` by default).
    pub browser_filters: Vec<String>,
    /// Where the mock IdP's keys are kept for the catalogue run (as `saml-harness run`).
    pub key_cache: Option<PathBuf>,
    /// Folder of `bench.json` and of the scratch reports of the fuzz and catalogue runs.
    pub out_dir: PathBuf,
    /// The `saml-harness` executable whose `idp serve` the memory measure starts (default:
    /// this process's own, when it is `saml-harness`).
    pub harness_exe: Option<PathBuf>,
}

impl BenchConfig {
    /// Three seconds a measurement, 1,000 in-process and 300 HTTP fuzz cases, the whole
    /// catalogue, written to `reports/bench/`.
    pub fn new() -> Self {
        Self {
            seconds: 3.0,
            fuzz_cases: 1000,
            http_fuzz_cases: 300,
            catalogue_filters: Vec::new(),
            browser_filters: vec!["login/*".to_owned()],
            key_cache: None,
            out_dir: PathBuf::from("reports/bench"),
            harness_exe: None,
        }
    }

    /// `bench.json`'s path.
    pub fn json_path(&self) -> PathBuf {
        self.out_dir.join("bench.json")
    }
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// `bench.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// 1.
    pub schema_version: u32,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The machine.
    pub machine: Machine,
    /// Whether the harness was built with optimizations (figures of a debug build mean
    /// little).
    pub release_build: bool,
    /// Seconds of each one-thread measurement.
    pub seconds: f64,
    /// The reference every ratio divides by: RSA-2048 signatures per second on one core.
    pub sign_rate: SignRate,
    /// `openssl speed rsa2048`, when the command ran.
    pub openssl_speed: Option<OpensslSpeed>,
    /// The same signature (PKCS#1 v1.5, SHA-256, a key parsed once) through the openssl crate.
    pub openssl_crate: Rate,
    /// A bare HTTP exchange's CPU on the stack of the harness and its servers (absent from
    /// files written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_floor: Option<HttpFloor>,
    /// The measurements, each with its ratio to the sign rate.
    pub measures: Vec<Measure>,
    /// The catalogue against the embedded reference SP.
    pub catalogue: Catalogue,
    /// Scenarios in a real browser (absent when they did not run: then
    /// `browser_not_measured` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserRun>,
    /// Why no scenario ran in a browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_not_measured: Option<String>,
    /// The mock IdP's resident memory as a process of its own (absent when it was not
    /// measured: then `idp_memory_not_measured` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_memory: Option<memory::IdpMemory>,
    /// Why the mock IdP's memory was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_memory_not_measured: Option<String>,
}

/// Cores, processor and load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// The processor's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The 1-minute load average when the run started and when it ended (`/proc/loadavg`):
    /// another build on the same cores lowers the wall-clock figures.
    pub load_average: [f64; 2],
}

/// The sign rate the ratios use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignRate {
    /// Signatures per second, one core.
    pub per_second: f64,
    /// `openssl speed rsa2048`, or `openssl crate` when the command is missing.
    pub source: String,
}

/// `openssl speed rsa2048`'s figures (per second of its user CPU time).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpensslSpeed {
    /// Signatures per second.
    pub sign_per_second: f64,
    /// Verifications per second.
    pub verify_per_second: f64,
}

/// Operations on one thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rate {
    /// Operations done.
    pub count: u64,
    /// Wall time, seconds.
    pub wall_seconds: f64,
    /// The thread's CPU time, seconds.
    pub cpu_seconds: f64,
    /// Per second of CPU time (`count / cpu_seconds`): one core's rate.
    pub per_second: f64,
}

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measure {
    /// A stable key: `idp_response`, `idp_both`, `sp_acs`, `fuzz_in_process`, `fuzz_http`.
    pub key: String,
    /// In words.
    pub what: String,
    /// Per second.
    pub per_second: f64,
    /// What the rate counts per: `one core` (CPU time of one thread) or `wall` (all threads).
    pub basis: String,
    /// `per_second / sign_rate`.
    pub ratio: f64,
    /// DESIGN.md section 8's floor for the ratio, where it sets one.
    pub budget: Option<f64>,
    /// The process's CPU time per operation, milliseconds (for the wall-clock measures).
    pub cpu_ms_each: Option<f64>,
    /// Where the CPU went, per operation (absent from files written before it was
    /// measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<CpuSplit>,
}

/// Where a measure's CPU went, per operation (a response, a case, a scenario), from the
/// process's meters ([`hardening::meter`]) and its CPU clock; every figure is in RSA
/// signatures' worth (CPU time times the sign rate), with how many operations of each kind
/// ran per operation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuSplit {
    /// What the figures are per: `response`, `case` or `scenario`.
    pub per: String,
    /// All the CPU time measured, per operation.
    pub total: f64,
    /// The parts, in the pipeline's order (the parts marked `within` are inside the part
    /// they name).
    pub parts: Vec<CpuPart>,
    /// What no meter covers (HTTP, the harness's own work, reports, allocation, start-up):
    /// `total` less the parts that are not `within` another.
    pub rest: f64,
    /// HTTP requests the process's servers (the mock IdP's and the reference SP's) answered,
    /// per operation.
    pub http_requests: f64,
    /// TCP connections they accepted, per operation.
    pub http_connections: f64,
    /// The least this work can cost as DESIGN.md sections 4 and 5 build it, per operation:
    /// each private-key signature at the cost of its RSA operation alone (1 signature's
    /// worth; xmlsec's parse, canonicalization and serialization around it taken as free),
    /// plus the self-checks (every response a plan calls valid is verified before it is sent)
    /// and the reference SP's validations (samael) as measured; no HTTP, no harness.
    pub essential: f64,
    /// The least the HTTP requests and connections above cost, per operation: each at the
    /// price of a bare exchange on the same stack ([`http_floor`]); 0 where no HTTP ran
    /// (absent from files written before it was measured).
    #[serde(default)]
    pub http_floor: f64,
}

impl CpuSplit {
    /// The metered parts together (those not `within` another), per operation: `total` less
    /// `rest`.
    pub fn metered(&self) -> f64 {
        self.parts
            .iter()
            .filter(|p| p.within.is_none())
            .map(|p| p.signatures)
            .sum()
    }

    /// The least an operation can cost: `essential` and the HTTP floor.
    pub fn least(&self) -> f64 {
        self.essential + self.http_floor
    }

    /// The least an operation can cost with the metered parts as measured: only the work above
    /// the HTTP floor that no meter covers left out.
    pub fn least_as_measured(&self) -> f64 {
        self.metered() + self.http_floor
    }
}

/// One metered kind of work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuPart {
    /// A stable key: `idp_responses`, `idp_signatures`, `idp_self_checks`, `sp_validations`,
    /// `sp_verifications`.
    pub key: String,
    /// In words.
    pub what: String,
    /// The part it is inside, when it is (the signatures of logout messages, few, are made
    /// outside any response: in `rest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// How many ran, per operation measured.
    pub count: f64,
    /// Their CPU time per operation measured, in RSA signatures' worth.
    pub signatures: f64,
}

/// What a split prices its parts at: the sign rate (signatures per second) and a bare HTTP
/// exchange.
#[derive(Debug, Clone, Copy)]
struct Prices {
    sign_rate: f64,
    floor: HttpFloor,
}

/// The process's meters at one moment.
#[derive(Debug, Clone, Copy)]
struct Meters {
    responses: Reading,
    signatures: Reading,
    self_checks: Reading,
    validations: Reading,
    accepted: Reading,
    verifications: Reading,
    requests: Reading,
    connections: Reading,
}

impl Meters {
    fn read() -> Self {
        Self {
            responses: mock_idp::meters::RESPONSES.read(),
            signatures: mock_idp::meters::SIGNATURES.read(),
            self_checks: mock_idp::meters::SELF_CHECKS.read(),
            validations: reference_sp::meters::VALIDATIONS.read(),
            accepted: reference_sp::meters::ACCEPTED.read(),
            verifications: reference_sp::meters::VERIFICATIONS.read(),
            requests: hardening::serve::REQUESTS.read(),
            connections: hardening::serve::CONNECTIONS.read(),
        }
    }

    /// What ran since `earlier`, `units` operations that took `cpu` in all, as a split per
    /// operation at `sign_rate` signatures per second.
    fn split_since(
        &self,
        earlier: &Meters,
        per: &str,
        units: u64,
        cpu: Duration,
        prices: Prices,
    ) -> CpuSplit {
        let Prices { sign_rate, floor } = prices;
        let units = units.max(1) as f64;
        let worth = |d: Duration| d.as_secs_f64() * sign_rate / units;
        let part = |key: &str, what: &str, within: Option<&str>, now: Reading, then: Reading| {
            let r = now.since(then);
            CpuPart {
                key: key.to_owned(),
                what: what.to_owned(),
                within: within.map(str::to_owned),
                count: r.count as f64 / units,
                signatures: worth(r.cpu()),
            }
        };
        let accepted = self.accepted.since(earlier.accepted).count as f64 / units;
        let responses = part(
            "idp_responses",
            "mock IdP, building responses",
            None,
            self.responses,
            earlier.responses,
        );
        let signatures = part(
            "idp_signatures",
            "mock IdP, private-key signatures (xmlsec's whole pass for an enveloped one)",
            Some("idp_responses"),
            self.signatures,
            earlier.signatures,
        );
        let self_checks = part(
            "idp_self_checks",
            "mock IdP, self-checks",
            Some("idp_responses"),
            self.self_checks,
            earlier.self_checks,
        );
        let validations = part(
            "sp_validations",
            &format!("reference SP, validating responses ({accepted:.2} accepted)"),
            None,
            self.validations,
            earlier.validations,
        );
        let verifications = part(
            "sp_verifications",
            "reference SP, samael's signature verification",
            Some("sp_validations"),
            self.verifications,
            earlier.verifications,
        );
        let essential = signatures.count + self_checks.signatures + validations.signatures;
        let parts = vec![
            responses,
            signatures,
            self_checks,
            validations,
            verifications,
        ];
        let http_requests = self.requests.since(earlier.requests).count as f64 / units;
        let http_connections = self.connections.since(earlier.connections).count as f64 / units;
        let mut split = CpuSplit {
            per: per.to_owned(),
            total: worth(cpu),
            rest: 0.0,
            http_requests,
            http_connections,
            essential,
            http_floor: floor.ms(http_requests, http_connections) * sign_rate / 1000.0,
            parts,
        };
        split.rest = (split.total - split.metered()).max(0.0);
        split
    }
}

/// The catalogue run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalogue {
    /// Scenarios run.
    pub scenarios: usize,
    /// Scenarios that passed (the others are a finding of the run, not of the bench).
    pub passed: usize,
    /// Wall time including start-up, seconds (budget: 2 s on 2 cores).
    pub wall_seconds: f64,
    /// The process's CPU time, seconds (harness, mock IdP and reference SP together).
    pub cpu_seconds: f64,
    /// Wall time per scenario, milliseconds.
    pub wall_ms_per_scenario: f64,
    /// CPU time per scenario, milliseconds.
    pub cpu_ms_per_scenario: f64,
    /// The wall time in RSA signatures' worth (`wall_seconds * sign_rate`).
    pub wall_in_signatures: f64,
    /// The CPU time per scenario in RSA signatures' worth (budget: under 3).
    pub cpu_per_scenario_in_signatures: f64,
    /// The scenario that took longest: no run can be shorter (absent from files written
    /// before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest: Option<Longest>,
    /// Where the CPU went, per scenario (absent from files written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<CpuSplit>,
}

/// Scenarios against the embedded reference SP driven through Chromium (`--driver browser`),
/// timed from holding a browser to the verdict (the browser's start is not counted: DESIGN.md
/// section 8 budgets a browser scenario at 400 ms after the browser is up).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserRun {
    /// The scenarios' id globs.
    pub filters: Vec<String>,
    /// Scenarios run.
    pub scenarios: usize,
    /// Scenarios that passed.
    pub passed: usize,
    /// Browsers at once (`--jobs`).
    pub jobs: usize,
    /// Wall time including the browser's start, seconds.
    pub wall_seconds: f64,
    /// The median scenario, milliseconds.
    pub median_ms: u64,
    /// The slowest scenario.
    pub longest: Longest,
    /// DESIGN.md section 8's ceiling for one scenario, milliseconds.
    pub budget_ms: u64,
}

/// The longest scenario of the catalogue run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Longest {
    /// Its id.
    pub id: String,
    /// Its duration, milliseconds (from holding its permit to its verdict).
    pub ms: u64,
}

/// Runs every measurement, writes `bench.json` into `config.out_dir`.
pub async fn bench(config: &BenchConfig) -> Result<BenchReport, Error> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let load_start = load_average();
    let io = |e: std::io::Error| {
        Error::input(format!(
            "failed to write to {}: {e}",
            config.out_dir.display()
        ))
    };
    std::fs::create_dir_all(&config.out_dir).map_err(io)?;
    let seconds = Duration::from_secs_f64(config.seconds.max(0.01));

    let openssl_speed = openssl_speed(config.seconds);
    let openssl_crate = openssl_sign_rate(seconds)?;
    let sign_rate = match &openssl_speed {
        Some(speed) => SignRate {
            per_second: speed.sign_per_second,
            source: "openssl speed rsa2048".to_owned(),
        },
        None => SignRate {
            per_second: openssl_crate.per_second,
            source: "openssl crate".to_owned(),
        },
    };
    let ratio = |per_second: f64| per_second / sign_rate.per_second;
    let http_floor = http_floor::measure(seconds / 2).await?;
    let prices = Prices {
        sign_rate: sign_rate.per_second,
        floor: http_floor,
    };
    let mut measures = Vec::new();

    let in_process = InProcess::new(&[], KeyType::Rsa2048, config.key_cache.as_deref())?;
    for (key, layout, what) in [
        (
            "idp_response",
            SigningLayout::Response,
            "mock IdP, signed responses (Response signed: 1 RSA signature), self-check included",
        ),
        (
            "idp_both",
            SigningLayout::Both,
            "mock IdP, signed responses (Response and Assertion: 2 RSA signatures), self-check included",
        ),
    ] {
        let plan = rsa_plan(layout);
        let (rate, split) = metered(seconds, "response", prices, || {
            let built = in_process
                .respond(&plan)
                .map_err(|e| Error::harness(format!("the mock IdP failed: {e}")))?;
            if built.self_checked {
                Ok(())
            } else {
                Err(Error::harness(
                    "the mock IdP skipped its self-check".to_owned(),
                ))
            }
        })?;
        measures.push(Measure {
            key: key.to_owned(),
            what: what.to_owned(),
            per_second: rate.per_second,
            basis: "one core".to_owned(),
            ratio: ratio(rate.per_second),
            budget: (layout == SigningLayout::Response).then_some(0.8),
            cpu_ms_each: None,
            split: Some(split),
        });
    }

    let encoded = in_process
        .encode(&rsa_plan(SigningLayout::Both), "member")
        .map_err(|o| Error::harness(format!("the mock IdP failed: {}", o.summary())))?;
    let (rate, split) = metered(seconds, "validation", prices, || {
        match in_process.validate(&encoded) {
            Observed::SignedIn(_) => Ok(()),
            other => Err(Error::harness(format!(
                "the reference SP did not accept a valid response: {}",
                other.summary()
            ))),
        }
    })?;
    measures.push(Measure {
        key: "sp_acs".to_owned(),
        what: "reference SP, ACS validations of a valid response (2 RSA signatures)".to_owned(),
        per_second: rate.per_second,
        basis: "one core".to_owned(),
        ratio: ratio(rate.per_second),
        budget: None,
        cpu_ms_each: None,
        split: Some(split),
    });
    drop(in_process);

    for (key, target, cases, budget, what) in [
        (
            "fuzz_in_process",
            FuzzTarget::InProcess { weaken: Vec::new() },
            config.fuzz_cases,
            1.0,
            "fuzz cases in-process (all cores)",
        ),
        (
            "fuzz_http",
            FuzzTarget::EmbeddedReference { weaken: Vec::new() },
            config.http_fuzz_cases,
            0.3,
            "fuzz cases over HTTP against the embedded reference SP",
        ),
    ] {
        let mut fuzz = FuzzConfig::new();
        fuzz.key_cache = config.key_cache.clone();
        fuzz.target = target;
        fuzz.cases = cases.max(1);
        fuzz.seed = 2026;
        fuzz.report_dir = config.out_dir.join(key);
        // A fresh regression file: the bench runs random cases only.
        let regressions = fuzz.regressions_path();
        if regressions.exists() {
            std::fs::remove_file(&regressions).map_err(io)?;
        }
        let meters = Meters::read();
        let cpu = process_cpu();
        let outcome = crate::fuzz::fuzz(fuzz).await?;
        let cpu = process_cpu().saturating_sub(cpu);
        let result = &outcome.report.result;
        let split = Meters::read().split_since(&meters, "case", result.cases, cpu, prices);
        measures.push(Measure {
            key: key.to_owned(),
            what: what.to_owned(),
            per_second: result.cases_per_second,
            basis: "wall".to_owned(),
            ratio: ratio(result.cases_per_second),
            budget: Some(budget),
            cpu_ms_each: Some(cpu.as_secs_f64() * 1000.0 / result.cases.max(1) as f64),
            split: Some(split),
        });
    }

    let run = embedded_run(config, &config.catalogue_filters, "catalogue");
    let meters = Meters::read();
    let cpu = process_cpu();
    let wall = Instant::now();
    let outcome = run_to_end(run).await?;
    let wall = wall.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu);
    let split = Meters::read().split_since(
        &meters,
        "scenario",
        outcome.report.summary.total as u64,
        cpu,
        prices,
    );
    let cpu = cpu.as_secs_f64();
    let scenarios = outcome.report.summary.total.max(1);
    let catalogue = Catalogue {
        scenarios: outcome.report.summary.total,
        passed: outcome.report.summary.passed,
        wall_seconds: wall,
        cpu_seconds: cpu,
        wall_ms_per_scenario: wall * 1000.0 / scenarios as f64,
        cpu_ms_per_scenario: cpu * 1000.0 / scenarios as f64,
        wall_in_signatures: wall * sign_rate.per_second,
        cpu_per_scenario_in_signatures: cpu / scenarios as f64 * sign_rate.per_second,
        longest: longest(&outcome.report.results),
        split: Some(split),
    };

    let (browser, browser_not_measured) = match browser_run(config).await? {
        Ok(run) => (Some(run), None),
        Err(why) => (None, Some(why)),
    };

    // As many signed responses as the mock IdP makes in about `seconds` on one core, and a
    // request of 4 MiB for every hundred of them.
    let signed = (config.seconds * 700.0).ceil().max(20.0) as u64;
    let (idp_memory, idp_memory_not_measured) =
        match memory::idp_program(config.harness_exe.as_deref()) {
            Ok(program) => (
                Some(memory::measure(&program, signed, signed.div_ceil(100)).await?),
                None,
            ),
            Err(why) => (None, Some(why)),
        };

    let report = BenchReport {
        schema_version: 1,
        started_at,
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            load_average: [load_start, load_average()],
        },
        release_build: !cfg!(debug_assertions),
        seconds: config.seconds,
        sign_rate,
        openssl_speed,
        openssl_crate,
        http_floor: Some(http_floor),
        measures,
        catalogue,
        browser,
        browser_not_measured,
        idp_memory,
        idp_memory_not_measured,
    };
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::harness(format!("failed to serialize bench.json: {e}")))?;
    std::fs::write(config.json_path(), json + "\n").map_err(io)?;
    Ok(report)
}

/// The report as the terminal shows it.
pub fn render_text(report: &BenchReport, json_path: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "machine: {} cores, {}; load average {:.2} at the start, {:.2} at the end{}",
        m.cores,
        m.cpu,
        m.load_average[0],
        m.load_average[1],
        if report.release_build {
            ""
        } else {
            " (DEBUG BUILD: figures mean little)"
        }
    );
    let _ = write!(
        out,
        "sign rate: {:.0} RSA-2048 signatures/s on one core ({})",
        report.sign_rate.per_second, report.sign_rate.source
    );
    let _ = writeln!(
        out,
        "; openssl crate: {:.0}/s{}",
        report.openssl_crate.per_second,
        report
            .openssl_speed
            .as_ref()
            .map(|s| format!("; openssl speed verify: {:.0}/s", s.verify_per_second))
            .unwrap_or_default()
    );
    if let Some(floor) = &report.http_floor {
        let worth = |ms: f64| ms * report.sign_rate.per_second / 1000.0;
        let _ = writeln!(
            out,
            "HTTP floor (a bare exchange on loopback, hyper and reqwest, both ends, {} in flight): a request {:.3} ms of CPU = {:.2} signatures' worth, a connection of its own {:.3} ms = {:.2} more",
            floor.in_flight,
            floor.request_ms,
            worth(floor.request_ms),
            floor.connection_ms,
            worth(floor.connection_ms)
        );
    }
    let _ = writeln!(
        out,
        "{:<100} {:>10} {:>8} {:>8} {:>12}",
        "measure", "per second", "ratio", "budget", "CPU ms each"
    );
    for measure in &report.measures {
        let what = format!("{} [{}]", measure.what, measure.basis);
        let _ = writeln!(
            out,
            "{:<100} {:>10.0} {:>7.2}x {:>8} {:>12}",
            what,
            measure.per_second,
            measure.ratio,
            measure
                .budget
                .map(|b| format!(">={b:.2}x"))
                .unwrap_or_default(),
            measure
                .cpu_ms_each
                .map(|c| format!("{c:.2}"))
                .unwrap_or_default()
        );
    }
    let c = &report.catalogue;
    let _ = writeln!(
        out,
        "catalogue: {} scenarios ({} passed) against the embedded reference SP: {:.2} s wall = {:.0} signatures' worth (budget 2 s), {:.2} s CPU; per scenario {:.1} ms wall, {:.2} ms CPU = {:.2} signatures' worth (budget < 3)",
        c.scenarios,
        c.passed,
        c.wall_seconds,
        c.wall_in_signatures,
        c.cpu_seconds,
        c.wall_ms_per_scenario,
        c.cpu_ms_per_scenario,
        c.cpu_per_scenario_in_signatures
    );
    if let Some(longest) = &c.longest {
        let _ = writeln!(
            out,
            "longest scenario: {} ({} ms; no run of the catalogue is shorter)",
            longest.id, longest.ms
        );
    }
    render_splits(&mut out, report);
    match (&report.browser, &report.browser_not_measured) {
        (Some(b), _) => {
            let _ = writeln!(
                out,
                "browser ({}): {} scenarios ({} passed), {} browser{} at once: {:.1} s wall with the browser's start; per scenario median {} ms, longest {} ({} ms) (budget {} ms)",
                b.filters.join(", "),
                b.scenarios,
                b.passed,
                b.jobs,
                if b.jobs == 1 { "" } else { "s" },
                b.wall_seconds,
                b.median_ms,
                b.longest.id,
                b.longest.ms,
                b.budget_ms
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "browser: not measured: {why}");
        }
        (None, None) => {}
    }
    match (&report.idp_memory, &report.idp_memory_not_measured) {
        (Some(m), _) => {
            let _ = writeln!(
                out,
                "mock IdP memory (`saml-harness idp serve`): {:.1} MB resident after start-up, {:.1} MB after {} signed responses and {} request{} of 4 MiB, {:.1} MB at the most (budget < {:.0} MB)",
                m.started_mb,
                m.end_mb,
                m.signed_responses,
                m.oversized_requests,
                if m.oversized_requests == 1 { "" } else { "s" },
                m.peak_mb,
                m.budget_mb
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "mock IdP memory: not measured: {why}");
        }
        (None, None) => {}
    }
    let _ = writeln!(out, "bench.json written to {}", json_path.display());
    out
}

/// Where the CPU of each measure went, and what the design's own parts leave of its budget.
fn render_splits(out: &mut String, report: &BenchReport) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "where the CPU goes, in RSA signatures' worth ({:.3} ms of CPU each here), xN: how many ran; \"essential\": each signature at its RSA operation alone, plus the self-checks and the reference SP's validations as measured; \"HTTP floor\": the requests and connections at the HTTP floor's prices:",
        1000.0 / report.sign_rate.per_second
    );
    let cores = report.machine.cores.max(1) as f64;
    for measure in &report.measures {
        let Some(split) = &measure.split else {
            continue;
        };
        let on = if measure.basis == "wall" { cores } else { 1.0 };
        let (least, as_measured) = (split.least(), split.least_as_measured());
        let bound = match measure.budget {
            Some(budget) if least > 0.0 && as_measured > 0.0 => format!(
                "; so at most {:.2}x on {on:.0} core{}, {:.2}x with the mock IdP's and the SP's parts as measured (budget {budget:.2}x)",
                on / least,
                if on == 1.0 { "" } else { "s" },
                on / as_measured
            ),
            _ => String::new(),
        };
        let _ = writeln!(out, "  {}: {}{bound}", measure.key, split_text(split));
    }
    if let Some(split) = &report.catalogue.split {
        let _ = writeln!(
            out,
            "  catalogue: {}; so at least {:.2} per scenario, {:.2} with the mock IdP's and the SP's parts as measured (budget < 3)",
            split_text(split),
            split.least(),
            split.least_as_measured()
        );
    }
}

/// `2.83 per response = IdP responses 2.81 x1.00 [signing 1.63 x1.00, self-checks 0.77
/// x1.00] + the rest 0.02; essential 1.77`: each part's signatures' worth, and how many ran;
/// where HTTP ran, the rest says how many requests and connections, and `+ HTTP floor 2.10`
/// what they cost at the least.
fn split_text(split: &CpuSplit) -> String {
    fn short(key: &str) -> &str {
        match key {
            "idp_responses" => "IdP responses",
            "idp_signatures" => "signing",
            "idp_self_checks" => "self-checks",
            "sp_validations" => "SP validations",
            "sp_verifications" => "samael verification",
            other => other,
        }
    }
    let part = |p: &CpuPart| format!("{} {:.2} x{:.2}", short(&p.key), p.signatures, p.count);
    let outer: Vec<String> = split
        .parts
        .iter()
        .filter(|p| p.within.is_none() && p.count > 0.0)
        .map(|p| {
            let inner: Vec<String> = split
                .parts
                .iter()
                .filter(|q| q.within.as_deref() == Some(p.key.as_str()) && q.count > 0.0)
                .map(part)
                .collect();
            if inner.is_empty() {
                part(p)
            } else {
                format!("{} [{}]", part(p), inner.join(", "))
            }
        })
        .chain(std::iter::once(if split.http_requests > 0.0 {
            format!(
                "the rest {:.2} (HTTP: x{:.2} requests on x{:.2} connections)",
                split.rest, split.http_requests, split.http_connections
            )
        } else {
            format!("the rest {:.2}", split.rest)
        }))
        .collect();
    let floor = if split.http_floor > 0.0 {
        format!(" + HTTP floor {:.2}", split.http_floor)
    } else {
        String::new()
    };
    format!(
        "{:.2} per {} = {}; essential {:.2}{floor}",
        split.total,
        split.per,
        outer.join(" + "),
        split.essential
    )
}

/// Runs `config.browser_filters` with `--driver browser` against the embedded reference SP;
/// the inner `Err` says why it could not (no Chromium or ChromeDriver, no scenario).
async fn browser_run(config: &BenchConfig) -> Result<Result<BrowserRun, String>, Error> {
    use crate::driver::browser::{find_chromedriver, find_chromium};
    if find_chromium().is_none() || find_chromedriver().is_none() {
        return Ok(Err(
            "Chromium or ChromeDriver is not installed (`cargo xtask setup` installs both; CHROMIUM and CHROMEDRIVER name others)".to_owned(),
        ));
    }
    let mut run = embedded_run(config, &config.browser_filters, "browser");
    run.options.driver = crate::driver::DriverKind::Browser;
    run.options.jobs = crate::engine::RunOptions::default_jobs(run.options.driver);
    let jobs = run.options.jobs;
    let wall = Instant::now();
    let outcome = run_to_end(run).await?;
    let wall_seconds = wall.elapsed().as_secs_f64();
    let results = &outcome.report.results;
    let mut ms: Vec<u64> = results.iter().map(|r| r.duration_ms).collect();
    ms.sort_unstable();
    let Some(longest) = longest(results) else {
        return Ok(Err(format!(
            "no scenario matches {}",
            config.browser_filters.join(", ")
        )));
    };
    Ok(Ok(BrowserRun {
        filters: config.browser_filters.clone(),
        scenarios: outcome.report.summary.total,
        passed: outcome.report.summary.passed,
        jobs,
        wall_seconds,
        median_ms: ms[ms.len() / 2],
        longest,
        budget_ms: 400,
    }))
}

/// A run of the catalogue's `filters` (all when empty) against the embedded reference SP, its
/// report in `folder` of the bench's.
fn embedded_run(config: &BenchConfig, filters: &[String], folder: &str) -> RunConfig {
    let mut run = RunConfig::new();
    run.target = TargetChoice::EmbeddedReference { weaken: Vec::new() };
    run.filters = filters.to_vec();
    run.report_dir = config.out_dir.join(folder);
    run.key_cache = config.key_cache.clone();
    run
}

/// Runs `run` to its end, with no one listening to its events.
async fn run_to_end(run: RunConfig) -> Result<crate::run::RunOutcome, Error> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    crate::run::run(run, tx, std::future::pending()).await
}

/// The scenario that took longest.
fn longest(results: &[crate::report::ResultEntry]) -> Option<Longest> {
    results
        .iter()
        .max_by_key(|r| r.duration_ms)
        .map(|r| Longest {
            id: r.id.clone(),
            ms: r.duration_ms,
        })
}

/// A plan signing `layout` with RSA-SHA256 and nothing else.
fn rsa_plan(layout: SigningLayout) -> Plan {
    Plan {
        signing: Signing {
            layout: Some(layout),
            algorithm: Some(SignatureAlgorithm::RsaSha256),
            ..Signing::default()
        },
        ..Plan::default()
    }
}

/// Runs `op` on this thread for `duration` (after a short warm-up) and counts.
fn one_thread(
    duration: Duration,
    mut op: impl FnMut() -> Result<(), Error>,
) -> Result<Rate, Error> {
    warm_up(&mut op)?;
    count_for(duration, op)
}

/// [`one_thread`], with where its CPU went per operation (`per`), from the meters.
fn metered(
    duration: Duration,
    per: &str,
    prices: Prices,
    mut op: impl FnMut() -> Result<(), Error>,
) -> Result<(Rate, CpuSplit), Error> {
    warm_up(&mut op)?;
    let meters = Meters::read();
    let rate = count_for(duration, op)?;
    let cpu = Duration::from_secs_f64(rate.cpu_seconds);
    let split = Meters::read().split_since(&meters, per, rate.count, cpu, prices);
    Ok((rate, split))
}

fn warm_up(op: &mut impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    for _ in 0..3 {
        op()?;
    }
    Ok(())
}

/// Runs `op` on this thread for `duration` (at least once) and counts.
fn count_for(duration: Duration, mut op: impl FnMut() -> Result<(), Error>) -> Result<Rate, Error> {
    let cpu = thread_cpu();
    let wall = Instant::now();
    let mut count = 0u64;
    while wall.elapsed() < duration || count == 0 {
        op()?;
        count += 1;
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu().saturating_sub(cpu).as_secs_f64().max(1e-9);
    Ok(Rate {
        count,
        wall_seconds,
        cpu_seconds,
        per_second: count as f64 / cpu_seconds,
    })
}

/// RSA-2048 PKCS#1 v1.5 signatures of a SHA-256 digest through the openssl crate, with one key
/// parsed once: what `openssl speed rsa2048` measures, from inside the process.
fn openssl_sign_rate(duration: Duration) -> Result<Rate, Error> {
    use openssl::pkey::PKey;
    use openssl::pkey_ctx::PkeyCtx;
    use openssl::rsa::{Padding, Rsa};
    let crypto = |e: openssl::error::ErrorStack| Error::harness(format!("openssl: {e}"));
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(crypto)?).map_err(crypto)?;
    let mut ctx = PkeyCtx::new(&key).map_err(crypto)?;
    ctx.sign_init().map_err(crypto)?;
    ctx.set_rsa_padding(Padding::PKCS1).map_err(crypto)?;
    ctx.set_signature_md(openssl::md::Md::sha256())
        .map_err(crypto)?;
    let digest = [0x5au8; 32];
    let mut signature = Vec::with_capacity(256);
    one_thread(duration, || {
        signature.clear();
        ctx.sign_to_vec(&digest, &mut signature)
            .map(|_| ())
            .map_err(crypto)
    })
}

/// `openssl speed -seconds N rsa2048`, when the command is there and prints its table.
fn openssl_speed(seconds: f64) -> Option<OpensslSpeed> {
    let seconds = seconds.ceil().max(1.0) as u64;
    let output = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa2048"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_openssl_speed(&String::from_utf8_lossy(&output.stdout))
}

/// The `rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>` line of `openssl speed`.
fn parse_openssl_speed(text: &str) -> Option<OpensslSpeed> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["rsa", "2048", "bits", _, _, sign, verify] => Some(OpensslSpeed {
                sign_per_second: sign.parse().ok()?,
                verify_per_second: verify.parse().ok()?,
            }),
            _ => None,
        }
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rsa_2048_line_of_openssl_speed_is_read() {
        let text = "Doing 2048 bits private rsa's for 1s: 1290 2048 bits private RSA's in 0.99s\n\
                    version: 3.0.19\n                  sign    verify    sign/s verify/s\n\
                    rsa 2048 bits 0.000767s 0.000022s   1303.0  45000.5\n";
        let speed = parse_openssl_speed(text).expect("parsed");
        assert_eq!(speed.sign_per_second, 1303.0);
        assert_eq!(speed.verify_per_second, 45000.5);
        assert!(parse_openssl_speed("no table here").is_none());
    }

    /// A very short run writes a `bench.json` of the documented shape. No figure is checked:
    /// a timed test would fail on a busy machine.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_run_writes_bench_json_with_every_measure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = BenchConfig {
            seconds: 0.05,
            fuzz_cases: 2,
            http_fuzz_cases: 2,
            catalogue_filters: vec!["addressing/assertion-issuer-missing/response".to_owned()],
            browser_filters: vec!["login/valid-response-signed".to_owned()],
            key_cache: None,
            out_dir: dir.path().to_path_buf(),
            harness_exe: None,
        };
        let report = bench(&config).await.expect("bench");
        let text = std::fs::read_to_string(config.json_path()).expect("bench.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["schema_version"], 1);
        for pointer in [
            "/machine/cores",
            "/machine/load_average/1",
            "/seconds",
            "/sign_rate/per_second",
            "/openssl_crate/per_second",
            "/catalogue/wall_seconds",
            "/catalogue/cpu_seconds",
            "/catalogue/cpu_per_scenario_in_signatures",
        ] {
            assert!(
                json.pointer(pointer)
                    .is_some_and(serde_json::Value::is_number),
                "{pointer}"
            );
        }
        assert!(json["machine"]["cpu"].is_string());
        assert!(json["sign_rate"]["source"].is_string());
        assert_eq!(json["catalogue"]["scenarios"], 1);
        assert_eq!(
            json["catalogue"]["longest"]["id"],
            "addressing/assertion-issuer-missing/response"
        );
        assert!(json["catalogue"]["longest"]["ms"].is_number());
        let keys: Vec<&str> = json["measures"]
            .as_array()
            .expect("measures")
            .iter()
            .map(|m| {
                for field in ["per_second", "ratio"] {
                    assert!(m[field].is_number(), "{field} of {m}");
                }
                m["key"].as_str().expect("key")
            })
            .collect();
        assert_eq!(
            keys,
            [
                "idp_response",
                "idp_both",
                "sp_acs",
                "fuzz_in_process",
                "fuzz_http"
            ]
        );
        // Where the CPU went, from the meters. Other tests of this process may build
        // responses meanwhile, so counts are at least what this run made, never exact.
        let part = |measure: usize, key: &str| {
            json["measures"][measure]["split"]["parts"]
                .as_array()
                .expect("parts")
                .iter()
                .find(|p| p["key"] == key)
                .cloned()
                .unwrap_or_else(|| panic!("{key} of measure {measure}: {json}"))
        };
        let count = |p: &serde_json::Value| p["count"].as_f64().expect("count");
        assert!(count(&part(0, "idp_responses")) >= 1.0, "{json}");
        assert!(count(&part(0, "idp_signatures")) >= 1.0, "{json}");
        assert!(count(&part(0, "idp_self_checks")) >= 1.0, "{json}");
        assert!(count(&part(1, "idp_signatures")) >= 2.0, "{json}");
        assert!(count(&part(2, "sp_validations")) >= 1.0, "{json}");
        assert!(count(&part(2, "sp_verifications")) >= 1.0, "{json}");
        // No HTTP in the in-process measures, so no HTTP floor.
        assert_eq!(json["measures"][3]["split"]["http_floor"], 0.0, "{json}");
        assert_eq!(part(0, "idp_signatures")["within"], "idp_responses");
        for pointer in [
            "/measures/0/split/essential",
            "/measures/3/split/total",
            "/measures/4/split/rest",
            "/catalogue/split/essential",
            "/measures/4/split/http_requests",
            "/catalogue/split/http_connections",
            "/http_floor/request_ms",
            "/measures/4/split/http_floor",
            "/catalogue/split/http_floor",
        ] {
            assert!(
                json.pointer(pointer)
                    .and_then(serde_json::Value::as_f64)
                    .is_some_and(|v| v > 0.0),
                "{pointer}: {json}"
            );
        }
        // The browser run, where Chromium is installed (`cargo xtask test` installs it).
        if crate::driver::browser::find_chromium().is_some()
            && crate::driver::browser::find_chromedriver().is_some()
        {
            assert_eq!(json["browser"]["scenarios"], 1, "{json}");
            assert_eq!(
                json["browser"]["longest"]["id"],
                "login/valid-response-signed"
            );
            assert!(json["browser"]["median_ms"].is_number());
        } else {
            assert!(json["browser_not_measured"].is_string(), "{json}");
        }
        // This process is the test binary: the memory measure needs `saml-harness idp serve`
        // (the binary's own test runs it) and says why it did not run.
        assert!(json.get("idp_memory").is_none());
        assert!(
            json["idp_memory_not_measured"]
                .as_str()
                .is_some_and(|w| w.contains("is not saml-harness")),
            "{json}"
        );
        let text = render_text(&report, &config.json_path());
        assert!(text.contains("mock IdP memory: not measured: "), "{text}");
        assert!(text.contains("\n  idp_response: "), "{text}");
        assert!(text.contains("\n  catalogue: "), "{text}");
        assert!(text.contains("\nHTTP floor ("), "{text}");
        assert!(text.contains(" + HTTP floor "), "{text}");
        assert!(
            text.contains("with the mock IdP's and the SP's parts as measured (budget 0.30x)"),
            "{text}"
        );
        assert!(text.ends_with(&format!(
            "bench.json written to {}\n",
            config.json_path().display()
        )));
    }
}
