//! Which IdP product sent a response, told from its shape (the Issuer's form, the attribute
//! names, the NameID format), and how that product's admin console names each setting, so a
//! fix reads in the words the IdP admin sees.

use serde::Serialize;

use super::facts::Facts;

/// Entra's and ADFS's claim namespace (`.../claims/emailaddress`).
const XMLSOAP_CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";
/// Claims only Entra sends (`.../identity/claims/tenantid`, `objectidentifier`).
const MICROSOFT_CLAIMS: &str = "http://schemas.microsoft.com/identity/claims/";

/// An IdP product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    /// Microsoft Entra ID (Azure AD).
    Entra,
    /// Okta.
    Okta,
    /// Google Workspace.
    Google,
    /// Active Directory Federation Services.
    Adfs,
    /// Shibboleth IdP.
    Shibboleth,
    /// OneLogin.
    OneLogin,
    /// Keycloak.
    Keycloak,
    /// Unknown: the SAML words.
    Generic,
}

/// The detected product and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// The product.
    pub product: Product,
    /// What gave it away.
    pub because: String,
}

impl Product {
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Product::Entra => "Microsoft Entra ID",
            Product::Okta => "Okta",
            Product::Google => "Google Workspace",
            Product::Adfs => "AD FS",
            Product::Shibboleth => "Shibboleth",
            Product::OneLogin => "OneLogin",
            Product::Keycloak => "Keycloak",
            Product::Generic => "the IdP",
        }
    }

    /// The mock IdP flavour that shapes a response most like this product's.
    pub fn mock_flavour(self) -> mock_idp::Flavour {
        match self {
            Product::Entra => mock_idp::Flavour::Entra,
            Product::Okta => mock_idp::Flavour::Okta,
            Product::Google => mock_idp::Flavour::Google,
            Product::Adfs => mock_idp::Flavour::Adfs,
            Product::Shibboleth => mock_idp::Flavour::Shibboleth,
            Product::OneLogin => mock_idp::Flavour::Onelogin,
            Product::Keycloak => mock_idp::Flavour::Keycloak,
            Product::Generic => mock_idp::Flavour::Generic,
        }
    }

    /// Where the admin sets the NameID, and to what.
    pub fn fix_name_id(self, format: &str) -> String {
        let short = format.rsplit(':').next().unwrap_or(format);
        match self {
            Product::Entra => format!(
                "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > Attributes & Claims: edit \"Unique User Identifier (Name ID)\", set \"Name identifier format\" to \"Email address\" ({short}) and \"Source attribute\" to user.mail (or user.userprincipalname when that is the user's email)."
            ),
            Product::Okta => format!(
                "In the Okta Admin Console, Applications > (the app) > General > SAML Settings > Edit > Configure SAML: set \"Name ID format\" to \"EmailAddress\" ({short}) and \"Application username\" to \"Email\"."
            ),
            Product::Google => format!(
                "In the Google Admin console, Apps > Web and mobile apps > (the app) > Service provider details: under \"Name ID\", set \"Name ID format\" to EMAIL ({short}) and \"Name ID\" to Basic Information > Primary email."
            ),
            Product::Adfs => format!(
                "In AD FS Management, Relying Party Trusts > (the SP) > Edit Claim Issuance Policy: add a \"Transform an Incoming Claim\" rule from \"E-Mail Address\" to \"Name ID\" with \"Outgoing name ID format\" = Email ({short}); a \"Send LDAP Attributes as Claims\" rule must first emit E-Mail-Addresses as E-Mail Address."
            ),
            Product::Shibboleth => format!(
                "In Shibboleth's conf/relying-party.xml (or saml-nameid.xml), make the NameID generator for this SP release format {format} from the mail attribute."
            ),
            Product::OneLogin => format!(
                "In OneLogin, Applications > (the app) > Configuration/Parameters: set \"SAML nameID format\" to Email ({short}) and the NameID value to Email."
            ),
            Product::Keycloak => format!(
                "In Keycloak, Clients > (the SP) > Settings > SAML capabilities: set \"Name ID format\" to email ({short}) (and \"Force name ID format\" on)."
            ),
            Product::Generic => format!(
                "Configure the IdP to send the NameID in format {format}, with the user's email address as its value."
            ),
        }
    }

    /// How the admin adds an attribute carrying the email under `name`.
    pub fn fix_email_attribute(self, name: &str) -> String {
        match self {
            Product::Entra => format!(
                "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > Attributes & Claims > Add new claim: Name \"{name}\" (leave Namespace empty when the name is a full URI), Source attribute user.mail."
            ),
            Product::Okta => format!(
                "In the Okta Admin Console, Applications > (the app) > General > SAML Settings > Edit > Attribute Statements: add Name \"{name}\", Name format Unspecified (URI Reference for a URI name), Value user.email."
            ),
            Product::Google => format!(
                "In the Google Admin console, Apps > Web and mobile apps > (the app) > SAML attribute mapping: map Basic Information > Primary email to App attribute \"{name}\"."
            ),
            Product::Adfs => format!(
                "In AD FS Management, Relying Party Trusts > (the SP) > Edit Claim Issuance Policy: add a \"Send LDAP Attributes as Claims\" rule mapping E-Mail-Addresses to the outgoing claim type \"{name}\"."
            ),
            Product::Shibboleth => format!(
                "In Shibboleth's attribute-filter.xml, release the mail attribute to this SP, encoded with the name \"{name}\" (attribute-resolver.xml)."
            ),
            Product::OneLogin => format!(
                "In OneLogin, Applications > (the app) > Parameters: add a field named \"{name}\" with value Email, \"Include in SAML assertion\" checked."
            ),
            Product::Keycloak => format!(
                "In Keycloak, Clients > (the SP) > Client scopes > dedicated scope > Add mapper > User Property: property email, SAML Attribute Name \"{name}\"."
            ),
            Product::Generic => format!(
                "Release the user's email address to this SP in an attribute named \"{name}\"."
            ),
        }
    }

    /// Where the admin sets the SP's ACS URL (Destination and Recipient).
    pub fn fix_acs(self, acs: &str) -> String {
        match self {
            Product::Entra => format!(
                "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > Basic SAML Configuration: set \"Reply URL (Assertion Consumer Service URL)\" to {acs} (and make it the default)."
            ),
            Product::Okta => format!(
                "In the Okta Admin Console, Applications > (the app) > General > SAML Settings > Edit: set \"Single sign-on URL\" to {acs}, with \"Use this for Recipient URL and Destination URL\" checked."
            ),
            Product::Google => format!(
                "In the Google Admin console, Apps > Web and mobile apps > (the app) > Service provider details: set \"ACS URL\" to {acs}."
            ),
            Product::Adfs => format!(
                "In AD FS Management, Relying Party Trusts > (the SP) > Properties > Endpoints: the SAML Assertion Consumer Endpoint (POST binding, default) must be {acs}."
            ),
            Product::Shibboleth => format!(
                "Shibboleth takes the ACS from the SP's metadata: refresh the SP's metadata so its AssertionConsumerService Location is {acs}."
            ),
            Product::OneLogin => format!(
                "In OneLogin, Applications > (the app) > Configuration: set \"ACS (Consumer) URL\" (and the Recipient) to {acs}."
            ),
            Product::Keycloak => format!(
                "In Keycloak, Clients > (the SP) > Advanced > Fine Grain SAML Endpoint Configuration: set \"Assertion Consumer Service POST Binding URL\" to {acs}."
            ),
            Product::Generic => {
                format!("Set the SP's Assertion Consumer Service URL at the IdP to {acs}.")
            }
        }
    }

    /// Where the admin sets the SP's entityID (Audience).
    pub fn fix_audience(self, entity_id: &str) -> String {
        match self {
            Product::Entra => format!(
                "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > Basic SAML Configuration: set \"Identifier (Entity ID)\" to {entity_id} (and make it the default)."
            ),
            Product::Okta => format!(
                "In the Okta Admin Console, Applications > (the app) > General > SAML Settings > Edit: set \"Audience URI (SP Entity ID)\" to {entity_id}."
            ),
            Product::Google => format!(
                "In the Google Admin console, Apps > Web and mobile apps > (the app) > Service provider details: set \"Entity ID\" to {entity_id}."
            ),
            Product::Adfs => format!(
                "In AD FS Management, Relying Party Trusts > (the SP) > Properties > Identifiers: the relying party identifier must be {entity_id}."
            ),
            Product::OneLogin => format!(
                "In OneLogin, Applications > (the app) > Configuration: set \"Audience (EntityID)\" to {entity_id}."
            ),
            Product::Keycloak => format!(
                "In Keycloak, the client's \"Client ID\" is the Audience: it must be {entity_id}."
            ),
            Product::Shibboleth | Product::Generic => {
                format!("Set the SP's entity ID (the Audience) at the IdP to {entity_id}.")
            }
        }
    }

    /// How the admin makes the IdP sign.
    pub fn fix_signing(self) -> String {
        match self {
            Product::Entra => "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > SAML Certificates > Edit: set \"Signing Option\" to \"Sign SAML response and assertion\" (Entra signs only the assertion by default).".to_owned(),
            Product::Okta => "In the Okta Admin Console, Applications > (the app) > General > SAML Settings > Edit > Show Advanced Settings: set \"Response\" and \"Assertion Signature\" to Signed.".to_owned(),
            Product::Google => "Google signs the assertion; in the Google Admin console, Apps > Web and mobile apps > (the app) > Service provider details, tick \"Signed response\" to sign the whole response too.".to_owned(),
            Product::Adfs => "In PowerShell on the AD FS server: Set-AdfsRelyingPartyTrust -TargetName \"(the SP)\" -SamlResponseSignature MessageAndAssertion.".to_owned(),
            Product::OneLogin => "In OneLogin, Applications > (the app) > SSO: set \"SAML Signature Element\" to Both.".to_owned(),
            Product::Keycloak => "In Keycloak, Clients > (the SP) > Keys/Settings: turn on \"Sign documents\" and \"Sign assertions\".".to_owned(),
            Product::Shibboleth | Product::Generic => "Make the IdP sign the Response and the Assertion for this SP.".to_owned(),
        }
    }

    /// Where the admin finds the certificate the SP must trust.
    pub fn fix_certificate(self) -> String {
        match self {
            Product::Entra => "In the Entra admin center, Enterprise applications > (the app) > Single sign-on > SAML Certificates: check which certificate is Active, download \"Certificate (Base64)\" or \"Federation Metadata XML\", and give it to the SP admin (or make the certificate the SP knows Active again).".to_owned(),
            Product::Okta => "In the Okta Admin Console, Applications > (the app) > Sign On > SAML Signing Certificates: check which certificate is Active and send the SP admin its metadata (Actions > View IdP metadata).".to_owned(),
            Product::Google => "In the Google Admin console, Apps > Web and mobile apps > (the app) > Google Identity Provider details: download the certificate (or the IdP metadata) in use and give it to the SP admin.".to_owned(),
            Product::Adfs => "In AD FS Management, Service > Certificates: the Token-signing certificate (Primary) rolled over (AutoCertificateRollover); give the SP admin the new one, or the FederationMetadata.xml URL so it follows rollovers.".to_owned(),
            Product::OneLogin => "In OneLogin, Applications > (the app) > SSO: check the X.509 certificate in use and send the SP admin the new one (More Actions > SAML Metadata).".to_owned(),
            Product::Keycloak => "In Keycloak, Realm settings > Keys: the active RS256 key changed; give the SP admin the realm's new certificate or metadata URL.".to_owned(),
            Product::Shibboleth | Product::Generic => "The IdP signs with a certificate the SP does not have: send the SP admin the IdP's current metadata.".to_owned(),
        }
    }

    /// How the admin checks the IdP's clock.
    pub fn fix_clock(self) -> String {
        match self {
            Product::Entra | Product::Okta | Product::Google | Product::OneLogin => format!(
                "{}'s clock is kept by the vendor: the SP server's clock is the likely culprit.",
                self.name()
            ),
            Product::Adfs => "Check the AD FS servers' time sync (w32tm /query /status): they must follow the domain's time source; AD FS also has NotBeforeSkew per relying party (Set-AdfsRelyingPartyTrust -NotBeforeSkew).".to_owned(),
            _ => "Synchronise the IdP server's clock with NTP.".to_owned(),
        }
    }

    /// Where the admin sees the entityID the IdP sends as Issuer.
    pub fn fix_issuer(self, expected: &str) -> String {
        match self {
            Product::Entra => format!(
                "Each Entra tenant has its own Issuer (https://sts.windows.net/TENANT-ID/): the SP is configured for {expected}; give the SP admin this tenant's Federation Metadata XML (Single sign-on > SAML Certificates)."
            ),
            Product::Okta => format!(
                "Each Okta app has its own Issuer (http://www.okta.com/APP-ID): the SP is configured for {expected}; send the SP admin this app's IdP metadata (Sign On tab)."
            ),
            Product::Google => format!(
                "Google's Issuer carries the idpid of the Workspace account: the SP is configured for {expected}; send the SP admin the IdP metadata of this app."
            ),
            Product::Adfs => format!(
                "AD FS sends its Federation Service Identifier (AD FS Management > Edit Federation Service Properties): the SP is configured for {expected}."
            ),
            _ => format!(
                "The SP is configured for the IdP entity ID {expected}; send the SP admin the IdP's current metadata."
            ),
        }
    }
}

