//! Scenario files: one TOML file per scenario, its path under `scenarios/` is its id.
//!
//! A scenario names the rule it checks (spec citations are required), the login flow, the user
//! who logs in, the plan the mock IdP follows, what the SP must provide for it to run, and what
//! the SP is expected to do. Unknown fields are refused, and every error names the file, the
//! line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mock_idp::Plan;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One scenario file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A one-line title.
    pub title: String,
    /// Spec citations (`"SAML Profiles §4.1.4.3"`, `"saml2int SDP-SP08"`): at least one.
    pub spec: Vec<String>,
    /// Rule ids from the rule table this scenario covers (`PROF-4.1.4.3-Recipient`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// How binding the rule is.
    pub level: Level,
    /// How bad it is when the SP gets this wrong.
    pub severity: Severity,
    /// A longer explanation, if the title is not enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the login starts.
    #[serde(default)]
    pub flow: Flow,
    /// The logical user who logs in: a key of the target's `[users]` table.
    #[serde(default = "default_user")]
    pub user: String,
    /// RelayState for IdP-initiated flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
    /// Which of the target's SP-initiated login URLs starts an SP-initiated login: the usual
    /// one, or the one where the application asks the IdP to authenticate the user again
    /// (`force-authn`: `[login].force_authn_url`) or not to interact with the user (`passive`:
    /// `[login].passive_url`). Skipped, saying so, when the target has no such URL.
    #[serde(default, skip_serializing_if = "SpLogin::is_usual")]
    pub sp_login: SpLogin,
    /// What the SP must provide for the scenario to run.
    #[serde(default)]
    pub requires: Requirements,
    /// Steps run in order before the main flow, in the same user agent: earlier logins (each
    /// with an optional expectation of its own), settings changed mid-scenario, mock-IdP
    /// outages, password resets. A scenario with steps that change shared state runs alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Names of reference-SP weakenings this scenario detects (the harness's self-test runs
    /// the catalogue against `reference-sp --weaken X` and expects exactly these to fail).
    /// With `layouts`, `NAME@LAYOUT` is caught by that layout's variant only (a wrapping that
    /// the Response signature stops in `both` still reaches the assertion in `assertion`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catches: Vec<String>,
    /// Run the scenario once per signing layout listed, as `ID/LAYOUT` (for example
    /// `addressing/destination-wrong/assertion`); the plan must then not set a layout itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layouts: Vec<mock_idp::plan::SigningLayout>,
    /// What the mock IdP sends. String values may use placeholders such as
    /// `{users.other.email}`, `{sp.acs_url}` or `{sp.entity_id}`, and `{witness.url}`: a URL of
    /// the harness's witness listener unique to this run of the scenario (any request to it
    /// fails the scenario as critical). The plan's `user` defaults to the scenario user's email.
    #[serde(default)]
    pub plan: Plan,
    /// What the SP is expected to do.
    pub expect: Expectation,
    /// How this scenario's control differs from the one the harness derives. Every scenario
    /// whose expectation is short of the positive outcome (signed in as the user the plan
    /// signs for; after a logout flow, signed out) has a control: the same exchange without
    /// the deviation, which must reach the positive outcome on the SP for a refusal of the
    /// scenario to prove anything. The harness derives it (the plan without alterations,
    /// tamperings, attacker keys, weak algorithms or wrong bindings, the user the plan signs
    /// for, a plain login instead of a replay, no IdP outage); a scenario whose deviation is
    /// elsewhere (a setting, a step, the signing layout) says so here.
    #[serde(default, skip_serializing_if = "ControlOverride::is_empty")]
    pub control: ControlOverride,
}

/// What a scenario's control takes instead of what the harness derives.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlOverride {
    /// The control's settings instead of the scenario's (when the deviation is a setting, e.g.
    /// `[]` for a password login refused because SSO is enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Vec<String>>,
    /// The control's steps instead of the scenario's (IdP outages are always left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
    /// The control's user instead of the one the plan signs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The control's signing layout (when the deviation is the layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<mock_idp::plan::SigningLayout>,
}

impl ControlOverride {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn default_user() -> String {
    "member".to_owned()
}

/// How binding a rule is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A MUST of the specs: a wrong behaviour fails.
    Must,
    /// A SHOULD or a best practice: a wrong behaviour warns.
    Should,
    /// A deployment choice: the SP's behaviour is recorded; it warns when it differs from the
    /// recommended one.
    Policy,
}

