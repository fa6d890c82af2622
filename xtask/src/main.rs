//! Set-up and CI tasks: `cargo xtask <task>`.
//!
//! - `setup`: installs the system packages the build and the tests need (Debian), idempotently:
//!   nothing is installed when everything is present.
//! - `test`: `setup`, then every test of the workspace (cargo-nextest when installed, else
//!   `cargo test`), then the doc tests.
//! - `run`: `setup`, then the whole catalogue against the embedded reference SP
//!   (`saml-harness run`, extra arguments passed through), reports in `reports/latest/`.
//! - `idp`: `setup`, then serves the mock IdP on loopback (`mock-idp serve`, extra arguments
//!   passed through).
//! - `dist`: the Debian package `saml-harness` (release binaries by default; `--profile dev`
//!   packages the debug ones, `--no-build` packages what is built, `--out DIR` says where the
//!   `.deb` goes, default `target/dist/`): see [`xtask::dist`] and docs/install.md.
//! - `bench`: the system packages of the build, then `saml-harness bench` in a release build
//!   (extra arguments passed through): throughput as ratios to this machine's RSA-2048 sign
//!   rate (`openssl speed rsa2048`, same run), printed and written to
//!   `reports/bench/bench.json` (`--out DIR` moves it; the path is printed last).
//!
//! `setup` also installs the Debian packages of the real third-party SPs the harness drives
//! as targets (`TARGET_PACKAGES`: Shibboleth SP, SimpleSAMLphp, and what the python3-saml app
//! builds with), the node-saml target app's npm packages (`npm ci`) when they are missing or
//! older than its lock file, and the python3-saml target app's Python packages (a virtualenv,
//! `pip install --require-hashes`) when they are missing or older than its `requirements.txt`.
//!
//! Plain std only, so it builds in seconds before anything else exists.

use std::env;
use std::process::{Command, ExitCode};

use xtask::process::run;

/// Build: bindgen needs libclang (samael's build script); samael links libxml2 and xmlsec1.
/// Tests: `xmlsec1` (the CLI) cross-checks signatures; Chromium and ChromeDriver run the
/// browser tests.
const PACKAGES: &[&str] = &[
    "pkg-config",
    "libssl-dev",
    "libxml2-dev",
    "libxmlsec1-dev",
    "libclang-dev",
    "xmlsec1",
    "chromium",
    "chromium-driver",
    // `cargo xtask dist`: dpkg-shlibdeps computes the package's Depends.
    "dpkg-dev",
];

