//! Publishing every job to the legacy queue contract, so existing consumers keep seeing jobs.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{PublishInput, activity};
use onevoice_shared::legacy::JobMessage;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct BridgeActivities {
    deps: Deps,
}

impl BridgeActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl BridgeActivities {
    /// Sends the message (a no-op when no publish queue is configured). The body is the same on
    /// every attempt, and the message id is stable, so a retry is deduplicated by a FIFO queue or
    /// by consumers of a standard queue.
    #[activity(name = activity::PUBLISH)]
    pub async fn publish(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PublishInput,
    ) -> Result<(), ActivityError> {
        let Some(url) = &self.deps.publish_url else {
            return Ok(());
        };
        let message = JobMessage {
            message_type: input.message_type,
            job_id: input.job_id,
            user_id: input.user_id,
            video_id: input.video_id,
            requested_at: input.requested_at,
        };
        self.deps
            .queue
            .send_job(url, &message)
            .await
            .map_err(|e| error::transient(e.to_string()))
    }
}
