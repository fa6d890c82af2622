//! The wrapping generator's slots are the schemas' slots: every element of the SAML 2.0
//! assertion and protocol, XML Signature and XML Encryption schemas (the copies in
//! `harness/schemas/`) whose content model admits a `saml:Assertion` or a `samlp:Response`.
//! And every construction the generator allows builds, hides the original intact in its slot
//! and names the forged identity.

use std::collections::BTreeMap;
use std::path::Path;

use mock_idp::plan::{Signing, SigningLayout, Tamper, WrapId, WrapPosition, WrapSlot};
use mock_idp::response::tamper::wrapping::{SCHEMA_SLOTS, SignedElement, construction};
use roxmltree::{Document, Node};

use crate::attacks::try_response;

const XS: &str = "http://www.w3.org/2001/XMLSchema";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SCHEMAS: &[&str] = &[
    "saml-schema-assertion-2.0.xsd",
    "saml-schema-protocol-2.0.xsd",
    "xmldsig-core-schema.xsd",
    "xenc-schema.xsd",
];

/// What an element's content admits: (a saml:Assertion, a samlp:Response).
type Admits = (bool, bool);

fn or(a: Admits, b: Admits) -> Admits {
    (a.0 || b.0, a.1 || b.1)
}

struct Schemas<'a> {
    docs: Vec<Document<'a>>,
}

impl<'a> Schemas<'a> {
    fn tns(doc: &Document<'_>) -> String {
        doc.root_element()
            .attribute("targetNamespace")
            .unwrap_or_default()
            .to_owned()
    }

    /// A QName attribute value resolved against the node's in-scope namespaces.
    fn qname(node: Node<'_, '_>, value: &str) -> (String, String) {
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = node.lookup_namespace_uri(prefix).unwrap_or_default();
        (ns.to_owned(), local.to_owned())
    }

    fn complex_type(&self, (ns, name): &(String, String)) -> Option<(Node<'_, 'a>, String)> {
        self.docs.iter().find_map(|doc| {
            let tns = Self::tns(doc);
            (tns == *ns).then_some(())?;
            doc.root_element()
                .children()
                .find(|n| n.has_tag_name((XS, "complexType")) && n.attribute("name") == Some(name))
                .map(|n| (n, tns.clone()))
        })
    }

    /// What a type, named by QName, admits.
    fn named_type(&self, qname: &(String, String)) -> Admits {
        if qname.0 == XS {
            return if qname.1 == "anyType" {
                (true, true)
            } else {
                (false, false)
            };
        }
        match self.complex_type(qname) {
            Some((node, tns)) => self.content(node, &tns),
            None => (false, false),
        }
    }

    /// What a model (complexType, sequence, choice, extension...) admits directly: element
    /// references, wildcards, a base type it extends. Local element declarations are elements
    /// of their own and are not descended into.
    fn content(&self, node: Node<'_, '_>, tns: &str) -> Admits {
        let mut admits = (false, false);
        for child in node.children().filter(Node::is_element) {
            let ns = child.tag_name().namespace();
            assert_eq!(
                ns,
                Some(XS),
                "unexpected {:?} in a schema",
                child.tag_name()
            );
            admits = or(
                admits,
                match child.tag_name().name() {
                    "sequence" | "choice" | "all" | "complexContent" => self.content(child, tns),
                    "group" | "attributeGroup" => {
                        assert!(
                            child.tag_name().name() == "attributeGroup",
                            "model groups are not handled; none appear in these schemas"
                        );
                        (false, false)
                    }
                    "extension" => {
                        let base = Self::qname(child, child.attribute("base").unwrap_or_default());
                        or(self.named_type(&base), self.content(child, tns))
                    }
                    // A restriction's content is its own (that of anyType is replaced).
                    "restriction" => self.content(child, tns),
                    "element" => match child.attribute("ref") {
                        Some(r) => {
                            let (ns, name) = Self::qname(child, r);
                            (
                                ns == SAML && name == "Assertion",
                                ns == SAMLP && name == "Response",
                            )
                        }
                        None => (false, false),
                    },
                    "any" => {
                        let admits_ns = |other: &str| {
                            let spec = child.attribute("namespace").unwrap_or("##any");
                            spec.split_whitespace().any(|token| match token {
                                "##any" => true,
                                "##other" => other != tns,
                                "##targetNamespace" => other == tns,
                                "##local" => false,
                                uri => uri == other,
                            })
                        };
                        (admits_ns(SAML), admits_ns(SAMLP))
                    }
                    _ => (false, false),
                },
            );
        }
        admits
    }

    /// Every element declaration, global or local, with what its content admits.
    fn elements(&self) -> BTreeMap<(String, String), Admits> {
        let mut out = BTreeMap::new();
        for doc in &self.docs {
            let tns = Self::tns(doc);
            let qualified = doc.root_element().attribute("elementFormDefault") == Some("qualified");
            for el in doc
                .descendants()
                .filter(|n| n.has_tag_name((XS, "element")) && n.attribute("name").is_some())
            {
                let global = el.parent_element() == Some(doc.root_element());
                let ns = if global || qualified || el.attribute("form") == Some("qualified") {
                    tns.clone()
                } else {
                    String::new()
                };
                let admits = match el.attribute("type") {
                    Some(t) => self.named_type(&Self::qname(el, t)),
                    None => match el.children().find(|n| n.is_element()) {
                        Some(inline) if inline.has_tag_name((XS, "complexType")) => {
                            self.content(inline, &tns)
                        }
                        Some(_) => (false, false),
                        // No type at all: anyType.
                        None => (true, true),
                    },
                };
                let key = (ns, el.attribute("name").unwrap_or_default().to_owned());
                let entry = out.entry(key).or_insert((false, false));
                *entry = or(*entry, admits);
            }
        }
        out.retain(|_, a| a.0 || a.1);
        out
    }
}

