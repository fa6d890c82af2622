//! Plans bound to user agents, and the log of recent exchanges.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::logout::IssuedSession;
use crate::plan::{Plan, ResponseBinding, SigningLayout};

/// Most plans kept; the oldest go first.
const MAX_PLANS: usize = 10_000;
/// Most bytes of plans kept (as JSON); the oldest go first.
const MAX_PLAN_STORE_BYTES: usize = 16 << 20;
/// Most exchanges kept in the log.
const MAX_LOG: usize = 512;
/// Most bytes the log keeps, all exchanges together; the oldest go first.
pub const MAX_LOG_BYTES: usize = 8 << 20;
/// Most bytes of an exchange's request or response XML the log keeps (a padded response can
/// weigh 64 MiB): longer ones are cut, with a note in [`Exchange::truncated`].
pub const MAX_LOGGED_XML_BYTES: usize = 256 << 10;
/// Most bytes of the exchange's other text fields (RelayState, the error, ...) the log keeps.
pub const MAX_LOGGED_TEXT_BYTES: usize = 8 << 10;

/// The identifier of a stored plan.
pub type PlanId = String;

/// Plans by id, oldest evicted first, with the Single Logout state of each.
#[derive(Debug, Default)]
pub(crate) struct PlanStore {
    plans: HashMap<PlanId, (Plan, usize)>,
    order: VecDeque<PlanId>,
    bytes: usize,
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
        let size = serde_json::to_vec(&plan).map_or(0, |json| json.len()) + id.len();
        while (self.order.len() >= MAX_PLANS || self.bytes + size > MAX_PLAN_STORE_BYTES)
            && let Some(old) = self.order.pop_front()
        {
            if let Some((_, freed)) = self.plans.remove(&old) {
                self.bytes -= freed;
            }
            self.logout.remove(&old);
        }
        self.order.push_back(id.clone());
        self.plans.insert(id.clone(), (plan, size));
        self.bytes += size;
        id
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id).map(|(plan, _)| plan)
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
        self.bytes = 0;
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
    /// Fields the log cut short, each with its full size (`response_xml: 67108910 bytes, the
    /// first 262144 kept`); the response itself went out whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
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

impl Exchange {
    /// Cuts every field to what the log keeps, noting what was cut.
    fn bound(&mut self) {
        let mut notes = Vec::new();
        let mut cut = |name: &str, field: &mut Option<String>, limit: usize| {
            if let Some(text) = field
                && text.len() > limit
            {
                let mut end = limit;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                notes.push(format!(
                    "{name}: {} bytes, the first {end} kept",
                    text.len()
                ));
                text.truncate(end);
            }
        };
        cut("request_xml", &mut self.request_xml, MAX_LOGGED_XML_BYTES);
        cut("response_xml", &mut self.response_xml, MAX_LOGGED_XML_BYTES);
        cut("relay_state", &mut self.relay_state, MAX_LOGGED_TEXT_BYTES);
        cut("error", &mut self.error, MAX_LOGGED_TEXT_BYTES);
        cut(
            "sp_entity_id",
            &mut self.sp_entity_id,
            MAX_LOGGED_TEXT_BYTES,
        );
        cut("request_id", &mut self.request_id, MAX_LOGGED_TEXT_BYTES);
        cut("acs_url", &mut self.acs_url, MAX_LOGGED_TEXT_BYTES);
        self.problems.truncate(64);
        for problem in &mut self.problems {
            let mut one = Some(std::mem::take(problem));
            cut("a problem", &mut one, MAX_LOGGED_TEXT_BYTES);
            *problem = one.unwrap_or_default();
        }
        self.truncated.extend(notes);
    }

    /// About how many bytes it holds.
    fn weight(&self) -> usize {
        let text = |f: &Option<String>| f.as_ref().map_or(0, String::len);
        256 + self.at.len()
            + text(&self.plan_id)
            + text(&self.sp_entity_id)
            + text(&self.request_xml)
            + text(&self.request_id)
            + text(&self.relay_state)
            + text(&self.acs_url)
            + text(&self.response_xml)
            + text(&self.error)
            + self.problems.iter().map(String::len).sum::<usize>()
            + self.truncated.iter().map(String::len).sum::<usize>()
    }
}

