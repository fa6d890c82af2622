//! The target file `init` writes: every value with a comment saying where it came from, and a
//! `# TODO:` comment for what was not found, saying how to fill it in. What is rendered always
//! parses as a target file (a missing session probe is a `{vars.todo_probe_url}` placeholder,
//! which `run` refuses before anything is sent, naming the line).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use mock_idp::plan::SigningLayout;

use super::discover::{LoginFinding, LoginRoute};
use crate::profile::{Outcome, Profile};
use crate::target::Extractor;

/// What the SP's metadata says, as `init` uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataFacts {
    /// Where it was read.
    pub url: String,
    /// `EntityDescriptor/@entityID`.
    pub entity_id: String,
    /// The ACS the mock IdP posts to (the default HTTP-POST one).
    pub acs_url: String,
    /// Its `@index`, when given.
    pub acs_index: Option<u16>,
    /// Every other ACS: (binding, URL).
    pub other_acs: Vec<(String, String)>,
    /// The SingleLogoutServices: (binding, URL).
    pub slo: Vec<(String, String)>,
    /// The signing certificates, described.
    pub signing_certs: Vec<String>,
    /// The encryption certificates, described.
    pub encryption_certs: Vec<String>,
    /// `@WantAssertionsSigned`.
    pub want_assertions_signed: bool,
    /// `@AuthnRequestsSigned`.
    pub authn_requests_signed: bool,
    /// SP entities in the document (the first is used).
    pub entities: usize,
}

/// How `init` was asked to start the SP, as the target file writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StartLines {
    pub(super) command: Vec<String>,
    /// Relative to the target file's folder.
    pub(super) cwd: Option<PathBuf>,
    pub(super) env: Vec<(String, String)>,
    pub(super) ready_url: String,
    pub(super) ready_timeout_seconds: u64,
}

/// Everything `init` found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings {
    /// The target's name.
    pub name: String,
    /// The SP's base URL (the origin of its metadata URL).
    pub base_url: String,
    /// The login URL given.
    pub login_url: String,
    /// The metadata.
    pub metadata: MetadataFacts,
    /// The logins and the session probe.
    pub login: LoginFinding,
    /// The SP profile, when the probe was found and the profile's controls ran.
    pub profile: Option<Profile>,
    /// Why there is no profile, when there is none.
    pub profile_missing: Option<String>,
    /// The member's email.
    pub email: String,
    /// The mock IdP's address.
    pub idp_bind: Option<SocketAddr>,
    /// The mock IdP's key folder, relative to the target file's folder.
    pub idp_state: Option<PathBuf>,
    /// The start section, when the SP is started by the harness.
    pub(super) start: Option<StartLines>,
    /// Rendering the file the profile is measured with: Single Logout declared wherever the
    /// metadata lists it, so that its probes run.
    pub(super) measuring: bool,
}

/// The rendered file and what it leaves to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The target file's text.
    pub text: String,
    /// What was not found, one line each (the file's `# TODO:` comments, shortened).
    pub todos: Vec<String>,
    /// The `[defaults] settings` written, each with its evidence.
    pub settings: Vec<(String, String)>,
}

/// The users every generated file defines: the catalogue's logical users.
const OTHER_USERS: &[(&str, &str, &str)] = &[
    (
        "other",
        "bob@corp.example",
        "A second user, for \"signed in as someone else\" scenarios.",
    ),
    (
        "admin",
        "admin@corp.example",
        "An admin, for scenarios that target privileged accounts.",
    ),
    (
        "long",
        "ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünïcødé-ünï@corp.example",
        "256 characters, non-ASCII (IIP-G02).",
    ),
    (
        "attacker",
        "admin@corp.example.evil.test",
        "An account an attacker may hold at the IdP; not a user of the SP.",
    ),
];

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A value taken as it is (not a template): braces doubled.
fn literal(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// `url` with the SP's base URL as `{sp.base_url}` (braces elsewhere doubled).
fn on_base(base: &str, url: &str) -> String {
    match url.strip_prefix(base) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#']) => {
            format!("{{sp.base_url}}{}", literal(rest))
        }
        _ => literal(url),
    }
}

