//! The minijinja templates of the summary page and the emails: built into the binary, and
//! overridden file by file from `mail.template_dir`. All templates are compiled when they are
//! loaded, so a template error stops the program at start, not in the middle of a run.

use anyhow::Context;
use minijinja::{AutoEscape, Environment};
use std::path::Path;

/// The built-in templates, by name. A file of the same name in the template folder replaces one.
const BUILTIN: &[(&str, &str)] = &[
    (
        "_layout.html.j2",
        include_str!("../templates/_layout.html.j2"),
    ),
    (
        "_summary.html.j2",
        include_str!("../templates/_summary.html.j2"),
    ),
    (
        "summary.html.j2",
        include_str!("../templates/summary.html.j2"),
    ),
    (
        "management.html.j2",
        include_str!("../templates/management.html.j2"),
    ),
    (
        "management.txt.j2",
        include_str!("../templates/management.txt.j2"),
    ),
    (
        "action_list.html.j2",
        include_str!("../templates/action_list.html.j2"),
    ),
    (
        "action_list.txt.j2",
        include_str!("../templates/action_list.txt.j2"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, with those in `template_dir` (when not empty) in their place.
    pub fn load(template_dir: &str) -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        // HTML templates escape every value; plain-text ones do not.
        env.set_auto_escape_callback(|name| {
            if name.contains(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // `{{ total | count("finding") }}`: "1 finding", "2 findings", as everywhere else.
        env.add_filter("count", |n: minijinja::Value, noun: String| {
            crate::output::count(n, &noun)
        });
        for (name, source) in BUILTIN {
            let source = match override_source(template_dir, name)? {
                Some(text) => text,
                None => source.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .with_context(|| {
                    format!("template {name} (mail.template_dir = {template_dir:?})")
                })?;
        }
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, context: impl serde::Serialize) -> anyhow::Result<String> {
        let template = self
            .env
            .get_template(name)
            .with_context(|| format!("no template {name}"))?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(&context)))
            .with_context(|| format!("cannot render template {name}"))
    }
}

fn override_source(template_dir: &str, name: &str) -> anyhow::Result<Option<String>> {
    if template_dir.is_empty() {
        return Ok(None);
    }
    let path = Path::new(template_dir).join(name);
    if !path.exists() {
        return Ok(None);
    }
    std::fs::read_to_string(&path)
        .map(Some)
        .with_context(|| format!("cannot read template {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_compile() {
        Templates::load("").unwrap();
    }

    #[test]
    fn a_broken_override_is_reported_at_load_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.html.j2"), "{% if %}").unwrap();
        let err = Templates::load(dir.path().to_str().unwrap()).err().unwrap();
        assert!(format!("{err:#}").contains("summary.html.j2"), "{err:#}");
    }

    #[test]
    fn an_override_replaces_the_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.html.j2"), "<p>{{ title }}</p>").unwrap();
        let templates = Templates::load(dir.path().to_str().unwrap()).unwrap();
        let html = templates
            .render("summary.html.j2", serde_json::json!({"title": "<b>x</b>"}))
            .unwrap();
        assert_eq!(html, "<p>&lt;b&gt;x&lt;&#x2f;b&gt;</p>");
    }
}
