//! libxml2 and xmlsec load nothing a document names.
//!
//! Left as they are, xmlsec dereferences a signature's `Reference URI` (and a KeyInfo
//! `RetrievalMethod`) through its IO callbacks, which are libxml2's: `file:` and plain paths
//! are read (a FIFO blocks the verifier for ever), `http:` URLs are fetched. libxml2 loads
//! external DTD subsets and entities, and libxslt's `document()`, through its external entity
//! loader. [`forbid_external_loads`] turns both off for the whole process, once: xmlsec's IO
//! callbacks are replaced by one that matches nothing, and the entity loader by one that loads
//! nothing. Same-document references (`#id`, `""`) never go through either, so signing and
//! verifying are unchanged.
//!
//! The one exception is for the reference SP's deliberate `--weaken reference-uri`, which
//! exists to show that the harness notices an SP that fetches a Reference URI:
//! [`allow_http_fetches`] lets xmlsec fetch `http:` URLs (never files) on the calling thread,
//! for the duration of one closure. And the harness's own schema validation, which compiles
//! the SAML schemas it carries (written to a folder of its own) with their `xs:import`s:
//! [`allow_files_under`] lets libxml2 read regular files below that one folder on the calling
//! thread, for the duration of one closure (never what a validated document names: an
//! instance document's own DTD or entities stay unloaded by the parser options).
//!
//! Both libraries also print every failure they meet to stderr by default: each refused
//! forgery, broken digest and odd namespace in a catalogue run adds a few lines ("signature
//! verification failed", "C14N error"), hundreds per run, in the middle of the binaries' own
//! output, though every caller already turns each failure into an error or a refusal of its
//! own. [`xmlsec_errors_to_tracing`] sends xmlsec's to `tracing::debug!` (target `xmlsec`:
//! seen under `-vv`), and [`quiet_xml_libraries`] also sends libxml2's generic errors nowhere.
//!
//! This and [`crate::xmlsec_key`] are the workspace's only `unsafe` code (the workspace denies
//! it elsewhere).
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Once;

type MatchFn = unsafe extern "C" fn(*const c_char) -> c_int;
type OpenFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type ReadFn = unsafe extern "C" fn(*mut c_void, *mut c_char, c_int) -> c_int;
type CloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;
/// `xmlExternalEntityLoader`: `(URL, ID, xmlParserCtxtPtr) -> xmlParserInputPtr`.
type EntityLoader = unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void) -> *mut c_void;
/// `xmlSecErrorsCallback` (xmlsec/errors.h): `(file, line, func, errorObject, errorSubject,
/// reason, msg)`; not variadic (xmlsec formats the message first).
type ErrorsCallback = unsafe extern "C" fn(
    *const c_char,
    c_int,
    *const c_char,
    *const c_char,
    *const c_char,
    c_int,
    *const c_char,
);

#[link(name = "xmlsec1")]
unsafe extern "C" {
    /// xmlsec/io.h: empties xmlsec's list of IO callbacks.
    fn xmlSecIOCleanupCallbacks();
    /// xmlsec/io.h: adds one set of IO callbacks (tried in reverse order of registration).
    fn xmlSecIORegisterCallbacks(
        matches: MatchFn,
        open: OpenFn,
        read: ReadFn,
        close: CloseFn,
    ) -> c_int;
    /// xmlsec/errors.h: the function every xmlsec error is reported to (a plain global).
    fn xmlSecErrorsSetCallback(callback: ErrorsCallback);
}

#[link(name = "xml2")]
unsafe extern "C" {
    /// libxml/parser.h: replaces the loader of every external DTD, entity and document.
    fn xmlSetExternalEntityLoader(loader: EntityLoader);
    /// libxml/xmlIO.h: libxml2's loader without network access (files only).
    fn xmlNoNetExternalEntityLoader(
        url: *const c_char,
        id: *const c_char,
        context: *mut c_void,
    ) -> *mut c_void;
    /// libxml/xmlIO.h: libxml2's own HTTP input callbacks.
    fn xmlIOHTTPMatch(filename: *const c_char) -> c_int;
    fn xmlIOHTTPOpen(filename: *const c_char) -> *mut c_void;
    fn xmlIOHTTPRead(context: *mut c_void, buffer: *mut c_char, len: c_int) -> c_int;
    fn xmlIOHTTPClose(context: *mut c_void) -> c_int;
    /// libxml/xmlerror.h: the generic error handler for threads created from now on (libxml2
    /// keeps one per thread). A null handler selects the default one, which writes to `ctx`
    /// as a `FILE *`.
    fn xmlThrDefSetGenericErrorFunc(ctx: *mut c_void, handler: *const c_void);
    /// libxml/xmlerror.h: the same, for the calling thread.
    fn xmlSetGenericErrorFunc(ctx: *mut c_void, handler: *const c_void);
}

