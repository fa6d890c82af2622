//! The tenant's SSO connection to its IdP: from metadata XML or from the three fields.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// A configured IdP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The IdP's entityID (the expected Issuer).
    pub entity_id: String,
    /// Where AuthnRequests go (HTTP-Redirect).
    pub sso_url: String,
    /// The signing certificates (DER), every one of which is trusted (key rollover).
    #[serde(with = "der_list")]
    pub certificates: Vec<Vec<u8>>,
    /// Certificates the IdP published that are not trusted, and why (keys too weak to sign
    /// with: RSA under 2048 bits, EC under 256, saml2int SDP-MD06).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// Those certificates (DER), kept for the `key-size` weakening only.
    #[serde(with = "der_list", default, skip_serializing_if = "Vec::is_empty")]
    pub weak_certificates: Vec<Vec<u8>>,
    /// The IdP's HTTP-Redirect `SingleLogoutService`, if it has one: where this SP's
    /// LogoutRequests and LogoutResponses go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_url: Option<String>,
}

mod der_list {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
        )
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        items
            .iter()
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// Why a connection cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to configure the IdP connection: {0}")]
pub struct ConnectionError(pub String);

impl Connection {
    /// From an IdP EntityDescriptor: its entityID, its HTTP-Redirect SSO location, and every
    /// KeyDescriptor for signing (or without `use`). A connection without a signing key is a
    /// configuration error, never "skip verification".
    pub fn from_metadata(xml: &str) -> Result<Self, ConnectionError> {
        let fail = |m: &str| ConnectionError(m.to_owned());
        if xml.contains("<!DOCTYPE") {
            return Err(fail("the metadata contains a DOCTYPE"));
        }
        let doc = roxmltree::Document::parse(xml)
            .map_err(|e| ConnectionError(format!("the metadata is not XML: {e}")))?;
        let entity = doc
            .descendants()
            .find(|n| n.has_tag_name((MD_NS, "EntityDescriptor")))
            .ok_or_else(|| fail("no EntityDescriptor in the metadata"))?;
        let entity_id = entity
            .attribute("entityID")
            .ok_or_else(|| fail("the EntityDescriptor has no entityID"))?
            .to_owned();
        let idp = entity
            .children()
            .find(|n| n.has_tag_name((MD_NS, "IDPSSODescriptor")))
            .ok_or_else(|| fail("no IDPSSODescriptor in the metadata"))?;
        let sso_url = idp
            .children()
            .filter(|n| n.has_tag_name((MD_NS, "SingleSignOnService")))
            .find(|n| n.attribute("Binding") == Some(REDIRECT))
            .and_then(|n| n.attribute("Location"))
            .ok_or_else(|| fail("no HTTP-Redirect SingleSignOnService in the metadata"))?
            .to_owned();
        let keys: Vec<_> = idp
            .children()
            .filter(|n| n.has_tag_name((MD_NS, "KeyDescriptor")))
            .collect();
        let mut signing: Vec<_> = keys
            .iter()
            .filter(|k| k.attribute("use") == Some("signing"))
            .collect();
        if signing.is_empty() {
            signing = keys
                .iter()
                .filter(|k| k.attribute("use").is_none_or(str::is_empty))
                .collect();
        }
        let mut certificates = Vec::new();
        for key in signing {
            for cert in key
                .descendants()
                .filter(|n| n.has_tag_name((DS_NS, "X509Certificate")))
            {
                let text: String = cert
                    .text()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| {
                        ConnectionError(format!("a signing certificate is not base64: {e}"))
                    })?;
                certificates.push(der);
            }
        }
        let slo_url = idp
            .children()
            .filter(|n| n.has_tag_name((MD_NS, "SingleLogoutService")))
            .find(|n| n.attribute("Binding") == Some(REDIRECT))
            .and_then(|n| n.attribute("Location"))
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .map(str::to_owned);
        let mut connection = Self::new(entity_id, sso_url, certificates)?;
        connection.slo_url = slo_url;
        Ok(connection)
    }

    /// From the three fields an admin pastes.
    pub fn from_fields(
        entity_id: &str,
        sso_url: &str,
        certificate_pem: &str,
    ) -> Result<Self, ConnectionError> {
        let cert = openssl::x509::X509::from_pem(certificate_pem.as_bytes())
            .map_err(|e| ConnectionError(format!("the certificate is not PEM: {e}")))?;
        let der = cert
            .to_der()
            .map_err(|e| ConnectionError(format!("the certificate cannot be encoded: {e}")))?;
        Self::new(entity_id.to_owned(), sso_url.to_owned(), vec![der])
    }

    fn new(
        entity_id: String,
        sso_url: String,
        certificates: Vec<Vec<u8>>,
    ) -> Result<Self, ConnectionError> {
        if certificates.is_empty() {
            return Err(ConnectionError(
                "the IdP has no signing certificate; refusing a connection that could not verify signatures".to_owned(),
            ));
        }
        let mut trusted = Vec::with_capacity(certificates.len());
        let mut ignored = Vec::new();
        let mut weak = Vec::new();
        for der in certificates {
            let cert = openssl::x509::X509::from_der(&der)
                .map_err(|e| ConnectionError(format!("a signing certificate is invalid: {e}")))?;
            match too_weak(&cert) {
                Some(why) => {
                    tracing::warn!(certificate = %fingerprint(&der), "ignoring an IdP signing certificate: {why}");
                    ignored.push(format!("{}: {why}", fingerprint(&der)));
                    weak.push(der);
                }
                None => trusted.push(der),
            }
        }
        if trusted.is_empty() {
            return Err(ConnectionError(format!(
                "no usable signing certificate: {}",
                ignored.join("; ")
            )));
        }
        if entity_id.trim().is_empty()
            || !(sso_url.starts_with("http://") || sso_url.starts_with("https://"))
        {
            return Err(ConnectionError(
                "the IdP needs an entityID and an http(s) SSO URL".to_owned(),
            ));
        }
        Ok(Self {
            entity_id,
            sso_url,
            certificates: trusted,
            ignored,
            weak_certificates: weak,
            slo_url: None,
        })
    }
}

