//! Key material: the trusted signing key, the rollover key, and attacker keys.
//!
//! The trusted and rollover keys are made with rcgen (RSA key pairs come from openssl because
//! rcgen's default `ring` backend cannot generate RSA keys) and persisted in a state folder, so an
//! SP configured once keeps trusting them across restarts. Attacker keys are made on demand and
//! live only in memory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SerialNumber};
use serde::{Deserialize, Serialize};

/// The algorithm family of the IdP's own signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// RSA with a 2048-bit modulus (the default; what real IdPs use).
    #[default]
    Rsa2048,
    /// ECDSA on the NIST P-256 curve.
    EcdsaP256,
}

impl KeyType {
    fn label(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "RSA-2048",
            KeyType::EcdsaP256 => "ECDSA P-256",
        }
    }
}

/// What kind of key a [`SigningKey`] holds; decides which signature algorithms it can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An RSA key of the given modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// An ECDSA P-256 key.
    EcP256,
}

/// A private key with its self-signed certificate.
#[derive(Clone)]
pub struct SigningKey {
    kind: KeyKind,
    private_pkcs8_der: Vec<u8>,
    cert_der: Vec<u8>,
    parsed: Parsed,
}

/// The private key as xmlsec and openssl hold it, parsed on first use and kept: parsing it
/// for every signature (and the blinding and Montgomery set-up of a fresh RSA key) cost more
/// CPU than the signature itself (docs/figures.md).
#[derive(Clone, Default)]
struct Parsed {
    /// xmlsec's, for signing templates; `None` when xmlsec could not load it (then every
    /// signature loads it again through samael, which reports why).
    xmlsec: OnceLock<Option<Arc<hardening::xmlsec_key::KeptKey>>>,
    /// openssl's, for the signatures the IdP computes itself ([`crate::dsig`]).
    openssl: OnceLock<PKey<Private>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind)
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The private key as PKCS#8 DER (what xmlsec loads).
    pub fn private_pkcs8_der(&self) -> &[u8] {
        &self.private_pkcs8_der
    }

    /// The certificate as DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate as base64 DER, the form `ds:X509Certificate` and metadata carry.
    pub fn cert_base64(&self) -> String {
        B64.encode(&self.cert_der)
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.private_pkcs8_der)
    }

    /// The private key as an openssl handle (parsed once, then shared).
    pub(crate) fn pkey(&self) -> Result<PKey<Private>, KeyError> {
        if let Some(pkey) = self.parsed.openssl.get() {
            return Ok(pkey.clone());
        }
        let pkey = PKey::private_key_from_pkcs8(&self.private_pkcs8_der)
            .map_err(|e| KeyError::new(KeyErrorKind::Crypto(e.to_string())))?;
        Ok(self.parsed.openssl.get_or_init(|| pkey).clone())
    }

    /// The private key as xmlsec holds it (loaded once, then shared), or `None` when xmlsec
    /// cannot load it.
    pub(crate) fn xmlsec_key(&self) -> Option<&hardening::xmlsec_key::KeptKey> {
        self.parsed
            .xmlsec
            .get_or_init(|| {
                hardening::xmlsec_key::KeptKey::from_der(&self.private_pkcs8_der)
                    .map_err(|e| tracing::warn!("xmlsec cannot keep the signing key: {e}"))
                    .ok()
                    .map(Arc::new)
            })
            .as_deref()
    }

    /// Makes a key pair and a self-signed certificate with rcgen (the workspace's certificate
    /// generator; openssl only where rcgen cannot, see below).
    pub(crate) fn generate(kind: KeyKind, common_name: &str) -> Result<Self, KeyError> {
        if let KeyKind::Rsa { bits } = kind
            && bits < 2048
        {
            return Self::generate_weak_rsa(bits, common_name);
        }
        let key_pair = match kind {
            KeyKind::Rsa { bits } => {
                let rsa = Rsa::generate(bits).map_err(crypto)?;
                let pkey = PKey::from_rsa(rsa).map_err(crypto)?;
                let der = pkey.private_key_to_pkcs8().map_err(crypto)?;
                KeyPair::from_pkcs8_der_and_sign_algo(
                    &der.as_slice().into(),
                    &rcgen::PKCS_RSA_SHA256,
                )
                .map_err(rcgen_err)?
            }
            KeyKind::EcP256 => {
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?
            }
        };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "SAML Harness mock IdP");
        params.distinguished_name = dn;
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        params.not_before = (now - day).into();
        params.not_after = (now + day * 3650).into();
        let mut serial = [0u8; 16];
        rand::fill(&mut serial);
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key_pair).map_err(rcgen_err)?;
        Ok(Self {
            kind,
            private_pkcs8_der: key_pair.serialize_der(),
            cert_der: cert.der().to_vec(),
            parsed: Parsed::default(),
        })
    }

    /// An RSA key below 2048 bits in a self-signed certificate. rcgen's `ring` backend refuses
    /// to sign with such keys, so openssl makes this one (attacker keys only).
    fn generate_weak_rsa(bits: u32, common_name: &str) -> Result<Self, KeyError> {
        let pkey = PKey::from_rsa(Rsa::generate(bits).map_err(crypto)?).map_err(crypto)?;
        let mut name = openssl::x509::X509NameBuilder::new().map_err(crypto)?;
        name.append_entry_by_text("CN", common_name)
            .map_err(crypto)?;
        name.append_entry_by_text("O", "SAML Harness mock IdP")
            .map_err(crypto)?;
        let name = name.build();
        let mut serial = openssl::bn::BigNum::new().map_err(crypto)?;
        serial
            .rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)
            .map_err(crypto)?;
        let serial = serial.to_asn1_integer().map_err(crypto)?;
        let not_before = openssl::asn1::Asn1Time::days_from_now(0).map_err(crypto)?;
        let not_after = openssl::asn1::Asn1Time::days_from_now(3650).map_err(crypto)?;
        let mut builder = X509::builder().map_err(crypto)?;
        builder.set_version(2).map_err(crypto)?;
        builder.set_serial_number(&serial).map_err(crypto)?;
        builder.set_subject_name(&name).map_err(crypto)?;
        builder.set_issuer_name(&name).map_err(crypto)?;
        builder.set_not_before(&not_before).map_err(crypto)?;
        builder.set_not_after(&not_after).map_err(crypto)?;
        builder.set_pubkey(&pkey).map_err(crypto)?;
        builder
            .sign(&pkey, MessageDigest::sha256())
            .map_err(crypto)?;
        Ok(Self {
            kind: KeyKind::Rsa { bits },
            private_pkcs8_der: pkey.private_key_to_pkcs8().map_err(crypto)?,
            cert_der: builder.build().to_der().map_err(crypto)?,
            parsed: Parsed::default(),
        })
    }

    /// A new key of `kind` in a certificate that copies `template`'s version, subject, issuer,
    /// serial number and validity: the "cloned certificate" of certificate-faking attacks.
    ///
    /// Built with openssl rather than rcgen, whose certificate parser is test-only; our trusted
    /// certificates carry no extensions, so the clone matches them field by field.
    fn clone_certificate(template_der: &[u8], kind: KeyKind) -> Result<Self, KeyError> {
        let fresh = Self::generate(kind, "clone")?;
        let pkey = fresh.pkey()?;
        let template = X509::from_der(template_der).map_err(crypto)?;
        let mut builder = X509::builder().map_err(crypto)?;
        builder.set_version(template.version()).map_err(crypto)?;
        builder
            .set_serial_number(template.serial_number())
            .map_err(crypto)?;
        builder
            .set_subject_name(template.subject_name())
            .map_err(crypto)?;
        builder
            .set_issuer_name(template.issuer_name())
            .map_err(crypto)?;
        builder
            .set_not_before(template.not_before())
            .map_err(crypto)?;
        builder
            .set_not_after(template.not_after())
            .map_err(crypto)?;
        builder.set_pubkey(&pkey).map_err(crypto)?;
        builder
            .sign(&pkey, MessageDigest::sha256())
            .map_err(crypto)?;
        Ok(Self {
            kind,
            private_pkcs8_der: fresh.private_pkcs8_der,
            cert_der: builder.build().to_der().map_err(crypto)?,
            parsed: Parsed::default(),
        })
    }

    fn load(key_path: &Path, cert_path: &Path) -> Result<Self, KeyError> {
        let read = |path: &Path| {
            fs::read(path).map_err(|e| KeyError::at(path, KeyErrorKind::Io(e.to_string())))
        };
        let key_pem = read(key_path)?;
        let cert_pem = read(cert_path)?;
        let bad = |path: &Path, e: openssl::error::ErrorStack| {
            KeyError::at(path, KeyErrorKind::Crypto(e.to_string()))
        };
        let pkey = PKey::private_key_from_pem(&key_pem).map_err(|e| bad(key_path, e))?;
        let cert = X509::from_pem(&cert_pem).map_err(|e| bad(cert_path, e))?;
        let kind = if let Ok(rsa) = pkey.rsa() {
            KeyKind::Rsa {
                bits: rsa.size() * 8,
            }
        } else if pkey.ec_key().is_ok() {
            KeyKind::EcP256
        } else {
            return Err(KeyError::at(
                key_path,
                KeyErrorKind::Crypto("unsupported key type (want RSA or EC P-256)".into()),
            ));
        };
        let cert_pub = cert.public_key().map_err(|e| bad(cert_path, e))?;
        if !cert_pub.public_eq(&pkey) {
            return Err(KeyError::at(cert_path, KeyErrorKind::Mismatch));
        }
        Ok(Self {
            kind,
            private_pkcs8_der: pkey.private_key_to_pkcs8().map_err(|e| bad(key_path, e))?,
            cert_der: cert.to_der().map_err(|e| bad(cert_path, e))?,
            parsed: Parsed::default(),
        })
    }

    /// Writes the key and certificate over whatever is there, each through a temporary file
    /// and a rename, so that another process reading them meanwhile sees an old or a new file,
    /// never half of one (a key and certificate that do not match are refused by
    /// [`SigningKey::load`]).
    fn store_replacing(&self, key_path: &Path, cert_path: &Path) -> Result<(), KeyError> {
        for (path, text) in [(key_path, self.private_pem()), (cert_path, self.cert_pem())] {
            hardening::private_file::replace(path, text.as_bytes())
                .map_err(|e| KeyError::at(path, KeyErrorKind::Io(e.to_string())))?;
        }
        Ok(())
    }

    fn store(&self, key_path: &Path, cert_path: &Path) -> Result<(), KeyError> {
        write_private(key_path, self.private_pem().as_bytes())?;
        fs::write(cert_path, self.cert_pem())
            .map_err(|e| KeyError::at(cert_path, KeyErrorKind::Io(e.to_string())))
    }
}

