//! The environment of a run: the mock IdP the harness runs, the SP under test (started
//! in-process, started as a command, or already running), and the placeholders that tie the
//! target file to both.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mock_idp::{KeyStore, KeyType, MockIdp, SpEntry, SpSource, StartOptions};
use reference_sp::{ReferenceSp, Weakening};

use crate::error::Error;
use crate::target::{CommandHook, HookAction, HttpHook, Target};
use crate::template::{TemplateError, Vars};
use crate::witness::Witness;

/// How the SP under test comes to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpLaunch {
    /// The reference SP, started in this process on a free loopback port (the target file's
    /// `[start]` is ignored).
    InProcessReference {
        /// Checks turned off on purpose (self-tests).
        weaken: Vec<Weakening>,
    },
    /// The target file's `[start]` command, or an SP that is already running when the target
    /// has no `[start]`.
    FromTarget,
}

/// Options for [`Environment::start`].
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// The target.
    pub target: Target,
    /// How the SP is started.
    pub launch: SpLaunch,
    /// The key type of the mock IdP's keys, when it makes new ones.
    pub key_type: KeyType,
    /// Where the output of a started SP goes.
    pub sp_log: Option<PathBuf>,
    /// A folder for the mock IdP's keys, overriding the target's `idp.state`.
    pub idp_state: Option<PathBuf>,
    /// Where the keys are kept when neither names a folder (a per-user cache, so that a run
    /// does not make new RSA keys each time); fresh keys in memory when absent.
    pub key_cache: Option<PathBuf>,
}

/// A running environment. Stop it with [`Environment::stop`]; dropping it also ends what it
/// started (the SP process by its pid).
#[derive(Debug)]
pub struct Environment {
    target: Target,
    idp: MockIdp,
    sp: RunningSp,
    vars: Vars,
    client: reqwest::Client,
    notes: Vec<String>,
    witness: Witness,
    /// Where command hooks' output goes (the report's `sp.log`).
    log: Option<PathBuf>,
    /// How to start another environment like this one, when the harness owns all of it (see
    /// [`Environment::private_copy`]).
    copy: Option<CopySpec>,
}

/// What a private copy of an environment needs beyond the target and the mock IdP's keys: an
/// embedded reference SP with the same checks turned off and the same keys, as loaded.
#[derive(Debug, Clone)]
struct CopySpec {
    weaken: Vec<Weakening>,
    sp_keys: reference_sp::SpKeys,
}

/// Where the embedded reference SP's keys come from.
enum SpKeySource {
    /// Kept in this folder (`None`: the process's own).
    Folder(Option<PathBuf>),
    /// Those the run's SP holds (a copy's: nothing read again).
    Shared(reference_sp::SpKeys),
}

#[derive(Debug)]
enum RunningSp {
    InProcess(Box<ReferenceSp>),
    Process(Box<ChildGuard>),
    External,
}

impl Environment {
    /// Starts the mock IdP, then the SP, waits until the SP is ready, and registers the SP
    /// with the IdP.
    pub async fn start(options: EnvOptions) -> Result<Self, Error> {
        let EnvOptions {
            target,
            launch,
            key_type,
            sp_log,
            idp_state,
            key_cache,
        } = options;
        // The embedded reference SP keeps its two keys beside the mock IdP's in the key cache.
        let sp_keys = key_cache.as_ref().map(|k| k.join("reference-sp"));
        let state = idp_state
            .or_else(|| target.file.idp.state.as_ref().map(|s| target.dir.join(s)))
            .or(key_cache);
        let keys = load_keys(state, key_type).await?;
        Self::start_with(target, launch, keys, sp_log, SpKeySource::Folder(sp_keys)).await
    }

