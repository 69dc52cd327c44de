//! The minijinja templates of the summary page and the emails: built into the binary, and
//! overridden file by file from `mail.template_dir`. All templates are compiled when they are
//! loaded, and rendered once against a sample run before a review starts
//! (`mail::check_templates`), so a template error stops the program at start, not in the
//! middle of a run.
//!
//! A template folder is trusted only for what is in it: a file that is a link to a file
//! outside the folder is refused (a writable folder must not become a way to read any file the
//! service can read into a message), and every rendering has a fuel budget, so a runaway loop
//! fails the start check instead of hanging every run.

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
    ("_mail.html.j2", include_str!("../templates/_mail.html.j2")),
    (
        "_mail_parts.html.j2",
        include_str!("../templates/_mail_parts.html.j2"),
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
    (
        "reminder.html.j2",
        include_str!("../templates/reminder.html.j2"),
    ),
    (
        "reminder.txt.j2",
        include_str!("../templates/reminder.txt.j2"),
    ),
    (
        "escalation.html.j2",
        include_str!("../templates/escalation.html.j2"),
    ),
    (
        "escalation.txt.j2",
        include_str!("../templates/escalation.txt.j2"),
    ),
];

/// The work one rendering may do: about one unit per instruction and per 64 bytes of data
/// (minijinja's `fuel`), so at most about 640 MB. The built-in templates need 5,000 to 10,000
/// for the largest messages of `demo --scale 300` at `max_findings_listed = 50`, about 100 more
/// per finding listed: this leaves room for long lists and stops a runaway loop in a second.
const FUEL: u64 = 10_000_000;

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
        // `{{ n | thousands }}`: 20,000 rather than 20000, on every count people read.
        env.add_filter("thousands", thousands);
        // Plain-text mail: `{{ text | wrap(4) }}` wraps at 76 columns for text that starts at
        // column 4, indenting the lines it adds; `ljust(n)` and `rjust(n)` pad columns.
        env.add_filter("wrap", |text: String, indent: Option<usize>| {
            wrap(&text, indent.unwrap_or(0), WRAP_AT)
        });
        env.add_filter("ljust", |v: minijinja::Value, width: usize| {
            format!("{:<width$}", v.to_string())
        });
        env.add_filter("rjust", |v: minijinja::Value, width: usize| {
            format!("{:>width$}", v.to_string())
        });
        env.set_fuel(Some(FUEL));
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

/// A whole number with a comma between each group of three digits (`1234567` →
/// `1,234,567`, `-1234` → `-1,234`); anything else (text, a fraction, none) is shown as it
/// is, so the filter never fails a rendering.
pub fn thousands(value: minijinja::Value) -> String {
    match i128::try_from(value.clone()) {
        Ok(n) if value.is_integer() => group_digits(n),
        _ => value.to_string(),
    }
}

/// `n` with its digits grouped by three, separated by commas.
pub fn group_digits(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The widest line of a plain-text message.
pub const WRAP_AT: usize = 76;

/// `text` in lines of at most `width` characters when it starts at column `indent`: the lines
/// after the first start with `indent` spaces. A word longer than a line stays whole.
pub fn wrap(text: &str, indent: usize, width: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut out = String::with_capacity(text.len() + 16);
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > room {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

/// The text of `name` in `template_dir`, if there is such a file in that folder.
fn override_source(template_dir: &str, name: &str) -> anyhow::Result<Option<String>> {
    if template_dir.is_empty() {
        return Ok(None);
    }
    let path = Path::new(template_dir).join(name);
    if !path.exists() {
        return Ok(None);
    }
    let folder = Path::new(template_dir)
        .canonicalize()
        .with_context(|| format!("cannot read the folder {template_dir}"))?;
    let target = path
        .canonicalize()
        .with_context(|| format!("cannot read template {}", path.display()))?;
    if !target.starts_with(&folder) {
        anyhow::bail!(
            "{} is a link to {}, outside the template folder: copy the file into the folder",
            path.display(),
            target.display()
        );
    }
    std::fs::read_to_string(&target)
        .map(Some)
        .with_context(|| format!("cannot read template {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_a_comma_every_three_digits() {
        let render = |n: serde_json::Value| {
            let mut env = Environment::new();
            env.add_filter("thousands", thousands);
            let context = serde_json::json!({ "n": n });
            env.render_str(
                "{{ n | thousands }}",
                minijinja::Value::from(minijinja::value::Serde(&context)),
            )
            .unwrap()
        };
        for (n, text) in [
            (serde_json::json!(0), "0"),
            (serde_json::json!(999), "999"),
            (serde_json::json!(1000), "1,000"),
            (serde_json::json!(20000), "20,000"),
            (serde_json::json!(1234567), "1,234,567"),
            (serde_json::json!(-1234), "-1,234"),
            (serde_json::json!(1.5), "1.5"),
            (serde_json::json!("ORG-1000"), "ORG-1000"),
        ] {
            assert_eq!(render(n.clone()), text, "{n}");
        }
        assert_eq!(group_digits(100_000), "100,000");
        assert_eq!(group_digits(u64::MAX.into()), "18,446,744,073,709,551,615");
    }

    #[test]
    fn wrapped_text_keeps_to_76_columns_and_indents_what_it_adds() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text, 4, 76);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 2);
        assert!(lines
            .iter()
            .all(|l| l.len() + 4 <= 76 || l.starts_with("    ")));
        assert!(lines.iter().all(|l| l.chars().count() <= 76));
        assert!(lines[1..].iter().all(|l| l.starts_with("    word")));
        assert_eq!(wrap("a  b\n c", 0, 76), "a b c");
    }

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
    fn a_link_to_a_file_outside_the_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "not a template").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("management.txt.j2")).unwrap();
        let err = Templates::load(dir.path().to_str().unwrap()).err().unwrap();
        let err = format!("{err:#}");
        assert!(
            err.contains("management.txt.j2") && err.contains("outside the template folder"),
            "{err}"
        );
    }

    #[test]
    fn a_link_to_a_file_inside_the_folder_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.j2"), "<p>{{ title }}</p>").unwrap();
        std::os::unix::fs::symlink("mine.j2", dir.path().join("summary.html.j2")).unwrap();
        let templates = Templates::load(dir.path().to_str().unwrap()).unwrap();
        let html = templates
            .render("summary.html.j2", serde_json::json!({"title": "x"}))
            .unwrap();
        assert_eq!(html, "<p>x</p>");
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("summary.html.j2"),
            "{% for a in range(10000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}",
        )
        .unwrap();
        let templates = Templates::load(dir.path().to_str().unwrap()).unwrap();
        let err = templates
            .render("summary.html.j2", serde_json::json!({}))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("fuel"), "{err:#}");
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
