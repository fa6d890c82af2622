//! The required-element matrix (issue 18): every `omit`, `empty` and `raw` alteration renders
//! the element or attribute as the plan says, changed before signing, so every signature
//! still verifies: with the mock IdP's own self-check, and with the `xmlsec1` command-line
//! tool (an independent verifier) over the Response and over the Assertion on its own.

use std::process::Command;

use mock_idp::Plan;
use mock_idp::plan::{Alteration, Emptiable, Omittable, RawField, Signing, SigningLayout};
use mock_idp::response::{BuiltResponse, PipelineError, ResponseContext, build};
use roxmltree::{Document, Node};

use crate::support::shared_keys;

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SIGNED: [SigningLayout; 3] = [
    SigningLayout::Response,
    SigningLayout::Assertion,
    SigningLayout::Both,
];

fn try_build(
    layout: SigningLayout,
    alter: Vec<Alteration>,
) -> Result<BuiltResponse, PipelineError> {
    let ctx = ResponseContext {
        now: chrono::Utc::now(),
        idp_entity_id: "https://idp.test/metadata",
        sp_entity_id: "https://sp.test/saml",
        acs_url: "https://sp.test/saml/acs",
        in_response_to: Some("_request-1"),
        default_user: "alice@example.test",
        sp_encryption_cert: None,
    };
    let plan = Plan {
        signing: Signing {
            layout: Some(layout),
            ..Signing::default()
        },
        alter,
        ..Plan::default()
    };
    build(&ctx, &plan, shared_keys())
}

/// Builds, checks that the self-check ran, and verifies every signature with xmlsec1.
fn built(layout: SigningLayout, alteration: &Alteration) -> String {
    let response = try_build(layout, vec![alteration.clone()])
        .unwrap_or_else(|e| panic!("{alteration:?} {layout:?}: {e}"));
    assert!(
        response.self_checked,
        "{alteration:?} {layout:?}: the plan promises valid signatures, so the self-check runs"
    );
    assert!(
        !response.valid,
        "{alteration:?}: an altered plan is not valid"
    );
    let xml = response.xml;
    xmlsec1_verifies(&xml).unwrap_or_else(|e| panic!("{alteration:?} {layout:?}: {e}"));
    if layout.signs_assertion() {
        let doc = Document::parse(&xml).expect("well-formed");
        let assertion = doc
            .descendants()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .expect("an assertion");
        xmlsec1_verifies(&xml[assertion.range()])
            .unwrap_or_else(|e| panic!("{alteration:?} {layout:?}, the assertion alone: {e}"));
    }
    xml
}

/// `xmlsec1 --verify` of the first signature in document order with the trusted key, every
/// `ID` attribute of the Response and the Assertion registered as it is.
fn xmlsec1_verifies(xml: &str) -> Result<(), String> {
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
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
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

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name((ns, name)))
}

/// The element at `path` (namespace, name pairs) below the Response.
fn at<'a, 'i>(doc: &'a Document<'i>, path: &[(&str, &str)]) -> Option<Node<'a, 'i>> {
    path.iter()
        .try_fold(doc.root_element(), |node, (ns, name)| child(node, ns, name))
}

const ASSERTION: (&str, &str) = (SAML, "Assertion");
const SUBJECT: (&str, &str) = (SAML, "Subject");
const CONFIRMATION: (&str, &str) = (SAML, "SubjectConfirmation");
const DATA: (&str, &str) = (SAML, "SubjectConfirmationData");
const CONDITIONS: (&str, &str) = (SAML, "Conditions");
const AUTHN: (&str, &str) = (SAML, "AuthnStatement");
const STATUS: (&str, &str) = (SAMLP, "Status");
const STATUS_CODE: (&str, &str) = (SAMLP, "StatusCode");

/// Whether the element at `path` has no attributes and no child nodes at all.
fn is_empty_element(doc: &Document<'_>, path: &[(&str, &str)]) -> bool {
    at(doc, path).is_some_and(|n| n.attributes().len() == 0 && !n.has_children())
}

