//! The Debian package of `cargo xtask dist`, built here from the debug binaries that this test
//! run built (`xtask::dist` with `--profile dev --no-build`: no release build in CI).
//!
//! One test reads the package (`dpkg-deb --info` and `--contents`, then its unpacked files):
//! the three binaries, a man page per command and subcommand, the completions of three shells,
//! the copyright and changelog, and a `Depends` that names the package of every library the
//! binaries link (`objdump -p` and `ldd`, mapped with `dpkg -S`).
//!
//! The other, run as root with apt-get (CI is root on Debian), INSTALLS THE PACKAGE SYSTEM-WIDE
//! (`apt-get install ./saml-harness_*.deb`, replacing any installed version), runs
//! `/usr/bin/saml-harness run --filter 'login/*'` in a fresh folder under the temporary folder,
//! with nothing of the workspace around, and purges the package again (also when it fails), so
//! the machine is left without it. Other tests are not affected: they run the workspace's own
//! binaries (`CARGO_BIN_EXE_*`) or the harness in-process, never what is on `PATH`.

// What it installs, and the runs' outputs, are shown on stderr (`--nocapture`): a person reads them.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use saml_harness::report::Report;
use saml_harness::scenario::Catalogue;
use saml_harness::verdict::Status;
use xtask::dist;

/// The `.deb`, built once per test binary.
fn deb() -> &'static Path {
    static DEB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, deb) = DEB.get_or_init(|| {
        // target/debug/deps/e2e-HASH -> target/debug, where the binaries of this run are.
        let exe = std::env::current_exe().expect("the test binary's path");
        let bin_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/PROFILE/deps")
            .to_owned();
        for bin in dist::BINARIES {
            let path = bin_dir.join(bin);
            let built = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| {
                    panic!(
                        "{} is missing: the package is built from the binaries of this test run; \
                         run the workspace's tests (`cargo test --workspace`), or build them first \
                         (`cargo build --bins`)",
                        path.display()
                    )
                });
            // `cargo test -p tests` alone does not rebuild the other packages' binaries.
            let age = built.elapsed().unwrap_or_default().as_secs();
            eprintln!(
                "packaging {} (built {age} s ago; alone, this suite does not rebuild it: cargo build --bins)",
                path.display()
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let options = dist::Options {
            profile: "dev".to_owned(),
            build: false,
            bin_dir: Some(bin_dir),
            out_dir: dir.path().to_owned(),
        };
        let deb = dist::package(&options).unwrap_or_else(|e| panic!("cargo xtask dist: {e}"));
        (dir, deb)
    });
    deb
}

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("failed to start {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8_lossy(&run(command).stdout).into_owned()
}

/// The control file's fields, as `dpkg-deb --info` shows them (` Name: value`).
fn fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter_map(|l| l.strip_prefix(' ')?.split_once(": "))
        .filter(|(name, _)| !name.contains(' ') && !name.is_empty())
        .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The package names of a `Depends`-like list (alternatives included, versions dropped).
fn names(list: &str) -> BTreeSet<String> {
    list.split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_owned())
        .collect()
}

/// Every man page the package must hold: the commands' and each subcommand's.
fn man_pages() -> Vec<String> {
    let mut pages: Vec<String> = [
        "saml-harness",
        "saml-harness-run",
        "saml-harness-list",
        "saml-harness-diagnose",
        "saml-harness-idp-serve",
        "saml-harness-sp-serve",
        "saml-harness-report-merge",
        "mock-idp",
        "mock-idp-serve",
        "reference-sp",
        "reference-sp-serve",
    ]
    .iter()
    .map(|p| format!("./usr/share/man/man1/{p}.1.gz"))
    .collect();
    pages.sort();
    pages
}

fn completions() -> Vec<String> {
    dist::BINARIES
        .iter()
        .flat_map(|b| {
            [
                format!("./usr/share/bash-completion/completions/{b}"),
                format!("./usr/share/zsh/vendor-completions/_{b}"),
                format!("./usr/share/fish/vendor_completions.d/{b}.fish"),
            ]
        })
        .collect()
}