impl Level {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::Policy => "policy",
        }
    }
}

/// How bad a failure is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Identity forged or signature bypassed.
    Critical,
    /// A mis-addressed, expired or replayed response accepted.
    High,
    /// A valid response refused.
    Medium,
    /// Everything else.
    Low,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// Which SP-initiated login URL of the target a scenario uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "kebab-case")]
pub enum SpLogin {
    /// `[login].sp_initiated_url`.
    #[default]
    Usual,
    /// `[login].force_authn_url`: the application asks for a fresh authentication (the SP's
    /// AuthnRequest must say `ForceAuthn="true"`, SAML Core §3.4.1).
    ForceAuthn,
    /// `[login].passive_url`: the application asks for a login without user interaction (the
    /// SP's AuthnRequest must say `IsPassive="true"`, SAML Core §3.4.1).
    Passive,
}

impl SpLogin {
    /// Whether it is the usual login URL (left out when written).
    pub fn is_usual(&self) -> bool {
        *self == SpLogin::Usual
    }

    /// The target file's field for it.
    pub fn field(self) -> &'static str {
        match self {
            SpLogin::Usual => "[login].sp_initiated_url",
            SpLogin::ForceAuthn => "[login].force_authn_url",
            SpLogin::Passive => "[login].passive_url",
        }
    }
}

/// How a scenario's login starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// The user agent opens the SP's login URL; the SP sends an AuthnRequest.
    #[default]
    SpInitiated,
    /// The user agent opens the mock IdP's start URL; the response is unsolicited.
    IdpInitiated,
    /// An SP-initiated login, then the same response posted again from a fresh user agent;
    /// the expectation is about the second attempt.
    Replay,
    /// An IdP-initiated login, then the same response posted again from a fresh user agent;
    /// only a replay cache can stop it. The expectation is about the second attempt.
    IdpInitiatedReplay,
    /// Two user agents start SP-initiated logins; the response to the first one's request is
    /// posted from the second (InResponseTo bound to another browser: login CSRF, session
    /// fixation). The expectation is about the second user agent.
    CrossAgent,
    /// The target's password form, with the user's email and password (the target's
    /// `[login.password]`); no SAML.
    Password,
    /// The target's API with HTTP basic auth (the target's `[api]`): `signed-in` means the API
    /// accepted the credentials and named that user.
    Api,
    /// No new login: asks the SP who is signed in in this user agent now (after the steps).
    Session,
    /// Single Logout started by the IdP: after a login (the steps', or an SP-initiated one
    /// that must sign the scenario's user in), the mock IdP sends the LogoutRequest its plan's
    /// `logout` describes for that session, through the user agent to the SP's
    /// `SingleLogoutService`. `signed-out` also requires the SP's signed LogoutResponse.
    IdpLogout,
    /// Single Logout started by the SP: after a login (as for `idp-logout`), the user agent
    /// opens the target's `[session].slo_url`; the SP must send the mock IdP a signed
    /// LogoutRequest for that session, and gets the LogoutResponse the plan's `logout` says.
    SpLogout,
}

impl Flow {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::SpInitiated => "sp-initiated",
            Flow::IdpInitiated => "idp-initiated",
            Flow::Replay => "replay",
            Flow::IdpInitiatedReplay => "idp-initiated-replay",
            Flow::CrossAgent => "cross-agent",
            Flow::Password => "password",
            Flow::Api => "api",
            Flow::Session => "session",
            Flow::IdpLogout => "idp-logout",
            Flow::SpLogout => "sp-logout",
        }
    }

    /// Whether the flow is a Single Logout one.
    pub fn is_logout(self) -> bool {
        matches!(self, Flow::IdpLogout | Flow::SpLogout)
    }
}

