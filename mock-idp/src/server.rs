//! HTTP endpoints (axum).
//!
//! | route | what |
//! |---|---|
//! | `GET /metadata` | the IdP's metadata |
//! | `GET /sso`, `POST /sso` | AuthnRequest over HTTP-Redirect / HTTP-POST; answers with the plan's response |
//! | `GET /idp-initiated?sp=&user=&relay_state=&plan=` | an unsolicited response |
//! | `GET /slo`, `POST /slo` | Single Logout: the SP's LogoutRequest (answered with the plan's LogoutResponse) or its LogoutResponse, over HTTP-Redirect / HTTP-POST ([`crate::logout`]) |
//! | `GET /slo/start?plan=` | IdP-initiated logout: the plan's LogoutRequest for the session its login issued |
//! | `GET /login`, `POST /login` | the login page for people ([`crate::login_page`]) |
//! | `POST /_control/plans`, `GET /_control/plans/{id}` | store / read a plan |
//! | `GET /_control/bind?plan=ID[&next=URL]` | bind a plan to this user agent (cookie); no token, same-site only, `next` a path on this IdP or a URL of a registered SP |
//! | `GET /_control/log?plan=&limit=` | recent exchanges with raw XML (at most 100) |
//! | `POST /_control/reset` | forget plans and log |
//! | `POST /_control/sps`, `GET /_control/sps` | register / list SPs |
//!
//! Every `/_control/...` route but `bind` takes `Authorization: Bearer TOKEN` (the IdP's control
//! token), refuses cross-origin browser requests and takes JSON bodies only
//! (`require_control`).
//!
//! The plan for an exchange comes from a `plan` parameter, else the `mock_idp_plan` cookie,
//! else the default (valid) plan; with the login page on, a request without a plan goes to
//! the login page instead. Refusals are a 400 with a one-line reason.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use hardening::origin::origin_of;

use crate::authn_request::{self, AuthnRequestInfo};
use crate::exchange::{Exchange, ExchangeKind};
use crate::idp::Idp;
use crate::plan::Plan;
use crate::registry::{SpEntry, SpSource};
use crate::response::encode::{Delivery, encode};

/// The cookie that binds a plan to a user agent.
pub const PLAN_COOKIE: &str = "mock_idp_plan";

/// The largest plan `POST /_control/plans` accepts.
pub const MAX_PLAN_BYTES: usize = 256 << 10;
/// The largest body of any other `/_control/...` request (an SP's metadata, say).
pub const MAX_CONTROL_BODY_BYTES: usize = 2 << 20;
/// The most exchanges `GET /_control/log?limit=` returns.
pub const MAX_LOG_LIMIT: usize = 100;

/// The IdP's router.
pub fn router(idp: Arc<Idp>) -> Router {
    let control = Router::new()
        .route(
            "/_control/plans",
            post(create_plan).layer(axum::extract::DefaultBodyLimit::max(MAX_PLAN_BYTES)),
        )
        .route("/_control/plans/{id}", get(read_plan))
        .route("/_control/log", get(read_log))
        .route("/_control/reset", post(reset))
        .route("/_control/sps", get(list_sps).post(register_sp))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&idp),
            require_control,
        ));
    Router::new()
        .route("/", get(index))
        .route("/metadata", get(metadata))
        .route("/sso", get(sso_redirect).post(sso_post))
        .route("/idp-initiated", get(idp_initiated))
        .route("/slo", get(slo_redirect).post(slo_post))
        .route("/slo/start", get(slo_start))
        .route("/_control/bind", get(bind))
        .merge(control)
        .merge(crate::login_page::router())
        .with_state(idp)
}

/// Whether a browser sends this request on another site's behalf (see
/// [`hardening::origin::cross_site`]).
fn cross_origin(idp: &Idp, headers: &HeaderMap, typed_ok: bool) -> Option<String> {
    hardening::origin::cross_site(&idp.settings().base_url, headers, typed_ok)
}

/// The gate of the `/_control/...` API (all but `/_control/bind`, which a browser visits):
/// no request a browser sends on another site's behalf (403), only `Authorization: Bearer
/// TOKEN` with the IdP's control token (401), and JSON bodies only (415 for a POST of any other
/// content type, `text/plain` included, which browsers send cross-origin without asking).
pub(crate) async fn require_control(
    State(idp): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    if let Some(what) = cross_origin(&idp, headers, false) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("cross-origin requests to the control API are refused ({what})"),
        );
    }
    if !hardening::origin::bearer_is(headers, idp.control_token()) {
        let mut answer = refuse(
            StatusCode::UNAUTHORIZED,
            "the control API needs `Authorization: Bearer TOKEN` with the token the IdP printed at start (or was given with --control-token)",
        );
        answer
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return answer;
    }
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !reads && !hardening::origin::is_json(headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the control API takes `Content-Type: application/json` bodies only",
        );
    }
    next.run(request).await
}