/// Which key signs a response.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyChoice {
    /// The IdP's primary key, first in metadata.
    #[default]
    Trusted,
    /// The second key in metadata (key rollover).
    Rollover,
    /// A random attacker key in a random self-signed certificate.
    AttackerSelfSigned,
    /// An attacker key in a certificate that clones the trusted one's subject and serial.
    AttackerClone,
    /// A 1024-bit RSA key in its own self-signed certificate.
    AttackerRsa1024,
}

impl KeyChoice {
    /// Whether this is the trusted key (the default).
    pub fn is_default(&self) -> bool {
        *self == KeyChoice::Trusted
    }

    /// Whether the key is published in the IdP's metadata.
    pub fn is_trusted(self) -> bool {
        matches!(self, KeyChoice::Trusted | KeyChoice::Rollover)
    }
}

/// The IdP's keys: the two published ones and attacker keys made on first use. A clone shares
/// the keys as parsed so far (an xmlsec or openssl key loaded once serves both).
#[derive(Debug, Clone)]
pub struct KeyStore {
    trusted: SigningKey,
    rollover: SigningKey,
    attacker_self_signed: OnceLock<SigningKey>,
    attacker_clone: OnceLock<SigningKey>,
    attacker_rsa1024: OnceLock<SigningKey>,
    /// The folder the keys were loaded from: attacker keys are kept there too, so that a run
    /// does not generate them again (none for keys that live in memory only).
    dir: Option<PathBuf>,
    /// xmlsec's public keys of the published certificates, for the self-check, loaded on first
    /// use (`None` when xmlsec cannot: the self-check then decodes them each time).
    published_certs: OnceLock<Option<Arc<hardening::xmlsec_key::KeptCerts>>>,
}

