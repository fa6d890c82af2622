//! Controls: a scenario's exchange without its deviation.
//!
//! A scenario that expects anything short of the positive outcome (signed in as the user the
//! plan signs for; after a logout flow, signed out) proves something only if the same exchange
//! *without* the deviation reaches that outcome on the SP: a response refused for its signing
//! layout says nothing about the wrong Destination it carried. Each such scenario has a
//! [`Control`], derived here from the scenario alone (pure data, no target): the plan without
//! alterations, tamperings, attacker keys, weak algorithms or wrong bindings
//! ([`mock_idp::Plan::without_deviations`]), the user the plan signs for, a plain login for a
//! replay or a cross-agent post, no IdP outage, no RelayState; the same flavour, layout,
//! sound algorithm, settings and other steps. A scenario whose deviation is
//! elsewhere says how its control differs in `[control]`; one whose derived control would be
//! the scenario itself is refused at load time, since nothing would be tested.
//!
//! Controls are keyed by their content, so scenarios that share one run it once.

use mock_idp::Plan;
use mock_idp::plan::SigningLayout;
use serde::Serialize;

use crate::scenario::{Expectation, Flow, OutageMode, Scenario, ScenarioFile, SpLogin, Step};

/// The positive outcome of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Positive {
    /// Signed in as the control's user.
    SignedIn,
    /// After a logout flow: the session is over, with a clean answer from the SP.
    SignedOut,
}

/// The same exchange as a scenario, without the deviation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Control {
    /// How the login (or logout) goes.
    pub flow: Flow,
    /// The logical user who logs in; the plan signs for this user.
    pub user: String,
    /// What the mock IdP sends (placeholders unfilled; `user` absent: the user's email).
    pub plan: Plan,
    /// Steps before the flow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Settings that must hold. (Capabilities are not part of a control: a control runs
    /// only for scenarios that run, whose capabilities the target has.)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    /// Which SP-initiated login URL starts it.
    #[serde(default, skip_serializing_if = "SpLogin::is_usual")]
    pub sp_login: SpLogin,
}

/// What a scenario needs to be trusted.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Nothing: the scenario expects the positive outcome itself.
    Own,
    /// One control.
    One(Box<Control>),
    /// Any one of these (an unsigned response: the SP must accept at least one signed layout).
    AnyOf(Vec<Control>),
}

impl Need {
    /// The controls involved.
    pub fn controls(&self) -> &[Control] {
        match self {
            Need::Own => &[],
            Need::One(c) => std::slice::from_ref(c.as_ref()),
            Need::AnyOf(cs) => cs,
        }
    }
}

/// Why a scenario has no usable control.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "nothing distinguishes this scenario from its control (the same exchange without the deviation): the plan has no alteration, tampering, attacker key or weak algorithm, and the flow, steps and settings are a plain login's; say in `[control]` how the control differs (its `settings`, `steps`, `user` or `layout`)"
)]
pub struct NoDeviation;

impl Control {
    /// The outcome the control must reach.
    pub fn positive(&self) -> Positive {
        if self.flow.is_logout() {
            Positive::SignedOut
        } else {
            Positive::SignedIn
        }
    }

    /// The key under which equal controls are shared.
    pub fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The control as a scenario the engine can run: `id`, and the positive expectation.
    pub fn to_scenario(&self, id: &str, title: &str) -> Scenario {
        let expect = match self.positive() {
            Positive::SignedIn => Expectation::SignedIn {
                user: self.user.clone(),
                role: None,
            },
            Positive::SignedOut => Expectation::SignedOut,
        };
        Scenario {
            id: id.to_owned(),
            origin: crate::scenario::Origin::Embedded,
            file: ScenarioFile {
                title: title.to_owned(),
                spec: vec!["control (the same exchange without the deviation)".to_owned()],
                rules: Vec::new(),
                level: crate::scenario::Level::Must,
                severity: crate::scenario::Severity::Medium,
                description: None,
                flow: self.flow,
                user: self.user.clone(),
                relay_state: None,
                sp_login: self.sp_login,
                requires: crate::scenario::Requirements {
                    capabilities: Vec::new(),
                    settings: self.settings.clone(),
                },
                steps: self.steps.clone(),
                catches: Vec::new(),
                layouts: Vec::new(),
                plan: self.plan.clone(),
                expect,
                control: crate::scenario::ControlOverride::default(),
            },
        }
    }

