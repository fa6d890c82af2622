//! The plan vocabulary as Markdown: every field of a plan, every alteration and tampering with
//! its fields, and every value they take, rendered from the scenario files' JSON Schema (the one
//! `saml-harness schema` prints), so that its text is the code's own doc comments.
//! docs/scenarios.md holds it between markers; a test keeps it current.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The object sections, in reading order: the schema definition and its heading.
const OBJECTS: [(&str, &str); 4] = [
    ("Plan", "`[plan]`"),
    ("Signing", "`[plan.signing]`"),
    ("Encryption", "`[plan.encryption]`"),
    ("Logout", "`[plan.logout]`"),
];

/// The tagged unions (one row per `kind`): the schema definition and its heading.
const UNIONS: [(&str, &str); 4] = [
    ("Alteration", "`alter`: changes made before signing"),
    ("Tamper", "`tamper`: changes made after signing"),
    ("LogoutAlteration", "`[plan.logout]` `alter`"),
    ("LogoutTamper", "`[plan.logout]` `tamper`"),
];

/// The plan vocabulary, as Markdown tables.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(crate::scenario::ScenarioFile))
        .expect("a JSON Schema is JSON");
    render(&schema)
}

fn render(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema["$defs"].as_object().unwrap_or(&empty);
    let mut values = Vec::new();
    let mut out = String::new();
    for (name, heading) in OBJECTS {
        let Some(def) = defs.get(name) else { continue };
        let _ = writeln!(out, "#### {heading}\n\n{}\n", text(def));
        out.push_str("| field | type | default | meaning |\n|---|---|---|---|\n");
        for (field, spec) in properties(def) {
            let _ = writeln!(
                out,
                "| `{field}` | {} | {} | {} |",
                type_of(spec, defs, &mut values),
                default_of(spec),
                cell(&text(spec)),
            );
        }
        out.push('\n');
    }
    for (name, heading) in UNIONS {
        let Some(def) = defs.get(name) else { continue };
        let _ = writeln!(out, "#### {heading}\n\n{}\n", text(def));
        out.push_str("| kind | fields | what it does |\n|---|---|---|\n");
        for variant in def["oneOf"].as_array().into_iter().flatten() {
            let kind = variant["properties"]["kind"]["const"]
                .as_str()
                .unwrap_or("?");
            let required: Vec<&str> = variant["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fields: Vec<String> = properties(variant)
                .filter(|(field, _)| *field != "kind")
                .map(|(field, spec)| {
                    let optional = if required.contains(&field) {
                        String::new()
                    } else {
                        match spec.get("default") {
                            Some(_) => format!(", default {}", default_of(spec)),
                            None => ", optional".to_owned(),
                        }
                    };
                    format!(
                        "`{field}`: {}{optional}. {}",
                        type_of(spec, defs, &mut values),
                        text(spec)
                    )
                })
                .collect();
            let fields = if fields.is_empty() {
                "-".to_owned()
            } else {
                cell(&fields.join("<br>"))
            };
            let _ = writeln!(out, "| `{kind}` | {fields} | {} |", cell(&text(variant)));
        }
        out.push('\n');
    }
    out.push_str("#### Values\n\n");
    let mut done = Vec::new();
    while let Some(name) = values.first().cloned() {
        values.remove(0);
        if done.contains(&name) {
            continue;
        }
        let def = &defs[&name];
        let _ = writeln!(out, "##### {name}\n\n{}\n", text(def));
        out.push_str("| value | meaning |\n|---|---|\n");
        for (value, meaning) in enum_values(def) {
            let _ = writeln!(out, "| `{value}` | {} |", cell(&meaning));
        }
        out.push('\n');
        done.push(name);
    }
    out
}

/// An object's properties in the schema's order (schemars sorts them by name).
fn properties(def: &Value) -> impl Iterator<Item = (&str, &Value)> {
    def["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v))
}

/// A definition that is a set of string values: `(value, meaning)` pairs.
fn enum_values(def: &Value) -> Vec<(String, String)> {
    if let Some(variants) = def["oneOf"].as_array() {
        let consts: Option<Vec<_>> = variants
            .iter()
            .map(|v| v["const"].as_str().map(|c| (c.to_owned(), text(v))))
            .collect();
        if let Some(consts) = consts {
            return consts;
        }
    }
    def["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|v| (v.to_owned(), String::new()))
        .collect()
}

/// How a field's type reads; a reference to a set of values links to its table under "Values".
fn type_of(spec: &Value, defs: &Map<String, Value>, values: &mut Vec<String>) -> String {
    if let Some(reference) = spec["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/").to_owned();
        let def = &defs[&name];
        if let Some((_, heading)) = UNIONS.iter().find(|(n, _)| *n == name) {
            let heading = heading.split(':').next().unwrap_or(heading);
            return format!("`{name}`, see {heading}");
        }
        if enum_values(def).is_empty() {
            return match OBJECTS.iter().find(|(n, _)| *n == name) {
                Some((_, heading)) => format!("a table, see {heading}"),
                None => format!("`{name}`"),
            };
        }
        let link = format!("[{name}](#{})", name.to_lowercase());
        values.push(name);
        return link;
    }
    if let Some(any) = spec["anyOf"].as_array() {
        let kinds: Vec<String> = any
            .iter()
            .filter(|v| v["type"] != "null")
            .map(|v| type_of(v, defs, values))
            .collect();
        return kinds.join(" or ");
    }
    if let Some(c) = spec["const"].as_str() {
        return format!("`{c}`");
    }
    let kind = match &spec["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("any")
            .to_owned(),
        Value::String(k) => k.clone(),
        _ => "any".to_owned(),
    };
    let bounds = match (spec["minimum"].as_i64(), spec["maximum"].as_i64()) {
        (Some(min), Some(max)) => format!(" ({min} to {max})"),
        (Some(min), None) => format!(" (at least {min})"),
        (None, Some(max)) => format!(" (at most {max})"),
        (None, None) => String::new(),
    };
    match kind.as_str() {
        "string" => "text".to_owned(),
        "integer" => format!("integer{bounds}"),
        "boolean" => "true or false".to_owned(),
        "array" => format!("list of {}", type_of(&spec["items"], defs, values)),
        "object" => match spec.get("additionalProperties") {
            Some(Value::Object(_)) => format!(
                "table of name to {}",
                type_of(&spec["additionalProperties"], defs, values)
            ),
            _ => "table".to_owned(),
        },
        other => other.to_owned(),
    }
}

/// A field's default as written in a scenario file, or `-`.
fn default_of(spec: &Value) -> String {
    match spec.get("default") {
        Some(Value::String(s)) => format!("`{s}`"),
        Some(Value::Object(_) | Value::Array(_)) | None => "-".to_owned(),
        Some(other) => format!("`{other}`"),
    }
}

/// A definition's description, on one line.
fn text(def: &Value) -> String {
    def["description"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text made safe for a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alteration_and_tampering_has_a_row_and_every_value_table_is_filled() {
        let md = markdown();
        let schema = serde_json::to_value(schemars::schema_for!(crate::scenario::ScenarioFile))
            .expect("json");
        for union in ["Alteration", "Tamper", "LogoutAlteration", "LogoutTamper"] {
            let variants = schema["$defs"][union]["oneOf"].as_array().expect(union);
            for v in variants {
                let kind = v["properties"]["kind"]["const"].as_str().expect("a kind");
                assert!(md.contains(&format!("| `{kind}` |")), "{union} kind {kind}");
            }
        }
        assert!(md.contains("##### WrapSlot"), "{md}");
        assert!(md.contains("| `samlp:Extensions` |"));
        assert!(!md.contains("| ? |"));
        // every link under a field points at a table that exists
        for link in md.split("](#").skip(1) {
            let anchor = link.split(')').next().unwrap_or_default();
            assert!(
                md.to_lowercase().contains(&format!("##### {anchor}\n")),
                "dangling link #{anchor}"
            );
        }
    }

    #[test]
    fn a_cell_cannot_break_its_table() {
        assert_eq!(cell("a | b"), "a \\| b");
        assert_eq!(
            text(&serde_json::json!({"description": "two\nlines"})),
            "two lines"
        );
    }
}