thread_local! {
    static HTTP_ALLOWED: Cell<bool> = const { Cell::new(false) };
    static FILES_UNDER: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Whether `url` (a path or a `file:` URL) names a regular file below the folder
/// [`allow_files_under`] allows on this thread.
fn allowed_file(url: &str) -> bool {
    let path = url
        .strip_prefix("file://")
        .unwrap_or(url)
        .trim_start_matches("localhost");
    let path = Path::new(path);
    if !path.is_absolute() {
        return false;
    }
    FILES_UNDER
        .try_with(|dir| {
            dir.borrow().as_ref().is_some_and(|dir| {
                std::fs::canonicalize(path)
                    .is_ok_and(|real| real.starts_with(dir) && real.is_file())
            })
        })
        .unwrap_or(false)
}

/// The entity loader: loads nothing (libxml2 reports "failed to load external entity"),
/// except a file below the folder [`allow_files_under`] allows on this thread.
unsafe extern "C" fn load_nothing(
    url: *const c_char,
    id: *const c_char,
    context: *mut c_void,
) -> *mut c_void {
    if url.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: libxml2 passes a NUL-terminated URL (checked non-null above) that it keeps
    // alive for the duration of this call.
    let name = unsafe { CStr::from_ptr(url) }.to_string_lossy();
    if !allowed_file(&name) {
        return std::ptr::null_mut();
    }
    // SAFETY: the arguments are libxml2's own, passed on unchanged to its file loader.
    unsafe { xmlNoNetExternalEntityLoader(url, id, context) }
}

/// xmlsec's only IO callback: an `http:` URL, and only on a thread inside
/// [`allow_http_fetches`]; nothing otherwise.
unsafe extern "C" fn http_when_allowed(uri: *const c_char) -> c_int {
    let allowed = HTTP_ALLOWED.try_with(Cell::get).unwrap_or(false);
    if !allowed || uri.is_null() {
        return 0;
    }
    // SAFETY: xmlsec passes a NUL-terminated URI (checked non-null above), which libxml2's
    // own match function reads and does not keep.
    unsafe { xmlIOHTTPMatch(uri) }
}

/// Turns off every load libxml2 and xmlsec would make because of what a document says, for
/// the whole process. Idempotent and cheap after the first call; call it before any xmlsec
/// use (every signing and verifying function of the workspace does).
pub fn forbid_external_loads() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // xmlsec registers libxml2's file, HTTP and FTP callbacks when samael initializes it
        // (lazily, on first use). Initialize it first, so ours replace them afterwards.
        initialize_xmlsec();
        // SAFETY: called once, before any verification in this process can reach xmlsec's
        // callback list (every caller passes through this `Once` first); the functions
        // registered are `extern "C"` with the signatures xmlsec/io.h and libxml/parser.h
        // declare, and are 'static.
        let registered = unsafe {
            xmlSecIOCleanupCallbacks();
            xmlSetExternalEntityLoader(load_nothing);
            xmlSecIORegisterCallbacks(
                http_when_allowed,
                xmlIOHTTPOpen,
                xmlIOHTTPRead,
                xmlIOHTTPClose,
            )
        };
        if registered < 0 {
            // Without the callback xmlsec has none at all: still nothing is loaded.
            tracing::error!("failed to register xmlsec's HTTP callback for --weaken reference-uri");
        }
    });
}

/// Runs `f` with libxml2 allowed to read regular files below `dir` on this thread (the
/// harness's own copies of the SAML schemas and their imports); nothing else is loaded.
pub fn allow_files_under<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    forbid_external_loads();
    struct Reset(Option<PathBuf>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let before = self.0.take();
            let _ = FILES_UNDER.try_with(|d| *d.borrow_mut() = before);
        }
    }
    let real = std::fs::canonicalize(dir).ok();
    let _reset = Reset(FILES_UNDER.with(|d| d.replace(real)));
    f()
}

