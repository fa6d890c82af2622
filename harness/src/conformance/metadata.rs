//! The SP's metadata, read into owned values: the entityID, the AssertionConsumerServices as
//! written (binding, location, index, isDefault), the KeyDescriptors with their certificates
//! and keys, the flags, the NameIDFormats, validUntil and cacheDuration, whether it is signed.
//! Attribute values are kept as written: the checks judge them.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use roxmltree::Node;

use crate::support::metadata::CertInfo;

pub(crate) const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub(crate) const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A metadata document as fetched or given, and what could be read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataDoc {
    /// The text, exactly as received.
    pub xml: String,
    /// Where it came from (`GET http://127.0.0.1:8280/saml/metadata`, a file name).
    pub source: String,
    /// What it says, or why it cannot be read.
    pub read: Result<SpMetadata, String>,
}

impl MetadataDoc {
    /// Reads `xml` from `source`.
    pub fn new(source: &str, xml: String) -> Self {
        let read = SpMetadata::parse(&xml);
        Self {
            xml,
            source: source.to_owned(),
            read,
        }
    }
}

/// What an SP's metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// `EntityDescriptor/@entityID`.
    pub entity_id: Option<String>,
    /// `EntityDescriptor/@ID`.
    pub id: Option<String>,
    /// `validUntil` values: (which element, value).
    pub valid_until: Vec<(&'static str, String)>,
    /// `cacheDuration` values: (which element, value).
    pub cache_duration: Vec<(&'static str, String)>,
    /// `SPSSODescriptor/@AuthnRequestsSigned` as written.
    pub authn_requests_signed: Option<String>,
    /// `SPSSODescriptor/@WantAssertionsSigned` as written.
    pub want_assertions_signed: Option<String>,
    /// The AssertionConsumerService elements, in order.
    pub acs: Vec<Endpoint>,
    /// The SingleLogoutService elements, in order.
    pub slo: Vec<Endpoint>,
    /// The KeyDescriptors of the SPSSODescriptor, in order.
    pub keys: Vec<KeyDescriptor>,
    /// `NameIDFormat` values.
    pub name_id_formats: Vec<String>,
    /// Whether the EntityDescriptor carries a `ds:Signature` of its own.
    pub signed: bool,
}

/// An endpoint as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `Binding`.
    pub binding: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// `index` (indexed endpoints only).
    pub index: Option<String>,
    /// `isDefault`.
    pub is_default: Option<String>,
}

impl Endpoint {
    /// `isDefault="true"` (or `1`, its other xs:boolean spelling).
    pub fn marked_default(&self) -> bool {
        matches!(
            self.is_default.as_deref().map(str::trim),
            Some("true" | "1")
        )
    }

    /// For people: `HTTP-POST http://... (index 0, default)`.
    pub fn describe(&self) -> String {
        let binding = self
            .binding
            .as_deref()
            .map_or("(no Binding)", |b| b.rsplit(':').next().unwrap_or(b));
        let mut text = format!(
            "{binding} {}",
            self.location.as_deref().unwrap_or("(no Location)")
        );
        match (&self.index, self.marked_default()) {
            (Some(i), true) => text.push_str(&format!(" (index {i}, default)")),
            (Some(i), false) => text.push_str(&format!(" (index {i})")),
            (None, true) => text.push_str(" (no index, default)"),
            (None, false) => text.push_str(" (no index)"),
        }
        text
    }
}

/// A KeyDescriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescriptor {
    /// `use` as written (absent: signing and encryption, SAML Metadata §2.4.1.1).
    pub use_: Option<String>,
    /// The `ds:X509Certificate`s in its KeyInfo.
    pub certificates: Vec<Certificate>,
}

impl KeyDescriptor {
    /// Whether it may be used for signing (`use="signing"` or no `use`).
    pub fn for_signing(&self) -> bool {
        matches!(self.use_.as_deref(), None | Some("signing"))
    }

    /// Whether it may be used for encryption (`use="encryption"` or no `use`).
    pub fn for_encryption(&self) -> bool {
        matches!(self.use_.as_deref(), None | Some("encryption"))
    }

    /// `use="signing"`, or `no use`.
    pub fn use_words(&self) -> String {
        self.use_
            .as_deref()
            .map_or_else(|| "no use".to_owned(), |u| format!("use=\"{u}\""))
    }
}

/// A certificate as published, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate, or why it cannot be read.
    pub read: Result<CertKey, String>,
}

/// A readable certificate's key and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    /// Fingerprints and subject.
    pub info: CertInfo,
    /// The key's algorithm and size.
    pub key: KeyKind,
    /// The public key (DER SubjectPublicKeyInfo), to tell keys apart.
    pub public_der: Vec<u8>,
    /// notBefore.
    pub not_before: Option<DateTime<Utc>>,
    /// notAfter.
    pub not_after: Option<DateTime<Utc>>,
}

