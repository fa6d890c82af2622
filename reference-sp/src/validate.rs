//! The ACS validator: every check of a SAML Response, each with its reason code, each one
//! switchable off by exactly one weakening. Pure apart from xmlsec: the caller supplies the
//! browser's outstanding request ids and the time, and keeps the replay cache.
//!
//! Order: strict pre-parse (no DOCTYPE, one root, nothing after it) -> structure (one
//! Response, unique NCName IDs in no namespace, Success, exactly one Assertion as its child,
//! signatures only on the Response or that Assertion, each with one SignedInfo and exactly one
//! `#ID` reference to its parent, allowed algorithms and transforms) -> xmlsec verifies every
//! signature against the connection's keys only (nothing is fetched: every reference was
//! pinned to a same-document ID before xmlsec runs, and `KeyInfo` is never trusted) ->
//! signature policy -> Destination, Issuers, IssueInstant -> InResponseTo against this
//! browser's outstanding requests -> bearer SubjectConfirmationData -> Conditions and
//! Audience -> AuthnStatement -> identity, read from the verified assertion as its full text
//! content (comments cannot truncate it).
//!
//! Because the structure checks leave exactly one element that a signature can cover (the
//! Response, or the one Assertion), "what was verified" and "what is read" are the same nodes:
//! no reduction step is needed, and no wrapping shape can smuggle a second assertion in.

use std::collections::{BTreeSet, HashSet};
use std::io::Read as _;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, Node};
use samael::crypto::{CertificateDer, CryptoProvider as _, ReduceMode, XmlSec};

use crate::connection::Connection;
use crate::decrypt::EncryptionKey;
use crate::reason::{Reason, Refusal};
use crate::settings::{IdentitySource, Settings, SignaturePolicy};
use crate::weaken::Weakening;

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// The largest decoded response accepted.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// What the SP knows when a response arrives.
#[derive(Debug)]
pub struct Context<'a> {
    /// This SP's entityID (the expected Audience).
    pub sp_entity_id: &'a str,
    /// The ACS URL the response was posted to.
    pub acs_url: &'a str,
    /// The IdP.
    pub connection: &'a Connection,
    /// The tenant's policy.
    pub settings: &'a Settings,
    /// Checks turned off.
    pub weaken: &'a BTreeSet<Weakening>,
    /// Request ids this browser has outstanding (empty: only unsolicited responses can pass,
    /// and only when the settings allow IdP-initiated login).
    pub outstanding: &'a [String],
    /// The request the posted RelayState is bound to, when it is one this SP issued: a
    /// Response without InResponseTo then answers it without saying so
    /// (`in_response_to_missing`).
    pub relay_request: Option<&'a str>,
    /// Now.
    pub now: DateTime<Utc>,
    /// This SP's encryption key (for `EncryptedAssertion`); `None`: encrypted assertions are
    /// refused as missing.
    pub decryption_key: Option<&'a EncryptionKey>,
}

/// A response that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The asserted email (from the NameID or the configured attribute).
    pub email: String,
    /// The verified assertion's ID (for the replay cache).
    pub assertion_id: String,
    /// Until when the assertion ID must stay in the replay cache.
    pub replay_until: DateTime<Utc>,
    /// The request this answers, if solicited.
    pub in_response_to: Option<String>,
    /// When the session must end, if the IdP said.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// The verified assertion's NameID and SessionIndex, which an IdP's LogoutRequest names.
    pub sso: Option<crate::store::SsoLink>,
    /// Whether the response or the assertion was signed (for logs).
    pub signed: (bool, bool),
    /// The verified assertion's attributes (Name, values), in document order. Never used for
    /// authorization (roles stay the SP's), only logged, unless weakened.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Decodes the `SAMLResponse` form field (base64, not DEFLATEd).
pub fn decode_post(value: &str) -> Result<String, Refusal> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| {
            Refusal::new(
                Reason::ResponseNotBase64,
                format!("SAMLResponse is not base64: {e}"),
            )
        })?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(Refusal::new(
            Reason::ResponseTooLarge,
            format!(
                "the response is {} bytes; the limit is {MAX_RESPONSE_BYTES}",
                bytes.len()
            ),
        ));
    }
    let start = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&bytes)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    if start != Some(&b'<') {
        // Not XML: perhaps DEFLATEd (the Redirect encoding) or base64 twice.
        let mut inflated = Vec::new();
        let deflated = flate2::read::DeflateDecoder::new(&bytes[..])
            .take(1 << 16)
            .read_to_end(&mut inflated)
            .is_ok()
            && inflated.starts_with(b"<");
        return Err(Refusal::new(
            Reason::WrongBinding,
            if deflated {
                "the response is DEFLATEd: that is the HTTP-Redirect encoding, never valid for a Response over HTTP-POST"
            } else {
                "the decoded SAMLResponse is not XML"
            },
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Refusal::new(Reason::XmlMalformed, "the response is not UTF-8"))
}

fn off(ctx: &Context<'_>, w: Weakening) -> bool {
    ctx.weaken.contains(&w)
}

fn refuse<T>(reason: Reason, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(reason, detail))
}

/// Decodes and validates a `SAMLResponse` form value: [`decode_post`] then [`validate`]. The
/// entry point for callers without HTTP (the in-process fuzzer). Blocking (xmlsec).
pub fn validate_response(encoded: &str, ctx: &Context<'_>) -> Result<Login, Refusal> {
    let xml = decode_post(encoded)?;
    validate(&xml, ctx)
}

/// Validates a decoded response. Blocking (xmlsec): call from `spawn_blocking` in async code.
/// [`crate::meters::VALIDATIONS`] counts it.
pub fn validate(xml: &str, ctx: &Context<'_>) -> Result<Login, Refusal> {
    let login = crate::meters::VALIDATIONS.time(|| validate_with(xml, ctx, None));
    if login.is_ok() {
        crate::meters::ACCEPTED.count(1);
    }
    login
}

/// What the Response around a decrypted assertion contributed: whether its signature (over
/// the encrypted form, removed before the decrypted text is validated) verified.
#[derive(Debug, Clone, Copy)]
struct Decrypted {
    response_signed: bool,
}

