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
use crate::response::encrypt::NS_XENC;
use crate::xml::{NS_DS, NS_SAML, NS_SAMLP};

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
    /// Encrypt the (signed) assertion to the SP's encryption key; absent: not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The IdP's Single Logout messages for the session this plan's login made: the
    /// LogoutRequest of an IdP-initiated logout, the LogoutResponse to an SP's LogoutRequest.
    #[serde(default, skip_serializing_if = "Logout::is_default")]
    pub logout: Logout,
}

impl Plan {
    /// Whether every signature in the response must verify against a published key: no
    /// tampering, a signing layout, a key from metadata, and each signature's Reference naming
    /// its own element. The self-check enforces this. (A custom Reference URI is a deviation:
    /// `""` over the whole document verifies on the Response alone, never on an Assertion that
    /// an SP verifies as the element it reads, nor once a Response signature is added.)
    pub fn promises_valid_signatures(&self, layout: SigningLayout) -> bool {
        self.tamper.is_empty()
            && layout != SigningLayout::None
            && self.signing.reference_uri.is_none()
            && self.signing.key.is_trusted()
            && self
                .signing
                .algorithm
                .is_none_or(|a| a.xmlsec_signs() && !a.is_hmac())
    }

    /// Whether the plan describes a fully valid response (nothing altered or tampered, signed
    /// with a published key).
    pub fn is_valid(&self, layout: SigningLayout) -> bool {
        self.alter.is_empty()
            && self.promises_valid_signatures(layout)
            && self.encryption.as_ref().is_none_or(Encryption::is_sound)
    }

    /// The same plan without any deviation: what a correct IdP would send the same user in
    /// the same shape. Kept: the user, the flavour, the attributes, the signing layout (the
    /// caller decides what an unsigned plan's counterpart is), a sound signature algorithm
    /// (rsa-sha256, rsa-sha512, ecdsa-sha256) and a published key, the encryption's key
    /// placement, the logout binding. Gone: every alteration and tampering, weak or symmetric
    /// algorithms and SHA-1 digests, attacker keys, a custom Reference URI, a wrong binding,
    /// an encryption that cannot be decrypted (and CBC or RSA-1_5), a logout message's
    /// defects. A harness runs it as the *control* of a scenario built on this plan: if the
    /// SP refuses the control too, a refusal of the scenario proves nothing.
    pub fn without_deviations(&self) -> Plan {
        let algorithm = self.signing.algorithm.filter(|a| {
            matches!(
                a,
                SignatureAlgorithm::RsaSha256
                    | SignatureAlgorithm::RsaSha512
                    | SignatureAlgorithm::EcdsaSha256
            )
        });
        Plan {
            user: self.user.clone(),
            flavour: self.flavour,
            signing: Signing {
                layout: self.signing.layout,
                algorithm,
                digest: DigestAlgorithm::Sha256,
                key: if self.signing.key.is_trusted() {
                    self.signing.key
                } else {
                    KeyChoice::Trusted
                },
                reference_uri: None,
            },
            attributes: self.attributes.clone(),
            alter: Vec::new(),
            tamper: Vec::new(),
            binding: ResponseBinding::Post,
            encryption: self.encryption.as_ref().map(|e| Encryption {
                encrypted_key: e.encrypted_key,
                ..Encryption::default()
            }),
            logout: Logout {
                binding: self.logout.binding,
                ..Logout::default()
            },
        }
    }
}

/// The IdP's Single Logout messages (SAML Profiles §4.4): signed with the trusted key and sent
/// over HTTP-Redirect unless the plan says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logout {
    /// How the message travels to the SP's `SingleLogoutService`.
    #[serde(default)]
    pub binding: LogoutBinding,
    /// Send it without a signature (saml2int SDP-SP28/33: logout messages MUST be signed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// The key that signs it.
    #[serde(default, skip_serializing_if = "KeyChoice::is_default")]
    pub key: KeyChoice,
    /// Encode the signed query of the Redirect binding with lower-case percent-escapes
    /// (`%3d`): still the octets that were signed, which the SP must verify as received, not
    /// re-encoded (SAML Bindings §3.4.4.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lowercase_escapes: bool,
    /// Changes to the content before signing (the IdP itself says something wrong).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alter: Vec<LogoutAlteration>,
    /// Changes after signing (an attacker holding a signed message but not the key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tamper: Vec<LogoutTamper>,
}

impl Logout {
    /// Whether this is the default: a signed, unaltered message over HTTP-Redirect.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether the SP must act on the IdP's message: signed with a published key, nothing
    /// altered or tampered with.
    pub fn is_valid(&self) -> bool {
        !self.unsigned && self.key.is_trusted() && self.alter.is_empty() && self.tamper.is_empty()
    }
}

/// The binding of the IdP's logout messages (SAML Bindings §3.4 and §3.5).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum LogoutBinding {
    /// HTTP-Redirect: DEFLATE + base64 in the query, the signature over the query octets.
    #[default]
    Redirect,
    /// HTTP-POST: an auto-submitting form, an enveloped XML signature.
    Post,
}

/// A change to a logout message before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LogoutAlteration {
    /// The LogoutRequest's `NameID` value (another user's session).
    NameId {
        /// The new value.
        value: String,
    },
    /// The LogoutRequest's `SessionIndex` (another session of the same user).
    SessionIndex {
        /// The new value.
        value: String,
    },
    /// The message's `Destination` (SAML Bindings §3.4.5.2: the SP must check it).
    Destination {
        /// The new value.
        value: String,
    },
    /// The message's `Issuer`.
    Issuer {
        /// The new value.
        value: String,
    },
}

