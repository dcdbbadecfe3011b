//! Dubbing jobs: quote, start (credits held atomically, `Idempotency-Key` honoured), status,
//! cancel, resume, and the `/api/jobs` listing.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::temporal;
use crate::text;
use crate::views::MessageResponse;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use onevoice_shared::contracts::{DubOptions, DubbingInput, GlossaryTerm, dubbing_workflow_id};
use onevoice_shared::ids::{JobId, UserId, VideoId};
use onevoice_shared::keys::VideoKeys;
use onevoice_shared::language::Language;
use onevoice_shared::legacy::{self, JobMessage};
use onevoice_shared::pipeline::credit_cost;
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::repo::{activity, billing, jobs, ledger, media, videos};

/// Why a suspended customer cannot start dubbing, and how to get going again.
const OVERDUE: &str = "dubbing is suspended: your subscription payment is overdue; update your payment method to continue";
const DISPUTED: &str = "dubbing is suspended: a payment of this account was charged back; contact support to settle it";

/// Whether the user may hold `credits` now (inside the transaction that locked their balance):
/// not while dubbing is suspended, and not beyond the balance (a negative one after a refund
/// refuses every dub until credits are added).
async fn may_spend(
    tx: &mut sqlx::PgConnection,
    user: onevoice_shared::ids::UserId,
    credits: i64,
) -> Result<(), ApiError> {
    match billing::suspension(&mut *tx, user).await? {
        Some(billing::Suspension::Overdue) => return Err(ApiError::Suspended(OVERDUE.into())),
        Some(billing::Suspension::Disputed) => return Err(ApiError::Suspended(DISPUTED.into())),
        None => {}
    }
    let available = ledger::balance(&mut *tx, user).await?;
    if available < credits {
        return Err(ApiError::PaymentRequired {
            needed: credits,
            available,
        });
    }
    Ok(())
}
use onevoice_shared::settings::{Dispatch, Recognizer};
use onevoice_shared::srt;
use onevoice_shared::status::{FileType, JobStatus, VideoStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quote))
        .routes(routes!(start_dub))
        .routes(routes!(status))
        .routes(routes!(cancel))
        .routes(routes!(resume))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
}

async fn ready_video(state: &AppState, user: UserId, id: VideoId) -> Result<VideoDetail, ApiError> {
    let v = videos::detail(&state.db, user, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))?;
    let ready = [
        VideoStatus::Uploaded,
        VideoStatus::Processing,
        VideoStatus::Completed,
    ];
    if !ready.iter().any(|s| s.as_str() == v.status) || v.duration.is_none() {
        let why = match v.status.as_str() {
            "pending" => "the video's upload has not been completed yet".to_string(),
            "failed" => format!(
                "the video cannot be dubbed: {}",
                v.status_reason.as_deref().unwrap_or("its upload failed")
            ),
            other => format!("the video is {other}"),
        };
        return Err(ApiError::Conflict(why));
    }
    Ok(v)
}

#[derive(Serialize, ToSchema)]
pub struct QuoteResponse {
    /// Credits the dub costs (per started minute of media).
    credits: i64,
    duration_seconds: f64,
    /// Rough processing time.
    estimated_processing_seconds: u64,
    /// The caller's spendable balance.
    available_credits: i64,
    sufficient: bool,
}

fn price(state: &AppState, v: &VideoDetail) -> (i64, u64) {
    let ms = (v.duration.unwrap_or(0.0) * 1000.0).round() as u64;
    let credits = credit_cost(ms, state.settings.credits.cost_per_minute);
    let estimate =
        (ms as f64 / 1000.0 * state.settings.credits.processing_ratio).ceil() as u64 + 10;
    (credits, estimate)
}