/// The Debian packages of the real third-party SPs under `targets/` (each target's README says
/// why).
///
/// `targets/shibboleth-sp`: Shibboleth SP 3 (`shibd`, `mod_shib`, `shib-keygen`) in Apache's
/// server binary (`apache2-bin`; the wrapper runs its own Apache on loopback), `media-types`
/// for Apache's `/etc/mime.types`, `openssl` for `shib-keygen`, `curl` for the wrapper's
/// scripts.
///
/// `targets/simplesamlphp`: the `simplesamlphp` package (1.19.7 on bookworm; it pulls in `php`
/// and an httpd, which the target does not use: it serves SimpleSAMLphp with `php -S`),
/// `php-cli` for `php -S` (only a Recommends), `php-xml` (DOM) and `php-mbstring`, which
/// SimpleSAMLphp uses but does not depend on.
///
/// `targets/python3-saml`: Debian's `python3` with `python3-venv` for the app's virtualenv, and
/// what python3-saml needs, from Debian: `python3-lxml` and `python3-xmlsec` (built against the
/// same system libxml2, as python3-saml asks), `python3-isodate`, and `python3-flask` for the
/// app; `openssl` makes the app's key.
const TARGET_PACKAGES: &[&str] = &[
    "libapache2-mod-shib",
    "apache2-bin",
    "media-types",
    "openssl",
    "curl",
    "simplesamlphp",
    "php-cli",
    "php-xml",
    "php-mbstring",
    "python3",
    "python3-venv",
    "python3-lxml",
    "python3-xmlsec",
    "python3-isodate",
    "python3-flask",
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test(passed(&args))),
        Some("run") => setup().and_then(|()| harness_run(passed(&args))),
        Some("idp") => setup().and_then(|()| idp(passed(&args))),
        Some("dist") => dist(passed(&args)),
        Some("bench") => system_packages().and_then(|()| bench(passed(&args))),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|run|test|idp|dist|bench> [-- args...]\n\n  setup  install missing system packages (Debian: the build's, the tests' and the real SP targets'), the node-saml app's npm packages and the python3-saml app's virtualenv, idempotently\n  run    setup, then the whole catalogue against the embedded reference SP (saml-harness run)\n  test   setup, then run every test\n  idp    setup, then serve the mock IdP on loopback\n  dist   build the Debian package (saml-harness, mock-idp, reference-sp, man pages, completions)\n         into target/dist/: [--profile release|dev|PROFILE] [--no-build] [--out DIR]\n  bench  measure throughput as ratios to openssl's RSA-2048 sign rate (release build; writes reports/bench/bench.json; `-- --help` for its options)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments after the task, without a leading `--`.
fn passed(args: &[String]) -> &[String] {
    let rest = &args[1..];
    match rest.first() {
        Some(first) if first == "--" => &rest[1..],
        _ => rest,
    }
}

fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .chain(TARGET_PACKAGES)
        .copied()
        .filter(|package| {
            let output = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output();
            !matches!(output, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}

fn setup() -> Result<(), String> {
    system_packages()?;
    npm_packages()?;
    python_packages()
}

/// The node-saml target app's npm packages: `npm ci` when `node_modules` is missing or older
/// than the lock file.
fn npm_packages() -> Result<(), String> {
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/node-saml");
    let lock = app.join("package-lock.json");
    let installed = app.join("node_modules/.package-lock.json");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if matches!((modified(&installed), modified(&lock)), (Some(i), Some(l)) if i >= l) {
        return Ok(());
    }
    let npm_present = || Command::new("npm").arg("--version").output().is_ok();
    let npm_missing = "npm is missing: install Node.js (>= 20) and npm (Debian: apt-get install nodejs npm), then run `cargo xtask setup` again";
    if !npm_present() {
        if Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            return Err(npm_missing.to_owned());
        }
        eprintln!("xtask: installing nodejs and npm (the node-saml target app needs them)");
        run(apt_get().args(["update", "-qq"]))?;
        run(apt_get()
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "nodejs",
                "npm",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))
        .map_err(|e| format!("{e}; {npm_missing}"))?;
        if !npm_present() {
            return Err(npm_missing.to_owned());
        }
    }
    eprintln!("xtask: installing the node-saml app's npm packages (npm ci)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&app))
    .map_err(|e| format!("failed to install the node-saml app's npm packages: {e}"))
}

/// The python3-saml target app's Python packages: a virtualenv in `targets/python3-saml/.venv`
/// (git-ignored) with the hash-pinned `requirements.txt`, made anew when it is missing or older
/// than that file (like `npm ci`, nothing of an older install is kept). The virtualenv sees
/// Debian's packages (`--system-site-packages`): `lxml`, the `xmlsec` binding, `isodate` and
/// Flask come from `TARGET_PACKAGES`, built against one system libxml2 (the binding refuses to
/// import when lxml carries a libxml2 of its own), and pip installs python3-saml alone
/// (`--no-deps`, a pure-Python wheel: about a second). The stamp `.venv/.installed` is written
/// last, so an interrupted install is redone.
fn python_packages() -> Result<(), String> {
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/python3-saml");
    let requirements = app.join("requirements.txt");
    let venv = app.join(".venv");
    let stamp = venv.join(".installed");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if matches!((modified(&stamp), modified(&requirements)), (Some(i), Some(r)) if i >= r)
        && venv.join("bin/python").exists()
    {
        return Ok(());
    }
    // Debian's interpreter (python3-venv is in TARGET_PACKAGES), else whatever `python3` is.
    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    eprintln!(
        "xtask: installing the python3-saml app's Python package (a virtualenv in targets/python3-saml/.venv over Debian's lxml, xmlsec and Flask)"
    );
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .map_err(|e| format!("cannot remove the old {}: {e}", venv.display()))?;
    }
    run(Command::new(python)
        .args(["-m", "venv", "--system-site-packages", ".venv"])
        .current_dir(&app))
    .map_err(|e| format!("cannot make the python3-saml app's virtualenv: {e}"))?;
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            "requirements.txt",
        ])
        .current_dir(&app))
    .map_err(|e| format!("failed to install the python3-saml app's Python packages: {e}"))?;
    std::fs::write(&stamp, "requirements.txt installed\n")
        .map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}

