//! The oracle: what a conformant SP must do with a plan, derived from the plan alone.
//!
//! Every change a plan makes is looked up in [`TABLE`] (data: a key, a class, the rule id from
//! `shared/reference/saml-rules-and-attacks.md` §1.3 and the spec text it rests on). A plan
//! with any must-refuse change must be refused; a plan with only benign changes must sign in
//! the signed user; anything else ("either": policy, skew edges, attacks a conformant SP may
//! survive by ignoring them) may be refused or sign in the signed user. Nobody else, ever.
//!
//! Time offsets keep a margin around the tolerance edges: saml2int SDP-G01 asks for 3 to 5
//! minutes of clock skew, so only offsets at least 10 minutes out are must-refuse, offsets
//! within a minute are benign, and everything in between is "either". A session end
//! (SessionNotOnOrAfter) a minute or more in the past is must-refuse, as the catalogue has it.
//! A test checks the oracle against every plain scenario of the catalogue.

use std::collections::BTreeMap;

use mock_idp::KeyChoice;
use mock_idp::plan::{
    Alteration, ConditionKind, DoctypeEntity, Emptiable, InResponseToScope, IssuerScope, Omittable,
    Plan, RawField, ResponseBinding, SignatureAlgorithm, SignatureSelector, SigningLayout, Tamper,
    TextSplit, TimeField,
};
use serde::Serialize;

use crate::scenario::{Expectation, Severity};

/// How a change bears on the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The SP must treat the response exactly as if the change were not there.
    Benign,
    /// The SP may refuse, or sign in the signed user (policy, skew edges, ignorable attacks).
    Either,
    /// The SP must refuse.
    MustRefuse,
}

/// One row of the oracle table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The key the classifier looks up.
    pub key: Key,
    /// The class.
    pub class: Class,
    /// The rule id (saml-rules-and-attacks.md §1.3).
    pub rule: &'static str,
    /// The spec text it rests on.
    pub spec: &'static str,
    /// How bad accepting it is (must-refuse rows).
    pub severity: Severity,
}

macro_rules! table {
    ($($key:ident => $class:ident, $rule:literal, $spec:literal, $severity:ident;)*) => {
        /// Every kind of change the classifier can report.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[allow(missing_docs)]
        pub enum Key { $($key,)* }

        impl Key {
            /// Every key.
            pub const ALL: &'static [Key] = &[$(Key::$key,)*];
        }

        /// The oracle table: one row per key.
        pub const TABLE: &[Entry] = &[
            $(Entry {
                key: Key::$key,
                class: Class::$class,
                rule: $rule,
                spec: $spec,
                severity: Severity::$severity,
            },)*
        ];
    };
}

