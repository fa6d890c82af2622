//! The plan vocabulary: what the mock IdP is asked to send.
//!
//! A [`Plan`] names the user, the flavour, how to sign, and two lists of mutations:
//! [`Alteration`]s change the content *before* signing (the signature stays valid: the IdP
//! itself says something wrong), [`Tamper`]s edit the serialized bytes *after* signing (an
//! attacker holding a valid document but not the key). Adding a mutation is one enum variant
//! here plus one function in `response::alter` or `response::tamper`.
//!
//! Every type is serde-tagged with unknown fields rejected, so a scenario file with a typo is
//! an error that names the field, never a silently different plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::flavour::Flavour;
use crate::keys::KeyChoice;

/// What the IdP sends for one user agent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The user's email; the IdP's default user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The IdP product whose response shape to imitate.
    #[serde(default)]
    pub flavour: Flavour,
    /// How the response is signed.
    #[serde(default)]
    pub signing: Signing,
    /// Extra attributes, added after the flavour's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Changes made before signing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alter: Vec<Alteration>,
    /// Changes made after signing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tamper: Vec<Tamper>,
    /// How the response travels to the SP.
    #[serde(default)]
    pub binding: ResponseBinding,
}

impl Plan {
    /// Whether every signature in the response must verify against a published key: no
    /// tampering, a signing layout, and a key from metadata. The self-check enforces this.
    pub fn promises_valid_signatures(&self, layout: SigningLayout) -> bool {
        self.tamper.is_empty() && layout != SigningLayout::None && self.signing.key.is_trusted()
    }

    /// Whether the plan describes a fully valid response (nothing altered or tampered, signed
    /// with a published key).
    pub fn is_valid(&self, layout: SigningLayout) -> bool {
        self.alter.is_empty() && self.promises_valid_signatures(layout)
    }
}

/// How the response is signed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// What carries a signature; the flavour's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<SigningLayout>,
    /// The signature algorithm; when absent, the one that fits the key (rsa-sha256 for RSA
    /// keys, ecdsa-sha256 for EC keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<SignatureAlgorithm>,
    /// The digest algorithm of each reference.
    #[serde(default)]
    pub digest: DigestAlgorithm,
    /// Which key signs.
    #[serde(default)]
    pub key: KeyChoice,
    /// The Reference URI of every signature; `#` + the signed element's ID when absent (SAML
    /// Core §5.4.2). `""` (the whole document) still verifies, and a strict SP refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_uri: Option<String>,
}

/// Which elements carry an enveloped signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SigningLayout {
    /// Nothing is signed.
    None,
    /// Only the `samlp:Response`.
    Response,
    /// Only the `saml:Assertion`.
    Assertion,
    /// The assertion, then the response around it.
    Both,
}

impl SigningLayout {
    /// Whether the assertion carries its own signature.
    pub fn signs_assertion(self) -> bool {
        matches!(self, SigningLayout::Assertion | SigningLayout::Both)
    }

    /// Whether the response carries a signature.
    pub fn signs_response(self) -> bool {
        matches!(self, SigningLayout::Response | SigningLayout::Both)
    }

    /// Every layout, for tests and catalogue expansion.
    pub const ALL: [SigningLayout; 4] = [
        SigningLayout::None,
        SigningLayout::Response,
        SigningLayout::Assertion,
        SigningLayout::Both,
    ];
}

/// XML Signature `SignatureMethod` algorithms the mock can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
    /// RSA PKCS#1 v1.5 with SHA-1 (deprecated; policy scenarios).
    RsaSha1,
    /// RSA PKCS#1 v1.5 with SHA-512.
    RsaSha512,
    /// ECDSA with SHA-256.
    EcdsaSha256,
}

impl SignatureAlgorithm {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureAlgorithm::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            SignatureAlgorithm::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SignatureAlgorithm::EcdsaSha256 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
            }
        }
    }

    /// The default algorithm for a key.
    pub fn for_key(kind: crate::keys::KeyKind) -> Self {
        match kind {
            crate::keys::KeyKind::Rsa { .. } => SignatureAlgorithm::RsaSha256,
            crate::keys::KeyKind::EcP256 => SignatureAlgorithm::EcdsaSha256,
        }
    }

    /// Whether the algorithm needs an RSA key (otherwise an EC key).
    pub fn is_rsa(self) -> bool {
        !matches!(self, SignatureAlgorithm::EcdsaSha256)
    }
}

/// XML Signature `DigestMethod` algorithms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DigestAlgorithm {
    /// SHA-256.
    #[default]
    Sha256,
    /// SHA-1 (deprecated; policy scenarios).
    Sha1,
}

impl DigestAlgorithm {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestAlgorithm::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }
}

