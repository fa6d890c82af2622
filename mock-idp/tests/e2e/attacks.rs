//! The attack tamperings build the shapes the reference describes
//! (shared/reference/saml-rules-and-attacks.md §2), and those meant to stay cryptographically
//! valid verify with the `xmlsec1` command-line tool.

use std::process::Command;

use mock_idp::Plan;
use mock_idp::plan::{
    DoctypeEntity, OriginalPlacement, SignatureAlgorithm, SignatureSelector, Signing,
    SigningLayout, Tamper, TextField, TextSplit,
};
use mock_idp::response::{ResponseContext, build};
use roxmltree::{Document, Node, ParsingOptions};

use crate::support::shared_keys;

const ALICE: &str = "alice@example.test";
const ADMIN: &str = "admin@example.test";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

fn response(layout: SigningLayout, tamper: Vec<Tamper>) -> String {
    response_with(
        Signing {
            layout: Some(layout),
            ..Signing::default()
        },
        tamper,
    )
}

fn response_with(signing: Signing, tamper: Vec<Tamper>) -> String {
    try_response(signing, tamper).expect("build")
}

pub(crate) fn try_response(
    signing: Signing,
    tamper: Vec<Tamper>,
) -> Result<String, mock_idp::response::PipelineError> {
    let ctx = ResponseContext {
        now: chrono::Utc::now(),
        idp_entity_id: "https://idp.test/metadata",
        sp_entity_id: "https://sp.test/saml",
        acs_url: "https://sp.test/saml/acs",
        in_response_to: Some("_request-1"),
        default_user: ALICE,
        sp_encryption_cert: None,
    };
    let plan = Plan {
        signing,
        tamper,
        ..Plan::default()
    };
    build(&ctx, &plan, shared_keys()).map(|r| r.xml)
}

fn parse(xml: &str) -> Document<'_> {
    Document::parse_with_options(
        xml,
        ParsingOptions {
            allow_dtd: true,
            ..ParsingOptions::default()
        },
    )
    .expect("well-formed")
}

/// The element's `ID` attribute in no namespace (roxmltree's `attribute("ID")` matches the
/// local name in any namespace, so a foreign `x:ID` written first would answer).
fn plain_id<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name() == "ID" && a.namespace().is_none())
        .map(|a| a.value())
}

/// Every Assertion in document order: (ID, NameID text, has its own signature, depth).
fn assertions(xml: &str) -> Vec<(String, String, bool, usize)> {
    let doc = parse(xml);
    doc.descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .map(|a| {
            let name = a
                .children()
                .find(|n| n.has_tag_name((SAML, "Subject")))
                .and_then(|s| s.children().find(|n| n.has_tag_name((SAML, "NameID"))))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_owned();
            (
                plain_id(a).unwrap_or_default().to_owned(),
                name,
                a.children().any(|c| c.has_tag_name((DS, "Signature"))),
                a.ancestors().count(),
            )
        })
        .collect()
}

fn xsw(variant: u8, layout: SigningLayout) -> String {
    response(
        layout,
        vec![Tamper::Xsw {
            variant,
            name_id: ADMIN.into(),
        }],
    )
}

/// `xmlsec1 --verify` checks the first signature in document order against the trusted key.
fn xmlsec1_verifies(xml: &str) -> Result<(), String> {
    xmlsec1_verifies_ids(xml, true)
}

/// As [`xmlsec1_verifies`]; `assertion_ids` off when assertions share an ID (xmlsec1 refuses
/// to load a document whose registered IDs repeat).
fn xmlsec1_verifies_ids(xml: &str, assertion_ids: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, shared_keys().trusted().cert_pem()).expect("write");
    let file = dir.path().join("response.xml");
    std::fs::write(&file, xml).expect("write");
    let output = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        ])
        .args(if assertion_ids {
            &[
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ][..]
        } else {
            &[][..]
        })
        .arg(&file)
        .output()
        .expect("xmlsec1 is not installed: run `cargo xtask setup` (Debian package xmlsec1)");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() && stderr.contains("OK") {
        Ok(())
    } else {
        Err(stderr)
    }
}