table! {
    // Addressing.
    DestinationOther => MustRefuse, "CORE-3.2.2-Destination", "SAML Core §3.2.2 (Destination)", High;
    DestinationPadded => Either, "CORE-3.2.2-Destination", "XML Schema anyURI (whitespace collapse)", Low;
    DestinationMissingSigned => MustRefuse, "BIND-3.5.5.2-DestinationIfSigned", "SAML Bindings §3.5.5.2", High;
    DestinationMissingUnsigned => Either, "CORE-3.2.2-Destination", "SAML Core §3.2.2 (Destination is optional)", Low;
    RecipientOther => MustRefuse, "PROF-4.1.4.3-Recipient", "SAML Profiles §4.1.4.3", High;
    RecipientPadded => Either, "PROF-4.1.4.3-Recipient", "XML Schema anyURI (whitespace collapse)", Low;
    RecipientMissing => MustRefuse, "PROF-4.1.4.3-Recipient", "SAML Profiles §4.1.4.2", High;
    AudienceOther => MustRefuse, "CORE-2.5.1.4-Audience", "SAML Core §2.5.1.4", High;
    AudiencePadded => Either, "CORE-2.5.1.4-Audience", "XML Schema anyURI (whitespace collapse)", Low;
    AudienceMissing => MustRefuse, "PROF-4.1.4.2-AudienceRequired", "SAML Profiles §4.1.4.2", High;
    ConditionsMissing => MustRefuse, "PROF-4.1.4.2-AudienceRequired", "SAML Profiles §4.1.4.2", High;
    ResponseIssuerOther => MustRefuse, "PROF-4.1.4.2-ResponseIssuer", "SAML Profiles §4.1.4.2", High;
    ResponseIssuerPadded => Either, "PROF-4.1.4.2-ResponseIssuer", "SAML Core §8.3.6 (entity identifiers are URIs)", Low;
    ResponseIssuerMissingSigned => MustRefuse, "PROF-4.1.4.2-ResponseIssuer", "SAML Profiles §4.1.4.2 (errata E52)", High;
    ResponseIssuerMissingUnsigned => Either, "PROF-4.1.4.2-ResponseIssuer", "SAML Profiles §4.1.4.2 (Issuer MAY be omitted)", Low;
    AssertionIssuerOther => MustRefuse, "PROF-4.1.4.2-AssertionIssuer", "SAML Profiles §4.1.4.2", Critical;
    AssertionIssuerPadded => Either, "PROF-4.1.4.2-AssertionIssuer", "SAML Core §8.3.6 (entity identifiers are URIs)", Low;
    AssertionIssuerMissing => MustRefuse, "CORE-2.3.3-AssertionHeader", "SAML Core §2.3.3", High;
    // Session binding.
    InResponseToOther => MustRefuse, "CORE-3.2.2-InResponseTo", "SAML Core §3.2.2 (InResponseTo)", High;
    SubjectInResponseToOther => MustRefuse, "PROF-4.1.4.3-SCD-InResponseTo", "SAML Profiles §4.1.4.3", High;
    InResponseToMissing => Either, "PROF-4.1.5-Unsolicited", "SAML Profiles §4.1.5 (unsolicited: a policy)", Low;
    // Freshness.
    ExpiredFar => MustRefuse, "CORE-2.5.1.2-Window", "SAML Core §2.5.1.2", High;
    ExpiredNearEdge => Either, "CORE-2.5.1.2-Window", "saml2int SDP-G01 (3-5 minutes of skew)", Low;
    ExpiresSoonOrLater => Benign, "CORE-2.5.1.2-Window", "saml2int SDP-G01", Low;
    NotYetValidFar => MustRefuse, "CORE-2.5.1.2-Window", "SAML Core §2.5.1.2", High;
    NotYetValidNearEdge => Either, "CORE-2.5.1.2-Window", "saml2int SDP-G01 (3-5 minutes of skew)", Low;
    ValidFromAboutNow => Benign, "CORE-2.5.1.2-Window", "saml2int SDP-G01", Low;
    ConditionsInverted => MustRefuse, "CORE-2.5.1.2-Order", "SAML Core §2.5.1.2", High;
    SubjectExpiredFar => MustRefuse, "PROF-4.1.4.3-SCD-NotOnOrAfter", "SAML Profiles §4.1.4.3", High;
    SubjectExpiredNearEdge => Either, "PROF-4.1.4.3-SCD-NotOnOrAfter", "saml2int SDP-G01 (3-5 minutes of skew)", Low;
    SubjectExpiresSoonOrLater => Benign, "PROF-4.1.4.3-SCD-NotOnOrAfter", "saml2int SDP-G01", Low;
    SubjectNotOnOrAfterMissing => MustRefuse, "PROF-4.1.4.3-SCD-NotOnOrAfter", "SAML Profiles §4.1.4.2", High;
    SubjectNotBeforeFuture => MustRefuse, "PROF-4.1.4.2-SCD-NoNotBefore", "SAML Profiles §4.1.4.2, SAML Core §2.4.1.2", High;
    SubjectNotBeforePresent => Either, "PROF-4.1.4.2-SCD-NoNotBefore", "SAML Profiles §4.1.4.2 (a policy when in the past)", Low;
    SubjectWindowInverted => MustRefuse, "PROF-4.1.4.2-SCD-NoNotBefore", "SAML Core §2.4.1.2", High;
    IssueInstantAboutNow => Benign, "CORE-3.2.2-IssueInstant", "SAML Core §3.2.2", Low;
    IssueInstantFar => Either, "CORE-3.2.2-IssueInstant", "SAML Core §3.2.2 (local freshness: a policy)", Low;
    IssueInstantZoned => MustRefuse, "CORE-3.2.2-IssueInstant", "SAML Core §1.3.3 (UTC, no time zone component)", Medium;
    SessionEnded => MustRefuse, "CORE-2.7.2-SessionNotOnOrAfter", "SAML Core §2.7.2", High;
    SessionEndsNearNow => Either, "CORE-2.7.2-SessionNotOnOrAfter", "SAML Core §2.7.2 (ends about now, or while the harness probes)", Low;
    SessionEndsLater => Benign, "CORE-2.7.2-SessionNotOnOrAfter", "SAML Core §2.7.2", Low;
    // Structure and status.
    StatusNotSuccess => MustRefuse, "CORE-3.2.2.2-Status", "SAML Core §3.2.2.2", High;
    StatusSuccessNested => Either, "CORE-3.2.2.2-Status", "SAML Core §3.2.2.2", Low;
    VersionOther => MustRefuse, "CORE-3.2.2-Version", "SAML Core §3.2.2, §2.3.3, §4.1.3", Medium;
    AddressSet => Either, "PROF-4.1.4.3-Address", "SAML Profiles §4.1.4.3 (MAY check)", Low;
    MethodNotBearer => MustRefuse, "PROF-4.1.4.2-BearerSubject", "SAML Profiles §4.1.4.2", High;
    MethodBearerExplicit => Benign, "PROF-4.1.4.2-BearerSubject", "SAML Profiles §4.1.4.2", Low;
    OneTimeUseOnce => Benign, "CORE-2.5.1.5-OneTimeUse", "SAML Core §2.5.1.5", Low;
    OneTimeUseTwice => MustRefuse, "CORE-2.5.1.5-OneTimeUse", "SAML Core §2.5.1.5 (at most one)", Medium;
    ProxyRestrictionOnce => Either, "CORE-2.5.1.6-ProxyRestriction", "SAML Core §2.5.1.6", Low;
    ProxyRestrictionTwice => MustRefuse, "CORE-2.5.1.6-ProxyRestriction", "SAML Core §2.5.1.6 (at most one)", Medium;
    UnknownCondition => MustRefuse, "CORE-2.5.1.1-Indeterminate", "SAML Core §2.5.1.1", High;
    AuthnStatementMissing => MustRefuse, "PROF-4.1.4.2-AuthnStatement", "SAML Profiles §4.1.4.2", High;
    AssertionMissing => MustRefuse, "PROF-4.1.4.2-HasAssertion", "SAML Profiles §4.1.4.2", High;
    NameIdFormatEmail => Benign, "IIP-SP10-UnknownAttributes", "SAML Core §8.3.2", Low;
    NameIdFormatOther => Either, "SDP-SP13-NameIdFormat", "saml2int SDP-SP13 (a policy)", Low;
    // Required elements and attributes missing, empty or malformed.
    StatusMissing => MustRefuse, "CORE-3.2.2.1-StatusCode", "SAML Core §3.2.2, §3.2.2.1 (Status and StatusCode Value are required)", High;
    IdMissing => MustRefuse, "CORE-3.2.2-ID", "SAML Core §3.2.2, §2.3.3 (ID is required)", Medium;
    VersionMissing => MustRefuse, "CORE-3.2.2-Version", "SAML Core §3.2.2, §2.3.3 (Version is required)", Medium;
    IssueInstantMissing => MustRefuse, "CORE-3.2.2-IssueInstant", "SAML Core §3.2.2, §2.3.3 (IssueInstant is required)", Medium;
    TimeMalformed => MustRefuse, "CORE-1.3.3-DateTime", "SAML Core §1.3.3 (time values are xs:dateTime in UTC)", Medium;
    TimeRaw => Either, "CORE-1.3.3-DateTime", "SAML Core §1.3.3 (a well-formed instant the oracle cannot place)", Low;
    SubjectMissing => MustRefuse, "PROF-4.1.4.2-BearerSubject", "SAML Profiles §4.1.4.2 (a Subject with a bearer SubjectConfirmation and its data)", High;
    NameIdMissing => Either, "SP-Identity-NameIDRequired", "saml2int SDP-SP13 (an SP may identify by attribute instead)", Low;
    ResponseIssuerFormatOther => MustRefuse, "PROF-4.1.4.2-ResponseIssuer", "SAML Profiles §4.1.4.2 (Format omitted or entity)", Medium;
    AssertionIssuerFormatOther => MustRefuse, "PROF-4.1.4.2-AssertionIssuer", "SAML Profiles §4.1.4.2 (Format omitted or entity)", Medium;
    AuthnInstantMissing => MustRefuse, "CORE-2.7.2-AuthnInstant", "SAML Core §2.7.2 (AuthnInstant and AuthnContext are required)", Medium;
    // Benign noise.
    Whitespace => Benign, "CORE-5.4.3-C14N", "XML 1.0 §2.10 (white space), SAML Core §5.4.3", Medium;
    PrefixRename => Benign, "CORE-5.4.3-C14N", "Namespaces in XML 1.0 §3 (prefixes carry no meaning)", Medium;
    ForeignAttribute => Benign, "IIP-SP10-UnknownAttributes", "SAML Core §2.4.1.2 (anyAttribute ##other)", Medium;
    AttributeOrder => Benign, "CORE-5.4.3-C14N", "XML 1.0 §3.1 (attribute order is not significant)", Medium;
    ExtraAttributes => Benign, "IIP-SP10-UnknownAttributes", "SAML V2.0 Implementation Profile IIP-SP10", Medium;
    FlavourEntra => Benign, "SDP-SP37-KeyRollover", "SAML Profiles §4.1.4.2 (Entra ID's response shape)", Medium;
    // Signing.
    Unsigned => MustRefuse, "PROF-4.1.4.5-SignedOverPost", "SAML Profiles §4.1.4.5 (errata E26)", Critical;
    SignedBoth => Benign, "PROF-4.1.4.5-SignedOverPost", "SAML Profiles §4.1.4.5", Medium;
    SignedResponseOnly => Benign, "META-WantAssertionsSigned", "SAML Profiles §4.1.4.5 (errata E26), saml2int SDP-IDP09", Medium;
    SignedAssertionOnly => Benign, "PROF-4.1.4.5-SignedOverPost", "SAML Profiles §4.1.4.5 (errata E26: the assertion's own signature protects it)", Medium;
    SignatureRemovedOneOfTwo => Either, "META-WantAssertionsSigned", "SAML Profiles §4.1.4.5 (errata E26: a policy)", Low;
    KeyRollover => Benign, "SDP-SP37-KeyRollover", "saml2int SDP-SP37, IIP-MD07", Medium;
    KeyAttacker => MustRefuse, "BP2-KeyTrust", "SAML Core §5.4.5, XML Signature Best Practices BP2", Critical;
    AlgorithmRsaSha256 => Benign, "ALG-Policy", "saml2int SDP-ALG01", Medium;
    AlgorithmPolicy => Either, "ALG-Policy", "saml2int SDP-ALG01, IIP-ALG08 (a policy)", Low;
    AlgorithmMd5 => MustRefuse, "ALG-Policy", "IIP-ALG08", Critical;
    AlgorithmHmac => MustRefuse, "ALG-HMAC-Confusion", "GHSA-c27r-x354-4m68, pysaml2 CVE-2021-21239", Critical;
    ReferenceUriWrong => MustRefuse, "CORE-5.4.2-ReferenceURI", "SAML Core §5.4.2", Critical;
    WrongBinding => MustRefuse, "BIND-3.5.4-PostEncoding", "SAML Bindings §3.5.4, SAML Profiles §4.1.2", Medium;
    // Tampering.
    SignedContentEdited => MustRefuse, "CORE-3.2.2-ResponseSigValid", "SAML Core §3.2.2, §2.3.3 (an invalid signature MUST NOT be relied on)", Critical;
    TextSplitIgnorable => Either, "TEXT-NodeSplit", "Duo Labs 2018 (CVE-2017-11427): the full signed text counts", Critical;
    TextSplitDigestChanging => MustRefuse, "TEXT-NodeSplit", "SAML Core §5.4.3 (exclusive c14n keeps processing instructions)", Critical;
    CarriageReturnInText => MustRefuse, "BP12-SeeWhatIsSigned", "XML 1.0 §2.11 (end-of-line handling), Canonical XML §2.3 (a CR is written &#xD;): the signed text changed", Critical;
    AssertionCopy => Either, "SDP-IDP10-OneAssertion", "saml2int SDP-IDP10 (REJECT, or consume only the verified one)", Critical;
    Wrapping => Either, "BP12-SeeWhatIsSigned", "XML Signature Best Practices BP12/BP14, Somorovsky et al. 2012", Critical;
    SecondSignedInfo => Either, "DSIG-SignedInfo-Integrity", "xml-crypto CVE-2025-29774", Critical;
    DigestSmuggled => MustRefuse, "DSIG-SignedInfo-Integrity", "xml-crypto CVE-2025-29775, ruby-saml CVE-2024-45409", Critical;
    ExtraNameId => Either, "BP12-SeeWhatIsSigned", "samlify CVE-2017-1000452", Critical;
    OddNamespace => Either, "C14N-FailClosed", "ruby-saml CVE-2025-66568 (alone, the digest is unchanged)", Low;
    NotEnveloped => MustRefuse, "CORE-5.4.1-Enveloped", "SAML Core §5.4.1", High;
    ObjectReference => Either, "CORE-5.4.5-Object", "SAML Core §5.4.5 (errata E91)", Critical;
    ExtraTransform => MustRefuse, "CORE-5.4.4-Transforms", "SAML Core §5.4.4", High;
    ExtraReference => MustRefuse, "CORE-5.4.2-SingleReference", "SAML Core §5.4.2", High;
    UnknownCanonicalization => MustRefuse, "CORE-5.4.3-C14N", "SAML Core §5.4.3", High;
    DoctypeInternal => MustRefuse, "IIP-G03-DTD", "IIP-G03, saml2int SDP-G03", Medium;
    EntityExpansion => MustRefuse, "XML-EntityExpansion", "XML Signature Best Practices BP1", High;
    TrailingRoot => MustRefuse, "XML-SingleRoot", "XML 1.0 §2.1 (one root element)", Critical;
    EditAfterRelocation => Either, "BP12-SeeWhatIsSigned", "XML Signature Best Practices BP12 (an edit that may miss the signed text)", Critical;
    VoidedByRemoval => Either, "PROF-4.1.4.5-SignedOverPost", "SAML Profiles §4.1.4.5 (a signature's structure, then the signature removed)", Critical;
    KeyInfoIgnored => Either, "BP2-KeyTrust", "SAML Core §5.4.5 (KeyInfo is not trusted, never fetched)", Critical;
    IdNotNcName => MustRefuse, "CORE-3.2.2-ID", "SAML Core §1.3.4 (an ID is an xs:ID)", Medium;
    SecondSignedAssertion => MustRefuse, "PROF-4.1.4.2-SameSubject", "SAML Profiles §4.1.4.2 (all assertions about one principal)", High;
    SchemaInvalid => Either, "XML-SchemaValid", "SAML Core schemas (should: a verifier that skips them)", Medium;
    PaddingSmall => Benign, "DOS-Inflate", "XML 1.0 §2.5 (a comment before the root is part of no element)", Low;
    PaddingLarge => Either, "DOS-Inflate", "SAML Bindings §3.5 (an SP should bound the POST body)", Low;
    DoctypeRoundTrip => MustRefuse, "IIP-G03-DTD", "IIP-G03; ruby-saml CVE-2025-25291 (a DOCTYPE round trip reads a forgery)", Critical;
    AttlistNamespace => MustRefuse, "IIP-G03-DTD", "IIP-G03; ruby-saml CVE-2025-25292 (ATTLIST namespace injection)", Critical;
    VoidCanonicalization => MustRefuse, "C14N-FailClosed", "ruby-saml CVE-2025-66568, xmlseclibs CVE-2025-66578 (the digest of \"\" never matches)", Critical;
    RelocatedSignature => Either, "BP12-SeeWhatIsSigned", "samlify CVE-2025-47949 (REJECT, or consume only the verified original)", Critical;
    ForeignId => Either, "CORE-1.3.4-IDUnique", "SAML Core §1.3.4; node-saml CVE-2025-54419 (REJECT, or consume only the verified original)", Critical;
    Libxml2IdEntities => MustRefuse, "IIP-G03-DTD", "IIP-G03; GitHub Enterprise Server CVE-2025-23369", Critical;
    AssertionInForgedAssertion => MustRefuse, "CORE-3.2.2-ResponseSigValid", "SAML Core §3.2.2 (the outer assertion's signature never verifies); pysaml2 CVE-2021-21238", Critical;
    SignatureInForgedAssertion => Either, "BP12-SeeWhatIsSigned", "pysaml2 CVE-2020-5390 (REJECT, or consume only the verified original)", Critical;
    AuthnContextOther => Benign, "IIP-SP07-AuthnContext", "IIP-SP07 (only a requested class binds; the fuzzed SP requests none)", Medium;
}

