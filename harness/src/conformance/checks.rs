//! The checks themselves: each reads a [`Subject`] (the SP's metadata, the AuthnRequests it
//! sent, what else is known) and returns a [`Finding`]: pass, fail, warn, or skip with the
//! reason, and the evidence (the value seen, which request). Nothing here fetches anything or
//! reads a file: whatever a document names (a schemaLocation, a KeyInfo URI) stays a name.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use samael::crypto::{CertificateDer, CryptoProvider as _, ReduceMode, XmlSec};
use serde::Serialize;

use super::catalog::{CheckName, CheckParams};
use super::metadata::{MetadataDoc, SpMetadata};
use super::request::{POST, REDIRECT, RequestBinding, SeenRequest};
use super::schema::{self, Schema};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// What the SP publishes or sends is right.
    Pass,
    /// It is wrong (a `should` scenario reports it as a warning).
    Fail,
    /// It works, but is risky or one step from wrong (http on loopback, a certificate about to
    /// expire).
    Warn,
    /// Not judged: the check lacks an input, and says which.
    Skip,
}

impl Outcome {
    /// `pass`, `fail`, `warn`, `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check.
    pub check: CheckName,
    /// How it came out.
    pub outcome: Outcome,
    /// Why, in one line.
    pub summary: String,
    /// What was seen: one line per value or request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// What is known besides the SP's own documents.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The harness's clock (certificate expiry, validUntil).
    pub now: DateTime<Utc>,
    /// The clock skew allowed for IssueInstant, in seconds.
    pub clock_skew_seconds: i64,
    /// The IdP's SSO URL per binding (empty: not known).
    pub idp_sso: Vec<(RequestBinding, String)>,
    /// Whether the IdP's metadata says `WantAuthnRequestsSigned="true"` (`None`: not known).
    pub idp_wants_signed: Option<bool>,
    /// The users' emails: RelayState must not carry them.
    pub emails: Vec<String>,
    /// What the SP accepted in the run's probes (`None`: no profile, e.g. in diagnose).
    pub profile: Option<crate::profile::Profile>,
}

/// What the checks read.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The SP's metadata, or why there is none.
    pub metadata: Result<&'a MetadataDoc, &'a str>,
    /// The AuthnRequests collected, or why there are none.
    pub requests: Result<&'a [SeenRequest], &'a str>,
    /// What the application asked for in the logins that sent `requests` (`None`: the usual
    /// login, or not known, as for a capture).
    pub asked: Option<crate::scenario::SpLogin>,
    /// The rest.
    pub known: &'a Known,
}

/// Runs one check.
pub fn run(check: CheckName, params: &CheckParams, subject: &Subject<'_>) -> Finding {
    let needs = check.needs();
    let metadata = match subject.metadata {
        Ok(doc) => match &doc.read {
            Ok(md) => Ok((doc, md)),
            Err(e) => Err(format!(
                "the SP's metadata ({}) cannot be read: {e}",
                doc.source
            )),
        },
        Err(why) => Err(why.to_owned()),
    };
    if needs.metadata == super::catalog::Use::Required
        && let Err(why) = &metadata
    {
        // The schema check still judges a document that cannot be read as SP metadata.
        if !(check == CheckName::MetadataSchema && subject.metadata.is_ok()) {
            return said(check, Outcome::Skip, why.clone());
        }
    }
    let requests = match subject.requests {
        Ok([]) => Err("no AuthnRequest was collected".to_owned()),
        Ok(r) => Ok(r),
        Err(why) => Err(why.to_owned()),
    };
    if needs.requests
        && let Err(why) = &requests
    {
        return said(check, Outcome::Skip, why.clone());
    }
    if let Some(kind) = needs.asked
        && subject.asked != Some(kind)
    {
        return said(
            check,
            Outcome::Skip,
            format!(
                "judged only on AuthnRequests of logins started at the target's {}, and these were not",
                kind.field()
            ),
        );
    }
    let md = metadata.as_ref().ok().map(|(_, md)| *md);
    let reqs = requests.as_deref().unwrap_or_default();
    let k = subject.known;
    match check {
        CheckName::MetadataSchema => match subject.metadata {
            Ok(doc) => validated(check, &doc.xml, Schema::Metadata, "the metadata"),
            Err(why) => said(check, Outcome::Skip, why.to_owned()),
        },
        CheckName::MetadataEntityId => md.map_or_else(unreachable_skip(check), entity_id),
        CheckName::MetadataAcsPost => md.map_or_else(unreachable_skip(check), acs_post),
        CheckName::MetadataAcsIndexes => md.map_or_else(unreachable_skip(check), acs_indexes),
        CheckName::MetadataAcsDefault => md.map_or_else(unreachable_skip(check), acs_default),
        CheckName::MetadataAcsHttps => md.map_or_else(unreachable_skip(check), acs_https),
        CheckName::MetadataCertificates => md.map_or_else(unreachable_skip(check), certificates),
        CheckName::MetadataKeySize => {
            md.map_or_else(unreachable_skip(check), |md| key_size(md, params))
        }
        CheckName::MetadataCertificateExpiry => {
            md.map_or_else(unreachable_skip(check), |md| expiry(md, params, k.now))
        }
        CheckName::MetadataKeyUse => md.map_or_else(unreachable_skip(check), key_use),
        CheckName::MetadataKeysDistinct => md.map_or_else(unreachable_skip(check), keys_distinct),
        CheckName::MetadataWantAssertionsSigned => md.map_or_else(unreachable_skip(check), |md| {
            want_assertions_signed(md, k.profile.as_ref())
        }),
        CheckName::MetadataAuthnRequestsSigned => md.map_or_else(unreachable_skip(check), |md| {
            authn_requests_signed(md, reqs)
        }),
        CheckName::MetadataNameIdFormat => md.map_or_else(unreachable_skip(check), |md| {
            name_id_format(md, k.profile.as_ref())
        }),
        CheckName::MetadataValidity => {
            md.map_or_else(unreachable_skip(check), |md| validity(md, k.now))
        }
        CheckName::MetadataSignature => match &metadata {
            Ok((doc, md)) => metadata_signature(&doc.xml, md),
            Err(why) => said(check, Outcome::Skip, why.clone()),
        },
        CheckName::RequestSchema => {
            let mut bad = Vec::new();
            for r in reqs {
                match schema::validate(&r.xml, Schema::Protocol) {
                    Ok(Ok(())) => {}
                    Ok(Err(errors)) => bad.push(format!("{}: {}", r.name(), errors.join("; "))),
                    Err(e) => {
                        return said(
                            check,
                            Outcome::Skip,
                            format!("schema validation could not run: {e}"),
                        );
                    }
                }
            }
            per_request(
                check,
                reqs,
                bad,
                "is valid against the SAML 2.0 protocol schema",
            )
        }
        CheckName::RequestIdNcname => {
            let bad = each(reqs, |f, _| match f.id.as_deref() {
                None => Some("has no ID".to_owned()),
                Some(id) if !is_ncname(id) => Some(format!(
                    "ID {id:?} is not an xs:ID (an NCName: a letter or `_` first, no `:`)"
                )),
                Some(_) => None,
            });
            per_request(check, reqs, bad, "has an ID that is an NCName")
        }
        CheckName::RequestIdUnique => id_unique(reqs),
        CheckName::RequestIdEntropy => id_entropy(reqs, params),
        CheckName::RequestVersion => {
            let bad = each(reqs, |f, _| match f.version.as_deref() {
                Some("2.0") => None,
                Some(v) => Some(format!("Version is {v:?}, not \"2.0\"")),
                None => Some("has no Version".to_owned()),
            });
            per_request(check, reqs, bad, "has Version \"2.0\"")
        }
        CheckName::RequestIssueInstant => issue_instant(reqs, k),
        CheckName::RequestDestination => destination(reqs, k),
        CheckName::RequestIssuer => issuer(reqs, md),
        CheckName::RequestAcs => acs(reqs, md),
        CheckName::RequestProtocolBinding => protocol_binding(reqs, md),
        CheckName::RequestNameIdPolicy => name_id_policy(reqs, md),
        CheckName::RequestSignature => match &metadata {
            Ok((_, md)) => request_signature(reqs, md, k),
            Err(why) => said(check, Outcome::Skip, why.clone()),
        },
        CheckName::RequestRelayStateSize => {
            let max = params.max_bytes.unwrap_or(80) as usize;
            let bad = reqs
                .iter()
                .filter_map(|r| {
                    let rs = r.relay_state.as_deref()?;
                    (rs.len() > max).then(|| {
                        format!(
                            "{}: RelayState is {} bytes (at most {max})",
                            r.name(),
                            rs.len()
                        )
                    })
                })
                .collect();
            per_request(
                check,
                reqs,
                bad,
                &format!("has a RelayState of at most {max} bytes, or none"),
            )
        }
        CheckName::RequestRelayStateUserData => relay_state_user_data(reqs, k),
        CheckName::RequestForceAuthn => {
            asked_flag(check, reqs, "ForceAuthn", |f| f.force_authn.as_deref())
        }
        CheckName::RequestIsPassive => {
            asked_flag(check, reqs, "IsPassive", |f| f.is_passive.as_deref())
        }
    }
}