/// The most recent exchanges: at most [`MAX_LOG`] of them and [`MAX_LOG_BYTES`] together,
/// each cut to [`MAX_LOGGED_XML_BYTES`] of XML.
#[derive(Debug, Default)]
pub(crate) struct ExchangeLog {
    next_seq: u64,
    entries: VecDeque<(Exchange, usize)>,
    bytes: usize,
}

impl ExchangeLog {
    pub(crate) fn push(&mut self, mut exchange: Exchange) {
        self.next_seq += 1;
        exchange.seq = self.next_seq;
        exchange.bound();
        let weight = exchange.weight();
        while (self.entries.len() >= MAX_LOG || self.bytes + weight > MAX_LOG_BYTES)
            && let Some((_, freed)) = self.entries.pop_front()
        {
            self.bytes -= freed;
        }
        self.entries.push_back((exchange, weight));
        self.bytes += weight;
    }

    /// How many bytes the log holds, about.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn recent(&self, plan: Option<&str>, limit: usize) -> Vec<Exchange> {
        let matching: Vec<&Exchange> = self
            .entries
            .iter()
            .map(|(e, _)| e)
            .filter(|e| plan.is_none_or(|p| e.plan_id.as_deref() == Some(p)))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        matching.into_iter().skip(skip).cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(request_bytes: usize, response_bytes: usize) -> Exchange {
        Exchange {
            seq: 0,
            at: "2026-01-01T00:00:00Z".to_owned(),
            kind: ExchangeKind::SsoRedirect,
            plan_id: None,
            sp_entity_id: Some("https://sp.test".to_owned()),
            request_xml: Some("r".repeat(request_bytes)),
            request_id: Some("_1".to_owned()),
            relay_state: Some("x".repeat(request_bytes)),
            acs_url: None,
            response_xml: Some("a".repeat(response_bytes)),
            layout: None,
            binding: None,
            valid: Some(true),
            self_checked: false,
            status: 200,
            error: None,
            problems: Vec::new(),
            truncated: Vec::new(),
            answered: None,
        }
    }

    #[test]
    fn the_log_is_bounded_in_bytes_whatever_the_exchanges_weigh() {
        // (exchanges, request and RelayState bytes, response bytes)
        for (count, request, response) in [
            (600, 1_600, 12_000),
            (600, 40_000, 100_000),
            (40, 10, 4 << 20),
            (3, MAX_LOGGED_TEXT_BYTES * 4, 64 << 20),
        ] {
            let mut log = ExchangeLog::default();
            for _ in 0..count {
                log.push(exchange(request, response));
            }
            assert!(
                log.bytes() <= MAX_LOG_BYTES,
                "{count} x ({request}, {response}): {} bytes kept",
                log.bytes()
            );
            let kept = log.recent(None, MAX_LOG);
            let held: usize = kept
                .iter()
                .map(|e| e.response_xml.as_ref().map_or(0, String::len))
                .sum();
            assert!(held <= MAX_LOG_BYTES, "{held} bytes of responses held");
            let last = kept.last().expect("the newest is kept");
            assert_eq!(last.seq, count as u64);
            if response > MAX_LOGGED_XML_BYTES {
                assert!(
                    last.truncated
                        .iter()
                        .any(|n| n.starts_with(&format!("response_xml: {response} bytes"))),
                    "{:?}",
                    last.truncated
                );
            }
        }
    }

    #[test]
    fn plans_are_bounded_in_bytes_too() {
        let mut store = PlanStore::default();
        let mut last = String::new();
        for _ in 0..200 {
            let plan = Plan {
                user: Some("u".repeat(200 << 10)),
                ..Plan::default()
            };
            last = store.insert(plan);
        }
        assert!(store.bytes <= MAX_PLAN_STORE_BYTES, "{} bytes", store.bytes);
        assert!(store.get(&last).is_some(), "the newest plan is kept");
        assert!(store.plans.len() < 200);
    }
}
