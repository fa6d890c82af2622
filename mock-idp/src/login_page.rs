//! The login page for people: support staff reproducing an "SSO auth failed" ticket click
//! through a case themselves instead of writing a plan.
//!
//! - `GET /login`: pick the SP, a user, attributes, a flavour, a signing layout and a defect
//!   (each one a fragment of the plan vocabulary, see [`DEFECTS`]). Fields can be prefilled
//!   from the query string, so a case can be shared as a link.
//! - `POST /login`: builds the response and shows it decoded and pretty-printed, with the plan
//!   it came from, before anything is sent; **Sign in** posts it to the SP's ACS.
//!
//! When the IdP runs with the login page on (`--login-page`), an AuthnRequest that arrives
//! without a plan (no `plan` parameter, no bound plan) is kept and the browser is sent to
//! `/login?request=ID`: the response then answers that request (InResponseTo, its ACS URL and
//! RelayState), so an SP-initiated login can be driven by hand too.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::authn_request::AuthnRequestInfo;
use crate::exchange::{Exchange, ExchangeKind};
use crate::flavour::Flavour;
use crate::idp::Idp;
use crate::plan::{Plan, ResponseBinding};
use crate::xml::escape_attr;

/// Most AuthnRequests kept for the login page; the oldest go first.
const MAX_PENDING: usize = 256;

/// An AuthnRequest waiting for a person to answer it on the login page.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    /// The request.
    pub request: AuthnRequestInfo,
    /// The ACS URL the response goes to.
    pub acs_url: String,
    /// The RelayState that came with the request.
    pub relay_state: Option<String>,
}

/// Pending logins by id.
#[derive(Debug, Default)]
pub(crate) struct PendingLogins {
    entries: HashMap<String, PendingLogin>,
    order: VecDeque<String>,
}

impl PendingLogins {
    pub(crate) fn insert(&mut self, login: PendingLogin) -> String {
        let id = format!("r{}", &crate::xml::new_id()[1..17]);
        if self.order.len() >= MAX_PENDING
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        self.order.push_back(id.clone());
        self.entries.insert(id.clone(), login);
        id
    }

