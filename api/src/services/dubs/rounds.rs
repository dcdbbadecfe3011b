//! A job's later rounds: resume after a failure, cancel, and the start of a job the legacy queue
//! handed over.

use super::*;
use onevoice_shared::contracts::Approval;
use onevoice_shared::keys::JobKeys;

/// How long a resume waits for the failed run to close (it sends the failure notice last).
const CLOSING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Resumes the video's failed dub from the step that failed: finished steps are reused, not
/// recomputed or charged again. Credits are held again for the new round, and given back if
/// the round cannot be started.
#[tracing::instrument(skip_all, fields(%user, %video))]
pub async fn resume(
    state: &AppState,
    user: UserId,
    video: VideoId,
    choice: jobs::Choice<'_>,
) -> Result<Started> {
    let v = videos::find_owned(&state.db, user, video)
        .await?
        .ok_or_else(|| ServiceError::NotFound("video not found".into()))?;
    let job = jobs::newest_for_video(&state.db, user, video, choice)
        .await?
        .ok_or_else(|| ServiceError::NotFound("no job found for this video".into()))?;
    if job.status != JobStatus::Failed {
        return Err(ServiceError::Conflict(format!(
            "only a failed dub can be resumed; this one is {}",
            job.status
        )));
    }
    let credits = i64::from(job.credits_cost.unwrap_or(0));
    let round = job.retry_count + 1;
    let mut tx = state.db.begin().await?;
    ledger::lock_user(&mut tx, user).await?;
    may_spend(&mut tx, user, credits).await?;
    if !jobs::reopen(&mut tx, job.id, round).await? {
        return Err(ServiceError::Conflict(
            "the dub is being resumed already".into(),
        ));
    }
    ledger::append(
        &mut *tx,
        ledger::Entry {
            user,
            job: Some(job.id),
            video: Some(video),
            kind: ledger::Kind::Reserve,
            amount: -credits,
            key: &ledger::reserve_key(job.id, round),
            description: "credits held for resuming a dub",
        },
    )
    .await?;
    tx.commit().await?;
    // From here on the hold is committed: any failure to start gives it back, as a new dub's
    // start does.
    let started = async {
        let input = rebuild_input(state, &job, video).await?;
        let task_queue = &state.settings.temporal.task_queue;
        temporal::resume_dubbing(
            &state.temporal,
            task_queue,
            &input,
            &v.title,
            CLOSING_PATIENCE,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job = %job.id, "could not resume the dubbing workflow");
            ServiceError::Unavailable("the dub could not be resumed now; please retry".into())
        })
    };
    if let Err(e) = started.await {
        abort_start(state, job.id, user, video, round).await?;
        return Err(e);
    }
    Ok(Started {
        job_id: job.id,
        status: JobStatus::Pending,
        credits,
        message: "dubbing job resumed",
    })
}

/// Cancels the video's running dub: its activities stop, its artifacts are deleted and its
/// credits released; the job ends `cancelled`.
#[tracing::instrument(skip_all, fields(%user, %video))]
pub async fn cancel(
    state: &AppState,
    user: UserId,
    video: VideoId,
    choice: jobs::Choice<'_>,
) -> Result<()> {
    videos::find_owned(&state.db, user, video)
        .await?
        .ok_or_else(|| ServiceError::NotFound("video not found".into()))?;
    let job = jobs::newest_active_for_video(&state.db, user, video, choice)
        .await?
        .ok_or_else(|| ServiceError::Conflict("no dub of this video is running".into()))?;
    temporal::cancel_dubbing(&state.temporal, job.id, "cancelled by the user")
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job = %job.id, "could not cancel the dubbing workflow");
            ServiceError::Unavailable("the dub could not be cancelled now; please retry".into())
        })
}

/// Starts a job the legacy queue handed over (`DISPATCH_MODE=sqs`): its workflow input is
/// rebuilt from its rows, as a resume does.
#[tracing::instrument(skip_all, fields(job = %job.id))]
pub async fn start_queued(state: &AppState, job: &jobs::JobRow, video: VideoId) -> Result<()> {
    let input = rebuild_input(state, job, video).await?;
    let title = videos::find_by_id(&state.db, video)
        .await?
        .map(|v| v.title)
        .unwrap_or_default();
    start_workflow(state, &input, &title).await
}

/// The workflow input of an existing job, from its rows (the keys come from the same owner).
async fn rebuild_input(
    state: &AppState,
    job: &jobs::JobRow,
    video: VideoId,
) -> Result<DubbingInput> {
    let unreadable = || ServiceError::Conflict("the job's configuration is unreadable".into());
    let config = job.config().ok_or_else(unreadable)?;
    let original = media::newest(&state.db, video, FileType::Original, None, None)
        .await?
        .ok_or_else(|| ServiceError::Conflict("the video has no uploaded file".into()))?;
    let outputs = VideoKeys::new(job.user_id, video).job(job.id);
    // The row's languages are the job's: a recognized one records the detected language there.
    let parse = |code: Option<&str>| code.and_then(|c| c.parse::<Language>().ok());
    Ok(DubbingInput {
        job_id: job.id,
        user_id: job.user_id,
        video_id: video,
        priced_duration_ms: match config.range {
            Some(r) => Some(r.duration_ms()),
            None => original.duration.map(|s| (s * 1000.0).round() as u64),
        },
        range: config.range,
        activity_budget: Some(state.settings.temporal.activity_budget),
        speech_batch_lines: Some(state.settings.temporal.speech_batch_lines),
        video_key: original.s3_key,
        // Recognized jobs recognize again on resume (the step's stored result is reused if it
        // had finished); a job of the user's own translation without its source has none.
        transcript: match config.speech_recognition {
            SpeechSource::Transcript => TranscriptSource::Uploaded(outputs.transcript()),
            SpeechSource::Recognizer(_) | SpeechSource::None => TranscriptSource::Recognize,
        },
        source_language: parse(job.source_language.as_deref()).unwrap_or(config.source_language),
        target_language: parse(job.target_language.as_deref()).unwrap_or(config.target_language),
        output_key: outputs.dubbed(config.target_language),
        credits_per_minute: super::credits_per_minute(state, &config),
        options: config.options(),
        review_timeout_secs: super::review_timeout(state, &config),
        approval: approved(state, job).await?,
        own_translation_key: config.own_translation.then(|| outputs.own_translation()),
    })
}

/// The approval of a job whose review was approved before (a resume does not ask again).
async fn approved(state: &AppState, job: &jobs::JobRow) -> Result<Option<Approval>> {
    if job.review_state.as_deref() != Some("approved") {
        return Ok(None);
    }
    Ok(Some(
        state.storage.get_json(&JobKeys(job.id).approval()).await?,
    ))
}

async fn start_workflow(state: &AppState, input: &DubbingInput, title: &str) -> Result<()> {
    let task_queue = &state.settings.temporal.task_queue;
    temporal::start_dubbing(&state.temporal, task_queue, input, title)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job = %input.job_id, "could not start the dubbing workflow");
            ServiceError::Unavailable("the dub could not be started now; please retry".into())
        })
}