#[test]
fn the_generator_slots_are_exactly_the_schema_elements_that_admit_an_assertion_or_a_response() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/schemas");
    let texts: Vec<String> = SCHEMAS
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).expect("schema copy"))
        .collect();
    let schemas = Schemas {
        docs: texts
            .iter()
            .map(|t| Document::parse(t).expect("schema parses"))
            .collect(),
    };
    let derived = schemas.elements();
    let listed: BTreeMap<(String, String), Admits> = SCHEMA_SLOTS
        .iter()
        .map(|slot| {
            let local = slot.name().split_once(':').map_or("", |(_, l)| l);
            (
                (slot.namespace().to_owned(), local.to_owned()),
                (true, slot.admits_response()),
            )
        })
        .collect();
    assert_eq!(
        listed, derived,
        "the generator's slots differ from the schemas' (left: SCHEMA_SLOTS, right: derived)"
    );
    assert_eq!(SCHEMA_SLOTS.len(), 27);
}

fn layouts() -> [(SigningLayout, SignedElement); 3] {
    [
        SigningLayout::Assertion,
        SigningLayout::Response,
        SigningLayout::Both,
    ]
    .map(|layout| (layout, SignedElement::of(layout).expect("a signed layout")))
}

fn wrapped(
    layout: SigningLayout,
    slot: WrapSlot,
    position: WrapPosition,
    id: WrapId,
) -> Result<String, String> {
    let signing = Signing {
        layout: Some(layout),
        ..Signing::default()
    };
    let tamper = vec![Tamper::Wrap {
        slot,
        position,
        id,
        name_id: "admin@example.test".into(),
    }];
    try_response(signing, tamper).map_err(|e| e.to_string())
}

#[test]
fn every_allowed_construction_hides_the_signed_original_intact_in_its_slot() {
    let mut built = 0;
    for (layout, signed) in layouts() {
        for &slot in SCHEMA_SLOTS {
            for position in WrapPosition::ALL {
                for id in WrapId::ALL {
                    let allowed = construction(slot, position, id, signed);
                    let result = wrapped(layout, slot, position, id);
                    let what = format!("{layout:?} {} {position:?} {id:?}", slot.name());
                    let xml = match (allowed, result) {
                        (Ok(_), Ok(xml)) => xml,
                        (Err(_), Err(_)) => continue,
                        (a, r) => panic!(
                            "{what}: construction says {a:?}, the build {:?}",
                            r.map(|_| ())
                        ),
                    };
                    built += 1;
                    let doc =
                        Document::parse(&xml).unwrap_or_else(|e| panic!("{what}: {e}\n{xml}"));
                    // The original: the signed element, or with `new-root` the whole original
                    // Response, holding the signed NameID.
                    let name = match (signed, position) {
                        (SignedElement::Assertion, p) if p != WrapPosition::NewRoot => {
                            (SAML, "Assertion")
                        }
                        _ => (SAMLP, "Response"),
                    };
                    let says_alice = |a: Node<'_, '_>| {
                        a.children()
                            .filter(|n| n.has_tag_name((SAML, "Subject")))
                            .flat_map(|n| n.children())
                            .any(|n| {
                                n.has_tag_name((SAML, "NameID"))
                                    && n.text() == Some("alice@example.test")
                            })
                    };
                    let original = doc
                        .descendants()
                        .filter(|n| *n != doc.root_element() && n.has_tag_name(name))
                        .find(|n| match name.1 {
                            "Assertion" => says_alice(*n),
                            _ => n
                                .children()
                                .any(|a| a.has_tag_name((SAML, "Assertion")) && says_alice(a)),
                        })
                        .unwrap_or_else(|| panic!("{what}: no signed original\n{xml}"));
                    let (slot_ns, slot_name) = (
                        slot.namespace(),
                        slot.name().split_once(':').map_or("", |(_, l)| l),
                    );
                    let parent = original.parent_element().expect("a parent");
                    assert!(
                        parent.has_tag_name((slot_ns, slot_name)),
                        "{what}: the original sits in {:?}, not the slot\n{xml}",
                        parent.tag_name()
                    );
                    assert!(
                        doc.root_element()
                            .descendants()
                            .any(|n| n.text() == Some("admin@example.test")),
                        "{what}: no forged identity"
                    );
                    // The forgery is where the SP reads: the root (or its direct Assertion).
                    let forged_read = doc
                        .root_element()
                        .children()
                        .filter(|n| n.has_tag_name((SAML, "Assertion")))
                        .any(|a| {
                            a.descendants()
                                .any(|t| t.text() == Some("admin@example.test"))
                        });
                    assert!(
                        forged_read,
                        "{what}: the Response's own assertion is not the forgery\n{xml}"
                    );
                }
            }
        }
    }
    assert!(built > 150, "only {built} constructions built");
}
