//! The SPs the IdP knows: from SAML metadata (a file or a URL) or from an explicit entityID and
//! ACS URL. An AuthnRequest from an SP that is not here gets a 400.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::xml::{NS_DS, NS_MD, has_doctype, strict_options};

const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A service provider the IdP will answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpEntry {
    /// The SP's entityID.
    pub entity_id: String,
    /// Its assertion consumer services.
    pub acs: Vec<AcsEndpoint>,
    /// DER certificates the SP signs AuthnRequests with (`KeyDescriptor use="signing"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "der_list")]
    pub signing_certs: Vec<Vec<u8>>,
    /// DER certificates to encrypt assertions to (`KeyDescriptor use="encryption"` or without
    /// `use`); the first one is used.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "der_list")]
    pub encryption_certs: Vec<Vec<u8>>,
    /// `SPSSODescriptor/@AuthnRequestsSigned`.
    #[serde(default)]
    pub authn_requests_signed: bool,
    /// `SPSSODescriptor/@WantAssertionsSigned`.
    #[serde(default)]
    pub want_assertions_signed: bool,
    /// Its `SingleLogoutService` endpoints (empty: the SP does not do Single Logout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloEndpoint>,
}

/// One `SingleLogoutService`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloEndpoint {
    /// `@Binding`.
    pub binding: String,
    /// `@Location`: where LogoutRequests go.
    pub url: String,
    /// `@ResponseLocation`: where LogoutResponses go, when not to `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
}

/// One `AssertionConsumerService`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcsEndpoint {
    /// `@Location`.
    pub url: String,
    /// `@Binding`.
    #[serde(default = "post_binding")]
    pub binding: String,
    /// `@index`.
    #[serde(default)]
    pub index: Option<u16>,
    /// `@isDefault`.
    #[serde(default)]
    pub is_default: bool,
}

fn post_binding() -> String {
    BINDING_POST.to_owned()
}

