//! Refusal reasons: one enum, shown to the user (HTTP 403), returned in JSON, and logged.

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($($variant:ident => $code:literal : $message:literal,)*) => {
        /// Why the SP refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Reason {
            $(
                #[doc = concat!("`", $code, "`: ", $message)]
                $variant,
            )*
        }

        impl Reason {
            /// Every reason.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The snake_case code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }

            /// One sentence for the person who sees the refusal (often the IdP's admin).
            pub fn message(self) -> &'static str {
                match self {
                    $(Reason::$variant => $message,)*
                }
            }
        }
    };
}

reasons! {
    WrongBinding => "wrong_binding": "The response did not arrive by HTTP-POST as a base64 SAMLResponse field (the only binding this ACS accepts).",
    ResponseNotBase64 => "response_not_base64": "The SAMLResponse field is not base64.",
    ResponseTooLarge => "response_too_large": "The response is larger than this SP accepts.",
    XmlDoctype => "xml_doctype": "The response contains a DOCTYPE; SAML messages must not.",
    XmlMalformed => "xml_malformed": "The response is not well-formed XML.",
    XmlMultipleRoots => "xml_multiple_roots": "Something follows the response's root element.",
    NotAResponse => "not_a_response": "The message is not a samlp:Response.",
    VersionInvalid => "version_invalid": "The Response or Assertion Version is not 2.0.",
    DuplicateId => "duplicate_id": "Two elements carry the same ID.",
    IdInvalid => "id_invalid": "An ID is missing, not an xs:ID, or in a foreign namespace.",
    AuthnContextMismatch => "authn_context_mismatch": "The IdP authenticated the user with another method than the one this SP requires (AuthnContextClassRef).",
    SchemaInvalid => "schema_invalid": "The Response or its Assertion breaks the SAML schema: an element out of order, missing or unknown.",
    StatusNotSuccess => "status_not_success": "The IdP answered with an error status instead of signing you in.",
    SignatureMissing => "signature_missing": "Neither the Response nor the Assertion is signed; the IdP must sign one of them.",
    SignatureInvalid => "signature_invalid": "A signature does not verify with the IdP certificate configured here (wrong certificate, or the response was changed).",
    SignatureMisplaced => "signature_misplaced": "A signature sits somewhere other than on the Response or its Assertion.",
    SignatureAlgorithmRefused => "signature_algorithm_refused": "The signature or digest algorithm is not allowed (SHA-256 or stronger is required).",
    SignatureTransformRefused => "signature_transform_refused": "The signature uses a canonicalization or transform other than enveloped-signature and exclusive c14n.",
    ReferenceUriInvalid => "reference_uri_invalid": "A signature's Reference URI is not '#' + the ID of the element that holds it.",
    ResponseNotSigned => "response_not_signed": "The tenant's policy requires the IdP to sign the Response.",
    AssertionNotSigned => "assertion_not_signed": "The tenant's policy requires the IdP to sign the Assertion.",
    AssertionMissing => "assertion_missing": "The response carries no (usable) assertion.",
    DecryptionFailed => "decryption_failed": "The encrypted assertion could not be decrypted with this SP's encryption key (the one in its metadata).",
    MultipleAssertions => "multiple_assertions": "The response carries more than one assertion; exactly one is accepted.",
    DestinationMissing => "destination_missing": "The signed Response has no Destination.",
    DestinationMismatch => "destination_mismatch": "The Response's Destination is not this SP's ACS URL (check the Reply URL / ACS URL at the IdP).",
    IssuerMismatch => "issuer_mismatch": "The Issuer is not the IdP entityID configured here.",
    IssuerMissing => "issuer_missing": "The Assertion, or the signed Response, has no Issuer.",
    IssueInstantInvalid => "issue_instant_invalid": "IssueInstant is missing, malformed, or in the future.",
    InResponseToMissing => "in_response_to_missing": "The response answers a sign-in this SP started, but does not say so (no InResponseTo).",
    InResponseToUnknown => "in_response_to_unknown": "The response answers a request this browser did not make, or one already used.",
    InResponseToMismatch => "in_response_to_mismatch": "The assertion's InResponseTo differs from the Response's.",
    UnsolicitedNotAllowed => "unsolicited_not_allowed": "IdP-initiated sign-in is turned off for this tenant; start at the SP's sign-in page.",
    SubjectConfirmationMissing => "subject_confirmation_missing": "The assertion has no bearer SubjectConfirmationData.",
    RecipientMismatch => "recipient_mismatch": "The SubjectConfirmationData Recipient is not this SP's ACS URL.",
    SubjectConfirmationExpired => "subject_confirmation_expired": "The SubjectConfirmationData NotOnOrAfter is missing or has passed (check the IdP's clock).",
    SubjectConfirmationInvalid => "subject_confirmation_invalid": "The bearer SubjectConfirmationData carries NotBefore, which it must not.",
    AssertionNotYetValid => "assertion_not_yet_valid": "The assertion is not valid yet (Conditions NotBefore; check the IdP's clock).",
    AssertionExpired => "assertion_expired": "The assertion has expired (Conditions NotOnOrAfter).",
    ConditionsInvalid => "conditions_invalid": "The Conditions contain something not understood, a repeated OneTimeUse or ProxyRestriction, an unreadable time, or an inverted window.",
    AudienceMissing => "audience_missing": "The assertion has no AudienceRestriction.",
    AudienceMismatch => "audience_mismatch": "The Audience is not this SP's entityID (check the Identifier / Entity ID at the IdP).",
    AuthnStatementMissing => "authn_statement_missing": "The assertion has no usable AuthnStatement (one with an AuthnInstant and an AuthnContext).",
    SessionExpired => "session_expired": "The IdP's SessionNotOnOrAfter has passed.",
    Replayed => "replayed": "This assertion was already used.",
    NameIdFormatInvalid => "name_id_format_invalid": "The NameID format must be emailAddress (set the Name ID format at the IdP).",
    IdentityMissing => "identity_missing": "The assertion does not carry the user's email where this tenant reads it.",
    EmailMismatch => "email_mismatch": "SSO auth failed: returned email differs from the one you typed.",
    UnknownUser => "unknown_user": "The user has no account here and just-in-time provisioning is off.",
    SsoDisabled => "sso_disabled": "Single sign-on is turned off for this tenant.",
    IdpNotConfigured => "idp_not_configured": "No usable IdP connection is configured.",
    IdpUnavailable => "idp_unavailable": "Your identity provider is not answering right now; try again later (administrators can still sign in with a password).",
    BadCredentials => "bad_credentials": "Wrong email or password.",
    PasswordLoginDisabledSsoEnforced => "password_login_disabled_sso_enforced": "Your organisation requires single sign-on; password sign-in is off for your domain.",
    PasswordResetRequired => "password_reset_required": "Set a new password before signing in with one.",
    LogoutInvalid => "logout_invalid": "The logout message is unreadable: not base64, DEFLATE or XML, a DOCTYPE, a repeated parameter, or not a LogoutRequest or LogoutResponse.",
    LogoutUnknown => "logout_unknown": "The LogoutResponse answers no logout this SP started.",
    LogoutFailed => "logout_failed": "You are signed out here, but the IdP could not end your session everywhere.",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: the reason code and the evidence in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Refusal {
    /// The code.
    pub reason: Reason,
    /// What exactly was wrong.
    pub detail: String,
}

impl Refusal {
    /// A refusal.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_serialize_as_themselves() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "{} twice", r.code());
            assert!(
                r.code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                r.code()
            );
            assert_eq!(
                serde_json::to_value(r).expect("json"),
                serde_json::json!(r.code())
            );
            assert!(r.message().ends_with('.'), "{}", r.code());
        }
        let refusal = Refusal::new(Reason::DestinationMismatch, "Destination is x");
        assert_eq!(
            refusal.to_string(),
            "destination_mismatch: Destination is x"
        );
    }
}
