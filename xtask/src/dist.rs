//! `cargo xtask dist`: the Debian package `saml-harness`, laid out by hand and built with
//! `dpkg-deb --build --root-owner-group` (no cargo-deb to install).
//!
//! What it holds (see docs/install.md):
//! - `usr/bin/`: `saml-harness` (the scenario catalogue is compiled in), `mock-idp`,
//!   `reference-sp`, stripped;
//! - `usr/share/man/man1/`: a page per command and subcommand (`saml-harness-run.1.gz`, ...),
//!   and `usr/share/{bash-completion/completions,zsh/vendor-completions,fish/vendor_completions.d}/`:
//!   completions, all written by the binaries themselves from their clap command (the hidden
//!   `generate-docs DIR` subcommand, crate `cli-docs`);
//! - `usr/share/doc/saml-harness/`: `copyright` (machine-readable) and `changelog.Debian.gz`;
//!   `usr/share/lintian/overrides/saml-harness` (no bug for a first upload to close: this is no
//!   upload to Debian's archive);
//! - `DEBIAN/control` and `DEBIAN/md5sums`. `Depends` is what `dpkg-shlibdeps` finds that the
//!   binaries link (libxmlsec1-openssl, libxml2, libssl3, libc6, ...); `Recommends` names
//!   chromium and chromium-driver (the browser driver). The version is the `saml-harness`
//!   package's (`harness/Cargo.toml`) with Debian revision 1, the architecture
//!   `dpkg --print-architecture`'s.
//!
//! Plain std, like the rest of xtask; the tools are Debian's own: `dpkg-deb`,
//! `dpkg-shlibdeps` (dpkg-dev), `strip` (binutils), `gzip`, `md5sum`.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{output, run};

/// The package's name.
pub const PACKAGE: &str = "saml-harness";
/// The binaries it installs in `/usr/bin`.
pub const BINARIES: [&str; 3] = ["saml-harness", "mock-idp", "reference-sp"];
/// What the browser driver (`--driver browser`) needs; everything else runs without.
pub const RECOMMENDS: [&str; 2] = ["chromium", "chromium-driver"];
/// The Debian revision of every package built here.
pub const REVISION: &str = "1";
const MAINTAINER: &str = "SAML Harness developers <saml-harness@example.invalid>";

/// What `cargo xtask dist` is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cargo profile the binaries are built with (`release`, `dev`, ...).
    pub profile: String,
    /// Run `cargo build` for the binaries first; without it they must be there already.
    pub build: bool,
    /// Where the binaries are [default: the target folder's one for `profile`].
    pub bin_dir: Option<PathBuf>,
    /// Where the `.deb` (and the tree it is built from, `saml-harness-deb/`) go.
    pub out_dir: PathBuf,
}

impl Options {
    /// A release build into `TARGET/dist`.
    pub fn new() -> Self {
        Options {
            profile: "release".to_owned(),
            build: true,
            bin_dir: None,
            out_dir: target_dir().join("dist"),
        }
    }