/// How the response reaches the SP's ACS.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseBinding {
    /// HTTP-POST: an auto-submitting form with the base64 response (SAML Bindings §3.5).
    #[default]
    Post,
    /// HTTP-Redirect: a 303 to the ACS with the DEFLATEd, base64 response in the query string.
    /// SSO responses must never be accepted this way (SAML Profiles §4.1.2).
    Redirect,
    /// HTTP-POST, but the response DEFLATEd before base64 (the Redirect encoding; Bindings §3.5.4
    /// says POST carries plain base64).
    PostDeflated,
    /// HTTP-POST with the response base64-encoded twice.
    PostDoubleBase64,
}

/// A change to the response content before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Alteration {
    /// Set the Response `Destination`.
    Destination {
        /// The new value.
        value: String,
    },
    /// Set the bearer `SubjectConfirmationData/@Recipient`.
    Recipient {
        /// The new value.
        value: String,
    },
    /// Set the single `Audience`.
    Audience {
        /// The new value.
        value: String,
    },
    /// Set the `Issuer` of the response, the assertion, or both.
    Issuer {
        /// The new value.
        value: String,
        /// Which Issuer elements change.
        #[serde(default)]
        scope: IssuerScope,
    },
    /// Set the `NameID` value.
    NameId {
        /// The new value.
        value: String,
    },
    /// Set the `NameID/@Format`.
    NameIdFormat {
        /// The new format URI.
        value: String,
    },
    /// Set `InResponseTo` on the response, the subject confirmation, or both.
    InResponseTo {
        /// The new value.
        value: String,
        /// Which `InResponseTo` attributes change.
        #[serde(default)]
        scope: InResponseToScope,
    },
    /// Set an instant to now plus an offset in seconds (negative for the past).
    Time {
        /// Which instant.
        field: TimeField,
        /// Seconds from now.
        offset_seconds: i64,
    },
    /// Set the top-level status code, optionally with a second-level one.
    Status {
        /// A status URI, or its last segment (`Requester`, `Responder`, ...).
        code: String,
        /// An optional nested status code, in the same forms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        second_level: Option<String>,
    },
    /// Set `@Version` of the response, the assertion, or both (SAML Core §3.2.2, §2.3.3).
    Version {
        /// The new value.
        value: String,
        /// Which elements change.
        #[serde(default)]
        scope: IssuerScope,
    },
    /// Set `SubjectConfirmationData/@Address` (SAML Profiles §4.1.4.3: the SP MAY check it).
    Address {
        /// The address.
        value: String,
    },
    /// Set `SubjectConfirmation/@Method` (`holder-of-key`, `sender-vouches`, or a URI).
    ConfirmationMethod {
        /// The method, short or as a URI.
        value: String,
    },
    /// Add a condition to `Conditions` after the audience restriction (repeat to add several).
    Condition {
        /// Which condition.
        element: ConditionKind,
    },
    /// Leave an element or attribute out.
    Omit {
        /// What to leave out.
        element: Omittable,
    },
}

/// Conditions a plan can add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionKind {
    /// `<OneTimeUse/>` (SAML Core §2.5.1.5).
    OneTimeUse,
    /// `<ProxyRestriction Count="0"/>` (SAML Core §2.5.1.6).
    ProxyRestriction,
    /// A condition from a namespace nobody knows (Core §2.5.1.1: Indeterminate).
    Unknown,
}

/// Which elements an alteration changes (Issuer, Version).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerScope {
    /// The Response's Issuer only.
    Response,
    /// The Assertion's Issuer only.
    Assertion,
    /// Both.
    #[default]
    Both,
}

/// Which `InResponseTo` attributes an alteration changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum InResponseToScope {
    /// The Response's attribute only.
    Response,
    /// The bearer SubjectConfirmationData's attribute only.
    SubjectConfirmation,
    /// Both.
    #[default]
    Both,
}

/// Instants a plan can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TimeField {
    /// `Response/@IssueInstant`.
    ResponseIssueInstant,
    /// `Assertion/@IssueInstant`.
    AssertionIssueInstant,
    /// `Conditions/@NotBefore`.
    NotBefore,
    /// `Conditions/@NotOnOrAfter`.
    NotOnOrAfter,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    SubjectConfirmationNotOnOrAfter,
    /// `SubjectConfirmationData/@NotBefore` (absent unless set: bearer confirmations MUST NOT
    /// carry one, SAML Profiles §4.1.4.2).
    SubjectConfirmationNotBefore,
    /// `AuthnStatement/@SessionNotOnOrAfter`.
    SessionNotOnOrAfter,
}

