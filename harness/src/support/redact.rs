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
    /// not half-replaced), as written or percent-encoded (a query string), then any other email
    /// or IPv4 address.
    pub fn apply(&self, text: &str) -> String {
        let mut pairs: Vec<(String, &String)> = Vec::new();
        for (original, placeholder) in &self.map {
            let form: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
            for spelling in [form.replace('+', "%20"), form, original.clone()] {
                if !pairs.iter().any(|(o, _)| *o == spelling) {
                    pairs.push((spelling, placeholder));
                }
            }
        }
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
            (
                r"[A-Za-z0-9._+-]+%40[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                "redacted%40redacted.example",
            ),
            (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "192.0.2.0"),
        ];
        for (pattern, replacement) in leftovers {
            if let Ok(re) = regex::Regex::new(pattern) {
                let source = out.clone();
                out = re
                    .replace_all(&source, |c: &regex::Captures<'_>| {
                        let whole = c.get(0).expect("the match");
                        let m = whole.as_str();
                        // Four dotted numbers inside a word are no address: a rule id
                        // (`PROF-4.1.4.1-RequestIssuer`), a section (`§4.1.4.2`), an OID
                        // (`urn:oid:2.5.4.3`).
                        let before = source[..whole.start()].chars().next_back();
                        let after = source[whole.end()..].chars().next();
                        let in_a_word = before
                            .is_some_and(|b| b.is_alphanumeric() || "§-.:".contains(b))
                            || after.is_some_and(|a| a.is_alphanumeric() || a == '-' || a == '.');
                        // Placeholders already made stay as they are.
                        if is_placeholder(m)
                            || (!m.contains('@') && !m.contains("%40") && in_a_word)
                        {
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

/// A value [`Redactor`] wrote: `userN@domainM.example` (or `%40`), `redacted@redacted.example`,
/// `192.0.2.N`.
fn is_placeholder(m: &str) -> bool {
    let email = m.replace("%40", "@");
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let generated = email
        .strip_prefix("user")
        .and_then(|rest| rest.split_once("@domain"))
        .and_then(|(n, rest)| Some((n, rest.strip_suffix(".example")?)))
        .is_some_and(|(n, d)| digits(n) && digits(d));
    generated
        || email == "redacted@redacted.example"
        || m.strip_prefix("192.0.2.").is_some_and(digits)
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
    let documents: Vec<(String, &str)> = captures
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("response-{}.xml", i + 1), c.xml.as_str()))
        .collect();
    write_parts(
        path,
        redactor,
        &super::render::json(diagnoses),
        text,
        "responses",
        &documents,
        "Personal data replaced consistently (emails, NameIDs, attribute values, IP addresses); the response's signatures no longer verify, the verdicts were made on the original.",
    )
}

/// A redactor for the SP-side checks' input: the NameID an AuthnRequest may carry in its
/// Subject, RelayState values (which must not carry the user's data, and may), the metadata's
/// contact people (names, emails, telephone numbers), the typed email; any other email or IPv4
/// address is caught by [`Redactor::apply`].
pub fn for_sp_input(
    input: &crate::conformance::input::SpInput,
    entered_email: Option<&str>,
) -> Redactor {
    use crate::conformance::input::SpInput;
    let mut r = Redactor::default();
    if let Some(e) = entered_email {
        r.learn(e);
    }
    let texts_of = |xml: &str, names: &[&str]| -> Vec<String> {
        let Ok(doc) = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}').trim_start())
        else {
            return Vec::new();
        };
        doc.descendants()
            .filter(|n| n.is_element() && names.contains(&n.tag_name().name()))
            .filter(|n| match n.tag_name().name() {
                // An AuthnRequest's NameID sits in its Subject; the Issuer is the SP's entityID.
                "NameID" => n.ancestors().any(|a| a.tag_name().name() == "Subject"),
                _ => true,
            })
            .filter_map(|n| n.text())
            .map(|t| t.trim().trim_start_matches("mailto:").trim().to_owned())
            .collect()
    };
    match input {
        SpInput::Requests(requests) => {
            for request in requests {
                for value in texts_of(&request.xml, &["NameID"]) {
                    r.learn(&value);
                }
                if let Some(relay_state) = &request.relay_state {
                    r.learn(relay_state);
                }
            }
        }
        SpInput::Metadata(doc) => {
            let contacts = ["GivenName", "SurName", "EmailAddress", "TelephoneNumber"];
            for value in texts_of(&doc.xml, &contacts) {
                r.learn(&value);
            }
        }
    }
    r
}

/// Writes the bundle of the SP-side checks: `PATH.json` as one JSON file, any other PATH as a
/// folder with `diagnosis.txt`, `diagnosis.json` and `request-N.xml` (with `request-N.query`
/// for an HTTP-Redirect request) or `metadata.xml`.
pub fn write_sp_bundle(
    path: &Path,
    redactor: &Redactor,
    input: &crate::conformance::input::SpInput,
    diagnosis: &serde_json::Value,
    text: &str,
) -> Result<(), BundleError> {
    use crate::conformance::input::SpInput;
    let mut documents: Vec<(String, &str)> = Vec::new();
    match input {
        SpInput::Requests(requests) => {
            for (i, request) in requests.iter().enumerate() {
                documents.push((format!("request-{}.xml", i + 1), request.xml.as_str()));
                if let Some(query) = &request.raw_query {
                    documents.push((format!("request-{}.query", i + 1), query.as_str()));
                }
            }
        }
        SpInput::Metadata(doc) => documents.push(("metadata.xml".to_owned(), doc.xml.as_str())),
    }
    write_parts(
        path,
        redactor,
        diagnosis,
        text,
        "documents",
        &documents,
        "Personal data replaced consistently (a NameID in an AuthnRequest, RelayState values, the metadata's contact people, any email or IP address); signatures over what was replaced no longer verify, the verdicts were made on the original.",
    )
}

fn write_parts(
    path: &Path,
    redactor: &Redactor,
    diagnosis: &serde_json::Value,
    text: &str,
    documents_key: &str,
    documents: &[(String, &str)],
    note: &str,
) -> Result<(), BundleError> {
    let fail = |e: std::io::Error| BundleError {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let json = redactor.apply(&serde_json::to_string_pretty(diagnosis).unwrap_or_default());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let documents: Vec<(&str, String)> = documents
        .iter()
        .map(|(name, body)| (name.as_str(), redactor.apply(body)))
        .collect();
    if path.extension().is_some_and(|e| e == "json") {
        let bodies: Vec<&String> = documents.iter().map(|(_, body)| body).collect();
        let bundle = serde_json::json!({
            "schema_version": 1,
            "note": note,
            "diagnosis": json,
            "diagnosis_text": redactor.apply(text),
            documents_key: bodies,
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
    for (name, body) in &documents {
        std::fs::write(path.join(name), body).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::checks::diagnose;
    use crate::support::fixtures::{self, capture, context};

    #[test]
    fn dotted_numbers_in_words_stay_and_addresses_and_encoded_emails_go() {
        let r = Redactor::default();
        let text = "PROF-4.1.4.1-RequestIssuer §4.1.4.2 urn:oid:2.5.4.3 from 10.20.30.40, \
                    http://172.16.0.9:8080/ RelayState=bob%40corp.example.com user1@domain1.example";
        let out = r.apply(text);
        for kept in [
            "PROF-4.1.4.1-RequestIssuer",
            "§4.1.4.2",
            "urn:oid:2.5.4.3",
            "user1@domain1.example",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
        for gone in ["10.20.30.40", "172.16.0.9", "bob%40corp"] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
        assert!(out.contains("redacted%40redacted.example"), "{out}");
    }

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
