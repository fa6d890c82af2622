//! What a captured response says, read once into owned values: the checks, the plan that
//! reproduces it and the redaction all work from these facts, never from the XML again.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use roxmltree::{Document, Node};
use serde::Serialize;

pub(crate) const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A response, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// `Response/@ID`.
    pub id: Option<String>,
    /// `Response/@Version`.
    pub version: Option<String>,
    /// `Response/@IssueInstant`.
    pub issue_instant: Instant,
    /// `Response/@Destination`.
    pub destination: Option<String>,
    /// `Response/@InResponseTo`.
    pub in_response_to: Option<String>,
    /// The Response's Issuer.
    pub issuer: Option<Issuer>,
    /// The top-level status code URI.
    pub status: Option<String>,
    /// The second-level status code URI.
    pub status_detail: Option<String>,
    /// `StatusMessage`.
    pub status_message: Option<String>,
    /// Every `ds:Signature` in the document, in order.
    pub signatures: Vec<SignatureFacts>,
    /// How many `saml:Assertion` elements the document holds.
    pub assertion_count: usize,
    /// The assertion read (the Response's first child assertion).
    pub assertion: Option<AssertionFacts>,
}

/// An instant as written, and parsed when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Instant {
    /// The text.
    pub text: Option<String>,
    /// The parsed value.
    pub value: Option<DateTime<Utc>>,
}

impl Instant {
    fn of(text: Option<&str>) -> Self {
        Self {
            text: text.map(str::to_owned),
            value: text
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// An Issuer element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issuer {
    /// Its text, trimmed.
    pub value: String,
    /// Its `Format`.
    pub format: Option<String>,
}

/// Which element a signature sits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignedElement {
    /// The `samlp:Response`.
    Response,
    /// The Response's `saml:Assertion`.
    Assertion,
    /// Anything else (its local name).
    Other(String),
}

impl SignedElement {
    /// For people.
    pub fn label(&self) -> String {
        match self {
            SignedElement::Response => "the Response".to_owned(),
            SignedElement::Assertion => "the Assertion".to_owned(),
            SignedElement::Other(name) => format!("a <{name}>"),
        }
    }
}

/// A `ds:Signature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureFacts {
    /// The element that holds it.
    pub on: SignedElement,
    /// The byte offset of the `ds:Signature` start tag (to find it again).
    pub at: usize,
    /// `Reference/@URI` values.
    pub references: Vec<String>,
    /// Whether the (single) reference names the holding element's ID.
    pub references_parent: bool,
    /// `SignatureMethod/@Algorithm`.
    pub algorithm: Option<String>,
    /// `DigestMethod/@Algorithm` values.
    pub digest_algorithms: Vec<String>,
    /// `CanonicalizationMethod/@Algorithm`.
    pub canonicalization: Option<String>,
    /// Transform algorithms of the references.
    pub transforms: Vec<String>,
    /// Whether a transform carries an `InclusiveNamespaces` prefix list.
    pub inclusive_namespaces: bool,
    /// The certificates in `KeyInfo` (DER), which prove nothing by themselves.
    #[serde(skip)]
    pub key_info_certs: Vec<Vec<u8>>,
}

/// The assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertionFacts {
    /// `@ID`.
    pub id: Option<String>,
    /// `@Version`.
    pub version: Option<String>,
    /// `@IssueInstant`.
    pub issue_instant: Instant,
    /// The Issuer.
    pub issuer: Option<Issuer>,
    /// The Subject's NameID text (all text nodes).
    pub name_id: Option<String>,
    /// `NameID/@Format`.
    pub name_id_format: Option<String>,
    /// `NameID/@SPNameQualifier`.
    pub sp_name_qualifier: Option<String>,
    /// Subject confirmations.
    pub confirmations: Vec<Confirmation>,
    /// Conditions.
    pub conditions: Option<Conditions>,
    /// The AuthnStatement.
    pub authn: Option<Authn>,
    /// Attributes in document order.
    pub attributes: Vec<Attribute>,
}

/// A SubjectConfirmation and its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    /// `@Method`.
    pub method: Option<String>,
    /// `SubjectConfirmationData/@Recipient`.
    pub recipient: Option<String>,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    pub not_on_or_after: Instant,
    /// `SubjectConfirmationData/@NotBefore`.
    pub not_before: Instant,
    /// `SubjectConfirmationData/@InResponseTo`.
    pub in_response_to: Option<String>,
    /// `SubjectConfirmationData/@Address`.
    pub address: Option<String>,
    /// Whether it has a SubjectConfirmationData at all.
    pub has_data: bool,
}

/// Conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conditions {
    /// `@NotBefore`.
    pub not_before: Instant,
    /// `@NotOnOrAfter`.
    pub not_on_or_after: Instant,
    /// The audiences of each AudienceRestriction.
    pub audience_restrictions: Vec<Vec<String>>,
}