/// What dubbing this video costs, with the same function the job is charged with.
#[utoipa::path(get, path = "/api/videos/{id}/quote", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 200, body = QuoteResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn quote(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<Json<QuoteResponse>, ApiError> {
    let v = ready_video(&state, user.id, id).await?;
    let (credits, estimate) = price(&state, &v);
    let available = ledger::balance(&state.db, user.id).await?;
    Ok(Json(QuoteResponse {
        credits,
        duration_seconds: v.duration.unwrap_or(0.0),
        estimated_processing_seconds: estimate,
        available_credits: available.max(0),
        sufficient: available >= credits,
    }))
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"target_language": "es", "voice_id": "espeak-es-f",
    "preserve_background_music": true, "burn_subtitles": true,
    "source_transcript": "1\n00:00:01,000 --> 00:00:03,500\nHello and welcome.\n",
    "glossary": [{"source": "OneVoice", "target": "OneVoice"}]}))]
pub struct DubRequest {
    /// Language to dub into (ISO 639-1, e.g. `es`).
    #[schema(schema_with = crate::schemas::language)]
    target_language: String,
    /// Voice to speak with (see `/api/videos/voices`); the target language's default when omitted.
    #[serde(default)]
    #[schema(format = "nonblank-line", max_length = 200)]
    voice_id: Option<String>,
    /// Keep the original background under the dub.
    #[serde(default = "default_true")]
    preserve_background_music: bool,
    /// Language spoken in the video; defaults to the video's `original_language`. `auto` has
    /// speech recognition detect it.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_source_language)]
    source_language: Option<String>,
    /// Transcript of the video as SRT or WebVTT text. Without one, the speech is recognized.
    #[serde(default)]
    source_transcript: Option<String>,
    /// Speech recognizer for this job (one configured on the server); the server's default
    /// when omitted.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_recognizer)]
    asr_provider: Option<String>,
    /// Also produce the original video with the translation burned in (`subtitle_video`).
    #[serde(default)]
    burn_subtitles: bool,
    /// Terms to translate exactly as given (at most 200).
    #[serde(default)]
    #[schema(max_items = 200)]
    glossary: Vec<GlossaryEntry>,
}

/// A term and its translation: one line each, 1 to 100 characters, without `[` or `]`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct GlossaryEntry {
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\[\\]][^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*$"
    )]
    source: String,
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\[\\]][^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*$"
    )]
    target: String,
}

/// The recognizer a dub asks for: one the server has configured, for a video without a
/// transcript.
fn requested_recognizer(
    state: &AppState,
    req: &DubRequest,
) -> Result<Option<Recognizer>, ApiError> {
    let Some(name) = req.asr_provider.as_deref() else {
        return Ok(None);
    };
    let configured: Vec<&str> = Recognizer::ALL
        .into_iter()
        .filter(|r| r.is_configured(&state.settings.speech))
        .map(Recognizer::name)
        .collect();
    let recognizer = Recognizer::from_name(name)
        .filter(|r| r.is_configured(&state.settings.speech))
        .ok_or_else(|| {
            ApiError::validation(
                "asr_provider",
                format!(
                    "not a recognizer of this server (configured: {})",
                    configured.join(", ")
                ),
            )
        })?;
    if req.source_transcript.is_some() {
        return Err(ApiError::validation(
            "asr_provider",
            "a job with source_transcript recognizes no speech: omit one of them",
        ));
    }
    Ok(Some(recognizer))
}

fn check_glossary(entries: &[GlossaryEntry]) -> Result<Vec<GlossaryTerm>, ApiError> {
    if entries.len() > 200 {
        return Err(ApiError::validation("glossary", "at most 200 terms"));
    }
    // Brackets would break Apertium's protection of the terms.
    let term = |field: String, t: &str| -> Result<String, ApiError> {
        let t = text::nonblank_line(&field, t, 100)?;
        if t.contains(['[', ']']) {
            return Err(ApiError::validation(&field, "must not contain `[` or `]`"));
        }
        Ok(t.to_string())
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(GlossaryTerm {
                source: term(format!("glossary[{i}].source"), &e.source)?,
                target: term(format!("glossary[{i}].target"), &e.target)?,
            })
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct DubResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::job_status)]
    status: JobStatus,
    /// Credits held for the job (charged on success, released on failure or cancel).
    credits: i64,
    message: String,
}

