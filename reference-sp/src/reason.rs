//! Refusal reasons: one enum, shown to the user (HTTP 403), returned in JSON, and logged.

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($($variant:ident => $code:literal,)*) => {
        /// Why the SP refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Reason {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )*
        }

        impl Reason {
            /// The snake_case code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }
        }
    };
}

reasons! {
    WrongBinding => "wrong_binding",
    ResponseNotBase64 => "response_not_base64",
    ResponseTooLarge => "response_too_large",
    XmlDoctype => "xml_doctype",
    XmlMalformed => "xml_malformed",
    XmlMultipleRoots => "xml_multiple_roots",
    NotAResponse => "not_a_response",
    VersionInvalid => "version_invalid",
    DuplicateId => "duplicate_id",
    StatusNotSuccess => "status_not_success",
    SignatureMissing => "signature_missing",
    SignatureInvalid => "signature_invalid",
    SignatureMisplaced => "signature_misplaced",
    SignatureAlgorithmRefused => "signature_algorithm_refused",
    SignatureTransformRefused => "signature_transform_refused",
    ReferenceUriInvalid => "reference_uri_invalid",
    ResponseNotSigned => "response_not_signed",
    AssertionNotSigned => "assertion_not_signed",
    AssertionMissing => "assertion_missing",
    MultipleAssertions => "multiple_assertions",
    DestinationMissing => "destination_missing",
    DestinationMismatch => "destination_mismatch",
    IssuerMismatch => "issuer_mismatch",
    IssuerMissing => "issuer_missing",
    IssueInstantInvalid => "issue_instant_invalid",
    InResponseToUnknown => "in_response_to_unknown",
    InResponseToMismatch => "in_response_to_mismatch",
    UnsolicitedNotAllowed => "unsolicited_not_allowed",
    SubjectConfirmationMissing => "subject_confirmation_missing",
    RecipientMismatch => "recipient_mismatch",
    SubjectConfirmationExpired => "subject_confirmation_expired",
    SubjectConfirmationInvalid => "subject_confirmation_invalid",
    AssertionNotYetValid => "assertion_not_yet_valid",
    AssertionExpired => "assertion_expired",
    ConditionsInvalid => "conditions_invalid",
    AudienceMissing => "audience_missing",
    AudienceMismatch => "audience_mismatch",
    AuthnStatementMissing => "authn_statement_missing",
    SessionExpired => "session_expired",
    Replayed => "replayed",
    NameIdFormatInvalid => "name_id_format_invalid",
    IdentityMissing => "identity_missing",
    EmailMismatch => "email_mismatch",
    UnknownUser => "unknown_user",
    SsoDisabled => "sso_disabled",
    IdpNotConfigured => "idp_not_configured",
    BadCredentials => "bad_credentials",
    PasswordLoginDisabledSsoEnforced => "password_login_disabled_sso_enforced",
    PasswordResetRequired => "password_reset_required",
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