/// Each request says `attribute="true"` (xs:boolean: `true` or `1`), as the application asked.
fn asked_flag(
    check: CheckName,
    reqs: &[SeenRequest],
    attribute: &str,
    value: impl Fn(&super::request::RequestFacts) -> Option<&str>,
) -> Finding {
    let bad = each(reqs, |f, _| match value(f).map(str::trim) {
        Some("true" | "1") => None,
        Some(other) => Some(format!(
            "{attribute} is {other:?}: the IdP may reuse the user's session"
        )),
        None => Some(format!(
            "has no {attribute}, so it is false: the application's request does not reach the IdP"
        )),
    });
    per_request(check, reqs, bad, &format!("says {attribute}=\"true\""))
}

/// A finding without evidence lines.
fn said(check: CheckName, outcome: Outcome, summary: String) -> Finding {
    finding(check, outcome, summary, Vec::new())
}

fn finding(check: CheckName, outcome: Outcome, summary: String, evidence: Vec<String>) -> Finding {
    Finding {
        check,
        outcome,
        summary,
        evidence,
    }
}

/// The metadata is read before any metadata check runs; this is the shape `map_or_else` wants.
fn unreachable_skip(check: CheckName) -> impl FnOnce() -> Finding {
    move || {
        said(
            check,
            Outcome::Skip,
            "the SP's metadata cannot be read".to_owned(),
        )
    }
}

fn validated(check: CheckName, xml: &str, which: Schema, what: &str) -> Finding {
    match schema::validate(xml, which) {
        Ok(Ok(())) => said(
            check,
            Outcome::Pass,
            format!("{what} is valid against the SAML 2.0 schema"),
        ),
        Ok(Err(errors)) => finding(
            check,
            Outcome::Fail,
            format!("{what} is not valid against the SAML 2.0 schema"),
            errors,
        ),
        Err(e) => said(
            check,
            Outcome::Skip,
            format!("schema validation could not run: {e}"),
        ),
    }
}

/// What each request's problem is (`None`: none), over the readable requests; an unreadable
/// request is a problem of its own.
fn each(
    reqs: &[SeenRequest],
    mut problem: impl FnMut(&super::request::RequestFacts, &SeenRequest) -> Option<String>,
) -> Vec<String> {
    reqs.iter()
        .filter_map(|r| match &r.read {
            Ok(f) => problem(f, r).map(|p| format!("{}: {p}", r.name())),
            Err(e) => Some(format!("{}: cannot be read: {e}", r.label)),
        })
        .collect()
}

/// A pass when no request has a problem, else a failure listing them.
fn per_request(check: CheckName, reqs: &[SeenRequest], bad: Vec<String>, good: &str) -> Finding {
    per_request_with(check, reqs, bad, Vec::new(), good)
}

fn per_request_with(
    check: CheckName,
    reqs: &[SeenRequest],
    bad: Vec<String>,
    warnings: Vec<String>,
    good: &str,
) -> Finding {
    let n = reqs.len();
    let every = if n == 1 {
        "the AuthnRequest".to_owned()
    } else {
        format!("each of the {n} AuthnRequests")
    };
    if !bad.is_empty() {
        let mut evidence = bad;
        evidence.extend(warnings);
        return finding(
            check,
            Outcome::Fail,
            format!(
                "{} of {n} AuthnRequests do not meet the rule",
                count_requests(&evidence, reqs)
            ),
            evidence,
        );
    }
    if !warnings.is_empty() {
        return finding(
            check,
            Outcome::Warn,
            format!("{every} {good}, with a warning"),
            warnings,
        );
    }
    said(check, Outcome::Pass, format!("{every} {good}"))
}

/// How many requests the evidence lines name.
fn count_requests(evidence: &[String], reqs: &[SeenRequest]) -> usize {
    reqs.iter()
        .filter(|r| {
            let name = r.name();
            evidence
                .iter()
                .any(|e| e.starts_with(&name) || e.starts_with(&r.label))
        })
        .count()
        .max(1)
}

/// An xs:NCName (XML Namespaces): a letter or `_` first, then letters, digits, `.`, `-`, `_`
/// (and the combining characters XML allows), no `:`.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '\u{b7}'))
}

/// An absolute URI: a scheme, `:`, and something after it.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

fn entity_id(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataEntityId;
    match md.entity_id.as_deref() {
        None => said(
            check,
            Outcome::Fail,
            "the EntityDescriptor has no entityID".to_owned(),
        ),
        Some(id) if id.chars().count() > 1024 => said(
            check,
            Outcome::Fail,
            format!(
                "the entityID is {} characters long (at most 1024)",
                id.chars().count()
            ),
        ),
        Some(id) if !is_absolute_uri(id) => said(
            check,
            Outcome::Fail,
            format!("the entityID {id:?} is not an absolute URI"),
        ),
        Some(id) => said(
            check,
            Outcome::Pass,
            format!("the entityID {id} is an absolute URI"),
        ),
    }
}

fn acs_list(md: &SpMetadata) -> Vec<String> {
    md.acs
        .iter()
        .map(super::metadata::Endpoint::describe)
        .collect()
}

fn acs_post(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataAcsPost;
    if md.acs.iter().any(|a| a.binding.as_deref() == Some(POST)) {
        finding(
            check,
            Outcome::Pass,
            "an AssertionConsumerService takes HTTP-POST".to_owned(),
            acs_list(md),
        )
    } else if md.acs.is_empty() {
        said(
            check,
            Outcome::Fail,
            "the SPSSODescriptor has no AssertionConsumerService".to_owned(),
        )
    } else {
        finding(
            check,
            Outcome::Fail,
            "no AssertionConsumerService takes HTTP-POST, the binding every IdP supports"
                .to_owned(),
            acs_list(md),
        )
    }
}

fn acs_indexes(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataAcsIndexes;
    let mut bad = Vec::new();
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, a) in md.acs.iter().enumerate() {
        match a.index.as_deref().map(|s| (s, s.trim().parse::<u16>())) {
            None => bad.push(format!("AssertionConsumerService {} has no index", i + 1)),
            Some((s, Err(_))) => bad.push(format!(
                "AssertionConsumerService {} has index {s:?}, not an unsigned short",
                i + 1
            )),
            Some((_, Ok(n))) => *seen.entry(n).or_default() += 1,
        }
    }
    for (n, count) in &seen {
        if *count > 1 {
            bad.push(format!(
                "index {n} is used by {count} AssertionConsumerServices"
            ));
        }
    }
    if bad.is_empty() {
        said(
            check,
            Outcome::Pass,
            format!(
                "the {} AssertionConsumerService indexes are all different",
                md.acs.len()
            ),
        )
    } else {
        bad.extend(acs_list(md));
        finding(
            check,
            Outcome::Fail,
            "AssertionConsumerService indexes are missing or shared".to_owned(),
            bad,
        )
    }
}

fn acs_default(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataAcsDefault;
    let mut bad: Vec<String> = md
        .acs
        .iter()
        .filter_map(|a| {
            let v = a.is_default.as_deref()?.trim();
            (!matches!(v, "true" | "false" | "1" | "0"))
                .then(|| format!("isDefault={v:?} is not an xs:boolean"))
        })
        .collect();
    let defaults = md.acs.iter().filter(|a| a.marked_default()).count();
    if defaults > 1 {
        bad.push(format!(
            "{defaults} AssertionConsumerServices are marked isDefault=\"true\""
        ));
    }
    if bad.is_empty() {
        let which = md
            .acs
            .iter()
            .find(|a| a.marked_default())
            .or_else(|| md.acs.iter().find(|a| a.is_default.is_none()))
            .or_else(|| md.acs.first())
            .map_or_else(|| "none".to_owned(), super::metadata::Endpoint::describe);
        said(
            check,
            Outcome::Pass,
            format!("one default AssertionConsumerService: {which}"),
        )
    } else {
        bad.extend(acs_list(md));
        finding(
            check,
            Outcome::Fail,
            "the default AssertionConsumerService is ambiguous".to_owned(),
            bad,
        )
    }
}

