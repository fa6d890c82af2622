//! proptest strategies over plans: one to several alterations and tamperings composed, with
//! random values (unicode and whitespace in URIs, comments and text splits, time offsets
//! around the skew edges, XSW placements, namespace prefixes, duplicated conditions and
//! assertions), plus benign noise (whitespace, prefixes, foreign attributes, attribute order,
//! the rollover key, unknown attributes, another IdP's shape).
//!
//! Values that depend on the target are placeholders ([`super::oracle::values`]), filled in
//! per target, so a plan is a scenario `[plan]` as it stands. Alternatives are ordered from
//! the plainest to the most exotic: proptest shrinks towards the first.

use std::collections::BTreeMap;

use mock_idp::plan::{
    Alteration, ConditionKind, CopyPosition, DigestAlgorithm, DoctypeEntity, Emptiable,
    InResponseToScope, IssuerScope, Omittable, OriginalPlacement, Plan, RawField, ResponseBinding,
    SignatureAlgorithm, SignatureSelector, Signing, SigningLayout, Tamper, TextField, TextSplit,
    TimeField, WrapId, WrapPosition, WrapSlot,
};
use mock_idp::response::tamper::wrapping::{self, SignedElement};
use mock_idp::{Flavour, KeyChoice};
use proptest::prelude::*;
use proptest::sample::select;

use super::oracle::values::{ACS, ADMIN, ATTACKER, IDP, SP};

/// A whole plan: in three cases out of four, alterations and tamperings composed at random;
/// in the fourth, one forgery (wrapping, a text split, a parser differential) on an otherwise
/// valid response signed in a layout the forgery can work in, so that an SP that consumes
/// something other than what it verified shows it within a few hundred cases.
///
/// `layouts` are the signing layouts the SP accepts (probed before the campaign): signed cases
/// use only those, so that a forgery is not refused for its layout before it is looked at.
/// Empty: every layout.
pub fn plan(layouts: &[SigningLayout]) -> impl Strategy<Value = Plan> + use<> {
    let accepted = |l: SigningLayout| layouts.is_empty() || layouts.contains(&l);
    let signed: Vec<SigningLayout> = [
        SigningLayout::Assertion,
        SigningLayout::Response,
        SigningLayout::Both,
    ]
    .into_iter()
    .filter(|l| accepted(*l))
    .collect();
    prop_oneof![3 => composed(signed.clone()), 1 => forgery_plan(signed)]
}

/// Alterations and tamperings composed, with random values.
fn composed(layouts: Vec<SigningLayout>) -> impl Strategy<Value = Plan> {
    (
        signing(layouts),
        prop_oneof![9 => Just(Flavour::Generic), 1 => Just(Flavour::Entra)],
        prop_oneof![39 => Just(ResponseBinding::Post), 1 => binding()],
        proptest::option::weighted(0.1, ("[a-z]{1,8}", text_value())),
        proptest::collection::vec(alteration(), 0..=3),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => proptest::collection::vec(tamper(), 1..=2),
        ],
    )
        .prop_map(|(signing, flavour, binding, attribute, alter, tamper)| {
            let splits = tamper
                .iter()
                .any(|t| matches!(t, Tamper::SplitText { .. } | Tamper::CommentInNameId { .. }));
            let mut attributes = BTreeMap::new();
            if let Some((name, value)) = attribute {
                attributes.insert(format!("urn:example:fuzz:{name}"), vec![value]);
            }
            Plan {
                // Text splits need a NameID that starts with another user's email.
                user: splits.then(|| ATTACKER.to_owned()),
                flavour,
                signing,
                attributes,
                alter,
                tamper,
                binding,
                encryption: None,
                // The fuzzer exercises the ACS; logout has its own scenarios.
                logout: mock_idp::plan::Logout::default(),
            }
        })
        .prop_filter("two alterations of one element", |plan| {
            !two_of_one_element(&plan.alter)
        })
}

