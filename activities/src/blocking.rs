//! CPU-heavy engine work (mixing, encoding) on a blocking thread, with the activity heartbeating
//! meanwhile and a cancel flag the work checks between blocks.

use crate::audio::engine::EngineError;
use crate::error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub(crate) async fn run<T, F>(
    ctx: &ActivityContext,
    cancel: Arc<AtomicBool>,
    work: F,
) -> Result<T, ActivityError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, EngineError> + Send + 'static,
{
    let task = tokio::task::spawn_blocking(work);
    tokio::pin!(task);
    let mut beat = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            done = &mut task => {
                return match done {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(EngineError::Cancelled)) => Err(ActivityError::cancelled()),
                    Ok(Err(EngineError::Media(m))) => Err(error::fatal(m)),
                    Ok(Err(e)) => Err(error::transient(e.to_string())),
                    Err(e) => Err(error::transient(format!("audio engine crashed: {e}"))),
                };
            }
            // The work sees the flag at its next block and returns `Cancelled`.
            _ = ctx.cancelled() => cancel.store(true, Ordering::Relaxed),
            _ = beat.tick() => {
                crate::heartbeat::keep(ctx).await;
            }
        }
    }
}