fn is_loopback_url(location: &str) -> bool {
    url::Url::parse(location).is_ok_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

fn acs_https(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataAcsHttps;
    let mut bad = Vec::new();
    let mut warnings = Vec::new();
    for a in &md.acs {
        let location = a.location.as_deref().unwrap_or_default();
        let scheme = location
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => {}
            Some("http") if is_loopback_url(location) => warnings.push(format!(
                "{}: http, acceptable on loopback only (a test deployment)",
                a.describe()
            )),
            _ => bad.push(format!("{}: not https", a.describe())),
        }
    }
    if md.acs.is_empty() {
        return said(
            check,
            Outcome::Skip,
            "the metadata has no AssertionConsumerService".to_owned(),
        );
    }
    if !bad.is_empty() {
        bad.extend(warnings);
        finding(
            check,
            Outcome::Fail,
            "an AssertionConsumerService takes assertions over plain http".to_owned(),
            bad,
        )
    } else if !warnings.is_empty() {
        finding(
            check,
            Outcome::Warn,
            "AssertionConsumerServices use http on loopback (https elsewhere)".to_owned(),
            warnings,
        )
    } else {
        said(
            check,
            Outcome::Pass,
            "every AssertionConsumerService is https".to_owned(),
        )
    }
}

/// Every certificate, with the KeyDescriptor it is in.
fn all_certs(
    md: &SpMetadata,
) -> impl Iterator<
    Item = (
        usize,
        &super::metadata::KeyDescriptor,
        &super::metadata::Certificate,
    ),
> {
    md.keys
        .iter()
        .enumerate()
        .flat_map(|(i, k)| k.certificates.iter().map(move |c| (i + 1, k, c)))
}

fn certificates(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataCertificates;
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (i, k, c) in all_certs(md) {
        match &c.read {
            Ok(key) => good.push(format!(
                "KeyDescriptor {i} ({}): {}",
                k.use_words(),
                key.describe()
            )),
            Err(e) => bad.push(format!("KeyDescriptor {i} ({}): {e}", k.use_words())),
        }
    }
    for (i, k) in md.keys.iter().enumerate() {
        if k.certificates.is_empty() {
            bad.push(format!(
                "KeyDescriptor {} ({}) has no X509Certificate",
                i + 1,
                k.use_words()
            ));
        }
    }
    if !bad.is_empty() {
        finding(
            check,
            Outcome::Fail,
            "a published certificate cannot be read".to_owned(),
            bad,
        )
    } else if good.is_empty() {
        said(
            check,
            Outcome::Pass,
            "the metadata publishes no certificate (the SP neither signs nor decrypts)".to_owned(),
        )
    } else {
        finding(
            check,
            Outcome::Pass,
            format!("{} certificate(s), each readable", good.len()),
            good,
        )
    }
}

fn key_size(md: &SpMetadata, params: &CheckParams) -> Finding {
    use super::metadata::KeyKind;
    let check = CheckName::MetadataKeySize;
    let (min_rsa, min_ec) = (
        params.min_rsa_bits.unwrap_or(2048),
        params.min_ec_bits.unwrap_or(256),
    );
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for (i, _, c) in all_certs(md) {
        let Ok(key) = &c.read else { continue };
        let ok = match &key.key {
            KeyKind::Rsa(bits) => *bits >= min_rsa,
            KeyKind::Ec(bits) => *bits >= min_ec,
            KeyKind::Other(..) => false,
        };
        let line = format!("KeyDescriptor {i}: {}", key.key.words());
        if ok {
            seen.push(line);
        } else {
            bad.push(line);
        }
    }
    if !bad.is_empty() {
        finding(
            check,
            Outcome::Fail,
            format!("a published key is weaker than RSA-{min_rsa} / EC-{min_ec}"),
            bad,
        )
    } else if seen.is_empty() {
        said(check, Outcome::Pass, "no key is published".to_owned())
    } else {
        finding(
            check,
            Outcome::Pass,
            format!("every key is at least RSA-{min_rsa} or EC-{min_ec}"),
            seen,
        )
    }
}

fn expiry(md: &SpMetadata, params: &CheckParams, now: DateTime<Utc>) -> Finding {
    let check = CheckName::MetadataCertificateExpiry;
    let warn_days = i64::from(params.warn_days.unwrap_or(30));
    let mut bad = Vec::new();
    let mut warnings = Vec::new();
    let mut count = 0;
    for (i, _, c) in all_certs(md) {
        let Ok(key) = &c.read else { continue };
        count += 1;
        let name = format!("KeyDescriptor {i}: {}", key.describe());
        match (key.not_before, key.not_after) {
            (_, Some(after)) if after <= now => {
                bad.push(format!("{name} expired on {}", after.format("%Y-%m-%d")));
            }
            (Some(before), _) if before > now => bad.push(format!(
                "{name} is not valid before {}",
                before.format("%Y-%m-%d %H:%M:%S UTC")
            )),
            (_, Some(after)) if after - now < chrono::Duration::days(warn_days) => {
                warnings.push(format!(
                    "{name} expires on {}, within {warn_days} days: publish its successor now",
                    after.format("%Y-%m-%d")
                ));
            }
            (_, None) | (None, _) => bad.push(format!("{name}: its validity dates cannot be read")),
            _ => {}
        }
    }
    if !bad.is_empty() {
        bad.extend(warnings);
        finding(
            check,
            Outcome::Fail,
            "a published certificate is not valid now".to_owned(),
            bad,
        )
    } else if !warnings.is_empty() {
        finding(
            check,
            Outcome::Warn,
            format!("a published certificate expires within {warn_days} days"),
            warnings,
        )
    } else if count == 0 {
        said(
            check,
            Outcome::Pass,
            "no certificate is published".to_owned(),
        )
    } else {
        said(
            check,
            Outcome::Pass,
            format!("{count} certificate(s), each valid for more than {warn_days} days"),
        )
    }
}

fn key_use(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataKeyUse;
    let mut bad: Vec<String> = md
        .keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| match k.use_.as_deref() {
            None | Some("signing" | "encryption") => None,
            Some(other) => Some(format!(
                "KeyDescriptor {} has use={other:?}: only \"signing\" and \"encryption\" exist",
                i + 1
            )),
        })
        .collect();
    if md.says_authn_requests_signed() && !md.keys.iter().any(|k| k.for_signing()) {
        bad.push(
            "AuthnRequestsSigned=\"true\", but no KeyDescriptor may be used for signing".to_owned(),
        );
    }
    let uses: Vec<String> = md
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("KeyDescriptor {}: {}", i + 1, k.use_words()))
        .collect();
    if bad.is_empty() {
        finding(
            check,
            Outcome::Pass,
            "every KeyDescriptor's use is signing, encryption, or both (no use)".to_owned(),
            uses,
        )
    } else {
        bad.extend(uses);
        finding(
            check,
            Outcome::Fail,
            "a KeyDescriptor's use is wrong".to_owned(),
            bad,
        )
    }
}

fn keys_distinct(md: &SpMetadata) -> Finding {
    let check = CheckName::MetadataKeysDistinct;
    let keys = |want: &str| -> Vec<&Vec<u8>> {
        md.keys
            .iter()
            .filter(|k| k.use_.as_deref() == Some(want))
            .flat_map(|k| k.certificates.iter())
            .filter_map(|c| c.read.as_ref().ok())
            .map(|c| &c.public_der)
            .collect()
    };
    let (signing, encryption) = (keys("signing"), keys("encryption"));
    if signing.is_empty() || encryption.is_empty() {
        return said(
            check,
            Outcome::Pass,
            "the metadata does not publish both a signing and an encryption key".to_owned(),
        );
    }
    if signing.iter().any(|s| encryption.contains(s)) {
        said(
            check,
            Outcome::Fail,
            "the same key is published for signing and for encryption".to_owned(),
        )
    } else {
        said(
            check,
            Outcome::Pass,
            "the signing and the encryption keys are different keys".to_owned(),
        )
    }
}