/// The elements and attributes an alteration writes, by the names the required-element
/// matrix uses (`assertion-id`, `status-code-value`); empty for the rest.
fn written(alteration: &Alteration) -> Vec<String> {
    let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let scoped = |scope: &IssuerScope, what: &str| match scope {
        IssuerScope::Response => vec![format!("response-{what}")],
        IssuerScope::Assertion => vec![format!("assertion-{what}")],
        IssuerScope::Both => vec![format!("response-{what}"), format!("assertion-{what}")],
    };
    match alteration {
        Alteration::Omit { element } => vec![name(serde_json::json!(element))],
        Alteration::Empty { element } => vec![name(serde_json::json!(element))],
        Alteration::Raw { field, .. } => vec![name(serde_json::json!(field))],
        Alteration::Time { field, .. } => vec![
            match field {
                TimeField::ResponseIssueInstant => "response-issue-instant",
                TimeField::AssertionIssueInstant => "assertion-issue-instant",
                TimeField::NotBefore => "conditions-not-before",
                TimeField::NotOnOrAfter => "conditions-not-on-or-after",
                TimeField::SubjectConfirmationNotOnOrAfter => {
                    "subject-confirmation-not-on-or-after"
                }
                TimeField::SubjectConfirmationNotBefore => "subject-confirmation-not-before",
                TimeField::SessionNotOnOrAfter => "session-not-on-or-after",
            }
            .to_owned(),
        ],
        Alteration::IssueInstantZone { scope, .. } => scoped(scope, "issue-instant"),
        Alteration::Version { scope, .. } => scoped(scope, "version"),
        Alteration::Status { .. } => vec!["status".to_owned()],
        Alteration::ConfirmationMethod { .. } => vec!["subject-confirmation-method".to_owned()],
        _ => Vec::new(),
    }
}

/// Whether two alterations write the same element or attribute, or one an element and the
/// other something inside it (`status` and `status-code-value`): the mock IdP applies them in
/// order, and which one wins is not what the fuzzer means to test.
fn two_of_one_element(alter: &[Alteration]) -> bool {
    let names: Vec<String> = alter.iter().flat_map(written).collect();
    let within = |a: &str, b: &str| b.strip_prefix(a).is_some_and(|rest| rest.starts_with('-'));
    names.iter().enumerate().any(|(i, a)| {
        names[i + 1..]
            .iter()
            .any(|b| a == b || within(a, b) || within(b, a))
    })
}

fn binding() -> impl Strategy<Value = ResponseBinding> {
    select(vec![
        ResponseBinding::PostDeflated,
        ResponseBinding::PostDoubleBase64,
    ])
}

/// A signing: one of `layouts` (both twice as often as one signature), or unsigned in one case
/// in thirteen.
fn signing(layouts: Vec<SigningLayout>) -> impl Strategy<Value = Signing> {
    let mut weighted: Vec<(u32, BoxedStrategy<SigningLayout>)> = layouts
        .into_iter()
        .map(|l| {
            let weight = if l == SigningLayout::Both { 6 } else { 3 };
            (weight, Just(l).boxed())
        })
        .collect();
    weighted.push((1, Just(SigningLayout::None).boxed()));
    (
        proptest::strategy::Union::new_weighted(weighted),
        prop_oneof![
            16 => Just(KeyChoice::Trusted),
            3 => Just(KeyChoice::Rollover),
            1 => select(vec![
                KeyChoice::AttackerSelfSigned,
                KeyChoice::AttackerClone,
                KeyChoice::AttackerRsa1024,
            ]),
        ],
        prop_oneof![
            18 => Just(None),
            2 => select(vec![
                SignatureAlgorithm::RsaSha512,
                SignatureAlgorithm::RsaSha1,
                SignatureAlgorithm::RsaMd5,
                SignatureAlgorithm::HmacSha256,
            ])
            .prop_map(Some),
        ],
        prop_oneof![9 => Just(DigestAlgorithm::Sha256), 1 => Just(DigestAlgorithm::Sha1)],
        prop_oneof![39 => Just(None), 1 => Just(Some(String::new()))],
    )
        .prop_map(|(layout, key, algorithm, digest, reference_uri)| Signing {
            layout: Some(layout),
            algorithm,
            digest,
            key,
            reference_uri,
        })
}