/// A key's algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, modulus bits.
    Rsa(u32),
    /// EC, curve bits.
    Ec(u32),
    /// Another algorithm (its name), bits.
    Other(String, u32),
}

impl KeyKind {
    /// `RSA-2048`, `EC-256`.
    pub fn words(&self) -> String {
        match self {
            KeyKind::Rsa(bits) => format!("RSA-{bits}"),
            KeyKind::Ec(bits) => format!("EC-{bits}"),
            KeyKind::Other(name, bits) => format!("{name}-{bits}"),
        }
    }
}

impl CertKey {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        use openssl::pkey::Id;
        let cert = openssl::x509::X509::from_der(der)
            .map_err(|e| format!("not an X.509 certificate: {}", first_reason(&e)))?;
        let info = CertInfo::from_der(der)
            .ok_or_else(|| "an X.509 certificate whose fields cannot be read".to_owned())?;
        let pkey = cert
            .public_key()
            .map_err(|e| format!("its public key cannot be read: {}", first_reason(&e)))?;
        let key = match pkey.id() {
            Id::RSA => KeyKind::Rsa(pkey.bits()),
            Id::EC => KeyKind::Ec(pkey.bits()),
            Id::DSA => KeyKind::Other("DSA".to_owned(), pkey.bits()),
            Id::ED25519 => KeyKind::Other("Ed25519".to_owned(), pkey.bits()),
            other => KeyKind::Other(format!("key type {}", other.as_raw()), pkey.bits()),
        };
        let public_der = pkey
            .public_key_to_der()
            .map_err(|e| format!("its public key cannot be encoded: {}", first_reason(&e)))?;
        Ok(Self {
            info,
            key,
            public_der,
            not_before: asn1_instant(cert.not_before()),
            not_after: asn1_instant(cert.not_after()),
        })
    }

    /// `RSA-2048 CN=... (SHA-256 AB:CD...)`, without dates (reports must not change daily).
    pub fn describe(&self) -> String {
        format!(
            "{} certificate {} (SHA-1 thumbprint {})",
            self.key.words(),
            self.info.subject,
            self.info.sha1.replace(':', "")
        )
    }
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(openssl::error::Error::reason)
        .map_or_else(|| e.to_string(), str::to_owned)
}

/// An ASN.1 time as a UTC instant.
fn asn1_instant(t: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(t).ok()?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    DateTime::from_timestamp(seconds, 0)
}

impl SpMetadata {
    /// Reads an `EntityDescriptor` with an `SPSSODescriptor` (or the first such inside an
    /// `EntitiesDescriptor`); `Err` says why it cannot be read.
    pub fn parse(xml: &str) -> Result<Self, String> {
        let text = xml.trim_start_matches('\u{feff}');
        if mock_idp::xml::has_doctype(text) {
            return Err("it carries a DOCTYPE; metadata never needs one".to_owned());
        }
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| format!("it is not well-formed XML: {e}"))?;
        let sp = doc
            .descendants()
            .find(|n| n.has_tag_name((MD, "SPSSODescriptor")))
            .ok_or_else(|| match doc.root_element().tag_name().name() {
                "EntityDescriptor" | "EntitiesDescriptor" => {
                    "it has no SPSSODescriptor (is it an IdP's metadata?)".to_owned()
                }
                other => format!("it is not SAML metadata (the root element is <{other}>)"),
            })?;
        let entity = sp
            .ancestors()
            .find(|n| n.has_tag_name((MD, "EntityDescriptor")))
            .ok_or("its SPSSODescriptor is not inside an EntityDescriptor")?;
        let mut valid_until = Vec::new();
        let mut cache_duration = Vec::new();
        for (node, name) in [(entity, "EntityDescriptor"), (sp, "SPSSODescriptor")] {
            if let Some(v) = node.attribute("validUntil") {
                valid_until.push((name, v.to_owned()));
            }
            if let Some(v) = node.attribute("cacheDuration") {
                cache_duration.push((name, v.to_owned()));
            }
        }
        let endpoints = |name: &str| {
            sp.children()
                .filter(|n| n.has_tag_name((MD, name)))
                .map(endpoint)
                .collect::<Vec<_>>()
        };
        let keys = sp
            .children()
            .filter(|n| n.has_tag_name((MD, "KeyDescriptor")))
            .map(|k| KeyDescriptor {
                use_: k.attribute("use").map(str::to_owned),
                certificates: k
                    .descendants()
                    .filter(|n| n.has_tag_name((DS, "X509Certificate")))
                    .map(certificate)
                    .collect(),
            })
            .collect();
        Ok(Self {
            entity_id: entity.attribute("entityID").map(str::to_owned),
            id: entity.attribute("ID").map(str::to_owned),
            valid_until,
            cache_duration,
            authn_requests_signed: sp.attribute("AuthnRequestsSigned").map(str::to_owned),
            want_assertions_signed: sp.attribute("WantAssertionsSigned").map(str::to_owned),
            acs: endpoints("AssertionConsumerService"),
            slo: endpoints("SingleLogoutService"),
            keys,
            name_id_formats: sp
                .children()
                .filter(|n| n.has_tag_name((MD, "NameIDFormat")))
                .map(|n| n.text().unwrap_or_default().trim().to_owned())
                .collect(),
            signed: entity.children().any(|n| n.has_tag_name((DS, "Signature"))),
        })
    }

    /// Every readable certificate that may be used for signing.
    pub fn signing_certificates(&self) -> Vec<&CertKey> {
        self.keys
            .iter()
            .filter(|k| k.for_signing())
            .flat_map(|k| k.certificates.iter())
            .filter_map(|c| c.read.as_ref().ok())
            .collect()
    }

    /// `AuthnRequestsSigned="true"`.
    pub fn says_authn_requests_signed(&self) -> bool {
        is_true(self.authn_requests_signed.as_deref())
    }

    /// `WantAssertionsSigned="true"`.
    pub fn says_want_assertions_signed(&self) -> bool {
        is_true(self.want_assertions_signed.as_deref())
    }
}