const RESPONSE_ONLY: &str = "signed at the Response only";

fn want_assertions_signed(md: &SpMetadata, profile: Option<&crate::profile::Profile>) -> Finding {
    let check = CheckName::MetadataWantAssertionsSigned;
    let says = md.says_want_assertions_signed();
    let written = format!(
        "WantAssertionsSigned={}",
        md.want_assertions_signed
            .as_deref()
            .map_or_else(|| "(absent: false)".to_owned(), |v| format!("{v:?}"))
    );
    let Some(profile) = profile else {
        return said(
            check,
            Outcome::Skip,
            format!(
                "{written}; no SP profile to compare with (the run's probes tell what the SP accepts)"
            ),
        );
    };
    match (profile.accepted(RESPONSE_ONLY), says) {
        (None, _) => said(
            check,
            Outcome::Skip,
            format!("{written}; the probe of a response signed at the Response only did not tell"),
        ),
        (Some(false), false) => said(
            check,
            Outcome::Fail,
            format!(
                "{written}, but the SP refuses a response signed at the Response only: an IdP that follows the metadata is refused"
            ),
        ),
        (Some(true), true) => said(
            check,
            Outcome::Warn,
            format!(
                "{written}, but the SP accepts a response signed at the Response only: the metadata asks for more than the SP enforces"
            ),
        ),
        (Some(accepts), _) => said(
            check,
            Outcome::Pass,
            format!(
                "{written}, and the SP {} a response signed at the Response only",
                if accepts { "accepts" } else { "refuses" }
            ),
        ),
    }
}

fn authn_requests_signed(md: &SpMetadata, reqs: &[SeenRequest]) -> Finding {
    let check = CheckName::MetadataAuthnRequestsSigned;
    let says = md.says_authn_requests_signed();
    let signed = reqs.iter().filter(|r| r.signed()).count();
    let n = reqs.len();
    let written = format!(
        "AuthnRequestsSigned={}",
        md.authn_requests_signed
            .as_deref()
            .map_or_else(|| "(absent: false)".to_owned(), |v| format!("{v:?}"))
    );
    if says && signed < n {
        let unsigned = reqs
            .iter()
            .filter(|r| !r.signed())
            .map(|r| format!("{}: unsigned", r.name()))
            .collect();
        finding(
            check,
            Outcome::Fail,
            format!(
                "{written}, but {} of {n} AuthnRequests are unsigned",
                n - signed
            ),
            unsigned,
        )
    } else if !says && signed > 0 {
        said(
            check,
            Outcome::Warn,
            format!(
                "{written}, but {signed} of {n} AuthnRequests are signed: the metadata undersells the SP"
            ),
        )
    } else {
        said(
            check,
            Outcome::Pass,
            format!("{written}, and {signed} of {n} AuthnRequests are signed"),
        )
    }
}

const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

fn name_id_format(md: &SpMetadata, profile: Option<&crate::profile::Profile>) -> Finding {
    let check = CheckName::MetadataNameIdFormat;
    let mut bad: Vec<String> = md
        .name_id_formats
        .iter()
        .filter(|f| !is_absolute_uri(f))
        .map(|f| format!("NameIDFormat {f:?} is not a URI"))
        .collect();
    let unique: BTreeSet<&String> = md.name_id_formats.iter().collect();
    if unique.len() < md.name_id_formats.len() {
        bad.push("a NameIDFormat is listed twice".to_owned());
    }
    if md.name_id_formats.is_empty() {
        return said(
            check,
            Outcome::Pass,
            "no NameIDFormat is listed: the IdP chooses".to_owned(),
        );
    }
    let Some(profile) = profile else {
        if bad.is_empty() {
            return said(
                check,
                Outcome::Skip,
                format!(
                    "lists {}; no SP profile to compare with (the run's probes tell what the SP accepts)",
                    md.name_id_formats.join(", ")
                ),
            );
        }
        return finding(
            check,
            Outcome::Fail,
            "a NameIDFormat is malformed".to_owned(),
            bad,
        );
    };
    // What the probes showed for each format: the layout probes send emailAddress.
    let email = [
        "signed at the Response only",
        "signed at the Assertion only",
        "signed at both",
    ]
    .iter()
    .filter_map(|v| profile.accepted(v))
    .reduce(|a, b| a || b);
    let unspecified = profile.accepted("unspecified (the email as NameID)");
    let persistent = profile
        .entries
        .iter()
        .find(|e| e.aspect == "identity source")
        .and_then(|e| match e.outcome {
            crate::profile::Outcome::Accepted | crate::profile::Outcome::SignedInAs(_) => {
                Some(true)
            }
            crate::profile::Outcome::Refused => Some(false),
            _ => None,
        });
    let mut seen = Vec::new();
    for f in &md.name_id_formats {
        let accepted = match f.as_str() {
            EMAIL => email,
            UNSPECIFIED => unspecified,
            PERSISTENT => persistent,
            _ => None,
        };
        match accepted {
            Some(false) => bad.push(format!("lists {f}, which the SP refused in the probes")),
            Some(true) => seen.push(format!("{f}: accepted in the probes")),
            None => seen.push(format!("{f}: not probed")),
        }
    }
    if bad.is_empty() {
        finding(
            check,
            Outcome::Pass,
            "every NameIDFormat listed that the probes tried was accepted".to_owned(),
            seen,
        )
    } else {
        bad.extend(seen);
        finding(
            check,
            Outcome::Fail,
            "the metadata lists a NameIDFormat the SP does not accept".to_owned(),
            bad,
        )
    }
}

/// An xs:duration in seconds (`P1DT2H`, `PT3600S`, `-PT1S`); `None` when malformed. Years
/// count 365 days and months 30.
pub(crate) fn duration_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    let (negative, s) = s.strip_prefix('-').map_or((false, s), |rest| (true, rest));
    let s = s.strip_prefix('P')?;
    let (date, time) = s.split_once('T').map_or((s, None), |(d, t)| (d, Some(t)));
    if time == Some("") || (date.is_empty() && time.is_none()) {
        return None;
    }
    let mut total = 0.0;
    let mut parse = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let at = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
            let value: f64 = number.parse().ok()?;
            if number.contains('.') && c != 'S' {
                return None;
            }
            total += value * units[at].1;
            number.clear();
            next_unit = at + 1;
        }
        number.is_empty().then_some(())
    };
    parse(
        date,
        &[
            ('Y', 365.0 * 86_400.0),
            ('M', 30.0 * 86_400.0),
            ('D', 86_400.0),
        ],
    )?;
    if let Some(t) = time {
        parse(t, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    Some(if negative { -total } else { total })
}

fn validity(md: &SpMetadata, now: DateTime<Utc>) -> Finding {
    let check = CheckName::MetadataValidity;
    let mut bad = Vec::new();
    for (on, value) in &md.valid_until {
        match DateTime::parse_from_rfc3339(value.trim()) {
            Err(_) => bad.push(format!("{on} validUntil={value:?} is not an xs:dateTime")),
            Ok(t) if t.with_timezone(&Utc) <= now => {
                bad.push(format!(
                    "{on} validUntil={value:?} has passed: IdPs must reject this metadata"
                ));
            }
            Ok(_) => {}
        }
    }
    for (on, value) in &md.cache_duration {
        match duration_seconds(value) {
            None => bad.push(format!(
                "{on} cacheDuration={value:?} is not an xs:duration"
            )),
            Some(s) if s <= 0.0 => {
                bad.push(format!("{on} cacheDuration={value:?} is not positive"));
            }
            Some(_) => {}
        }
    }
    if bad.is_empty() {
        let set = md.valid_until.len() + md.cache_duration.len();
        said(
            check,
            Outcome::Pass,
            if set == 0 {
                "neither validUntil nor cacheDuration is set (both optional)".to_owned()
            } else {
                "validUntil is in the future and cacheDuration positive".to_owned()
            },
        )
    } else {
        finding(
            check,
            Outcome::Fail,
            "the metadata's validity is wrong".to_owned(),
            bad,
        )
    }
}

fn metadata_signature(xml: &str, md: &SpMetadata) -> Finding {
    use super::metadata::{DS, MD};
    use base64::Engine as _;
    let check = CheckName::MetadataSignature;
    if !md.signed {
        return said(check, Outcome::Pass, "the metadata is not signed (a signature is optional; trust then rests on how it is fetched)".to_owned());
    }
    let Ok(doc) = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}')) else {
        return said(
            check,
            Outcome::Fail,
            "the metadata is not well-formed".to_owned(),
        );
    };
    let Some(entity) = doc.descendants().find(|n| {
        n.has_tag_name((MD, "EntityDescriptor"))
            && n.children().any(|c| c.has_tag_name((DS, "Signature")))
    }) else {
        return said(
            check,
            Outcome::Fail,
            "the signature cannot be found".to_owned(),
        );
    };
    let Some(sig) = entity
        .children()
        .find(|c| c.has_tag_name((DS, "Signature")))
    else {
        return said(
            check,
            Outcome::Fail,
            "the signature cannot be found".to_owned(),
        );
    };
    let uri = sig
        .descendants()
        .find(|n| n.has_tag_name((DS, "Reference")))
        .and_then(|r| r.attribute("URI"));
    let covers = match (uri, entity.attribute("ID")) {
        (Some(""), _) => true,
        (Some(u), Some(id)) => u.strip_prefix('#') == Some(id),
        _ => false,
    };
    if !covers {
        return said(
            check,
            Outcome::Fail,
            format!(
                "the signature's Reference URI {:?} does not name the EntityDescriptor (ID {:?})",
                uri.unwrap_or("(none)"),
                entity.attribute("ID").unwrap_or("(none)")
            ),
        );
    }
    let certs: Vec<CertificateDer> = sig
        .descendants()
        .filter(|n| n.has_tag_name((DS, "X509Certificate")))
        .filter_map(|n| {
            let text: String = n.text().unwrap_or_default().split_whitespace().collect();
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        })
        .map(CertificateDer::from)
        .collect();
    if certs.is_empty() {
        return said(check, Outcome::Skip, "the signature carries no certificate: verify it with the key of whoever publishes the metadata".to_owned());
    }
    match XmlSec::reduce_xml_to_signed(xml, &certs, ReduceMode::ValidateAndMarkNoAncestors) {
        Ok(_) => said(check, Outcome::Pass, "the metadata's signature covers the EntityDescriptor and verifies with the certificate it carries (whether that key is trusted is for the federation to say)".to_owned()),
        Err(e) => finding(
            check,
            Outcome::Fail,
            "the metadata's signature does not verify: the document changed after signing".to_owned(),
            vec![e.to_string()],
        ),
    }
}

