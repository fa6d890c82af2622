//! Finds the SAML auto-submit form (HTTP-POST binding) in an HTML page.
//!
//! IdPs and SPs render it as a `<form method="post" action="...">` with hidden inputs named
//! `SAMLResponse` or `SAMLRequest` (and `RelayState`), submitted by script. Only such forms
//! are followed; a login form is a page the scenario ends on.

/// A form to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Where it submits (possibly relative).
    pub action: String,
    /// `POST` or `GET`.
    pub method: String,
    /// The fields, in document order.
    pub fields: Vec<(String, String)>,
}

// An element is found as its start tag, then the first end tag after it, by a scanner: a lazy
// `(.*?)` capture over the whole form (a SAMLResponse of tens of kilobytes) cost more than the
// rest of an exchange's work in the harness, and even `<input\b([^>]*)>` as a capturing
// regular expression, over a value of that size, was 2 % of a catalogue run's CPU.

/// The next start tag `<name` (ASCII case-insensitive, the name ended by a character that
/// cannot continue it) at or after `from`: its attribute text (up to the first `>`) and where
/// the tag ends. As `(?is)<name\b([^>]*)>`.
fn start_tag<'h>(html: &'h str, name: &str, from: usize) -> Option<(&'h str, usize)> {
    let mut at = from;
    loop {
        let open = at + html.get(at..)?.find('<')?;
        let after = open + 1 + name.len();
        let matches = html
            .get(open + 1..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && !html[after..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if matches {
            let close = after + html[after..].find('>')?;
            return Some((&html[after..close], close + 1));
        }
        at = open + 1;
    }
}

/// The next end tag `</name>` (ASCII case-insensitive, spaces allowed before `>`) at or after
/// `from`: where it starts and ends. As `(?i)</name\s*>`.
fn end_tag(html: &str, name: &str, from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let open = at + html.get(at..)?.find("</")?;
        let after = open + 2 + name.len();
        if html
            .get(open + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            let rest = &html[after..];
            let spaces = rest.len() - rest.trim_start().len();
            if rest[spaces..].starts_with('>') {
                return Some((open, after + spaces + 1));
            }
        }
        at = open + 2;
    }
}

/// Each `<name ...> ... </name>` element of `html`, in order: (its start tag's attributes, its
/// inner text up to the first end tag after the start tag). An element without an end tag is
/// none.
fn elements<'h>(
    html: &'h str,
    name: &'static str,
) -> impl Iterator<Item = (&'h str, &'h str)> + 'h {
    let mut at = 0;
    std::iter::from_fn(move || {
        let (attrs, inner_start) = start_tag(html, name, at)?;
        let (inner_end, close) = end_tag(html, name, inner_start)?;
        at = close;
        Some((attrs, &html[inner_start..inner_end]))
    })
}

/// The attribute text of each start tag `<name ...>` of `html`, in order.
fn start_tags<'h>(html: &'h str, name: &'static str) -> impl Iterator<Item = &'h str> + 'h {
    let mut at = 0;
    std::iter::from_fn(move || {
        let (attrs, end) = start_tag(html, name, at)?;
        at = end;
        Some(attrs)
    })
}

/// The value of attribute `name` (ASCII case-insensitive) in a start tag's attribute text:
/// `name="v"`, `name='v'` or `name=v`, character references decoded. A hand-written scanner:
/// a capturing regular expression over a `value` of tens of kilobytes (a SAMLResponse) is
/// slow.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let bytes = attrs.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphabetic() || matches!(b, b'_' | b':' | b'-');
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < bytes.len() {
        if !is_name(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name(bytes[i]) {
            i += 1;
        }
        let found = &attrs[start..i];
        let eq = skip_space(i);
        if bytes.get(eq) != Some(&b'=') {
            continue;
        }
        let v = skip_space(eq + 1);
        let (value, next) = match bytes.get(v) {
            Some(&q @ (b'"' | b'\'')) => match attrs[v + 1..].find(char::from(q)) {
                Some(len) => (&attrs[v + 1..v + 1 + len], v + 2 + len),
                None => {
                    // An unclosed quote: no value here; scanning goes on inside it.
                    i = v + 1;
                    continue;
                }
            },
            Some(_) => {
                let len = attrs[v..]
                    .find(|c: char| c.is_ascii_whitespace() || matches!(c, '"' | '\'' | '>'))
                    .unwrap_or(attrs.len() - v);
                if len == 0 {
                    i = v;
                    continue;
                }
                (&attrs[v..v + len], v + len)
            }
            None => return None,
        };
        if found.eq_ignore_ascii_case(name) {
            return Some(decode_entities(value));
        }
        i = next;
    }
    None
}

/// The first form on the page that carries `SAMLResponse` or `SAMLRequest`.
pub fn find_saml_form(html: &str) -> Option<Form> {
    elements(html, "form").find_map(|(attrs, inner)| {
        let mut fields = Vec::new();
        for a in start_tags(inner, "input") {
            if let Some(name) = attr(a, "name") {
                fields.push((name, attr(a, "value").unwrap_or_default()));
            }
        }
        for (area, text) in elements(inner, "textarea") {
            if let Some(name) = attr(area, "name") {
                fields.push((name, decode_entities(text)));
            }
        }
        if !fields
            .iter()
            .any(|(k, _)| k == "SAMLResponse" || k == "SAMLRequest")
        {
            return None;
        }
        Some(Form {
            action: attr(attrs, "action").unwrap_or_default(),
            method: attr(attrs, "method").unwrap_or_else(|| "GET".to_owned()),
            fields,
        })
    })
}