#[test]
fn omitted_elements_and_attributes_are_gone_and_the_signatures_verify() {
    use Omittable as O;
    type Check = fn(&Document<'_>) -> bool;
    let cases: &[(Omittable, &[SigningLayout], Check)] = &[
        (O::Status, &SIGNED, |d| at(d, &[STATUS]).is_none()),
        (O::StatusCode, &SIGNED, |d| is_empty_element(d, &[STATUS])),
        (O::ResponseId, &[SigningLayout::Assertion], |d| {
            d.root_element().attribute("ID").is_none()
        }),
        (O::ResponseVersion, &SIGNED, |d| {
            d.root_element().attribute("Version").is_none()
        }),
        (O::ResponseIssueInstant, &SIGNED, |d| {
            d.root_element().attribute("IssueInstant").is_none()
        }),
        (O::AssertionId, &[SigningLayout::Response], |d| {
            at(d, &[ASSERTION]).is_some_and(|a| a.attribute("ID").is_none())
        }),
        (O::AssertionVersion, &SIGNED, |d| {
            at(d, &[ASSERTION]).is_some_and(|a| a.attribute("Version").is_none())
        }),
        (O::AssertionIssueInstant, &SIGNED, |d| {
            at(d, &[ASSERTION]).is_some_and(|a| a.attribute("IssueInstant").is_none())
        }),
        (O::Subject, &SIGNED, |d| {
            at(d, &[ASSERTION]).is_some() && at(d, &[ASSERTION, SUBJECT]).is_none()
        }),
        (O::NameId, &SIGNED, |d| {
            at(d, &[ASSERTION, SUBJECT, (SAML, "NameID")]).is_none()
                && at(d, &[ASSERTION, SUBJECT, CONFIRMATION, DATA]).is_some()
        }),
        (O::SubjectConfirmation, &SIGNED, |d| {
            at(d, &[ASSERTION, SUBJECT, (SAML, "NameID")]).is_some()
                && at(d, &[ASSERTION, SUBJECT, CONFIRMATION]).is_none()
        }),
        (O::SubjectConfirmationMethod, &SIGNED, |d| {
            at(d, &[ASSERTION, SUBJECT, CONFIRMATION])
                .is_some_and(|c| c.attribute("Method").is_none())
                && at(d, &[ASSERTION, SUBJECT, CONFIRMATION, DATA]).is_some()
        }),
        (O::SubjectConfirmationData, &SIGNED, |d| {
            at(d, &[ASSERTION, SUBJECT, CONFIRMATION]).is_some_and(|c| {
                c.attribute("Method").is_some()
                    && child(c, SAML, "SubjectConfirmationData").is_none()
            })
        }),
        (O::AuthnInstant, &SIGNED, |d| {
            at(d, &[ASSERTION, AUTHN]).is_some_and(|a| {
                a.attribute("AuthnInstant").is_none() && child(a, SAML, "AuthnContext").is_some()
            })
        }),
    ];
    for (element, layouts, check) in cases {
        let alteration = Alteration::Omit { element: *element };
        for layout in *layouts {
            let xml = built(*layout, &alteration);
            let doc = Document::parse(&xml).expect("well-formed");
            assert!(check(&doc), "{element:?} {layout:?}: {xml}");
        }
    }
}

#[test]
fn emptied_elements_and_attributes_are_there_but_empty_and_the_signatures_verify() {
    use Emptiable as E;
    type Check = fn(&Document<'_>) -> bool;
    fn attr_empty(d: &Document<'_>, path: &[(&str, &str)], name: &str) -> bool {
        at(d, path).is_some_and(|n| n.attribute(name) == Some(""))
    }
    fn text_empty(d: &Document<'_>, path: &[(&str, &str)]) -> bool {
        at(d, path).is_some_and(|n| n.text().is_none_or(str::is_empty))
    }
    let cases: &[(Emptiable, &[SigningLayout], Check)] = &[
        (E::Status, &SIGNED, |d| is_empty_element(d, &[STATUS])),
        (E::StatusCode, &SIGNED, |d| {
            is_empty_element(d, &[STATUS, STATUS_CODE])
        }),
        (E::StatusCodeValue, &SIGNED, |d| {
            attr_empty(d, &[STATUS, STATUS_CODE], "Value")
        }),
        (E::ResponseId, &[SigningLayout::Assertion], |d| {
            attr_empty(d, &[], "ID")
        }),
        (E::ResponseVersion, &SIGNED, |d| {
            attr_empty(d, &[], "Version")
        }),
        (E::ResponseIssueInstant, &SIGNED, |d| {
            attr_empty(d, &[], "IssueInstant")
        }),
        (E::Destination, &SIGNED, |d| {
            attr_empty(d, &[], "Destination")
        }),
        (E::ResponseIssuer, &SIGNED, |d| {
            text_empty(d, &[(SAML, "Issuer")])
        }),
        (E::AssertionId, &[SigningLayout::Response], |d| {
            attr_empty(d, &[ASSERTION], "ID")
        }),
        (E::AssertionVersion, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION], "Version")
        }),
        (E::AssertionIssueInstant, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION], "IssueInstant")
        }),
        (E::AssertionIssuer, &SIGNED, |d| {
            text_empty(d, &[ASSERTION, (SAML, "Issuer")])
        }),
        (E::Subject, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, SUBJECT])
        }),
        (E::NameId, &SIGNED, |d| {
            text_empty(d, &[ASSERTION, SUBJECT, (SAML, "NameID")])
                && at(d, &[ASSERTION, SUBJECT, (SAML, "NameID")])
                    .is_some_and(|n| n.attribute("Format").is_some())
        }),
        (E::SubjectConfirmation, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, SUBJECT, CONFIRMATION])
        }),
        (E::SubjectConfirmationMethod, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION, SUBJECT, CONFIRMATION], "Method")
        }),
        (E::SubjectConfirmationData, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, SUBJECT, CONFIRMATION, DATA])
        }),
        (E::Recipient, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION, SUBJECT, CONFIRMATION, DATA], "Recipient")
        }),
        (E::SubjectConfirmationNotOnOrAfter, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION, SUBJECT, CONFIRMATION, DATA], "NotOnOrAfter")
        }),
        (E::Conditions, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, CONDITIONS])
        }),
        (E::ConditionsNotOnOrAfter, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION, CONDITIONS], "NotOnOrAfter")
        }),
        (E::AudienceRestriction, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, CONDITIONS, (SAML, "AudienceRestriction")])
        }),
        (E::Audience, &SIGNED, |d| {
            text_empty(
                d,
                &[
                    ASSERTION,
                    CONDITIONS,
                    (SAML, "AudienceRestriction"),
                    (SAML, "Audience"),
                ],
            )
        }),
        (E::AuthnStatement, &SIGNED, |d| {
            is_empty_element(d, &[ASSERTION, AUTHN])
        }),
        (E::AuthnInstant, &SIGNED, |d| {
            attr_empty(d, &[ASSERTION, AUTHN], "AuthnInstant")
        }),
    ];
    for (element, layouts, check) in cases {
        let alteration = Alteration::Empty { element: *element };
        for layout in *layouts {
            let xml = built(*layout, &alteration);
            let doc = Document::parse(&xml).expect("well-formed");
            assert!(check(&doc), "{element:?} {layout:?}: {xml}");
        }
    }
}

