//! The judge: compares what the SP did (an [`Observation`]) with what the scenario expects.
//!
//! The verdict rests on the session probe and the identity it yields, never on an HTTP status
//! alone: a 200 page that says "error" while a session exists is a login, and a 302 to a
//! friendly page without a session is a refusal.

use mock_idp::exchange::LogoutAnswered;

use crate::scenario::{Expectation, Level, Recommended, Severity};
use crate::verdict::{Observation, Status};

/// The judge's decision before evidence and timing are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The status.
    pub status: Status,
    /// The severity when the status is a failure.
    pub severity: Option<Severity>,
    /// Why that severity (set by [`decide`]).
    pub severity_reason: Option<String>,
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
        /// Which of two LogoutRequests in one query (a signed one, a smuggled unsigned one) a
        /// LogoutResponse answers, when the IdP sent two.
        answered: Option<mock_idp::exchange::LogoutAnswered>,
    },
}

/// Overrides a `signed-out` pass when the SP's own part of the logout was missing or wrong:
/// the session ended, but the IdP was not told (or told in an unsigned message, or about
/// another session), so the user is still signed in there.
fn logout_message(
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
        SpLogoutMessage::Sent { what, problems, .. } => format!(
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
        severity_reason: None,
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
        severity_reason: None,
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

/// What the IdP's valid signatures vouch for in a scenario's response: the identities a
/// session may legitimately be for, and the roles the response asserted. An empty list of
/// identities means no trusted signature covers the assertion (unsigned, signatures removed,
/// an attacker's key): then any session at all is a forgery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signed {
    /// Identities a trusted signature covers (the NameID and attribute values), as sent.
    pub identities: Vec<String>,
    /// Values of the response's attributes (roles and groups an SP must not take as grants).
    pub asserted: Vec<String>,
}

impl Signed {
    /// Whether `identity` is one a trusted signature covers.
    pub fn covers(&self, identity: &str) -> bool {
        self.identities
            .iter()
            .any(|i| i.trim().eq_ignore_ascii_case(identity.trim()))
    }
}

/// A scenario's control as the judge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlState<'a> {
    /// The scenario expects the positive outcome itself (or is a control).
    Own,
    /// The control reached its positive outcome.
    Reached {
        /// The control in words.
        name: &'a str,
    },
    /// The control did not reach it (or could not run).
    NotReached {
        /// The control in words.
        name: &'a str,
        /// What it showed (or why it could not run).
        observed: &'a str,
    },
}

/// Everything the SP did in a scenario that the judge weighs.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The main observation (the session afterwards).
    pub observation: &'a Observation,
    /// A redirect to another origin after the response.
    pub off_origin: Option<&'a str>,
    /// The SP's own logout message, in a logout flow.
    pub sp_logout: Option<&'a SpLogoutMessage>,
    /// The witness URL and how many requests reached it, when the SP fetched it.
    pub fetched: Option<(&'a str, usize)>,
    /// What the IdP's signatures vouched for in the response the session came from (`None`:
    /// no response led to it, e.g. a password login).
    pub signed: Option<&'a Signed>,
}

/// The scenario as the judge weighs it.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// What the SP must do.
    pub expectation: &'a Expectation,
    /// How binding the rule is.
    pub level: Level,
    /// The severity of the non-conformance alone (never `critical`: that takes evidence).
    pub severity: Severity,
    /// The scenario's logical user.
    pub user: &'a str,
    /// Whether the flow is a logout flow (the positive outcome is then "signed out").
    pub logout_flow: bool,
    /// Whether the observation is a later look at the session (the `session` flow: no response
    /// was posted last), so that "refused" means "no longer signed in".
    pub session_flow: bool,
}

