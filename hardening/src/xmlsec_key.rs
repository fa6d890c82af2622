//! Enveloped signing with a private key xmlsec parsed once, and verification with public keys
//! xmlsec parsed once.
//!
//! samael 0.0.22's only signing entry point, `XmlSec::sign_xml(xml, der)`, parses the DER key
//! anew for every document (`xmlSecOpenSSLAppKeyLoadMemory`: OpenSSL 3's decoder lookups), and
//! the fresh RSA key then sets up its blinding (`RSA_setup_blinding`: a modular inverse) and
//! Montgomery contexts before its one signature: together more CPU than the RSA operation
//! itself (docs/figures.md has the profile). Its verification, `reduce_xml_to_signed(xml,
//! &[CertificateDer], ...)`, decodes every certificate for every signature. Its key type and
//! context are private, so no key can be kept through samael. [`KeptKey`] and [`KeptCerts`]
//! keep them: each key is loaded once and lent to one signature context at a time, set as the
//! context's key as samael sets a key it has just decoded, and taken back before the context
//! is destroyed. A thread that needs a key while another holds it gets a copy of its own
//! (`xmlSecKeyDuplicate`), kept for later (`KeyPool`): copying a key copies its certificates
//! (an ASN.1 encode and an OpenSSL 3 decoder lookup), more CPU than an RSA verification, so
//! copies are made once per thread that needs one at the same time, not once per signature.
//! Setting the key is a field of xmlsec's context, whose layout depends on xmlsec's build: two
//! C functions do it (`csrc/xmlsec_kept_key.c`, compiled by `build.rs` with xmlsec's own
//! flags). No keys manager: its default set-up loads the system's CA certificates, tens of
//! milliseconds for every key.
//!
//! Signing is otherwise samael's `sign_xml`, step for step: the same libxml2 parser and options
//! (the `libxml` crate's defaults), `ID` attributes registered with `xmlSecAddIDs`, the first
//! `ds:Signature` in document order (`xmlSecFindNode`) signed by `xmlSecDSigCtxSign`, the
//! document written back by the `libxml` crate; the tests check the output is byte for byte
//! samael's.
//!
//! Like [`crate::xml_io`], this is FFI: `unsafe` is allowed in this module only.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uchar, c_uint, c_void};
use std::ptr::{NonNull, null, null_mut};
use std::sync::{Mutex, PoisonError};

/// xmlsec/keysdata.h: `xmlSecKeyDataFormatDer` (DER: PKCS#8 or the key type's own form).
const XMLSEC_KEY_DATA_FORMAT_DER: c_uint = 3;
/// xmlsec/keysdata.h: `xmlSecKeyDataFormatCertDer` (the public key of a DER certificate).
const XMLSEC_KEY_DATA_FORMAT_CERT_DER: c_uint = 8;
const NS_DS: &CStr = c"http://www.w3.org/2000/09/xmldsig#";
const SIGNATURE: &CStr = c"Signature";
const ID: &CStr = c"ID";

#[link(name = "xmlsec1")]
unsafe extern "C" {
    /// xmlsec/keys.h: destroys a key not adopted by anything.
    fn xmlSecKeyDestroy(key: *mut c_void);
    /// xmlsec/keys.h: a copy of a key, its value and its data (certificates) included; NULL
    /// on failure.
    fn xmlSecKeyDuplicate(key: *mut c_void) -> *mut c_void;
    /// xmlsec/xmltree.h: registers the attributes named in the NULL-terminated `ids` as IDs,
    /// in the subtree of `cur`.
    fn xmlSecAddIDs(doc: *mut c_void, cur: *mut c_void, ids: *mut *const c_uchar);
    /// xmlsec/xmltree.h: the first element `name` in `ns` in the subtree of `parent`, in
    /// document order (`parent` included).
    fn xmlSecFindNode(parent: *mut c_void, name: *const c_uchar, ns: *const c_uchar)
    -> *mut c_void;
}

#[link(name = "xmlsec1-openssl")]
unsafe extern "C" {
    /// xmlsec/openssl/app.h: loads a key (`dataSize` is `xmlSecSize`, an `unsigned int` in
    /// Debian's build: `XMLSEC_NO_SIZE_T`).
    fn xmlSecOpenSSLAppKeyLoadMemory(
        data: *const c_uchar,
        size: c_uint,
        format: c_uint,
        pwd: *const c_char,
        pwd_callback: *mut c_void,
        pwd_callback_ctx: *mut c_void,
    ) -> *mut c_void;
}

