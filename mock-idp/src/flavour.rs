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
    SamlNamespaceStyle, Shape, StatusDoc,
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
const ATTRNAME_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
const AC_PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const AC_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";

/// `mail` (RFC 4524) as SAML attribute profiles for LDAP name it: Shibboleth's default.
pub const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
/// PKCS #9 `emailAddress`: Keycloak's built-in "X500 email" mapper.
pub const OID_EMAIL_ADDRESS: &str = "urn:oid:1.2.840.113549.1.9.1";
const OID_GIVEN_NAME: &str = "urn:oid:2.5.4.42";
const OID_SURNAME: &str = "urn:oid:2.5.4.4";
const OID_EPPN: &str = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6";
/// The UPN claim (AD FS, Entra).
pub const CLAIM_UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";

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
    /// Google Workspace (a custom SAML app).
    Google,
    /// Active Directory Federation Services.
    Adfs,
    /// Shibboleth Identity Provider (v4, v5).
    Shibboleth,
    /// OneLogin.
    Onelogin,
    /// Keycloak.
    Keycloak,
}

impl Flavour {
    /// Every flavour, for tests and listings.
    pub const ALL: [Flavour; 8] = [
        Flavour::Generic,
        Flavour::Entra,
        Flavour::Okta,
        Flavour::Google,
        Flavour::Adfs,
        Flavour::Shibboleth,
        Flavour::Onelogin,
        Flavour::Keycloak,
    ];

    /// Whether the NameID carries the user's email (Shibboleth's is an opaque transient ID).
    pub fn name_id_is_email(self) -> bool {
        self != Flavour::Shibboleth
    }

