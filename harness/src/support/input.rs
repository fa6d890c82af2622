//! Reading a captured response: a base64 `SAMLResponse` (also URL-encoded, also a whole
//! `SAMLResponse=...&RelayState=...` form body or query string), the raw XML, a SAML-tracer
//! JSON export, or a browser HAR file. Captures of other messages are left out; anything that
//! yields no Response is an [`InputError`] that says what was wrong and what to do.

use std::io::Read as _;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// The largest decoded response read (the reference SP accepts 512 KiB).
const MAX_XML_BYTES: usize = 4 << 20;
/// The most INPUT (a file or standard input) may weigh: a HAR holds whole pages besides the
/// SAML messages.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// One captured Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Where it came from, for people (`HAR entry 7: POST https://sp.example/saml/acs`).
    pub label: String,
    /// The decoded XML, exactly as sent.
    pub xml: String,
    /// When the browser sent it, when the capture says (HAR `startedDateTime`).
    pub captured_at: Option<DateTime<Utc>>,
    /// The URL the browser delivered it to, when the capture says.
    pub delivered_to: Option<String>,
    /// How it travelled.
    pub binding: Binding,
    /// The RelayState beside it, if any.
    pub relay_state: Option<String>,
    /// IDs of the AuthnRequests the same capture shows the SP sending (HAR files), so
    /// InResponseTo can be checked against them.
    pub request_ids: Vec<String>,
}

/// How a captured response travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// A base64 form field (HTTP-POST).
    Post,
    /// DEFLATE + base64 in a query string (HTTP-Redirect, never valid for a Response).
    Redirect,
    /// Unknown (raw XML, a bare value).
    Unknown,
}

/// Why an input yields no response to diagnose (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read {source_name}: {kind}")]
pub struct InputError {
    /// The file (or `the argument`, `standard input`).
    pub source_name: String,
    /// What was wrong.
    pub kind: InputErrorKind,
}

/// What was wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// Not base64 at all.
    #[error(
        "it is not base64 ({0}); paste the SAMLResponse value, the form body, the XML, a SAML-tracer export or a HAR file"
    )]
    NotBase64(String),
    /// Base64 (or XML) that ends early.
    #[error(
        "the response is truncated ({0}); copy the whole SAMLResponse value (it is often several kilobytes, and some tools cut it)"
    )]
    Truncated(String),
    /// Larger than a response can reasonably be (a DEFLATE bomb, say).
    #[error("the response is too large ({0}); a SAML response is at most a few hundred kilobytes")]
    TooLarge(String),
    /// Decoded, but not XML.
    #[error("the decoded value is not XML ({0})")]
    NotXml(String),
    /// XML, but not a SAML Response.
    #[error("{0}")]
    NotAResponse(String),
    /// A file type we do not read.
    #[error("{0}")]
    WrongFileType(String),
    /// The assertion is encrypted and no key can open it.
    #[error(
        "the assertion is encrypted (saml:EncryptedAssertion) and diagnose has no SP decryption key; capture a response with assertion encryption turned off at the IdP for this test, or decrypt it first and pass the XML"
    )]
    Encrypted,
    /// A HAR or SAML-tracer file without any SAML Response in it.
    #[error("{0}")]
    NoSaml(String),
    /// `--index` out of range.
    #[error("there is no capture #{index}; the input holds {count} (numbered from 1)")]
    NoSuchIndex {
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// The file cannot be read.
    #[error("{0}")]
    Io(String),
}

