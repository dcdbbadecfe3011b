//! Re-rendering a finished dub: version `n` speaks the lines as edited. The credits of its
//! changed lines are held at once, atomically with the balance check, and settled by its
//! workflow (captured on success, released otherwise), each ledger entry keyed by the version.
//! One re-render of a job runs at a time; an `Idempotency-Key` makes a repeated request find
//! the version it started.

use super::{Segments, optional, quote_of, segments};
use crate::services::dubs::may_spend;
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal;
use onevoice_shared::contracts::{
    BackgroundMode, DubOptions, MixGain, MixOutput, RerenderInput, SeparateOutput,
};
use onevoice_shared::ids::{JobId, UserId};
use onevoice_shared::keys::{JobKeys, VideoKeys};
use onevoice_shared::language::Language;
use onevoice_shared::pipeline::Step;
use onevoice_shared::repo::job_versions::{self, NewVersion, Payer};
use onevoice_shared::repo::{ledger, media};
use onevoice_shared::status::FileType;

/// A re-render that was started, or found again by its idempotency key.
pub struct RerenderStarted {
    pub version: u32,
    pub credits: i64,
    pub changed_lines: u32,
    pub message: &'static str,
}

/// Starts re-rendering the changed lines of one of the caller's finished jobs.
#[tracing::instrument(skip_all, fields(%user, %job))]
pub async fn start(
    state: &AppState,
    user: UserId,
    job: JobId,
    idempotency_key: Option<&str>,
) -> Result<RerenderStarted> {
    let all = segments(state, user, job).await?;
    if let Some(key) = idempotency_key
        && let Some(found) = job_versions::find_by_idempotency_key(&state.db, job, key).await?
    {
        return Ok(RerenderStarted {
            version: found.version as u32,
            credits: found.credits,
            changed_lines: found.changed_lines.max(0) as u32,
            message: "re-render already started",
        });
    }
    let quote = quote_of(&all, state.settings.credits.cost_per_minute);
    if quote.changed_lines == 0 {
        return Err(ServiceError::Conflict(
            "no line was edited since the current version: edit lines first".into(),
        ));
    }
    let render = render_input(state, &all).await?;
    let video = all
        .job
        .video_id
        .ok_or_else(|| ServiceError::Conflict("the job's video is gone".into()))?;

    // Hold the credits and take the next version number together.
    let mut tx = state.db.begin().await?;
    ledger::lock_user(&mut tx, user).await?;
    may_spend(&mut tx, user, quote.credits).await?;
    let version = job_versions::insert(
        &mut tx,
        &NewVersion {
            job,
            credits: quote.credits,
            changed_lines: quote.changed_lines,
            changed_ms: quote.changed_ms,
            idempotency_key,
            request_hash: &[],
        },
    )
    .await?
    .ok_or_else(|| {
        ServiceError::Conflict("a re-render of this job is running; wait for it to end".into())
    })?;
    ledger::append(
        &mut *tx,
        ledger::Entry {
            user,
            job: Some(job),
            video: Some(video),
            kind: ledger::Kind::Reserve,
            amount: -quote.credits,
            key: &ledger::rerender_key(job, version, ledger::Kind::Reserve),
            description: "credits held for a re-render",
        },
    )
    .await?;
    tx.commit().await?;

    // The lines as edited, for the workflow (written before it starts).
    let keys = JobKeys(job).render(version);
    let drafts = all.drafts();
    let input = RerenderInput {
        job_id: job,
        user_id: user,
        video_id: video,
        version,
        language: render.language,
        cues_key: keys.cues(),
        line_voices: drafts.voices,
        kept: drafts.kept,
        video_key: render.video_key,
        source_audio_key: JobKeys(job).source_audio(),
        duration_ms: all.duration_ms,
        preserve_background: render.preserve_background,
        background_stem_key: render.background_stem_key,
        gain: render.gain,
        output_key: VideoKeys::new(user, video)
            .job(job)
            .version(version)
            .dubbed(render.language),
        activity_budget: Some(state.settings.temporal.activity_budget),
    };
    let started = async {
        state
            .storage
            .put_json(&input.cues_key, &drafts.cues)
            .await?;
        temporal::start_rerender(&state.temporal, &state.settings.temporal.task_queue, &input).await
    }
    .await;
    if let Err(e) = started {
        tracing::error!(error = %e, version, "re-render could not be started; releasing its hold");
        let mut tx = state.db.begin().await?;
        let payer = Payer {
            user,
            video: Some(video),
        };
        let why = "the re-render could not be started; its credits were released";
        job_versions::settle(&mut tx, payer, job, version, Err(why)).await?;
        tx.commit().await?;
        return Err(ServiceError::Unavailable(
            "the re-render could not be started; nothing was charged, try again".into(),
        ));
    }
    Ok(RerenderStarted {
        version,
        credits: quote.credits,
        changed_lines: quote.changed_lines,
        message: "re-render started",
    })
}

/// What a re-render takes from the job's first render.
pub(super) struct FirstRender {
    language: Language,
    video_key: String,
    pub(super) preserve_background: bool,
    pub(super) background_stem_key: Option<String>,
    gain: Option<MixGain>,
}