impl Key {
    /// The key's table row.
    pub fn entry(self) -> &'static Entry {
        // The table has one row per key (a test checks it), so the search always succeeds;
        // the index fallback only keeps this free of panics.
        TABLE.iter().find(|e| e.key == self).unwrap_or(&TABLE[0])
    }
}

/// One change of a plan, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The table key.
    pub key: Key,
    /// Its class.
    pub class: Class,
    /// The rule id.
    pub rule: &'static str,
    /// What in the plan it is about.
    pub what: String,
}

/// What a conformant SP does with a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every change, classified, in plan order.
    pub findings: Vec<Finding>,
    /// The logical user the response is for (`member`, or `attacker` for text splits).
    pub user: String,
    /// The logical user whose email starts the login: the forged identity when a tampering
    /// forges one (an attacker types the victim's email, so that an SP comparing typed and
    /// asserted emails does not refuse the forgery for the mismatch alone), else `user`.
    pub typed: String,
}

/// The outcome the oracle expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// Signed in as the signed user.
    SignedIn,
    /// Refused.
    Refused,
    /// Refused, or signed in as the signed user.
    Either,
}

impl Verdict {
    /// The strongest class among the findings.
    pub fn class(&self) -> Class {
        self.findings
            .iter()
            .map(|f| f.class)
            .max()
            .unwrap_or(Class::Benign)
    }

