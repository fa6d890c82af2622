//! A shareable bundle: the diagnosis and the response with personal data replaced
//! consistently (the same email is the same placeholder everywhere): emails, NameIDs,
//! attribute values (names, groups...), the typed email, IP addresses. HAR headers and cookies
//! are never copied into a bundle. Redaction breaks the response's signatures, so the bundle
//! keeps the verdicts made on the original.

use std::collections::BTreeMap;
use std::path::Path;

use super::checks::Diagnosis;
use super::facts::{Facts, looks_like_email};
use super::input::Capture;

/// Original value -> placeholder.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    map: BTreeMap<String, String>,
    domains: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, usize>,
}

/// Failed to write a bundle (exit code 3: the file system).
#[derive(Debug, thiserror::Error)]
#[error("failed to write the redacted bundle {path}: {message}")]
pub struct BundleError {
    /// Where.
    pub path: String,
    /// What.
    pub message: String,
}

impl Redactor {
    /// A redactor that knows the personal values of these captures and the typed email.
    pub fn for_captures(captures: &[Capture], entered_email: Option<&str>) -> Self {
        let mut r = Self::default();
        if let Some(e) = entered_email {
            r.learn(e);
        }
        for c in captures {
            let Ok(facts) = Facts::read(&c.xml) else {
                continue;
            };
            if let Some(a) = &facts.assertion {
                if let Some(n) = &a.name_id {
                    r.learn(n);
                }
                for at in &a.attributes {
                    for v in &at.values {
                        r.learn(v);
                    }
                }
                for conf in &a.confirmations {
                    if let Some(ip) = &conf.address {
                        r.learn(ip);
                    }
                }
            }
        }
        r
    }

    fn learn(&mut self, value: &str) {
        let v = value.trim();
        if v.is_empty() || self.map.contains_key(v) {
            return;
        }
        if looks_like_email(v)
            && let Some(known) = self.map.get(&v.to_ascii_lowercase()).cloned()
        {
            self.map.insert(v.to_owned(), known);
            return;
        }
        let placeholder = if looks_like_email(v) {
            let (_, domain) = v.rsplit_once('@').unwrap_or(("", v));
            let domain = domain.to_ascii_lowercase();
            let next = self.domains.len() + 1;
            let d = self
                .domains
                .entry(domain)
                .or_insert_with(|| format!("domain{next}.example"))
                .clone();
            format!("user{}@{d}", self.bump("email"))
        } else if v.parse::<std::net::IpAddr>().is_ok() {
            format!("192.0.2.{}", self.bump("ip"))
        } else {
            format!("redacted-{}", self.bump("value"))
        };
        // Emails compare case-insensitively: both spellings map to one placeholder.
        if looks_like_email(v) {
            self.map.insert(v.to_ascii_lowercase(), placeholder.clone());
        }
        self.map.insert(v.to_owned(), placeholder);
    }

    fn bump(&mut self, kind: &'static str) -> usize {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        *n
    }

    /// `text` with every known value replaced (longest first, so a value inside another is
    /// not half-replaced), then any other email or IPv4 address.
    pub fn apply(&self, text: &str) -> String {
        let mut pairs: Vec<(&String, &String)> = self.map.iter().collect();
        pairs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        let mut out = text.to_owned();
        for (original, placeholder) in pairs {
            out = out.replace(original.as_str(), placeholder);
        }
        let leftovers = [
            (
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                "redacted@redacted.example",
            ),
            (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "192.0.2.0"),
        ];
        for (pattern, replacement) in leftovers {
            if let Ok(re) = regex::Regex::new(pattern) {
                out = re
                    .replace_all(&out, |c: &regex::Captures<'_>| {
                        let m = &c[0];
                        // Placeholders already made stay as they are.
                        if m.ends_with(".example") || m.starts_with("192.0.2.") {
                            m.to_owned()
                        } else {
                            replacement.to_owned()
                        }
                    })
                    .into_owned();
            }
        }
        out
    }
}

