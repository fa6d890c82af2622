//! The HTTP surface: email-first login, SSO (AuthnRequest over HTTP-Redirect, the ACS over
//! HTTP-POST), password login, the session probe, the API, and the admin API.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use serde::Deserialize;

use crate::connection::Connection;
use crate::reason::{Reason, Refusal};
use crate::settings::Settings;
use crate::store::{Pending, Store, User, UserRow};
use crate::validate::{self, Context};
use crate::weaken::Weakening;

const BROWSER_COOKIE: &str = "sp_browser";
pub(crate) const SESSION_COOKIE: &str = "sp_session";

/// The largest request body accepted (a SAMLResponse of [`validate::MAX_RESPONSE_BYTES`],
/// base64- and URL-encoded, fits).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The SP's shared state.
#[derive(Debug)]
pub struct App {
    pub(crate) store: Store,
    pub(crate) base_url: String,
    pub(crate) admin_token: String,
    pub(crate) weaken: BTreeSet<Weakening>,
    pub(crate) initial_settings: Settings,
    pub(crate) initial_users: Vec<UserRow>,
    pub(crate) initial_connection: Option<Connection>,
    /// The key encrypted assertions are encrypted to (published in the metadata).
    pub(crate) encryption_key: Arc<crate::decrypt::EncryptionKey>,
    /// The key its logout messages are signed with (published in the metadata).
    pub(crate) signing_key: Arc<crate::decrypt::EncryptionKey>,
    /// The time every decision reads (the admin API can move it forward).
    pub(crate) clock: crate::clock::Clock,
}

impl App {
    pub(crate) fn entity_id(&self) -> String {
        format!("{}/saml/metadata", self.base_url)
    }

    pub(crate) fn acs_url(&self) -> String {
        format!("{}/saml/acs", self.base_url)
    }

    pub(crate) fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.base_url)
    }
}

type Shared = Arc<App>;

