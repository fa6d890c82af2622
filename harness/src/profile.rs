//! The SP profile: what the SP accepts, as its controls showed it.
//!
//! Besides the controls of the selected scenarios, every run sends a few *probes*: valid
//! exchanges under the target's declared defaults, one per aspect an SP may be configured on
//! (the signing layouts, an algorithm beyond rsa-sha256, IdP-initiated login, a NameID that is
//! not an email address, where the email comes from, Single Logout over each binding). They are
//! controls like the others (shared with scenarios whose control is the same exchange). The
//! profile is printed at the top of every report and compared with what the target declares:
//! a contradiction is a warning in the report, never silently corrected.

use mock_idp::Plan;
use mock_idp::plan::{Alteration, LogoutBinding, SignatureAlgorithm, SigningLayout};
use serde::{Deserialize, Serialize};

use crate::control::Control;
use crate::scenario::Flow;
use crate::target::Target;

/// One probe: an aspect, the value it tries, and the exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// What the probe is about (`signing layout`).
    pub aspect: &'static str,
    /// The value it tries (`signed at the assertion only`).
    pub value: &'static str,
    /// The exchange.
    pub control: Control,
}

/// An opaque NameID value for the identity-source probe.
const OPAQUE_NAME_ID: &str = "u-5f1c0de1a5e7";

/// The probes for a target (Single Logout only where it declares `single-logout`).
pub fn probes(target: &Target) -> Vec<Probe> {
    let login = |flow: Flow, plan: Plan| Control {
        flow,
        user: "member".to_owned(),
        plan,
        steps: Vec::new(),
        settings: Vec::new(),
        sp_login: crate::scenario::SpLogin::Usual,
    };
    let layout = |layout: SigningLayout| {
        let mut plan = Plan::default();
        plan.signing.layout = Some(layout);
        login(Flow::SpInitiated, plan)
    };
    let mut out = vec![
        Probe {
            aspect: "signing layout",
            value: "signed at the Response only",
            control: layout(SigningLayout::Response),
        },
        Probe {
            aspect: "signing layout",
            value: "signed at the Assertion only",
            control: layout(SigningLayout::Assertion),
        },
        Probe {
            aspect: "signing layout",
            value: "signed at both",
            control: layout(SigningLayout::Both),
        },
    ];
    let mut sha512 = Plan::default();
    sha512.signing.algorithm = Some(SignatureAlgorithm::RsaSha512);
    out.push(Probe {
        aspect: "signature algorithm",
        value: "rsa-sha512 (beside rsa-sha256)",
        control: login(Flow::SpInitiated, sha512),
    });
    out.push(Probe {
        aspect: "IdP-initiated login",
        value: "an unsolicited response",
        control: login(Flow::IdpInitiated, Plan::default()),
    });
    let mut unspecified = Plan::default();
    unspecified.alter.push(Alteration::NameIdFormat {
        value: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".to_owned(),
    });
    out.push(Probe {
        aspect: "NameID format",
        value: "unspecified (the email as NameID)",
        control: login(Flow::SpInitiated, unspecified),
    });
    let mut opaque = Plan::default();
    opaque.alter.push(Alteration::NameId {
        value: OPAQUE_NAME_ID.to_owned(),
    });
    opaque.alter.push(Alteration::NameIdFormat {
        value: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".to_owned(),
    });
    out.push(Probe {
        aspect: "identity source",
        value: "a persistent opaque NameID, the email in the `email` attribute",
        control: login(Flow::SpInitiated, opaque),
    });
    if target.file.capabilities.get("single-logout") == Some(&true) {
        for (binding, value) in [
            (
                LogoutBinding::Redirect,
                "the IdP's LogoutRequest over HTTP-Redirect",
            ),
            (
                LogoutBinding::Post,
                "the IdP's LogoutRequest over HTTP-POST",
            ),
        ] {
            let mut plan = Plan::default();
            plan.logout.binding = binding;
            out.push(Probe {
                aspect: "Single Logout",
                value,
                control: login(Flow::IdpLogout, plan),
            });
        }
    }
    out
}

/// What a probe showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The positive outcome (signed in as the member; after a logout, signed out).
    Accepted,
    /// Signed in as another identity than the member's (the identity-source probe: the
    /// opaque NameID).
    SignedInAs(String),
    /// Refused (or, for a logout, the session kept).
    Refused,
    /// The exchange did not complete (a transport or harness error).
    Error,
    /// Not run (a capability or setting the target lacks).
    NotRun,
}

impl Outcome {
    /// The outcome in words (`accepted`, `signed in as X`).
    pub fn words(&self) -> String {
        match self {
            Outcome::Accepted => "accepted".to_owned(),
            Outcome::SignedInAs(who) => format!("signed in as {who}"),
            Outcome::Refused => "refused".to_owned(),
            Outcome::Error => "error".to_owned(),
            Outcome::NotRun => "not run".to_owned(),
        }
    }
}

/// One line of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The aspect.
    pub aspect: String,
    /// The value tried.
    pub value: String,
    /// What the SP did.
    pub outcome: Outcome,
    /// The observation, in words (or why it did not run).
    pub observed: String,
}

/// The SP profile of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The SP's AuthnRequest binding, as seen in the probes (`HTTP-Redirect`, `HTTP-POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authn_request_binding: Option<String>,
    /// One entry per probe.
    pub entries: Vec<Entry>,
    /// Where the profile contradicts the target's declarations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contradictions: Vec<String>,
}

