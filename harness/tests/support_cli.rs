//! `saml-harness diagnose` as a support engineer runs it, on the captures committed under
//! tests/fixtures/support/ (made by the mock IdP; see `support::fixtures` for how to
//! regenerate them): exit codes, the rule each defect fails, and the text report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/support")
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args(args)
        .current_dir(fixtures())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(out),
        stderr(out)
    );
}

const METADATA: [&str; 4] = [
    "--sp-metadata",
    "sp-metadata.xml",
    "--idp-metadata",
    "idp-metadata.xml",
];

fn redacted(text: &str) -> String {
    let rules = [
        (r"([0-9A-F]{2}:){31}[0-9A-F]{2}", "[SHA-256]"),
        (r"\b[0-9A-F]{40}\b", "[SHA-1]"),
        (
            r"valid until [A-Z][a-z]{2} +\d+ [0-9:]+ \d{4} GMT",
            "valid until [DATE]",
        ),
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( UTC|Z)?",
            "[INSTANT]",
        ),
        (r"_[0-9a-f]{32}", "[ID]"),
    ];
    let mut out = text.to_owned();
    for (pattern, replacement) in rules {
        out = regex::Regex::new(pattern)
            .expect("regex")
            .replace_all(&out, replacement)
            .into_owned();
    }
    out
}

#[test]
fn a_har_capture_of_okta_s_default_name_id_format_is_diagnosed_in_okta_s_words() {
    let mut args = vec!["diagnose", "okta-login.har"];
    args.extend(METADATA);
    args.extend(["--entered-email", "alice@corp.example"]);
    let out = harness(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL identity.name-id-format [SP-Identity-NameIDFormat]"),
        "{text}"
    );
    assert!(text.contains("\"Name ID format\""), "{text}");
    assert!(text.contains("`name_id_format_invalid`"), "{text}");
    insta::assert_snapshot!("diagnose_okta_har", redacted(&text));
}