/// Text with unicode, whitespace and XML's special characters (no braces: placeholders).
fn text_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ./:@<>&\"'é\u{00A0}\u{200B}\u{1F600}_-]{0,16}"
}

/// A URI-valued field: the right value, the right value with an extra character or a
/// homoglyph, padded with whitespace, another SP's or IdP's, or random text.
fn uri_like(right: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(right.to_owned()),
        1 => select(vec!["/", "/x", "?x=1", "%2F", "\u{200B}", ".evil.test", "\u{0430}"])
            .prop_map(move |s| format!("{right}{s}")),
        1 => (select(vec![" ", "\n", "\t", " \r\n"]), any::<bool>()).prop_map(move |(ws, before)| {
            if before {
                format!("{ws}{right}")
            } else {
                format!("{right}{ws}")
            }
        }),
        1 => select(vec![
            "https://other-sp.test/saml/acs",
            "https://other-idp.test/metadata",
            "http://127.0.0.1:1/saml/acs",
        ])
        .prop_map(str::to_owned),
        1 => text_value(),
    ]
}

/// An offset in seconds, from buckets around the skew edges (see the oracle's margins).
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        -60i64..=60,
        61i64..=599,
        -599i64..=-61,
        600i64..=7200,
        -7200i64..=-600,
    ]
}

fn time_field() -> impl Strategy<Value = TimeField> {
    select(vec![
        TimeField::NotOnOrAfter,
        TimeField::NotBefore,
        TimeField::SubjectConfirmationNotOnOrAfter,
        TimeField::ResponseIssueInstant,
        TimeField::AssertionIssueInstant,
        TimeField::SubjectConfirmationNotBefore,
        TimeField::SessionNotOnOrAfter,
    ])
}

fn issuer_scope() -> impl Strategy<Value = IssuerScope> {
    select(vec![
        IssuerScope::Both,
        IssuerScope::Response,
        IssuerScope::Assertion,
    ])
}

fn which() -> impl Strategy<Value = SignatureSelector> {
    select(vec![
        SignatureSelector::Assertion,
        SignatureSelector::Response,
        SignatureSelector::All,
    ])
}

/// Every element or attribute an alteration can leave out.
const OMITTABLE: [Omittable; 24] = [
    Omittable::Destination,
    Omittable::Recipient,
    Omittable::ResponseIssuer,
    Omittable::AssertionIssuer,
    Omittable::InResponseTo,
    Omittable::SubjectConfirmationNotOnOrAfter,
    Omittable::Conditions,
    Omittable::AudienceRestriction,
    Omittable::AuthnStatement,
    Omittable::Assertion,
    Omittable::Status,
    Omittable::StatusCode,
    Omittable::ResponseId,
    Omittable::ResponseVersion,
    Omittable::ResponseIssueInstant,
    Omittable::AssertionId,
    Omittable::AssertionVersion,
    Omittable::AssertionIssueInstant,
    Omittable::Subject,
    Omittable::NameId,
    Omittable::SubjectConfirmation,
    Omittable::SubjectConfirmationMethod,
    Omittable::SubjectConfirmationData,
    Omittable::AuthnInstant,
];