impl Profile {
    /// Whether an aspect's value was accepted (`None`: not known).
    pub fn accepted(&self, value: &str) -> Option<bool> {
        self.entries
            .iter()
            .find(|e| e.value == value)
            .and_then(|e| match e.outcome {
                Outcome::Accepted => Some(true),
                Outcome::Refused => Some(false),
                Outcome::SignedInAs(_) | Outcome::Error | Outcome::NotRun => None,
            })
    }

    /// Compares the profile with the target's declarations and records every contradiction.
    pub fn compare(&mut self, target: &Target) {
        let declared = &target.file.defaults.settings;
        let has = |s: &str| declared.iter().any(|d| d == s);
        let name = &target.file.name;
        let mut out = Vec::new();
        for setting in declared {
            let Some(layouts) = crate::vocabulary::signature_layouts(setting) else {
                continue;
            };
            for (layout, value) in [
                (SigningLayout::Response, "signed at the Response only"),
                (SigningLayout::Assertion, "signed at the Assertion only"),
                (SigningLayout::Both, "signed at both"),
            ] {
                match (layouts.contains(&layout), self.accepted(value)) {
                    (true, Some(false)) => out.push(format!(
                        "{name} declares `{setting}`, but a valid response {value} was refused"
                    )),
                    (false, Some(true)) => out.push(format!(
                        "{name} declares `{setting}`, but a valid response {value} was accepted"
                    )),
                    _ => {}
                }
            }
        }
        match self.accepted("an unsolicited response") {
            Some(true) if has("idp-initiated=off") => out.push(format!(
                "{name} declares `idp-initiated=off`, but an unsolicited response signed the user in"
            )),
            Some(false) if has("idp-initiated=on") => out.push(format!(
                "{name} declares `idp-initiated=on`, but an unsolicited response was refused"
            )),
            _ => {}
        }
        match self.accepted("unspecified (the email as NameID)") {
            Some(true) if has("name-id-format=email") => out.push(format!(
                "{name} declares `name-id-format=email`, but a NameID of format unspecified was accepted"
            )),
            Some(false) if has("name-id-format=any") => out.push(format!(
                "{name} declares `name-id-format=any`, but a NameID of format unspecified was refused"
            )),
            _ => {}
        }
        if let Some(source) = self.entries.iter().find(|e| e.aspect == "identity source") {
            let email_attribute = has("identity=email-attribute");
            match &source.outcome {
                Outcome::Accepted if has("identity=name-id") => out.push(format!(
                    "{name} declares `identity=name-id`, but with an opaque NameID the user was signed in by the `email` attribute"
                )),
                Outcome::SignedInAs(who) if email_attribute => out.push(format!(
                    "{name} declares `identity=email-attribute`, but the opaque NameID {who} was signed in"
                )),
                _ => {}
            }
        }
        if target.file.capabilities.get("single-logout") == Some(&true) {
            for e in self.entries.iter().filter(|e| e.aspect == "Single Logout") {
                if e.outcome == Outcome::Refused {
                    out.push(format!(
                        "{name} declares `single-logout`, but {} did not end the session ({})",
                        e.value, e.observed
                    ));
                }
            }
        }
        self.contradictions = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(extra: &str) -> Target {
        let text = format!(
            "name = \"t\"\n[sp]\nbase_url = \"http://127.0.0.1:1\"\nentity_id = \"e\"\nacs_url = \"a\"\n[login]\nsp_initiated_url = \"u\"\n[session]\nprobe_url = \"p\"\nidentity = {{ json_pointer = \"/email\" }}\n[users.member]\nemail = \"alice@corp.example\"\n{extra}"
        );
        Target::parse(&text, "t.toml", ".".into()).expect("valid target")
    }

    fn entry(value: &str, outcome: Outcome) -> Entry {
        Entry {
            aspect: "x".to_owned(),
            value: value.to_owned(),
            outcome,
            observed: "o".to_owned(),
        }
    }

    #[test]
    fn probes_cover_layouts_and_logout_only_where_declared() {
        let plain = probes(&target(""));
        assert_eq!(
            plain
                .iter()
                .filter(|p| p.aspect == "signing layout")
                .count(),
            3
        );
        assert!(!plain.iter().any(|p| p.aspect == "Single Logout"));
        let slo = probes(&target("[capabilities]\nsingle-logout = true\n"));
        assert_eq!(
            slo.iter().filter(|p| p.aspect == "Single Logout").count(),
            2
        );
        // Probes are valid exchanges or deliberate, benign variations: no tampering.
        assert!(plain.iter().all(|p| p.control.plan.tamper.is_empty()));
    }

    #[test]
    fn declarations_that_the_sp_contradicts_are_listed() {
        let t = target("[defaults]\nsettings = [\"signature=both\", \"idp-initiated=off\"]\n");
        let mut p = Profile {
            authn_request_binding: None,
            entries: vec![
                entry("signed at the Response only", Outcome::Refused),
                entry("signed at the Assertion only", Outcome::Accepted),
                entry("signed at both", Outcome::Accepted),
                entry("an unsolicited response", Outcome::Accepted),
            ],
            contradictions: Vec::new(),
        };
        p.compare(&t);
        assert_eq!(
            p.contradictions,
            [
                "t declares `signature=both`, but a valid response signed at the Assertion only was accepted",
                "t declares `idp-initiated=off`, but an unsolicited response signed the user in",
            ]
        );
    }
}
