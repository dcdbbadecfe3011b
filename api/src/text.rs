//! Text fields of requests: which characters they take and how long they may be.
//!
//! Three kinds, each with its `format` name in the OpenAPI document, which the document turns
//! into the matching `pattern` (`crate::openapi`), so clients and the fuzzer see the same rule
//! the handler applies:
//! - text (no format): any characters but control characters; tab and line breaks allowed.
//!   [`crate::extract::ApiJson`] applies this to every string of every JSON body.
//! - `line`: one line, no tab or line break; surrounding spaces are trimmed, may be blank.
//! - `nonblank-line`: a line with at least one character that is not a space.
//!
//! Lengths count characters as sent, before trimming.

use crate::error::FieldError;

/// The OpenAPI `format` of a one-line field.
pub const LINE: &str = "line";
/// The OpenAPI `format` of a one-line field that must not be blank.
pub const NONBLANK_LINE: &str = "nonblank-line";

/// Whether `s` holds a control character (Unicode `Cc`: C0, DEL, C1) other than, in multi-line
/// text, tab, line feed and carriage return.
pub fn has_control_character(s: &str, multiline: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

fn too_long(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Multi-line text of at most `max_chars` characters.
pub fn multiline<'a>(field: &str, value: &'a str, max_chars: usize) -> Result<&'a str, FieldError> {
    too_long(field, value, max_chars)?;
    if has_control_character(value, true) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value)
}

/// One line of at most `max_chars` characters, trimmed (`format: line`).
pub fn line<'a>(field: &str, value: &'a str, max_chars: usize) -> Result<&'a str, FieldError> {
    too_long(field, value, max_chars)?;
    if has_control_character(value, false) {
        return Err(FieldError::new(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(value.trim())
}

/// One line with something in it, trimmed (`format: nonblank-line`).
pub fn nonblank_line<'a>(
    field: &str,
    value: &'a str,
    max_chars: usize,
) -> Result<&'a str, FieldError> {
    let v = line(field, value, max_chars)?;
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    Ok(v)
}

/// An optional line: absent, blank or empty is `None` (`format: line`).
pub fn optional_line(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(v) => {
            let v = line(field, v, max_chars)?;
            Ok((!v.is_empty()).then(|| v.to_string()))
        }
    }
}

/// The header that makes a retried POST safe.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// An `Idempotency-Key` value: 1 to 200 visible characters, trimmed. One rule for every route
/// that honours the header.
pub fn idempotency_key(value: &str) -> Result<&str, FieldError> {
    nonblank_line(IDEMPOTENCY_KEY, value, 200)
        .map_err(|_| FieldError::new(IDEMPOTENCY_KEY, "must be 1 to 200 visible characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_multiline_text() {
        assert!(has_control_character("a\0b", true));
        assert!(has_control_character("a\u{7f}", true));
        assert!(has_control_character("a\u{85}", true));
        assert!(!has_control_character("a\tb\r\nc", true));
        assert!(has_control_character("a\nb", false));
        assert!(!has_control_character("한국어 タイトル", false));
    }

    #[test]
    fn lines_are_trimmed_and_counted_as_sent() {
        assert_eq!(line("f", "  a  ", 5).unwrap(), "a");
        assert!(line("f", "  a   ", 5).is_err());
        assert!(nonblank_line("f", "   ", 5).is_err());
        assert_eq!(optional_line("f", Some(" "), 5).unwrap(), None);
        assert_eq!(multiline("f", "a\nb", 3).unwrap(), "a\nb");
    }
}
