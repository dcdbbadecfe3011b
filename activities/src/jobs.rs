//! Job bookkeeping: keeps the job row, its steps, the video and its media files (the API's read
//! model) in step with the workflow. Every write is idempotent, so retries are harmless.

use crate::deps::Deps;
use crate::error;
use crate::webhooks;
use onevoice_shared::contracts::{
    DubbingOutput, FinishJobInput, FinishRerenderInput, JobOutcome, ProgressReport,
    RerenderOutcome, activity,
};
use onevoice_shared::email::EmailKind;
use onevoice_shared::keys::{JobKeys, VideoKeys};
use onevoice_shared::pipeline::credit_cost;
use onevoice_shared::repo::{
    activity as activity_log, job_versions, jobs, ledger, media, users, videos,
};
use onevoice_shared::status::{FileType, JobStatus, VideoStatus};
use onevoice_shared::webhook::EventType;
use serde_json::json;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

pub struct JobActivities {
    deps: Deps,
}

impl JobActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl JobActivities {
    #[activity(name = activity::RECORD_PROGRESS)]
    pub async fn record_progress(
        self: Arc<Self>,
        _ctx: ActivityContext,
        report: ProgressReport,
    ) -> Result<(), ActivityError> {
        let first = jobs::get(&self.deps.db, report.job_id)
            .await
            .map_err(error::db)?;
        let Some(job) = first else {
            return Err(error::fatal(format!(
                "job {} does not exist",
                report.job_id
            )));
        };
        let mut tx = self.deps.db.begin().await.map_err(error::db)?;
        let progressed = jobs::record_progress(
            &mut tx,
            report.job_id,
            report.percent,
            &report.steps,
            report.review.as_ref(),
        )
        .await
        .map_err(error::db)?;
        let round = job.retry_count;
        if progressed.started {
            webhooks::job_event(
                &mut tx,
                &job,
                EventType::JobStarted,
                &format!("r{round}:started"),
                json!({ "status": JobStatus::Processing.as_str() }),
            )
            .await
            .map_err(error::db)?;
        }
        for step in progressed.completed {
            webhooks::job_event(
                &mut tx,
                &job,
                EventType::JobStepCompleted,
                &format!("r{round}:step:{}", step.name()),
                json!({ "step": step.name(), "progress": report.percent.clamp(0.0, 100.0) }),
            )
            .await
            .map_err(error::db)?;
        }
        tx.commit().await.map_err(error::db)?;
        if job.status != JobStatus::Processing
            && let Some(video) = job.video_id
        {
            videos::set_status(&self.deps.db, video, VideoStatus::Processing)
                .await
                .map_err(error::db)?;
        }
        Ok(())
    }

    /// Settles a re-render in one transaction: the version's status (a completed one becomes
    /// the job's current version), its hold released and, on success, the quoted credits
    /// captured: each entry keyed by the version, so however often this runs it moves the
    /// credits once.
    #[activity(name = activity::FINISH_RERENDER)]
    pub async fn finish_rerender(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishRerenderInput,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        let Some(job) = jobs::get(&d.db, input.job_id).await.map_err(error::db)? else {
            return Ok(()); // deleted meanwhile, with its ledger entries' job
        };
        let (job_id, version) = (input.job_id, input.version);
        let result = match &input.outcome {
            RerenderOutcome::Completed { output } => Ok(serde_json::to_value(output)
                .map_err(|e| error::fatal(format!("re-render output: {e}")))?),
            RerenderOutcome::Failed { message } => Err(message.as_str()),
        };
        let completed = result.is_ok();
        let mut tx = d.db.begin().await.map_err(error::db)?;
        let payer = job_versions::Payer {
            user: job.user_id,
            video: job.video_id,
        };
        let ended = job_versions::settle(&mut tx, payer, job_id, version, result)
            .await
            .map_err(error::db)?;
        if ended {
            let (action, description) = if completed {
                (
                    "rerender_completed",
                    format!("version {version} of a dub is ready"),
                )
            } else {
                (
                    "rerender_failed",
                    format!("version {version} of a dub failed; its credits were released"),
                )
            };
            activity_log::record(
                &mut *tx,
                job.user_id,
                action,
                &description,
                Some(json!({ "job_id": job_id, "version": version })),
            )
            .await
            .map_err(error::db)?;
        }
        tx.commit().await.map_err(error::db)
    }

