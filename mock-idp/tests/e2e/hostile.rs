//! Hostile input to the control API and the start-up race: tokens, cross-origin requests,
//! open redirects, metadata URLs that never end, a log asked for too much, and `/sso` before
//! the SPs given at start are known.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::support::{SP_ENTITY_ID, call, control, idp};

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn the_control_api_takes_only_same_origin_json_requests_with_the_token() {
    let idp = idp();
    let token = format!("Bearer {}", idp.control_token());
    let plan = r#"{"user": "mallory@example.test"}"#;
    // (method, uri, headers, body, status)
    let cases = vec![
        ("GET", "/_control/sps", vec![], "", 401),
        (
            "GET",
            "/_control/sps",
            vec![("authorization", "Bearer not-the-token")],
            "",
            401,
        ),
        (
            "GET",
            "/_control/sps",
            vec![("authorization", idp.control_token())],
            "",
            401,
        ),
        (
            "GET",
            "/_control/sps",
            vec![("authorization", &token)],
            "",
            200,
        ),
        (
            "GET",
            "/_control/log",
            vec![("authorization", &token), ("origin", "https://evil.test")],
            "",
            403,
        ),
        (
            "GET",
            "/_control/sps",
            vec![("authorization", &token), ("origin", "http://127.0.0.1:8")],
            "",
            200,
        ),
        (
            "GET",
            "/_control/sps",
            vec![("authorization", &token), ("sec-fetch-site", "cross-site")],
            "",
            403,
        ),
        // The classic cross-site form post: text/plain, another origin, no token.
        (
            "POST",
            "/_control/reset",
            vec![
                ("origin", "https://evil.test"),
                ("content-type", "text/plain"),
            ],
            plan,
            403,
        ),
        (
            "POST",
            "/_control/plans",
            vec![("content-type", "application/json")],
            plan,
            401,
        ),
        (
            "POST",
            "/_control/plans",
            vec![("authorization", &token), ("content-type", "text/plain")],
            plan,
            415,
        ),
        (
            "POST",
            "/_control/plans",
            vec![("authorization", &token)],
            plan,
            415,
        ),
        (
            "POST",
            "/_control/plans",
            vec![
                ("authorization", &token),
                ("content-type", "application/json; charset=utf-8"),
            ],
            plan,
            201,
        ),
        ("GET", "/_control/plans/p1", vec![], "", 401),
        ("POST", "/_control/sps", vec![], "{}", 401),
    ];
    for (method, uri, headers, body, want) in cases {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body)).expect("request");
        let (status, answer, response_headers) = call(&idp, request).await;
        assert_eq!(
            status.as_u16(),
            want,
            "{method} {uri} {headers:?}: {answer}"
        );
        if want == 401 {
            assert_eq!(response_headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
}

#[tokio::test]
async fn bind_redirects_only_to_this_idp_or_a_registered_sp() {
    let idp = idp();
    let id = idp.create_plan(serde_json::from_str("{}").expect("plan"));
    // (next, extra header, status, Location)
    let cases = [
        ("/login", None, 303, Some("/login")),
        (
            "http://127.0.0.1:8/idp/login?x=1",
            None,
            303,
            Some("/idp/login?x=1"),
        ),
        // The registered SP's ACS is on http://127.0.0.1:9: its login page is fine.
        (
            "http://127.0.0.1:9/app/login",
            None,
            303,
            Some("http://127.0.0.1:9/app/login"),
        ),
        ("https://evil.test/", None, 400, None),
        ("http://127.0.0.1:10/", None, 400, None),
        ("//evil.test/x", None, 400, None),
        ("/\\evil.test/x", None, 400, None),
        ("javascript:alert(1)", None, 400, None),
        ("/login\r\nSet-Cookie: x=1", None, 400, None),
        ("/login", Some(("sec-fetch-site", "cross-site")), 403, None),
        ("/login", Some(("origin", "https://evil.test")), 403, None),
        (
            "/login",
            Some(("sec-fetch-site", "none")),
            303,
            Some("/login"),
        ),
    ];
    for (next, extra, want, location) in cases {
        let mut request =
            Request::get(format!("/_control/bind?plan={id}&next={}", urlencode(next)));
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let (status, body, headers) = call(&idp, request.body(Body::empty()).expect("req")).await;
        assert_eq!(status.as_u16(), want, "next={next:?} {extra:?}: {body}");
        assert_eq!(
            headers.get(header::LOCATION).and_then(|v| v.to_str().ok()),
            location,
            "next={next:?}"
        );
    }
}

#[tokio::test]
async fn metadata_urls_are_http_only_and_read_at_most_a_mebibyte() {
    let idp = idp();
    for url in ["/dev/zero", "/etc/passwd", "file:///etc/passwd", "ftp://x/"] {
        let body = serde_json::json!({ "metadata_url": url }).to_string();
        let (status, answer, _) = call(&idp, control(&idp, "POST", "/_control/sps", &body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert!(answer.contains("http://"), "{answer}");
    }

    // A metadata URL whose body never ends: the IdP stops reading after about 1 MiB (before:
    // it read until the 5 s timeout, gigabytes on loopback). The server gives up at 256 MiB.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let written = Arc::new(AtomicUsize::new(0));
    let server = std::thread::spawn({
        let written = Arc::clone(&written);
        move || {
            let (mut stream, _) = listener.accept().expect("accept");
            // Once the IdP stops reading, writes block: give up then.
            let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(2)));
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n<md:EntityDescriptor ",
            );
            let chunk = vec![b'a'; 64 << 10];
            while written.load(Ordering::Relaxed) < 256 << 20 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                written.fetch_add(chunk.len(), Ordering::Relaxed);
            }
        }
    });
    let body = serde_json::json!({ "metadata_url": format!("http://127.0.0.1:{port}/metadata") })
        .to_string();
    let (status, answer, _) = call(&idp, control(&idp, "POST", "/_control/sps", &body)).await;
    tokio::task::spawn_blocking(move || server.join().expect("server"))
        .await
        .expect("join");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let written = written.load(Ordering::Relaxed);
    assert!(
        written < 32 << 20,
        "the IdP read {written} bytes of a metadata URL that never ends"
    );
}