/// Why a certificate's key is too weak to verify signatures with, if it is: RSA under 2048
/// bits or EC under 256 (saml2int SDP-MD06/MD07).
fn too_weak(cert: &openssl::x509::X509) -> Option<String> {
    let key = cert.public_key().ok()?;
    let bits = key.bits();
    match key.id() {
        openssl::pkey::Id::RSA if bits < 2048 => Some(format!(
            "an RSA key of {bits} bits (at least 2048 are required, saml2int SDP-MD06)"
        )),
        openssl::pkey::Id::EC if bits < 256 => Some(format!(
            "an EC key of {bits} bits (at least 256 are required, saml2int SDP-MD07)"
        )),
        _ => None,
    }
}

/// The certificate's SHA-256 fingerprint, as IdP admin consoles show it.
fn fingerprint(der: &[u8]) -> String {
    openssl::sha::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use mock_idp::keys::{KeyChoice, KeyStore, KeyType};
    use mock_idp::metadata::{Options, render_with};

    use super::*;

    #[test]
    fn keys_under_2048_bits_are_ignored_and_named_and_alone_they_are_refused() {
        let keys = KeyStore::generate(KeyType::Rsa2048).expect("keys");
        let options = Options {
            weak_key: true,
            ..Options::default()
        };
        let xml = render_with("https://idp.test", "http://127.0.0.1:9", &keys, options);
        let connection = Connection::from_metadata(&xml).expect("two usable keys remain");
        assert_eq!(connection.certificates.len(), 2);
        assert_eq!(connection.ignored.len(), 1, "{:?}", connection.ignored);
        assert!(
            connection.ignored[0].contains("RSA key of 1024 bits"),
            "{:?}",
            connection.ignored
        );

        let weak = keys.get(KeyChoice::AttackerRsa1024).expect("weak key");
        let err = Connection::from_fields(
            "https://idp.test",
            "http://127.0.0.1:9/sso",
            &weak.cert_pem(),
        )
        .expect_err("a lone weak key is no connection");
        assert!(
            err.to_string().contains("no usable signing certificate"),
            "{err}"
        );
    }
}