/// Tells the product from the response.
pub fn detect(facts: &Facts) -> Detection {
    let issuer = facts
        .issuer
        .as_ref()
        .or_else(|| facts.assertion.as_ref().and_then(|a| a.issuer.as_ref()))
        .map(|i| i.value.as_str())
        .unwrap_or_default();
    let lower = issuer.to_ascii_lowercase();
    let by_issuer = [
        (
            "sts.windows.net/",
            Product::Entra,
            "the Issuer is an Entra tenant (sts.windows.net)",
        ),
        (
            "login.microsoftonline.com",
            Product::Entra,
            "the Issuer is an Entra tenant (login.microsoftonline.com)",
        ),
        (
            "okta.com/",
            Product::Okta,
            "the Issuer is an Okta app (okta.com)",
        ),
        (
            "accounts.google.com",
            Product::Google,
            "the Issuer is Google (accounts.google.com)",
        ),
        (
            "/adfs/services/trust",
            Product::Adfs,
            "the Issuer is an AD FS federation service (/adfs/services/trust)",
        ),
        ("onelogin.com", Product::OneLogin, "the Issuer is OneLogin"),
        (
            "/realms/",
            Product::Keycloak,
            "the Issuer is a Keycloak realm (/realms/)",
        ),
        (
            "/idp/shibboleth",
            Product::Shibboleth,
            "the Issuer is a Shibboleth IdP (/idp/shibboleth)",
        ),
    ];
    if let Some((_, product, because)) = by_issuer.iter().find(|(p, _, _)| lower.contains(p)) {
        return Detection {
            product: *product,
            because: (*because).to_owned(),
        };
    }
    let attributes: Vec<&str> = facts
        .assertion
        .iter()
        .flat_map(|a| a.attributes.iter())
        .map(|a| a.name.as_str())
        .collect();
    if attributes.iter().any(|n| n.starts_with(MICROSOFT_CLAIMS)) {
        return Detection {
            product: Product::Entra,
            because: format!("attributes in Entra's namespace ({MICROSOFT_CLAIMS}...)"),
        };
    }
    if attributes.iter().any(|n| n.starts_with(XMLSOAP_CLAIMS)) {
        return Detection {
            product: Product::Entra,
            because: format!(
                "claim-URI attributes ({XMLSOAP_CLAIMS}...), as Entra (and AD FS) send them"
            ),
        };
    }
    let okta_names = ["firstName", "lastName"];
    let unspecified_format = facts
        .assertion
        .iter()
        .flat_map(|a| a.attributes.iter())
        .any(|a| {
            a.name_format.as_deref()
                == Some("urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified")
        });
    if attributes.iter().any(|n| okta_names.contains(n)) && unspecified_format {
        return Detection {
            product: Product::Okta,
            because:
                "Okta's attribute statement shape (firstName/lastName, NameFormat unspecified)"
                    .to_owned(),
        };
    }
    if attributes.iter().any(|n| n.starts_with("urn:oid:")) {
        return Detection {
            product: Product::Shibboleth,
            because: "urn:oid attribute names (saml2int IdPs such as Shibboleth)".to_owned(),
        };
    }
    Detection {
        product: Product::Generic,
        because: "nothing product-specific in the Issuer or the attributes".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use mock_idp::plan::{Alteration, IssuerScope};

    use super::*;
    use crate::support::fixtures::response_xml;

    fn detect_issuer(issuer: &str) -> Detection {
        let plan = mock_idp::Plan {
            alter: vec![Alteration::Issuer {
                value: issuer.to_owned(),
                scope: IssuerScope::Both,
            }],
            ..mock_idp::Plan::default()
        };
        detect(&Facts::read(&response_xml(&plan)).expect("facts"))
    }

    #[test]
    fn products_are_told_by_their_issuer_shape() {
        for (issuer, product) in [
            (
                "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
                Product::Entra,
            ),
            ("http://www.okta.com/exk1a2b3c4d5e6f7g8h9", Product::Okta),
            (
                "https://accounts.google.com/o/saml2?idpid=C01abcde2",
                Product::Google,
            ),
            (
                "http://adfs.corp.example/adfs/services/trust",
                Product::Adfs,
            ),
            (
                "https://app.onelogin.com/saml/metadata/123456",
                Product::OneLogin,
            ),
            ("https://sso.corp.example/realms/corp", Product::Keycloak),
            (
                "https://idp.corp.example/idp/shibboleth",
                Product::Shibboleth,
            ),
            ("https://idp.example.test/metadata", Product::Generic),
        ] {
            let d = detect_issuer(issuer);
            assert_eq!(d.product, product, "{issuer}: {}", d.because);
        }
    }

    #[test]
    fn each_product_names_its_own_settings() {
        let cases = [
            (
                Product::Entra,
                "Unique User Identifier (Name ID)",
                "Reply URL",
            ),
            (Product::Okta, "Name ID format", "Single sign-on URL"),
            (Product::Google, "Name ID", "ACS URL"),
            (Product::Adfs, "Claim Issuance Policy", "Endpoints"),
        ];
        for (product, name_id, acs) in cases {
            let fix = product.fix_name_id(mock_idp::flavour::NAMEID_EMAIL);
            assert!(fix.contains(name_id), "{product:?}: {fix}");
            let fix = product.fix_acs("https://sp.test/acs");
            assert!(
                fix.contains(acs) && fix.contains("https://sp.test/acs"),
                "{product:?}: {fix}"
            );
            assert!(
                product.fix_email_attribute("mail").contains("\"mail\""),
                "{product:?}"
            );
        }
    }
}
