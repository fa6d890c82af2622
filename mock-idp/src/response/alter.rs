//! Alterations: edits of the response model before signing. One function per variant.

use chrono::Duration;

use super::cosmetic::Cosmetic;
use super::model::{ResponseDoc, STATUS_PREFIX, StatusDoc};
use super::{PipelineError, ResponseContext};
use crate::plan::{Alteration, InResponseToScope, IssuerScope, Omittable, TimeField};

/// Applies one alteration to the model.
pub(crate) fn apply(
    alteration: &Alteration,
    doc: &mut ResponseDoc,
    ctx: &ResponseContext<'_>,
) -> Result<(), PipelineError> {
    match alteration {
        Alteration::Destination { value } => doc.destination = Some(value.clone()),
        Alteration::Recipient { value } => recipient(doc, value)?,
        Alteration::Audience { value } => audience(doc, value)?,
        Alteration::Issuer { value, scope } => issuer(doc, value, *scope)?,
        Alteration::NameId { value } => assertion(doc, "name-id")?.name_id.value = value.clone(),
        Alteration::NameIdFormat { value } => {
            assertion(doc, "name-id-format")?.name_id.format = Some(value.clone());
        }
        Alteration::InResponseTo { value, scope } => in_response_to(doc, value, *scope)?,
        Alteration::Time {
            field,
            offset_seconds,
        } => time(doc, ctx, *field, *offset_seconds)?,
        Alteration::Status { code, second_level } => {
            doc.status = StatusDoc {
                code: status_uri(code),
                second_level: second_level.as_deref().map(status_uri),
            };
        }
        Alteration::Omit { element } => omit(doc, *element)?,
        Alteration::Whitespace { text } => cosmetic(doc, Cosmetic::Whitespace(text.clone()))?,
        Alteration::Prefixes { saml, samlp } => cosmetic(
            doc,
            Cosmetic::Prefixes {
                saml: saml.clone(),
                samlp: samlp.clone(),
            },
        )?,
        Alteration::ExtraAttribute { value } => {
            cosmetic(doc, Cosmetic::ExtraAttribute(value.clone()))?;
        }
        Alteration::ReverseAttributes => cosmetic(doc, Cosmetic::ReverseAttributes)?,
        Alteration::IssueInstantZone {
            offset_minutes,
            scope,
        } => {
            if offset_minutes.abs() > 14 * 60 {
                return Err(PipelineError::Plan(format!(
                    "alteration `issue-instant-zone`: offset_minutes {offset_minutes} is beyond ±14 hours"
                )));
            }
            if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
                doc.issue_instant_offset_minutes = Some(*offset_minutes);
            }
            if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
                assertion(doc, "issue-instant-zone")?.issue_instant_offset_minutes =
                    Some(*offset_minutes);
            }
        }
        Alteration::Version { value, scope } => {
            if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
                doc.version = Some(value.clone());
            }
            if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
                assertion(doc, "version")?.version = Some(value.clone());
            }
        }
        Alteration::Address { value } => {
            assertion(doc, "address")?.confirmation.address = Some(value.clone());
        }
        Alteration::AuthnContextClass { value } => {
            let authn = assertion(doc, "authn-context-class")?
                .authn
                .as_mut()
                .ok_or_else(|| {
                    PipelineError::Plan(
                        "alteration `authn-context-class`: the AuthnStatement was omitted".into(),
                    )
                })?;
            authn.class_ref = if value.contains(':') {
                value.clone()
            } else {
                format!("urn:oasis:names:tc:SAML:2.0:ac:classes:{value}")
            };
        }
        Alteration::ConfirmationMethod { value } => {
            assertion(doc, "confirmation-method")?.confirmation.method = if value.contains(':') {
                value.clone()
            } else {
                format!("urn:oasis:names:tc:SAML:2.0:cm:{value}")
            };
        }
        Alteration::Condition { element } => assertion(doc, "condition")?
            .conditions
            .as_mut()
            .ok_or_else(|| {
                PipelineError::Plan(
                    "alteration `condition`: the assertion has no Conditions (omitted?)".into(),
                )
            })?
            .extra
            .push(*element),
    }
    Ok(())
}

fn assertion<'a>(
    doc: &'a mut ResponseDoc,
    what: &str,
) -> Result<&'a mut super::model::AssertionDoc, PipelineError> {
    doc.assertion.as_mut().ok_or_else(|| {
        PipelineError::Plan(format!(
            "alteration `{what}` needs an assertion, but an earlier alteration omitted it"
        ))
    })
}

