//! Error classification. Temporal retries any error by default; errors that cannot heal on retry
//! are marked non-retryable so the job fails at once instead of burning its retry budget. Whom a
//! message is for decides the constructor (see `onevoice_shared::failure`):
//! - [`invalid_input`]: the user's input is the problem; the message is plain and shown to them;
//! - [`fatal`]: retrying cannot help, but the cause is ours or a provider's; the message is for
//!   operators (the user reads a plain sentence instead);
//! - [`transient`]: may pass on retry; for operators too.

use onevoice_shared::failure::{FATAL, INVALID_INPUT};
use onevoice_shared::storage::StorageError;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::ActivityError;

fn non_retryable(type_name: &str, message: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_string())
            .non_retryable(true)
            .build(),
    )
}

/// The user's input cannot be dubbed (not media, not SRT, priced for another length...): a plain
/// message for the user, with nothing of our internals (no path, host, tool output or provider
/// answer).
pub(crate) fn invalid_input(message: impl Into<String>) -> ActivityError {
    non_retryable(INVALID_INPUT, message.into())
}

/// Retrying cannot help, and the cause is ours or a provider's (a refused API key, a missing
/// font, an object that vanished): the message is for operators.
pub(crate) fn fatal(message: impl Into<String>) -> ActivityError {
    non_retryable(FATAL, message.into())
}

/// An error that may pass on retry (network, a busy service, a crashed process).
pub(crate) fn transient(message: impl Into<String>) -> ActivityError {
    ActivityError::application(ApplicationFailure::new(message.into()))
}

/// A database error: the database may be back on retry (a constraint the activity breaks is a
/// bug it would hit again, but telling the two apart is not worth a misclassified outage).
pub(crate) fn db(err: sqlx::Error) -> ActivityError {
    transient(format!("database error: {err}"))
}

pub(crate) fn storage(err: StorageError) -> ActivityError {
    if err.is_retryable() {
        transient(err.to_string())
    } else {
        fatal(err.to_string())
    }
}

/// A provider's final refusal (a [`fatal`] error) turned into one the user reads, with `say`
/// given the refusal's message; other errors pass unchanged. For calls whose refusal is news
/// for the user (a voice the provider will not clone), with messages built to be shown.
pub(crate) fn refusal_for_user(
    err: ActivityError,
    say: impl FnOnce(&str) -> String,
) -> ActivityError {
    match refused(&err) {
        Some(reason) => invalid_input(say(&reason)),
        None => err,
    }
}

/// The message of a provider's final refusal (a [`fatal`] error); none for other errors.
pub(crate) fn refused(err: &ActivityError) -> Option<String> {
    match err {
        ActivityError::Application(f) if f.is_non_retryable() && f.type_name() == Some(FATAL) => {
            Some(f.source_error().to_string())
        }
        _ => None,
    }
}