#[test]
fn xsw1_and_xsw2_hide_the_pristine_response_inside_or_beside_the_signature() {
    for (variant, inside) in [(1, true), (2, false)] {
        let xml = xsw(variant, SigningLayout::Response);
        let doc = parse(&xml);
        let root = doc.root_element();
        assert!(
            root.attribute("ID")
                .is_some_and(|id| id.starts_with("_evil_response_ID_"))
        );
        let signature = root
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("the original signature stays on the evil root");
        let pristine = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "Response")
            .nth(1)
            .expect("a pristine clone");
        assert_eq!(
            pristine.parent() == Some(signature),
            inside,
            "XSW{variant}: clone placement"
        );
        let names: Vec<String> = assertions(&xml).into_iter().map(|a| a.1).collect();
        assert!(names.contains(&ADMIN.to_owned()) && names.contains(&ALICE.to_owned()));
        // Both responses hold an assertion with the same ID. xmlsec refuses XSW1's extra
        // child of ds:Signature outright; XSW2's detached shape verifies.
        if variant == 2 {
            xmlsec1_verifies_ids(&xml, false).unwrap_or_else(|e| panic!("XSW{variant}: {e}"));
        }
    }
}

#[test]
fn xsw3_to_xsw6_keep_the_signed_original_and_add_an_evil_assertion() {
    // (variant, expected assertions in document order: (name, signed, nested deeper))
    for variant in 3..=6 {
        let xml = xsw(variant, SigningLayout::Assertion);
        let found = assertions(&xml);
        assert_eq!(found.len(), 2, "XSW{variant}: {found:?}");
        let evil = found
            .iter()
            .find(|a| a.1 == ADMIN)
            .unwrap_or_else(|| panic!("XSW{variant}: no evil assertion in {xml}"));
        let pristine = found.iter().find(|a| a.1 == ALICE).expect("pristine");
        assert_ne!(evil.0, pristine.0, "IDs differ");
        assert!(evil.0.starts_with("_evil_assertion_ID_"), "{}", evil.0);
        assert_eq!(found[0].1, ADMIN, "XSW{variant}: the evil one comes first");
        match variant {
            3 => assert!(pristine.2 && !evil.2),
            4 => assert!(
                pristine.2 && pristine.3 > evil.3,
                "the original nests inside"
            ),
            5 => assert!(evil.2 && !pristine.2, "the signature stays in the evil one"),
            _ => assert!(
                evil.2 && pristine.3 > evil.3,
                "the copy is inside the signature"
            ),
        }
        // xmlsec's enveloped transform removes everything inside the signature, so XSW6's
        // copy digests as nothing there; libraries that only drop the Signature child accept it.
        if variant != 6 {
            xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("XSW{variant}: {e}"));
        }
    }
}

#[test]
fn xsw7_and_xsw8_duplicate_the_id_in_namespace_less_wrappers() {
    for (variant, wrapper) in [(7, "Extensions"), (8, "Object")] {
        let xml = xsw(variant, SigningLayout::Assertion);
        let found = assertions(&xml);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, found[1].0, "XSW{variant}: the same ID twice");
        let doc = parse(&xml);
        let wrapped = doc
            .descendants()
            .find(|n| n.tag_name().name() == wrapper)
            .expect("wrapper");
        assert_eq!(wrapped.tag_name().namespace(), None, "no namespace");
        let inside = wrapped
            .first_element_child()
            .and_then(|a| a.descendants().find(|n| n.has_tag_name((SAML, "NameID"))))
            .and_then(|n| n.text());
        assert_eq!(inside, Some(if variant == 7 { ADMIN } else { ALICE }));
    }
}

#[test]
fn xsw_refuses_a_layout_it_does_not_apply_to() {
    let refused = try_response(
        Signing {
            layout: Some(SigningLayout::Assertion),
            ..Signing::default()
        },
        vec![Tamper::Xsw {
            variant: 1,
            name_id: ADMIN.into(),
        }],
    )
    .expect_err("XSW1 needs a signed Response");
    assert!(refused.is_plan_error());
    assert!(refused.to_string().contains("signed Response"), "{refused}");
}

