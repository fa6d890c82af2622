//! The `wrapping/` family is generated from the mock IdP's wrapping generator: one scenario per
//! kept combination of schema slot x position x ID handling (the signing layouts through
//! `layouts`). `UPDATE_SCENARIOS=1 cargo nextest run -p tests -E 'test(wrapping_family)'`
//! rewrites the files; without the variable the test checks that the committed ones are what
//! the generator makes.

use std::collections::BTreeMap;

use mock_idp::plan::{WrapId, WrapPosition, WrapSlot};
use mock_idp::response::tamper::wrapping::{SCHEMA_SLOTS, SignedElement, construction};

use crate::support::root;

/// The ds and xenc slots kept `before` and `after` the forgery (their carrier, a ds:Signature
/// or an EncryptedAssertion beside the forgery, is the same element whichever of its slots
/// holds the original).
const BESIDE: &[WrapSlot] = &[
    WrapSlot::Object,
    WrapSlot::KeyInfo,
    WrapSlot::EncryptionProperty,
    WrapSlot::DataReference,
];

/// The combinations that also run with every other ID handling.
const ID_VARIANTS: &[(WrapSlot, WrapPosition)] = &[
    (WrapSlot::Advice, WrapPosition::Inside),
    (WrapSlot::Object, WrapPosition::Inside),
    (WrapSlot::Response, WrapPosition::Before),
    (WrapSlot::StatusDetail, WrapPosition::Before),
    (WrapSlot::Advice, WrapPosition::NewRoot),
];

fn is_ds_or_xenc(slot: WrapSlot) -> bool {
    slot.name().starts_with("ds:") || slot.name().starts_with("xenc:")
}

fn position_name(p: WrapPosition) -> &'static str {
    match p {
        WrapPosition::Inside => "inside",
        WrapPosition::Before => "before",
        WrapPosition::After => "after",
        WrapPosition::NewRoot => "new-root",
    }
}

fn id_name(id: WrapId) -> &'static str {
    match id {
        WrapId::Same => "same",
        WrapId::New => "new",
        WrapId::Foreign => "foreign",
        WrapId::CapitalId => "capital-id",
        WrapId::LowerId => "lower-id",
    }
}

/// One scenario of the family.
struct Entry {
    slot: WrapSlot,
    position: WrapPosition,
    id: WrapId,
    schema_valid: bool,
}

