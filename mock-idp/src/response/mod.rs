//! The response pipeline: `Plan -> build -> alter -> sign -> tamper -> self-check -> encode`.
//!
//! Each stage hands one value to the next: the flavour builds a [`model::ResponseDoc`],
//! alterations edit it, [`sign`] renders and signs it, tampering edits the signed text, the
//! self-check verifies what the plan promises, and [`encode`] wraps it for the binding.

pub mod alter;
pub mod cosmetic;
pub mod encode;
pub mod encrypt;
pub mod model;
pub mod sign;
pub mod tamper;

use chrono::{DateTime, Utc};

use crate::keys::{KeyError, KeyStore};
use crate::plan::{Plan, SigningLayout};

/// What the pipeline needs to know about the exchange it answers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseContext<'a> {
    /// The instant every time offset is relative to.
    pub now: DateTime<Utc>,
    /// The IdP's entityID (Issuer).
    pub idp_entity_id: &'a str,
    /// The SP's entityID (Audience).
    pub sp_entity_id: &'a str,
    /// Where the response goes (Destination, Recipient).
    pub acs_url: &'a str,
    /// The AuthnRequest's ID; `None` for an unsolicited response.
    pub in_response_to: Option<&'a str>,
    /// The user when the plan names none.
    pub default_user: &'a str,
    /// The SP's encryption certificate (DER) from its metadata, for encrypted assertions.
    pub sp_encryption_cert: Option<&'a [u8]>,
}

#[cfg(test)]
impl<'a> ResponseContext<'a> {
    /// Now, `https://idp.test` to `https://sp.test`'s ACS, answering `_req`, for
    /// `alice@example.test`.
    pub(crate) fn for_tests(sp_encryption_cert: Option<&'a [u8]>) -> Self {
        Self {
            now: chrono::Utc::now(),
            idp_entity_id: "https://idp.test/metadata",
            sp_entity_id: "https://sp.test/saml/metadata",
            acs_url: "https://sp.test/saml/acs",
            in_response_to: Some("_req"),
            default_user: "alice@example.test",
            sp_encryption_cert,
        }
    }
}

/// A response made from a plan.
#[derive(Debug, Clone)]
pub struct BuiltResponse {
    /// The serialized `samlp:Response`, after tampering.
    pub xml: String,
    /// The signing layout used (the plan's, or the flavour's default).
    pub layout: SigningLayout,
    /// Whether the plan calls this response fully valid.
    pub valid: bool,
    /// Whether the self-check verified the signatures (it runs whenever the plan promises them).
    pub self_checked: bool,
    /// The session the assertion issues (its NameID and SessionIndex as the IdP wrote them,
    /// before any tampering), for Single Logout; `None` without an assertion.
    pub session: Option<crate::logout::IssuedSession>,
}

/// Runs the pipeline up to the serialized response ([`crate::meters::RESPONSES`] counts it).
pub fn build(
    ctx: &ResponseContext<'_>,
    plan: &Plan,
    keys: &KeyStore,
) -> Result<BuiltResponse, PipelineError> {
    crate::meters::RESPONSES.time(|| build_unmetered(ctx, plan, keys))
}

fn build_unmetered(
    ctx: &ResponseContext<'_>,
    plan: &Plan,
    keys: &KeyStore,
) -> Result<BuiltResponse, PipelineError> {
    let user = plan.user.as_deref().unwrap_or(ctx.default_user);
    let layout = plan
        .signing
        .layout
        .unwrap_or_else(|| plan.flavour.default_layout());
    let mut doc = plan.flavour.baseline(ctx, user);
    if let Some(assertion) = doc.assertion.as_mut() {
        for (name, values) in &plan.attributes {
            assertion.attributes.push(model::AttributeDoc {
                name: name.clone(),
                name_format: None,
                friendly_name: None,
                values: values.clone(),
            });
        }
    }
    for alteration in &plan.alter {
        alter::apply(alteration, &mut doc, ctx)?;
    }
    let session = doc
        .assertion
        .as_ref()
        .map(|a| crate::logout::IssuedSession {
            sp_entity_id: ctx.sp_entity_id.to_owned(),
            name_id: a.name_id.value.clone(),
            name_id_format: a.name_id.format.clone(),
            session_index: a.authn.as_ref().and_then(|au| au.session_index.clone()),
        });
    let key = keys.get(plan.signing.key)?;
    let self_checked = plan.promises_valid_signatures(layout);
    let self_check = |xml: &str| {
        crate::saml::verify_published(xml, keys)
            .map_err(|e| PipelineError::SelfCheck(e.to_string()))
    };
    // The assertion is signed, checked while its signature can still be seen, then encrypted.
    let seal = |assertion: String| match &plan.encryption {
        None => Ok(assertion),
        Some(encryption) => {
            if self_checked && layout.signs_assertion() {
                self_check(&assertion)?;
            }
            encrypt::encrypt_assertion(&assertion, encryption, ctx.sp_encryption_cert)
        }
    };
    let hmac_secret = keys.attacker_hmac_secret();
    let mut xml = sign::sign(&doc, layout, &plan.signing, key, &hmac_secret, &seal)?;
    let tamper_ctx = tamper::TamperContext {
        key: crate::dsig::SignatureKey {
            key,
            hmac_secret: &hmac_secret,
        },
        algorithm: sign::algorithm(&plan.signing, key),
        digest: plan.signing.digest,
    };
    for tampering in &plan.tamper {
        xml = tamper::apply(tampering, &xml, &tamper_ctx)?;
    }
    // With the assertion encrypted, only a Response signature is left to see.
    if self_checked && (plan.encryption.is_none() || layout.signs_response()) {
        self_check(&xml)?;
    }
    Ok(BuiltResponse {
        xml,
        layout,
        valid: plan.is_valid(layout),
        self_checked,
        session,
    })
}

/// Failed to turn a plan into a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The plan asks for something the document cannot take (plan error: 400).
    #[error("failed to apply the plan: {0}")]
    Plan(String),
    /// The key cannot make the requested signature algorithm (plan error: 400).
    #[error("failed to sign: {algorithm} needs {needs} key but the {key} key is {is}")]
    KeyAlgorithm {
        /// The requested algorithm.
        algorithm: &'static str,
        /// The key family it needs.
        needs: &'static str,
        /// Which key.
        key: &'static str,
        /// What the key is.
        is: &'static str,
    },
    /// Key material could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// xmlsec refused to sign.
    #[error("failed to sign: {0}")]
    Sign(String),
    /// openssl refused to encrypt.
    #[error("failed to encrypt the assertion: {0}")]
    Encrypt(String),
    /// A response the plan promises to be correctly signed failed its own verification: a bug
    /// of the mock IdP, never of the SP.
    #[error(
        "mock IdP bug: a response whose plan promises valid signatures failed the IdP's own check: {0}"
    )]
    SelfCheck(String),
}

impl PipelineError {
    /// Whether the plan is at fault (as opposed to the IdP).
    pub fn is_plan_error(&self) -> bool {
        matches!(
            self,
            PipelineError::Plan(_) | PipelineError::KeyAlgorithm { .. }
        )
    }
}
