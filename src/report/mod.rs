//! The files a run writes into OUT/<run-id>/: findings.csv and access.csv (`csv`), the
//! workbook (`xlsx`), and summary.html (`html`), the last two from one [`summary::Summary`].

pub mod csv;
pub mod html;
pub mod summary;
pub mod xlsx;

/// Makes a cell safe to open in a spreadsheet: a value that a spreadsheet would read as a
/// formula (starting with `=`, `+`, `-`, `@`, or a tab or carriage return) gets a leading
/// apostrophe so it shows as text.
pub fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_values_become_text() {
        for value in ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)"] {
            assert_eq!(spreadsheet_safe(value), format!("'{value}"));
        }
    }

    #[test]
    fn ordinary_values_are_unchanged() {
        assert_eq!(spreadsheet_safe("gpatel"), "gpatel");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
