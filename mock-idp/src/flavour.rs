//! Flavours: presets that shape a valid response like a real IdP's.
//!
//! Each fact names its public source. A flavour decides the NameID format, the attribute names
//! and NameFormat, how the assertion namespace is written, the AuthnContext, and what is signed
//! by default. It never changes the Issuer: that is the IdP's entityID, which the SP pins.

use serde::{Deserialize, Serialize};

use crate::plan::SigningLayout;
use crate::response::ResponseContext;
use crate::response::model::{
    AssertionDoc, AttributeDoc, AuthnDoc, ConditionsDoc, ConfirmationDoc, NameIdDoc, ResponseDoc,
    SamlNamespaceStyle, StatusDoc,
};
use crate::xml::new_id;

/// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`.
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`.
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`.
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

const ATTRNAME_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const ATTRNAME_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";
const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
const AC_PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

/// Claim URIs Entra ID uses (and that SPs match users by).
pub const CLAIM_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const CLAIM_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const CLAIM_GIVEN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const CLAIM_SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";

/// An IdP product whose responses to imitate.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// A plain, textbook response: NameID emailAddress, an `email` attribute, both signed.
    #[default]
    Generic,
    /// Microsoft Entra ID (Azure AD).
    #[serde(alias = "azure-ad")]
    Entra,
    /// Okta.
    Okta,
}

impl Flavour {
    /// Every flavour, for tests and listings.
    pub const ALL: [Flavour; 3] = [Flavour::Generic, Flavour::Entra, Flavour::Okta];

    /// What the IdP signs unless the plan says otherwise.
    pub fn default_layout(self) -> SigningLayout {
        match self {
            Flavour::Generic => SigningLayout::Both,
            // Entra's default signing option is "Sign SAML assertion"; "Sign SAML response and
            // assertion" is an opt-in. Source: Microsoft Learn, "Advanced certificate signing
            // options in a SAML token" (entra/identity/enterprise-apps/certificate-signing-options).
            Flavour::Entra => SigningLayout::Assertion,
            // Okta's SAML app wizard defaults "Response" and "Assertion Signature" to Signed.
            // Source: Okta Help, "Create SAML app integrations" (advanced settings), and the
            // signed saml2p:Response in Okta's published response samples.
            Flavour::Okta => SigningLayout::Both,
        }
    }

    /// The valid response for `user` (an email address) as this IdP would send it.
    pub(crate) fn baseline(self, ctx: &ResponseContext<'_>, user: &str) -> ResponseDoc {
        let now = ctx.now;
        let minutes = |m: i64| now + chrono::Duration::minutes(m);
        let (given, surname) = names_of(user);
        let (name_id_format, saml_ns, class_ref, typed, attributes) = match self {
            Flavour::Generic => (
                NAMEID_EMAIL,
                SamlNamespaceStyle::Prefixed,
                AC_PPT,
                true,
                vec![
                    attribute("email", Some(ATTRNAME_BASIC), user),
                    attribute("givenName", Some(ATTRNAME_BASIC), &given),
                    attribute("sn", Some(ATTRNAME_BASIC), &surname),
                ],
            ),
            // Entra: NameID "Unique User Identifier" defaults to user.userprincipalname with
            // format emailAddress; default claims emailaddress (user.mail), name (UPN), givenname,
            // surname, sent without NameFormat and with untyped values. The assertion namespace is
            // a default namespace on Issuer and Assertion; AuthnContextClassRef Password.
            // Sources: Microsoft Learn, "Customize SAML token claims"
            // (entra/identity-platform/saml-claims-customization) and "Single sign-on SAML
            // protocol" (entra/identity-platform/single-sign-on-saml-protocol, Response sample).
            Flavour::Entra => (
                NAMEID_EMAIL,
                SamlNamespaceStyle::Default,
                AC_PASSWORD,
                false,
                vec![
                    attribute(CLAIM_EMAIL, None, user),
                    attribute(CLAIM_NAME, None, user),
                    attribute(CLAIM_GIVEN, None, &given),
                    attribute(CLAIM_SURNAME, None, &surname),
                ],
            ),
            // Okta: "Name ID format" defaults to Unspecified with the Okta username (an email);
            // attribute statements default to Name format "Unspecified" with names the admin
            // picks (email, firstName, lastName are the documented examples) and xs:string typed
            // values; AuthnContextClassRef PasswordProtectedTransport.
            // Source: Okta Help, "Create SAML app integrations" / "Define attribute statements".
            Flavour::Okta => (
                NAMEID_UNSPECIFIED,
                SamlNamespaceStyle::Prefixed,
                AC_PPT,
                true,
                vec![
                    attribute("email", Some(ATTRNAME_UNSPECIFIED), user),
                    attribute("firstName", Some(ATTRNAME_UNSPECIFIED), &given),
                    attribute("lastName", Some(ATTRNAME_UNSPECIFIED), &surname),
                ],
            ),
        };
        let assertion = AssertionDoc {
            version: Some("2.0".to_owned()),
            id: new_id(),
            issue_instant: now,
            issue_instant_offset_minutes: None,
            issuer: Some(ctx.idp_entity_id.to_owned()),
            name_id: NameIdDoc {
                value: user.to_owned(),
                format: Some(name_id_format.to_owned()),
                sp_name_qualifier: None,
            },
            confirmation: ConfirmationDoc {
                recipient: Some(ctx.acs_url.to_owned()),
                not_on_or_after: Some(minutes(5)),
                in_response_to: ctx.in_response_to.map(str::to_owned),
                not_before: None,
                address: None,
                method: "urn:oasis:names:tc:SAML:2.0:cm:bearer".to_owned(),
            },
            conditions: Some(ConditionsDoc {
                not_before: Some(minutes(-1)),
                not_on_or_after: Some(minutes(5)),
                audience: Some(ctx.sp_entity_id.to_owned()),
                extra: Vec::new(),
            }),
            authn: Some(AuthnDoc {
                instant: now,
                session_index: Some(new_id()),
                session_not_on_or_after: None,
                class_ref: class_ref.to_owned(),
            }),
            attributes,
            typed_attribute_values: typed,
        };
        ResponseDoc {
            version: Some("2.0".to_owned()),
            id: new_id(),
            issue_instant: now,
            issue_instant_offset_minutes: None,
            destination: Some(ctx.acs_url.to_owned()),
            in_response_to: ctx.in_response_to.map(str::to_owned),
            issuer: Some(ctx.idp_entity_id.to_owned()),
            status: StatusDoc::success(),
            assertion: Some(assertion),
            saml_ns,
            cosmetics: Vec::new(),
        }
    }
}

fn attribute(name: &str, name_format: Option<&str>, value: &str) -> AttributeDoc {
    AttributeDoc {
        name: name.to_owned(),
        name_format: name_format.map(str::to_owned),
        friendly_name: None,
        values: vec![value.to_owned()],
    }
}

/// A given name and surname made from an email's local part (`ada.lovelace@` -> Ada, Lovelace).
fn names_of(email: &str) -> (String, String) {
    let local = email.split('@').next().unwrap_or(email);
    let mut parts = local.split(['.', '_', '-']).filter(|p| !p.is_empty());
    let capital = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    };
    let given = parts.next().map(capital).unwrap_or_default();
    let surname = parts
        .next()
        .map(capital)
        .unwrap_or_else(|| "User".to_owned());
    (given, surname)
}