    /// The folder the binaries are read from.
    pub fn bin_dir(&self) -> PathBuf {
        self.bin_dir
            .clone()
            .unwrap_or_else(|| target_dir().join(profile_dir(&self.profile)))
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` (relative to the workspace), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The folder under the target folder that a cargo profile builds into.
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// The package's upstream version: the `saml-harness` crate's (`harness/Cargo.toml`).
pub fn version() -> Result<String, String> {
    let manifest = workspace_root().join("harness/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("failed to read {}: {e}", manifest.display()))?;
    manifest_value(&text, "package", "version")
        .ok_or_else(|| format!("no [package] version in {}", manifest.display()))
}

/// A `key = "value"` of one `[section]` of a Cargo manifest (the few xtask needs: no TOML
/// parser in plain std).
fn manifest_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = "";
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name;
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The Debian architecture of this machine (`dpkg --print-architecture`).
pub fn architecture() -> Result<String, String> {
    Ok(output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_owned())
}

/// The file name of the package for this version and architecture.
pub fn deb_name(version: &str, arch: &str) -> String {
    format!("{PACKAGE}_{version}-{REVISION}_{arch}.deb")
}

/// Builds the package; returns the `.deb`'s path.
pub fn package(options: &Options) -> Result<PathBuf, String> {
    check_tools()?;
    let version = version()?;
    let arch = architecture()?;
    if options.build {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        cargo
            .args(["build", "--locked", "--profile", &options.profile])
            .current_dir(workspace_root());
        for bin in BINARIES {
            cargo.args(["--bin", bin]);
        }
        run(&mut cargo)?;
    }
    let work = options.out_dir.join(format!("{PACKAGE}-deb"));
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .map_err(|e| format!("failed to remove {}: {e}", work.display()))?;
    }
    // dpkg-shlibdeps wants debian/control beside the tree, as in a source package.
    let root = work.join("debian").join(PACKAGE);
    let installed = stage_binaries(options, &root)?;
    for bin in &installed {
        stage_docs(bin, &work.join("generated"), &root)?;
    }
    stage_doc_folder(&version, &work, &root)?;

    let depends = shlib_depends(&work, &installed)?;
    let debian = dir(&root, "DEBIAN")?;
    write(&debian.join("md5sums"), &md5sums(&root)?)?;
    let control = control(&version, &arch, &depends, installed_size(&root)?);
    write(&debian.join("control"), &control)?;

    let deb = options.out_dir.join(deb_name(&version, &arch));
    let mut build = Command::new("dpkg-deb");
    build.args(["--root-owner-group", "--build"]);
    if profile_dir(&options.profile) == "debug" {
        // Unoptimized binaries are large and only tested: gzip, fast, instead of xz.
        build.args(["-Zgzip", "-z1"]);
    }
    run(build.arg(&root).arg(&deb))?;
    Ok(deb)
}

fn check_tools() -> Result<(), String> {
    for (tool, package) in [
        ("dpkg-deb", "dpkg"),
        ("dpkg-shlibdeps", "dpkg-dev"),
        ("strip", "binutils"),
        ("gzip", "gzip"),
        ("md5sum", "coreutils"),
    ] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!(
                "`{tool}` is missing: install the Debian package {package} (`cargo xtask setup` does)"
            ));
        }
    }
    Ok(())
}

/// Copies the binaries into `root/usr/bin`, stripped; returns their paths there.
fn stage_binaries(options: &Options, root: &Path) -> Result<Vec<PathBuf>, String> {
    let bin_dir = options.bin_dir();
    let usr_bin = dir(root, "usr/bin")?;
    let mut installed = Vec::new();
    for bin in BINARIES {
        let from = bin_dir.join(bin);
        if !from.is_file() {
            return Err(format!(
                "no {} (build it: cargo build --profile {} --bin {bin})",
                from.display(),
                options.profile
            ));
        }
        let to = usr_bin.join(bin);
        std::fs::copy(&from, &to)
            .map_err(|e| format!("failed to copy {} to {}: {e}", from.display(), to.display()))?;
        run(Command::new("strip")
            .args(["--strip-unneeded", "--remove-section=.comment"])
            .arg(&to))?;
        mode(&to, 0o755)?;
        installed.push(to);
    }
    Ok(installed)
}

/// Has the staged binary `bin` write its man pages and completions into `generated/NAME`, and
/// puts them where Debian looks for them under `root`.
fn stage_docs(bin: &Path, generated: &Path, root: &Path) -> Result<(), String> {
    let name = file_name(bin);
    let out = generated.join(&name);
    // The staged (stripped) binary writes its own docs: what is installed is what ran.
    run(Command::new(bin).arg("generate-docs").arg(&out))?;
    let man1 = dir(root, "usr/share/man/man1")?;
    for page in files_under(&out.join("man"))? {
        gzip(&page, &man1.join(format!("{}.gz", file_name(&page))))?;
    }
    for (shell, folder, file) in [
        (
            "bash",
            "usr/share/bash-completion/completions",
            name.clone(),
        ),
        (
            "zsh",
            "usr/share/zsh/vendor-completions",
            format!("_{name}"),
        ),
        (
            "fish",
            "usr/share/fish/vendor_completions.d",
            format!("{name}.fish"),
        ),
    ] {
        let from = out.join("completions").join(shell).join(&file);
        let to = dir(root, folder)?.join(&file);
        std::fs::copy(&from, &to).map_err(|e| format!("failed to copy {}: {e}", from.display()))?;
        mode(&to, 0o644)?;
    }
    Ok(())
}

/// `usr/share/doc/saml-harness/` (copyright, changelog) and the lintian override.
fn stage_doc_folder(version: &str, work: &Path, root: &Path) -> Result<(), String> {
    let doc = dir(root, &format!("usr/share/doc/{PACKAGE}"))?;
    write(&doc.join("copyright"), &copyright())?;
    // Not an upload to Debian's archive: there is no bug for the first version to close.
    write(
        &dir(root, "usr/share/lintian/overrides")?.join(PACKAGE),
        &format!("{PACKAGE}: initial-upload-closes-no-bugs\n"),
    )?;
    let changelog = work.join("changelog.Debian");
    write(&changelog, &changelog_entry(version)?)?;
    gzip(&changelog, &doc.join("changelog.Debian.gz"))
}

/// `Depends` as `dpkg-shlibdeps` computes it from the binaries' `NEEDED` libraries.
fn shlib_depends(work: &Path, binaries: &[PathBuf]) -> Result<String, String> {
    write(
        &dir(work, "debian")?.join("control"),
        &format!(
            "Source: {PACKAGE}\nMaintainer: {MAINTAINER}\n\nPackage: {PACKAGE}\nArchitecture: any\n"
        ),
    )?;
    let mut shlibdeps = Command::new("dpkg-shlibdeps");
    shlibdeps.arg("-O").current_dir(work);
    for bin in binaries {
        let relative = bin.strip_prefix(work).unwrap_or(bin);
        shlibdeps.arg(format!("-e{}", relative.display()));
    }
    let out = output(&mut shlibdeps)?;
    out.lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .map(str::to_owned)
        .ok_or_else(|| format!("dpkg-shlibdeps named no dependency: {out}"))
}

fn control(version: &str, arch: &str, depends: &str, installed_size: u64) -> String {
    let homepage = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .ok()
        .and_then(|t| manifest_value(&t, "workspace.package", "repository"));
    let mut text = format!(
        "Package: {PACKAGE}\nVersion: {version}-{REVISION}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\nInstalled-Size: {installed_size}\nDepends: {depends}\nRecommends: {}\nSection: devel\nPriority: optional\n",
        RECOMMENDS.join(", ")
    );
    if let Some(homepage) = homepage {
        let _ = writeln!(text, "Homepage: {homepage}");
    }
    text.push_str(
        "Description: SAML 2.0 conformance test harness for service providers\n \
         SAML Harness drives a real SAML service provider (SP) through login,\n \
         enforcement and fallback cases with a configurable mock identity provider\n \
         that emits valid and deliberately broken responses, and judges each case by\n \
         what the SP actually did: did it create a session, and as whom.\n \
         .\n \
         This package holds saml-harness (the scenario runner, with the scenario\n \
         catalogue built in: `saml-harness run` works from any folder), mock-idp\n \
         (the mock IdP on its own) and reference-sp (a hardened reference SP).\n \
         The browser driver (--driver browser) needs chromium and chromium-driver.\n",
    );
    text
}

fn copyright() -> String {
    let source = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .ok()
        .and_then(|t| manifest_value(&t, "workspace.package", "repository"))
        .unwrap_or_default();
    // The years of the first and the last commit (a notice needs them, says lintian).
    let years = output(
        Command::new("git")
            .args(["log", "--format=%ad", "--date=format:%Y"])
            .current_dir(workspace_root()),
    )
    .unwrap_or_default();
    let (first, last) = (years.lines().last(), years.lines().next());
    let years = match (first, last) {
        (Some(first), Some(last)) if first != last => format!("{first}-{last}"),
        (_, Some(last)) => last.to_owned(),
        _ => output(Command::new("date").arg("+%Y"))
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: saml-harness\n\
         Source: {source}\n\
         \n\
         Files: *\n\
         Copyright: {years} The SAML Harness developers\n\
         License: MIT or Apache-2.0\n\
         \n\
         License: MIT\n \
         Permission is hereby granted, free of charge, to any person obtaining a copy\n \
         of this software and associated documentation files (the \"Software\"), to deal\n \
         in the Software without restriction, including without limitation the rights\n \
         to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n \
         copies of the Software, and to permit persons to whom the Software is\n \
         furnished to do so, subject to the following conditions:\n \
         .\n \
         The above copyright notice and this permission notice shall be included in\n \
         all copies or substantial portions of the Software.\n \
         .\n \
         THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n \
         IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n \
         FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n \
         AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n \
         LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n \
         OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN\n \
         THE SOFTWARE.\n\
         \n\
         License: Apache-2.0\n \
         Licensed under the Apache License, Version 2.0 (the \"License\"); you may not\n \
         use this file except in compliance with the License. You may obtain a copy\n \
         of the License at http://www.apache.org/licenses/LICENSE-2.0\n \
         .\n \
         Unless required by applicable law or agreed to in writing, software\n \
         distributed under the License is distributed on an \"AS IS\" BASIS, WITHOUT\n \
         WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the\n \
         License for the specific language governing permissions and limitations\n \
         under the License.\n \
         .\n \
         On Debian systems, the complete text of the Apache License, Version 2.0\n \
         can be found in \"/usr/share/common-licenses/Apache-2.0\".\n"
    )
}

/// One changelog entry for this version, dated like the last commit (reproducible), else now.
fn changelog_entry(version: &str) -> Result<String, String> {
    let date = output(
        Command::new("git")
            .args(["log", "-1", "--format=%aD"])
            .current_dir(workspace_root()),
    )
    .ok()
    .map(|d| d.trim().to_owned())
    .filter(|d| !d.is_empty())
    .map_or_else(|| output(Command::new("date").arg("-R")), Ok)?;
    Ok(format!(
        "{PACKAGE} ({version}-{REVISION}) unstable; urgency=medium\n\n  \
         * Built by `cargo xtask dist` from the workspace at version {version}.\n\n \
         -- {MAINTAINER}  {}\n",
        date.trim()
    ))
}

/// `DEBIAN/md5sums`: every file of the tree but `DEBIAN/`, as `md5sum` prints it.
fn md5sums(root: &Path) -> Result<String, String> {
    let files: Vec<PathBuf> = files_under(&root.join("usr"))?
        .into_iter()
        .map(|f| f.strip_prefix(root).map(Path::to_owned).unwrap_or(f))
        .collect();
    output(Command::new("md5sum").args(&files).current_dir(root))
}

/// `Installed-Size` in KiB, as dpkg-gencontrol counts it: each file rounded up, a KiB a folder.
fn installed_size(root: &Path) -> Result<u64, String> {
    fn walk(dir: &Path, total: &mut u64) -> Result<(), String> {
        for entry in read_dir(dir)? {
            let meta = entry
                .metadata()
                .map_err(|e| format!("failed to read {}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                if entry.file_name() != "DEBIAN" {
                    *total += 1;
                    walk(&entry.path(), total)?;
                }
            } else {
                *total += meta.len().div_ceil(1024);
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(root, &mut total)?;
    Ok(total)
}

/// Every regular file under `dir`, sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in read_dir(dir)? {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, String> {
    std::fs::read_dir(dir)
        .and_then(Iterator::collect)
        .map_err(|e| format!("failed to read {}: {e}", dir.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `root/relative`, made with every folder on the way at mode 0755.
fn dir(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = root.join(relative);
    std::fs::create_dir_all(&path)
        .map_err(|e| format!("failed to create {}: {e}", path.display()))?;
    let mut folder = path.as_path();
    while folder.starts_with(root) {
        mode(folder, 0o755)?;
        match folder.parent() {
            Some(parent) => folder = parent,
            None => break,
        }
    }
    Ok(path)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("failed to write {}: {e}", path.display()))?;
    mode(path, 0o644)
}

fn mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("failed to set the mode of {}: {e}", path.display()))
}

/// `gzip -9n` (no name, no time stamp: reproducible, as lintian expects) of `from` into `to`.
fn gzip(from: &Path, to: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(to).map_err(|e| format!("failed to create {}: {e}", to.display()))?;
    run(Command::new("gzip")
        .args(["-9n", "--stdout"])
        .arg(from)
        .stdout(file))?;
    mode(to, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_value_is_read_from_its_own_section() {
        let text =
            "[package]\nname = \"x\"\nversion = \"1.2.3\"\n\n[dependencies]\nversion = \"9\"\n";
        assert_eq!(
            manifest_value(text, "package", "version").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(manifest_value(text, "package", "license"), None);
    }

    #[test]
    fn the_version_is_the_harness_crates() {
        let v = version().expect("version");
        assert!(v.split('.').count() == 3, "{v}");
    }

    #[test]
    fn profiles_map_to_their_folders() {
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert_eq!(profile_dir("fast"), "fast");
    }
}