    /// The NameID format of its responses.
    pub fn name_id_format(self) -> &'static str {
        match self {
            Flavour::Generic | Flavour::Entra | Flavour::Adfs | Flavour::Onelogin => NAMEID_EMAIL,
            Flavour::Okta | Flavour::Google | Flavour::Keycloak => NAMEID_UNSPECIFIED,
            Flavour::Shibboleth => NAMEID_TRANSIENT,
        }
    }

    /// The attribute that carries the user's email.
    pub fn email_attribute(self) -> &'static str {
        match self {
            Flavour::Generic | Flavour::Okta | Flavour::Google => "email",
            Flavour::Entra | Flavour::Adfs => CLAIM_EMAIL,
            Flavour::Shibboleth => OID_MAIL,
            Flavour::Onelogin => "User.email",
            Flavour::Keycloak => OID_EMAIL_ADDRESS,
        }
    }

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
            // Google: "Signed response" is an unticked checkbox in the custom SAML app's
            // service provider details; unticked, only the assertion is signed. Source: Google
            // Workspace Admin Help, "Set up your own custom SAML app".
            Flavour::Google => SigningLayout::Assertion,
            // AD FS: a relying party trust's SamlResponseSignature defaults to AssertionOnly.
            // Source: Microsoft Learn, Set-AdfsRelyingPartyTrust (-SamlResponseSignature).
            Flavour::Adfs => SigningLayout::Assertion,
            // Shibboleth: the SAML2.SSO profile's signResponses defaults to true and
            // signAssertions to false (encryptAssertions also defaults to true; encryption is
            // not modelled yet). Source: Shibboleth wiki, IDP4 "SAML2SSOConfiguration".
            Flavour::Shibboleth => SigningLayout::Response,
            // OneLogin: the connector's "SAML signature element" defaults to Assertion
            // (Response and Both are options). Source: OneLogin Knowledge Base, "SAML Custom
            // Connector (Advanced)" configuration fields.
            Flavour::Onelogin => SigningLayout::Assertion,
            // Keycloak: a new SAML client has "Sign documents" on and "Sign assertions" off.
            // Source: Keycloak Server Administration Guide, "Creating a SAML client" (Signature
            // and Encryption).
            Flavour::Keycloak => SigningLayout::Response,
        }
    }

    /// The valid response for `user` (an email address) as this IdP would send it.
    pub(crate) fn baseline(self, ctx: &ResponseContext<'_>, user: &str) -> ResponseDoc {
        let now = ctx.now;
        let minutes = |m: i64| now + chrono::Duration::minutes(m);
        let (given, surname) = names_of(user);
        let mut name_id_value = user.to_owned();
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
            // Google: "Name ID format" defaults to UNSPECIFIED and "Name ID" to Basic Information
            // > Primary email; attributes exist only as the admin maps them (Primary email to
            // `email` is the documented example), without NameFormat; AuthnContextClassRef
            // unspecified; saml2/saml2p prefixes. Source: Google Workspace Admin Help, "Set up
            // your own custom SAML app" and "SAML app error messages".
            Flavour::Google => (
                NAMEID_UNSPECIFIED,
                SamlNamespaceStyle::Saml2,
                AC_UNSPECIFIED,
                false,
                vec![attribute("email", None, user)],
            ),
            // AD FS: the NameID comes from a claim rule; the usual one transforms E-Mail Address
            // into Name ID with the Email format. Claims travel as attributes named by their
            // claim type URI, without NameFormat; forms login gives PasswordProtectedTransport;
            // the assertion declares the SAML namespace as its default namespace. Source:
            // Microsoft Learn, "Create a rule to send LDAP attributes as claims" and "Create a
            // rule to transform an incoming claim" (AD FS operations).
            Flavour::Adfs => (
                NAMEID_EMAIL,
                SamlNamespaceStyle::Default,
                AC_PPT,
                false,
                vec![
                    attribute(CLAIM_EMAIL, None, user),
                    attribute(CLAIM_UPN, None, user),
                    attribute(CLAIM_GIVEN, None, &given),
                    attribute(CLAIM_SURNAME, None, &surname),
                ],
            ),
            // Shibboleth: a transient NameID (an opaque, per-session value) unless the SP asks
            // for another format; attributes named by OID with NameFormat uri and a
            // FriendlyName (mail, givenName, sn, eduPersonPrincipalName); OpenSAML writes
            // saml2/saml2p prefixes. Sources: Shibboleth wiki, IDP4 "NameIDGenerationConfiguration"
            // (transient by default) and "AttributeResolverConfiguration" (the saml2 encoders
            // of the default attribute registry); MACE-Dir SAML attribute profile.
            Flavour::Shibboleth => {
                name_id_value = format!("AAdzZWNyZXQx{}", new_id().trim_start_matches('_'));
                (
                    NAMEID_TRANSIENT,
                    SamlNamespaceStyle::Saml2,
                    AC_PPT,
                    false,
                    vec![
                        friendly(OID_MAIL, "mail", user),
                        friendly(OID_EPPN, "eduPersonPrincipalName", user),
                        friendly(OID_GIVEN_NAME, "givenName", &given),
                        friendly(OID_SURNAME, "sn", &surname),
                    ],
                )
            }
            // OneLogin: the connector's NameID is the user's Email in the emailAddress format;
            // its default parameters are sent as `User.email`, `User.FirstName`,
            // `User.LastName` with NameFormat basic. Source: OneLogin Knowledge Base, "SAML
            // Custom Connector (Advanced)" (SAML nameID, parameters).
            Flavour::Onelogin => (
                NAMEID_EMAIL,
                SamlNamespaceStyle::Prefixed,
                AC_PPT,
                true,
                vec![
                    attribute("User.email", Some(ATTRNAME_BASIC), user),
                    attribute("User.FirstName", Some(ATTRNAME_BASIC), &given),
                    attribute("User.LastName", Some(ATTRNAME_BASIC), &surname),
                ],
            ),
            // Keycloak: "Name ID format" defaults to username with the unspecified format (here
            // the username is the email, as with "Login with email"); the built-in "X500 email",
            // "X500 givenName" and "X500 surname" mappers send OIDs with NameFormat uri and a
            // FriendlyName; AuthnContextClassRef unspecified. Source: Keycloak Server
            // Administration Guide, "Creating a SAML client" and "Mapping protocol mappers".
            Flavour::Keycloak => (
                NAMEID_UNSPECIFIED,
                SamlNamespaceStyle::Prefixed,
                AC_UNSPECIFIED,
                false,
                vec![
                    friendly(OID_EMAIL_ADDRESS, "email", user),
                    friendly(OID_GIVEN_NAME, "givenName", &given),
                    friendly(OID_SURNAME, "surname", &surname),
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
                value: name_id_value,
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
            shape: Shape::default(),
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
            shape: Shape::default(),
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

fn friendly(name: &str, friendly_name: &str, value: &str) -> AttributeDoc {
    AttributeDoc {
        friendly_name: Some(friendly_name.to_owned()),
        ..attribute(name, Some(ATTRNAME_URI), value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flavour_says_what_its_baseline_carries() {
        let ctx = ResponseContext {
            now: chrono::Utc::now(),
            idp_entity_id: "https://idp.test",
            sp_entity_id: "https://sp.test",
            acs_url: "https://sp.test/acs",
            in_response_to: None,
            default_user: "ada.lovelace@example.test",
            sp_encryption_cert: None,
        };
        for flavour in Flavour::ALL {
            let doc = flavour.baseline(&ctx, "ada.lovelace@example.test");
            let assertion = doc.assertion.expect("an assertion");
            assert_eq!(
                assertion.name_id.format.as_deref(),
                Some(flavour.name_id_format()),
                "{flavour:?}"
            );
            assert_eq!(
                assertion.name_id.value == "ada.lovelace@example.test",
                flavour.name_id_is_email(),
                "{flavour:?}"
            );
            let email = assertion
                .attributes
                .iter()
                .find(|a| a.name == flavour.email_attribute())
                .unwrap_or_else(|| panic!("{flavour:?} sends {}", flavour.email_attribute()));
            assert_eq!(email.values, ["ada.lovelace@example.test"], "{flavour:?}");
        }
    }
}
