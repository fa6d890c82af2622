//! The checks by name: what each is about, the rule it cites (`scenarios/_rules.toml`), what it
//! needs to run, and which parameters a scenario may give it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The SP's metadata: required (skipped without it), or read when there.
    pub metadata: Use,
    /// The SP's AuthnRequests.
    pub requests: bool,
    /// The SP profile (what the SP accepted in the run's probes).
    pub profile: bool,
    /// The AuthnRequests of logins where the application asked for this (the target's
    /// `force_authn_url` or `passive_url`), rather than those of the usual login.
    pub asked: Option<crate::scenario::SpLogin>,
}

/// How much a check depends on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Not read.
    No,
    /// Read when present; the check says what it compared with otherwise.
    Optional,
    /// Without it the check is skipped, saying so.
    Required,
}

const METADATA: Needs = Needs {
    metadata: Use::Required,
    requests: false,
    profile: false,
    asked: None,
};
const METADATA_AND_PROFILE: Needs = Needs {
    metadata: Use::Required,
    requests: false,
    profile: true,
    asked: None,
};
const METADATA_AND_REQUESTS: Needs = Needs {
    metadata: Use::Required,
    requests: true,
    profile: false,
    asked: None,
};
const REQUESTS: Needs = Needs {
    metadata: Use::No,
    requests: true,
    profile: false,
    asked: None,
};
const FORCED: Needs = Needs {
    metadata: Use::No,
    requests: true,
    profile: false,
    asked: Some(crate::scenario::SpLogin::ForceAuthn),
};
const PASSIVE: Needs = Needs {
    metadata: Use::No,
    requests: true,
    profile: false,
    asked: Some(crate::scenario::SpLogin::Passive),
};
const REQUESTS_AND_METADATA: Needs = Needs {
    metadata: Use::Optional,
    requests: true,
    profile: false,
    asked: None,
};

/// A parameter a scenario may give a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `min_bits`.
    MinBits,
    /// `max_bytes`.
    MaxBytes,
    /// `warn_days`.
    WarnDays,
    /// `min_rsa_bits` and `min_ec_bits`.
    KeyBits,
}

macro_rules! checks {
    ($($variant:ident => $name:literal, $rule:literal, $needs:expr, [$($param:ident),*], $title:literal,)*) => {
        /// A check on what the SP publishes or sends.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
        )]
        pub enum CheckName {
            $(
                #[doc = $title]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl CheckName {
            /// Every check, metadata first.
            pub const ALL: &'static [CheckName] = &[$(CheckName::$variant,)*];

            /// The name scenarios use (`authn-request.id-entropy`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckName::$variant => $name,)*
                }
            }

            /// The rule id in `scenarios/_rules.toml`.
            pub fn rule(self) -> &'static str {
                match self {
                    $(CheckName::$variant => $rule,)*
                }
            }

            /// What it checks, in a few words.
            pub fn title(self) -> &'static str {
                match self {
                    $(CheckName::$variant => $title,)*
                }
            }

            /// What it reads.
            pub fn needs(self) -> Needs {
                match self {
                    $(CheckName::$variant => $needs,)*
                }
            }

            /// The parameters it takes.
            pub fn params(self) -> &'static [Param] {
                match self {
                    $(CheckName::$variant => &[$(Param::$param),*],)*
                }
            }
        }
    };
}

