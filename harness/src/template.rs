//! `{name}` placeholders in target and scenario strings (`{sp.base_url}`, `{user.email}`).
//! `{{` and `}}` stand for literal braces. An unknown name is an error that names it.

use std::collections::BTreeMap;

/// Values for placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

/// A placeholder without a value, or a brace that does not close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` has no value here.
    #[error("unknown placeholder `{{{name}}}` in `{template}` (known: {known})")]
    Unknown {
        /// The placeholder's name.
        name: String,
        /// The whole template.
        template: String,
        /// The names that do have values.
        known: String,
    },
    /// A `{` without its `}`.
    #[error("unclosed `{{` in `{0}` (write `{{{{` for a literal brace)")]
    Unclosed(String),
}

impl Vars {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// A value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A copy with more values.
    pub fn with(&self, more: &[(&str, &str)]) -> Self {
        let mut copy = self.clone();
        for (k, v) in more {
            copy.set(*k, *v);
        }
        copy
    }

    /// Replaces every placeholder in `template`.
    pub fn render(&self, template: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                out.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                out.push('}');
                rest = after;
            } else if let Some(after) = tail.strip_prefix('}') {
                out.push('}');
                rest = after;
            } else {
                let Some(end) = tail.find('}') else {
                    return Err(TemplateError::Unclosed(template.to_owned()));
                };
                let name = tail[1..end].trim();
                match self.values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(TemplateError::Unknown {
                            name: name.to_owned(),
                            template: template.to_owned(),
                            known: self.values.keys().cloned().collect::<Vec<_>>().join(", "),
                        });
                    }
                }
                rest = &tail[end + 1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Renders every string inside a JSON value.
    pub fn render_json(&self, value: &mut serde_json::Value) -> Result<(), TemplateError> {
        match value {
            serde_json::Value::String(s) => {
                *s = self.render(s)?;
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.render_json(item)?;
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values_mut() {
                    self.render_json(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_braces_escaped() {
        let mut vars = Vars::new();
        vars.set("sp.base_url", "http://127.0.0.1:1")
            .set("user.email", "a@b");
        assert_eq!(
            vars.render("{sp.base_url}/login?email={user.email}&x={{y}}")
                .expect("ok"),
            "http://127.0.0.1:1/login?email=a@b&x={y}"
        );
        let err = vars.render("{sp.base}").expect_err("unknown");
        assert!(err.to_string().contains("`{sp.base}`"), "{err}");
        assert!(err.to_string().contains("sp.base_url"), "{err}");
        assert!(matches!(
            vars.render("{oops"),
            Err(TemplateError::Unclosed(_))
        ));
    }

    #[test]
    fn json_strings_are_rendered_deeply() {
        let vars = Vars::new().with(&[("a", "1")]);
        let mut v = serde_json::json!({"x": ["{a}", {"y": "{a}{a}"}], "n": 3});
        vars.render_json(&mut v).expect("ok");
        assert_eq!(v, serde_json::json!({"x": ["1", {"y": "11"}], "n": 3}));
    }
}
