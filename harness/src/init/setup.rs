//! `init` from start to end: read the SP's metadata, start the mock IdP (and the SP, when
//! asked) as a run does, try a login, probe the SP profile with the run's own controls, and
//! render the target file. Nothing is written here: the caller writes [`InitOutcome::text`].

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mock_idp::{KeyType, SpEntry};

use super::discover::{Discovery, discover};
use super::render::{Findings, MetadataFacts, StartLines, render};
use crate::engine::{self, RunOptions};
use crate::env::{EnvOptions, Environment, SpLaunch};
use crate::error::Error;
use crate::target::Target;

const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// How to start the SP, as given to `init` (the generated file's `[start]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec {
    /// The program and its arguments (placeholders such as `{idp.metadata_url}` allowed).
    pub command: Vec<String>,
    /// Its working folder (relative to the current folder), if not the target file's.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (`NAME`, value with placeholders).
    pub env: Vec<(String, String)>,
    /// A URL that answers 2xx once the SP is ready (default: the metadata URL).
    pub ready_url: Option<String>,
    /// How long to wait for it.
    pub ready_timeout_seconds: u64,
}

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitConfig {
    /// The SP's metadata URL (http or https).
    pub sp_metadata: String,
    /// The URL that starts an SP-initiated login (may use `{user.email}`).
    pub login_url: String,
    /// Candidate session probes (absolute URLs or paths on the SP), tried first.
    pub probe_urls: Vec<String>,
    /// Where the target file will be written (relative paths in it are relative to its folder).
    pub output: PathBuf,
    /// The target's name (default: the output file's stem).
    pub name: Option<String>,
    /// The member's email (the user init signs in).
    pub email: String,
    /// How to start the SP; `None`: it runs already and trusts the mock IdP at `idp_bind`.
    pub start: Option<StartSpec>,
    /// Where the mock IdP listens (loopback).
    pub idp_bind: SocketAddr,
    /// A folder for the mock IdP's keys, written into the target (relative to the current folder).
    pub idp_state: Option<PathBuf>,
    /// Where keys are kept when no state folder is named (as `run` does); fresh keys when absent.
    pub key_cache: Option<PathBuf>,
    /// The mock IdP's key type.
    pub key_type: KeyType,
    /// Every request's timeout.
    pub step_timeout: Duration,
}

/// What `init` produced.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The target file's text (it parses as a target file).
    pub text: String,
    /// What was found, for the summary.
    pub findings: Findings,
    /// What is left to fill in by hand, one line each.
    pub todos: Vec<String>,
    /// The `[defaults]` settings written, with their evidence.
    pub settings: Vec<(String, String)>,
}