#[test]
fn raw_values_are_written_as_given_and_the_signatures_verify() {
    use RawField as R;
    let confirmation_data = [ASSERTION, SUBJECT, CONFIRMATION, DATA];
    /// The field, its value, the layouts, the path to the element, the attribute.
    type Case<'a> = (
        RawField,
        &'a str,
        &'a [SigningLayout],
        Vec<(&'a str, &'a str)>,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            R::ResponseId,
            "_id with space",
            &[SigningLayout::Assertion],
            vec![],
            "ID",
        ),
        // A malformed ID without white space can still be signed and referenced.
        (R::ResponseId, "1-digit-first", &SIGNED, vec![], "ID"),
        (
            R::ResponseIssueInstant,
            "not-a-dateTime",
            &SIGNED,
            vec![],
            "IssueInstant",
        ),
        (
            R::StatusCodeValue,
            "Success",
            &SIGNED,
            vec![STATUS, STATUS_CODE],
            "Value",
        ),
        (
            R::ResponseIssuerFormat,
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            &SIGNED,
            vec![(SAML, "Issuer")],
            "Format",
        ),
        (
            R::AssertionId,
            "_id with space",
            &[SigningLayout::Response],
            vec![ASSERTION],
            "ID",
        ),
        (
            R::AssertionId,
            "1-digit-first",
            &SIGNED,
            vec![ASSERTION],
            "ID",
        ),
        (
            R::AssertionIssueInstant,
            "not-a-dateTime",
            &SIGNED,
            vec![ASSERTION],
            "IssueInstant",
        ),
        (
            R::AssertionIssuerFormat,
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            &SIGNED,
            vec![ASSERTION, (SAML, "Issuer")],
            "Format",
        ),
        (
            R::SubjectConfirmationMethod,
            "bearer",
            &SIGNED,
            vec![ASSERTION, SUBJECT, CONFIRMATION],
            "Method",
        ),
        (
            R::SubjectConfirmationNotOnOrAfter,
            "not-a-dateTime",
            &SIGNED,
            confirmation_data.to_vec(),
            "NotOnOrAfter",
        ),
        (
            R::ConditionsNotBefore,
            "not-a-dateTime",
            &SIGNED,
            vec![ASSERTION, CONDITIONS],
            "NotBefore",
        ),
        (
            R::ConditionsNotOnOrAfter,
            "not-a-dateTime",
            &SIGNED,
            vec![ASSERTION, CONDITIONS],
            "NotOnOrAfter",
        ),
        (
            R::AuthnInstant,
            "not-a-dateTime",
            &SIGNED,
            vec![ASSERTION, AUTHN],
            "AuthnInstant",
        ),
    ];
    for (field, value, layouts, path, attribute) in cases {
        let alteration = Alteration::Raw {
            field,
            value: value.to_owned(),
        };
        for layout in layouts {
            let xml = built(*layout, &alteration);
            let doc = Document::parse(&xml).expect("well-formed");
            let node = at(&doc, &path).unwrap_or_else(|| panic!("{field:?}: {path:?} in {xml}"));
            let written = node.attribute(attribute).unwrap_or_default();
            if attribute == "ID" {
                // An ID gets a random suffix, so that no two responses share it.
                let suffix = written
                    .strip_prefix(value)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .unwrap_or_else(|| panic!("{field:?} {layout:?}: {written}"));
                assert!(
                    suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{written}"
                );
                let again = built(*layout, &alteration);
                assert!(!again.contains(written), "{field:?}: the same ID twice");
            } else {
                assert_eq!(written, value, "{field:?} {layout:?}");
            }
            let value = written;
            // A signed element's Reference names its raw ID.
            if attribute == "ID"
                && let Some(signature) = child(node, DS, "Signature")
            {
                let reference = signature
                    .descendants()
                    .find(|n| n.has_tag_name((DS, "Reference")))
                    .and_then(|r| r.attribute("URI"));
                assert_eq!(reference, Some(format!("#{value}").as_str()));
            }
        }
    }
}

