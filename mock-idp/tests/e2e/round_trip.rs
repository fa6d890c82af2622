//! SP-initiated round trips against samael's `ServiceProvider`: valid plans are accepted as the
//! right user; defects are refused, or (a wrong NameID the IdP itself signed) accepted as the
//! wrong user.

use mock_idp::plan::{Alteration, SignatureSelector, Signing, SigningLayout, Tamper};
use mock_idp::{Flavour, KeyChoice, Plan};

use crate::support::{idp, sp_initiated};

fn plan(layout: SigningLayout) -> Plan {
    Plan {
        user: Some("bob@example.test".into()),
        signing: Signing {
            layout: Some(layout),
            ..Signing::default()
        },
        ..Plan::default()
    }
}

/// Whether samael accepted the response with bob's NameID: his email, or for a flavour whose
/// NameID is an opaque transient value, that value (the email is then in an attribute).
fn signed_in_as_bob(flavour: Flavour, verdict: &Result<String, String>) -> bool {
    match verdict {
        Ok(name) if flavour.name_id_is_email() => name == "bob@example.test",
        Ok(name) => !name.is_empty() && !name.contains('@'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_valid_plan_is_accepted_in_every_signed_layout_and_flavour() {
    let idp = idp();
    for flavour in Flavour::ALL {
        for layout in [
            SigningLayout::Response,
            SigningLayout::Assertion,
            SigningLayout::Both,
        ] {
            let (verdict, xml) = sp_initiated(
                &idp,
                Plan {
                    flavour,
                    ..plan(layout)
                },
            )
            .await;
            assert!(
                signed_in_as_bob(flavour, &verdict),
                "{flavour:?} {layout:?}: {verdict:?}\n{xml}"
            );
        }
        let (verdict, _) = sp_initiated(
            &idp,
            Plan {
                flavour,
                user: Some("bob@example.test".into()),
                ..Plan::default()
            },
        )
        .await;
        assert!(
            signed_in_as_bob(flavour, &verdict),
            "{flavour:?} default layout: {verdict:?}"
        );
    }
}

#[tokio::test]
async fn the_rollover_key_is_accepted_because_metadata_publishes_it() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.signing.key = KeyChoice::Rollover;
    assert_eq!(
        sp_initiated(&idp, p).await.0.as_deref(),
        Ok("bob@example.test")
    );
}

#[tokio::test]
async fn an_unsigned_response_is_refused() {
    let idp = idp();
    let (verdict, xml) = sp_initiated(&idp, plan(SigningLayout::None)).await;
    assert!(verdict.is_err(), "accepted: {verdict:?}");
    assert!(!xml.contains("Signature"), "{xml}");
}

#[tokio::test]
async fn a_response_with_its_signatures_removed_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.tamper.push(Tamper::RemoveSignature {
        which: SignatureSelector::All,
    });
    assert!(sp_initiated(&idp, p).await.0.is_err());
}

#[tokio::test]
async fn a_wrong_destination_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.alter.push(Alteration::Destination {
        value: "https://evil.test/acs".into(),
    });
    let (verdict, xml) = sp_initiated(&idp, p).await;
    assert!(verdict.is_err(), "accepted: {verdict:?}");
    assert!(xml.contains("Destination=\"https://evil.test/acs\""));
}

#[tokio::test]
async fn a_wrong_recipient_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Assertion);
    p.alter.push(Alteration::Recipient {
        value: "https://evil.test/acs".into(),
    });
    assert!(sp_initiated(&idp, p).await.0.is_err());
}

#[tokio::test]
async fn a_wrong_name_id_signed_by_the_idp_is_accepted_as_the_wrong_user() {
    // The IdP itself asserts another user: the signature is valid, so an SP can only notice by
    // comparing with the email the user typed. samael signs the wrong user in; the test says so.
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.alter.push(Alteration::NameId {
        value: "mallory@example.test".into(),
    });
    assert_eq!(
        sp_initiated(&idp, p).await.0.as_deref(),
        Ok("mallory@example.test")
    );
}

