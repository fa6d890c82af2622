//! Gathers what `diagnose` and `reproduce` need from the command line: the captures, the
//! metadata, the time base. Every failure here is bad input (exit code 2).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::checks::Context;
use super::input::{self, Capture, InputError};
use super::metadata::{self, MetadataError};

/// What the user gave.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// INPUT: a file, `-`, or the value.
    pub input: String,
    /// Which capture (1-based) of a HAR or SAML-tracer file; all when absent.
    pub index: Option<usize>,
    /// `--sp-metadata FILE|URL`.
    pub sp_metadata: Option<String>,
    /// `--idp-metadata FILE|URL`.
    pub idp_metadata: Option<String>,
    /// `--idp-cert FILE`.
    pub idp_cert: Option<String>,
    /// `--entered-email`.
    pub entered_email: Option<String>,
    /// `--email-attribute`.
    pub email_attribute: Option<String>,
    /// `--at`.
    pub at: Option<String>,
    /// `--clock-skew` seconds.
    pub clock_skew_seconds: i64,
}

/// Failed to gather the inputs (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The captured response.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Metadata or a certificate.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// `--at`.
    #[error(
        "failed to read --at {0:?}: give an instant such as 2026-11-25T10:41:36Z (a time without a zone is taken as UTC)"
    )]
    Time(String),
    /// Two sources for the same thing.
    #[error("{0}")]
    Conflict(String),
}

/// The captures and the context to judge them in.
pub async fn load(request: &Request) -> Result<(Vec<Capture>, Context), LoadError> {
    let (source_name, text) = input::read_input(&request.input)?;
    let captures = input::parse(&source_name, &text)?;
    let captures = input::select(&source_name, captures, request.index)?;
    let sp = match &request.sp_metadata {
        Some(location) => {
            let xml = metadata::load_text(location).await?;
            Some(metadata::sp_from_metadata(location, &xml)?)
        }
        None => None,
    };
    let idp = match (&request.idp_metadata, &request.idp_cert) {
        (Some(_), Some(_)) => {
            return Err(LoadError::Conflict(
                "give --idp-metadata or --idp-cert, not both".to_owned(),
            ));
        }
        (Some(location), None) => {
            let xml = metadata::load_text(location).await?;
            Some(metadata::idp_from_metadata(location, &xml)?)
        }
        (None, Some(path)) => {
            let bytes = hardening::limited::read_file(
                std::path::Path::new(path),
                metadata::MAX_METADATA_BYTES,
            )
            .map_err(|e| MetadataError {
                source_name: path.clone(),
                message: e.kind.to_string(),
            })?;
            Some(metadata::idp_from_certificate(path, &bytes)?)
        }
        (None, None) => None,
    };
    let at = request.at.as_deref().map(parse_instant).transpose()?;
    Ok((
        captures,
        Context {
            sp,
            idp,
            entered_email: request.entered_email.clone(),
            email_attribute: request.email_attribute.clone(),
            at,
            clock_skew_seconds: request.clock_skew_seconds,
        },
    ))
}

/// RFC 3339, or a date and time without a zone (UTC), with `T` or a space.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, LoadError> {
    let t = text.trim();
    if let Ok(v) = DateTime::parse_from_rfc3339(t) {
        return Ok(v.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(v) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(v.and_utc());
        }
    }
    Err(LoadError::Time(text.to_owned()))
}
