//! One login with the mock IdP, and where the SP then shows who is signed in.
//!
//! The login goes through the SP's login URL (SP-initiated) and, when that signs nobody in,
//! through the mock IdP's IdP-initiated start. Then the candidate session probes are asked,
//! with the user agent's cookies and without them: a probe is one whose answer names the user
//! with the session and has another status without it (the harness tells "signed in" from
//! "not signed in" by the status, then reads the identity from the body).

use std::time::Duration;

use crate::driver::http::{Binding, SamlSeen, UserAgent, origin, resolve};
use crate::env::Environment;
use crate::target::Extractor;

/// Paths many SPs and frameworks answer "who am I?" on, tried after the probe URLs given and
/// the page the login ended on. Only GETs, never followed.
const COMMON_PROBES: &[&str] = &[
    "/me",
    "/whoami",
    "/api/me",
    "/api/user",
    "/api/session",
    "/userinfo",
    "/session",
    "/user",
    "/profile",
    "/account",
    "/me.php",
    "/whoami.php",
    "/",
];

/// How a login signed the user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRoute {
    /// Through the SP's login URL; the SP's AuthnRequest came over this binding.
    SpInitiated {
        /// `HTTP-Redirect` or `HTTP-POST`.
        binding: &'static str,
    },
    /// Only an unsolicited response from the mock IdP signed the user in.
    IdpInitiated,
}

/// Where the SP shows who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProbe {
    /// The probe URL, as fetched.
    pub url: String,
    /// Its status with the session.
    pub signed_in_status: u16,
    /// Its status without one.
    pub signed_out_status: u16,
    /// How the identity is read from its body.
    pub identity: Extractor,
    /// Why this URL was tried (`--probe-url`, the page the login ended on, a common path).
    pub origin: &'static str,
}

/// What the login attempts found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginFinding {
    /// How a login signed the user in (none: no login did).
    pub route: Option<LoginRoute>,
    /// The binding of the SP's AuthnRequest, when it sent one to the mock IdP.
    pub authn_request_binding: Option<&'static str>,
    /// What each attempt did, in words.
    pub attempts: Vec<String>,
    /// The session probe, when one was found.
    pub probe: Option<IdentityProbe>,
    /// Each candidate probe that was not it, and why.
    pub rejected_probes: Vec<String>,
    /// Whether an email the SP cannot know was signed in too (no accounts of its own), when
    /// a probe was found to ask.
    pub anyone_signed_in: Option<bool>,
}

/// What discovery needs besides the environment.
#[derive(Debug, Clone)]
pub(super) struct Discovery<'a> {
    /// The login URL (may use `{user.email}` and the `{sp.*}` placeholders).
    pub(super) login_url: &'a str,
    /// Probe URLs given by the user (absolute, or paths on the SP).
    pub(super) probe_urls: &'a [String],
    /// The SP's entityID, from its metadata.
    pub(super) entity_id: &'a str,
    /// The ACS URL, never a probe.
    pub(super) acs_url: &'a str,
    /// The member's email.
    pub(super) email: &'a str,
    /// Every request's timeout.
    pub(super) step_timeout: Duration,
}

/// One login attempt's user agent and what it saw.
struct Attempt {
    ua: UserAgent,
    seen: SamlSeen,
    landing: Option<String>,
    summary: String,
}

