//! Error classification. Temporal retries any error by default; errors that cannot heal on retry
//! (bad input, unsupported media, a missing object) are marked non-retryable so the job fails at
//! once with a clear reason instead of burning its retry budget.

use onevoice_shared::storage::StorageError;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::ActivityError;

/// Failure type name of non-retryable input problems (usable in `non_retryable_error_types`).
pub const INVALID_INPUT: &str = "InvalidInput";

/// An error that retrying will not fix.
pub(crate) fn permanent(message: impl Into<String>) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message.into())
            .type_name(INVALID_INPUT.to_string())
            .non_retryable(true)
            .build(),
    )
}

/// An error that may pass on retry (network, a busy service, a crashed process).
pub(crate) fn transient(message: impl Into<String>) -> ActivityError {
    ActivityError::application(ApplicationFailure::new(message.into()))
}

pub(crate) fn storage(err: StorageError) -> ActivityError {
    if err.is_retryable() {
        transient(err.to_string())
    } else {
        permanent(err.to_string())
    }
}
