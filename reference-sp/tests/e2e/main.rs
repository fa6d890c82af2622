//! End-to-end: the reference SP driven through real SAML flows by the in-process mock IdP.
//!
//! - `flows`: valid logins with every mock-IdP flavour, SP- and IdP-initiated; password login,
//!   the API and the admin API.
//! - `hardening`: one case per hardened check: refused with its reason code, and accepted once
//!   the matching `--weaken` turns the check off. No network fetch during verification.
//! - `logout`: Single Logout from the IdP and from the SP, and one case per logout weakening.
//! - `sessions`: session binding (login CSRF, used once), RelayState, SessionNotOnOrAfter.
//! - `policy`: enforcement and role attributes under their weakenings, the IdP reachability
//!   check (a dead, failing or hanging IdP), the account's spelling of an email.
//! - `binary`: the `reference-sp` binary on loopback, `--weaken help`, SIGTERM.
//! - `connections`: idle connections time out, a connection cap, SIGTERM with idle ones open.

mod binary;
mod connections;
mod flows;
mod hardening;
mod logout;
mod policy;
mod sessions;
mod support;