/// Tries the logins and looks for the session probe.
pub(super) async fn discover(env: &Environment, d: &Discovery<'_>) -> LoginFinding {
    let mut finding = LoginFinding::default();
    let mut found = None;
    match attempt(env, d, d.email, false).await {
        Ok(mut a) => {
            finding
                .attempts
                .push(format!("SP-initiated login: {}", a.summary));
            finding.authn_request_binding = binding_of(&a.seen);
            let candidates = candidates(env, d, &a);
            found = find_probe(env, d, &mut a.ua, &candidates, &mut finding.rejected_probes).await;
            if found.is_some() {
                finding.route = finding
                    .authn_request_binding
                    .map(|binding| LoginRoute::SpInitiated { binding });
            }
        }
        Err(e) => finding.attempts.push(format!("SP-initiated login: {e}")),
    }
    if found.is_none() {
        // An SP whose login URL does not work (or that only takes unsolicited responses):
        // the mock IdP's IdP-initiated start.
        match attempt(env, d, d.email, true).await {
            Ok(mut a) => {
                finding
                    .attempts
                    .push(format!("IdP-initiated login: {}", a.summary));
                let candidates = candidates(env, d, &a);
                let mut rejected = Vec::new();
                found = find_probe(env, d, &mut a.ua, &candidates, &mut rejected).await;
                if found.is_some() {
                    finding.route = Some(LoginRoute::IdpInitiated);
                } else {
                    finding.rejected_probes.extend(
                        rejected
                            .into_iter()
                            .map(|r| format!("{r} (after the IdP-initiated login)")),
                    );
                }
            }
            Err(e) => finding.attempts.push(format!("IdP-initiated login: {e}")),
        }
    }
    if let Some(probe) = &found {
        // An email no SP account can have: signed in too, the SP has no accounts of its own
        // (whoever the IdP names is signed in, as with just-in-time provisioning).
        let stranger = format!("init-{}@corp.example", std::process::id());
        let idp_initiated = finding.route == Some(LoginRoute::IdpInitiated);
        if let Ok(mut a) = attempt(env, d, &stranger, idp_initiated).await {
            finding.anyone_signed_in = match a.ua.get(&probe.url).await {
                Ok(page) if page.status == probe.signed_in_status => Some(
                    probe
                        .identity
                        .extract(&page.body)
                        .is_some_and(|who| who.eq_ignore_ascii_case(&stranger)),
                ),
                Ok(_) => Some(false),
                Err(_) => None,
            };
        }
    }
    finding.probe = found;
    finding
}

/// The binding of the AuthnRequest the SP sent, if it sent one.
fn binding_of(seen: &SamlSeen) -> Option<&'static str> {
    seen.request.as_ref().map(|(b, _)| match b {
        Binding::Redirect => "HTTP-Redirect",
        Binding::Post => "HTTP-POST",
    })
}

/// One login as `email`: through the login URL, or (`idp_initiated`) the mock IdP's start.
async fn attempt(
    env: &Environment,
    d: &Discovery<'_>,
    email: &str,
    idp_initiated: bool,
) -> Result<Attempt, String> {
    let idp_base = env.idp().base_url().to_owned();
    let mut ua = UserAgent::new(env.sp_base(), &idp_base, d.step_timeout)
        .map_err(|e| format!("failed to make a user agent: {e}"))?;
    let plan = mock_idp::Plan {
        user: Some(email.to_owned()),
        ..mock_idp::Plan::default()
    };
    let plan_id = env.idp().idp().create_plan(plan);
    ua.add_cookie(
        &format!("{}={plan_id}; Path=/", mock_idp::server::PLAN_COOKIE),
        &idp_base,
    );
    let url = if idp_initiated {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("sp", d.entity_id)
            .append_pair("user", email)
            .append_pair("plan", plan_id.as_str());
        format!("{idp_base}/idp-initiated?{}", query.finish())
    } else {
        let vars = env.vars().with(&[
            ("user.email", email),
            ("user.name", "member"),
            ("user.password", ""),
        ]);
        let rendered = vars
            .render(d.login_url)
            .map_err(|e| format!("failed to fill the login URL {}: {e}", d.login_url))?;
        resolve(env.sp_base(), &rendered).unwrap_or(rendered)
    };
    let mut seen = SamlSeen::default();
    let page = ua.navigate("GET", &url, Vec::new(), &mut seen).await;
    let sp = origin(env.sp_base());
    let landing = match &page {
        Ok(p) if origin(&p.url) == sp => Some(p.url.clone()),
        _ => None,
    };
    let summary = summarize(&url, &idp_base, &seen, &page, idp_initiated);
    Ok(Attempt {
        ua,
        seen,
        landing,
        summary,
    })
}

