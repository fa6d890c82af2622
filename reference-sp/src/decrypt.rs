//! The SP's encryption key and `saml:EncryptedAssertion` decryption (XML Encryption 1.1 with
//! openssl; samael decrypts only inside a signed Response and never checks the signature of
//! the decrypted assertion, so the validator does both itself).
//!
//! Key transport: `rsa-oaep-mgf1p` (and `xmlenc11#rsa-oaep` with SHA-1 and MGF1-SHA-1, its
//! defaults) or `rsa-1_5`; content: `aes128-cbc`, `aes256-cbc` (IV prepended, XML Encryption
//! padding: the last byte counts the padding bytes, 1 to 16), `aes128-gcm`, `aes256-gcm` (12-byte
//! IV prepended, 16-byte tag appended). The `EncryptedKey` is read from the `EncryptedData`'s
//! `ds:KeyInfo` or, referenced by a `ds:RetrievalMethod`, from a sibling in the
//! `EncryptedAssertion`.
//!
//! Every failure is one and the same [`DecryptionFailed`], with no detail: a wrong key, bad RSA
//! padding, a bad GCM tag, bad CBC padding and a plaintext that is not an XML element all look
//! alike, so the SP is no padding oracle (Jager–Somorovsky, CCS'11). On RSA PKCS#1 v1.5 failure
//! a random content key is used instead (Bleichenbacher countermeasure), so the work done does
//! not depend on the padding either.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use roxmltree::Node;

const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";

/// Decryption failed; deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("failed to decrypt the EncryptedAssertion")]
pub struct DecryptionFailed;

/// What one of the SP's keys is for: one key, one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Encrypted assertions are encrypted to it.
    Encryption = 0,
    /// The SP's logout messages are signed with it.
    Signing = 1,
}

impl KeyPurpose {
    /// `encryption` or `signing`.
    pub fn name(self) -> &'static str {
        match self {
            KeyPurpose::Encryption => "encryption",
            KeyPurpose::Signing => "signing",
        }
    }

    /// The certificate's common name.
    pub(crate) fn common_name(self) -> &'static str {
        match self {
            KeyPurpose::Encryption => "reference-sp encryption",
            KeyPurpose::Signing => "reference-sp signing",
        }
    }
}