fn id_unique(reqs: &[SeenRequest]) -> Finding {
    let check = CheckName::RequestIdUnique;
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in reqs {
        if let Some(id) = r.read.as_ref().ok().and_then(|f| f.id.as_deref()) {
            by_id.entry(id).or_default().push(&r.label);
        }
    }
    let bad: Vec<String> = by_id
        .iter()
        .filter(|(_, labels)| labels.len() > 1)
        .map(|(id, labels)| format!("ID {id:?} is used by {}", labels.join(", ")))
        .collect();
    if reqs.len() < 2 {
        return said(
            check,
            Outcome::Skip,
            "one AuthnRequest: uniqueness needs two or more".to_owned(),
        );
    }
    if bad.is_empty() {
        said(
            check,
            Outcome::Pass,
            format!("the {} AuthnRequests have different IDs", reqs.len()),
        )
    } else {
        finding(
            check,
            Outcome::Fail,
            "AuthnRequests share an ID".to_owned(),
            bad,
        )
    }
}

/// Bits per character of the smallest common alphabet that holds `chars`.
fn alphabet_bits(chars: &[char]) -> f64 {
    let all = |f: fn(&char) -> bool| chars.iter().all(f);
    if all(char::is_ascii_digit) {
        10f64.log2()
    } else if all(char::is_ascii_hexdigit)
        && (all(|c| !c.is_ascii_uppercase()) || all(|c| !c.is_ascii_lowercase()))
    {
        4.0
    } else if all(char::is_ascii_alphanumeric) {
        62f64.log2()
    } else {
        6.0
    }
}

/// Estimates the randomness of the IDs: positions that differ between requests (the parts
/// that stay the same, a prefix or a counter's high digits, carry none), times the bits of
/// the alphabet they use. One ID gives only an upper bound: its length times its alphabet.
pub(crate) fn estimate_id_bits(ids: &[&str]) -> (f64, bool) {
    let chars: Vec<Vec<char>> = ids.iter().map(|id| id.chars().collect()).collect();
    if ids.len() < 2 {
        let c = chars.first().cloned().unwrap_or_default();
        let body: Vec<char> = c
            .iter()
            .copied()
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .collect();
        return (body.len() as f64 * alphabet_bits(&body), false);
    }
    let same_len = chars.iter().all(|c| c.len() == chars[0].len());
    let varying: Vec<usize> = if same_len {
        let len = chars[0].len();
        let differs: Vec<bool> = (0..len)
            .map(|i| chars.iter().any(|c| c[i] != chars[0][i]))
            .collect();
        // The body: after the leading characters that are not letters or digits in every
        // sample (the `_` an NCName needs).
        let start = (0..len)
            .take_while(|&i| chars.iter().all(|c| !c[i].is_ascii_alphanumeric()))
            .count();
        // A lone letter or digit that happens to match in every sample, between two
        // positions that differ or one that differs and the body's edge, is chance (1 in 256
        // for hex and three samples); fixed parts (a prefix, a counter's or a timestamp's high
        // digits, a separator, the `4` between a UUID's dashes) are runs, separators, or sit
        // next to one.
        (0..len)
            .filter(|&i| {
                differs[i]
                    || (i >= start
                        && len - start > 1
                        && chars[0][i].is_ascii_alphanumeric()
                        && (i == start || differs[i - 1])
                        && (i + 1 == len || differs[i + 1]))
            })
            .collect()
    } else {
        // Different lengths: what lies between the common prefix and the common suffix.
        let shortest = chars.iter().map(Vec::len).min().unwrap_or(0);
        let prefix = (0..shortest)
            .take_while(|&i| chars.iter().all(|c| c[i] == chars[0][i]))
            .count();
        let suffix = (0..shortest - prefix)
            .take_while(|&i| {
                chars
                    .iter()
                    .all(|c| c[c.len() - 1 - i] == chars[0][chars[0].len() - 1 - i])
            })
            .count();
        (prefix..shortest - suffix).collect()
    };
    let seen = chars
        .iter()
        .flat_map(|c| varying.iter().filter_map(|&i| c.get(i).copied()))
        .collect::<Vec<_>>();
    let bits = varying.len() as f64 * alphabet_bits(&seen);
    (bits, true)
}

fn id_entropy(reqs: &[SeenRequest], params: &CheckParams) -> Finding {
    let check = CheckName::RequestIdEntropy;
    let min = f64::from(params.min_bits.unwrap_or(128));
    let ids: Vec<&str> = reqs
        .iter()
        .filter_map(|r| r.read.as_ref().ok().and_then(|f| f.id.as_deref()))
        .collect();
    if ids.is_empty() {
        return said(check, Outcome::Skip, "no AuthnRequest has an ID".to_owned());
    }
    let (bits, estimated) = estimate_id_bits(&ids);
    let evidence = ids.iter().map(|id| format!("ID {id}")).collect::<Vec<_>>();
    match (estimated, bits >= min) {
        (_, false) => finding(
            check,
            Outcome::Fail,
            format!(
                "the IDs carry about {bits:.0} bits of randomness{}, fewer than {min:.0}: an attacker may guess the next one",
                if estimated { "" } else { " at most" }
            ),
            evidence,
        ),
        (true, true) => said(
            check,
            Outcome::Pass,
            format!(
                "the IDs carry at least {min:.0} bits of randomness (estimated from {} requests)",
                ids.len()
            ),
        ),
        (false, true) => said(
            check,
            Outcome::Skip,
            format!(
                "one AuthnRequest: its ID could carry up to {bits:.0} bits, but the randomness is estimated from two or more"
            ),
        ),
    }
}