/// An attempt in words: how far it got.
fn summarize(
    url: &str,
    idp_base: &str,
    seen: &SamlSeen,
    page: &Result<crate::driver::Page, crate::driver::DriverError>,
    idp_initiated: bool,
) -> String {
    let ended = match page {
        Ok(p) => format!("ended on {} ({})", p.url, p.status),
        Err(e) => format!("stopped: {e}"),
    };
    if let Some(elsewhere) = &seen.off_origin_redirect {
        // The query (an AuthnRequest, a signature) says nothing a person needs here.
        let elsewhere = elsewhere.split(['?', '#']).next().unwrap_or(elsewhere);
        return format!(
            "GET {url}: the SP sent the browser to {elsewhere}, neither the SP nor the mock IdP ({idp_base}): the SP trusts another IdP. Let init start the SP with the mock IdP's metadata URL (`-- COMMAND`, with {{idp.metadata_url}}), or configure the SP with the metadata of `saml-harness idp serve --bind ADDR --state DIR` and give init the same --idp-bind and --idp-state"
        );
    }
    if !idp_initiated && seen.request.is_none() {
        return format!(
            "GET {url}: no AuthnRequest reached the mock IdP ({ended}); is this the URL that starts the SP's SAML login?"
        );
    }
    match (&seen.response_post, &seen.after_response) {
        (None, _) => format!(
            "GET {url}: the mock IdP sent no response to the SP ({ended}); does the SP's AuthnRequest name its metadata's entityID and ACS?"
        ),
        (Some(_), Some(after)) => format!(
            "{}the SP answered the response with {} at {}, {ended}",
            binding_of(seen)
                .map(|b| format!("AuthnRequest over {b}; "))
                .unwrap_or_default(),
            after.status,
            after.url
        ),
        (Some(_), None) => format!("the response was posted to the SP; {ended}"),
    }
}

/// The URLs to try as the session probe, in order, without duplicates or the ACS.
fn candidates(env: &Environment, d: &Discovery<'_>, a: &Attempt) -> Vec<(String, &'static str)> {
    let base = env.sp_base().trim_end_matches('/');
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for given in d.probe_urls {
        let rendered = env.vars().render(given).unwrap_or_else(|_| given.clone());
        if let Some(url) = resolve(base, &rendered) {
            out.push((url, "--probe-url"));
        }
    }
    let sp = origin(base);
    for url in [
        a.landing.clone(),
        a.seen.after_response.as_ref().map(|p| p.url.clone()),
    ]
    .into_iter()
    .flatten()
    {
        if origin(&url) == sp {
            out.push((url, "the page the login ended on"));
        }
    }
    out.extend(
        COMMON_PROBES
            .iter()
            .map(|p| (format!("{base}{p}"), "a common path")),
    );
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(url, _)| {
        url != d.acs_url && !url.contains("SAMLResponse") && seen.insert(url.clone())
    });
    out
}