#[test]
fn constructions_that_stay_cryptographically_valid_verify_with_xmlsec1() {
    let cases: Vec<(&str, SigningLayout, Tamper)> = vec![
        (
            "object-reference",
            SigningLayout::Assertion,
            Tamper::ObjectReference {
                name_id: ADMIN.into(),
            },
        ),
        (
            "enveloping",
            SigningLayout::Assertion,
            Tamper::EnvelopingSignature,
        ),
        (
            "detached",
            SigningLayout::Assertion,
            Tamper::DetachedSignature,
        ),
        (
            "extra transform",
            SigningLayout::Response,
            Tamper::ExtraTransform {
                which: SignatureSelector::Response,
            },
        ),
        (
            "second SignedInfo",
            SigningLayout::Assertion,
            Tamper::SecondSignedInfo {
                name_id: ADMIN.into(),
            },
        ),
        (
            "digest comment",
            SigningLayout::Assertion,
            Tamper::DigestComment {
                name_id: ADMIN.into(),
            },
        ),
    ];
    for (name, layout, tamper) in cases {
        let xml = response(layout, vec![tamper]);
        let result = xmlsec1_verifies(&xml);
        // A comment in DigestValue leaves the SignatureValue valid, but the real digest no
        // longer matches the edited assertion: xmlsec1 must refuse it. So must the second
        // SignedInfo (xmlsec1 takes the first, and the forgery it names is a different one).
        match name {
            "digest comment" | "second SignedInfo" => assert!(result.is_err(), "{name}: {xml}"),
            _ => result.unwrap_or_else(|e| panic!("{name}: {e}\n{xml}")),
        }
    }
}

#[test]
fn the_second_signed_info_names_the_forgery_with_its_correct_digest() {
    let xml = response(
        SigningLayout::Assertion,
        vec![Tamper::SecondSignedInfo {
            name_id: ADMIN.into(),
        }],
    );
    let doc = parse(&xml);
    let infos: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name((DS, "SignedInfo")))
        .collect();
    assert_eq!(infos.len(), 2);
    let uri = infos[1]
        .descendants()
        .find(|n| n.has_tag_name((DS, "Reference")))
        .and_then(|r| r.attribute("URI"))
        .expect("uri");
    let forged = doc
        .descendants()
        .find(|n| n.has_tag_name((SAML, "Assertion")) && Some(&uri[1..]) == n.attribute("ID"))
        .expect("the second SignedInfo names an assertion in the document");
    let canonical = mock_idp::c14n::canonicalize(&xml, forged, None);
    let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), canonical.as_bytes())
        .expect("hash");
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(digest);
    let written = infos[1]
        .descendants()
        .find(|n| n.has_tag_name((DS, "DigestValue")))
        .and_then(|n| n.text());
    assert_eq!(written, Some(expected.as_str()));
}

#[test]
fn text_splits_keep_the_digest_except_the_processing_instruction() {
    for (field, with, valid) in [
        (TextField::NameId, TextSplit::Comment, true),
        (TextField::NameId, TextSplit::Cdata, true),
        (TextField::NameId, TextSplit::ProcessingInstruction, false),
        (TextField::EmailAttribute, TextSplit::Comment, true),
        (TextField::EmailAttribute, TextSplit::Cdata, true),
        // A carriage return changes the parsed text (a CR, or the LF XML makes of a literal
        // one), so canonicalization writes something the IdP never signed.
        (TextField::NameId, TextSplit::CarriageReturnReference, false),
        (TextField::NameId, TextSplit::CarriageReturn, false),
    ] {
        let xml = response(
            SigningLayout::Assertion,
            vec![Tamper::SplitText {
                field,
                after: "alice@example".into(),
                with,
            }],
        );
        assert!(xml.contains("alice@example"), "{xml}");
        match with {
            TextSplit::CarriageReturnReference => assert!(xml.contains("alice@example&#13;.test")),
            TextSplit::CarriageReturn => assert!(xml.contains("alice@example\r.test")),
            _ => {}
        }
        assert_eq!(
            xmlsec1_verifies(&xml).is_ok(),
            valid,
            "{field:?} split by {with:?}"
        );
    }
}

#[test]
fn hmac_and_md5_signatures_carry_their_algorithm_and_a_value() {
    for (algorithm, uri) in [
        (
            SignatureAlgorithm::HmacSha256,
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        ),
        (
            SignatureAlgorithm::RsaMd5,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
        ),
    ] {
        let xml = response_with(
            Signing {
                layout: Some(SigningLayout::Response),
                algorithm: Some(algorithm),
                ..Signing::default()
            },
            Vec::new(),
        );
        assert!(xml.contains(uri), "{xml}");
        let doc = parse(&xml);
        let value = doc
            .descendants()
            .find(|n| n.has_tag_name((DS, "SignatureValue")))
            .and_then(|n| n.text())
            .unwrap_or_default();
        assert!(value.len() > 20, "{algorithm:?}: {value:?}");
    }
}