/// The AuthnStatement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authn {
    /// `@AuthnInstant`.
    pub instant: Instant,
    /// `@SessionNotOnOrAfter`.
    pub session_not_on_or_after: Instant,
    /// `AuthnContextClassRef`.
    pub class_ref: Option<String>,
}

/// An Attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribute {
    /// `@Name`.
    pub name: String,
    /// `@NameFormat`.
    pub name_format: Option<String>,
    /// `@FriendlyName`.
    pub friendly_name: Option<String>,
    /// The values' full text.
    pub values: Vec<String>,
}

impl Facts {
    /// Reads the facts of a `samlp:Response` (the input module checked it is one).
    pub fn read(xml: &str) -> Result<Self, String> {
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            nodes_limit: 200_000,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = Document::parse_with_options(xml, options)
            .map_err(|e| format!("failed to parse the response: {e}"))?;
        let root = doc.root_element();
        let assertions: Vec<Node<'_, '_>> = doc
            .descendants()
            .filter(|n| n.has_tag_name((SAML, "Assertion")))
            .collect();
        let assertion_node = root
            .children()
            .find(|n| n.has_tag_name((SAML, "Assertion")))
            .or_else(|| assertions.first().copied());
        let status_code = root
            .children()
            .find(|n| n.has_tag_name((SAMLP, "Status")))
            .and_then(|s| s.children().find(|n| n.has_tag_name((SAMLP, "StatusCode"))));
        let signatures = doc
            .descendants()
            .filter(|n| n.has_tag_name((DS, "Signature")))
            .map(|s| signature(s, root, assertion_node))
            .collect();
        Ok(Facts {
            id: root.attribute("ID").map(str::to_owned),
            version: root.attribute("Version").map(str::to_owned),
            issue_instant: Instant::of(root.attribute("IssueInstant")),
            destination: root.attribute("Destination").map(str::to_owned),
            in_response_to: root.attribute("InResponseTo").map(str::to_owned),
            issuer: issuer(root),
            status: status_code
                .and_then(|c| c.attribute("Value"))
                .map(str::to_owned),
            status_detail: status_code
                .and_then(|c| c.children().find(|n| n.has_tag_name((SAMLP, "StatusCode"))))
                .and_then(|c| c.attribute("Value"))
                .map(str::to_owned),
            status_message: root
                .children()
                .find(|n| n.has_tag_name((SAMLP, "Status")))
                .and_then(|s| {
                    s.children()
                        .find(|n| n.has_tag_name((SAMLP, "StatusMessage")))
                })
                .map(full_text),
            signatures,
            assertion_count: assertions.len(),
            assertion: assertion_node.map(assertion),
        })
    }

    /// Whether the Response carries a signature of its own.
    pub fn response_signed(&self) -> bool {
        self.signatures
            .iter()
            .any(|s| s.on == SignedElement::Response)
    }

    /// Whether the Assertion carries a signature of its own.
    pub fn assertion_signed(&self) -> bool {
        self.signatures
            .iter()
            .any(|s| s.on == SignedElement::Assertion)
    }

    /// The bearer confirmation the SP would use (the first bearer one with data).
    pub fn bearer(&self) -> Option<&Confirmation> {
        self.assertion.as_ref().and_then(|a| {
            a.confirmations
                .iter()
                .find(|c| c.method.as_deref() == Some(BEARER) && c.has_data)
        })
    }
}

/// The bearer confirmation method.
pub(crate) const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

fn issuer(node: Node<'_, '_>) -> Option<Issuer> {
    node.children()
        .find(|n| n.has_tag_name((SAML, "Issuer")))
        .map(|i| Issuer {
            value: full_text(i).trim().to_owned(),
            format: i.attribute("Format").map(str::to_owned),
        })
}

