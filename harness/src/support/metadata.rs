//! What diagnose knows about the two parties: the SP's metadata (entityID, ACS URLs, NameID
//! formats, requested attributes) and the IdP's (entityID, signing certificates), or an IdP
//! certificate alone. Read from a file, or fetched from a URL the user gave (the only network
//! access of diagnose; signature verification never fetches anything).

use serde::Serialize;

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Failed to read metadata or a certificate (bad input: exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read {source_name}: {message}")]
pub struct MetadataError {
    /// The file or URL.
    pub source_name: String,
    /// What was wrong.
    pub message: String,
}

/// The SP, as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SpFacts {
    /// The entityID (the Audience the SP expects).
    pub entity_id: String,
    /// HTTP-POST ACS URLs, the default first.
    pub acs_urls: Vec<String>,
    /// `NameIDFormat` values the SP lists.
    pub name_id_formats: Vec<String>,
    /// `RequestedAttribute` names (with FriendlyName when given).
    pub requested_attributes: Vec<(String, Option<String>)>,
    /// `WantAssertionsSigned="true"`.
    pub want_assertions_signed: bool,
}

/// The IdP, as its metadata (or a bare certificate) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct IdpFacts {
    /// The entityID (the expected Issuer), when metadata was given.
    pub entity_id: Option<String>,
    /// The signing certificates.
    pub certificates: Vec<CertInfo>,
}

/// A certificate, with what people compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// DER bytes.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// SHA-256 fingerprint, upper-case hex with colons.
    pub sha256: String,
    /// SHA-1 fingerprint (the "thumbprint" Entra and ADFS show).
    pub sha1: String,
    /// The subject, one line.
    pub subject: String,
    /// Valid from, as openssl prints it.
    pub not_before: String,
    /// Valid until, as openssl prints it.
    pub not_after: String,
}

impl CertInfo {
    /// Reads a DER certificate; `None` when it is not one.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let cert = openssl::x509::X509::from_der(der).ok()?;
        let hex = |d: &[u8]| {
            d.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let sha256 = cert.digest(openssl::hash::MessageDigest::sha256()).ok()?;
        let sha1 = cert.digest(openssl::hash::MessageDigest::sha1()).ok()?;
        let subject = cert
            .subject_name()
            .entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(Self {
            der: der.to_vec(),
            sha256: hex(&sha256),
            sha1: hex(&sha1),
            subject,
            not_before: cert.not_before().to_string(),
            not_after: cert.not_after().to_string(),
        })
    }

    /// `SHA-256 AB:CD:… (CN=…, valid until …)`.
    pub fn describe(&self) -> String {
        format!(
            "SHA-256 {} (SHA-1 thumbprint {}; {}; valid until {})",
            self.sha256,
            self.sha1.replace(':', ""),
            self.subject,
            self.not_after
        )
    }
}

/// The most a metadata document or certificate diagnose reads may weigh.
pub const MAX_METADATA_BYTES: usize = 16 << 20;

/// Reads a regular file, or fetches a URL the user named: at most [`MAX_METADATA_BYTES`],
/// bounded while it is read (a FIFO or a device is refused unopened; a download is cut off),
/// a download within 10 s.
pub async fn load_text(location: &str) -> Result<String, MetadataError> {
    let fail = |e: hardening::limited::LimitedError| MetadataError {
        source_name: location.to_owned(),
        message: e.kind.to_string(),
    };
    if location.starts_with("http://") || location.starts_with("https://") {
        return hardening::limited::fetch_text(
            location,
            MAX_METADATA_BYTES,
            std::time::Duration::from_secs(10),
        )
        .await
        .map_err(fail);
    }
    hardening::limited::read_file_to_string(std::path::Path::new(location), MAX_METADATA_BYTES)
        .map_err(fail)
}

/// The first `SPSSODescriptor` of an `EntityDescriptor` (or of one inside an
/// `EntitiesDescriptor`).
pub fn sp_from_metadata(source_name: &str, xml: &str) -> Result<SpFacts, MetadataError> {
    let fail = |message: &str| MetadataError {
        source_name: source_name.to_owned(),
        message: message.to_owned(),
    };
    let doc = parse(source_name, xml)?;
    let sp = doc
        .descendants()
        .find(|n| n.has_tag_name((MD, "SPSSODescriptor")))
        .ok_or_else(|| fail("it has no SPSSODescriptor: is this the IdP's metadata? Pass that with --idp-metadata"))?;
    let entity_id = sp
        .ancestors()
        .find(|n| n.has_tag_name((MD, "EntityDescriptor")))
        .and_then(|e| e.attribute("entityID"))
        .ok_or_else(|| fail("its EntityDescriptor has no entityID"))?
        .to_owned();
    let mut acs: Vec<(bool, String)> = sp
        .children()
        .filter(|n| n.has_tag_name((MD, "AssertionConsumerService")))
        .filter(|n| n.attribute("Binding").is_none_or(|b| b == POST))
        .filter_map(|n| {
            Some((
                n.attribute("isDefault") == Some("true"),
                n.attribute("Location")?.to_owned(),
            ))
        })
        .collect();
    acs.sort_by_key(|(default, _)| !*default);
    let child_text = |name: &'static str| {
        sp.children()
            .filter(move |n| n.has_tag_name((MD, name)))
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
    };
    Ok(SpFacts {
        entity_id,
        acs_urls: acs.into_iter().map(|(_, url)| url).collect(),
        name_id_formats: child_text("NameIDFormat").collect(),
        requested_attributes: sp
            .descendants()
            .filter(|n| n.has_tag_name((MD, "RequestedAttribute")))
            .filter_map(|n| {
                Some((
                    n.attribute("Name")?.to_owned(),
                    n.attribute("FriendlyName").map(str::to_owned),
                ))
            })
            .collect(),
        want_assertions_signed: sp.attribute("WantAssertionsSigned") == Some("true"),
    })
}