/// One step before the main flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// A login in this user agent (any flow but the replay and cross-agent ones), as `user`
    /// (default: the scenario's), with the scenario's plan; `expect` is judged right after it,
    /// and a step that does not meet it decides the verdict.
    Login {
        /// How the login goes.
        flow: Flow,
        /// The logical user (default: the scenario's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// What this step must lead to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<Expectation>,
    },
    /// Changes an SP setting mid-scenario with the target's hook of that name (the `reset`
    /// hook undoes it after the scenario).
    Set {
        /// The setting (`enforcement=on`).
        setting: String,
    },
    /// Puts the mock IdP into an outage mode (or back up); it is back up after the scenario.
    Idp {
        /// The mode.
        outage: OutageMode,
        /// For `slow`: how long the IdP takes to answer (default 30 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    },
    /// Signs out of this user agent's session (the target's `[session].logout_url`).
    Logout,
    /// Waits, e.g. for a session lifetime (SessionNotOnOrAfter) to pass; at most
    /// [`MAX_WAIT_MS`]. On a target with a `clock` hook the SP's clock moves forward by `ms`
    /// instead, and the scenario runs alone (docs/targets.md, "Time travel").
    Wait {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// The target's password-reset flow (`[login.password_reset]`) for the scenario's user:
    /// a reset token, then the new password; later password logins use it.
    ResetPassword {
        /// The new password.
        password: String,
    },
}

/// How the mock IdP fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutageMode {
    /// Working normally.
    Up,
    /// Not listening: connections are refused.
    Down,
    /// HTTP 500 on every endpoint.
    Error,
    /// Answers only after a delay.
    Slow,
}

impl Step {
    /// Whether the step changes state other scenarios share (SP settings, the mock IdP).
    pub fn is_exclusive(&self) -> bool {
        !matches!(self, Step::Login { .. } | Step::Logout | Step::Wait { .. })
    }
}

/// The longest `wait` step: scenarios stay quick, and the catalogue has a time budget.
pub const MAX_WAIT_MS: u64 = 10_000;

/// What the SP must provide for a scenario to run; a target that lacks any of it skips the
/// scenario with that reason.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Capabilities the target must declare true (`idp-initiated`, `password-login`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// SP settings (`idp-initiated=on`) that must hold: either among the target's defaults,
    /// or set by a hook of that name before the scenario and undone by the `reset` hook after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

impl Requirements {
    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self.capabilities.is_empty() && self.settings.is_empty()
    }
}

/// What the SP is expected to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Expectation {
    /// A session for exactly this logical user.
    SignedIn {
        /// The logical user (a key of the target's `[users]`).
        #[serde(rename = "as")]
        user: String,
        /// The role the SP must give the user (read with the target's `[session].role`; a
        /// target that cannot tell skips the scenario).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
    /// No session at all.
    Refused {
        /// The reason the SP must give, by a name the target maps to its own code
        /// (`[refusal.codes]`); a target without that code must show some reason, a target
        /// without a `[refusal]` extractor is not checked for one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The user must get a clear answer from the SP itself, promptly: the attempt ends on
        /// one of the SP's pages (not at a dead or failing IdP, not after a step timeout), and
        /// that page is not a password form.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clear: bool,
    },
    /// The SP may refuse, or sign in, but only as the signed identity, never another one.
    NoEffect {
        /// The only logical user a session may be for.
        #[serde(rename = "as")]
        user: String,
    },
    /// Whatever the SP decides, it never sends the user agent to another origin (RelayState
    /// used as an open redirect).
    StaysOnOrigin,
    /// After a logout flow: the session is over, and the SP's own logout message (its
    /// LogoutResponse to the IdP, or its LogoutRequest) was signed and named the session.
    SignedOut,
    /// Not a login: a check on what the SP publishes (its metadata, from the target's
    /// metadata URL) or sends (the AuthnRequests of a few SP-initiated logins the run collects
    /// once). The check names its rule; `pass`, `fail` with the evidence (`warn` at level
    /// `should`), or `skip` with the reason (no metadata URL, no SP-initiated login).
    Conforms {
        /// The check (`metadata.acs-https`, `authn-request.id-entropy`).
        check: crate::conformance::CheckName,
        /// Its parameters (`min_bits`, `max_bytes`, `warn_days`, `min_rsa_bits`,
        /// `min_ec_bits`), each only for the checks that take it.
        #[serde(
            default,
            skip_serializing_if = "crate::conformance::CheckParams::is_empty"
        )]
        params: crate::conformance::CheckParams,
    },
    /// A deployment choice: the SP's behaviour is recorded; `pass` when it matches the
    /// recommendation, `warn` otherwise.
    Policy {
        /// The behaviour the cited profile recommends.
        recommended: Recommended,
    },
}

