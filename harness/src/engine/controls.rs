//! Preflight and controls.
//!
//! **Preflight** decides, before anything is sent, whether a scenario can run on the target
//! (its capabilities, flows, expectations and settings) and which hooks it runs. It also
//! applies the target's declared signature policy: a scenario whose response is signed in a
//! layout the declared `signature=...` default refuses runs with a hook that accepts that
//! layout when the target has one, and is skipped, saying so, when it has none (the failure
//! would only restate the declaration).
//!
//! **Controls** (see [`crate::control`]) are shared: every distinct control of a run is run
//! once, by whichever task needs it first, and its result is kept for every scenario that
//! names it and for the SP profile.

use std::collections::BTreeMap;
use std::sync::Arc;

use mock_idp::plan::SigningLayout;

use super::batches::Batch;
use crate::control::Control;
use crate::scenario::{Expectation, Flow, Scenario, Step};
use crate::target::Target;
use crate::verdict::{Observation, Status};

/// Why a scenario does not run on a target (a capability, a hook, a binding it lacks): the
/// scenario is skipped with this reason, never silently passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Skip(pub(super) String);

impl From<String> for Skip {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

/// A scenario that can run, with what it needs done around it.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    /// The scenario (its settings include any the declared signature policy made it need).
    pub(super) scenario: Scenario,
    /// Settings added by the declared signature policy.
    pub(super) added_settings: Vec<String>,
    /// Hooks to run before it.
    pub(super) hooks: Vec<String>,
    /// The SP state it runs in: the defaults, a batch with the same hooks, or alone (`set`
    /// steps, IdP outages, the SP's clock, stateful settings).
    pub(super) batch: Batch,
    /// Whether `reset` runs after it.
    pub(super) needs_reset: bool,
    /// Whether it takes the mock IdP down (and up again).
    pub(super) uses_idp_outage: bool,
}

/// Whether a flow's main exchange carries a SAML response from the plan.
fn sends_response(flow: Flow) -> bool {
    matches!(
        flow,
        Flow::SpInitiated
            | Flow::IdpInitiated
            | Flow::Replay
            | Flow::IdpInitiatedReplay
            | Flow::CrossAgent
            | Flow::IdpLogout
            | Flow::SpLogout
    )
}

/// Checks a scenario against the target; `Err` is the skip reason. `adapt_layout` applies the
/// declared signature policy (scenarios and their controls; never the profile's probes, which
/// show the SP as declared).
pub(super) fn preflight(
    target: &Target,
    sp: Option<&mock_idp::SpEntry>,
    scenario: &Scenario,
    adapt_layout: bool,
) -> Result<Planned, Skip> {
    let name = &target.file.name;
    if scenario.file.flow.is_logout() {
        logout_binding(name, sp, scenario)?;
    }
    for capability in &scenario.file.requires.capabilities {
        if target.file.capabilities.get(capability) != Some(&true) {
            return Err(Skip(format!(
                "target {name} does not declare capability `{capability}`"
            )));
        }
    }
    let kind = scenario.file.sp_login;
    if target.file.login.url(kind).is_none() {
        return Err(Skip(format!(
            "target {name} has no {}: it does not say where its application asks the IdP for {}",
            kind.field(),
            match kind {
                crate::scenario::SpLogin::Passive => "a login without user interaction",
                _ => "a fresh authentication",
            }
        )));
    }
    check_needs(target, scenario)?;
    let mut scenario = scenario.clone();
    let added_settings = if adapt_layout {
        signature_policy(target, &scenario)?
    } else {
        Vec::new()
    };
    scenario
        .file
        .requires
        .settings
        .extend(added_settings.iter().cloned());
    let mut hooks = Vec::new();
    for setting in &scenario.file.requires.settings {
        if target.can_set(setting)? {
            hooks.push(setting.clone());
        }
    }
    for step in &scenario.file.steps {
        if let Step::Set { setting } = step {
            target.can_apply(setting)?;
        }
    }
    // A `wait` moves the SP's clock instead, where the target can: that changes the SP for
    // every scenario, so the scenario runs alone and `reset` sets the clock back.
    let time_travel = target.time_travel()
        && scenario
            .file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Wait { .. }));
    // So does a slow IdP outage that shortens the SP's patience instead of waiting for it.
    let short_patience = scenario.file.steps.iter().any(|s| {
        matches!(s, Step::Idp { outage, delay_ms } if super::flows::short_patience(target, *outage, *delay_ms).is_some())
    });
    let steps_exclusive = time_travel || scenario.file.steps.iter().any(Step::is_exclusive);
    let needs_reset = !hooks.is_empty()
        || time_travel
        || short_patience
        || scenario
            .file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Set { .. }));
    let uses_idp_outage = scenario
        .file
        .steps
        .iter()
        .any(|s| matches!(s, Step::Idp { .. }));
    let alone = steps_exclusive || !hooks.iter().all(|h| crate::vocabulary::batches(h));
    Ok(Planned {
        batch: if alone {
            Batch::alone()
        } else {
            Batch::hooks(&hooks)
        },
        scenario,
        added_settings,
        hooks,
        needs_reset,
        uses_idp_outage,
    })
}

