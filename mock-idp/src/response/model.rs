//! The response as data, before it becomes XML.
//!
//! Alterations edit this model; `render_response` and `render_assertion` turn it into text
//! with signature templates where the signing layout wants them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::clock::saml_instant;
use crate::xml::{NS_SAML, NS_SAMLP, NS_XS, NS_XSI, escape_attr, escape_text};

/// A `samlp:Response`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseDoc {
    /// `@ID`.
    pub id: String,
    /// `@Version` ("2.0"; absent when omitted).
    pub version: Option<String>,
    /// `@IssueInstant`.
    pub issue_instant: DateTime<Utc>,
    /// Writes `@IssueInstant` with this offset from UTC in minutes instead of `Z` (SAML Core
    /// §1.3.3 requires UTC with no time zone component).
    pub issue_instant_offset_minutes: Option<i32>,
    /// `@Destination`.
    pub destination: Option<String>,
    /// `@InResponseTo`.
    pub in_response_to: Option<String>,
    /// `saml:Issuer`.
    pub issuer: Option<String>,
    /// `samlp:Status`.
    pub status: StatusDoc,
    /// The one assertion, if any.
    pub assertion: Option<AssertionDoc>,
    /// How the assertion namespace is written.
    pub saml_ns: SamlNamespaceStyle,
    /// Cosmetic changes made to the text before signing.
    pub cosmetics: Vec<super::cosmetic::Cosmetic>,
    /// The Response's own parts written other than the typed fields say.
    pub shape: Shape,
}

/// Parts of a document written other than its typed fields say (alterations `omit`, `empty`
/// and `raw`): elements left out or emptied, attributes left out or written as given. Parts
/// the typed fields can already express (an `Option`, a free `String`) are not here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// Elements left out, with everything inside them.
    pub omitted: BTreeSet<Part>,
    /// Elements written with no attributes and no content.
    pub emptied: BTreeSet<Part>,
    /// Attributes written as given (`Some`, unchecked) or left out (`None`) instead of from
    /// the typed fields.
    pub attributes: BTreeMap<Attr, Option<String>>,
}

impl Shape {
    fn omits(&self, part: Part) -> bool {
        self.omitted.contains(&part)
    }

    fn empties(&self, part: Part) -> bool {
        self.emptied.contains(&part)
    }

    /// The attribute's text: the override if there is one, else `typed`.
    fn attr(&self, which: Attr, typed: Option<String>) -> Option<String> {
        match self.attributes.get(&which) {
            Some(value) => value.clone(),
            None => typed,
        }
    }
}

/// Elements a [`Shape`] can leave out or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// `samlp:Status`.
    Status,
    /// The top-level `samlp:StatusCode`.
    StatusCode,
    /// `saml:Subject`.
    Subject,
    /// `Subject/NameID`.
    NameId,
    /// `Subject/SubjectConfirmation`.
    SubjectConfirmation,
    /// `SubjectConfirmation/SubjectConfirmationData`.
    SubjectConfirmationData,
    /// `Conditions/AudienceRestriction`.
    AudienceRestriction,
    /// `AuthnStatement`.
    AuthnStatement,
}

/// Attributes a [`Shape`] can leave out or write as given. `Id`, `IssueInstant` and
/// `IssuerFormat` are those of the document that holds the shape (Response or Assertion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attr {
    /// `@ID`.
    Id,
    /// `@IssueInstant`.
    IssueInstant,
    /// `Issuer/@Format`.
    IssuerFormat,
    /// `SubjectConfirmation/@Method`.
    Method,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    ConfirmationNotOnOrAfter,
    /// `Conditions/@NotBefore`.
    ConditionsNotBefore,
    /// `Conditions/@NotOnOrAfter`.
    ConditionsNotOnOrAfter,
    /// `AuthnStatement/@AuthnInstant`.
    AuthnInstant,
}