/// [`validate`]; `decrypted` is set when `xml` is a Response whose `EncryptedAssertion` was
/// replaced by its plaintext.
fn validate_with(
    xml: &str,
    ctx: &Context<'_>,
    decrypted: Option<Decrypted>,
) -> Result<Login, Refusal> {
    // 1. Strict pre-parse: no DOCTYPE, one root, nothing after it.
    let has_doctype = xml.to_ascii_uppercase().contains("<!DOCTYPE");
    if has_doctype && !off(ctx, Weakening::XmlDoctype) {
        return refuse(Reason::XmlDoctype, "the response contains a DOCTYPE");
    }
    let (doc, text_used) = parse(xml, has_doctype, ctx)?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "Response")) {
        return refuse(
            Reason::NotAResponse,
            format!(
                "the root element is {:?}, not samlp:Response",
                root.tag_name().name()
            ),
        );
    }
    if root.attribute("Version") != Some("2.0") {
        return refuse(
            Reason::VersionInvalid,
            format!("Version is {:?}, not \"2.0\"", root.attribute("Version")),
        );
    }
    check_ids(&doc)?;
    if !off(ctx, Weakening::Schema) {
        check_schema(root)?;
    }

    // 2. Status.
    let status = root
        .children()
        .find(|n| n.has_tag_name((SAMLP, "Status")))
        .and_then(|s| s.children().find(|n| n.has_tag_name((SAMLP, "StatusCode"))))
        .and_then(|c| c.attribute("Value"));
    if status != Some(SUCCESS) {
        return refuse(
            Reason::StatusNotSuccess,
            format!("the IdP answered status {}", status.unwrap_or("(none)")),
        );
    }

    // 3. An EncryptedAssertion: the Response signature verified over it, then decrypted in
    //    place, and the whole result validated like a plain response.
    if decrypted.is_none()
        && let Some((plain, outer)) = decrypt_in_place(&doc, text_used, root, ctx)?
    {
        return validate_with(&plain, ctx, Some(outer));
    }

    //    Assertions: exactly one, a child of the Response.
    let (assertion, all_assertions) = the_assertion(&doc, root, ctx)?;
    if assertion.attribute("Version") != Some("2.0") {
        return refuse(
            Reason::VersionInvalid,
            format!(
                "the Assertion's Version is {:?}, not \"2.0\"",
                assertion.attribute("Version")
            ),
        );
    }
    require_id(assertion, "Assertion")?;

    // 4. Signatures: where they are, what they reference, which algorithms; then xmlsec
    //    verifies them with the connection's keys only, and the policy says which must exist.
    let (response_signed, assertion_signed) =
        check_signatures(&doc, text_used, root, assertion, ctx, decrypted)?;

    // 5. Response addressing and issuers.
    check_destination(root, response_signed, ctx)?;
    if !off(ctx, Weakening::Issuer) {
        check_issuer(root, "Response", response_signed, ctx)?;
        check_issuer(assertion, "Assertion", true, ctx)?;
    }
    let skew = Duration::seconds(ctx.settings.clock_skew_seconds.max(0));
    for (what, node) in [("Response", root), ("Assertion", assertion)] {
        // SAML Core §1.3.3: UTC, "with no time zone component".
        if let Some(text) = node.attribute("IssueInstant")
            && !text.ends_with('Z')
        {
            return refuse(
                Reason::IssueInstantInvalid,
                format!(
                    "the {what}'s IssueInstant {text} is not in UTC (SAML Core §1.3.3 wants a trailing Z)"
                ),
            );
        }
        match instant(node.attribute("IssueInstant")) {
            Some(t) if t <= ctx.now + skew => {}
            Some(t) => {
                return refuse(
                    Reason::IssueInstantInvalid,
                    format!("the {what} was issued in the future ({t})"),
                );
            }
            None => {
                return refuse(
                    Reason::IssueInstantInvalid,
                    format!("the {what} has no valid IssueInstant"),
                );
            }
        }
    }

    // 6. Session binding: InResponseTo names a request this browser has outstanding.
    let in_response_to = root.attribute("InResponseTo").map(str::to_owned);
    check_in_response_to(in_response_to.as_deref(), ctx)?;

    // 7. Subject confirmation (bearer).
    let scd_not_on_or_after =
        check_subject_confirmation(assertion, in_response_to.as_deref(), skew, ctx)?;

    // 8. Conditions.
    let conditions = assertion
        .children()
        .find(|n| n.has_tag_name((SAML, "Conditions")));
    check_conditions(conditions, skew, ctx)?;

    // 9. Authentication statement.
    let authn = assertion
        .children()
        .find(|n| n.has_tag_name((SAML, "AuthnStatement")));
    if !off(ctx, Weakening::AuthnStatement) {
        check_authn_statement(authn)?;
    }
    if let Some(want) = &ctx.settings.requested_authn_context {
        let got = authn
            .and_then(|a| {
                a.children()
                    .find(|n| n.has_tag_name((SAML, "AuthnContext")))
            })
            .and_then(|c| {
                c.children()
                    .find(|n| n.has_tag_name((SAML, "AuthnContextClassRef")))
            })
            .map(|r| full_text(r).trim().to_owned());
        if got.as_deref() != Some(want.as_str()) {
            return refuse(
                Reason::AuthnContextMismatch,
                format!(
                    "the SP requested AuthnContextClassRef {want} exactly; the assertion has {}",
                    got.as_deref().unwrap_or("none")
                ),
            );
        }
    }
    let session_not_on_or_after = authn.and_then(|a| instant(a.attribute("SessionNotOnOrAfter")));
    if let Some(t) = session_not_on_or_after
        && t <= ctx.now
    {
        return refuse(
            Reason::SessionExpired,
            format!("SessionNotOnOrAfter {t} has passed"),
        );
    }

    // 10. Identity, from the verified assertion (or, weakened, the first one in the document).
    let source = match all_assertions.first() {
        Some(first)
            if off(ctx, Weakening::TrustFirstAssertion)
                || off(ctx, Weakening::AssertionBySearch) =>
        {
            *first
        }
        _ => assertion,
    };
    let email = identity(source, ctx)?;
    let sso = assertion
        .children()
        .find(|n| n.has_tag_name((SAML, "Subject")))
        .and_then(|s| s.children().find(|n| n.has_tag_name((SAML, "NameID"))))
        .map(|n| crate::store::SsoLink {
            name_id: full_text(n),
            session_index: authn
                .and_then(|a| a.attribute("SessionIndex"))
                .map(str::to_owned),
        });
    let assertion_id = assertion.attribute("ID").unwrap_or_default().to_owned();
    let replay_until = scd_not_on_or_after
        .or_else(|| conditions.and_then(|c| instant(c.attribute("NotOnOrAfter"))))
        .unwrap_or(ctx.now + Duration::minutes(10))
        .max(ctx.now)
        + skew;
    Ok(Login {
        email,
        assertion_id,
        replay_until,
        in_response_to,
        session_not_on_or_after,
        sso,
        signed: (response_signed, assertion_signed),
        attributes: attributes(assertion),
    })
}

