//! What the reference SP's validation has cost this process so far
//! ([`hardening::meter`]): `saml-harness bench` reads these before and after a run to say
//! where its CPU went.

use hardening::meter::Meter;

/// Responses validated ([`crate::validate::validate`], all of the ACS's checks after the
/// form value is decoded), with their CPU time.
pub static VALIDATIONS: Meter = Meter::new();

/// Of those, the ones that signed someone in (counted, not timed).
pub static ACCEPTED: Meter = Meter::new();

/// Signature verifications of responses (samael's: the IdP certificate decoded, the document
/// parsed and reduced to what is signed, xmlsec's verification), with their CPU time; a part
/// of [`VALIDATIONS`].
pub static VERIFICATIONS: Meter = Meter::new();