    /// The control in words: `a valid sp-initiated login as member, signed at the assertion,
    /// flavour entra, settings signature=assertion`.
    pub fn describe(&self) -> String {
        let mut text = match self.flow {
            Flow::IdpLogout | Flow::SpLogout => format!(
                "a valid {} ({}) after a login as {}",
                self.flow.as_str(),
                match self.plan.logout.binding {
                    mock_idp::plan::LogoutBinding::Redirect => "HTTP-Redirect",
                    mock_idp::plan::LogoutBinding::Post => "HTTP-POST",
                },
                self.user
            ),
            Flow::Password => format!("a password login as {}", self.user),
            Flow::Api => format!("an API call as {}", self.user),
            Flow::Session => format!("a session check as {}", self.user),
            // A profile probe may carry a deliberate, legal variation (an unspecified NameID
            // format): it is not called valid then.
            _ if !self.plan.alter.is_empty() => {
                format!("a {} login as {}", self.flow.as_str(), self.user)
            }
            _ => format!("a valid {} login as {}", self.flow.as_str(), self.user),
        };
        if !matches!(self.flow, Flow::Password | Flow::Api) {
            let plan = &self.plan;
            match plan.signing.layout {
                Some(SigningLayout::Response) => text.push_str(", signed at the response"),
                Some(SigningLayout::Assertion) => text.push_str(", signed at the assertion"),
                Some(SigningLayout::Both) => text.push_str(", signed at both"),
                Some(SigningLayout::None) => text.push_str(", unsigned"),
                None => {}
            }
            if plan.flavour != mock_idp::Flavour::default() {
                text.push_str(&format!(", flavour {}", json_name(&plan.flavour)));
            }
            if let Some(a) = plan.signing.algorithm {
                text.push_str(&format!(", {}", json_name(&a)));
            }
            if plan.signing.key != mock_idp::KeyChoice::default() {
                text.push_str(&format!(", key {}", json_name(&plan.signing.key)));
            }
            if plan.encryption.is_some() {
                text.push_str(", encrypted");
            }
            if !plan.alter.is_empty() {
                let kinds: Vec<String> = plan
                    .alter
                    .iter()
                    .map(|a| {
                        serde_json::to_value(a)
                            .ok()
                            .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_owned)))
                            .unwrap_or_default()
                    })
                    .collect();
                text.push_str(&format!(", altered: {}", kinds.join(" ")));
            }
            if !plan.attributes.is_empty() {
                let names: Vec<&str> = plan.attributes.keys().map(String::as_str).collect();
                text.push_str(&format!(", attributes {}", names.join(" ")));
            }
        }
        if !self.settings.is_empty() {
            text.push_str(&format!(", settings {}", self.settings.join(" ")));
        }
        if !self.steps.is_empty() {
            let steps: Vec<String> = self.steps.iter().map(describe_step).collect();
            text.push_str(&format!(", after {}", steps.join(", ")));
        }
        text
    }
}

fn describe_step(step: &Step) -> String {
    match step {
        Step::Login { flow, user, .. } => match user {
            Some(u) => format!("a {} login as {u}", flow.as_str()),
            None => format!("a {} login", flow.as_str()),
        },
        Step::Set { setting } => format!("setting {setting}"),
        Step::Idp { outage, .. } => format!("IdP {}", json_name(outage)),
        Step::Logout => "a logout".to_owned(),
        Step::Wait { ms } => format!("waiting {ms} ms"),
        Step::ResetPassword { .. } => "a password reset".to_owned(),
    }
}

/// The serde name of a unit enum value (`rsa-sha512`).
fn json_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The logical user a plan's `user` names (`{users.NAME.email}`), if it is that placeholder.
pub fn plan_user(plan: &Plan) -> Option<&str> {
    plan.user
        .as_deref()?
        .strip_prefix("{users.")?
        .strip_suffix(".email}")
}