/// The `ID` a document is written with, if it has a non-empty one (what a signature over it
/// must reference).
fn written_id<'a>(id: &'a str, shape: &'a Shape) -> Option<&'a str> {
    match shape.attributes.get(&Attr::Id) {
        Some(Some(value)) => Some(value.as_str()),
        Some(None) => None,
        None => Some(id),
    }
    .filter(|v| !v.is_empty())
}

impl ResponseDoc {
    /// The `ID` the Response is written with; `None` when it is left out or empty.
    pub fn written_id(&self) -> Option<&str> {
        written_id(&self.id, &self.shape)
    }
}

/// How elements of the assertion namespace are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlNamespaceStyle {
    /// `saml:` prefix (most IdPs).
    Prefixed,
    /// A default namespace declared on `Issuer` and `Assertion` (Entra ID, AD FS).
    Default,
    /// `saml2:` prefix (OpenSAML: Shibboleth, Google).
    Saml2,
}

/// `samlp:Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDoc {
    /// Top-level `StatusCode/@Value`.
    pub code: String,
    /// Nested `StatusCode/@Value`.
    pub second_level: Option<String>,
}

/// Status code URI prefix.
pub const STATUS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";

impl StatusDoc {
    /// Top-level Success.
    pub fn success() -> Self {
        Self {
            code: format!("{STATUS_PREFIX}Success"),
            second_level: None,
        }
    }
}

/// A `saml:Assertion`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertionDoc {
    /// `@ID`.
    pub id: String,
    /// `@Version` ("2.0"; absent when omitted).
    pub version: Option<String>,
    /// `@IssueInstant`.
    pub issue_instant: DateTime<Utc>,
    /// Writes `@IssueInstant` with this offset from UTC in minutes instead of `Z` (SAML Core
    /// §1.3.3 requires UTC with no time zone component).
    pub issue_instant_offset_minutes: Option<i32>,
    /// `saml:Issuer`.
    pub issuer: Option<String>,
    /// `Subject/NameID`.
    pub name_id: NameIdDoc,
    /// The bearer `SubjectConfirmationData`.
    pub confirmation: ConfirmationDoc,
    /// `Conditions`.
    pub conditions: Option<ConditionsDoc>,
    /// `AuthnStatement`.
    pub authn: Option<AuthnDoc>,
    /// `AttributeStatement/Attribute`s (no statement when empty).
    pub attributes: Vec<AttributeDoc>,
    /// Whether attribute values carry `xsi:type="xs:string"`.
    pub typed_attribute_values: bool,
    /// The Assertion's parts written other than the typed fields say.
    pub shape: Shape,
}

impl AssertionDoc {
    /// The `ID` the Assertion is written with; `None` when it is left out or empty.
    pub fn written_id(&self) -> Option<&str> {
        written_id(&self.id, &self.shape)
    }
}

/// `saml:NameID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameIdDoc {
    /// Text content.
    pub value: String,
    /// `@Format`.
    pub format: Option<String>,
    /// `@SPNameQualifier`.
    pub sp_name_qualifier: Option<String>,
}

/// The bearer `SubjectConfirmationData`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmationDoc {
    /// `@Recipient`.
    pub recipient: Option<String>,
    /// `@NotOnOrAfter`.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// `@InResponseTo`.
    pub in_response_to: Option<String>,
    /// `@NotBefore` (bearer confirmations MUST NOT carry one).
    pub not_before: Option<DateTime<Utc>>,
    /// `@Address`.
    pub address: Option<String>,
    /// `SubjectConfirmation/@Method`.
    pub method: String,
}

/// `saml:Conditions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionsDoc {
    /// `@NotBefore`.
    pub not_before: Option<DateTime<Utc>>,
    /// `@NotOnOrAfter`.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// The one `AudienceRestriction/Audience`; no restriction when absent.
    pub audience: Option<String>,
    /// More conditions after the audience restriction, in order.
    pub extra: Vec<crate::plan::ConditionKind>,
}

/// `saml:AuthnStatement`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthnDoc {
    /// `@AuthnInstant`.
    pub instant: DateTime<Utc>,
    /// `@SessionIndex`.
    pub session_index: Option<String>,
    /// `@SessionNotOnOrAfter`.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// `AuthnContext/AuthnContextClassRef`.
    pub class_ref: String,
}

