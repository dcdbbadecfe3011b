//! Activity options: timeouts sized to the work, and retry policies that give up on errors that
//! cannot heal (the activities mark those non-retryable).

use onevoice_shared::contracts::{ActivityBudget, DeliverWebhookInput};
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_sdk::{
    ActivityCancellationType, ActivityCloseTimeouts, ActivityOptions, WorkflowCancellationToken,
};

fn retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .maximum_attempts(6)
        .build()
}

/// Short, bounded work (reading a transcript, calling a local engine on a few lines).
pub(crate) fn quick() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(120))
        .retry_policy(retry_policy())
        .build()
}

/// Work whose length grows with the video or waits on providers: heartbeats let a crashed
/// worker's attempt be detected within the heartbeat timeout instead of the whole start-to-close
/// timeout. Temporal counts such a timeout as an attempt, so attempts are unlimited and only the
/// budget's total time bounds the retries: losing workers never fails a job. Errors that keep
/// coming back end it sooner: the activities count them and give up (non-retryably).
pub(crate) fn long_running(budget: ActivityBudget) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(budget.total_secs),
        start_to_close: Duration::from_secs(2 * 60 * 60)
            .min(Duration::from_secs(budget.total_secs)),
    })
    .heartbeat_timeout(Duration::from_secs(budget.heartbeat_secs))
    // On cancel, wait until the activity has stopped, so cleanup runs after its last write.
    .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(budget.max_retry_interval_secs.max(1)))
            .maximum_attempts(0)
            .build(),
    )
    .build()
}

/// Fetching an imported video: one attempt may take `timeout_secs` (it heartbeats as bytes
/// arrive); a server that cannot be reached or keeps failing is tried four times in all.
/// Refusals (an address that is not allowed, a 4xx, a file over the limit) are not retried.
pub(crate) fn import(timeout_secs: u64) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(timeout_secs.max(1) + 60))
        .heartbeat_timeout(Duration::from_secs(60))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(2))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(60))
                .maximum_attempts(4)
                .build(),
        )
        .build()
}

/// Bookkeeping in the database (the API's read model). A database outage must not fail the job,
/// so these retry for as long as a day; `detached` ones also run after the workflow was
/// cancelled, so a cancelled job is still recorded as such.
pub(crate) fn bookkeeping(detached: bool) -> ActivityOptions {
    let opts =
        ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
            schedule_to_close: Duration::from_secs(24 * 60 * 60),
            start_to_close: Duration::from_secs(30),
        })
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(500))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(0)
                .build(),
        );
    if detached {
        opts.cancellation_token(WorkflowCancellationToken::new())
            .build()
    } else {
        opts.build()
    }
}

/// Email delivery: an SMTP outage delays an email (retrying for a day, at most a minute apart)
/// but never loses it.
/// A webhook delivery: one attempt takes at most the request's timeout (plus slack to log it);
/// attempts go on, each wait doubling from the first, until the retry window has passed.
/// Attempts that cannot succeed (the endpoint is gone or disabled) end without error instead.
pub(crate) fn webhook_delivery(input: &DeliverWebhookInput) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(input.retry_window_secs.max(1)),
        start_to_close: Duration::from_secs(input.timeout_secs.max(1) + 30),
    })
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_millis(input.first_retry_ms.max(1)))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(input.max_retry_interval_secs.max(1)))
            .maximum_attempts(0)
            .build(),
    )
    .build()
}

pub(crate) fn email() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(24 * 60 * 60),
        start_to_close: Duration::from_secs(60),
    })
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(60))
            .maximum_attempts(0)
            .build(),
    )
    .build()
}
