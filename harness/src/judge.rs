//! The judge: compares what the SP did (an [`Observation`]) with what the scenario expects.
//!
//! The verdict rests on the session probe and the identity it yields, never on an HTTP status
//! alone: a 200 page that says "error" while a session exists is a login, and a 302 to a
//! friendly page without a session is a refusal.

use crate::scenario::{Expectation, Level, Recommended, Severity};
use crate::verdict::{Observation, Status};

/// The judge's decision before evidence and timing are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The status.
    pub status: Status,
    /// The severity when the status is a failure.
    pub severity: Option<Severity>,
    /// What was expected, in words.
    pub expected: String,
    /// Why, in one line.
    pub reason: String,
}

/// Resolves a logical user to the identity the SP should show (an email).
pub trait Identities {
    /// The identity of a logical user, if the target has that user.
    fn identity(&self, user: &str) -> Option<&str>;
}

impl Identities for std::collections::BTreeMap<String, crate::target::User> {
    fn identity(&self, user: &str) -> Option<&str> {
        self.get(user).map(|u| u.email.as_str())
    }
}

/// The expectation in words, with logical user names (for scenarios that did not run).
pub fn describe(expectation: &Expectation) -> String {
    match expectation {
        Expectation::SignedIn { user } => format!("signed in as {user}"),
        Expectation::Refused => "refused".to_owned(),
        Expectation::NoEffect { user } => format!("refused, or signed in as {user} only"),
        Expectation::StaysOnOrigin => "no redirect to another origin".to_owned(),
        Expectation::Policy { recommended } => match recommended {
            Recommended::SignedIn => "policy; recommended: signed in".to_owned(),
            Recommended::Refused => "policy; recommended: refused".to_owned(),
        },
    }
}

/// Overrides a judgement when the SP fetched the scenario's witness URL: whatever it did
/// with the response, it dereferenced a URL from an untrusted document (XXE, XSLT, KeyInfo
/// or Reference URIs). That is a critical failure.
pub fn fetched(judgement: Judgement, url: &str, requests: usize) -> Judgement {
    Judgement {
        status: Status::Fail,
        severity: Some(Severity::Critical),
        reason: format!(
            "the SP fetched {url} ({requests} request{}) while handling the response: it dereferences URLs from untrusted XML; {}",
            if requests == 1 { "" } else { "s" },
            judgement.reason
        ),
        expected: judgement.expected,
    }
}