    /// Ends the job in one transaction: terminal status, credit settlement (release the hold;
    /// on success capture the actual cost), activity log. Then registers the outputs, settles the
    /// video's status, removes a cancelled job's artifacts, and queues the job's notice (one per
    /// outcome, however often this runs). Returns the notice to send, if any.
    #[activity(name = activity::FINISH_JOB)]
    pub async fn finish_job(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishJobInput,
    ) -> Result<Option<Uuid>, ActivityError> {
        let d = &self.deps;
        let Some(job) = jobs::get(&d.db, input.job_id).await.map_err(error::db)? else {
            return Err(error::fatal(format!("job {} does not exist", input.job_id)));
        };
        let Some(user) = users::find_any(&d.db, job.user_id)
            .await
            .map_err(error::db)?
        else {
            return Ok(None); // the account was erased meanwhile
        };
        let title = videos::find_by_id(&d.db, input.video_id)
            .await
            .map_err(error::db)?
            .map(|v| v.title)
            .unwrap_or_else(|| "video".into());
        if let JobOutcome::Completed { output } = &input.outcome {
            let preview = job.config().is_some_and(|c| c.preview);
            self.register_outputs(&input, output, &title, preview)
                .await?;
        }
        let round = job.retry_count;
        let (status, message, result) = match &input.outcome {
            JobOutcome::Completed { output } => (
                JobStatus::Completed,
                None,
                serde_json::to_value(output).ok(),
            ),
            JobOutcome::Failed { message } => (JobStatus::Failed, Some(message.as_str()), None),
            JobOutcome::Cancelled => (JobStatus::Cancelled, Some("cancelled by request"), None),
        };

        if matches!(input.outcome, JobOutcome::Cancelled) {
            // Nothing of a cancelled job is kept: its artifacts and any partial output go before
            // the job reads as cancelled, so a client never sees a cancelled job with leftovers.
            let mut prefixes = vec![JobKeys(input.job_id).prefix()];
            prefixes.extend(
                VideoKeys::new(job.user_id, input.video_id)
                    .job(input.job_id)
                    .prefixes(),
            );
            for prefix in prefixes {
                d.storage
                    .delete_prefix(&prefix)
                    .await
                    .map_err(error::storage)?;
            }
            media::delete_of_job(&d.db, input.job_id)
                .await
                .map_err(error::db)?;
        }
        let mut tx = d.db.begin().await.map_err(error::db)?;
        let changed = jobs::finish(&mut tx, input.job_id, status, message, result)
            .await
            .map_err(error::db)?;
        if let JobOutcome::Completed { output } = &input.outcome
            && let Some(detected) = output.source_language
        {
            jobs::set_source_language(&mut tx, input.job_id, detected.code())
                .await
                .map_err(error::db)?;
        }
        let held = ledger::held(&mut *tx, input.job_id, round)
            .await
            .map_err(error::db)?;
        if held > 0 {
            ledger::append(
                &mut *tx,
                ledger::Entry {
                    user: job.user_id,
                    job: Some(input.job_id),
                    video: job.video_id,
                    kind: ledger::Kind::Release,
                    amount: held,
                    key: &ledger::release_key(input.job_id, round),
                    description: "hold released",
                },
            )
            .await
            .map_err(error::db)?;
        }
        let mut captured = 0;
        if let JobOutcome::Completed { output } = &input.outcome {
            // Never more than quoted: the hold is the price the user agreed to.
            let cost = credit_cost(output.duration_ms, input.credits_per_minute);
            let cost = if held > 0 { cost.min(held) } else { cost };
            captured = cost;
        }
        // A free preview (priced at 0 a minute) captures nothing.
        if captured > 0 {
            ledger::append(
                &mut *tx,
                ledger::Entry {
                    user: job.user_id,
                    job: Some(input.job_id),
                    video: job.video_id,
                    kind: ledger::Kind::Capture,
                    amount: -captured,
                    key: &ledger::capture_key(input.job_id),
                    description: &format!(
                        "dubbing '{title}' into {}",
                        input.target_language.english_name()
                    ),
                },
            )
            .await
            .map_err(error::db)?;
        }
        if changed {
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
            activity_log::record(
                &mut *tx,
                job.user_id,
                action,
                &description,
                Some(json!({ "job_id": input.job_id })),
            )
            .await
            .map_err(error::db)?;
            self.finish_events(&mut tx, &job, &input, captured).await?;
        }
        tx.commit().await.map_err(error::db)?;
        videos::settle_after_job(&d.db, input.video_id)
            .await
            .map_err(error::db)?;

        let notice = match &input.outcome {
            JobOutcome::Cancelled => return Ok(None),
            JobOutcome::Completed { .. } => (
                format!("job:{}:completed", input.job_id),
                EmailKind::JobCompleted {
                    username: user.username.clone(),
                    video_title: title.clone(),
                    language: input.target_language.english_name().to_string(),
                    link: format!(
                        "{}/videos/{}",
                        d.frontend_url.trim_end_matches('/'),
                        input.video_id
                    ),
                },
            ),
            JobOutcome::Failed { message } => (
                format!("job:{}:r{round}:failed", input.job_id),
                EmailKind::JobFailed {
                    username: user.username.clone(),
                    video_title: title.clone(),
                    reason: message.clone(),
                    credits_refunded: held > 0,
                },
            ),
        };
        let (dedupe, kind) = notice;
        let id = crate::notify::queue_notice(&d.db, &user, &kind, &dedupe)
            .await
            .map_err(error::db)?;
        Ok(Some(id))
    }
}