/// Reads INPUT: a file path, `-` for standard input, or the value itself.
pub fn read_input(input: &str) -> Result<(String, String), InputError> {
    let fail = |name: &str, e: std::io::Error| InputError {
        source_name: name.to_owned(),
        kind: InputErrorKind::Io(e.to_string()),
    };
    let bounded = |name: &str, e: hardening::limited::LimitedError| InputError {
        source_name: name.to_owned(),
        kind: InputErrorKind::Io(e.kind.to_string()),
    };
    if input == "-" {
        let bytes = hardening::limited::read_to_limit(
            std::io::stdin().lock(),
            MAX_INPUT_BYTES,
            "standard input",
        )
        .map_err(|e| bounded("standard input", e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(
                "standard input",
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        return Ok(("standard input".to_owned(), text));
    }
    let path = std::path::Path::new(input);
    // Anything that exists but is not a regular file (a FIFO, /dev/zero, a folder) is
    // refused without being opened.
    if path.exists() {
        let bytes =
            hardening::limited::read_file(path, MAX_INPUT_BYTES).map_err(|e| bounded(input, e))?;
        let text = String::from_utf8(bytes).map_err(|_| InputError {
            source_name: input.to_owned(),
            kind: InputErrorKind::WrongFileType(
                "it is a binary file, not text (expected a SAMLResponse, XML, a SAML-tracer JSON export or a HAR file)".to_owned(),
            ),
        })?;
        return Ok((input.to_owned(), text));
    }
    if input.len() < 200 && !input.contains('<') && !input.contains('=') {
        return Err(InputError {
            source_name: input.to_owned(),
            kind: InputErrorKind::Io(
                "no such file (and too short to be a SAMLResponse value)".to_owned(),
            ),
        });
    }
    Ok(("the argument".to_owned(), input.to_owned()))
}

/// Every captured Response in `text` (one for a bare value or XML; each SAML Response
/// exchange of a HAR or SAML-tracer file, in order).
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Capture>, InputError> {
    let fail = |kind| InputError {
        source_name: source_name.to_owned(),
        kind,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(fail(InputErrorKind::WrongFileType(
            "it is empty".to_owned(),
        )));
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let json: Value = serde_json::from_str(trimmed).map_err(|e| {
            fail(InputErrorKind::WrongFileType(format!(
                "it looks like JSON but does not parse (line {}, column {}: {e}); a HAR or SAML-tracer export may be cut off",
                e.line(),
                e.column()
            )))
        })?;
        return from_json(&json).map_err(fail);
    }
    let capture = if trimmed.starts_with('<') {
        let xml =
            check_xml(text.trim_start_matches('\u{feff}').trim_start().to_owned()).map_err(fail)?;
        Capture {
            label: "XML".to_owned(),
            xml,
            captured_at: None,
            delivered_to: None,
            binding: Binding::Unknown,
            relay_state: None,
            request_ids: Vec::new(),
        }
    } else if trimmed.contains("SAMLResponse=") {
        let query = trimmed.rsplit_once('?').map_or(trimmed, |(_, q)| q);
        let fields: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let value = field(&fields, "SAMLResponse").unwrap_or_default();
        let redirect = fields.iter().any(|(k, _)| k == "SigAlg") || trimmed.contains('?');
        let binding = if redirect {
            Binding::Redirect
        } else {
            Binding::Post
        };
        Capture {
            label: "form body".to_owned(),
            xml: decode_value(&value, binding).map_err(fail)?,
            captured_at: None,
            delivered_to: trimmed
                .rsplit_once('?')
                .map(|(url, _)| url.to_owned())
                .filter(|u| u.starts_with("http")),
            binding,
            relay_state: field(&fields, "RelayState"),
            request_ids: Vec::new(),
        }
    } else if trimmed.starts_with("SAMLRequest=") || trimmed.contains("SAMLRequest=") {
        return Err(fail(InputErrorKind::NotAResponse(
            "it carries a SAMLRequest (the SP's AuthnRequest), not the IdP's SAMLResponse"
                .to_owned(),
        )));
    } else {
        // A bare value: URL-encoded when it holds escapes (then `+` is a space and a real `+`
        // is %2B), else plain base64.
        let value = if trimmed.contains('%') {
            form_urlencoded::parse(format!("v={trimmed}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        } else {
            trimmed.to_owned()
        };
        Capture {
            label: "SAMLResponse value".to_owned(),
            xml: decode_value(&value, Binding::Unknown).map_err(fail)?,
            captured_at: None,
            delivered_to: None,
            binding: Binding::Post,
            relay_state: None,
            request_ids: Vec::new(),
        }
    };
    Ok(vec![capture])
}

/// Picks capture `index` (1-based) or all of them.
pub fn select(
    source_name: &str,
    captures: Vec<Capture>,
    index: Option<usize>,
) -> Result<Vec<Capture>, InputError> {
    match index {
        None => Ok(captures),
        Some(i) if i >= 1 && i <= captures.len() => {
            Ok(captures.into_iter().skip(i - 1).take(1).collect())
        }
        Some(index) => Err(InputError {
            source_name: source_name.to_owned(),
            kind: InputErrorKind::NoSuchIndex {
                index,
                count: captures.len(),
            },
        }),
    }
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// base64 (whitespace ignored), then DEFLATE when the bytes are not XML; then [`check_xml`].
fn decode_value(value: &str, binding: Binding) -> Result<String, InputErrorKind> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(InputErrorKind::NotBase64("the value is empty".to_owned()));
    }
    if let Some(bad) = compact
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')))
    {
        return Err(InputErrorKind::NotBase64(format!(
            "it contains {bad:?}, which base64 never does"
        )));
    }
    let engine = if compact.contains(['-', '_']) {
        &base64::engine::general_purpose::URL_SAFE
    } else {
        &base64::engine::general_purpose::STANDARD
    };
    let bytes = engine.decode(&compact).map_err(|e| match e {
        base64::DecodeError::InvalidLength(n) => InputErrorKind::Truncated(format!(
            "{n} base64 characters, which is not a whole number of 4-character groups"
        )),
        base64::DecodeError::InvalidPadding => InputErrorKind::Truncated(
            "the base64 padding is wrong; the end of the value is missing".to_owned(),
        ),
        other => InputErrorKind::NotBase64(other.to_string()),
    })?;
    let looks_like_xml = |b: &[u8]| {
        b.strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .unwrap_or(b)
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            == Some(&b'<')
    };
    let bytes = if looks_like_xml(&bytes) {
        bytes
    } else {
        let mut inflated = Vec::new();
        // One byte more than allowed tells a bomb from a response of exactly the limit.
        let ok = flate2::read::DeflateDecoder::new(&bytes[..])
            .take(MAX_XML_BYTES as u64 + 1)
            .read_to_end(&mut inflated)
            .is_ok();
        if ok && inflated.len() > MAX_XML_BYTES {
            return Err(InputErrorKind::TooLarge(format!(
                "{} compressed bytes inflate to more than {MAX_XML_BYTES} bytes",
                bytes.len()
            )));
        }
        if ok && looks_like_xml(&inflated) {
            inflated
        } else if binding == Binding::Redirect {
            return Err(InputErrorKind::NotXml(
                "the query-string value neither is XML nor inflates to XML".to_owned(),
            ));
        } else {
            return Err(InputErrorKind::NotXml(format!(
                "{} bytes that do not start with '<' and do not inflate to XML",
                bytes.len()
            )));
        }
    };
    if bytes.len() > MAX_XML_BYTES {
        return Err(InputErrorKind::TooLarge(format!(
            "{} bytes, more than the {MAX_XML_BYTES} a response can reasonably be",
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| InputErrorKind::NotXml("the decoded bytes are not UTF-8".to_owned()))?;
    check_xml(text)
}

/// The text is a well-formed `samlp:Response` whose assertion can be read.
fn check_xml(text: String) -> Result<String, InputErrorKind> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        nodes_limit: 200_000,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = match roxmltree::Document::parse_with_options(&text, options) {
        Ok(doc) => doc,
        Err(e) => {
            let message = e.to_string();
            let truncated = matches!(e, roxmltree::Error::UnexpectedEndOfStream)
                || message.contains("unexpected end")
                || message.contains("never closed")
                || unclosed_at_end(&text);
            return Err(if truncated {
                InputErrorKind::Truncated(format!("the XML ends early: {e}"))
            } else if text
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("<!doctype html")
                || text.trim_start().to_ascii_lowercase().starts_with("<html")
            {
                InputErrorKind::WrongFileType(
                    "it is an HTML page; save the browser's HAR file or the SAMLResponse value instead".to_owned(),
                )
            } else {
                InputErrorKind::NotXml(format!("not well-formed: {e}"))
            });
        }
    };
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "Response")) {
        let name = root.tag_name().name();
        return Err(InputErrorKind::NotAResponse(match name {
            "AuthnRequest" => "it is an AuthnRequest (what the SP sends), not the IdP's Response".to_owned(),
            "EntityDescriptor" | "EntitiesDescriptor" => {
                "it is SAML metadata; pass it with --sp-metadata or --idp-metadata, and the captured response as INPUT".to_owned()
            }
            "LogoutRequest" | "LogoutResponse" => format!("it is a {name}, not a login Response"),
            "html" => "it is an HTML page; save the browser's HAR file or the SAMLResponse value instead".to_owned(),
            _ => format!(
                "the root element is <{name}> in namespace {:?}, not samlp:Response",
                root.tag_name().namespace().unwrap_or("")
            ),
        }));
    }
    let encrypted = doc
        .descendants()
        .any(|n| n.has_tag_name((SAML, "EncryptedAssertion")));
    let plain = doc
        .descendants()
        .any(|n| n.has_tag_name((SAML, "Assertion")));
    if encrypted && !plain {
        return Err(InputErrorKind::Encrypted);
    }
    Ok(text)
}

/// Whether the text stops inside a tag or before its root closes (a cut-off copy).
fn unclosed_at_end(text: &str) -> bool {
    let t = text.trim_end();
    !t.ends_with('>')
}

fn from_json(json: &Value) -> Result<Vec<Capture>, InputErrorKind> {
    if let Some(entries) = json.pointer("/log/entries").and_then(Value::as_array) {
        let captures = from_har(entries)?;
        if captures.is_empty() {
            return Err(InputErrorKind::NoSaml(format!(
                "the HAR file has {} requests and none carries a SAMLResponse (was the recording started before the login, with \"Preserve log\" on?)",
                entries.len()
            )));
        }
        return Ok(captures);
    }
    if let Some(requests) = json.get("requests").and_then(Value::as_array) {
        let captures = from_saml_tracer(requests)?;
        if captures.is_empty() {
            return Err(InputErrorKind::NoSaml(format!(
                "the SAML-tracer export has {} requests and none carries a SAML Response",
                requests.len()
            )));
        }
        return Ok(captures);
    }
    Err(InputErrorKind::WrongFileType(
        "it is JSON but neither a HAR file (log.entries) nor a SAML-tracer export (requests)"
            .to_owned(),
    ))
}

/// POST bodies with a SAMLResponse field, then query strings with one; IdP answer pages with
/// a SAMLResponse form only when no request carried it.
fn from_har(entries: &[Value]) -> Result<Vec<Capture>, InputErrorKind> {
    let mut out = Vec::new();
    let mut pages = Vec::new();
    let mut request_ids = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let request = &entry["request"];
        let method = request["method"].as_str().unwrap_or("GET");
        let url = request["url"].as_str().unwrap_or_default();
        let at = entry["startedDateTime"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let label = format!("HAR entry {}: {method} {}", i + 1, short_url(url));
        let mut fields = pairs(&request["postData"]["params"]);
        if fields.is_empty()
            && let Some(text) = request["postData"]["text"].as_str()
        {
            fields = form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect();
        }
        let (fields, binding) = if field(&fields, "SAMLResponse").is_some() {
            (fields, Binding::Post)
        } else {
            let mut query = pairs(&request["queryString"]);
            if query.is_empty()
                && let Some((_, q)) = url.split_once('?')
            {
                query = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            }
            (query, Binding::Redirect)
        };
        if let Some(id) = field(&fields, "SAMLRequest").and_then(|v| authn_request_id(&v)) {
            request_ids.push(id);
        }
        if let Some(value) = field(&fields, "SAMLResponse") {
            let xml = decode_value(&value, binding).map_err(|e| {
                InputErrorKind::NotXml(format!("{label}: the SAMLResponse does not decode: {e}"))
            })?;
            out.push(Capture {
                label,
                xml,
                captured_at: at,
                delivered_to: Some(url.split('?').next().unwrap_or(url).to_owned()),
                binding,
                relay_state: field(&fields, "RelayState"),
                request_ids: Vec::new(),
            });
        } else if let Some(html) = entry["response"]["content"]["text"].as_str()
            && let Some(value) = hidden_field(html, "SAMLResponse")
        {
            pages.push((label, value, at, form_action(html)));
        }
    }
    if out.is_empty() {
        for (label, value, at, action) in pages {
            let xml = decode_value(&value, Binding::Post)?;
            out.push(Capture {
                label: format!("{label} (the IdP's auto-submit page; the POST was not recorded)"),
                xml,
                captured_at: at,
                delivered_to: action,
                binding: Binding::Post,
                relay_state: None,
                request_ids: Vec::new(),
            });
        }
    }
    for capture in &mut out {
        capture.request_ids.clone_from(&request_ids);
    }
    Ok(out)
}

/// The ID of an AuthnRequest field value (base64, DEFLATEd for the Redirect binding).
fn authn_request_id(value: &str) -> Option<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let mut inflated = Vec::new();
    let xml = if flate2::read::DeflateDecoder::new(&bytes[..])
        .take(1 << 20)
        .read_to_end(&mut inflated)
        .is_ok()
        && !inflated.is_empty()
    {
        String::from_utf8(inflated).ok()?
    } else {
        String::from_utf8(bytes).ok()?
    };
    let doc = roxmltree::Document::parse(&xml).ok()?;
    let root = doc.root_element();
    root.has_tag_name((SAMLP, "AuthnRequest"))
        .then(|| root.attribute("ID").map(str::to_owned))
        .flatten()
}

/// SAML-tracer: each request's decoded `saml` text when it is a Response, else its `post`
/// fields or URL query.
fn from_saml_tracer(requests: &[Value]) -> Result<Vec<Capture>, InputErrorKind> {
    let mut out = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let method = request["method"].as_str().unwrap_or("GET");
        let url = request["url"].as_str().unwrap_or_default();
        let label = format!("SAML-tracer request {}: {method} {}", i + 1, short_url(url));
        let post = pairs(&request["post"]);
        let query: Vec<(String, String)> = url
            .split_once('?')
            .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let (relay_state, binding) = match field(&post, "SAMLResponse") {
            Some(_) => (field(&post, "RelayState"), Binding::Post),
            None => (field(&query, "RelayState"), Binding::Redirect),
        };
        let saml = request["saml"].as_str().unwrap_or_default();
        let is_response = saml.contains("Response")
            && roxmltree::Document::parse(saml.trim())
                .is_ok_and(|d| d.root_element().has_tag_name((SAMLP, "Response")));
        let xml = if is_response {
            check_xml(saml.trim_start().to_owned())?
        } else if let Some(v) =
            field(&post, "SAMLResponse").or_else(|| field(&query, "SAMLResponse"))
        {
            decode_value(&v, binding).map_err(|e| {
                InputErrorKind::NotXml(format!("{label}: the SAMLResponse does not decode: {e}"))
            })?
        } else {
            continue;
        };
        out.push(Capture {
            label,
            xml,
            captured_at: None,
            delivered_to: Some(url.split('?').next().unwrap_or(url).to_owned()),
            binding,
            relay_state,
            request_ids: Vec::new(),
        });
    }
    Ok(out)
}

/// Name/value pairs from a HAR `params`/`queryString` array (`{name, value}`) or a
/// SAML-tracer `post` array (`[name, value]`).
fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            Value::Array(a) => Some((
                a.first()?.as_str()?.to_owned(),
                a.get(1)?.as_str()?.to_owned(),
            )),
            Value::Object(o) => Some((
                o.get("name")?.as_str()?.to_owned(),
                // HAR params are URL-decoded by the browser, but some tools keep the encoding.
                o.get("value")
                    .and_then(Value::as_str)
                    .map(decode_if_escaped)?,
            )),
            _ => None,
        })
        .collect()
}