    /// Whether [`Environment::private_copy`] can make a copy.
    pub fn can_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// A new environment like this one, for one scenario that would otherwise have the SP and
    /// the mock IdP to itself (an IdP outage, a `set` step, the SP's clock): only when the
    /// harness owns the whole environment ([`Environment::can_copy`]: the embedded reference
    /// SP).
    /// The copy is a fresh reference SP (same checks turned off, same keys, the target's
    /// defaults) and a fresh mock IdP (same keys) that know only each other, so the scenario
    /// runs beside the others instead of stopping them. Stop it with [`Environment::stop`].
    pub async fn private_copy(&self) -> Result<Self, Error> {
        let copy = self.copy.as_ref().ok_or_else(|| {
            Error::harness("only the embedded reference SP's environment can be copied".to_owned())
        })?;
        // Its mock IdP listens where the run's does, on a port of its own.
        let mut target = self.target.clone();
        target.file.idp.bind.set_port(0);
        Self::start_with(
            target,
            SpLaunch::InProcessReference {
                weaken: copy.weaken.clone(),
            },
            self.idp.idp().keys().clone(),
            self.log.clone(),
            SpKeySource::Shared(copy.sp_keys.clone()),
        )
        .await
    }

    /// [`Environment::start`] with the mock IdP's keys loaded, and the embedded reference
    /// SP's keys to use.
    async fn start_with(
        target: Target,
        launch: SpLaunch,
        keys: KeyStore,
        sp_log: Option<PathBuf>,
        sp_keys: SpKeySource,
    ) -> Result<Self, Error> {
        let log = sp_log.clone();
        let mut idp_options = StartOptions::new(keys);
        idp_options.bind = target.file.idp.bind;
        let idp = MockIdp::start(idp_options)
            .await
            .map_err(|e| Error::harness(format!("failed to start the mock IdP: {e}")))?;
        let idp_base = idp.base_url().to_owned();
        let witness = Witness::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Error::harness(format!("failed to start the witness listener: {e}")))?;
        let idp_vars = [
            ("idp.base_url", idp_base.clone()),
            ("idp.metadata_url", format!("{idp_base}/metadata")),
            ("idp.sso_url", format!("{idp_base}/sso")),
            ("idp.entity_id", idp.idp().settings().entity_id.clone()),
        ];
        let target_name = target.file.name.clone();
        let template = |source: TemplateError| {
            Error::input(format!(
                "failed to fill a placeholder of target {target_name}: {source}"
            ))
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::sp(format!("failed to start the SP: {e}")))?;