#[test]
fn an_element_whose_id_is_gone_or_unreferable_cannot_be_signed_and_the_plan_says_so() {
    let cases = [
        (
            SigningLayout::Response,
            Alteration::Omit {
                element: Omittable::ResponseId,
            },
        ),
        (
            SigningLayout::Both,
            Alteration::Empty {
                element: Emptiable::ResponseId,
            },
        ),
        (
            SigningLayout::Assertion,
            Alteration::Raw {
                field: RawField::AssertionId,
                value: "_id with space".into(),
            },
        ),
    ];
    for (layout, alteration) in cases {
        let err =
            try_build(layout, vec![alteration.clone()]).expect_err("no Reference can name it");
        assert!(err.is_plan_error(), "{alteration:?}: {err}");
        assert!(err.to_string().contains("ID"), "{err}");
    }
}

#[test]
fn without_deviations_removes_every_new_alteration() {
    let plan = Plan {
        alter: vec![
            Alteration::Omit {
                element: Omittable::Subject,
            },
            Alteration::Empty {
                element: Emptiable::StatusCode,
            },
            Alteration::Raw {
                field: RawField::AuthnInstant,
                value: "not-a-dateTime".into(),
            },
        ],
        ..Plan::default()
    };
    let control = plan.without_deviations();
    assert!(control.alter.is_empty());
    assert!(control.is_valid(SigningLayout::Both));
    assert!(!plan.is_valid(SigningLayout::Both));
    assert!(plan.promises_valid_signatures(SigningLayout::Both));
}