#[tokio::test]
async fn the_log_returns_at_most_a_hundred_exchanges() {
    let idp = idp();
    for _ in 0..120 {
        let (status, body, _) = call(
            &idp,
            Request::get(format!("/idp-initiated?sp={}", urlencode(SP_ENTITY_ID)))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, log, _) = call(&idp, control(&idp, "GET", "/_control/log?limit=512", "")).await;
    assert_eq!(status, StatusCode::OK);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).expect("json");
    assert_eq!(log.len(), mock_idp::server::MAX_LOG_LIMIT);
}

#[tokio::test]
async fn sso_answers_503_with_retry_after_until_the_sps_given_at_start_are_known() {
    let idp = idp();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let metadata_url = format!("http://127.0.0.1:{port}/metadata");
    let late = "https://late-sp.test";
    assert!(
        idp.register_at_start(mock_idp::SpSource::Metadata(metadata_url))
            .await
            .is_err(),
        "nothing listens yet"
    );
    let sso = |sp: &str| {
        Request::get(format!("/idp-initiated?sp={}", urlencode(sp)))
            .body(Body::empty())
            .expect("req")
    };
    // Before: 400 "unknown SP" while the metadata was still being fetched; concurrent
    // requests, one of them retrying the metadata while the others wait, all get 503 (before
    // the sources stayed listed during a retry, 26 of 50 concurrent requests got 400).
    let concurrent: Vec<_> = (0..20)
        .map(|_| {
            let idp = Arc::clone(&idp);
            let request = sso(late);
            tokio::spawn(async move { call(&idp, request).await.0 })
        })
        .collect();
    for task in concurrent {
        assert_eq!(task.await.expect("join"), StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, body, headers) = call(&idp, sso(late)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(body.contains("not registered yet"), "{body}");
    // SPs already known are answered meanwhile.
    let (status, _, _) = call(&idp, sso(SP_ENTITY_ID)).await;
    assert_eq!(status, StatusCode::OK);

    // The SP comes up: its metadata loads on the next request.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{late}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:9/late/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head);
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{metadata}",
            metadata.len()
        );
        let _ = stream.write_all(answer.as_bytes());
    });
    let (status, body, _) = call(&idp, sso(late)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("http://127.0.0.1:9/late/acs"));
    tokio::task::spawn_blocking(move || server.join().expect("served"))
        .await
        .expect("join");
    // Everything given at start is loaded: an unknown SP is unknown (400), not "not yet".
    let (status, body, headers) = call(&idp, sso("https://nobody.test")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(headers.get(header::RETRY_AFTER).is_none());
}