/// A change to a logout message after it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LogoutTamper {
    /// The signature taken away: the `Signature` query parameter (`SigAlg` stays), or the
    /// `ds:Signature` element over HTTP-POST.
    SignatureRemoved,
    /// A second, unsigned `SAMLRequest` appended to the signed query: the request as it would
    /// be without the plan's alterations (parameter smuggling, CVE-2025-31335). An SP that
    /// verifies one occurrence and reads another acts on the unsigned one. HTTP-Redirect only.
    SmuggledRequest,
}

/// How the assertion is encrypted (XML Encryption 1.1, SAML Core §2.3.4): the assertion is
/// signed first (per the signing layout), then replaced by a `saml:EncryptedAssertion`; a
/// Response signature is computed over the Response that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// The block cipher for the assertion.
    #[serde(default)]
    pub method: EncryptionMethod,
    /// How the random content key is encrypted to the SP's RSA key.
    #[serde(default)]
    pub key_transport: KeyTransport,
    /// Whose key the content key is encrypted to.
    #[serde(default)]
    pub key: EncryptionKey,
    /// Where the `xenc:EncryptedKey` goes.
    #[serde(default)]
    pub encrypted_key: EncryptedKeyPlacement,
    /// Damage done to the ciphertext after encryption (an attacker without the keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<CipherCorruption>,
}

impl Encryption {
    /// Whether the SP's key can decrypt the result to the signed assertion.
    pub fn is_sound(&self) -> bool {
        self.key == EncryptionKey::Sp && self.corrupt.is_none()
    }
}

/// XML Encryption block ciphers (`EncryptionMethod` of the `xenc:EncryptedData`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptionMethod {
    /// AES-256 in GCM mode (XML Encryption 1.1: 12-byte IV, 16-byte tag appended).
    #[default]
    Aes256Gcm,
    /// AES-128 in GCM mode.
    Aes128Gcm,
    /// AES-128 in CBC mode (16-byte IV; malleable, padding-oracle prone: SDP-ALG01).
    Aes128Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
}

impl EncryptionMethod {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            EncryptionMethod::Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            EncryptionMethod::Aes128Gcm => "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            EncryptionMethod::Aes128Cbc => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            EncryptionMethod::Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        }
    }

    /// Whether the mode is CBC (otherwise GCM).
    pub fn is_cbc(self) -> bool {
        matches!(
            self,
            EncryptionMethod::Aes128Cbc | EncryptionMethod::Aes256Cbc
        )
    }
}

/// XML Encryption key transport algorithms (`EncryptionMethod` of the `xenc:EncryptedKey`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyTransport {
    /// RSA-OAEP with SHA-1 and MGF1-SHA-1 (`rsa-oaep-mgf1p`).
    #[default]
    RsaOaep,
    /// RSA PKCS#1 v1.5 (`rsa-1_5`; Bleichenbacher-prone, still common).
    #[serde(rename = "rsa-1_5")]
    Rsa15,
}

impl KeyTransport {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            KeyTransport::RsaOaep => "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            KeyTransport::Rsa15 => "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
        }
    }
}

/// Whose RSA key the content key is encrypted to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptionKey {
    /// The SP's encryption certificate from its metadata (`KeyDescriptor use="encryption"` or
    /// without `use`).
    #[default]
    Sp,
    /// A fresh RSA-2048 key the SP does not have.
    Wrong,
}

/// Where the `xenc:EncryptedKey` sits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptedKeyPlacement {
    /// Inside the `EncryptedData`'s `ds:KeyInfo` (Shibboleth, Okta, Entra).
    #[default]
    KeyInfo,
    /// A sibling of the `EncryptedData` in the `EncryptedAssertion` (SAML Core §2.3.4 allows
    /// it), referenced by a `ds:RetrievalMethod` and pointing back with a `DataReference`.
    Sibling,
}