mod der_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|der| B64.encode(der)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let list = Vec::<String>::deserialize(d)?;
        list.iter()
            .map(|b| B64.decode(b).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl SpEntry {
    /// An SP known by entityID and one HTTP-POST ACS URL.
    pub fn new(entity_id: impl Into<String>, acs_url: impl Into<String>) -> Self {
        Self {
            entity_id: entity_id.into(),
            acs: vec![AcsEndpoint {
                url: acs_url.into(),
                binding: post_binding(),
                index: Some(0),
                is_default: true,
            }],
            signing_certs: Vec::new(),
            encryption_certs: Vec::new(),
            authn_requests_signed: false,
            want_assertions_signed: false,
            slo: Vec::new(),
        }
    }

    /// The SP's `SingleLogoutService` for `binding` (a full binding URI), if it lists one.
    pub fn slo_endpoint(&self, binding: &str) -> Option<&SloEndpoint> {
        self.slo.iter().find(|e| e.binding == binding)
    }

    /// The ACS to answer when the request names none: the `isDefault` one, else the HTTP-POST
    /// one with the lowest index, else the first.
    pub fn default_acs(&self) -> Option<&str> {
        self.acs
            .iter()
            .find(|a| a.is_default)
            .or_else(|| {
                self.acs
                    .iter()
                    .filter(|a| a.binding == BINDING_POST)
                    .min_by_key(|a| a.index.unwrap_or(u16::MAX))
            })
            .or_else(|| self.acs.first())
            .map(|a| a.url.as_str())
    }

    /// The ACS URL for a request that names `url` or `index` (or neither). A URL the SP's
    /// registration does not list is refused, as real IdPs do.
    pub fn resolve_acs(&self, url: Option<&str>, index: Option<u16>) -> Result<&str, String> {
        match (url, index) {
            (Some(url), _) => self
                .acs
                .iter()
                .find(|a| a.url == url)
                .map(|a| a.url.as_str())
                .ok_or_else(|| {
                    format!(
                        "AssertionConsumerServiceURL {url} is not registered for SP {}",
                        self.entity_id
                    )
                }),
            (None, Some(index)) => self
                .acs
                .iter()
                .find(|a| a.index == Some(index))
                .map(|a| a.url.as_str())
                .ok_or_else(|| format!("SP {} has no ACS with index {index}", self.entity_id)),
            (None, None) => self
                .default_acs()
                .ok_or_else(|| format!("SP {} has no assertion consumer service", self.entity_id)),
        }
    }

    /// Reads every `SPSSODescriptor` in an `EntityDescriptor` or `EntitiesDescriptor`.
    pub fn from_metadata(xml: &str) -> Result<Vec<SpEntry>, MetadataError> {
        if has_doctype(xml) {
            return Err(MetadataError::new("the metadata carries a DOCTYPE"));
        }
        let doc = roxmltree::Document::parse_with_options(xml, strict_options())
            .map_err(|e| MetadataError::new(format!("not well-formed XML: {e}")))?;
        let mut entries = Vec::new();
        for entity in doc
            .descendants()
            .filter(|n| n.has_tag_name((NS_MD, "EntityDescriptor")))
        {
            let Some(sso) = entity
                .children()
                .find(|n| n.has_tag_name((NS_MD, "SPSSODescriptor")))
            else {
                continue;
            };
            let entity_id = entity
                .attribute("entityID")
                .ok_or_else(|| MetadataError::new("an EntityDescriptor has no entityID"))?;
            let acs = sso
                .children()
                .filter(|n| n.has_tag_name((NS_MD, "AssertionConsumerService")))
                .map(|n| {
                    Ok(AcsEndpoint {
                        url: n
                            .attribute("Location")
                            .ok_or_else(|| {
                                MetadataError::new("an AssertionConsumerService has no Location")
                            })?
                            .to_owned(),
                        binding: n.attribute("Binding").unwrap_or(BINDING_POST).to_owned(),
                        index: n.attribute("index").and_then(|i| i.parse().ok()),
                        is_default: n.attribute("isDefault") == Some("true"),
                    })
                })
                .collect::<Result<Vec<_>, MetadataError>>()?;
            if acs.is_empty() {
                return Err(MetadataError::new(format!(
                    "SP {entity_id} lists no AssertionConsumerService"
                )));
            }
            let certs = |usage: &str| -> Result<Vec<Vec<u8>>, MetadataError> {
                let mut out = Vec::new();
                for key in sso
                    .children()
                    .filter(|n| n.has_tag_name((NS_MD, "KeyDescriptor")))
                    .filter(|n| n.attribute("use").is_none_or(|u| u == usage))
                {
                    for cert in key
                        .descendants()
                        .filter(|n| n.has_tag_name((NS_DS, "X509Certificate")))
                    {
                        let text: String = cert
                            .text()
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| !c.is_whitespace())
                            .collect();
                        out.push(B64.decode(text).map_err(|e| {
                            MetadataError::new(format!(
                                "SP {entity_id}: a {usage} certificate is not base64: {e}"
                            ))
                        })?);
                    }
                }
                Ok(out)
            };
            let slo = sso
                .children()
                .filter(|n| n.has_tag_name((NS_MD, "SingleLogoutService")))
                .filter_map(|n| {
                    Some(SloEndpoint {
                        binding: n.attribute("Binding")?.to_owned(),
                        url: n.attribute("Location")?.to_owned(),
                        response_url: n.attribute("ResponseLocation").map(str::to_owned),
                    })
                })
                .collect();
            let signing_certs = certs("signing")?;
            let encryption_certs = certs("encryption")?;
            let flag = |name: &str| sso.attribute(name) == Some("true");
            entries.push(SpEntry {
                entity_id: entity_id.to_owned(),
                acs,
                signing_certs,
                encryption_certs,
                authn_requests_signed: flag("AuthnRequestsSigned"),
                want_assertions_signed: flag("WantAssertionsSigned"),
                slo,
            });
        }
        if entries.is_empty() {
            return Err(MetadataError::new("no SPSSODescriptor found"));
        }
        Ok(entries)
    }
}

/// Failed to read SP metadata.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to read SP metadata{}: {reason}", source_name.as_ref().map(|s| format!(" from {s}")).unwrap_or_default())]
pub struct MetadataError {
    source_name: Option<String>,
    reason: String,
}

impl MetadataError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            source_name: None,
            reason: reason.into(),
        }
    }

    fn with_source(mut self, source: &str) -> Self {
        self.source_name = Some(source.to_owned());
        self
    }
}

/// Where an SP's registration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpSource {
    /// A metadata document at a path or an `http(s)://` URL.
    Metadata(String),
    /// Explicit fields.
    Entry(SpEntry),
}

impl SpSource {
    /// Whether the source is a metadata URL (which may not answer yet: the SP can start after
    /// the IdP).
    pub fn is_remote(&self) -> bool {
        matches!(self, SpSource::Metadata(location) if location.starts_with("http://") || location.starts_with("https://"))
    }