impl JobActivities {
    /// The webhook events of a job's end, in its transaction: how it ended and, when its charge
    /// took the balance below the threshold, `credits.low`.
    async fn finish_events(
        &self,
        tx: &mut sqlx::PgConnection,
        job: &jobs::JobRow,
        input: &FinishJobInput,
        captured: i64,
    ) -> Result<(), ActivityError> {
        let round = job.retry_count;
        let (event, cause, extra) = match &input.outcome {
            JobOutcome::Completed { output } => (
                EventType::JobCompleted,
                "completed".to_string(),
                json!({ "status": JobStatus::Completed.as_str(),
                        "duration_secs": output.duration_ms as f64 / 1000.0,
                        "credits_charged": captured }),
            ),
            JobOutcome::Failed { message } => (
                EventType::JobFailed,
                format!("r{round}:failed"),
                json!({ "status": JobStatus::Failed.as_str(), "error": message }),
            ),
            JobOutcome::Cancelled => (
                EventType::JobCancelled,
                "cancelled".to_string(),
                json!({ "status": JobStatus::Cancelled.as_str() }),
            ),
        };
        webhooks::job_event(tx, job, event, &cause, extra)
            .await
            .map_err(error::db)?;
        let threshold = self.deps.webhooks.credits_low_threshold;
        if captured > 0 {
            let balance = ledger::balance(&mut *tx, job.user_id)
                .await
                .map_err(error::db)?;
            if balance < threshold && balance + captured >= threshold {
                webhooks::job_event(
                    tx,
                    job,
                    EventType::CreditsLow,
                    "credits_low",
                    json!({ "balance": balance, "threshold": threshold }),
                )
                .await
                .map_err(error::db)?;
            }
        }
        Ok(())
    }

    /// Registers the dubbed video and the translation subtitles as the video's media files.
    async fn register_outputs(
        &self,
        input: &FinishJobInput,
        output: &DubbingOutput,
        title: &str,
        preview: bool,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        let lang = input.target_language.code();
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
        let subtitled = output.subtitle_video_key.as_ref().map(|k| {
            (
                FileType::SubtitleVideo,
                k,
                "subtitled.mp4",
                "mp4",
                "video/mp4",
            )
        });
        let dub_srt = output.dub_srt_key.as_ref().map(|k| {
            (
                FileType::DubSubtitles,
                k,
                "dub.srt",
                "srt",
                "application/x-subrip",
            )
        });
        let audio_only = output
            .dubbed_audio_key
            .as_ref()
            .map(|k| (FileType::DubbedAudio, k, "dub.m4a", "m4a", "audio/mp4"));
        // The display subtitles: translation SRT is above; its WebVTT, the source and both.
        let (srt, vtt) = (("srt", "application/x-subrip"), ("vtt", "text/vtt"));
        let display: Vec<_> = output
            .subtitles
            .iter()
            .flat_map(|s| {
                [
                    (
                        FileType::TranslationSubtitles,
                        &s.translation_vtt,
                        "trans",
                        vtt,
                    ),
                    (FileType::SourceSubtitles, &s.source_srt, "src", srt),
                    (FileType::SourceSubtitles, &s.source_vtt, "src", vtt),
                    (
                        FileType::BilingualSubtitles,
                        &s.bilingual_srt,
                        "bilingual",
                        srt,
                    ),
                    (
                        FileType::BilingualSubtitles,
                        &s.bilingual_vtt,
                        "bilingual",
                        vtt,
                    ),
                ]
            })
            .map(|(t, k, name, (format, content_type))| {
                (t, k, format!("{name}.{format}"), format, content_type)
            })
            .collect();
        let optional = subtitled.into_iter().chain(dub_srt).chain(audio_only);
        let files = files
            .into_iter()
            .chain(optional)
            .map(|(t, k, suffix, format, content_type)| {
                (t, k, suffix.to_string(), format, content_type)
            })
            .chain(display);
        for (file_type, key, suffix, format, content_type) in files {
            let size = d.storage.size_of(key).await.map_err(error::storage)?;
            // A preview says so in every file's name.
            let mark = if preview { ".preview" } else { "" };
            let filename = format!("{title}.{lang}{mark}.{suffix}");
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
                    duration_secs: matches!(
                        file_type,
                        FileType::DubbedVideo | FileType::DubbedAudio
                    )
                    .then_some(output.duration_ms as f64 / 1000.0),
                    language: Some(lang),
                },
            )
            .await
            .map_err(error::db)?;
        }
        videos::add_target_language(&d.db, input.video_id, lang)
            .await
            .map_err(error::db)?;
        Ok(())
    }
}
