//! The one vocabulary that target and scenario files share: the capabilities a target declares,
//! the settings a scenario requires (and a target sets with a hook or holds by default), and
//! the hook names. Every name is defined here once, with its meaning; docs/targets.md's tables are
//! generated from these lists (`saml-harness vocabulary`) and a test keeps them in step.
//!
//! An unknown name is an error that names the file, the line and the nearest valid name:
//! a typo must never turn into a silent skip. Names that begin with `x-` are the user's own
//! (for their own scenarios and hooks) and are not checked.

pub mod plans;

/// A capability a target declares in `[capabilities]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The name (`password-login`).
    pub name: &'static str,
    /// What declaring it `true` promises about the SP.
    pub meaning: &'static str,
}

/// Every capability.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        name: "password-login",
        meaning: "the SP has a password login form beside SSO (informational: the `password` flow needs `[login.password]` itself)",
    },
    Capability {
        name: "api",
        meaning: "the SP has an API with HTTP basic auth (`[api]`)",
    },
    Capability {
        name: "user-accounts",
        meaning: "the SP keeps user accounts of its own and matches the asserted email to them (unknown users are refused unless just-in-time provisioning is on; roles come from the account)",
    },
    Capability {
        name: "typed-email",
        meaning: "the login starts with the user typing an email (`{user.email}` in `[login].sp_initiated_url` reaches the SP), and the SP refuses a response that asserts another email than the one typed",
    },
    Capability {
        name: "encrypted-assertions",
        meaning: "the SP decrypts EncryptedAssertion and publishes its encryption certificate in the metadata at `[sp].metadata_url`",
    },
    Capability {
        name: "single-logout",
        meaning: "the SP's metadata lists a SingleLogoutService and a signing key, and the SP ends sessions on the IdP's LogoutRequest",
    },
];

/// The values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// One of these.
    OneOf(&'static [(&'static str, &'static str)]),
    /// Any non-empty word (described).
    Any(&'static str),
}

/// A setting (`name=value`) a scenario may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The name before `=`.
    pub name: &'static str,
    /// What it is about.
    pub meaning: &'static str,
    /// Its values, each with its meaning.
    pub values: Values,
}

const ON_OFF: &[(&str, &str)] = &[("on", "on"), ("off", "off")];

/// Every setting.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "idp-initiated",
        meaning: "whether the SP accepts unsolicited (IdP-initiated) responses",
        values: Values::OneOf(ON_OFF),
    },
    Setting {
        name: "jit",
        meaning: "just-in-time provisioning: unknown users are created on their first SSO login",
        values: Values::OneOf(ON_OFF),
    },
    Setting {
        name: "jit-default-role",
        meaning: "the role of users created just in time",
        values: Values::Any("a role name of the SP (`api`, `member`, ...)"),
    },
    Setting {
        name: "enforcement",
        meaning: "SSO enforced for the users' email domain: their password logins are refused",
        values: Values::OneOf(ON_OFF),
    },
    Setting {
        name: "admin-fallback",
        meaning: "whether admins keep their password while SSO is enforced",
        values: Values::OneOf(ON_OFF),
    },
    Setting {
        name: "sso",
        meaning: "whether SSO is on at all (off: former SSO users must reset a password)",
        values: Values::OneOf(ON_OFF),
    },
    Setting {
        name: "signature",
        meaning: "which signatures the SP requires on a response",
        values: Values::OneOf(&[
            (
                "either",
                "a Response signature or an Assertion signature suffices (SAML Profiles §4.1.4.5 with errata E26): responses signed at the Response, at the Assertion, or both, are accepted",
            ),
            (
                "assertion",
                "the Assertion must be signed (alone or inside a signed Response); a Response-only signature is refused",
            ),
            (
                "response",
                "the Response must be signed (alone or around a signed Assertion); an Assertion-only signature is refused (saml2int SDP-IDP09)",
            ),
            ("both", "both the Response and the Assertion must be signed"),
        ]),
    },
    Setting {
        name: "identity",
        meaning: "where the SP reads the user's email",
        values: Values::OneOf(&[
            ("name-id", "the NameID"),
            ("email-attribute", "the attribute named `email`"),
            (
                "oid-mail-attribute",
                "the attribute `urn:oid:0.9.2342.19200300.100.1.3` (eduPerson mail)",
            ),
            (
                "entra-email-claim",
                "the claim `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`",
            ),
            (
                "onelogin-email-attribute",
                "the attribute `User.email` (OneLogin)",
            ),
            (
                "x500-email-attribute",
                "the attribute `urn:oid:1.2.840.113549.1.9.1` (Keycloak's X500 email)",
            ),
        ]),
    },
    Setting {
        name: "name-id-format",
        meaning: "which NameID formats the SP accepts when it reads the identity from the NameID",
        values: Values::OneOf(&[
            (
                "email",
                "only `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`",
            ),
            ("any", "any format"),
        ]),
    },
    Setting {
        name: "idp-metadata",
        meaning: "how the SP is given the mock IdP's metadata",
        values: Values::OneOf(&[
            (
                "keys-without-use",
                "signing keys published in KeyDescriptors without `use` (valid for signing, IIP-MD11)",
            ),
            (
                "rsa-1024",
                "the metadata also publishes a 1024-bit RSA signing key",
            ),
        ]),
    },
    Setting {
        name: "authn-context",
        meaning: "the AuthnContextClassRef the SP requests (Comparison `exact`) and then requires",
        values: Values::OneOf(&[(
            "password-protected-transport",
            "`urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport`",
        )]),
    },
];

