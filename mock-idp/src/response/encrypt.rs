//! `saml:EncryptedAssertion` (SAML Core §2.3.4) in XML Encryption 1.1 formats, made with
//! openssl: a random AES content key encrypts the serialized (already signed) assertion as an
//! `Element` (CBC: 16-byte IV prepended, PKCS#7 padding, which XML Encryption §5.2 accepts;
//! GCM: 12-byte IV prepended, 16-byte tag appended, XML Encryption 1.1 §5.2.4); the content key
//! is encrypted to the SP's RSA certificate with RSA-OAEP (SHA-1, MGF1-SHA-1: `rsa-oaep-mgf1p`)
//! or RSA PKCS#1 v1.5 and carried in an `xenc:EncryptedKey`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

use super::PipelineError;
use crate::plan::{
    CipherCorruption, EncryptedKeyPlacement, Encryption, EncryptionKey, EncryptionMethod,
    KeyTransport,
};
use crate::xml::{NS_DS, NS_SAML, new_id};

/// The XML Encryption namespace.
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const TYPE_ENCRYPTED_KEY: &str = "http://www.w3.org/2001/04/xmlenc#EncryptedKey";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

fn crypto(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Encrypt(format!("openssl: {e}"))
}

/// The SP's RSA public key from a DER certificate, or a plan error naming what is missing.
fn sp_key(cert_der: Option<&[u8]>) -> Result<PKey<Public>, PipelineError> {
    let der = cert_der.ok_or_else(|| {
        PipelineError::Plan(
            "the plan encrypts the assertion but the SP's metadata has no encryption certificate (KeyDescriptor use=\"encryption\" or without use)".to_owned(),
        )
    })?;
    let cert = openssl::x509::X509::from_der(der).map_err(|e| {
        PipelineError::Plan(format!(
            "the SP's encryption certificate is not a DER X.509 certificate: {e}"
        ))
    })?;
    let key = cert.public_key().map_err(crypto)?;
    if key.rsa().is_err() {
        return Err(PipelineError::Plan(
            "the SP's encryption certificate has no RSA key; rsa-oaep and rsa-1_5 need one"
                .to_owned(),
        ));
    }
    Ok(key)
}

/// An RSA-2048 public key whose private half was thrown away when it was made (with `openssl
/// genrsa 2048 | openssl rsa -pubout`): no SP holds it, so nothing encrypted to it decrypts.
/// A constant rather than a key made per process: making one costs more CPU than the rest of
/// a catalogue's encryption scenarios together.
const WRONG_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsFWNKWgy3kn01MV5dysh
07xJAzE/O4PpZJVQV675MJgyphXVxbQnPoFFAv4H2nPdhs1v3iSXrdhVkUbJEz4Q
gukVTeQj9Guyjxna1gdBRyN9uBsAfn2IRnn8Uu94QqhnjzElovZWaiGwfOnFsjcs
ycu4S8MfEbr2GteWo83Kjb+SL/paG8J6Yt2lnzP/I0lj/1FhV5GD2xw6QfiZgPlO
cPNvjkpyx8jpTYoa3QirUjfeqe3aEuB6sKW4c4KT/OkED7WxtCS6LWjX6ZX3kZZf
/aCJJ8ADlAkHgzjmD1Ml/AEgzyNXFjpCw1NLKV19ghuHdmw/y7twEkM27yI1lm6W
SQIDAQAB
-----END PUBLIC KEY-----
";

/// The RSA-2048 public key no SP holds ([`WRONG_KEY_PEM`]).
fn wrong_key() -> Result<PKey<Public>, PipelineError> {
    PKey::public_key_from_pem(WRONG_KEY_PEM.as_bytes()).map_err(crypto)
}