/// Whether the scenario's expectation is the positive outcome of its flow (so it needs no
/// control: a refusal of it is a failure already).
fn expects_positive(file: &ScenarioFile) -> bool {
    matches!(
        (&file.expect, file.flow.is_logout()),
        (Expectation::SignedOut, true)
            | (Expectation::SignedIn { .. }, false)
            | (Expectation::Conforms { .. }, _)
    )
}

/// The control a scenario needs, or [`NoDeviation`] when its derived control would be the
/// scenario itself.
pub fn derive(scenario: &Scenario) -> Result<Need, NoDeviation> {
    let file = &scenario.file;
    if expects_positive(file) {
        return Ok(Need::Own);
    }
    let over = &file.control;
    let user = over
        .user
        .clone()
        .or_else(|| plan_user(&file.plan).map(str::to_owned))
        .unwrap_or_else(|| file.user.clone());
    let flow = match file.flow {
        Flow::Replay | Flow::CrossAgent => Flow::SpInitiated,
        Flow::IdpInitiatedReplay => Flow::IdpInitiated,
        other => other,
    };
    let mut plan = file.plan.without_deviations();
    plan.user = None;
    if let Some(layout) = over.layout {
        plan.signing.layout = Some(layout);
    }
    let steps = over.steps.clone().unwrap_or_else(|| {
        file.steps
            .iter()
            .filter(|s| !matches!(s, Step::Idp { .. }))
            .cloned()
            .collect()
    });
    let settings = over
        .settings
        .clone()
        .unwrap_or_else(|| file.requires.settings.clone());
    let control = Control {
        flow,
        user,
        plan,
        steps,
        settings,
        sp_login: file.sp_login,
    };
    if control.plan.signing.layout == Some(SigningLayout::None) {
        // An unsigned response: the SP must accept at least one signed layout.
        return Ok(Need::AnyOf(
            [
                SigningLayout::Response,
                SigningLayout::Assertion,
                SigningLayout::Both,
            ]
            .into_iter()
            .map(|layout| {
                let mut c = control.clone();
                c.plan.signing.layout = Some(layout);
                c
            })
            .collect(),
        ));
    }
    if is_the_scenario_itself(&control, scenario) {
        return Err(NoDeviation);
    }
    Ok(Need::One(Box::new(control)))
}

