//! An IdP and an SP in-process, and a user agent that walks the SAML flow by hand.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use mock_idp::{KeyStore, KeyType, MockIdp, Plan, SpSource, StartOptions};
use reference_sp::{Config, IdpSource, ReferenceSp, Weakening};

pub(crate) const TOKEN: &str = "test-admin-token";

/// One key folder per test binary (RSA key generation is slow in debug builds).
fn keys() -> KeyStore {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        KeyStore::load_or_create(dir.path(), KeyType::Rsa2048).expect("keys");
        dir
    });
    KeyStore::load_or_create(dir.path(), KeyType::Rsa2048).expect("keys")
}

/// A mock IdP and a demo reference SP that trust each other.
pub(crate) struct Pair {
    pub(crate) idp: MockIdp,
    pub(crate) sp: ReferenceSp,
    pub(crate) client: reqwest::Client,
}

pub(crate) async fn pair(weaken: &[Weakening]) -> Pair {
    pair_with_keys(keys(), weaken).await
}

async fn pair_with_keys(keys: KeyStore, weaken: &[Weakening]) -> Pair {
    let idp = MockIdp::start(StartOptions::new(keys)).await.expect("idp");
    let mut config = Config::new();
    config.demo = true;
    config.admin_token = Some(TOKEN.to_owned());
    config.idp = Some(IdpSource::MetadataXml(idp.idp().metadata_xml()));
    config.weaken = weaken.iter().copied().collect::<BTreeSet<_>>();
    let sp = ReferenceSp::start(config).await.expect("sp");
    idp.idp()
        .register(SpSource::Metadata(format!(
            "{}/saml/metadata",
            sp.base_url()
        )))
        .await
        .expect("the IdP reads the SP's metadata");
    Pair {
        idp,
        sp,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
    }
}

/// What the SP did with one response.
pub(crate) struct Outcome {
    /// The ACS answer's status.
    pub(crate) status: u16,
    /// The refusal reason, if refused.
    pub(crate) reason: Option<String>,
    /// Who `/me` names afterwards.
    pub(crate) signed_in: Option<String>,
    /// The raw ACS form, for replays.
    pub(crate) form: Vec<(String, String)>,
    /// Where the ACS redirected to, on success.
    pub(crate) location: Option<String>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("signed_in", &self.signed_in)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

pub(crate) fn agent() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

pub(crate) fn auto_form(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let rest = &tag[i + key.len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].replace("&amp;", "&")
        })
    };
    let form_start = html.find("<form").expect("an auto-submit form");
    let form_tag = &html[form_start..form_start + html[form_start..].find('>').expect("tag")];
    let action = attr(form_tag, "action").expect("action");
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((n, v));
        }
    }
    (action, fields)
}

/// Posts a form to the ACS from `ua` and reads the outcome.
pub(crate) async fn post_acs(
    pair: &Pair,
    ua: &reqwest::Client,
    action: &str,
    form: Vec<(String, String)>,
) -> Outcome {
    let answer = ua
        .post(action)
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .expect("ACS answers");
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    let signed_in = signed_in_as(pair, ua).await;
    Outcome {
        status,
        reason: body["reason"].as_str().map(str::to_owned),
        signed_in,
        form,
        location,
    }
}

/// Who `/me` names in `ua`, if anyone.
pub(crate) async fn signed_in_as(pair: &Pair, ua: &reqwest::Client) -> Option<String> {
    let me = ua
        .get(format!("{}/me", pair.sp.base_url()))
        .send()
        .await
        .expect("/me answers");
    if me.status() == 200 {
        let v: serde_json::Value = me.json().await.expect("json");
        v["email"].as_str().map(str::to_owned)
    } else {
        None
    }
}

/// Starts SP-initiated login at `/login/sso` with `query`; the IdP URL the SP redirects to.
pub(crate) async fn sp_start(pair: &Pair, ua: &reqwest::Client, query: &[(&str, &str)]) -> String {
    let start = ua
        .get(format!("{}/login/sso", pair.sp.base_url()))
        .query(query)
        .send()
        .await
        .expect("login starts");
    assert_eq!(start.status(), 303, "the SP redirects to the IdP");
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(pair.idp.base_url()), "{location}");
    location
}

/// The IdP's auto-post form for the request at `location`, answered following `plan`.
pub(crate) async fn idp_answer(
    pair: &Pair,
    ua: &reqwest::Client,
    location: &str,
    plan: Plan,
) -> (String, Vec<(String, String)>) {
    let plan_id = pair.idp.idp().create_plan(plan);
    idp_answer_with(ua, location, &plan_id).await
}

/// The IdP's auto-post form for the request at `location`, answered following the stored
/// plan `plan_id`.
pub(crate) async fn idp_answer_with(
    ua: &reqwest::Client,
    location: &str,
    plan_id: &str,
) -> (String, Vec<(String, String)>) {
    let page = ua
        .get(format!("{location}&plan={plan_id}"))
        .send()
        .await
        .expect("the IdP answers");
    assert_eq!(page.status(), 200, "the IdP answers the request");
    auto_form(&page.text().await.expect("html"))
}

/// An SP-initiated login typed as `email`, answered by the IdP following `plan`.
pub(crate) async fn sp_login(pair: &Pair, email: &str, plan: Plan) -> Outcome {
    let ua = agent();
    let location = sp_start(pair, &ua, &[("email", email)]).await;
    let (action, form) = idp_answer(pair, &ua, &location, plan).await;
    post_acs(pair, &ua, &action, form).await
}

/// An unsolicited login for `email`, following `plan`; `ua` is reused when given.
pub(crate) async fn idp_login(
    pair: &Pair,
    email: &str,
    plan: Plan,
    ua: Option<&reqwest::Client>,
) -> Outcome {
    idp_login_with_relay(pair, email, plan, ua, None).await
}

/// An unsolicited login carrying `relay_state`.
pub(crate) async fn idp_login_with_relay(
    pair: &Pair,
    email: &str,
    plan: Plan,
    ua: Option<&reqwest::Client>,
    relay_state: Option<&str>,
) -> Outcome {
    let plan_id = pair.idp.idp().create_plan(plan);
    let fresh = agent();
    let ua = ua.unwrap_or(&fresh);
    let mut query = vec![
        ("sp", pair.sp.entity_id()),
        ("user", email.to_owned()),
        ("plan", plan_id.as_str().to_owned()),
    ];
    if let Some(r) = relay_state {
        query.push(("relay_state", r.to_owned()));
    }
    let page = ua
        .get(format!("{}/idp-initiated", pair.idp.base_url()))
        .query(&query)
        .send()
        .await
        .expect("the IdP answers");
    assert_eq!(page.status(), 200);
    let (action, form) = auto_form(&page.text().await.expect("html"));
    post_acs(pair, ua, &action, form).await
}

/// Changes the SP's settings through the admin API.
pub(crate) async fn patch_settings(pair: &Pair, json: serde_json::Value) {
    let r = pair
        .client
        .patch(format!("{}/admin/settings", pair.sp.base_url()))
        .bearer_auth(TOKEN)
        .json(&json)
        .send()
        .await
        .expect("admin API");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// A fresh user agent.
pub(crate) fn new_agent() -> reqwest::Client {
    agent()
}

/// A mock IdP with an ECDSA P-256 key and a demo SP that trusts it.
pub(crate) async fn ecdsa_pair() -> Pair {
    pair_with_keys(KeyStore::generate(KeyType::EcdsaP256).expect("keys"), &[]).await
}

/// A plan from JSON.
pub(crate) fn plan(json: serde_json::Value) -> Plan {
    serde_json::from_value(json).expect("a valid plan")
}
