//! Workflows of uploaded videos:
//! * `VideoIngestWorkflow` (`ingest-{video_id}`): probes a finished upload, extracts a
//!   representative thumbnail, and marks the video `uploaded` with its media details, or `failed`
//!   with a reason when the file is not playable media or has no audio.
//! * `ThumbnailWorkflow`: extracts a frame at a given time (the API waits for it).
//! * `VideoDeletionWorkflow` (`delete-video-{video_id}`): removes every object and row of a video.

use crate::activities::VideoActivities;
use crate::options;
use crate::reasons;
use onevoice_shared::contracts::{
    DeleteVideoInput, IngestInput, IngestOutcome, RecordIngestInput, ThumbnailInput,
};
use onevoice_shared::failure;
use onevoice_shared::keys::VideoKeys;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityExecutionError, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct VideoIngestWorkflow;

#[workflow_methods]
impl VideoIngestWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: IngestInput,
    ) -> WorkflowResult<IngestOutcome> {
        // An imported video is fetched first, then ingested like a completed upload. Only inputs
        // that carry `import` (none before imports existed) schedule this activity, so the
        // histories of earlier ingests replay unchanged.
        let mut input = input;
        if let Some(source) = input.import.clone() {
            let options = options::import(source.timeout_secs);
            match ctx
                .execute_activity(VideoActivities::import_url, input.clone(), options)
                .await
            {
                Ok(upload) => input.upload = Some(upload),
                Err(e @ ActivityExecutionError::Failed(_)) => {
                    let outcome = IngestOutcome::Rejected {
                        reason: reasons::for_user(&e, failure::IMPORT_FAILED),
                    };
                    return record(ctx, &input, outcome).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let outcome = match ctx
            .execute_activity(
                VideoActivities::probe_video,
                input.clone(),
                options::long_running(Default::default()),
            )
            .await
        {
            Ok(info) if info.audio_tracks == 0 => IngestOutcome::Rejected {
                reason: "the video has no audio track to dub".into(),
            },
            Ok(info) => {
                // A thumbnail is a nicety: the upload is usable without one.
                let thumbnail = ThumbnailInput {
                    key: input.key.clone(),
                    at_ms: None,
                    output_key: VideoKeys::new(input.user_id, input.video_id)
                        .thumbnail("default", "jpg"),
                };
                let thumbnail_key = ctx
                    .execute_activity(
                        VideoActivities::extract_thumbnail,
                        thumbnail,
                        options::quick(),
                    )
                    .await
                    .ok();
                IngestOutcome::Ready {
                    info,
                    thumbnail_key,
                }
            }
            Err(e @ ActivityExecutionError::Failed(_)) => IngestOutcome::Rejected {
                reason: reasons::for_user(&e, failure::UPLOAD_FAILED),
            },
            Err(e) => return Err(e.into()),
        };
        record(ctx, &input, outcome).await
    }
}

/// Records how the ingest ended (the video `uploaded` or `failed` with its reason).
async fn record(
    ctx: &mut WorkflowContext<VideoIngestWorkflow>,
    input: &IngestInput,
    outcome: IngestOutcome,
) -> WorkflowResult<IngestOutcome> {
    ctx.execute_activity(
        VideoActivities::record_ingest,
        RecordIngestInput {
            video_id: input.video_id,
            outcome: outcome.clone(),
        },
        options::bookkeeping(false),
    )
    .await?;
    Ok(outcome)
}

#[workflow]
#[derive(Default)]
pub struct ThumbnailWorkflow;

#[workflow_methods]
impl ThumbnailWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ThumbnailInput,
    ) -> WorkflowResult<String> {
        Ok(ctx
            .execute_activity(VideoActivities::extract_thumbnail, input, options::quick())
            .await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct VideoDeletionWorkflow;

#[workflow_methods]
impl VideoDeletionWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: DeleteVideoInput,
    ) -> WorkflowResult<u64> {
        Ok(ctx
            .execute_activity(
                VideoActivities::delete_video,
                input,
                options::bookkeeping(false),
            )
            .await?)
    }
}