type Shared = State<Arc<Idp>>;

async fn index(State(idp): Shared) -> String {
    format!(
        "mock-idp {}\nentityID: {}\nmetadata: {}/metadata\nSSO: {}/sso (HTTP-Redirect, HTTP-POST)\nIdP-initiated: {}/idp-initiated?sp=ENTITY_ID&user=EMAIL\nSingle Logout: {}/slo (HTTP-Redirect, HTTP-POST); IdP-initiated: {}/slo/start?plan=ID\nlogin page for people: {}/login\ncontrol: /_control/plans, /_control/bind, /_control/log, /_control/reset, /_control/sps\n",
        env!("CARGO_PKG_VERSION"),
        idp.settings().entity_id,
        idp.settings().base_url,
        idp.settings().base_url,
        idp.settings().base_url,
        idp.settings().base_url,
        idp.settings().base_url,
        idp.settings().base_url,
    )
}

/// `GET /metadata[?key_use=omit][&weak_key=include][&want_authn_requests_signed=true]`:
/// `key_use=omit` leaves `use` off the KeyDescriptors; `weak_key=include` also publishes the
/// 1024-bit RSA key; `want_authn_requests_signed=true` asks SPs to sign their AuthnRequests.
async fn metadata(State(idp): Shared, RawQuery(query): RawQuery) -> Response {
    let mut options = crate::metadata::Options::default();
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()) {
        match (&*key, &*value) {
            ("key_use", "omit") => options.key_use = crate::metadata::KeyUse::Omitted,
            ("weak_key", "include") => options.weak_key = true,
            ("want_authn_requests_signed", "true") => options.want_authn_requests_signed = true,
            _ => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "unknown metadata option `{key}={value}`; the options are key_use=omit, weak_key=include and want_authn_requests_signed=true"
                    ),
                );
            }
        }
    }
    let settings = idp.settings();
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        crate::metadata::render_with(&settings.entity_id, &settings.base_url, idp.keys(), options),
    )
        .into_response()
}

/// How the SP's logout message came, which says how its signature is verified.
enum SloBinding {
    /// HTTP-Redirect: over the query octets as received.
    Redirect {
        /// The raw query string.
        raw_query: String,
    },
    /// HTTP-POST: an enveloped XML signature.
    Post,
}

/// The SP's logout message: its XML, its RelayState, and its binding.
struct SloMessage {
    xml: String,
    relay_state: Option<String>,
    binding: SloBinding,
}

/// Reads the SP's logout message from a query or a form: exactly one `SAMLRequest` or
/// `SAMLResponse` and at most one `RelayState`, decoded as `binding` encodes it.
fn read_slo<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    binding: SloBinding,
) -> Result<SloMessage, String> {
    let mut request = None;
    let mut response = None;
    let mut relay_state = None;
    for (key, value) in pairs {
        let slot = match key.as_ref() {
            "SAMLRequest" => &mut request,
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay_state,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("the logout message carries {key} twice"));
        }
        *slot = Some(value.into_owned());
    }
    let ((Some(value), None) | (None, Some(value))) = (request, response) else {
        return Err(
            "a logout message carries exactly one of SAMLRequest and SAMLResponse".to_owned(),
        );
    };
    let decoded = match binding {
        SloBinding::Redirect { .. } => authn_request::decode_redirect(&value),
        SloBinding::Post => authn_request::decode_post(&value),
    };
    Ok(SloMessage {
        xml: decoded.map_err(|e| format!("failed to read the logout message: {e}"))?,
        relay_state,
        binding,
    })
}

async fn slo_redirect(State(idp): Shared, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let raw_query = raw.unwrap_or_default();
    let message = read_slo(
        form_urlencoded::parse(raw_query.as_bytes()),
        SloBinding::Redirect {
            raw_query: raw_query.clone(),
        },
    );
    answer_logout(idp, message, &headers).await
}

async fn slo_post(State(idp): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let message = read_slo(form_urlencoded::parse(&body), SloBinding::Post);
    answer_logout(idp, message, &headers).await
}