impl Entry {
    fn layouts(&self) -> &'static [&'static str] {
        if self.position == WrapPosition::NewRoot {
            &["assertion", "response", "both"]
        } else {
            &["assertion"]
        }
    }

    fn file_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.slot.name().replace(':', "-").to_lowercase(),
            position_name(self.position),
            id_name(self.id)
        )
    }

    /// The reference SP's weakenings that let this construction sign the admin in.
    ///
    /// `assertion-by-search` reads the first saml:Assertion in document order and takes a
    /// signature wherever it sits: it is fooled when the forgery comes first and nothing else
    /// refuses (a duplicate or foreign ID, an EncryptedAssertion beside a plain one, a copy of
    /// the original signature on the forgery, a Response child the schema does not allow).
    /// `trust-first-assertion` reads the first assertion too, but wants the verified one a
    /// child of the Response: only the forgery put before the original in place fools it.
    fn catches(&self) -> Vec<&'static str> {
        let id_ok = matches!(self.id, WrapId::New | WrapId::CapitalId | WrapId::LowerId);
        if !id_ok {
            return Vec::new();
        }
        let xenc = self.slot.name().starts_with("xenc:");
        let saml = self.slot.name().starts_with("saml:");
        match self.position {
            WrapPosition::Inside if saml || xenc => vec!["assertion-by-search"],
            WrapPosition::Before if self.slot == WrapSlot::Response => {
                vec!["assertion-by-search", "trust-first-assertion"]
            }
            WrapPosition::NewRoot if saml => vec!["assertion-by-search"],
            _ => Vec::new(),
        }
    }

    fn title(&self) -> String {
        let forgery = match self.position {
            WrapPosition::NewRoot => "a forged Response",
            _ => "a forged assertion",
        };
        let hidden = match self.position {
            WrapPosition::NewRoot => "The signed Response",
            _ => "The signed assertion",
        };
        let place = match self.position {
            WrapPosition::Inside => format!("in {} inside {forgery}", self.slot.name()),
            WrapPosition::NewRoot => format!("in {} inside {forgery}", self.slot.name()),
            WrapPosition::Before if self.slot == WrapSlot::Response => {
                "left in place after a forged assertion".to_owned()
            }
            WrapPosition::After if self.slot == WrapSlot::Response => {
                "left in place before a forged assertion".to_owned()
            }
            WrapPosition::Before => format!("in {} before {forgery}", self.slot.name()),
            WrapPosition::After => format!("in {} after {forgery}", self.slot.name()),
        };
        let id = match self.id {
            WrapId::New => "with a new ID",
            WrapId::Same => "with the same ID",
            WrapId::Foreign => "carrying the signed ID as x:ID",
            WrapId::CapitalId => "carrying the signed ID as Id",
            WrapId::LowerId => "carrying the signed ID as id",
        };
        format!("{hidden} hidden {place} ({id}) has no effect")
    }

    fn spec(&self) -> Vec<String> {
        let mut spec = vec![
            "Somorovsky et al. 2012 (On Breaking SAML: XML Signature Wrapping)".to_owned(),
            "SAMLRaider XSW1-XSW8 (the original signature reused verbatim; shared/reference/saml-rules-and-attacks.md §2.2)".to_owned(),
        ];
        let schema = match self.slot.name().split(':').next() {
            Some("saml") => "saml-schema-assertion-2.0.xsd",
            Some("samlp") => "saml-schema-protocol-2.0.xsd",
            Some("ds") => "xmldsig-core-schema.xsd",
            _ => "xenc-schema.xsd",
        };
        spec.push(format!(
            "XSD slot {} (harness/schemas/{schema}): {}",
            self.slot.name(),
            slot_admission(self.slot)
        ));
        let advisory = match (self.slot, self.position) {
            (WrapSlot::StatusDetail, _) => Some(
                "ruby-saml CVE-2025-25292 (GHSA-754f-8gm6-c4r2): the original signature moved into samlp:StatusDetail (shared/reference §2.6 P3)",
            ),
            (WrapSlot::Extensions, _) => Some(
                "pysaml2 CVE-2020-5390: the original moved into samlp:Extensions (shared/reference §2.6 P12); SAMLRaider XSW7",
            ),
            (WrapSlot::Object, _) => Some(
                "SAMLRaider XSW8 and GitHub Enterprise Server CVE-2025-23369: a signed assertion in ds:Object (shared/reference §2.6 P10); SAML Core §5.4.5 (errata E91)",
            ),
            (WrapSlot::Response, _) => {
                Some("SAMLRaider XSW3 (a forgery beside the signed assertion)")
            }
            (_, WrapPosition::NewRoot) => {
                Some("SAMLRaider XSW1/XSW2 (the signed Response wrapped by a forged one)")
            }
            (_, WrapPosition::Inside) => Some(
                "pysaml2 CVE-2021-21238 (shared/reference §2.6 P11): the signed assertion nested in a forgery",
            ),
            _ => None,
        };
        spec.extend(advisory.map(str::to_owned));
        match self.id {
            WrapId::Same => spec.push("SAML Core §1.3.4 (IDs are unique); SAMLRaider XSW7/XSW8 (duplicate IDs)".into()),
            WrapId::Foreign => spec.push(
                "node-saml CVE-2025-54419 (GHSA-4mxg-3p6v-xgq3): the signed ID in a foreign-namespace attribute".into(),
            ),
            WrapId::CapitalId | WrapId::LowerId => spec.push(
                "SAML Core §1.3.4 (the ID attribute is `ID`; `Id` is XML Signature's spelling, `id` a lookup some verifiers also try)".into(),
            ),
            WrapId::New => {}
        }
        spec.push("W3C XML Signature Best Practices BP12 (see what is signed)".into());
        spec
    }

    fn rules(&self) -> Vec<&'static str> {
        let mut rules = vec!["BP12-SeeWhatIsSigned"];
        if self.id != WrapId::New {
            rules.push("CORE-1.3.4-IDUnique");
        }
        if !self.schema_valid {
            rules.push("XML-SchemaValid");
        }
        rules
    }

    fn description(&self) -> String {
        let hidden = match self.position {
            WrapPosition::NewRoot => {
                "The whole original Response (its signatures intact, per the layout)"
            }
            _ => "The signed assertion, intact with its signature,",
        };
        let place = match self.position {
            WrapPosition::Inside => format!(
                "goes into {} inside an unsigned forgery for the admin that takes its place as the Response's assertion",
                self.slot.name()
            ),
            WrapPosition::NewRoot => format!(
                "goes into {} inside a forged, unsigned Response for the admin (in the Response or in its assertion, where the schema puts the slot), which becomes the root",
                self.slot.name()
            ),
            WrapPosition::Before if self.slot == WrapSlot::Response => {
                "stays where it was, and an unsigned forgery for the admin goes right before it"
                    .to_owned()
            }
            WrapPosition::After if self.slot == WrapSlot::Response => {
                "stays where it was, and an unsigned forgery for the admin goes right after it"
                    .to_owned()
            }
            WrapPosition::Before => format!(
                "goes into {} before the unsigned forgery for the admin that takes its place (where the Response's schema puts the slot, else as the sibling right before it)",
                self.slot.name()
            ),
            WrapPosition::After => format!(
                "goes into {} right after the unsigned forgery for the admin that takes its place",
                self.slot.name()
            ),
        };
        let id = match self.id {
            WrapId::New => "The forgery has a fresh ID.",
            WrapId::Same => "The forgery keeps the signed element's ID (two elements share it).",
            WrapId::Foreign => {
                "The forgery has a fresh ID and the signed one as `x:ID` in a foreign namespace."
            }
            WrapId::CapitalId => {
                "The forgery has a fresh ID and the signed one as an `Id` attribute."
            }
            WrapId::LowerId => {
                "The forgery has a fresh ID and the signed one as an `id` attribute."
            }
        };
        let valid = if self.schema_valid {
            "The result is valid against the SAML, XML Signature and XML Encryption schemas, so a schema check alone does not refuse it."
        } else {
            "The result is not schema-valid."
        };
        format!(
            "{hidden} {place}. {id} {valid} A correct SP refuses, or signs in the signed identity (the member) only; an SP that verifies one element and reads another signs the admin in. Generated by tests/e2e/wrapping.rs: do not edit."
        )
    }

    fn render(&self) -> String {
        let quote = |s: &str| format!("{s:?}");
        let list = |v: Vec<String>| format!("[{}]", v.join(", "));
        let mut out = String::new();
        out.push_str("# Generated by tests/e2e/wrapping.rs from mock-idp's wrapping generator; do not edit.\n");
        out.push_str(&format!("title = {}\n", quote(&self.title())));
        out.push_str(&format!(
            "spec = {}\n",
            list(self.spec().iter().map(|s| quote(s)).collect())
        ));
        out.push_str(&format!(
            "rules = {}\n",
            list(self.rules().iter().map(|s| quote(s)).collect())
        ));
        out.push_str("level = \"must\"\nseverity = \"high\"\n");
        out.push_str(&format!("description = {}\n", quote(&self.description())));
        out.push_str("user = \"admin\"\n");
        out.push_str(&format!(
            "layouts = {}\n",
            list(self.layouts().iter().map(|s| quote(s)).collect())
        ));
        let catches = self.catches();
        if !catches.is_empty() {
            out.push_str(&format!(
                "catches = {}\n",
                list(catches.iter().map(|s| quote(s)).collect())
            ));
        }
        out.push_str(&format!(
            "\n[plan]\nuser = \"{{users.member.email}}\"\ntamper = [{{ kind = \"wrap\", slot = {}, position = {}, id = {}, name_id = \"{{users.admin.email}}\" }}]\n",
            quote(self.slot.name()),
            quote(position_name(self.position)),
            quote(id_name(self.id)),
        ));
        out.push_str("\n[expect]\noutcome = \"no-effect\"\nas = \"member\"\n");
        out
    }
}

