//! Deliberate weakenings: each turns exactly one check off, loudly. The harness's self-test
//! runs the catalogue against `reference-sp --weaken X` to prove that the scenarios meant to
//! catch X do.

use serde::{Deserialize, Serialize};

macro_rules! weakenings {
    ($($variant:ident => $name:literal : $description:literal,)*) => {
        /// One check that can be turned off.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Weakening {
            $(
                #[doc = $description]
                $variant,
            )*
        }

        impl Weakening {
            /// Every weakening.
            pub const ALL: &'static [Weakening] = &[$(Weakening::$variant,)*];

            /// The kebab-case name used on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(Weakening::$variant => $name,)*
                }
            }

            /// What turning it off means.
            pub fn description(self) -> &'static str {
                match self {
                    $(Weakening::$variant => $description,)*
                }
            }
        }
    };
}

weakenings! {
    Signature => "signature": "do not verify signatures at all (samael's behaviour when the metadata has no key)",
    Algorithms => "algorithms": "accept any signature and digest algorithm, SHA-1 and MD5 included",
    KeySize => "key-size": "trust RSA keys under 2048 bits and EC keys under 256 that the IdP's metadata publishes",
    XmlDoctype => "xml-doctype": "accept documents with a DOCTYPE",
    XmlSingleRoot => "xml-single-root": "accept trailing content after the root element",
    Schema => "schema": "accept elements out of the schema's order or unknown to it in the Response and its Assertion",
    ReferenceUri => "reference-uri": "do not check that each Reference URI is `#` + the ID of the signed element",
    SingleAssertion => "single-assertion": "accept responses with more than one assertion (the verified one is still used)",
    Destination => "destination": "do not require or compare the Response's Destination",
    Recipient => "recipient": "do not compare the bearer confirmation's Recipient with the ACS URL",
    InResponseTo => "in-response-to": "do not bind InResponseTo to this browser's outstanding request",
    IdpInitiated => "idp-initiated": "accept unsolicited responses even when IdP-initiated login is off",
    Audience => "audience": "do not require or compare the AudienceRestriction",
    Issuer => "issuer": "do not compare the Issuer with the IdP's entityID",
    Replay => "replay": "no replay cache of assertion IDs",
    SubjectConfirmationExpiry => "subject-confirmation-expiry": "do not require or check the bearer confirmation's NotOnOrAfter",
    TimeWindow => "time-window": "do not check Conditions NotBefore / NotOnOrAfter",
    AuthnStatement => "authn-statement": "do not require an AuthnStatement",
    NameIdFormat => "name-id-format": "accept any NameID format where the policy requires emailAddress",
    EmailMatch => "email-match": "do not require the asserted email to equal the one the user typed",
    TrustDecrypted => "trust-decrypted": "accept an encrypted assertion that nothing signs (anyone can encrypt to the SP's published key)",
    TrustFirstAssertion => "trust-first-assertion": "take the identity from the first Assertion in the document, verified or not (signature wrapping)",
    AssertionBySearch => "assertion-by-search": "take the identity from the first saml:Assertion anywhere in the document, descendants included, and accept a signature wherever it sits as long as it verifies the element it references (signature wrapping into schema slots)",
    NameidTextToFirstComment => "nameid-text-to-first-comment": "read NameID text only up to the first comment (CVE-2017-11427 style)",
    RelayState => "relay-state": "redirect to whatever RelayState an unsolicited response carries (an open redirect)",
    Enforcement => "enforcement": "let users of SSO-enforced domains sign in with a password (and use it on the API)",
    RolesFromAttributes => "roles-from-attributes": "take the user's role from a role or group attribute of the assertion",
    LogoutSignature => "logout-signature": "act on logout messages whatever their signature: unsigned, or signed with another key",
    LogoutSession => "logout-session": "end this browser's session on any valid LogoutRequest, whatever NameID and SessionIndex it names",
    LogoutParameters => "logout-parameters": "accept repeated query parameters on the logout endpoint: verify the first SAMLRequest, act on the last (parameter smuggling)",
    RedirectOctets => "redirect-octets": "verify HTTP-Redirect signatures over re-encoded parameters instead of the octets received",
    LogoutDestination => "logout-destination": "do not compare a logout message's Destination with the logout endpoint",
    UnsignedLogout => "unsigned-logout": "send this SP's own LogoutRequests and LogoutResponses unsigned",
}

impl std::fmt::Display for Weakening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown weakening name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check `{0}`; `--weaken help` lists them")]
pub struct UnknownWeakening(pub String);

impl std::str::FromStr for Weakening {
    type Err = UnknownWeakening;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Weakening::ALL
            .iter()
            .copied()
            .find(|w| w.name() == s)
            .ok_or_else(|| UnknownWeakening(s.to_owned()))
    }
}

/// The `--weaken help` text: one line per check.
pub fn help() -> String {
    let width = Weakening::ALL
        .iter()
        .map(|w| w.name().len())
        .max()
        .unwrap_or(0);
    Weakening::ALL
        .iter()
        .map(|w| format!("{:<width$}  {}\n", w.name(), w.description()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for w in Weakening::ALL {
            assert_eq!(w.name().parse::<Weakening>(), Ok(*w));
            assert_eq!(
                serde_json::to_value(w).expect("json"),
                serde_json::json!(w.name())
            );
        }
        assert!("nope".parse::<Weakening>().is_err());
        assert_eq!(help().lines().count(), Weakening::ALL.len());
    }
}