/// The IdP's entityID and signing certificates, chosen exactly as the reference SP chooses
/// them (`use="signing"`, or the keys without `use` when none is marked so).
pub fn idp_from_metadata(source_name: &str, xml: &str) -> Result<IdpFacts, MetadataError> {
    let fail = |message: String| MetadataError {
        source_name: source_name.to_owned(),
        message,
    };
    parse(source_name, xml)?;
    let connection = reference_sp::Connection::from_metadata(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| {
            fail(match e.0.as_str() {
                "no IDPSSODescriptor in the metadata" => {
                    "it has no IDPSSODescriptor: is this the SP's metadata? Pass that with --sp-metadata".to_owned()
                }
                other => other.to_owned(),
            })
        })?;
    let certificates = connection
        .certificates
        .iter()
        .map(|der| {
            CertInfo::from_der(der)
                .ok_or_else(|| fail("a signing certificate is not X.509".to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IdpFacts {
        entity_id: Some(connection.entity_id),
        certificates,
    })
}

/// A PEM (or DER) certificate file, as the IdP's only signing certificate.
pub fn idp_from_certificate(source_name: &str, bytes: &[u8]) -> Result<IdpFacts, MetadataError> {
    let cert = openssl::x509::X509::from_pem(bytes)
        .or_else(|_| openssl::x509::X509::from_der(bytes))
        .and_then(|c| c.to_der())
        .map_err(|_| MetadataError {
            source_name: source_name.to_owned(),
            message: "it is neither a PEM nor a DER X.509 certificate".to_owned(),
        })?;
    let info = CertInfo::from_der(&cert).ok_or_else(|| MetadataError {
        source_name: source_name.to_owned(),
        message: "the certificate cannot be read".to_owned(),
    })?;
    Ok(IdpFacts {
        entity_id: None,
        certificates: vec![info],
    })
}

fn parse<'x>(source_name: &str, xml: &'x str) -> Result<roxmltree::Document<'x>, MetadataError> {
    if xml.to_ascii_uppercase().contains("<!DOCTYPE") {
        return Err(MetadataError {
            source_name: source_name.to_owned(),
            message: "it carries a DOCTYPE; metadata never needs one".to_owned(),
        });
    }
    roxmltree::Document::parse(xml.trim_start_matches('\u{feff}')).map_err(|e| MetadataError {
        source_name: source_name.to_owned(),
        message: format!("it is not well-formed XML: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixtures;

    #[tokio::test]
    async fn metadata_comes_from_a_file_or_a_url_the_user_names() {
        let xml = fixtures::sp_metadata_xml(mock_idp::flavour::NAMEID_EMAIL, Some("email"));
        let served = xml.clone();
        let app = axum::Router::new().route(
            "/saml/metadata",
            axum::routing::get(move || {
                let body = served.clone();
                async move { body }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://{addr}/saml/metadata");
        let text = load_text(&url).await.expect("fetched");
        let sp = sp_from_metadata(&url, &text).expect("sp");
        assert_eq!(sp.entity_id, fixtures::SP);
        assert_eq!(sp.acs_urls, vec![fixtures::ACS.to_owned()]);
        assert_eq!(sp.requested_attributes[0].0, "email");
        let missing = load_text(&format!("http://{addr}/nope"))
            .await
            .expect_err("404");
        assert!(missing.message.contains("404"), "{missing}");
        server.abort();

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("idp.xml");
        std::fs::write(&path, fixtures::idp_metadata_xml()).expect("write");
        let location = path.display().to_string();
        let idp =
            idp_from_metadata(&location, &load_text(&location).await.expect("read")).expect("idp");
        assert_eq!(idp.entity_id.as_deref(), Some(fixtures::IDP));
        assert_eq!(idp.certificates.len(), 2);
        let err = idp_from_metadata("sp.xml", &xml).expect_err("an SP's metadata");
        assert!(err.message.contains("--sp-metadata"), "{err}");
        let err = sp_from_metadata("idp.xml", &fixtures::idp_metadata_xml()).expect_err("idp");
        assert!(err.message.contains("--idp-metadata"), "{err}");
    }
}