fn recipient(doc: &mut ResponseDoc, value: &str) -> Result<(), PipelineError> {
    assertion(doc, "recipient")?.confirmation.recipient = Some(value.to_owned());
    Ok(())
}

fn audience(doc: &mut ResponseDoc, value: &str) -> Result<(), PipelineError> {
    let conditions = assertion(doc, "audience")?
        .conditions
        .as_mut()
        .ok_or_else(|| {
            PipelineError::Plan(
                "alteration `audience` needs Conditions, but they were omitted".into(),
            )
        })?;
    conditions.audience = Some(value.to_owned());
    Ok(())
}

fn issuer(doc: &mut ResponseDoc, value: &str, scope: IssuerScope) -> Result<(), PipelineError> {
    if matches!(scope, IssuerScope::Response | IssuerScope::Both) {
        doc.issuer = Some(value.to_owned());
    }
    if matches!(scope, IssuerScope::Assertion | IssuerScope::Both) {
        assertion(doc, "issuer")?.issuer = Some(value.to_owned());
    }
    Ok(())
}

fn in_response_to(
    doc: &mut ResponseDoc,
    value: &str,
    scope: InResponseToScope,
) -> Result<(), PipelineError> {
    if matches!(scope, InResponseToScope::Response | InResponseToScope::Both) {
        doc.in_response_to = Some(value.to_owned());
    }
    if matches!(
        scope,
        InResponseToScope::SubjectConfirmation | InResponseToScope::Both
    ) {
        assertion(doc, "in-response-to")?
            .confirmation
            .in_response_to = Some(value.to_owned());
    }
    Ok(())
}

fn time(
    doc: &mut ResponseDoc,
    ctx: &ResponseContext<'_>,
    field: TimeField,
    offset_seconds: i64,
) -> Result<(), PipelineError> {
    let at = ctx.now + Duration::seconds(offset_seconds);
    let what = "time";
    match field {
        TimeField::ResponseIssueInstant => doc.issue_instant = at,
        TimeField::AssertionIssueInstant => assertion(doc, what)?.issue_instant = at,
        TimeField::NotBefore | TimeField::NotOnOrAfter => {
            let conditions = assertion(doc, what)?.conditions.as_mut().ok_or_else(|| {
                PipelineError::Plan(
                    "alteration `time` needs Conditions, but they were omitted".into(),
                )
            })?;
            if field == TimeField::NotBefore {
                conditions.not_before = Some(at);
            } else {
                conditions.not_on_or_after = Some(at);
            }
        }
        TimeField::SubjectConfirmationNotOnOrAfter => {
            assertion(doc, what)?.confirmation.not_on_or_after = Some(at);
        }
        TimeField::SubjectConfirmationNotBefore => {
            assertion(doc, what)?.confirmation.not_before = Some(at);
        }
        TimeField::SessionNotOnOrAfter => {
            let authn = assertion(doc, what)?.authn.as_mut().ok_or_else(|| {
                PipelineError::Plan(
                    "alteration `time` needs an AuthnStatement, but it was omitted".into(),
                )
            })?;
            authn.session_not_on_or_after = Some(at);
        }
    }
    Ok(())
}

fn omit(doc: &mut ResponseDoc, element: Omittable) -> Result<(), PipelineError> {
    let what = "omit";
    match element {
        Omittable::Destination => doc.destination = None,
        Omittable::ResponseIssuer => doc.issuer = None,
        Omittable::Assertion => doc.assertion = None,
        Omittable::InResponseTo => {
            doc.in_response_to = None;
            assertion(doc, what)?.confirmation.in_response_to = None;
        }
        Omittable::Recipient => assertion(doc, what)?.confirmation.recipient = None,
        Omittable::AssertionIssuer => assertion(doc, what)?.issuer = None,
        Omittable::SubjectConfirmationNotOnOrAfter => {
            assertion(doc, what)?.confirmation.not_on_or_after = None;
        }
        Omittable::Conditions => assertion(doc, what)?.conditions = None,
        Omittable::AudienceRestriction => {
            if let Some(conditions) = assertion(doc, what)?.conditions.as_mut() {
                conditions.audience = None;
            }
        }
        Omittable::AuthnStatement => assertion(doc, what)?.authn = None,
    }
    Ok(())
}

/// Expands a short status name (`Requester`) to its URI; full URIs pass through.
fn status_uri(code: &str) -> String {
    if code.contains(':') {
        code.to_owned()
    } else {
        format!("{STATUS_PREFIX}{code}")
    }
}

fn cosmetic(doc: &mut ResponseDoc, change: Cosmetic) -> Result<(), PipelineError> {
    change.check()?;
    doc.cosmetics.push(change);
    Ok(())
}