checks! {
    MetadataSchema => "metadata.schema", "META-Schema", METADATA, [],
        "The metadata is valid against the SAML 2.0 metadata schema",
    MetadataEntityId => "metadata.entity-id", "META-EntityID", METADATA, [],
        "The entityID is an absolute URI of at most 1024 characters",
    MetadataAcsPost => "metadata.acs-post", "META-ACS-Post", METADATA, [],
        "At least one AssertionConsumerService takes HTTP-POST",
    MetadataAcsIndexes => "metadata.acs-indexes", "META-ACS-Index", METADATA, [],
        "Every AssertionConsumerService has an index, each a different one",
    MetadataAcsDefault => "metadata.acs-default", "META-ACS-Default", METADATA, [],
        "At most one AssertionConsumerService is marked isDefault",
    MetadataAcsHttps => "metadata.acs-https", "META-ACS-TLS", METADATA, [],
        "Every AssertionConsumerService Location is https (http only on loopback, with a warning)",
    MetadataCertificates => "metadata.certificates", "META-KeyDescriptor-Cert", METADATA, [],
        "Every certificate in a KeyDescriptor is a readable X.509 certificate",
    MetadataKeySize => "metadata.key-size", "SDP-MD06-KeySize", METADATA, [KeyBits],
        "Every published key is RSA of at least 2048 bits or EC of at least 256",
    MetadataCertificateExpiry => "metadata.certificate-expiry", "META-Cert-Expiry", METADATA, [WarnDays],
        "No published certificate has expired or is about to",
    MetadataKeyUse => "metadata.key-use", "META-KeyDescriptor-Use", METADATA, [],
        "Every KeyDescriptor `use` is signing or encryption, and the keys the SP needs are there",
    MetadataKeysDistinct => "metadata.keys-distinct", "META-Key-Separation", METADATA, [],
        "The signing and the encryption keys are different keys",
    MetadataWantAssertionsSigned => "metadata.want-assertions-signed", "META-WantAssertionsSigned-Honest", METADATA_AND_PROFILE, [],
        "WantAssertionsSigned says what the SP does with a response signed at the Response only",
    MetadataAuthnRequestsSigned => "metadata.authn-requests-signed", "META-AuthnRequestsSigned", METADATA_AND_REQUESTS, [],
        "AuthnRequestsSigned says whether the SP's AuthnRequests are signed, and they verify",
    MetadataNameIdFormat => "metadata.name-id-format", "META-NameIDFormat", METADATA_AND_PROFILE, [],
        "The NameIDFormats listed are ones the SP accepts",
    MetadataValidity => "metadata.validity", "META-Validity", METADATA, [],
        "validUntil is in the future and cacheDuration is a positive duration",
    MetadataSignature => "metadata.signature", "META-Signature", METADATA, [],
        "The metadata's signature covers the whole document and verifies",
    RequestSchema => "authn-request.schema", "AUTHN-Schema", REQUESTS, [],
        "Each AuthnRequest is valid against the SAML 2.0 protocol schema",
    RequestIdNcname => "authn-request.id-ncname", "AUTHN-ID-NCName", REQUESTS, [],
        "Each AuthnRequest ID is an xs:ID (an NCName)",
    RequestIdUnique => "authn-request.id-unique", "AUTHN-ID-Unique", REQUESTS, [],
        "No two AuthnRequests share an ID",
    RequestIdEntropy => "authn-request.id-entropy", "CORE-1.3.4-IDRandomness", REQUESTS, [MinBits],
        "AuthnRequest IDs carry enough randomness (estimated from the requests)",
    RequestVersion => "authn-request.version", "AUTHN-Version", REQUESTS, [],
        "Each AuthnRequest has Version 2.0",
    RequestIssueInstant => "authn-request.issue-instant", "AUTHN-IssueInstant", REQUESTS, [],
        "Each IssueInstant is UTC and within the clock skew of when it arrived",
    RequestDestination => "authn-request.destination", "AUTHN-Destination", REQUESTS, [],
        "Destination is the IdP's SSO URL for the binding used (required when signed)",
    RequestIssuer => "authn-request.issuer", "PROF-4.1.4.1-RequestIssuer", REQUESTS_AND_METADATA, [],
        "The Issuer is present and is the SP's entityID, with no other Format than entity",
    RequestAcs => "authn-request.acs", "AUTHN-ACS", REQUESTS_AND_METADATA, [],
        "AssertionConsumerServiceURL or Index names an ACS of the SP's metadata",
    RequestProtocolBinding => "authn-request.protocol-binding", "AUTHN-ProtocolBinding", REQUESTS_AND_METADATA, [],
        "ProtocolBinding, when given, is one the ACS takes and never HTTP-Redirect",
    RequestNameIdPolicy => "authn-request.name-id-policy", "AUTHN-NameIDPolicy", REQUESTS_AND_METADATA, [],
        "NameIDPolicy asks for a format the SP's metadata lists",
    RequestSignature => "authn-request.signature", "AUTHN-Signed", METADATA_AND_REQUESTS, [],
        "Each AuthnRequest is signed and verifies with the metadata's signing keys (HTTP-Redirect: over the octets sent)",
    RequestRelayStateSize => "authn-request.relay-state-size", "BIND-3.5.3-RelayState", REQUESTS, [MaxBytes],
        "RelayState is at most 80 bytes",
    RequestRelayStateUserData => "authn-request.relay-state-user-data", "AUTHN-RelayState-Private", REQUESTS, [],
        "RelayState does not carry what the user typed (the email)",
    RequestForceAuthn => "authn-request.force-authn", "AUTHN-ForceAuthn", FORCED, [],
        "When the application asks for a fresh authentication, the AuthnRequest says ForceAuthn=\"true\"",
    RequestIsPassive => "authn-request.is-passive", "AUTHN-IsPassive", PASSIVE, [],
        "When the application asks for a login without interaction, the AuthnRequest says IsPassive=\"true\"",
}

