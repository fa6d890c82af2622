//! Keeps libxmlsec and libxml2 from printing to stderr.
//!
//! Both libraries print every failure they meet to stderr by default: each refused forgery,
//! broken digest and odd namespace in a catalogue run adds a few lines ("signature
//! verification failed", "C14N error"), hundreds per run, in the middle of the harness's
//! own output. The validator already turns each failure into a [`crate::Refusal`] with a
//! reason, so the printed copy tells a user nothing and reads like a fault.
//!
//! This is the workspace's one module with `unsafe`: two C calls, made once per process.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};
use std::sync::Once;

unsafe extern "C" {
    /// libxmlsec (`errors.h`): turns the default error callback's output on or off. A plain
    /// global flag; samael never installs another callback.
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: c_int);
    /// libxml2 (`xmlerror.h`): the generic error handler for threads created from now on
    /// (libxml2 keeps one per thread). A null handler selects the default one, which writes
    /// to `ctx` as a `FILE *`.
    fn xmlThrDefSetGenericErrorFunc(ctx: *mut c_void, handler: *const c_void);
    /// libxml2: the same, for the calling thread.
    fn xmlSetGenericErrorFunc(ctx: *mut c_void, handler: *const c_void);
    /// C library.
    fn fopen(path: *const c_char, mode: *const c_char) -> *mut c_void;
}

/// Silences both libraries for the rest of the process (`-vv` callers skip it to see the
/// libraries' own words). Call it first thing in `main`, before
/// any thread that might use libxml2 starts (libxml2 copies the default handler into each
/// thread's state on that thread's first call). Idempotent.
pub fn quiet_xml_libraries() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the xmlsec call sets an int. fopen gets two NUL-terminated literals; the
        // FILE it returns is never closed (it must outlive every libxml2 thread), and when it
        // is null (no /dev/null) libxml2's default handler falls back to stderr, as before.
        // The libxml2 calls store the pointer and keep libxml2's own default handler, so no
        // Rust function is ever called back through C's variadic handler type.
        unsafe {
            xmlSecErrorsDefaultCallbackEnableOutput(0);
            let sink = fopen(c"/dev/null".as_ptr(), c"w".as_ptr());
            if !sink.is_null() {
                xmlThrDefSetGenericErrorFunc(sink, std::ptr::null());
                xmlSetGenericErrorFunc(sink, std::ptr::null());
            }
        }
    });
}