/// The recommended behaviour of a policy scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Recommended {
    /// Signing in the scenario's user.
    SignedIn,
    /// Refusing.
    Refused,
}

/// A loaded scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The id: the path under the catalogue root, without `.toml`, with `/` separators.
    pub id: String,
    /// Where it came from.
    pub origin: Origin,
    /// The content.
    pub file: ScenarioFile,
}

/// Where a scenario came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The catalogue compiled into the binary.
    Embedded,
    /// A file on disk.
    File(PathBuf),
}

impl Origin {
    /// A display name for error messages.
    pub fn display(&self, id: &str) -> String {
        match self {
            Origin::Embedded => format!("scenarios/{id}.toml (embedded)"),
            Origin::File(path) => path.display().to_string(),
        }
    }
}

/// Failed to load a scenario: which file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", location(*.line, *.column))]
pub struct ScenarioError {
    /// The file (or the embedded path).
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// The 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Turns a TOML error into (line, column, message) without the snippet toml renders.
pub(crate) fn toml_error_parts(
    text: &str,
    err: &toml::de::Error,
) -> (Option<usize>, Option<usize>, String) {
    let (line, column) = match err.span() {
        Some(span) => {
            let (l, c) = line_column(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    (line, column, err.message().trim().to_owned())
}

impl Scenario {
    /// Parses and checks one scenario's text.
    #[allow(clippy::needless_pass_by_value)] // the origin is kept in the scenario
    pub fn parse(id: &str, origin: Origin, text: &str) -> Result<Self, ScenarioError> {
        let fail = |line, column, message| ScenarioError {
            file: origin.display(id),
            line,
            column,
            message,
        };
        if !is_valid_id(id) {
            return Err(fail(
                None,
                None,
                format!(
                    "invalid scenario id `{id}`: use lower-case letters, digits, `-` and `_`, with `/` between folders"
                ),
            ));
        }
        let file: ScenarioFile = toml::from_str(text).map_err(|e| {
            let (line, column, message) = toml_error_parts(text, &e);
            fail(line, column, message)
        })?;
        let field_line = |field: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(field))
                .map(|i| i + 1)
        };
        if file.spec.iter().all(|s| s.trim().is_empty()) {
            return Err(fail(
                field_line("spec"),
                None,
                "field `spec` needs at least one citation (for example \"SAML Profiles §4.1.4.3\")"
                    .to_owned(),
            ));
        }
        if file.title.trim().is_empty() {
            return Err(fail(
                field_line("title"),
                None,
                "field `title` must not be empty".to_owned(),
            ));
        }
        for (i, step) in file.steps.iter().enumerate() {
            if let Step::Wait { ms } = step
                && *ms > MAX_WAIT_MS
            {
                return Err(fail(
                    field_line("steps"),
                    None,
                    format!(
                        "step {}: a wait of {ms} ms is longer than the {MAX_WAIT_MS} ms a step may wait",
                        i + 1
                    ),
                ));
            }
            if let Step::Login { flow, .. } = step
                && matches!(
                    flow,
                    Flow::Replay | Flow::IdpInitiatedReplay | Flow::CrossAgent
                )
            {
                return Err(fail(
                    field_line("steps"),
                    None,
                    format!(
                        "step {}: a login step may use sp-initiated, idp-initiated, password, api or session, not {}",
                        i + 1,
                        flow.as_str()
                    ),
                ));
            }
        }
        for (i, step) in file.steps.iter().enumerate() {
            if let Step::Login { flow, .. } = step
                && flow.is_logout()
            {
                return Err(fail(
                    field_line("steps"),
                    None,
                    format!(
                        "step {}: {} is a scenario flow, not a login step",
                        i + 1,
                        flow.as_str()
                    ),
                ));
            }
        }
        if matches!(file.expect, Expectation::SignedOut) && !file.flow.is_logout() {
            return Err(fail(
                field_line("expect"),
                None,
                format!(
                    "`signed-out` is the outcome of a logout flow (idp-logout or sp-logout), not of {}",
                    file.flow.as_str()
                ),
            ));
        }
        if let Expectation::Conforms { check, params } = &file.expect {
            let unused = params.unused_by(*check);
            if !unused.is_empty() {
                return Err(fail(
                    field_line("[expect.params]").or_else(|| field_line("expect")),
                    None,
                    format!(
                        "check `{check}` takes no parameter {}",
                        unused
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !file.steps.is_empty()
                || file.plan != Plan::default()
                || file.flow != Flow::SpInitiated
            {
                return Err(fail(
                    field_line("expect"),
                    None,
                    "a `conforms` scenario judges what the SP publishes and sends: it takes no flow, steps or plan".to_owned(),
                ));
            }
        }
        if file.severity == Severity::Critical {
            return Err(fail(
                field_line("severity"),
                None,
                "severity `critical` is decided by what the SP does (another identity signed in than the signed one, a privilege gained, a fetch the witness saw); give the severity of the non-conformance alone (`high` at most)".to_owned(),
            ));
        }
        let vocabulary = |needle: &str, e: crate::vocabulary::UnknownName| {
            fail(
                crate::vocabulary::line_of(text, needle),
                None,
                e.to_string(),
            )
        };
        for name in &file.requires.capabilities {
            crate::vocabulary::check_capability(name).map_err(|e| vocabulary(name, e))?;
        }
        let step_settings = |steps: &[Step]| {
            steps
                .iter()
                .filter_map(|s| match s {
                    Step::Set { setting } => Some(setting.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        for setting in file
            .requires
            .settings
            .iter()
            .cloned()
            .chain(step_settings(&file.steps))
            .chain(file.control.settings.iter().flatten().cloned())
            .chain(
                file.control
                    .steps
                    .as_deref()
                    .map(step_settings)
                    .unwrap_or_default(),
            )
        {
            crate::vocabulary::check_setting(&setting).map_err(|e| vocabulary(&setting, e))?;
        }
        for c in &file.catches {
            if let Some((_, layout)) = c.split_once('@') {
                let listed = file.layouts.iter().any(|l| {
                    serde_json::to_value(l)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        == Some(layout.to_owned())
                });
                if !listed {
                    return Err(fail(
                        field_line("catches"),
                        None,
                        format!(
                            "`catches` names `{c}`, but `{layout}` is not one of this scenario's `layouts`"
                        ),
                    ));
                }
            }
        }
        if !file.layouts.is_empty() && file.plan.signing.layout.is_some() {
            return Err(fail(
                field_line("layouts"),
                None,
                "`layouts` runs the scenario once per layout; remove `signing.layout` from the plan".to_owned(),
            ));
        }
        let scenario = Self {
            id: id.to_owned(),
            origin: origin.clone(),
            file,
        };
        for variant in scenario.clone().expand() {
            crate::control::derive(&variant).map_err(|e| {
                fail(
                    field_line("[expect]").or_else(|| field_line("expect")),
                    None,
                    e.to_string(),
                )
            })?;
        }
        Ok(scenario)
    }

    /// The scenarios this file stands for: itself, or one variant per listed layout.
    pub fn expand(self) -> Vec<Scenario> {
        if self.file.layouts.is_empty() {
            return vec![self];
        }
        self.file
            .layouts
            .iter()
            .map(|layout| {
                let mut file = self.file.clone();
                file.layouts = Vec::new();
                file.plan.signing.layout = Some(*layout);
                let name = serde_json::to_value(layout)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                // `weakening@layout` is caught by that layout's variant only.
                file.catches = self
                    .file
                    .catches
                    .iter()
                    .filter_map(|c| match c.split_once('@') {
                        Some((w, l)) if l == name => Some(w.to_owned()),
                        Some(_) => None,
                        None => Some(c.clone()),
                    })
                    .collect();
                file.title = format!("{} ({name} signed)", file.title);
                Scenario {
                    id: format!("{}/{name}", self.id),
                    origin: self.origin.clone(),
                    file,
                }
            })
            .collect()
    }
}

/// Whether an id is made of safe path segments.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

/// Failed to read a folder of scenarios.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// A folder or file could not be read.
    #[error("failed to read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// One or more scenario files are invalid (all of them are listed).
    #[error("{} invalid scenario file(s):\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ScenarioError>),
    /// A `--filter` pattern is not a valid glob.
    #[error("failed to parse filter `{pattern}`: {message}")]
    Filter {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A set of scenarios keyed by id.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    scenarios: BTreeMap<String, Scenario>,
}

impl Catalogue {
    /// The catalogue compiled into the binary (the repository's `scenarios/` folder).
    pub fn embedded() -> Result<Self, CatalogueError> {
        let mut catalogue = Catalogue::default();
        let mut errors = Vec::new();
        for (id, text) in crate::embedded::SCENARIOS {
            match Scenario::parse(id, Origin::Embedded, text) {
                Ok(s) => catalogue.insert(s),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(catalogue)
        } else {
            Err(CatalogueError::Invalid(errors))
        }
    }

    /// Adds every `*.toml` under `dir` (recursively), replacing scenarios with the same id.
    /// Every invalid file is reported, not only the first.
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize, CatalogueError> {
        let mut files = Vec::new();
        collect_toml(dir, &mut files)?;
        files.sort();
        let mut errors = Vec::new();
        let mut added = 0;
        for path in files {
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            let id = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(&path).map_err(|source| CatalogueError::Io {
                path: path.clone(),
                source,
            })?;
            match Scenario::parse(&id, Origin::File(path.clone()), &text) {
                Ok(s) => {
                    // A file replaces the embedded scenario and all its layout variants.
                    let prefix = format!("{}/", s.id);
                    self.scenarios.retain(|k, v| {
                        !(k == &s.id || (k.starts_with(&prefix) && v.origin == Origin::Embedded))
                    });
                    self.insert(s);
                    added += 1;
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(added)
        } else {
            Err(CatalogueError::Invalid(errors))
        }
    }

    fn insert(&mut self, scenario: Scenario) {
        for s in scenario.expand() {
            self.scenarios.insert(s.id.clone(), s);
        }
    }

    /// Keeps the scenarios whose id matches any of the globs (all when `patterns` is empty).
    pub fn filter(&mut self, patterns: &[String]) -> Result<(), CatalogueError> {
        if patterns.is_empty() {
            return Ok(());
        }
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in patterns {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(false)
                .build()
                .map_err(|e| CatalogueError::Filter {
                    pattern: pattern.clone(),
                    message: e.kind().to_string(),
                })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| CatalogueError::Filter {
            pattern: patterns.join(" "),
            message: e.to_string(),
        })?;
        self.scenarios.retain(|id, _| set.is_match(id));
        Ok(())
    }

    /// Keeps shard `k` of `n` (1-based): every n-th scenario in id order, starting at the k-th.
    pub fn shard(&mut self, k: usize, n: usize) {
        let keep: Vec<String> = self
            .scenarios
            .keys()
            .enumerate()
            .filter(|(i, _)| n > 0 && i % n == k.saturating_sub(1))
            .map(|(_, id)| id.clone())
            .collect();
        self.scenarios.retain(|id, _| keep.contains(id));
    }

    /// The scenarios in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Scenario> {
        self.scenarios.values()
    }

    /// The number of scenarios.
    pub fn len(&self) -> usize {
        self.scenarios.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty()
    }

    /// One scenario by id.
    pub fn get(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.get(id)
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CatalogueError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogueError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| CatalogueError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml")
            && !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        {
            // `_rules.toml` and the like are catalogue metadata, not scenarios.
            out.push(path);
        }
    }
    Ok(())
}

/// The JSON Schema of scenario files, pretty-printed with a trailing newline (the committed
/// `scenarios/schema.json` must equal it).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ScenarioFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
title = "Valid login"
spec = ["SAML Profiles §4.1.4.3"]
level = "must"
severity = "medium"
expect = { outcome = "signed-in", as = "member" }
"#;

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::parse("login/valid", Origin::Embedded, VALID).expect("valid");
        assert_eq!(s.file.flow, Flow::SpInitiated);
        assert_eq!(s.file.user, "member");
        assert_eq!(
            s.file.expect,
            Expectation::SignedIn {
                user: "member".into(),
                role: None,
            }
        );
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let text = VALID.replace("level = \"must\"", "levle = \"must\"");
        let err = Scenario::parse(
            "login/valid",
            Origin::File("x/login/valid.toml".into()),
            &text,
        )
        .expect_err("typo");
        assert_eq!(err.file, "x/login/valid.toml");
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("levle"), "{err}");
        assert!(
            err.to_string().starts_with("x/login/valid.toml:4:"),
            "{err}"
        );

        let text = VALID.replace("[\"SAML Profiles §4.1.4.3\"]", "[]");
        let err = Scenario::parse("a", Origin::Embedded, &text).expect_err("no spec");
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("spec"), "{err}");

        let text =
            format!("{VALID}\n[plan]\nalter = [{{ kind = \"destinaton\", value = \"x\" }}]\n");
        let err = Scenario::parse("a", Origin::Embedded, &text).expect_err("bad kind");
        assert_eq!(err.line, Some(9));
        assert!(err.message.contains("destinaton"), "{err}");
    }

    #[test]
    fn layouts_expand_into_one_variant_each() {
        let text = format!("{VALID}layouts = [\"response\", \"both\"]\n");
        let s = Scenario::parse("a/b", Origin::Embedded, &text).expect("valid");
        let ids: Vec<String> = s.expand().into_iter().map(|v| v.id).collect();
        assert_eq!(ids, ["a/b/response", "a/b/both"]);
        let both = format!("{text}\n[plan]\nsigning = {{ layout = \"both\" }}\n");
        let err = Scenario::parse("a/b", Origin::Embedded, &both).expect_err("conflict");
        assert!(err.message.contains("layouts"), "{err}");
    }

    #[test]
    fn a_wait_step_is_bounded_and_shares_nothing() {
        let text = format!("{VALID}steps = [{{ do = \"wait\", ms = 2100 }}]\n");
        let s = Scenario::parse("a/b", Origin::Embedded, &text).expect("valid");
        assert_eq!(s.file.steps, [Step::Wait { ms: 2100 }]);
        assert!(!s.file.steps[0].is_exclusive());
        let long = format!("{VALID}steps = [{{ do = \"wait\", ms = 60000 }}]\n");
        let err = Scenario::parse("a/b", Origin::Embedded, &long).expect_err("too long");
        assert!(err.message.contains("10000 ms"), "{err}");
    }

    #[test]
    fn signed_out_belongs_to_logout_flows_which_are_no_login_steps() {
        let logout = VALID.replace(
            "expect = { outcome = \"signed-in\", as = \"member\" }",
            "flow = \"idp-logout\"\nexpect = { outcome = \"signed-out\" }",
        );
        let s = Scenario::parse("a/b", Origin::Embedded, &logout).expect("valid");
        assert_eq!(s.file.flow, Flow::IdpLogout);
        assert_eq!(s.file.expect, Expectation::SignedOut);
        let plain = VALID.replace(
            "expect = { outcome = \"signed-in\", as = \"member\" }",
            "expect = { outcome = \"signed-out\" }",
        );
        let err = Scenario::parse("a/b", Origin::Embedded, &plain).expect_err("not a logout");
        assert!(err.message.contains("logout flow"), "{err}");
        let step = format!("{VALID}steps = [{{ do = \"login\", flow = \"sp-logout\" }}]\n");
        let err = Scenario::parse("a/b", Origin::Embedded, &step).expect_err("not a login");
        assert!(err.message.contains("not a login step"), "{err}");
    }

    #[test]
    fn ids_are_safe_paths() {
        assert!(is_valid_id("signature/unsigned-response"));
        assert!(!is_valid_id("../etc"));
        assert!(!is_valid_id("a//b"));
        assert!(!is_valid_id("Upper"));
    }

    #[test]
    fn filters_are_globs_over_ids_and_shards_partition() {
        let mut c = Catalogue::default();
        for id in ["a/x", "a/y", "b/x", "b/y", "c"] {
            let s = Scenario::parse(id, Origin::Embedded, VALID).expect("valid");
            c.scenarios.insert(id.to_owned(), s);
        }
        let mut f = c.clone();
        f.filter(&["a/*".to_owned(), "c".to_owned()]).expect("glob");
        assert_eq!(
            f.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["a/x", "a/y", "c"]
        );
        let mut seen = Vec::new();
        for k in 1..=3 {
            let mut s = c.clone();
            s.shard(k, 3);
            seen.extend(s.iter().map(|s| s.id.clone()));
        }
        seen.sort();
        assert_eq!(seen, ["a/x", "a/y", "b/x", "b/y", "c"]);
        assert!(matches!(
            c.clone().filter(&["a/[".to_owned()]),
            Err(CatalogueError::Filter { .. })
        ));
    }
}