/// The attributes of an assertion: (Name, values).
fn attributes(assertion: Node<'_, '_>) -> Vec<(String, Vec<String>)> {
    assertion
        .children()
        .filter(|n| n.has_tag_name((SAML, "AttributeStatement")))
        .flat_map(|s| s.children())
        .filter(|n| n.has_tag_name((SAML, "Attribute")))
        .map(|a| {
            (
                a.attribute("Name").unwrap_or_default().to_owned(),
                a.children()
                    .filter(|v| v.has_tag_name((SAML, "AttributeValue")))
                    .map(full_text)
                    .collect(),
            )
        })
        .collect()
}

/// Parses strictly: well-formed, one root element, nothing but whitespace after it. With
/// `xml-single-root` weakened, whatever follows the first root is cut off (libxml2's recover
/// mode keeps the first root the same way).
fn parse<'x>(
    xml: &'x str,
    has_doctype: bool,
    ctx: &Context<'_>,
) -> Result<(Document<'x>, &'x str), Refusal> {
    // External entities are never resolved (roxmltree's default resolver refuses them); a
    // DOCTYPE is only parsed at all when `xml-doctype` is weakened.
    let options = || roxmltree::ParsingOptions {
        allow_dtd: has_doctype,
        nodes_limit: 100_000,
        ..roxmltree::ParsingOptions::default()
    };
    let malformed = |e: roxmltree::Error| {
        Refusal::new(
            Reason::XmlMalformed,
            format!("the response is not well-formed XML: {e}"),
        )
    };
    let trailing = || {
        Refusal::new(
            Reason::XmlMultipleRoots,
            "content follows the root element (a second root or trailing data)",
        )
    };
    match Document::parse_with_options(xml, options()) {
        Ok(doc) => {
            // Comments and processing instructions after the root are well-formed XML, but
            // nothing a real IdP sends: refused like a second root.
            let root_end = doc.root_element().range().end;
            let after = &xml[root_end.min(xml.len())..];
            if after.trim().is_empty() {
                Ok((doc, xml))
            } else if off(ctx, Weakening::XmlSingleRoot) {
                let prefix = &xml[..root_end];
                Document::parse_with_options(prefix, options())
                    .map(|doc| (doc, prefix))
                    .map_err(malformed)
            } else {
                Err(trailing())
            }
        }
        Err(e) => match first_root(xml) {
            Some(prefix) if prefix.len() < xml.trim_end().len() => {
                if !off(ctx, Weakening::XmlSingleRoot) {
                    return Err(trailing());
                }
                Document::parse_with_options(prefix, options())
                    .map(|doc| (doc, prefix))
                    .map_err(malformed)
            }
            _ => Err(malformed(e)),
        },
    }
}

/// IDs are unique across the document, counting every attribute named `ID` in any namespace
/// (xmlsec registers `x:ID` too, first one wins: a decoy could otherwise capture a reference).
fn check_ids(doc: &Document<'_>) -> Result<(), Refusal> {
    let mut ids = HashSet::new();
    for node in doc.descendants().filter(Node::is_element) {
        for attr in node.attributes().filter(|a| a.name() == "ID") {
            if attr.namespace().is_some() {
                return refuse(
                    Reason::IdInvalid,
                    format!(
                        "a foreign-namespace ID attribute ({:?}) on {:?}",
                        attr.value(),
                        node.tag_name().name()
                    ),
                );
            }
            if !ids.insert(attr.value()) {
                return refuse(
                    Reason::DuplicateId,
                    format!("the ID {:?} appears twice", attr.value()),
                );
            }
        }
    }
    require_id(doc.root_element(), "Response")
}

/// The element carries an `ID` that is an xs:ID (an NCName), so `#ID` can only ever be a plain
/// same-document reference (never an XPointer expression).
fn require_id(node: Node<'_, '_>, what: &str) -> Result<(), Refusal> {
    match node.attribute("ID") {
        Some(id) if is_ncname(id) => Ok(()),
        other => refuse(
            Reason::IdInvalid,
            format!("the {what}'s ID {other:?} is not an xs:ID"),
        ),
    }
}

fn is_ncname(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The children of the Response and of each of its Assertions come in the order the SAML
/// schemas give, and are elements those schemas allow there (SAML Core §3.2.2, §3.3.3 and
/// §2.3.3). A verifier that only checks signatures accepts reordered or extended documents,
/// which is how wrapped content hides (pysaml2 CVE-2021-21238).
fn check_schema(root: Node<'_, '_>) -> Result<(), Refusal> {
    const RESPONSE: &[(&str, &str, Occurs)] = &[
        (SAML, "Issuer", Occurs::Optional),
        (DS, "Signature", Occurs::Optional),
        (SAMLP, "Extensions", Occurs::Optional),
        (SAMLP, "Status", Occurs::One),
        (SAML, "Assertion|EncryptedAssertion", Occurs::Many),
    ];
    // The Assertion's Issuer is required, but a missing one is the issuer check's to refuse
    // (issuer_mismatch), so that `--weaken issuer` shows.
    const ASSERTION: &[(&str, &str, Occurs)] = &[
        (SAML, "Issuer", Occurs::Optional),
        (DS, "Signature", Occurs::Optional),
        (SAML, "Subject", Occurs::Optional),
        (SAML, "Conditions", Occurs::Optional),
        (SAML, "Advice", Occurs::Optional),
        (
            SAML,
            "Statement|AuthnStatement|AuthzDecisionStatement|AttributeStatement",
            Occurs::Many,
        ),
    ];
    in_schema_order(root, "Response", RESPONSE)?;
    for assertion in root
        .children()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
    {
        in_schema_order(assertion, "Assertion", ASSERTION)?;
    }
    Ok(())
}

/// How often an element of a schema sequence may occur.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occurs {
    One,
    Optional,
    Many,
}