/// Handles an SP's LogoutRequest (ends the IdP's session, answers with the plan's
/// LogoutResponse) or LogoutResponse (ends an IdP-initiated logout), recording what is wrong
/// with it in the exchange's `problems`.
async fn answer_logout(
    idp: Arc<Idp>,
    message: Result<SloMessage, String>,
    headers: &HeaderMap,
) -> Response {
    use crate::logout::SpMessageKind;

    let mut pending = Pending::new(&idp, ExchangeKind::LogoutRequest);
    let message = match message {
        Ok(message) => message,
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };

    pending.exchange.request_xml = Some(message.xml.clone());
    pending.exchange.relay_state = message.relay_state.clone();
    let parsed = match crate::logout::parse_sp_message(&message.xml) {
        Ok(parsed) => parsed,
        Err(e) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &e),
    };
    if parsed.kind == SpMessageKind::Response {
        pending.exchange.kind = ExchangeKind::LogoutResponse;
    }
    pending.exchange.request_id = Some(parsed.id.clone());
    let Some(issuer) = parsed.issuer.clone() else {
        return pending.refuse(
            &idp,
            StatusCode::BAD_REQUEST,
            "the logout message has no Issuer",
        );
    };
    let sp = match known_sp(&idp, &mut pending, &issuer).await {
        Ok(sp) => sp,
        Err(refusal) => return pending.refuse_sp(&idp, &refusal),
    };
    let (plan_id, plan) = match select_plan(&idp, None, headers) {
        Ok(selected) => selected,
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };
    let key = plan_id.clone().unwrap_or_default();
    pending.exchange.plan_id = plan_id;
    let (session, sent, smuggled) = idp.with_logout_state(&key, |s| {
        (
            s.session.clone(),
            s.sent_request.clone(),
            s.smuggled_request.clone(),
        )
    });
    let slo_url = format!("{}/slo", idp.settings().base_url);
    let signature = match &message.binding {
        SloBinding::Redirect { raw_query } => {
            authn_request::verify_redirect_signature(raw_query, &sp.signing_certs)
        }
        SloBinding::Post => crate::logout::verify_post_signature(&message.xml, &parsed, &sp),
    };
    pending.exchange.problems = crate::logout::problems(
        &parsed,
        signature,
        &sp,
        &slo_url,
        session.as_ref(),
        sent.as_deref(),
    );
    if parsed.kind == SpMessageKind::Response {
        pending.exchange.answered =
            crate::logout::answered(&parsed, sent.as_deref(), smuggled.as_deref());
        if pending.exchange.answered == Some(crate::exchange::LogoutAnswered::SmuggledRequest) {
            pending.exchange.problems.push(format!(
                "the LogoutResponse answers the unsigned LogoutRequest {} smuggled after the signed one: the SP acted on the second SAMLRequest (SAML Bindings §3.4.4.1)",
                smuggled.as_deref().unwrap_or_default()
            ));
        }
        idp.with_logout_state(&key, |s| {
            s.sent_request = None;
            s.smuggled_request = None;
            s.session = None;
        });
        let problems = pending.exchange.problems.clone();
        idp.record(pending.exchange);
        return Html(logout_page(&sp.entity_id, &problems)).into_response();
    }
    // A LogoutRequest: the IdP's session ends whatever the request's faults (the SP asked),
    // and the plan's LogoutResponse goes back.
    idp.with_logout_state(&key, |s| s.session = None);
    let request_id = parsed.id.clone();
    let built = build_logout(&idp, sp, message.relay_state.clone(), move |ctx, keys| {
        crate::logout::build_response(ctx, &plan.logout, keys, &request_id)
    })
    .await;
    let outgoing = match built {
        Ok(outgoing) => outgoing,
        Err((status, reason)) => return pending.refuse(&idp, status, &reason),
    };
    pending.exchange.response_xml = Some(outgoing.xml.clone());
    send_logout(&idp, pending, outgoing.delivery)
}