fn issue_instant(reqs: &[SeenRequest], k: &Known) -> Finding {
    let check = CheckName::RequestIssueInstant;
    let skew = chrono::Duration::seconds(k.clock_skew_seconds.max(0));
    let bad = each(reqs, |f, r| {
        let Some(value) = f.issue_instant.as_deref() else {
            return Some("has no IssueInstant".to_owned());
        };
        if !value.ends_with('Z') {
            return Some(format!(
                "IssueInstant {value:?} is not in UTC (SAML Core §1.3.3: no time zone but Z)"
            ));
        }
        let Ok(t) = DateTime::parse_from_rfc3339(value) else {
            return Some(format!("IssueInstant {value:?} is not an xs:dateTime"));
        };
        let at = r.received_at?;
        let off = t.with_timezone(&Utc) - at;
        (off.abs() > skew).then(|| {
            format!(
                "IssueInstant is {} s {} it arrived (the skew allowed is {} s)",
                off.num_seconds().abs(),
                if off > chrono::Duration::zero() {
                    "after"
                } else {
                    "before"
                },
                skew.num_seconds()
            )
        })
    });
    let unchecked = reqs.iter().filter(|r| r.received_at.is_none()).count();
    let good = if unchecked == 0 {
        format!(
            "has a UTC IssueInstant within {} s of when it arrived",
            skew.num_seconds()
        )
    } else {
        "has a UTC IssueInstant (when it was sent is not known, so the clock is not compared)"
            .to_owned()
    };
    per_request(check, reqs, bad, &good)
}

fn destination(reqs: &[SeenRequest], k: &Known) -> Finding {
    let check = CheckName::RequestDestination;
    let mut warnings = Vec::new();
    let bad = each(reqs, |f, r| {
        let expected = k
            .idp_sso
            .iter()
            .find(|(b, _)| *b == r.binding)
            .map(|(_, u)| u.clone())
            .or_else(|| r.sent_to.clone());
        match (f.destination.as_deref(), expected) {
            (None, _) if r.signed() => Some(
                "is signed but has no Destination (SAML Bindings §3.4.5.2, §3.5.5.2: required when signed)".to_owned(),
            ),
            (None, _) => {
                warnings.push(format!("{}: has no Destination (unsigned, so allowed; saml2int asks for one)", r.name()));
                None
            }
            (Some(d), Some(want)) if d != want => Some(format!(
                "Destination {d:?} is not the IdP's {} SSO URL {want:?}",
                r.binding.words()
            )),
            (Some(d), _) if !is_absolute_uri(d) => Some(format!("Destination {d:?} is not an absolute URI")),
            (Some(_), _) => None,
        }
    });
    let known = !k.idp_sso.is_empty() || reqs.iter().all(|r| r.sent_to.is_some());
    per_request_with(
        check,
        reqs,
        bad,
        warnings,
        if known {
            "names the IdP's SSO URL for its binding as Destination"
        } else {
            "has an absolute Destination (the IdP's SSO URL is not known, so not compared)"
        },
    )
}

fn issuer(reqs: &[SeenRequest], md: Option<&SpMetadata>) -> Finding {
    let check = CheckName::RequestIssuer;
    let entity = md.and_then(|m| m.entity_id.as_deref());
    let bad = each(reqs, |f, _| {
        let Some(issuer) = f.issuer.as_deref() else {
            return Some("has no Issuer (SAML Profiles §4.1.4.1: it MUST)".to_owned());
        };
        if let Some(format) = f.issuer_format.as_deref()
            && format != "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
        {
            return Some(format!(
                "Issuer Format is {format:?}; only entity (or none) is allowed"
            ));
        }
        match entity {
            Some(e) if e != issuer => Some(format!(
                "Issuer {issuer:?} is not the metadata's entityID {e:?}"
            )),
            _ => None,
        }
    });
    per_request(
        check,
        reqs,
        bad,
        if entity.is_some() {
            "names the metadata's entityID as Issuer"
        } else {
            "has an Issuer (no metadata to compare it with)"
        },
    )
}

fn acs(reqs: &[SeenRequest], md: Option<&SpMetadata>) -> Finding {
    let check = CheckName::RequestAcs;
    let bad = each(reqs, |f, _| {
        match (f.acs_url.as_deref(), f.acs_index.as_deref(), md) {
            (Some(_), Some(_), _) => Some(
                "gives both AssertionConsumerServiceURL and AssertionConsumerServiceIndex (SAML Core §3.4.1: mutually exclusive)".to_owned(),
            ),
            (Some(url), None, Some(md)) => (!md.acs.iter().any(|a| a.location.as_deref() == Some(url)))
                .then(|| format!("AssertionConsumerServiceURL {url:?} is not an ACS Location of the metadata")),
            (None, Some(index), Some(md)) => (!md.acs.iter().any(|a| a.index.as_deref().map(str::trim) == Some(index.trim())))
                .then(|| format!("AssertionConsumerServiceIndex {index} is not an ACS index of the metadata")),
            _ => None,
        }
    });
    per_request(
        check,
        reqs,
        bad,
        if md.is_some() {
            "names an ACS of the metadata (or none: the default)"
        } else {
            "names its ACS one way (no metadata to compare with)"
        },
    )
}

fn protocol_binding(reqs: &[SeenRequest], md: Option<&SpMetadata>) -> Finding {
    let check = CheckName::RequestProtocolBinding;
    let bad = each(reqs, |f, _| {
        let binding = f.protocol_binding.as_deref()?;
        if binding == REDIRECT {
            return Some("ProtocolBinding is HTTP-Redirect, which SAML Profiles §4.1.2 forbids for the Response".to_owned());
        }
        if f.acs_index.is_some() {
            return Some("gives ProtocolBinding with AssertionConsumerServiceIndex (SAML Core §3.4.1: mutually exclusive)".to_owned());
        }
        let md = md?;
        let matching = |a: &&super::metadata::Endpoint| match f.acs_url.as_deref() {
            Some(url) => a.location.as_deref() == Some(url),
            None => true,
        };
        (!md.acs
            .iter()
            .filter(matching)
            .any(|a| a.binding.as_deref() == Some(binding)))
        .then(|| {
            format!(
                "ProtocolBinding {binding} is not a binding of the ACS it names in the metadata"
            )
        })
    });
    per_request(
        check,
        reqs,
        bad,
        "asks for a binding its ACS takes (or none)",
    )
}

fn name_id_policy(reqs: &[SeenRequest], md: Option<&SpMetadata>) -> Finding {
    let check = CheckName::RequestNameIdPolicy;
    let bad = each(reqs, |f, _| {
        if let Some(v) = f.allow_create.as_deref()
            && !matches!(v.trim(), "true" | "false" | "1" | "0")
        {
            return Some(format!("AllowCreate={v:?} is not an xs:boolean"));
        }
        let format = f.name_id_format.as_deref()?;
        if format == UNSPECIFIED {
            return None;
        }
        let md = md?;
        (!md.name_id_formats.is_empty() && !md.name_id_formats.iter().any(|m| m == format)).then(
            || {
                format!(
                    "NameIDPolicy asks for {format}, which the metadata does not list ({})",
                    md.name_id_formats.join(", ")
                )
            },
        )
    });
    per_request(
        check,
        reqs,
        bad,
        "asks for a NameID format the metadata lists (or leaves it to the IdP)",
    )
}

fn request_signature(reqs: &[SeenRequest], md: &SpMetadata, k: &Known) -> Finding {
    let check = CheckName::RequestSignature;
    let required_by = match (k.idp_wants_signed, md.says_authn_requests_signed()) {
        (Some(true), _) => Some("the IdP's metadata says WantAuthnRequestsSigned=\"true\""),
        (_, true) => Some("the SP's metadata says AuthnRequestsSigned=\"true\""),
        _ => None,
    };
    let certs: Vec<Vec<u8>> = md
        .signing_certificates()
        .iter()
        .map(|c| c.info.der.clone())
        .collect();
    let bad = each(reqs, |_, r| {
        if !r.signed() {
            return required_by.map(|why| format!("is unsigned, but {why}"));
        }
        if certs.is_empty() {
            return Some(
                "is signed, but the SP's metadata publishes no signing key to verify it with"
                    .to_owned(),
            );
        }
        let verified = match (r.binding, r.raw_query.as_deref()) {
            (RequestBinding::Redirect, Some(query)) => {
                mock_idp::authn_request::verify_redirect_signature(query, &certs)
            }
            _ => {
                let der: Vec<CertificateDer> = certs.iter().map(|c| c.clone().into()).collect();
                XmlSec::reduce_xml_to_signed(&r.xml, &der, ReduceMode::ValidateAndMarkNoAncestors)
                    .map(|_| true)
                    .map_err(|e| e.to_string())
            }
        };
        match verified {
            Ok(true) => None,
            Ok(false) => {
                Some("its signature does not verify with the metadata's signing keys".to_owned())
            }
            Err(e) => Some(format!("its signature cannot be verified: {e}")),
        }
    });
    let signed = reqs.iter().filter(|r| r.signed()).count();
    if signed == 0 && required_by.is_none() && bad.is_empty() {
        return said(
            check,
            Outcome::Pass,
            format!(
                "the AuthnRequests are unsigned, and nothing asks for a signature ({})",
                match k.idp_wants_signed {
                    Some(false) => "the IdP's metadata says WantAuthnRequestsSigned=\"false\"",
                    _ => "the IdP's wish is not known",
                }
            ),
        );
    }
    per_request(
        check,
        reqs,
        bad,
        "is signed and verifies with the metadata's signing key (HTTP-Redirect: over the octets sent)",
    )
}

