//! Signed responses per second on one core: `cargo bench -p mock-idp --bench sign`.
//!
//! Compare with `openssl speed -seconds 3 rsa2048` (sign/s) on the same machine; DESIGN.md
//! section 8 asks for at least 80% of it. Each response here is the whole pipeline: build,
//! render, sign with xmlsec, and the self-check verification.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_idp::plan::{Signing, SigningLayout};
use mock_idp::{Idp, IdpSettings, KeyStore, KeyType, Plan, SpEntry, SystemClock};

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for key_type in [KeyType::Rsa2048, KeyType::EcdsaP256] {
        let idp = Idp::new(
            IdpSettings {
                entity_id: "http://127.0.0.1:1/metadata".into(),
                base_url: "http://127.0.0.1:1".into(),
                default_user: "alice@example.test".into(),
            },
            KeyStore::generate(key_type).expect("keys"),
            Arc::new(SystemClock),
        );
        let sp = SpEntry::new("https://sp.test", "http://127.0.0.1:2/acs");
        for layout in [SigningLayout::Response, SigningLayout::Both] {
            let plan = Plan {
                signing: Signing {
                    layout: Some(layout),
                    algorithm: Some(match key_type {
                        KeyType::Rsa2048 => mock_idp::plan::SignatureAlgorithm::RsaSha256,
                        KeyType::EcdsaP256 => mock_idp::plan::SignatureAlgorithm::EcdsaSha256,
                    }),
                    ..Signing::default()
                },
                ..Plan::default()
            };
            // Warm up (attacker keys are not involved; this primes libxml2/xmlsec).
            for _ in 0..20 {
                idp.respond(&plan, &sp, "http://127.0.0.1:2/acs", None)
                    .expect("respond");
            }
            let deadline = Duration::from_secs(seconds);
            let start = Instant::now();
            let mut count = 0u64;
            while start.elapsed() < deadline {
                let built = idp
                    .respond(&plan, &sp, "http://127.0.0.1:2/acs", None)
                    .expect("respond");
                assert!(built.self_checked);
                count += 1;
            }
            let elapsed = start.elapsed().as_secs_f64();
            let signatures = if layout == SigningLayout::Both { 2 } else { 1 };
            println!(
                "{key_type:?} layout={layout:?}: {:.0} responses/s ({:.0} signatures/s), {:.3} ms/response, one core, self-check included",
                count as f64 / elapsed,
                (count * signatures) as f64 / elapsed,
                elapsed * 1000.0 / count as f64,
            );
        }
    }
}
