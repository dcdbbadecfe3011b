//! Job bookkeeping: keeps the job row, its steps, the video and its media files (the API's read
//! model) in step with the workflow. Every write is idempotent, so retries are harmless.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{FinishJobInput, JobOutcome, ProgressReport, activity};
use onevoice_shared::repo::{activity as activity_log, jobs, media, videos};
use onevoice_shared::status::{FileType, JobStatus, VideoStatus};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct JobActivities {
    deps: Deps,
}

impl JobActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

fn db(e: sqlx::Error) -> ActivityError {
    error::transient(format!("database error: {e}"))
}

#[activities]
impl JobActivities {
    #[activity(name = activity::RECORD_PROGRESS)]
    pub async fn record_progress(
        self: Arc<Self>,
        _ctx: ActivityContext,
        report: ProgressReport,
    ) -> Result<(), ActivityError> {
        let first = jobs::get(&self.deps.db, report.job_id).await.map_err(db)?;
        let Some(job) = first else {
            return Err(error::permanent(format!(
                "job {} does not exist",
                report.job_id
            )));
        };
        jobs::record_progress(&self.deps.db, report.job_id, report.percent, &report.steps)
            .await
            .map_err(db)?;
        if job.status != JobStatus::Processing.as_str()
            && let Some(video) = job.video_id
        {
            videos::set_status(&self.deps.db, video, VideoStatus::Processing)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    #[activity(name = activity::FINISH_JOB)]
    pub async fn finish_job(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishJobInput,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        let lang = input.target_language.code();
        let Some(job) = jobs::get(&d.db, input.job_id).await.map_err(db)? else {
            return Err(error::permanent(format!(
                "job {} does not exist",
                input.job_id
            )));
        };
        if job.status == JobStatus::Completed.as_str()
            || job.status == JobStatus::Cancelled.as_str()
        {
            // Already recorded by an earlier attempt.
            return Ok(());
        }
        let title = videos::find_by_id(&d.db, input.video_id)
            .await
            .map_err(db)?
            .map(|v| v.title)
            .unwrap_or_else(|| "video".into());
        match &input.outcome {
            JobOutcome::Completed { output } => {
                let files = [
                    (
                        FileType::DubbedVideo,
                        &output.output_key,
                        "dub.mp4",
                        "mp4",
                        "video/mp4",
                    ),
                    (
                        FileType::TranslationSubtitles,
                        &output.translation_srt_key,
                        "trans.srt",
                        "srt",
                        "application/x-subrip",
                    ),
                ];
                for (file_type, key, suffix, format, content_type) in files {
                    let size = d.storage.size_of(key).await.map_err(error::storage)?;
                    let filename = format!("{title}.{lang}.{suffix}");
                    media::insert_pool(
                        &d.db,
                        &media::NewMediaFile {
                            video_id: input.video_id,
                            job_id: Some(input.job_id),
                            file_type,
                            filename: &filename,
                            file_format: format,
                            content_type,
                            bucket: d.storage.bucket(),
                            key,
                            size: size.map(|s| s as i64),
                            duration_secs: (file_type == FileType::DubbedVideo)
                                .then_some(output.duration_ms as f64 / 1000.0),
                            language: Some(lang),
                        },
                    )
                    .await
                    .map_err(db)?;
                }
                let result =
                    serde_json::to_value(output).map_err(|e| error::transient(e.to_string()))?;
                jobs::finish(
                    &d.db,
                    input.job_id,
                    JobStatus::Completed,
                    None,
                    Some(result),
                )
                .await
                .map_err(db)?;
                videos::add_target_language(&d.db, input.video_id, lang)
                    .await
                    .map_err(db)?;
                videos::settle_after_job(&d.db, input.video_id)
                    .await
                    .map_err(db)?;
            }
            JobOutcome::Failed { message } => {
                jobs::finish(&d.db, input.job_id, JobStatus::Failed, Some(message), None)
                    .await
                    .map_err(db)?;
                videos::settle_after_job(&d.db, input.video_id)
                    .await
                    .map_err(db)?;
            }
            JobOutcome::Cancelled => {
                jobs::finish(
                    &d.db,
                    input.job_id,
                    JobStatus::Cancelled,
                    Some("cancelled by request"),
                    None,
                )
                .await
                .map_err(db)?;
                videos::settle_after_job(&d.db, input.video_id)
                    .await
                    .map_err(db)?;
            }
        }
        let (action, description) = match &input.outcome {
            JobOutcome::Completed { .. } => (
                "dub_completed",
                format!(
                    "'{title}' dubbed into {}",
                    input.target_language.english_name()
                ),
            ),
            JobOutcome::Failed { message } => {
                ("dub_failed", format!("dubbing '{title}' failed: {message}"))
            }
            JobOutcome::Cancelled => ("dub_cancelled", format!("dubbing '{title}' cancelled")),
        };
        if job.status != JobStatus::Failed.as_str()
            || !matches!(input.outcome, JobOutcome::Failed { .. })
        {
            activity_log::record(
                &d.db,
                job.user_id,
                action,
                &description,
                Some(serde_json::json!({ "job_id": input.job_id })),
            )
            .await
            .map_err(db)?;
        }
        Ok(())
    }
}