fn relay_state_user_data(reqs: &[SeenRequest], k: &Known) -> Finding {
    use base64::Engine as _;
    let check = CheckName::RequestRelayStateUserData;
    if k.emails.is_empty() {
        return said(
            check,
            Outcome::Skip,
            "no user's email is known to look for".to_owned(),
        );
    }
    let bad = reqs
        .iter()
        .filter_map(|r| {
            let rs = r.relay_state.as_deref()?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rs.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rs.trim()))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let lower = (rs.to_ascii_lowercase(), decoded.to_ascii_lowercase());
            k.emails
                .iter()
                .find(|e| {
                    let e = e.to_ascii_lowercase();
                    lower.0.contains(&e) || lower.1.contains(&e)
                })
                .map(|e| format!("{}: RelayState carries the user's email {e}", r.name()))
        })
        .collect();
    per_request(
        check,
        reqs,
        bad,
        "has a RelayState that carries no user's email",
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::conformance::metadata::{DS, MD};

    const POST_B: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

    fn key() -> reference_sp::decrypt::EncryptionKey {
        reference_sp::decrypt::EncryptionKey::generate("test").expect("key")
    }

    fn metadata(body: &str, cert: &str) -> MetadataDoc {
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="https://sp.test/md">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
{body}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        );
        MetadataDoc::new("test.xml", xml)
    }

    fn known() -> Known {
        Known {
            now: Utc::now(),
            clock_skew_seconds: 60,
            idp_sso: vec![(RequestBinding::Redirect, "https://idp.test/sso".to_owned())],
            idp_wants_signed: Some(true),
            emails: vec!["member@example.com".to_owned()],
            profile: None,
        }
    }

    fn check(c: CheckName, md: &MetadataDoc, reqs: &[SeenRequest], k: &Known) -> Finding {
        let subject = Subject {
            metadata: Ok(md),
            requests: Ok(reqs),
            asked: None,
            known: k,
        };
        run(c, &CheckParams::default(), &subject)
    }

    #[test]
    fn force_authn_and_is_passive_are_judged_on_the_logins_that_asked_for_them_only() {
        use crate::scenario::SpLogin;
        let md = metadata("", "");
        let k = known();
        let with = |attrs: &str| {
            let xml = crate::conformance::request::tests::XML
                .replace(r#" ForceAuthn="true""#, "")
                .replacen(" ProtocolBinding=", &format!("{attrs} ProtocolBinding="), 1);
            SeenRequest::from_xml("request 1".to_owned(), xml, RequestBinding::Post)
        };
        let judge = |c: CheckName, asked: Option<SpLogin>, attrs: &str| {
            let reqs = [with(attrs)];
            let subject = Subject {
                metadata: Ok(&md),
                requests: Ok(&reqs),
                asked,
                known: &k,
            };
            run(c, &CheckParams::default(), &subject).outcome
        };
        let (force, passive) = (CheckName::RequestForceAuthn, CheckName::RequestIsPassive);
        let asked_force = Some(SpLogin::ForceAuthn);
        let asked_passive = Some(SpLogin::Passive);
        assert_eq!(
            judge(force, asked_force, r#" ForceAuthn="true""#),
            Outcome::Pass
        );
        assert_eq!(
            judge(force, asked_force, r#" ForceAuthn="1""#),
            Outcome::Pass
        );
        assert_eq!(
            judge(force, asked_force, r#" ForceAuthn="false""#),
            Outcome::Fail
        );
        assert_eq!(judge(force, asked_force, ""), Outcome::Fail);
        assert_eq!(
            judge(passive, asked_passive, r#" IsPassive="true""#),
            Outcome::Pass
        );
        assert_eq!(
            judge(passive, asked_passive, r#" ForceAuthn="true""#),
            Outcome::Fail
        );
        // Not the logins that asked: not judged.
        assert_eq!(judge(force, None, ""), Outcome::Skip);
        assert_eq!(
            judge(force, asked_passive, r#" ForceAuthn="true""#),
            Outcome::Skip
        );
    }

    fn request(id: &str, extra: &str) -> String {
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="https://idp.test/sso" AssertionConsumerServiceURL="https://sp.test/acs"{extra}><saml:Issuer>https://sp.test/md</saml:Issuer></samlp:AuthnRequest>"#
        )
    }

    /// An HTTP-Redirect query for `xml`, signed with `key` (rsa-sha256) over its octets.
    fn signed_query(xml: &str, relay: &str, key: &reference_sp::decrypt::EncryptionKey) -> String {
        use std::io::Write as _;
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(xml.as_bytes()).expect("deflate");
        let deflated =
            base64::engine::general_purpose::STANDARD.encode(d.finish().expect("deflate"));
        let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let signed = format!(
            "SAMLRequest={}&RelayState={}&SigAlg={}",
            enc(&deflated),
            enc(relay),
            enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        );
        let sig = key
            .sign(openssl::hash::MessageDigest::sha256(), signed.as_bytes())
            .expect("sign");
        format!(
            "{signed}&Signature={}",
            enc(&base64::engine::general_purpose::STANDARD.encode(sig))
        )
    }

    fn redirect(n: usize, query: &str) -> SeenRequest {
        SeenRequest::from_query(
            format!("request {n}"),
            Some("https://idp.test/sso".to_owned()),
            query,
            Some(Utc::now()),
        )
        .expect("reads")
    }

    #[test]
    fn good_metadata_passes_and_what_needs_the_profile_says_so() {
        let k = key();
        let md = metadata(
            &format!(
                r#"<md:AssertionConsumerService Binding="{POST_B}" Location="https://sp.test/acs" index="0" isDefault="true"/>"#
            ),
            &k.cert_base64(),
        );
        for c in CheckName::ALL.iter().filter(|c| c.is_metadata()) {
            let f = check(*c, &md, &[], &known());
            match c {
                CheckName::MetadataWantAssertionsSigned | CheckName::MetadataNameIdFormat => {
                    assert_eq!(f.outcome, Outcome::Skip, "{f:?}");
                    assert!(f.summary.contains("no SP profile"), "{f:?}");
                }
                CheckName::MetadataAuthnRequestsSigned => {
                    assert_eq!(f.outcome, Outcome::Skip, "{f:?}");
                }
                _ => assert_eq!(f.outcome, Outcome::Pass, "{f:?}"),
            }
        }
    }

    #[test]
    fn each_metadata_defect_fails_its_own_check() {
        let weak = {
            let rsa = openssl::rsa::Rsa::generate(1024).expect("rsa");
            let pkey = openssl::pkey::PKey::from_rsa(rsa).expect("pkey");
            let mut b = openssl::x509::X509Builder::new().expect("builder");
            let mut name = openssl::x509::X509NameBuilder::new().expect("name");
            name.append_entry_by_text("CN", "weak").expect("cn");
            let name = name.build();
            b.set_subject_name(&name).expect("subject");
            b.set_issuer_name(&name).expect("issuer");
            b.set_pubkey(&pkey).expect("pubkey");
            b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("t"))
                .expect("nb");
            b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(5).expect("t"))
                .expect("na");
            b.sign(&pkey, openssl::hash::MessageDigest::sha256())
                .expect("sign");
            base64::engine::general_purpose::STANDARD.encode(b.build().to_der().expect("der"))
        };
        let md = metadata(
            r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="http://sp.test/acs" index="1" isDefault="true"/>
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="http://127.0.0.1:9/acs" index="1" isDefault="true"/>"#,
            &weak,
        );
        let md = MetadataDoc::new(
            "bad.xml",
            md.xml
                .replace(
                    "entityID=\"https://sp.test/md\"",
                    "entityID=\"sp\" validUntil=\"2001-01-01T00:00:00Z\" cacheDuration=\"P1Q\"",
                )
                .replace(
                    "protocolSupportEnumeration",
                    "AuthnRequestsSigned=\"true\" protocolSupportEnumeration",
                ),
        );
        let want = [
            (
                CheckName::MetadataEntityId,
                Outcome::Fail,
                "not an absolute URI",
            ),
            (CheckName::MetadataAcsPost, Outcome::Fail, "HTTP-POST"),
            (CheckName::MetadataAcsIndexes, Outcome::Fail, "shared"),
            (CheckName::MetadataAcsDefault, Outcome::Fail, "ambiguous"),
            (CheckName::MetadataAcsHttps, Outcome::Fail, "plain http"),
            (
                CheckName::MetadataKeySize,
                Outcome::Fail,
                "weaker than RSA-2048",
            ),
            (
                CheckName::MetadataCertificateExpiry,
                Outcome::Warn,
                "within 30 days",
            ),
            (CheckName::MetadataValidity, Outcome::Fail, "validity"),
        ];
        for (c, outcome, words) in want {
            let f = check(c, &md, &[], &known());
            assert_eq!(f.outcome, outcome, "{f:?}");
            assert!(
                f.summary.contains(words) || f.evidence.iter().any(|e| e.contains(words)),
                "{c}: {f:?}"
            );
        }
        let unsigned = redirect(
            1,
            &format!("SAMLRequest={}", {
                use std::io::Write as _;
                let mut d =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                d.write_all(request("_x", "").as_bytes()).expect("deflate");
                form_urlencoded::byte_serialize(
                    base64::engine::general_purpose::STANDARD
                        .encode(d.finish().expect("deflate"))
                        .as_bytes(),
                )
                .collect::<String>()
            }),
        );
        let f = check(
            CheckName::MetadataAuthnRequestsSigned,
            &md,
            &[unsigned],
            &known(),
        );
        assert_eq!(f.outcome, Outcome::Fail, "{f:?}");
    }

    #[test]
    fn redirect_signatures_are_verified_over_the_octets_sent() {
        let k = key();
        let md = metadata(
            &format!(
                r#"<md:AssertionConsumerService Binding="{POST_B}" Location="https://sp.test/acs" index="0"/>"#
            ),
            &k.cert_base64(),
        );
        let query = signed_query(&request("_0a1b2c3d4e5f60718293a4b5c6d7e8f9", ""), "r1", &k);
        let good = redirect(1, &query);
        let f = check(
            CheckName::RequestSignature,
            &md,
            std::slice::from_ref(&good),
            &known(),
        );
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        // The same parameters re-encoded (lower-case escapes) are other octets: the signature
        // no longer covers them.
        let reencoded = query
            .replace("%2B", "%2b")
            .replace("%2F", "%2f")
            .replace("%3D", "%3d");
        assert_ne!(reencoded, query, "the query has escapes to re-encode");
        let f = check(
            CheckName::RequestSignature,
            &md,
            &[redirect(1, &reencoded)],
            &known(),
        );
        assert_eq!(f.outcome, Outcome::Fail, "{f:?}");
        // Unsigned, while the IdP asks for signatures.
        let unsigned = query.split("&SigAlg").next().expect("prefix").to_owned();
        let f = check(
            CheckName::RequestSignature,
            &md,
            &[redirect(1, &unsigned)],
            &known(),
        );
        assert_eq!(f.outcome, Outcome::Fail, "{f:?}");
        assert!(f.evidence[0].contains("WantAuthnRequestsSigned"), "{f:?}");
    }

    #[test]
    fn request_defects_fail_their_checks() {
        let k = key();
        let md = metadata(
            &format!(
                r#"<md:AssertionConsumerService Binding="{POST_B}" Location="https://sp.test/acs" index="0"/>"#
            ),
            &k.cert_base64(),
        );
        let long = "x".repeat(81);
        let reqs = [
            redirect(1, &signed_query(&request("1000", ""), &long, &k)),
            redirect(
                2,
                &signed_query(
                    &request("1001", " Destination2=\"\""),
                    "member@example.com",
                    &k,
                ),
            ),
            redirect(
                3,
                &signed_query(
                    &request("1001", "").replace("https://idp.test/sso", "https://other.test/sso"),
                    "r",
                    &k,
                ),
            ),
        ];
        let want = [
            (CheckName::RequestIdNcname, "NCName"),
            (
                CheckName::RequestIdUnique,
                "\"1001\" is used by request 2, request 3",
            ),
            (CheckName::RequestIdEntropy, "fewer than 128"),
            (
                CheckName::RequestDestination,
                "not the IdP's HTTP-Redirect SSO URL",
            ),
            (CheckName::RequestRelayStateSize, "81 bytes"),
            (CheckName::RequestRelayStateUserData, "member@example.com"),
            (CheckName::RequestSchema, "Destination2"),
        ];
        for (c, words) in want {
            let f = check(c, &md, &reqs, &known());
            assert_eq!(f.outcome, Outcome::Fail, "{f:?}");
            assert!(
                f.evidence.iter().any(|e| e.contains(words)) || f.summary.contains(words),
                "{c}: {f:?}"
            );
        }
        for c in [
            CheckName::RequestVersion,
            CheckName::RequestIssuer,
            CheckName::RequestAcs,
            CheckName::RequestIssueInstant,
        ] {
            assert_eq!(check(c, &md, &reqs, &known()).outcome, Outcome::Pass, "{c}");
        }
    }

    #[test]
    fn entropy_counts_only_what_varies() {
        let random = [
            "_8f3a9c1e2b7d4f60a1c3e5b7d9f0a2c4",
            "_03be7f1a9c2d4e6f8a0b1c3d5e7f9a1b",
            "_c1d2e3f405a6b7c8d9e0f1a2b3c4d5e6",
        ];
        let (bits, estimated) = estimate_id_bits(&random);
        assert!(estimated && bits >= 124.0, "{bits}");
        // Position 5 is the same in all three by chance.
        let chance = [
            "_8f3a9c1e2b7d4f60a1c3e5b7d9f0a2c4",
            "_03be7c1a9c2d4e6f8a0b1c3d5e7f9a1b",
            "_c1d2ec0405a6b7c8d9e0f1a2b3c4d5e6",
        ];
        assert_eq!(estimate_id_bits(&chance).0, 128.0);
        // The first and the last hex digit are the same in all five by chance (each 1 in
        // 65,536 for five samples: the self-test's dozens of runs met it).
        let edges = [
            "_8f3a9c1e2b7d4f60a1c3e5b7d9f0a2c4",
            "_83be7f1a9c2d4e6f8a0b1c3d5e7f9a14",
            "_81d2e3f405a6b7c8d9e0f1a2b3c4d5e4",
            "_8a1b2c3d4e5f60718293a4b5c6d7e8f4",
            "_8e9f0a1b2c3d4e5f60718293a4b5c6d4",
        ];
        assert_eq!(estimate_id_bits(&edges).0, 128.0);
        // A UUID's version digit sits between fixed dashes: not chance (122 random bits).
        let uuids = [
            "_0f8fad5b-d9cb-469f-a165-70867728950e",
            "_7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "_1b4e28ba-2fa1-41d2-883f-0016d3ca67ab",
        ];
        assert!(estimate_id_bits(&uuids).0 < 128.0);
        let timed = ["_id1733567000001", "_id1733567000002", "_id1733567000173"];
        assert!(estimate_id_bits(&timed).0 < 20.0);
        assert_eq!(duration_seconds("PT1H"), Some(3600.0));
        assert_eq!(duration_seconds("P1DT1S"), Some(86_401.0));
        assert_eq!(duration_seconds("-PT5S"), Some(-5.0));
        assert_eq!(duration_seconds("P1Q"), None);
        assert_eq!(duration_seconds("PT"), None);
        assert!(is_ncname("_a.b-c") && !is_ncname("1abc") && !is_ncname("a:b"));
    }
}