#[test]
fn the_package_holds_the_binaries_man_pages_and_completions_and_declares_what_they_link() {
    let deb = deb();
    let info = stdout(Command::new("dpkg-deb").arg("--info").arg(deb));
    eprintln!("dpkg-deb --info {}:\n{info}", deb.display());
    let fields = fields(&info);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in\n{info}"))
    };
    assert_eq!(field("Package"), "saml-harness");
    assert_eq!(
        field("Version"),
        format!("{}-{}", dist::version().expect("version"), dist::REVISION)
    );
    assert_eq!(
        field("Architecture"),
        dist::architecture().expect("architecture")
    );
    let depends = names(&field("Depends"));
    for needed in ["libxmlsec1-openssl", "libxml2", "libc6"] {
        assert!(
            depends.contains(needed),
            "Depends lacks {needed}: {depends:?}"
        );
    }
    assert_eq!(
        names(&field("Recommends")),
        names("chromium, chromium-driver"),
        "{info}"
    );

    let contents = stdout(Command::new("dpkg-deb").arg("--contents").arg(deb));
    let entries: Vec<(&str, &str, &str)> = contents
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let mode = words.next()?;
            let owner = words.next()?;
            Some((mode, owner, words.last()?))
        })
        .collect();
    for (mode, owner, path) in &entries {
        assert_eq!(*owner, "root/root", "{path} in\n{contents}");
        assert!(
            *path == "./" || path.starts_with("./usr/"),
            "{path} outside /usr:\n{contents}"
        );
        assert!(
            ["drwxr-xr-x", "-rwxr-xr-x", "-rw-r--r--"].contains(mode),
            "{mode} {path}: folders and programs 0755, other files 0644"
        );
    }
    let mode_of = |path: &str| {
        entries
            .iter()
            .find(|(_, _, p)| *p == path)
            .map(|(m, _, _)| *m)
            .unwrap_or_else(|| panic!("no {path} in the package:\n{contents}"))
    };
    for bin in dist::BINARIES {
        assert_eq!(mode_of(&format!("./usr/bin/{bin}")), "-rwxr-xr-x");
    }
    for file in man_pages().iter().chain(&completions()).chain(&[
        "./usr/share/doc/saml-harness/copyright".to_owned(),
        "./usr/share/doc/saml-harness/changelog.Debian.gz".to_owned(),
    ]) {
        assert_eq!(mode_of(file), "-rw-r--r--", "{file}");
    }

    // What the files say.
    let root = tempfile::tempdir().expect("tempdir");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root.path()));
    let unpacked = |p: &str| root.path().join(p.trim_start_matches("./"));
    let page = stdout(
        Command::new("gzip")
            .arg("-dc")
            .arg(unpacked("./usr/share/man/man1/saml-harness-run.1.gz")),
    );
    assert!(page.contains(".TH saml-harness-run 1"), "{page}");
    assert!(page.contains("\\-\\-filter"), "{page}");
    for file in completions() {
        let text = std::fs::read_to_string(unpacked(&file)).expect("completion");
        assert!(
            !text.contains("generate-docs"),
            "{file} offers the hidden subcommand"
        );
        if file.contains("saml-harness") {
            assert!(text.contains("diagnose"), "{file}: {text}");
        } else {
            assert!(text.contains("serve"), "{file}: {text}");
        }
        if file.contains("/bash-completion/") {
            // bash loads it, registers it under the command's name, and completes an option of
            // a subcommand (`BIN serve --bi<TAB>`, `saml-harness run --fil<TAB>`).
            let bin = file.rsplit('/').next().unwrap_or_default();
            let (sub, partial, option) = if bin == "saml-harness" {
                ("run", "--fil", "--filter")
            } else {
                ("serve", "--bi", "--bind")
            };
            let offered = stdout(Command::new("bash").arg("-c").arg(format!(
                "source '{}' && f=$(complete -p {bin} | sed -E 's/.*-F ([^ ]+).*/\\1/') && \
                 COMP_WORDS=({bin} {sub} {partial}) && COMP_CWORD=2 && \
                 $f {bin} {partial} {sub} && echo \"${{COMPREPLY[*]}}\"",
                unpacked(&file).display()
            )));
            assert_eq!(offered.trim(), option, "{file}");
        }
        // zsh and fish, where installed (Debian's bash is always there; these are not).
        if file.contains("/zsh/") && Command::new("zsh").arg("--version").output().is_ok() {
            run(Command::new("zsh").arg("-n").arg(unpacked(&file)));
        }
        if file.contains("/fish/") && Command::new("fish").arg("--version").output().is_ok() {
            let bin = file
                .rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".fish"))
                .unwrap_or_default();
            let (line, option) = if bin == "saml-harness" {
                ("saml-harness run --fil", "--filter")
            } else {
                (&*format!("{bin} serve --bi"), "--bind")
            };
            let offered = stdout(Command::new("fish").arg("-c").arg(format!(
                "source '{}'; complete -C '{line}'",
                unpacked(&file).display()
            )));
            assert!(offered.starts_with(option), "{file}: {offered}");
        }
    }

    // Every library a binary links comes from a package that Depends names.
    for bin in dist::BINARIES {
        let path = unpacked(&format!("./usr/bin/{bin}"));
        let dynamic = stdout(Command::new("objdump").arg("-p").arg(&path));
        let needed: Vec<&str> = dynamic
            .lines()
            .filter_map(|l| l.trim().strip_prefix("NEEDED"))
            .map(str::trim)
            .collect();
        assert!(
            needed.contains(&"libxmlsec1-openssl.so.1"),
            "{bin}: {needed:?}"
        );
        let ldd = stdout(Command::new("ldd").arg(&path));
        for soname in needed {
            let resolved = ldd
                .lines()
                .find_map(|l| {
                    let (name, rest) = l.trim().split_once(" => ")?;
                    (name == soname).then(|| rest.split(" (").next().unwrap_or(rest).to_owned())
                })
                .or_else(|| {
                    // The dynamic loader is listed by its path alone.
                    ldd.lines()
                        .map(|l| l.trim().split(" (").next().unwrap_or("").to_owned())
                        .find(|p| p.ends_with(&format!("/{soname}")))
                })
                .unwrap_or_else(|| panic!("{bin}: ldd does not resolve {soname}:\n{ldd}"));
            let owner = owning_package(Path::new(&resolved))
                .unwrap_or_else(|| panic!("{bin}: no package owns {resolved} ({soname})"));
            assert!(
                depends.contains(&owner),
                "{bin} links {soname} ({resolved}) of {owner}, which Depends does not name: {depends:?}"
            );
        }
    }
}