const TRUSTED_KEY: &str = "signing-key.pem";
const TRUSTED_CERT: &str = "signing-cert.pem";
const ROLLOVER_KEY: &str = "rollover-key.pem";
const ROLLOVER_CERT: &str = "rollover-cert.pem";
/// The attacker keys' files in the key folder: (key, certificate) per attacker key.
const ATTACKER_SELF_SIGNED: (&str, &str) = (
    "attacker-self-signed-key.pem",
    "attacker-self-signed-cert.pem",
);
const ATTACKER_CLONE: (&str, &str) = ("attacker-clone-key.pem", "attacker-clone-cert.pem");
const ATTACKER_RSA1024: (&str, &str) = ("attacker-rsa1024-key.pem", "attacker-rsa1024-cert.pem");

impl KeyStore {
    /// Loads the keys from `dir`, or makes and stores them there if the folder holds none.
    ///
    /// Private keys are written with mode 0600. A folder that holds keys of another type than
    /// `key_type` is an error rather than a silent switch, so a configured SP never sees its
    /// trusted key change.
    pub fn load_or_create(dir: &Path, key_type: KeyType) -> Result<Self, KeyError> {
        let path = |name: &str| dir.join(name);
        let (trusted, rollover) = if path(TRUSTED_KEY).exists() {
            let trusted = SigningKey::load(&path(TRUSTED_KEY), &path(TRUSTED_CERT))?;
            let rollover = SigningKey::load(&path(ROLLOVER_KEY), &path(ROLLOVER_CERT))?;
            let found = match trusted.kind {
                KeyKind::Rsa { .. } => KeyType::Rsa2048,
                KeyKind::EcP256 => KeyType::EcdsaP256,
            };
            if found != key_type {
                return Err(KeyError::at(
                    &path(TRUSTED_KEY),
                    KeyErrorKind::TypeMismatch {
                        found: found.label(),
                        wanted: key_type.label(),
                    },
                ));
            }
            (trusted, rollover)
        } else {
            create_dir_private(dir)?;
            let store = Self::generate(key_type)?;
            store
                .trusted
                .store(&path(TRUSTED_KEY), &path(TRUSTED_CERT))?;
            store
                .rollover
                .store(&path(ROLLOVER_KEY), &path(ROLLOVER_CERT))?;
            tracing::info!(dir = %dir.display(), key_type = key_type.label(), "created IdP signing keys");
            return Ok(Self {
                dir: Some(dir.to_owned()),
                ..store
            });
        };
        Ok(Self {
            dir: Some(dir.to_owned()),
            ..Self::from_keys(trusted, rollover)
        })
    }

