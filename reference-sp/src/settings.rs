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

/// The tenant's settings.
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
}

/// The algorithms accepted by default: SHA-256 and up.
pub const DEFAULT_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Short names admins may use for algorithm URIs.
pub fn algorithm_uri(name: &str) -> String {
    match name {
        "rsa-sha256" => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "rsa-sha512" => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "rsa-sha1" => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "ecdsa-sha256" => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "sha256" => "http://www.w3.org/2001/04/xmlenc#sha256",
        "sha512" => "http://www.w3.org/2001/04/xmlenc#sha512",
        "sha1" => "http://www.w3.org/2000/09/xmldsig#sha1",
        other => other,
    }
    .to_owned()
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
                match value.as_array() {
                    Some(items) => serde_json::Value::Array(
                        items
                            .iter()
                            .map(|v| {
                                serde_json::Value::String(algorithm_uri(
                                    v.as_str().unwrap_or_default(),
                                ))
                            })
                            .collect(),
                    ),
                    None => value.clone(),
                }
            } else {
                value.clone()
            };
            fields.insert(key.clone(), value);
        }
        serde_json::from_value(current).map_err(|e| format!("invalid settings: {e}"))
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
    }
}