/// Every element or attribute an alteration can empty.
const EMPTIABLE: [Emptiable; 25] = [
    Emptiable::Status,
    Emptiable::StatusCode,
    Emptiable::StatusCodeValue,
    Emptiable::ResponseId,
    Emptiable::ResponseVersion,
    Emptiable::ResponseIssueInstant,
    Emptiable::Destination,
    Emptiable::ResponseIssuer,
    Emptiable::AssertionId,
    Emptiable::AssertionVersion,
    Emptiable::AssertionIssueInstant,
    Emptiable::AssertionIssuer,
    Emptiable::Subject,
    Emptiable::NameId,
    Emptiable::SubjectConfirmation,
    Emptiable::SubjectConfirmationMethod,
    Emptiable::SubjectConfirmationData,
    Emptiable::Recipient,
    Emptiable::SubjectConfirmationNotOnOrAfter,
    Emptiable::Conditions,
    Emptiable::ConditionsNotOnOrAfter,
    Emptiable::AudienceRestriction,
    Emptiable::Audience,
    Emptiable::AuthnStatement,
    Emptiable::AuthnInstant,
];

/// Every attribute an alteration can write unchecked.
const RAW_FIELDS: [RawField; 12] = [
    RawField::ResponseId,
    RawField::ResponseIssueInstant,
    RawField::StatusCodeValue,
    RawField::ResponseIssuerFormat,
    RawField::AssertionId,
    RawField::AssertionIssueInstant,
    RawField::AssertionIssuerFormat,
    RawField::SubjectConfirmationMethod,
    RawField::SubjectConfirmationNotOnOrAfter,
    RawField::ConditionsNotBefore,
    RawField::ConditionsNotOnOrAfter,
    RawField::AuthnInstant,
];

/// Values of the wrong type or format for those attributes (and a few right ones, which the
/// oracle judges as such): no xs:dateTime, a local time, no xs:ID, no URI, short names.
const RAW_VALUES: [&str; 8] = [
    "not-a-dateTime",
    "2026-01-01T00:00:00",
    "1-digit-first",
    "_id with space",
    "Success",
    "bearer",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
    "urn:oasis:names:tc:SAML:2.0:status:Success",
];

/// One alteration (before signing), cosmetic ones first.
pub fn alteration() -> impl Strategy<Value = Alteration> {
    prop_oneof![
        3 => select(vec!["\n", "\n  ", "\t", " \r\n "])
            .prop_map(|t| Alteration::Whitespace { text: t.to_owned() }),
        3 => (
            select(vec!["saml2", "a", "assertion_ns"]),
            select(vec!["saml2p", "p", "protocol-ns"])
        )
            .prop_map(|(saml, samlp)| Alteration::Prefixes {
                saml: saml.to_owned(),
                samlp: samlp.to_owned(),
            }),
        3 => text_value().prop_map(|value| Alteration::ExtraAttribute { value }),
        3 => Just(Alteration::ReverseAttributes),
        6 => (time_field(), offset()).prop_map(|(field, offset_seconds)| Alteration::Time {
            field,
            offset_seconds,
        }),
        1 => uri_like(ACS).prop_map(|value| Alteration::Destination { value }),
        1 => uri_like(ACS).prop_map(|value| Alteration::Recipient { value }),
        1 => uri_like(SP).prop_map(|value| Alteration::Audience { value }),
        1 => (uri_like(IDP), issuer_scope())
            .prop_map(|(value, scope)| Alteration::Issuer { value, scope }),
        1 => (
            "_fuzz[0-9a-f]{8}",
            select(vec![
                InResponseToScope::Both,
                InResponseToScope::Response,
                InResponseToScope::SubjectConfirmation,
            ])
        )
            .prop_map(|(value, scope)| Alteration::InResponseTo { value, scope }),
        1 => select(vec![
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        ])
        .prop_map(|v| Alteration::NameIdFormat {
            value: v.to_owned()
        }),
        1 => (
            select(vec!["Success", "Requester", "Responder", "VersionMismatch"]),
            proptest::option::of(select(vec![
                "AuthnFailed",
                "RequestDenied",
                "urn:oasis:names:tc:SAML:2.0:status:Success",
            ]))
        )
            .prop_map(|(code, second)| Alteration::Status {
                code: code.to_owned(),
                second_level: second.map(str::to_owned),
            }),
        1 => (select(vec!["2.0", "1.1", "3.0", "2.00", " 2.0"]), issuer_scope()).prop_map(
            |(value, scope)| Alteration::Version {
                value: value.to_owned(),
                scope,
            }
        ),
        1 => (select(vec![0, 60, 120, -300]), issuer_scope()).prop_map(|(offset_minutes, scope)| {
            Alteration::IssueInstantZone {
                offset_minutes,
                scope,
            }
        }),
        1 => select(vec!["203.0.113.9", "127.0.0.1", "::1"]).prop_map(|v| Alteration::Address {
            value: v.to_owned()
        }),
        1 => select(vec![
            "bearer",
            "urn:oasis:names:tc:SAML:2.0:cm:bearer",
            "holder-of-key",
            "sender-vouches",
        ])
        .prop_map(|v| Alteration::ConfirmationMethod {
            value: v.to_owned()
        }),
        1 => select(vec![
            ConditionKind::OneTimeUse,
            ConditionKind::ProxyRestriction,
            ConditionKind::Unknown,
        ])
        .prop_map(|element| Alteration::Condition { element }),
        // The required-element matrix: every element or attribute missing, empty, or written
        // with a value of the wrong type.
        3 => select(OMITTABLE.to_vec()).prop_map(|element| Alteration::Omit { element }),
        2 => select(EMPTIABLE.to_vec()).prop_map(|element| Alteration::Empty { element }),
        2 => (select(RAW_FIELDS.to_vec()), select(RAW_VALUES.to_vec())).prop_map(
            |(field, value)| Alteration::Raw {
                field,
                value: value.to_owned(),
            }
        ),
    ]
}