#[test]
fn doctypes_point_external_entities_at_the_given_url() {
    let url = "http://127.0.0.1:9/w/token";
    for (entity, needle) in [
        (
            DoctypeEntity::External,
            "<!ENTITY xxe SYSTEM \"http://127.0.0.1:9/w/token\">",
        ),
        (DoctypeEntity::Parameter, "<!ENTITY % xxe SYSTEM"),
        (
            DoctypeEntity::ExternalSubset,
            "SYSTEM \"http://127.0.0.1:9/w/token\">",
        ),
        (DoctypeEntity::Expansion, "<!ENTITY lol9"),
    ] {
        let xml = response(
            SigningLayout::Response,
            vec![Tamper::Doctype {
                entity,
                url: Some(url.into()),
            }],
        );
        assert!(xml.starts_with("<!DOCTYPE samlp:Response"), "{xml}");
        assert!(xml.contains(needle), "{entity:?}: {xml}");
    }
}

#[test]
fn relocated_digests_and_names_sit_before_the_signed_assertion() {
    for tamper in [
        Tamper::StrayDigestValue {
            name_id: ADMIN.into(),
        },
        Tamper::ExtraNameId {
            name_id: ADMIN.into(),
        },
    ] {
        let xml = response(SigningLayout::Assertion, vec![tamper.clone()]);
        let extensions = xml.find("<samlp:Extensions").expect("extensions");
        assert!(
            extensions < xml.find("<saml:Assertion").expect("assertion"),
            "{tamper:?}"
        );
    }
    let xml = response(
        SigningLayout::Response,
        vec![Tamper::TrailingRoot {
            name_id: Some(ADMIN.into()),
        }],
    );
    let second = xml.rfind("<samlp:Response").expect("second root");
    assert!(second > 0 && xml[second..].contains(ADMIN));
}

/// The text of the `index`th Assertion, as a document of its own.
fn assertion_text(xml: &str, index: usize) -> String {
    let doc = parse(xml);
    let node = doc
        .descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .nth(index)
        .expect("assertion");
    xml[node.range()].to_owned()
}

fn element_names(node: Node<'_, '_>) -> Vec<String> {
    node.children()
        .filter(Node::is_element)
        .map(|n| n.tag_name().name().to_owned())
        .collect()
}

#[test]
fn structural_tamperings_are_re_signed_and_verify_with_xmlsec1() {
    use mock_idp::plan::{IdElement, SchemaShape};
    for layout in [SigningLayout::Assertion, SigningLayout::Both] {
        let xml = response(
            layout,
            vec![Tamper::Id {
                element: IdElement::Assertion,
                value: "1-not-an-ncname".into(),
            }],
        );
        // The asked-for value, made fresh: a second response of the same plan gets another.
        let id = assertions(&xml)[0].0.clone();
        assert!(id.starts_with("1-not-an-ncname-") && id.len() == 32, "{id}");
        assert!(xml.contains(&format!("URI=\"#{id}\"")), "{xml}");
        let again = response(
            layout,
            vec![Tamper::Id {
                element: IdElement::Assertion,
                value: "1-not-an-ncname".into(),
            }],
        );
        assert_ne!(
            assertions(&again)[0].0,
            id,
            "every response gets a fresh ID"
        );
        xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("id, {layout:?}: {e}"));

        let xml = response(
            layout,
            vec![Tamper::SecondSignedAssertion {
                name_id: ADMIN.into(),
            }],
        );
        let found = assertions(&xml);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].1.as_str(), found[0].2), (ALICE, true));
        assert_eq!((found[1].1.as_str(), found[1].2), (ADMIN, true));
        assert_ne!(found[0].0, found[1].0);
        xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("second, {layout:?}: {e}"));
        for index in 0..2 {
            xmlsec1_verifies(&assertion_text(&xml, index))
                .unwrap_or_else(|e| panic!("assertion {index} alone, {layout:?}: {e}"));
        }

        for (shape, parent, order) in [
            (
                SchemaShape::SubjectBeforeIssuer,
                "Assertion",
                &["Subject", "Issuer"][..],
            ),
            (
                SchemaShape::UnknownAssertionChild,
                "Assertion",
                &["Issuer", "Extension"][..],
            ),
            (
                SchemaShape::StatusAfterAssertion,
                "Response",
                &["Assertion", "Status"][..],
            ),
        ] {
            let xml = response(layout, vec![Tamper::SchemaInvalid { shape }]);
            let doc = parse(&xml);
            let node = doc
                .descendants()
                .find(|n| n.tag_name().name() == parent)
                .expect("parent");
            let names: Vec<String> = element_names(node)
                .into_iter()
                .filter(|n| order.contains(&n.as_str()))
                .collect();
            assert_eq!(names, order, "{shape:?}, {layout:?}");
            xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("{shape:?}, {layout:?}: {e}"));
        }
    }
}

