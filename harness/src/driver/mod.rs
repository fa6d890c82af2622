//! Drivers: how a user agent is simulated. The HTTP driver is reqwest with a cookie jar.

pub mod form;
pub mod http;

pub use self::http::{Page, SamlSeen, UserAgent};