/// One forgery on a valid response: the layouts it needs, the trusted key, nothing else.
fn forgery_plan(layouts: Vec<SigningLayout>) -> impl Strategy<Value = Plan> {
    (select(layouts), forgery())
        .prop_filter(
            "a wrapping that cannot be built around what this layout signs",
            |(layout, tamper)| match tamper {
                Tamper::Wrap {
                    slot, position, id, ..
                } => SignedElement::of(*layout).is_some_and(|signed| {
                    wrapping::construction(*slot, *position, *id, signed).is_ok()
                }),
                _ => true,
            },
        )
        .prop_map(|(layout, tamper)| {
            let splits = matches!(
                tamper,
                Tamper::SplitText { .. } | Tamper::CommentInNameId { .. }
            );
            Plan {
                user: splits.then(|| ATTACKER.to_owned()),
                signing: Signing {
                    layout: Some(layout),
                    ..Signing::default()
                },
                tamper: vec![tamper],
                ..Plan::default()
            }
        })
}

/// The forgeries: every construction that hides a forged identity beside what is signed (the
/// schema-aware wrappings weighted as a tenth of them).
pub fn forgery() -> impl Strategy<Value = Tamper> {
    let admin = || ADMIN.to_owned();
    prop_oneof![
        1 => (1u8..=8).prop_map(move |variant| Tamper::Xsw {
            variant,
            name_id: ADMIN.to_owned(),
        }),
        1 => (
            select(vec![TextField::NameId, TextField::EmailAttribute]),
            select(vec![TextSplit::Comment, TextSplit::Cdata])
        )
            .prop_map(|(field, with)| Tamper::SplitText {
                field,
                after: ADMIN.to_owned(),
                with,
            }),
        1 => Just(Tamper::CommentInNameId { after: admin() }),
        1 => select(vec![CopyPosition::Before, CopyPosition::After]).prop_map(move |position| {
            Tamper::InsertAssertionCopy {
                position,
                name_id: Some(ADMIN.to_owned()),
                keep_id: false,
            }
        }),
        1 => Just(Tamper::ExtraNameId { name_id: admin() }),
        1 => Just(Tamper::SecondSignedInfo { name_id: admin() }),
        1 => Just(Tamper::DigestComment { name_id: admin() }),
        1 => Just(Tamper::StrayDigestValue { name_id: admin() }),
        1 => Just(Tamper::ObjectReference { name_id: admin() }),
        1 => Just(Tamper::TrailingRoot {
            name_id: Some(admin())
        }),
        1 => Just(Tamper::RelocatedSignature { name_id: admin() }),
        1 => Just(Tamper::ForeignId { name_id: admin() }),
        1 => Just(Tamper::AssertionInForgedAssertion { name_id: admin() }),
        1 => select(vec![
            OriginalPlacement::Extensions,
            OriginalPlacement::Wrapper,
            OriginalPlacement::Nested,
        ])
        .prop_map(move |original| Tamper::SignatureInForgedAssertion {
            name_id: ADMIN.to_owned(),
            original,
        }),
        1 => Just(Tamper::DoctypeRoundTrip { name_id: admin() }),
        1 => Just(Tamper::AttlistNamespace { name_id: admin() }),
        1 => Just(Tamper::Libxml2IdEntities { name_id: admin() }),
        // The schema-aware wrappings are the largest family (27 slots x 4 positions x 5 ID
        // handlings), though most of them end where an XSW shape ends: a tenth of the forgeries.
        2 => (
            select(WrapSlot::ALL),
            select(WrapPosition::ALL.to_vec()),
            select(WrapId::ALL.to_vec())
        )
            .prop_map(move |(slot, position, id)| Tamper::Wrap {
                slot,
                position,
                id,
                name_id: ADMIN.to_owned(),
            }),
    ]
}

