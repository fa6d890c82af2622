//! Tenant policy: what an admin of the SP can set.

use serde::{Deserialize, Serialize};

/// What must carry a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignaturePolicy {
    /// The Response must be signed.
    Response,
    /// The Assertion must be signed.
    Assertion,
    /// Either one (SAML Profiles §4.1.4.5 with errata E26).
    Either,
    /// Both.
    Both,
}

/// Where the user's email comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case", deny_unknown_fields)]
pub enum IdentitySource {
    /// The NameID.
    NameId,
    /// A named attribute (`email`, `urn:oid:0.9.2342.19200300.100.1.3`, ...).
    Attribute {
        /// The attribute's Name.
        name: String,
    },
}

/// The tenant's settings. Defaults (also the demo tenant's, plus SSO domain `corp.example`):
/// signature `either`; algorithms rsa-sha256, rsa-sha512, ecdsa-sha256 with sha256 or sha512
/// digests (SHA-1 and MD5 refused); clock skew 120 s; IdP-initiated off; JIT off with role
/// `member`; identity from the NameID, format emailAddress required; SSO on; no enforced
/// domains; admin password fallback on; WantAssertionsSigned off; the IdP must answer a
/// reachability check within 2 s before a user is sent there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// What must be signed.
    pub signature_policy: SignaturePolicy,
    /// Signature and digest algorithm URIs accepted.
    pub allowed_algorithms: Vec<String>,
    /// Clock skew tolerance.
    pub clock_skew_seconds: i64,
    /// Whether unsolicited responses may sign users in.
    pub idp_initiated: bool,
    /// Whether unknown users are created on first SSO login.
    pub jit: bool,
    /// The role of users created just in time.
    pub default_role: String,
    /// Where the email comes from.
    pub identity: IdentitySource,
    /// Whether a NameID used as identity must have the emailAddress format.
    pub require_email_name_id_format: bool,
    /// Whether SSO is on.
    pub sso_enabled: bool,
    /// Email domains that log in through SSO (email-first login).
    pub sso_domains: Vec<String>,
    /// Email domains whose users may not use a password.
    pub enforced_domains: Vec<String>,
    /// Whether admins keep password login in enforced domains.
    pub admin_password_fallback: bool,
    /// Whether the SP's metadata says WantAssertionsSigned.
    pub want_assertions_signed: bool,
    /// How long the SP waits for the IdP's SSO URL to answer (any status below 500) before
    /// it sends a user there; beyond it, or on a 5xx or a refused connection, the user gets
    /// `idp_unavailable` at once instead of a browser stuck on a dead IdP. 0: no check.
    #[serde(default = "default_idp_patience_ms")]
    pub idp_patience_ms: u64,
    /// An AuthnContextClassRef URI the SP requests (`Comparison="exact"`) and then requires in
    /// every AuthnStatement (IIP-SP07); none by default.
    #[serde(default)]
    pub requested_authn_context: Option<String>,
}

fn default_idp_patience_ms() -> u64 {
    2000
}

