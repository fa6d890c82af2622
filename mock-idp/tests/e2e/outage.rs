//! Outage modes: down refuses connections and comes back on the same address, error answers
//! 500, slow answers late (and gives up at once when the mode changes); `/_control/...` keeps
//! working through error and slow.

use std::time::{Duration, Instant};

use mock_idp::{KeyStore, KeyType, MockIdp, Outage, StartOptions};

async fn start() -> (MockIdp, reqwest::Client) {
    let options = StartOptions::new(KeyStore::generate(KeyType::EcdsaP256).expect("keys"));
    let idp = MockIdp::start(options).await.expect("start");
    let mut token = reqwest::header::HeaderMap::new();
    token.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", idp.control_token())
            .parse()
            .expect("header"),
    );
    let client = reqwest::Client::builder()
        .default_headers(token)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    (idp, client)
}

#[tokio::test]
async fn down_refuses_connections_then_listens_again_on_the_same_address() {
    let (idp, client) = start().await;
    let url = format!("{}/metadata", idp.base_url());
    assert!(
        client
            .get(&url)
            .send()
            .await
            .expect("up")
            .status()
            .is_success()
    );

    idp.set_outage(Outage::Down);
    let mut refused = false;
    for _ in 0..50 {
        match client.get(&url).send().await {
            Err(e) if e.is_connect() => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(refused, "connections are refused while down");

    idp.set_outage(Outage::Up);
    let mut back = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "the IdP listens again after the outage");
    idp.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn error_answers_500_except_control_and_slow_answers_late() {
    let (idp, client) = start().await;
    let url = format!("{}/metadata", idp.base_url());
    idp.set_outage(Outage::Error);
    assert_eq!(client.get(&url).send().await.expect("500").status(), 500);
    let control = format!("{}/_control/outage", idp.base_url());
    let state: serde_json::Value = client
        .get(&control)
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert_eq!(state["mode"], "error");

    idp.set_outage(Outage::slow(Duration::from_millis(300)));
    let started = Instant::now();
    let r = client.get(&url).send().await.expect("slow");
    assert!(r.status().is_success());
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A long delay ends as soon as the mode changes: nothing hangs.
    idp.set_outage(Outage::slow(Duration::from_secs(60)));
    let waiting = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(&url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    idp.set_outage(Outage::Up);
    let status = waiting.await.expect("join").expect("answered");
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_secs(2));

    // The control endpoint sets modes too; `down` needs an end.
    let r = client
        .post(&control)
        .json(&serde_json::json!({"mode": "down"}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status(), 400);
    let r = client
        .post(&control)
        .json(&serde_json::json!({"mode": "error"}))
        .send()
        .await
        .expect("control");
    assert!(r.status().is_success());
    assert_eq!(idp.outage(), Outage::Error);
    idp.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_outage_control_needs_the_token_and_bounds_its_durations() {
    let (idp, client) = start().await;
    let control = format!("{}/_control/outage", idp.base_url());
    let bare = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let r = bare
        .post(&control)
        .json(&serde_json::json!({"mode": "error"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 401, "no token");
    assert_eq!(
        bare.get(&control).send().await.expect("answer").status(),
        401
    );
    for (body, want) in [
        (serde_json::json!({"mode": "down", "seconds": 86_400}), 400),
        (serde_json::json!({"mode": "error", "seconds": 601}), 400),
        (
            serde_json::json!({"mode": "slow", "delay_ms": 600_001}),
            400,
        ),
        (serde_json::json!({"mode": "error", "seconds": 600}), 200),
    ] {
        let r = client
            .post(&control)
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), want, "{body}");
    }
    assert_eq!(idp.outage(), Outage::Error);
    idp.set_outage(Outage::Up);
    idp.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_slow_idp_does_not_hold_up_its_shutdown() {
    let (idp, client) = start().await;
    let url = format!("{}/metadata", idp.base_url());
    idp.set_outage(Outage::slow(Duration::from_secs(60)));
    let waiting = tokio::spawn(async move { client.get(&url).send().await.is_ok() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), idp.shutdown())
        .await
        .expect("shutdown within 5 s")
        .expect("clean");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let _ = waiting.await;
}