fn decode_if_escaped(v: &str) -> String {
    if v.contains('%') {
        form_urlencoded::parse(format!("v={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| v.to_owned())
    } else {
        v.to_owned()
    }
}

fn short_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The value of `<input ... name="NAME" ... value="...">` in an HTML page.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(
        r#"(?is)<input[^>]*name\s*=\s*["']{name}["'][^>]*>"#
    ))
    .ok()?;
    let tag = re.find(html)?.as_str();
    let value = regex::Regex::new(r#"(?is)value\s*=\s*["']([^"']*)["']"#)
        .ok()?
        .captures(tag)?
        .get(1)?
        .as_str();
    Some(
        value
            .replace("&#43;", "+")
            .replace("&#x2B;", "+")
            .replace("&#61;", "=")
            .replace("&#x3D;", "=")
            .replace("&amp;", "&"),
    )
}

fn form_action(html: &str) -> Option<String> {
    regex::Regex::new(r#"(?is)<form[^>]*action\s*=\s*["']([^"']*)["']"#)
        .ok()?
        .captures(html)?
        .get(1)
        .map(|m| m.as_str().replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::support::fixtures;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn xml() -> String {
        fixtures::response_xml(&mock_idp::Plan::default())
    }

    fn kind(text: &str) -> InputErrorKind {
        parse("test", text).expect_err("bad input").kind
    }

    #[test]
    fn every_plain_encoding_yields_the_same_xml() {
        let xml = xml();
        let encoded = b64(&xml);
        let url_encoded: String = form_urlencoded::byte_serialize(encoded.as_bytes()).collect();
        let wrapped: String = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let form = format!("SAMLResponse={url_encoded}&RelayState=abc");
        for (name, input) in [
            ("raw XML", xml.clone()),
            ("base64", encoded),
            ("base64 in lines", wrapped),
            ("URL-encoded", url_encoded),
            ("form body", form.clone()),
        ] {
            let captures = parse("test", &input).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(captures.len(), 1, "{name}");
            assert_eq!(captures[0].xml, xml, "{name}");
        }
        let captures = parse("test", &form).expect("form");
        assert_eq!(captures[0].relay_state.as_deref(), Some("abc"));
        assert_eq!(captures[0].binding, Binding::Post);
    }

    #[test]
    fn a_deflated_query_string_is_read_as_the_redirect_binding() {
        use std::io::Write as _;
        let xml = xml();
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(xml.as_bytes()).expect("deflate");
        let value = base64::engine::general_purpose::STANDARD.encode(d.finish().expect("deflate"));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLResponse", &value)
            .finish();
        let captures = parse("test", &format!("https://sp.test/acs?{query}")).expect("redirect");
        assert_eq!(captures[0].binding, Binding::Redirect);
        assert_eq!(captures[0].xml, xml);
        assert_eq!(
            captures[0].delivered_to.as_deref(),
            Some("https://sp.test/acs")
        );
    }

    #[test]
    fn a_deflate_bomb_is_too_large_not_truncated() {
        use std::io::Write as _;
        // (uncompressed bytes, too large): the limit itself still reads as a response would.
        for (size, too_large) in [
            (MAX_XML_BYTES + 1, true),
            (64 << 20, true),
            (1 << 20, false),
        ] {
            let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            d.write_all(
                b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><!--",
            )
            .expect("deflate");
            let chunk = vec![b'A'; 1 << 20];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                d.write_all(&chunk[..n]).expect("deflate");
                left -= n;
            }
            let value =
                base64::engine::general_purpose::STANDARD.encode(d.finish().expect("deflate"));
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("SAMLResponse", &value)
                .finish();
            let got = parse("test", &format!("https://sp.test/acs?{query}"))
                .expect_err("never a response")
                .kind;
            // Before: "the response is truncated (the XML ends early ...)".
            assert_eq!(
                matches!(got, InputErrorKind::TooLarge(_)),
                too_large,
                "{size}: {got:?}"
            );
        }
    }

    #[test]
    fn bad_input_names_what_is_wrong() {
        let encoded = b64(&xml());
        // Cut off mid-value: not a whole number of base64 groups.
        let cut = &encoded[..encoded.len() / 2 + 1];
        assert!(
            matches!(kind(cut), InputErrorKind::Truncated(_)),
            "{:?}",
            kind(cut)
        );
        // Cut off at a group boundary: decodes, but the XML ends early.
        let cut = &encoded[..(encoded.len() / 2) / 4 * 4];
        assert!(
            matches!(kind(cut), InputErrorKind::Truncated(_)),
            "{:?}",
            kind(cut)
        );
        assert!(matches!(
            kind("hello world, this is not it"),
            InputErrorKind::NotBase64(_)
        ));
        assert!(matches!(
            kind("<html><body>SSO auth failed</body></html>"),
            InputErrorKind::NotAResponse(_)
        ));
        assert!(matches!(
            kind(&fixtures::idp_metadata_xml()),
            InputErrorKind::NotAResponse(m) if m.contains("--idp-metadata")
        ));
        assert!(matches!(
            kind("{\"name\": 1}"),
            InputErrorKind::WrongFileType(_)
        ));
        assert!(matches!(
            kind("{\"log\": "),
            InputErrorKind::WrongFileType(_)
        ));
        assert!(matches!(
            kind(&b64("just some text")),
            InputErrorKind::NotXml(_)
        ));
        let empty_har = r#"{"log": {"entries": [{"request": {"method": "GET", "url": "https://sp.test/"}, "response": {"content": {"text": "hi"}}}]}}"#;
        assert!(matches!(kind(empty_har), InputErrorKind::NoSaml(m) if m.contains("1 requests")));
        let encrypted = xml()
            .replace("<saml:Assertion ", "<saml:EncryptedAssertion ")
            .replace("</saml:Assertion>", "</saml:EncryptedAssertion>");
        assert_eq!(kind(&encrypted), InputErrorKind::Encrypted);
        let err = parse("capture.txt", cut).expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("failed to read capture.txt: the response is truncated"),
            "{err}"
        );
    }

    #[test]
    fn har_and_saml_tracer_files_yield_their_responses() {
        let xml = xml();
        let har = serde_json::to_string(&fixtures::har(&xml)).expect("json");
        let captures = parse("login.har", &har).expect("har");
        assert_eq!(captures.len(), 1);
        let c = &captures[0];
        assert_eq!(c.xml, xml);
        assert_eq!(c.binding, Binding::Post);
        assert_eq!(c.delivered_to.as_deref(), Some(fixtures::ACS));
        assert_eq!(c.relay_state.as_deref(), Some("rs-7f3a"));
        assert_eq!(c.request_ids, vec![fixtures::REQUEST_ID.to_owned()]);
        assert_eq!(c.captured_at, Some(fixtures::now()));
        assert!(c.label.starts_with("HAR entry 3: POST"), "{}", c.label);

        let tracer = serde_json::to_string(&fixtures::saml_tracer(&xml)).expect("json");
        let captures = parse("trace.json", &tracer).expect("tracer");
        assert_eq!(captures.len(), 1);
        assert_eq!(captures[0].xml, xml);
        assert_eq!(captures[0].relay_state.as_deref(), Some("rs-7f3a"));
    }

    #[test]
    fn several_responses_are_all_kept_and_one_can_be_picked() {
        let mut har = fixtures::har(&xml());
        let entries = har["log"]["entries"].as_array_mut().expect("entries");
        let post = entries[2].clone();
        entries.push(post);
        let text = serde_json::to_string(&har).expect("json");
        let captures = parse("login.har", &text).expect("har");
        assert_eq!(captures.len(), 2);
        let picked = select("login.har", captures.clone(), Some(2)).expect("index 2");
        assert_eq!(picked.len(), 1);
        assert!(
            picked[0].label.starts_with("HAR entry 4"),
            "{}",
            picked[0].label
        );
        let err = select("login.har", captures, Some(3)).expect_err("no #3");
        assert_eq!(err.kind, InputErrorKind::NoSuchIndex { index: 3, count: 2 });
    }

    #[test]
    fn the_idp_page_is_used_when_the_post_was_not_recorded() {
        let xml = xml();
        let mut har = fixtures::har(&xml);
        har["log"]["entries"]
            .as_array_mut()
            .expect("entries")
            .truncate(2);
        let captures =
            parse("login.har", &serde_json::to_string(&har).expect("json")).expect("har");
        assert_eq!(captures.len(), 1);
        assert_eq!(captures[0].xml, xml);
        assert_eq!(captures[0].delivered_to.as_deref(), Some(fixtures::ACS));
    }
}