/// Encrypts `assertion` (a standalone, namespace-complete `saml:Assertion`) as `encryption`
/// says, to the SP's certificate `sp_cert_der`. Returns the `saml:EncryptedAssertion` element.
pub(crate) fn encrypt_assertion(
    assertion: &str,
    encryption: &Encryption,
    sp_cert_der: Option<&[u8]>,
) -> Result<String, PipelineError> {
    if encryption.corrupt == Some(CipherCorruption::Padding) && !encryption.method.is_cbc() {
        return Err(PipelineError::Plan(
            "corrupt = \"padding\" needs a CBC method (aes128-cbc or aes256-cbc)".to_owned(),
        ));
    }
    let recipient = match encryption.key {
        EncryptionKey::Sp => sp_key(sp_cert_der)?,
        EncryptionKey::Wrong => wrong_key()?,
    };
    let (key_len, iv_len) = match encryption.method {
        EncryptionMethod::Aes128Gcm => (16, 12),
        EncryptionMethod::Aes256Gcm => (32, 12),
        EncryptionMethod::Aes128Cbc => (16, 16),
        EncryptionMethod::Aes256Cbc => (32, 16),
    };
    let mut content_key = vec![0u8; key_len];
    let mut iv = vec![0u8; iv_len];
    openssl::rand::rand_bytes(&mut content_key).map_err(crypto)?;
    openssl::rand::rand_bytes(&mut iv).map_err(crypto)?;
    // The plaintext is the element alone: the signer's serializer ends it with a newline, and
    // an SP that wants exactly one element in the decrypted content (Shibboleth: "Decryption
    // did not result in a single element") must get one.
    let plaintext = assertion.trim();
    let mut data = encrypt_data(encryption.method, &content_key, &iv, plaintext.as_bytes())?;
    match encryption.corrupt {
        None => {}
        Some(CipherCorruption::Padding) => {
            // CBC: P_last = D(C_last) XOR C_prev, so flipping C_prev's last byte flips the
            // padding length byte (1..=16) to 0x81..=0x90.
            let at = data.len() - 16 - 1;
            data[at] ^= 0x80;
        }
        Some(CipherCorruption::Ciphertext) => data[iv_len] ^= 0x01,
    }
    let encrypted_key = encrypt_key(encryption.key_transport, &recipient, &content_key)?;
    Ok(render(
        encryption,
        &B64.encode(data),
        &B64.encode(encrypted_key),
    ))
}