    /// The expected outcome.
    pub fn expected(&self) -> Expected {
        match self.class() {
            Class::Benign => Expected::SignedIn,
            Class::Either => Expected::Either,
            Class::MustRefuse => Expected::Refused,
        }
    }

    /// The scenario expectation.
    pub fn expectation(&self) -> Expectation {
        match self.expected() {
            Expected::SignedIn => Expectation::SignedIn {
                user: self.user.clone(),
                role: None,
            },
            Expected::Refused => Expectation::Refused {
                reason: None,
                clear: false,
            },
            Expected::Either => Expectation::NoEffect {
                user: self.user.clone(),
            },
        }
    }

    /// The findings that decide the outcome (the must-refuse ones when refusal is expected).
    pub fn deciding(&self) -> Vec<&Finding> {
        let class = self.class();
        self.findings.iter().filter(|f| f.class == class).collect()
    }

    /// Rule ids of the deciding findings, deduplicated, in order.
    pub fn rules(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.deciding() {
            if !out.iter().any(|r| r == f.rule) {
                out.push(f.rule.to_owned());
            }
        }
        out
    }

    /// Spec citations of the deciding findings, deduplicated, in order.
    pub fn spec(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.deciding() {
            let spec = f.key.entry().spec;
            if !out.iter().any(|s| s == spec) {
                out.push(spec.to_owned());
            }
        }
        if out.is_empty() {
            out.push("SAML Profiles §4.1.4.3".to_owned());
        }
        out
    }

    /// The worst severity among the must-refuse findings (for a response accepted that must
    /// be refused).
    pub fn refusal_severity(&self) -> Severity {
        self.findings
            .iter()
            .filter(|f| f.class == Class::MustRefuse)
            .map(|f| f.key.entry().severity)
            .min()
            .unwrap_or(Severity::High)
    }
}

/// Placeholders the fuzzer writes into plans, so that the same plan fits any target.
pub mod values {
    /// The SP's ACS URL.
    pub const ACS: &str = "{sp.acs_url}";
    /// The SP's entityID.
    pub const SP: &str = "{sp.entity_id}";
    /// The IdP's entityID.
    pub const IDP: &str = "{idp.entity_id}";
    /// The forged identity.
    pub const ADMIN: &str = "{users.admin.email}";
    /// The user whose account name starts with the admin's email (text splits).
    pub const ATTACKER: &str = "{users.attacker.email}";
}

/// How a value compares with the right one: equal, equal once whitespace is collapsed (an
/// anyURI), or different.
fn compare(value: &str, right: &str) -> Option<bool> {
    if value == right {
        None
    } else if value.trim_matches(|c: char| c.is_ascii_whitespace()) == right {
        Some(false)
    } else {
        Some(true)
    }
}

/// The key of an omission that no value slot judges.
fn omitted_key(element: Omittable) -> Option<Key> {
    Some(match element {
        Omittable::Status | Omittable::StatusCode => Key::StatusMissing,
        Omittable::ResponseId | Omittable::AssertionId => Key::IdMissing,
        Omittable::ResponseVersion | Omittable::AssertionVersion => Key::VersionMissing,
        Omittable::ResponseIssueInstant | Omittable::AssertionIssueInstant => {
            Key::IssueInstantMissing
        }
        Omittable::Subject
        | Omittable::SubjectConfirmation
        | Omittable::SubjectConfirmationMethod
        | Omittable::SubjectConfirmationData => Key::SubjectMissing,
        Omittable::NameId => Key::NameIdMissing,
        Omittable::AuthnInstant => Key::AuthnInstantMissing,
        Omittable::Destination
        | Omittable::Recipient
        | Omittable::ResponseIssuer
        | Omittable::AssertionIssuer
        | Omittable::InResponseTo
        | Omittable::SubjectConfirmationNotOnOrAfter
        | Omittable::Conditions
        | Omittable::AudienceRestriction
        | Omittable::AuthnStatement
        | Omittable::Assertion => return None,
    })
}

/// The key of an emptied element or attribute that no value slot judges.
fn emptied_key(element: Emptiable) -> Key {
    match element {
        Emptiable::Status | Emptiable::StatusCode | Emptiable::StatusCodeValue => {
            Key::StatusMissing
        }
        Emptiable::ResponseId | Emptiable::AssertionId => Key::IdMissing,
        Emptiable::ResponseIssueInstant
        | Emptiable::AssertionIssueInstant
        | Emptiable::SubjectConfirmationNotOnOrAfter
        | Emptiable::ConditionsNotOnOrAfter
        | Emptiable::AuthnInstant => Key::TimeMalformed,
        Emptiable::Subject
        | Emptiable::SubjectConfirmation
        | Emptiable::SubjectConfirmationMethod
        | Emptiable::SubjectConfirmationData => Key::SubjectMissing,
        Emptiable::NameId => Key::NameIdMissing,
        Emptiable::Conditions => Key::ConditionsMissing,
        Emptiable::AudienceRestriction | Emptiable::Audience => Key::AudienceMissing,
        Emptiable::AuthnStatement => Key::AuthnInstantMissing,
        Emptiable::Destination => Key::DestinationOther,
        Emptiable::Recipient => Key::RecipientOther,
        Emptiable::ResponseIssuer => Key::ResponseIssuerOther,
        Emptiable::AssertionIssuer => Key::AssertionIssuerOther,
        Emptiable::ResponseVersion | Emptiable::AssertionVersion => Key::VersionOther,
    }
}