/// Starts dubbing a video into a language (one job per request). The quoted credits are held at
/// once, atomically with the balance check: two requests cannot both spend the last credits.
/// With an `Idempotency-Key` header, a repeated request returns the same job.
#[utoipa::path(post, path = "/api/videos/{id}/dub", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"),
           ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200, format = "nonblank-line",
            description = "makes retries of this request safe: the same key and body give the same job, another body 409")),
    request_body = DubRequest,
    responses((status = 202, body = DubResponse), (status = 402, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn start_dub(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<DubRequest>,
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|k| text::nonblank_line("Idempotency-Key", k, 200).ok())
                .ok_or_else(|| {
                    ApiError::validation("Idempotency-Key", "must be 1 to 200 visible characters")
                })?
                .to_string(),
        ),
        None => None,
    };
    let request_hash =
        Sha256::digest(serde_json::to_vec(&(video_id, &req)).unwrap_or_default()).to_vec();
    if let Some(key) = &idempotency_key
        && let Some(existing) = jobs::find_by_idempotency_key(&state.db, user.id, key).await?
    {
        return replay(existing, &request_hash);
    }

    let target: Language = req.target_language.parse().map_err(
        |e: onevoice_shared::language::UnsupportedLanguage| {
            ApiError::validation("target_language", e.to_string())
        },
    )?;
    let v = ready_video(&state, user.id, video_id).await?;
    let requested = requested_recognizer(&state, &req)?;
    let recognizer = requested.or(state.settings.speech.recognizer);
    // `auto`: speech recognition detects it (the video's language, or English, is only a
    // fallback for the record until then).
    let detect_language = req.source_language.as_deref() == Some("auto");
    if detect_language && (req.source_transcript.is_some() || recognizer.is_none()) {
        return Err(ApiError::validation(
            "source_language",
            "`auto` needs speech recognition: omit source_transcript (and configure a recognizer)",
        ));
    }
    let source: Language = req
        .source_language
        .as_deref()
        .filter(|l| *l != "auto")
        .or(v.original_language.as_deref())
        .or(detect_language.then_some("en"))
        .ok_or_else(|| {
            ApiError::validation(
                "source_language",
                "required: the video has no original_language",
            )
        })?
        .parse()
        .map_err(|e: onevoice_shared::language::UnsupportedLanguage| {
            ApiError::validation("source_language", e.to_string())
        })?;
    if let Some(voice) = &req.voice_id
        && !onevoice_shared::voices::is_available(voice, target, &state.settings.speech)
    {
        return Err(ApiError::validation(
            "voice_id",
            format!("not a voice for {target}; see /api/videos/voices"),
        ));
    }
    // Without a transcript, the speech is recognized (when a recognizer is configured).
    let cues = match req.source_transcript.as_deref() {
        Some(transcript) => Some(
            srt::parse_any(transcript)
                .map_err(|e| ApiError::validation("source_transcript", e.to_string()))?,
        ),
        None if recognizer.is_some() => None,
        None => {
            return Err(ApiError::validation(
                "source_transcript",
                "required: speech recognition is not configured on this server",
            ));
        }
    };
    let glossary = check_glossary(&req.glossary)?;
    let original = media::newest(&state.db, video_id, FileType::Original, None, None)
        .await?
        .ok_or_else(|| ApiError::Conflict("the video has no uploaded file".into()))?;
    let (credits, estimate) = price(&state, &v);

    let job_id = JobId::new();
    let workflow_id = dubbing_workflow_id(job_id);
    let outputs = VideoKeys::new(user.id, video_id).job(job_id);
    let transcript_key = outputs.transcript();
    let output_key = outputs.dubbed(target);
    if let Some(cues) = &cues {
        state
            .storage
            .put_bytes(
                &transcript_key,
                srt::write(cues).into_bytes(),
                "application/x-subrip",
            )
            .await?;
    }

    let mut tx = state.db.begin().await?;
    ledger::lock_user(&mut tx, user.id).await?;
    may_spend(&mut tx, user.id, credits).await?;
    let inserted = jobs::insert(
        &mut tx,
        jobs::NewJob {
            id: job_id,
            user_id: user.id,
            video_id,
            source_language: source.code(),
            target_language: target.code(),
            voice_id: req.voice_id.as_deref(),
            workflow_id: &workflow_id,
            config: json!({
                "target_language": target,
                "source_language": source,
                "voice_id": req.voice_id,
                "preserve_background_music": req.preserve_background_music,
                "tts_method": "espeak-ng",
                "detect_language": detect_language,
                "speech_recognition": match (&cues, recognizer) {
                    (None, Some(r)) => r.name(),
                    _ => "transcript",
                },
                "asr_provider": requested,
                "burn_subtitles": req.burn_subtitles,
                "glossary": glossary,
            }),
            credits_cost: credits as i32,
            estimated_completion: Utc::now() + chrono::Duration::seconds(estimate as i64),
            idempotency_key: idempotency_key.as_deref(),
            request_hash: &request_hash,
        },
    )
    .await;
    if let Err(sqlx::Error::Database(e)) = &inserted
        && e.is_unique_violation()
        && let Some(key) = &idempotency_key
    {
        // A concurrent request with the same key won the race: answer as it did.
        drop(tx);
        let existing = jobs::find_by_idempotency_key(&state.db, user.id, key)
            .await?
            .ok_or_else(|| {
                ApiError::Conflict("a request with this Idempotency-Key is in progress".into())
            })?;
        return replay(existing, &request_hash);
    }
    inserted?;
    ledger::append(
        &mut *tx,
        ledger::Entry {
            user: user.id,
            job: Some(job_id),
            video: Some(video_id),
            kind: ledger::Kind::Reserve,
            amount: -credits,
            key: &ledger::reserve_key(job_id, 0),
            description: "credits held for dubbing",
        },
    )
    .await?;
    // A recognized transcript is written by the job itself, later.
    if cues.is_some() {
        media::insert(
            &mut tx,
            &media::NewMediaFile {
                video_id,
                job_id: Some(job_id),
                file_type: FileType::SourceTranscript,
                filename: "source.srt",
                file_format: "srt",
                content_type: "application/x-subrip",
                bucket: state.storage.bucket(),
                key: &transcript_key,
                size: None,
                duration_secs: None,
                language: Some(source.code()),
            },
        )
        .await?;
    }
    activity::record(
        &mut *tx,
        user.id,
        "dub_started",
        &format!("dubbing '{}' into {}", v.title, target.english_name()),
        Some(json!({ "video_id": video_id, "job_id": job_id, "credits": credits })),
    )
    .await?;
    tx.commit().await?;

    let input = DubbingInput {
        job_id,
        user_id: user.id,
        video_id,
        priced_duration_ms: original.duration.map(|s| (s * 1000.0).round() as u64),
        activity_budget: Some(state.settings.temporal.activity_budget),
        video_key: original.s3_key,
        transcript_key: if cues.is_some() {
            transcript_key
        } else {
            String::new()
        },
        source_language: source,
        target_language: target,
        output_key,
        credits_per_minute: state.settings.credits.cost_per_minute,
        options: DubOptions {
            detect_language,
            preserve_background_music: req.preserve_background_music,
            burn_subtitles: req.burn_subtitles,
            glossary,
            voice_id: req.voice_id.clone(),
            recognizer: requested,
        },
    };
    if let Err(e) = dispatch(&state, &input, &v.title).await {
        tracing::error!(error = %e, %job_id, "could not start the dubbing workflow");
        abort_start(&state, job_id, user.id, video_id, 0).await?;
        return Err(ApiError::ServiceUnavailable(
            "the job could not be started; please retry".into(),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(DubResponse {
            job_id,
            status: JobStatus::Pending,
            credits,
            message: "dubbing job started".into(),
        }),
    ))
}