/// Every value of an attribute named `ID` (in any namespace), entities expanded.
fn ids(xml: &str) -> std::collections::BTreeSet<String> {
    parse(xml)
        .descendants()
        .flat_map(|n| n.attributes())
        .filter(|a| a.name() == "ID")
        .map(|a| a.value().to_owned())
        .collect()
}

/// The `index`th element with this local name, in document order.
fn nth<'a, 'input>(doc: &'a Document<'input>, name: &str, index: usize) -> Node<'a, 'input> {
    doc.descendants()
        .filter(|n| n.tag_name().name() == name)
        .nth(index)
        .unwrap_or_else(|| panic!("no {name} number {index}"))
}

fn name_id_of<'a, 'input>(assertion: Node<'a, 'input>) -> Option<&'a str> {
    assertion
        .children()
        .find(|n| n.has_tag_name((SAML, "Subject")))
        .and_then(|s| s.children().find(|n| n.has_tag_name((SAML, "NameID"))))
        .and_then(|n| n.text())
}

fn reference_uri(signature: Node<'_, '_>) -> String {
    signature
        .descendants()
        .find(|n| n.has_tag_name((DS, "Reference")))
        .and_then(|r| r.attribute("URI"))
        .expect("a Reference URI")
        .to_owned()
}

/// Whether the SignatureValue beside this SignedInfo verifies over its exclusive c14n with
/// the IdP's key (RSA-SHA256).
fn signed_info_verifies(xml: &str, signed_info: Node<'_, '_>) -> bool {
    use base64::Engine as _;
    let value: String = signed_info
        .next_sibling_element()
        .and_then(|v| v.text())
        .expect("SignatureValue")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .expect("base64");
    let cert =
        openssl::x509::X509::from_pem(shared_keys().trusted().cert_pem().as_bytes()).expect("cert");
    let key = cert.public_key().expect("key");
    let canonical = mock_idp::c14n::canonicalize(xml, signed_info, None);
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).expect("v");
    verifier.update(canonical.as_bytes()).expect("update");
    verifier.verify(&raw).unwrap_or(false)
}

const SIGNED_LAYOUTS: [SigningLayout; 3] = [
    SigningLayout::Response,
    SigningLayout::Assertion,
    SigningLayout::Both,
];

#[test]
fn the_doctype_round_trip_hides_the_signed_response_in_cdata_under_a_forgery() {
    for layout in SIGNED_LAYOUTS {
        let xml = response(
            layout,
            vec![Tamper::DoctypeRoundTrip {
                name_id: ADMIN.into(),
            }],
        );
        assert!(
            xml.starts_with("<!DOCTYPE response SYSTEM 'x\"><!--'>\n<samlp:Response"),
            "{xml}"
        );
        // A conformant parser: the forgery, with the original as one CDATA text node.
        let doc = parse(&xml);
        let root = doc.root_element();
        assert_eq!(
            assertions(&xml)
                .into_iter()
                .map(|a| a.1)
                .collect::<Vec<_>>(),
            [ADMIN]
        );
        let hidden = root
            .children()
            .filter(Node::is_text)
            .filter_map(|t| t.text())
            .map(str::trim_start)
            .find(|t| t.starts_with("-->\n"))
            .unwrap_or_else(|| panic!("{layout:?}: no CDATA section"));
        // The CDATA section and the text `-->` after it make one text node.
        let signed = hidden
            .strip_prefix("-->\n")
            .and_then(|t| t.strip_suffix("<!---->\n"))
            .expect("the comment delimiters around the original");
        // The other reading: the original, which still verifies on its own.
        let original = format!("{signed}</samlp:Response>");
        assert!(original.contains(ALICE) && !original.contains(ADMIN));
        xmlsec1_verifies(&original).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert!(xml.ends_with("<!--]]>-->\n</samlp:Response>"), "{xml}");
        assert!(xmlsec1_verifies(&xml).is_err(), "{layout:?}: the forgery");
    }
}

