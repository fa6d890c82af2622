//! Captures made by the mock IdP for the tests: one fixed instant, one key store, the parties'
//! metadata as an admin would hand it over.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone as _, Utc};
use mock_idp::plan::{
    Alteration, IssuerScope, Omittable, SignatureSelector, Signing, SigningLayout, Tamper,
    TimeField,
};
use mock_idp::{KeyChoice, KeyStore, KeyType, Plan};

use super::checks::Context;
use super::input::{Binding, Capture};
use super::metadata::{self, IdpFacts, SpFacts};

pub(crate) const IDP: &str = "https://idp.example.test/metadata";
pub(crate) const SP: &str = "https://sp.example.test/saml/metadata";
pub(crate) const ACS: &str = "https://sp.example.test/saml/acs";
pub(crate) const USER: &str = "alice@corp.example";
pub(crate) const REQUEST_ID: &str = "_request-1";

/// The instant every fixture response is issued at.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

pub(crate) fn keys() -> &'static KeyStore {
    static KEYS: OnceLock<KeyStore> = OnceLock::new();
    KEYS.get_or_init(|| KeyStore::generate(KeyType::Rsa2048).expect("keys"))
}

/// The response `plan` makes, as XML.
pub(crate) fn response_xml(plan: &Plan) -> String {
    let ctx = mock_idp::response::ResponseContext {
        now: now(),
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        in_response_to: Some(REQUEST_ID),
        default_user: USER,
        sp_encryption_cert: None,
    };
    mock_idp::response::build(&ctx, plan, keys())
        .expect("the plan builds")
        .xml
}

/// A capture of the response `plan` makes, taken at [`now`].
pub(crate) fn capture(plan: &Plan) -> Capture {
    Capture {
        label: "fixture".to_owned(),
        xml: response_xml(plan),
        captured_at: Some(now()),
        delivered_to: None,
        binding: Binding::Post,
        relay_state: None,
        request_ids: Vec::new(),
    }
}

pub(crate) fn idp_metadata_xml() -> String {
    mock_idp::metadata::render(IDP, "https://idp.example.test", keys())
}

pub(crate) fn idp() -> IdpFacts {
    metadata::idp_from_metadata("idp.xml", &idp_metadata_xml()).expect("idp metadata")
}

/// SP metadata with the given NameID format and requested attribute.
pub(crate) fn sp_metadata_xml(name_id_format: &str, email_attribute: Option<&str>) -> String {
    let requested = email_attribute
        .map(|name| {
            format!(
                r#"<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="en">SP</md:ServiceName><md:RequestedAttribute Name="{name}" isRequired="true"/></md:AttributeConsumingService>"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:NameIDFormat>{name_id_format}</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0" isDefault="true"/>{requested}</md:SPSSODescriptor></md:EntityDescriptor>"#
    )
}

pub(crate) fn sp(email_attribute: Option<&str>) -> SpFacts {
    metadata::sp_from_metadata(
        "sp.xml",
        &sp_metadata_xml(mock_idp::flavour::NAMEID_EMAIL, email_attribute),
    )
    .expect("sp metadata")
}

/// Everything known: both metadata documents, the SP reading the NameID, the capture time.
pub(crate) fn context() -> Context {
    Context {
        sp: Some(sp(None)),
        idp: Some(idp()),
        entered_email: None,
        email_attribute: None,
        at: None,
        clock_skew_seconds: 180,
    }
}

fn alter(alterations: Vec<Alteration>) -> Plan {
    Plan {
        alter: alterations,
        ..Plan::default()
    }
}

pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) plan: mock_idp::Plan,
    pub(crate) ctx: fn(&mut Context),
    pub(crate) rules: &'static [&'static str],
    pub(crate) refusal: Option<&'static str>,
}

fn case(
    name: &'static str,
    plan: mock_idp::Plan,
    rules: &'static [&'static str],
    refusal: Option<&'static str>,
) -> Family {
    Family {
        name,
        plan,
        ctx: |_| {},
        rules,
        refusal,
    }
}