/// The first candidate that names the user with the session and answers another status
/// without it; every other one is listed in `rejected` with the reason (the ones given by
/// the user always, the common paths only when they named the user).
async fn find_probe(
    env: &Environment,
    d: &Discovery<'_>,
    ua: &mut UserAgent,
    candidates: &[(String, &'static str)],
    rejected: &mut Vec<String>,
) -> Option<IdentityProbe> {
    let idp_base = env.idp().base_url().to_owned();
    for (url, why) in candidates {
        let verbose = *why != "a common path";
        let page = match ua.get(url).await {
            Ok(p) => p,
            Err(e) => {
                if verbose {
                    rejected.push(format!("{url} ({why}): no answer: {e}"));
                }
                continue;
            }
        };
        if !contains_ignore_case(&page.body, d.email) {
            if verbose {
                rejected.push(format!(
                    "{url} ({why}): answered {} without {} in it",
                    page.status, d.email
                ));
            }
            continue;
        }
        let Some(identity) = extractor_for(&page.body, d.email) else {
            rejected.push(format!(
                "{url} ({why}): names {} but no JSON pointer or regular expression reads it back",
                d.email
            ));
            continue;
        };
        let Ok(mut anonymous) = UserAgent::new(env.sp_base(), &idp_base, d.step_timeout) else {
            continue;
        };
        let signed_out = match anonymous.get(url).await {
            Ok(p) => p,
            Err(e) => {
                rejected.push(format!(
                    "{url} ({why}): names the user, but without a session: no answer: {e}"
                ));
                continue;
            }
        };
        if signed_out.status == page.status {
            rejected.push(format!(
                "{url} ({why}): names the user, but answers {} without a session too (the harness needs a status that differs)",
                page.status
            ));
            continue;
        }
        return Some(IdentityProbe {
            url: url.clone(),
            signed_in_status: page.status,
            signed_out_status: signed_out.status,
            identity,
            origin: why,
        });
    }
    None
}

fn contains_ignore_case(body: &str, needle: &str) -> bool {
    body.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// A way to read `email` back out of `body`: a JSON pointer to a string equal to it (a key
/// with `mail` in its name first), else a regular expression anchored on the text before it;
/// only one that really reads `email` back from `body`.
pub(super) fn extractor_for(body: &str, email: &str) -> Option<Extractor> {
    let works = |e: &Extractor| {
        e.extract(body)
            .is_some_and(|v| v.eq_ignore_ascii_case(email))
    };
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let mut pointers = Vec::new();
        json_pointers_to(&json, email, String::new(), &mut pointers);
        // A key about mail first, then the shallowest: the SP's own "who" beside the
        // attributes it quotes.
        pointers.sort_by_key(|p| {
            (
                !p.rsplit('/')
                    .next()
                    .is_some_and(|k| k.to_ascii_lowercase().contains("mail")),
                p.matches('/').count(),
            )
        });
        if let Some(e) = pointers
            .into_iter()
            .map(Extractor::JsonPointer)
            .find(|e| works(e))
        {
            return Some(e);
        }
    }
    let lower = body.to_ascii_lowercase();
    let at = lower.find(&email.to_ascii_lowercase())?;
    let before = &body[..at];
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| !matches!(c, '\n' | '>'))
        .take(40)
        .last()
        .map_or(at, |(i, _)| i);
    let prefix = &body[start..at];
    let value = r#"([^<>"'\s]+)"#;
    let mut tries = Vec::new();
    if !prefix.trim().is_empty() {
        tries.push(Extractor::Regex(format!(
            "{}{value}",
            regex::escape(prefix)
        )));
    }
    tries.push(Extractor::Regex(
        r#"([^<>"'\s:;,()]+@[^<>"'\s:;,()]*[^<>"'\s:;,().])"#.to_owned(),
    ));
    tries.into_iter().find(|e| works(e))
}

fn json_pointers_to(value: &serde_json::Value, email: &str, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.eq_ignore_ascii_case(email) => out.push(at),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_pointers_to(item, email, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let token = k.replace('~', "~0").replace('/', "~1");
                json_pointers_to(v, email, format!("{at}/{token}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_get_a_pointer_to_the_email() {
        let body = r#"{"name_id":"alice@corp.example","user":{"email":"alice@corp.example"}}"#;
        assert_eq!(
            extractor_for(body, "alice@corp.example"),
            Some(Extractor::JsonPointer("/user/email".to_owned()))
        );
        let shallow =
            r#"{"attributes":{"email":"alice@corp.example"},"email":"alice@corp.example"}"#;
        assert_eq!(
            extractor_for(shallow, "alice@corp.example"),
            Some(Extractor::JsonPointer("/email".to_owned()))
        );
        let odd = r#"{"a/b":["x","alice@corp.example"]}"#;
        assert_eq!(
            extractor_for(odd, "alice@corp.example"),
            Some(Extractor::JsonPointer("/a~1b/1".to_owned()))
        );
    }

    #[test]
    fn html_bodies_get_a_regex_on_the_text_before_the_email() {
        let body = "<html><p>Signed in as alice@corp.example</p></html>";
        let e = extractor_for(body, "alice@corp.example").expect("found");
        assert_eq!(
            e,
            Extractor::Regex(r#"Signed in as ([^<>"'\s]+)"#.to_owned())
        );
        // It reads another user the same way.
        assert_eq!(
            e.extract("<p>Signed in as bob@corp.example</p>").as_deref(),
            Some("bob@corp.example")
        );
        // An email at the start of a line, followed by a full stop: the generic pattern.
        let bare = "alice@corp.example.\n";
        assert_eq!(
            extractor_for(bare, "alice@corp.example")
                .and_then(|e| e.extract(bare))
                .as_deref(),
            Some("alice@corp.example")
        );
        assert_eq!(extractor_for("<p>nobody</p>", "alice@corp.example"), None);
    }
}