#[test]
fn attlist_injection_moves_a_still_valid_signed_info_into_status_detail() {
    let empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for layout in SIGNED_LAYOUTS {
        let xml = response(
            layout,
            vec![Tamper::AttlistNamespace {
                name_id: ADMIN.into(),
            }],
        );
        assert!(
            xml.starts_with(
                "<!DOCTYPE Response [<!ATTLIST Signature xmlns CDATA #FIXED \"http://www.w3.org/2000/09/xmldsig#\" xmlns CDATA \"block\">]>"
            ),
            "{xml}"
        );
        let doc = parse(&xml);
        let root = doc.root_element();
        let status_detail = nth(&doc, "StatusDetail", 0);
        assert_eq!(
            status_detail.parent_element().map(|p| p.tag_name().name()),
            Some("Status")
        );
        let moved = status_detail
            .first_element_child()
            .expect("the moved signature");
        assert_eq!(
            (moved.tag_name().name(), moved.tag_name().namespace()),
            ("Signature", None),
            "unprefixed, in no namespace without the DTD default"
        );
        let moved_info = moved.first_element_child().expect("SignedInfo");
        assert!(moved_info.has_tag_name((DS, "SignedInfo")));
        assert!(
            signed_info_verifies(&xml, moved_info),
            "{layout:?}: the relocated SignedInfo still verifies"
        );
        // The rebuilt signature in the assertion, with the digest of "".
        let assertion = root
            .children()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .expect("assertion");
        assert_eq!(name_id_of(assertion), Some(ADMIN));
        assert_eq!(
            assertion.lookup_namespace_uri(Some("example")),
            Some("http://example.com\u{80}")
        );
        let rebuilt = assertion
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("the rebuilt signature");
        assert_eq!(
            rebuilt.prev_sibling_element().map(|n| n.tag_name().name()),
            Some("Issuer")
        );
        let digest = rebuilt
            .descendants()
            .find(|n| n.has_tag_name((DS, "DigestValue")))
            .and_then(|n| n.text());
        assert_eq!(digest, Some(empty));
        // The Reference names the assertion (the Response's ID moved to it when only the
        // Response was signed).
        let id = assertion.attribute("ID").expect("ID");
        assert_eq!(reference_uri(rebuilt), format!("#{id}"));
        assert_eq!(
            root.attribute("ID") == Some(format!("{id}ffff").as_str()),
            layout == SigningLayout::Response,
            "{layout:?}"
        );
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name((DS, "Signature")))
                .count(),
            1,
            "{layout:?}: every other signature is gone"
        );
    }
}

#[test]
fn void_canonicalization_declares_the_namespace_and_the_digest_of_nothing() {
    let empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for layout in SIGNED_LAYOUTS {
        for uri in ["1", "http://example.com\u{80}"] {
            let xml = response(
                layout,
                vec![Tamper::VoidCanonicalization { uri: uri.into() }],
            );
            let doc = parse(&xml);
            let signatures: Vec<Node<'_, '_>> = doc
                .descendants()
                .filter(|n| n.has_tag_name((DS, "Signature")))
                .collect();
            assert_eq!(
                signatures.len(),
                if layout == SigningLayout::Both { 2 } else { 1 }
            );
            for sig in signatures {
                let signed = sig.parent_element().expect("signed element");
                assert_eq!(signed.lookup_namespace_uri(Some("harness")), Some(uri));
                let digest = sig
                    .descendants()
                    .find(|n| n.has_tag_name((DS, "DigestValue")))
                    .and_then(|n| n.text());
                assert_eq!(digest, Some(empty), "{layout:?}");
            }
            // libxmlsec fails closed: its canonicalization refuses the namespace.
            let refused = xmlsec1_verifies(&xml).expect_err("xmlsec1 refuses it");
            assert!(
                refused.contains("C14N") || refused.contains("namespace"),
                "{refused}"
            );
        }
    }
}