/// The defect families: a plan, what diagnose is told, the rules that must fail, the
/// reference SP's refusal.
pub(crate) fn families() -> Vec<Family> {
    vec![
        case("valid", Plan::default(), &[], None),
        Family {
            ctx: |c| c.sp = Some(sp(Some("email"))),
            ..case(
                "wrong email attribute (Entra's claim URI, the SP reads `email`)",
                mock_idp::Plan {
                    flavour: mock_idp::Flavour::Entra,
                    ..Plan::default()
                },
                &["SP-Identity-EmailAttribute"],
                Some("identity_missing"),
            )
        },
        case(
            "wrong NameID format",
            alter(vec![Alteration::NameIdFormat {
                value: mock_idp::flavour::NAMEID_PERSISTENT.to_owned(),
            }]),
            &["SP-Identity-NameIDFormat"],
            Some("name_id_format_invalid"),
        ),
        case(
            "rolled certificate (signed by a key not in metadata)",
            mock_idp::Plan {
                signing: Signing {
                    key: KeyChoice::AttackerSelfSigned,
                    ..Signing::default()
                },
                ..Plan::default()
            },
            &["SDP-SP37-KeyRollover"],
            Some("signature_invalid"),
        ),
        case(
            "rollover key (published second): fine",
            mock_idp::Plan {
                signing: Signing {
                    key: KeyChoice::Rollover,
                    ..Signing::default()
                },
                ..Plan::default()
            },
            &[],
            None,
        ),
        case(
            "IdP clock 10 minutes ahead",
            alter(vec![
                Alteration::Time {
                    field: TimeField::ResponseIssueInstant,
                    offset_seconds: 600,
                },
                Alteration::Time {
                    field: TimeField::NotBefore,
                    offset_seconds: 540,
                },
            ]),
            &["CORE-3.2.2-IssueInstant", "CORE-2.5.1.2-Window"],
            Some("issue_instant_invalid"),
        ),
        Family {
            ctx: |c| c.at = Some(now() + chrono::Duration::minutes(20)),
            ..case(
                "posted 20 minutes late (expired)",
                Plan::default(),
                &["PROF-4.1.4.3-SCD-NotOnOrAfter", "CORE-2.5.1.2-Window"],
                Some("subject_confirmation_expired"),
            )
        },
        case(
            "unsigned",
            mock_idp::Plan {
                signing: Signing {
                    layout: Some(SigningLayout::None),
                    ..Signing::default()
                },
                ..Plan::default()
            },
            &["PROF-4.1.4.5-SignedOverPost"],
            Some("signature_missing"),
        ),
        case(
            "signature removed after signing",
            mock_idp::Plan {
                tamper: vec![Tamper::RemoveSignature {
                    which: SignatureSelector::All,
                }],
                ..Plan::default()
            },
            &["PROF-4.1.4.5-SignedOverPost"],
            Some("signature_missing"),
        ),
        case(
            "NameID edited after signing",
            mock_idp::Plan {
                tamper: vec![Tamper::EditNameId {
                    value: "mallory@corp.example".to_owned(),
                }],
                ..Plan::default()
            },
            &["CORE-3.2.2-ResponseSigValid"],
            Some("signature_invalid"),
        ),
        case(
            "wrong Destination",
            alter(vec![Alteration::Destination {
                value: "https://old.sp.example.test/saml/acs".to_owned(),
            }]),
            &["CORE-3.2.2-Destination"],
            Some("destination_mismatch"),
        ),
        case(
            "Destination missing on a signed Response",
            alter(vec![Alteration::Omit {
                element: Omittable::Destination,
            }]),
            &["BIND-3.5.5.2-DestinationIfSigned"],
            Some("destination_missing"),
        ),
        case(
            "wrong Recipient",
            alter(vec![Alteration::Recipient {
                value: "https://old.sp.example.test/saml/acs".to_owned(),
            }]),
            &["PROF-4.1.4.3-Recipient"],
            Some("recipient_mismatch"),
        ),
        case(
            "wrong Audience",
            alter(vec![Alteration::Audience {
                value: "https://sp.example.test/".to_owned(),
            }]),
            &["CORE-2.5.1.4-Audience"],
            Some("audience_mismatch"),
        ),
        case(
            "no AudienceRestriction",
            alter(vec![Alteration::Omit {
                element: Omittable::AudienceRestriction,
            }]),
            &["PROF-4.1.4.2-AudienceRequired"],
            Some("audience_missing"),
        ),
        case(
            "wrong issuer",
            alter(vec![Alteration::Issuer {
                value: "https://sts.windows.net/00000000-0000-0000-0000-000000000000/".to_owned(),
                scope: IssuerScope::Both,
            }]),
            &[
                "PROF-4.1.4.2-ResponseIssuer",
                "PROF-4.1.4.2-AssertionIssuer",
            ],
            Some("issuer_mismatch"),
        ),
        case(
            "error status",
            alter(vec![Alteration::Status {
                code: "Responder".to_owned(),
                second_level: Some("RequestDenied".to_owned()),
            }]),
            &["CORE-3.2.2.2-Status"],
            Some("status_not_success"),
        ),
        case(
            "error status without an assertion (as IdPs send it)",
            alter(vec![
                Alteration::Status {
                    code: "Requester".to_owned(),
                    second_level: Some("InvalidNameIDPolicy".to_owned()),
                },
                Alteration::Omit {
                    element: Omittable::Assertion,
                },
            ]),
            &["CORE-3.2.2.2-Status"],
            Some("status_not_success"),
        ),
        case(
            "answers another request (InResponseTo)",
            alter(vec![Alteration::InResponseTo {
                value: "_an-older-request".to_owned(),
                scope: mock_idp::plan::InResponseToScope::SubjectConfirmation,
            }]),
            &["PROF-4.1.4.3-SCD-InResponseTo"],
            Some("in_response_to_mismatch"),
        ),
        case(
            "no AuthnStatement",
            alter(vec![Alteration::Omit {
                element: Omittable::AuthnStatement,
            }]),
            &["PROF-4.1.4.2-AuthnStatement"],
            Some("authn_statement_missing"),
        ),
        Family {
            ctx: |c| c.entered_email = Some("bob@corp.example".to_owned()),
            ..case(
                "entered email differs from the asserted one",
                Plan::default(),
                &["SP-Identity-EnteredEmail"],
                Some("email_mismatch"),
            )
        },
        Family {
            ctx: |c| c.entered_email = Some("Alice@Corp.Example".to_owned()),
            ..case(
                "entered email in other letter case",
                Plan::default(),
                &[],
                None,
            )
        },
    ]
}

