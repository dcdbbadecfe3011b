//! Every activity's heartbeat while it waits (external tools go through it too, see `process`).
//! Work that waits on others (an LLM, a speech provider, a large S3 transfer) heartbeats while
//! it waits: one answer or download can take longer than the heartbeat timeout, and without a
//! beat Temporal would retry an attempt that is merely slow, paying twice. A cancel stops the
//! work.

use std::future::Future;
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Beats this often: well inside the 10 s heartbeat timeout of long activities.
const EVERY: Duration = Duration::from_secs(3);

pub(crate) async fn beating<T>(
    ctx: &ActivityContext,
    work: impl Future<Output = Result<T, ActivityError>>,
) -> Result<T, ActivityError> {
    tokio::pin!(work);
    let mut beat = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
            _ = beat.tick() => {
                let _ = ctx.record_heartbeat(()).await;
            }
        }
    }
}