#[test]
fn the_relocated_signature_verifies_over_the_embedded_original_beside_a_forgery() {
    for layout in SIGNED_LAYOUTS {
        let xml = response(
            layout,
            vec![Tamper::RelocatedSignature {
                name_id: ADMIN.into(),
            }],
        );
        let doc = parse(&xml);
        let root = doc.root_element();
        assert_eq!(
            element_names(root),
            ["Issuer", "Signature", "Extensions", "Status", "Assertion"],
            "{layout:?}"
        );
        let signature = root
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("signature");
        let uri = reference_uri(signature);
        assert_ne!(
            Some(&uri[1..]),
            root.attribute("ID"),
            "it names another element"
        );
        let embedded = root
            .children()
            .find(|n| n.tag_name().name() == "Extensions")
            .and_then(|e| e.first_element_child())
            .expect("the embedded original");
        assert_eq!(embedded.attribute("ID"), Some(&uri[1..]));
        assert!(
            !embedded
                .children()
                .any(|n| n.has_tag_name((DS, "Signature")))
        );
        let forged = root
            .children()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .expect("forged");
        assert_eq!(name_id_of(forged), Some(ADMIN));
        assert!(!forged.children().any(|n| n.has_tag_name((DS, "Signature"))));
        let found = assertions(&xml);
        assert!(found.iter().any(|a| a.1 == ALICE), "{layout:?}");
        assert_eq!(
            ids(&xml).len(),
            if layout == SigningLayout::Response {
                4
            } else {
                3
            }
        );
        xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
    }
}

#[test]
fn a_foreign_namespace_id_on_a_forgery_duplicates_the_signed_id() {
    for layout in [SigningLayout::Assertion, SigningLayout::Both] {
        let xml = response(
            layout,
            vec![Tamper::ForeignId {
                name_id: ADMIN.into(),
            }],
        );
        let found = assertions(&xml);
        assert_eq!(found.len(), 2);
        let (forged, signed) = (&found[0], &found[1]);
        assert_eq!((forged.1.as_str(), forged.2), (ADMIN, false));
        assert_eq!((signed.1.as_str(), signed.2), (ALICE, true));
        assert_ne!(forged.0, signed.0, "the forgery's own ID is fresh");
        let doc = parse(&xml);
        let foreign = nth(&doc, "Assertion", 0)
            .attributes()
            .find(|a| a.name() == "ID" && a.namespace() == Some("urn:harness:foreign"))
            .map(|a| a.value().to_owned());
        assert_eq!(foreign.as_deref(), Some(signed.0.as_str()));
        // xmlsec registers ID attributes by local name: it sees the duplicate.
        let refused = xmlsec1_verifies(&xml).expect_err("duplicate");
        assert!(refused.contains("duplicate ID"), "{refused}");
    }
}

#[test]
fn the_libxml2_entity_shape_follows_samlraider() {
    for layout in [SigningLayout::Assertion, SigningLayout::Both] {
        let xml = response(
            layout,
            vec![Tamper::Libxml2IdEntities {
                name_id: ADMIN.into(),
            }],
        );
        let raw_root = &xml[xml.find("<samlp:Response").expect("root")..];
        assert!(raw_root.contains("ID=\"&idViaEntity;\""), "{xml}");
        let doc = parse(&xml);
        let root = doc.root_element();
        let top = root
            .children()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .expect("the original assertion");
        let id = top
            .attribute("ID")
            .and_then(|i| i.strip_suffix("ffff"))
            .expect("ffff appended")
            .to_owned();
        assert!(xml.starts_with(&format!(
            "<!DOCTYPE response [\n<!ENTITY idViaEntity \"{id}\">\n<!ENTITY BypassIDUniqueness \"&#x50;\">\n]>"
        )));
        assert_eq!(
            root.attribute("ID"),
            Some(id.as_str()),
            "the entity expands to it"
        );
        assert_eq!(name_id_of(top), Some(ADMIN));
        assert!(!top.children().any(|n| n.has_tag_name((DS, "Signature"))));
        // The copied signature, right after the Response's Issuer, carries the pristine copy.
        assert_eq!(
            element_names(root),
            ["Issuer", "Signature", "Status", "Assertion"]
        );
        let signature = root
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("signature");
        assert_eq!(reference_uri(signature), format!("#{id}"));
        let object = signature.last_element_child().expect("Object");
        assert!(object.has_tag_name((DS, "Object")));
        let copy = object.first_element_child().expect("the copy");
        assert_eq!(name_id_of(copy), Some(ALICE));
        assert!(copy.children().any(|n| n.has_tag_name((DS, "Signature"))));
        assert!(raw_root.contains(&format!("ID=\"&BypassIDUniqueness;{id}\"")));
        assert_eq!(copy.attribute("ID"), Some(format!("P{id}").as_str()));
        // xmlsec1 substitutes entities: the Reference names the Response, which fails.
        assert!(xmlsec1_verifies(&xml).is_err(), "{layout:?}");
    }
}