/// Builds one of the IdP's logout messages for `sp` off the async runtime (signing blocks);
/// a plan the message cannot follow is a 400, a failure of the IdP a 500.
async fn build_logout(
    idp: &Arc<Idp>,
    sp: SpEntry,
    relay_state: Option<String>,
    build: impl FnOnce(
        &crate::logout::LogoutContext<'_>,
        &crate::keys::KeyStore,
    ) -> Result<crate::logout::Outgoing, crate::response::PipelineError>
    + Send
    + 'static,
) -> Result<crate::logout::Outgoing, (StatusCode, String)> {
    let worker = Arc::clone(idp);
    let built = tokio::task::spawn_blocking(move || {
        let ctx = crate::logout::LogoutContext {
            idp_entity_id: &worker.settings().entity_id,
            issue_instant: &worker.now_text(),
            sp: &sp,
            relay_state: relay_state.as_deref(),
        };
        build(&ctx, worker.keys())
    })
    .await;
    match built {
        Ok(Ok(outgoing)) => Ok(outgoing),
        Ok(Err(e)) if e.is_plan_error() => Err((StatusCode::BAD_REQUEST, e.to_string())),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "failed to build a logout message");
            Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Err(e) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("mock IdP bug: the logout task failed: {e}"),
        )),
    }
}

/// The page an IdP-initiated logout ends on.
fn logout_page(sp: &str, problems: &[String]) -> String {
    let esc = crate::xml::escape_text;
    let list = if problems.is_empty() {
        "<p id=\"result\">The SP confirmed the logout.</p>".to_owned()
    } else {
        format!(
            "<p id=\"result\">The SP's answer has problems:</p><ul>{}</ul>",
            problems
                .iter()
                .map(|p| format!("<li>{}</li>", esc(p)))
                .collect::<String>()
        )
    };
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Mock IdP: signed out</title></head><body><h1>Signed out of {}</h1>{list}</body></html>",
        esc(sp)
    )
}

/// Sends a logout message on its way: a redirect or an auto-submitting form.
fn send_logout(idp: &Idp, mut pending: Pending, delivery: Delivery) -> Response {
    let response = match delivery {
        Delivery::PostForm { html } => Html(html).into_response(),
        Delivery::Redirect { location } => match HeaderValue::from_str(&location) {
            Ok(value) => {
                pending.exchange.status = StatusCode::SEE_OTHER.as_u16();
                (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
            }
            Err(_) => {
                return pending.refuse(
                    idp,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "mock IdP bug: redirect location is not a valid header",
                );
            }
        },
    };
    idp.record(pending.exchange);
    response
}

#[derive(Debug, Deserialize)]
struct SloStartQuery {
    plan: Option<String>,
    relay_state: Option<String>,
}

/// IdP-initiated logout: the plan's LogoutRequest for the session its last login issued.
async fn slo_start(
    State(idp): Shared,
    Query(query): Query<SloStartQuery>,
    headers: HeaderMap,
) -> Response {
    let mut pending = Pending::new(&idp, ExchangeKind::LogoutStart);
    pending.exchange.relay_state = query.relay_state.clone();
    let (plan_id, plan) = match select_plan(&idp, query.plan.as_deref(), &headers) {
        Ok(selected) => selected,
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };
    let key = plan_id.clone().unwrap_or_default();
    pending.exchange.plan_id = plan_id;
    let Some(session) = idp.issued_session(&key) else {
        return pending.refuse(
            &idp,
            StatusCode::BAD_REQUEST,
            "no session to log out: this plan's user agent has not logged in (or has logged out)",
        );
    };
    let sp = match known_sp(&idp, &mut pending, &session.sp_entity_id).await {
        Ok(sp) => sp,
        Err(refusal) => return pending.refuse_sp(&idp, &refusal),
    };
    let built = build_logout(&idp, sp, query.relay_state.clone(), move |ctx, keys| {
        crate::logout::build_request(ctx, &plan.logout, keys, &session)
    })
    .await;
    let outgoing = match built {
        Ok(outgoing) => outgoing,
        Err((status, reason)) => return pending.refuse(&idp, status, &reason),
    };
    idp.with_logout_state(&key, |s| {
        s.sent_request = Some(outgoing.id.clone());
        s.smuggled_request.clone_from(&outgoing.smuggled_id);
    });
    pending.exchange.request_id = Some(outgoing.id.clone());
    pending.exchange.response_xml = Some(outgoing.xml.clone());
    send_logout(&idp, pending, outgoing.delivery)
}

/// A refusal: status plus one line of text.
fn refuse(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", reason.replace(['\r', '\n'], " ")),
    )
        .into_response()
}

/// What one SSO exchange has gathered so far; logged however it ends.
struct Pending {
    exchange: Exchange,
}