/// The key of a value written as given; `None` when it is what the IdP writes anyway.
fn raw_key(field: RawField, value: &str) -> Option<Key> {
    const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
    const ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
    let ncname = |v: &str| {
        let mut chars = v.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let utc_instant = |v: &str| v.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(v).is_ok();
    Some(match field {
        RawField::ResponseId | RawField::AssertionId if ncname(value) => return None,
        RawField::ResponseId | RawField::AssertionId => Key::IdNotNcName,
        RawField::StatusCodeValue if value == SUCCESS => return None,
        RawField::StatusCodeValue => Key::StatusNotSuccess,
        RawField::SubjectConfirmationMethod if value == BEARER => Key::MethodBearerExplicit,
        RawField::SubjectConfirmationMethod => Key::MethodNotBearer,
        RawField::ResponseIssuerFormat | RawField::AssertionIssuerFormat if value == ENTITY => {
            return None;
        }
        RawField::ResponseIssuerFormat => Key::ResponseIssuerFormatOther,
        RawField::AssertionIssuerFormat => Key::AssertionIssuerFormatOther,
        RawField::ResponseIssueInstant
        | RawField::AssertionIssueInstant
        | RawField::SubjectConfirmationNotOnOrAfter
        | RawField::ConditionsNotBefore
        | RawField::ConditionsNotOnOrAfter
        | RawField::AuthnInstant => {
            if utc_instant(value) {
                Key::TimeRaw
            } else {
                Key::TimeMalformed
            }
        }
    })
}

/// A value slot of the response; the last alteration of a slot wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Destination,
    Recipient,
    Audience,
    Conditions,
    ResponseIssuer,
    AssertionIssuer,
    NameIdFormat,
    ResponseIrt,
    SubjectIrt,
    Time(u8),
    ResponseZone,
    AssertionZone,
    Status,
    ResponseVersion,
    AssertionVersion,
    Address,
    Method,
    AuthnStatement,
    Assertion,
}