/// Decides a scenario's verdict from everything it showed: the expectation against the
/// observation, the SP's own logout message, a witness fetch, the control's result, and the
/// severity from what happened.
pub fn decide(
    case: &Case<'_>,
    seen: &Seen<'_>,
    control: ControlState<'_>,
    users: &dyn Identities,
    refusals: Refusals<'_>,
) -> Judgement {
    let mut j = judge(
        case.expectation,
        case.level,
        case.severity,
        case.user,
        seen.observation,
        users,
        seen.off_origin,
        refusals,
    );
    if matches!(case.expectation, Expectation::SignedOut)
        && let Some(message) = seen.sp_logout
    {
        j = logout_message(j, case.level, case.severity, message);
    }
    if case.logout_flow && j.status != Status::Pass {
        let answered = match seen.sp_logout {
            Some(SpLogoutMessage::Sent { answered, .. }) => *answered,
            _ => None,
        };
        match (case.expectation, seen.observation) {
            (Expectation::SignedIn { .. }, Observation::NotSignedIn { .. }) => match answered {
                Some(LogoutAnswered::SmuggledRequest) => {
                    "the SP ended the session on the unsigned LogoutRequest smuggled after the signed one: its LogoutResponse answers that request"
                        .clone_into(&mut j.reason);
                }
                // It acted on the signed request: the session ended for what that request
                // says, not because of what was smuggled after it.
                Some(LogoutAnswered::SignedRequest) => {
                    return Judgement {
                        status: Status::Inconclusive,
                        severity: None,
                        severity_reason: None,
                        reason: "nothing was tested: the SP's LogoutResponse answers the signed LogoutRequest, not the smuggled one, and the session ended on what the signed request itself says (another NameID or SessionIndex than this session's: see logout/wrong-name-id); whether the SP would act on a smuggled request cannot be told".to_owned(),
                        expected: j.expected,
                    };
                }
                None => {
                    "the SP ended the session on a logout message it must refuse"
                        .clone_into(&mut j.reason);
                }
            },
            (Expectation::Refused { .. }, Observation::NotSignedIn { status: None, .. }) => {
                "the SP answered the logout message without refusing it (no error page, no reason): it took the message as valid"
                    .clone_into(&mut j.reason);
            }
            _ => {}
        }
    }
    if case.session_flow
        && j.status != Status::Pass
        && let (Expectation::Refused { .. }, Observation::SignedIn { identity, .. }) =
            (case.expectation, seen.observation)
    {
        j.reason = format!(
            "the SP still had {identity} signed in when asked after the steps: the session outlived the end the scenario set"
        );
    }
    if let Some((url, requests)) = seen.fetched {
        j = Judgement {
            status: Status::Fail,
            severity: Some(Severity::Critical),
            severity_reason: None,
            reason: format!(
                "the SP fetched {url} ({requests} request{}) while handling the response: it dereferences URLs from untrusted XML; {}",
                if requests == 1 { "" } else { "s" },
                j.reason
            ),
            expected: j.expected,
        };
    }
    if let ControlState::NotReached { name, observed } = control
        && matches!(j.status, Status::Pass | Status::Warn)
        && rests_on_inaction(case, seen.observation)
    {
        return Judgement {
            status: Status::Inconclusive,
            severity: None,
            severity_reason: None,
            reason: format!(
                "nothing was tested: the control ({name}) did not {} ({observed}), so the SP's {} may have any cause",
                if case.logout_flow {
                    "end the session"
                } else {
                    "sign in"
                },
                if case.logout_flow {
                    "inaction"
                } else {
                    "refusal"
                },
            ),
            expected: j.expected,
        };
    }
    if j.status == Status::Fail {
        let (severity, why) = severity(case, seen);
        j.severity = Some(severity);
        j.severity_reason = Some(why);
    }
    j
}

/// Whether a passing (or warning) judgement rests on the SP *not* doing something (no
/// session, a session kept after a logout message, no redirect), which a control that does
/// not reach its positive outcome makes meaningless.
fn rests_on_inaction(case: &Case<'_>, observation: &Observation) -> bool {
    match observation {
        Observation::NotSignedIn { .. } => !case.logout_flow,
        Observation::SignedIn { .. } => case.logout_flow,
        Observation::Error { .. } => false,
    }
}