    pub(crate) fn get(&self, id: &str) -> Option<&PendingLogin> {
        self.entries.get(id)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

/// A defect a person can pick: a label and the plan fragment it adds. `{forged}` stands for
/// the forged identity field, `{local}` for the part of the user's email before the `@`.
#[derive(Debug, Clone, Copy)]
pub struct Defect {
    /// Its value in the form.
    pub id: &'static str,
    /// What a person reads.
    pub label: &'static str,
    /// The plan fragment (JSON), merged over the person's other choices.
    pub plan: &'static str,
}

/// Every defect on the page, grouped as the catalogue's families are.
pub const DEFECTS: &[Defect] = &[
    Defect {
        id: "none",
        label: "none: a valid response",
        plan: "{}",
    },
    Defect {
        id: "destination",
        label: "addressing: Destination of another SP",
        plan: r#"{"alter":[{"kind":"destination","value":"https://other-sp.test/saml/acs"}]}"#,
    },
    Defect {
        id: "recipient",
        label: "addressing: Recipient of another SP",
        plan: r#"{"alter":[{"kind":"recipient","value":"https://other-sp.test/saml/acs"}]}"#,
    },
    Defect {
        id: "audience",
        label: "addressing: Audience of another SP",
        plan: r#"{"alter":[{"kind":"audience","value":"https://other-sp.test/saml/metadata"}]}"#,
    },
    Defect {
        id: "issuer",
        label: "addressing: Issuer of another IdP",
        plan: r#"{"alter":[{"kind":"issuer","value":"https://other-idp.test/metadata","scope":"both"}]}"#,
    },
    Defect {
        id: "in-response-to",
        label: "session binding: InResponseTo of another request",
        plan: r#"{"alter":[{"kind":"in-response-to","value":"_another-request","scope":"both"}]}"#,
    },
    Defect {
        id: "expired",
        label: "freshness: expired 10 minutes ago (Conditions NotOnOrAfter)",
        plan: r#"{"alter":[{"kind":"time","field":"not-on-or-after","offset_seconds":-600}]}"#,
    },
    Defect {
        id: "not-yet-valid",
        label: "freshness: valid only in 10 minutes (Conditions NotBefore)",
        plan: r#"{"alter":[{"kind":"time","field":"not-before","offset_seconds":600}]}"#,
    },
    Defect {
        id: "confirmation-expired",
        label: "freshness: bearer confirmation expired",
        plan: r#"{"alter":[{"kind":"time","field":"subject-confirmation-not-on-or-after","offset_seconds":-60}]}"#,
    },
    Defect {
        id: "no-authn-statement",
        label: "structure: no AuthnStatement",
        plan: r#"{"alter":[{"kind":"omit","element":"authn-statement"}]}"#,
    },
    Defect {
        id: "status-responder",
        label: "status: Responder (the IdP failed)",
        plan: r#"{"alter":[{"kind":"status","code":"Responder"}]}"#,
    },
    Defect {
        id: "name-id-format",
        label: "identity: NameID format unspecified",
        plan: r#"{"alter":[{"kind":"name-id-format","value":"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"}]}"#,
    },
    Defect {
        id: "unsigned",
        label: "signature: not signed at all",
        plan: r#"{"signing":{"layout":"none"}}"#,
    },
    Defect {
        id: "signatures-removed",
        label: "signature: signatures removed after signing",
        plan: r#"{"tamper":[{"kind":"remove-signature","which":"all"}]}"#,
    },
    Defect {
        id: "name-id-edited",
        label: "signature: NameID changed to the forged identity after signing",
        plan: r#"{"tamper":[{"kind":"edit-name-id","value":"{forged}"}]}"#,
    },
    Defect {
        id: "attacker-key",
        label: "signature: signed by an attacker's self-signed key",
        plan: r#"{"signing":{"key":"attacker-self-signed"}}"#,
    },
    Defect {
        id: "rsa-sha1",
        label: "signature: rsa-sha1 with a SHA-1 digest",
        plan: r#"{"signing":{"algorithm":"rsa-sha1","digest":"sha1"}}"#,
    },
    Defect {
        id: "xsw1",
        label: "wrapping: XSW1, the forged identity around the signed response",
        plan: r#"{"signing":{"layout":"response"},"tamper":[{"kind":"xsw","variant":1,"name_id":"{forged}"}]}"#,
    },
    Defect {
        id: "xsw3",
        label: "wrapping: XSW3, a forged assertion before the signed one",
        plan: r#"{"signing":{"layout":"assertion"},"tamper":[{"kind":"xsw","variant":3,"name_id":"{forged}"}]}"#,
    },
    Defect {
        id: "comment-in-name-id",
        label: "truncation: a comment inside the NameID",
        plan: r#"{"tamper":[{"kind":"comment-in-name-id","after":"{local}"}]}"#,
    },
    Defect {
        id: "doctype",
        label: "xml: a DOCTYPE with an internal entity",
        plan: r#"{"tamper":[{"kind":"doctype","entity":"internal"}]}"#,
    },
    Defect {
        id: "binding-redirect",
        label: "binding: the response over HTTP-Redirect (wrong for SSO)",
        plan: r#"{"binding":"redirect"}"#,
    },
];

/// Signing layouts on the page (`default`: the flavour's own).
const LAYOUTS: &[&str] = &["default", "both", "response", "assertion", "none"];

/// The routes: `GET /login`, `POST /login`.
pub(crate) fn router() -> Router<Arc<Idp>> {
    Router::new().route("/login", get(form_page).post(preview_page))
}

/// What the form carries.
#[derive(Debug, Clone, Default)]
struct Choices {
    sp: String,
    request: String,
    user: String,
    attributes: String,
    flavour: String,
    layout: String,
    defect: String,
    forged: String,
    relay_state: String,
}

impl Choices {
    fn parse(bytes: &[u8]) -> Self {
        let mut c = Self::default();
        for (k, v) in form_urlencoded::parse(bytes) {
            let slot = match k.as_ref() {
                "sp" => &mut c.sp,
                "request" => &mut c.request,
                "user" => &mut c.user,
                "attributes" => &mut c.attributes,
                "flavour" => &mut c.flavour,
                "layout" => &mut c.layout,
                "defect" => &mut c.defect,
                "forged" => &mut c.forged,
                "relay_state" => &mut c.relay_state,
                _ => continue,
            };
            *slot = v.into_owned();
        }
        c
    }

    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("sp", &self.sp),
                ("request", &self.request),
                ("user", &self.user),
                ("attributes", &self.attributes),
                ("flavour", &self.flavour),
                ("layout", &self.layout),
                ("defect", &self.defect),
                ("forged", &self.forged),
                ("relay_state", &self.relay_state),
            ])
            .finish()
    }
}

