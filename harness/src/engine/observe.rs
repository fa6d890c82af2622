//! Observation: what the SP shows after an exchange, read the way the target file says (the
//! session probe, the refusal page), what the trace recorded of the SAML messages, which
//! transport failures make an exchange an error, and what the IdP's signatures vouched for.

use std::io::Read as _;

use base64::Engine as _;
use mock_idp::Plan;
use mock_idp::plan::{SignatureSelector, SigningLayout, Tamper};

use crate::driver::http::{Binding, Page, SamlSeen, origin};
use crate::driver::{Agent, DriverError};
use crate::env::Environment;
use crate::error::Error;
use crate::judge::Signed;
use crate::template::Vars;
use crate::verdict::{Evidence, Hop, Observation};

/// Asks the SP who is signed in (and, with `want_role`, with which role). Returns the
/// observation and a note for the evidence. A probe that gets no answer, or says "signed in"
/// without a readable identity, is an error.
pub(super) async fn probe(
    ua: &mut Agent,
    env: &Environment,
    vars: &Vars,
    want_role: bool,
) -> Result<(Observation, String), Error> {
    let session = &env.target().file.session;
    let url = vars.render(&session.probe_url)?;
    let page = ua
        .get(&url)
        .await
        .map_err(|e| transport(&e, "the session probe"))?;
    let excerpt: String = page.body.chars().take(300).collect();
    let note = format!("GET {url} -> {}: {excerpt}", page.status);
    if page.status != session.signed_in_status {
        return Ok((not_signed_in(), note));
    }
    match session.identity.extract(&page.body) {
        Some(identity) => {
            let role = if want_role {
                session.role.as_ref().and_then(|r| r.extract(&page.body))
            } else {
                None
            };
            Ok((Observation::SignedIn { identity, role }, note))
        }
        None => Err(Error::sp(format!(
            "the session probe answered {} (signed in) but the identity could not be read from it: {excerpt}",
            page.status
        ))),
    }
}

/// Nobody signed in, nothing more known yet.
pub(super) fn not_signed_in() -> Observation {
    Observation::NotSignedIn {
        status: None,
        reason: None,
        ended: None,
        password_form: false,
    }
}

/// A driver failure as an error of the harness, naming the hop: a transport failure (no
/// answer, a reset or closed connection, a timeout, an unreadable answer) at the SP or the
/// mock IdP, or a browser that could not be driven.
pub(super) fn transport(e: &DriverError, during: &str) -> Error {
    match e {
        DriverError::Request {
            method,
            url,
            message,
        } => Error::transport(format!(
            "{during}: no usable answer to {method} {url}: {message}"
        )),
        DriverError::TooManyHops(_) | DriverError::BadRedirect(_) => {
            Error::sp(format!("{during}: {e}"))
        }
        DriverError::Browser(_) => Error::harness(format!("{during}: {e}")),
    }
}

/// The hop a navigation failed at, when it failed there for want of an answer: such a
/// failure makes the scenario an error (never a refusal), whoever the hop was to.
pub(super) fn failed_hop(hops: &[Hop]) -> Option<&Hop> {
    hops.last().filter(|h| h.error.is_some())
}

/// Completes a not-signed-in observation with what the last page shows: its status and
/// refusal reason when it is one of the SP's error pages, whether it is a password form, and
/// `ended` when the attempt did not end at the SP.
pub(super) fn refusal_from(
    observation: Observation,
    page: Option<&Page>,
    env: &Environment,
    ended: Option<String>,
) -> Observation {
    let Observation::NotSignedIn { status, reason, .. } = observation else {
        return observation;
    };
    let sp_page = page.filter(|p| origin(&p.url) == origin(env.sp_base()));
    let error_page = sp_page.filter(|p| p.status >= 400);
    Observation::NotSignedIn {
        status: status.or(error_page.map(|p| p.status)),
        reason: reason.or_else(|| {
            error_page.and_then(|p| {
                env.target()
                    .file
                    .refusal
                    .as_ref()
                    .and_then(|r| r.reason.extract(&p.body))
            })
        }),
        ended: ended.or_else(|| match page {
            Some(p) if sp_page.is_none() => Some(format!(
                "the attempt ended at {} (HTTP {})",
                origin(&p.url),
                p.status
            )),
            _ => None,
        }),
        password_form: sp_page.is_some_and(|p| has_password_field(&p.body)),
    }
}

