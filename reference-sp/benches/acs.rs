//! ACS handling time and memory: 1,000 valid unsolicited logins against an in-process
//! reference SP (release build: `cargo bench -p reference-sp --bench acs`).
//!
//! Prints the median and 95th percentile of the `POST /saml/acs` round trip on loopback (the
//! SP's whole handling: decode, pre-parse, xmlsec verification, checks, SQLite writes, session)
//! and the process's resident memory before and after. The mock IdP runs in the same process;
//! responses are made before the timed part. Then the same responses through the validator
//! in-process ([`reference_sp::validate_response`], one thread, no HTTP, no SQLite): the speed
//! an in-process fuzzer gets.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use mock_idp::{KeyStore, KeyType, MockIdp, Plan, StartOptions};
use reference_sp::settings::Settings;
use reference_sp::{Config, Connection, Context, IdpSource, ReferenceSp, validate_response};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn form_value(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let logins = 1000;
    let idp = MockIdp::start(StartOptions::new(
        KeyStore::generate(KeyType::Rsa2048).unwrap(),
    ))
    .await
    .unwrap();
    let mut config = Config::new();
    config.demo = true;
    config.admin_token = Some("bench".into());
    config.idp = Some(IdpSource::MetadataXml(idp.idp().metadata_xml()));
    let sp = ReferenceSp::start(config).await.unwrap();
    idp.idp()
        .register(mock_idp::SpSource::Metadata(format!(
            "{}/saml/metadata",
            sp.base_url()
        )))
        .await
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .patch(format!("{}/admin/settings", sp.base_url()))
        .bearer_auth("bench")
        .json(&serde_json::json!({"idp_initiated": true}))
        .send()
        .await
        .unwrap();

    let mut responses = Vec::with_capacity(logins);
    for _ in 0..logins {
        let plan = idp.idp().create_plan(Plan {
            user: Some("alice@corp.example".into()),
            ..Plan::default()
        });
        let html = client
            .get(format!(
                "{}/idp-initiated?sp={}&plan={plan}",
                idp.base_url(),
                sp.entity_id()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        responses.push(form_value(&html, "SAMLResponse"));
    }
    let rss_before = rss_kib();
    let acs = sp.acs_url();
    let mut times = Vec::with_capacity(logins);
    let no_redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for response in &responses {
        let started = Instant::now();
        let answer = no_redirect
            .post(&acs)
            .form(&[("SAMLResponse", response.as_str())])
            .send()
            .await
            .unwrap();
        times.push(started.elapsed());
        assert_eq!(answer.status(), 303, "every login succeeds");
    }
    times.sort();
    let rss_after = rss_kib();
    println!(
        "{logins} valid logins: ACS median {:.2} ms, p95 {:.2} ms; RSS {} MiB before, {} MiB after (IdP and SP in one process)",
        times[logins / 2].as_secs_f64() * 1000.0,
        times[logins * 95 / 100].as_secs_f64() * 1000.0,
        rss_before / 1024,
        rss_after / 1024
    );

    let connection = Connection::from_metadata(&idp.idp().metadata_xml()).unwrap();
    let settings = Settings {
        idp_initiated: true,
        ..Settings::default()
    };
    let weaken = std::collections::BTreeSet::new();
    let (entity_id, acs) = (sp.entity_id(), sp.acs_url());
    let ctx = Context {
        sp_entity_id: &entity_id,
        acs_url: &acs,
        connection: &connection,
        settings: &settings,
        weaken: &weaken,
        outstanding: &[],
        relay_request: None,
        now: chrono::Utc::now(),
        decryption_key: None,
    };
    let mut times = Vec::with_capacity(logins);
    let started = Instant::now();
    for response in &responses {
        let one = Instant::now();
        validate_response(response, &ctx).unwrap();
        times.push(one.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    println!(
        "in-process validator: median {:.3} ms, {:.0} valid responses/s on one thread",
        times[logins / 2].as_secs_f64() * 1000.0,
        logins as f64 / total.as_secs_f64()
    );
}
