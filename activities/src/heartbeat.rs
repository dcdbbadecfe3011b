//! Every activity's heartbeat while it waits (external tools go through it too, see `process`).
//! Work that waits on others (an LLM, a speech provider, a large S3 transfer) heartbeats while
//! it waits: one answer or download can take longer than the heartbeat timeout, and without a
//! beat Temporal would retry an attempt that is merely slow, paying twice. A cancel stops the
//! work.
//!
//! The beats also carry how many earlier attempts of the activity ended in a passing
//! (retryable) error. Long activities have no attempt limit — a lost worker costs an attempt,
//! and that must not fail a job — so they decide themselves when an error that keeps coming back
//! is hopeless: the [`FAILURE_LIMIT`]-th one fails the activity non-retryably. A killed worker
//! adds nothing to the count; Temporal hands the last beat to the next attempt either way.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Beats this often: well inside the shortest heartbeat timeout the settings allow (2 s). The
/// SDK sends at most one beat per 80% of the timeout, so beating often costs nothing.
const EVERY: Duration = Duration::from_secs(1);

/// Passing errors after which an activity gives up: the attempt budget the retry policy had
/// before attempts became unlimited.
pub(crate) const FAILURE_LIMIT: u32 = 6;

/// What a beat says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Beat {
    /// Earlier attempts that ended in a passing error.
    #[serde(default)]
    transient_failures: u32,
    /// Work done so far, where the activity counts it (lines synthesized, cues recognized).
    #[serde(default)]
    progress: Option<u64>,
}

/// The passing errors of earlier attempts, as the last beat left them (0 on a first attempt, or
/// after beats of another shape).
fn failures_so_far(ctx: &ActivityContext) -> u32 {
    ctx.heartbeat_details()
        .deserialize::<Beat>()
        .ok()
        .flatten()
        .map(|b| b.transient_failures)
        .unwrap_or(0)
}

/// Beats without news, keeping the failure count (for work that beats on its own).
pub(crate) async fn keep(ctx: &ActivityContext) {
    let beat = Beat {
        transient_failures: failures_so_far(ctx),
        progress: None,
    };
    let _ = ctx.record_heartbeat(beat).await;
}

/// Reports progress, keeping the failure count.
pub(crate) async fn progress(ctx: &ActivityContext, done: u64) {
    let beat = Beat {
        transient_failures: failures_so_far(ctx),
        progress: Some(done),
    };
    let _ = ctx.record_heartbeat(beat).await;
}

/// Whether Temporal would retry this error.
fn passing(e: &ActivityError) -> bool {
    matches!(e, ActivityError::Application(f) if !f.is_non_retryable())
}

/// Counts a passing error for the next attempt; the [`FAILURE_LIMIT`]-th one becomes final.
async fn count(ctx: &ActivityContext, before: u32, e: ActivityError) -> ActivityError {
    let failures = before + 1;
    let _ = ctx
        .record_heartbeat(Beat {
            transient_failures: failures,
            progress: None,
        })
        .await;
    verdict(failures, e)
}

/// The error an attempt ends with after `failures` passing errors in all: itself, or a final
/// one once the limit is reached.
fn verdict(failures: u32, e: ActivityError) -> ActivityError {
    if failures < FAILURE_LIMIT {
        return e;
    }
    let reason = match &e {
        ActivityError::Application(f) => f.source_error().to_string(),
        _ => "an error".to_string(),
    };
    tracing::warn!(failures, %reason, "giving up after repeated passing errors");
    crate::error::fatal(format!(
        "gave up after {failures} failed attempts: {reason}"
    ))
}

pub(crate) async fn beating<T>(
    ctx: &ActivityContext,
    work: impl Future<Output = Result<T, ActivityError>>,
) -> Result<T, ActivityError> {
    let failures = failures_so_far(ctx);
    let beat = Beat {
        transient_failures: failures,
        progress: None,
    };
    tokio::pin!(work);
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            done = &mut work => {
                return match done {
                    Err(e) if passing(&e) => Err(count(ctx, failures, e).await),
                    other => other,
                };
            }
            _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
            _ = ticks.tick() => {
                let _ = ctx.record_heartbeat(beat).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_th_passing_error_is_final() {
        let transient = || crate::error::transient("the provider answered 503");
        assert!(passing(&verdict(FAILURE_LIMIT - 1, transient())));
        let last = verdict(FAILURE_LIMIT, transient());
        assert!(!passing(&last));
        match last {
            ActivityError::Application(f) => {
                let message = f.source_error().to_string();
                assert!(
                    message.contains("gave up after 6 failed attempts"),
                    "{message}"
                );
                assert!(message.contains("503"), "{message}");
            }
            _ => panic!("an application failure"),
        }
        assert!(!passing(&crate::error::invalid_input("bad input")));
    }

    #[test]
    fn beats_read_back_and_tolerate_other_shapes() {
        let beat = Beat {
            transient_failures: 3,
            progress: Some(12),
        };
        let json = serde_json::to_value(beat).unwrap();
        assert_eq!(serde_json::from_value::<Beat>(json).unwrap(), beat);
        // Beats of older workers carried a bare number or nothing.
        assert!(serde_json::from_value::<Beat>(serde_json::json!(12)).is_err());
        assert_eq!(
            serde_json::from_value::<Beat>(serde_json::json!({})).unwrap(),
            Beat::default()
        );
    }
}