/// One tampering (after signing); forged identities are the admin's.
pub fn tamper() -> impl Strategy<Value = Tamper> {
    let admin = || ADMIN.to_owned();
    prop_oneof![
        which().prop_map(|which| Tamper::RemoveSignature { which }),
        Just(Tamper::EditNameId { value: admin() }),
        (
            select(vec![TextField::NameId, TextField::EmailAttribute]),
            select(vec![
                TextSplit::Comment,
                TextSplit::Cdata,
                TextSplit::ProcessingInstruction
            ])
        )
            .prop_map(move |(field, with)| Tamper::SplitText {
                field,
                after: ADMIN.to_owned(),
                with,
            }),
        Just(Tamper::CommentInNameId { after: admin() }),
        (
            select(vec![CopyPosition::Before, CopyPosition::After]),
            proptest::option::of(Just(admin())),
            any::<bool>()
        )
            .prop_map(|(position, name_id, keep_id)| Tamper::InsertAssertionCopy {
                position,
                name_id,
                keep_id,
            }),
        (1u8..=8).prop_map(move |variant| Tamper::Xsw {
            variant,
            name_id: ADMIN.to_owned(),
        }),
        (which(), select(vec!["", "#_fuzz-other"])).prop_map(|(which, v)| {
            Tamper::ReferenceUri {
                which,
                value: v.to_owned(),
            }
        }),
        select(vec![DoctypeEntity::Internal, DoctypeEntity::Expansion])
            .prop_map(|entity| Tamper::Doctype { entity, url: None }),
        proptest::option::of(Just(admin())).prop_map(|name_id| Tamper::TrailingRoot { name_id }),
        Just(Tamper::SecondSignedInfo { name_id: admin() }),
        Just(Tamper::DigestComment { name_id: admin() }),
        Just(Tamper::StrayDigestValue { name_id: admin() }),
        Just(Tamper::ExtraNameId { name_id: admin() }),
        Just(Tamper::ObjectReference { name_id: admin() }),
        select(vec!["1", "http://example.com\u{80}"]).prop_map(|uri| Tamper::OddNamespace {
            uri: uri.to_owned()
        }),
        Just(Tamper::EnvelopingSignature),
        Just(Tamper::DetachedSignature),
        which().prop_map(|which| Tamper::ExtraTransform { which }),
        which().prop_map(|which| Tamper::ExtraReference { which }),
        which().prop_map(|which| Tamper::CanonicalizationMethod {
            which,
            algorithm: "urn:harness:unknown-c14n".to_owned(),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of values a plan enum's JSON Schema admits.
    fn variants<T: schemars::JsonSchema>() -> usize {
        let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema");
        let mut count = 0;
        let mut stack = vec![schema];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(values)) = map.get("enum") {
                        count += values.len();
                    } else if map.get("const").is_some() {
                        count += 1;
                    }
                    stack.extend(map.into_iter().filter(|(k, _)| k != "enum").map(|(_, v)| v));
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        count
    }

    #[test]
    fn forgeries_include_wrappings_that_can_be_built_around_what_each_layout_signs() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::{Config, TestRng, TestRunner};
        let rng = TestRng::deterministic_rng(Config::default().rng_algorithm);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        let strategy = forgery_plan(vec![SigningLayout::Assertion, SigningLayout::Both]);
        let mut wraps = [0, 0];
        for _ in 0..2_000 {
            let plan = strategy.new_tree(&mut runner).expect("a plan").current();
            let layout = plan.signing.layout.expect("a layout");
            if let [
                Tamper::Wrap {
                    slot, position, id, ..
                },
            ] = plan.tamper[..]
            {
                let signed = SignedElement::of(layout).expect("signed");
                assert!(
                    wrapping::construction(slot, position, id, signed).is_ok(),
                    "{slot:?} {position:?} {id:?} under {layout:?}"
                );
                wraps[usize::from(layout == SigningLayout::Both)] += 1;
            }
        }
        // A tenth of the forgeries, in both layouts (only `new-root` when the Response is signed).
        assert!(wraps[0] > 50 && wraps[1] > 10, "{wraps:?}");
    }

    #[test]
    fn two_changes_of_one_element_are_not_composed() {
        let empty = Alteration::Empty {
            element: Emptiable::AssertionId,
        };
        let raw = Alteration::Raw {
            field: RawField::AssertionId,
            value: "Success".into(),
        };
        assert!(two_of_one_element(&[empty, raw]));
        let status = Alteration::Omit {
            element: Omittable::Status,
        };
        let code = Alteration::Raw {
            field: RawField::StatusCodeValue,
            value: "Success".into(),
        };
        assert!(two_of_one_element(&[code, status]));
        let time = Alteration::Time {
            field: TimeField::NotOnOrAfter,
            offset_seconds: 60,
        };
        let conditions = Alteration::Raw {
            field: RawField::ConditionsNotOnOrAfter,
            value: "not-a-dateTime".into(),
        };
        assert!(two_of_one_element(&[time, conditions]));
        // Different elements, or names that only share a prefix (`response-i...`), compose.
        assert!(!two_of_one_element(&[
            Alteration::Empty {
                element: Emptiable::ResponseIssuer,
            },
            Alteration::Omit {
                element: Omittable::ResponseId,
            },
        ]));
    }

    #[test]
    fn the_matrix_lists_every_element_the_mock_idp_can_omit_empty_or_write_raw() {
        assert_eq!(OMITTABLE.len(), variants::<Omittable>());
        assert_eq!(EMPTIABLE.len(), variants::<Emptiable>());
        assert_eq!(RAW_FIELDS.len(), variants::<RawField>());
        let distinct = |names: Vec<String>| {
            let n = names.len();
            let set: std::collections::BTreeSet<_> = names.into_iter().collect();
            set.len() == n
        };
        let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        assert!(distinct(
            OMITTABLE
                .iter()
                .map(|e| name(serde_json::json!(e)))
                .collect()
        ));
        assert!(distinct(
            EMPTIABLE
                .iter()
                .map(|e| name(serde_json::json!(e)))
                .collect()
        ));
        assert!(distinct(
            RAW_FIELDS
                .iter()
                .map(|e| name(serde_json::json!(e)))
                .collect()
        ));
    }
}