/// `node`'s element children match `sequence` (namespace, `|`-separated names, occurrence).
fn in_schema_order(
    node: Node<'_, '_>,
    what: &str,
    sequence: &[(&str, &str, Occurs)],
) -> Result<(), Refusal> {
    let mut children = node.children().filter(Node::is_element).peekable();
    for &(ns, names, occurs) in sequence {
        let matches = |n: &Node<'_, '_>| {
            n.tag_name().namespace() == Some(ns)
                && names.split('|').any(|m| n.tag_name().name() == m)
        };
        let mut seen = 0;
        while (occurs == Occurs::Many || seen == 0) && children.peek().is_some_and(matches) {
            children.next();
            seen += 1;
        }
        if occurs == Occurs::One && seen == 0 {
            return refuse(
                Reason::SchemaInvalid,
                format!("the {what} has no {names} where the schema requires one"),
            );
        }
    }
    match children.next() {
        None => Ok(()),
        Some(extra) => refuse(
            Reason::SchemaInvalid,
            format!(
                "the {what} has a {:?} element where the schema allows none (out of order, repeated or unknown)",
                extra.tag_name().name()
            ),
        ),
    }
}

type Assertions<'a, 'input> = (Node<'a, 'input>, Vec<Node<'a, 'input>>);

/// The one assertion (a child of the Response), and every `saml:Assertion` in the document
/// (for the `trust-first-assertion` weakening).
fn the_assertion<'a, 'input>(
    doc: &'a Document<'input>,
    root: Node<'a, 'input>,
    ctx: &Context<'_>,
) -> Result<Assertions<'a, 'input>, Refusal> {
    let all: Vec<Node<'a, 'input>> = doc
        .descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .collect();
    if all.is_empty() {
        let encrypted = doc
            .descendants()
            .any(|n| n.has_tag_name((SAML, "EncryptedAssertion")));
        return refuse(
            Reason::AssertionMissing,
            if encrypted {
                "the response carries only an EncryptedAssertion; this SP publishes no encryption key"
            } else {
                "the response carries no assertion"
            },
        );
    }
    let lenient = off(ctx, Weakening::SingleAssertion)
        || off(ctx, Weakening::TrustFirstAssertion)
        || off(ctx, Weakening::AssertionBySearch);
    if all.len() > 1 && !lenient {
        return refuse(
            Reason::MultipleAssertions,
            format!(
                "the response carries {} assertions; exactly one is accepted",
                all.len()
            ),
        );
    }
    let direct: Vec<Node<'a, 'input>> = root
        .children()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .collect();
    let signed = direct
        .iter()
        .copied()
        .find(|a| a.children().any(|c| c.has_tag_name((DS, "Signature"))));
    match signed.or_else(|| direct.first().copied()) {
        Some(a) => Ok((a, all)),
        None => refuse(
            Reason::AssertionMissing,
            "no assertion is a child of the Response",
        ),
    }
}

/// Every signature: placed on the Response or its Assertion, one SignedInfo, one same-document
/// Reference to its parent, allowed algorithms and transforms, verified by xmlsec with the
/// connection's keys; then the signature policy. Whether the Response and the Assertion are
/// signed.
fn check_signatures(
    doc: &Document<'_>,
    text: &str,
    root: Node<'_, '_>,
    assertion: Node<'_, '_>,
    ctx: &Context<'_>,
    decrypted: Option<Decrypted>,
) -> Result<(bool, bool), Refusal> {
    if off(ctx, Weakening::Signature) {
        return Ok((false, false));
    }
    let signatures: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name((DS, "Signature")))
        .collect();
    let outer_signed = decrypted.is_some_and(|d| d.response_signed);
    if signatures.is_empty() && !outer_signed {
        if decrypted.is_some() && off(ctx, Weakening::TrustDecrypted) {
            return Ok((false, false));
        }
        return refuse(
            Reason::SignatureMissing,
            "neither the response nor the assertion is signed",
        );
    }
    let mut response_signed = false;
    let mut assertion_signed = false;
    for sig in &signatures {
        let parent = sig.parent_element();
        let mut on_response = parent == Some(root);
        let mut on_assertion = parent == Some(assertion);
        if off(ctx, Weakening::AssertionBySearch) {
            // Weakened: a signature counts wherever its element sits.
            on_response |= parent.is_some_and(|p| p.has_tag_name((SAMLP, "Response")));
            on_assertion |= parent.is_some_and(|p| p.has_tag_name((SAML, "Assertion")));
        }
        if !(on_response || on_assertion || off(ctx, Weakening::ReferenceUri)) {
            return refuse(
                Reason::SignatureMisplaced,
                format!(
                    "a signature sits in {:?}; only the Response and its Assertion may be signed",
                    parent.map(|p| p.tag_name().name()).unwrap_or("(nothing)")
                ),
            );
        }
        response_signed |= on_response;
        assertion_signed |= on_assertion;
        check_signature(sig, parent, ctx)?;
    }
    if !signatures.is_empty() {
        verify_signatures(text, ctx, signatures.len())?;
    }
    response_signed |= outer_signed;
    let policy = ctx.settings.signature_policy;
    let want_assertion = ctx.settings.want_assertions_signed
        || matches!(policy, SignaturePolicy::Assertion | SignaturePolicy::Both);
    if matches!(policy, SignaturePolicy::Response | SignaturePolicy::Both) && !response_signed {
        return refuse(
            Reason::ResponseNotSigned,
            "the policy requires a signed Response",
        );
    }
    if want_assertion && !assertion_signed {
        return refuse(
            Reason::AssertionNotSigned,
            "the policy requires a signed Assertion",
        );
    }
    if !(response_signed || assertion_signed) {
        return refuse(
            Reason::SignatureMissing,
            "no signature covers the assertion",
        );
    }
    Ok((response_signed, assertion_signed))
}

