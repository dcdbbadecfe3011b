//! The reason a failed activity gives its user: its message when it was written for them
//! (`onevoice_shared::failure::INVALID_INPUT`), else a plain sentence. Operators find the real
//! cause in the workflow's history (the failure keeps its message) and the worker's log.

use onevoice_shared::failure;
use temporalio_common::protos::temporal::api::failure::v1::Failure;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_sdk::ActivityExecutionError;

/// What the user reads about `e`; `fallback` when its message is not for them.
pub(crate) fn for_user(e: &ActivityExecutionError, fallback: &str) -> String {
    let Some(mut root) = e.failure() else {
        return fallback.to_string();
    };
    // The activity failure wraps the application failure the activity returned.
    while let Some(cause) = root.cause.as_deref() {
        root = cause;
    }
    failure::for_user(type_name(root), &root.message, fallback)
}

fn type_name(f: &Failure) -> Option<&str> {
    match &f.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => Some(info.r#type.as_str()),
        _ => None,
    }
}