/// `saml:Attribute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDoc {
    /// `@Name`.
    pub name: String,
    /// `@NameFormat`.
    pub name_format: Option<String>,
    /// `@FriendlyName`.
    pub friendly_name: Option<String>,
    /// `AttributeValue`s.
    pub values: Vec<String>,
}

/// Where the signature template goes, if anywhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template<'a> {
    /// The full `ds:Signature` template text.
    pub(crate) text: &'a str,
}

fn push_attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape_attr(value));
        out.push('"');
    }
}

fn push_issue_instant(
    out: &mut String,
    value: DateTime<Utc>,
    offset_minutes: Option<i32>,
    shape: &Shape,
) {
    let zoned = offset_minutes
        .and_then(|m| chrono::FixedOffset::east_opt(m * 60))
        .map(|zone| {
            value
                .with_timezone(&zone)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        });
    let text = zoned.unwrap_or_else(|| saml_instant(value));
    push_attr(
        out,
        "IssueInstant",
        shape.attr(Attr::IssueInstant, Some(text)).as_deref(),
    );
}

/// An instant attribute, unless `shape` overrides it.
fn push_instant_shaped(
    out: &mut String,
    name: &str,
    value: Option<DateTime<Utc>>,
    shape: &Shape,
    which: Attr,
) {
    push_attr(
        out,
        name,
        shape.attr(which, value.map(saml_instant)).as_deref(),
    );
}

/// An `Issuer` element, or nothing.
fn push_issuer(out: &mut String, p: &str, decl: &str, issuer: Option<&str>, shape: &Shape) {
    if let Some(issuer) = issuer {
        out.push_str(&format!("<{p}Issuer{decl}"));
        push_attr(
            out,
            "Format",
            shape.attr(Attr::IssuerFormat, None).as_deref(),
        );
        out.push_str(&format!(">{}</{p}Issuer>", escape_text(issuer)));
    }
}

fn push_instant(out: &mut String, name: &str, value: Option<DateTime<Utc>>) {
    push_attr(out, name, value.map(saml_instant).as_deref());
}

struct Names {
    prefix: &'static str,
}

impl Names {
    fn of(style: SamlNamespaceStyle) -> Self {
        Self {
            prefix: match style {
                SamlNamespaceStyle::Prefixed => "saml:",
                SamlNamespaceStyle::Default => "",
                SamlNamespaceStyle::Saml2 => "saml2:",
            },
        }
    }

    /// The declaration to put on an element that starts a saml-namespace subtree.
    fn declaration(&self) -> String {
        match self.prefix.strip_suffix(':') {
            None => format!(" xmlns=\"{NS_SAML}\""),
            Some(name) => format!(" xmlns:{name}=\"{NS_SAML}\""),
        }
    }
}