impl Pending {
    fn new(idp: &Idp, kind: ExchangeKind) -> Self {
        Self {
            exchange: Exchange {
                seq: 0,
                at: idp.now_text(),
                kind,
                plan_id: None,
                sp_entity_id: None,
                request_xml: None,
                request_query: None,
                request_id: None,
                relay_state: None,
                acs_url: None,
                response_xml: None,
                layout: None,
                binding: None,
                valid: None,
                self_checked: false,
                status: 200,
                error: None,
                problems: Vec::new(),
                truncated: Vec::new(),
                answered: None,
            },
        }
    }

    fn refuse(mut self, idp: &Idp, status: StatusCode, reason: &str) -> Response {
        tracing::info!(status = status.as_u16(), reason, "refused");
        self.exchange.status = status.as_u16();
        self.exchange.error = Some(reason.to_owned());
        idp.record(self.exchange);
        refuse(status, reason)
    }

    /// An SP that cannot be answered; a 503 says when to try again.
    fn refuse_sp(self, idp: &Idp, refusal: &SpRefusal) -> Response {
        let mut answer = self.refuse(idp, refusal.status, &refusal.reason);
        if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        answer
    }
}

/// Why an SP cannot be answered: unknown (400), or not known yet while SP metadata given at
/// start is still being read (503 with `Retry-After`).
struct SpRefusal {
    status: StatusCode,
    reason: String,
}

/// Records the SP on the exchange and finds it.
async fn known_sp(idp: &Idp, pending: &mut Pending, entity_id: &str) -> Result<SpEntry, SpRefusal> {
    pending.exchange.sp_entity_id = Some(entity_id.to_owned());
    match idp.lookup_sp(entity_id).await {
        crate::idp::SpLookup::Known(sp) => Ok(*sp),
        crate::idp::SpLookup::Unknown => Err(SpRefusal {
            status: StatusCode::BAD_REQUEST,
            reason: format!(
                "unknown SP {entity_id}: register it with --sp-metadata, --sp or POST /_control/sps"
            ),
        }),
        crate::idp::SpLookup::NotYet(why) => Err(SpRefusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: format!(
                "SP {entity_id} is not registered yet: SP metadata given at start is still being read ({why}); try again shortly"
            ),
        }),
    }
}

fn cookie_plan(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == PLAN_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Picks the plan: explicit parameter, else cookie, else the default plan.
fn select_plan(
    idp: &Idp,
    param: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Option<String>, Plan), String> {
    match param.map(str::to_owned).or_else(|| cookie_plan(headers)) {
        Some(id) => idp
            .plan(&id)
            .map(|plan| (Some(id.clone()), plan))
            .ok_or_else(|| {
                format!(
                    "unknown plan {id} (was the IdP reset, or the plan created on another IdP?)"
                )
            }),
        None => Ok((None, Plan::default())),
    }
}

async fn sso_redirect(State(idp): Shared, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let raw = raw.unwrap_or_default();
    let params: HashMap<String, String> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let mut pending = Pending::new(&idp, ExchangeKind::SsoRedirect);
    pending.exchange.relay_state = params.get("RelayState").cloned();
    pending.exchange.request_query = Some(raw.clone());
    let xml = match params
        .get("SAMLRequest")
        .ok_or(authn_request::AuthnRequestError::Missing)
        .and_then(|v| authn_request::decode_redirect(v))
    {
        Ok(xml) => xml,
        Err(e) => {
            return pending.refuse(
                &idp,
                StatusCode::BAD_REQUEST,
                &format!("failed to read the AuthnRequest: {e}"),
            );
        }
    };
    let signature = |sp: &SpEntry, _: &AuthnRequestInfo| -> Result<(), String> {
        let signed =
            authn_request::verify_redirect_signature(&raw, &sp.signing_certs).or_else(|e| {
                if sp.signing_certs.is_empty() {
                    Ok(false)
                } else {
                    Err(e)
                }
            })?;
        if !signed && sp.authn_requests_signed {
            return Err(format!(
                "SP {} says AuthnRequestsSigned but the request is unsigned",
                sp.entity_id
            ));
        }
        Ok(())
    };
    answer_request(
        idp,
        pending,
        xml,
        params.get("plan").map(String::as_str),
        &headers,
        &signature,
    )
    .await
}

#[derive(Debug, Deserialize)]
struct PostedRequest {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
    plan: Option<String>,
}

async fn sso_post(State(idp): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let mut pending = Pending::new(&idp, ExchangeKind::SsoPost);
    let form: PostedRequest = match serde_urlencoded_form(&body) {
        Ok(form) => form,
        Err(e) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &e),
    };
    pending.exchange.relay_state = form.relay_state.clone();
    let xml = match form
        .saml_request
        .as_deref()
        .ok_or(authn_request::AuthnRequestError::Missing)
        .and_then(authn_request::decode_post)
    {
        Ok(xml) => xml,
        Err(e) => {
            return pending.refuse(
                &idp,
                StatusCode::BAD_REQUEST,
                &format!("failed to read the AuthnRequest: {e}"),
            );
        }
    };
    let xml_for_check = xml.clone();
    let signature = move |sp: &SpEntry, request: &AuthnRequestInfo| -> Result<(), String> {
        if sp.signing_certs.is_empty() {
            return if sp.authn_requests_signed {
                Err(format!(
                    "SP {} says AuthnRequestsSigned but its metadata has no signing key",
                    sp.entity_id
                ))
            } else {
                Ok(())
            };
        }
        if !request.has_xml_signature {
            return if sp.authn_requests_signed {
                Err(format!(
                    "SP {} says AuthnRequestsSigned but the request is unsigned",
                    sp.entity_id
                ))
            } else {
                Ok(())
            };
        }
        let certs: Vec<&[u8]> = sp.signing_certs.iter().map(Vec::as_slice).collect();
        crate::saml::verify_all_signatures(&xml_for_check, &certs).map_err(|e| {
            format!("the AuthnRequest signature does not verify with the SP's keys: {e}")
        })
    };
    answer_request(
        idp,
        pending,
        xml,
        form.plan.as_deref(),
        &headers,
        &signature,
    )
    .await
}