/// The router.
pub fn router(app: Shared) -> Router {
    let weakened = app
        .weaken
        .iter()
        .map(|w| w.name())
        .collect::<Vec<_>>()
        .join(",");
    let router = Router::new()
        .route("/", get(|| async { Redirect::to("/login") }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/saml/metadata", get(metadata))
        .route("/login", get(login_page).post(login_submit))
        .route("/login/sso", get(login_sso))
        .route("/saml/acs", post(acs).get(acs_get))
        .route("/login/password", get(password_page).post(password_submit))
        .route("/password-reset", post(password_reset))
        .route("/me", get(me))
        .route("/logout", get(logout).post(logout))
        .route(
            "/saml/logout",
            get(crate::logout::start).post(crate::logout::start),
        )
        .route(
            "/saml/slo",
            get(crate::logout::slo_redirect).post(crate::logout::slo_post),
        )
        .route("/api/whoami", get(whoami))
        .merge(admin_router(Arc::clone(&app)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app);
    if weakened.is_empty() {
        router
    } else {
        router.layer(axum::middleware::map_response(
            move |mut response: Response| {
                let weakened = weakened.clone();
                async move {
                    if let Ok(v) = HeaderValue::from_str(&weakened) {
                        response.headers_mut().insert("x-reference-sp-weakened", v);
                    }
                    response
                }
            },
        ))
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` header: `HttpOnly; SameSite=Lax`, and `Secure` when the SP's public URL is
/// https (a cookie set behind https never travels over plain http).
pub(crate) fn set_cookie(app: &App, name: &str, value: &str) -> (header::HeaderName, String) {
    let secure = if app.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    (
        header::SET_COOKIE,
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"),
    )
}

/// The `Set-Cookie` header that ends the session cookie.
pub(crate) fn clear_session_cookie(app: &App) -> (header::HeaderName, String) {
    let (name, value) = set_cookie(app, SESSION_COOKIE, "");
    (name, format!("{value}; Max-Age=0"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("application/json"))
}

/// The `RequestedAuthnContext` element for a class the SP requires, exactly.
fn requested_authn_context(class: Option<&str>) -> String {
    class.map_or_else(String::new, |c| {
        format!(
            r#"<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
            escape(c)
        )
    })
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn page(app: &App, title: &str, body: &str) -> String {
    let banner = if app.weaken.is_empty() {
        String::new()
    } else {
        format!(
            "<p style=\"background:#b00;color:#fff;padding:1em\"><strong>WARNING: this SP is deliberately weakened ({}); it accepts responses a correct SP refuses. For harness self-tests only.</strong></p>",
            escape(
                &app.weaken
                    .iter()
                    .map(|w| w.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        )
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>{banner}<h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// A refused sign-in: a 403 page titled "Sign-in refused" (or JSON).
pub(crate) fn refused(app: &App, headers: &HeaderMap, refusal: &Refusal) -> Response {
    refused_titled(app, headers, refusal, "Sign-in refused")
}

/// A refused logout message: the same page, titled "Logout refused".
pub(crate) fn logout_refused(app: &App, headers: &HeaderMap, refusal: &Refusal) -> Response {
    refused_titled(app, headers, refusal, "Logout refused")
}

fn refused_titled(app: &App, headers: &HeaderMap, refusal: &Refusal, title: &str) -> Response {
    tracing::warn!(reason = %refusal.reason, detail = %refusal.detail, "refused");
    // Not the user's fault, and worth a retry later: 503. Everything else: 403.
    let status = if refusal.reason == Reason::IdpUnavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::FORBIDDEN
    };
    if wants_json(headers) {
        return (
            status,
            axum::Json(serde_json::json!({"error": "refused", "reason": refusal.reason, "detail": refusal.detail})),
        )
            .into_response();
    }
    (
        status,
        Html(page(
            app,
            title,
            &format!(
                "<p id=\"message\">{}</p><p>Reason: <code id=\"reason\">{}</code></p><p id=\"detail\">{}</p><p><a href=\"/login\">Back to sign-in</a></p>",
                escape(refusal.reason.message()),
                refusal.reason,
                escape(&refusal.detail)
            ),
        )),
    )
        .into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "internal error");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn metadata(State(app): State<Shared>) -> Response {
    let settings = app.store.settings().unwrap_or_default();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="{want}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{encryption_cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
    </md:KeyDescriptor>
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{signing_cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{slo}"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escape(&app.entity_id()),
        acs = escape(&app.acs_url()),
        want = settings.want_assertions_signed,
        encryption_cert = app.encryption_key.cert_base64(),
        signing_cert = app.signing_key.cert_base64(),
        slo = escape(&app.slo_url()),
    );
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response()
}

async fn login_page(State(app): State<Shared>) -> Html<String> {
    Html(page(
        &app,
        "Sign in",
        "<form method=\"post\" action=\"/login\"><label>Email <input name=\"email\" type=\"email\"></label> <button>Continue</button></form>",
    ))
}

async fn login_submit(State(app): State<Shared>, body: Bytes) -> Response {
    let fields = form(&body);
    let email = field(&fields, "email")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let settings = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("email", &email)
        .finish();
    if settings.sso_enabled && Settings::domain_in(&email, &settings.sso_domains) {
        Redirect::to(&format!("/login/sso?{query}")).into_response()
    } else {
        Redirect::to(&format!("/login/password?{query}")).into_response()
    }
}

#[derive(Debug, Deserialize)]
struct SsoQuery {
    email: Option<String>,
    return_to: Option<String>,
    /// `1` or `true`: the application asks the IdP to authenticate the user again
    /// (`ForceAuthn`, SAML Core §3.4.1), as before a sensitive action.
    force_authn: Option<String>,
    /// `1` or `true`: the application asks the IdP not to interact with the user (`IsPassive`).
    passive: Option<String>,
}

/// A query flag: `1` or `true`.
fn flag(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true"))
}

fn safe_path(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/me".to_owned(),
    }
}

async fn login_sso(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<SsoQuery>,
) -> Response {
    let settings = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    if !settings.sso_enabled {
        return refused(
            &app,
            &headers,
            &Refusal::new(Reason::SsoDisabled, "SSO is turned off for this tenant"),
        );
    }
    let connection = match app.store.connection() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return refused(
                &app,
                &headers,
                &Refusal::new(Reason::IdpNotConfigured, "no IdP is configured"),
            );
        }
        Err(e) => return internal(e),
    };
    if settings.idp_patience_ms > 0
        && let Err(detail) = idp_answers(
            &connection.sso_url,
            std::time::Duration::from_millis(settings.idp_patience_ms),
        )
        .await
    {
        return refused(
            &app,
            &headers,
            &Refusal::new(Reason::IdpUnavailable, detail),
        );
    }
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_else(crate::random_token);
    let now = app.clock.now();
    let request_id = format!("_{}", crate::random_token());
    let relay = crate::random_token();
    let pending = Pending {
        request_id: request_id.clone(),
        email: q.email.filter(|e| !e.trim().is_empty()),
        return_to: safe_path(q.return_to.as_deref()),
    };
    if let Err(e) = app.store.add_pending(&browser, &relay, &pending, now) {
        return internal(e);
    }
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{asks}><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>{context}</samlp:AuthnRequest>"#,
        context = requested_authn_context(settings.requested_authn_context.as_deref()),
        asks = [
            (flag(q.force_authn.as_deref()), r#" ForceAuthn="true""#),
            (flag(q.passive.as_deref()), r#" IsPassive="true""#),
        ]
        .into_iter()
        .filter_map(|(asked, attribute)| asked.then_some(attribute))
        .collect::<String>(),
        id = request_id,
        instant = now.format("%Y-%m-%dT%H:%M:%SZ"),
        dest = escape(&connection.sso_url),
        acs = escape(&app.acs_url()),
        issuer = escape(&app.entity_id()),
    );
    let location = match redirect_location(
        &connection.sso_url,
        "SAMLRequest",
        &request,
        Some(&relay),
        None,
    ) {
        Ok(location) => location,
        Err(e) => return internal(e),
    };
    (
        StatusCode::SEE_OTHER,
        [
            set_cookie(&app, BROWSER_COOKIE, &browser),
            (header::LOCATION, location),
        ],
    )
        .into_response()
}

/// The HTTP-Redirect binding (SAML Bindings §3.4.4.1): `url` with `parameter` carrying `xml`
/// DEFLATEd and base64-encoded, then `RelayState`, and with `signing_key`, `SigAlg`
/// (rsa-sha256) and the `Signature` over exactly those query octets.
pub(crate) fn redirect_location(
    url: &str,
    parameter: &str,
    xml: &str,
    relay_state: Option<&str>,
    signing_key: Option<&crate::decrypt::EncryptionKey>,
) -> Result<String, String> {
    const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .map_err(|e| format!("failed to deflate the message: {e}"))?;
    let deflated = encoder
        .finish()
        .map_err(|e| format!("failed to deflate the message: {e}"))?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair(parameter, &b64.encode(deflated));
    if let Some(relay) = relay_state {
        query.append_pair("RelayState", relay);
    }
    if signing_key.is_some() {
        query.append_pair("SigAlg", RSA_SHA256);
    }
    let mut query = query.finish();
    if let Some(key) = signing_key {
        let signature = key
            .sign(openssl::hash::MessageDigest::sha256(), query.as_bytes())
            .map_err(|e| format!("failed to sign the message: {e}"))?;
        let encoded: String =
            form_urlencoded::byte_serialize(b64.encode(signature).as_bytes()).collect();
        query.push_str(&format!("&Signature={encoded}"));
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}{query}"))
}

/// Whether the IdP's SSO URL answers (any status below 500) within `patience`: checked before
/// a user is sent there, so that a dead, failing or hanging IdP gives a clear refusal at once
/// rather than a browser error page or a tab that never loads.
async fn idp_answers(sso_url: &str, patience: std::time::Duration) -> Result<(), String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // No pooled connections: a connection from before an outage must not hide it.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default()
    });
    match client.get(sso_url).timeout(patience).send().await {
        Ok(r) if r.status().is_server_error() => Err(format!(
            "the IdP's SSO URL {sso_url} answered HTTP {}",
            r.status().as_u16()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.is_timeout() => Err(format!(
            "the IdP's SSO URL {sso_url} did not answer within {} ms",
            patience.as_millis()
        )),
        Err(e) if e.is_connect() => Err(format!(
            "the IdP's SSO URL {sso_url} refused the connection or is unreachable"
        )),
        Err(e) => Err(format!("the IdP's SSO URL {sso_url} failed: {e}")),
    }
}

async fn acs_get(State(app): State<Shared>, headers: HeaderMap) -> Response {
    refused(
        &app,
        &headers,
        &Refusal::new(
            Reason::WrongBinding,
            "a Response must arrive by HTTP-POST; HTTP-Redirect and GET are never valid for SSO responses (SAML Profiles §4.1.2)",
        ),
    )
}

async fn acs(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    for name in ["SAMLResponse", "RelayState"] {
        if fields.iter().filter(|(k, _)| k == name).count() > 1 {
            return refused(
                &app,
                &headers,
                &Refusal::new(
                    Reason::WrongBinding,
                    format!("{name} appears more than once (parameter smuggling)"),
                ),
            );
        }
    }
    let Some(encoded) = field(&fields, "SAMLResponse") else {
        return refused(
            &app,
            &headers,
            &Refusal::new(Reason::WrongBinding, "no SAMLResponse field in the POST"),
        );
    };
    let relay = field(&fields, "RelayState").map(str::to_owned);
    match consume(&app, &headers, encoded, relay.as_deref()).await {
        Ok((session, return_to)) => (
            StatusCode::SEE_OTHER,
            [
                set_cookie(&app, SESSION_COOKIE, &session),
                (header::LOCATION, return_to),
            ],
        )
            .into_response(),
        Err(Ok(refusal)) => refused(&app, &headers, &refusal),
        Err(Err(e)) => internal(e),
    }
}

type Outcome<T> = Result<T, Result<Refusal, String>>;

async fn consume(
    app: &Shared,
    headers: &HeaderMap,
    encoded: &str,
    relay: Option<&str>,
) -> Outcome<(String, String)> {
    let xml = validate::decode_post(encoded).map_err(Ok)?;
    let settings = app.store.settings().map_err(|e| Err(e.to_string()))?;
    if !settings.sso_enabled {
        return Err(Ok(Refusal::new(
            Reason::SsoDisabled,
            "SSO is turned off for this tenant",
        )));
    }
    let connection: Connection = app
        .store
        .connection()
        .map_err(|e| Err(e.to_string()))?
        .ok_or_else(|| {
            Ok(Refusal::new(
                Reason::IdpNotConfigured,
                "no IdP is configured",
            ))
        })?;
    let now = app.clock.now();
    let browser = cookie(headers, BROWSER_COOKIE);
    let (outstanding, relay_request) = match &browser {
        Some(b) => (
            app.store
                .outstanding(b, now)
                .map_err(|e| Err(e.to_string()))?,
            match relay {
                Some(r) => app
                    .store
                    .pending_by_relay(b, r)
                    .map_err(|e| Err(e.to_string()))?,
                None => None,
            },
        ),
        None => (Vec::new(), None),
    };
    let login = {
        let app = Arc::clone(app);
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            let acs_url = app.acs_url();
            let entity_id = app.entity_id();
            let ctx = Context {
                sp_entity_id: &entity_id,
                acs_url: &acs_url,
                connection: &connection,
                settings: &settings,
                weaken: &app.weaken,
                outstanding: &outstanding,
                relay_request: relay_request.as_deref(),
                now,
                decryption_key: Some(&app.encryption_key),
            };
            validate::validate(&xml, &ctx)
        })
        .await
        .map_err(|e| Err(e.to_string()))?
        .map_err(Ok)?
    };
    if !app.weaken.contains(&Weakening::Replay)
        && !app
            .store
            .remember_assertion(&login.assertion_id, login.replay_until, now)
            .map_err(|e| Err(e.to_string()))?
    {
        return Err(Ok(Refusal::new(
            Reason::Replayed,
            format!("assertion {} was already used", login.assertion_id),
        )));
    }
    // The request is consumed once, by this browser: a second post answering it (or a
    // concurrent one that passed validation at the same time) finds it gone.
    let pending = match (&login.in_response_to, &browser) {
        (Some(irt), Some(b)) => app
            .store
            .take_pending(b, irt)
            .map_err(|e| Err(e.to_string()))?,
        _ => None,
    };
    if let Some(irt) = &login.in_response_to
        && pending.is_none()
        && !app.weaken.contains(&Weakening::InResponseTo)
    {
        return Err(Ok(Refusal::new(
            Reason::InResponseToUnknown,
            format!("request {irt} was already answered"),
        )));
    }
    if let Some(typed) = pending.as_ref().and_then(|p| p.email.as_deref())
        && !typed.eq_ignore_ascii_case(&login.email)
        && !app.weaken.contains(&Weakening::EmailMatch)
    {
        return Err(Ok(Refusal::new(
            Reason::EmailMismatch,
            format!(
                "you signed in as {typed}, but the IdP returned {}",
                login.email
            ),
        )));
    }
    let store_error = |e: crate::store::StoreError| Err(e.to_string());
    let account = match app.store.user(&login.email).map_err(store_error)? {
        Some(user) => user,
        None if settings.jit => {
            // Just in time, with the tenant's default role: never one the IdP asserts.
            app.store
                .put_user(&login.email, &settings.default_role, None, false)
                .map_err(store_error)?;
            app.store
                .user(&login.email)
                .map_err(store_error)?
                .ok_or_else(|| Err("the user just created is gone".to_owned()))?
        }
        None => {
            return Err(Ok(Refusal::new(
                Reason::UnknownUser,
                format!(
                    "{} has no account here and just-in-time provisioning is off",
                    login.email
                ),
            )));
        }
    };
    if app.weaken.contains(&Weakening::RolesFromAttributes)
        && let Some(role) = role_claim(&login.attributes)
    {
        app.store
            .put_user(&account.email, role, None, account.api)
            .map_err(store_error)?;
    }
    app.store
        .mark_sso_used(&account.email)
        .map_err(store_error)?;
    // The session is the account's (its stored spelling), whatever case the IdP used.
    let session = app
        .store
        .create_session(
            &account.email,
            "sso",
            now,
            login.session_not_on_or_after,
            login.sso.as_ref(),
        )
        .map_err(store_error)?;
    tracing::info!(email = %account.email, signed = ?login.signed, attributes = ?login.attributes, "SSO login");
    let return_to = match pending {
        Some(p) => p.return_to,
        None if app.weaken.contains(&Weakening::RelayState) => relay.unwrap_or("/me").to_owned(),
        None => safe_path(relay),
    };
    Ok((session, return_to))
}

/// Attribute names IdPs use for roles and groups (Entra's claim URIs included).
const ROLE_ATTRIBUTES: &[&str] = &[
    "role",
    "roles",
    "groups",
    "memberof",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
];

/// The role a role or group attribute claims, as the `roles-from-attributes` weakening reads it
/// (a correct SP never does: roles are the SP's own).
fn role_claim(attributes: &[(String, Vec<String>)]) -> Option<&'static str> {
    let values = attributes
        .iter()
        .filter(|(name, _)| ROLE_ATTRIBUTES.iter().any(|r| r.eq_ignore_ascii_case(name)))
        .flat_map(|(_, values)| values.iter().map(|v| v.trim().to_ascii_lowercase()));
    let mut claimed = None;
    for value in values {
        match value.as_str() {
            "admin" | "admins" | "administrator" | "administrators" => return Some("admin"),
            "api" => claimed = Some("api"),
            "member" | "members" | "users" => claimed = claimed.or(Some("member")),
            _ => {}
        }
    }
    claimed
}

#[derive(Debug, Deserialize)]
struct EmailQuery {
    email: Option<String>,
}

async fn password_page(State(app): State<Shared>, Query(q): Query<EmailQuery>) -> Html<String> {
    Html(page(
        &app,
        "Sign in with a password",
        &format!(
            "<form method=\"post\" action=\"/login/password\"><input name=\"email\" value=\"{}\"> <input name=\"password\" type=\"password\"> <button>Sign in</button></form>",
            escape(q.email.as_deref().unwrap_or_default())
        ),
    ))
}

fn password_allowed(app: &App, settings: &Settings, user: &User) -> Result<(), Refusal> {
    if !app.weaken.contains(&Weakening::Enforcement)
        && Settings::domain_in(&user.email, &settings.enforced_domains)
        && settings.sso_enabled
        && !(user.role == "admin" && settings.admin_password_fallback)
        && !user.api
    {
        return Err(Refusal::new(
            Reason::PasswordLoginDisabledSsoEnforced,
            "your organisation requires single sign-on",
        ));
    }
    if user.reset_required {
        return Err(Refusal::new(
            Reason::PasswordResetRequired,
            "set a new password before signing in",
        ));
    }
    Ok(())
}

async fn password_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let email = field(&fields, "email").unwrap_or_default().trim();
    let password = field(&fields, "password").unwrap_or_default();
    let bad = || Refusal::new(Reason::BadCredentials, "wrong email or password");
    let (settings, user) = match (app.store.settings(), app.store.user(email)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    let Some(user) = user else {
        return refused(&app, &headers, &bad());
    };
    if let Err(r) = password_allowed(&app, &settings, &user) {
        return refused(&app, &headers, &r);
    }
    match app.store.check_password(&user.email, password) {
        Ok(true) => {}
        Ok(false) => return refused(&app, &headers, &bad()),
        Err(e) => return internal(e),
    }
    match app
        .store
        .create_session(&user.email, "password", app.clock.now(), None, None)
    {
        Ok(s) => (
            StatusCode::SEE_OTHER,
            [
                set_cookie(&app, SESSION_COOKIE, &s),
                (header::LOCATION, "/me".to_owned()),
            ],
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn password_reset(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    // A form (`token`, `password`) or the same fields as JSON.
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let fields = if is_json {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            Err(e) => return bad_request(format!("invalid JSON: {e}")),
        }
    } else {
        form(&body)
    };
    let token = field(&fields, "token").unwrap_or_default();
    let password = field(&fields, "password").unwrap_or_default();
    if password.len() < 8 {
        return refused(
            &app,
            &headers,
            &Refusal::new(
                Reason::BadCredentials,
                "the new password needs at least 8 characters",
            ),
        );
    }
    match app.store.use_reset_token(token, password) {
        Ok(Some(email)) => axum::Json(serde_json::json!({"reset": email})).into_response(),
        Ok(None) => refused(
            &app,
            &headers,
            &Refusal::new(Reason::BadCredentials, "unknown or used reset token"),
        ),
        Err(e) => internal(e),
    }
}

fn not_signed_in() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"error": "not_signed_in"})),
    )
        .into_response()
}

async fn me(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some(id) = cookie(&headers, SESSION_COOKIE) else {
        return not_signed_in();
    };
    let session = match app.store.session(&id, app.clock.now()) {
        Ok(Some(s)) => s,
        Ok(None) => return not_signed_in(),
        Err(e) => return internal(e),
    };
    let role = match app.store.user(&session.email) {
        Ok(Some(u)) => u.role,
        // The user was deleted: the session names nobody.
        Ok(None) => return not_signed_in(),
        Err(e) => return internal(e),
    };
    axum::Json(serde_json::json!({
        "email": session.email,
        "role": role,
        "method": session.method,
        "tenant": "default",
        "session_expires_at": session.expires_at.map(|t| t.to_rfc3339()),
    }))
    .into_response()
}

async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = app.store.end_session(&id)
    {
        return internal(e);
    }
    (
        StatusCode::SEE_OTHER,
        [
            clear_session_cookie(&app),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

async fn whoami(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"api\"")],
            axum::Json(serde_json::json!({"error": "unauthorized"})),
        )
            .into_response()
    };
    let Some((email, password)) = basic_auth(&headers) else {
        return unauthorized();
    };
    let settings = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    match (
        app.store.user(&email),
        app.store.check_password(&email, &password),
    ) {
        // API users always; anyone else only while their password login is allowed.
        (Ok(Some(user)), Ok(true))
            if (user.api && !user.reset_required)
                || password_allowed(&app, &settings, &user).is_ok() =>
        {
            axum::Json(serde_json::json!({"email": user.email, "role": user.role})).into_response()
        }
        (Err(e), _) | (_, Err(e)) => internal(e),
        _ => unauthorized(),
    }
}

/// The admin API, behind [`admin_gate`].
fn admin_router(app: Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/admin/settings",
            get(admin_settings).patch(admin_patch_settings),
        )
        .route("/admin/idp", get(admin_idp).put(admin_put_idp))
        .route("/admin/users", get(admin_users))
        .route(
            "/admin/users/{email}",
            put(admin_put_user).delete(admin_delete_user),
        )
        .route(
            "/admin/users/{email}/reset-password",
            post(admin_reset_password),
        )
        .route("/admin/clock", get(admin_clock).post(admin_advance_clock))
        .route("/admin/idp-patience", post(admin_set_idp_patience))
        .route("/admin/reset", post(admin_reset))
        .route_layer(axum::middleware::from_fn_with_state(app, admin_gate))
}

/// What a session cookie may not do on the admin API (CSRF: a browser attaches the cookie to
/// requests another site makes it send): come from another origin (`Origin`,
/// `Sec-Fetch-Site`: 403), or change anything without `Content-Type: application/json` (415;
/// a cross-site form or `text/plain` post needs no CORS preflight, JSON does). Requests with
/// the admin token (`Authorization: Bearer`, which no browser adds by itself) and requests
/// without a session cookie (answered 401 by the handler) pass as they are.
async fn admin_gate(
    State(app): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    if hardening::origin::bearer_is(headers, &app.admin_token)
        || cookie(headers, SESSION_COOKIE).is_none()
    {
        return next.run(request).await;
    }
    let refuse = |status: StatusCode, message: String| {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    };
    if let Some(what) = hardening::origin::cross_site(&app.base_url, headers, false) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("cross-site requests to the admin API are refused ({what})"),
        );
    }
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !reads && !hardening::origin::is_json(headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the admin API takes `Content-Type: application/json` requests only when a session cookie authorizes them".to_owned(),
        );
    }
    next.run(request).await
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    if hardening::origin::bearer_is(headers, &app.admin_token) {
        return true;
    }
    cookie(headers, SESSION_COOKIE)
        .and_then(|id| app.store.session(&id, app.clock.now()).ok().flatten())
        .and_then(|s| app.store.user(&s.email).ok().flatten())
        .is_some_and(|u| u.role == "admin")
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": message.into()})),
    )
        .into_response()
}

fn forbidden_admin() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"error": "admin token or admin session required"})),
    )
        .into_response()
}

fn json_body(body: &Bytes) -> Result<serde_json::Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad_request(format!("invalid JSON: {e}"))))
}

async fn admin_settings(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    match app.store.settings() {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => internal(e),
    }
}

async fn admin_patch_settings(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    let patch = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let current = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let next = match current.patch(&patch) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    if current.sso_enabled && !next.sso_enabled {
        match app
            .store
            .require_resets(&current.sso_domains, current.admin_password_fallback)
        {
            Ok(marked) => tracing::info!(?marked, "SSO turned off: password resets required"),
            Err(e) => return internal(e),
        }
    }
    match app.store.set_settings(&next) {
        Ok(()) => {
            tracing::info!(?patch, "settings changed");
            axum::Json(next).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn admin_idp(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    match app.store.connection() {
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdpBody {
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    entity_id: Option<String>,
    sso_url: Option<String>,
    certificate_pem: Option<String>,
}

async fn admin_put_idp(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    let body: IdpBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    let connection = match body {
        IdpBody {
            metadata_xml: Some(xml),
            ..
        } => Connection::from_metadata(&xml),
        IdpBody {
            metadata_url: Some(url),
            ..
        } => match crate::fetch_metadata(&url).await {
            Ok(xml) => Connection::from_metadata(&xml),
            Err(e) => return bad_request(e.to_string()),
        },
        IdpBody {
            entity_id: Some(e),
            sso_url: Some(s),
            certificate_pem: Some(c),
            ..
        } => Connection::from_fields(&e, &s, &c),
        _ => {
            return bad_request(
                "give metadata_xml, metadata_url, or entity_id + sso_url + certificate_pem",
            );
        }
    };
    match connection {
        Ok(c) => match app.store.set_connection(&c) {
            Ok(()) => axum::Json(c).into_response(),
            Err(e) => internal(e),
        },
        Err(e) => bad_request(e.to_string()),
    }
}

async fn admin_users(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    match app.store.users() {
        Ok(u) => axum::Json(u).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    role: String,
    password: Option<String>,
    /// Basic auth on the API; kept as it was when absent (new users: true for role `api`).
    api: Option<bool>,
}

async fn admin_put_user(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Bytes,
) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    let body: UserBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    if !matches!(body.role.as_str(), "member" | "admin" | "api") || !email.contains('@') {
        return bad_request("role must be member, admin or api, and the email must contain @");
    }
    let api = match body.api {
        Some(api) => api,
        None => match app.store.user(&email) {
            Ok(existing) => existing.map_or(body.role == "api", |u| u.api),
            Err(e) => return internal(e),
        },
    };
    match app
        .store
        .put_user(&email, &body.role, body.password.as_deref(), api)
    {
        Ok(()) => axum::Json(app.store.user(&email).ok().flatten()).into_response(),
        Err(e) => internal(e),
    }
}

async fn admin_delete_user(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    match app.store.delete_user(&email) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no such user"})),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn admin_reset_password(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    match app.store.reset_token(&email) {
        Ok(Some(t)) => axum::Json(serde_json::json!({"token": t})).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no such user"})),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn admin_reset(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    let result = app
        .store
        .set_settings(&app.initial_settings)
        .and_then(|()| app.store.restore_users(&app.initial_users))
        .and_then(|()| match &app.initial_connection {
            Some(c) => app.store.set_connection(c),
            None => Ok(()),
        });
    app.clock.reset();
    match result {
        Ok(()) => axum::Json(serde_json::json!({"reset": true})).into_response(),
        Err(e) => internal(e),
    }
}

fn clock_json(app: &App) -> Response {
    axum::Json(serde_json::json!({
        "now": app.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "offset_ms": app.clock.offset_ms(),
    }))
    .into_response()
}

async fn admin_clock(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return forbidden_admin();
    }
    clock_json(&app)
}

/// For an admin (else the refusal), the whole number of milliseconds in a `POST` route's query
/// parameter `name` (else the 400 that says what it needs).
fn admin_milliseconds<T: std::str::FromStr>(
    app: &App,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    route: &str,
    name: &str,
) -> Result<T, Box<Response>> {
    if !authorized(app, headers) {
        return Err(Box::new(forbidden_admin()));
    }
    let Some(value) = query.get(name) else {
        return Err(Box::new(bad_request(format!(
            "POST {route} needs ?{name}=N (milliseconds)"
        ))));
    };
    value.parse().map_err(|_| {
        Box::new(bad_request(format!(
            "{name} must be a whole number of milliseconds, not `{value}`"
        )))
    })
}

/// `POST /admin/clock?advance_ms=N`: moves the SP's clock forward by N milliseconds.
async fn admin_advance_clock(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let ms = match admin_milliseconds::<i64>(&app, &headers, &query, "/admin/clock", "advance_ms") {
        Ok(ms) => ms,
        Err(r) => return *r,
    };
    match app.clock.advance(ms) {
        Ok(_) => clock_json(&app),
        Err(e) => bad_request(e),
    }
}

/// `POST /admin/idp-patience?ms=N`: how long SSO logins wait for the IdP before the SP
/// refuses them (`idp_patience_ms`, as `PATCH /admin/settings` sets it; a query parameter, so
/// that a harness hook can fill it in).
async fn admin_set_idp_patience(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let ms = match admin_milliseconds::<u64>(&app, &headers, &query, "/admin/idp-patience", "ms") {
        Ok(ms) => ms,
        Err(r) => return *r,
    };
    let current = match app.store.settings() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let next = match current.patch(&serde_json::json!({ "idp_patience_ms": ms })) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    match app.store.set_settings(&next) {
        Ok(()) => axum::Json(serde_json::json!({ "idp_patience_ms": next.idp_patience_ms }))
            .into_response(),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests;