/// Whether the SP's metadata (as the mock IdP read it) lists a SingleLogoutService for the
/// binding a logout scenario's IdP message travels by; without one the message cannot be sent.
fn logout_binding(
    name: &str,
    sp: Option<&mock_idp::SpEntry>,
    scenario: &Scenario,
) -> Result<(), Skip> {
    let (binding, words) = match scenario.file.plan.logout.binding {
        mock_idp::plan::LogoutBinding::Redirect => (
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            "HTTP-Redirect",
        ),
        mock_idp::plan::LogoutBinding::Post => (
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            "HTTP-POST",
        ),
    };
    match sp {
        Some(sp) if !sp.slo.iter().any(|e| e.binding == binding) => Err(Skip(format!(
            "the metadata of {name} lists no SingleLogoutService for {words}, so the mock IdP cannot send it a logout message that way"
        ))),
        _ => Ok(()),
    }
}

/// The settings the declared signature policy makes a scenario need (a hook that accepts its
/// layout), or the reason it cannot run.
fn signature_policy(target: &Target, scenario: &Scenario) -> Result<Vec<String>, Skip> {
    let file = &scenario.file;
    let uses_response = sends_response(file.flow)
        || file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Login { flow, .. } if sends_response(*flow)));
    if !uses_response
        || file
            .requires
            .settings
            .iter()
            .any(|s| s.starts_with("signature="))
    {
        return Ok(Vec::new());
    }
    let layout = file
        .plan
        .signing
        .layout
        .unwrap_or_else(|| file.plan.flavour.default_layout());
    if layout == SigningLayout::None {
        return Ok(Vec::new());
    }
    let Some((declared, accepted)) = target
        .file
        .defaults
        .settings
        .iter()
        .find_map(|s| crate::vocabulary::signature_layouts(s).map(|l| (s, l)))
    else {
        return Ok(Vec::new());
    };
    if accepted.contains(&layout) {
        return Ok(Vec::new());
    }
    let hook = ["either", "assertion", "response", "both"]
        .iter()
        .map(|v| format!("signature={v}"))
        .find(|s| {
            target.file.hooks.contains_key(s)
                && crate::vocabulary::signature_layouts(s).is_some_and(|l| l.contains(&layout))
        });
    match hook {
        Some(setting) => Ok(vec![setting]),
        None => Err(Skip(format!(
            "target {} declares `{declared}`, which refuses a response signed {} by configuration, and has no `signature=...` hook that accepts one",
            target.file.name,
            match layout {
                SigningLayout::Response => "at the Response only",
                SigningLayout::Assertion => "at the Assertion only",
                SigningLayout::Both | SigningLayout::None => "so",
            }
        ))),
    }
}