/// Hands a new job to Temporal: directly, or through the legacy queue (`DISPATCH_MODE=sqs`), where
/// `onevoice sqs-bridge` starts it.
async fn dispatch(state: &AppState, input: &DubbingInput, title: &str) -> anyhow::Result<()> {
    match state.settings.sqs.dispatch {
        Dispatch::Temporal => {
            temporal::start_dubbing(
                &state.temporal,
                &state.settings.temporal.task_queue,
                input,
                title,
            )
            .await
        }
        Dispatch::Sqs => {
            let url = state
                .settings
                .sqs
                .queue_url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no SQS_QUEUE_URL"))?;
            let message = JobMessage {
                message_type: legacy::DUBBING_JOB.to_string(),
                job_id: input.job_id,
                user_id: input.user_id,
                video_id: input.video_id,
                requested_at: Utc::now(),
            };
            Ok(state.queue.send_job(url.as_str(), &message).await?)
        }
    }
}

/// The answer to a repeated request: the same job, unless the body differs.
fn replay(
    existing: jobs::JobRow,
    request_hash: &[u8],
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    if existing.request_hash.as_deref() != Some(request_hash) {
        return Err(ApiError::Conflict(
            "this Idempotency-Key was used with a different request".into(),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(DubResponse {
            job_id: existing.id,
            status: existing.status.parse().unwrap_or(JobStatus::Pending),
            credits: i64::from(existing.credits_cost.unwrap_or(0)),
            message: "dubbing job already started".into(),
        }),
    ))
}

/// The workflow of round `round` could not be started: fail the job and release that round's
/// hold (the maintenance workflow does the same for a crash in between, see `fail_unstarted`).
async fn abort_start(
    state: &AppState,
    job: JobId,
    user: UserId,
    video: VideoId,
    round: i32,
) -> Result<(), ApiError> {
    let job = jobs::PendingJob {
        id: job,
        user_id: user,
        video_id: video,
        retry_count: round,
    };
    jobs::fail_unstarted(
        &state.db,
        &job,
        "the job could not be started; its credits were released",
    )
    .await?;
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct JobStatusResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::job_status)]
    status: String,
    /// 0–100, weighted by the pipeline's step weights.
    progress: f64,
    estimated_completion: Option<DateTime<Utc>>,
    error_message: Option<String>,
}