/// The IdP's certificates to verify with (and the weak ones when `key-size` is weakened).
pub(crate) fn trusted_certs(ctx: &Context<'_>) -> Result<Vec<CertificateDer>, Refusal> {
    if ctx.connection.certificates.is_empty() {
        // A connection is never stored without a key; this is the belt to that brace.
        return refuse(
            Reason::IdpNotConfigured,
            "the IdP connection has no signing key; nothing can be verified",
        );
    }
    let weak: &[Vec<u8>] = if off(ctx, Weakening::KeySize) {
        &ctx.connection.weak_certificates
    } else {
        &[]
    };
    Ok(ctx
        .connection
        .certificates
        .iter()
        .chain(weak)
        .map(|d| CertificateDer::from(d.clone()))
        .collect())
}

/// With a `saml:EncryptedAssertion` child: refuses a second assertion of any kind, verifies
/// the Response signature (if any) over the encrypted form, decrypts, and returns the response
/// text with the Response signature removed and the plaintext in place of the
/// EncryptedAssertion. Every decryption failure, and a plaintext that is not exactly one
/// `saml:Assertion` element, is the same `decryption_failed` (no oracle). `None` without an
/// EncryptedAssertion.
fn decrypt_in_place(
    doc: &Document<'_>,
    text: &str,
    root: Node<'_, '_>,
    ctx: &Context<'_>,
) -> Result<Option<(String, Decrypted)>, Refusal> {
    let encrypted: Vec<Node<'_, '_>> = root
        .children()
        .filter(|n| n.has_tag_name((SAML, "EncryptedAssertion")))
        .collect();
    let Some(&first) = encrypted.first() else {
        return Ok(None);
    };
    let plain_count = doc
        .descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .count();
    if encrypted.len() + plain_count > 1 {
        return refuse(
            Reason::MultipleAssertions,
            format!(
                "the response carries {} encrypted and {plain_count} plain assertions; exactly one is accepted",
                encrypted.len()
            ),
        );
    }
    let Some(key) = ctx.decryption_key else {
        return refuse(
            Reason::AssertionMissing,
            "the response carries only an EncryptedAssertion; this SP publishes no encryption key",
        );
    };
    // The Response signature covers the ciphertext: verified before anything is decrypted.
    let signatures: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name((DS, "Signature")))
        .collect();
    let verify = !signatures.is_empty() && !off(ctx, Weakening::Signature);
    if verify {
        for sig in &signatures {
            if sig.parent_element() != Some(root) {
                return refuse(
                    Reason::SignatureMisplaced,
                    "a signature sits outside the Response around an EncryptedAssertion",
                );
            }
            check_signature(sig, Some(root), ctx)?;
        }
        verify_signatures(text, ctx, signatures.len())?;
    }
    let failed = || {
        Refusal::new(
            Reason::DecryptionFailed,
            "the EncryptedAssertion could not be decrypted",
        )
    };
    let plain = key.decrypt(first).map_err(|_| failed())?;
    let mut edits: Vec<(std::ops::Range<usize>, &str)> = vec![(first.range(), plain.as_str())];
    if verify {
        edits.extend(signatures.iter().map(|s| (s.range(), "")));
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut rebuilt = text.to_owned();
    for (range, with) in edits {
        rebuilt.replace_range(range, with);
    }
    // The plaintext must be one saml:Assertion element where the EncryptedAssertion was.
    let options = roxmltree::ParsingOptions {
        nodes_limit: 100_000,
        ..roxmltree::ParsingOptions::default()
    };
    let before =
        root.children().filter(Node::is_element).count() - usize::from(verify) * signatures.len();
    let ok = Document::parse_with_options(&rebuilt, options).is_ok_and(|d| {
        let r = d.root_element();
        r.children().filter(Node::is_element).count() == before
            && r.children()
                .filter(|n| n.has_tag_name((SAML, "Assertion")))
                .count()
                == 1
            && !d
                .descendants()
                .any(|n| n.has_tag_name((SAML, "EncryptedAssertion")))
    });
    if !ok {
        return Err(failed());
    }
    Ok(Some((
        rebuilt,
        Decrypted {
            response_signed: verify,
        },
    )))
}

/// Destination: compared whenever present; required when the Response is signed (Bindings
/// §3.5.5.2; samael drops this requirement).
fn check_destination(
    root: Node<'_, '_>,
    response_signed: bool,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    if off(ctx, Weakening::Destination) {
        return Ok(());
    }
    match root.attribute("Destination") {
        Some(d) if d != ctx.acs_url => refuse(
            Reason::DestinationMismatch,
            format!("Destination is {d:?}, this ACS is {:?}", ctx.acs_url),
        ),
        None if response_signed => refuse(
            Reason::DestinationMissing,
            "a signed Response must carry Destination",
        ),
        _ => Ok(()),
    }
}

/// Issuer: exactly the IdP's entityID, Format omitted or `entity`; required on assertions and
/// on signed Responses (Profiles §4.1.4.2 with errata).
fn check_issuer(
    node: Node<'_, '_>,
    what: &str,
    required: bool,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let Some(issuer) = node.children().find(|n| n.has_tag_name((SAML, "Issuer"))) else {
        // A signed Response without Issuer is `issuer_missing`; an Assertion without one
        // cannot name the IdP at all, which the committed baselines record as a mismatch.
        return match (what, required) {
            (_, false) => Ok(()),
            ("Response", true) => {
                refuse(Reason::IssuerMissing, "the signed Response has no Issuer")
            }
            _ => refuse(
                Reason::IssuerMismatch,
                format!(
                    "the {what} has no Issuer; it must be {:?}",
                    ctx.connection.entity_id
                ),
            ),
        };
    };
    let text = full_text(issuer);
    if text.trim() != ctx.connection.entity_id {
        return refuse(
            Reason::IssuerMismatch,
            format!(
                "the {what} Issuer is {:?}, not {:?}",
                text.trim(),
                ctx.connection.entity_id
            ),
        );
    }
    match issuer.attribute("Format") {
        None | Some(ENTITY_FORMAT) => Ok(()),
        Some(other) => refuse(
            Reason::IssuerMismatch,
            format!("the {what} Issuer has Format {other:?}; only entity is allowed"),
        ),
    }
}

