//! `MockIdp::start`: a real server on an ephemeral loopback port, registering an SP from a
//! metadata URL that is served only after the IdP started (the retry path).

use std::time::Duration;

use mock_idp::{KeyStore, KeyType, MockIdp, SpSource, StartOptions};

#[tokio::test]
async fn an_in_process_idp_serves_on_loopback_and_fetches_late_sp_metadata() {
    // Reserve a port for the SP's metadata server, but start serving only later.
    let sp_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let sp_addr = sp_listener.local_addr().expect("addr");
    drop(sp_listener);
    let metadata_url = format!("http://{sp_addr}/saml/metadata");

    let mut options = StartOptions::new(KeyStore::generate(KeyType::EcdsaP256).expect("keys"));
    options.sps.push(SpSource::Metadata(metadata_url));
    let idp = MockIdp::start(options).await.expect("start");
    assert!(idp.addr().ip().is_loopback());
    assert!(idp.idp().sps().is_empty(), "the SP is not up yet");

    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://late-sp.test"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://{sp_addr}/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    let app = axum::Router::new().route(
        "/saml/metadata",
        axum::routing::get(move || async move { metadata }),
    );
    let listener = tokio::net::TcpListener::bind(sp_addr)
        .await
        .expect("bind sp");
    let sp_server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!(
        "{}/idp-initiated?sp=https%3A%2F%2Flate-sp.test&user=frank%40example.test",
        idp.base_url()
    );
    let response = client.get(url).send().await.expect("request");
    let status = response.status();
    let html = response.text().await.expect("body");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("action=\"http://{sp_addr}/acs\"")),
        "{html}"
    );
    assert_eq!(idp.idp().log(None, 10).len(), 1);

    sp_server.abort();
    idp.shutdown().await.expect("shutdown");
}