    /// Makes fresh keys that live only in memory (tests, throw-away IdPs).
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let kind = match key_type {
            KeyType::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            KeyType::EcdsaP256 => KeyKind::EcP256,
        };
        Ok(Self::from_keys(
            SigningKey::generate(kind, "Mock IdP signing key")?,
            SigningKey::generate(kind, "Mock IdP rollover key")?,
        ))
    }

    fn from_keys(trusted: SigningKey, rollover: SigningKey) -> Self {
        Self {
            trusted,
            rollover,
            attacker_self_signed: OnceLock::new(),
            attacker_clone: OnceLock::new(),
            attacker_rsa1024: OnceLock::new(),
            dir: None,
            published_certs: OnceLock::new(),
        }
    }

    /// The primary signing key.
    pub fn trusted(&self) -> &SigningKey {
        &self.trusted
    }

    /// The rollover key (second in metadata).
    pub fn rollover(&self) -> &SigningKey {
        &self.rollover
    }

    /// The keys metadata publishes, in order.
    pub fn published(&self) -> [&SigningKey; 2] {
        [&self.trusted, &self.rollover]
    }

    /// The published certificates' keys as xmlsec loaded them once (see `published_certs`).
    pub(crate) fn published_certs(&self) -> Option<&hardening::xmlsec_key::KeptCerts> {
        self.published_certs
            .get_or_init(|| {
                hardening::xmlsec_key::KeptCerts::from_der(
                    self.published().map(|k| k.cert_der.as_slice()),
                )
                .map_err(|e| tracing::warn!("xmlsec cannot keep the published certificates: {e}"))
                .ok()
                .map(Arc::new)
            })
            .as_deref()
    }

    /// The key for `choice`, making an attacker key on first use.
    pub fn get(&self, choice: KeyChoice) -> Result<&SigningKey, KeyError> {
        match choice {
            KeyChoice::Trusted => Ok(&self.trusted),
            KeyChoice::Rollover => Ok(&self.rollover),
            KeyChoice::AttackerSelfSigned => self.attacker(
                &self.attacker_self_signed,
                ATTACKER_SELF_SIGNED,
                |k| k.kind == self.trusted.kind && !self.is_published(k),
                || SigningKey::generate(self.trusted.kind, "Mock IdP signing key"),
            ),
            KeyChoice::AttackerClone => self.attacker(
                &self.attacker_clone,
                ATTACKER_CLONE,
                |k| {
                    k.kind == self.trusted.kind
                        && !self.is_published(k)
                        && clones(&k.cert_der, &self.trusted.cert_der)
                },
                || SigningKey::clone_certificate(&self.trusted.cert_der, self.trusted.kind),
            ),
            KeyChoice::AttackerRsa1024 => self.attacker(
                &self.attacker_rsa1024,
                ATTACKER_RSA1024,
                |k| k.kind == (KeyKind::Rsa { bits: 1024 }) && !self.is_published(k),
                || SigningKey::generate(KeyKind::Rsa { bits: 1024 }, "Mock IdP signing key"),
            ),
        }
    }

    /// The secret of the HMAC key-confusion attack: the trusted certificate's PEM bytes, which
    /// anyone can read from the IdP's metadata.
    pub fn attacker_hmac_secret(&self) -> Vec<u8> {
        self.trusted.cert_pem().into_bytes()
    }
}