fn system_packages() -> Result<(), String> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "xtask: not a Debian system; install these yourself if missing: {} {}",
            PACKAGES.join(" "),
            TARGET_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(apt_get().args(["update", "-qq"]))?;
    run(apt_get()
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    let still = missing_packages();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "packages still missing after apt-get install: {}",
            still.join(" ")
        ))
    }
}

/// `apt-get`, through `sudo` unless we are root.
fn apt_get() -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    }
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn test(extra: &[String]) -> Result<(), String> {
    let nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if nextest {
        run(cargo()
            .args([
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--locked",
                "--no-fail-fast",
            ])
            .args(extra))?;
    } else {
        run(cargo()
            .args([
                "test",
                "--workspace",
                "--all-features",
                "--locked",
                "--no-fail-fast",
            ])
            .args(extra))?;
    }
    run(cargo().args(["test", "--workspace", "--doc", "--locked"]))
}

fn harness_run(extra: &[String]) -> Result<(), String> {
    run(cargo()
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "saml-harness",
            "--",
            "run",
        ])
        .args(extra))
}

fn idp(extra: &[String]) -> Result<(), String> {
    run_release("mock-idp", "serve", extra)
}

/// `cargo run --release` of `package`'s binary with `task` and `extra` as its arguments.
fn run_release(package: &str, task: &str, extra: &[String]) -> Result<(), String> {
    run(cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "--locked",
            "--package",
            package,
            "--",
            task,
        ])
        .args(extra))
}

/// `dist [--profile P] [--no-build] [--out DIR]`: the Debian package.
fn dist(args: &[String]) -> Result<(), String> {
    let mut options = xtask::dist::Options::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("dist: {name} needs a value"))
        };
        match arg.as_str() {
            "--profile" => options.profile = value("--profile")?,
            "--release" => options.profile = "release".to_owned(),
            "--debug" => options.profile = "dev".to_owned(),
            "--no-build" => options.build = false,
            "--out" => options.out_dir = value("--out")?.into(),
            other => {
                return Err(format!(
                    "dist: unknown argument `{other}` (expected --profile P, --no-build, --out DIR)"
                ));
            }
        }
    }
    let mut deb = xtask::dist::package(&options)?;
    if deb.is_relative() {
        // apt-get reads a local file only when its argument looks like a path.
        deb = std::path::Path::new(".").join(deb);
    }
    eprintln!(
        "xtask: built {0}\n  inspect: dpkg-deb --info {0}; dpkg-deb --contents {0}\n  install: apt-get install {0}",
        deb.display()
    );
    Ok(())
}

/// `saml-harness bench` in a release build (built first, so the build is not measured).
fn bench(extra: &[String]) -> Result<(), String> {
    run(cargo().args([
        "build",
        "--release",
        "--locked",
        "--package",
        "saml-harness",
    ]))?;
    run_release("saml-harness", "bench", extra)
}
