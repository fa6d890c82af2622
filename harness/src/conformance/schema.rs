//! Validation against the SAML 2.0 XML schemas, with libxml2 (the library samael already
//! brings). The schemas (`harness/schemas/`, OASIS and W3C copies) are compiled into the binary
//! and written once per content to a cache folder, every `schemaLocation` pointing at the local
//! copy: validation never touches the network, and the document is parsed with network access
//! off and without recovery.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};

/// Which schema a document is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `saml-schema-metadata-2.0.xsd`.
    Metadata,
    /// `saml-schema-protocol-2.0.xsd`.
    Protocol,
}

impl Schema {
    fn file(self) -> &'static str {
        match self {
            Schema::Metadata => "saml-schema-metadata-2.0.xsd",
            Schema::Protocol => "saml-schema-protocol-2.0.xsd",
        }
    }
}

const FILES: &[(&str, &str)] = &[
    (
        "saml-schema-metadata-2.0.xsd",
        include_str!("../../schemas/saml-schema-metadata-2.0.xsd"),
    ),
    (
        "saml-schema-protocol-2.0.xsd",
        include_str!("../../schemas/saml-schema-protocol-2.0.xsd"),
    ),
    (
        "saml-schema-assertion-2.0.xsd",
        include_str!("../../schemas/saml-schema-assertion-2.0.xsd"),
    ),
    (
        "xmldsig-core-schema.xsd",
        include_str!("../../schemas/xmldsig-core-schema.xsd"),
    ),
    (
        "xenc-schema.xsd",
        include_str!("../../schemas/xenc-schema.xsd"),
    ),
    ("xml.xsd", include_str!("../../schemas/xml.xsd")),
];

/// Remote `schemaLocation`s in the copies, and the local file each stands for.
const LOCAL: &[(&str, &str)] = &[
    (
        "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
        "xmldsig-core-schema.xsd",
    ),
    (
        "http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd",
        "xenc-schema.xsd",
    ),
    ("http://www.w3.org/2001/xml.xsd", "xml.xsd"),
];

/// The files as written to disk: every remote `schemaLocation` made local.
fn local_files() -> Vec<(&'static str, String)> {
    FILES
        .iter()
        .map(|(name, text)| {
            let mut text = (*text).to_owned();
            for (remote, local) in LOCAL {
                text = text.replace(
                    &format!("schemaLocation=\"{remote}\""),
                    &format!("schemaLocation=\"{local}\""),
                );
            }
            (*name, text)
        })
        .collect()
}

/// The folder holding the schemas: `$XDG_CACHE_HOME/saml-harness/xsd-HASH` (or under
/// `~/.cache`, else the temporary folder), written once per content.
fn folder() -> Result<&'static Path, String> {
    static FOLDER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOLDER
        .get_or_init(|| {
            let files = local_files();
            let mut all = Vec::new();
            for (name, text) in &files {
                all.extend_from_slice(name.as_bytes());
                all.extend_from_slice(text.as_bytes());
            }
            let hash = openssl::sha::sha256(&all);
            let tag: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            let dir = base.join("saml-harness").join(format!("xsd-{tag}"));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
            for (name, text) in &files {
                let path = dir.join(name);
                if std::fs::read_to_string(&path).is_ok_and(|t| t == *text) {
                    continue;
                }
                let tmp = dir.join(format!(".{name}.{}", std::process::id()));
                std::fs::write(&tmp, text)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
            }
            Ok(dir)
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// Validates `xml` against `schema`: `Ok(Ok(()))` valid, `Ok(Err(errors))` invalid with
/// libxml2's messages (`line N: ...`, at most ten), `Err` when validation could not run.
pub fn validate(xml: &str, schema: Schema) -> Result<Result<(), Vec<String>>, String> {
    // libxml2's schema code is not documented as thread-safe: one validation at a time.
    static LOCK: Mutex<()> = Mutex::new(());
    let dir = folder()?;
    let path = dir.join(schema.file());
    let path = path
        .to_str()
        .ok_or_else(|| format!("the schema folder {} is not UTF-8", dir.display()))?;
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let options = ParserOptions {
        recover: false,
        no_net: true,
        ..ParserOptions::default()
    };
    let doc = match Parser::default().parse_string_with_options(xml, options) {
        Ok(doc) => doc,
        Err(e) => return Ok(Err(vec![format!("not well-formed XML: {e:?}")])),
    };
    // The entity loader reads nothing (hardening::xml_io) but the schema folder's own files.
    hardening::xml_io::allow_files_under(dir, || {
        let mut parser = SchemaParserContext::from_file(path);
        let mut context = SchemaValidationContext::from_parser(&mut parser).map_err(|errors| {
            format!(
                "failed to compile {}: {}",
                schema.file(),
                messages(&errors).join("; ")
            )
        })?;
        Ok(context
            .validate_document(&doc)
            .map_err(|errors| messages(&errors)))
    })
}

fn messages(errors: &[libxml::error::StructuredError]) -> Vec<String> {
    let mut out: Vec<String> = errors
        .iter()
        .take(10)
        .map(|e| {
            let message = e
                .message
                .as_deref()
                .unwrap_or("(no message)")
                .trim()
                .to_owned();
            match e.line {
                Some(line) if line > 0 => format!("line {line}: {message}"),
                _ => message,
            }
        })
        .collect();
    if errors.len() > 10 {
        out.push(format!("and {} more", errors.len() - 10));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_schema_location_is_left_remote() {
        for (name, text) in local_files() {
            for location in text.split("schemaLocation=").skip(1) {
                let value = location.trim_start_matches(['"', '\'']);
                assert!(
                    !value.starts_with("http"),
                    "{name} still imports {}",
                    &value[..value.len().min(80)]
                );
            }
        }
    }

    #[test]
    fn a_valid_request_passes_and_an_invalid_one_names_the_element() {
        hardening::xml_io::forbid_external_loads();
        let valid = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>https://sp.test</saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/></samlp:AuthnRequest>"#;
        assert_eq!(validate(valid, Schema::Protocol).expect("runs"), Ok(()));
        let misordered = valid.replace(
            "<saml:Issuer>https://sp.test</saml:Issuer><samlp:NameIDPolicy AllowCreate=\"true\"/>",
            "<samlp:NameIDPolicy AllowCreate=\"true\"/><saml:Issuer>https://sp.test</saml:Issuer>",
        );
        let errors = validate(&misordered, Schema::Protocol)
            .expect("runs")
            .expect_err("invalid");
        assert!(errors.iter().any(|e| e.contains("Issuer")), "{errors:?}");
        let no_version = valid.replace(" Version=\"2.0\"", "");
        assert!(
            validate(&no_version, Schema::Protocol)
                .expect("runs")
                .is_err()
        );
    }

    #[test]
    fn metadata_is_validated_with_its_signature_and_encryption_imports() {
        // As in every binary: libxml2 loads nothing a document names, the schemas' own
        // imports excepted.
        hardening::xml_io::forbid_external_loads();
        let md = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.test/md"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo><md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/></md:KeyDescriptor><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#;
        assert_eq!(validate(md, Schema::Metadata).expect("runs"), Ok(()));
        let no_index = md.replace(" index=\"0\"", "");
        let errors = validate(&no_index, Schema::Metadata)
            .expect("runs")
            .expect_err("index is required");
        assert!(errors.iter().any(|e| e.contains("index")), "{errors:?}");
        let bad_use = md.replace("use=\"encryption\"", "use=\"both\"");
        assert!(validate(&bad_use, Schema::Metadata).expect("runs").is_err());
    }
}