/// Decodes the HTML character references that appear in attribute values.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scanner against the regular expressions it replaced, on pages made of the pieces
    /// that matter (tags in either case, near-miss names, `>` and `</` in odd places).
    #[test]
    fn the_tag_scanner_finds_what_the_regular_expressions_found() {
        const PIECES: &[&str] = &[
            "<form",
            "<FORM",
            "<forms",
            "<form_",
            "<formé",
            "<form\n",
            "<input",
            "<INPUT ",
            "<inputs",
            "</form>",
            "</FORM  >",
            "</form\t\n>",
            "</forms>",
            "</form x>",
            "</",
            "<",
            ">",
            " a=\"1\"",
            " name='SAMLResponse'",
            " value=v",
            "é",
            "text",
            "\n",
            "<textarea",
            "</textarea >",
        ];
        let form_start = regex::Regex::new(r"(?is)<form\b([^>]*)>").expect("valid");
        let form_end = regex::Regex::new(r"(?i)</form\s*>").expect("valid");
        let input = regex::Regex::new(r"(?is)<input\b([^>]*)>").expect("valid");
        let by_regex = |html: &str| {
            let mut found = Vec::new();
            let mut at = 0;
            while let Some(open) = form_start.captures_at(html, at) {
                let whole = open.get(0).expect("whole");
                let Some(close) = form_end.find_at(html, whole.end()) else {
                    break;
                };
                at = close.end();
                found.push((
                    open.get(1).expect("attrs").as_str().to_owned(),
                    html[whole.end()..close.start()].to_owned(),
                ));
            }
            found
        };
        proptest!(ProptestConfig::with_cases(2000), |(parts in prop::collection::vec(prop::sample::select(PIECES), 0..24))| {
            let html = parts.concat();
            let scanned: Vec<_> = elements(&html, "form")
                .map(|(a, i)| (a.to_owned(), i.to_owned()))
                .collect();
            prop_assert_eq!(scanned, by_regex(&html));
            let inputs: Vec<_> = start_tags(&html, "input").collect();
            let regex_inputs: Vec<_> = input
                .captures_iter(&html)
                .map(|c| c.get(1).expect("attrs").as_str())
                .collect();
            prop_assert_eq!(inputs, regex_inputs);
        });
    }

    #[test]
    fn the_auto_submit_form_is_found_with_decoded_values() {
        let html = r#"<html><body onload="document.forms[0].submit()">
            <form id="login"><input name="email"></form>
            <form method="post" action="http://127.0.0.1:1/saml/acs?a=1&amp;b=2">
              <input type="hidden" name="SAMLResponse" value="PHNhbWw+"/>
              <input type='hidden' name='RelayState' value='x&quot;y'>
              <noscript><input type="submit" value="Continue"/></noscript>
            </form></body></html>"#;
        let form = find_saml_form(html).expect("form");
        assert_eq!(form.action, "http://127.0.0.1:1/saml/acs?a=1&b=2");
        assert_eq!(form.method, "post");
        assert_eq!(
            form.fields,
            vec![
                ("SAMLResponse".to_owned(), "PHNhbWw+".to_owned()),
                ("RelayState".to_owned(), "x\"y".to_owned())
            ]
        );
    }

    #[test]
    fn textareas_upper_case_tags_and_the_second_form_are_read() {
        let html = concat!(
            "<FORM action=/other></Form >",
            "<FORM METHOD=POST ACTION='/acs'><TEXTAREA name=SAMLResponse>a&amp;b</TEXTAREA >",
            "<textarea name=RelayState>r</textarea></FORM>"
        );
        let form = find_saml_form(html).expect("form");
        assert_eq!(
            (form.action.as_str(), form.method.as_str()),
            ("/acs", "POST")
        );
        assert_eq!(
            form.fields,
            vec![
                ("SAMLResponse".to_owned(), "a&b".to_owned()),
                ("RelayState".to_owned(), "r".to_owned())
            ]
        );
    }

    #[test]
    fn attributes_are_read_as_html_writes_them() {
        let big = "A".repeat(100_000);
        let tag = format!(
            r#" type=hidden data-name="no" NAME = 'SAMLResponse' value="{big}" checked x=1>"#
        );
        assert_eq!(attr(&tag, "name").as_deref(), Some("SAMLResponse"));
        assert_eq!(attr(&tag, "value").map(|v| v.len()), Some(100_000));
        assert_eq!(attr(&tag, "type").as_deref(), Some("hidden"));
        assert_eq!(attr(&tag, "x").as_deref(), Some("1"));
        assert_eq!(attr(&tag, "checked"), None);
        assert_eq!(attr(r#"title="a=b" b=c"#, "a"), None, "not inside a value");
        assert_eq!(attr(r#"title="a=b" b=c"#, "b").as_deref(), Some("c"));
        assert_eq!(attr(r#"v="unclosed a=1"#, "a").as_deref(), Some("1"));
        assert_eq!(attr("v=&amp;x", "v").as_deref(), Some("&x"));
        assert_eq!(attr("v= ", "v"), None);
    }

    #[test]
    fn pages_without_saml_forms_are_not_followed() {
        assert_eq!(
            find_saml_form("<form action=/x><input name=q></form>"),
            None
        );
        assert_eq!(find_saml_form("no form"), None);
        assert_eq!(
            find_saml_form("<form><input name=SAMLResponse value=x>"),
            None,
            "a form that never ends"
        );
        assert_eq!(decode_entities("a&#65;&#x42;&bogus;&"), "aAB&bogus;&");
    }
}