/// Reads the SP, tries it, and renders a target file for it.
pub async fn init(config: InitConfig) -> Result<InitOutcome, Error> {
    let base_url = check_url("--sp-metadata", &config.sp_metadata)?;
    let login_url = login_url(&config.login_url, &base_url)?;
    if !config.idp_bind.ip().is_loopback() {
        return Err(Error::input(format!(
            "--idp-bind {}: the mock IdP listens on loopback addresses only",
            config.idp_bind
        )));
    }
    let out_dir = target_dir(&config.output)?;
    let name = config.name.clone().unwrap_or_else(|| {
        config
            .output
            .file_stem()
            .map_or_else(|| "my-sp".to_owned(), |s| s.to_string_lossy().into_owned())
    });
    let start = match &config.start {
        Some(spec) => Some(start_lines(spec, &base_url, &config.sp_metadata, &out_dir)?),
        None => None,
    };
    let idp_state = match &config.idp_state {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::input(format!(
                    "failed to create the --idp-state folder {}: {e}",
                    dir.display()
                ))
            })?;
            Some(relative_to(&out_dir, &absolute(dir)?))
        }
        None => None,
    };
    let mut findings = Findings {
        name,
        base_url: base_url.clone(),
        login_url: login_url.clone(),
        metadata: MetadataFacts {
            url: config.sp_metadata.clone(),
            ..MetadataFacts::default()
        },
        email: config.email.clone(),
        idp_bind: Some(config.idp_bind),
        idp_state,
        start,
        ..Findings::default()
    };
    let logs = tempfile::tempdir()
        .map_err(|e| Error::harness(format!("failed to make a temporary folder: {e}")))?;

    // Phase 1: the IdP and the SP up, the metadata read, a login tried. The entityID and ACS
    // are not known before the metadata is read: the draft registers a stand-in, and the
    // metadata's entries are registered once read.
    let draft = render(&findings);
    let mut target = parse(&draft.text, &config.output, &out_dir)?;
    target.file.sp.metadata_url = None;
    // An SP that runs already is read before anything starts: a wrong URL fails at once.
    let early = match &config.start {
        Some(_) => None,
        None => Some(read_metadata(&config.sp_metadata).await?),
    };
    let env = start_env(&config, target, &logs.path().join("sp-1.log")).await?;
    let discovered = async {
        let (facts, entries) = match early {
            Some(read) => read,
            None => read_metadata(&config.sp_metadata).await?,
        };
        for entry in entries {
            env.idp().idp().register_entry(entry);
        }
        let login = discover(
            &env,
            &Discovery {
                login_url: &login_url,
                probe_urls: &config.probe_urls,
                entity_id: &facts.entity_id,
                acs_url: &facts.acs_url,
                email: &config.email,
                step_timeout: config.step_timeout,
            },
        )
        .await;
        Ok::<_, Error>((facts, login))
    }
    .await;
    env.stop().await;
    let (facts, login) = discovered?;
    findings.metadata = facts;
    findings.login = login;

    // Phase 2: with the probe known, the file as written is a target; the run's profile
    // probes (its controls) measure what the SP accepts.
    if findings.login.probe.is_some() {
        findings.measuring = true;
        let first = render(&findings);
        findings.measuring = false;
        let target = parse(&first.text, &config.output, &out_dir)?;
        match measure_profile(&config, target, &logs.path().join("sp-2.log")).await {
            Ok(profile) => findings.profile = Some(profile),
            Err(e) => findings.profile_missing = Some(e.to_string()),
        }
    } else {
        findings.profile_missing = Some("no session probe was found".to_owned());
    }
    let rendered = render(&findings);
    // What is written must load: checked with the real parser, whatever was found.
    parse(&rendered.text, &config.output, &out_dir)?;
    Ok(InitOutcome {
        text: rendered.text,
        findings,
        todos: rendered.todos,
        settings: rendered.settings,
    })
}

/// Whether `init` may write `output`: not over an existing file unless `force`. Checked before
/// anything runs, and again by [`write_target`].
pub fn check_output(output: &Path, force: bool) -> Result<(), Error> {
    if !force && output.exists() {
        return Err(Error::input(format!(
            "{} exists; init does not overwrite it (give --force, or another -o PATH)",
            output.display()
        )));
    }
    Ok(())
}

/// Writes the target file: a new file, or (with `force`) over an existing one.
pub fn write_target(output: &Path, text: &str, force: bool) -> Result<(), Error> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            check_output(output, false)
                .err()
                .unwrap_or_else(|| Error::input(e.to_string()))
        } else {
            Error::input(format!("failed to write {}: {e}", output.display()))
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!force)
        .open(output)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

fn parse(text: &str, output: &Path, dir: &Path) -> Result<Target, Error> {
    Target::parse(text, &output.display().to_string(), dir.to_owned()).map_err(|e| {
        Error::harness(format!(
            "failed to render a target file that loads (a bug of init): {e}"
        ))
    })
}

async fn start_env(config: &InitConfig, target: Target, log: &Path) -> Result<Environment, Error> {
    Environment::start(EnvOptions {
        target,
        launch: SpLaunch::FromTarget,
        key_type: config.key_type,
        sp_log: Some(log.to_owned()),
        idp_state: config.idp_state.clone(),
        key_cache: config.key_cache.clone(),
    })
    .await
}

/// The SP profile of `target`, from a run of no scenarios (its probes only).
async fn measure_profile(
    config: &InitConfig,
    target: Target,
    log: &Path,
) -> Result<crate::profile::Profile, Error> {
    let env = Arc::new(start_env(config, target, log).await?);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let options = RunOptions {
        step_timeout: config.step_timeout,
        ..RunOptions::default()
    };
    let outcome = engine::run(Arc::clone(&env), Vec::new(), options, None, tx).await;
    if let Ok(env) = Arc::try_unwrap(env) {
        env.stop().await;
    }
    outcome
        .profile
        .ok_or_else(|| Error::harness("the run measured no SP profile"))
}

