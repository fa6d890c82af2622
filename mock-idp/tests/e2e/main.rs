//! End-to-end tests of the mock IdP: one test binary (samael and xmlsec link once).

mod attacks;
mod binary;
mod connections;
mod hostile;
mod http;
mod in_process;
mod login_page;
mod outage;
mod required;
mod round_trip;
mod schema_slots;
mod snapshots;
mod support;
mod xmlsec_cli;