impl CheckName {
    /// Whether it judges the metadata (`sp-metadata/`), rather than the AuthnRequests.
    pub fn is_metadata(self) -> bool {
        self.as_str().starts_with("metadata.")
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parameters a scenario gives its check (each check takes the ones [`CheckName::params`]
/// lists; the others are refused when the catalogue loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    /// `authn-request.id-entropy`: the fewest bits of randomness an ID may carry (128: SAML
    /// Core §1.3.4's MUST; 160 its SHOULD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bits: Option<u32>,
    /// `authn-request.relay-state-size`: the longest RelayState, in bytes (80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
    /// `metadata.certificate-expiry`: a certificate expiring within this many days warns (30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_days: Option<u32>,
    /// `metadata.key-size`: the smallest RSA key, in bits (2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rsa_bits: Option<u32>,
    /// `metadata.key-size`: the smallest EC key, in bits (256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ec_bits: Option<u32>,
}

impl CheckParams {
    /// Whether none is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The parameters given that `check` does not take, by name.
    pub fn unused_by(&self, check: CheckName) -> Vec<&'static str> {
        let takes = |p: Param| check.params().contains(&p);
        let mut out = Vec::new();
        if self.min_bits.is_some() && !takes(Param::MinBits) {
            out.push("min_bits");
        }
        if self.max_bytes.is_some() && !takes(Param::MaxBytes) {
            out.push("max_bytes");
        }
        if self.warn_days.is_some() && !takes(Param::WarnDays) {
            out.push("warn_days");
        }
        if self.min_rsa_bits.is_some() && !takes(Param::KeyBits) {
            out.push("min_rsa_bits");
        }
        if self.min_ec_bits.is_some() && !takes(Param::KeyBits) {
            out.push("min_ec_bits");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_round_trip_and_say_what_they_judge() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CheckName::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            let json = serde_json::to_value(c).expect("json");
            assert_eq!(json, serde_json::json!(c.as_str()));
            assert_eq!(serde_json::from_value::<CheckName>(json).expect("back"), *c);
            assert!(c.is_metadata() || c.as_str().starts_with("authn-request."));
            assert!(c.is_metadata() || c.needs().requests, "{c} judges requests");
        }
    }

    #[test]
    fn every_rule_is_in_the_rule_table_and_every_check_has_a_scenario() {
        let rules = crate::coverage::rules().expect("rules");
        let catalogue = crate::scenario::Catalogue::embedded().expect("catalogue");
        for c in CheckName::ALL {
            assert!(
                rules.iter().any(|r| r.id == c.rule()),
                "{c}: rule {} is not in scenarios/_rules.toml",
                c.rule()
            );
            let scenario = catalogue
                .iter()
                .find(|s| matches!(s.file.expect, crate::scenario::Expectation::Conforms { check, .. } if check == *c))
                .unwrap_or_else(|| panic!("no scenario runs {c}"));
            assert!(
                scenario.file.rules.iter().any(|r| r == c.rule()),
                "{}",
                scenario.id
            );
        }
    }

    #[test]
    fn a_parameter_the_check_does_not_take_is_named() {
        let p = CheckParams {
            min_bits: Some(160),
            max_bytes: Some(10),
            ..CheckParams::default()
        };
        assert_eq!(p.unused_by(CheckName::RequestIdEntropy), ["max_bytes"]);
        assert!(CheckParams::default().is_empty());
    }
}