/// The origin of an http(s) URL, or why it is not one.
fn check_url(flag: &str, url: &str) -> Result<String, Error> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::input(format!(
            "{flag} {url}: not a URL ({e}); give the full http:// or https:// URL"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::input(format!(
            "{flag} {url}: only http:// and https:// URLs can be read; give the URL the SP serves its metadata at"
        )));
    }
    Ok(parsed.origin().ascii_serialization())
}

/// The login URL as the target file writes it: absolute (a path is on the SP's base URL),
/// http or https; placeholders (`{user.email}`) are kept.
fn login_url(url: &str, base_url: &str) -> Result<String, Error> {
    if url.starts_with('/') {
        return Ok(format!("{base_url}{url}"));
    }
    if url.starts_with("{sp.base_url}") {
        return Ok(url.replacen("{sp.base_url}", base_url, 1));
    }
    check_url("--login-url", url)?;
    Ok(url.to_owned())
}

/// The SP's metadata, read with a bound on its size and time, and what it says.
async fn read_metadata(url: &str) -> Result<(MetadataFacts, Vec<SpEntry>), Error> {
    let xml = crate::support::metadata::load_text(url).await.map_err(|e| {
        Error::input(format!(
            "{e}; check that --sp-metadata is the URL the SP serves its SAML metadata at, and that the SP is running (or give `-- COMMAND` to let init start it)"
        ))
    })?;
    metadata_facts(url, &xml)
}

/// What the metadata says, and the entries to register with the mock IdP.
fn metadata_facts(url: &str, xml: &str) -> Result<(MetadataFacts, Vec<SpEntry>), Error> {
    let entries = SpEntry::from_metadata(xml).map_err(|e| {
        Error::input(format!(
            "failed to read the SP metadata at {url}: {e}; is it the SP's SAML metadata (an EntityDescriptor with an SPSSODescriptor)?"
        ))
    })?;
    let Some(sp) = entries.first() else {
        return Err(Error::input(format!(
            "the metadata at {url} describes no SP (no SPSSODescriptor)"
        )));
    };
    let post: Vec<_> = sp
        .acs
        .iter()
        .filter(|a| a.binding == BINDING_POST)
        .collect();
    let Some(acs) = post
        .iter()
        .find(|a| a.is_default)
        .or_else(|| post.iter().min_by_key(|a| a.index.unwrap_or(u16::MAX)))
    else {
        return Err(Error::input(format!(
            "the metadata at {url} lists no AssertionConsumerService for HTTP-POST, the binding the harness posts responses with"
        )));
    };
    let short = |binding: &str| binding.rsplit(':').next().unwrap_or(binding).to_owned();
    let describe = |der: &Vec<u8>| {
        crate::support::metadata::CertInfo::from_der(der)
            .map_or_else(|| "unreadable".to_owned(), |c| c.describe())
    };
    let facts = MetadataFacts {
        url: url.to_owned(),
        entity_id: sp.entity_id.clone(),
        acs_url: acs.url.clone(),
        acs_index: acs.index,
        other_acs: sp
            .acs
            .iter()
            .filter(|a| a.url != acs.url || a.binding != acs.binding)
            .map(|a| (short(&a.binding), a.url.clone()))
            .collect(),
        slo: sp
            .slo
            .iter()
            .map(|s| (short(&s.binding), s.url.clone()))
            .collect(),
        signing_certs: sp.signing_certs.iter().map(describe).collect(),
        encryption_certs: sp.encryption_certs.iter().map(describe).collect(),
        want_assertions_signed: sp.want_assertions_signed,
        authn_requests_signed: sp.authn_requests_signed,
        entities: entries.len(),
    };
    Ok((facts, entries))
}

/// The output's folder, which must exist (the folder relative paths resolve against).
fn target_dir(output: &Path) -> Result<PathBuf, Error> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::input(format!(
            "the folder of the output file {} does not exist; create it or choose another -o",
            output.display()
        )));
    }
    absolute(&dir)
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::fs::canonicalize(path)
        .map_err(|e| Error::input(format!("failed to resolve {}: {e}", path.display())))
}