/// Elements and attributes a plan can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Omittable {
    /// `Response/@Destination`.
    Destination,
    /// `SubjectConfirmationData/@Recipient`.
    Recipient,
    /// The Response's `Issuer`.
    ResponseIssuer,
    /// The Assertion's `Issuer`.
    AssertionIssuer,
    /// `InResponseTo` on the response and the subject confirmation.
    InResponseTo,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    SubjectConfirmationNotOnOrAfter,
    /// The whole `Conditions` element.
    Conditions,
    /// The `AudienceRestriction` inside Conditions.
    AudienceRestriction,
    /// The `AuthnStatement`.
    AuthnStatement,
    /// The `Assertion` itself.
    Assertion,
}

/// A change to the serialized response after it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Tamper {
    /// Remove `ds:Signature` elements (signature exclusion).
    RemoveSignature {
        /// Which signatures go.
        which: SignatureSelector,
    },
    /// Replace the text of the signed `NameID` (an edit of signed content).
    EditNameId {
        /// The new text.
        value: String,
    },
    /// Insert an XML comment into the signed NameID right after `after` (Duo 2018, CVE-2017-11427):
    /// exclusive c14n drops comments, so the signature still verifies; an SP that reads text
    /// only up to the comment sees a shorter identity.
    CommentInNameId {
        /// The prefix of the NameID text after which the comment goes.
        after: String,
    },
    /// Insert an unsigned copy of the signed assertion, with a new ID and optionally another
    /// NameID, before or after it (signature wrapping; SAMLRaider's XSW shapes build on this).
    InsertAssertionCopy {
        /// Where the copy goes, relative to the signed assertion.
        position: CopyPosition,
        /// The copy's NameID; the original's when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name_id: Option<String>,
        /// Keep the signed assertion's ID on the copy (duplicate IDs; SAMLRaider XSW7/XSW8).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep_id: bool,
    },
    /// Set a signature's `Reference/@URI` (Core §5.4.2 requires `#` + the signed element's ID).
    ReferenceUri {
        /// Which signature.
        which: SignatureSelector,
        /// The new URI (`""` references the whole document and still verifies).
        value: String,
    },
    /// Put a DOCTYPE with an internal entity before the root; the signature is unaffected.
    Doctype,
    /// Append a second root element after the signed response.
    TrailingRoot,
}

/// Where an inserted copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CopyPosition {
    /// Before the signed element (read first by naive consumers).
    Before,
    /// After it.
    After,
}

/// Selects signatures by the element they sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureSelector {
    /// The Response's signature.
    Response,
    /// The Assertion's signature.
    Assertion,
    /// Every signature.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_round_trips_through_toml_and_json() {
        let plan = Plan {
            user: Some("alice@example.test".into()),
            signing: Signing {
                layout: Some(SigningLayout::Both),
                ..Signing::default()
            },
            alter: vec![
                Alteration::Destination {
                    value: "https://evil.test/acs".into(),
                },
                Alteration::Time {
                    field: TimeField::NotOnOrAfter,
                    offset_seconds: -600,
                },
                Alteration::Omit {
                    element: Omittable::Recipient,
                },
            ],
            tamper: vec![Tamper::RemoveSignature {
                which: SignatureSelector::All,
            }],
            ..Plan::default()
        };
        let toml_text = toml::to_string(&plan).expect("toml");
        assert_eq!(
            toml::from_str::<Plan>(&toml_text).expect("parse toml"),
            plan
        );
        let json = serde_json::to_string(&plan).expect("json");
        assert_eq!(
            serde_json::from_str::<Plan>(&json).expect("parse json"),
            plan
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused_with_their_names() {
        let err = toml::from_str::<Plan>("usr = \"a\"").expect_err("unknown field");
        assert!(err.to_string().contains("usr"), "{err}");
        let err = toml::from_str::<Plan>("[[alter]]\nkind = \"destinaton\"\nvalue = \"x\"")
            .expect_err("unknown kind");
        assert!(err.to_string().contains("destinaton"), "{err}");
        let err = toml::from_str::<Plan>("[[alter]]\nkind = \"destination\"\nvalu = \"x\"")
            .expect_err("unknown variant field");
        assert!(err.to_string().contains("valu"), "{err}");
    }

    #[test]
    fn only_untampered_plans_signed_by_a_published_key_promise_valid_signatures() {
        let mut plan = Plan::default();
        assert!(plan.is_valid(SigningLayout::Both));
        assert!(!plan.is_valid(SigningLayout::None));
        plan.signing.key = KeyChoice::AttackerClone;
        assert!(!plan.promises_valid_signatures(SigningLayout::Both));
        plan.signing.key = KeyChoice::Rollover;
        plan.alter.push(Alteration::NameId { value: "x".into() });
        assert!(plan.promises_valid_signatures(SigningLayout::Both));
        assert!(!plan.is_valid(SigningLayout::Both));
    }
}