/// Status of the video's newest job.
#[utoipa::path(get, path = "/api/videos/{id}/status", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 200, body = JobStatusResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
) -> Result<Json<JobStatusResponse>, ApiError> {
    let job = jobs::newest_for_video(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no job found for this video".into()))?;
    Ok(Json(JobStatusResponse {
        job_id: job.id,
        status: job.status,
        progress: job.progress,
        estimated_completion: job.estimated_completion,
        error_message: job.error_message,
    }))
}

/// Cancels the video's running dub: its activities stop, its artifacts are deleted and its
/// credits released; the job ends `cancelled`.
#[utoipa::path(post, path = "/api/videos/{id}/cancel", tag = "jobs", operation_id = "cancel_dub", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 202, body = MessageResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    videos::find_owned(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))?;
    let job = jobs::newest_active_for_video(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("no dub of this video is running".into()))?;
    temporal::cancel_dubbing(&state.temporal, job.id, "cancelled by the user")
        .await
        .map_err(ApiError::Internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new("the dub is being cancelled")),
    ))
}

/// Resumes the video's failed dub from the step that failed: finished steps are reused, not
/// recomputed or charged again. Credits are held again for the new attempt.
#[utoipa::path(post, path = "/api/videos/{id}/resume", tag = "jobs", operation_id = "resume_dub", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 202, body = DubResponse), (status = 402, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    videos::find_owned(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))?;
    let job = jobs::newest_for_video(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no job found for this video".into()))?;
    if job.status != JobStatus::Failed.as_str() {
        return Err(ApiError::Conflict(format!(
            "only a failed dub can be resumed; this one is {}",
            job.status
        )));
    }
    let credits = i64::from(job.credits_cost.unwrap_or(0));
    let round = job.retry_count + 1;
    let mut tx = state.db.begin().await?;
    ledger::lock_user(&mut tx, user.id).await?;
    may_spend(&mut tx, user.id, credits).await?;
    if !jobs::reopen(&mut tx, job.id, round).await? {
        return Err(ApiError::Conflict(
            "the dub is being resumed already".into(),
        ));
    }
    ledger::append(
        &mut *tx,
        ledger::Entry {
            user: user.id,
            job: Some(job.id),
            video: Some(video_id),
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
        let input = rebuild_input(&state, &job, video_id).await?;
        let title = videos::find_owned(&state.db, user.id, video_id)
            .await?
            .map(|v| v.title)
            .unwrap_or_default();
        temporal::start_dubbing(
            &state.temporal,
            &state.settings.temporal.task_queue,
            &input,
            &title,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job = %job.id, "could not resume the dubbing workflow");
            ApiError::ServiceUnavailable("the dub could not be resumed; please retry".into())
        })
    };
    if let Err(e) = started.await {
        abort_start(&state, job.id, user.id, video_id, round).await?;
        return Err(e);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(DubResponse {
            job_id: job.id,
            status: JobStatus::Pending,
            credits,
            message: "dubbing job resumed".into(),
        }),
    ))
}