/// Whether an HTML page has a password input.
fn has_password_field(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("type=\"password\"")
        || lower.contains("type='password'")
        || lower.contains("type=password")
}

/// Puts the decoded AuthnRequest and Response of a navigation into the evidence.
pub(super) fn record_saml(seen: &SamlSeen, evidence: &mut Evidence) {
    if let Some((binding, value)) = &seen.request {
        evidence.authn_request = decode_saml(value, *binding == Binding::Redirect)
            .map(|xml| mock_idp::xml::pretty(&xml));
    }
    if let Some(form) = &seen.response_post
        && let Some((_, value)) = form.fields.iter().find(|(k, _)| k == "SAMLResponse")
    {
        evidence.response = decode_saml(value, false).map(elide_middle);
    }
}

/// The binding the SP sent its AuthnRequest with, from the trace.
pub(crate) fn authn_request_binding(hops: &[Hop]) -> Option<&'static str> {
    hops.iter().filter(|h| h.to == "idp").find_map(|h| {
        if h.form.iter().any(|(k, _)| k == "SAMLRequest") {
            Some("HTTP-POST")
        } else if h.url.contains("SAMLRequest=") {
            Some("HTTP-Redirect")
        } else {
            None
        }
    })
}

/// The most of a decoded message the evidence keeps; a padded response (a size or
/// decompression scenario) keeps its start and end around a note of what was left out.
const MAX_EVIDENCE_XML: usize = 64 * 1024;

fn elide_middle(xml: String) -> String {
    if xml.len() <= MAX_EVIDENCE_XML {
        return xml;
    }
    let half = MAX_EVIDENCE_XML / 2;
    let head = xml.floor_char_boundary(half);
    let tail = xml.ceil_char_boundary(xml.len() - half);
    format!(
        "{}\n<!-- saml-harness: {} bytes left out of the evidence -->\n{}",
        &xml[..head],
        tail - head,
        &xml[tail..]
    )
}

/// Decodes a SAML message: base64, then DEFLATE for the Redirect binding. `None` when it is
/// neither (a wrong-binding scenario may send anything).
pub fn decode_saml(value: &str, deflated: bool) -> Option<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let bytes = if deflated {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[..])
            .take(1 << 20)
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).ok()
}