/// Parses `name = value` lines (repeat a name for several values).
fn parse_attributes(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("attribute line {} has no `=`: {line}", n + 1))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("attribute line {} has no name", n + 1));
        }
        out.entry(name.to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    Ok(out)
}

/// Merges `patch` into `base`: objects key by key, everything else replaced.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// The plan the choices describe.
fn plan_of(c: &Choices) -> Result<Plan, String> {
    let mut plan = json!({ "user": c.user.trim() });
    if !c.flavour.is_empty() {
        plan["flavour"] = Value::String(c.flavour.clone());
    }
    if !c.layout.is_empty() && c.layout != "default" {
        plan["signing"] = json!({ "layout": c.layout });
    }
    let attributes = parse_attributes(&c.attributes)?;
    if !attributes.is_empty() {
        plan["attributes"] = json!(attributes);
    }
    let defect = DEFECTS
        .iter()
        .find(|d| d.id == c.defect)
        .unwrap_or(&DEFECTS[0]);
    let local = c.user.split('@').next().unwrap_or_default();
    let forged = if c.forged.trim().is_empty() {
        "mallory@evil.test"
    } else {
        c.forged.trim()
    };
    let fragment = defect
        .plan
        .replace("{forged}", &json_text(forged))
        .replace("{local}", &json_text(local));
    let fragment: Value = serde_json::from_str(&fragment)
        .map_err(|e| format!("defect {}: bad plan fragment: {e}", defect.id))?;
    merge(&mut plan, fragment);
    serde_json::from_value(plan).map_err(|e| format!("failed to read the plan: {e}"))
}

/// `text` as the inside of a JSON string.
fn json_text(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn esc(text: &str) -> String {
    escape_attr(text)
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>{title}</title><style>{css}</style></head><body>",
            "<header><b>Mock IdP</b> <span>for testing only: it signs whatever you ask</span></header>",
            "<main>{body}</main></body></html>"
        ),
        title = esc(title),
        css = CSS,
        body = body
    ))
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Mock IdP: error",
            &format!(
                "<h1>Something is off</h1><p class=\"error\" id=\"error\">{}</p><p><a href=\"/login\">Back to the login page</a></p>",
                esc(message)
            ),
        ),
    )
        .into_response()
}

/// The AuthnRequest the choices answer, if any; why not when it is unknown.
fn pending_of(idp: &Idp, c: &Choices) -> Result<Option<PendingLogin>, String> {
    if c.request.is_empty() {
        return Ok(None);
    }
    idp.pending_login(&c.request).map(Some).ok_or_else(|| {
        format!(
            "unknown or expired sign-in request {}: start again from the SP",
            c.request
        )
    })
}

