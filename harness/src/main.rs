//! `saml-harness`: run the SAML conformance catalogue against a service provider.
//!
//! Exit codes: 0 all passed or waived, 1 conformance failures, 2 bad input or configuration,
//! 3 harness or infrastructure error.

// This is the binary edge: it talks to people on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use saml_harness::driver::DriverKind;
use saml_harness::engine::{Event, RunOptions};
use saml_harness::error::ExitCode as Code;
use saml_harness::listing;
use saml_harness::report::{self, Report};
use saml_harness::run::{self, RunConfig, TargetChoice};
use saml_harness::scenario::{self, Catalogue};
use saml_harness::verdict::Status;

/// A SAML 2.0 conformance harness for service providers.
#[derive(Debug, Parser)]
#[command(name = "saml-harness", version)]
struct Cli {
    /// More logs on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the catalogue against an SP (without arguments: the embedded reference SP).
    Run(RunArgs),
    /// List the catalogue.
    List(ListArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Print the rule coverage table (rule id -> scenarios) as Markdown.
    Coverage,
    /// Print the capabilities and settings a target file may declare, with their meanings and
    /// the families that use them, as Markdown (with --plans: every plan field, alteration and
    /// tampering, and the values they take).
    Vocabulary {
        /// The plan vocabulary instead (what a scenario's `[plan]` may say).
        #[arg(long)]
        plans: bool,
    },
    /// The mock IdP.
    Idp {
        #[command(subcommand)]
        command: IdpCommand,
    },
    /// The reference SP.
    Sp {
        #[command(subcommand)]
        command: SpCommand,
    },
    /// Property-based fuzzing of an SP's response validator; disagreements with the oracle
    /// are shrunk to minimal plans and written as scenario files.
    Fuzz(FuzzArgs),
    /// Diagnose a captured response: every check, its evidence, and the fix; or a captured
    /// AuthnRequest (with --sp-metadata) or the SP's metadata: the SP-side conformance checks
    /// (exit 1 when a check fails, 2 on bad input).
    Diagnose(DiagnoseArgs),
    /// Replay a captured response against an SP (default: the embedded reference SP) with the
    /// mock IdP, and show the SP's verdict beside the diagnosis (exit 1 when they disagree).
    Reproduce(ReproduceArgs),
    /// Write a first target file for an SP: read its metadata, try a login with the mock
    /// IdP, find where it shows who is signed in, measure what it accepts, and write a
    /// commented file with `# TODO:` for what was not found (see docs/init.md).
    Init(InitArgs),
    /// Measure throughput as ratios to this machine's RSA-2048 sign rate (openssl speed),
    /// in one run: the mock IdP, the reference SP's ACS, fuzzing in-process and over HTTP, the
    /// catalogue, a few scenarios in a browser; then the mock IdP's memory as a process of its
    /// own; writes bench.json (what `cargo xtask bench` runs, in a release build).
    Bench(BenchArgs),
    /// Compare or join reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Debug, Subcommand)]
enum IdpCommand {
    /// Serve the mock IdP until interrupted.
    Serve(mock_idp::cli::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum SpCommand {
    /// Serve the reference SP until interrupted.
    Serve(reference_sp::cli::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// List what changed between two report folders.
    Diff {
        /// The earlier report folder.
        old: PathBuf,
        /// The later report folder.
        new: PathBuf,
    },
    /// Join the reports of a sharded run into one.
    Merge {
        /// Report folders to join.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long, default_value = "reports/merged")]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// A target file (TOML); without it, the embedded reference SP runs in-process.
    #[arg(long, value_name = "FILE")]
    target: Option<PathBuf>,
    /// A folder of scenario files that add to or replace the embedded catalogue (repeatable).
    #[arg(long = "scenarios", value_name = "DIR")]
    scenarios: Vec<PathBuf>,
    /// Only the scenarios from --scenarios, not the embedded catalogue.
    #[arg(long)]
    no_embedded: bool,
    /// Select scenarios whose id matches a glob (repeatable), e.g. 'signature/*'.
    #[arg(long = "filter", value_name = "GLOB")]
    filters: Vec<String>,
    /// Scenarios in flight at once.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run shard K of N (1-based), e.g. 2/4.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Where reports are written.
    #[arg(long, default_value = "reports/latest", value_name = "DIR")]
    report: PathBuf,
    /// An earlier report folder; what changed is listed.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// A waiver file [default: NAME.waivers.toml beside the target file, if present].
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// Seconds before one HTTP request times out.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    step_timeout: u64,
    /// Seconds before a whole scenario times out.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    scenario_timeout: u64,
    /// Turn a check of the embedded reference SP off (its self-test); see `sp serve --weaken help`.
    #[arg(long, value_name = "CHECK", conflicts_with = "target")]
    weaken: Vec<reference_sp::Weakening>,
    /// Key type of the mock IdP's keys.
    #[arg(long, value_enum, default_value_t = mock_idp::KeyType::Rsa2048)]
    key_type: mock_idp::KeyType,
    /// A folder for the mock IdP's keys, kept across runs [default: the target's idp.state,
    /// else a per-user cache: $XDG_CACHE_HOME/saml-harness/mock-idp-keys/KEY-TYPE].
    #[arg(long, value_name = "DIR")]
    idp_state: Option<PathBuf>,
    /// Make new keys for the mock IdP, in memory, instead of using the per-user cache.
    #[arg(long, conflicts_with = "idp_state")]
    fresh_keys: bool,
    /// How the user agent is simulated: `http` (reqwest, every hop by hand) or `browser`
    /// (headless Chromium through ChromeDriver, started on a free loopback port).
    #[arg(long, value_enum, default_value_t = DriverArg::Http)]
    driver: DriverArg,
    /// Exit 1 when a scenario is inconclusive (its control did not reach its positive outcome,
    /// so it tested nothing), as for a failure.
    #[arg(long)]
    strict: bool,
    /// With `--driver browser`: an existing WebDriver server (e.g. http://127.0.0.1:9515)
    /// instead of starting ChromeDriver.
    #[arg(long, value_name = "URL")]
    webdriver: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  # an SP that runs already and trusts the mock IdP at 127.0.0.1:8180 (keys in .mock-idp):\n  \
  saml-harness init --sp-metadata http://127.0.0.1:3000/saml/metadata \\\n    \
  --login-url http://127.0.0.1:3000/login --idp-bind 127.0.0.1:8180 --idp-state .mock-idp -o my-sp.toml\n\n  \
  # an SP that init starts, after the mock IdP, with the IdP's metadata URL in its environment:\n  \
  saml-harness init --sp-metadata http://127.0.0.1:8380/saml/metadata \\\n    \
  --login-url http://127.0.0.1:8380/login -o targets/my-sp.toml --start-cwd my-sp \\\n    \
  --start-env PORT=8380 --start-env 'IDP_METADATA_URL={idp.metadata_url}' -- node server.js")]
struct InitArgs {
    /// The SP's SAML metadata URL (http or https): its entityID, ACS, SingleLogoutService
    /// and certificates are read there, and the target file points the mock IdP at it.
    #[arg(long, value_name = "URL")]
    sp_metadata: String,
    /// The URL that starts the SP's SAML login (SP-initiated); it may use `{user.email}`.
    #[arg(long, value_name = "URL")]
    login_url: String,
    /// A URL that may show who is signed in (repeatable), tried before the page the login
    /// ended on and common paths (/me, /whoami, /api/me, ...).
    #[arg(long = "probe-url", value_name = "URL")]
    probe_urls: Vec<String>,
    /// Where the target file is written.
    #[arg(short, long, default_value = "target.toml", value_name = "PATH")]
    output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,
    /// The target's name in reports [default: the output file's name without .toml].
    #[arg(long)]
    name: Option<String>,
    /// The email of the user init signs in (the target's `member`).
    #[arg(long, default_value = "alice@corp.example", value_name = "EMAIL")]
    email: String,
    /// Where the mock IdP listens: the address the SP was given its metadata at, when the
    /// SP runs already (loopback only).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    idp_bind: std::net::SocketAddr,
    /// A folder for the mock IdP's keys, kept so an SP configured once keeps trusting them
    /// (written into the target file) [default: the per-user cache `run` uses].
    #[arg(long, value_name = "DIR")]
    idp_state: Option<PathBuf>,
    /// The working folder of the start command (relative to the current folder).
    #[arg(long, value_name = "DIR", requires = "start_command")]
    start_cwd: Option<PathBuf>,
    /// An environment variable of the start command, NAME=VALUE (repeatable); the value may
    /// use {idp.metadata_url}, {idp.entity_id}, {idp.sso_url}, {sp.base_url}.
    #[arg(long = "start-env", value_name = "NAME=VALUE", value_parser = parse_env, requires = "start_command")]
    start_env: Vec<(String, String)>,
    /// A URL that answers 2xx once the started SP is ready [default: the metadata URL].
    #[arg(long, value_name = "URL", requires = "start_command")]
    ready_url: Option<String>,
    /// Seconds to wait for the started SP to be ready.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    ready_timeout: u64,
    /// Seconds before one HTTP request times out.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    step_timeout: u64,
    /// The command that starts the SP, after `--` and last (every word after `--` is the
    /// command's; placeholders allowed): init starts it after the mock IdP, stops it at the
    /// end, and writes it into the target's [start].
    #[arg(last = true, value_name = "COMMAND")]
    start_command: Vec<String>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DriverArg {
    Http,
    Browser,
}

/// What `diagnose` (and `reproduce`) read.
#[derive(Debug, clap::Args)]
struct CaptureArgs {
    /// The capture: a file (base64 or URL-encoded SAMLResponse, a `SAMLResponse=...` form
    /// body, the XML, a SAML-tracer JSON export, a HAR file), `-` for standard input, or the
    /// value itself. For `diagnose`, also the SP's AuthnRequest in any of these shapes (or
    /// its HTTP-Redirect URL), or the SP's metadata: then the SP-side checks run.
    input: String,
    /// Which SAML response of a HAR or SAML-tracer file (1-based); all of them by default.
    #[arg(long, value_name = "N")]
    index: Option<usize>,
    /// The SP's metadata (file or URL): its entityID, ACS URLs, NameID format and requested
    /// attributes.
    #[arg(long, value_name = "FILE|URL")]
    sp_metadata: Option<String>,
    /// The IdP's metadata (file or URL): its entityID and signing certificates.
    #[arg(long, value_name = "FILE|URL")]
    idp_metadata: Option<String>,
    /// The IdP's signing certificate (PEM or DER), instead of its metadata.
    #[arg(long, value_name = "FILE", conflicts_with = "idp_metadata")]
    idp_cert: Option<String>,
    /// The email the user typed at the SP.
    #[arg(long, value_name = "EMAIL")]
    entered_email: Option<String>,
    /// The attribute the SP reads the email from (default: from the SP metadata).
    #[arg(long, value_name = "NAME")]
    email_attribute: Option<String>,
    /// When the response reached the SP (RFC 3339; default: the capture's own time).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Clock skew the SP allows, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    clock_skew: i64,
}

impl CaptureArgs {
    fn request(&self) -> saml_harness::support::load::Request {
        saml_harness::support::load::Request {
            input: self.input.clone(),
            index: self.index,
            sp_metadata: self.sp_metadata.clone(),
            idp_metadata: self.idp_metadata.clone(),
            idp_cert: self.idp_cert.clone(),
            entered_email: self.entered_email.clone(),
            email_attribute: self.email_attribute.clone(),
            at: self.at.clone(),
            clock_skew_seconds: self.clock_skew.max(0),
        }
    }
}

#[derive(Debug, clap::Args)]
struct DiagnoseArgs {
    #[command(flatten)]
    capture: CaptureArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write a bundle to share without personal data (emails, NameIDs, attribute values, IP
    /// addresses; for an AuthnRequest or SP metadata also RelayState values and contact people;
    /// replaced consistently): PATH.json as one file, else a folder; the printed report is
    /// redacted too.
    #[arg(long, value_name = "PATH")]
    redact: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReproduceArgs {
    #[command(flatten)]
    capture: CaptureArgs,
    /// A target file (TOML); without it, the embedded reference SP runs in-process.
    #[arg(long, value_name = "FILE")]
    target: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct FuzzArgs {
    /// A target file (TOML), fuzzed over HTTP; without it, the embedded reference SP.
    #[arg(long, value_name = "FILE", conflicts_with = "in_process")]
    target: Option<PathBuf>,
    /// Call the reference SP's validator directly (no HTTP): the fast mode.
    #[arg(long)]
    in_process: bool,
    /// Random cases to run (after the regression file's).
    #[arg(long, default_value_t = 256, value_name = "N")]
    cases: u64,
    /// The seed: the same seed gives the same cases.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Where fuzz.json, fuzz.md and the minimal scenarios (scenarios/) go.
    #[arg(long, default_value = "reports/fuzz", value_name = "DIR")]
    report: PathBuf,
    /// The regression file, replayed first and extended with new minimal plans
    /// [default: REPORT/regressions.json].
    #[arg(long, value_name = "FILE")]
    regressions: Option<PathBuf>,
    /// Candidate plans tried while shrinking one disagreement, at most.
    #[arg(long, default_value_t = 512, value_name = "N")]
    max_shrink: u32,
    /// Disagreements shrunk and written, at most (later ones are only counted).
    #[arg(long, default_value_t = 3, value_name = "N")]
    max_failures: usize,
    /// Threads in-process, scenarios in flight over HTTP [default: cores, twice the cores].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Seconds before one HTTP request times out.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    step_timeout: u64,
    /// Turn a check of the embedded reference SP off (to see the fuzzer catch it).
    #[arg(long, value_name = "CHECK", conflicts_with = "target")]
    weaken: Vec<reference_sp::Weakening>,
    /// Key type of the mock IdP's keys.
    #[arg(long, value_enum, default_value_t = mock_idp::KeyType::Rsa2048)]
    key_type: mock_idp::KeyType,
    /// Make new keys for the mock IdP (and the embedded reference SP), in memory, instead of
    /// using the per-user cache ($XDG_CACHE_HOME/saml-harness/mock-idp-keys/KEY-TYPE).
    #[arg(long)]
    fresh_keys: bool,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Seconds of each one-thread measurement (and of `openssl speed -seconds`, rounded up).
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    seconds: f64,
    /// Random cases of the in-process fuzz campaign.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    fuzz_cases: u64,
    /// Random cases of the fuzz campaign over HTTP.
    #[arg(long, default_value_t = 300, value_name = "N")]
    http_fuzz_cases: u64,
    /// Only the catalogue's scenarios whose id matches a glob (repeatable).
    #[arg(long = "filter", value_name = "GLOB")]
    filters: Vec<String>,
    /// The scenarios run in a real browser, where Chromium is installed (repeatable).
    #[arg(
        long = "browser-filter",
        value_name = "GLOB",
        default_value = "login/*"
    )]
    browser_filters: Vec<String>,
    /// Where bench.json (and the scratch reports of the fuzz and catalogue runs) go.
    #[arg(long, default_value = "reports/bench", value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// A folder of scenario files that add to or replace the embedded catalogue (repeatable).
    #[arg(long = "scenarios", value_name = "DIR")]
    scenarios: Vec<PathBuf>,
    /// Only the scenarios from --scenarios.
    #[arg(long)]
    no_embedded: bool,
    /// Select scenarios whose id matches a glob (repeatable).
    #[arg(long = "filter", value_name = "GLOB")]
    filters: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
    Md,
    /// Each scenario's control (the same exchange without the deviation).
    Controls,
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("expected K/N, got `{text}`"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("bad K in `{text}`"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("bad N in `{text}`"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("need 1 <= K <= N, got {k}/{n}"));
    }
    Ok((k, n))
}

fn main() -> ExitCode {
    // `generate-docs DIR` (hidden, for packagers): man pages and completions of this CLI.
    let cli = match cli_docs::parse::<Cli>() {
        cli_docs::Parsed::Cli(cli) => cli,
        cli_docs::Parsed::Done(code) => return code,
    };
    // The in-process reference SP logs every refusal at warn: expected outcomes, not news.
    let filter = match cli.verbose {
        0 => "warn,reference_sp=error",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never under NO_COLOR (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    // xmlsec's errors go to the debug log, libxml2's nowhere (-vv: libxml2's to stderr).
    if cli.verbose < 2 {
        hardening::xml_io::quiet_xml_libraries();
    } else {
        hardening::xml_io::xmlsec_errors_to_tracing();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the runtime: {e}");
            return Code::Infrastructure.into();
        }
    };
    let code = match cli.command {
        Command::Run(args) => runtime.block_on(run_command(args)),
        Command::List(args) => list_command(&args),
        Command::Schema => {
            print!("{}", scenario::json_schema());
            Code::Passed
        }
        Command::Coverage => coverage_command(),
        Command::Vocabulary { plans: true } => {
            print!("{}", saml_harness::vocabulary::plans::markdown());
            Code::Passed
        }
        Command::Vocabulary { plans: false } => match Catalogue::embedded() {
            Ok(c) => {
                print!("{}", saml_harness::vocabulary::markdown(&c));
                Code::Passed
            }
            Err(e) => {
                eprintln!("error: {e}");
                Code::BadInput
            }
        },
        Command::Idp {
            command: IdpCommand::Serve(args),
        } => match runtime.block_on(mock_idp::cli::serve(args)) {
            Ok(()) => Code::Passed,
            Err(e) => {
                eprintln!("error: {e:#}");
                Code::BadInput
            }
        },
        Command::Sp {
            command: SpCommand::Serve(args),
        } => match runtime.block_on(reference_sp::cli::serve(args)) {
            Ok(()) => Code::Passed,
            Err(e) => {
                eprintln!("error: {e:#}");
                Code::BadInput
            }
        },
        Command::Fuzz(args) => runtime.block_on(fuzz_command(args)),
        Command::Diagnose(args) => runtime.block_on(diagnose_command(&args)),
        Command::Reproduce(args) => runtime.block_on(reproduce_command(&args)),
        Command::Init(args) => runtime.block_on(init_command(args)),
        Command::Bench(args) => runtime.block_on(bench_command(args)),
        Command::Report { command } => report_command(command),
    };
    code.into()
}

async fn run_command(args: RunArgs) -> Code {
    let mut config = RunConfig::new();
    config.target = match args.target {
        Some(path) => TargetChoice::File(path),
        None => TargetChoice::EmbeddedReference {
            weaken: args.weaken,
        },
    };
    config.scenario_dirs = args.scenarios;
    config.embedded_catalogue = !args.no_embedded;
    config.filters = args.filters;
    config.shard = args.shard;
    config.report_dir = args.report;
    config.baseline = args.baseline;
    config.waivers = args.waivers;
    config.key_type = args.key_type;
    config.idp_state = args.idp_state;
    if !args.fresh_keys {
        config.key_cache = run::key_cache(args.key_type);
    }
    config.webdriver = args.webdriver;
    let driver = match args.driver {
        DriverArg::Http => DriverKind::Http,
        DriverArg::Browser => DriverKind::Browser,
    };
    config.options = RunOptions {
        jobs: args
            .jobs
            .unwrap_or_else(|| RunOptions::default_jobs(driver)),
        step_timeout: Duration::from_secs(args.step_timeout.max(1)),
        scenario_timeout: Duration::from_secs(args.scenario_timeout.max(1)),
        driver,
        controls: true,
    };
    let strict = args.strict;
    config.strict = strict;
    let report_dir = config.report_dir.clone();

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let progress = tokio::spawn(show_progress(rx, std::io::stderr().is_terminal()));
    let result = run::run(config, tx, interrupted()).await;
    let _ = progress.await;
    match result {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            for note in &outcome.notes {
                let _ = writeln!(out, "note: {note}");
            }
            print_summary(&mut out, &outcome.report);
            if let Some(diff) = &outcome.diff {
                if diff.is_empty() {
                    let _ = writeln!(out, "no change against the baseline");
                } else {
                    let _ = writeln!(out, "changes against the baseline:");
                    let _ = write!(out, "{}", report::render_text(diff));
                }
            }
            if outcome.interrupted {
                let _ = writeln!(
                    out,
                    "interrupted: the report covers the scenarios that finished"
                );
            }
            let _ = writeln!(out, "reports written to {}", report_dir.display());
            outcome.exit_code(strict)
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn init_command(args: InitArgs) -> Code {
    use saml_harness::init::{InitConfig, StartSpec, check_output, init, write_target};
    if let Err(e) = check_output(&args.output, args.force) {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    // Every word after `--` is the start command's: an option of init's own there was
    // most likely meant for init.
    const OWN: &[&str] = &[
        "-o",
        "--output",
        "--force",
        "--name",
        "--email",
        "--probe-url",
        "--idp-bind",
        "--idp-state",
        "--start-cwd",
        "--start-env",
        "--ready-url",
    ];
    if let Some(word) = args
        .start_command
        .iter()
        .find(|w| OWN.contains(&w.split('=').next().unwrap_or(w)))
    {
        eprintln!(
            "init: warning: the start command holds `{word}`, an option of init: every word after `--` is the command's, so put init's options before `--`"
        );
    }
    let config = InitConfig {
        sp_metadata: args.sp_metadata,
        login_url: args.login_url,
        probe_urls: args.probe_urls,
        output: args.output.clone(),
        name: args.name,
        email: args.email,
        start: if args.start_command.is_empty() {
            None
        } else {
            Some(StartSpec {
                command: args.start_command,
                cwd: args.start_cwd,
                env: args.start_env,
                ready_url: args.ready_url,
                ready_timeout_seconds: args.ready_timeout,
            })
        },
        idp_bind: args.idp_bind,
        idp_state: args.idp_state,
        key_cache: run::key_cache(mock_idp::KeyType::Rsa2048),
        key_type: mock_idp::KeyType::Rsa2048,
        step_timeout: Duration::from_secs(args.step_timeout.max(1)),
    };
    eprintln!("init: starting the mock IdP and trying the SP (this takes a few seconds)");
    let outcome = tokio::select! {
        outcome = init(config) => outcome,
        () = interrupted() => {
            eprintln!("init: interrupted; nothing written");
            return Code::Infrastructure;
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    if let Err(e) = write_target(&args.output, &outcome.text, args.force) {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    print_init_summary(&outcome, &args.output);
    if outcome.findings.login.probe.is_some() {
        Code::Passed
    } else {
        Code::Failures
    }
}

/// What init found and left to do, on stderr.
fn print_init_summary(outcome: &saml_harness::init::InitOutcome, output: &std::path::Path) {
    let f = &outcome.findings;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "init: metadata: entityID {}, ACS {}{}",
        f.metadata.entity_id,
        f.metadata.acs_url,
        if f.metadata.slo.is_empty() {
            String::new()
        } else {
            format!(
                ", SingleLogoutService {}",
                f.metadata
                    .slo
                    .iter()
                    .map(|(b, _)| b.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        }
    );
    for a in &f.login.attempts {
        let _ = writeln!(err, "init: {a}");
    }
    for r in &f.login.rejected_probes {
        let _ = writeln!(err, "init: not the session probe: {r}");
    }
    if let Some(p) = &f.login.probe {
        let identity = match &p.identity {
            saml_harness::target::Extractor::JsonPointer(j) => format!("JSON pointer {j}"),
            saml_harness::target::Extractor::Regex(r) => format!("regex {r}"),
        };
        let _ = writeln!(
            err,
            "init: session probe: {} ({} signed in, {} signed out), identity by {identity}",
            p.url, p.signed_in_status, p.signed_out_status
        );
    }
    match f.login.anyone_signed_in {
        Some(true) => {
            let _ = writeln!(
                err,
                "init: an email the SP cannot know was signed in too: no accounts of its own (user-accounts = false, jit=on)"
            );
        }
        Some(false) => {
            let _ = writeln!(
                err,
                "init: an email the SP cannot know was not signed in: it keeps accounts (user-accounts = true); the target's users must exist in it"
            );
        }
        None => {}
    }
    match &f.profile {
        Some(_) => {
            let _ = writeln!(
                err,
                "init: SP profile: {}",
                if outcome.settings.is_empty() {
                    "nothing to declare".to_owned()
                } else {
                    outcome
                        .settings
                        .iter()
                        .map(|(s, _)| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        None => {
            let _ = writeln!(
                err,
                "init: no SP profile: {}",
                f.profile_missing.as_deref().unwrap_or("not measured")
            );
        }
    }
    for t in &outcome.todos {
        let _ = writeln!(err, "init: TODO: {t}");
    }
    let _ = writeln!(err, "init: wrote {}", output.display());
    if f.login.probe.is_some() {
        let _ = writeln!(
            err,
            "init: next: saml-harness run --target {} --filter 'login/*'",
            output.display()
        );
    } else if f.login.route.is_none() {
        let _ = writeln!(
            err,
            "init: no login worked: see the attempts above (and in [login] of {}), fix what they say, and run init again",
            output.display()
        );
    } else {
        let _ = writeln!(
            err,
            "init: fill in [session] (see its TODO), then: saml-harness run --target {}",
            output.display()
        );
    }
}

async fn bench_command(args: BenchArgs) -> Code {
    use saml_harness::bench::{self, BenchConfig};
    let config = BenchConfig {
        seconds: args.seconds,
        fuzz_cases: args.fuzz_cases,
        http_fuzz_cases: args.http_fuzz_cases,
        catalogue_filters: args.filters,
        browser_filters: args.browser_filters,
        key_cache: run::key_cache(mock_idp::KeyType::Rsa2048),
        out_dir: args.out,
        harness_exe: None,
    };
    match bench::bench(&config).await {
        Ok(report) => {
            print!("{}", bench::render_text(&report, &config.json_path()));
            Code::Passed
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn fuzz_command(args: FuzzArgs) -> Code {
    use saml_harness::fuzz::{self, FuzzConfig, FuzzTarget};
    let mut config = FuzzConfig::new();
    config.target = match (args.target, args.in_process) {
        (Some(path), _) => FuzzTarget::File(path),
        (None, true) => FuzzTarget::InProcess {
            weaken: args.weaken,
        },
        (None, false) => FuzzTarget::EmbeddedReference {
            weaken: args.weaken,
        },
    };
    config.cases = args.cases;
    config.seed = args.seed;
    config.report_dir = args.report;
    config.regressions = args.regressions;
    config.max_shrink = args.max_shrink;
    config.max_failures = args.max_failures;
    config.key_type = args.key_type;
    if !args.fresh_keys {
        config.key_cache = run::key_cache(args.key_type);
    }
    if let Some(jobs) = args.jobs {
        config.jobs = jobs.max(1);
        config.options.jobs = jobs.max(1);
    }
    config.options.step_timeout = Duration::from_secs(args.step_timeout.max(1));
    let report_dir = config.report_dir.clone();
    match fuzz::fuzz(config).await {
        Ok(outcome) => {
            let r = &outcome.report.result;
            let mut out = std::io::stdout().lock();
            for f in &r.failures {
                let _ = writeln!(
                    out,
                    "FAIL [{}] {}: expected {}; observed {} ({} shrink steps) -> {}",
                    f.severity.as_str(),
                    f.origin,
                    f.expected,
                    f.observed,
                    f.shrink_steps,
                    f.scenario
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            let _ = writeln!(
                out,
                "{} ({}): seed {}: {} cases, {} regressions replayed, {} discarded, {} errors, {} disagreements, {:.0} cases/s",
                outcome.report.target,
                outcome.report.mode,
                r.seed,
                r.cases,
                r.regressions_replayed,
                r.discarded,
                r.errors,
                r.disagreements,
                r.cases_per_second
            );
            let _ = writeln!(out, "fuzz report written to {}", report_dir.display());
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed at once, so a signal
/// that comes while the SP or the browser is still starting stops the run in order too
/// (processes the harness started are ended, the report is written) instead of killing it.
fn interrupted() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Shows the run's progress on stderr (see [`saml_harness::progress`]): a status line on a
/// terminal, a line per finished family elsewhere.
async fn show_progress(mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>, terminal: bool) {
    use saml_harness::progress::Progress;
    // From the first event on: the environment's start-up (keys, SP, browser) is done by then
    // and would only skew the estimate.
    let mut started = std::time::Instant::now();
    let mut progress = Progress::default();
    let mut shown = false;
    while let Some(event) = rx.recv().await {
        match event {
            Event::RunStarted { ids } => {
                started = std::time::Instant::now();
                progress = Progress::new(ids.iter().map(String::as_str));
            }
            Event::ScenarioFinished(v) => {
                let elapsed = started.elapsed();
                let family_line = progress.finished(&v, elapsed);
                let mut err = std::io::stderr().lock();
                if terminal {
                    let _ = write!(err, "\r\x1b[2K{}", progress.status_line(&v, elapsed));
                    shown = true;
                } else if let Some(line) = family_line {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
        }
    }
    if shown {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

fn print_summary(out: &mut impl std::io::Write, report: &Report) {
    // An interrupted run lists what it did not finish once, not line by line (the reports
    // have each one).
    let not_run = |r: &&saml_harness::report::ResultEntry| {
        report.interrupted && r.status == Status::Error && r.observed == run::NOT_RUN
    };
    for r in &report.results {
        if matches!(r.status, Status::Fail | Status::Error | Status::Warn) && !not_run(&r) {
            let severity = r
                .severity
                .map(|s| format!(" [{}]", s.as_str()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<6} {}{severity}: expected {}; observed {}",
                r.status.as_str().to_uppercase(),
                r.id,
                r.expected,
                r.observed
            );
        }
    }
    let unfinished = report.results.iter().filter(not_run).count();
    if unfinished > 0 {
        let _ = writeln!(
            out,
            "ERROR  {unfinished} scenarios not run: the run was interrupted before they finished (each is an error in the reports)"
        );
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{}: {} scenarios: {}",
        report.target.name,
        s.total,
        s.counts()
    );
    if s.inconclusive > 0 {
        let _ = writeln!(
            out,
            "{} scenario(s) tested nothing: their control (the same exchange without the deviation) did not reach its positive outcome; see report.md (Controls)",
            s.inconclusive
        );
    }
    if let Some(profile) = &report.profile {
        for c in &profile.contradictions {
            let _ = writeln!(out, "warning: {c}");
        }
    }
    for stale in &s.stale_waivers {
        let _ = writeln!(
            out,
            "stale waiver `{}` ({}): it no longer matches a failure",
            stale.pattern, stale.reason
        );
    }
}

type Diagnosed = (
    Vec<saml_harness::support::input::Capture>,
    Vec<saml_harness::support::checks::Diagnosis>,
    saml_harness::support::checks::Context,
);

/// Loads the captures and diagnoses each; on bad input, prints why and gives exit code 2.
async fn diagnosed(args: &CaptureArgs) -> Result<Diagnosed, Code> {
    use saml_harness::support::checks;
    let (captures, ctx) = match saml_harness::support::load::load(&args.request()).await {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(Code::BadInput);
        }
    };
    let mut diagnoses = Vec::new();
    for capture in &captures {
        match checks::diagnose(capture, &ctx) {
            Ok(d) => diagnoses.push(d),
            Err(e) => {
                eprintln!("error: {}: {e}", capture.label);
                return Err(Code::BadInput);
            }
        }
    }
    Ok((captures, diagnoses, ctx))
}

async fn reproduce_command(args: &ReproduceArgs) -> Code {
    use saml_harness::support::{render, reproduce};
    let (captures, diagnoses, ctx) = match diagnosed(&args.capture).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let target = match &args.target {
        Some(path) => TargetChoice::File(path.clone()),
        None => TargetChoice::EmbeddedReference { weaken: Vec::new() },
    };
    let target_name = args.target.as_ref().map_or_else(
        || "the embedded reference SP".to_owned(),
        |p| p.display().to_string(),
    );
    let items: Vec<_> = captures
        .into_iter()
        .zip(diagnoses.iter().cloned())
        .map(|(c, d)| (c, d, ctx.clone()))
        .collect();
    let reproductions = match reproduce::reproduce(&items, &target).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    match args.format {
        OutputFormat::Text => {
            for (d, r) in diagnoses.iter().zip(&reproductions) {
                print!(
                    "{}",
                    render::text(std::slice::from_ref(d), ctx.clock_skew_seconds)
                );
                println!();
                print!("{}", render::reproduction_text(r, &target_name));
            }
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema_version": 1,
                "diagnosis": render::json(&diagnoses),
                "reproductions": reproductions,
            }))
            .unwrap_or_default()
        ),
    }
    if reproductions
        .iter()
        .any(|r| r.verdict.status == Status::Error)
    {
        Code::Infrastructure
    } else if reproductions.iter().any(|r| !r.agrees) {
        Code::Failures
    } else {
        Code::Passed
    }
}

async fn diagnose_command(args: &DiagnoseArgs) -> Code {
    use saml_harness::support::{redact, render};
    match sp_side_diagnose(args).await {
        Ok(Some(code)) => return code,
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return Code::BadInput;
        }
    }
    let (captures, diagnoses, ctx) = match diagnosed(&args.capture).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let text = render::text(&diagnoses, ctx.clock_skew_seconds);
    let output = match args.format {
        OutputFormat::Text => text.clone(),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&render::json(&diagnoses)).unwrap_or_default() + "\n"
        }
    };
    match &args.redact {
        Some(path) => {
            let redactor = redact::Redactor::for_captures(&captures, ctx.entered_email.as_deref());
            if let Err(e) = redact::write_bundle(path, &redactor, &captures, &diagnoses, &text) {
                eprintln!("error: {e}");
                return Code::Infrastructure;
            }
            print!("{}", redactor.apply(&output));
            eprintln!("redacted bundle written to {}", path.display());
        }
        None => print!("{output}"),
    }
    if diagnoses.iter().any(|d| d.failures().next().is_some()) {
        Code::Failures
    } else {
        Code::Passed
    }
}

/// `diagnose` on an AuthnRequest or the SP's metadata: the SP-side conformance checks.
/// `Ok(None)` when INPUT is neither (the response diagnosis reads it).
async fn sp_side_diagnose(args: &DiagnoseArgs) -> Result<Option<Code>, String> {
    use saml_harness::conformance::{diagnose, input, metadata::MetadataDoc};
    use saml_harness::support::{load, metadata};
    let capture = &args.capture;
    let (source, text) =
        saml_harness::support::input::read_input(&capture.input).map_err(|e| e.to_string())?;
    let Some(read) = input::detect(&source, &text) else {
        return Ok(None);
    };
    let mut subject = read.map_err(|e| format!("failed to read {source}: {e}"))?;
    if let (input::SpInput::Requests(r), Some(i)) = (&mut subject, capture.index) {
        if i == 0 || i > r.len() {
            return Err(format!(
                "there is no AuthnRequest #{i}; {source} holds {} (numbered from 1)",
                r.len()
            ));
        }
        *r = vec![r.swap_remove(i - 1)];
    }
    let sp_metadata = match &capture.sp_metadata {
        Some(location) => {
            let xml = metadata::load_text(location)
                .await
                .map_err(|e| e.to_string())?;
            Some(MetadataDoc::new(location, xml))
        }
        None => None,
    };
    let (idp_sso, idp_wants_signed) = match &capture.idp_metadata {
        Some(location) => {
            let xml = metadata::load_text(location)
                .await
                .map_err(|e| e.to_string())?;
            input::idp_facts(&xml).map_err(|e| format!("failed to read {location}: {e}"))?
        }
        None => (Vec::new(), None),
    };
    let now = match &capture.at {
        Some(at) => load::parse_instant(at).map_err(|e| e.to_string())?,
        None => chrono::Utc::now(),
    };
    if let (input::SpInput::Requests(r), Some(_)) = (&mut subject, &capture.at) {
        // A capture that does not say when it was sent was sent at --at.
        for request in r.iter_mut().filter(|r| r.received_at.is_none()) {
            request.received_at = Some(now);
        }
    }
    let known = saml_harness::conformance::Known {
        now,
        clock_skew_seconds: capture.clock_skew.max(0),
        idp_sso,
        idp_wants_signed,
        emails: capture.entered_email.iter().cloned().collect(),
        profile: None,
    };
    let d = diagnose::diagnose(&subject, sp_metadata.as_ref(), &known);
    let text = diagnose::text(&d);
    let output = match args.format {
        OutputFormat::Text => text.clone(),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&diagnose::json(&d)).unwrap_or_default() + "\n"
        }
    };
    match &args.redact {
        Some(path) => {
            use saml_harness::support::redact;
            let redactor = redact::for_sp_input(&subject, capture.entered_email.as_deref());
            if let Err(e) =
                redact::write_sp_bundle(path, &redactor, &subject, &diagnose::json(&d), &text)
            {
                eprintln!("error: {e}");
                return Ok(Some(Code::Infrastructure));
            }
            print!("{}", redactor.apply(&output));
            eprintln!("redacted bundle written to {}", path.display());
        }
        None => print!("{output}"),
    }
    Ok(Some(if d.failed() {
        Code::Failures
    } else {
        Code::Passed
    }))
}

fn list_command(args: &ListArgs) -> Code {
    let catalogue =
        match run::load_catalogue(!args.no_embedded, &args.scenarios, &args.filters, None) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        };
    let text = match args.format {
        ListFormat::Text => listing::text(&catalogue),
        ListFormat::Json => listing::json(&catalogue),
        ListFormat::Md => listing::markdown(&catalogue),
        ListFormat::Controls => listing::controls(&catalogue),
    };
    print!("{text}");
    Code::Passed
}

fn coverage_command() -> Code {
    let (rules, catalogue) = match (
        saml_harness::coverage::rules(),
        Catalogue::embedded().map_err(|e| e.to_string()),
    ) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Code::BadInput;
        }
    };
    print!(
        "{}",
        saml_harness::coverage::render_markdown(&rules, &catalogue)
    );
    Code::Passed
}

fn report_command(command: ReportCommand) -> Code {
    match command {
        ReportCommand::Diff { old, new } => {
            let (old, new) = match (Report::load(&old), Report::load(&new)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {e}");
                    return Code::BadInput;
                }
            };
            let diff = report::diff(&old, &new);
            if diff.is_empty() {
                println!("no change");
                Code::Passed
            } else {
                print!("{}", report::render_text(&diff));
                Code::Failures
            }
        }
        ReportCommand::Merge { dirs, out } => {
            let mut reports = Vec::new();
            for dir in &dirs {
                match Report::load(dir) {
                    Ok(r) => reports.push(r),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Code::BadInput;
                    }
                }
            }
            let merged = match report::merge(reports) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Code::BadInput;
                }
            };
            if let Err(e) = report::write_report(&out, &merged) {
                eprintln!("error: {e}");
                return Code::Infrastructure;
            }
            let mut stdout = std::io::stdout().lock();
            print_summary(&mut stdout, &merged);
            let _ = writeln!(stdout, "merged report written to {}", out.display());
            if merged.results.iter().any(|r| r.status == Status::Fail) {
                Code::Failures
            } else {
                Code::Passed
            }
        }
    }
}