    /// Reads the source: a URL fetched within 5 s and 1 MiB (cut off while it arrives), a
    /// file read at most 1 MiB and only if it is a regular file.
    pub async fn load(&self) -> Result<Vec<SpEntry>, MetadataError> {
        use hardening::limited::{FETCH_TIMEOUT, METADATA_LIMIT};
        match self {
            SpSource::Entry(entry) => Ok(vec![entry.clone()]),
            SpSource::Metadata(location) => {
                let xml = if self.is_remote() {
                    hardening::limited::fetch_text(location, METADATA_LIMIT, FETCH_TIMEOUT).await
                } else {
                    let path = Path::new(location).to_owned();
                    tokio::task::spawn_blocking(move || {
                        hardening::limited::read_file_to_string(&path, METADATA_LIMIT)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        Err(hardening::limited::LimitedError {
                            source_name: location.clone(),
                            kind: hardening::limited::LimitedErrorKind::Io(e.to_string()),
                        })
                    })
                };
                xml.map_err(|e| MetadataError::new(e.kind.to_string()))
                    .and_then(|xml| SpEntry::from_metadata(&xml))
                    .map_err(|e| e.with_source(location))
            }
        }
    }
}

/// Known SPs by entityID, plus metadata sources given at start that could not be read yet
/// (an SP may start after the IdP: they are retried), each with its last error.
#[derive(Debug, Default)]
pub struct SpRegistry {
    entries: BTreeMap<String, SpEntry>,
    pending: Vec<(SpSource, String)>,
}

impl SpRegistry {
    /// Adds or replaces an SP.
    pub fn insert(&mut self, entry: SpEntry) {
        self.entries.insert(entry.entity_id.clone(), entry);
    }

    /// The SP with this entityID.
    pub fn get(&self, entity_id: &str) -> Option<&SpEntry> {
        self.entries.get(entity_id)
    }

    /// All SPs.
    pub fn entries(&self) -> impl Iterator<Item = &SpEntry> {
        self.entries.values()
    }

    /// Remembers a source to retry later, with why it failed.
    pub fn defer(&mut self, source: SpSource, error: String) {
        self.pending.push((source, error));
    }

    /// The sources still to load (they stay listed until [`SpRegistry::loaded`]: meanwhile
    /// the IdP keeps answering 503 for SPs it does not know).
    pub fn pending(&self) -> Vec<SpSource> {
        self.pending
            .iter()
            .map(|(source, _)| source.clone())
            .collect()
    }

    /// A source that loaded: no longer pending.
    pub fn loaded(&mut self, source: &SpSource) {
        self.pending.retain(|(s, _)| s != source);
    }

    /// A source that failed again, with its new error.
    pub fn failed_again(&mut self, source: &SpSource, error: &str) {
        for (s, e) in &mut self.pending {
            if s == source {
                error.clone_into(e);
            }
        }
    }

    /// Whether sources are still to load.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Why the sources still to load are not loaded (`None`: none are).
    pub fn pending_reason(&self) -> Option<String> {
        (!self.pending.is_empty()).then(|| {
            self.pending
                .iter()
                .map(|(_, error)| error.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.test/saml">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.test/acs/redirect" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn sp_metadata_yields_entity_acs_and_flags() {
        let entries = SpEntry::from_metadata(METADATA).expect("parse");
        assert_eq!(entries.len(), 1);
        let sp = &entries[0];
        assert_eq!(sp.entity_id, "https://sp.test/saml");
        assert!(sp.want_assertions_signed);
        assert_eq!(sp.default_acs(), Some("https://sp.test/acs"));
        assert_eq!(
            sp.resolve_acs(None, Some(0)),
            Ok("https://sp.test/acs/redirect")
        );
        assert!(sp.resolve_acs(Some("https://evil.test/acs"), None).is_err());
    }

    #[test]
    fn encryption_certificates_come_from_encryption_and_unlabelled_key_descriptors() {
        let key = |usage: &str, b64: &str| {
            format!(
                "<md:KeyDescriptor{usage}><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        };
        let keys = [
            key(" use=\"signing\"", "AQ=="),
            key(" use=\"encryption\"", "Ag=="),
            key("", "Aw=="),
        ]
        .concat();
        let xml = METADATA.replace(
            "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\"",
            &format!("{keys}<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\""),
        );
        let sp = &SpEntry::from_metadata(&xml).expect("parse")[0];
        assert_eq!(sp.signing_certs, vec![vec![1], vec![3]]);
        assert_eq!(sp.encryption_certs, vec![vec![2], vec![3]]);
    }

    #[test]
    fn metadata_without_an_sp_is_refused() {
        let err = SpEntry::from_metadata("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>")
            .expect_err("no SP");
        assert!(err.to_string().contains("no SPSSODescriptor"), "{err}");
    }
}