/// The hook that undoes every other hook; required beside any hook.
pub const RESET_HOOK: &str = "reset";

/// Settings under which a login changes state that other scenarios could see (JIT creates
/// the user it signs in): a scenario whose hooks set one runs alone, not in a batch with the
/// others that need the same hooks.
const STATEFUL: &[&str] = &["jit", "jit-default-role"];

/// Whether scenarios that need `setting` set by a hook may run together, in one batch with
/// one hook and one `reset` (a stateful setting, or one of the user's own (`x-`) that the
/// harness knows nothing about, runs alone).
pub fn batches(setting: &str) -> bool {
    let name = setting.split_once('=').map_or(setting, |(n, _)| n);
    !setting.starts_with(CUSTOM_PREFIX) && !STATEFUL.contains(&name)
}

/// The hook that moves the SP's clock forward by `{clock.advance_ms}` milliseconds (reset by
/// [`RESET_HOOK`]); a `wait` step uses it instead of waiting, when the target has it.
pub const CLOCK_HOOK: &str = "clock";

/// The hook that sets how long the SP waits for the IdP before it gives up to
/// `{patience.ms}` milliseconds (reset by [`RESET_HOOK`]); a `slow` IdP outage uses it, when
/// the target has it, so that the scenario waits [`SHORT_PATIENCE_MS`] for the SP to give up
/// instead of the SP's own patience.
pub const PATIENCE_HOOK: &str = "patience";

/// The patience a `slow` outage gives the SP through [`PATIENCE_HOOK`]. Only the scenario's
/// own SP waits that little (the scenario runs alone, or in a copy of its own, and `reset`
/// restores the SP's patience after it).
pub const SHORT_PATIENCE_MS: u64 = 500;

/// The hooks a target may have besides one per setting.
const OTHER_HOOKS: [&str; 3] = [RESET_HOOK, CLOCK_HOOK, PATIENCE_HOOK];

/// The prefix of names that are the user's own and are not checked.
pub const CUSTOM_PREFIX: &str = "x-";

/// A name that is not in the vocabulary, with the nearest one that is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`{}", suggestion(.nearest.as_deref()))]
pub struct UnknownName {
    /// What kind of name (`capability`, `setting`, `hook`).
    pub kind: &'static str,
    /// The name as written.
    pub name: String,
    /// The nearest valid name, when one is near enough to be a likely typo.
    pub nearest: Option<String>,
}

fn suggestion(nearest: Option<&str>) -> String {
    match nearest {
        Some(n) => format!(" (did you mean `{n}`?); names of your own must start with `x-`"),
        None => " (see the vocabulary in docs/targets.md; names of your own must start with `x-`)"
            .to_owned(),
    }
}

/// Checks a capability name.
pub fn check_capability(name: &str) -> Result<(), UnknownName> {
    if name.starts_with(CUSTOM_PREFIX) || CAPABILITIES.iter().any(|c| c.name == name) {
        return Ok(());
    }
    Err(UnknownName {
        kind: "capability",
        name: name.to_owned(),
        nearest: nearest(name, CAPABILITIES.iter().map(|c| c.name.to_owned())),
    })
}