/// One of the SP's RSA-2048 keys and its self-signed certificate: the encryption key
/// (published in the SP's metadata as `KeyDescriptor use="encryption"`), or, as a separate
/// key, the signing key of its logout messages (`use="signing"`).
pub struct EncryptionKey {
    key: PKey<Private>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey").finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// A fresh RSA-2048 key with a self-signed certificate for `common_name`, valid ten years.
    /// The certificate is made with rcgen, the workspace's certificate generator; openssl makes
    /// only the RSA key pair, which rcgen's `ring` backend cannot generate.
    pub fn generate(common_name: &str) -> Result<Self, String> {
        let rsa = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
        let pkcs8 = PKey::from_rsa(rsa)
            .and_then(|k| k.private_key_to_pkcs8())
            .map_err(|e| e.to_string())?;
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &pkcs8.as_slice().into(),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        params.not_before = now.into();
        params.not_after = (now + day * 3650).into();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            &(rand::random::<u64>() >> 1).to_be_bytes(),
        ));
        let cert = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
        Self::from_der(&pkcs8, cert.der())
    }

    /// The key for `purpose` this process uses for every SP without a database file (made on
    /// first use; RSA key generation takes a noticeable fraction of a second).
    pub fn process(purpose: KeyPurpose) -> Result<Arc<Self>, String> {
        static KEYS: [OnceLock<Arc<EncryptionKey>>; 2] = [OnceLock::new(), OnceLock::new()];
        let slot = &KEYS[purpose as usize];
        if let Some(key) = slot.get() {
            return Ok(Arc::clone(key));
        }
        let key = Self::generate(purpose.common_name())
            .map_err(|e| format!("failed to generate the SP's {} key: {e}", purpose.name()))?;
        Ok(Arc::clone(slot.get_or_init(|| Arc::new(key))))
    }

    /// Signs `data` with RSA and `digest` (PKCS#1 v1.5): an HTTP-Redirect query signature.
    pub fn sign(
        &self,
        digest: openssl::hash::MessageDigest,
        data: &[u8],
    ) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut signer = openssl::sign::Signer::new(digest, &self.key)?;
        signer.update(data)?;
        signer.sign_to_vec()
    }

    /// A key stored earlier ([`Self::private_pkcs8_der`] and [`Self::cert_der`]).
    pub fn from_der(private_pkcs8_der: &[u8], cert_der: &[u8]) -> Result<Self, String> {
        let key = PKey::private_key_from_pkcs8(private_pkcs8_der)
            .map_err(|e| format!("failed to read the stored encryption key: {e}"))?;
        let cert = openssl::x509::X509::from_der(cert_der)
            .map_err(|e| format!("failed to read the stored encryption certificate: {e}"))?;
        let matches = cert.public_key().is_ok_and(|public| public.public_eq(&key));
        if !matches {
            return Err("the stored encryption certificate is not for the stored key".to_owned());
        }
        Ok(Self {
            key,
            cert_der: cert_der.to_vec(),
        })
    }

    /// The private key, PKCS#8 DER (for storing).
    pub fn private_pkcs8_der(&self) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        self.key.private_key_to_pkcs8()
    }

    /// The certificate, base64 DER (for metadata).
    pub fn cert_base64(&self) -> String {
        B64.encode(&self.cert_der)
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Decrypts a `saml:EncryptedAssertion` to the text of what it carries.
    pub fn decrypt(&self, encrypted_assertion: Node<'_, '_>) -> Result<String, DecryptionFailed> {
        let data = child(encrypted_assertion, "EncryptedData")?;
        let method = child(data, "EncryptionMethod")?
            .attribute("Algorithm")
            .ok_or(DecryptionFailed)?;
        let cipher = match method {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Cipher::aes_128_cbc(),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Cipher::aes_256_cbc(),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Cipher::aes_128_gcm(),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Cipher::aes_256_gcm(),
            _ => return Err(DecryptionFailed),
        };
        let encrypted_key = find_encrypted_key(encrypted_assertion, data)?;
        let content_key = self.unwrap_key(encrypted_key, cipher.key_len())?;
        let bytes = cipher_value(data)?;
        let plain = if method.contains("gcm") {
            decrypt_gcm(cipher, &content_key, &bytes)?
        } else {
            decrypt_cbc(cipher, &content_key, &bytes)?
        };
        String::from_utf8(plain).map_err(|_| DecryptionFailed)
    }

    /// The content key from the `EncryptedKey`.
    fn unwrap_key(
        &self,
        encrypted_key: Node<'_, '_>,
        len: usize,
    ) -> Result<Vec<u8>, DecryptionFailed> {
        let method = child(encrypted_key, "EncryptionMethod")?;
        let padding = match method.attribute("Algorithm") {
            Some(RSA_OAEP_MGF1P | RSA_OAEP_11) => {
                // Only SHA-1 and MGF1-SHA-1 (the defaults) are supported.
                let digest_ok = method
                    .children()
                    .filter(|n| n.has_tag_name((DS, "DigestMethod")))
                    .all(|d| d.attribute("Algorithm") == Some(SHA1));
                let mgf_ok = method
                    .children()
                    .filter(|n| n.tag_name().name() == "MGF")
                    .all(|m| m.attribute("Algorithm") == Some(MGF1_SHA1));
                let no_params = method
                    .children()
                    .all(|n| n.tag_name().name() != "OAEPparams");
                if !(digest_ok && mgf_ok && no_params) {
                    return Err(DecryptionFailed);
                }
                Padding::PKCS1_OAEP
            }
            Some(RSA_1_5) => Padding::PKCS1,
            _ => return Err(DecryptionFailed),
        };
        let wrapped = cipher_value(encrypted_key)?;
        let rsa = self.key.rsa().map_err(|_| DecryptionFailed)?;
        let mut out = vec![0u8; rsa.size() as usize];
        let unwrapped = rsa
            .private_decrypt(&wrapped, &mut out, padding)
            .ok()
            .filter(|&n| n == len)
            .map(|n| out[..n].to_vec());
        match (unwrapped, padding == Padding::PKCS1) {
            (Some(key), _) => Ok(key),
            // PKCS#1 v1.5: carry on with a random key, failing later like any bad ciphertext.
            (None, true) => {
                let mut key = vec![0u8; len];
                openssl::rand::rand_bytes(&mut key).map_err(|_| DecryptionFailed)?;
                Ok(key)
            }
            (None, false) => Err(DecryptionFailed),
        }
    }
}