/// Damage to the encrypted assertion, made without any key. Every kind must give the same
/// refusal as a wrong key: an SP that answers differently is a decryption oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CipherCorruption {
    /// CBC only: flip the top bit of the byte that CBC XORs into the last plaintext byte, so
    /// the padding length byte becomes larger than a block (a padding-oracle probe).
    Padding,
    /// Flip a bit of the first ciphertext block: CBC decrypts the first block to garbage with
    /// valid padding (the XML no longer parses), GCM fails its tag.
    Ciphertext,
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
    /// RSA PKCS#1 v1.5 with MD5 (broken; an algorithm-downgrade attack). xmlsec will not make
    /// it, so the mock IdP signs SignedInfo itself.
    RsaMd5,
    /// HMAC-SHA1 keyed with the trusted certificate's PEM text, which anyone can read from the
    /// IdP's metadata (HMAC/RSA key confusion, GHSA-c27r-x354-4m68).
    HmacSha1,
    /// HMAC-SHA256 keyed the same way.
    HmacSha256,
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
            SignatureAlgorithm::RsaMd5 => "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
            SignatureAlgorithm::HmacSha1 => "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            SignatureAlgorithm::HmacSha256 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        }
    }

    /// The default algorithm for a key.
    pub fn for_key(kind: crate::keys::KeyKind) -> Self {
        match kind {
            crate::keys::KeyKind::Rsa { .. } => SignatureAlgorithm::RsaSha256,
            crate::keys::KeyKind::EcP256 => SignatureAlgorithm::EcdsaSha256,
        }
    }

    /// Whether the algorithm needs an RSA key (otherwise an EC key, or a shared secret).
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::RsaSha256
                | SignatureAlgorithm::RsaSha1
                | SignatureAlgorithm::RsaSha512
                | SignatureAlgorithm::RsaMd5
        )
    }

    /// Whether the algorithm is an HMAC (keyed with the trusted certificate's PEM text,
    /// whatever key the plan names).
    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::HmacSha1 | SignatureAlgorithm::HmacSha256
        )
    }

    /// Whether xmlsec can make this signature; otherwise the mock IdP signs SignedInfo itself
    /// (see `crate::dsig`).
    pub fn xmlsec_signs(self) -> bool {
        !matches!(
            self,
            SignatureAlgorithm::RsaMd5
                | SignatureAlgorithm::HmacSha1
                | SignatureAlgorithm::HmacSha256
        )
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
    /// Write `IssueInstant` with a time-zone offset (the same instant; SAML Core §1.3.3 requires
    /// UTC with no time zone component).
    IssueInstantZone {
        /// Minutes east of UTC, e.g. 120 for `+02:00`; -14 to +14 hours.
        offset_minutes: i32,
        /// Which elements change.
        #[serde(default)]
        scope: IssuerScope,
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
    /// Set the AuthnStatement's `AuthnContext/AuthnContextClassRef` (the flavour's is
    /// `Password` or `PasswordProtectedTransport`); a short name means
    /// `urn:oasis:names:tc:SAML:2.0:ac:classes:` + it.
    AuthnContextClass {
        /// The class, e.g. `unspecified`, `X509` or a URI.
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
    /// Put `text` (XML whitespace only: space, tab, CR, LF) before every start tag but the
    /// first, before signing: indentation that changes nothing a SAML consumer may rely on.
    Whitespace {
        /// The whitespace.
        text: String,
    },
    /// Write the assertion and protocol namespaces with other prefixes (NCNames) before
    /// signing: `saml2:` and `saml2p:` instead of `saml:` and `samlp:` (Namespaces in XML:
    /// the prefix carries no meaning).
    Prefixes {
        /// The prefix for `urn:oasis:names:tc:SAML:2.0:assertion` (where a prefix is used).
        saml: String,
        /// The prefix for `urn:oasis:names:tc:SAML:2.0:protocol`.
        samlp: String,
    },
    /// Add an attribute from a foreign namespace to `SubjectConfirmationData` before signing
    /// (its schema allows any attribute from another namespace, SAML Core §2.4.1.2).
    ExtraAttribute {
        /// The attribute's value.
        value: String,
    },
    /// Write every start tag's attributes in reverse order before signing (XML gives
    /// attribute order no meaning; exclusive c14n sorts them).
    ReverseAttributes,
    /// Leave an element or attribute present but empty: an element with no attributes and
    /// no content (a text-only element keeps its attributes and loses its text), an attribute
    /// written as `""`. The required-element matrix (issue 18): an IdP that says nothing
    /// where SAML requires something.
    Empty {
        /// What to empty.
        element: Emptiable,
    },
    /// Write `value` into an attribute exactly as given (XML-escaped, nothing else): no
    /// expansion of short names, no check of its type. For values of the wrong type or
    /// format, such as an `IssueInstant` that is no `xs:dateTime`, a StatusCode `Value` that
    /// is no absolute URI, or an `ID` that is no `xs:ID`. A non-empty raw `ID` gets a random
    /// suffix (`-` and 16 hex digits: still no `xs:ID` if the value was none), so that no two
    /// responses share it and a replay cache cannot decide the verdict. A raw `ID` of a signed element is
    /// also what its signature's Reference names (`#` + the value); an ID with white space
    /// cannot be named (XPointer `id()` splits it), so sign only the other element.
    Raw {
        /// Which attribute.
        field: RawField,
        /// The text to write.
        value: String,
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
    /// The Response's `samlp:Status` (SAML Core §3.2.2: required).
    Status,
    /// The top-level `samlp:StatusCode`, leaving an empty `samlp:Status` (SAML Core
    /// §3.2.2.1: required).
    StatusCode,
    /// `Response/@ID` (SAML Core §3.2.2: required). The Response can then not be signed: sign
    /// the assertion only.
    ResponseId,
    /// `Response/@Version` (SAML Core §3.2.2: required).
    ResponseVersion,
    /// `Response/@IssueInstant` (SAML Core §3.2.2: required).
    ResponseIssueInstant,
    /// `Assertion/@ID` (SAML Core §2.3.3: required). The Assertion can then not be signed:
    /// sign the Response only.
    AssertionId,
    /// `Assertion/@Version` (SAML Core §2.3.3: required).
    AssertionVersion,
    /// `Assertion/@IssueInstant` (SAML Core §2.3.3: required).
    AssertionIssueInstant,
    /// The Assertion's `Subject`, with everything in it (SAML Profiles §4.1.4.2: required).
    Subject,
    /// The Subject's `NameID` (the SubjectConfirmation stays).
    NameId,
    /// The Subject's `SubjectConfirmation`, leaving only the NameID (SAML Profiles §4.1.4.2:
    /// a bearer SubjectConfirmation is required).
    SubjectConfirmation,
    /// `SubjectConfirmation/@Method` (SAML Core §2.4.1.1: required).
    SubjectConfirmationMethod,
    /// The bearer `SubjectConfirmationData` (SAML Profiles §4.1.4.2: required, with Recipient
    /// and NotOnOrAfter).
    SubjectConfirmationData,
    /// `AuthnStatement/@AuthnInstant` (SAML Core §2.7.2: required).
    AuthnInstant,
}

/// Elements and attributes [`Alteration::Empty`] can leave empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Emptiable {
    /// `<samlp:Status/>`: no StatusCode.
    Status,
    /// `<samlp:StatusCode/>`: no `Value`, no nested code.
    StatusCode,
    /// `StatusCode/@Value=""`.
    StatusCodeValue,
    /// `Response/@ID=""`. The Response can then not be signed.
    ResponseId,
    /// `Response/@Version=""`.
    ResponseVersion,
    /// `Response/@IssueInstant=""`.
    ResponseIssueInstant,
    /// `Response/@Destination=""`.
    Destination,
    /// The Response's `Issuer` without text.
    ResponseIssuer,
    /// `Assertion/@ID=""`. The Assertion can then not be signed.
    AssertionId,
    /// `Assertion/@Version=""`.
    AssertionVersion,
    /// `Assertion/@IssueInstant=""`.
    AssertionIssueInstant,
    /// The Assertion's `Issuer` without text.
    AssertionIssuer,
    /// `<saml:Subject/>`: no NameID, no SubjectConfirmation.
    Subject,
    /// The `NameID` without text (its Format kept).
    NameId,
    /// `<saml:SubjectConfirmation/>`: no Method, no SubjectConfirmationData.
    SubjectConfirmation,
    /// `SubjectConfirmation/@Method=""`.
    SubjectConfirmationMethod,
    /// `<saml:SubjectConfirmationData/>`: no Recipient, NotOnOrAfter or InResponseTo.
    SubjectConfirmationData,
    /// `SubjectConfirmationData/@Recipient=""`.
    Recipient,
    /// `SubjectConfirmationData/@NotOnOrAfter=""`.
    SubjectConfirmationNotOnOrAfter,
    /// `<saml:Conditions/>`: no window, no AudienceRestriction.
    Conditions,
    /// `Conditions/@NotOnOrAfter=""`.
    ConditionsNotOnOrAfter,
    /// `<saml:AudienceRestriction/>`: no Audience.
    AudienceRestriction,
    /// The `Audience` without text.
    Audience,
    /// `<saml:AuthnStatement/>`: no AuthnInstant, no AuthnContext.
    AuthnStatement,
    /// `AuthnStatement/@AuthnInstant=""`.
    AuthnInstant,
}

/// Attributes [`Alteration::Raw`] writes as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawField {
    /// `Response/@ID` (the Response's signature references it).
    ResponseId,
    /// `Response/@IssueInstant`.
    ResponseIssueInstant,
    /// The top-level `StatusCode/@Value` (no short-name expansion).
    StatusCodeValue,
    /// The Response's `Issuer/@Format` (absent otherwise).
    ResponseIssuerFormat,
    /// `Assertion/@ID` (the Assertion's signature references it).
    AssertionId,
    /// `Assertion/@IssueInstant`.
    AssertionIssueInstant,
    /// The Assertion's `Issuer/@Format` (absent otherwise).
    AssertionIssuerFormat,
    /// `SubjectConfirmation/@Method` (no short-name expansion).
    SubjectConfirmationMethod,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    SubjectConfirmationNotOnOrAfter,
    /// `Conditions/@NotBefore`.
    ConditionsNotBefore,
    /// `Conditions/@NotOnOrAfter`.
    ConditionsNotOnOrAfter,
    /// `AuthnStatement/@AuthnInstant`.
    AuthnInstant,
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
    /// Put a DOCTYPE before the root (after the XML declaration). The signed elements are
    /// unchanged, so only a parser that refuses DTDs (or does not resolve them) stops it.
    Doctype {
        /// What the DTD declares; an internal entity when absent.
        #[serde(default)]
        entity: DoctypeEntity,
        /// The URL external entities point at (the harness passes its witness listener, so a
        /// fetch is evidence). Required by the external kinds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Append a second root element after the signed response: an empty Response, or with
    /// `name_id`, a Response carrying an unsigned copy of the assertion for that NameID
    /// (CVE-2022-39299: a consumer that verifies the first root and reads the last).
    TrailingRoot {
        /// The forged copy's NameID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name_id: Option<String>,
    },
    /// SAMLRaider's XML Signature Wrapping constructions XSW1-XSW8, built literally
    /// (shared/reference/saml-rules-and-attacks.md §2.2): the evil copy has every text node
    /// that equals the signed NameID replaced by `name_id`. XSW1-2 need a signed Response,
    /// XSW3-8 a signed Assertion.
    Xsw {
        /// 1 to 8.
        variant: u8,
        /// The forged identity.
        name_id: String,
    },
    /// Split the text of the signed NameID or email attribute value right after `after`
    /// (Duo Labs 2018, CVE-2017-11427): exclusive c14n without comments reads the same text,
    /// so the signature still verifies; a consumer that reads only the first text node sees
    /// `after`.
    SplitText {
        /// Which value.
        field: TextField,
        /// The prefix after which the split goes.
        after: String,
        /// What splits it.
        with: TextSplit,
    },
    /// A second `ds:SignedInfo` in the assertion's signature whose Reference points at an
    /// inserted unsigned copy for `name_id`, with that copy's correct digest (SAMLStorm,
    /// CVE-2025-29774): the SignatureValue still verifies over the first SignedInfo.
    SecondSignedInfo {
        /// The forged copy's NameID.
        name_id: String,
    },
    /// Edit the signed assertion's NameID to `name_id` and put the digest of the edited
    /// assertion in a comment at the start of its DigestValue (SAMLStorm, CVE-2025-29775).
    DigestComment {
        /// The forged NameID.
        name_id: String,
    },
    /// Edit the signed assertion's NameID to `name_id` and put a `ds:DigestValue` holding the
    /// edited assertion's digest earlier in document order, in `samlp:Extensions`
    /// (CVE-2024-45409: a document-wide XPath finds it first).
    StrayDigestValue {
        /// The forged NameID.
        name_id: String,
    },
    /// Declare a namespace with a relative or otherwise odd URI on the signed assertion
    /// (void canonicalization, CVE-2025-66568 / CVE-2025-66578: some c14n code returns ""
    /// for it and the library hashes that).
    OddNamespace {
        /// The namespace URI, e.g. `1` or `http://example.com\u{80}`.
        uri: String,
    },
    /// Re-sign the assertion with an enveloping signature: the assertion moves into the
    /// `ds:Object` of a `ds:Signature` that is a child of the Response (SAML Core §5.4.1
    /// requires enveloped signatures). Valid cryptographically.
    EnvelopingSignature,
    /// Re-sign the assertion with a detached signature: a `ds:Signature` child of the Response
    /// after the assertion, referencing it without the enveloped transform. Valid
    /// cryptographically.
    DetachedSignature,
    /// The signed assertion becomes an unsigned forgery for `name_id` with a new ID; its
    /// signature now references a pristine copy placed in a `ds:Object` inside the signature,
    /// without the enveloped transform (which would remove the copy), re-signed: a reference
    /// into ds:Object, cryptographically valid.
    ObjectReference {
        /// The forged NameID.
        name_id: String,
    },
    /// Put a second `saml:Subject` with a `saml:NameID` for `name_id` outside the signed
    /// assertion, earlier in document order (in `samlp:Extensions`; CVE-2017-1000452).
    ExtraNameId {
        /// The forged NameID.
        name_id: String,
    },
    /// Add an XSLT transform whose stylesheet loads `url`, then re-sign SignedInfo with the
    /// plan's key (a verifier that runs XSLT fetches it; W3C XML Signature BP5).
    XsltTransform {
        /// Which signature.
        which: SignatureSelector,
        /// What the stylesheet loads.
        url: String,
    },
    /// Append a third transform (another exclusive c14n; the digest is unchanged) and re-sign
    /// SignedInfo (SAML Core §5.4.4 allows only enveloped-signature and exclusive c14n).
    ExtraTransform {
        /// Which signature.
        which: SignatureSelector,
    },
    /// Repeat SignedInfo's Reference (same URI, same digest) and re-sign: two references where
    /// SAML Core §5.4.2 allows exactly one.
    ExtraReference {
        /// Which signature.
        which: SignatureSelector,
    },
    /// Set SignedInfo's CanonicalizationMethod to `algorithm` and re-sign it as if it were
    /// exclusive c14n (a verifier that ignores the algorithm accepts it).
    CanonicalizationMethod {
        /// Which signature.
        which: SignatureSelector,
        /// The algorithm URI.
        algorithm: String,
    },
    /// Replace the KeyInfo content with a `ds:RetrievalMethod` pointing at `url` (a verifier
    /// must never fetch keys; CVE-2023-36661). KeyInfo is not signed.
    KeyInfoRetrieval {
        /// Which signature.
        which: SignatureSelector,
        /// Where the retrieval method points.
        url: String,
    },
    /// Set the ID of the Response or the Assertion to `value` followed by `-` and 16 random
    /// hex digits (fresh in every response, so that a replay cache never refuses it as a
    /// replay of an earlier one; the random part keeps an invalid `value` invalid), the
    /// Reference URI that names it following, then re-digest and re-sign every signature with
    /// the plan's key: an ID that is not an `xs:ID` (NCName, SAML Core §1.3.4) under valid
    /// signatures.
    Id {
        /// Whose ID.
        element: IdElement,
        /// The new ID, e.g. `1-starts-with-a-digit`.
        value: String,
    },
    /// A second assertion for `name_id` after the signed one, with its own ID and its own
    /// enveloped signature by the plan's key; every signature re-signed. Both assertions
    /// verify, about different principals (SAML Profiles §4.1.4.2). Needs a signed Assertion.
    SecondSignedAssertion {
        /// The second assertion's identity.
        name_id: String,
    },
    /// Put a comment of `bytes` bytes (the letter A repeated) before the signed root: the
    /// signatures still verify, and the message deflates to a thousandth of its size (a
    /// decompression bomb over the DEFLATE bindings; an oversize body over HTTP-POST). At most
    /// 64 MiB.
    Padding {
        /// How many bytes of padding.
        bytes: usize,
    },
    /// Reshape the signed content into something the SAML schemas forbid, then re-digest and
    /// re-sign every signature (pysaml2 CVE-2021-21238: verification without schema
    /// validation).
    SchemaInvalid {
        /// Which shape.
        shape: SchemaShape,
    },
    /// The DOCTYPE round trip of SAMLRaider's `CVE_2025_25291` (ruby-saml CVE-2025-25291,
    /// GHSA-4vc4-m8qh-g8jm; shared/reference/saml-rules-and-attacks.md §2.6 P2): the document
    /// becomes `<!DOCTYPE response SYSTEM 'x"><!--'>`, a forged copy of the signed Response for
    /// `name_id` (every text equal to the signed NameID replaced; its signatures kept verbatim,
    /// so they no longer verify over it), `<![CDATA[-->`, the original signed Response byte for
    /// byte without its end tag, `<!--]]>-->` and the root end tag. A conformant parser reads
    /// the system literal `'x"><!--'` and sees the forged Response holding the original as CDATA
    /// text; a parser that ends the literal at the `"` (REXML) sees a comment up to the `-->`
    /// after `CDATA[`, then the original signed Response, then another comment. An SP that
    /// verifies one reading and consumes the other signs in `name_id`. The times stay the
    /// IdP's, which are fresh (SAMLRaider rewrites them only because its original is old).
    DoctypeRoundTrip {
        /// The forged identity.
        name_id: String,
    },
    /// ATTLIST namespace injection with void canonicalization, as SAMLRaider's
    /// `CVE_2025_25292` builds it (ruby-saml CVE-2025-25292, GHSA-754f-8gm6-c4r2, and the
    /// incomplete-fix follow-ups CVE-2025-66567 and CVE-2025-66568; §2.6 P3): every signature is
    /// removed; the assertion's (or, with only the Response signed, the Response's) original
    /// signature moves into a new `samlp:StatusDetail` as an unprefixed `<Signature>` in no
    /// namespace, which only a parser that applies the DTD's
    /// `<!ATTLIST Signature xmlns CDATA #FIXED "http://www.w3.org/2000/09/xmldsig#" ...>`
    /// default puts in the XML Signature namespace; a copy of it goes into the assertion after
    /// its Issuer with every DigestValue set to the digest of the empty string; the assertion
    /// declares `xmlns:example="http://example.com\u{80}"`, which libxml2's canonicalization
    /// refuses (an SP that then digests "" matches H("")); with only the Response signed, the
    /// assertion takes the Response's ID and the Response that ID followed by `ffff`. The
    /// assertion's identity becomes `name_id`. The relocated SignedInfo and its SignatureValue
    /// still verify under the IdP's key: a verifier that checks that SignatureValue and the
    /// assertion's Reference signs in `name_id`.
    AttlistNamespace {
        /// The forged identity.
        name_id: String,
    },
    /// Void canonicalization with the digest of the empty string (ruby-saml CVE-2025-66568,
    /// PHP xmlseclibs CVE-2025-66578, GHSA-c4cc-x928-vjw9; §2.6 P4, rule table row 59): every
    /// signed element declares a namespace with `uri` (relative like `1`, or not a URI like
    /// `http://example.com\u{80}`), and every signature's DigestValue becomes the digest of the
    /// empty string (`47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=` for SHA-256). A library
    /// whose canonicalizer returns "" for such an element and hashes that finds the digest
    /// matching whatever the element now says. The SignatureValue still covers the original
    /// SignedInfo, so on its own this passes only a verifier that also fails open there (P3
    /// supplies the SignedInfo from elsewhere); [`Tamper::OddNamespace`] keeps the original
    /// digest instead.
    VoidCanonicalization {
        /// The namespace URI, e.g. `1` or `http://example.com\u{80}`.
        uri: String,
    },
    /// Verified is not consumed, the signature relocated (samlify CVE-2025-47949,
    /// GHSA-r683-v43c-6xqv; §2.6 P8, the shape inferred from the pre-2.10 `verifySignature`): the
    /// IdP's original `ds:Signature` (of the assertion when it is signed, else of the Response)
    /// becomes a direct child of the root after its Issuer, still referencing the original
    /// element's ID; the original element, without its signature, is embedded in a
    /// `samlp:Extensions`; the root's direct child assertion becomes an unsigned forgery for
    /// `name_id` with a fresh ID (with only the Response signed, the root takes a fresh ID too;
    /// with both signed, the Response's own signature is dropped). The relocated signature
    /// verifies (over the embedded original): a verifier that checks `/Response/Signature`
    /// wherever its Reference points and then reads `/Response/Assertion` signs in `name_id`.
    RelocatedSignature {
        /// The forged identity.
        name_id: String,
    },
    /// A foreign-namespace `x:ID` beside a duplicate (node-saml CVE-2025-54419 /
    /// GHSA-4mxg-3p6v-xgq3 and CVE-2025-54369 / GHSA-m837-g268-mmv7, a candidate mutation of
    /// §2.6 P9; rule table row 49): an unsigned forged copy of the signed assertion for
    /// `name_id` goes before it, with a fresh `ID` and, beside it, `x:ID` (namespace
    /// `urn:harness:foreign`) holding the signed assertion's ID. A lookup by local name
    /// (xml-crypto's `@*[local-name(.)='ID']`) finds the forgery first; a lookup of the
    /// unprefixed `ID` (node-saml's own duplicate check, xmlsec) finds only the signed
    /// original. Needs a signed Assertion.
    ForeignId {
        /// The forged identity.
        name_id: String,
    },
    /// libxml2's ID and entity quirk, as SAMLRaider's `CVE_2025_23369` builds it (GitHub
    /// Enterprise Server CVE-2025-23369; §2.6 P10): the Response signature is removed; a copy
    /// of the assertion's signature goes right after the Response's Issuer, with a
    /// `<Object xmlns="http://www.w3.org/2000/09/xmldsig#">` holding a copy of the signed
    /// assertion (its signature included) whose ID is `&BypassIDUniqueness;` + the original ID;
    /// the Response's ID becomes `&idViaEntity;`; a DTD declares `idViaEntity` (the original
    /// assertion ID) and `BypassIDUniqueness` (`&#x50;`); the original assertion loses its
    /// signature, gets `ffff` appended to its ID and the identity `name_id`. A libxml2 consumer
    /// that does not substitute entities registers IDs through the entity references, so the
    /// Reference can resolve to the pristine copy in `ds:Object` while the SP reads the top
    /// assertion. Needs a signed Assertion.
    Libxml2IdEntities {
        /// The forged identity.
        name_id: String,
    },
    /// Schema-invalid nesting, first signature only (pysaml2 CVE-2021-21238, its test
    /// `signed-xsw-assertion-in-assertion-first-sig.xml`; §2.6 P11): the signed assertion is
    /// replaced by an outer forged assertion for `name_id` (ID `attack` plus a fresh part)
    /// whose first child is the original signed assertion, verbatim; the outer one carries a
    /// bogus signature of its own (the original's, its Reference pointed at the outer ID: never
    /// valid). A verifier that checks the first signature in document order (xmlsec1) finds
    /// the original's, which verifies; an SP that reads the outer Subject signs in `name_id`.
    /// Needs a signed Assertion.
    AssertionInForgedAssertion {
        /// The forged identity.
        name_id: String,
    },
    /// The evil assertion holds the original signature (pysaml2 CVE-2020-5390, its tests
    /// `signed-xsw-assertion-{extensions,wrapper,assertion}.xml`; §2.6 P12; SAMLRaider XSW5 and
    /// XSW7 are the same family): the signed assertion becomes a forgery for `name_id` with a
    /// fresh ID that keeps the original `ds:Signature` (its Reference still names the original
    /// ID), and the original, without its signature, moves to `original`. The signature
    /// verifies over the moved original; an SP that reads the assertion carrying the signature
    /// signs in `name_id`. Needs a signed Assertion.
    SignatureInForgedAssertion {
        /// The forged identity.
        name_id: String,
        /// Where the original goes.
        original: OriginalPlacement,
    },
    /// Schema-aware signature wrapping (Somorovsky et al. 2012; SAMLRaider; issue 18): the
    /// original signed element, intact, is hidden in `slot` (an element that the SAML, XML
    /// Signature or XML Encryption schemas let hold it, directly or as foreign content), and a
    /// forged copy for `name_id` without its signature takes the place the SP reads, placed by
    /// `position`, its ID set by `id`. The signed element is the Response when the Response is
    /// signed (layouts `response` and `both`: only `new-root` applies), else the Assertion.
    /// The original signature is reused verbatim; nothing is re-signed.
    /// `mock_idp::response::tamper::wrapping::construction` says whether the result stays
    /// schema-valid.
    Wrap {
        /// The element that hides the original.
        slot: WrapSlot,
        /// Where the forged element goes relative to the hidden original.
        position: WrapPosition,
        /// How the forged element's ID relates to the original's.
        id: WrapId,
        /// The forged identity.
        name_id: String,
    },
}

macro_rules! wrap_slots {
    ($($variant:ident => $name:literal, $ns:ident, $response:literal : $doc:literal,)*) => {
        /// An element of the SAML 2.0 assertion and protocol, XML Signature and XML Encryption
        /// schemas whose content model admits a `saml:Assertion` or a `samlp:Response`, by
        /// element reference, by a wildcard (`xs:any` `##any`, or `##other` declared in another
        /// namespace than the element's) or by `anyType`. A test derives the set from the
        /// schemas in `harness/schemas/` and compares it with this one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum WrapSlot {
            $(
                #[doc = $doc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl WrapSlot {
            /// Every slot, in schema order.
            pub const ALL: &'static [WrapSlot] = &[$(WrapSlot::$variant,)*];

            /// The qualified name (`saml:Advice`), also its plan spelling.
            pub fn name(self) -> &'static str {
                match self {
                    $(WrapSlot::$variant => $name,)*
                }
            }

            /// The element's namespace.
            pub fn namespace(self) -> &'static str {
                match self {
                    $(WrapSlot::$variant => $ns,)*
                }
            }

            /// Whether its content model admits a `samlp:Response` (every slot admits a
            /// `saml:Assertion`).
            pub fn admits_response(self) -> bool {
                match self {
                    $(WrapSlot::$variant => $response,)*
                }
            }
        }
    };
}