/// Whether a derived control sends exactly what the scenario sends (nothing to compare).
fn is_the_scenario_itself(control: &Control, scenario: &Scenario) -> bool {
    let file = &scenario.file;
    let mut plan = file.plan.clone();
    if plan_user(&plan) == Some(control.user.as_str()) {
        plan.user = None;
    }
    let plan_matters = !matches!(file.flow, Flow::Password | Flow::Api)
        || file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Login { flow, .. } if !matches!(flow, Flow::Password | Flow::Api)));
    control.flow == file.flow
        && control.user == file.user
        && file.relay_state.is_none()
        && (!plan_matters || control.plan == plan)
        && control.steps == file.steps
        && control.settings == file.requires.settings
        && !file
            .steps
            .iter()
            .any(|s| matches!(s, Step::Idp { outage, .. } if *outage != OutageMode::Up))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Origin;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse("a/b", Origin::Embedded, text).expect("valid")
    }

    const HEAD: &str = "title = \"t\"\nspec = [\"s\"]\nlevel = \"must\"\nseverity = \"high\"\n";

    #[test]
    fn a_positive_scenario_is_its_own_control() {
        let s = scenario(&format!(
            "{HEAD}expect = {{ outcome = \"signed-in\", as = \"member\" }}\n"
        ));
        assert_eq!(derive(&s), Ok(Need::Own));
    }

    #[test]
    fn a_refused_alteration_is_controlled_by_the_same_plan_without_it() {
        let s = scenario(&format!(
            "{HEAD}expect = {{ outcome = \"refused\" }}\n[plan]\nsigning = {{ layout = \"assertion\", algorithm = \"rsa-sha512\" }}\nflavour = \"entra\"\nalter = [{{ kind = \"destination\", value = \"x\" }}]\n"
        ));
        let Ok(Need::One(c)) = derive(&s) else {
            panic!("one control");
        };
        assert_eq!(c.flow, Flow::SpInitiated);
        assert_eq!(c.user, "member");
        assert!(c.plan.alter.is_empty());
        assert_eq!(c.plan.signing.layout, Some(SigningLayout::Assertion));
        assert_eq!(
            c.plan.signing.algorithm,
            Some(mock_idp::plan::SignatureAlgorithm::RsaSha512)
        );
        assert_eq!(c.positive(), Positive::SignedIn);
        assert_eq!(
            c.describe(),
            "a valid sp-initiated login as member, signed at the assertion, flavour entra, rsa-sha512"
        );
    }

    #[test]
    fn the_control_logs_in_as_the_user_the_plan_signs_for() {
        let s = scenario(&format!(
            "{HEAD}user = \"admin\"\nexpect = {{ outcome = \"no-effect\", as = \"member\" }}\n[plan]\nuser = \"{{users.member.email}}\"\ntamper = [{{ kind = \"xsw\", variant = 3, name_id = \"{{users.admin.email}}\" }}]\n"
        ));
        let Ok(Need::One(c)) = derive(&s) else {
            panic!("one control");
        };
        assert_eq!(c.user, "member");
        assert_eq!(c.plan.user, None);
        assert!(c.plan.tamper.is_empty());
    }

    #[test]
    fn replays_are_controlled_by_a_plain_login_and_unsigned_plans_by_any_signed_layout() {
        let s = scenario(&format!(
            "{HEAD}flow = \"replay\"\nexpect = {{ outcome = \"refused\" }}\n"
        ));
        let Ok(Need::One(c)) = derive(&s) else {
            panic!("one control");
        };
        assert_eq!(c.flow, Flow::SpInitiated);
        let s = scenario(&format!(
            "{HEAD}expect = {{ outcome = \"refused\" }}\n[plan]\nsigning = {{ layout = \"none\" }}\n"
        ));
        let Ok(Need::AnyOf(cs)) = derive(&s) else {
            panic!("any of");
        };
        assert_eq!(cs.len(), 3);
        assert!(
            cs.iter()
                .all(|c| c.plan.signing.layout != Some(SigningLayout::None))
        );
    }

    #[test]
    fn a_scenario_without_a_deviation_must_say_what_its_control_is() {
        let text = format!(
            "{HEAD}flow = \"password\"\n[requires]\nsettings = [\"enforcement=on\"]\n[expect]\noutcome = \"refused\"\n"
        );
        // Loading refuses it, saying why; the derivation itself finds nothing to take away.
        let err = Scenario::parse("a/b", Origin::Embedded, &text).expect_err("no deviation");
        assert!(err.message.contains("[control]"), "{err}");
        let unchecked = Scenario {
            id: "a/b".to_owned(),
            origin: Origin::Embedded,
            file: toml::from_str(&text).expect("valid toml"),
        };
        assert_eq!(derive(&unchecked), Err(NoDeviation));
        let with = format!("{text}[control]\nsettings = []\n");
        let Ok(Need::One(c)) = derive(&scenario(&with)) else {
            panic!("one control");
        };
        assert!(c.settings.is_empty());
        assert_eq!(c.describe(), "a password login as member");
    }

    #[test]
    fn logout_scenarios_are_controlled_by_a_valid_logout() {
        let s = scenario(&format!(
            "{HEAD}flow = \"idp-logout\"\nexpect = {{ outcome = \"signed-in\", as = \"member\" }}\n[plan.logout]\nbinding = \"post\"\nunsigned = true\n"
        ));
        let Ok(Need::One(c)) = derive(&s) else {
            panic!("one control");
        };
        assert_eq!(c.positive(), Positive::SignedOut);
        assert!(!c.plan.logout.unsigned);
        assert_eq!(c.plan.logout.binding, mock_idp::plan::LogoutBinding::Post);
        assert_eq!(
            c.describe(),
            "a valid idp-logout (HTTP-POST) after a login as member"
        );
    }
}