fn check_in_response_to(in_response_to: Option<&str>, ctx: &Context<'_>) -> Result<(), Refusal> {
    match in_response_to {
        Some(irt) => {
            if !off(ctx, Weakening::InResponseTo) && !ctx.outstanding.iter().any(|r| r == irt) {
                return refuse(
                    Reason::InResponseToUnknown,
                    format!("InResponseTo {irt:?} is not a request this browser has outstanding"),
                );
            }
        }
        None => {
            if let Some(request) = ctx.relay_request
                && !off(ctx, Weakening::InResponseTo)
            {
                return refuse(
                    Reason::InResponseToMissing,
                    format!(
                        "the RelayState belongs to request {request:?}, but the Response has no InResponseTo"
                    ),
                );
            }
            if !ctx.settings.idp_initiated && !off(ctx, Weakening::IdpInitiated) {
                return refuse(Reason::UnsolicitedNotAllowed, "IdP-initiated login is off");
            }
        }
    }
    Ok(())
}

/// A bearer SubjectConfirmationData: no NotBefore, Recipient = ACS, NotOnOrAfter required and
/// not passed, InResponseTo equal to the Response's. Its NotOnOrAfter, for the replay cache.
fn check_subject_confirmation(
    assertion: Node<'_, '_>,
    in_response_to: Option<&str>,
    skew: Duration,
    ctx: &Context<'_>,
) -> Result<Option<DateTime<Utc>>, Refusal> {
    let subject = assertion
        .children()
        .find(|n| n.has_tag_name((SAML, "Subject")));
    let scd = subject
        .into_iter()
        .flat_map(|s| s.children())
        .filter(|n| {
            n.has_tag_name((SAML, "SubjectConfirmation")) && n.attribute("Method") == Some(BEARER)
        })
        .find_map(|c| {
            c.children()
                .find(|n| n.has_tag_name((SAML, "SubjectConfirmationData")))
        });
    let Some(scd) = scd else {
        return refuse(
            Reason::SubjectConfirmationMissing,
            "no bearer SubjectConfirmationData",
        );
    };
    if let Some(nb) = scd.attribute("NotBefore") {
        return refuse(
            Reason::SubjectConfirmationInvalid,
            format!("a bearer confirmation MUST NOT carry NotBefore (it says {nb})"),
        );
    }
    if !off(ctx, Weakening::Recipient) && scd.attribute("Recipient") != Some(ctx.acs_url) {
        return refuse(
            Reason::RecipientMismatch,
            format!(
                "Recipient is {:?}, this ACS is {:?}",
                scd.attribute("Recipient"),
                ctx.acs_url
            ),
        );
    }
    let not_on_or_after = instant(scd.attribute("NotOnOrAfter"));
    if !off(ctx, Weakening::SubjectConfirmationExpiry) {
        match not_on_or_after {
            Some(t) if ctx.now < t + skew => {}
            Some(t) => {
                return refuse(
                    Reason::SubjectConfirmationExpired,
                    format!("the bearer confirmation expired at {t}"),
                );
            }
            None => {
                return refuse(
                    Reason::SubjectConfirmationExpired,
                    "the bearer confirmation has no valid NotOnOrAfter",
                );
            }
        }
    }
    if !off(ctx, Weakening::InResponseTo) && scd.attribute("InResponseTo") != in_response_to {
        return refuse(
            Reason::InResponseToMismatch,
            format!(
                "the confirmation answers {:?}, the Response answers {:?}",
                scd.attribute("InResponseTo"),
                in_response_to
            ),
        );
    }
    Ok(not_on_or_after)
}

/// The AuthnStatement: present, with the AuthnInstant (a UTC xs:dateTime) and the
/// AuthnContext that SAML Core §2.7.2 requires. An empty statement says no authentication
/// happened.
fn check_authn_statement(authn: Option<Node<'_, '_>>) -> Result<(), Refusal> {
    let Some(authn) = authn else {
        return refuse(
            Reason::AuthnStatementMissing,
            "the assertion has no AuthnStatement",
        );
    };
    let at = authn.attribute("AuthnInstant");
    if utc_instant(at).is_none() {
        return refuse(
            Reason::AuthnStatementMissing,
            format!(
                "the AuthnStatement's AuthnInstant {at:?} is not a UTC xs:dateTime (SAML Core §2.7.2 requires one)"
            ),
        );
    }
    if !authn
        .children()
        .any(|n| n.has_tag_name((SAML, "AuthnContext")))
    {
        return refuse(
            Reason::AuthnStatementMissing,
            "the AuthnStatement has no AuthnContext (SAML Core §2.7.2 requires one)",
        );
    }
    Ok(())
}