/// Failed to make, load or store key material.
#[derive(Debug, thiserror::Error)]
#[error("failed to handle IdP key material{}: {kind}", path.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default())]
pub struct KeyError {
    path: Option<PathBuf>,
    #[source]
    kind: KeyErrorKind,
}

impl KeyError {
    fn new(kind: KeyErrorKind) -> Self {
        Self { path: None, kind }
    }

    fn at(path: &Path, kind: KeyErrorKind) -> Self {
        Self {
            path: Some(path.to_owned()),
            kind,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &KeyErrorKind {
        &self.kind
    }
}

/// What went wrong with key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// openssl or rcgen refused.
    #[error("{0}")]
    Crypto(String),
    /// The certificate does not belong to the private key next to it.
    #[error("the certificate does not match the private key next to it")]
    Mismatch,
    /// The state folder holds keys of another type than requested.
    #[error(
        "the state folder holds {found} keys but {wanted} was requested; use another --state folder or remove this one"
    )]
    TypeMismatch {
        /// What the folder holds.
        found: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
}

/// The key in `slot`, made on first use (two racing first uses make two keys; one wins).
impl KeyStore {
    /// An attacker key: made on first use, or read from the key folder where an earlier run
    /// kept it (when it still is what `fits` asks: the folder's trusted key may have been
    /// replaced since); a key made here is kept there for the next run. Making one (RSA key
    /// generation) costs more than a whole run of the catalogue otherwise would.
    fn attacker<'a>(
        &'a self,
        slot: &'a OnceLock<SigningKey>,
        (key_file, cert_file): (&str, &str),
        fits: impl Fn(&SigningKey) -> bool,
        make: impl FnOnce() -> Result<SigningKey, KeyError>,
    ) -> Result<&'a SigningKey, KeyError> {
        if let Some(key) = slot.get() {
            return Ok(key);
        }
        let files = self
            .dir
            .as_ref()
            .map(|d| (d.join(key_file), d.join(cert_file)));
        let kept = files
            .as_ref()
            .filter(|(k, _)| k.exists())
            .and_then(|(k, c)| SigningKey::load(k, c).ok())
            .filter(|key| fits(key));
        let key = match kept {
            Some(key) => key,
            None => {
                let key = make()?;
                if let Some((k, c)) = &files
                    && let Err(e) = key.store_replacing(k, c)
                {
                    tracing::warn!("failed to keep an attacker key for the next run: {e}");
                }
                key
            }
        };
        Ok(slot.get_or_init(|| key))
    }

    /// Whether `key` is one of the published keys.
    fn is_published(&self, key: &SigningKey) -> bool {
        self.published()
            .iter()
            .any(|p| p.cert_der == key.cert_der || p.private_pkcs8_der == key.private_pkcs8_der)
    }
}