/// The package that owns a file, by `dpkg -S` on its path, its canonical path, or the same with
/// or without the `/usr` prefix (merged /usr: packages name either).
fn owning_package(path: &Path) -> Option<String> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mut candidates = Vec::new();
    for p in [path.to_owned(), canonical] {
        let text = p.display().to_string();
        candidates.push(text.clone());
        match text.strip_prefix("/usr") {
            Some(rest) => candidates.push(rest.to_owned()),
            None => candidates.push(format!("/usr{text}")),
        }
    }
    candidates.into_iter().find_map(|candidate| {
        let out = Command::new("dpkg")
            .args(["-S", &candidate])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| !l.starts_with("diversion"))?;
        let package = line.split(':').next()?.trim();
        (out.status.success() && !package.is_empty()).then(|| package.to_owned())
    })
}

/// Purges the package when dropped: the machine is left without it, also after a failure.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let out = Command::new("dpkg")
            .args(["--purge", dist::PACKAGE])
            .output();
        match out {
            Ok(o) if o.status.success() => eprintln!("purged the package {}", dist::PACKAGE),
            other => eprintln!("failed to purge the package {}: {other:?}", dist::PACKAGE),
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn installed_system_wide_the_package_runs_the_login_family_from_a_fresh_folder_then_is_purged() {
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        eprintln!(
            "NOT INSTALLED: installing the package needs root and apt-get (CI has both); the \
             package itself is checked by the_package_holds_the_binaries_..."
        );
        return;
    }
    let deb = deb();
    let before = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", dist::PACKAGE])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if before.contains("ok installed") {
        eprintln!(
            "note: {} {before} was installed: it is replaced, and purged at the end",
            dist::PACKAGE
        );
    }
    eprintln!(
        "installing {} system-wide (apt-get install); purged at the end",
        deb.display()
    );
    let _installed = Installed;
    let install = stdout(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "--allow-downgrades",
                "-o",
                "DPkg::Lock::Timeout=300",
            ])
            .arg(deb)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    eprintln!("{install}");
    let listed = stdout(Command::new("dpkg").args(["-L", dist::PACKAGE]));
    for file in man_pages().iter().chain(&completions()) {
        assert!(
            listed.lines().any(|l| l == file.trim_start_matches('.')),
            "{file} not installed:\n{listed}"
        );
    }
    if Command::new("man").arg("--version").output().is_ok() {
        let page = stdout(Command::new("man").args(["-w", "saml-harness-run"]));
        assert_eq!(page.trim(), "/usr/share/man/man1/saml-harness-run.1.gz");
    }
    let version = stdout(Command::new("/usr/bin/saml-harness").arg("--version"));
    assert_eq!(
        version.trim(),
        format!("saml-harness {}", dist::version().expect("version"))
    );
    for bin in ["/usr/bin/mock-idp", "/usr/bin/reference-sp"] {
        assert!(stdout(Command::new(bin).arg("--help")).contains("serve"));
    }

    // A fresh folder with nothing of the workspace: the catalogue, the reference SP, the
    // schemas are all inside the binary. Caches go to a folder of the test, not to $HOME.
    let folder = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let out = Command::new("/usr/bin/saml-harness")
        .args(["run", "--filter", "login/*"])
        .current_dir(folder.path())
        .env("XDG_CACHE_HOME", cache.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("saml-harness run");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "$ cd {} && saml-harness run --filter 'login/*'\n{text}",
        folder.path().display()
    );
    assert!(out.status.success(), "{}: {text}", out.status);
    assert!(text.contains("reports written to reports/latest"), "{text}");
    let reports = folder.path().join("reports/latest");
    for file in ["report.json", "report.md", "junit.xml", "index.html"] {
        assert!(
            reports.join(file).is_file(),
            "no {file} in {}",
            reports.display()
        );
    }
    let report = Report::load(&reports).expect("report.json");
    let login = Catalogue::embedded()
        .expect("catalogue")
        .iter()
        .filter(|s| s.id.starts_with("login/"))
        .count();
    assert!(login > 0);
    assert_eq!(report.summary.total, login, "{text}");
    assert!(
        report.results.iter().all(|r| r.status == Status::Pass),
        "{text}"
    );
}