wrap_slots! {
    Advice => "saml:Advice", NS_SAML, true: "`saml:Advice`: `saml:Assertion` by reference; `##other` admits a Response.",
    Evidence => "saml:Evidence", NS_SAML, false: "`saml:Evidence` (in an AuthzDecisionStatement): `saml:Assertion` by reference.",
    SubjectConfirmationData => "saml:SubjectConfirmationData", NS_SAML, true: "`saml:SubjectConfirmationData`: `xs:any` `##any`.",
    AuthnContextDecl => "saml:AuthnContextDecl", NS_SAML, true: "`saml:AuthnContextDecl`: `anyType`.",
    AttributeValue => "saml:AttributeValue", NS_SAML, true: "`saml:AttributeValue`: `anyType`.",
    Extensions => "samlp:Extensions", NS_SAMLP, false: "`samlp:Extensions`: `##other` in the protocol namespace admits a `saml:Assertion` (the prose of SAML Core §3.2.1 wants non-SAML namespaces), never a `samlp:Response`.",
    StatusDetail => "samlp:StatusDetail", NS_SAMLP, true: "`samlp:StatusDetail`: `xs:any` `##any`.",
    Response => "samlp:Response", NS_SAMLP, false: "`samlp:Response`: `saml:Assertion` by reference (the original stays where it was; the forgery goes beside it).",
    ArtifactResponse => "samlp:ArtifactResponse", NS_SAMLP, true: "`samlp:ArtifactResponse`: one `xs:any` `##any` after its Status.",
    CanonicalizationMethod => "ds:CanonicalizationMethod", NS_DS, true: "`ds:CanonicalizationMethod`: `xs:any` `##any` (in SignedInfo).",
    SignatureMethod => "ds:SignatureMethod", NS_DS, true: "`ds:SignatureMethod`: `xs:any` `##other` (in SignedInfo).",
    Transform => "ds:Transform", NS_DS, true: "`ds:Transform`: `xs:any` `##other` (here in a KeyInfo RetrievalMethod).",
    DigestMethod => "ds:DigestMethod", NS_DS, true: "`ds:DigestMethod`: `xs:any` `##other` (in SignedInfo).",
    KeyInfo => "ds:KeyInfo", NS_DS, true: "`ds:KeyInfo`: `xs:any` `##other`.",
    KeyValue => "ds:KeyValue", NS_DS, true: "`ds:KeyValue`: `xs:any` `##other`.",
    X509Data => "ds:X509Data", NS_DS, true: "`ds:X509Data`: `xs:any` `##other`.",
    PgpData => "ds:PGPData", NS_DS, true: "`ds:PGPData`: `xs:any` `##other`.",
    SpkiData => "ds:SPKIData", NS_DS, true: "`ds:SPKIData`: `xs:any` `##other`.",
    Object => "ds:Object", NS_DS, true: "`ds:Object`: `xs:any` `##any`.",
    SignatureProperty => "ds:SignatureProperty", NS_DS, true: "`ds:SignatureProperty`: `xs:any` `##other`.",
    EncryptionMethod => "xenc:EncryptionMethod", NS_XENC, true: "`xenc:EncryptionMethod`: `xs:any` `##other`.",
    AgreementMethod => "xenc:AgreementMethod", NS_XENC, true: "`xenc:AgreementMethod`: `xs:any` `##other` (in a `ds:KeyInfo`).",
    OriginatorKeyInfo => "xenc:OriginatorKeyInfo", NS_XENC, true: "`xenc:OriginatorKeyInfo`: `ds:KeyInfoType`, whose `##other` admits both.",
    RecipientKeyInfo => "xenc:RecipientKeyInfo", NS_XENC, true: "`xenc:RecipientKeyInfo`: `ds:KeyInfoType`, whose `##other` admits both.",
    DataReference => "xenc:DataReference", NS_XENC, true: "`xenc:DataReference`: `xs:any` `##other` (in an EncryptedKey's ReferenceList).",
    KeyReference => "xenc:KeyReference", NS_XENC, true: "`xenc:KeyReference`: `xs:any` `##other` (in an EncryptedKey's ReferenceList).",
    EncryptionProperty => "xenc:EncryptionProperty", NS_XENC, true: "`xenc:EncryptionProperty`: `xs:any` `##other`.",
}