#[derive(Debug, Clone)]
enum SlotValue<'a> {
    Set(&'a str),
    Omitted,
    Offset(i64),
    Zone,
    Status(&'a str, bool),
}

fn time_index(field: TimeField) -> u8 {
    match field {
        TimeField::ResponseIssueInstant => 0,
        TimeField::AssertionIssueInstant => 1,
        TimeField::NotBefore => 2,
        TimeField::NotOnOrAfter => 3,
        TimeField::SubjectConfirmationNotOnOrAfter => 4,
        TimeField::SubjectConfirmationNotBefore => 5,
        TimeField::SessionNotOnOrAfter => 6,
    }
}

/// The flavours' baseline window (mock-idp `flavour.rs`): Conditions NotBefore is now minus
/// this, NotOnOrAfter and the bearer NotOnOrAfter now plus [`BASELINE_LIFETIME`].
const BASELINE_NOT_BEFORE: i64 = -60;
/// See [`BASELINE_NOT_BEFORE`].
const BASELINE_LIFETIME: i64 = 300;

/// Classifies every change of `plan` (placeholders not filled in).
pub fn classify(plan: &Plan) -> Verdict {
    let mut findings = Vec::new();
    let mut push = |key: Key, what: String| {
        let entry = key.entry();
        findings.push(Finding {
            key,
            class: entry.class,
            rule: entry.rule,
            what,
        });
    };
    let layout = plan
        .signing
        .layout
        .unwrap_or_else(|| plan.flavour.default_layout());
    let removed = |sel: SignatureSelector| {
        plan.tamper.iter().any(|t| {
            matches!(t, Tamper::RemoveSignature { which } if *which == sel || *which == SignatureSelector::All)
        })
    };
    let response_signed = layout.signs_response() && !removed(SignatureSelector::Response);
    let assertion_signed = layout.signs_assertion() && !removed(SignatureSelector::Assertion);

    // Signing.
    if plan.flavour == mock_idp::Flavour::Entra {
        push(Key::FlavourEntra, "flavour entra".into());
    }
    match layout {
        SigningLayout::None => push(Key::Unsigned, "signing.layout none".into()),
        SigningLayout::Both => push(Key::SignedBoth, "signing.layout both".into()),
        SigningLayout::Response => push(Key::SignedResponseOnly, "signing.layout response".into()),
        SigningLayout::Assertion => {
            push(Key::SignedAssertionOnly, "signing.layout assertion".into());
        }
    }
    if layout != SigningLayout::None {
        match plan.signing.key {
            KeyChoice::Trusted => {}
            KeyChoice::Rollover => push(Key::KeyRollover, "signing.key rollover".into()),
            other => push(Key::KeyAttacker, format!("signing.key {other:?}")),
        }
        match plan.signing.algorithm {
            None | Some(SignatureAlgorithm::RsaSha256) => {}
            Some(SignatureAlgorithm::RsaMd5) => {
                push(Key::AlgorithmMd5, "signing.algorithm rsa-md5".into());
            }
            Some(a) if a.is_hmac() => push(Key::AlgorithmHmac, format!("signing.algorithm {a:?}")),
            Some(a) => push(Key::AlgorithmPolicy, format!("signing.algorithm {a:?}")),
        }
        if plan.signing.digest != mock_idp::plan::DigestAlgorithm::Sha256 {
            push(Key::AlgorithmPolicy, "signing.digest sha1".into());
        }
        if plan.signing.reference_uri.is_some() {
            push(Key::ReferenceUriWrong, "signing.reference_uri".into());
        }
    }
    if plan.binding != ResponseBinding::Post {
        push(Key::WrongBinding, format!("binding {:?}", plan.binding));
    }
    if !plan.attributes.is_empty() {
        push(Key::ExtraAttributes, "extra attributes".into());
    }

    // Alterations: the last one of a slot wins; conditions and cosmetics add up.
    let mut slots: BTreeMap<Slot, SlotValue<'_>> = BTreeMap::new();
    let mut conditions: Vec<ConditionKind> = Vec::new();
    for alteration in &plan.alter {
        match alteration {
            Alteration::Destination { value } => {
                slots.insert(Slot::Destination, SlotValue::Set(value));
            }
            Alteration::Recipient { value } => {
                slots.insert(Slot::Recipient, SlotValue::Set(value));
            }
            Alteration::Audience { value } => {
                slots.insert(Slot::Audience, SlotValue::Set(value));
            }
            Alteration::Issuer { value, scope } => {
                if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
                    slots.insert(Slot::ResponseIssuer, SlotValue::Set(value));
                }
                if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
                    slots.insert(Slot::AssertionIssuer, SlotValue::Set(value));
                }
            }
            Alteration::NameIdFormat { value } => {
                slots.insert(Slot::NameIdFormat, SlotValue::Set(value));
            }
            Alteration::InResponseTo { value, scope } => {
                if matches!(scope, InResponseToScope::Response | InResponseToScope::Both) {
                    slots.insert(Slot::ResponseIrt, SlotValue::Set(value));
                }
                if matches!(
                    scope,
                    InResponseToScope::SubjectConfirmation | InResponseToScope::Both
                ) {
                    slots.insert(Slot::SubjectIrt, SlotValue::Set(value));
                }
            }
            Alteration::Time {
                field,
                offset_seconds,
            } => {
                slots.insert(
                    Slot::Time(time_index(*field)),
                    SlotValue::Offset(*offset_seconds),
                );
            }
            Alteration::IssueInstantZone { scope, .. } => {
                if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
                    slots.insert(Slot::ResponseZone, SlotValue::Zone);
                }
                if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
                    slots.insert(Slot::AssertionZone, SlotValue::Zone);
                }
            }
            Alteration::Status { code, second_level } => {
                slots.insert(
                    Slot::Status,
                    SlotValue::Status(code, second_level.is_some()),
                );
            }
            Alteration::Version { value, scope } => {
                if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
                    slots.insert(Slot::ResponseVersion, SlotValue::Set(value));
                }
                if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
                    slots.insert(Slot::AssertionVersion, SlotValue::Set(value));
                }
            }
            Alteration::Address { value } => {
                slots.insert(Slot::Address, SlotValue::Set(value));
            }
            Alteration::ConfirmationMethod { value } => {
                slots.insert(Slot::Method, SlotValue::Set(value));
            }
            Alteration::Condition { element } => conditions.push(*element),
            Alteration::Omit { element } if omitted_key(*element).is_some() => {
                if let Some(key) = omitted_key(*element) {
                    push(key, format!("omit {element:?}"));
                }
            }
            Alteration::Omit { element } => {
                let slot = match element {
                    Omittable::Destination => Slot::Destination,
                    Omittable::Recipient => Slot::Recipient,
                    Omittable::ResponseIssuer => Slot::ResponseIssuer,
                    Omittable::AssertionIssuer => Slot::AssertionIssuer,
                    Omittable::InResponseTo => {
                        slots.insert(Slot::ResponseIrt, SlotValue::Omitted);
                        Slot::SubjectIrt
                    }
                    Omittable::SubjectConfirmationNotOnOrAfter => {
                        Slot::Time(time_index(TimeField::SubjectConfirmationNotOnOrAfter))
                    }
                    Omittable::Conditions => {
                        conditions.clear();
                        Slot::Conditions
                    }
                    Omittable::AudienceRestriction => Slot::Audience,
                    Omittable::AuthnStatement => Slot::AuthnStatement,
                    Omittable::Assertion => Slot::Assertion,
                    // Judged by `omitted_key` above.
                    _ => continue,
                };
                slots.insert(slot, SlotValue::Omitted);
            }
            Alteration::Empty { element } => {
                let what = format!("empty {element:?}");
                let slot = match element {
                    Emptiable::Destination => Some(Slot::Destination),
                    Emptiable::Recipient => Some(Slot::Recipient),
                    Emptiable::ResponseIssuer => Some(Slot::ResponseIssuer),
                    Emptiable::AssertionIssuer => Some(Slot::AssertionIssuer),
                    Emptiable::ResponseVersion => Some(Slot::ResponseVersion),
                    Emptiable::AssertionVersion => Some(Slot::AssertionVersion),
                    Emptiable::Audience => Some(Slot::Audience),
                    Emptiable::SubjectConfirmationMethod => Some(Slot::Method),
                    _ => None,
                };
                match slot {
                    Some(slot) => {
                        slots.insert(slot, SlotValue::Set(""));
                    }
                    None => push(emptied_key(*element), what),
                }
            }
            Alteration::Raw { field, value } => {
                if let Some(key) = raw_key(*field, value) {
                    push(key, format!("raw {field:?} {value:?}"));
                }
            }
            Alteration::Whitespace { .. } => push(Key::Whitespace, "whitespace".into()),
            Alteration::Prefixes { .. } => push(Key::PrefixRename, "prefixes".into()),
            Alteration::ExtraAttribute { .. } => {
                push(Key::ForeignAttribute, "extra-attribute".into());
            }
            Alteration::ReverseAttributes => push(Key::AttributeOrder, "reverse-attributes".into()),
            Alteration::AuthnContextClass { value } => {
                push(
                    Key::AuthnContextOther,
                    format!("authn-context-class {value}"),
                );
            }
            // A signed NameID of another value makes another user the signed one: the fuzzer
            // never generates it, and a hand-made plan with it is judged as is.
            Alteration::NameId { .. } => {}
        }
    }
    let conditions_gone = matches!(slots.get(&Slot::Conditions), Some(SlotValue::Omitted));
    let offset = |field: TimeField| match slots.get(&Slot::Time(time_index(field))) {
        Some(SlotValue::Offset(o)) => Some(*o),
        _ => None,
    };
    let mut irt_missing_seen = false;
    for (slot, value) in &slots {
        let what = format!("{slot:?} {value:?}");
        match (slot, value) {
            (Slot::Destination, SlotValue::Set(v)) => match compare(v, values::ACS) {
                None => {}
                Some(false) => push(Key::DestinationPadded, what),
                Some(true) => push(Key::DestinationOther, what),
            },
            (Slot::Destination, SlotValue::Omitted) if response_signed => {
                push(Key::DestinationMissingSigned, what);
            }
            (Slot::Destination, SlotValue::Omitted) => push(Key::DestinationMissingUnsigned, what),
            (Slot::Recipient, SlotValue::Set(v)) => match compare(v, values::ACS) {
                None => {}
                Some(false) => push(Key::RecipientPadded, what),
                Some(true) => push(Key::RecipientOther, what),
            },
            (Slot::Recipient, SlotValue::Omitted) => push(Key::RecipientMissing, what),
            (Slot::Audience, _) if conditions_gone => {}
            (Slot::Audience, SlotValue::Set(v)) => match compare(v, values::SP) {
                None => {}
                Some(false) => push(Key::AudiencePadded, what),
                Some(true) => push(Key::AudienceOther, what),
            },
            (Slot::Audience, SlotValue::Omitted) => push(Key::AudienceMissing, what),
            (Slot::Conditions, _) => push(Key::ConditionsMissing, what),
            (Slot::ResponseIssuer, SlotValue::Set(v)) => match compare(v, values::IDP) {
                None => {}
                Some(false) => push(Key::ResponseIssuerPadded, what),
                Some(true) => push(Key::ResponseIssuerOther, what),
            },
            (Slot::ResponseIssuer, SlotValue::Omitted) if response_signed => {
                push(Key::ResponseIssuerMissingSigned, what);
            }
            (Slot::ResponseIssuer, SlotValue::Omitted) => {
                push(Key::ResponseIssuerMissingUnsigned, what);
            }
            (Slot::AssertionIssuer, SlotValue::Set(v)) => match compare(v, values::IDP) {
                None => {}
                Some(false) => push(Key::AssertionIssuerPadded, what),
                Some(true) => push(Key::AssertionIssuerOther, what),
            },
            (Slot::AssertionIssuer, SlotValue::Omitted) => push(Key::AssertionIssuerMissing, what),
            (Slot::NameIdFormat, SlotValue::Set(v)) => {
                if *v == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
                    push(Key::NameIdFormatEmail, what);
                } else {
                    push(Key::NameIdFormatOther, what);
                }
            }
            (Slot::ResponseIrt, SlotValue::Set(_)) => push(Key::InResponseToOther, what),
            (Slot::SubjectIrt, SlotValue::Set(_)) => push(Key::SubjectInResponseToOther, what),
            (Slot::ResponseIrt | Slot::SubjectIrt, SlotValue::Omitted) if !irt_missing_seen => {
                irt_missing_seen = true;
                push(Key::InResponseToMissing, what);
            }
            (Slot::Time(i), SlotValue::Offset(o)) => {
                let o = *o;
                match *i {
                    0 | 1 => push(
                        if o.abs() <= 60 {
                            Key::IssueInstantAboutNow
                        } else {
                            Key::IssueInstantFar
                        },
                        what,
                    ),
                    2 if !conditions_gone => push(
                        if o >= 600 {
                            Key::NotYetValidFar
                        } else if o > 60 {
                            Key::NotYetValidNearEdge
                        } else {
                            Key::ValidFromAboutNow
                        },
                        what,
                    ),
                    3 if !conditions_gone => push(expiry(o, false), what),
                    4 => push(expiry(o, true), what),
                    5 => push(
                        if o >= 600 {
                            Key::SubjectNotBeforeFuture
                        } else {
                            Key::SubjectNotBeforePresent
                        },
                        what,
                    ),
                    6 => push(
                        if o <= -60 {
                            Key::SessionEnded
                        } else if o < 300 {
                            Key::SessionEndsNearNow
                        } else {
                            Key::SessionEndsLater
                        },
                        what,
                    ),
                    _ => {}
                }
            }
            (Slot::Time(4), SlotValue::Omitted) => push(Key::SubjectNotOnOrAfterMissing, what),
            (Slot::ResponseZone | Slot::AssertionZone, _) => push(Key::IssueInstantZoned, what),
            (Slot::Status, SlotValue::Status(code, nested)) => {
                let success = code.rsplit(':').next() == Some("Success");
                if !success {
                    push(Key::StatusNotSuccess, what);
                } else if *nested {
                    push(Key::StatusSuccessNested, what);
                }
            }
            (Slot::ResponseVersion | Slot::AssertionVersion, SlotValue::Set(v)) if *v != "2.0" => {
                push(Key::VersionOther, what);
            }
            (Slot::Address, _) => push(Key::AddressSet, what),
            (Slot::Method, SlotValue::Set(v)) => {
                if v.rsplit(':').next() == Some("bearer") {
                    push(Key::MethodBearerExplicit, what);
                } else {
                    push(Key::MethodNotBearer, what);
                }
            }
            (Slot::AuthnStatement, _) => push(Key::AuthnStatementMissing, what),
            (Slot::Assertion, _) => push(Key::AssertionMissing, what),
            _ => {}
        }
    }
    // Windows whose ends were both moved (or one moved past the other's baseline).
    if !conditions_gone {
        let nb = offset(TimeField::NotBefore).unwrap_or(BASELINE_NOT_BEFORE);
        let noa = offset(TimeField::NotOnOrAfter).unwrap_or(BASELINE_LIFETIME);
        if nb >= noa {
            push(
                Key::ConditionsInverted,
                format!("Conditions NotBefore {nb:+} s >= NotOnOrAfter {noa:+} s"),
            );
        }
    }
    if let Some(nb) = offset(TimeField::SubjectConfirmationNotBefore) {
        let noa = offset(TimeField::SubjectConfirmationNotOnOrAfter).unwrap_or(BASELINE_LIFETIME);
        let noa_present = !matches!(
            slots.get(&Slot::Time(time_index(
                TimeField::SubjectConfirmationNotOnOrAfter
            ))),
            Some(SlotValue::Omitted)
        );
        if noa_present && nb >= noa {
            push(
                Key::SubjectWindowInverted,
                format!("SubjectConfirmationData NotBefore {nb:+} s >= NotOnOrAfter {noa:+} s"),
            );
        }
    }
    let conditions_count = |kind: ConditionKind| conditions.iter().filter(|c| **c == kind).count();
    match conditions_count(ConditionKind::OneTimeUse) {
        0 => {}
        1 => push(Key::OneTimeUseOnce, "one OneTimeUse".into()),
        n => push(Key::OneTimeUseTwice, format!("{n} OneTimeUse")),
    }
    match conditions_count(ConditionKind::ProxyRestriction) {
        0 => {}
        1 => push(Key::ProxyRestrictionOnce, "one ProxyRestriction".into()),
        n => push(Key::ProxyRestrictionTwice, format!("{n} ProxyRestriction")),
    }
    if conditions_count(ConditionKind::Unknown) > 0 {
        push(Key::UnknownCondition, "an unknown condition".into());
    }

    // Tampering.
    let mut user = "member";
    let signed_at_all = response_signed || assertion_signed;
    // The NameID edits change the first NameID text in document order. Once an earlier
    // tampering split that text or put another NameID first, an edit may land on unsigned
    // text or write what is already there: judged like the attacks a conformant SP may
    // survive, not as a certain change of signed content.
    let mut disturbed = false;
    for (i, tamper) in plan.tamper.iter().enumerate() {
        let what = format!("tamper {}", tamper_name(tamper));
        // A signature's own structure stops mattering when a later tampering removes
        // signatures: which one goes, and what stays signed, is judged by the removal.
        let removed_later = plan.tamper[i + 1..]
            .iter()
            .any(|t| matches!(t, Tamper::RemoveSignature { .. }));
        let structural = matches!(
            tamper,
            Tamper::ReferenceUri { .. }
                | Tamper::XsltTransform { .. }
                | Tamper::ExtraTransform { .. }
                | Tamper::ExtraReference { .. }
                | Tamper::CanonicalizationMethod { .. }
                | Tamper::EnvelopingSignature
                | Tamper::DetachedSignature
                | Tamper::ObjectReference { .. }
                | Tamper::SecondSignedInfo { .. }
        );
        if structural && removed_later {
            push(Key::VoidedByRemoval, what);
            continue;
        }
        let adds_name_ids = !matches!(
            tamper,
            Tamper::RemoveSignature { .. }
                | Tamper::ReferenceUri { .. }
                | Tamper::Doctype { .. }
                | Tamper::OddNamespace { .. }
                | Tamper::VoidCanonicalization { .. }
                | Tamper::EnvelopingSignature
                | Tamper::DetachedSignature
                | Tamper::XsltTransform { .. }
                | Tamper::ExtraTransform { .. }
                | Tamper::ExtraReference { .. }
                | Tamper::CanonicalizationMethod { .. }
                | Tamper::KeyInfoRetrieval { .. }
                | Tamper::Id { .. }
                | Tamper::SchemaInvalid { .. }
                | Tamper::Padding { .. }
        );
        let after_disturbance = disturbed;
        disturbed |= adds_name_ids;
        match tamper {
            Tamper::EditNameId { .. }
            | Tamper::DigestComment { .. }
            | Tamper::StrayDigestValue { .. }
                if after_disturbance =>
            {
                push(Key::EditAfterRelocation, what);
            }
            Tamper::RemoveSignature { .. } => {
                if signed_at_all {
                    // Only one of two went: the other still covers the assertion.
                    if layout == SigningLayout::Both {
                        push(Key::SignatureRemovedOneOfTwo, what);
                    }
                } else if layout != SigningLayout::None {
                    push(Key::Unsigned, what);
                }
            }
            Tamper::EditNameId { .. } | Tamper::DigestComment { .. } => {
                push(Key::SignedContentEdited, what);
            }
            Tamper::StrayDigestValue { .. } => push(Key::DigestSmuggled, what),
            Tamper::CommentInNameId { .. } => {
                user = "attacker";
                push(Key::TextSplitIgnorable, what);
            }
            Tamper::SplitText { with, .. } => {
                user = "attacker";
                match with {
                    TextSplit::ProcessingInstruction => push(Key::TextSplitDigestChanging, what),
                    TextSplit::CarriageReturnReference | TextSplit::CarriageReturn => {
                        push(Key::CarriageReturnInText, what);
                    }
                    TextSplit::Comment | TextSplit::Cdata => push(Key::TextSplitIgnorable, what),
                }
            }
            Tamper::InsertAssertionCopy { .. } => push(Key::AssertionCopy, what),
            Tamper::ReferenceUri { .. } => push(Key::ReferenceUriWrong, what),
            Tamper::Doctype { entity, .. } => match entity {
                DoctypeEntity::Expansion => push(Key::EntityExpansion, what),
                _ => push(Key::DoctypeInternal, what),
            },
            Tamper::TrailingRoot { .. } => push(Key::TrailingRoot, what),
            Tamper::Xsw { .. } | Tamper::Wrap { .. } => push(Key::Wrapping, what),
            Tamper::SecondSignedInfo { .. } => push(Key::SecondSignedInfo, what),
            Tamper::OddNamespace { .. } => push(Key::OddNamespace, what),
            Tamper::EnvelopingSignature | Tamper::DetachedSignature => {
                push(Key::NotEnveloped, what);
            }
            Tamper::ObjectReference { .. } => push(Key::ObjectReference, what),
            Tamper::ExtraNameId { .. } => push(Key::ExtraNameId, what),
            Tamper::XsltTransform { .. } | Tamper::ExtraTransform { .. } => {
                push(Key::ExtraTransform, what);
            }
            Tamper::ExtraReference { .. } => push(Key::ExtraReference, what),
            Tamper::CanonicalizationMethod { .. } => push(Key::UnknownCanonicalization, what),
            Tamper::KeyInfoRetrieval { .. } => push(Key::KeyInfoIgnored, what),
            Tamper::Id { value, .. } => {
                // A tampering that keeps an NCName only renames the element: harmless.
                if !is_ncname(value) {
                    push(Key::IdNotNcName, what);
                }
            }
            Tamper::SecondSignedAssertion { .. } => push(Key::SecondSignedAssertion, what),
            Tamper::SchemaInvalid { .. } => push(Key::SchemaInvalid, what),
            Tamper::DoctypeRoundTrip { .. } => push(Key::DoctypeRoundTrip, what),
            Tamper::AttlistNamespace { .. } => push(Key::AttlistNamespace, what),
            Tamper::VoidCanonicalization { .. } => push(Key::VoidCanonicalization, what),
            Tamper::RelocatedSignature { .. } => push(Key::RelocatedSignature, what),
            Tamper::ForeignId { .. } => push(Key::ForeignId, what),
            Tamper::Libxml2IdEntities { .. } => push(Key::Libxml2IdEntities, what),
            Tamper::AssertionInForgedAssertion { .. } => {
                push(Key::AssertionInForgedAssertion, what);
            }
            Tamper::SignatureInForgedAssertion { .. } => {
                push(Key::SignatureInForgedAssertion, what);
            }
            Tamper::Padding { bytes } => push(
                if *bytes < PADDING_LIMIT {
                    Key::PaddingSmall
                } else {
                    Key::PaddingLarge
                },
                what,
            ),
        }
    }
    let forges_admin = plan
        .tamper
        .iter()
        .any(|t| serde_json::to_string(t).is_ok_and(|json| json.contains(values::ADMIN)));
    Verdict {
        findings,
        user: user.to_owned(),
        typed: if forges_admin { "admin" } else { user }.to_owned(),
    }
}