/// Every valid `name=value` setting with an enumerated value.
fn setting_strings() -> impl Iterator<Item = String> {
    SETTINGS.iter().flat_map(|s| match s.values {
        Values::OneOf(values) => values
            .iter()
            .map(|(v, _)| format!("{}={v}", s.name))
            .collect::<Vec<_>>(),
        Values::Any(_) => vec![format!("{}=", s.name)],
    })
}

/// Checks a setting (`name=value`).
pub fn check_setting(setting: &str) -> Result<(), UnknownName> {
    if setting.starts_with(CUSTOM_PREFIX) {
        return Ok(());
    }
    let unknown = || UnknownName {
        kind: "setting",
        name: setting.to_owned(),
        nearest: nearest(setting, setting_strings()),
    };
    let (name, value) = setting.split_once('=').ok_or_else(unknown)?;
    let known = SETTINGS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(unknown)?;
    let ok = match known.values {
        Values::OneOf(values) => values.iter().any(|(v, _)| *v == value),
        Values::Any(_) => !value.is_empty() && !value.contains(char::is_whitespace),
    };
    if ok { Ok(()) } else { Err(unknown()) }
}

/// Checks a hook name: a setting, `reset`, `clock` or `patience`.
pub fn check_hook(name: &str) -> Result<(), UnknownName> {
    if OTHER_HOOKS.contains(&name) {
        return Ok(());
    }
    check_setting(name).map_err(|mut e| {
        e.kind = "hook";
        if e.nearest.is_none() {
            e.nearest = OTHER_HOOKS
                .into_iter()
                .find(|h| distance(name, h) <= 2)
                .map(str::to_owned);
        }
        e
    })
}

