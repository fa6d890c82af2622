//! Target files: how to reach an SP, start it, log in, and ask it who is signed in.
//!
//! The harness talks to every SP, the reference SP included, only through one of these.
//! Strings may use placeholders (see [`crate::template`]): `{sp.base_url}`, `{sp.entity_id}`,
//! `{sp.acs_url}`, `{idp.base_url}`, `{idp.metadata_url}`, `{idp.entity_id}`, `{vars.NAME}`,
//! `{users.NAME.email}`, `{user.email}` and `{user.password}` (the scenario's user),
//! `{harness.exe}` and `{target.dir}`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::scenario::toml_error_parts;
use crate::template::{TemplateError, Vars};

/// A target file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// A short name, used in reports (`reference-sp`).
    pub name: String,
    /// One line about the SP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free values for placeholders (`{vars.NAME}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// The SP's identity and URLs.
    pub sp: SpSection,
    /// Where the harness runs its mock IdP for this SP.
    #[serde(default)]
    pub idp: IdpSection,
    /// How the harness starts the SP, when it should.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartSection>,
    /// How logins start.
    pub login: LoginSection,
    /// How to ask the SP who is signed in.
    pub session: SessionSection,
    /// How to read the SP's reason for a refusal, if it shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<RefusalSection>,
    /// An API check with basic auth, if the SP has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSection>,
    /// Logical users (`member`, `other`, `admin`, ...) scenarios refer to.
    pub users: BTreeMap<String, User>,
    /// What the SP can do; a scenario needing a capability that is absent or false is skipped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, bool>,
    /// Settings that hold without any hook (`idp-initiated=off`).
    #[serde(default)]
    pub defaults: Defaults,
    /// Named SP settings a scenario may require, each a list of actions; `reset` undoes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<String, Vec<HookAction>>,
}

/// The SP's identity and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpSection {
    /// The SP's base URL.
    pub base_url: String,
    /// The SP's entityID.
    pub entity_id: String,
    /// The SP's assertion consumer service URL (HTTP-POST).
    pub acs_url: String,
    /// Where the SP publishes its metadata; the mock IdP reads the ACS and keys from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
}

/// Where the harness runs its mock IdP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpSection {
    /// The address to listen on; an SP configured once (outside the harness) needs a fixed one.
    #[serde(default = "default_idp_bind")]
    pub bind: SocketAddr,
    /// A folder for the IdP's keys, so an SP configured once keeps trusting them; fresh keys
    /// in memory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
}

fn default_idp_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Default for IdpSection {
    fn default() -> Self {
        Self {
            bind: default_idp_bind(),
            state: None,
        }
    }
}

/// How the harness starts the SP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSection {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The working folder, relative to the target file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// A URL that answers 2xx once the SP is ready.
    pub ready_url: String,
    /// How long to wait for it.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_seconds: u64,
}

fn default_ready_timeout() -> u64 {
    60
}

/// How logins start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSection {
    /// The URL that starts an SP-initiated login (may use `{user.email}`).
    pub sp_initiated_url: String,
    /// The URL that starts an SP-initiated login in which the application asks the IdP to
    /// authenticate the user again (the SP's AuthnRequest then says `ForceAuthn="true"`), if
    /// the SP has one; scenarios with `sp_login = "force-authn"` are skipped without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_authn_url: Option<String>,
    /// The URL that starts an SP-initiated login in which the application asks the IdP not to
    /// interact with the user (`IsPassive="true"`), if the SP has one; scenarios with
    /// `sp_login = "passive"` are skipped without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_url: Option<String>,
    /// A password login form, if the SP has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordLogin>,
    /// How a user resets a password, if the SP lets the harness do it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reset: Option<PasswordReset>,
}