/// What the scenario's flows, steps and expectations need from the target, beyond
/// capabilities and settings; `Err` is the skip reason.
fn check_needs(target: &Target, scenario: &Scenario) -> Result<(), Skip> {
    let name = &target.file.name;
    let mut flows = vec![scenario.file.flow];
    let mut expectations = vec![&scenario.file.expect];
    for step in &scenario.file.steps {
        match step {
            Step::Login { flow, expect, .. } => {
                flows.push(*flow);
                expectations.extend(expect.iter());
            }
            Step::Logout if target.file.session.logout_url.is_none() => {
                return Err(Skip(format!(
                    "target {name} does not say how to sign out ([session].logout_url)"
                )));
            }
            Step::ResetPassword { .. } if target.file.login.password_reset.is_none() => {
                return Err(Skip(format!(
                    "target {name} does not say how to reset a password ([login.password_reset])"
                )));
            }
            _ => {}
        }
    }
    for flow in flows {
        match flow {
            Flow::Password if target.file.login.password.is_none() => {
                return Err(Skip(format!(
                    "target {name} has no password login form ([login.password])"
                )));
            }
            Flow::Api if target.file.api.is_none() => {
                return Err(Skip(format!("target {name} has no basic-auth API ([api])")));
            }
            Flow::SpLogout if target.file.session.slo_url.is_none() => {
                return Err(Skip(format!(
                    "target {name} does not say where its Single Logout starts ([session].slo_url)"
                )));
            }
            _ => {}
        }
    }
    let wants_role = expectations
        .iter()
        .any(|e| matches!(e, Expectation::SignedIn { role: Some(_), .. }));
    if wants_role && target.file.session.role.is_none() {
        return Err(Skip(format!(
            "target {name} does not say how to read a user's role ([session].role)"
        )));
    }
    Ok(())
}

/// Checks, before anything is sent, what would otherwise fail in the middle of a run: every
/// placeholder of the target file has a value, and the scenarios that can run on the target
/// name only users it defines and placeholders that exist. Bad input (exit code 2), with the
/// file and the line.
pub fn check_inputs(target: &Target, scenarios: &[Scenario]) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    let mut vars = target.vars(None)?;
    for name in [
        "idp.base_url",
        "idp.metadata_url",
        "idp.sso_url",
        "idp.entity_id",
        "witness.url",
        "reset.token",
        "reset.password",
        "clock.advance_ms",
        "clock.advance_seconds",
        "patience.ms",
    ] {
        vars.set(name, "http://127.0.0.1:1/x");
    }
    if let Some((name, user)) = target.file.users.iter().next() {
        vars.set("user.name", name.clone())
            .set("user.email", user.email.clone())
            .set("user.password", user.password.clone().unwrap_or_default());
    }
    let line = |needle: &str| {
        target
            .text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| format!(":{}", i + 1))
            .unwrap_or_default()
    };
    for (at, template) in target.templates() {
        vars.render(template)
            .map_err(|e| Error::input(format!("{}{}: {at}: {e}", target.source, line(template))))?;
    }
    for scenario in scenarios {
        if preflight(target, None, scenario, true).is_err() {
            continue;
        }
        let file = &scenario.file;
        let where_ = scenario.origin.display(&scenario.id);
        let mut users = vec![file.user.as_str()];
        let mut expectations = vec![&file.expect];
        for step in &file.steps {
            if let Step::Login { user, expect, .. } = step {
                users.extend(user.as_deref());
                expectations.extend(expect.iter());
            }
        }
        users.extend(file.control.user.as_deref());
        for e in expectations {
            if let Expectation::SignedIn { user, .. } | Expectation::NoEffect { user } = e {
                users.push(user);
            }
        }
        for user in users {
            if !target.file.users.contains_key(user) {
                return Err(Error::input(format!(
                    "{where_}: the scenario names user `{user}`, which {}{} does not define: add `[users.{user}]` (docs/targets.md lists the users the catalogue needs)",
                    target.source,
                    line("[users.")
                )));
            }
        }
        let mut plan = serde_json::to_value(&file.plan).unwrap_or_default();
        vars.render_json(&mut plan).map_err(|e| {
            Error::input(format!(
                "{where_}: its plan cannot be filled for target {}: {e}",
                target.file.name
            ))
        })?;
    }
    Ok(())
}

