//! Defences the mock IdP, the reference SP and the harness share against hostile input.
//!
//! - [`xml_io`]: libxml2 and xmlsec load nothing a document names (no Reference URI, DTD,
//!   external entity, RetrievalMethod or XSLT `document()` is fetched or read), for every
//!   signature verification and signing in the process.
//! - [`limited`]: reads bounded before they happen (regular files only, at most N bytes; http(s)
//!   downloads cut off past N bytes and after a total timeout).
//! - [`serve`]: HTTP/1 serving with header, body and idle timeouts, a connection cap and a
//!   bounded graceful shutdown ([`serve::Limits`]).
//! - [`origin`]: requests a browser sends on another site's behalf (CSRF), JSON bodies, bearer
//!   tokens compared in constant time.
//! - [`xmlsec_key`]: enveloped signing with a private key xmlsec parsed once (samael parses the
//!   key anew for every signature), byte for byte what samael's `sign_xml` writes, and
//!   verification with certificates parsed once.
//! - [`private_file`]: private keys on disk: folders 0700, files 0600, replaced whole.
//! - [`meter`]: process-wide counts and CPU time of the expensive operations (signing,
//!   self-checks, validations), for `saml-harness bench`.
//! - `probe` (feature `probes`, for tests): a loopback listener that counts connections and a
//!   FIFO that blocks whoever opens it.

pub mod limited;
pub mod meter;
pub mod origin;
pub mod private_file;
pub mod serve;
pub mod xml_io;
pub mod xmlsec_key;

#[cfg(feature = "probes")]
pub mod probe;
