//! Plans bound to user agents, and the log of recent exchanges.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::logout::IssuedSession;
use crate::plan::{Plan, ResponseBinding, SigningLayout};

/// Most plans kept; the oldest go first.
const MAX_PLANS: usize = 10_000;
/// Most exchanges kept in the log.
const MAX_LOG: usize = 512;

/// The identifier of a stored plan.
pub type PlanId = String;

/// Plans by id, oldest evicted first, with the Single Logout state of each.
#[derive(Debug, Default)]
pub(crate) struct PlanStore {
    plans: HashMap<PlanId, Plan>,
    order: VecDeque<PlanId>,
    logout: HashMap<PlanId, LogoutState>,
}

/// What Single Logout needs to remember about one plan's user agent.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogoutState {
    /// The session the last login issued (ended by a logout).
    pub(crate) session: Option<IssuedSession>,
    /// The ID of the LogoutRequest the IdP sent, awaiting the SP's LogoutResponse.
    pub(crate) sent_request: Option<String>,
    /// The ID of the unsigned LogoutRequest smuggled after it, if any.
    pub(crate) smuggled_request: Option<String>,
}

impl PlanStore {
    pub(crate) fn insert(&mut self, plan: Plan) -> PlanId {
        let id = format!("p{}", &crate::xml::new_id()[1..17]);
        if self.order.len() >= MAX_PLANS
            && let Some(old) = self.order.pop_front()
        {
            self.plans.remove(&old);
            self.logout.remove(&old);
        }
        self.order.push_back(id.clone());
        self.plans.insert(id.clone(), plan);
        id
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id)
    }

    /// The logout state of a plan (`""`: requests without a plan).
    pub(crate) fn logout(&mut self, id: &str) -> &mut LogoutState {
        if !self.logout.contains_key(id) && self.logout.len() >= MAX_PLANS {
            self.logout.clear();
        }
        self.logout.entry(id.to_owned()).or_default()
    }

    pub(crate) fn clear(&mut self) {
        self.plans.clear();
        self.order.clear();
        self.logout.clear();
    }
}

/// What kind of exchange the IdP handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeKind {
    /// An AuthnRequest over HTTP-Redirect.
    SsoRedirect,
    /// An AuthnRequest over HTTP-POST.
    SsoPost,
    /// An unsolicited response.
    IdpInitiated,
    /// A response a person built on the login page.
    LoginPage,
    /// The IdP started a logout: its LogoutRequest to the SP.
    LogoutStart,
    /// A LogoutRequest from the SP, and the IdP's LogoutResponse.
    LogoutRequest,
    /// The SP's LogoutResponse to the IdP's LogoutRequest.
    LogoutResponse,
}

/// One request the IdP answered (or refused), with the raw XML in and out.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Increasing sequence number.
    pub seq: u64,
    /// When it happened (RFC 3339).
    pub at: String,
    /// The kind.
    pub kind: ExchangeKind,
    /// The plan used, when one was bound (`None`: the default plan).
    pub plan_id: Option<PlanId>,
    /// The SP, when known.
    pub sp_entity_id: Option<String>,
    /// The decoded AuthnRequest.
    pub request_xml: Option<String>,
    /// The AuthnRequest's ID.
    pub request_id: Option<String>,
    /// The RelayState received.
    pub relay_state: Option<String>,
    /// Where the response went.
    pub acs_url: Option<String>,
    /// The response sent.
    pub response_xml: Option<String>,
    /// How it was signed.
    pub layout: Option<SigningLayout>,
    /// How it travelled.
    pub binding: Option<ResponseBinding>,
    /// Whether the plan called it valid.
    pub valid: Option<bool>,
    /// Whether the self-check verified it.
    pub self_checked: bool,
    /// The HTTP status the IdP answered with.
    pub status: u16,
    /// Why the IdP refused, if it did.
    pub error: Option<String>,
    /// What is wrong with the SP's logout message (empty: nothing, or not a logout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Which of the IdP's LogoutRequests the SP's LogoutResponse answers, when the IdP sent
    /// two (the `smuggled-request` tamper): the evidence of which one the SP acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<LogoutAnswered>,
}

/// Which of two LogoutRequests in one query (a signed one, then a smuggled unsigned one) an
/// SP's LogoutResponse answers, by its `InResponseTo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogoutAnswered {
    /// The signed LogoutRequest (the first `SAMLRequest`).
    SignedRequest,
    /// The unsigned LogoutRequest appended after the signature (the second `SAMLRequest`).
    SmuggledRequest,
}

/// The most recent exchanges.
#[derive(Debug, Default)]
pub(crate) struct ExchangeLog {
    next_seq: u64,
    entries: VecDeque<Exchange>,
}

impl ExchangeLog {
    pub(crate) fn push(&mut self, mut exchange: Exchange) {
        self.next_seq += 1;
        exchange.seq = self.next_seq;
        if self.entries.len() >= MAX_LOG {
            self.entries.pop_front();
        }
        self.entries.push_back(exchange);
    }

    pub(crate) fn recent(&self, plan: Option<&str>, limit: usize) -> Vec<Exchange> {
        let matching: Vec<&Exchange> = self
            .entries
            .iter()
            .filter(|e| plan.is_none_or(|p| e.plan_id.as_deref() == Some(p)))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        matching.into_iter().skip(skip).cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