fn serde_urlencoded_form(body: &[u8]) -> Result<PostedRequest, String> {
    let mut form = PostedRequest {
        saml_request: None,
        relay_state: None,
        plan: None,
    };
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "SAMLRequest" => &mut form.saml_request,
            "RelayState" => &mut form.relay_state,
            "plan" => &mut form.plan,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("the form carries {key} twice"));
        }
        *slot = Some(value.into_owned());
    }
    Ok(form)
}

async fn answer_request(
    idp: Arc<Idp>,
    mut pending: Pending,
    xml: String,
    plan_param: Option<&str>,
    headers: &HeaderMap,
    check_signature: &(dyn Fn(&SpEntry, &AuthnRequestInfo) -> Result<(), String> + Sync),
) -> Response {
    pending.exchange.request_xml = Some(xml.clone());
    // The plan the user agent names, logged even when the request is refused, so that whoever
    // bound it can read what its SP sent.
    pending.exchange.plan_id = plan_param
        .map(str::to_owned)
        .or_else(|| cookie_plan(headers))
        .filter(|id| idp.plan(id).is_some());
    let request = match authn_request::parse(&xml) {
        Ok(request) => request,
        Err(e) => {
            return pending.refuse(
                &idp,
                StatusCode::BAD_REQUEST,
                &format!("failed to read the AuthnRequest: {e}"),
            );
        }
    };
    pending.exchange.request_id = Some(request.id.clone());
    let sp = match known_sp(&idp, &mut pending, &request.issuer).await {
        Ok(sp) => sp,
        Err(refusal) => return pending.refuse_sp(&idp, &refusal),
    };
    if let Err(reason) = check_signature(&sp, &request) {
        return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason);
    }
    let acs_url = match sp.resolve_acs(request.acs_url.as_deref(), request.acs_index) {
        Ok(url) => url.to_owned(),
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };
    let (plan_id, plan) = match select_plan(&idp, plan_param, headers) {
        Ok(selected) => selected,
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };
    if plan_id.is_none() && idp.login_page() {
        return crate::login_page::defer_to_page(
            &idp,
            crate::login_page::PendingLogin {
                request,
                acs_url,
                relay_state: pending.exchange.relay_state.clone(),
            },
        );
    }
    pending.exchange.plan_id = plan_id;
    deliver(idp, pending, plan, sp, acs_url, Some(request)).await
}

#[derive(Debug, Deserialize)]
struct IdpInitiatedQuery {
    sp: Option<String>,
    user: Option<String>,
    relay_state: Option<String>,
    plan: Option<String>,
}

