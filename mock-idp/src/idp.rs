//! The IdP's state and its answers, independent of HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::authn_request::AuthnRequestInfo;
use crate::clock::{Clock, saml_instant};
use crate::exchange::{Exchange, ExchangeLog, PlanId, PlanStore};
use crate::keys::KeyStore;
use crate::login_page::{PendingLogin, PendingLogins};
use crate::plan::Plan;
use crate::registry::{MetadataError, SpEntry, SpRegistry, SpSource};
use crate::response::{self, BuiltResponse, PipelineError, ResponseContext};

/// Identity settings of an IdP.
#[derive(Debug, Clone)]
pub struct IdpSettings {
    /// The entityID (the Issuer of every response).
    pub entity_id: String,
    /// The URL the IdP is reached at (metadata endpoints are built from it).
    pub base_url: String,
    /// The user of plans that name none.
    pub default_user: String,
}

/// A mock IdP: keys, known SPs, plans and the exchange log.
#[derive(Debug)]
pub struct Idp {
    settings: IdpSettings,
    keys: KeyStore,
    clock: Arc<dyn Clock>,
    registry: RwLock<SpRegistry>,
    plans: Mutex<PlanStore>,
    log: Mutex<ExchangeLog>,
    pending: Mutex<PendingLogins>,
    login_page: AtomicBool,
    /// Held while deferred SP metadata is being retried: concurrent requests for an unknown
    /// SP wait for that one attempt instead of being told the SP is unknown.
    retrying: tokio::sync::Mutex<()>,
    /// How many retry attempts have finished (a caller that waited for one does not repeat it).
    retries: std::sync::atomic::AtomicU64,
    control_token: String,
}

/// What the IdP knows of an SP.
#[derive(Debug, Clone)]
pub enum SpLookup {
    /// Registered.
    Known(Box<SpEntry>),
    /// Not registered, and every SP source given at start is loaded: really unknown.
    Unknown,
    /// Not registered while SP metadata given at start still cannot be read: it may be this
    /// SP's (answer 503 and let the client retry).
    NotYet(String),
}

