//! What the mock IdP's expensive work has cost this process so far ([`hardening::meter`]):
//! `saml-harness bench` reads these before and after a run to say where its CPU went.

use hardening::meter::Meter;

/// Responses built ([`crate::response::build`]: plan, render, signing, tampering,
/// self-check), with their CPU time.
pub static RESPONSES: Meter = Meter::new();

/// Private-key signatures (RSA or ECDSA; not HMAC) of anything the IdP sends (responses,
/// logout messages, the Redirect binding's query signatures, re-signed tamperings), with the
/// CPU time of making each: for an enveloped signature, xmlsec's whole pass (parse,
/// canonicalization, digest, the private-key operation, serialization).
pub static SIGNATURES: Meter = Meter::new();

/// Self-checks ([`crate::response::build`] verifying what a plan calls correctly signed
/// against the published keys), with their CPU time.
pub static SELF_CHECKS: Meter = Meter::new();

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Signing, SigningLayout};

    #[test]
    fn a_signed_response_counts_one_response_its_signatures_and_its_self_check() {
        let keys = crate::KeyStore::generate(crate::KeyType::Rsa2048).expect("keys");
        let ctx = crate::response::ResponseContext::for_tests(None);
        let plan = Plan {
            signing: Signing {
                layout: Some(SigningLayout::Both),
                ..Signing::default()
            },
            ..Plan::default()
        };
        let read = || [RESPONSES.read(), SIGNATURES.read(), SELF_CHECKS.read()];
        let before = read();
        let built = crate::response::build(&ctx, &plan, &keys).expect("build");
        assert!(built.self_checked);
        let after = read();
        // Other tests of this process sign meanwhile: at least these, never exactly.
        let [responses, signatures, self_checks] = [0, 1, 2].map(|i| after[i].since(before[i]));
        assert!(
            responses.count >= 1 && responses.cpu_ns > 0,
            "{responses:?}"
        );
        assert!(
            signatures.count >= 2 && signatures.cpu_ns > 0,
            "{signatures:?}"
        );
        assert!(
            self_checks.count >= 1 && self_checks.cpu_ns > 0,
            "{self_checks:?}"
        );
    }
}
