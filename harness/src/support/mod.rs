//! Support tooling for an "SSO auth failed" ticket: read a captured response ([`input`]),
//! read what it says ([`facts`]), run every check on it ([`checks`], with the signature look
//! in [`signature`] and the IdP product's words in [`product`]), print the diagnosis
//! ([`render`]), replay an equivalent response against an SP ([`reproduce`]), and share it
//! without personal data ([`redact`]).

pub mod checks;
pub mod facts;
#[cfg(test)]
mod fixtures;
pub mod input;
pub mod load;
pub mod metadata;
pub mod product;
pub mod redact;
pub mod render;
pub mod reproduce;
pub mod signature;