/// Decides one scenario. `off_origin` is a redirect to another origin the SP sent the user
/// agent after the response, if any.
pub fn judge(
    expectation: &Expectation,
    level: Level,
    severity: Severity,
    scenario_user: &str,
    observation: &Observation,
    users: &dyn Identities,
    off_origin: Option<&str>,
) -> Judgement {
    let who = |user: &str| users.identity(user).map(str::to_owned);
    let expected = match expectation {
        Expectation::SignedIn { user } => format!(
            "signed in as {}",
            who(user).unwrap_or_else(|| user.to_owned())
        ),
        Expectation::Refused => "refused".to_owned(),
        Expectation::NoEffect { user } => format!(
            "refused, or signed in as {} only",
            who(user).unwrap_or_else(|| user.to_owned())
        ),
        Expectation::StaysOnOrigin => "no redirect to another origin".to_owned(),
        Expectation::Policy { recommended } => match recommended {
            Recommended::SignedIn => format!(
                "policy; recommended: signed in as {}",
                who(scenario_user).unwrap_or_else(|| scenario_user.to_owned())
            ),
            Recommended::Refused => "policy; recommended: refused".to_owned(),
        },
    };
    let decided = |status: Status, reason: String| Judgement {
        severity: matches!(status, Status::Fail).then_some(severity),
        status,
        expected: expected.clone(),
        reason,
    };

    if let Observation::Error { message } = observation {
        return decided(
            Status::Error,
            format!("the exchange did not complete: {message}"),
        );
    }
    let signed_in_as = match observation {
        Observation::SignedIn { identity } => Some(identity.as_str()),
        _ => None,
    };
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let unknown_user = |user: &str| {
        decided(
            Status::Error,
            format!("the scenario names user `{user}`, which the target file does not define"),
        )
    };

    // Met or not, and why.
    let (met, reason) = match expectation {
        Expectation::SignedIn { user } => {
            let Some(want) = who(user) else {
                return unknown_user(user);
            };
            match signed_in_as {
                Some(got) if same(got, &want) => {
                    (true, format!("signed in as {want}, as expected"))
                }
                Some(got) => (
                    false,
                    format!("signed in as {got}, but the response was for {want}"),
                ),
                None => (
                    false,
                    "the SP refused a response it should accept".to_owned(),
                ),
            }
        }
        Expectation::StaysOnOrigin => match off_origin {
            None => (
                true,
                "the SP kept the user agent on its own origin".to_owned(),
            ),
            Some(url) => (
                false,
                format!("the SP redirected the user agent to {url} (an open redirect)"),
            ),
        },
        Expectation::Refused => match signed_in_as {
            None => (true, "refused, as expected".to_owned()),
            Some(got) => (
                false,
                format!("the SP accepted a response it must refuse and signed in {got}"),
            ),
        },
        Expectation::NoEffect { user } => {
            let Some(want) = who(user) else {
                return unknown_user(user);
            };
            match signed_in_as {
                None => (
                    true,
                    "refused; the injected identity had no effect".to_owned(),
                ),
                Some(got) if same(got, &want) => (
                    true,
                    format!("signed in as the signed identity {want}; the injection had no effect"),
                ),
                Some(got) => (
                    false,
                    format!(
                        "signed in as {got}: the injected identity took effect (signed identity: {want})"
                    ),
                ),
            }
        }
        Expectation::Policy { recommended } => {
            let behaviour = match signed_in_as {
                Some(got) => format!("the SP signs in {got}"),
                None => "the SP refuses".to_owned(),
            };
            let follows = match recommended {
                Recommended::Refused => signed_in_as.is_none(),
                Recommended::SignedIn => match (who(scenario_user), signed_in_as) {
                    (Some(want), Some(got)) => same(got, &want),
                    _ => false,
                },
            };
            return if follows {
                decided(Status::Pass, format!("policy: {behaviour}, as recommended"))
            } else {
                decided(
                    Status::Warn,
                    format!("policy: {behaviour}, which differs from the recommendation"),
                )
            };
        }
    };
    let status = match (met, level) {
        (true, _) => Status::Pass,
        (false, Level::Must) => Status::Fail,
        (false, Level::Should | Level::Policy) => Status::Warn,
    };
    decided(status, reason)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::target::User;

    fn users() -> BTreeMap<String, User> {
        [
            ("member", "alice@corp.example"),
            ("other", "bob@corp.example"),
        ]
        .into_iter()
        .map(|(k, e)| {
            (
                k.to_owned(),
                User {
                    email: e.to_owned(),
                    role: None,
                    password: None,
                },
            )
        })
        .collect()
    }

    fn signed_in(who: &str) -> Observation {
        Observation::SignedIn {
            identity: who.to_owned(),
        }
    }

    fn refused() -> Observation {
        Observation::NotSignedIn {
            status: Some(403),
            reason: Some("destination_mismatch".into()),
        }
    }

    fn run(e: &Expectation, level: Level, o: &Observation) -> Judgement {
        judge(e, level, Severity::Critical, "member", o, &users(), None)
    }

    #[test]
    fn an_off_origin_redirect_fails_stays_on_origin() {
        let e = Expectation::StaysOnOrigin;
        let o = signed_in("alice@corp.example");
        let j = judge(
            &e,
            Level::Must,
            Severity::High,
            "member",
            &o,
            &users(),
            Some("https://evil.test/"),
        );
        assert_eq!(j.status, Status::Fail);
        assert!(j.reason.contains("https://evil.test/"), "{}", j.reason);
        assert_eq!(run(&e, Level::Must, &o).status, Status::Pass);
    }

    #[test]
    fn signed_in_needs_the_right_identity_not_just_a_session() {
        let e = Expectation::SignedIn {
            user: "member".into(),
        };
        assert_eq!(
            run(&e, Level::Must, &signed_in("Alice@corp.example")).status,
            Status::Pass
        );
        let wrong = run(&e, Level::Must, &signed_in("bob@corp.example"));
        assert_eq!(wrong.status, Status::Fail);
        assert_eq!(wrong.severity, Some(Severity::Critical));
        assert!(
            wrong.reason.contains("bob@corp.example"),
            "{}",
            wrong.reason
        );
        assert_eq!(run(&e, Level::Must, &refused()).status, Status::Fail);
        assert_eq!(run(&e, Level::Should, &refused()).status, Status::Warn);
    }

    #[test]
    fn refused_fails_on_any_session() {
        let e = Expectation::Refused;
        assert_eq!(run(&e, Level::Must, &refused()).status, Status::Pass);
        let j = run(&e, Level::Must, &signed_in("alice@corp.example"));
        assert_eq!(j.status, Status::Fail);
        assert_eq!(j.severity, Some(Severity::Critical));
        let none = Observation::NotSignedIn {
            status: None,
            reason: None,
        };
        assert_eq!(run(&e, Level::Must, &none).status, Status::Pass);
    }

    #[test]
    fn no_effect_allows_the_signed_identity_only() {
        let e = Expectation::NoEffect {
            user: "member".into(),
        };
        assert_eq!(run(&e, Level::Must, &refused()).status, Status::Pass);
        assert_eq!(
            run(&e, Level::Must, &signed_in("alice@corp.example")).status,
            Status::Pass
        );
        assert_eq!(
            run(&e, Level::Must, &signed_in("bob@corp.example")).status,
            Status::Fail
        );
    }

    #[test]
    fn policy_warns_when_the_behaviour_differs_and_names_it() {
        let e = Expectation::Policy {
            recommended: Recommended::Refused,
        };
        assert_eq!(run(&e, Level::Policy, &refused()).status, Status::Pass);
        let j = run(&e, Level::Policy, &signed_in("alice@corp.example"));
        assert_eq!(j.status, Status::Warn);
        assert_eq!(j.severity, None);
        assert!(
            j.reason.contains("signs in alice@corp.example"),
            "{}",
            j.reason
        );
    }

    #[test]
    fn errors_and_unknown_users_are_errors_not_failures() {
        let e = Expectation::Refused;
        let o = Observation::Error {
            message: "connection refused".into(),
        };
        assert_eq!(run(&e, Level::Must, &o).status, Status::Error);
        let e = Expectation::SignedIn {
            user: "ghost".into(),
        };
        let j = run(&e, Level::Must, &refused());
        assert_eq!(j.status, Status::Error);
        assert!(j.reason.contains("ghost"), "{}", j.reason);
    }

    #[test]
    fn a_witness_fetch_fails_as_critical_even_when_the_sp_refused() {
        let refused_ok = judge(
            &Expectation::Refused,
            Level::Must,
            Severity::Medium,
            "member",
            &refused(),
            &users(),
            None,
        );
        assert_eq!(refused_ok.status, Status::Pass);
        let j = fetched(refused_ok, "http://127.0.0.1:9/w/t", 2);
        assert_eq!(j.status, Status::Fail);
        assert_eq!(j.severity, Some(Severity::Critical));
        assert!(
            j.reason
                .starts_with("the SP fetched http://127.0.0.1:9/w/t (2 requests)"),
            "{}",
            j.reason
        );
        assert_eq!(j.expected, "refused");
    }
}