/// Renders the assertion as a standalone element that declares every namespace it uses, with
/// `template` (if any) right after its Issuer, where the schema puts `ds:Signature`.
pub(crate) fn render_assertion(
    assertion: &AssertionDoc,
    style: SamlNamespaceStyle,
    template: Option<Template<'_>>,
) -> String {
    let n = Names::of(style);
    let p = n.prefix;
    let mut out = String::with_capacity(4096);
    out.push('<');
    out.push_str(p);
    out.push_str("Assertion");
    out.push_str(&n.declaration());
    if assertion.typed_attribute_values && !assertion.attributes.is_empty() {
        out.push_str(&format!(" xmlns:xs=\"{NS_XS}\" xmlns:xsi=\"{NS_XSI}\""));
    }
    let shape = &assertion.shape;
    push_attr(
        &mut out,
        "ID",
        shape.attr(Attr::Id, Some(assertion.id.clone())).as_deref(),
    );
    push_attr(&mut out, "Version", assertion.version.as_deref());
    push_issue_instant(
        &mut out,
        assertion.issue_instant,
        assertion.issue_instant_offset_minutes,
        shape,
    );
    out.push('>');
    push_issuer(&mut out, p, "", assertion.issuer.as_deref(), shape);
    if let Some(t) = template {
        out.push_str(t.text);
    }
    push_subject(&mut out, p, assertion);
    if let Some(conditions) = &assertion.conditions {
        out.push_str(&format!("<{p}Conditions"));
        push_instant_shaped(
            &mut out,
            "NotBefore",
            conditions.not_before,
            shape,
            Attr::ConditionsNotBefore,
        );
        push_instant_shaped(
            &mut out,
            "NotOnOrAfter",
            conditions.not_on_or_after,
            shape,
            Attr::ConditionsNotOnOrAfter,
        );
        out.push('>');
        if shape.empties(Part::AudienceRestriction) {
            out.push_str(&format!("<{p}AudienceRestriction/>"));
        } else if let Some(audience) = &conditions.audience {
            out.push_str(&format!(
                "<{p}AudienceRestriction><{p}Audience>{}</{p}Audience></{p}AudienceRestriction>",
                escape_text(audience)
            ));
        }
        for extra in &conditions.extra {
            out.push_str(&match extra {
                crate::plan::ConditionKind::OneTimeUse => format!("<{p}OneTimeUse/>"),
                crate::plan::ConditionKind::ProxyRestriction => {
                    format!("<{p}ProxyRestriction Count=\"0\"/>")
                }
                crate::plan::ConditionKind::Unknown => {
                    "<x:Custom xmlns:x=\"urn:example:harness:custom-condition\"/>".to_owned()
                }
            });
        }
        out.push_str(&format!("</{p}Conditions>"));
    }
    if shape.empties(Part::AuthnStatement) {
        out.push_str(&format!("<{p}AuthnStatement/>"));
    } else if let Some(authn) = &assertion.authn {
        out.push_str(&format!("<{p}AuthnStatement"));
        push_instant_shaped(
            &mut out,
            "AuthnInstant",
            Some(authn.instant),
            shape,
            Attr::AuthnInstant,
        );
        push_attr(&mut out, "SessionIndex", authn.session_index.as_deref());
        push_instant(
            &mut out,
            "SessionNotOnOrAfter",
            authn.session_not_on_or_after,
        );
        out.push_str(&format!(
            "><{p}AuthnContext><{p}AuthnContextClassRef>{}</{p}AuthnContextClassRef></{p}AuthnContext></{p}AuthnStatement>",
            escape_text(&authn.class_ref)
        ));
    }
    if !assertion.attributes.is_empty() {
        out.push_str(&format!("<{p}AttributeStatement>"));
        for attribute in &assertion.attributes {
            out.push_str(&format!("<{p}Attribute"));
            push_attr(&mut out, "Name", Some(&attribute.name));
            push_attr(&mut out, "NameFormat", attribute.name_format.as_deref());
            push_attr(&mut out, "FriendlyName", attribute.friendly_name.as_deref());
            out.push('>');
            for value in &attribute.values {
                if assertion.typed_attribute_values {
                    out.push_str(&format!("<{p}AttributeValue xsi:type=\"xs:string\">"));
                } else {
                    out.push_str(&format!("<{p}AttributeValue>"));
                }
                out.push_str(&escape_text(value));
                out.push_str(&format!("</{p}AttributeValue>"));
            }
            out.push_str(&format!("</{p}Attribute>"));
        }
        out.push_str(&format!("</{p}AttributeStatement>"));
    }
    out.push_str(&format!("</{p}Assertion>"));
    out
}