async fn form_page(State(idp): State<Arc<Idp>>, RawQuery(query): RawQuery) -> Response {
    let mut c = Choices::parse(query.unwrap_or_default().as_bytes());
    if c.user.is_empty() {
        c.user.clone_from(&idp.settings().default_user);
    }
    let pending = match pending_of(&idp, &c) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::NOT_FOUND, &e),
    };
    let sps = idp.sps();
    let mut body = String::from("<h1>Sign in</h1>");
    match &pending {
        Some(p) => {
            let _ = write!(
                body,
                "<p class=\"context\" id=\"context\">Answering an AuthnRequest from <b>{}</b> (ID <code>{}</code>); the response goes to <code>{}</code>.</p>",
                esc(&p.request.issuer),
                esc(&p.request.id),
                esc(&p.acs_url)
            );
        }
        None if sps.is_empty() => {
            body.push_str("<p class=\"error\" id=\"error\">No SP is registered: start the IdP with --sp-metadata or --sp, or POST /_control/sps.</p>");
        }
        None => body.push_str(
            "<p class=\"context\">An IdP-initiated login: pick the SP, then who signs in and what is wrong with the response.</p>",
        ),
    }
    body.push_str("<form method=\"post\" action=\"/login\" id=\"login\">");
    let _ = write!(
        body,
        "<input type=\"hidden\" name=\"request\" value=\"{}\">",
        esc(&c.request)
    );
    if pending.is_none() {
        body.push_str("<label>Service provider <select name=\"sp\" id=\"sp\">");
        for sp in &sps {
            let selected = if sp.entity_id == c.sp {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                body,
                "<option value=\"{id}\"{selected}>{id}</option>",
                id = esc(&sp.entity_id)
            );
        }
        body.push_str("</select></label>");
    }
    let _ = write!(
        body,
        concat!(
            "<label>User (email, the NameID) <input name=\"user\" id=\"user\" value=\"{user}\" required></label>",
            "<label>Attributes <small>one <code>name = value</code> per line, added to the flavour's own</small>",
            "<textarea name=\"attributes\" id=\"attributes\" rows=\"3\" placeholder=\"department = sales\">{attributes}</textarea></label>"
        ),
        user = esc(&c.user),
        attributes = esc(&c.attributes)
    );
    body.push_str("<div class=\"row\"><label>Flavour <select name=\"flavour\" id=\"flavour\">");
    for f in Flavour::ALL {
        let name = serde_json::to_value(f)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let selected = if name == c.flavour { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{n}\"{selected}>{n}</option>",
            n = esc(&name)
        );
    }
    body.push_str("</select></label><label>Signed <select name=\"layout\" id=\"layout\">");
    for l in LAYOUTS {
        let selected = if *l == c.layout { " selected" } else { "" };
        let label = if *l == "default" {
            "as the flavour does"
        } else {
            l
        };
        let _ = write!(body, "<option value=\"{l}\"{selected}>{label}</option>");
    }
    body.push_str("</select></label></div><label>Defect <select name=\"defect\" id=\"defect\">");
    for d in DEFECTS {
        let selected = if d.id == c.defect { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{}\"{selected}>{}</option>",
            d.id,
            esc(d.label)
        );
    }
    let _ = write!(
        body,
        concat!(
            "</select></label>",
            "<div class=\"row\"><label>Forged identity <small>for the defects that forge one</small> <input name=\"forged\" id=\"forged\" value=\"{forged}\" placeholder=\"mallory@evil.test\"></label>",
            "<label>RelayState <input name=\"relay_state\" id=\"relay_state\" value=\"{relay}\"></label></div>",
            "<button type=\"submit\" id=\"preview\">Show the response</button></form>"
        ),
        forged = esc(&c.forged),
        relay = esc(if c.relay_state.is_empty() {
            pending
                .as_ref()
                .and_then(|p| p.relay_state.as_deref())
                .unwrap_or_default()
        } else {
            &c.relay_state
        }),
    );
    page("Mock IdP: sign in", &body).into_response()
}