/// IV || ciphertext (|| tag for GCM).
fn encrypt_data(
    method: EncryptionMethod,
    key: &[u8],
    iv: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, PipelineError> {
    let cipher = match method {
        EncryptionMethod::Aes128Gcm => Cipher::aes_128_gcm(),
        EncryptionMethod::Aes256Gcm => Cipher::aes_256_gcm(),
        EncryptionMethod::Aes128Cbc => Cipher::aes_128_cbc(),
        EncryptionMethod::Aes256Cbc => Cipher::aes_256_cbc(),
    };
    let mut crypter = Crypter::new(cipher, Mode::Encrypt, key, Some(iv)).map_err(crypto)?;
    let mut out = vec![0u8; plain.len() + cipher.block_size() + 16];
    let mut n = crypter.update(plain, &mut out).map_err(crypto)?;
    n += crypter.finalize(&mut out[n..]).map_err(crypto)?;
    out.truncate(n);
    let mut data = iv.to_vec();
    data.extend_from_slice(&out);
    if !method.is_cbc() {
        let mut tag = [0u8; 16];
        crypter.get_tag(&mut tag).map_err(crypto)?;
        data.extend_from_slice(&tag);
    }
    Ok(data)
}

fn encrypt_key(
    transport: KeyTransport,
    recipient: &PKey<Public>,
    content_key: &[u8],
) -> Result<Vec<u8>, PipelineError> {
    let rsa = recipient.rsa().map_err(crypto)?;
    let padding = match transport {
        KeyTransport::RsaOaep => Padding::PKCS1_OAEP,
        KeyTransport::Rsa15 => Padding::PKCS1,
    };
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(content_key, &mut out, padding)
        .map_err(crypto)?;
    out.truncate(n);
    Ok(out)
}

fn render(encryption: &Encryption, data_b64: &str, key_b64: &str) -> String {
    let data_id = new_id();
    let key_id = new_id();
    let digest = match encryption.key_transport {
        KeyTransport::RsaOaep => format!("<ds:DigestMethod Algorithm=\"{SHA1}\"/>"),
        KeyTransport::Rsa15 => String::new(),
    };
    let sibling = encryption.encrypted_key == EncryptedKeyPlacement::Sibling;
    let encrypted_key = format!(
        concat!(
            "<xenc:EncryptedKey{id}{ns}>",
            "<xenc:EncryptionMethod Algorithm=\"{alg}\">{digest}</xenc:EncryptionMethod>",
            "<xenc:CipherData><xenc:CipherValue>{value}</xenc:CipherValue></xenc:CipherData>",
            "{refs}</xenc:EncryptedKey>"
        ),
        id = if sibling {
            format!(" Id=\"{key_id}\"")
        } else {
            String::new()
        },
        ns = if sibling {
            format!(" xmlns:xenc=\"{NS_XENC}\" xmlns:ds=\"{NS_DS}\"")
        } else {
            String::new()
        },
        alg = encryption.key_transport.uri(),
        digest = digest,
        value = key_b64,
        refs = if sibling {
            format!(
                "<xenc:ReferenceList><xenc:DataReference URI=\"#{data_id}\"/></xenc:ReferenceList>"
            )
        } else {
            String::new()
        },
    );
    let key_info = if sibling {
        format!("<ds:RetrievalMethod Type=\"{TYPE_ENCRYPTED_KEY}\" URI=\"#{key_id}\"/>")
    } else {
        encrypted_key.clone()
    };
    format!(
        concat!(
            "<saml:EncryptedAssertion xmlns:saml=\"{saml}\">",
            "<xenc:EncryptedData xmlns:xenc=\"{xenc}\" Id=\"{data_id}\" Type=\"{ty}\">",
            "<xenc:EncryptionMethod Algorithm=\"{method}\"/>",
            "<ds:KeyInfo xmlns:ds=\"{ds}\">{key_info}</ds:KeyInfo>",
            "<xenc:CipherData><xenc:CipherValue>{data}</xenc:CipherValue></xenc:CipherData>",
            "</xenc:EncryptedData>{after}</saml:EncryptedAssertion>"
        ),
        saml = NS_SAML,
        xenc = NS_XENC,
        ds = NS_DS,
        ty = TYPE_ELEMENT,
        method = encryption.method.uri(),
        data_id = data_id,
        key_info = key_info,
        data = data_b64,
        after = if sibling {
            encrypted_key
        } else {
            String::new()
        },
    )
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use openssl::pkey::Private;

    use super::*;

    const ASSERTION: &str = concat!(
        "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a\" ",
        "Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><saml:Issuer>https://idp.test",
        "</saml:Issuer><saml:Subject><saml:NameID>alice@corp.example</saml:NameID>",
        "</saml:Subject></saml:Assertion>"
    );

    fn sp_key_pair() -> (PKey<Private>, Vec<u8>) {
        let made =
            crate::keys::SigningKey::generate(crate::keys::KeyKind::Rsa { bits: 2048 }, "sp.test")
                .expect("key");
        (made.pkey().expect("pkey"), made.cert_der().to_vec())
    }

    /// Decrypts `xml` with the xmlsec1 CLI and the SP's private key.
    fn xmlsec_decrypt(xml: &str, key: &PKey<Private>) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = dir.path().join("doc.xml");
        let pem = dir.path().join("key.pem");
        std::fs::write(&doc, xml).expect("write doc");
        std::fs::write(&pem, key.private_key_to_pem_pkcs8().expect("pem")).expect("write key");
        let out = Command::new("xmlsec1")
            .arg("--decrypt")
            // The sibling EncryptedKey is found by its Id (a RetrievalMethod URI).
            .arg("--id-attr:Id")
            .arg("http://www.w3.org/2001/04/xmlenc#:EncryptedKey")
            .arg("--privkey-pem")
            .arg(&pem)
            .arg(&doc)
            .output()
            .expect("xmlsec1 runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn plan(method: EncryptionMethod, key_transport: KeyTransport) -> Encryption {
        Encryption {
            method,
            key_transport,
            ..Encryption::default()
        }
    }

    const METHODS: [EncryptionMethod; 4] = [
        EncryptionMethod::Aes256Gcm,
        EncryptionMethod::Aes128Gcm,
        EncryptionMethod::Aes128Cbc,
        EncryptionMethod::Aes256Cbc,
    ];

    #[test]
    fn xmlsec_decrypts_every_method_and_key_transport_to_the_assertion() {
        let (key, cert) = sp_key_pair();
        for method in METHODS {
            for transport in [KeyTransport::RsaOaep, KeyTransport::Rsa15] {
                for placement in [
                    EncryptedKeyPlacement::KeyInfo,
                    EncryptedKeyPlacement::Sibling,
                ] {
                    let mut e = plan(method, transport);
                    e.encrypted_key = placement;
                    let xml = encrypt_assertion(ASSERTION, &e, Some(&cert)).expect("encrypt");
                    assert!(xml.contains(method.uri()) && xml.contains(transport.uri()));
                    let plain = xmlsec_decrypt(&xml, &key).unwrap_or_else(|e| {
                        panic!("{method:?} {transport:?} {placement:?}: xmlsec1 failed: {e}")
                    });
                    assert!(
                        plain.contains("<saml:NameID>alice@corp.example</saml:NameID>")
                            && !plain.contains("EncryptedData"),
                        "{method:?} {transport:?} {placement:?}: {plain}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_plaintext_is_the_assertion_element_alone() {
        let (key, cert) = sp_key_pair();
        let padded = format!("\n{ASSERTION}\n");
        let xml = encrypt_assertion(&padded, &Encryption::default(), Some(&cert)).expect("x");
        let plain = xmlsec_decrypt(&xml, &key).expect("decrypt");
        let doc = roxmltree::Document::parse(&plain).expect("xml");
        let encrypted = doc.root_element();
        let children: Vec<_> = encrypted.children().collect();
        assert_eq!(
            children.len(),
            1,
            "one node, no whitespace around it: {plain}"
        );
        assert!(children[0].has_tag_name((NS_SAML, "Assertion")), "{plain}");
    }

    #[test]
    fn the_wrong_key_is_rsa_2048() {
        let key = wrong_key().expect("parses");
        assert_eq!(key.rsa().expect("rsa").size() * 8, 2048);
    }

    #[test]
    fn a_wrong_key_or_a_corrupted_ciphertext_does_not_decrypt() {
        let (key, cert) = sp_key_pair();
        let sound = encrypt_assertion(ASSERTION, &Encryption::default(), Some(&cert)).expect("x");
        xmlsec_decrypt(&sound, &key).expect("the same key decrypts a sound encryption");
        let cases = [
            Encryption {
                key: EncryptionKey::Wrong,
                ..Encryption::default()
            },
            Encryption {
                corrupt: Some(CipherCorruption::Ciphertext),
                ..Encryption::default()
            },
            Encryption {
                method: EncryptionMethod::Aes128Cbc,
                corrupt: Some(CipherCorruption::Padding),
                ..Encryption::default()
            },
        ];
        for e in cases {
            let xml = encrypt_assertion(ASSERTION, &e, Some(&cert)).expect("encrypt");
            assert!(xmlsec_decrypt(&xml, &key).is_err(), "{e:?} decrypted");
        }
    }

    #[test]
    fn the_response_signature_covers_the_encrypted_assertion_and_the_inner_one_survives() {
        use crate::plan::{Plan, Signing, SigningLayout};
        let (key, cert) = sp_key_pair();
        let keys = crate::KeyStore::generate(crate::KeyType::Rsa2048).expect("keys");
        let ctx = crate::response::ResponseContext::for_tests(Some(&cert));
        let plan = Plan {
            signing: Signing {
                layout: Some(SigningLayout::Both),
                ..Signing::default()
            },
            encryption: Some(Encryption::default()),
            ..Plan::default()
        };
        let built = crate::response::build(&ctx, &plan, &keys).expect("build");
        assert!(built.valid && built.self_checked);
        assert!(built.xml.contains("<saml:EncryptedAssertion") && !built.xml.contains("alice@"));
        // The Response signature verifies over the encrypted form (the self-check did too).
        let published = [keys.trusted().cert_der()];
        crate::saml::verify_all_signatures(&built.xml, &published).expect("response signature");
        // Decrypted, the assertion still carries its own valid signature.
        let plain = xmlsec_decrypt(&built.xml, &key).expect("decrypt");
        let doc = roxmltree::Document::parse(&plain).expect("xml");
        let assertion = doc
            .descendants()
            .find(|n| n.has_tag_name((NS_SAML, "Assertion")))
            .expect("assertion");
        let standalone = &plain[assertion.range()];
        crate::saml::verify_all_signatures(standalone, &published).expect("assertion signature");
        // Without an SP certificate the plan is refused as a plan error.
        let ctx = crate::response::ResponseContext {
            sp_encryption_cert: None,
            ..ctx
        };
        let err = crate::response::build(&ctx, &plan, &keys).expect_err("no certificate");
        assert!(err.is_plan_error(), "{err}");
    }

    #[test]
    fn padding_corruption_needs_cbc_and_the_sp_needs_a_certificate() {
        let e = Encryption {
            corrupt: Some(CipherCorruption::Padding),
            ..Encryption::default()
        };
        let err = encrypt_assertion(ASSERTION, &e, None).expect_err("gcm has no padding");
        assert!(
            err.is_plan_error() && err.to_string().contains("CBC"),
            "{err}"
        );
        let err =
            encrypt_assertion(ASSERTION, &Encryption::default(), None).expect_err("no certificate");
        assert!(
            err.is_plan_error() && err.to_string().contains("encryption certificate"),
            "{err}"
        );
    }
}
