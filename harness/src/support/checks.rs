//! Every check diagnose runs on a captured response, each tied to a rule id of the catalogue
//! (`scenarios/_rules.toml`), each reported (never stopping at the first failure) as pass,
//! fail or skip-with-the-reason, with its evidence, the fix for the IdP admin in the detected
//! product's words, the fix for the SP admin, and the reason code the reference SP would have
//! refused with.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::facts::{self, Facts, Instant, SignedElement, looks_like_email};
use super::input::{Binding, Capture};
use super::metadata::{IdpFacts, SpFacts};
use super::product::{self, Detection, Product};
use super::signature::{self, SignatureReport, SignedBy};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const UNSPECIFIED_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// Attribute names IdPs commonly carry the email in.
pub const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "Email",
    "emailAddress",
    "EmailAddress",
    "emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "urn:oid:1.2.840.113549.1.9.1",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "http://schemas.xmlsoap.org/claims/EmailAddress",
    "user.email",
];

/// What diagnose knows beside the capture.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The SP's metadata.
    pub sp: Option<SpFacts>,
    /// The IdP's metadata or certificate.
    pub idp: Option<IdpFacts>,
    /// The email the user typed at the SP.
    pub entered_email: Option<String>,
    /// The attribute the SP reads the email from (overrides the SP metadata).
    pub email_attribute: Option<String>,
    /// The instant to judge times against (`--at`); else the capture's own time.
    pub at: Option<DateTime<Utc>>,
    /// The clock skew the SP allows, in seconds.
    pub clock_skew_seconds: i64,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The response meets the rule.
    Pass,
    /// It does not.
    Fail,
    /// Not decidable from what was given (the evidence says why).
    Skip,
}

impl Outcome {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable name (`signature.key`).
    pub id: &'static str,
    /// The rule id in `scenarios/_rules.toml`.
    pub rule: &'static str,
    /// What is checked, in a few words.
    pub title: &'static str,
    /// The outcome.
    pub outcome: Outcome,
    /// What was seen (or why it could not be decided).
    pub evidence: String,
    /// What the IdP admin should change, in the detected product's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_idp: Option<String>,
    /// What the SP admin should change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_sp: Option<String>,
    /// The reason code the reference SP refuses such a response with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_reason: Option<&'static str>,
}

/// Where the SP reads the user's email from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "from", content = "name")]
pub enum EmailSource {
    /// The NameID.
    NameId,
    /// A named attribute.
    Attribute(String),
    /// Not known (no SP metadata, no `--email-attribute`).
    Unknown,
}

/// The instant times are judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeBase {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Where it came from.
    pub source: String,
}

/// A short account of what the response says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The Issuer (the Response's, else the Assertion's).
    pub issuer: Option<String>,
    /// The status code's last segment.
    pub status: Option<String>,
    /// The NameID.
    pub name_id: Option<String>,
    /// The NameID format.
    pub name_id_format: Option<String>,
    /// What is signed, in words.
    pub signed: String,
    /// Attributes: name and values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// The SP's email source as far as diagnose knows it.
    pub email_source: EmailSource,
}

/// The whole diagnosis of one capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Which capture.
    pub capture: String,
    /// How it travelled.
    pub binding: Binding,
    /// Where the browser delivered it, when the capture says.
    pub delivered_to: Option<String>,
    /// The IdP product.
    pub idp: Detection,
    /// The time base, if any.
    pub time: Option<TimeBase>,
    /// What the response says.
    pub summary: Summary,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The signature look, in full.
    pub signatures: SignatureReport,
}

impl Diagnosis {
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail)
    }

    /// The reference SP's reason for the first failure in its own order of checks, i.e. the
    /// refusal the reference SP would have shown.
    pub fn expected_refusal(&self) -> Option<&'static str> {
        const ORDER: &[&str] = &[
            "wrong_binding",
            "version_invalid",
            "status_not_success",
            "assertion_missing",
            "multiple_assertions",
            "signature_missing",
            "signature_misplaced",
            "signature_algorithm_refused",
            "reference_uri_invalid",
            "signature_invalid",
            "assertion_not_signed",
            "destination_mismatch",
            "destination_missing",
            "issuer_mismatch",
            "issuer_missing",
            "issue_instant_invalid",
            "in_response_to_unknown",
            "in_response_to_mismatch",
            "subject_confirmation_missing",
            "subject_confirmation_invalid",
            "recipient_mismatch",
            "subject_confirmation_expired",
            "assertion_not_yet_valid",
            "assertion_expired",
            "conditions_invalid",
            "audience_missing",
            "audience_mismatch",
            "authn_statement_missing",
            "session_expired",
            "name_id_format_invalid",
            "identity_missing",
            "email_mismatch",
        ];
        let failed: Vec<&str> = self.failures().filter_map(|c| c.sp_reason).collect();
        ORDER.iter().copied().find(|r| failed.contains(r))
    }
}

/// Runs every check on one capture.
pub fn diagnose(capture: &Capture, ctx: &Context) -> Result<Diagnosis, String> {
    let facts = Facts::read(&capture.xml)?;
    let idp = product::detect(&facts);
    let trusted = ctx
        .idp
        .as_ref()
        .map(|i| i.certificates.clone())
        .unwrap_or_default();
    let signatures = signature::analyse(&capture.xml, &facts, &trusted);
    let time = match (ctx.at, capture.captured_at) {
        (Some(at), _) => Some(TimeBase {
            at,
            source: "--at".to_owned(),
        }),
        (None, Some(at)) => Some(TimeBase {
            at,
            source: "the capture's time".to_owned(),
        }),
        (None, None) => None,
    };
    let email_source = email_source(ctx);
    let run = Run {
        facts: &facts,
        ctx,
        capture,
        product: idp.product,
        signatures: &signatures,
        time: time.as_ref(),
        email_source: &email_source,
    };
    let checks = run.all();
    let summary = Summary {
        issuer: facts
            .issuer
            .as_ref()
            .or_else(|| facts.assertion.as_ref().and_then(|a| a.issuer.as_ref()))
            .map(|i| i.value.clone()),
        status: facts
            .status
            .as_deref()
            .map(|s| s.rsplit(':').next().unwrap_or(s).to_owned()),
        name_id: facts.assertion.as_ref().and_then(|a| a.name_id.clone()),
        name_id_format: facts
            .assertion
            .as_ref()
            .and_then(|a| a.name_id_format.clone()),
        signed: signed_words(&facts),
        attributes: facts
            .assertion
            .iter()
            .flat_map(|a| a.attributes.iter())
            .map(|a| (a.name.clone(), a.values.clone()))
            .collect(),
        email_source,
    };
    Ok(Diagnosis {
        capture: capture.label.clone(),
        binding: capture.binding,
        delivered_to: capture.delivered_to.clone(),
        idp,
        time,
        summary,
        checks,
        signatures,
    })
}

