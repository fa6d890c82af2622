//! The valid response verifies with the `xmlsec1` command-line tool too (an independent
//! verifier, not samael). `cargo xtask setup` installs it; a missing tool fails the test.

use std::process::Command;

use mock_idp::Plan;
use mock_idp::plan::{Signing, SigningLayout};

use crate::support::{idp, shared_keys, sp_initiated};

#[tokio::test]
async fn the_valid_response_verifies_with_the_xmlsec1_cli() {
    let idp = idp();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("idp-cert.pem");
    std::fs::write(&cert, shared_keys().trusted().cert_pem()).expect("write cert");
    for layout in [
        SigningLayout::Response,
        SigningLayout::Assertion,
        SigningLayout::Both,
    ] {
        let plan = Plan {
            signing: Signing {
                layout: Some(layout),
                ..Signing::default()
            },
            ..Plan::default()
        };
        let (verdict, xml) = sp_initiated(&idp, plan).await;
        assert!(verdict.is_ok(), "{verdict:?}");
        let file = dir.path().join(format!("{layout:?}.xml"));
        std::fs::write(&file, &xml).expect("write response");
        let output = Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&cert)
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .arg(&file)
            .output()
            .expect("xmlsec1 is not installed: run `cargo xtask setup` (Debian package xmlsec1)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.contains("OK"),
            "{layout:?}: xmlsec1 said {stderr}"
        );
    }
}