/// The accepted signing layouts a `signature=` setting stands for, when `setting` is one.
pub fn signature_layouts(setting: &str) -> Option<&'static [mock_idp::plan::SigningLayout]> {
    use mock_idp::plan::SigningLayout::{Assertion, Both, Response};
    match setting.strip_prefix("signature=")? {
        "either" => Some(&[Response, Assertion, Both]),
        "assertion" => Some(&[Assertion, Both]),
        "response" => Some(&[Response, Both]),
        "both" => Some(&[Both]),
        _ => None,
    }
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo (at
/// most a third of the name's length, and at most 4 edits).
fn nearest(name: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let limit = (name.chars().count() / 3).clamp(1, 4);
    candidates
        .map(|c| (distance(name, &c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The vocabulary as Markdown tables, with the catalogue's families that use each name (the
/// "Capabilities and settings" section of docs/targets.md is this text, between markers; a test keeps it
/// current).
pub fn markdown(catalogue: &crate::scenario::Catalogue) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write as _;

    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for scenario in catalogue.iter() {
        let family = scenario.id.split('/').next().unwrap_or_default().to_owned();
        let file = &scenario.file;
        let steps = file.steps.iter().chain(file.control.steps.iter().flatten());
        let names = file
            .requires
            .capabilities
            .iter()
            .cloned()
            .chain(file.requires.settings.iter().cloned())
            .chain(file.control.settings.iter().flatten().cloned())
            .chain(steps.filter_map(|s| match s {
                crate::scenario::Step::Set { setting } => Some(setting.clone()),
                _ => None,
            }));
        for name in names {
            families.entry(name).or_default().insert(family.clone());
        }
    }
    let used = |name: &str| {
        families
            .get(name)
            .map(|f| {
                f.iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut out = String::from(
        "| capability | declaring it `true` says | families that need it |\n|---|---|---|\n",
    );
    for c in CAPABILITIES {
        let _ = writeln!(out, "| `{}` | {} | {} |", c.name, c.meaning, used(c.name));
    }
    out.push_str("\n| setting | value: meaning | families that need it |\n|---|---|---|\n");
    for s in SETTINGS {
        match s.values {
            Values::OneOf(values) => {
                for (value, meaning) in values {
                    let name = format!("{}={value}", s.name);
                    let _ = writeln!(
                        out,
                        "| `{name}` | {}: {meaning} | {} |",
                        s.meaning,
                        used(&name)
                    );
                }
            }
            Values::Any(what) => {
                let prefix = format!("{}=", s.name);
                let users: BTreeSet<String> = families
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .flat_map(|(_, f)| f.iter().map(|f| format!("`{f}`")))
                    .collect();
                let _ = writeln!(
                    out,
                    "| `{}=VALUE` | {}: {what} | {} |",
                    s.name,
                    s.meaning,
                    if users.is_empty() {
                        "-".to_owned()
                    } else {
                        users.into_iter().collect::<Vec<_>>().join(", ")
                    }
                );
            }
        }
    }
    out.push_str(
        "\nA setting no scenario requires (`-`) still matters as a declaration in `[defaults]`: the \
         SP profile is compared with it, and a `signature=` default decides which signing layouts \
         run (see \"Trust\").\n",
    );
    out
}

/// The 1-based line of the first line of `text` that mentions `needle` as a TOML key or string
/// (for error messages that point at the typo).
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    let quoted = format!("\"{needle}\"");
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            !t.starts_with('#')
                && (t.contains(&quoted)
                    || t.strip_prefix(needle)
                        .is_some_and(|rest| rest.trim_start().starts_with('=')))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_pass_and_typos_name_the_nearest_one() {
        for c in CAPABILITIES {
            assert_eq!(check_capability(c.name), Ok(()));
        }
        let e = check_capability("capabilites").expect_err("not a capability");
        assert_eq!(e.nearest, None);
        let e = check_capability("single-logut").expect_err("typo");
        assert_eq!(e.nearest.as_deref(), Some("single-logout"));
        assert!(
            e.to_string().contains("did you mean `single-logout`"),
            "{e}"
        );
        assert_eq!(check_capability("x-our-own"), Ok(()));

        assert_eq!(check_setting("idp-initiated=on"), Ok(()));
        assert_eq!(check_setting("signature=response"), Ok(()));
        assert_eq!(check_setting("jit-default-role=api"), Ok(()));
        let e = check_setting("idp-initated=on").expect_err("typo");
        assert_eq!(e.nearest.as_deref(), Some("idp-initiated=on"));
        let e = check_setting("signature=eiter").expect_err("typo in the value");
        assert_eq!(e.nearest.as_deref(), Some("signature=either"));
        assert!(check_setting("jit-default-role=").is_err());
        assert!(check_setting("idp-initiated").is_err());

        assert!(batches("enforcement=on") && batches("identity=email-attribute"));
        assert!(!batches("jit=on") && !batches("jit-default-role=api") && !batches("x-mine=on"));

        assert_eq!(check_hook("reset"), Ok(()));
        assert_eq!(check_hook("clock"), Ok(()));
        assert_eq!(check_hook("patience"), Ok(()));
        assert_eq!(
            check_hook("clocks").expect_err("typo").nearest.as_deref(),
            Some("clock")
        );
        assert_eq!(
            check_hook("patiense").expect_err("typo").nearest.as_deref(),
            Some("patience")
        );
        assert_eq!(check_hook("sso=off"), Ok(()));
        let e = check_hook("rest").expect_err("typo");
        assert_eq!(e.kind, "hook");
        assert_eq!(e.nearest.as_deref(), Some("reset"));
    }

    #[test]
    fn signature_settings_name_their_layouts() {
        use mock_idp::plan::SigningLayout;
        assert_eq!(
            signature_layouts("signature=both"),
            Some(&[SigningLayout::Both][..])
        );
        assert!(
            signature_layouts("signature=response")
                .is_some_and(|l| l.contains(&SigningLayout::Response))
        );
        assert_eq!(signature_layouts("sso=on"), None);
        for s in SETTINGS.iter().filter(|s| s.name == "signature") {
            let Values::OneOf(values) = s.values else {
                panic!("signature values are enumerated");
            };
            for (v, _) in values {
                assert!(
                    signature_layouts(&format!("signature={v}")).is_some(),
                    "{v}"
                );
            }
        }
    }

    #[test]
    fn lines_are_found_for_keys_and_strings() {
        let text = "# capabilites\n[capabilities]\ncapabilites = true\nsettings = [\"jit=on\"]\n";
        assert_eq!(line_of(text, "capabilites"), Some(3));
        assert_eq!(line_of(text, "jit=on"), Some(4));
        assert_eq!(line_of(text, "nope"), None);
    }
}