/// Where [`Tamper::Wrap`] puts the forged element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WrapPosition {
    /// The forgery replaces the signed assertion, and the slot, holding the original, sits
    /// inside the forgery (Advice, a statement, the Subject, a copy of the original
    /// `ds:Signature` after its Issuer, an EncryptedAttribute).
    Inside,
    /// The forgery replaces the signed assertion, and the slot sits before it in the Response
    /// (where the Response's schema puts it: Extensions, Status, the Response's signature
    /// place, an EncryptedAssertion; else as the sibling right before it). For
    /// `samlp:Response`: the original stays, the forgery goes right before it.
    Before,
    /// As `before`, the slot (or the original) right after the forgery.
    After,
    /// A forged Response becomes the root; the whole original Response, intact, is hidden in
    /// the slot inside it (in the forged Response or its forged assertion).
    NewRoot,
}

/// How [`Tamper::Wrap`]'s forged element is identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WrapId {
    /// The original's ID (two elements with one xs:ID).
    Same,
    /// A fresh ID.
    New,
    /// A fresh ID, and the original's as `x:ID` in a foreign namespace.
    Foreign,
    /// A fresh ID, and the original's as an `Id` attribute (XML Signature's spelling).
    CapitalId,
    /// A fresh ID, and the original's as an `id` attribute.
    LowerId,
}

