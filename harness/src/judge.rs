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

/// What the judge knows of how the target shows refusals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Refusals<'a> {
    /// Whether the target says how to read a refusal reason.
    pub readable: bool,
    /// The target's codes for reason names.
    pub codes: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl<'a> Refusals<'a> {
    /// From a target's `[refusal]` section.
    pub fn of(section: Option<&'a crate::target::RefusalSection>) -> Self {
        Self {
            readable: section.is_some(),
            codes: section.map(|r| &r.codes),
        }
    }
}

fn refused_words(reason: Option<&str>, clear: bool) -> String {
    let mut text = "refused".to_owned();
    if let Some(r) = reason {
        text.push_str(&format!(" ({r})"));
    }
    if clear {
        text.push_str(", with a clear answer from the SP");
    }
    text
}

/// The expectation in words, with logical user names (for scenarios that did not run).
pub fn describe(expectation: &Expectation) -> String {
    match expectation {
        Expectation::SignedIn { user, role: None } => format!("signed in as {user}"),
        Expectation::SignedIn {
            user,
            role: Some(role),
        } => format!("signed in as {user} with role {role}"),
        Expectation::Refused { reason, clear } => refused_words(reason.as_deref(), *clear),
        Expectation::NoEffect { user } => format!("refused, or signed in as {user} only"),
        Expectation::StaysOnOrigin => "no redirect to another origin".to_owned(),
        Expectation::SignedOut => SIGNED_OUT_WORDS.to_owned(),
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

const SIGNED_OUT_WORDS: &str =
    "signed out, with a signed logout message from the SP naming the session";

/// What the SP said in a Single Logout, as the mock IdP read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpLogoutMessage {
    /// The SP sent the IdP no logout message (no LogoutResponse to the IdP's request, or no
    /// LogoutRequest when its logout started).
    Missing {
        /// Which message was due.
        what: &'static str,
    },
    /// The SP's message, with what is wrong with it (empty: nothing).
    Sent {
        /// Which message.
        what: &'static str,
        /// Its problems.
        problems: Vec<String>,
    },
}

/// Overrides a `signed-out` pass when the SP's own part of the logout was missing or wrong:
/// the session ended, but the IdP was not told (or told in an unsigned message, or about
/// another session), so the user is still signed in there.
pub fn logout_message(
    judgement: Judgement,
    level: Level,
    severity: Severity,
    sp: &SpLogoutMessage,
) -> Judgement {
    if judgement.status != Status::Pass {
        return judgement;
    }
    let reason = match sp {
        SpLogoutMessage::Sent { problems, .. } if problems.is_empty() => return judgement,
        SpLogoutMessage::Sent { what, problems } => format!(
            "the session is over, but the SP's {what} is wrong: {}",
            problems.join("; ")
        ),
        SpLogoutMessage::Missing { what } => format!(
            "the session is over here, but the SP sent the IdP no {what} (SAML Profiles §4.4.3)"
        ),
    };
    let status = match level {
        Level::Must => Status::Fail,
        Level::Should | Level::Policy => Status::Warn,
    };
    Judgement {
        severity: (status == Status::Fail).then_some(severity),
        status,
        reason,
        expected: judgement.expected,
    }
}

/// Decides one scenario. `off_origin` is a redirect to another origin the SP sent the user
/// agent after the response, if any.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    expectation: &Expectation,
    level: Level,
    severity: Severity,
    scenario_user: &str,
    observation: &Observation,
    users: &dyn Identities,
    off_origin: Option<&str>,
    refusals: Refusals<'_>,
) -> Judgement {
    let who = |user: &str| users.identity(user).map(str::to_owned);
    let expected = match expectation {
        Expectation::SignedIn { user, role } => format!(
            "signed in as {}{}",
            who(user).unwrap_or_else(|| user.to_owned()),
            role.as_ref()
                .map(|r| format!(" with role {r}"))
                .unwrap_or_default()
        ),
        Expectation::Refused { reason, clear } => refused_words(reason.as_deref(), *clear),
        Expectation::NoEffect { user } => format!(
            "refused, or signed in as {} only",
            who(user).unwrap_or_else(|| user.to_owned())
        ),
        Expectation::StaysOnOrigin => "no redirect to another origin".to_owned(),
        Expectation::SignedOut => SIGNED_OUT_WORDS.to_owned(),
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
        Observation::SignedIn { identity, .. } => Some(identity.as_str()),
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
        Expectation::SignedIn { user, role } => {
            let Some(want) = who(user) else {
                return unknown_user(user);
            };
            let got_role = match observation {
                Observation::SignedIn { role, .. } => role.as_deref(),
                _ => None,
            };
            match signed_in_as {
                Some(got) if same(got, &want) => match (role, got_role) {
                    (None, _) => (true, format!("signed in as {want}, as expected")),
                    (Some(r), Some(g)) if same(r, g) => (
                        true,
                        format!("signed in as {want} with role {g}, as expected"),
                    ),
                    (Some(r), Some(g)) => {
                        (false, format!("signed in as {want} with role {g}, not {r}"))
                    }
                    (Some(r), None) => (
                        false,
                        format!("signed in as {want}, but the SP shows no role (expected {r})"),
                    ),
                },
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
        Expectation::SignedOut => match observation {
            Observation::SignedIn { identity, .. } => (
                false,
                format!("the SP kept the session of {identity} after a logout it must honour"),
            ),
            Observation::NotSignedIn {
                status: Some(status),
                reason,
                ..
            } => (
                false,
                format!(
                    "the session is over, but the SP answered the valid logout with an error page ({status}{})",
                    reason
                        .as_deref()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                ),
            ),
            _ => (true, "the session is over".to_owned()),
        },
        Expectation::Refused { reason, clear } => match observation {
            Observation::NotSignedIn {
                reason: shown,
                ended,
                password_form,
                ..
            } => refused_as_expected(
                reason.as_deref(),
                *clear,
                shown.as_deref(),
                ended.as_deref(),
                *password_form,
                refusals,
            ),
            _ => (
                false,
                format!(
                    "the SP accepted a response it must refuse and signed in {}",
                    signed_in_as.unwrap_or_default()
                ),
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

/// Whether a refusal is the expected one: the reason (when one is named) and, for `clear`, an
/// answer from the SP itself that is not a password form.
fn refused_as_expected(
    reason: Option<&str>,
    clear: bool,
    shown: Option<&str>,
    ended: Option<&str>,
    password_form: bool,
    refusals: Refusals<'_>,
) -> (bool, String) {
    if clear {
        if let Some(e) = ended {
            return (
                false,
                format!("nobody was signed in, but the user got no clear answer from the SP: {e}"),
            );
        }
        if password_form {
            return (
                false,
                "nobody was signed in, but the SP offered a password form instead".to_owned(),
            );
        }
    }
    let Some(name) = reason else {
        return (true, "refused, as expected".to_owned());
    };
    match (refusals.codes.and_then(|c| c.get(name)), shown) {
        (Some(code), Some(got)) if got == code => {
            (true, format!("refused with reason {got}, as expected"))
        }
        (Some(code), got) => (
            false,
            format!(
                "refused, but with reason {} instead of {code}",
                got.unwrap_or("(none shown)")
            ),
        ),
        (None, Some(got)) => (true, format!("refused with reason {got}")),
        (None, None) if refusals.readable => (
            false,
            format!("refused, but the SP showed no reason (expected: {name})"),
        ),
        (None, None) => (
            true,
            "refused, as expected (the target shows no reason to check)".to_owned(),
        ),
    }
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
            role: None,
        }
    }

    fn refused() -> Observation {
        Observation::NotSignedIn {
            status: Some(403),
            reason: Some("destination_mismatch".into()),
            ended: None,
            password_form: false,
        }
    }

    fn run(e: &Expectation, level: Level, o: &Observation) -> Judgement {
        judge(
            e,
            level,
            Severity::Critical,
            "member",
            o,
            &users(),
            None,
            Refusals::default(),
        )
    }

    const REFUSED: Expectation = Expectation::Refused {
        reason: None,
        clear: false,
    };

    #[test]
    fn signed_out_needs_the_session_gone_and_the_sps_own_message_right() {
        let kept = run(
            &Expectation::SignedOut,
            Level::Must,
            &signed_in("alice@corp.example"),
        );
        assert_eq!(kept.status, Status::Fail);
        assert!(kept.reason.contains("kept the session"), "{}", kept.reason);

        let error_page = run(&Expectation::SignedOut, Level::Must, &refused());
        assert_eq!(
            error_page.status,
            Status::Fail,
            "a refusal page is no clean logout"
        );
        assert!(
            error_page.reason.contains("403 destination_mismatch"),
            "{}",
            error_page.reason
        );
        let over = Observation::NotSignedIn {
            status: None,
            reason: None,
            ended: None,
            password_form: false,
        };
        let gone = run(&Expectation::SignedOut, Level::Must, &over);
        assert_eq!(gone.status, Status::Pass);
        let fine = SpLogoutMessage::Sent {
            what: "LogoutResponse",
            problems: Vec::new(),
        };
        let same = logout_message(gone.clone(), Level::Must, Severity::Medium, &fine);
        assert_eq!(same, gone);
        let unsigned = SpLogoutMessage::Sent {
            what: "LogoutResponse",
            problems: vec!["the SP's LogoutResponse is unsigned".into()],
        };
        let failed = logout_message(gone.clone(), Level::Must, Severity::Medium, &unsigned);
        assert_eq!(failed.status, Status::Fail);
        assert_eq!(failed.severity, Some(Severity::Medium));
        assert!(failed.reason.contains("unsigned"), "{}", failed.reason);
        let missing = SpLogoutMessage::Missing {
            what: "LogoutRequest",
        };
        let warned = logout_message(gone, Level::Should, Severity::Medium, &missing);
        assert_eq!(warned.status, Status::Warn);
        assert!(
            warned.reason.contains("no LogoutRequest"),
            "{}",
            warned.reason
        );
        // A failure stays what it was.
        assert_eq!(
            logout_message(kept.clone(), Level::Must, Severity::Low, &missing),
            kept
        );
    }

    #[test]
    fn roles_reasons_and_clear_answers_are_checked() {
        let e = Expectation::SignedIn {
            user: "member".into(),
            role: Some("member".into()),
        };
        let as_role = |role: Option<&str>| Observation::SignedIn {
            identity: "alice@corp.example".into(),
            role: role.map(str::to_owned),
        };
        assert_eq!(
            run(&e, Level::Must, &as_role(Some("member"))).status,
            Status::Pass
        );
        let j = run(&e, Level::Must, &as_role(Some("admin")));
        assert_eq!(j.status, Status::Fail);
        assert!(j.reason.contains("admin"), "{}", j.reason);
        assert_eq!(run(&e, Level::Must, &as_role(None)).status, Status::Fail);

        let codes: BTreeMap<String, String> =
            [("unknown-user".to_owned(), "unknown_user".to_owned())].into();
        let refusals = Refusals {
            readable: true,
            codes: Some(&codes),
        };
        let e = Expectation::Refused {
            reason: Some("unknown-user".into()),
            clear: true,
        };
        let not_in = |reason: Option<&str>, ended: Option<&str>, password_form: bool| {
            Observation::NotSignedIn {
                status: Some(403),
                reason: reason.map(str::to_owned),
                ended: ended.map(str::to_owned),
                password_form,
            }
        };
        let decide = |o: &Observation, r: Refusals<'_>| {
            judge(
                &e,
                Level::Must,
                Severity::Medium,
                "member",
                o,
                &users(),
                None,
                r,
            )
            .status
        };
        assert_eq!(
            decide(&not_in(Some("unknown_user"), None, false), refusals),
            Status::Pass
        );
        assert_eq!(
            decide(&not_in(Some("bad_credentials"), None, false), refusals),
            Status::Fail
        );
        assert_eq!(decide(&not_in(None, None, false), refusals), Status::Fail);
        assert_eq!(
            decide(
                &not_in(
                    Some("unknown_user"),
                    Some("the IdP refused the connection"),
                    false
                ),
                refusals
            ),
            Status::Fail
        );
        assert_eq!(
            decide(&not_in(Some("unknown_user"), None, true), refusals),
            Status::Fail
        );
        // A target without a code for the name: some reason must show; without an extractor,
        // nothing can be checked.
        let no_codes = Refusals {
            readable: true,
            codes: None,
        };
        assert_eq!(
            decide(&not_in(Some("whatever"), None, false), no_codes),
            Status::Pass
        );
        assert_eq!(decide(&not_in(None, None, false), no_codes), Status::Fail);
        assert_eq!(
            decide(&not_in(None, None, false), Refusals::default()),
            Status::Pass
        );
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
            Refusals::default(),
        );
        assert_eq!(j.status, Status::Fail);
        assert!(j.reason.contains("https://evil.test/"), "{}", j.reason);
        assert_eq!(run(&e, Level::Must, &o).status, Status::Pass);
    }

    #[test]
    fn signed_in_needs_the_right_identity_not_just_a_session() {
        let e = Expectation::SignedIn {
            user: "member".into(),
            role: None,
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
        let e = REFUSED;
        assert_eq!(run(&e, Level::Must, &refused()).status, Status::Pass);
        let j = run(&e, Level::Must, &signed_in("alice@corp.example"));
        assert_eq!(j.status, Status::Fail);
        assert_eq!(j.severity, Some(Severity::Critical));
        let none = Observation::NotSignedIn {
            status: None,
            reason: None,
            ended: None,
            password_form: false,
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
        let e = REFUSED;
        let o = Observation::Error {
            message: "connection refused".into(),
        };
        assert_eq!(run(&e, Level::Must, &o).status, Status::Error);
        let e = Expectation::SignedIn {
            user: "ghost".into(),
            role: None,
        };
        let j = run(&e, Level::Must, &refused());
        assert_eq!(j.status, Status::Error);
        assert!(j.reason.contains("ghost"), "{}", j.reason);
    }

    #[test]
    fn a_witness_fetch_fails_as_critical_even_when_the_sp_refused() {
        let refused_ok = run(&REFUSED, Level::Must, &refused());
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
