//! Redaction of run-specific values, so that a rendered report is a stable snapshot.
//!
//! Redacted, in this order: loopback ports (`127.0.0.1:PORT`), xs:dateTime instants and Unix
//! timestamps (`INSTANT`), SAML ids (`_` or `id-` and 16 or more random characters: `ID`), UUIDs
//! (`UUID`), random tokens in URLs (query values and path segments: `TOKEN`), long base64 runs
//! of 40 or more characters: signature and digest values, certificates, encoded messages
//! (`BASE64`), long hex runs (`HEX`), and parser positions in an SP's error messages
//! (`line:N`). "Random" means: it has a digit or an upper-case letter, so that words such as
//! `id-attribute-duplicated` survive.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// One redaction: a pattern and what replaces a match (`None`: keep the match).
struct Rule {
    pattern: Regex,
    replace: fn(&Captures<'_>) -> Option<String>,
}

fn rule(pattern: &str, replace: fn(&Captures<'_>) -> Option<String>) -> Option<Rule> {
    match Regex::new(pattern) {
        Ok(pattern) => Some(Rule { pattern, replace }),
        Err(e) => {
            tracing::error!("invalid redaction pattern {pattern}: {e}");
            None
        }
    }
}

/// Whether a run of characters looks generated rather than written: it has a digit or an
/// upper-case letter.
fn looks_random(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    [
        // Ports of local addresses.
        rule(
            r"(\b127\.0\.0\.1|\blocalhost|\b0\.0\.0\.0|\[::1\]):\d{1,5}\b",
            |c| Some(format!("{}:PORT", &c[1])),
        ),
        // xs:dateTime instants, with or without a fraction and a zone.
        rule(
            r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?",
            |_| Some("INSTANT".to_owned()),
        ),
        // Unix timestamps in seconds (an SP's error message: "in the past: 1796624378"),
        // 2001 to 2096.
        rule(r"\b[1-3]\d{9}\b", |_| Some("INSTANT".to_owned())),
        // SAML ids: `_` or `id-` and a random part; an id-shaped word is kept.
        rule(r"\b(?:_|id-)([0-9A-Za-z_-]{16,})", |c| {
            looks_random(&c[1]).then(|| "ID".to_owned())
        }),
        rule(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            |_| Some("UUID".to_owned()),
        ),
        // Query values (`?state=...`, `&SAMLRequest=...`) that are random once decoded.
        rule(r"([?&][A-Za-z0-9_.-]+=)([A-Za-z0-9_.~%+/=-]{16,})", |c| {
            let decoded = percent_decode(&c[2]);
            let token = decoded
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "+/=_-".contains(ch));
            (token && looks_random(&decoded)).then(|| format!("{}TOKEN", &c[1]))
        }),
        // Random path segments of absolute URLs.
        rule(
            r"(\b[a-z][a-z0-9+.-]*://[^\s/?#]+)(/[^\s?#\x22'<>|`]*)",
            |c| {
                let path = redact_path_segments(&c[2]);
                (path != c[2]).then(|| format!("{}{path}", &c[1]))
            },
        ),
        // Long base64: signature and digest values, certificates, encoded messages.
        rule(r"[A-Za-z0-9+/]{40,}={0,2}", |c| {
            c[0].chars()
                .any(|ch| ch.is_ascii_digit() || ch.is_ascii_uppercase() || ch == '+')
                .then(|| "BASE64".to_owned())
        }),
        // Long hex (plan ids, tokens, fingerprints).
        rule(r"\b[0-9a-fA-F]{16,}\b", |c| {
            c[0].chars()
                .any(|ch| ch.is_ascii_digit())
                .then(|| "HEX".to_owned())
        }),
        // Parser positions in an SP's error message (they move with random bytes).
        rule(r"\b(line|col|column|offset|position)([:= ]\s*)\d+", |c| {
            Some(format!("{}{}N", &c[1], &c[2]))
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// Redacts every run-specific value in `text` (see the module documentation).
pub fn normalize(text: &str) -> String {
    let mut out = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if let Cow::Owned(replaced) = rule.pattern.replace_all(&out, |c: &Captures<'_>| {
            (rule.replace)(c).unwrap_or_else(|| c[0].to_owned())
        }) {
            out = Cow::Owned(replaced);
        }
    }
    out.into_owned()
}

/// Replaces the random segments of a URL path (20 or more characters of `[A-Za-z0-9_-]`).
fn redact_path_segments(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let token = segment.len() >= 20
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && looks_random(segment);
            if token { "TOKEN" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes `%XX` escapes; anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULES.len(), 10);
    }

    #[test]
    fn loopback_ports_are_redacted() {
        assert_eq!(
            normalize("http://127.0.0.1:43121/me and localhost:8080, [::1]:9 0.0.0.0:1"),
            "http://127.0.0.1:PORT/me and localhost:PORT, [::1]:PORT 0.0.0.0:PORT"
        );
        assert_eq!(
            normalize("https://sp.example:8443/acs"),
            "https://sp.example:8443/acs",
            "a configured port of a real host is part of the target"
        );
    }

    #[test]
    fn instants_are_redacted() {
        assert_eq!(normalize("at 2026-11-25T10:00:00Z."), "at INSTANT.");
        assert_eq!(normalize("2026-11-25T10:00:00.123456Z"), "INSTANT");
        assert_eq!(normalize("2026-11-25T10:00:00+01:00"), "INSTANT");
        assert_eq!(normalize("2026-11-25T10:00:00"), "INSTANT");
        assert_eq!(
            normalize("NotOnOrAfter is in the past: 1796624378"),
            "NotOnOrAfter is in the past: INSTANT"
        );
        assert_eq!(normalize("403 after 12345 tries"), "403 after 12345 tries");
        assert_eq!(
            normalize("valid for 5 minutes (2026-11-25)"),
            "valid for 5 minutes (2026-11-25)"
        );
    }

    #[test]
    fn saml_ids_are_redacted_but_words_are_kept() {
        assert_eq!(
            normalize("ID=\"_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\""),
            "ID=\"ID\""
        );
        assert_eq!(
            normalize("InResponseTo _4f9a8b7c6d5e4f3a2b1c is unknown"),
            "InResponseTo ID is unknown"
        );
        assert_eq!(normalize("id-4f9a8b7c6d5e4f3a2b1c0d9e"), "ID");
        assert_eq!(
            normalize("ID ONELOGIN_0a1b2c3d_x"),
            "ID ONELOGIN_0a1b2c3d_x",
            "no boundary before the underscore"
        );
        assert_eq!(
            normalize("see xml/id-attribute-duplicated and in_response_to_unknown"),
            "see xml/id-attribute-duplicated and in_response_to_unknown"
        );
    }

    #[test]
    fn scenario_ids_in_prose_are_not_path_segments() {
        assert_eq!(
            normalize("see xsw/xsw3-assertion-wrapped-in-extensions"),
            "see xsw/xsw3-assertion-wrapped-in-extensions"
        );
    }

    #[test]
    fn uuids_are_redacted() {
        assert_eq!(
            normalize("session 3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d ended"),
            "session UUID ended"
        );
    }

    #[test]
    fn tokens_in_urls_are_redacted() {
        assert_eq!(
            normalize("/cb?state=Zx81kQpL0aBcD3eF9gHiJ2k&lang=en"),
            "/cb?state=TOKEN&lang=en"
        );
        assert_eq!(
            normalize("/sso?SAMLRequest=fZJdT8IwFIb%2FyjL3vDfjrTA9bQ%2Bb1zuN6%3D&RelayState=x"),
            "/sso?SAMLRequest=TOKEN&RelayState=x"
        );
        assert_eq!(
            normalize("/cb?RelayState=https%3A%2F%2Fevil.example%2Fsteal&next=%2Fdashboard%2Fhome"),
            "/cb?RelayState=https%3A%2F%2Fevil.example%2Fsteal&next=%2Fdashboard%2Fhome",
            "meaningful values are kept"
        );
        assert_eq!(
            normalize("http://sp.example/s/Qk9Yd2x1bFZ6aWpqa3Rl/done"),
            "http://sp.example/s/TOKEN/done"
        );
        assert_eq!(
            normalize("http://sp.example/assertion-consumer-service-endpoint/"),
            "http://sp.example/assertion-consumer-service-endpoint/"
        );
    }

    #[test]
    fn base64_values_and_certificates_are_redacted() {
        assert_eq!(
            normalize(
                "<ds:DigestValue>7d5b3Qf1k+u0yN3kF6o1pN8v2c4g5h6j7k8l9m0n1o2p3q=</ds:DigestValue>"
            ),
            "<ds:DigestValue>BASE64</ds:DigestValue>"
        );
        assert_eq!(
            normalize("cert MIIC8DCCAdigAwIBAgIQbWlzc2luZ2NlcnRpZmljYXRlMA0GCSqGSIb3DQEBCwUA."),
            "cert BASE64."
        );
        assert_eq!(
            normalize("short Zm9vYmFy= stays"),
            "short Zm9vYmFy= stays",
            "under 40 characters"
        );
        assert_eq!(
            normalize("/usr/share/documentation/samlharness/examples/all"),
            "/usr/share/documentation/samlharness/examples/all",
            "a long lower-case path is not base64"
        );
    }

    #[test]
    fn hex_runs_are_redacted() {
        assert_eq!(normalize("plan 0123456789abcdef01"), "plan HEX");
        assert_eq!(normalize("fingerprint 9F86D081884C7D65"), "fingerprint HEX");
        assert_eq!(normalize("short cafe1234"), "short cafe1234");
    }

    #[test]
    fn parser_positions_are_redacted() {
        assert_eq!(
            normalize("parse error @#[line:3,col:88] at position 12"),
            "parse error @#[line:N,col:N] at position N"
        );
    }

    #[test]
    fn stable_text_is_untouched_and_normalizing_is_idempotent() {
        let stable = "signed in as alice@corp.example; refused (403 destination_mismatch)";
        assert_eq!(normalize(stable), stable);
        let noisy = "http://127.0.0.1:1/acs?x=Zx81kQpL0aBcD3eF9gHiJ2k at 2026-11-25T10:00:00Z _a1b2c3d4e5f6a7b8c9d0";
        let once = normalize(noisy);
        assert_eq!(normalize(&once), once);
    }

    #[test]
    fn malformed_percent_escapes_are_kept() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