#[test]
fn a_saml_tracer_capture_signed_by_a_rolled_key_names_both_certificates() {
    let mut args = vec![
        "diagnose",
        "entra-rolled.saml-tracer.json",
        "--at",
        "2026-11-25T10:00:30Z",
    ];
    args.extend(METADATA);
    let out = harness(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL signature.key [SDP-SP37-KeyRollover]"),
        "{text}"
    );
    assert!(text.contains("IdP:       Microsoft Entra ID"), "{text}");
    assert!(text.contains("SAML Certificates"), "{text}");
    insta::assert_snapshot!("diagnose_entra_rolled", redacted(&text));

    let json = harness(&[
        "diagnose",
        "entra-rolled.saml-tracer.json",
        "--idp-metadata",
        "idp-metadata.xml",
        "--format",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let d = &v["diagnoses"][0];
    assert_eq!(d["expected_refusal"], "signature_invalid");
    let key = d["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "signature.key")
        .expect("signature.key");
    assert_eq!(key["outcome"], "fail");
    assert_eq!(key["rule"], "SDP-SP37-KeyRollover");
}

#[test]
fn a_clean_capture_exits_0() {
    // The same Okta capture, for an SP that takes any NameID format and reads `email`.
    let out = harness(&[
        "diagnose",
        "okta-login.har",
        "--idp-metadata",
        "idp-metadata.xml",
        "--email-attribute",
        "email",
    ]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("Verdict: no check failed."));
}

#[test]
fn bad_input_exits_2_with_what_was_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let har = std::fs::read_to_string(fixtures().join("okta-login.har")).expect("har");
    let v: serde_json::Value = serde_json::from_str(&har).expect("json");
    let b64 = v["log"]["entries"][2]["request"]["postData"]["params"][0]["value"]
        .as_str()
        .expect("SAMLResponse")
        .to_owned();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let cases = [
        (write("cut.txt", &b64[..b64.len() - 3]), "truncated"),
        (
            write("empty.har", r#"{"log": {"entries": []}}"#),
            "none carries a SAMLResponse",
        ),
        (
            write("page.html", "<html><body>hi</body></html>"),
            "HTML page",
        ),
        (
            write("notes.json", r#"{"ticket": 42}"#),
            "neither a HAR file",
        ),
        (
            fixtures().join("idp-metadata.xml").display().to_string(),
            "--idp-metadata",
        ),
    ];
    let binary = dir.path().join("screenshot.png");
    std::fs::write(
        &binary,
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff],
    )
    .expect("write");
    let cases: Vec<(String, &str)> = cases
        .into_iter()
        .chain([(binary.display().to_string(), "binary file")])
        .collect();
    for (path, says) in &cases {
        let out = harness(&["diagnose", path]);
        assert_eq!(out.status.code(), Some(2), "{path}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{path}: {err}");
        assert!(err.contains(path.as_str()), "{path} is named: {err}");
    }
    let out = harness(&["diagnose", "okta-login.har", "--index", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no capture #2"), "{}", stderr(&out));
    let out = harness(&["diagnose", "okta-login.har", "--at", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--at"), "{}", stderr(&out));
}

#[test]
fn reproduce_replays_a_capture_against_the_embedded_reference_sp() {
    let mut args = vec!["reproduce", "okta-login.har"];
    args.extend(METADATA);
    let out = harness(&args);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("Reproduction against the embedded reference SP:"),
        "{text}"
    );
    assert!(
        text.contains("the SP:    refused (403 name_id_format_invalid)"),
        "{text}"
    );
    assert!(text.contains("with the predicted reason"), "{text}");
}

#[test]
fn redact_writes_a_bundle_without_the_user_s_email() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("ticket-123");
    let bundle_arg = bundle.display().to_string();
    let mut args = vec![
        "diagnose",
        "okta-login.har",
        "--redact",
        bundle_arg.as_str(),
    ];
    args.extend(METADATA);
    let out = harness(&args);
    assert_exit(&out, 1);
    assert!(
        !stdout(&out).contains("alice@corp.example"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("user1@domain1.example"),
        "{}",
        stdout(&out)
    );
    for file in ["diagnosis.txt", "diagnosis.json", "response-1.xml"] {
        let body = std::fs::read_to_string(bundle.join(file)).expect(file);
        assert!(!body.contains("alice"), "{file}");
        assert!(!body.contains("Alice"), "{file}");
        assert!(!body.contains("sp_prelogin"), "{file}: no cookies");
    }
}

/// The Response of okta-login.har with its first Reference URI (the Response signature's)
/// replaced by `uri`, written to `dir`.
fn capture_with_reference(dir: &Path, name: &str, uri: &str) -> PathBuf {
    use base64::Engine as _;
    let har: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("okta-login.har")).expect("the HAR"),
    )
    .expect("JSON");
    let posted = har["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["request"]["postData"]["text"].as_str())
        .find(|t| t.starts_with("SAMLResponse="))
        .expect("a posted SAMLResponse");
    let value = form_urlencoded::parse(posted.as_bytes())
        .find(|(k, _)| k == "SAMLResponse")
        .expect("the field")
        .1;
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value.as_bytes())
            .expect("base64"),
    )
    .expect("UTF-8");
    let start = xml.find("URI=\"#").expect("a same-document reference");
    let end = start + 5 + xml[start + 5..].find('"').expect("closing quote");
    let edited = format!("{}URI=\"{uri}\"{}", &xml[..start], &xml[end + 1..]);
    let path = dir.join(name);
    std::fs::write(&path, edited).expect("write the capture");
    path
}

#[test]
fn diagnose_and_reproduce_never_read_or_fetch_a_reference_uri() {
    use hardening::probe::{Fifo, Listener};
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start();
    let fifo = Fifo::new();
    let cases = [
        ("passwd.xml", "file:///etc/passwd".to_owned()),
        ("http.xml", listener.url().to_owned()),
        ("fifo.xml", fifo.path().display().to_string()),
        ("fifo-uri.xml", format!("file://{}", fifo.path().display())),
    ];
    for (name, uri) in &cases {
        let capture = capture_with_reference(dir.path(), name, uri);
        for command in ["diagnose", "reproduce"] {
            if command == "reproduce" && *name != "fifo.xml" {
                continue; // the same signature look as diagnose; one case is enough
            }
            let capture = capture.display().to_string();
            let out = fifo
                .within(Duration::from_secs(60), move || {
                    harness(&[command, &capture, "--idp-metadata", "idp-metadata.xml"])
                })
                .unwrap_or_else(|e| panic!("{command} with Reference URI {uri}: {e}"));
            let text = stdout(&out);
            assert!(
                text.contains("FAIL signature.reference"),
                "{command} {uri}: {text}"
            );
            assert!(
                !stderr(&out).contains("root:x:0:0"),
                "{command} printed /etc/passwd: {}",
                stderr(&out)
            );
        }
    }
    assert_eq!(listener.hits(), 0, "a Reference URI was fetched");
}

/// Runs the binary, killing it (by its pid) if it has not exited within `limit`.
fn harness_within(args: &[&str], limit: std::time::Duration) -> Result<Output, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saml-harness"))
        .args(args)
        .current_dir(fixtures())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().expect("wait").is_some() {
            return Ok(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("still running after {limit:?}: killed"))
}

#[test]
fn diagnose_reads_no_fifo_device_or_oversized_file() {
    use hardening::probe::Fifo;
    let fifo = Fifo::new();
    let fifo_path = fifo.path().display().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.xml");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(64 << 20).expect("a sparse 64 MiB file");
    let big = big.display().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["diagnose", "okta-login.har", "--sp-metadata", "/dev/zero"],
            "not a regular file (a character device)",
        ),
        (
            &["diagnose", "okta-login.har", "--idp-metadata", &fifo_path],
            "not a regular file (a FIFO)",
        ),
        (
            &["diagnose", "okta-login.har", "--idp-cert", "/dev/zero"],
            "not a regular file (a character device)",
        ),
        (&["diagnose", &fifo_path], "not a regular file (a FIFO)"),
        (
            &["diagnose", "okta-login.har", "--sp-metadata", &big],
            "larger than 16 MiB",
        ),
        (
            &["diagnose", "/dev/zero"],
            "not a regular file (a character device)",
        ),
    ];
    for (args, expected) in cases {
        let out = harness_within(args, std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_captured_authn_request_is_judged_against_the_sp_and_idp_metadata() {
    let mut args = vec![
        "diagnose",
        "authn-request.url",
        "--at",
        "2026-11-25T09:59:58Z",
    ];
    args.extend(METADATA);
    let out = harness(&args);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL authn-request.id-entropy [CORE-1.3.4-IDRandomness]"),
        "{text}"
    );
    assert!(
        text.contains("PASS authn-request.destination"),
        "the Destination is the IdP metadata's SSO URL: {text}"
    );
    insta::assert_snapshot!("diagnose_authn_request_url", text);
    // The same request in a HAR file (without the IdP's answer) is read the same way.
    let mut har = vec!["diagnose", "sp-login-request.har"];
    har.extend(METADATA);
    let out = harness(&har);
    assert_exit(&out, 1);
    let from_har = stdout(&out);
    assert!(
        from_har.contains("AuthnRequest: HAR entry 2: GET https://idp.example.test/sso ID \"_request-1\" (HTTP-Redirect)"),
        "{from_har}"
    );
    assert!(
        from_har.contains("PASS authn-request.issue-instant"),
        "the HAR's time is when it was sent: {from_har}"
    );
}

#[test]
fn sp_metadata_given_as_input_gets_the_metadata_checks() {
    let out = harness(&[
        "diagnose",
        "sp-metadata-defects.xml",
        "--at",
        "2026-11-25T10:00:00Z",
    ]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    for line in [
        "FAIL metadata.schema [META-Schema]",
        "FAIL metadata.entity-id [META-EntityID]",
        "FAIL metadata.acs-post [META-ACS-Post]",
        "FAIL metadata.key-size [SDP-MD06-KeySize]",
        "FAIL metadata.certificate-expiry [META-Cert-Expiry]",
        "FAIL metadata.keys-distinct [META-Key-Separation]",
        "FAIL metadata.validity [META-Validity]",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    insta::assert_snapshot!("diagnose_sp_metadata_defects", redacted(&text));
    let good = harness(&["diagnose", "sp-metadata.xml", "--format", "json"]);
    assert_exit(&good, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&good)).expect("json");
    assert_eq!(json["schema_version"], 1);
    assert!(
        json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["outcome"] != "fail"),
        "{json}"
    );
}

#[test]
fn redacting_the_sp_side_checks_removes_contacts_and_relay_state_data_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The SP's metadata with a contact person.
    let metadata = std::fs::read_to_string(fixtures().join("sp-metadata.xml"))
        .expect("fixture")
        .replace(
            "</md:SPSSODescriptor>",
            "</md:SPSSODescriptor><md:ContactPerson contactType=\"technical\">\
             <md:GivenName>Grace</md:GivenName><md:SurName>Hopper</md:SurName>\
             <md:EmailAddress>mailto:grace.hopper@navy.example.org</md:EmailAddress>\
             <md:TelephoneNumber>+1 555 0100</md:TelephoneNumber></md:ContactPerson>",
        );
    let metadata_path = dir.path().join("sp-metadata-contact.xml");
    std::fs::write(&metadata_path, metadata).expect("write");
    let bundle = dir.path().join("metadata-bundle");
    let out = harness(&[
        "diagnose",
        metadata_path.to_str().expect("utf-8"),
        "--at",
        "2026-11-25T10:00:00Z",
        "--redact",
        bundle.to_str().expect("utf-8"),
    ]);
    let printed = stdout(&out);
    assert!(printed.contains("metadata.entity-id"), "{printed}");
    let mut texts = vec![("stdout".to_owned(), printed)];
    for file in ["diagnosis.txt", "diagnosis.json", "metadata.xml"] {
        let body = std::fs::read_to_string(bundle.join(file)).expect(file);
        texts.push((file.to_owned(), body));
    }
    // An AuthnRequest whose RelayState carries the user's email, as one JSON file.
    let url = std::fs::read_to_string(fixtures().join("authn-request.url")).expect("fixture");
    let url = format!("{}&RelayState=alice.smith%40corp.example", url.trim());
    let json_bundle = dir.path().join("request-bundle.json");
    let mut args = vec![
        "diagnose",
        url.as_str(),
        "--redact",
        json_bundle.to_str().expect("utf-8"),
    ];
    args.extend(METADATA);
    let out = harness(&args);
    let printed = stdout(&out);
    assert!(
        printed.contains("authn-request.relay-state-user-data"),
        "{printed}"
    );
    texts.push(("stdout (request)".to_owned(), printed));
    let body = std::fs::read_to_string(&json_bundle).expect("the JSON bundle");
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        parsed["documents"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    texts.push(("request-bundle.json".to_owned(), body));
    for (name, text) in &texts {
        for secret in [
            "Grace",
            "Hopper",
            "navy.example.org",
            "555 0100",
            "alice.smith",
        ] {
            assert!(!text.contains(secret), "{name} leaks {secret}:\n{text}");
        }
    }
    let metadata = &texts[3].1;
    assert!(
        metadata.contains("<md:GivenName>redacted-")
            && metadata.contains("mailto:user1@domain1.example"),
        "the placeholders stand where the contact was: {metadata}"
    );
}