/// `url` with the SP's base URL as `{sp.base_url}`, the rest kept as a template (a URL the
/// user gave, which may use `{user.email}`).
fn template_on_base(base: &str, url: &str) -> String {
    match url.strip_prefix(base) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#']) => {
            format!("{{sp.base_url}}{rest}")
        }
        _ => url.to_owned(),
    }
}

/// Comment lines, wrapped at 96 columns; a `\n` starts a paragraph.
fn comment(out: &mut String, text: &str) {
    for paragraph in text.split('\n') {
        let mut line = String::from("#");
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            if line.len() + 1 + word.len() > 96 && line.len() > 1 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn extractor(e: &Extractor) -> String {
    match e {
        Extractor::JsonPointer(p) => format!("{{ json_pointer = {} }}", q(p)),
        Extractor::Regex(r) => format!("{{ regex = {} }}", q(r)),
    }
}

/// The settings the profile shows, each with the observation behind it; and the aspects it
/// leaves open, in words.
pub(super) fn profile_settings(profile: &Profile) -> (Vec<(String, String)>, Vec<String>) {
    let mut settings = Vec::new();
    let mut open = Vec::new();
    let entry = |value: &str| profile.entries.iter().find(|e| e.value == value);
    // The signing layouts the SP accepted, matched to the one `signature=` value that
    // accepts exactly those.
    let layouts = [
        (SigningLayout::Response, "signed at the Response only"),
        (SigningLayout::Assertion, "signed at the Assertion only"),
        (SigningLayout::Both, "signed at both"),
    ];
    let known: Vec<_> = layouts
        .iter()
        .map(|(l, v)| (*l, *v, profile.accepted(v)))
        .collect();
    let evidence = known
        .iter()
        .map(|(_, v, a)| {
            format!(
                "{v}: {}",
                entry(v).map_or_else(|| "not run".to_owned(), |e| e.outcome.words())
            ) + if a.is_none() { " (unknown)" } else { "" }
        })
        .collect::<Vec<_>>()
        .join("; ");
    if known.iter().all(|(_, _, a)| a.is_some()) {
        let accepted: Vec<SigningLayout> = known
            .iter()
            .filter(|(_, _, a)| *a == Some(true))
            .map(|(l, _, _)| *l)
            .collect();
        let setting = ["either", "assertion", "response", "both"]
            .iter()
            .map(|v| format!("signature={v}"))
            .find(|s| {
                crate::vocabulary::signature_layouts(s).is_some_and(|l| {
                    l.len() == accepted.len() && accepted.iter().all(|a| l.contains(a))
                })
            });
        match setting {
            Some(s) => settings.push((s, evidence)),
            None => open.push(format!(
                "no `signature=` value matches the layouts the SP accepted ({evidence})"
            )),
        }
    } else {
        open.push(format!(
            "the signing layouts could not all be tried ({evidence})"
        ));
    }
    // A yes/no aspect: the setting for "accepted" or for "refused", with the observation.
    let either_way = |value: &str, what: &str, accepted: &str, refused: &str| {
        let e = entry(value)?;
        let setting = match profile.accepted(&e.value)? {
            true => accepted,
            false => refused,
        };
        Some((setting.to_owned(), format!("{what}: {}", e.observed)))
    };
    match either_way(
        "an unsolicited response",
        "an unsolicited response",
        "idp-initiated=on",
        "idp-initiated=off",
    ) {
        Some(s) => settings.push(s),
        None => {
            if let Some(e) = entry("an unsolicited response") {
                open.push(format!(
                    "IdP-initiated login: {} ({})",
                    e.outcome.words(),
                    e.observed
                ));
            }
        }
    }
    let identity = profile
        .entries
        .iter()
        .find(|e| e.aspect == "identity source");
    let name_id = match identity.map(|e| &e.outcome) {
        Some(Outcome::SignedInAs(who)) => {
            settings.push((
                "identity=name-id".to_owned(),
                format!("an opaque persistent NameID with the email in the `email` attribute signed in {who}: the SP reads the NameID"),
            ));
            true
        }
        Some(Outcome::Accepted) => {
            settings.push((
                "identity=email-attribute".to_owned(),
                "an opaque persistent NameID with the email in the `email` attribute signed in the email: the SP reads the attribute".to_owned(),
            ));
            false
        }
        Some(other) => {
            open.push(format!(
                "where the SP reads the email: an opaque NameID with the email in the `email` attribute was {}",
                other.words()
            ));
            false
        }
        None => false,
    };
    if name_id {
        settings.extend(either_way(
            "unspecified (the email as NameID)",
            "a NameID of format unspecified",
            "name-id-format=any",
            "name-id-format=email",
        ));
    }
    (settings, open)
}

/// Renders the target file.
pub fn render(f: &Findings) -> Rendered {
    let mut s = String::new();
    let mut todos = Vec::new();
    let base = f.base_url.trim_end_matches('/');
    let md = &f.metadata;
    comment(
        &mut s,
        &format!(
            "A target file for the SP {}, written by `saml-harness init` from its metadata ({}) and a login through {} with the harness's mock IdP. Every value says where it came from; `# TODO:` marks what init could not find, with how to fill it in. The README's \"Pointing it at your own SP\" and docs/init.md explain every field.",
            md.entity_id, md.url, f.login_url
        ),
    );
    comment(
        &mut s,
        "\nPlaceholders: {sp.*} come from [sp], {idp.*} from the mock IdP the harness runs, {users.NAME.*} from [users], {user.*} is the scenario's user.",
    );
    s.push('\n');
    comment(
        &mut s,
        "The target's name in reports (--name, else the file's name).",
    );
    let _ = writeln!(s, "name = {}", q(&f.name));
    comment(
        &mut s,
        "One line about the SP, shown at the top of report.md.",
    );
    let _ = writeln!(
        s,
        "description = {}",
        q(&format!(
            "SP {} (target file written by saml-harness init)",
            md.entity_id
        ))
    );

    // [sp]
    s.push_str("\n[sp]\n");
    comment(
        &mut s,
        "The origin of the metadata URL (--sp-metadata); the SP's URLs below derive from it. The harness sends every request to these URLs as written: an SP that derives its URLs from the Host header must be reached at exactly this address.",
    );
    let _ = writeln!(s, "base_url = {}", q(base));
    comment(&mut s, "From the metadata: EntityDescriptor/@entityID.");
    let _ = writeln!(s, "entity_id = {}", q(&on_base(base, &md.entity_id)));
    comment(
        &mut s,
        &format!(
            "From the metadata: the default AssertionConsumerService for HTTP-POST{}.{}",
            md.acs_index
                .map(|i| format!(" (index {i})"))
                .unwrap_or_default(),
            if md.acs_url.starts_with("http://") {
                " It is plain http: fine on loopback, a finding anywhere else (the SP-side checks say so)."
            } else {
                ""
            }
        ),
    );
    let _ = writeln!(s, "acs_url = {}", q(&on_base(base, &md.acs_url)));
    comment(
        &mut s,
        "--sp-metadata: the mock IdP reads the ACS, the SingleLogoutService and the SP's keys here at every run.",
    );
    let _ = writeln!(s, "metadata_url = {}", q(&on_base(base, &md.url)));
    let mut facts = vec![format!(
        "AuthnRequestsSigned = {}, WantAssertionsSigned = {}",
        md.authn_requests_signed, md.want_assertions_signed
    )];
    facts.extend(
        md.other_acs
            .iter()
            .map(|(b, u)| format!("another ACS: {b} at {u}")),
    );
    facts.extend(
        md.slo
            .iter()
            .map(|(b, u)| format!("SingleLogoutService: {b} at {u}")),
    );
    facts.extend(
        md.signing_certs
            .iter()
            .map(|c| format!("signing certificate: {c}")),
    );
    facts.extend(
        md.encryption_certs
            .iter()
            .map(|c| format!("encryption certificate: {c}")),
    );
    if md.entities > 1 {
        facts.push(format!(
            "the document describes {} SPs; this file is for the first",
            md.entities
        ));
    }
    s.push_str("# What else the metadata says:\n");
    for fact in &facts {
        let _ = writeln!(s, "#   {fact}");
    }

    // [idp]
    s.push_str("\n[idp]\n");
    match (&f.start, f.idp_bind) {
        (Some(_), _) => comment(
            &mut s,
            "The harness starts the SP after its mock IdP, with {idp.metadata_url} filled in ([start]), so any free port will do (0: no clash with a parallel run).",
        ),
        (None, _) => comment(
            &mut s,
            "The SP is configured with the mock IdP's metadata by hand, so the IdP must be at the same address (--idp-bind) with the same keys (--idp-state) at every run.",
        ),
    }
    let _ = writeln!(
        s,
        "bind = {}",
        q(&f.idp_bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
            .to_string())
    );
    if let Some(state) = &f.idp_state {
        comment(
            &mut s,
            "The mock IdP's keys (--idp-state), kept so the SP keeps trusting them; relative to this file's folder.",
        );
        let _ = writeln!(s, "state = {}", q(&state.display().to_string()));
    }

    // [start]
    if let Some(start) = &f.start {
        s.push_str("\n[start]\n");
        comment(
            &mut s,
            "The command given to init (after `--`); the harness starts it after the mock IdP and stops it (SIGTERM to its pid, then its process group) after the run.",
        );
        let argv = start.command.iter().map(|a| q(a)).collect::<Vec<_>>();
        let _ = writeln!(s, "command = [{}]", argv.join(", "));
        if let Some(cwd) = &start.cwd {
            comment(&mut s, "--start-cwd, relative to this file's folder.");
            let _ = writeln!(s, "cwd = {}", q(&cwd.display().to_string()));
        }
        if !start.env.is_empty() {
            comment(
                &mut s,
                "--start-env (placeholders are filled at every run).",
            );
            let env = start
                .env
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect::<Vec<_>>();
            let _ = writeln!(s, "env = {{ {} }}", env.join(", "));
        }
        comment(
            &mut s,
            "--ready-url (by default the metadata URL): the run waits until it answers 2xx.",
        );
        let _ = writeln!(s, "ready_url = {}", q(&start.ready_url));
        let _ = writeln!(s, "ready_timeout_seconds = {}", start.ready_timeout_seconds);
    }

    // [login]
    s.push_str("\n[login]\n");
    let login = &f.login;
    let mut login_note = String::from("--login-url. ");
    match login.route {
        Some(LoginRoute::SpInitiated { binding }) => {
            let _ = write!(
                login_note,
                "init's login through it worked: the SP sent an AuthnRequest over {binding} to the mock IdP and signed {} in.",
                f.email
            );
        }
        Some(LoginRoute::IdpInitiated) => {
            let _ = write!(
                login_note,
                "TODO: init's SP-initiated login through it did not sign the user in; an IdP-initiated login did. Put the URL that starts the SP's SAML login here (it may use {{user.email}}); until then SP-initiated scenarios fail."
            );
            todos.push("the login URL did not sign the user in (an IdP-initiated login did): fix [login].sp_initiated_url".to_owned());
        }
        None => {
            let _ = write!(
                login_note,
                "TODO: no login init tried signed the user in (see the attempts below): check that the SP trusts the mock IdP's metadata and that this URL starts its SAML login."
            );
            todos.push("no login signed the user in: see the attempts in [login]".to_owned());
        }
    }
    comment(&mut s, &login_note);
    for a in &login.attempts {
        comment(&mut s, &format!("init tried: {a}"));
    }
    let _ = writeln!(
        s,
        "sp_initiated_url = {}",
        q(&template_on_base(base, &f.login_url))
    );

    // [session]
    s.push_str("\n[session]\n");
    match &login.probe {
        Some(p) => {
            comment(
                &mut s,
                &format!(
                    "The session probe ({}): after the login it answered {} and named {}; without a session it answered {}. The harness GETs it with the user agent's cookies, never following a redirect.",
                    p.origin, p.signed_in_status, f.email, p.signed_out_status
                ),
            );
            let _ = writeln!(s, "probe_url = {}", q(&on_base(base, &p.url)));
            comment(&mut s, "The status that means \"signed in\".");
            let _ = writeln!(s, "signed_in_status = {}", p.signed_in_status);
            comment(
                &mut s,
                &format!(
                    "Reads {} back from the probe's answer (checked on it).",
                    f.email
                ),
            );
            let _ = writeln!(s, "identity = {}", extractor(&p.identity));
            for r in &login.rejected_probes {
                comment(&mut s, &format!("init did not take: {r}"));
            }
        }
        None => {
            comment(
                &mut s,
                "TODO: init found no URL that names the signed-in user with a session and answers another status without one. Put here a URL of the SP that answers, with the user agent's cookies, a fixed status (signed_in_status) and the user's email when someone is signed in, and any other status when nobody is (a 302 to the IdP, a 401 and a 403 alike); then say how to read the email (`identity`: a JSON pointer, or a regex whose first group is the email). Until then `run` stops here: the placeholder below has no value.",
            );
            for r in &login.rejected_probes {
                comment(&mut s, &format!("init tried: {r}"));
            }
            let _ = writeln!(s, "probe_url = \"{{vars.todo_probe_url}}\"");
            let _ = writeln!(s, "signed_in_status = 200");
            let _ = writeln!(s, "identity = {{ json_pointer = \"/email\" }}");
            todos.push(
                "no session probe found: fill in [session] probe_url, signed_in_status and identity"
                    .to_owned(),
            );
        }
    }
    comment(
        &mut s,
        "TODO (optional): `logout_url` (where the SP ends its own session: scenarios with a logout step need it) and `slo_url` (where its Single Logout starts: the `sp-logout` scenarios need it); init does not guess them, and scenarios that need them are skipped, saying so.",
    );
    s.push_str(
        "# logout_url = \"{sp.base_url}/logout\"\n# slo_url = \"{sp.base_url}/saml/logout\"\n",
    );
    comment(
        &mut s,
        "\nTODO (optional): [refusal] reason = { json_pointer = \"...\" } or { regex = '...' }: where the SP shows why it refused a response (scenarios that expect a reason need it).",
    );

    // [users]
    s.push('\n');
    let accounts = login.anyone_signed_in;
    match accounts {
        Some(true) => comment(
            &mut s,
            "The SP signed in an email it cannot know (init's second login): it has no accounts of its own, whoever the IdP names is signed in. The users are the harness's logical ones.",
        ),
        Some(false) => {
            comment(
                &mut s,
                "TODO: the SP did not sign in an email it cannot know (init's second login), so it keeps accounts: these users must exist in the SP with these emails (change the emails to accounts it has).",
            );
            todos.push("the SP keeps user accounts: make [users] match accounts it has".to_owned());
        }
        None => comment(
            &mut s,
            "Logical users the scenarios refer to. TODO: if the SP keeps accounts, they must exist in it with these emails.",
        ),
    }
    s.push_str("[users.member]\n");
    comment(
        &mut s,
        "The usual user of a scenario (--email); init signed in as it.",
    );
    let _ = writeln!(s, "email = {}", q(&f.email));
    for (name, email, why) in OTHER_USERS {
        let _ = writeln!(s, "\n[users.{name}]");
        comment(&mut s, why);
        let _ = writeln!(s, "email = {}", q(email));
    }

    // [capabilities]
    s.push('\n');
    comment(
        &mut s,
        "What the SP can do; a scenario needing a capability absent or false here is skipped, saying so.",
    );
    s.push_str("[capabilities]\n");
    comment(
        &mut s,
        "init does not look for a password form or an API: if the SP has them, set these true and add [login.password] / [api].",
    );
    s.push_str("password-login = false\napi = false\n");
    match accounts {
        Some(true) => {
            comment(
                &mut s,
                "Whoever the IdP names is signed in (init's second login).",
            );
            s.push_str("user-accounts = false\n");
        }
        Some(false) => {
            comment(
                &mut s,
                "An email the SP cannot know was not signed in (init's second login): it matches the asserted email to accounts of its own.",
            );
            s.push_str("user-accounts = true\n");
        }
        None => comment(
            &mut s,
            "TODO: user-accounts = true if the SP matches the asserted email to accounts of its own (init could not tell).",
        ),
    }
    if md.encryption_certs.is_empty() {
        comment(
            &mut s,
            "The metadata publishes no encryption certificate, so the mock IdP cannot encrypt to the SP.",
        );
    } else {
        comment(
            &mut s,
            "TODO: the metadata publishes an encryption certificate; set true if the SP decrypts EncryptedAssertion (init does not try).",
        );
    }
    s.push_str("encrypted-assertions = false\n");
    let slo_entries: Vec<_> = f
        .profile
        .iter()
        .flat_map(|p| p.entries.iter().filter(|e| e.aspect == "Single Logout"))
        .collect();
    if md.slo.is_empty() {
        comment(&mut s, "The metadata lists no SingleLogoutService.");
        s.push_str("single-logout = false\n");
    } else if f.measuring {
        comment(
            &mut s,
            "The metadata lists a SingleLogoutService: declared so that the profile tries it.",
        );
        s.push_str("single-logout = true\n");
    } else if slo_entries.iter().any(|e| e.outcome == Outcome::Accepted) {
        let words = slo_entries
            .iter()
            .map(|e| format!("{}: {}", e.value, e.outcome.words()))
            .collect::<Vec<_>>()
            .join("; ");
        comment(
            &mut s,
            &format!(
                "The metadata lists a SingleLogoutService, and the IdP's LogoutRequest ended the session ({words})."
            ),
        );
        s.push_str("single-logout = true\n");
    } else {
        let words = if slo_entries.is_empty() {
            "not tried".to_owned()
        } else {
            slo_entries
                .iter()
                .map(|e| format!("{}: {} ({})", e.value, e.outcome.words(), e.observed))
                .collect::<Vec<_>>()
                .join("; ")
        };
        comment(
            &mut s,
            &format!(
                "TODO: the metadata lists a SingleLogoutService, but no LogoutRequest of the mock IdP ended the session ({words}); set true once it does."
            ),
        );
        s.push_str("single-logout = false\n");
    }

    // [defaults]
    s.push('\n');
    let (mut settings, open) = match &f.profile {
        Some(p) => profile_settings(p),
        None => (Vec::new(), Vec::new()),
    };
    if accounts == Some(true) {
        settings.push((
            "jit=on".to_owned(),
            "an email the SP cannot know was signed in (init's second login)".to_owned(),
        ));
    }
    comment(
        &mut s,
        "Settings that hold without a hook. A run compares them with the SP profile and warns where the SP contradicts them.",
    );
    match &f.profile {
        Some(_) => comment(
            &mut s,
            "From the SP profile init measured with the run's own probes (valid responses signed in each layout, an unsolicited one, NameID variants):",
        ),
        None => {
            comment(
                &mut s,
                &format!(
                    "TODO: init could not measure the SP profile ({}); a run measures it and prints it at the top of its report: declare what it shows here (`signature=...`, `idp-initiated=...`).",
                    f.profile_missing.as_deref().unwrap_or("no login worked")
                ),
            );
            todos.push("no SP profile: declare [defaults] settings from a run's report".to_owned());
        }
    }
    for (setting, why) in &settings {
        comment(&mut s, &format!("- {setting}: {why}"));
    }
    for o in &open {
        comment(&mut s, &format!("- not declared: {o}"));
    }
    let list = settings
        .iter()
        .map(|(k, _)| q(k))
        .collect::<Vec<_>>()
        .join(", ");
    s.push_str("[defaults]\n");
    let _ = writeln!(s, "settings = [{list}]");
    s.push('\n');
    comment(
        &mut s,
        "TODO (optional): [hooks]: commands or HTTP calls that change the SP's settings (`signature=assertion`, `idp-initiated=on`, ...) plus `reset`, so the scenarios that need another setting run instead of being skipped. See targets/*.toml for examples.",
    );
    Rendered {
        text: s,
        todos,
        settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::discover::IdentityProbe;
    use crate::profile::Entry;
    use crate::target::Target;

    fn findings() -> Findings {
        Findings {
            name: "my-sp".to_owned(),
            base_url: "http://127.0.0.1:8380".to_owned(),
            login_url: "http://127.0.0.1:8380/login?email={user.email}".to_owned(),
            metadata: MetadataFacts {
                url: "http://127.0.0.1:8380/saml/metadata".to_owned(),
                entity_id: "http://127.0.0.1:8380/saml/metadata".to_owned(),
                acs_url: "http://127.0.0.1:8380/saml/acs".to_owned(),
                acs_index: Some(0),
                slo: vec![(
                    "HTTP-Redirect".to_owned(),
                    "http://127.0.0.1:8380/saml/slo".to_owned(),
                )],
                signing_certs: vec!["CN=sp, valid until 2036".to_owned()],
                entities: 1,
                ..MetadataFacts::default()
            },
            email: "alice@corp.example".to_owned(),
            ..Findings::default()
        }
    }

    fn parse(text: &str) -> Target {
        Target::parse(text, "generated.toml", PathBuf::from(".")).unwrap_or_else(|e| {
            panic!("the generated file must parse: {e}\n{text}");
        })
    }

    fn entry(aspect: &str, value: &str, outcome: Outcome) -> Entry {
        Entry {
            aspect: aspect.to_owned(),
            value: value.to_owned(),
            outcome,
            observed: "observed".to_owned(),
        }
    }

    #[test]
    fn a_file_without_a_probe_parses_and_run_stops_at_the_todo() {
        let r = render(&findings());
        let target = parse(&r.text);
        assert_eq!(target.file.sp.acs_url, "{sp.base_url}/saml/acs");
        assert_eq!(target.file.session.probe_url, "{vars.todo_probe_url}");
        assert!(target.file.defaults.settings.is_empty());
        assert!(
            r.todos.iter().any(|t| t.contains("no session probe")),
            "{:?}",
            r.todos
        );
        assert!(r.text.contains("# TODO: init found no URL"), "{}", r.text);
        // `run` refuses it before anything is sent, naming the line of the placeholder.
        let err = crate::engine::check_inputs(&target, &[]).expect_err("unfilled");
        let line = r
            .text
            .lines()
            .position(|l| l.starts_with("probe_url"))
            .expect("probe line")
            + 1;
        assert!(
            err.message.contains(&format!("generated.toml:{line}"))
                && err.message.contains("todo_probe_url"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_complete_finding_parses_with_the_probe_the_start_and_the_profile() {
        let mut f = findings();
        f.login.route = Some(LoginRoute::SpInitiated {
            binding: "HTTP-Redirect",
        });
        f.login.probe = Some(IdentityProbe {
            url: "http://127.0.0.1:8380/me".to_owned(),
            signed_in_status: 200,
            signed_out_status: 401,
            identity: Extractor::Regex(r#"Signed in as ([^<>"'\s]+)"#.to_owned()),
            origin: "the page the login ended on",
        });
        f.login.anyone_signed_in = Some(true);
        f.start = Some(StartLines {
            command: vec!["node".to_owned(), "server.js".to_owned()],
            cwd: Some(PathBuf::from("node-saml")),
            env: vec![
                ("PORT".to_owned(), "8380".to_owned()),
                (
                    "IDP_METADATA_URL".to_owned(),
                    "{idp.metadata_url}".to_owned(),
                ),
            ],
            ready_url: "{sp.base_url}/healthz".to_owned(),
            ready_timeout_seconds: 30,
        });
        f.profile = Some(Profile {
            authn_request_binding: Some("HTTP-Redirect".to_owned()),
            entries: vec![
                entry(
                    "signing layout",
                    "signed at the Response only",
                    Outcome::Refused,
                ),
                entry(
                    "signing layout",
                    "signed at the Assertion only",
                    Outcome::Refused,
                ),
                entry("signing layout", "signed at both", Outcome::Accepted),
                entry(
                    "IdP-initiated login",
                    "an unsolicited response",
                    Outcome::Refused,
                ),
                entry(
                    "NameID format",
                    "unspecified (the email as NameID)",
                    Outcome::Accepted,
                ),
                entry(
                    "identity source",
                    "a persistent opaque NameID, the email in the `email` attribute",
                    Outcome::SignedInAs("u-1".to_owned()),
                ),
                entry(
                    "Single Logout",
                    "the IdP's LogoutRequest over HTTP-Redirect",
                    Outcome::Accepted,
                ),
            ],
            contradictions: Vec::new(),
        });
        let r = render(&f);
        let target = parse(&r.text);
        assert_eq!(target.file.session.probe_url, "{sp.base_url}/me");
        // The login URL given keeps its placeholders.
        assert_eq!(
            target.file.login.sp_initiated_url,
            "{sp.base_url}/login?email={user.email}"
        );
        assert_eq!(
            target.file.defaults.settings,
            [
                "signature=both",
                "idp-initiated=off",
                "identity=name-id",
                "name-id-format=any",
                "jit=on"
            ]
        );
        assert_eq!(target.file.capabilities.get("single-logout"), Some(&true));
        assert_eq!(target.file.capabilities.get("user-accounts"), Some(&false));
        let start = target.file.start.as_ref().expect("start");
        assert_eq!(start.command, ["node", "server.js"]);
        assert_eq!(
            start.env.get("IDP_METADATA_URL").map(String::as_str),
            Some("{idp.metadata_url}")
        );
        assert!(r.todos.is_empty(), "{:?}", r.todos);
        // Every placeholder has a value at run time.
        crate::engine::check_inputs(&target, &[]).expect("runnable");
        // What the profile shows is what the file declares: no contradiction.
        let mut profile = f.profile.expect("profile");
        profile.compare(&target);
        assert!(
            profile.contradictions.is_empty(),
            "{:?}",
            profile.contradictions
        );
    }

    #[test]
    fn layouts_no_signature_value_matches_are_left_open() {
        let p = Profile {
            authn_request_binding: None,
            entries: vec![
                entry(
                    "signing layout",
                    "signed at the Response only",
                    Outcome::Accepted,
                ),
                entry(
                    "signing layout",
                    "signed at the Assertion only",
                    Outcome::Refused,
                ),
                entry("signing layout", "signed at both", Outcome::Refused),
            ],
            contradictions: Vec::new(),
        };
        let (settings, open) = profile_settings(&p);
        assert!(settings.is_empty(), "{settings:?}");
        assert!(open[0].contains("no `signature=` value"), "{open:?}");
    }

    #[test]
    fn strings_with_quotes_braces_and_backslashes_survive() {
        let mut f = findings();
        f.name = "a \"quoted\" \\ name".to_owned();
        f.metadata.entity_id = "urn:x:{odd}".to_owned();
        let target = parse(&render(&f).text);
        assert_eq!(target.file.name, "a \"quoted\" \\ name");
        let vars = target.vars(None).expect("vars");
        assert_eq!(vars.get("sp.entity_id"), Some("urn:x:{odd}"));
    }
}