async fn preview_page(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let c = Choices::parse(&body);
    let plan = match plan_of(&c) {
        Ok(plan) => plan,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let pending = match pending_of(&idp, &c) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::NOT_FOUND, &e),
    };
    let entity_id = pending
        .as_ref()
        .map_or(c.sp.clone(), |p| p.request.issuer.clone());
    let Some(sp) = idp.find_sp(&entity_id).await else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("unknown SP {entity_id}: register it first"),
        );
    };
    let acs_url = match &pending {
        Some(p) => p.acs_url.clone(),
        None => match sp.default_acs() {
            Some(a) => a.to_owned(),
            None => return error_page(StatusCode::BAD_REQUEST, "the SP has no ACS"),
        },
    };
    let relay_state = (!c.relay_state.is_empty()).then(|| c.relay_state.clone());
    let worker = Arc::clone(&idp);
    let request = pending.as_ref().map(|p| p.request.clone());
    let (plan_for_build, sp_for_build, acs_for_build) = (plan.clone(), sp.clone(), acs_url.clone());
    let built = tokio::task::spawn_blocking(move || {
        worker.respond(
            &plan_for_build,
            &sp_for_build,
            &acs_for_build,
            request.as_ref(),
        )
    })
    .await;
    let built = match built {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("failed to build the response: {e}"),
            );
        }
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("mock IdP bug: the response task failed: {e}"),
            );
        }
    };
    if let Some(session) = built.session.clone() {
        idp.with_logout_state("", |state| state.session = Some(session));
    }
    idp.record(Exchange {
        seq: 0,
        at: idp.now_text(),
        kind: ExchangeKind::LoginPage,
        plan_id: None,
        sp_entity_id: Some(sp.entity_id.clone()),
        request_xml: None,
        request_id: pending.as_ref().map(|p| p.request.id.clone()),
        relay_state: relay_state.clone(),
        acs_url: Some(acs_url.clone()),
        response_xml: Some(built.xml.clone()),
        layout: Some(built.layout),
        binding: Some(plan.binding),
        valid: Some(built.valid),
        self_checked: built.self_checked,
        status: 200,
        error: None,
        problems: Vec::new(),
        truncated: Vec::new(),
        answered: None,
    });
    let defect = DEFECTS
        .iter()
        .find(|d| d.id == c.defect)
        .unwrap_or(&DEFECTS[0]);
    let mut out = String::from("<h1>The response, before it is sent</h1>");
    let verdict = if built.valid {
        "<p class=\"ok\" id=\"verdict\">A valid response: nothing altered or tampered with, signed with the IdP's published key. An SP that trusts this IdP and accepts this flavour signs the user in.</p>"
            .to_owned()
    } else {
        format!(
            "<p class=\"bad\" id=\"verdict\">Deliberately broken ({}): a correct SP refuses it.</p>",
            esc(defect.label)
        )
    };
    out.push_str(&verdict);
    let _ = write!(
        out,
        concat!(
            "<table class=\"facts\"><tr><th>SP</th><td>{sp}</td></tr><tr><th>ACS</th><td><code>{acs}</code></td></tr>",
            "<tr><th>user</th><td>{user}</td></tr><tr><th>signed</th><td>{layout}{checked}</td></tr>",
            "<tr><th>binding</th><td>{binding}</td></tr>{in_response}</table>"
        ),
        sp = esc(&sp.entity_id),
        acs = esc(&acs_url),
        user = esc(plan.user.as_deref().unwrap_or_default()),
        layout = esc(&format!("{:?}", built.layout).to_lowercase()),
        checked = if built.self_checked {
            ", checked with xmlsec before sending"
        } else {
            ""
        },
        binding = esc(&format!("{:?}", plan.binding)),
        in_response = pending
            .as_ref()
            .map(|p| format!(
                "<tr><th>InResponseTo</th><td><code>{}</code></td></tr>",
                esc(&p.request.id)
            ))
            .unwrap_or_default(),
    );
    let value = crate::response::encode::response_value(&built.xml, plan.binding);
    match plan.binding {
        ResponseBinding::Redirect => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("SAMLResponse", &value);
            if let Some(rs) = &relay_state {
                query.append_pair("RelayState", rs);
            }
            let sep = if acs_url.contains('?') { '&' } else { '?' };
            let _ = write!(
                out,
                "<p><a class=\"button\" id=\"sign-in\" href=\"{}{sep}{}\">Sign in to the SP</a></p>",
                esc(&acs_url),
                esc(&query.finish())
            );
        }
        _ => {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"{}\" id=\"sign-in-form\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\">",
                esc(&acs_url),
                esc(&value)
            );
            if let Some(rs) = &relay_state {
                let _ = write!(
                    out,
                    "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
                    esc(rs)
                );
            }
            out.push_str(
                "<button type=\"submit\" id=\"sign-in\">Sign in to the SP</button></form>",
            );
        }
    }
    let _ = write!(
        out,
        "<p><a href=\"/login?{}\" id=\"change\">Change something</a></p>",
        esc(&c.query())
    );
    let _ = write!(
        out,
        "<h2>Response (decoded)</h2><pre id=\"response-xml\">{}</pre>",
        esc(&crate::xml::pretty(&built.xml))
    );
    let plan_json = serde_json::to_string_pretty(&plan).unwrap_or_default();
    let _ = write!(
        out,
        "<details><summary>The plan (what the harness would send to /_control/plans)</summary><pre id=\"plan\">{}</pre></details>",
        esc(&plan_json)
    );
    let _ = write!(
        out,
        "<details><summary>SAMLResponse as sent (base64)</summary><pre class=\"b64\">{}</pre></details>",
        esc(&value)
    );
    page("Mock IdP: the response", &out).into_response()
}