// csrc/xmlsec_kept_key.c, compiled by build.rs.
unsafe extern "C" {
    /// 0: the template `signature` is filled in with `key` (borrowed for the call, not
    /// changed); -1: xmlsec failed.
    fn harness_xmlsec_sign_with_key(signature: *mut c_void, key: *mut c_void) -> c_int;
    /// 1: `signature` verifies with `key` (borrowed for the call, not changed); 0: it does
    /// not; -1: xmlsec failed to process it.
    fn harness_xmlsec_verify_with_key(signature: *mut c_void, key: *mut c_void) -> c_int;
}

/// Failed to load a key or to sign with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SignError(String);

/// One key xmlsec loaded (an `xmlSecKeyPtr`), destroyed with it.
#[derive(Debug)]
struct XmlSecKey(NonNull<c_void>);

// SAFETY: a key is owned by one `XmlSecKey` and used by one thread at a time: `KeyPool` lends
// each to one signature context at a time, behind a mutex. It is destroyed once, in Drop.
unsafe impl Send for XmlSecKey {}

impl XmlSecKey {
    /// Loads a key from `der` in xmlsec's `format`; `what` names it in errors ("the private
    /// key").
    fn load(der: &[u8], format: c_uint, what: &str) -> Result<Self, SignError> {
        crate::xml_io::forbid_external_loads(); // also initializes xmlsec (through samael)
        let size =
            c_uint::try_from(der.len()).map_err(|_| SignError(format!("{what} is too large")))?;
        // SAFETY: xmlsec is initialized (above); `der` is valid for `size` bytes during the
        // call, which copies what it needs; no password or callback.
        let key = unsafe {
            xmlSecOpenSSLAppKeyLoadMemory(
                der.as_ptr(),
                size,
                format,
                null(),
                null_mut(),
                null_mut(),
            )
        };
        NonNull::new(key)
            .map(Self)
            .ok_or_else(|| SignError(format!("xmlsec could not load {what}")))
    }

    /// A copy of this key, its certificates included.
    fn duplicate(&self) -> Result<Self, SignError> {
        // SAFETY: the key is ours and not lent (the caller holds it); xmlsec only reads it.
        let copy = unsafe { xmlSecKeyDuplicate(self.0.as_ptr()) };
        NonNull::new(copy)
            .map(Self)
            .ok_or_else(|| SignError("xmlsec could not copy a kept key".to_owned()))
    }
}

impl Drop for XmlSecKey {
    fn drop(&mut self) {
        // SAFETY: the key is ours, destroyed once; no signature context that borrowed it
        // outlives the call that made the context.
        unsafe { xmlSecKeyDestroy(self.0.as_ptr()) }
    }
}

/// One key and the copies of it that threads have needed at the same time: each is lent to
/// one signature context at a time, and comes back to the pool after it.
#[derive(Debug)]
struct KeyPool(Mutex<Keys>);

#[derive(Debug)]
struct Keys {
    /// Never lent: what copies are made from.
    original: XmlSecKey,
    /// Copies not lent now.
    idle: Vec<XmlSecKey>,
}

impl KeyPool {
    fn new(original: XmlSecKey) -> Self {
        Self(Mutex::new(Keys {
            original,
            idle: Vec::new(),
        }))
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `use_key` with a key no other thread holds, copying the original only when every
    /// copy is lent.
    fn lend<T>(&self, use_key: impl FnOnce(*mut c_void) -> T) -> Result<T, SignError> {
        let key = {
            let mut keys = self.keys();
            match keys.idle.pop() {
                Some(key) => key,
                None => keys.original.duplicate()?,
            }
        };
        let result = use_key(key.0.as_ptr());
        self.keys().idle.push(key);
        Ok(result)
    }
}

/// `xml` parsed as samael parses it (the `libxml` crate's defaults), with its `ID` attributes
/// registered (`xmlSecAddIDs`), and its root element.
fn parse_with_ids(xml: &str) -> Result<(libxml::tree::Document, libxml::tree::Node), SignError> {
    crate::xml_io::forbid_external_loads();
    let document = libxml::parser::Parser::default()
        .parse_string(xml)
        .map_err(|e| SignError(format!("failed to parse: {e}")))?;
    let root = document
        .get_root_element()
        .ok_or_else(|| SignError("no root element".to_owned()))?;
    let mut ids = [ID.as_ptr().cast::<c_uchar>(), null()];
    // SAFETY: `document` owns both pointers and outlives this call; `ids` is a
    // NULL-terminated array of NUL-terminated strings that xmlsec only reads.
    unsafe {
        xmlSecAddIDs(
            document.doc_ptr().cast(),
            root.node_ptr().cast(),
            ids.as_mut_ptr(),
        );
    }
    Ok((document, root))
}

/// A private key loaded into xmlsec once, for any number of signatures, from any thread.
#[derive(Debug)]
pub struct KeptKey {
    key: KeyPool,
}

impl KeptKey {
    /// Loads a private key from DER (PKCS#8, or the key type's own form), as samael's
    /// `sign_xml` does for every call.
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        XmlSecKey::load(der, XMLSEC_KEY_DATA_FORMAT_DER, "the private key").map(|key| Self {
            key: KeyPool::new(key),
        })
    }