/// Where the committed capture fixtures live.
pub(crate) fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/support")
}

/// A HAR file of an SP-initiated login: the SP's redirect with the AuthnRequest, the IdP's
/// auto-submit page, the browser's POST of `response_xml` to the ACS, the SP's refusal.
pub(crate) fn har(response_xml: &str) -> serde_json::Value {
    use base64::Engine as _;
    use std::io::Write as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(response_xml);
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{REQUEST_ID}" Version="2.0" IssueInstant="2026-11-25T09:59:58Z" Destination="https://idp.example.test/sso" AssertionConsumerServiceURL="{ACS}"><saml:Issuer>{SP}</saml:Issuer></samlp:AuthnRequest>"#
    );
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(request.as_bytes()).expect("deflate");
    let saml_request =
        base64::engine::general_purpose::STANDARD.encode(deflater.finish().expect("deflate"));
    let sso_url = format!(
        "https://idp.example.test/sso?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLRequest", &saml_request)
            .append_pair("RelayState", "rs-7f3a")
            .finish()
    );
    let form = mock_idp::response::encode::post_form(ACS, &b64, Some("rs-7f3a"));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &b64)
        .append_pair("RelayState", "rs-7f3a")
        .finish();
    serde_json::json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "saml-harness fixture (mock IdP)", "version": "1"},
            "entries": [
                {
                    "startedDateTime": "2026-11-25T09:59:58.100Z",
                    "time": 12,
                    "request": {"method": "GET", "url": "https://sp.example.test/login/sso?email=alice%40corp.example", "httpVersion": "HTTP/1.1", "headers": [{"name": "Cookie", "value": "sp_prelogin=9c1d2e"}], "queryString": [{"name": "email", "value": "alice@corp.example"}], "cookies": [{"name": "sp_prelogin", "value": "9c1d2e"}], "headersSize": -1, "bodySize": 0},
                    "response": {"status": 303, "statusText": "See Other", "httpVersion": "HTTP/1.1", "headers": [{"name": "Location", "value": sso_url}], "cookies": [], "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": sso_url, "headersSize": -1, "bodySize": 0},
                    "cache": {}, "timings": {"send": 0, "wait": 12, "receive": 0}
                },
                {
                    "startedDateTime": "2026-11-25T09:59:58.300Z",
                    "time": 40,
                    "request": {"method": "GET", "url": sso_url, "httpVersion": "HTTP/1.1", "headers": [], "queryString": [{"name": "SAMLRequest", "value": saml_request}, {"name": "RelayState", "value": "rs-7f3a"}], "cookies": [], "headersSize": -1, "bodySize": 0},
                    "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "content": {"size": form.len(), "mimeType": "text/html", "text": form}, "redirectURL": "", "headersSize": -1, "bodySize": form.len()},
                    "cache": {}, "timings": {"send": 0, "wait": 40, "receive": 0}
                },
                {
                    "startedDateTime": "2026-11-25T10:00:00.000Z",
                    "time": 25,
                    "request": {"method": "POST", "url": ACS, "httpVersion": "HTTP/1.1", "headers": [{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}, {"name": "Cookie", "value": "sp_prelogin=9c1d2e"}], "queryString": [], "cookies": [{"name": "sp_prelogin", "value": "9c1d2e"}], "postData": {"mimeType": "application/x-www-form-urlencoded", "text": body, "params": [{"name": "SAMLResponse", "value": b64}, {"name": "RelayState", "value": "rs-7f3a"}]}, "headersSize": -1, "bodySize": body.len()},
                    "response": {"status": 403, "statusText": "Forbidden", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "content": {"size": 64, "mimeType": "text/html", "text": "<p>SSO auth failed</p>"}, "redirectURL": "", "headersSize": -1, "bodySize": 64},
                    "cache": {}, "timings": {"send": 0, "wait": 25, "receive": 0}
                }
            ]
        }
    })
}