impl Idp {
    /// A new IdP with no SPs and no plans.
    pub fn new(settings: IdpSettings, keys: KeyStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            keys,
            clock,
            registry: RwLock::default(),
            plans: Mutex::default(),
            log: Mutex::default(),
            pending: Mutex::default(),
            login_page: AtomicBool::new(false),
            retrying: tokio::sync::Mutex::new(()),
            retries: std::sync::atomic::AtomicU64::new(0),
            control_token: crate::random_token(),
        }
    }

    /// The same IdP with this token for the `/_control/...` API (instead of a random one).
    #[must_use]
    pub fn with_control_token(mut self, token: impl Into<String>) -> Self {
        self.control_token = token.into();
        self
    }

    /// The token `/_control/...` requests must carry (`Authorization: Bearer TOKEN`).
    pub fn control_token(&self) -> &str {
        &self.control_token
    }

    /// Whether an AuthnRequest without a plan goes to the login page for people (instead of
    /// being answered at once for the default user).
    pub fn login_page(&self) -> bool {
        self.login_page.load(Ordering::Relaxed)
    }

    /// Turns the login page for plan-less AuthnRequests on or off.
    pub fn set_login_page(&self, on: bool) {
        self.login_page.store(on, Ordering::Relaxed);
    }

    /// A request kept for the login page.
    pub fn pending_login(&self, id: &str) -> Option<PendingLogin> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Keeps a request for the login page; returns its id.
    pub fn keep_pending_login(&self, login: PendingLogin) -> String {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(login)
    }

    /// The identity settings.
    pub fn settings(&self) -> &IdpSettings {
        &self.settings
    }

    /// The keys.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The metadata document.
    pub fn metadata_xml(&self) -> String {
        crate::metadata::render(
            &self.settings.entity_id,
            &self.settings.base_url,
            &self.keys,
        )
    }

    /// Registers SPs from a source (a metadata file is read at most 1 MiB, a URL fetched
    /// within 5 s and 1 MiB).
    pub async fn register(&self, source: SpSource) -> Result<Vec<String>, MetadataError> {
        let entries = source.load().await?;
        let ids = entries.iter().map(|e| e.entity_id.clone()).collect();
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            registry.insert(entry);
        }
        Ok(ids)
    }

    /// Registers an SP given at start: a metadata URL that cannot be fetched yet (the SP may
    /// start after the IdP) is kept and retried, and until it loads, requests for SPs the IdP
    /// does not know are answered 503 ([`SpLookup::NotYet`]); the error is still returned.
    pub async fn register_at_start(&self, source: SpSource) -> Result<Vec<String>, MetadataError> {
        match self.register(source.clone()).await {
            Ok(ids) => Ok(ids),
            Err(e) => {
                if source.is_remote() {
                    self.registry
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .defer(source, e.to_string());
                }
                Err(e)
            }
        }
    }

    /// Adds or replaces one SP.
    pub fn register_entry(&self, entry: SpEntry) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry);
    }

    /// Whether SP metadata given at start is still waiting to be read.
    pub fn has_deferred_sps(&self) -> bool {
        self.read_registry(SpRegistry::has_pending)
    }

    /// Tries the deferred start-up sources once more (one attempt at a time: a caller that
    /// comes while another attempt runs waits for it and does not repeat it).
    pub async fn retry_deferred_sps(&self) {
        if !self.has_deferred_sps() {
            return;
        }
        use std::sync::atomic::Ordering;
        let seen = self.retries.load(Ordering::Acquire);
        let _one_at_a_time = self.retrying.lock().await;
        if self.retries.load(Ordering::Acquire) != seen {
            // An attempt finished while this caller waited: its outcome stands.
            return;
        }
        // The sources stay pending while they are tried, so concurrent lookups keep seeing
        // "not yet" (503), never "unknown" (400).
        for source in self.read_registry(SpRegistry::pending) {
            let outcome = self.register(source.clone()).await;
            let mut registry = self
                .registry
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            match outcome {
                Ok(ids) => {
                    tracing::info!(?ids, "registered SP");
                    registry.loaded(&source);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "SP metadata still unavailable");
                    registry.failed_again(&source, &e.to_string());
                }
            }
        }
        self.retries.fetch_add(1, Ordering::AcqRel);
    }

    /// Finds an SP; when it is unknown while start-up sources are still deferred, retries
    /// them first (concurrent callers share one attempt).
    pub async fn lookup_sp(&self, entity_id: &str) -> SpLookup {
        if let Some(sp) = self.read_registry(|r| r.get(entity_id).cloned()) {
            return SpLookup::Known(Box::new(sp));
        }
        if !self.has_deferred_sps() {
            return SpLookup::Unknown;
        }
        self.retry_deferred_sps().await;
        if let Some(sp) = self.read_registry(|r| r.get(entity_id).cloned()) {
            return SpLookup::Known(Box::new(sp));
        }
        match self.read_registry(SpRegistry::pending_reason) {
            Some(reason) => SpLookup::NotYet(reason),
            None => SpLookup::Unknown,
        }
    }

    /// Finds an SP (see [`Idp::lookup_sp`]).
    pub async fn find_sp(&self, entity_id: &str) -> Option<SpEntry> {
        match self.lookup_sp(entity_id).await {
            SpLookup::Known(sp) => Some(*sp),
            SpLookup::Unknown | SpLookup::NotYet(_) => None,
        }
    }

    /// Every known SP.
    pub fn sps(&self) -> Vec<SpEntry> {
        self.read_registry(|r| r.entries().cloned().collect())
    }

    fn read_registry<T>(&self, f: impl FnOnce(&SpRegistry) -> T) -> T {
        f(&self.registry.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Stores a plan and returns its id.
    pub fn create_plan(&self, plan: Plan) -> PlanId {
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(plan)
    }

    /// A stored plan.
    pub fn plan(&self, id: &str) -> Option<Plan> {
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The session the last login with plan `id` issued (`""`: without a plan).
    pub fn issued_session(&self, id: &str) -> Option<crate::logout::IssuedSession> {
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .logout(id)
            .session
            .clone()
    }

    pub(crate) fn with_logout_state<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut crate::exchange::LogoutState) -> T,
    ) -> T {
        f(self
            .plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .logout(id))
    }

    /// The most recent exchanges, optionally of one plan, oldest first.
    pub fn log(&self, plan: Option<&str>, limit: usize) -> Vec<Exchange> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recent(plan, limit)
    }

    /// About how many bytes the exchange log holds (at most
    /// [`crate::exchange::MAX_LOG_BYTES`]).
    pub fn log_bytes(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes()
    }

    pub(crate) fn record(&self, exchange: Exchange) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(exchange);
    }

    /// Forgets every plan, exchange and pending login (SPs and keys stay).
    pub fn reset(&self) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The current instant, as the log writes it.
    pub(crate) fn now_text(&self) -> String {
        saml_instant(self.clock.now())
    }

    /// Builds the response `plan` describes for `sp` at `acs_url`, answering `request` (or
    /// unsolicited when `None`). Blocking (xmlsec): call it off the async runtime.
    pub fn respond(
        &self,
        plan: &Plan,
        sp: &SpEntry,
        acs_url: &str,
        request: Option<&AuthnRequestInfo>,
    ) -> Result<BuiltResponse, PipelineError> {
        let ctx = ResponseContext {
            now: self.clock.now(),
            idp_entity_id: &self.settings.entity_id,
            sp_entity_id: &sp.entity_id,
            acs_url,
            in_response_to: request.map(|r| r.id.as_str()),
            default_user: &self.settings.default_user,
            sp_encryption_cert: sp.encryption_certs.first().map(Vec::as_slice),
        };
        response::build(&ctx, plan, &self.keys)
    }
}