/// What the IdP's trusted signatures vouch for in the response a rendered plan makes:
/// nothing when no trusted signature covers the assertion (no signature, all removed, an
/// attacker's key, an HMAC keyed with public bytes); otherwise the plan's user, NameIDs the IdP
/// itself set or signed in a second assertion, and attribute values. `settings` are the
/// scenario's: `idp-metadata=rsa-1024` publishes the 1024-bit key, which then is trusted.
pub(super) fn signed_by_the_idp(plan: &Plan, settings: &[String], user_email: &str) -> Signed {
    let asserted: Vec<String> = plan.attributes.values().flatten().cloned().collect();
    let layout = plan
        .signing
        .layout
        .unwrap_or_else(|| plan.flavour.default_layout());
    let published_1024 = settings.iter().any(|s| s == "idp-metadata=rsa-1024");
    let trusted_key = plan.signing.key.is_trusted()
        || (published_1024 && plan.signing.key == mock_idp::KeyChoice::AttackerRsa1024);
    let symmetric = plan.signing.algorithm.is_some_and(|a| a.is_hmac());
    let mut response_signed = layout.signs_response();
    let mut assertion_signed = layout.signs_assertion();
    for t in &plan.tamper {
        if let Tamper::RemoveSignature { which } = t {
            match which {
                SignatureSelector::All => {
                    response_signed = false;
                    assertion_signed = false;
                }
                SignatureSelector::Response => response_signed = false,
                SignatureSelector::Assertion => assertion_signed = false,
            }
        }
    }
    let covered = layout != SigningLayout::None
        && trusted_key
        && !symmetric
        && (response_signed || assertion_signed);
    if !covered {
        return Signed {
            identities: Vec::new(),
            asserted,
        };
    }
    let mut identities = vec![plan.user.clone().unwrap_or_else(|| user_email.to_owned())];
    for a in &plan.alter {
        if let mock_idp::plan::Alteration::NameId { value } = a {
            identities.push(value.clone());
        }
    }
    for t in &plan.tamper {
        if let Tamper::SecondSignedAssertion { name_id } = t {
            identities.push(name_id.clone());
        }
    }
    identities.extend(asserted.iter().cloned());
    Signed {
        identities,
        asserted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_responses_keep_their_ends_in_the_evidence_and_say_what_was_left_out() {
        let small = "<samlp:Response/>".to_owned();
        assert_eq!(elide_middle(small.clone()), small);
        let big = format!("<r>{}é{}</r>", "a".repeat(40_000), "b".repeat(40_000));
        let kept = elide_middle(big.clone());
        assert!(kept.len() < MAX_EVIDENCE_XML + 100, "{}", kept.len());
        assert!(kept.starts_with("<r>aaa") && kept.ends_with("bbb</r>"));
        let left_out = big.len() - (kept.len() - kept.lines().nth(1).map_or(0, str::len) - 2);
        assert!(
            kept.contains(&format!(
                "<!-- saml-harness: {left_out} bytes left out of the evidence -->"
            )),
            "{}",
            kept.lines().nth(1).unwrap_or_default()
        );
    }

    #[test]
    fn only_trusted_signatures_vouch_for_an_identity() {
        let alice = "alice@corp.example";
        let mut plan = Plan::default();
        assert_eq!(signed_by_the_idp(&plan, &[], alice).identities, [alice]);
        plan.tamper.push(Tamper::Xsw {
            variant: 3,
            name_id: "admin@corp.example".into(),
        });
        assert_eq!(
            signed_by_the_idp(&plan, &[], alice).identities,
            [alice],
            "a wrapped identity is not signed"
        );
        plan.tamper = vec![Tamper::RemoveSignature {
            which: SignatureSelector::Response,
        }];
        assert!(
            !signed_by_the_idp(&plan, &[], alice).identities.is_empty(),
            "both signed: the assertion keeps its own"
        );
        plan.tamper = vec![Tamper::RemoveSignature {
            which: SignatureSelector::All,
        }];
        assert!(signed_by_the_idp(&plan, &[], alice).identities.is_empty());
        let mut attacker = Plan::default();
        attacker.signing.key = mock_idp::KeyChoice::AttackerRsa1024;
        assert!(
            signed_by_the_idp(&attacker, &[], alice)
                .identities
                .is_empty()
        );
        assert!(
            !signed_by_the_idp(&attacker, &["idp-metadata=rsa-1024".into()], alice)
                .identities
                .is_empty(),
            "a key the metadata publishes is trusted"
        );
        let mut unsigned = Plan::default();
        unsigned.signing.layout = Some(SigningLayout::None);
        assert!(
            signed_by_the_idp(&unsigned, &[], alice)
                .identities
                .is_empty()
        );
    }

    #[test]
    fn the_authn_request_binding_is_read_from_the_trace() {
        let hop = |url: &str, form: Vec<(String, String)>| Hop {
            to: "idp".into(),
            method: "GET".into(),
            url: url.into(),
            form,
            status: Some(200),
            location: None,
            body_excerpt: None,
            duration_ms: 0,
            error: None,
        };
        assert_eq!(
            authn_request_binding(&[hop("http://i/sso?SAMLRequest=x", Vec::new())]),
            Some("HTTP-Redirect")
        );
        assert_eq!(
            authn_request_binding(&[hop(
                "http://i/sso",
                vec![("SAMLRequest".into(), "x".into())]
            )]),
            Some("HTTP-POST")
        );
        assert_eq!(authn_request_binding(&[]), None);
    }
}