        let (sp, mut vars, copy) = match launch {
            SpLaunch::InProcessReference { weaken } => {
                let mut config = reference_sp::Config::new();
                config.demo = true;
                config.idp = Some(reference_sp::IdpSource::MetadataXml(
                    idp.idp().metadata_xml(),
                ));
                config.admin_token = target.file.vars.get("admin_token").cloned();
                config.weaken = weaken.iter().copied().collect();
                match sp_keys {
                    SpKeySource::Folder(folder) => config.key_folder = folder,
                    SpKeySource::Shared(keys) => config.keys = Some(keys),
                }
                let sp = ReferenceSp::start(config)
                    .await
                    .map_err(|e| Error::sp(format!("failed to start the SP: {e}")))?;
                let vars = target.vars(Some(sp.base_url()))?;
                let copy = CopySpec {
                    weaken,
                    sp_keys: sp.keys(),
                };
                (RunningSp::InProcess(Box::new(sp)), vars, Some(copy))
            }
            SpLaunch::FromTarget => {
                let mut vars = target.vars(None)?;
                for (k, v) in &idp_vars {
                    vars.set(*k, v.clone());
                }
                match &target.file.start {
                    Some(start) => {
                        let argv = start
                            .command
                            .iter()
                            .map(|a| vars.render(a))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(template)?;
                        let env = start
                            .env
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), vars.render(v)?)))
                            .collect::<Result<Vec<_>, TemplateError>>()
                            .map_err(template)?;
                        let cwd = start
                            .cwd
                            .as_ref()
                            .map(|c| target.dir.join(c))
                            .unwrap_or_else(|| PathBuf::from("."));
                        let ready_url = vars.render(&start.ready_url).map_err(template)?;
                        let child =
                            ChildGuard::spawn("the SP", &argv, &env, &cwd, sp_log.as_deref())?;
                        let mut guard = child;
                        wait_ready(
                            &client,
                            &ready_url,
                            Duration::from_secs(start.ready_timeout_seconds),
                            &mut guard,
                        )
                        .await?;
                        (RunningSp::Process(Box::new(guard)), vars, None)
                    }
                    None => (RunningSp::External, vars, None),
                }
            }
        };
        for (k, v) in idp_vars {
            vars.set(k, v);
        }

        let mut notes = Vec::new();
        let entity_id = vars.get("sp.entity_id").unwrap_or_default().to_owned();
        let acs_url = vars.get("sp.acs_url").unwrap_or_default().to_owned();
        let registered = match vars.get("sp.metadata_url") {
            Some(url) => match idp.idp().register(SpSource::Metadata(url.to_owned())).await {
                Ok(ids) if ids.contains(&entity_id) => true,
                Ok(ids) => {
                    notes.push(format!(
                        "the SP's metadata at {url} names {ids:?}, not the target's entityID {entity_id}; registered the target's values"
                    ));
                    false
                }
                Err(e) => {
                    notes.push(format!(
                        "failed to read the SP's metadata ({e}); registered the target's entityID and ACS URL"
                    ));
                    false
                }
            },
            None => false,
        };
        if !registered {
            idp.idp().register_entry(SpEntry::new(&entity_id, &acs_url));
        }
        for note in &notes {
            tracing::warn!("{note}");
        }
        Ok(Self {
            target,
            idp,
            sp,
            vars,
            client,
            notes,
            witness,
            log,
            copy,
        })
    }

    /// The witness listener (see [`crate::witness`]).
    pub fn witness(&self) -> &Witness {
        &self.witness
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The mock IdP.
    pub fn idp(&self) -> &MockIdp {
        &self.idp
    }

    /// The placeholders of this run (`sp.*`, `idp.*`, `users.*`, `vars.*`).
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// Notes from setting up (fallbacks taken).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// What the mock IdP knows of the SP (from its metadata, or the target's entityID and
    /// ACS URL).
    pub fn sp_entry(&self) -> Option<mock_idp::SpEntry> {
        let entity_id = self.vars.get("sp.entity_id")?;
        self.idp
            .idp()
            .sps()
            .into_iter()
            .find(|sp| sp.entity_id == entity_id)
    }

    /// The SP's base URL.
    pub fn sp_base(&self) -> &str {
        self.vars.get("sp.base_url").unwrap_or_default()
    }

    /// Runs a named hook's actions in order.
    pub async fn run_hook(&self, name: &str) -> Result<(), Error> {
        self.run_hook_with(name, &self.vars).await
    }

    /// Moves the SP's clock forward by `ms` with the target's `clock` hook.
    pub async fn advance_clock(&self, ms: u64) -> Result<(), Error> {
        let (ms, seconds) = (ms.to_string(), ms.div_ceil(1000).to_string());
        let vars = self.vars.with(&[
            ("clock.advance_ms", ms.as_str()),
            ("clock.advance_seconds", seconds.as_str()),
        ]);
        self.run_hook_with(crate::vocabulary::CLOCK_HOOK, &vars)
            .await
    }

    /// Sets the SP's patience with the IdP to `ms` with the target's `patience` hook.
    pub async fn set_idp_patience(&self, ms: u64) -> Result<(), Error> {
        let ms = ms.to_string();
        let vars = self.vars.with(&[("patience.ms", ms.as_str())]);
        self.run_hook_with(crate::vocabulary::PATIENCE_HOOK, &vars)
            .await
    }

    /// Runs a named hook's actions in order, with `vars` for their placeholders.
    async fn run_hook_with(&self, name: &str, vars: &Vars) -> Result<(), Error> {
        let fail = |e: Error| Error::new(e.kind, format!("failed to run hook `{name}`: {e}"));
        let Some(actions) = self.target.file.hooks.get(name) else {
            return Err(fail(Error::input(format!(
                "target {} has no such hook",
                self.target.file.name
            ))));
        };
        for action in actions {
            match action {
                HookAction::Http(http) => {
                    self.http_request(http, vars).await.map_err(fail)?;
                }
                HookAction::Command(command) => {
                    self.run_command_hook(command, vars).await.map_err(fail)?;
                }
            }
        }
        Ok(())
    }

    /// Fetches the SP's metadata from the target's metadata URL, as the SP-side conformance
    /// checks read it: `(where, the text)`, or why there is none.
    pub async fn fetch_sp_metadata(
        &self,
        timeout: std::time::Duration,
    ) -> Result<(String, String), String> {
        let Some(url) = self.vars.get("sp.metadata_url") else {
            return Err(format!(
                "target {} declares no [sp].metadata_url, so its metadata cannot be read",
                self.target.file.name
            ));
        };
        let source = format!("GET {url}");
        let response = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| format!("failed to fetch the SP's metadata ({source}): {e}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("failed to read the SP's metadata ({source}): {e}"))?;
        if !status.is_success() {
            return Err(format!("{source} answered {status}, not the SP's metadata"));
        }
        Ok((source, body))
    }

    /// Sends an HTTP request described like a hook, with `vars` for its placeholders; the
    /// body of a 2xx answer (a password reset's token request, for example). No answer is a
    /// transport error; an answer other than 2xx is the SP's.
    pub async fn http_request(&self, hook: &HttpHook, vars: &Vars) -> Result<String, Error> {
        let url = vars.render(&hook.url)?;
        let method = reqwest::Method::from_bytes(hook.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::input(format!("invalid method `{}`", hook.method)))?;
        let mut request = self.client.request(method.clone(), &url);
        for (k, v) in &hook.headers {
            request = request.header(k, vars.render(v)?);
        }
        if let Some(json) = &hook.json {
            let mut body = json.clone();
            vars.render_json(&mut body)?;
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::transport(format!("{method} {url}: {e}")))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(body)
        } else {
            Err(Error::sp(format!(
                "{method} {url} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )))
        }
    }

    async fn run_command_hook(&self, hook: &CommandHook, vars: &Vars) -> Result<(), Error> {
        let argv = hook
            .argv
            .iter()
            .map(|a| vars.render(a))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::input("empty argv"));
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(
                hook.cwd
                    .as_ref()
                    .map_or_else(|| self.target.dir.clone(), |c| self.target.dir.join(c)),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in &hook.env {
            command.env(k, vars.render(v)?);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .map_err(|_| Error::hook(format!("`{}` did not finish within 60 s", argv.join(" "))))?
            .map_err(|e| Error::hook(format!("failed to run `{program}`: {e}")))?;
        self.log_hook(&argv, &output);
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::hook(format!(
                "`{}` exited with {}: {}",
                argv.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .chars()
                    .take(500)
                    .collect::<String>()
            )))
        }
    }

    /// Appends a command hook's output to the run's SP log, headed by the command.
    fn log_hook(&self, argv: &[String], output: &std::process::Output) {
        use std::io::Write as _;
        let Some(path) = &self.log else {
            return;
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "--- hook `{}` ({})", argv.join(" "), output.status);
            let _ = file.write_all(&output.stdout);
            let _ = file.write_all(&output.stderr);
        }
    }

    /// Stops the SP (if the harness started it) and the IdP.
    pub async fn stop(self) {
        match self.sp {
            RunningSp::InProcess(sp) => {
                if let Err(e) = sp.shutdown().await {
                    tracing::warn!(error = %e, "reference SP did not stop cleanly");
                }
            }
            RunningSp::Process(mut child) => child.stop().await,
            RunningSp::External => {}
        }
        if let Err(e) = self.idp.shutdown().await {
            tracing::warn!(error = %e, "mock IdP did not stop cleanly");
        }
        self.witness.shutdown().await;
    }
}

async fn load_keys(state: Option<PathBuf>, key_type: KeyType) -> Result<KeyStore, Error> {
    tokio::task::spawn_blocking(move || match state {
        Some(dir) => KeyStore::load_or_create(&dir, key_type),
        None => KeyStore::generate(key_type),
    })
    .await
    .map_err(|e| Error::harness(format!("failed to prepare the mock IdP's keys: {e}")))?
    .map_err(|e| Error::harness(format!("failed to prepare the mock IdP's keys: {e}")))
}

/// Waits until `url` answers 2xx, `child` having started the server behind it; an error names
/// the child and ends with its last output.
pub(crate) async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    child: &mut ChildGuard,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.exited() {
            return Err(Error::sp(format!(
                "failed to start {what}: {what} exited with {status} before {url} answered{}",
                child.log_tail(),
                what = child.what
            )));
        }
        if let Ok(response) = client.get(url).timeout(Duration::from_secs(2)).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(Error::sp(format!(
                "failed to start {}: {url} did not answer 2xx within {} s{}",
                child.what,
                timeout.as_secs(),
                child.log_tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A started process (an SP, or the bench's mock IdP), in its own process group: stopped by
/// its pid (SIGTERM, then SIGKILL after 5 s), then what is left of its group is killed;
/// dropped, the group is killed; if the harness is killed, the watchdog kills the group.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    /// What it is, in messages ("the SP").
    what: &'static str,
    child: tokio::process::Child,
    program: String,
    log: Option<PathBuf>,
    /// Its process group (its own pid), until it is ended.
    group: Option<u32>,
}

impl ChildGuard {
    /// Starts `argv` in `cwd` with `env` added, its output to `log` (or nowhere).
    pub(crate) fn spawn(
        what: &'static str,
        argv: &[String],
        env: &[(String, String)],
        cwd: &std::path::Path,
        log: Option<&std::path::Path>,
    ) -> Result<Self, Error> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::input(format!(
                "failed to start {what}: empty start command"
            )));
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            // Its own process group: everything it starts can be ended together, by the
            // harness or, if the harness is killed, by the watchdog.
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        match log {
            Some(path) => {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let file = std::fs::File::create(path).map_err(|e| {
                    Error::sp(format!(
                        "failed to start {what}: failed to create {}: {e}",
                        path.display()
                    ))
                })?;
                let err = file
                    .try_clone()
                    .map_err(|e| Error::sp(format!("failed to start {what}: {e}")))?;
                command.stdout(file).stderr(err);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        crate::watchdog::arm();
        let child = command.spawn().map_err(|e| {
            Error::sp(format!(
                "failed to start {what}: failed to run `{}` in {}: {e}",
                argv.join(" "),
                cwd.display()
            ))
        })?;
        tracing::info!(pid = child.id(), program = %program, "started {what}");
        let group = child.id();
        if let Some(group) = group {
            crate::watchdog::guard(group);
        }
        Ok(Self {
            what,
            child,
            program: program.clone(),
            log: log.map(std::path::Path::to_owned),
            group,
        })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "; last output of {} ({}):\n{tail}",
                self.program,
                path.display()
            )
        }
    }

    /// Its pid, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops it (see the type).
    pub(crate) async fn stop(&mut self) {
        if self.exited().is_none()
            && let Some(pid) = self.child.id()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.kill().await;
            }
        }
        // Whatever the SP left running in its process group goes too.
        self.end_group();
    }

    /// SIGKILL to what is left of the SP's process group, which the watchdog then forgets.
    fn end_group(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(i32::try_from(group).unwrap_or(i32::MAX)),
                nix::sys::signal::Signal::SIGKILL,
            );
            crate::watchdog::release(group);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.end_group();
    }
}