/// What a control showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlResult {
    /// Whether it reached its positive outcome.
    pub(crate) reached: bool,
    /// Its status as a scenario of its own (pass, fail, error, skip).
    pub(crate) status: Status,
    /// What it showed, in words (or why it did not run).
    pub(crate) observed: String,
    /// Its observation, when it ran.
    pub(crate) observation: Option<Observation>,
    /// The binding of the SP's AuthnRequest in it, when it sent one.
    pub(crate) authn_request_binding: Option<&'static str>,
}

/// One control of a run, shared by every scenario that names it.
#[derive(Debug)]
pub(super) struct Slot {
    /// Its name (the control in words, made unique within the run).
    pub(super) name: String,
    /// The exchange.
    pub(super) control: Control,
    /// Whether a profile probe uses it.
    pub(super) probe: bool,
    /// How many scenarios name it.
    pub(super) used_by: usize,
    /// Its result, once run.
    pub(super) cell: tokio::sync::OnceCell<ControlResult>,
}

/// Every control of a run, by key.
#[derive(Debug, Default)]
pub(super) struct Controls {
    slots: BTreeMap<String, Arc<Slot>>,
}

impl Controls {
    /// The controls of `scenarios` and of `probes`, each once.
    pub(super) fn build<'a>(
        scenarios: impl Iterator<Item = &'a Control>,
        probes: impl Iterator<Item = &'a Control>,
    ) -> Self {
        let mut counted: BTreeMap<String, (Control, usize, bool)> = BTreeMap::new();
        for c in scenarios {
            counted
                .entry(c.key())
                .or_insert_with(|| (c.clone(), 0, false))
                .1 += 1;
        }
        for c in probes {
            counted
                .entry(c.key())
                .or_insert_with(|| (c.clone(), 0, false))
                .2 = true;
        }
        // Names are the controls in words; two different controls with the same words (a plan
        // detail the words leave out) are told apart by a number, in key order.
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let slots = counted
            .into_iter()
            .map(|(key, (control, used_by, probe))| {
                let words = control.describe();
                let n = names.entry(words.clone()).or_insert(0);
                *n += 1;
                let name = if *n == 1 {
                    words
                } else {
                    format!("{words} (#{n})")
                };
                let slot = Slot {
                    name,
                    control,
                    probe,
                    used_by,
                    cell: tokio::sync::OnceCell::new(),
                };
                (key, Arc::new(slot))
            })
            .collect();
        Self { slots }
    }

    /// The slot of a control.
    pub(super) fn get(&self, control: &Control) -> Option<Arc<Slot>> {
        self.slots.get(&control.key()).cloned()
    }

    /// Every slot, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.slots.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Origin, OutageMode};

    fn target(defaults: &str, hooks: &str) -> Target {
        let text = format!(
            "name = \"t\"\n[sp]\nbase_url = \"http://127.0.0.1:1\"\nentity_id = \"e\"\nacs_url = \"a\"\n[login]\nsp_initiated_url = \"u\"\n[session]\nprobe_url = \"p\"\nidentity = {{ json_pointer = \"/email\" }}\n[users.member]\nemail = \"alice@corp.example\"\n[defaults]\nsettings = [{defaults}]\n[hooks]\n{hooks}"
        );
        Target::parse(&text, "t.toml", ".".into()).expect("valid target")
    }

    fn scenario(layout: &str) -> Scenario {
        let text = format!(
            "title = \"t\"\nspec = [\"s\"]\nlevel = \"must\"\nseverity = \"high\"\nexpect = {{ outcome = \"signed-in\", as = \"member\" }}\n[plan]\nsigning = {{ layout = \"{layout}\" }}\n"
        );
        Scenario::parse("a/b", Origin::Embedded, &text).expect("valid")
    }

    #[test]
    fn a_declared_signature_policy_picks_a_hook_or_skips_with_the_reason() {
        let hooks = "\"signature=assertion\" = [{ command = { argv = [\"true\"] } }]\nreset = [{ command = { argv = [\"true\"] } }]\n";
        let t = target("\"signature=both\"", hooks);
        let both = preflight(&t, None, &scenario("both"), true).expect("runs");
        assert!(both.hooks.is_empty() && both.batch == Batch::Defaults);
        let assertion =
            preflight(&t, None, &scenario("assertion"), true).expect("runs with a hook");
        assert_eq!(assertion.hooks, ["signature=assertion"]);
        assert_eq!(assertion.added_settings, ["signature=assertion"]);
        assert_eq!(
            assertion.batch,
            Batch::hooks(&["signature=assertion".to_owned()])
        );
        let Skip(response) = preflight(&t, None, &scenario("response"), true).expect_err("skipped");
        assert!(
            response.contains("declares `signature=both`")
                && response.contains("at the Response only"),
            "{response}"
        );
        // Probes show the SP as declared: no adaptation.
        assert!(preflight(&t, None, &scenario("response"), false).is_ok());
        // Unsigned responses and targets that declare no policy are left alone.
        assert!(preflight(&t, None, &scenario("none"), true).is_ok());
        assert!(preflight(&target("", ""), None, &scenario("response"), true).is_ok());
    }

    #[test]
    fn a_slow_idp_shortens_the_sps_patience_only_with_the_hook_and_a_delay_well_beyond_it() {
        use crate::engine::flows::short_patience;
        let hooks = "patience = [{ command = { argv = [\"true\"] } }]\nreset = [{ command = { argv = [\"true\"] } }]\n";
        let with = target("", hooks);
        let without = target("", "");
        let ms = crate::vocabulary::SHORT_PATIENCE_MS;
        assert_eq!(short_patience(&with, OutageMode::Slow, None), Some(ms));
        assert_eq!(
            short_patience(&with, OutageMode::Slow, Some(2 * ms)),
            Some(ms)
        );
        assert_eq!(
            short_patience(&with, OutageMode::Slow, Some(2 * ms - 1)),
            None
        );
        assert_eq!(short_patience(&with, OutageMode::Down, None), None);
        assert_eq!(short_patience(&without, OutageMode::Slow, None), None);

        let slow = Scenario::parse(
            "x/slow",
            Origin::Embedded,
            "title = \"t\"\nspec = [\"s\"]\nlevel = \"must\"\nseverity = \"medium\"\nsteps = [{ do = \"idp\", outage = \"slow\", delay_ms = 30000 }]\nexpect = { outcome = \"refused\", clear = true }\n",
        )
        .expect("valid");
        let planned = preflight(&with, None, &slow, true).expect("runs");
        assert!(planned.needs_reset && matches!(planned.batch, Batch::Alone(_)));
        assert!(
            !preflight(&without, None, &slow, true)
                .expect("runs")
                .needs_reset
        );

        let err = Target::parse(
            "name = \"t\"\n[sp]\nbase_url = \"http://127.0.0.1:1\"\nentity_id = \"e\"\nacs_url = \"a\"\n[login]\nsp_initiated_url = \"u\"\n[session]\nprobe_url = \"p\"\nidentity = { json_pointer = \"/email\" }\n[users.member]\nemail = \"a@b\"\n[hooks]\npatience = [{ command = { argv = [\"true\"] } }]\n",
            "t.toml",
            ".".into(),
        )
        .expect_err("patience without reset");
        let message = err.to_string();
        assert!(message.starts_with("t.toml:14:"), "{message}");
        assert!(
            message.contains("`patience` hook needs a `reset` hook"),
            "{message}"
        );
    }

    #[test]
    fn controls_are_shared_and_named_once() {
        let a = crate::control::derive(
            &Scenario::parse(
                "x/a",
                Origin::Embedded,
                "title = \"t\"\nspec = [\"s\"]\nlevel = \"must\"\nseverity = \"high\"\nexpect = { outcome = \"refused\" }\n[plan]\nalter = [{ kind = \"destination\", value = \"x\" }]\n",
            )
            .expect("valid"),
        );
        let Ok(crate::control::Need::One(a)) = a else {
            panic!("one control");
        };
        let a = *a;
        let controls = Controls::build([&a, &a].into_iter(), [&a].into_iter());
        assert_eq!(controls.iter().count(), 1);
        let slot = controls.get(&a).expect("slot");
        assert_eq!(slot.used_by, 2);
        assert!(slot.probe);
        assert_eq!(slot.name, "a valid sp-initiated login as member");
    }
}