/// The workflow input of an existing job, from its rows (the keys are derived the same way).
pub async fn rebuild_input(
    state: &AppState,
    job: &jobs::JobRow,
    video_id: VideoId,
) -> Result<DubbingInput, ApiError> {
    let parse = |code: Option<&str>| code.and_then(|c| c.parse::<Language>().ok());
    let (Some(source), Some(target)) = (
        parse(job.source_language.as_deref()),
        parse(job.target_language.as_deref()),
    ) else {
        return Err(ApiError::Conflict(
            "the job has no languages recorded".into(),
        ));
    };
    let original = media::newest(&state.db, video_id, FileType::Original, None, None)
        .await?
        .ok_or_else(|| ApiError::Conflict("the video has no uploaded file".into()))?;
    let outputs = VideoKeys::new(job.user_id, video_id).job(job.id);
    Ok(DubbingInput {
        job_id: job.id,
        user_id: job.user_id,
        video_id,
        priced_duration_ms: original.duration.map(|s| (s * 1000.0).round() as u64),
        activity_budget: Some(state.settings.temporal.activity_budget),
        video_key: original.s3_key,
        // Recognized jobs recognize again on resume (the step's stored result is reused if it
        // had finished).
        transcript_key: match job.job_config.as_ref().map(|c| {
            c["speech_recognition"]
                .as_str()
                .is_some_and(|r| r != "transcript")
        }) {
            Some(true) => String::new(),
            _ => outputs.transcript(),
        },
        source_language: source,
        target_language: target,
        output_key: outputs.dubbed(target),
        credits_per_minute: state.settings.credits.cost_per_minute,
        options: job
            .job_config
            .as_ref()
            .map(|c| DubOptions {
                preserve_background_music: c["preserve_background_music"].as_bool().unwrap_or(true),
                burn_subtitles: c["burn_subtitles"].as_bool().unwrap_or(false),
                glossary: serde_json::from_value(c["glossary"].clone()).unwrap_or_default(),
                voice_id: c["voice_id"].as_str().map(str::to_string),
                detect_language: c["detect_language"].as_bool().unwrap_or(false),
                recognizer: serde_json::from_value(c["asr_provider"].clone()).unwrap_or(None),
            })
            .unwrap_or_default(),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// The only job type is `dubbing`.
    #[param(value_type = Option<JobType>, inline)]
    job_type: Option<String>,
    #[param(value_type = Option<crate::schemas::JobStatusName>, inline)]
    status: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// Kinds of jobs.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the accepted values
pub enum JobType {
    Dubbing,
}

#[derive(Serialize, ToSchema)]
pub struct JobsPagination {
    limit: i64,
    offset: i64,
    /// Jobs on this page.
    count: usize,
    /// Jobs matching the filters.
    total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct JobsResponse {
    jobs: Vec<JobView>,
    pagination: JobsPagination,
}

/// The caller's jobs, newest first.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", security(("bearer" = [])), params(JobsQuery),
    responses((status = 200, body = JobsResponse), (status = 422, body = crate::error::ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<JobsResponse>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 100"));
    }
    if offset < 0 {
        return Err(ApiError::validation("offset", "must be at least 0"));
    }
    if let Some(s) = &q.status {
        s.parse::<JobStatus>()
            .map_err(|e| ApiError::validation("status", e))?;
    }
    if q.job_type.as_deref().is_some_and(|t| t != "dubbing") {
        return Err(ApiError::validation(
            "job_type",
            "the only job type is `dubbing`",
        ));
    }
    let (rows, total) = jobs::page(&state.db, user.id, q.status.as_deref(), limit, offset).await?;
    let jobs: Vec<JobView> = rows.iter().map(|j| JobView::build(j, None)).collect();
    Ok(Json(JobsResponse {
        pagination: JobsPagination {
            limit,
            offset,
            count: jobs.len(),
            total,
        },
        jobs,
    }))
}

/// One job, with its steps.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<JobView>, ApiError> {
    let job = jobs::find_owned(&state.db, user.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("job not found".into()))?;
    let steps = jobs::steps(&state.db, id).await?;
    Ok(Json(JobView::build(&job, Some(steps))))
}

/// The seed's `Job` shape.
/// A dubbing job as clients see it (the seed's `Job`, with its steps on `GET /api/jobs/{id}`).
#[derive(Serialize, ToSchema)]
pub struct JobView {
    #[schema(value_type = uuid::Uuid)]
    id: JobId,
    #[schema(value_type = uuid::Uuid)]
    user_id: onevoice_shared::ids::UserId,
    #[schema(value_type = Option<uuid::Uuid>)]
    video_id: Option<VideoId>,
    /// Always `dubbing`.
    job_type: &'static str,
    #[schema(schema_with = crate::schemas::job_status)]
    status: String,
    /// 0–100, weighted by the pipeline's step weights.
    #[schema(minimum = 0.0, maximum = 100.0)]
    progress: f64,
    #[schema(schema_with = crate::schemas::optional_language_answer)]
    source_language: Option<String>,
    #[schema(schema_with = crate::schemas::optional_language_answer)]
    target_language: Option<String>,
    voice_id: Option<String>,
    preserve_background_music: bool,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    estimated_completion: Option<DateTime<Utc>>,
    /// Why the job failed, in plain words.
    error_message: Option<String>,
    /// Unused (the seed's field); always null.
    error_code: Option<String>,
    /// Resume round: 0 for the first run, +1 for each resume.
    retry_count: i32,
    /// The seed's constant 3.
    max_retries: i32,
    /// The seed's constant 5.
    priority: i32,
    /// Credits held when the job started (charged on success).
    credits_cost: Option<i32>,
    /// The options the job was started with.
    #[schema(value_type = Option<Object>)]
    job_config: Option<Value>,
    /// What a finished job produced: output keys, `unfit_lines`, the detected `source_language`.
    #[schema(value_type = Option<Object>)]
    job_result: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The 15 steps in order (on `GET /api/jobs/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    job_steps: Option<Vec<StepView>>,
}

/// One step of a job.
#[derive(Serialize, ToSchema)]
pub struct StepView {
    id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::step_name)]
    step_name: String,
    /// 1-based position in the pipeline.
    step_order: i32,
    #[schema(schema_with = crate::schemas::step_status)]
    status: String,
    #[schema(minimum = 0.0, maximum = 100.0)]
    progress: f64,
    /// Share of the job's progress.
    weight: f64,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    error_message: Option<String>,
}

impl JobView {
    fn build(j: &jobs::JobRow, steps: Option<Vec<jobs::StepRow>>) -> Self {
        JobView {
            id: j.id,
            user_id: j.user_id,
            video_id: j.video_id,
            job_type: "dubbing",
            status: j.status.clone(),
            progress: j.progress,
            source_language: j.source_language.clone(),
            target_language: j.target_language.clone(),
            voice_id: j.voice_id.clone(),
            preserve_background_music: j.preserve_background_music,
            started_at: j.started_at,
            completed_at: j.completed_at,
            estimated_completion: j.estimated_completion,
            error_message: j.error_message.clone(),
            error_code: None,
            retry_count: j.retry_count,
            max_retries: 3,
            priority: 5,
            credits_cost: j.credits_cost,
            job_config: j.job_config.clone(),
            job_result: j.job_result.clone(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            job_steps: steps.map(|steps| {
                steps
                    .into_iter()
                    .map(|s| StepView {
                        id: s.id,
                        job_id: j.id,
                        step_name: s.step_name,
                        step_order: s.step_order,
                        status: s.status,
                        progress: s.progress,
                        weight: s.weight,
                        started_at: s.started_at,
                        completed_at: s.completed_at,
                        error_message: s.error_message,
                    })
                    .collect()
            }),
        }
    }
}