pub(super) async fn render_input(state: &AppState, all: &Segments) -> Result<FirstRender> {
    let unreadable = || ServiceError::Conflict("the job's configuration is unreadable".into());
    let config = all.job.config().ok_or_else(unreadable)?;
    let video = all.job.video_id.ok_or_else(unreadable)?;
    let original = media::newest(&state.db, video, FileType::Original, None, None)
        .await?
        .ok_or_else(|| ServiceError::Conflict("the video has no uploaded file".into()))?;
    let keys = JobKeys(all.job.id);
    let separated: Option<SeparateOutput> = optional(state, &keys.separation()).await?;
    let mixed: Option<MixOutput> =
        optional(state, &keys.render(1).step_result(Step::MergeAudio)).await?;
    let options: DubOptions = config.options();
    Ok(FirstRender {
        language: config.target_language,
        // A job of a part of the video dubbed the part it cut out.
        video_key: match config.range {
            Some(_) => keys.trimmed_video(),
            None => original.s3_key,
        },
        preserve_background: options.background_mode() != BackgroundMode::None,
        background_stem_key: separated.map(|s| s.stem_key),
        gain: mixed.map(|m| MixGain {
            gain_db: m.gain_db,
            limited: m.limited,
        }),
    })
}

/// One version of a job and where its files are.
pub struct VersionInfo {
    pub version: u32,
    /// `processing`, `completed` or `failed`.
    pub status: String,
    pub current: bool,
    /// Credits it cost (held while it runs; released if it failed).
    pub credits: i64,
    pub changed_lines: u32,
    pub changed_ms: u64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub error_message: Option<String>,
    /// Links valid for the storage's presign time (completed versions only).
    pub files: Option<VersionFiles>,
}

pub struct VersionFiles {
    pub video_url: String,
    pub audio_url: Option<String>,
    pub subtitles_url: Option<String>,
}

/// The keys of a version's files: (video, audio alone, dub subtitles).
fn files_of(result: &serde_json::Value) -> Option<(String, Option<String>, Option<String>)> {
    let key = |name: &str| {
        result
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Some((
        key("output_key")?,
        key("dubbed_audio_key"),
        key("dub_srt_key"),
    ))
}

async fn presigned(
    state: &AppState,
    job: JobId,
    version: u32,
    result: &serde_json::Value,
) -> Option<VersionFiles> {
    let (video, audio, srt) = files_of(result)?;
    let name = |ext: &str| format!("dub-{job}-v{version}.{ext}");
    let url = |key: Option<String>, file: String| async move {
        match key {
            Some(k) => state.storage.presign_get(&k, &file).await.ok(),
            None => None,
        }
    };
    Some(VersionFiles {
        video_url: url(Some(video), name("mp4")).await?,
        audio_url: url(audio, name("m4a")).await,
        subtitles_url: url(srt, name("srt")).await,
    })
}

/// Every version of one of the caller's finished jobs, the first render first.
pub async fn versions(state: &AppState, user: UserId, job: JobId) -> Result<Vec<VersionInfo>> {
    let all = segments(state, user, job).await?;
    let row = &all.job;
    let first = row.job_result.clone().unwrap_or_default();
    let listed = job_versions::of_job(&state.db, job).await?;
    // Read after the list: a version the list shows completed is already current (one
    // transaction sets both), so the answer never shows a finished version as not current.
    let current = job_versions::current(&state.db, job).await?;
    let mut out = vec![VersionInfo {
        version: 1,
        status: "completed".into(),
        current: current == 1,
        credits: i64::from(row.credits_cost.unwrap_or(0)),
        changed_lines: all.lines.len() as u32,
        changed_ms: all.duration_ms,
        created_at: row.created_at,
        completed_at: row.completed_at,
        error_message: None,
        files: presigned(state, job, 1, &first).await,
    }];
    for v in listed {
        let version = v.version.max(2) as u32;
        let files = match (&v.status[..], &v.result) {
            ("completed", Some(result)) => presigned(state, job, version, result).await,
            _ => None,
        };
        out.push(VersionInfo {
            version,
            current: current == version,
            status: v.status,
            credits: v.credits,
            changed_lines: v.changed_lines.max(0) as u32,
            changed_ms: v.changed_ms.max(0) as u64,
            created_at: v.created_at,
            completed_at: v.completed_at,
            error_message: v.error_message,
            files,
        });
    }
    Ok(out)
}

/// Makes a completed version of one of the caller's jobs the one served by default.
pub async fn make_current(state: &AppState, user: UserId, job: JobId, version: u32) -> Result<()> {
    segments(state, user, job).await?;
    if version != 1 {
        let found = job_versions::get(&state.db, job, version)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("the job has no version {version}")))?;
        if found.status != "completed" {
            return Err(ServiceError::Conflict(format!(
                "version {version} is {}: only a completed version can be made current",
                found.status
            )));
        }
    }
    job_versions::set_current(&state.db, job, version).await?;
    Ok(())
}