/// Runs `f` with xmlsec allowed to fetch `http:` URLs on this thread (never files). Only the
/// reference SP's `--weaken reference-uri` uses it, to behave like an SP that dereferences
/// Reference URIs; everything else in the process still loads nothing.
pub fn allow_http_fetches<T>(f: impl FnOnce() -> T) -> T {
    forbid_external_loads();
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let before = self.0;
            let _ = HTTP_ALLOWED.try_with(|a| a.set(before));
        }
    }
    let _reset = Reset(HTTP_ALLOWED.with(|a| a.replace(true)));
    f()
}

/// xmlsec's error callback: one `tracing::debug!` event (target `xmlsec`) per error.
unsafe extern "C" fn xmlsec_error_to_debug(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    // SAFETY: xmlsec passes NUL-terminated strings or null, valid for this call; they are
    // copied (lossily) before it returns.
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    tracing::debug!(
        target: "xmlsec",
        func = %text(func),
        object = %text(error_object),
        subject = %text(error_subject),
        reason,
        at = %format!("{}:{line}", text(file)),
        "{}",
        text(msg)
    );
}

/// Sends every xmlsec error to `tracing::debug!` (target `xmlsec`) instead of stderr, for the
/// rest of the process. Idempotent.
pub fn xmlsec_errors_to_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets xmlsec's global callback pointer to a 'static `extern "C"` function of
        // the signature xmlsec/errors.h declares; the function copies its arguments and keeps
        // nothing.
        unsafe { xmlSecErrorsSetCallback(xmlsec_error_to_debug) };
    });
}

/// Keeps libxmlsec and libxml2 from printing to stderr for the rest of the process: xmlsec's
/// errors go to `tracing::debug!` ([`xmlsec_errors_to_tracing`]), libxml2's generic errors to
/// `/dev/null` (`-vv` callers call [`xmlsec_errors_to_tracing`] alone, to keep libxml2's own
/// words). Call it first thing in `main`, before any thread that might use libxml2 starts
/// (libxml2 copies the default handler into each thread's state on that thread's first call).
/// Idempotent.
pub fn quiet_xml_libraries() {
    xmlsec_errors_to_tracing();
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: fopen gets two NUL-terminated literals; the FILE it returns is never closed
        // (it must outlive every libxml2 thread), and when it is null (no /dev/null) libxml2's
        // default handler keeps writing to stderr, as before. The libxml2 calls store the
        // pointer and keep libxml2's own default handler, so no Rust function is ever called
        // back through libxml2's variadic handler type.
        unsafe {
            let sink = libc::fopen(c"/dev/null".as_ptr(), c"w".as_ptr());
            if !sink.is_null() {
                xmlThrDefSetGenericErrorFunc(sink.cast(), std::ptr::null());
                xmlSetGenericErrorFunc(sink.cast(), std::ptr::null());
            }
        }
    });
}

/// Makes samael initialize xmlsec, quietly: a certificate that loads, a document without a
/// signature (samael looks for the node itself, so xmlsec prints nothing).
fn initialize_xmlsec() {
    use samael::crypto::{CertificateDer, CryptoProvider as _, XmlSec};
    let Some(der) = throwaway_certificate() else {
        return;
    };
    let _ = XmlSec::verify_signed_xml("<x/>", &CertificateDer::from(der), None);
}