impl WrapPosition {
    /// Every position.
    pub const ALL: [WrapPosition; 4] = [
        WrapPosition::Inside,
        WrapPosition::Before,
        WrapPosition::After,
        WrapPosition::NewRoot,
    ];
}

impl WrapId {
    /// Every ID handling.
    pub const ALL: [WrapId; 5] = [
        WrapId::New,
        WrapId::Same,
        WrapId::Foreign,
        WrapId::CapitalId,
        WrapId::LowerId,
    ];
}

/// Where [`Tamper::SignatureInForgedAssertion`] moves the original assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OriginalPlacement {
    /// Into a `samlp:Extensions` of the Response (`signed-xsw-assertion-extensions.xml`).
    Extensions,
    /// Into an element no schema knows (`harness:Wrapper`, namespace `urn:harness:wrapper`),
    /// right after the forged assertion (`signed-xsw-assertion-wrapper.xml`).
    Wrapper,
    /// Inside the forged assertion, as its last child (`signed-xsw-assertion-assertion.xml`).
    Nested,
}

/// Whose ID [`Tamper::Id`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdElement {
    /// The `samlp:Response`.
    Response,
    /// The `saml:Assertion`.
    Assertion,
}

/// A shape the SAML 2.0 schemas forbid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaShape {
    /// The Assertion's `Subject` before its `Issuer` (the schema fixes the order: Issuer,
    /// Signature, Subject, Conditions, Advice, statements).
    SubjectBeforeIssuer,
    /// An element the schema does not allow, `saml:Extension`, right after the Assertion's
    /// Issuer.
    UnknownAssertionChild,
    /// The Response's `Status` after its Assertion.
    StatusAfterAssertion,
}