/// A SAML-tracer export (current format: `requests[]` with `post` pairs and the decoded
/// `saml` text) of the POST of `response_xml` to the ACS.
pub(crate) fn saml_tracer(response_xml: &str) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(response_xml);
    serde_json::json!({
        "requests": [
            {
                "requestId": "1001",
                "url": "https://sp.example.test/login/sso?email=alice%40corp.example",
                "method": "GET",
                "requestHeaders": [{"name": "Host", "value": "sp.example.test"}],
                "responseStatus": 303,
                "responseStatusText": "HTTP/1.1 303 See Other",
                "responseHeaders": [{"name": "Location", "value": "https://idp.example.test/sso?SAMLRequest=..."}]
            },
            {
                "requestId": "1002",
                "url": ACS,
                "method": "POST",
                "requestHeaders": [{"name": "Host", "value": "sp.example.test"}, {"name": "Cookie", "value": "sp_prelogin=9c1d2e"}],
                "post": [["SAMLResponse", b64], ["RelayState", "rs-7f3a"]],
                "protocol": "SAML-P",
                "saml": response_xml,
                "responseStatus": 403,
                "responseStatusText": "HTTP/1.1 403 Forbidden",
                "responseHeaders": []
            }
        ],
        "timestamp": "2026-11-25T10:05:12.000Z"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plans behind the committed fixtures: an Okta-shaped response (NameID format
    /// unspecified, Okta's default) in a HAR file, and an Entra-shaped response signed by a
    /// key the IdP metadata does not list (a rolled certificate) in a SAML-tracer export.
    fn okta_plan() -> Plan {
        Plan {
            flavour: mock_idp::Flavour::Okta,
            ..Plan::default()
        }
    }

    fn entra_rolled_plan() -> Plan {
        Plan {
            flavour: mock_idp::Flavour::Entra,
            signing: mock_idp::plan::Signing {
                key: mock_idp::KeyChoice::AttackerSelfSigned,
                ..mock_idp::plan::Signing::default()
            },
            ..Plan::default()
        }
    }

    /// `UPDATE_FIXTURES=1 cargo nextest run -p saml-harness -E 'test(write_support_fixtures)'`
    /// rewrites harness/tests/fixtures/support/ with fresh keys; without it, this test checks
    /// that the committed files are what the generator makes of their own responses (so the
    /// generator and the fixtures cannot drift apart).
    #[test]
    fn write_support_fixtures() {
        let dir = fixture_dir();
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            std::fs::create_dir_all(&dir).expect("mkdir");
            let write = |name: &str, text: String| {
                std::fs::write(dir.join(name), text).expect("write fixture");
            };
            write("idp-metadata.xml", idp_metadata_xml());
            write(
                "sp-metadata.xml",
                sp_metadata_xml(mock_idp::flavour::NAMEID_EMAIL, None),
            );
            let pretty =
                |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("json") + "\n";
            write("okta-login.har", pretty(&har(&response_xml(&okta_plan()))));
            write(
                "entra-rolled.saml-tracer.json",
                pretty(&saml_tracer(&response_xml(&entra_rolled_plan()))),
            );
        }
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{name}: {e}; run with UPDATE_FIXTURES=1"))
        };
        let har_text = read("okta-login.har");
        let captures = crate::support::input::parse("okta-login.har", &har_text).expect("har");
        assert_eq!(captures.len(), 1);
        let regenerated: serde_json::Value = har(&captures[0].xml);
        let committed: serde_json::Value = serde_json::from_str(&har_text).expect("json");
        assert_eq!(
            committed, regenerated,
            "okta-login.har drifted from its generator"
        );
        let tracer_text = read("entra-rolled.saml-tracer.json");
        let captures = crate::support::input::parse("entra-rolled.saml-tracer.json", &tracer_text)
            .expect("tracer");
        assert_eq!(captures.len(), 1);
        let committed: serde_json::Value = serde_json::from_str(&tracer_text).expect("json");
        assert_eq!(committed, saml_tracer(&captures[0].xml));
    }
}