/// An xs:boolean that is true.
pub(crate) fn is_true(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some("true" | "1"))
}

fn endpoint(n: Node<'_, '_>) -> Endpoint {
    Endpoint {
        binding: n.attribute("Binding").map(str::to_owned),
        location: n.attribute("Location").map(str::to_owned),
        index: n.attribute("index").map(str::to_owned),
        is_default: n.attribute("isDefault").map(str::to_owned),
    }
}

fn certificate(n: Node<'_, '_>) -> Certificate {
    let text: String = n
        .text()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let read = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| format!("its text is not base64 ({e})"))
        .and_then(|der| CertKey::from_der(&der));
    Certificate { read }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cert_base64() -> String {
        let key = reference_sp::decrypt::EncryptionKey::generate("test").expect("key");
        key.cert_base64()
    }

    #[test]
    fn every_part_is_read_as_written() {
        let cert = cert_base64();
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="https://sp.test/md" ID="_m" validUntil="2030-01-01T00:00:00Z">
  <md:SPSSODescriptor AuthnRequestsSigned="1" WantAssertionsSigned="false" cacheDuration="PT1H" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{cert}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat> urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress </md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test/acs" index="1" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.test/art" index="2"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        );
        let md = SpMetadata::parse(&xml).expect("reads");
        assert_eq!(md.entity_id.as_deref(), Some("https://sp.test/md"));
        assert_eq!(
            md.valid_until,
            [("EntityDescriptor", "2030-01-01T00:00:00Z".to_owned())]
        );
        assert_eq!(md.cache_duration, [("SPSSODescriptor", "PT1H".to_owned())]);
        assert!(md.says_authn_requests_signed() && !md.says_want_assertions_signed());
        assert_eq!(md.acs.len(), 2);
        assert!(md.acs[0].marked_default());
        assert_eq!(
            md.acs[1].describe(),
            "HTTP-Artifact https://sp.test/art (index 2)"
        );
        assert_eq!(
            md.name_id_formats,
            ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
        );
        let good = md.keys[0].certificates[0]
            .read
            .as_ref()
            .expect("a certificate");
        assert_eq!(good.key, KeyKind::Rsa(2048));
        assert!(good.not_after.is_some_and(|t| t > Utc::now()));
        assert!(md.keys[0].for_signing() && md.keys[0].for_encryption());
        let bad = md.keys[1].certificates[0]
            .read
            .as_ref()
            .expect_err("not one");
        assert!(bad.contains("not an X.509 certificate"), "{bad}");
        assert_eq!(md.signing_certificates().len(), 1);
        assert!(!md.signed);
    }

    #[test]
    fn what_is_not_sp_metadata_says_what_it_is() {
        assert!(SpMetadata::parse("<x/>").expect_err("x").contains("<x>"));
        assert!(
            SpMetadata::parse(&format!(
                r#"<md:EntityDescriptor xmlns:md="{MD}" entityID="i"><md:IDPSSODescriptor/></md:EntityDescriptor>"#
            ))
            .expect_err("idp")
            .contains("IdP")
        );
        assert!(
            SpMetadata::parse("<!DOCTYPE x><x/>")
                .expect_err("dtd")
                .contains("DOCTYPE")
        );
        assert!(
            SpMetadata::parse("<x")
                .expect_err("cut")
                .contains("well-formed")
        );
    }
}