fn signed_words(facts: &Facts) -> String {
    match (facts.response_signed(), facts.assertion_signed()) {
        (true, true) => "the Response and the Assertion".to_owned(),
        (true, false) => "the Response only".to_owned(),
        (false, true) => "the Assertion only".to_owned(),
        (false, false) if facts.signatures.is_empty() => "nothing".to_owned(),
        (false, false) => {
            "neither the Response nor the Assertion (a signature sits elsewhere)".to_owned()
        }
    }
}

fn email_source(ctx: &Context) -> EmailSource {
    if let Some(name) = &ctx.email_attribute {
        return EmailSource::Attribute(name.clone());
    }
    let Some(sp) = &ctx.sp else {
        return EmailSource::Unknown;
    };
    let emailish =
        |n: &str| EMAIL_ATTRIBUTES.contains(&n) || n.to_ascii_lowercase().contains("mail");
    if let Some((name, _)) = sp
        .requested_attributes
        .iter()
        .find(|(name, friendly)| emailish(name) || friendly.as_deref().is_some_and(emailish))
    {
        return EmailSource::Attribute(name.clone());
    }
    if sp.name_id_formats.iter().any(|f| f == EMAIL_FORMAT) {
        return EmailSource::NameId;
    }
    EmailSource::Unknown
}

struct Run<'a> {
    facts: &'a Facts,
    ctx: &'a Context,
    capture: &'a Capture,
    product: Product,
    signatures: &'a SignatureReport,
    time: Option<&'a TimeBase>,
    email_source: &'a EmailSource,
}

fn check(id: &'static str, rule: &'static str, title: &'static str) -> Check {
    Check {
        id,
        rule,
        title,
        outcome: Outcome::Pass,
        evidence: String::new(),
        fix_idp: None,
        fix_sp: None,
        sp_reason: None,
    }
}

impl Check {
    fn pass(mut self, evidence: impl Into<String>) -> Self {
        self.outcome = Outcome::Pass;
        self.evidence = evidence.into();
        self
    }

    fn skip(mut self, why: impl Into<String>) -> Self {
        self.outcome = Outcome::Skip;
        self.evidence = why.into();
        self
    }

    fn fail(mut self, evidence: impl Into<String>, sp_reason: &'static str) -> Self {
        self.outcome = Outcome::Fail;
        self.evidence = evidence.into();
        self.sp_reason = Some(sp_reason);
        self
    }

    fn idp(mut self, fix: impl Into<String>) -> Self {
        self.fix_idp = Some(fix.into());
        self
    }

    fn sp(mut self, fix: impl Into<String>) -> Self {
        self.fix_sp = Some(fix.into());
        self
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), |v| format!("{v:?}"))
}

