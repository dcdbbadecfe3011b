//! The account fields requests carry (email, username, full name), checked the same way by
//! signup and by profile changes.

use crate::error::FieldError;
use crate::text;
use onevoice_shared::repo::users;

/// Checks an email address's shape (deliverability is proven by the verification email).
pub fn validate_email(field: &str, email: &str) -> Result<String, FieldError> {
    let raw_len = email.chars().count();
    let email = users::normalize_email(email);
    let valid = raw_len <= 254
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new(field, "must be a valid email address"))
    }
}

pub fn validate_username(username: &str) -> Result<String, FieldError> {
    let u = text::line("username", username, 50)?;
    let ok = u.chars().count() >= 3
        && u.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(u.to_string())
    } else {
        Err(FieldError::new(
            "username",
            "must be 3 to 50 letters, digits, `_`, `.` or `-`",
        ))
    }
}

pub fn validate_full_name(full_name: Option<&str>) -> Result<Option<String>, FieldError> {
    text::optional_line("full_name", full_name, 100)
}