/// The `Subject`: NameID, then the bearer SubjectConfirmation, as the shape allows.
fn push_subject(out: &mut String, p: &str, assertion: &AssertionDoc) {
    let shape = &assertion.shape;
    if shape.omits(Part::Subject) {
        return;
    }
    if shape.empties(Part::Subject) {
        out.push_str(&format!("<{p}Subject/>"));
        return;
    }
    out.push_str(&format!("<{p}Subject>"));
    if !shape.omits(Part::NameId) {
        out.push_str(&format!("<{p}NameID"));
        push_attr(out, "Format", assertion.name_id.format.as_deref());
        push_attr(
            out,
            "SPNameQualifier",
            assertion.name_id.sp_name_qualifier.as_deref(),
        );
        out.push('>');
        out.push_str(&escape_text(&assertion.name_id.value));
        out.push_str(&format!("</{p}NameID>"));
    }
    let c = &assertion.confirmation;
    if shape.empties(Part::SubjectConfirmation) {
        out.push_str(&format!("<{p}SubjectConfirmation/>"));
    } else if !shape.omits(Part::SubjectConfirmation) {
        out.push_str(&format!("<{p}SubjectConfirmation"));
        push_attr(
            out,
            "Method",
            shape.attr(Attr::Method, Some(c.method.clone())).as_deref(),
        );
        out.push('>');
        if shape.empties(Part::SubjectConfirmationData) {
            out.push_str(&format!("<{p}SubjectConfirmationData/>"));
        } else if !shape.omits(Part::SubjectConfirmationData) {
            out.push_str(&format!("<{p}SubjectConfirmationData"));
            push_instant(out, "NotBefore", c.not_before);
            push_attr(out, "Address", c.address.as_deref());
            push_attr(out, "InResponseTo", c.in_response_to.as_deref());
            push_instant_shaped(
                out,
                "NotOnOrAfter",
                c.not_on_or_after,
                shape,
                Attr::ConfirmationNotOnOrAfter,
            );
            push_attr(out, "Recipient", c.recipient.as_deref());
            out.push_str("/>");
        }
        out.push_str(&format!("</{p}SubjectConfirmation>"));
    }
    out.push_str(&format!("</{p}Subject>"));
}

/// Renders the response around an already rendered (and possibly signed) assertion.
pub(crate) fn render_response(
    response: &ResponseDoc,
    assertion_xml: Option<&str>,
    template: Option<Template<'_>>,
) -> String {
    let n = Names::of(response.saml_ns);
    let p = n.prefix;
    let mut out = String::with_capacity(8192);
    out.push_str(&format!("<samlp:Response xmlns:samlp=\"{NS_SAMLP}\""));
    if !p.is_empty() {
        out.push_str(&n.declaration());
    }
    let shape = &response.shape;
    push_attr(
        &mut out,
        "ID",
        shape.attr(Attr::Id, Some(response.id.clone())).as_deref(),
    );
    push_attr(&mut out, "Version", response.version.as_deref());
    push_issue_instant(
        &mut out,
        response.issue_instant,
        response.issue_instant_offset_minutes,
        shape,
    );
    push_attr(&mut out, "Destination", response.destination.as_deref());
    push_attr(&mut out, "InResponseTo", response.in_response_to.as_deref());
    out.push('>');
    let decl = if p.is_empty() {
        n.declaration()
    } else {
        String::new()
    };
    push_issuer(&mut out, p, &decl, response.issuer.as_deref(), shape);
    if let Some(t) = template {
        out.push_str(t.text);
    }
    if shape.empties(Part::Status) {
        out.push_str("<samlp:Status/>");
    } else if !shape.omits(Part::Status) {
        out.push_str("<samlp:Status>");
        if shape.empties(Part::StatusCode) {
            out.push_str("<samlp:StatusCode/>");
        } else {
            push_status(&mut out, &response.status);
        }
        out.push_str("</samlp:Status>");
    }
    if let Some(assertion) = assertion_xml {
        out.push_str(assertion);
    }
    out.push_str("</samlp:Response>");
    out
}

fn push_status(out: &mut String, status: &StatusDoc) {
    out.push_str("<samlp:StatusCode");
    push_attr(out, "Value", Some(&status.code));
    match &status.second_level {
        Some(second) => {
            out.push_str("><samlp:StatusCode");
            push_attr(out, "Value", Some(second));
            out.push_str("/></samlp:StatusCode>");
        }
        None => out.push_str("/>"),
    }
}