/// Whether the certificate `clone` copies `template`'s subject, issuer and serial number (with
/// another key: the caller checks that).
fn clones(clone: &[u8], template: &[u8]) -> bool {
    match (X509::from_der(clone), X509::from_der(template)) {
        (Ok(c), Ok(t)) => {
            let same_name = |a: &openssl::x509::X509NameRef, b: &openssl::x509::X509NameRef| {
                a.to_der().ok() == b.to_der().ok()
            };
            same_name(c.subject_name(), t.subject_name())
                && same_name(c.issuer_name(), t.issuer_name())
                && c.serial_number().to_bn().ok() == t.serial_number().to_bn().ok()
        }
        _ => false,
    }
}

#[expect(clippy::needless_pass_by_value, reason = "a `map_err` adaptor")]
fn crypto(e: openssl::error::ErrorStack) -> KeyError {
    KeyError::new(KeyErrorKind::Crypto(e.to_string()))
}

#[expect(clippy::needless_pass_by_value, reason = "a `map_err` adaptor")]
fn rcgen_err(e: rcgen::Error) -> KeyError {
    KeyError::new(KeyErrorKind::Crypto(e.to_string()))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn create_dir_private(dir: &Path) -> Result<(), KeyError> {
    hardening::private_file::create_dir(dir)
        .map_err(|e| KeyError::at(dir, KeyErrorKind::Io(e.to_string())))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    hardening::private_file::write_new(path, bytes)
        .map_err(|e| KeyError::at(path, KeyErrorKind::Io(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_parsed_once_and_signs_as_samael_does_with_its_der() {
        use samael::crypto::{CryptoProvider as _, XmlSec};
        for kind in [KeyKind::Rsa { bits: 2048 }, KeyKind::EcP256] {
            let key = SigningKey::generate(kind, "kept").expect("key");
            let kept = key.xmlsec_key().expect("xmlsec keeps it");
            assert!(std::ptr::eq(kept, key.xmlsec_key().expect("again")));
            let copy = key.clone();
            assert!(std::ptr::eq(kept, copy.xmlsec_key().expect("the clone's")));
            let pkey = key.pkey().expect("pkey");
            assert!(pkey.public_eq(&key.pkey().expect("again")));
            if kind == KeyKind::EcP256 {
                continue; // ECDSA signatures are randomized: the self-check tests cover them
            }
            let template = crate::response::sign::template(
                "_r1",
                &crate::plan::Signing::default(),
                &key,
                crate::plan::SignatureAlgorithm::RsaSha256,
            );
            let xml = format!(
                "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_r1\">{template}</samlp:Response>"
            );
            let ours = crate::saml::sign_first_template(&xml, &key).expect("kept signs");
            let samael = XmlSec::sign_xml(&xml, key.private_pkcs8_der()).expect("samael signs");
            assert_eq!(ours, crate::xml::strip_declaration(&samael));
        }
    }

    #[test]
    fn keys_persist_across_loads_with_private_files_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let first = KeyStore::load_or_create(&state, KeyType::EcdsaP256).expect("create");
        let second = KeyStore::load_or_create(&state, KeyType::EcdsaP256).expect("load");
        assert_eq!(first.trusted().cert_der(), second.trusted().cert_der());
        assert_eq!(first.rollover().cert_der(), second.rollover().cert_der());
        assert_ne!(first.trusted().cert_der(), first.rollover().cert_der());
        #[cfg(unix)]
        for name in [TRUSTED_KEY, ROLLOVER_KEY] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(state.join(name))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn attacker_keys_are_kept_in_the_key_folder_and_remade_when_they_no_longer_fit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let attackers = [
            KeyChoice::AttackerSelfSigned,
            KeyChoice::AttackerClone,
            KeyChoice::AttackerRsa1024,
        ];
        let certs = |store: &KeyStore| {
            attackers.map(|c| store.get(c).expect("attacker key").cert_der().to_vec())
        };
        let first = KeyStore::load_or_create(dir.path(), KeyType::EcdsaP256).expect("create");
        let made = certs(&first);
        let second = KeyStore::load_or_create(dir.path(), KeyType::EcdsaP256).expect("load");
        assert_eq!(certs(&second), made, "read back, not made again");
        assert!(clones(&made[1], second.trusted().cert_der()));
        #[cfg(unix)]
        for (key, _) in [ATTACKER_SELF_SIGNED, ATTACKER_CLONE, ATTACKER_RSA1024] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(key))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        // A new trusted key in the folder: the clone of the old one is no clone of it; a
        // damaged file is made again too.
        for name in [TRUSTED_KEY, TRUSTED_CERT] {
            fs::remove_file(dir.path().join(name)).expect("remove");
        }
        let replacement =
            SigningKey::generate(KeyKind::EcP256, "Mock IdP signing key").expect("key");
        replacement
            .store(
                &dir.path().join(TRUSTED_KEY),
                &dir.path().join(TRUSTED_CERT),
            )
            .expect("store");
        fs::write(dir.path().join(ATTACKER_RSA1024.1), "damaged").expect("damage");
        let third = KeyStore::load_or_create(dir.path(), KeyType::EcdsaP256).expect("load");
        let remade = certs(&third);
        assert_eq!(remade[0], made[0], "the self-signed key still fits");
        assert_ne!(remade[1], made[1]);
        assert!(clones(&remade[1], third.trusted().cert_der()));
        assert_ne!(remade[2], made[2]);
        let fourth = KeyStore::load_or_create(dir.path(), KeyType::EcdsaP256).expect("load");
        assert_eq!(certs(&fourth), remade, "the remade keys were kept");
    }

    #[test]
    fn a_state_folder_of_another_key_type_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        KeyStore::load_or_create(dir.path(), KeyType::EcdsaP256).expect("create");
        let err = KeyStore::load_or_create(dir.path(), KeyType::Rsa2048).expect_err("mismatch");
        assert!(
            matches!(err.kind(), KeyErrorKind::TypeMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn rsa_keys_are_2048_bits_by_default() {
        let store = KeyStore::generate(KeyType::Rsa2048).expect("generate");
        assert_eq!(store.trusted().kind(), KeyKind::Rsa { bits: 2048 });
        let weak = store.get(KeyChoice::AttackerRsa1024).expect("rsa1024");
        assert_eq!(weak.kind(), KeyKind::Rsa { bits: 1024 });
    }

    #[test]
    fn the_cloned_certificate_copies_subject_and_serial_but_not_the_key() {
        let store = KeyStore::generate(KeyType::EcdsaP256).expect("generate");
        let trusted = X509::from_der(store.trusted().cert_der()).expect("trusted");
        let clone = store.get(KeyChoice::AttackerClone).expect("clone");
        let cloned = X509::from_der(clone.cert_der()).expect("clone");
        let text = |x: &X509| {
            x.subject_name()
                .entries()
                .map(|e| e.data().as_slice().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&trusted), text(&cloned));
        assert_eq!(
            trusted.serial_number().to_bn().expect("bn"),
            cloned.serial_number().to_bn().expect("bn")
        );
        assert_ne!(store.trusted().cert_der(), clone.cert_der());
    }
}
