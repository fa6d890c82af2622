//! The embedded catalogue: valid, cited, schema-checked, listable.

use saml_harness::scenario::{Catalogue, Expectation, json_schema};

use crate::support::root;

#[test]
fn every_embedded_scenario_loads_and_cites_the_spec() {
    let catalogue = Catalogue::embedded().expect("the embedded catalogue is valid");
    assert!(catalogue.len() >= 20, "only {} scenarios", catalogue.len());
    for s in catalogue.iter() {
        assert!(
            s.file.spec.iter().any(|c| !c.trim().is_empty()),
            "{} cites nothing",
            s.id
        );
    }
}

#[test]
fn the_committed_json_schema_matches_the_types() {
    let path = root().join("scenarios/schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = json_schema();
    if committed != fresh {
        panic!(
            "{} is out of date; regenerate it with `cargo run -q -p saml-harness -- schema > scenarios/schema.json`",
            path.display()
        );
    }
}

#[test]
fn the_catalogue_has_positive_controls_beside_refusals() {
    let catalogue = Catalogue::embedded().expect("valid");
    let positives = catalogue
        .iter()
        .filter(|s| matches!(s.file.expect, Expectation::SignedIn { .. }))
        .count();
    let refusals = catalogue
        .iter()
        .filter(|s| matches!(s.file.expect, Expectation::Refused { .. }))
        .count();
    assert!(
        positives >= 4 && refusals >= 10,
        "{positives} positives, {refusals} refusals"
    );
}

#[test]
fn every_rule_has_a_scenario_or_a_reason_and_the_coverage_table_is_current() {
    let rules = saml_harness::coverage::rules().expect("scenarios/_rules.toml parses");
    let catalogue = Catalogue::embedded().expect("valid");
    let problems = saml_harness::coverage::problems(&rules, &catalogue);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let path = root().join("scenarios/_coverage.md");
    let fresh = saml_harness::coverage::render_markdown(&rules, &catalogue);
    if std::env::var_os("UPDATE_BASELINES").is_some() {
        std::fs::write(&path, &fresh).expect("write");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is out of date; regenerate it with `cargo run -q -p saml-harness -- coverage > scenarios/_coverage.md`",
        path.display()
    );
}

#[test]
fn the_committed_catalogue_listing_is_current() {
    let catalogue = Catalogue::embedded().expect("valid");
    let fresh = saml_harness::listing::markdown(&catalogue);
    let path = root().join("scenarios/_catalogue.md");
    if std::env::var_os("UPDATE_BASELINES").is_some() {
        std::fs::write(&path, &fresh).expect("write");
    }
    assert!(
        std::fs::read_to_string(&path).unwrap_or_default() == fresh,
        "{} is out of date; regenerate it with `cargo run -q -p saml-harness -- list --format md > scenarios/_catalogue.md`",
        path.display()
    );
}

/// Asserts that the part of `page` between `<!-- MARKER:begin -->` and `<!-- MARKER:end -->` is
/// `fresh`, the output of `saml-harness ARGS`.
fn assert_generated_section(page: &str, marker: &str, fresh: &str, args: &str) {
    let text = std::fs::read_to_string(root().join(page)).expect(page);
    let (begin, end) = (
        format!("<!-- {marker}:begin -->\n"),
        format!("<!-- {marker}:end -->"),
    );
    let section = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(section, _)| section)
        .unwrap_or_else(|| panic!("{page} has no `{marker}` markers"));
    assert!(
        section == fresh,
        "the `{marker}` section of {page} is out of date; replace what is between its markers with the output of `cargo run -q -p saml-harness -- {args}`"
    );
}

#[test]
fn the_docs_define_every_plan_field_and_kind_as_the_code_does() {
    let fresh = saml_harness::vocabulary::plans::markdown();
    assert_generated_section(
        "docs/scenarios.md",
        "plan-vocabulary",
        &fresh,
        "vocabulary --plans",
    );
}

#[test]
fn the_docs_define_every_capability_and_setting_as_the_code_does() {
    let catalogue = Catalogue::embedded().expect("valid");
    let fresh = saml_harness::vocabulary::markdown(&catalogue);
    assert_generated_section("docs/targets.md", "vocabulary", &fresh, "vocabulary");
}

#[test]
fn every_scenario_has_a_control_or_expects_the_positive_outcome_itself() {
    let catalogue = Catalogue::embedded().expect("valid");
    let mut own = 0;
    for s in catalogue.iter() {
        match saml_harness::control::derive(s) {
            Ok(saml_harness::control::Need::Own) => own += 1,
            Ok(need) => assert!(!need.controls().is_empty(), "{}", s.id),
            Err(e) => panic!("{}: {e}", s.id),
        }
    }
    assert!(own > 0 && own < catalogue.len());
}