/// Writes the bundle: `PATH.json` as one JSON file, any other PATH as a folder with
/// `diagnosis.txt`, `diagnosis.json` and `response-N.xml`.
pub fn write_bundle(
    path: &Path,
    redactor: &Redactor,
    captures: &[Capture],
    diagnoses: &[Diagnosis],
    text: &str,
) -> Result<(), BundleError> {
    let fail = |e: std::io::Error| BundleError {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let json = redactor
        .apply(&serde_json::to_string_pretty(&super::render::json(diagnoses)).unwrap_or_default());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let responses: Vec<String> = captures.iter().map(|c| redactor.apply(&c.xml)).collect();
    let note = "Personal data replaced consistently (emails, NameIDs, attribute values, IP addresses); the response's signatures no longer verify, the verdicts were made on the original.";
    if path.extension().is_some_and(|e| e == "json") {
        let bundle = serde_json::json!({
            "schema_version": 1,
            "note": note,
            "diagnosis": json,
            "diagnosis_text": redactor.apply(text),
            "responses": responses,
        });
        return std::fs::write(
            path,
            serde_json::to_string_pretty(&bundle).unwrap_or_default() + "\n",
        )
        .map_err(fail);
    }
    std::fs::create_dir_all(path).map_err(fail)?;
    std::fs::write(
        path.join("diagnosis.txt"),
        format!("{note}\n\n{}", redactor.apply(text)),
    )
    .map_err(fail)?;
    std::fs::write(
        path.join("diagnosis.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
    )
    .map_err(fail)?;
    for (i, xml) in responses.iter().enumerate() {
        std::fs::write(path.join(format!("response-{}.xml", i + 1)), xml).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::checks::diagnose;
    use crate::support::fixtures::{self, capture, context};

    #[test]
    fn personal_values_are_replaced_consistently_and_nothing_else_leaks() {
        let plan = mock_idp::Plan {
            user: Some("Ada.Lovelace@Customer.example.com".to_owned()),
            alter: vec![mock_idp::plan::Alteration::Address {
                value: "203.0.113.77".to_owned(),
            }],
            ..mock_idp::Plan::default()
        };
        let c = capture(&plan);
        let mut ctx = context();
        ctx.entered_email = Some("ada.lovelace@customer.example.com".to_owned());
        let d = diagnose(&c, &ctx).expect("diagnose");
        let text = crate::support::render::text(std::slice::from_ref(&d), 180);
        let r = Redactor::for_captures(std::slice::from_ref(&c), ctx.entered_email.as_deref());
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("bundle");
        write_bundle(
            &out,
            &r,
            std::slice::from_ref(&c),
            std::slice::from_ref(&d),
            &text,
        )
        .expect("bundle");
        let json_path = dir.path().join("bundle.json");
        write_bundle(&json_path, &r, &[c], &[d], &text).expect("json bundle");
        for file in ["diagnosis.txt", "diagnosis.json", "response-1.xml"] {
            let body = std::fs::read_to_string(out.join(file)).expect("read");
            for secret in [
                "Lovelace",
                "lovelace",
                "Customer.example.com",
                "203.0.113.77",
                "Ada",
            ] {
                assert!(!body.contains(secret), "{file} leaks {secret}");
            }
            assert!(body.contains("user1@domain1.example"), "{file}");
        }
        let text = std::fs::read_to_string(out.join("diagnosis.txt")).expect("read");
        // The typed and the asserted address are the same person in other letter case: one
        // placeholder, so the diagnosis still reads right.
        assert!(!text.contains("user2@"), "{text}");
        assert!(
            text.contains(fixtures::ACS),
            "non-personal evidence stays: {text}"
        );
        let bundle: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json_path).expect("read")).expect("json");
        assert!(
            bundle["responses"][0]
                .as_str()
                .is_some_and(|x| x.contains("192.0.2.1"))
        );
    }
}