impl LoginSection {
    /// The URL template that starts an SP-initiated login of this kind, if the target has one.
    pub fn url(&self, kind: crate::scenario::SpLogin) -> Option<&str> {
        use crate::scenario::SpLogin;
        match kind {
            SpLogin::Usual => Some(&self.sp_initiated_url),
            SpLogin::ForceAuthn => self.force_authn_url.as_deref(),
            SpLogin::Passive => self.passive_url.as_deref(),
        }
    }
}

/// A password reset: how to obtain a reset token (the harness stands in for the email the SP
/// would send), then the form that sets the new password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The request that issues a token for `{user.email}`.
    pub token_request: HttpHook,
    /// Where the token is in that request's answer.
    pub token: Extractor,
    /// Where the reset form posts.
    pub url: String,
    /// The form fields; values may use `{reset.token}` and `{reset.password}`.
    pub fields: BTreeMap<String, String>,
}

/// A password login form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    /// Where the form posts.
    pub url: String,
    /// The form fields (values may use `{user.email}` and `{user.password}`).
    pub fields: BTreeMap<String, String>,
}

/// How to ask the SP who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// The probe URL, fetched with the user agent's cookies.
    pub probe_url: String,
    /// The status that means "signed in"; anything else means not signed in.
    #[serde(default = "default_signed_in_status")]
    pub signed_in_status: u16,
    /// How to read the identity from the probe's body.
    pub identity: Extractor,
    /// How to read the user's role from the probe's body, if the SP shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Extractor>,
    /// Where to log out, if the SP has such a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
    /// Where Single Logout starts at the SP (it sends the IdP a LogoutRequest), if it does it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_url: Option<String>,
}

fn default_signed_in_status() -> u16 {
    200
}

/// How to read the SP's refusal reason from its answer to the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalSection {
    /// The extractor, applied to the body of the ACS answer.
    pub reason: Extractor,
    /// The SP's own codes for the reasons scenarios name (`unknown-user = "unknown_user"`):
    /// a scenario expecting that reason then needs exactly that code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub codes: BTreeMap<String, String>,
}

/// An API check with basic auth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// The URL.
    pub url: String,
    /// How to read the identity from the body.
    pub identity: Extractor,
}

/// Reads one value out of a body: a JSON pointer's string, or a regular expression's first
/// capture group (the whole match without one), with HTML character references decoded
/// (`&amp;`, `&#39;`, `&#x3a;`...), since error pages escape what they quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Extractor {
    /// A JSON pointer (RFC 6901) into a JSON body; the value must be a string.
    JsonPointer(String),
    /// A regular expression; the first capture group (or the whole match).
    Regex(String),
}

impl Extractor {
    /// The value in `body`, if any.
    pub fn extract(&self, body: &str) -> Option<String> {
        match self {
            Extractor::JsonPointer(pointer) => {
                let json: serde_json::Value = serde_json::from_str(body).ok()?;
                json.pointer(pointer)?.as_str().map(str::to_owned)
            }
            Extractor::Regex(pattern) => {
                let re = compiled(pattern)?;
                let captures = re.captures(body)?;
                captures
                    .get(1)
                    .or_else(|| captures.get(0))
                    .map(|m| unescape_html(m.as_str()))
            }
        }
    }
}

/// `pattern` compiled, once per process: an extractor reads every page a scenario observes, and
/// compiling its pattern again each time was 2 % of a catalogue run's CPU. Shared, not cloned:
/// a clone of a `Regex` starts with empty search caches, which its lazy DFA fills again. Patterns
/// come from target files (checked when the file loads), so there are few; past
/// [`COMPILED_AT_MOST`] the cache starts again. `None` for a pattern that does not compile.
fn compiled(pattern: &str) -> Option<Arc<regex::Regex>> {
    static COMPILED: LazyLock<Mutex<HashMap<String, Arc<regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut cache = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = cache.get(pattern) {
        return Some(Arc::clone(re));
    }
    let re = Arc::new(regex::Regex::new(pattern).ok()?);
    if cache.len() >= COMPILED_AT_MOST {
        cache.clear();
    }
    cache.insert(pattern.to_owned(), Arc::clone(&re));
    Some(re)
}