#[test]
fn the_outer_forged_assertion_holds_the_signed_one_as_its_first_child() {
    for layout in [SigningLayout::Assertion, SigningLayout::Both] {
        let xml = response(
            layout,
            vec![Tamper::AssertionInForgedAssertion {
                name_id: ADMIN.into(),
            }],
        );
        let found = assertions(&xml);
        assert_eq!(found.len(), 2);
        let (outer, inner) = (&found[0], &found[1]);
        assert!(outer.0.starts_with("attack_"), "{}", outer.0);
        assert_eq!((outer.1.as_str(), outer.2), (ADMIN, true));
        assert_eq!((inner.1.as_str(), inner.2), (ALICE, true));
        assert!(inner.3 > outer.3);
        let doc = parse(&xml);
        let outer_node = nth(&doc, "Assertion", 0);
        assert_eq!(
            outer_node
                .first_element_child()
                .and_then(|c| c.attribute("ID")),
            Some(inner.0.as_str())
        );
        let bogus = outer_node
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("the outer signature");
        assert_eq!(reference_uri(bogus), format!("#{}", outer.0));
        // xmlsec1 checks the first signature in document order: the original's.
        if layout == SigningLayout::Assertion {
            xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn the_evil_assertion_keeps_the_signature_of_the_moved_original() {
    for (placement, parent) in [
        (OriginalPlacement::Extensions, "Extensions"),
        (OriginalPlacement::Wrapper, "Wrapper"),
        (OriginalPlacement::Nested, "Assertion"),
    ] {
        let xml = response(
            SigningLayout::Assertion,
            vec![Tamper::SignatureInForgedAssertion {
                name_id: ADMIN.into(),
                original: placement,
            }],
        );
        let doc = parse(&xml);
        let root = doc.root_element();
        let evil = root
            .children()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .expect("evil");
        assert_eq!(name_id_of(evil), Some(ADMIN));
        let signature = evil
            .children()
            .find(|n| n.has_tag_name((DS, "Signature")))
            .expect("the original signature");
        let uri = reference_uri(signature);
        assert_ne!(evil.attribute("ID"), Some(&uri[1..]));
        let original = doc
            .descendants()
            .find(|n| n.has_tag_name((SAML, "Assertion")) && n.attribute("ID") == Some(&uri[1..]))
            .expect("the moved original");
        assert_eq!(name_id_of(original), Some(ALICE));
        assert_eq!(
            original.parent_element().map(|p| p.tag_name().name()),
            Some(parent),
            "{placement:?}"
        );
        xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("{placement:?}: {e}"));
    }
}

#[test]
fn the_parser_differentials_get_fresh_ids_in_every_response() {
    let tamperings = [
        (
            SigningLayout::Both,
            Tamper::DoctypeRoundTrip {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Response,
            Tamper::AttlistNamespace {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Both,
            Tamper::RelocatedSignature {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Response,
            Tamper::RelocatedSignature {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Both,
            Tamper::ForeignId {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Both,
            Tamper::Libxml2IdEntities {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Both,
            Tamper::AssertionInForgedAssertion {
                name_id: ADMIN.into(),
            },
        ),
        (
            SigningLayout::Both,
            Tamper::SignatureInForgedAssertion {
                name_id: ADMIN.into(),
                original: OriginalPlacement::Nested,
            },
        ),
    ];
    for (layout, tamper) in tamperings {
        let first = ids(&response(layout, vec![tamper.clone()]));
        let second = ids(&response(layout, vec![tamper.clone()]));
        assert!(!first.is_empty());
        assert!(
            first.is_disjoint(&second),
            "{tamper:?}: {first:?} and {second:?}"
        );
    }
}