/// `/sso` with the login page on and no plan: keep the request, send the person to the page.
pub(crate) fn defer_to_page(idp: &Idp, login: PendingLogin) -> Response {
    let id = idp.keep_pending_login(login);
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, format!("/login?request={id}"))],
    )
        .into_response()
}

const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 24px}header span{color:#afb8c1;margin-left:8px;font-size:13px}
main{max-width:980px;margin:24px auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:20px 28px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:20px 0 6px}
form label{display:block;margin:10px 0;font-weight:600}form small{font-weight:400;color:#656d76;margin-left:6px}
input,select,textarea{display:block;width:100%;margin-top:4px;font:inherit;padding:6px 8px;border:1px solid #d0d7de;border-radius:6px}
.row{display:grid;grid-template-columns:1fr 1fr;gap:16px}
button,.button{display:inline-block;margin-top:12px;padding:8px 18px;font:inherit;font-weight:600;color:#fff;background:#1f883d;border:0;border-radius:6px;cursor:pointer;text-decoration:none}
.context{color:#656d76}.error{color:#cf222e;font-weight:600}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
table.facts{border-collapse:collapse;margin:8px 0}table.facts th{text-align:left;color:#656d76;font-weight:500;padding:2px 16px 2px 0}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow:auto;font:12px/1.45 ui-monospace,Menlo,monospace;white-space:pre-wrap;word-break:break-all;max-height:560px}
details{margin:10px 0}summary{cursor:pointer;font-weight:600}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(defect: &str) -> Choices {
        Choices {
            user: "alice@corp.example".to_owned(),
            defect: defect.to_owned(),
            forged: "admin@corp.example".to_owned(),
            flavour: "generic".to_owned(),
            layout: "default".to_owned(),
            ..Choices::default()
        }
    }

    #[test]
    fn every_defect_is_a_valid_plan_fragment() {
        for d in DEFECTS {
            let plan = plan_of(&choices(d.id)).unwrap_or_else(|e| panic!("{}: {e}", d.id));
            assert_eq!(plan.user.as_deref(), Some("alice@corp.example"), "{}", d.id);
            let text = serde_json::to_string(&plan).expect("serializes");
            assert!(
                !text.contains("{forged}") && !text.contains("{local}"),
                "{text}"
            );
        }
        let forged = plan_of(&choices("name-id-edited")).expect("plan");
        assert!(
            serde_json::to_string(&forged)
                .expect("json")
                .contains("admin@corp.example")
        );
        let split = plan_of(&choices("comment-in-name-id")).expect("plan");
        assert!(
            serde_json::to_string(&split)
                .expect("json")
                .contains("\"after\":\"alice\"")
        );
    }

    #[test]
    fn attributes_are_name_value_lines() {
        let parsed = parse_attributes("department = sales\n# note\n\ngroups=a\ngroups = b\n")
            .expect("parses");
        assert_eq!(parsed["department"], vec!["sales"]);
        assert_eq!(parsed["groups"], vec!["a", "b"]);
        assert!(parse_attributes("no equals sign").is_err());
        let mut c = choices("none");
        c.attributes = "department = sales".to_owned();
        c.layout = "assertion".to_owned();
        c.flavour = "entra".to_owned();
        let plan = plan_of(&c).expect("plan");
        assert_eq!(plan.attributes["department"], vec!["sales"]);
        assert_eq!(plan.flavour, Flavour::Entra);
    }

    #[test]
    fn a_defect_overrides_the_chosen_layout_where_it_must() {
        let mut c = choices("xsw1");
        c.layout = "assertion".to_owned();
        let plan = serde_json::to_value(plan_of(&c).expect("plan")).expect("json");
        assert_eq!(plan["signing"]["layout"], "response");
    }

    #[test]
    fn choices_survive_a_round_trip_through_the_query() {
        let mut c = choices("expired");
        c.attributes = "a = b&c".to_owned();
        let back = Choices::parse(c.query().as_bytes());
        assert_eq!(back.attributes, "a = b&c");
        assert_eq!(back.defect, "expired");
    }
}
