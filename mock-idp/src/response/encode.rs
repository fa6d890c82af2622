//! Encoding for the binding: an auto-submitting HTML form (HTTP-POST) or a redirect.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use flate2::Compression;
use flate2::write::DeflateEncoder;

use crate::plan::ResponseBinding;
use crate::xml::escape_attr;

/// How the user agent carries the response to the ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An HTML page whose form posts `SAMLResponse` (and `RelayState`) to the ACS.
    PostForm {
        /// The page.
        html: String,
    },
    /// A 303 redirect to the ACS with the response in the query string.
    Redirect {
        /// The full `Location`.
        location: String,
    },
}

/// Wraps the serialized response for `binding`.
pub fn encode(
    xml: &str,
    binding: ResponseBinding,
    acs_url: &str,
    relay_state: Option<&str>,
) -> Delivery {
    match binding {
        ResponseBinding::Post => Delivery::PostForm {
            html: post_form(acs_url, &B64.encode(xml), relay_state),
        },
        ResponseBinding::PostDeflated => Delivery::PostForm {
            html: post_form(acs_url, &B64.encode(deflate(xml)), relay_state),
        },
        ResponseBinding::PostDoubleBase64 => Delivery::PostForm {
            html: post_form(acs_url, &B64.encode(B64.encode(xml)), relay_state),
        },
        ResponseBinding::Redirect => {
            let deflated = deflate(xml);
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("SAMLResponse", &B64.encode(deflated));
            if let Some(relay_state) = relay_state {
                query.append_pair("RelayState", relay_state);
            }
            let separator = if acs_url.contains('?') { '&' } else { '?' };
            Delivery::Redirect {
                location: format!("{acs_url}{separator}{}", query.finish()),
            }
        }
    }
}

/// The `SAMLResponse` value `binding` carries: base64 (POST), DEFLATE + base64 (Redirect and
/// the deflated POST), or base64 twice.
pub fn response_value(xml: &str, binding: ResponseBinding) -> String {
    match binding {
        ResponseBinding::Post => B64.encode(xml),
        ResponseBinding::PostDeflated | ResponseBinding::Redirect => B64.encode(deflate(xml)),
        ResponseBinding::PostDoubleBase64 => B64.encode(B64.encode(xml)),
    }
}

/// Raw DEFLATE (the HTTP-Redirect encoding, SAML Bindings §3.4.4.1).
pub fn deflate(xml: &str) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(xml.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// The auto-submitting form of the HTTP-POST binding (SAML Bindings §3.5.4), with a button for
/// user agents without JavaScript.
pub fn post_form(action: &str, saml_response_b64: &str, relay_state: Option<&str>) -> String {
    post_form_field(action, "SAMLResponse", saml_response_b64, relay_state)
}

/// The auto-submitting form of the HTTP-POST binding carrying `field` (`SAMLRequest` or
/// `SAMLResponse`).
pub fn post_form_field(
    action: &str,
    field: &str,
    value_b64: &str,
    relay_state: Option<&str>,
) -> String {
    let relay = relay_state
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\"/>",
                escape_attr(r)
            )
        })
        .unwrap_or_default();
    format!(
        concat!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Mock IdP: sending the SAML response</title></head>",
            "<body onload=\"document.forms[0].submit()\">",
            "<form method=\"post\" action=\"{action}\">",
            "<input type=\"hidden\" name=\"{field}\" value=\"{response}\"/>{relay}",
            "<noscript><p>JavaScript is off: press the button to continue.</p><button type=\"submit\">Continue</button></noscript>",
            "</form></body></html>"
        ),
        action = escape_attr(action),
        field = escape_attr(field),
        response = value_b64,
        relay = relay,
    )
}