/// Padding from this size on may meet an SP's body limit (the reference SP's is 1 MiB).
const PADDING_LIMIT: usize = 512 * 1024;

/// An xs:ID's lexical form: an NCName (letters, digits, `_`, `-`, `.`; not starting with a
/// digit, `-` or `.`).
fn is_ncname(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn expiry(offset: i64, subject: bool) -> Key {
    match (offset, subject) {
        (o, false) if o <= -600 => Key::ExpiredFar,
        (o, false) if o < -60 => Key::ExpiredNearEdge,
        (_, false) => Key::ExpiresSoonOrLater,
        (o, true) if o <= -600 => Key::SubjectExpiredFar,
        (o, true) if o < -60 => Key::SubjectExpiredNearEdge,
        (_, true) => Key::SubjectExpiresSoonOrLater,
    }
}

/// The kebab-case kind of a tampering.
pub fn tamper_name(tamper: &Tamper) -> String {
    serde_json::to_value(tamper)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_owned)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Catalogue, Flow};

    #[test]
    fn the_table_has_one_row_per_key_with_a_rule_and_a_citation() {
        for key in Key::ALL {
            let rows: Vec<_> = TABLE.iter().filter(|e| e.key == *key).collect();
            assert_eq!(rows.len(), 1, "{key:?}");
            assert!(
                !rows[0].rule.is_empty() && !rows[0].spec.is_empty(),
                "{key:?}"
            );
        }
        assert_eq!(TABLE.len(), Key::ALL.len());
    }

    /// The oracle and the hand-written catalogue agree on every plain SP-initiated scenario
    /// whose plan the fuzzer's vocabulary covers.
    #[test]
    fn the_oracle_agrees_with_the_catalogue() {
        let catalogue = Catalogue::embedded().expect("the embedded catalogue");
        let mut checked = 0;
        let mut disagreements = Vec::new();
        for scenario in catalogue.iter() {
            let file = &scenario.file;
            let plain = file.flow == Flow::SpInitiated
                && file.steps.is_empty()
                && file.requires.is_empty()
                && file.level != crate::scenario::Level::Policy
                && file
                    .plan
                    .user
                    .as_deref()
                    .is_none_or(|u| u == "{users.member.email}" || u == values::ATTACKER)
                && !serde_json::to_string(&file.plan)
                    .expect("json")
                    .contains("{witness.url}")
                // Another signed NameID is another signed user: the oracle judges plans by
                // who is signed, so it leaves those to the catalogue.
                && !file
                    .plan
                    .alter
                    .iter()
                    .any(|a| matches!(a, Alteration::NameId { .. }));
            if !plain {
                continue;
            }
            checked += 1;
            let verdict = classify(&file.plan);
            // At the should level the oracle may be more lenient ("either").
            let lenient = file.level == crate::scenario::Level::Should
                && verdict.expected() == Expected::Either;
            let agrees = lenient
                || match &file.expect {
                    Expectation::Refused { .. } => verdict.expected() == Expected::Refused,
                    Expectation::SignedIn { .. } => verdict.expected() == Expected::SignedIn,
                    Expectation::NoEffect { .. } => verdict.expected() != Expected::SignedIn,
                    _ => true,
                };
            if !agrees {
                disagreements.push(format!(
                    "{}: catalogue {:?}, oracle {:?} ({:?})",
                    scenario.id,
                    file.expect,
                    verdict.expected(),
                    verdict.findings
                ));
            }
        }
        assert!(checked > 60, "only {checked} scenarios checked");
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    }
}
