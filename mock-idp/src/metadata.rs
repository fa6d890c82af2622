//! The IdP's own metadata: an `EntityDescriptor` with an `IDPSSODescriptor`.

use crate::flavour::{NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED};
use crate::keys::KeyStore;
use crate::xml::{NS_DS, NS_MD, escape_attr};

const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Renders the metadata: both published signing keys (trusted first, then rollover) as
/// `KeyDescriptor use="signing"`, SSO over HTTP-Redirect and HTTP-POST, SLO, and the NameID
/// formats the IdP can send. Plain, unprefixed-where-usual XML that samael, python3-saml,
/// pysaml2 and node-saml import as is.
pub fn render(entity_id: &str, base_url: &str, keys: &KeyStore) -> String {
    render_with(entity_id, base_url, keys, Options::default())
}

/// Variations of the metadata, for SPs' import paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// How the KeyDescriptors are marked.
    pub key_use: KeyUse,
    /// Also publish the 1024-bit RSA key (`attacker-rsa1024`), which saml2int SDP-MD06 says no
    /// one may use: an SP must not trust signatures made with it.
    pub weak_key: bool,
    /// `WantAuthnRequestsSigned="true"`: the SP must sign its AuthnRequests (SAML Metadata
    /// §2.4.3); the harness then checks that it does, over the octets it sends.
    pub want_authn_requests_signed: bool,
}

/// How the metadata marks its signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyUse {
    /// `use="signing"` (the default).
    #[default]
    Signing,
    /// No `use` attribute: valid for signing and encryption (IIP-MD11); SPs must still use
    /// the keys to verify signatures.
    Omitted,
}

/// [`render`], with [`Options`].
pub fn render_with(entity_id: &str, base_url: &str, keys: &KeyStore, options: Options) -> String {
    let use_attr = match options.key_use {
        KeyUse::Signing => " use=\"signing\"",
        KeyUse::Omitted => "",
    };
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<md:EntityDescriptor xmlns:md=\"{NS_MD}\" xmlns:ds=\"{NS_DS}\" entityID=\"{}\">\n",
        escape_attr(entity_id)
    ));
    out.push_str(&format!(
        "  <md:IDPSSODescriptor WantAuthnRequestsSigned=\"{}\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n",
        options.want_authn_requests_signed
    ));
    let weak = options
        .weak_key
        .then(|| keys.get(crate::keys::KeyChoice::AttackerRsa1024).ok())
        .flatten();
    for key in keys.published().into_iter().chain(weak) {
        out.push_str(&format!(
            "    <md:KeyDescriptor{use_attr}>\n      <ds:KeyInfo>\n        <ds:X509Data>\n          <ds:X509Certificate>{}</ds:X509Certificate>\n        </ds:X509Data>\n      </ds:KeyInfo>\n    </md:KeyDescriptor>\n",
            key.cert_base64()
        ));
    }
    let base = base_url.trim_end_matches('/');
    for binding in [REDIRECT, POST] {
        out.push_str(&format!(
            "    <md:SingleLogoutService Binding=\"{binding}\" Location=\"{}/slo\"/>\n",
            escape_attr(base)
        ));
    }
    for format in [
        NAMEID_EMAIL,
        NAMEID_PERSISTENT,
        NAMEID_TRANSIENT,
        NAMEID_UNSPECIFIED,
    ] {
        out.push_str(&format!(
            "    <md:NameIDFormat>{format}</md:NameIDFormat>\n"
        ));
    }
    for binding in [REDIRECT, POST] {
        out.push_str(&format!(
            "    <md:SingleSignOnService Binding=\"{binding}\" Location=\"{}/sso\"/>\n",
            escape_attr(base)
        ));
    }
    out.push_str("  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n");
    out
}