/// What a DOCTYPE declares.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DoctypeEntity {
    /// An internal general entity, never referenced.
    #[default]
    Internal,
    /// An external general entity (`SYSTEM url`) referenced at the end of the NameID; the
    /// witness answers with nothing, so the signed text is the same once expanded.
    External,
    /// An external parameter entity, referenced in the DTD (SAMLRaider's XXE payload).
    Parameter,
    /// An external DTD subset (`<!DOCTYPE r SYSTEM url>`).
    ExternalSubset,
    /// Nested entity expansion ("billion laughs"), referenced in an unsigned place.
    Expansion,
}

impl DoctypeEntity {
    /// Whether the kind points at a URL.
    pub fn is_external(self) -> bool {
        matches!(
            self,
            DoctypeEntity::External | DoctypeEntity::Parameter | DoctypeEntity::ExternalSubset
        )
    }
}

/// A text value tampering can split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TextField {
    /// The signed Subject's NameID.
    NameId,
    /// The first value of the `email` attribute (or of any attribute whose value equals the
    /// NameID when there is none named so).
    EmailAttribute,
}

/// What splits a text node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TextSplit {
    /// `<!---->`.
    Comment,
    /// `<?harness?>`. Exclusive c14n keeps processing instructions, so this one also changes
    /// the digest: a verifying SP refuses it whatever it reads.
    ProcessingInstruction,
    /// The rest of the text as a CDATA section.
    Cdata,
    /// A carriage return as a character reference, `&#13;` (a node-saml CVE-2025-54419 /
    /// CVE-2025-54369 candidate, §2.6 P9: node-saml normalizes line ends in the text it hands
    /// xml-crypto, not in the document it reads). The parsed text gains a CR that
    /// canonicalization writes as `&#xD;`, so the digest breaks: a verifying SP refuses it.
    CarriageReturnReference,
    /// A literal carriage return (the same candidate): XML turns it into a line feed, so the
    /// digest breaks too; only a verifier that strips CRs before it parses accepts it.
    CarriageReturn,
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
        // A whole-document Reference is a deviation too (the fuzzer found the self-check
        // failing on it under `assertion` and `both`).
        plan.alter.clear();
        plan.signing.reference_uri = Some(String::new());
        assert!(!plan.promises_valid_signatures(SigningLayout::Assertion));
        assert!(!plan.promises_valid_signatures(SigningLayout::Response));
    }
}