fn signature(
    sig: Node<'_, '_>,
    root: Node<'_, '_>,
    assertion: Option<Node<'_, '_>>,
) -> SignatureFacts {
    let parent = sig.parent_element();
    let on = match parent {
        Some(p) if p == root => SignedElement::Response,
        Some(p) if Some(p) == assertion => SignedElement::Assertion,
        Some(p) => SignedElement::Other(p.tag_name().name().to_owned()),
        None => SignedElement::Other("(none)".to_owned()),
    };
    let signed_info = sig.children().find(|n| n.has_tag_name((DS, "SignedInfo")));
    let in_info = |name: &'static str| {
        signed_info
            .into_iter()
            .flat_map(|i| i.descendants())
            .filter(move |n| n.has_tag_name((DS, name)))
    };
    let references: Vec<String> = in_info("Reference")
        .map(|r| r.attribute("URI").unwrap_or_default().to_owned())
        .collect();
    let parent_id = parent.and_then(|p| p.attribute("ID"));
    let references_parent = matches!(&references[..], [one] if Some(one.trim_start_matches('#')) == parent_id && one.starts_with('#'));
    let key_info_certs = sig
        .children()
        .filter(|n| n.has_tag_name((DS, "KeyInfo")))
        .flat_map(|k| k.descendants())
        .filter(|n| n.has_tag_name((DS, "X509Certificate")))
        .filter_map(|c| {
            let text: String = full_text(c)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        })
        .collect();
    SignatureFacts {
        on,
        at: sig.range().start,
        references,
        references_parent,
        algorithm: in_info("SignatureMethod")
            .next()
            .and_then(|n| n.attribute("Algorithm"))
            .map(str::to_owned),
        digest_algorithms: in_info("DigestMethod")
            .filter_map(|n| n.attribute("Algorithm"))
            .map(str::to_owned)
            .collect(),
        canonicalization: in_info("CanonicalizationMethod")
            .next()
            .and_then(|n| n.attribute("Algorithm"))
            .map(str::to_owned),
        transforms: in_info("Transform")
            .filter_map(|n| n.attribute("Algorithm"))
            .map(str::to_owned)
            .collect(),
        inclusive_namespaces: signed_info.is_some_and(|i| {
            i.descendants()
                .any(|n| n.tag_name().name() == "InclusiveNamespaces")
        }),
        key_info_certs,
    }
}

fn assertion(a: Node<'_, '_>) -> AssertionFacts {
    let child = |name: &'static str| a.children().find(move |n| n.has_tag_name((SAML, name)));
    let subject = child("Subject");
    let name_id = subject.and_then(|s| s.children().find(|n| n.has_tag_name((SAML, "NameID"))));
    let conditions = child("Conditions").map(|c| Conditions {
        not_before: Instant::of(c.attribute("NotBefore")),
        not_on_or_after: Instant::of(c.attribute("NotOnOrAfter")),
        audience_restrictions: c
            .children()
            .filter(|n| n.has_tag_name((SAML, "AudienceRestriction")))
            .map(|r| {
                r.children()
                    .filter(|n| n.has_tag_name((SAML, "Audience")))
                    .map(|n| full_text(n).trim().to_owned())
                    .collect()
            })
            .collect(),
    });
    let authn = child("AuthnStatement").map(|s| Authn {
        instant: Instant::of(s.attribute("AuthnInstant")),
        session_not_on_or_after: Instant::of(s.attribute("SessionNotOnOrAfter")),
        class_ref: s
            .descendants()
            .find(|n| n.has_tag_name((SAML, "AuthnContextClassRef")))
            .map(|n| full_text(n).trim().to_owned()),
    });
    AssertionFacts {
        id: a.attribute("ID").map(str::to_owned),
        version: a.attribute("Version").map(str::to_owned),
        issue_instant: Instant::of(a.attribute("IssueInstant")),
        issuer: issuer(a),
        name_id: name_id.map(|n| full_text(n).trim().to_owned()),
        name_id_format: name_id
            .and_then(|n| n.attribute("Format"))
            .map(str::to_owned),
        sp_name_qualifier: name_id
            .and_then(|n| n.attribute("SPNameQualifier"))
            .map(str::to_owned),
        confirmations: subject
            .into_iter()
            .flat_map(|s| s.children())
            .filter(|n| n.has_tag_name((SAML, "SubjectConfirmation")))
            .map(|c| {
                let data = c
                    .children()
                    .find(|n| n.has_tag_name((SAML, "SubjectConfirmationData")));
                let attr = |name: &str| data.and_then(|d| d.attribute(name));
                Confirmation {
                    method: c.attribute("Method").map(str::to_owned),
                    recipient: attr("Recipient").map(str::to_owned),
                    not_on_or_after: Instant::of(attr("NotOnOrAfter")),
                    not_before: Instant::of(attr("NotBefore")),
                    in_response_to: attr("InResponseTo").map(str::to_owned),
                    address: attr("Address").map(str::to_owned),
                    has_data: data.is_some(),
                }
            })
            .collect(),
        conditions,
        authn,
        attributes: a
            .children()
            .filter(|n| n.has_tag_name((SAML, "AttributeStatement")))
            .flat_map(|s| s.children())
            .filter(|n| n.has_tag_name((SAML, "Attribute")))
            .map(|at| Attribute {
                name: at.attribute("Name").unwrap_or_default().to_owned(),
                name_format: at.attribute("NameFormat").map(str::to_owned),
                friendly_name: at.attribute("FriendlyName").map(str::to_owned),
                values: at
                    .children()
                    .filter(|v| v.has_tag_name((SAML, "AttributeValue")))
                    .map(|v| full_text(v).trim().to_owned())
                    .collect(),
            })
            .collect(),
    }
}

/// The whole text content of an element (every descendant text node: a comment cannot
/// truncate it).
pub(crate) fn full_text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Whether a value looks like an email address.
pub(crate) fn looks_like_email(value: &str) -> bool {
    let v = value.trim();
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}
