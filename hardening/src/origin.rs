//! Requests a browser sends on another site's behalf (CSRF), and secrets compared in constant
//! time: what the mock IdP's control API and the reference SP's admin API share.

use axum::http::{HeaderMap, header};

/// The origin (`scheme://host[:port]`) of an http(s) URL (`None`: not such a URL).
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// Why a browser's request comes from another site (`None`: it does not, or it is no
/// browser's): `Sec-Fetch-Site` other than `same-origin` (`none`, a person typing the URL, is
/// allowed when `typed_ok`), or an `Origin` that is neither `own_base_url`'s origin nor
/// `http://` + the `Host` the request was sent to.
pub fn cross_site(own_base_url: &str, headers: &HeaderMap, typed_ok: bool) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("?");
        if !(site == "same-origin" || (typed_ok && site == "none")) {
            return Some(format!("Sec-Fetch-Site: {site}"));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("?");
    let own = origin_of(own_base_url);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"));
    if own.as_deref() == Some(origin) || host.as_deref() == Some(origin) {
        None
    } else {
        Some(format!("Origin: {origin}"))
    }
}

/// Whether the body is declared JSON (`Content-Type: application/json`, parameters allowed): a
/// browser sends no such request to another site without asking it first (CORS preflight).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The token of `Authorization: Bearer TOKEN`, if it is `expected` (compared in constant time).
pub fn bearer_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|t| {
            // `memcmp::eq` panics on different lengths, so those go first.
            t.len() == expected.len() && openssl::memcmp::eq(t.as_bytes(), expected.as_bytes())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs = &'static [(&'static str, &'static str)];

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("value"));
        }
        map
    }

    #[test]
    fn foreign_origins_and_cross_site_fetches_are_named() {
        let own = "http://127.0.0.1:8180/idp";
        // (headers, typed_ok, cross-site)
        let cases: [(Pairs, bool, bool); 9] = [
            (&[], false, false),
            (&[("origin", "http://127.0.0.1:8180")], false, false),
            (
                &[("origin", "http://localhost:9"), ("host", "localhost:9")],
                false,
                false,
            ),
            (&[("origin", "https://evil.test")], false, true),
            (&[("origin", "null")], false, true),
            (&[("sec-fetch-site", "same-origin")], false, false),
            (&[("sec-fetch-site", "same-site")], false, true),
            (&[("sec-fetch-site", "none")], false, true),
            (&[("sec-fetch-site", "none")], true, false),
        ];
        for (pairs, typed_ok, want) in cases {
            assert_eq!(
                cross_site(own, &headers(pairs), typed_ok).is_some(),
                want,
                "{pairs:?} typed_ok={typed_ok}"
            );
        }
    }

    #[test]
    fn json_and_bearer_are_read_strictly() {
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            assert!(!is_json(&headers(&[("content-type", ct)])), "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()));
        assert!(bearer_is(
            &headers(&[("authorization", "Bearer s3cret")]),
            "s3cret"
        ));
        for value in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"] {
            let mut map = HeaderMap::new();
            map.insert("authorization", value.parse().expect("value"));
            assert!(!bearer_is(&map, "s3cret"), "{value}");
        }
    }
}
