//! Alterations: edits of the response model before signing. One function per variant.

use chrono::Duration;

use super::cosmetic::Cosmetic;
use super::model::{
    AssertionDoc, Attr, ConditionsDoc, Part, ResponseDoc, STATUS_PREFIX, StatusDoc,
};
use super::{PipelineError, ResponseContext};
use crate::plan::{
    Alteration, Emptiable, InResponseToScope, IssuerScope, Omittable, RawField, TimeField,
};

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
        Alteration::Empty { element } => empty(doc, *element)?,
        Alteration::Raw { field, value } => raw(doc, *field, value)?,
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
        Omittable::Status => {
            doc.shape.omitted.insert(Part::Status);
        }
        Omittable::StatusCode => {
            doc.shape.emptied.insert(Part::Status);
        }
        Omittable::ResponseId => {
            doc.shape.attributes.insert(Attr::Id, None);
        }
        Omittable::ResponseVersion => doc.version = None,
        Omittable::ResponseIssueInstant => {
            doc.shape.attributes.insert(Attr::IssueInstant, None);
        }
        Omittable::AssertionId => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::Id, None);
        }
        Omittable::AssertionVersion => assertion(doc, what)?.version = None,
        Omittable::AssertionIssueInstant => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::IssueInstant, None);
        }
        Omittable::Subject => {
            assertion(doc, what)?.shape.omitted.insert(Part::Subject);
        }
        Omittable::NameId => {
            assertion(doc, what)?.shape.omitted.insert(Part::NameId);
        }
        Omittable::SubjectConfirmation => {
            assertion(doc, what)?
                .shape
                .omitted
                .insert(Part::SubjectConfirmation);
        }
        Omittable::SubjectConfirmationMethod => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::Method, None);
        }
        Omittable::SubjectConfirmationData => {
            assertion(doc, what)?
                .shape
                .omitted
                .insert(Part::SubjectConfirmationData);
        }
        Omittable::AuthnInstant => {
            with_authn(doc, "omit")?
                .shape
                .attributes
                .insert(Attr::AuthnInstant, None);
        }
    }
    Ok(())
}

/// The assertion, which must still have its AuthnStatement.
fn with_authn<'a>(
    doc: &'a mut ResponseDoc,
    what: &str,
) -> Result<&'a mut AssertionDoc, PipelineError> {
    let a = assertion(doc, what)?;
    if a.authn.is_none() {
        return Err(PipelineError::Plan(format!(
            "alteration `{what}` needs an AuthnStatement, but it was omitted"
        )));
    }
    Ok(a)
}

/// The assertion's Conditions, which must not have been omitted.
fn conditions<'a>(
    doc: &'a mut ResponseDoc,
    what: &str,
) -> Result<&'a mut ConditionsDoc, PipelineError> {
    assertion(doc, what)?.conditions.as_mut().ok_or_else(|| {
        PipelineError::Plan(format!(
            "alteration `{what}` needs Conditions, but they were omitted"
        ))
    })
}