/// `path` relative to `base` (both absolute).
fn relative_to(base: &Path, path: &Path) -> PathBuf {
    let b: Vec<Component<'_>> = base.components().collect();
    let p: Vec<Component<'_>> = path.components().collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// The `[start]` lines: the working folder made relative to the target file's folder, the
/// ready URL defaulting to the metadata URL.
fn start_lines(
    spec: &StartSpec,
    base_url: &str,
    metadata_url: &str,
    out_dir: &Path,
) -> Result<StartLines, Error> {
    if spec.command.is_empty() {
        return Err(Error::input("the start command after `--` is empty"));
    }
    let cwd = match &spec.cwd {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::input(format!(
                    "--start-cwd {}: no such folder",
                    dir.display()
                )));
            }
            Some(relative_to(out_dir, &absolute(dir)?))
        }
        None => None,
    };
    let ready = spec.ready_url.as_deref().unwrap_or(metadata_url);
    let ready_url = match ready.strip_prefix(base_url) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => {
            format!("{{sp.base_url}}{rest}")
        }
        _ => ready.to_owned(),
    };
    Ok(StartLines {
        command: spec.command.clone(),
        cwd,
        env: spec.env.clone(),
        ready_url,
        ready_timeout_seconds: spec.ready_timeout_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_and_descend() {
        assert_eq!(
            relative_to(Path::new("/a/b/c"), Path::new("/a/d")),
            PathBuf::from("../../d")
        );
        assert_eq!(
            relative_to(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a")),
            PathBuf::from(".")
        );
    }

    #[test]
    fn login_urls_are_made_absolute_on_the_sps_base() {
        let base = "http://127.0.0.1:8380";
        assert_eq!(
            login_url("/login?email={user.email}", base).as_deref(),
            Ok("http://127.0.0.1:8380/login?email={user.email}")
        );
        assert_eq!(
            login_url("{sp.base_url}/login", base).as_deref(),
            Ok("http://127.0.0.1:8380/login")
        );
        let e = login_url("login", base).expect_err("not a URL");
        assert!(e.message.starts_with("--login-url login: not a URL"), "{e}");
    }

    #[test]
    fn an_existing_file_is_overwritten_only_with_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.toml");
        check_output(&path, false).expect("a new file");
        write_target(&path, "one", false).expect("written");
        let e = check_output(&path, false).expect_err("exists");
        assert!(e.message.contains("give --force"), "{e}");
        let e = write_target(&path, "two", false).expect_err("not overwritten");
        assert!(e.message.contains("does not overwrite"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "one");
        write_target(&path, "three", true).expect("forced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three");
    }

    #[test]
    fn only_http_urls_are_read_and_errors_say_what_to_do() {
        assert_eq!(
            check_url("--sp-metadata", "http://127.0.0.1:8380/saml/metadata").as_deref(),
            Ok("http://127.0.0.1:8380")
        );
        let e = check_url("--sp-metadata", "file:///etc/passwd").expect_err("file");
        assert!(e.message.contains("only http:// and https://"), "{e}");
        let e = check_url("--sp-metadata", "127.0.0.1:8380/metadata").expect_err("no scheme");
        assert!(
            e.message
                .starts_with("--sp-metadata 127.0.0.1:8380/metadata"),
            "{e}"
        );
    }

    #[test]
    fn metadata_gives_the_post_acs_and_says_what_it_lacks() {
        let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/meta">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/art" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;
        let (facts, entries) = metadata_facts("https://sp.example/meta", xml).expect("reads");
        assert_eq!(entries.len(), 1);
        assert_eq!(facts.entity_id, "https://sp.example/meta");
        assert_eq!(facts.acs_url, "https://sp.example/acs");
        assert_eq!(facts.acs_index, Some(1));
        assert_eq!(
            facts.other_acs,
            [(
                "HTTP-Artifact".to_owned(),
                "https://sp.example/art".to_owned()
            )]
        );
        assert_eq!(
            facts.slo,
            [(
                "HTTP-Redirect".to_owned(),
                "https://sp.example/slo".to_owned()
            )]
        );
        assert!(facts.want_assertions_signed);
        let no_post = xml.replace("HTTP-POST", "PAOS");
        let e = metadata_facts("u", &no_post).expect_err("no POST ACS");
        assert!(
            e.message
                .contains("no AssertionConsumerService for HTTP-POST"),
            "{e}"
        );
        let e = metadata_facts("u", "<html>").expect_err("not metadata");
        assert!(
            e.message.starts_with("failed to read the SP metadata at u"),
            "{e}"
        );
    }
}