fn throwaway_certificate() -> Option<Vec<u8>> {
    use openssl::{asn1, ec, hash, nid, pkey, x509};
    let group = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1).ok()?;
    let key = pkey::PKey::from_ec_key(ec::EcKey::generate(&group).ok()?).ok()?;
    let mut builder = x509::X509::builder().ok()?;
    builder.set_version(2).ok()?;
    builder.set_pubkey(&key).ok()?;
    builder
        .set_not_before(asn1::Asn1Time::days_from_now(0).ok()?.as_ref())
        .ok()?;
    builder
        .set_not_after(asn1::Asn1Time::days_from_now(1).ok()?.as_ref())
        .ok()?;
    builder.sign(&key, hash::MessageDigest::sha256()).ok()?;
    builder.build().to_der().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use samael::crypto::{CertificateDer, CryptoProvider as _, XmlSec};

    use super::*;

    #[test]
    fn files_are_read_only_below_the_allowed_folder_and_only_inside_the_closure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inside = dir.path().join("a.xsd");
        std::fs::write(&inside, "<a/>").expect("write");
        let fifo = crate::probe::Fifo::new();
        let inside = inside.display().to_string();
        assert!(
            !allowed_file(&inside),
            "nothing is allowed outside the closure"
        );
        allow_files_under(dir.path(), || {
            assert!(allowed_file(&inside));
            assert!(allowed_file(&format!("file://{inside}")));
            assert!(!allowed_file("/etc/passwd"));
            assert!(!allowed_file("a.xsd"), "relative paths are refused");
            assert!(!allowed_file(&format!(
                "{}/../etc/passwd",
                dir.path().display()
            )));
            assert!(!allowed_file(&fifo.path().display().to_string()));
        });
        assert!(
            !allowed_file(&inside),
            "the permission ends with the closure"
        );
    }
    use crate::probe::{Fifo, Listener};

    /// A document signed over `#_doc` with a fresh EC key, and the key's certificate.
    fn signed() -> (String, CertificateDer) {
        use openssl::{ec, nid, pkey};
        let group = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1).expect("group");
        let key = pkey::PKey::from_ec_key(ec::EcKey::generate(&group).expect("key")).expect("key");
        let mut builder = openssl::x509::X509::builder().expect("builder");
        builder.set_pubkey(&key).expect("pubkey");
        let day = openssl::asn1::Asn1Time::days_from_now(1).expect("time");
        builder.set_not_after(&day).expect("not after");
        builder
            .set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        builder
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let cert = builder.build().to_der().expect("der");
        let template = concat!(
            "<doc ID=\"_doc\"><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>",
            "<ds:Reference URI=\"#_doc\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>",
            "</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>text</doc>"
        );
        forbid_external_loads();
        let der = key.private_key_to_pkcs8().expect("pkcs8");
        let xml = XmlSec::sign_xml(template, &der).expect("xmlsec signs");
        (xml, CertificateDer::from(cert))
    }

    fn verifies(xml: &str, cert: &CertificateDer) -> bool {
        XmlSec::verify_signed_xml(xml, cert, Some("ID")).is_ok()
    }

    #[test]
    fn same_document_references_still_verify_and_nothing_else_is_loaded() {
        let (xml, cert) = signed();
        assert!(verifies(&xml, &cert), "the signed document verifies");
        let listener = Listener::start();
        let fifo = Fifo::new();
        for uri in [
            listener.url().to_owned(),
            fifo.path().display().to_string(),
            format!("file://{}", fifo.path().display()),
        ] {
            let edited = xml.replace("URI=\"#_doc\"", &format!("URI=\"{uri}\""));
            let check = cert.clone();
            let verified = fifo
                .within(Duration::from_secs(5), move || verifies(&edited, &check))
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert!(!verified, "{uri}");
        }
        assert_eq!(listener.hits(), 0, "nothing was fetched");
    }

    /// Counts the events of target `xmlsec` sent to it, and keeps their `func` fields.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Func(String);
            impl tracing::field::Visit for Func {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "func" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            if event.metadata().target() == "xmlsec" {
                let mut func = Func(String::new());
                event.record(&mut func);
                self.0.lock().expect("lock").push(func.0);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn xmlsec_errors_are_debug_events_not_stderr_lines() {
        let (xml, cert) = signed();
        let broken = xml.replace(">text<", ">changed<");
        quiet_xml_libraries();
        let recorder = std::sync::Arc::new(Recorder::default());
        let verified = tracing::subscriber::with_default(std::sync::Arc::clone(&recorder), || {
            verifies(&broken, &cert)
        });
        assert!(!verified, "a changed document does not verify");
        let funcs = recorder.0.lock().expect("lock").clone();
        assert!(
            funcs.iter().any(|f| f.starts_with("xmlSec")),
            "xmlsec's errors as debug events: {funcs:?}"
        );
    }

    #[test]
    fn allow_http_fetches_lets_only_http_through_and_only_inside() {
        let (xml, cert) = signed();
        let listener = Listener::start();
        let edited = xml.replace("URI=\"#_doc\"", &format!("URI=\"{}\"", listener.url()));
        assert!(!allow_http_fetches(|| verifies(&edited, &cert)));
        assert_eq!(listener.hits(), 1, "fetched inside allow_http_fetches");
        assert!(!verifies(&edited, &cert));
        assert_eq!(listener.hits(), 1, "not fetched outside it");
        let fifo = Fifo::new();
        let to_fifo = xml.replace(
            "URI=\"#_doc\"",
            &format!("URI=\"{}\"", fifo.path().display()),
        );
        let verified = fifo
            .within(Duration::from_secs(5), move || {
                allow_http_fetches(|| verifies(&to_fifo, &cert))
            })
            .expect("files stay closed inside allow_http_fetches too");
        assert!(!verified);
    }
}