    /// Fills in the first `ds:Signature` template in document order, as samael's
    /// `XmlSec::sign_xml(xml, der)` does with the same key; returns the document as the
    /// `libxml` crate writes it (with an XML declaration).
    pub fn sign_first_template(&self, xml: &str) -> Result<String, SignError> {
        let (document, root) = parse_with_ids(xml)?;
        // SAFETY: `root` is an element of `document`, alive here; the strings are
        // NUL-terminated and only read.
        let signature = unsafe {
            xmlSecFindNode(
                root.node_ptr().cast(),
                SIGNATURE.as_ptr().cast(),
                NS_DS.as_ptr().cast(),
            )
        };
        if signature.is_null() {
            return Err(SignError("no ds:Signature template".to_owned()));
        }
        let signed = self.key.lend(|key| {
            // SAFETY: `signature` is an element of `document`, alive here; `key` is lent to
            // this call alone, and only read.
            unsafe { harness_xmlsec_sign_with_key(signature, key) }
        })?;
        if signed < 0 {
            return Err(SignError("xmlsec failed to sign".to_owned()));
        }
        Ok(document.to_string())
    }
}

/// Public keys from certificates, loaded into xmlsec once, to verify any number of documents
/// from any thread: what samael's `reduce_xml_to_signed(xml, &[CertificateDer], ...)` checks
/// of each signature (it verifies with one of the certificates' keys, the signature's own
/// KeyInfo ignored), without decoding the certificates again for every signature, and without
/// the reduction to the signed part (the caller only needs to know that every signature
/// verifies).
#[derive(Debug)]
pub struct KeptCerts {
    keys: Vec<KeyPool>,
}