/// The algorithms accepted by default: SHA-256 and up.
pub const DEFAULT_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Short names admins may use for algorithm URIs (signature methods and digests).
pub const ALGORITHM_NAMES: &[(&str, &str)] = &[
    (
        "rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    ),
    (
        "rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    ),
    (
        "rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    ),
    ("rsa-sha1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
    ("rsa-md5", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"),
    (
        "ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    ),
    (
        "ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    ),
    (
        "ecdsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    ),
    ("sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
    ("sha384", "http://www.w3.org/2001/04/xmldsig-more#sha384"),
    ("sha512", "http://www.w3.org/2001/04/xmlenc#sha512"),
    ("sha1", "http://www.w3.org/2000/09/xmldsig#sha1"),
    ("md5", "http://www.w3.org/2001/04/xmldsig-more#md5"),
];

/// The URI for a short name, or the URI itself; `None` for an unknown short name.
pub fn algorithm_uri(name: &str) -> Option<String> {
    if let Some((_, uri)) = ALGORITHM_NAMES.iter().find(|(n, _)| *n == name) {
        return Some((*uri).to_owned());
    }
    (name.contains("://") || name.starts_with("urn:")).then(|| name.to_owned())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            signature_policy: SignaturePolicy::Either,
            allowed_algorithms: DEFAULT_ALGORITHMS.iter().map(|s| (*s).to_owned()).collect(),
            clock_skew_seconds: 120,
            idp_initiated: false,
            jit: false,
            default_role: "member".to_owned(),
            identity: IdentitySource::NameId,
            require_email_name_id_format: true,
            sso_enabled: true,
            sso_domains: Vec::new(),
            enforced_domains: Vec::new(),
            admin_password_fallback: true,
            want_assertions_signed: false,
            idp_patience_ms: default_idp_patience_ms(),
            requested_authn_context: None,
        }
    }
}

impl Settings {
    /// Applies a partial JSON object; an unknown field is an error that names it.
    pub fn patch(&self, patch: &serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(changes) = patch else {
            return Err("expected a JSON object".to_owned());
        };
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let Some(fields) = current.as_object_mut() else {
            return Err("settings are not an object".to_owned());
        };
        for (key, value) in changes {
            if !fields.contains_key(key) {
                return Err(format!("unknown setting `{key}`"));
            }
            let value = if key == "allowed_algorithms" {
                let Some(items) = value.as_array() else {
                    return Err("allowed_algorithms must be a list".to_owned());
                };
                let mut uris = Vec::with_capacity(items.len());
                for item in items {
                    let name = item.as_str().unwrap_or_default();
                    let uri = algorithm_uri(name).ok_or_else(|| {
                        format!("unknown algorithm `{name}` in allowed_algorithms (a URI or one of: {})",
                            ALGORITHM_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
                    })?;
                    uris.push(serde_json::Value::String(uri));
                }
                serde_json::Value::Array(uris)
            } else {
                value.clone()
            };
            fields.insert(key.clone(), value);
        }
        let next: Self =
            serde_json::from_value(current).map_err(|e| format!("invalid settings: {e}"))?;
        next.check()?;
        Ok(next)
    }

    /// Values that parse but make no sense.
    fn check(&self) -> Result<(), String> {
        if !(0..=3600).contains(&self.clock_skew_seconds) {
            return Err("clock_skew_seconds must be between 0 and 3600".to_owned());
        }
        if self.idp_patience_ms > 60_000 {
            return Err("idp_patience_ms must be at most 60000".to_owned());
        }
        if !matches!(self.default_role.as_str(), "member" | "admin" | "api") {
            return Err("default_role must be member, admin or api".to_owned());
        }
        if let Some(class) = &self.requested_authn_context
            && (class.trim() != class || !class.contains(':'))
        {
            return Err(
                "requested_authn_context must be a URI, e.g. urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
                    .to_owned(),
            );
        }
        if let IdentitySource::Attribute { name } = &self.identity
            && name.trim().is_empty()
        {
            return Err("identity.name must name an attribute".to_owned());
        }
        Ok(())
    }

    /// Whether an email's domain is in a list (case-insensitive).
    pub fn domain_in(email: &str, domains: &[String]) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_and_unknown_fields_are_named() {
        let s = Settings::default();
        let p = s
            .patch(&serde_json::json!({"idp_initiated": true, "allowed_algorithms": ["rsa-sha1"]}))
            .expect("valid");
        assert!(p.idp_initiated);
        assert_eq!(
            p.allowed_algorithms,
            ["http://www.w3.org/2000/09/xmldsig#rsa-sha1"]
        );
        let err = s
            .patch(&serde_json::json!({"idp_initated": true}))
            .expect_err("typo");
        assert!(err.contains("idp_initated"), "{err}");
        let err = s
            .patch(&serde_json::json!({"jit": "yes"}))
            .expect_err("type");
        assert!(err.contains("invalid"), "{err}");
        for (patch, needle) in [
            (
                serde_json::json!({"allowed_algorithms": ["rsa-sha257"]}),
                "rsa-sha257",
            ),
            (serde_json::json!({"clock_skew_seconds": -1}), "clock_skew"),
            (serde_json::json!({"default_role": "root"}), "default_role"),
            (
                serde_json::json!({"identity": {"source": "attribute", "name": ""}}),
                "identity",
            ),
            (
                serde_json::json!({"identity": {"source": "attribute"}}),
                "invalid",
            ),
        ] {
            let err = s.patch(&patch).expect_err("refused");
            assert!(err.contains(needle), "{patch}: {err}");
        }
        let uri = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
        assert_eq!(
            s.patch(&serde_json::json!({"allowed_algorithms": [uri, "sha384"]}))
                .expect("URIs and names")
                .allowed_algorithms,
            [uri, "http://www.w3.org/2001/04/xmldsig-more#sha384"]
        );
    }
}