fn empty(doc: &mut ResponseDoc, element: Emptiable) -> Result<(), PipelineError> {
    let what = "empty";
    let blank = || Some(String::new());
    match element {
        Emptiable::Status => {
            doc.shape.emptied.insert(Part::Status);
        }
        Emptiable::StatusCode => {
            doc.shape.emptied.insert(Part::StatusCode);
        }
        Emptiable::StatusCodeValue => doc.status.code = String::new(),
        Emptiable::ResponseId => {
            doc.shape.attributes.insert(Attr::Id, blank());
        }
        Emptiable::ResponseVersion => doc.version = blank(),
        Emptiable::ResponseIssueInstant => {
            doc.shape.attributes.insert(Attr::IssueInstant, blank());
        }
        Emptiable::Destination => doc.destination = blank(),
        Emptiable::ResponseIssuer => doc.issuer = blank(),
        Emptiable::AssertionId => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::Id, blank());
        }
        Emptiable::AssertionVersion => assertion(doc, what)?.version = blank(),
        Emptiable::AssertionIssueInstant => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::IssueInstant, blank());
        }
        Emptiable::AssertionIssuer => assertion(doc, what)?.issuer = blank(),
        Emptiable::Subject => {
            assertion(doc, what)?.shape.emptied.insert(Part::Subject);
        }
        Emptiable::NameId => assertion(doc, what)?.name_id.value = String::new(),
        Emptiable::SubjectConfirmation => {
            assertion(doc, what)?
                .shape
                .emptied
                .insert(Part::SubjectConfirmation);
        }
        Emptiable::SubjectConfirmationMethod => {
            assertion(doc, what)?.confirmation.method = String::new();
        }
        Emptiable::SubjectConfirmationData => {
            assertion(doc, what)?
                .shape
                .emptied
                .insert(Part::SubjectConfirmationData);
        }
        Emptiable::Recipient => assertion(doc, what)?.confirmation.recipient = blank(),
        Emptiable::SubjectConfirmationNotOnOrAfter => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::ConfirmationNotOnOrAfter, blank());
        }
        Emptiable::Conditions => {
            let a = assertion(doc, what)?;
            a.conditions = Some(ConditionsDoc {
                not_before: None,
                not_on_or_after: None,
                audience: None,
                extra: Vec::new(),
            });
            a.shape.attributes.remove(&Attr::ConditionsNotBefore);
            a.shape.attributes.remove(&Attr::ConditionsNotOnOrAfter);
            a.shape.emptied.remove(&Part::AudienceRestriction);
        }
        Emptiable::ConditionsNotOnOrAfter => {
            conditions(doc, what)?;
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::ConditionsNotOnOrAfter, blank());
        }
        Emptiable::AudienceRestriction => {
            conditions(doc, what)?;
            assertion(doc, what)?
                .shape
                .emptied
                .insert(Part::AudienceRestriction);
        }
        Emptiable::Audience => conditions(doc, what)?.audience = blank(),
        Emptiable::AuthnStatement => {
            assertion(doc, what)?
                .shape
                .emptied
                .insert(Part::AuthnStatement);
        }
        Emptiable::AuthnInstant => {
            with_authn(doc, what)?
                .shape
                .attributes
                .insert(Attr::AuthnInstant, blank());
        }
    }
    Ok(())
}

fn raw(doc: &mut ResponseDoc, field: RawField, value: &str) -> Result<(), PipelineError> {
    let what = "raw";
    let text = value.to_owned();
    // An ID is made unique to this response (the random part of a fresh ID appended, as
    // `tamper id` does): an SP with a replay cache must not refuse the next response with the
    // same malformed ID as a replay of this one, whatever order the scenarios run in.
    let unique_id = (!value.is_empty())
        .then(|| format!("{value}-{}", &crate::xml::new_id()[1..17]))
        .or(Some(String::new()));
    let value = Some(value.to_owned());
    match field {
        RawField::ResponseId => {
            doc.shape.attributes.insert(Attr::Id, unique_id);
        }
        RawField::ResponseIssueInstant => {
            doc.shape.attributes.insert(Attr::IssueInstant, value);
        }
        RawField::StatusCodeValue => doc.status.code = text,
        RawField::ResponseIssuerFormat => {
            doc.shape.attributes.insert(Attr::IssuerFormat, value);
        }
        RawField::AssertionId => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::Id, unique_id);
        }
        RawField::AssertionIssueInstant => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::IssueInstant, value);
        }
        RawField::AssertionIssuerFormat => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::IssuerFormat, value);
        }
        RawField::SubjectConfirmationMethod => {
            assertion(doc, what)?.confirmation.method = text;
        }
        RawField::SubjectConfirmationNotOnOrAfter => {
            assertion(doc, what)?
                .shape
                .attributes
                .insert(Attr::ConfirmationNotOnOrAfter, value);
        }
        RawField::ConditionsNotBefore | RawField::ConditionsNotOnOrAfter => {
            conditions(doc, what)?;
            let which = if field == RawField::ConditionsNotBefore {
                Attr::ConditionsNotBefore
            } else {
                Attr::ConditionsNotOnOrAfter
            };
            assertion(doc, what)?.shape.attributes.insert(which, value);
        }
        RawField::AuthnInstant => {
            with_authn(doc, what)?
                .shape
                .attributes
                .insert(Attr::AuthnInstant, value);
        }
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