impl KeptCerts {
    /// Loads the public key of each DER certificate.
    pub fn from_der<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, SignError> {
        let keys = certs
            .into_iter()
            .map(|der| {
                XmlSecKey::load(
                    der,
                    XMLSEC_KEY_DATA_FORMAT_CERT_DER,
                    "the key of a certificate",
                )
                .map(KeyPool::new)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Verifies every `ds:Signature` of the document (at least one) against the kept keys;
    /// `ID` attributes are registered first, as samael does. Returns how many verified, or
    /// which one did not.
    pub fn verify_all(&self, xml: &str) -> Result<usize, SignError> {
        let (_document, root) = parse_with_ids(xml)?;
        let mut signatures = Vec::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            let is_signature = node.get_name() == "Signature"
                && node
                    .get_namespace()
                    .is_some_and(|ns| ns.get_href() == NS_DS.to_str().unwrap_or_default());
            if is_signature {
                signatures.push(node.node_ptr().cast::<c_void>());
            }
            let mut children = node.get_child_elements();
            children.reverse();
            stack.extend(children);
        }
        if signatures.is_empty() {
            return Err(SignError("the document has no ds:Signature".to_owned()));
        }
        for (n, signature) in signatures.iter().enumerate() {
            let mut failed = false;
            let mut verified = false;
            for pool in &self.keys {
                let outcome = pool.lend(|key| {
                    // SAFETY: `signature` is an element of `document`, alive here; `key` is
                    // lent to this call alone, and only read.
                    unsafe { harness_xmlsec_verify_with_key(*signature, key) }
                })?;
                match outcome {
                    1 => {
                        verified = true;
                        break;
                    }
                    0 => {}
                    _ => failed = true,
                }
            }
            if !verified {
                return Err(SignError(format!(
                    "signature {} of {} {} with none of the {} certificates",
                    n + 1,
                    signatures.len(),
                    if failed {
                        "could not be processed"
                    } else {
                        "does not verify"
                    },
                    self.keys.len()
                )));
            }
        }
        Ok(signatures.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samael::crypto::{CryptoProvider as _, XmlSec};

    fn template(cert_b64: &str) -> String {
        format!(
            concat!(
                "<?xml version=\"1.0\"?>\n<r:Root xmlns:r=\"urn:test\" ID=\"_a1\"><r:Issuer>me</r:Issuer>",
                "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
                "<ds:Reference URI=\"#_a1\"><ds:Transforms>",
                "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
                "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "</ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
                "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>",
                "<ds:SignatureValue></ds:SignatureValue>",
                "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                "\n</ds:Signature><r:Body a=\"1\">text &amp; more<!-- c --></r:Body></r:Root>"
            ),
            cert_b64
        )
    }

    fn rsa_key() -> (Vec<u8>, String) {
        use openssl::{asn1, hash, pkey, rsa, x509};
        let key = pkey::PKey::from_rsa(rsa::Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut builder = x509::X509::builder().expect("builder");
        builder.set_version(2).expect("version");
        builder.set_pubkey(&key).expect("pubkey");
        builder
            .set_not_before(asn1::Asn1Time::days_from_now(0).expect("time").as_ref())
            .expect("not before");
        builder
            .set_not_after(asn1::Asn1Time::days_from_now(1).expect("time").as_ref())
            .expect("not after");
        builder
            .sign(&key, hash::MessageDigest::sha256())
            .expect("sign");
        let cert = builder.build().to_der().expect("der");
        use base64::Engine as _;
        (
            key.private_key_to_pkcs8().expect("pkcs8"),
            base64::engine::general_purpose::STANDARD.encode(cert),
        )
    }

    #[test]
    fn a_kept_key_signs_byte_for_byte_as_samael_does_with_the_key_parsed_each_time() {
        let (der, cert) = rsa_key();
        let xml = template(&cert);
        let kept = KeptKey::from_der(&der).expect("kept");
        let samael = XmlSec::sign_xml(&xml, &der).expect("samael");
        for _ in 0..3 {
            assert_eq!(kept.sign_first_template(&xml).expect("kept signs"), samael);
        }
        assert!(samael.contains("<ds:X509Certificate>"));
        assert!(!samael.contains("<ds:SignatureValue></ds:SignatureValue>"));
    }

    #[test]
    fn a_kept_key_signs_from_several_threads() {
        let (der, cert) = rsa_key();
        let xml = template(&cert);
        let kept = KeptKey::from_der(&der).expect("kept");
        let expected = XmlSec::sign_xml(&xml, &der).expect("samael");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        assert_eq!(kept.sign_first_template(&xml).expect("signs"), expected);
                    }
                });
            }
        });
        // A copy for each thread that held the key at the same time, at most: not one each.
        let copies = kept.key.keys().idle.len();
        assert!((1..=4).contains(&copies), "{copies} copies");
    }

    fn cert_der(b64: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
    }

    #[test]
    fn kept_certificates_verify_as_samael_does_and_refuse_what_it_refuses() {
        use samael::crypto::ReduceMode;
        let (der, cert) = rsa_key();
        let (_, other) = rsa_key();
        let signed = KeptKey::from_der(&der)
            .expect("kept")
            .sign_first_template(&template(&cert))
            .expect("signs");
        let samael_accepts = |xml: &str, cert: &str| {
            XmlSec::reduce_xml_to_signed(
                xml,
                &[cert_der(cert).into()],
                ReduceMode::ValidateAndMarkNoAncestors,
            )
            .is_ok()
        };
        // The right certificate among others (the IdP publishes two), from several threads.
        let kept = KeptCerts::from_der([cert_der(&other).as_slice(), cert_der(&cert).as_slice()])
            .expect("kept certificates");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..5 {
                        assert_eq!(kept.verify_all(&signed).expect("verifies"), 1);
                    }
                });
            }
        });
        assert!(samael_accepts(&signed, &cert));
        // Only the wrong certificate; a changed text; a changed SignatureValue; no signature.
        let wrong = KeptCerts::from_der([cert_der(&other).as_slice()]).expect("kept");
        let tampered = signed.replace("text &amp; more", "text &amp; less");
        let value = signed
            .split("<ds:SignatureValue>")
            .nth(1)
            .and_then(|v| v.get(..8))
            .expect("a signature value");
        let forged_value = signed.replacen(value, "AAAAAAAA", 1);
        for (xml, certs, what) in [
            (&signed, &wrong, "the wrong certificate"),
            (&tampered, &kept, "a changed text"),
            (&forged_value, &kept, "a changed SignatureValue"),
        ] {
            let e = certs.verify_all(xml).expect_err(what);
            assert!(e.0.contains("signature 1 of 1"), "{what}: {e}");
        }
        assert!(!samael_accepts(&signed, &other) && !samael_accepts(&tampered, &cert));
        // Keys lent to the refusals came back as they were.
        assert_eq!(kept.verify_all(&signed).expect("verifies again"), 1);
        assert!(kept.verify_all("<a ID=\"_x\"/>").is_err());
        assert!(kept.verify_all("not xml").is_err());
        assert!(KeptCerts::from_der([b"not a certificate".as_slice()]).is_err());
    }

    #[test]
    fn no_template_and_no_key_are_errors() {
        assert!(KeptKey::from_der(b"not a key").is_err());
        let (der, _) = rsa_key();
        let kept = KeptKey::from_der(&der).expect("kept");
        assert!(kept.sign_first_template("<a ID=\"_x\"/>").is_err());
    }
}