/// Conditions: understood elements only, the time window, and an exact AudienceRestriction
/// (required: Profiles §4.1.4.2).
fn check_conditions(
    conditions: Option<Node<'_, '_>>,
    skew: Duration,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    if let Some(c) = conditions {
        check_condition_elements(c)?;
    }
    if !off(ctx, Weakening::TimeWindow)
        && let Some(c) = conditions
    {
        // A bound that is present must be a UTC xs:dateTime (SAML Core §1.3.3): one that
        // cannot be read is not "no bound".
        for name in ["NotBefore", "NotOnOrAfter"] {
            if let Some(text) = c.attribute(name)
                && utc_instant(Some(text)).is_none()
            {
                return refuse(
                    Reason::ConditionsInvalid,
                    format!("Conditions {name} {text:?} is not a UTC xs:dateTime"),
                );
            }
        }
        let not_before = instant(c.attribute("NotBefore"));
        let not_on_or_after = instant(c.attribute("NotOnOrAfter"));
        if let Some(nb) = not_before
            && ctx.now + skew < nb
        {
            return refuse(
                Reason::AssertionNotYetValid,
                format!("the assertion is valid from {nb}"),
            );
        }
        if let Some(noa) = not_on_or_after
            && ctx.now >= noa + skew
        {
            return refuse(
                Reason::AssertionExpired,
                format!("the assertion expired at {noa}"),
            );
        }
        if let (Some(nb), Some(noa)) = (not_before, not_on_or_after)
            && nb >= noa
        {
            return refuse(
                Reason::ConditionsInvalid,
                format!("NotBefore {nb} is not before NotOnOrAfter {noa}"),
            );
        }
    }
    if off(ctx, Weakening::Audience) {
        return Ok(());
    }
    let restrictions: Vec<Node<'_, '_>> = conditions
        .into_iter()
        .flat_map(|c| c.children())
        .filter(|n| n.has_tag_name((SAML, "AudienceRestriction")))
        .collect();
    if restrictions.is_empty() {
        return refuse(
            Reason::AudienceMissing,
            "the assertion has no AudienceRestriction",
        );
    }
    for r in restrictions {
        let ok = r
            .children()
            .filter(|n| n.has_tag_name((SAML, "Audience")))
            .any(|a| full_text(a).trim() == ctx.sp_entity_id);
        if !ok {
            return refuse(
                Reason::AudienceMismatch,
                format!(
                    "an AudienceRestriction does not name {:?}",
                    ctx.sp_entity_id
                ),
            );
        }
    }
    Ok(())
}

/// Verifies every signature against the IdP's keys. One signature: xmlsec verifies it directly
/// (the structure checks above pinned its reference to its parent). Two: samael's reduction,
/// which verifies all of them. libxml2 and xmlsec load nothing the document names
/// ([`hardening::xml_io`]); only `--weaken reference-uri` lets xmlsec fetch an `http:`
/// Reference URI, as a lenient SP would (never a file).
pub(crate) fn verify_signatures(xml: &str, ctx: &Context<'_>, count: usize) -> Result<(), Refusal> {
    let certs = trusted_certs(ctx)?;
    hardening::xml_io::forbid_external_loads();
    crate::meters::VERIFICATIONS.time(|| {
        if off(ctx, Weakening::ReferenceUri) {
            hardening::xml_io::allow_http_fetches(|| verify_with(xml, &certs, count))
        } else {
            verify_with(xml, &certs, count)
        }
    })
}

fn verify_with(xml: &str, certs: &[CertificateDer], count: usize) -> Result<(), Refusal> {
    let failed = |e: String| {
        Refusal::new(
            Reason::SignatureInvalid,
            format!("a signature does not verify with the IdP's keys: {e}"),
        )
    };
    if count == 1 {
        let mut last = String::from("no key");
        for cert in certs {
            match XmlSec::verify_signed_xml(xml, cert, Some("ID")) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        return Err(failed(last));
    }
    XmlSec::reduce_xml_to_signed(xml, certs, ReduceMode::ValidateAndMarkNoAncestors)
        .map(|_| ())
        .map_err(|e| failed(e.to_string()))
}

pub(crate) fn check_signature(
    sig: &Node<'_, '_>,
    parent: Option<Node<'_, '_>>,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let signed_info: Vec<_> = sig
        .children()
        .filter(|n| n.has_tag_name((DS, "SignedInfo")))
        .collect();
    let [info] = signed_info[..] else {
        return refuse(
            Reason::SignatureInvalid,
            "a Signature must have exactly one SignedInfo",
        );
    };
    let c14n = info
        .children()
        .find(|n| n.has_tag_name((DS, "CanonicalizationMethod")))
        .and_then(|n| n.attribute("Algorithm"));
    if !matches!(c14n, Some(EXC_C14N | EXC_C14N_COMMENTS)) {
        return refuse(
            Reason::SignatureTransformRefused,
            format!("canonicalization {c14n:?} is not exclusive c14n"),
        );
    }
    let method = info
        .children()
        .find(|n| n.has_tag_name((DS, "SignatureMethod")))
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or_default();
    let references: Vec<_> = info
        .children()
        .filter(|n| n.has_tag_name((DS, "Reference")))
        .collect();
    let [reference] = references[..] else {
        return refuse(
            Reason::ReferenceUriInvalid,
            format!(
                "a signature has {} references; exactly one is allowed",
                references.len()
            ),
        );
    };
    let digest = reference
        .children()
        .find(|n| n.has_tag_name((DS, "DigestMethod")))
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or_default();
    if !off(ctx, Weakening::Algorithms) {
        for alg in [method, digest] {
            if !ctx.settings.allowed_algorithms.iter().any(|a| a == alg) {
                return refuse(
                    Reason::SignatureAlgorithmRefused,
                    format!("algorithm {alg:?} is not allowed"),
                );
            }
        }
    }
    if !off(ctx, Weakening::ReferenceUri) {
        let expected = parent
            .and_then(|p| p.attribute("ID"))
            .map(|id| format!("#{id}"));
        let uri = reference.attribute("URI");
        if uri.is_none() || uri.map(str::to_owned) != expected {
            return refuse(
                Reason::ReferenceUriInvalid,
                format!(
                    "Reference URI {uri:?} is not `#` + the ID of the signed element ({expected:?})"
                ),
            );
        }
    }
    let transforms: Vec<_> = reference
        .descendants()
        .filter(|n| n.has_tag_name((DS, "Transform")))
        .map(|n| n.attribute("Algorithm").unwrap_or_default())
        .collect();
    if transforms.len() > 2
        || transforms
            .iter()
            .any(|t| !matches!(*t, ENVELOPED | EXC_C14N | EXC_C14N_COMMENTS))
    {
        return refuse(
            Reason::SignatureTransformRefused,
            format!("transforms {transforms:?} are not allowed"),
        );
    }
    Ok(())
}

/// Core §2.5.1: every condition must be understood (else Indeterminate), and OneTimeUse and
/// ProxyRestriction appear at most once.
fn check_condition_elements(conditions: Node<'_, '_>) -> Result<(), Refusal> {
    let mut one_time_use = 0;
    let mut proxy_restriction = 0;
    for child in conditions.children().filter(Node::is_element) {
        match (child.tag_name().namespace(), child.tag_name().name()) {
            (Some(SAML), "AudienceRestriction") => {}
            (Some(SAML), "OneTimeUse") => one_time_use += 1,
            (Some(SAML), "ProxyRestriction") => proxy_restriction += 1,
            (ns, name) => {
                return refuse(
                    Reason::ConditionsInvalid,
                    format!(
                        "condition {name:?} ({ns:?}) is not understood: the assertion is Indeterminate"
                    ),
                );
            }
        }
    }
    if one_time_use > 1 || proxy_restriction > 1 {
        return refuse(
            Reason::ConditionsInvalid,
            "OneTimeUse and ProxyRestriction may each appear once",
        );
    }
    Ok(())
}

fn identity(assertion: Node<'_, '_>, ctx: &Context<'_>) -> Result<String, Refusal> {
    match &ctx.settings.identity {
        IdentitySource::NameId => {
            let name_id = assertion
                .children()
                .find(|n| n.has_tag_name((SAML, "Subject")))
                .and_then(|s| s.children().find(|n| n.has_tag_name((SAML, "NameID"))));
            let Some(name_id) = name_id else {
                return refuse(Reason::IdentityMissing, "the assertion has no NameID");
            };
            if ctx.settings.require_email_name_id_format
                && !off(ctx, Weakening::NameIdFormat)
                && name_id.attribute("Format") != Some(EMAIL_FORMAT)
            {
                return refuse(
                    Reason::NameIdFormatInvalid,
                    format!(
                        "NameID Format is {:?}, the policy requires emailAddress",
                        name_id.attribute("Format")
                    ),
                );
            }
            let text = if off(ctx, Weakening::NameidTextToFirstComment) {
                name_id
                    .children()
                    .find(Node::is_text)
                    .and_then(|t| t.text())
                    .unwrap_or_default()
                    .to_owned()
            } else {
                full_text(name_id)
            };
            non_empty(&text)
        }
        IdentitySource::Attribute { name } => {
            let value = assertion
                .children()
                .filter(|n| n.has_tag_name((SAML, "AttributeStatement")))
                .flat_map(|s| s.children())
                .filter(|n| {
                    n.has_tag_name((SAML, "Attribute"))
                        && n.attribute("Name") == Some(name.as_str())
                })
                .flat_map(|a| {
                    a.children()
                        .filter(|v| v.has_tag_name((SAML, "AttributeValue")))
                })
                .map(full_text)
                .next();
            match value {
                Some(v) => non_empty(&v),
                None => refuse(
                    Reason::IdentityMissing,
                    format!("the assertion has no attribute {name:?}"),
                ),
            }
        }
    }
}

fn non_empty(text: &str) -> Result<String, Refusal> {
    let t = text.trim();
    if t.is_empty() {
        refuse(Reason::IdentityMissing, "the asserted identity is empty")
    } else {
        Ok(t.to_owned())
    }
}

/// All text content below a node, comments and processing instructions skipped (so a comment
/// cannot truncate a value).
fn full_text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect()
}