async fn idp_initiated(
    State(idp): Shared,
    Query(query): Query<IdpInitiatedQuery>,
    headers: HeaderMap,
) -> Response {
    let mut pending = Pending::new(&idp, ExchangeKind::IdpInitiated);
    pending.exchange.relay_state = query.relay_state.clone();
    let Some(entity_id) = query.sp.filter(|s| !s.is_empty()) else {
        return pending.refuse(
            &idp,
            StatusCode::BAD_REQUEST,
            "missing query parameter sp=ENTITY_ID",
        );
    };
    let sp = match known_sp(&idp, &mut pending, &entity_id).await {
        Ok(sp) => sp,
        Err(refusal) => return pending.refuse_sp(&idp, &refusal),
    };
    let (plan_id, mut plan) = match select_plan(&idp, query.plan.as_deref(), &headers) {
        Ok(selected) => selected,
        Err(reason) => return pending.refuse(&idp, StatusCode::BAD_REQUEST, &reason),
    };
    if let Some(user) = query.user.filter(|u| !u.is_empty()) {
        plan.user = Some(user);
    }
    pending.exchange.plan_id = plan_id;
    let Some(acs_url) = sp.default_acs().map(str::to_owned) else {
        return pending.refuse(
            &idp,
            StatusCode::BAD_REQUEST,
            "the SP has no assertion consumer service",
        );
    };
    deliver(idp, pending, plan, sp, acs_url, None).await
}

async fn deliver(
    idp: Arc<Idp>,
    mut pending: Pending,
    plan: Plan,
    sp: SpEntry,
    acs_url: String,
    request: Option<AuthnRequestInfo>,
) -> Response {
    pending.exchange.acs_url = Some(acs_url.clone());
    pending.exchange.binding = Some(plan.binding);
    let worker = Arc::clone(&idp);
    let binding = plan.binding;
    let built = tokio::task::spawn_blocking(move || {
        worker
            .respond(&plan, &sp, &acs_url, request.as_ref())
            .map(|b| (b, acs_url))
    })
    .await;
    let (built, acs_url) = match built {
        Ok(Ok(built)) => built,
        Ok(Err(e)) => {
            let status = if e.is_plan_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            if !e.is_plan_error() {
                tracing::error!(error = %e, "failed to build a response");
            }
            return pending.refuse(&idp, status, &e.to_string());
        }
        Err(e) => {
            return pending.refuse(
                &idp,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("mock IdP bug: the response task failed: {e}"),
            );
        }
    };
    if let Some(session) = built.session.clone() {
        let key = pending.exchange.plan_id.clone().unwrap_or_default();
        idp.with_logout_state(&key, |state| state.session = Some(session));
    }
    pending.exchange.layout = Some(built.layout);
    pending.exchange.valid = Some(built.valid);
    pending.exchange.self_checked = built.self_checked;
    let delivery = encode(
        &built.xml,
        binding,
        &acs_url,
        pending.exchange.relay_state.as_deref(),
    );
    pending.exchange.response_xml = Some(built.xml);
    let response = match delivery {
        Delivery::PostForm { html } => Html(html).into_response(),
        Delivery::Redirect { location } => {
            pending.exchange.status = StatusCode::SEE_OTHER.as_u16();
            match HeaderValue::from_str(&location) {
                Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
                Err(_) => {
                    return pending.refuse(
                        &idp,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "mock IdP bug: redirect location is not a valid header",
                    );
                }
            }
        }
    };
    idp.record(pending.exchange);
    response
}

async fn create_plan(State(idp): Shared, body: Bytes) -> Response {
    let plan: Plan = match serde_json::from_slice(&body) {
        Ok(plan) => plan,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("failed to read the plan: {e}"),
            );
        }
    };
    let id = idp.create_plan(plan);
    let bind_url = format!("{}/_control/bind?plan={id}", idp.settings().base_url);
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "bind_url": bind_url })),
    )
        .into_response()
}

async fn read_plan(State(idp): Shared, Path(id): Path<String>) -> Response {
    match idp.plan(&id) {
        Some(plan) => Json(plan).into_response(),
        None => refuse(StatusCode::NOT_FOUND, &format!("unknown plan {id}")),
    }
}

#[derive(Debug, Deserialize)]
struct BindQuery {
    plan: String,
    next: Option<String>,
}