fn child<'a, 'input>(
    node: Node<'a, 'input>,
    name: &str,
) -> Result<Node<'a, 'input>, DecryptionFailed> {
    node.children()
        .find(|n| n.has_tag_name((XENC, name)))
        .ok_or(DecryptionFailed)
}

fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, DecryptionFailed> {
    let value = child(child(node, "CipherData")?, "CipherValue")?;
    let text: String = value
        .text()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    B64.decode(text).map_err(|_| DecryptionFailed)
}

/// The `EncryptedKey` inside the `EncryptedData`'s `ds:KeyInfo`, or the sibling one a
/// `ds:RetrievalMethod` names (or, with neither, the only sibling one).
fn find_encrypted_key<'a, 'input>(
    assertion: Node<'a, 'input>,
    data: Node<'a, 'input>,
) -> Result<Node<'a, 'input>, DecryptionFailed> {
    let key_info = data.children().find(|n| n.has_tag_name((DS, "KeyInfo")));
    if let Some(key) = key_info.and_then(|k| {
        k.children()
            .find(|n| n.has_tag_name((XENC, "EncryptedKey")))
    }) {
        return Ok(key);
    }
    let siblings: Vec<Node<'a, 'input>> = assertion
        .children()
        .filter(|n| n.has_tag_name((XENC, "EncryptedKey")))
        .collect();
    let named = key_info
        .and_then(|k| {
            k.children()
                .find(|n| n.has_tag_name((DS, "RetrievalMethod")))
        })
        .and_then(|r| r.attribute("URI"))
        .and_then(|uri| uri.strip_prefix('#'));
    match named {
        Some(id) => siblings
            .into_iter()
            .find(|k| k.attribute("Id") == Some(id))
            .ok_or(DecryptionFailed),
        None if siblings.len() == 1 => Ok(siblings[0]),
        None => Err(DecryptionFailed),
    }
}

fn decrypt_gcm(cipher: Cipher, key: &[u8], bytes: &[u8]) -> Result<Vec<u8>, DecryptionFailed> {
    if bytes.len() < 12 + 16 {
        return Err(DecryptionFailed);
    }
    let (iv, rest) = bytes.split_at(12);
    let (body, tag) = rest.split_at(rest.len() - 16);
    run(cipher, key, iv, body, Some(tag))
}

/// Decrypts `body` (GCM: checks `tag`; CBC: no padding check, the caller does it).
fn run(
    cipher: Cipher,
    key: &[u8],
    iv: &[u8],
    body: &[u8],
    tag: Option<&[u8]>,
) -> Result<Vec<u8>, DecryptionFailed> {
    let mut crypter =
        Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| DecryptionFailed)?;
    match tag {
        Some(tag) => crypter.set_tag(tag).map_err(|_| DecryptionFailed)?,
        None => {
            crypter.pad(false);
        }
    }
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let mut n = crypter
        .update(body, &mut out)
        .map_err(|_| DecryptionFailed)?;
    n += crypter
        .finalize(&mut out[n..])
        .map_err(|_| DecryptionFailed)?;
    out.truncate(n);
    Ok(out)
}

/// CBC with XML Encryption padding (the last byte counts the padding, 1 to 16; the other
/// padding bytes are arbitrary, so openssl's PKCS#7 check is off).
fn decrypt_cbc(cipher: Cipher, key: &[u8], bytes: &[u8]) -> Result<Vec<u8>, DecryptionFailed> {
    if bytes.len() < 32 || !bytes.len().is_multiple_of(16) {
        return Err(DecryptionFailed);
    }
    let (iv, body) = bytes.split_at(16);
    let mut out = run(cipher, key, iv, body, None)?;
    let pad = usize::from(*out.last().ok_or(DecryptionFailed)?);
    if pad == 0 || pad > 16 || pad > out.len() {
        return Err(DecryptionFailed);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}