fn slot_admission(slot: WrapSlot) -> String {
    if slot.admits_response() {
        "admits a saml:Assertion and a samlp:Response".to_owned()
    } else {
        "admits a saml:Assertion, not a samlp:Response".to_owned()
    }
}

/// The family: every combination the generator allows, pruned (see `scenarios/wrapping/README.md`).
fn family() -> Vec<Entry> {
    let mut out = Vec::new();
    for &slot in SCHEMA_SLOTS {
        for position in WrapPosition::ALL {
            for id in WrapId::ALL {
                let signed = if position == WrapPosition::NewRoot {
                    SignedElement::Response
                } else {
                    SignedElement::Assertion
                };
                let Ok(schema_valid) = construction(slot, position, id, signed) else {
                    continue;
                };
                let beside = matches!(position, WrapPosition::Before | WrapPosition::After);
                if beside && is_ds_or_xenc(slot) && !BESIDE.contains(&slot) {
                    continue;
                }
                if id != WrapId::New && !ID_VARIANTS.contains(&(slot, position)) {
                    continue;
                }
                out.push(Entry {
                    slot,
                    position,
                    id,
                    schema_valid,
                });
            }
        }
    }
    out
}

#[test]
fn the_wrapping_family_is_what_the_generator_makes() {
    let dir = root().join("scenarios/wrapping");
    let fresh: BTreeMap<String, String> = family()
        .iter()
        .map(|e| (format!("{}.toml", e.file_name()), e.render()))
        .collect();
    if std::env::var_os("UPDATE_SCENARIOS").is_some() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "toml") {
                std::fs::remove_file(entry.path()).expect("remove");
            }
        }
        for (name, text) in &fresh {
            std::fs::write(dir.join(name), text).expect("write");
        }
    }
    let mut committed = BTreeMap::new();
    for entry in std::fs::read_dir(&dir)
        .expect("scenarios/wrapping")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            committed.insert(
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(&path).expect("read"),
            );
        }
    }
    assert!(
        committed == fresh,
        "scenarios/wrapping/ is not what the generator makes; run UPDATE_SCENARIOS=1 cargo nextest run -p tests -E 'test(wrapping_family)'"
    );
    let runs: usize = family().iter().map(|e| e.layouts().len()).sum();
    assert!(
        (100..=160).contains(&runs),
        "{runs} runs: keep the family to a sensible size"
    );
}