#[tokio::test]
async fn a_name_id_edited_after_signing_is_refused() {
    let idp = idp();
    for layout in [
        SigningLayout::Response,
        SigningLayout::Assertion,
        SigningLayout::Both,
    ] {
        let mut p = plan(layout);
        p.tamper.push(Tamper::EditNameId {
            value: "admin@example.test".into(),
        });
        let (verdict, xml) = sp_initiated(&idp, p).await;
        assert!(verdict.is_err(), "{layout:?} accepted: {verdict:?}");
        assert!(xml.contains(">admin@example.test</saml:NameID>"), "{xml}");
    }
}

#[tokio::test]
async fn a_response_signed_by_a_cloned_certificate_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.signing.key = KeyChoice::AttackerClone;
    assert!(sp_initiated(&idp, p).await.0.is_err());
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.alter.push(Alteration::Time {
        field: mock_idp::plan::TimeField::NotOnOrAfter,
        offset_seconds: -600,
    });
    assert!(sp_initiated(&idp, p).await.0.is_err());
}

#[tokio::test]
async fn a_wrong_in_response_to_is_refused() {
    let idp = idp();
    let mut p = plan(SigningLayout::Both);
    p.alter.push(Alteration::InResponseTo {
        value: "_other-request".into(),
        scope: mock_idp::plan::InResponseToScope::Both,
    });
    assert!(sp_initiated(&idp, p).await.0.is_err());
}

#[tokio::test]
async fn every_rsa_algorithm_and_digest_signs_and_passes_the_self_check() {
    use mock_idp::plan::{DigestAlgorithm, SignatureAlgorithm};
    let idp = idp();
    let sp = mock_idp::SpEntry::new(crate::support::SP_ENTITY_ID, crate::support::ACS_URL);
    for algorithm in [
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha1,
        SignatureAlgorithm::RsaSha512,
    ] {
        for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha1] {
            let mut p = plan(SigningLayout::Both);
            p.signing.algorithm = Some(algorithm);
            p.signing.digest = digest;
            let built = idp
                .respond(&p, &sp, crate::support::ACS_URL, None)
                .expect("respond");
            assert!(built.self_checked && built.valid);
            assert!(built.xml.contains(algorithm.uri()) && built.xml.contains(digest.uri()));
        }
    }
}

#[tokio::test]
async fn an_ecdsa_idp_signs_with_ecdsa_sha256_and_samael_accepts_it() {
    use std::str::FromStr as _;
    let keys = mock_idp::KeyStore::generate(mock_idp::KeyType::EcdsaP256).expect("keys");
    let idp = mock_idp::Idp::new(
        mock_idp::IdpSettings {
            entity_id: "http://127.0.0.1:8/ec/metadata".into(),
            base_url: "http://127.0.0.1:8/ec".into(),
            default_user: "erin@example.test".into(),
        },
        keys,
        std::sync::Arc::new(mock_idp::SystemClock),
    );
    let sp_entry = mock_idp::SpEntry::new(crate::support::SP_ENTITY_ID, crate::support::ACS_URL);
    let mut p = plan(SigningLayout::Both);
    p.signing.algorithm = Some(mock_idp::plan::SignatureAlgorithm::EcdsaSha256);
    let built = idp
        .respond(&p, &sp_entry, crate::support::ACS_URL, None)
        .expect("respond");
    let sp = samael::service_provider::ServiceProviderBuilder::default()
        .entity_id(crate::support::SP_ENTITY_ID.to_owned())
        .acs_url(crate::support::ACS_URL.to_owned())
        .idp_metadata(
            samael::metadata::EntityDescriptor::from_str(&idp.metadata_xml()).expect("metadata"),
        )
        .allowed_signature_algorithms(vec![samael::crypto::AllowedSignatureAlgorithm::EcdsaSha256])
        .allow_idp_initiated(true)
        .build()
        .expect("sp");
    let assertion = sp.parse_xml_response(&built.xml, None).expect("accepted");
    assert_eq!(
        assertion
            .subject
            .and_then(|s| s.name_id)
            .map(|n| n.value)
            .as_deref(),
        Some("bob@example.test")
    );
}