/// The severity of a failure, from what happened, and why.
fn severity(case: &Case<'_>, seen: &Seen<'_>) -> (Severity, String) {
    if let Some((url, _)) = seen.fetched {
        return (
            Severity::Critical,
            format!("critical: the SP fetched {url}, a URL only the response named"),
        );
    }
    if let (Observation::SignedIn { identity, role }, Some(signed)) =
        (seen.observation, seen.signed)
    {
        if !case.logout_flow && !signed.covers(identity) {
            let why = if signed.identities.is_empty() {
                format!(
                    "critical: {identity} signed in on a response no trusted signature covers (the identity was the attacker's to choose)"
                )
            } else {
                format!(
                    "critical: {identity} signed in, while the IdP signed for {}",
                    signed.identities.join(", ")
                )
            };
            return (Severity::Critical, why);
        }
        if let (
            Expectation::SignedIn {
                role: Some(want), ..
            },
            Some(got),
        ) = (case.expectation, role)
            && !got.eq_ignore_ascii_case(want)
            && signed.asserted.iter().any(|a| a.eq_ignore_ascii_case(got))
        {
            return (
                Severity::Critical,
                format!(
                    "critical: the SP gave role {got}, which only the response's attributes asserted (expected {want})"
                ),
            );
        }
    }
    (
        case.severity,
        format!(
            "{}: the rule's; no forged identity, gained privilege or fetch was seen",
            case.severity.as_str()
        ),
    )
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
            answered: None,
        };
        let same = logout_message(gone.clone(), Level::Must, Severity::Medium, &fine);
        assert_eq!(same, gone);
        let unsigned = SpLogoutMessage::Sent {
            what: "LogoutResponse",
            problems: vec!["the SP's LogoutResponse is unsigned".into()],
            answered: None,
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

    fn case(expectation: &Expectation) -> Case<'_> {
        Case {
            expectation,
            level: Level::Must,
            severity: Severity::High,
            user: "member",
            logout_flow: false,
            session_flow: false,
        }
    }

    fn seen<'a>(observation: &'a Observation, signed: &'a Signed) -> Seen<'a> {
        Seen {
            observation,
            off_origin: None,
            sp_logout: None,
            fetched: None,
            signed: Some(signed),
        }
    }

    /// [`decide`] for a scenario of `case(e)` that is its own control.
    fn own(e: &Expectation, o: &Observation, signed: &Signed) -> Judgement {
        controlled(e, o, signed, ControlState::Own)
    }

    /// [`decide`] for a scenario of `case(e)` with `control`.
    fn controlled(
        e: &Expectation,
        o: &Observation,
        signed: &Signed,
        control: ControlState<'_>,
    ) -> Judgement {
        decide(
            &case(e),
            &seen(o, signed),
            control,
            &users(),
            Refusals::default(),
        )
    }

    fn alice() -> Signed {
        Signed {
            identities: vec!["alice@corp.example".to_owned()],
            asserted: vec!["admin".to_owned()],
        }
    }

    #[test]
    fn a_witness_fetch_fails_as_critical_even_when_the_sp_refused() {
        let signed = alice();
        let observed = refused();
        let mut s = seen(&observed, &signed);
        s.fetched = Some(("http://127.0.0.1:9/w/t", 2));
        let j = decide(
            &case(&REFUSED),
            &s,
            ControlState::Own,
            &users(),
            Refusals::default(),
        );
        assert_eq!(j.status, Status::Fail);
        assert_eq!(j.severity, Some(Severity::Critical));
        assert!(
            j.reason
                .starts_with("the SP fetched http://127.0.0.1:9/w/t (2 requests)"),
            "{}",
            j.reason
        );
        assert!(
            j.severity_reason
                .as_deref()
                .is_some_and(|r| r.contains("fetched"))
        );
        assert_eq!(j.expected, "refused");
    }

    #[test]
    fn critical_takes_another_identity_than_the_signed_one() {
        let signed = alice();
        // The signed identity accepted where a refusal was due: the rule's severity.
        let o = signed_in("alice@corp.example");
        let j = own(&REFUSED, &o, &signed);
        assert_eq!(j.status, Status::Fail);
        assert_eq!(j.severity, Some(Severity::High));
        assert!(
            j.severity_reason
                .as_deref()
                .is_some_and(|r| r.contains("no forged identity"))
        );
        // Another identity: critical, saying whom the IdP signed for.
        let o = signed_in("admin@corp.example");
        let j = own(&REFUSED, &o, &signed);
        assert_eq!(j.severity, Some(Severity::Critical));
        assert!(
            j.severity_reason
                .as_deref()
                .is_some_and(|r| r.contains("while the IdP signed for alice@corp.example")),
            "{:?}",
            j.severity_reason
        );
        // Nothing signed at all: any session is a forgery.
        let unsigned = Signed::default();
        let o = signed_in("alice@corp.example");
        let j = own(&REFUSED, &o, &unsigned);
        assert_eq!(j.severity, Some(Severity::Critical));
        // A role the attributes asserted is a privilege gained.
        let e = Expectation::SignedIn {
            user: "member".into(),
            role: Some("member".into()),
        };
        let o = Observation::SignedIn {
            identity: "alice@corp.example".into(),
            role: Some("admin".into()),
        };
        let j = own(&e, &o, &signed);
        assert_eq!(j.severity, Some(Severity::Critical));
        let o = Observation::SignedIn {
            identity: "alice@corp.example".into(),
            role: Some("api".into()),
        };
        let j = own(&e, &o, &signed);
        assert_eq!(j.severity, Some(Severity::High));
    }

    #[test]
    fn a_refusal_whose_control_failed_is_inconclusive_never_a_pass() {
        let signed = alice();
        let o = refused();
        let failed = ControlState::NotReached {
            name: "a valid sp-initiated login as member, signed at the assertion",
            observed: "refused (403 signature_missing)",
        };
        let j = controlled(&REFUSED, &o, &signed, failed);
        assert_eq!(j.status, Status::Inconclusive);
        assert_eq!(j.severity, None);
        assert!(
            j.reason.contains("signed at the assertion") && j.reason.contains("signature_missing"),
            "{}",
            j.reason
        );
        // The same refusal with a control that signed in: a pass.
        let reached = ControlState::Reached { name: "x" };
        assert_eq!(
            controlled(&REFUSED, &o, &signed, reached).status,
            Status::Pass
        );
        // A session where a refusal was due fails whatever the control showed.
        let o = signed_in("admin@corp.example");
        let j = controlled(&REFUSED, &o, &signed, failed);
        assert_eq!(j.status, Status::Fail);
        // no-effect with the signed identity signed in rests on an acceptance: not inconclusive.
        let e = Expectation::NoEffect {
            user: "member".into(),
        };
        let o = signed_in("alice@corp.example");
        assert_eq!(controlled(&e, &o, &signed, failed).status, Status::Pass);
        // A logout flow: a session kept after a bad LogoutRequest proves nothing when a valid
        // one does not end it either.
        let e = Expectation::SignedIn {
            user: "member".into(),
            role: None,
        };
        let mut c = case(&e);
        c.logout_flow = true;
        let o = signed_in("alice@corp.example");
        let j = decide(
            &c,
            &seen(&o, &signed),
            failed,
            &users(),
            Refusals::default(),
        );
        assert_eq!(j.status, Status::Inconclusive);
        assert!(j.reason.contains("end the session"), "{}", j.reason);
    }

    #[test]
    fn a_session_still_there_when_asked_later_is_called_that_not_an_accepted_response() {
        let signed = alice();
        let o = signed_in("alice@corp.example");
        let mut c = case(&REFUSED);
        c.session_flow = true;
        let j = decide(
            &c,
            &seen(&o, &signed),
            ControlState::Own,
            &users(),
            Refusals::default(),
        );
        assert_eq!(j.status, Status::Fail);
        assert!(
            j.reason
                .contains("still had alice@corp.example signed in when asked"),
            "{}",
            j.reason
        );
        assert!(!j.reason.contains("accepted a response"), "{}", j.reason);
        // Elsewhere the wording stays that of a response.
        assert!(
            own(&REFUSED, &o, &signed)
                .reason
                .contains("accepted a response")
        );
    }

    #[test]
    fn a_smuggled_logout_fails_only_when_the_sp_answered_the_smuggled_request() {
        let signed = alice();
        let e = Expectation::SignedIn {
            user: "member".into(),
            role: None,
        };
        let mut c = case(&e);
        c.logout_flow = true;
        let over = Observation::NotSignedIn {
            status: None,
            reason: None,
            ended: None,
            password_form: false,
        };
        let judged = |answered| {
            let sp = SpLogoutMessage::Sent {
                what: "LogoutResponse",
                problems: Vec::new(),
                answered,
            };
            let seen = Seen {
                sp_logout: Some(&sp),
                ..seen(&over, &signed)
            };
            decide(
                &c,
                &seen,
                ControlState::Reached { name: "x" },
                &users(),
                Refusals::default(),
            )
        };
        let smuggled = judged(Some(LogoutAnswered::SmuggledRequest));
        assert_eq!(smuggled.status, Status::Fail);
        assert!(smuggled.reason.contains("smuggled"), "{}", smuggled.reason);
        // The session ended on the signed request's own content: not the smuggling's doing.
        let signed_one = judged(Some(LogoutAnswered::SignedRequest));
        assert_eq!(signed_one.status, Status::Inconclusive);
        assert!(
            signed_one
                .reason
                .contains("answers the signed LogoutRequest"),
            "{}",
            signed_one.reason
        );
        // No answer to tell them apart: the session ended on a message that had to be refused.
        assert_eq!(judged(None).status, Status::Fail);
    }
}