/// A time value as SAML Core §1.3.3 writes it: an xs:dateTime in UTC with a trailing `Z`.
fn utc_instant(value: Option<&str>) -> Option<DateTime<Utc>> {
    value
        .filter(|v| v.ends_with('Z'))
        .and_then(|v| instant(Some(v)))
}

fn instant(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The text up to the end of the first root element, when something follows it.
fn first_root(xml: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut started = false;
    for token in roxmltree_tokens(xml) {
        match token {
            Token::Open => {
                depth += 1;
                started = true;
            }
            Token::Close(end) => {
                depth = depth.saturating_sub(1);
                if started && depth == 0 {
                    return Some(&xml[..end]);
                }
            }
            Token::SelfClose(end) => {
                if depth == 0 {
                    return Some(&xml[..end]);
                }
            }
        }
    }
    None
}

enum Token {
    Open,
    Close(usize),
    SelfClose(usize),
}

/// A tiny tag scanner (comments, PIs, CDATA and declarations skipped), enough to find where
/// the first root ends.
fn roxmltree_tokens(xml: &str) -> Vec<Token> {
    let bytes = xml.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(rel) = xml[i..].find('<') {
        let start = i + rel;
        let rest = &xml[start..];
        let skip_to = |pat: &str| rest.find(pat).map(|p| start + p + pat.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!") {
            skip_to(">")
        } else {
            let end = skip_tag(bytes, start);
            if let Some(e) = end {
                if rest.starts_with("</") {
                    tokens.push(Token::Close(e));
                } else if bytes.get(e.wrapping_sub(2)) == Some(&b'/') {
                    tokens.push(Token::SelfClose(e));
                } else {
                    tokens.push(Token::Open);
                }
            }
            end
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    tokens
}

fn skip_tag(bytes: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (offset, b) in bytes[start..].iter().enumerate() {
        match (quote, *b) {
            (None, b'"' | b'\'') => quote = Some(*b),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => return Some(start + offset + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn the_first_root_is_found_before_trailing_content() {
        assert_eq!(first_root("<a><b/></a><c/>"), Some("<a><b/></a>"));
        assert_eq!(
            first_root("<?xml version='1.0'?><a x='>'>t</a> junk"),
            Some("<?xml version='1.0'?><a x='>'>t</a>")
        );
        assert_eq!(first_root("<a/>"), Some("<a/>"));
    }

    #[test]
    fn deflated_and_double_encoded_posts_are_wrong_bindings() {
        let mut deflated = Vec::new();
        {
            use std::io::Write as _;
            let mut e =
                flate2::write::DeflateEncoder::new(&mut deflated, flate2::Compression::default());
            e.write_all(b"<samlp:Response/>").expect("deflate");
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&deflated);
        assert_eq!(
            decode_post(&b64).expect_err("deflated").reason,
            Reason::WrongBinding
        );
        let twice = base64::engine::general_purpose::STANDARD
            .encode(base64::engine::general_purpose::STANDARD.encode("<samlp:Response/>"));
        assert_eq!(
            decode_post(&twice).expect_err("twice").reason,
            Reason::WrongBinding
        );
        assert_eq!(
            decode_post("%%%").expect_err("not base64").reason,
            Reason::ResponseNotBase64
        );
    }
}