fn seconds(d: Duration) -> String {
    let s = d.num_seconds().abs();
    if s >= 120 {
        format!("{s} s ({} min {} s)", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

impl Run<'_> {
    fn all(&self) -> Vec<Check> {
        vec![
            self.binding(),
            self.version(),
            self.status(),
            self.has_assertion(),
            self.one_assertion(),
            self.signature_present(),
            self.signature_placement(),
            self.signature_algorithm(),
            self.signature_key(),
            self.signature_valid(),
            self.assertion_signed_policy(),
            self.response_issuer(),
            self.assertion_issuer(),
            self.destination(),
            self.bearer(),
            self.recipient(),
            self.in_response_to(),
            self.issue_instant(),
            self.confirmation_time(),
            self.conditions_time(),
            self.audience(),
            self.authn_statement(),
            self.name_id_format(),
            self.email_attribute(),
            self.entered_email(),
        ]
    }

    fn acs(&self) -> Option<(Vec<String>, &'static str)> {
        match (&self.ctx.sp, &self.capture.delivered_to) {
            (Some(sp), _) if !sp.acs_urls.is_empty() => {
                Some((sp.acs_urls.clone(), "the SP metadata's ACS URL"))
            }
            (_, Some(url)) => Some((vec![url.clone()], "the URL the browser posted it to")),
            _ => None,
        }
    }

    fn binding(&self) -> Check {
        let c = check(
            "binding",
            "PROF-4.1.2-NoRedirectResponse",
            "The response travels by HTTP-POST",
        );
        match self.capture.binding {
            Binding::Redirect => c
                .fail(
                    "the SAMLResponse came in a URL query string (HTTP-Redirect); SSO responses must be POSTed",
                    "wrong_binding",
                )
                .idp("Set the SP's ACS binding at the IdP to HTTP-POST.")
                .sp("List the ACS in the SP metadata with Binding HTTP-POST only."),
            Binding::Post => c.pass("a base64 SAMLResponse form field (HTTP-POST)"),
            Binding::Unknown => c.skip("the capture does not say how the response travelled"),
        }
    }

    fn version(&self) -> Check {
        let c = check("version", "CORE-3.2.2-Version", "Version is 2.0");
        let assertion = self
            .facts
            .assertion
            .as_ref()
            .and_then(|a| a.version.as_deref());
        match (self.facts.version.as_deref(), assertion) {
            (Some("2.0"), Some("2.0") | None) => c.pass("Version=\"2.0\""),
            (r, a) => c.fail(
                format!(
                    "Response Version {}, Assertion Version {}",
                    shown(r),
                    shown(a)
                ),
                "version_invalid",
            ),
        }
    }

    fn status(&self) -> Check {
        let c = check("status", "CORE-3.2.2.2-Status", "The IdP answered Success");
        match self.facts.status.as_deref() {
            Some(SUCCESS) => c.pass("StatusCode Success"),
            other => {
                let code = other.unwrap_or("(none)");
                let detail = self.facts.status_detail.as_deref();
                let last = |s: &str| s.rsplit(':').next().unwrap_or(s).to_owned();
                let mut evidence = format!("StatusCode {}", last(code));
                if let Some(d) = detail {
                    evidence.push_str(&format!(" / {}", last(d)));
                }
                if let Some(m) = &self.facts.status_message {
                    evidence.push_str(&format!(", StatusMessage {m:?}"));
                }
                let fix = match detail.map(last).as_deref() {
                    Some("InvalidNameIDPolicy") => format!(
                        "The SP asked for a NameID format the IdP is not set to send. {}",
                        self.product.fix_name_id(EMAIL_FORMAT)
                    ),
                    Some("RequestDenied") if self.product == Product::Entra => "Entra refused the user (often AADSTS50105: the user is not assigned to the application): Enterprise applications > (the app) > Users and groups > Add user/group.".to_owned(),
                    Some("RequestDenied") | Some("AuthnFailed") => format!(
                        "{} refused to sign the user in: check that the user is assigned to this application and that sign-in succeeded (the IdP's sign-in logs name the reason).",
                        self.product.name()
                    ),
                    _ => format!(
                        "{} answered with an error instead of an assertion: its sign-in log names the reason.",
                        self.product.name()
                    ),
                };
                c.fail(evidence, "status_not_success")
                    .idp(fix)
                    .sp("Nothing to change at the SP: the IdP refused the login before any assertion was made.")
            }
        }
    }

    fn has_assertion(&self) -> Check {
        let c = check(
            "assertion",
            "PROF-4.1.4.2-HasAssertion",
            "A successful response carries an assertion",
        );
        if self.facts.status.as_deref() != Some(SUCCESS) {
            return c.skip("an error response carries no assertion (see status)");
        }
        if self.facts.assertion_count == 0 {
            c.fail("no saml:Assertion in the response", "assertion_missing")
        } else {
            c.pass(format!("{} assertion(s)", self.facts.assertion_count))
        }
    }

    fn one_assertion(&self) -> Check {
        let c = check(
            "assertion.count",
            "SDP-IDP10-OneAssertion",
            "Exactly one assertion",
        );
        match self.facts.assertion_count {
            0 => c.skip("no assertion (see assertion)"),
            1 => c.pass("one assertion"),
            n => c.fail(
                format!("{n} assertions; SPs accept exactly one (a second one is also how signature-wrapping attacks look)"),
                "multiple_assertions",
            ),
        }
    }

    fn signature_present(&self) -> Check {
        let c = check(
            "signature.present",
            "PROF-4.1.4.5-SignedOverPost",
            "The assertion is covered by a signature",
        );
        if self.facts.response_signed() || self.facts.assertion_signed() {
            c.pass(format!("signed: {}", signed_words(self.facts)))
        } else if self.facts.status.as_deref() != Some(SUCCESS) {
            c.skip("an error response (see status); nothing to sign")
        } else {
            c.fail(
                format!("signed: {}", signed_words(self.facts)),
                "signature_missing",
            )
            .idp(self.product.fix_signing())
            .sp("Never accept an unsigned response; if the SP has a \"require signed assertions\" option, keep it on.")
        }
    }

    fn signature_placement(&self) -> Check {
        let c = check(
            "signature.reference",
            "CORE-5.4.2-ReferenceURI",
            "Each signature covers the element that holds it",
        );
        if self.facts.signatures.is_empty() {
            return c.skip("no signature");
        }
        let bad: Vec<String> = self
            .facts
            .signatures
            .iter()
            .filter(|s| matches!(s.on, SignedElement::Other(_)) || !s.references_parent)
            .map(|s| {
                format!(
                    "a signature on {} references {:?}",
                    s.on.label(),
                    s.references
                )
            })
            .collect();
        if bad.is_empty() {
            c.pass("each signature is enveloped in the element it references (#ID)")
        } else {
            let reason = if self
                .facts
                .signatures
                .iter()
                .any(|s| matches!(s.on, SignedElement::Other(_)))
            {
                "signature_misplaced"
            } else {
                "reference_uri_invalid"
            };
            c.fail(bad.join("; "), reason)
                .sp("Treat this response as hostile: a signature that does not cover its own element is a signature-wrapping shape.")
        }
    }

    fn signature_algorithm(&self) -> Check {
        let c = check(
            "signature.algorithm",
            "ALG-Policy",
            "SHA-256 or stronger signature and digest",
        );
        if self.facts.signatures.is_empty() {
            return c.skip("no signature");
        }
        let weak: Vec<String> = self
            .facts
            .signatures
            .iter()
            .flat_map(|s| {
                s.algorithm
                    .iter()
                    .chain(s.digest_algorithms.iter())
                    .filter(|a| {
                        let a = a.to_ascii_lowercase();
                        a.ends_with("sha1") || a.contains("md5") || a.contains("hmac")
                    })
                    .cloned()
            })
            .collect();
        let used: Vec<String> = self
            .facts
            .signatures
            .iter()
            .filter_map(|s| s.algorithm.clone())
            .map(|a| a.rsplit('#').next().unwrap_or(&a).to_owned())
            .collect();
        if weak.is_empty() {
            c.pass(format!("algorithms: {}", used.join(", ")))
        } else {
            c.fail(
                format!("weak algorithms: {}", weak.join(", ")),
                "signature_algorithm_refused",
            )
            .idp(match self.product {
                Product::Adfs => "Set-AdfsRelyingPartyTrust -TargetName \"(the SP)\" -SignatureAlgorithm http://www.w3.org/2001/04/xmldsig-more#rsa-sha256".to_owned(),
                Product::Entra => "Entra ID: Single sign-on > SAML Certificates > Edit: set \"Signing Algorithm\" to SHA-256.".to_owned(),
                _ => "Configure the IdP to sign with RSA-SHA256 (and SHA-256 digests).".to_owned(),
            })
        }
    }

    fn signature_key(&self) -> Check {
        let c = check(
            "signature.key",
            "SDP-SP37-KeyRollover",
            "Signed with a key from the IdP's metadata",
        );
        if self.facts.signatures.is_empty() {
            return c.skip("no signature");
        }
        let carried = || {
            self.signatures
                .key_info_certs
                .iter()
                .map(|c| c.describe())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let Some(idp) = &self.ctx.idp else {
            return c.skip(format!(
                "no --idp-metadata or --idp-cert to verify against; the message carries: {}",
                if self.signatures.key_info_certs.is_empty() {
                    "no certificate".to_owned()
                } else {
                    carried()
                }
            ));
        };
        let metadata = idp
            .certificates
            .iter()
            .enumerate()
            .map(|(i, c)| format!("#{} {}", i + 1, c.describe()))
            .collect::<Vec<_>>()
            .join("; ");
        let by_metadata = self
            .signatures
            .signatures
            .iter()
            .find_map(|s| match s.signed_by {
                SignedBy::Metadata(i) => Some(i),
                _ => None,
            });
        if self.signatures.verified_with_metadata == Some(true) || by_metadata.is_some() {
            let which = by_metadata
                .and_then(|i| idp.certificates.get(i))
                .map_or_else(|| "a metadata certificate".to_owned(), |c| c.describe());
            return c.pass(format!("signed with {which}"));
        }
        let rolled = self.signatures.verified_with_key_info == Some(true)
            || self
                .signatures
                .signatures
                .iter()
                .any(|s| s.signed_by == SignedBy::KeyInfoOnly);
        let evidence = if rolled {
            format!(
                "signed with a key the IdP metadata does not list (the certificate rolled?): the message's certificate is {}; the metadata has {metadata}",
                carried()
            )
        } else {
            format!(
                "no metadata certificate verifies the signature (metadata: {metadata}); the message carries {}",
                if self.signatures.key_info_certs.is_empty() {
                    "no certificate".to_owned()
                } else {
                    carried()
                }
            )
        };
        c.fail(evidence, "signature_invalid")
            .idp(self.product.fix_certificate())
            .sp(if rolled {
                "Add the IdP's new signing certificate (fingerprint above) to the SP's SSO settings, keeping the old one until the IdP has switched; better, configure the SP from the IdP's metadata URL so rollovers are picked up.".to_owned()
            } else {
                "Check that the SP holds the IdP's current signing certificate.".to_owned()
            })
    }

    fn signature_valid(&self) -> Check {
        let c = check(
            "signature.valid",
            "CORE-3.2.2-ResponseSigValid",
            "Every signature verifies (content unchanged since signing)",
        );
        if self.facts.signatures.is_empty() {
            return c.skip("no signature");
        }
        if self.signatures.verified_with_metadata == Some(true) {
            return c
                .pass("every signature verifies with the IdP metadata's certificates (xmlsec)");
        }
        let changed: Vec<String> = self
            .signatures
            .signatures
            .iter()
            .filter(|s| s.digest_matches == Some(false))
            .map(|s| {
                format!(
                    "the digest of {} does not match: it was changed after signing",
                    s.on.label()
                )
            })
            .collect();
        if !changed.is_empty() {
            return c
                .fail(changed.join("; "), "signature_invalid")
                .idp("Something between the IdP and the browser (a proxy, a browser extension, a copy-and-paste) changed the signed XML; capture a fresh response.")
                .sp("Never accept it: edited signed content is what an attacker sends.");
        }
        match (
            self.signatures.verified_with_metadata,
            self.signatures.verified_with_key_info,
        ) {
            (Some(true), _) => c.pass("every signature verifies with the IdP metadata's certificates (xmlsec)"),
            (_, Some(true)) => c.pass(
                "intact: every signature verifies with the certificate the message carries (which proves integrity, not trust: see signature.key)",
            ),
            (None, None) => c.skip(
                "no certificate to verify with: pass --idp-metadata or --idp-cert (the message carries none)",
            ),
            _ => c
                .fail(
                    "a signature does not verify with any certificate given or carried",
                    "signature_invalid",
                )
                .sp("Check that the SP holds the IdP's current signing certificate."),
        }
    }

    fn assertion_signed_policy(&self) -> Check {
        let c = check(
            "signature.assertion",
            "META-WantAssertionsSigned",
            "The assertion is signed when the SP wants signed assertions",
        );
        match &self.ctx.sp {
            Some(sp) if sp.want_assertions_signed => {
                if self.facts.assertion_signed() {
                    c.pass("the SP wants signed assertions and the Assertion is signed")
                } else {
                    c.fail(
                        format!(
                            "the SP metadata says WantAssertionsSigned=\"true\"; signed: {}",
                            signed_words(self.facts)
                        ),
                        "assertion_not_signed",
                    )
                    .idp(self.product.fix_signing())
                }
            }
            Some(_) => c.skip("the SP metadata does not ask for signed assertions"),
            None => c.skip("no --sp-metadata to say whether the SP wants signed assertions"),
        }
    }

    fn issuer_check(
        &self,
        c: Check,
        issuer: Option<&facts::Issuer>,
        required: bool,
        what: &str,
    ) -> Check {
        let expected = self.ctx.idp.as_ref().and_then(|i| i.entity_id.as_deref());
        match (issuer, expected) {
            (None, _) if !required => c.pass(format!("the {what} has no Issuer (allowed when unsigned)")),
            (None, _) => c
                .fail(format!("the {what} has no Issuer"), if what == "Response" { "issuer_missing" } else { "issuer_mismatch" }),
            (Some(i), None) => c.skip(format!(
                "Issuer {:?}; no --idp-metadata to compare it with",
                i.value
            )),
            (Some(i), Some(e)) if i.value != e => c
                .fail(
                    format!("the {what} Issuer is {:?}; the IdP metadata's entityID is {e:?}", i.value),
                    "issuer_mismatch",
                )
                .idp(self.product.fix_issuer(e))
                .sp(format!(
                    "If {:?} is the right IdP, configure the SP with that IdP's metadata (entityID {:?}); a second tenant or app at the IdP has its own entityID.",
                    i.value, i.value
                )),
            (Some(i), Some(_)) => match i.format.as_deref() {
                None | Some(ENTITY_FORMAT) => c.pass(format!("Issuer {:?} is the IdP's entityID", i.value)),
                Some(f) => c.fail(
                    format!("the {what} Issuer has Format {f:?}; only entity (or none) is allowed"),
                    "issuer_mismatch",
                ),
            },
        }
    }

    fn response_issuer(&self) -> Check {
        let c = check(
            "issuer.response",
            "PROF-4.1.4.2-ResponseIssuer",
            "The Response's Issuer is the IdP's entityID",
        );
        self.issuer_check(
            c,
            self.facts.issuer.as_ref(),
            self.facts.response_signed(),
            "Response",
        )
    }

    fn assertion_issuer(&self) -> Check {
        let c = check(
            "issuer.assertion",
            "PROF-4.1.4.2-AssertionIssuer",
            "The Assertion's Issuer is the IdP's entityID",
        );
        match &self.facts.assertion {
            None => c.skip("no assertion"),
            Some(a) => self.issuer_check(c, a.issuer.as_ref(), true, "Assertion"),
        }
    }

    fn destination(&self) -> Check {
        let signed = self.facts.response_signed();
        let rule = if signed && self.facts.destination.is_none() {
            "BIND-3.5.5.2-DestinationIfSigned"
        } else {
            "CORE-3.2.2-Destination"
        };
        let c = check("destination", rule, "Destination is the SP's ACS URL");
        let value = self.facts.destination.as_deref();
        let Some((acs, from)) = self.acs() else {
            return c.skip(format!(
                "Destination {}; no --sp-metadata and the capture does not say where it was posted",
                shown(value)
            ));
        };
        match value {
            Some(d) if acs.iter().any(|a| a == d) => c.pass(format!("Destination {d:?} is {from}")),
            Some(d) => c
                .fail(format!("Destination is {d:?}; {from} is {:?}", acs[0]), "destination_mismatch")
                .idp(self.product.fix_acs(&acs[0]))
                .sp(format!(
                    "If {d:?} is how users reach the SP (another host name, a proxy, http vs https), register it as an ACS URL in the SP or fix the public URL the SP believes it has."
                )),
            None if signed => c
                .fail("the signed Response has no Destination", "destination_missing")
                .idp(self.product.fix_acs(&acs[0])),
            None => c.pass("no Destination (allowed: the Response is unsigned)"),
        }
    }

    fn bearer(&self) -> Check {
        let c = check(
            "subject.bearer",
            "PROF-4.1.4.2-BearerSubject",
            "A bearer SubjectConfirmation with data",
        );
        let Some(a) = &self.facts.assertion else {
            return c.skip("no assertion");
        };
        match self.facts.bearer() {
            None => c.fail(
                format!(
                    "no bearer SubjectConfirmationData (methods: {:?})",
                    a.confirmations
                        .iter()
                        .map(|c| c.method.clone().unwrap_or_default())
                        .collect::<Vec<_>>()
                ),
                "subject_confirmation_missing",
            ),
            Some(b) if b.not_before.text.is_some() => c.fail(
                format!(
                    "the bearer confirmation carries NotBefore {} (it MUST NOT, Profiles §4.1.4.2)",
                    shown(b.not_before.text.as_deref())
                ),
                "subject_confirmation_invalid",
            ),
            Some(_) => c.pass("a bearer SubjectConfirmation with SubjectConfirmationData"),
        }
    }

    fn recipient(&self) -> Check {
        let c = check(
            "recipient",
            "PROF-4.1.4.3-Recipient",
            "Recipient is the SP's ACS URL",
        );
        let Some(b) = self.facts.bearer() else {
            return c.skip("no bearer confirmation (see subject.bearer)");
        };
        let value = b.recipient.as_deref();
        let Some((acs, from)) = self.acs() else {
            return c.skip(format!(
                "Recipient {}; no --sp-metadata and the capture does not say where it was posted",
                shown(value)
            ));
        };
        match value {
            Some(r) if acs.iter().any(|a| a == r) => c.pass(format!("Recipient {r:?} is {from}")),
            other => c
                .fail(
                    format!("Recipient is {}; {from} is {:?}", shown(other), acs[0]),
                    "recipient_mismatch",
                )
                .idp(self.product.fix_acs(&acs[0])),
        }
    }

    fn in_response_to(&self) -> Check {
        let c = check(
            "in-response-to",
            "PROF-4.1.4.3-SCD-InResponseTo",
            "InResponseTo is consistent (and answers the SP's request)",
        );
        let response = self.facts.in_response_to.as_deref();
        let scd = self
            .facts
            .bearer()
            .and_then(|b| b.in_response_to.as_deref());
        if self.facts.bearer().is_some() && response != scd {
            return c.fail(
                format!(
                    "the Response answers {}, the confirmation answers {}",
                    shown(response),
                    shown(scd)
                ),
                "in_response_to_mismatch",
            );
        }
        let Some(irt) = response.or(scd) else {
            return c.pass("no InResponseTo: an unsolicited (IdP-initiated) response; the SP must allow IdP-initiated sign-in, or the user should start at the SP");
        };
        if self.capture.request_ids.is_empty() {
            return c.pass(format!(
                "InResponseTo {irt:?} on the Response and the confirmation (the capture holds no AuthnRequest to compare with)"
            ));
        }
        if self.capture.request_ids.iter().any(|r| r == irt) {
            c.pass(format!(
                "InResponseTo {irt:?} answers the AuthnRequest the capture shows"
            ))
        } else {
            c.fail(
                format!(
                    "InResponseTo {irt:?} answers none of the AuthnRequests in the capture ({:?})",
                    self.capture.request_ids
                ),
                "in_response_to_unknown",
            )
            .sp("The response answers an older or another browser's request: the user should start the sign-in again from the SP in one tab (a stale IdP tab or a bookmarked IdP URL does this).")
        }
    }

    fn issue_instant(&self) -> Check {
        let c = check(
            "time.issue-instant",
            "CORE-3.2.2-IssueInstant",
            "IssueInstant is UTC and not in the future",
        );
        let i = &self.facts.issue_instant;
        let Some(value) = i.value else {
            return c.fail(
                format!(
                    "IssueInstant {} is not a valid instant",
                    shown(i.text.as_deref())
                ),
                "issue_instant_invalid",
            );
        };
        if i.text.as_deref().is_some_and(|t| !t.trim().ends_with('Z')) {
            return c.fail(
                format!(
                    "IssueInstant {} has a time-zone offset; SAML wants UTC with a trailing Z",
                    shown(i.text.as_deref())
                ),
                "issue_instant_invalid",
            );
        }
        let Some(t) = self.time else {
            return c.pass(format!("IssueInstant {value} (UTC); no capture time to measure clock skew against: pass --at"));
        };
        let skew = Duration::seconds(self.ctx.clock_skew_seconds);
        let ahead = value - t.at;
        if ahead > skew {
            c.fail(
                format!(
                    "issued {} after {} ({}): the IdP's clock is ahead of the SP's by about that much (allowed skew {} s)",
                    seconds(ahead), t.source, t.at, self.ctx.clock_skew_seconds
                ),
                "issue_instant_invalid",
            )
            .idp(self.product.fix_clock())
            .sp("Check the SP server's clock (NTP); a clock skew allowance of 3 to 5 minutes is usual (saml2int SDP-G01).")
        } else if ahead > Duration::zero() {
            c.pass(format!(
                "issued {} after {} (within the {} s skew)",
                seconds(ahead),
                t.source,
                self.ctx.clock_skew_seconds
            ))
        } else {
            c.pass(format!("issued {} before {}", seconds(ahead), t.source))
        }
    }

    fn window(
        &self,
        c: Check,
        not_before: Option<&Instant>,
        not_on_or_after: &Instant,
        what: &str,
        expired: &'static str,
        early: Option<&'static str>,
    ) -> Check {
        let nb = not_before.and_then(|n| n.value);
        let noa = not_on_or_after.value;
        if let (Some(nb), Some(noa)) = (nb, noa)
            && nb >= noa
        {
            return c.fail(
                format!("{what} NotBefore {nb} is not before NotOnOrAfter {noa}"),
                "conditions_invalid",
            );
        }
        let Some(t) = self.time else {
            return c.skip(format!(
                "{what} window {} .. {}; no capture time to judge it: pass --at (the time of the failed sign-in, e.g. from the SP's log)",
                nb.map_or_else(|| "(open)".to_owned(), |v| v.to_string()),
                noa.map_or_else(|| "(open)".to_owned(), |v| v.to_string())
            ));
        };
        let skew = Duration::seconds(self.ctx.clock_skew_seconds);
        if let Some(nb) = nb
            && t.at + skew < nb
        {
            return c
                .fail(
                    format!(
                        "{what} not valid before {nb}, {} after {} ({}): the IdP's clock is ahead of the SP's (allowed skew {} s)",
                        seconds(nb - t.at), t.source, t.at, self.ctx.clock_skew_seconds
                    ),
                    early.unwrap_or(expired),
                )
                .idp(self.product.fix_clock())
                .sp("Check the SP server's clock (NTP), or allow 3 to 5 minutes of clock skew.");
        }
        if let Some(noa) = noa
            && t.at >= noa + skew
        {
            return c
                .fail(
                    format!(
                        "{what} expired at {noa}, {} before {} ({}) (allowed skew {} s): a slow or replayed post, or the SP's clock is ahead",
                        seconds(t.at - noa), t.source, t.at, self.ctx.clock_skew_seconds
                    ),
                    expired,
                )
                .idp(self.product.fix_clock())
                .sp("Check the SP server's clock (NTP); if the user sat on the IdP page, they should sign in again.");
        }
        c.pass(format!(
            "{} is within {what} {} .. {}",
            t.at,
            nb.map_or_else(|| "(open)".to_owned(), |v| v.to_string()),
            noa.map_or_else(|| "(open)".to_owned(), |v| v.to_string())
        ))
    }

    fn confirmation_time(&self) -> Check {
        let c = check(
            "time.subject-confirmation",
            "PROF-4.1.4.3-SCD-NotOnOrAfter",
            "The bearer confirmation has a NotOnOrAfter that has not passed",
        );
        let Some(b) = self.facts.bearer() else {
            return c.skip("no bearer confirmation (see subject.bearer)");
        };
        if b.not_on_or_after.value.is_none() {
            return c.fail(
                format!(
                    "the bearer confirmation's NotOnOrAfter is {}",
                    shown(b.not_on_or_after.text.as_deref())
                ),
                "subject_confirmation_expired",
            );
        }
        self.window(
            c,
            None,
            &b.not_on_or_after,
            "the bearer confirmation",
            "subject_confirmation_expired",
            None,
        )
    }

    fn conditions_time(&self) -> Check {
        let c = check(
            "time.conditions",
            "CORE-2.5.1.2-Window",
            "The capture time is within Conditions NotBefore..NotOnOrAfter",
        );
        let Some(cond) = self
            .facts
            .assertion
            .as_ref()
            .and_then(|a| a.conditions.as_ref())
        else {
            return c.pass("no Conditions (no validity window to apply)");
        };
        self.window(
            c,
            Some(&cond.not_before),
            &cond.not_on_or_after,
            "the assertion",
            "assertion_expired",
            Some("assertion_not_yet_valid"),
        )
    }

    fn audience(&self) -> Check {
        let Some(a) = &self.facts.assertion else {
            return check(
                "audience",
                "CORE-2.5.1.4-Audience",
                "The Audience is the SP's entityID",
            )
            .skip("no assertion");
        };
        let restrictions = a
            .conditions
            .as_ref()
            .map(|c| c.audience_restrictions.clone())
            .unwrap_or_default();
        if restrictions.is_empty() {
            let c = check(
                "audience",
                "PROF-4.1.4.2-AudienceRequired",
                "The Audience is the SP's entityID",
            );
            let c = c.fail(
                "the assertion has no AudienceRestriction",
                "audience_missing",
            );
            return match &self.ctx.sp {
                Some(sp) => c.idp(self.product.fix_audience(&sp.entity_id)),
                None => c,
            };
        }
        let c = check(
            "audience",
            "CORE-2.5.1.4-Audience",
            "The Audience is the SP's entityID",
        );
        let all: Vec<&String> = restrictions.iter().flatten().collect();
        let Some(sp) = &self.ctx.sp else {
            return c.skip(format!(
                "Audience {all:?}; no --sp-metadata to compare with"
            ));
        };
        let ok = restrictions.iter().all(|r| r.contains(&sp.entity_id));
        if ok {
            c.pass(format!("Audience {:?} is the SP's entityID", sp.entity_id))
        } else {
            let near = all.iter().find(|x| {
                x.trim_end_matches('/')
                    .eq_ignore_ascii_case(sp.entity_id.trim_end_matches('/'))
            });
            let mut evidence = format!("Audience {all:?}; the SP's entityID is {:?}", sp.entity_id);
            if near.is_some() {
                evidence.push_str(" (they differ only in letter case or a trailing slash: entity IDs compare exactly)");
            }
            c.fail(evidence, "audience_mismatch")
                .idp(self.product.fix_audience(&sp.entity_id))
                .sp("If the IdP's value is an older entity ID of this SP, the SP metadata the IdP imported is stale: send the IdP admin the current SP metadata.")
        }
    }

    fn authn_statement(&self) -> Check {
        let c = check(
            "authn-statement",
            "PROF-4.1.4.2-AuthnStatement",
            "The assertion has an AuthnStatement",
        );
        match &self.facts.assertion {
            None => c.skip("no assertion"),
            Some(a) => match &a.authn {
                None => c.fail("no AuthnStatement", "authn_statement_missing"),
                Some(s)
                    if s.instant.value.is_none()
                        || !s.instant.text.as_deref().is_some_and(|t| t.ends_with('Z')) =>
                {
                    check(
                        "authn-statement",
                        "CORE-2.7.2-AuthnInstant",
                        "The assertion has an AuthnStatement",
                    )
                    .fail(
                        format!(
                            "the AuthnStatement's AuthnInstant {} is not a UTC xs:dateTime (SAML Core §2.7.2 requires one)",
                            shown(s.instant.text.as_deref())
                        ),
                        "authn_statement_missing",
                    )
                }
                Some(s) => {
                    if let (Some(t), Some(end)) = (self.time, s.session_not_on_or_after.value)
                        && end <= t.at
                    {
                        return check(
                            "authn-statement",
                            "CORE-2.7.2-SessionNotOnOrAfter",
                            "The assertion has an AuthnStatement",
                        )
                        .fail(
                            format!("SessionNotOnOrAfter {end} had passed at {}", t.at),
                            "session_expired",
                        );
                    }
                    c.pass(format!(
                        "AuthnStatement ({})",
                        s.class_ref
                            .as_deref()
                            .map_or("no AuthnContextClassRef", |r| r
                                .rsplit(':')
                                .next()
                                .unwrap_or(r))
                    ))
                }
            },
        }
    }

    fn name_id_format(&self) -> Check {
        let c = check(
            "identity.name-id-format",
            "SP-Identity-NameIDFormat",
            "The NameID is an email address in the format the SP asks for",
        );
        let Some(a) = &self.facts.assertion else {
            return c.skip("no assertion");
        };
        let format = a.name_id_format.as_deref();
        let value = a.name_id.as_deref();
        if let EmailSource::Attribute(name) = self.email_source {
            return c.skip(format!(
                "the SP reads the email from the attribute {name:?}, so the NameID ({} {}) does not matter",
                shown(format), shown(value)
            ));
        }
        let (expected, assumed): (Vec<String>, bool) = match &self.ctx.sp {
            Some(sp) if !sp.name_id_formats.is_empty() => (sp.name_id_formats.clone(), false),
            _ => (vec![EMAIL_FORMAT.to_owned()], true),
        };
        let note = if assumed {
            " (assumed: the SP matches users by an emailAddress NameID; pass --sp-metadata or --email-attribute to say otherwise)"
        } else {
            ""
        };
        let any = expected.iter().any(|f| f == UNSPECIFIED_FORMAT);
        let format_ok = any || format.is_some_and(|f| expected.iter().any(|e| e == f));
        let value_ok = value.is_some_and(looks_like_email);
        if format_ok && (value_ok || !expected.iter().any(|e| e == EMAIL_FORMAT)) {
            return c.pass(format!(
                "NameID {} in format {}",
                shown(value),
                shown(format)
            ));
        }
        let evidence = if !format_ok {
            format!(
                "NameID {} has format {}; the SP expects {}{note}",
                shown(value),
                shown(format),
                expected.join(" or ")
            )
        } else {
            format!(
                "NameID {} is not an email address although its format is emailAddress{note}",
                shown(value)
            )
        };
        let email_elsewhere = a
            .attributes
            .iter()
            .find(|at| at.values.iter().any(|v| looks_like_email(v)))
            .map(|at| at.name.clone());
        let mut sp_fix =
            "Or match users by an attribute instead of the NameID, if the SP can.".to_owned();
        if let Some(name) = email_elsewhere {
            sp_fix = format!(
                "Or set the SP to read the email from the attribute {name:?}, which the IdP already sends."
            );
        }
        c.fail(evidence, "name_id_format_invalid")
            .idp(self.product.fix_name_id(&expected[0]))
            .sp(sp_fix)
    }

    fn emails_present(&self) -> Vec<(String, String)> {
        let Some(a) = &self.facts.assertion else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(v) = a.name_id.as_deref().filter(|v| looks_like_email(v)) {
            out.push(("NameID".to_owned(), v.to_owned()));
        }
        for at in &a.attributes {
            for v in at.values.iter().filter(|v| looks_like_email(v)) {
                out.push((at.name.clone(), v.clone()));
            }
        }
        out
    }

    fn email_attribute(&self) -> Check {
        let c = check(
            "identity.email-attribute",
            "SP-Identity-EmailAttribute",
            "The email is where the SP reads it",
        );
        let Some(a) = &self.facts.assertion else {
            return c.skip("no assertion");
        };
        let found = self.emails_present();
        let listing = if found.is_empty() {
            "no value that looks like an email anywhere".to_owned()
        } else {
            found
                .iter()
                .map(|(n, v)| format!("{n} = {v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.email_source {
            EmailSource::NameId => c.skip(format!(
                "the SP reads the email from the NameID (see identity.name-id-format); emails present: {listing}"
            )),
            EmailSource::Unknown => {
                if found.is_empty() {
                    c.fail(
                        format!("the response carries no email address: NameID {}, attributes {:?}",
                            shown(a.name_id.as_deref()),
                            a.attributes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>()),
                        "identity_missing",
                    )
                    .idp(self.product.fix_email_attribute("email"))
                } else {
                    c.pass(format!("emails present: {listing} (pass --email-attribute NAME or --sp-metadata to check the one the SP reads)"))
                }
            }
            EmailSource::Attribute(name) => {
                let attr = a.attributes.iter().find(|at| &at.name == name);
                match attr {
                    Some(at) if at.values.iter().any(|v| looks_like_email(v)) => {
                        c.pass(format!("attribute {name:?} = {:?}", at.values))
                    }
                    Some(at) => c
                        .fail(format!("attribute {name:?} is present but holds {:?}, not an email address", at.values), "identity_missing")
                        .idp(self.product.fix_email_attribute(name)),
                    None => {
                        let near = a
                            .attributes
                            .iter()
                            .find(|at| at.name.eq_ignore_ascii_case(name) || at.friendly_name.as_deref() == Some(name.as_str()));
                        let mut evidence = format!("no attribute named {name:?}; emails present: {listing}");
                        if let Some(n) = near {
                            evidence.push_str(&format!(" (an attribute {:?} differs only in letter case or is its FriendlyName: names compare exactly)", n.name));
                        }
                        let other = found.iter().find(|(n, _)| n != "NameID").map(|(n, _)| n.clone());
                        c.fail(evidence, "identity_missing")
                            .idp(self.product.fix_email_attribute(name))
                            .sp(match other {
                                Some(o) => format!("Or set the SP to read the email from {o:?}, which the IdP already sends."),
                                None => "The IdP sends no email attribute at all; it has to be added at the IdP.".to_owned(),
                            })
                    }
                }
            }
        }
    }

    fn entered_email(&self) -> Check {
        let c = check(
            "identity.entered-email",
            "SP-Identity-EnteredEmail",
            "The asserted email is the one the user typed",
        );
        let Some(entered) = self.ctx.entered_email.as_deref() else {
            return c.skip("no --entered-email (the address the user typed at the SP)");
        };
        let Some(a) = &self.facts.assertion else {
            return c.skip("no assertion");
        };
        let asserted: Vec<(String, String)> = match self.email_source {
            EmailSource::NameId => a
                .name_id
                .iter()
                .map(|v| ("NameID".to_owned(), v.clone()))
                .collect(),
            EmailSource::Attribute(name) => a
                .attributes
                .iter()
                .filter(|at| &at.name == name)
                .flat_map(|at| at.values.iter().map(|v| (at.name.clone(), v.clone())))
                .collect(),
            EmailSource::Unknown => self.emails_present(),
        };
        if asserted.is_empty() {
            return c.skip("the response carries no email where the SP reads it (see identity.email-attribute)");
        }
        if asserted.iter().any(|(_, v)| v == entered) {
            return c.pass(format!("the user typed {entered:?}; asserted {entered:?}"));
        }
        if let Some((n, v)) = asserted
            .iter()
            .find(|(_, v)| v.eq_ignore_ascii_case(entered))
        {
            return c.pass(format!("the user typed {entered:?}; {n} is {v:?} (the same address in other letter case; SPs should match case-insensitively)"));
        }
        let shown_asserted = asserted
            .iter()
            .map(|(n, v)| format!("{n} = {v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        c.fail(
            format!("the user typed {entered:?}; the IdP asserted {shown_asserted}"),
            "email_mismatch",
        )
        .idp(match self.product {
            Product::Entra => "The IdP signed in another account, or the user's Entra mail/UPN differs from the address they use at the SP: check the user's \"mail\" and \"User principal name\" in Entra and the claim's Source attribute (user.mail vs user.userprincipalname); a browser still signed in to Entra as someone else does this too.".to_owned(),
            Product::Okta => "The IdP signed in another account, or the user's Okta username differs from the address they use at the SP: check the user's profile and \"Application username\" (Applications > (the app) > Sign On).".to_owned(),
            _ => format!("{} signed in another account, or its email for this user differs from the one they use at the SP; a browser still signed in at the IdP as someone else does this too.", self.product.name()),
        })
        .sp("If the asserted address is an alias of the user's account, add it to the user at the SP (or change the account's email); otherwise the user should sign out of the IdP and retry.")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mock_idp::KeyChoice;
    use mock_idp::plan::{Alteration, Signing};

    use super::*;
    use crate::support::fixtures::{self, capture, context};
    use crate::support::render;

    fn plan() -> mock_idp::Plan {
        mock_idp::Plan::default()
    }

    fn failed_rules(d: &Diagnosis) -> BTreeSet<&'static str> {
        d.failures().map(|c| c.rule).collect()
    }

    #[test]
    fn each_defect_family_fails_exactly_its_rules() {
        let known: BTreeSet<String> = crate::coverage::rules()
            .expect("rules")
            .into_iter()
            .map(|r| r.id)
            .collect();
        for case in fixtures::families() {
            let mut ctx = context();
            (case.ctx)(&mut ctx);
            let d = diagnose(&capture(&case.plan), &ctx).expect("diagnose");
            let expected: BTreeSet<&str> = case.rules.iter().copied().collect();
            assert_eq!(
                failed_rules(&d),
                expected,
                "{}: {}",
                case.name,
                render::text(std::slice::from_ref(&d), 180)
            );
            assert_eq!(d.expected_refusal(), case.refusal, "{}", case.name);
            for c in &d.checks {
                assert!(known.contains(c.rule), "{}: unknown rule {}", c.id, c.rule);
                assert!(!c.evidence.is_empty(), "{}: no evidence", c.id);
            }
            for c in d.failures() {
                assert!(
                    c.fix_idp.is_some() || c.fix_sp.is_some() || c.sp_reason.is_some(),
                    "{}: a failure says nothing to do",
                    c.id
                );
            }
        }
    }

    #[test]
    fn in_response_to_is_checked_against_the_requests_a_har_shows() {
        let mut c = capture(&plan());
        c.request_ids = vec!["_a-newer-request".to_owned()];
        let d = diagnose(&c, &context()).expect("diagnose");
        assert_eq!(
            failed_rules(&d),
            BTreeSet::from(["PROF-4.1.4.3-SCD-InResponseTo"])
        );
        assert_eq!(d.expected_refusal(), Some("in_response_to_unknown"));
        c.request_ids.push(fixtures::REQUEST_ID.to_owned());
        let d = diagnose(&c, &context()).expect("diagnose");
        assert_eq!(d.failures().count(), 0);
    }

    #[test]
    fn a_rolled_certificate_names_both_fingerprints() {
        let plan = mock_idp::Plan {
            signing: Signing {
                key: KeyChoice::AttackerSelfSigned,
                ..Signing::default()
            },
            ..plan()
        };
        let d = diagnose(&capture(&plan), &context()).expect("diagnose");
        let key = d
            .checks
            .iter()
            .find(|c| c.id == "signature.key")
            .expect("check");
        let trusted = &fixtures::idp().certificates[0].sha256;
        let attacker = fixtures::keys()
            .get(KeyChoice::AttackerSelfSigned)
            .expect("key");
        let attacker = crate::support::metadata::CertInfo::from_der(attacker.cert_der())
            .expect("cert")
            .sha256;
        assert!(key.evidence.contains(trusted.as_str()), "{}", key.evidence);
        assert!(key.evidence.contains(attacker.as_str()), "{}", key.evidence);
        // Integrity still holds: the message's own certificate verifies it.
        let valid = d
            .checks
            .iter()
            .find(|c| c.id == "signature.valid")
            .expect("check");
        assert_eq!(valid.outcome, Outcome::Pass, "{}", valid.evidence);
    }

    #[test]
    fn without_metadata_or_time_the_undecidable_checks_skip_with_the_reason() {
        let ctx = Context {
            clock_skew_seconds: 180,
            ..Context::default()
        };
        let mut c = capture(&plan());
        c.captured_at = None;
        let d = diagnose(&c, &ctx).expect("diagnose");
        for id in [
            "signature.key",
            "issuer.response",
            "destination",
            "audience",
            "time.conditions",
            "identity.entered-email",
        ] {
            let check = d.checks.iter().find(|c| c.id == id).expect("check");
            assert_eq!(check.outcome, Outcome::Skip, "{id}: {}", check.evidence);
            assert!(
                check.evidence.contains("--"),
                "{id} names the option: {}",
                check.evidence
            );
        }
        assert_eq!(d.failures().count(), 0);
    }

    #[test]
    fn the_flavour_is_detected_and_the_fix_uses_its_words() {
        let entra = mock_idp::Plan {
            flavour: mock_idp::Flavour::Entra,
            alter: vec![Alteration::NameIdFormat {
                value: mock_idp::flavour::NAMEID_PERSISTENT.to_owned(),
            }],
            ..plan()
        };
        let d = diagnose(&capture(&entra), &context()).expect("diagnose");
        assert_eq!(d.idp.product, Product::Entra);
        let fix = d.failures().find_map(|c| c.fix_idp.clone()).expect("a fix");
        assert!(fix.contains("Unique User Identifier (Name ID)"), "{fix}");

        let okta = mock_idp::Plan {
            flavour: mock_idp::Flavour::Okta,
            ..plan()
        };
        let d = diagnose(&capture(&okta), &context()).expect("diagnose");
        assert_eq!(d.idp.product, Product::Okta);
        // Okta's default NameID format is unspecified: the SP that wants emailAddress refuses.
        let fix = d.failures().find_map(|c| c.fix_idp.clone()).expect("a fix");
        assert!(fix.contains("Name ID format"), "{fix}");
    }
}