/// Where `/_control/bind` may send the browser next: a path on this IdP (`/login`), a URL of
/// the IdP's own origin, or a URL on the origin of a registered SP's ACS or logout endpoint
/// (its login page, say); never elsewhere (an open redirect).
fn allowed_next(idp: &Idp, next: &str) -> Option<String> {
    // Control characters and backslashes never belong (`/\host` is another site to a browser).
    if next.contains('\\') || next.chars().any(char::is_control) {
        return None;
    }
    if let Some(rest) = next.strip_prefix('/') {
        // `//host` is another site too.
        return (!rest.starts_with('/')).then(|| next.to_owned());
    }
    let origin = origin_of(next)?;
    if origin_of(&idp.settings().base_url).as_deref() == Some(origin.as_str()) {
        let url = url::Url::parse(next).ok()?;
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        return Some(path);
    }
    let registered = idp.sps().iter().any(|sp| {
        sp.acs
            .iter()
            .map(|acs| acs.url.as_str())
            .chain(sp.slo.iter().map(|slo| slo.url.as_str()))
            .any(|url| origin_of(url).as_deref() == Some(origin.as_str()))
    });
    registered.then(|| next.to_owned())
}

/// `GET /_control/bind?plan=ID[&next=URL]`: binds the plan to this browser. A browser visits
/// it, so it takes no token (the plan id, made with the token, is the capability), but a visit
/// another site sends it on is refused, and `next` stays on this IdP.
async fn bind(State(idp): Shared, Query(query): Query<BindQuery>, headers: HeaderMap) -> Response {
    if let Some(what) = cross_origin(&idp, &headers, true) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("cross-site requests to /_control/bind are refused ({what})"),
        );
    }
    if idp.plan(&query.plan).is_none() {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("unknown plan {}", query.plan),
        );
    }
    let cookie = format!(
        "{PLAN_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        query.plan
    );
    let Ok(cookie) = HeaderValue::from_str(&cookie) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the plan id is not a valid cookie value",
        );
    };
    let next = match query.next.as_deref() {
        None => None,
        Some(next) => match allowed_next(&idp, next) {
            Some(path) => Some(HeaderValue::from_str(&path)),
            None => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "next must be a path on this IdP (such as /login) or a URL of a registered SP, not another site",
                );
            }
        },
    };
    match next {
        Some(Ok(next)) => (
            StatusCode::SEE_OTHER,
            [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
        )
            .into_response(),
        Some(Err(_)) => refuse(StatusCode::BAD_REQUEST, "next is not a valid URL"),
        None => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    plan: Option<String>,
    limit: Option<usize>,
}

/// `GET /_control/log?plan=&limit=`: at most [`MAX_LOG_LIMIT`] exchanges (50 by default).
async fn read_log(State(idp): Shared, Query(query): Query<LogQuery>) -> Response {
    let limit = query.limit.unwrap_or(50).min(MAX_LOG_LIMIT);
    Json(idp.log(query.plan.as_deref(), limit)).into_response()
}

async fn reset(State(idp): Shared) -> StatusCode {
    idp.reset();
    StatusCode::NO_CONTENT
}

/// A registration request: explicit fields, a metadata document, or a metadata URL or path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterSp {
    entity_id: Option<String>,
    acs_url: Option<String>,
    metadata: Option<String>,
    metadata_url: Option<String>,
}

async fn register_sp(State(idp): Shared, body: Bytes) -> Response {
    let request: RegisterSp = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("failed to read the registration: {e}"),
            );
        }
    };
    let result = match request {
        RegisterSp {
            metadata: Some(xml),
            entity_id: None,
            acs_url: None,
            metadata_url: None,
        } => SpEntry::from_metadata(&xml).map(|entries| {
            let ids: Vec<String> = entries.iter().map(|e| e.entity_id.clone()).collect();
            for entry in entries {
                idp.register_entry(entry);
            }
            ids
        }),
        RegisterSp {
            metadata_url: Some(url),
            entity_id: None,
            acs_url: None,
            metadata: None,
        } => {
            // A URL only: the control API never reads the IdP's own files.
            if !SpSource::Metadata(url.clone()).is_remote() {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("metadata_url must be an http:// or https:// URL, not {url:?}"),
                );
            }
            idp.register(SpSource::Metadata(url)).await
        }
        RegisterSp {
            entity_id: Some(entity_id),
            acs_url: Some(acs_url),
            metadata: None,
            metadata_url: None,
        } => {
            idp.register(SpSource::Entry(SpEntry::new(entity_id, acs_url)))
                .await
        }
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "give either entity_id and acs_url, or metadata, or metadata_url",
            );
        }
    };
    match result {
        Ok(ids) => (StatusCode::CREATED, Json(ids)).into_response(),
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn list_sps(State(idp): Shared) -> Response {
    Json(idp.sps()).into_response()
}
