//! Why a job or an upload failed, as its owner reads it.
//!
//! Activities fail with a type name that says whom the message is written for:
//! - [`INVALID_INPUT`]: something the user gave (a transcript that is not SRT, a file that is not
//!   media, a video longer than it was priced for). The message is plain, written for the user,
//!   and shown as it is.
//! - anything else ([`FATAL`] for failures that retrying cannot fix, or a retryable failure that
//!   ran out of time): our side or a provider's. The message is for operators (it may quote a
//!   provider's answer, a tool's output, a path or a host); it stays in the workflow's history and
//!   the logs, and the user reads one of the plain sentences below instead.

/// Type name of failures caused by the user's input; their messages are shown to the user.
pub const INVALID_INPUT: &str = "InvalidInput";
/// Type name of failures that retrying cannot fix and that are not the user's doing.
pub const FATAL: &str = "Fatal";

/// What a user reads when a dub failed for a reason on our side or a provider's.
pub const DUB_FAILED: &str = "the dub could not be finished because of a problem on our side or at one of our providers; \
     the credits held for it were released. Resume the job to try again, or contact support if it keeps failing.";
/// What a user reads when a re-render failed for a reason on our side or a provider's.
pub const RERENDER_FAILED: &str = "the new version could not be made because of a problem on our side or at one of our providers; \
     the credits held for it were released and the current version is unchanged. Try again, or contact support if it keeps failing.";
/// What a user reads when an upload could not be processed for a reason on our side.
pub const UPLOAD_FAILED: &str = "the video could not be processed because of a problem on our side; \
     upload it again, or contact support if it keeps failing.";

/// What a user reads when a video could not be fetched from its URL (the server could not be
/// reached, or kept failing).
pub const IMPORT_FAILED: &str = "the video could not be fetched from its URL: the server could not be reached or kept failing; \
     check the URL and import it again.";

/// The message a user reads for a failure of type `type_name` with `message`: the message itself
/// when it was written for them, else `fallback`.
pub fn for_user(type_name: Option<&str>, message: &str, fallback: &str) -> String {
    match type_name {
        Some(INVALID_INPUT) if !message.trim().is_empty() => message.to_string(),
        _ => fallback.to_string(),
    }
}

/// What a user reads when a dub that stopped for their review was not approved in time.
pub const REVIEW_EXPIRED: &str = "the translation was not approved in time, so the dub stopped before any voice was made; \
     the credits held for it were released. Resume the job to review it again.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_written_for_users_reach_them() {
        let input = "the transcript is not valid SRT or WebVTT: line 3";
        assert_eq!(for_user(Some(INVALID_INPUT), input, DUB_FAILED), input);
        let internal = "OpenAI speech: 401 Incorrect API key provided: sk-...";
        assert_eq!(for_user(Some(FATAL), internal, DUB_FAILED), DUB_FAILED);
        assert_eq!(for_user(None, internal, DUB_FAILED), DUB_FAILED);
        assert_eq!(
            for_user(Some(INVALID_INPUT), " ", UPLOAD_FAILED),
            UPLOAD_FAILED
        );
    }
}