/// How many compiled extractor patterns are kept.
const COMPILED_AT_MOST: usize = 64;

/// Decodes the HTML character references a page uses for what it quotes: the five named ones
/// and numeric ones (decimal and hex); anything else is left as written.
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let decoded = tail.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A logical user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The email the SP knows the user by.
    pub email: String,
    /// The user's role in the SP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The user's password, for password and API logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Settings that hold without hooks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The settings (`idp-initiated=off`).
    #[serde(default)]
    pub settings: Vec<String>,
}

/// One action of a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HookAction {
    /// An HTTP request.
    Http(HttpHook),
    /// A command.
    Command(CommandHook),
}

/// An HTTP request that changes SP settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHook {
    /// The method (`POST` by default).
    #[serde(default = "default_method")]
    pub method: String,
    /// The URL.
    pub url: String,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Headers (`Authorization = "Bearer {vars.admin_token}"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "POST".to_owned()
}

/// A command that changes SP settings; it must exit 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandHook {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The working folder, relative to the target file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The rendered strings of an HTTP hook (its URL, headers and JSON string values).
fn http_templates<'a>(at: &str, http: &'a HttpHook) -> Vec<(String, &'a str)> {
    fn strings<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
        match value {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut values = vec![http.url.as_str()];
    values.extend(http.headers.values().map(String::as_str));
    if let Some(json) = &http.json {
        strings(json, &mut values);
    }
    values.into_iter().map(|v| (at.to_owned(), v)).collect()
}

/// A loaded target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The content.
    pub file: TargetFile,
    /// The folder relative paths are resolved against.
    pub dir: PathBuf,
    /// The file, for messages (`targets/node-saml.toml`).
    pub source: String,
    /// The file's text, for messages that point at a line.
    pub text: String,
}

/// Failed to load a target file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The file could not be read.
    #[error("failed to read target file {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid target.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A placeholder could not be filled.
    #[error("{file}: {source}")]
    Template {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: TemplateError,
    },
}

/// The reference SP's target file, compiled in (the target of `saml-harness run` without
/// arguments).
pub const REFERENCE_SP_TARGET: &str = include_str!("../../targets/reference-sp.toml");

impl Target {
    /// Reads a target file.
    pub fn load(path: &Path) -> Result<Self, TargetError> {
        let text = std::fs::read_to_string(path).map_err(|source| TargetError::Io {
            path: path.to_owned(),
            source,
        })?;
        let dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &path.display().to_string(), dir)
    }

    /// The embedded reference-SP target; relative paths resolve against the working folder.
    pub fn embedded_reference_sp() -> Result<Self, TargetError> {
        Self::parse(
            REFERENCE_SP_TARGET,
            "targets/reference-sp.toml (embedded)",
            PathBuf::from("targets"),
        )
    }

    /// Parses a target file's text.
    pub fn parse(text: &str, source: &str, dir: PathBuf) -> Result<Self, TargetError> {
        let file: TargetFile = toml::from_str(text).map_err(|e| {
            let (line, _, message) = toml_error_parts(text, &e);
            TargetError::Invalid {
                file: source.to_owned(),
                line,
                message,
            }
        })?;
        let invalid = |message: String| TargetError::Invalid {
            file: source.to_owned(),
            line: None,
            message,
        };
        for extractor in [
            Some(&file.session.identity),
            file.session.role.as_ref(),
            file.refusal.as_ref().map(|r| &r.reason),
            file.login.password_reset.as_ref().map(|r| &r.token),
        ]
        .into_iter()
        .flatten()
        {
            if let Extractor::Regex(pattern) = extractor {
                regex::Regex::new(pattern)
                    .map_err(|e| invalid(format!("invalid regex `{pattern}`: {e}")))?;
            }
        }
        let at = |needle: &str, e: crate::vocabulary::UnknownName| TargetError::Invalid {
            file: source.to_owned(),
            line: crate::vocabulary::line_of(text, needle),
            message: e.to_string(),
        };
        for name in file.capabilities.keys() {
            crate::vocabulary::check_capability(name).map_err(|e| at(name, e))?;
        }
        for (i, setting) in file.defaults.settings.iter().enumerate() {
            crate::vocabulary::check_setting(setting).map_err(|e| at(setting, e))?;
            let name = setting.split_once('=').map_or(setting.as_str(), |(n, _)| n);
            if let Some(other) = file.defaults.settings[..i]
                .iter()
                .find(|s| s.split_once('=').is_some_and(|(n, _)| n == name))
            {
                return Err(TargetError::Invalid {
                    file: source.to_owned(),
                    line: crate::vocabulary::line_of(text, setting),
                    message: format!(
                        "`[defaults] settings` holds both `{other}` and `{setting}`: a setting has one value"
                    ),
                });
            }
        }
        for name in file.hooks.keys() {
            crate::vocabulary::check_hook(name).map_err(|e| at(name, e))?;
        }
        for (hook, why) in [
            (
                crate::vocabulary::CLOCK_HOOK,
                "sets the SP's clock back (every scenario after a time-travelling one expects the real time)",
            ),
            (
                crate::vocabulary::PATIENCE_HOOK,
                "gives the SP its own patience with the IdP back (every scenario after a slow-IdP one expects it)",
            ),
        ] {
            if file.hooks.contains_key(hook)
                && !file.hooks.contains_key(crate::vocabulary::RESET_HOOK)
            {
                return Err(TargetError::Invalid {
                    file: source.to_owned(),
                    line: crate::vocabulary::line_of(text, hook),
                    message: format!("a `{hook}` hook needs a `reset` hook that {why}"),
                });
            }
        }
        if file.users.is_empty() {
            return Err(invalid(
                "`[users]` needs at least one user (scenarios use `member` by default)".to_owned(),
            ));
        }
        if let Some(start) = &file.start
            && start.command.is_empty()
        {
            return Err(invalid("`start.command` must not be empty".to_owned()));
        }
        Ok(Self {
            file,
            dir,
            source: source.to_owned(),
            text: text.to_owned(),
        })
    }

    /// Every string of the file that is rendered with placeholders, with where it is
    /// (`[session].probe_url`).
    pub fn templates(&self) -> Vec<(String, &str)> {
        let f = &self.file;
        let mut out: Vec<(String, &str)> = vec![
            ("[sp].base_url".to_owned(), f.sp.base_url.as_str()),
            ("[sp].entity_id".to_owned(), f.sp.entity_id.as_str()),
            ("[sp].acs_url".to_owned(), f.sp.acs_url.as_str()),
            (
                "[login].sp_initiated_url".to_owned(),
                f.login.sp_initiated_url.as_str(),
            ),
            (
                "[session].probe_url".to_owned(),
                f.session.probe_url.as_str(),
            ),
        ];
        let optional = [
            ("[sp].metadata_url", f.sp.metadata_url.as_deref()),
            (
                "[login].force_authn_url",
                f.login.force_authn_url.as_deref(),
            ),
            ("[login].passive_url", f.login.passive_url.as_deref()),
            ("[session].logout_url", f.session.logout_url.as_deref()),
            ("[session].slo_url", f.session.slo_url.as_deref()),
            ("[api].url", f.api.as_ref().map(|a| a.url.as_str())),
        ];
        out.extend(
            optional
                .into_iter()
                .filter_map(|(w, t)| t.map(|t| (w.to_owned(), t))),
        );
        if let Some(start) = &f.start {
            out.extend(
                start
                    .command
                    .iter()
                    .map(|c| ("[start].command".to_owned(), c.as_str())),
            );
            out.extend(
                start
                    .env
                    .iter()
                    .map(|(k, v)| (format!("[start].env.{k}"), v.as_str())),
            );
            out.push(("[start].ready_url".to_owned(), start.ready_url.as_str()));
        }
        if let Some(form) = &f.login.password {
            out.push(("[login.password].url".to_owned(), form.url.as_str()));
            out.extend(
                form.fields
                    .iter()
                    .map(|(k, v)| (format!("[login.password].fields.{k}"), v.as_str())),
            );
        }
        if let Some(reset) = &f.login.password_reset {
            out.extend(http_templates(
                "[login.password_reset].token_request",
                &reset.token_request,
            ));
            out.push(("[login.password_reset].url".to_owned(), reset.url.as_str()));
            out.extend(
                reset
                    .fields
                    .iter()
                    .map(|(k, v)| (format!("[login.password_reset].fields.{k}"), v.as_str())),
            );
        }
        for (name, actions) in &f.hooks {
            for action in actions {
                let at = format!("[hooks].\"{name}\"");
                match action {
                    HookAction::Http(http) => out.extend(http_templates(&at, http)),
                    HookAction::Command(c) => {
                        out.extend(c.argv.iter().map(|a| (at.clone(), a.as_str())));
                        out.extend(c.env.values().map(|v| (at.clone(), v.as_str())));
                    }
                }
            }
        }
        out
    }

    /// The placeholders a target defines before the IdP runs: `vars.*`, `sp.*`, `users.*`,
    /// `target.dir`, `harness.exe`. `base_url` overrides the file's SP base URL (an in-process
    /// SP on an ephemeral port).
    pub fn vars(&self, base_url: Option<&str>) -> Result<Vars, TargetError> {
        let template = |source| TargetError::Template {
            file: self.source.clone(),
            source,
        };
        let mut vars = Vars::new();
        for (k, v) in &self.file.vars {
            vars.set(format!("vars.{k}"), v.clone());
        }
        vars.set("target.dir", self.dir.display().to_string());
        if let Ok(exe) = std::env::current_exe() {
            vars.set("harness.exe", exe.display().to_string());
        }
        let base = match base_url {
            Some(b) => b.to_owned(),
            None => vars.render(&self.file.sp.base_url).map_err(template)?,
        };
        vars.set("sp.base_url", base.trim_end_matches('/'));
        let entity_id = vars.render(&self.file.sp.entity_id).map_err(template)?;
        let acs_url = vars.render(&self.file.sp.acs_url).map_err(template)?;
        vars.set("sp.entity_id", entity_id)
            .set("sp.acs_url", acs_url);
        if let Some(m) = &self.file.sp.metadata_url {
            let m = vars.render(m).map_err(template)?;
            vars.set("sp.metadata_url", m);
        }
        for (name, user) in &self.file.users {
            vars.set(format!("users.{name}.email"), user.email.clone());
            if let Some(p) = &user.password {
                vars.set(format!("users.{name}.password"), p.clone());
            }
            if let Some(r) = &user.role {
                vars.set(format!("users.{name}.role"), r.clone());
            }
        }
        Ok(vars)
    }

    /// Whether a hook can set `setting` in the middle of a scenario (a default does not count:
    /// the step changes the SP); `Err` says why not.
    pub fn can_apply(&self, setting: &str) -> Result<(), String> {
        match (
            self.file.hooks.contains_key(setting),
            self.file.hooks.contains_key("reset"),
        ) {
            (true, true) => Ok(()),
            (true, false) => Err(format!(
                "target {} has a hook for `{setting}` but no `reset` hook to undo it",
                self.file.name
            )),
            (false, _) => Err(format!(
                "target {} has no hook for setting `{setting}`",
                self.file.name
            )),
        }
    }

    /// Whether a `wait` step moves the SP's clock forward (the `clock` hook) instead of
    /// waiting.
    pub fn time_travel(&self) -> bool {
        self.file.hooks.contains_key(crate::vocabulary::CLOCK_HOOK)
    }

    /// Whether a `slow` IdP outage shortens the SP's patience with the IdP (the `patience`
    /// hook) instead of waiting for the SP's own.
    pub fn shortens_patience(&self) -> bool {
        self.file
            .hooks
            .contains_key(crate::vocabulary::PATIENCE_HOOK)
    }

    /// Whether a setting holds by default or can be set by a hook; `Err` says why not.
    pub fn can_set(&self, setting: &str) -> Result<bool, String> {
        if self.file.defaults.settings.iter().any(|s| s == setting) {
            return Ok(false);
        }
        if self.file.hooks.contains_key(setting) {
            if self.file.hooks.contains_key("reset") {
                Ok(true)
            } else {
                Err(format!(
                    "target {} has a hook for `{setting}` but no `reset` hook to undo it",
                    self.file.name
                ))
            }
        } else {
            Err(format!(
                "target {} has no hook for setting `{setting}` and does not list it in [defaults]",
                self.file.name
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_reference_sp_target_parses_and_renders() {
        let target = Target::embedded_reference_sp().expect("valid");
        let vars = target.vars(Some("http://127.0.0.1:4000")).expect("vars");
        assert_eq!(
            vars.get("sp.acs_url"),
            Some("http://127.0.0.1:4000/saml/acs")
        );
        assert!(vars.get("users.member.email").is_some());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text = Target::embedded_reference_sp()
            .map(|_| REFERENCE_SP_TARGET.replacen("[session]", "[sesion]", 1))
            .expect("valid");
        let err = Target::parse(&text, "t.toml", PathBuf::from(".")).expect_err("typo");
        let message = err.to_string();
        assert!(message.starts_with("t.toml:"), "{message}");
        assert!(message.contains("sesion"), "{message}");
    }

    #[test]
    fn a_clock_hook_needs_reset_and_makes_waits_time_travel() {
        let target = Target::embedded_reference_sp().expect("valid");
        assert!(target.time_travel() && target.shortens_patience());
        let start = REFERENCE_SP_TARGET.find("\nreset = [").expect("reset hook");
        let end = start + REFERENCE_SP_TARGET[start..].find("\n]").expect("its end") + 2;
        let without_reset = format!(
            "{}{}",
            &REFERENCE_SP_TARGET[..start],
            &REFERENCE_SP_TARGET[end..]
        );
        let err = Target::parse(&without_reset, "t.toml", PathBuf::from("."))
            .expect_err("clock without reset");
        let message = err.to_string();
        let line = 1 + without_reset
            .lines()
            .position(|l| l.starts_with("clock = ["))
            .expect("clock hook");
        assert!(message.starts_with(&format!("t.toml:{line}:")), "{message}");
        assert!(message.contains("needs a `reset` hook"), "{message}");
    }

    #[test]
    fn extractors_read_json_pointers_and_regexes() {
        let body = r#"{"email":"a@b","n":1}"#;
        assert_eq!(
            Extractor::JsonPointer("/email".into())
                .extract(body)
                .as_deref(),
            Some("a@b")
        );
        assert_eq!(Extractor::JsonPointer("/n".into()).extract(body), None);
        assert_eq!(
            Extractor::Regex(r#""email":"([^"]+)""#.into())
                .extract(body)
                .as_deref(),
            Some("a@b")
        );
        assert_eq!(
            Extractor::JsonPointer("/email".into()).extract("<html>"),
            None
        );
        assert_eq!(
            Extractor::Regex("<p>(.*)</p>".into())
                .extract(
                    "<p>SAML message &quot;x&quot; &#40;no&#x29; &amp; &#39;y&#39; &bogus; &</p>"
                )
                .as_deref(),
            Some("SAML message \"x\" (no) & 'y' &bogus; &")
        );
    }
}
