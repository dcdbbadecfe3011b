//! Dubbing jobs: quote, start (credits held atomically, `Idempotency-Key` honoured), status,
//! cancel, resume, and the `/api/jobs` listing.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo, IdempotencyKey};
use crate::services::dubs::{self, DubRequest};
use crate::state::AppState;
use crate::views::MessageResponse;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::{JobId, VideoId};
use onevoice_shared::repo::jobs;
use onevoice_shared::status::{JobStatus, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
        .routes(routes!(get_batch))
}

/// Which of the video's jobs a per-video route means (several languages can be dubbed at once):
/// one by id, else the newest into `language`, else the newest.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhichJob {
    /// A job of this video.
    #[param(value_type = Option<uuid::Uuid>)]
    job_id: Option<JobId>,
    /// The newest job into this language.
    #[param(schema_with = crate::schemas::optional_language)]
    language: Option<String>,
}

impl WhichJob {
    fn choice(&self) -> Result<jobs::Choice<'_>, ApiError> {
        if let Some(code) = &self.language {
            code.parse::<onevoice_shared::language::Language>()
                .map_err(|e| ApiError::validation("language", e.to_string()))?;
        }
        Ok(jobs::Choice {
            job: self.job_id,
            language: self.language.as_deref(),
        })
    }
}

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
    status: JobStatus,
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
    /// The batch of a request for several languages (`/api/batches/{id}`); null otherwise.
    batch_id: Option<uuid::Uuid>,
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
    /// Who speaks in the video and the voice dubbing each (on `GET /api/jobs/{id}` only; empty
    /// until the speakers step has run, and when the transcript names nobody).
    #[serde(skip_serializing_if = "Option::is_none")]
    speakers: Option<Vec<SpeakerView>>,
    /// The review checkpoint of a job started with `review`, once it reached it.
    review: Option<ReviewView>,
    /// The part of the video the job dubs (`start`/`end` of the request, or a preview's); null
    /// for the whole video.
    range: Option<RangeView>,
    /// A free preview (its files are named `….preview.…`).
    preview: bool,
}

/// A part of the video, in seconds from its start.
#[derive(Serialize, ToSchema)]
pub struct RangeView {
    start: f64,
    end: f64,
}

/// Where a dub's review stands.
#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    /// `translation`.
    stage: &'static str,
    /// `awaiting_approval` (edit `/api/jobs/{id}/segments`, then `POST /api/jobs/{id}/approve`)
    /// or `approved`.
    state: String,
    /// Until when an approval is awaited; after it the job is given up and its credits released.
    deadline: Option<DateTime<Utc>>,
}

/// A speaker of a job, measured from the source audio.
#[derive(Serialize, ToSchema)]
pub struct SpeakerView {
    /// `S1`, `S2`, … in order of first appearance.
    id: String,
    /// The name the transcript or the recognizer gave.
    label: String,
    lines: u32,
    speech_seconds: f64,
    /// Median pitch of the speaker's voice alone.
    pitch_hz: Option<f64>,
    /// Guessed from the pitch: `male` or `female`.
    gender: Option<&'static str>,
    voice_id: String,
    /// Whether `voice_id` was cloned from this speaker (`clone_voices`).
    cloned: bool,
    /// Why a job that clones voices kept a catalogue voice for this speaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    clone_note: Option<String>,
    /// A short clip of the speaker alone (WAV), valid for an hour.
    sample_url: Option<String>,
}

impl From<dubs::JobSpeaker> for SpeakerView {
    fn from(s: dubs::JobSpeaker) -> Self {
        let sp = s.speaker;
        SpeakerView {
            id: sp.id,
            label: sp.label,
            lines: sp.lines,
            speech_seconds: sp.speech_ms as f64 / 1000.0,
            pitch_hz: sp.pitch_hz,
            gender: sp.gender.map(|g| g.as_str()),
            voice_id: sp.voice_id,
            cloned: sp.cloned,
            clone_note: s.clone_note,
            sample_url: s.sample_url,
        }
    }
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
    status: StepStatus,
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
        let config = j.config();
        JobView {
            range: config.as_ref().and_then(|c| c.range).map(|r| RangeView {
                start: r.start_ms as f64 / 1000.0,
                end: r.end_ms as f64 / 1000.0,
            }),
            preview: config.is_some_and(|c| c.preview),
            id: j.id,
            user_id: j.user_id,
            video_id: j.video_id,
            job_type: "dubbing",
            status: j.status,
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
            batch_id: j.batch_id,
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
            speakers: None,
            review: j.review_state.clone().map(|state| ReviewView {
                stage: "translation",
                state,
                deadline: j.review_deadline,
            }),
        }
    }
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

/// The part of the video to price, as a dub request names it (the whole video by default).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuoteQuery {
    /// From this second.
    #[param(minimum = 0)]
    start: Option<f64>,
    /// Up to this second.
    #[param(minimum = 0)]
    end: Option<f64>,
    /// A free preview (priced 0).
    preview: Option<bool>,
}

impl From<QuoteQuery> for dubs::Part {
    fn from(q: QuoteQuery) -> Self {
        dubs::Part {
            start: q.start,
            end: q.end,
            preview: q.preview.unwrap_or(false),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DubResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::job_status)]
    status: JobStatus,
    /// Credits held for the job (charged on success, released on failure or cancel); for a
    /// batch, for all its jobs.
    credits: i64,
    message: String,
    /// The batch of a request with `target_languages` (`/api/batches/{id}`); `job_id` is then
    /// its first job.
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<uuid::Uuid>,
    /// The batch's jobs, one per language.
    #[serde(skip_serializing_if = "Option::is_none")]
    jobs: Option<Vec<BatchJob>>,
}

/// One job of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchJob {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::language)]
    target_language: String,
    #[schema(schema_with = crate::schemas::job_status)]
    status: JobStatus,
    credits: i64,
}

/// What dubbing this video costs, with the same function the job is charged with.
#[utoipa::path(get, path = "/api/videos/{id}/quote", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), QuoteQuery),
    responses((status = 200, body = QuoteResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn quote(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiQuery(part): ApiQuery<QuoteQuery>,
) -> Result<Json<QuoteResponse>, ApiError> {
    let q = dubs::quote(&state, user.id, id, part.into()).await?;
    Ok(Json(QuoteResponse {
        credits: q.credits,
        duration_seconds: q.duration_seconds,
        estimated_processing_seconds: q.estimated_processing_seconds,
        available_credits: q.available.max(0),
        sufficient: q.available >= q.credits,
    }))
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
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, description = "the account's free previews for the day are used (`Retry-After`)",
               body = crate::error::ErrorBody)))]
async fn start_dub(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<DubRequest>,
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    if req.target_languages.is_some() {
        let batch =
            dubs::start_batch(&state, user.id, video_id, &req, key.as_deref(), client.ip).await?;
        return Ok((StatusCode::ACCEPTED, Json(DubResponse::from(batch))));
    }
    let started = dubs::start(&state, user.id, video_id, &req, key.as_deref(), client.ip).await?;
    Ok((StatusCode::ACCEPTED, Json(DubResponse::from(started))))
}

impl From<dubs::StartedBatch> for DubResponse {
    fn from(b: dubs::StartedBatch) -> Self {
        let first = b.jobs.first().map(|(_, s)| (s.job_id, s.status, s.message));
        let (job_id, status, message) = first.unwrap_or((
            JobId(uuid::Uuid::nil()),
            JobStatus::Pending,
            "dubbing batch started",
        ));
        DubResponse {
            job_id,
            status,
            credits: b.jobs.iter().map(|(_, s)| s.credits).sum(),
            message: message.replace("job", "batch"),
            batch_id: Some(b.batch_id),
            jobs: Some(
                b.jobs
                    .into_iter()
                    .map(|(language, s)| BatchJob {
                        job_id: s.job_id,
                        target_language: language.code().to_string(),
                        status: s.status,
                        credits: s.credits,
                    })
                    .collect(),
            ),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    batch_id: uuid::Uuid,
    /// The batch's jobs, in the order their languages were requested.
    jobs: Vec<JobView>,
}

/// A batch of jobs (one request with `target_languages`), to follow its languages together.
#[utoipa::path(get, path = "/api/batches/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "batch id")),
    responses((status = 200, body = BatchResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_batch(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<Json<BatchResponse>, ApiError> {
    let jobs = dubs::batch_jobs(&state, user.id, id).await?;
    Ok(Json(BatchResponse {
        batch_id: id,
        jobs: jobs.iter().map(|j| JobView::build(j, None)).collect(),
    }))
}

impl From<dubs::Started> for DubResponse {
    fn from(s: dubs::Started) -> Self {
        DubResponse {
            job_id: s.job_id,
            status: s.status,
            credits: s.credits,
            message: s.message.into(),
            batch_id: None,
            jobs: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobStatusResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    #[schema(schema_with = crate::schemas::job_status)]
    status: JobStatus,
    /// 0–100, weighted by the pipeline's step weights.
    progress: f64,
    estimated_completion: Option<DateTime<Utc>>,
    error_message: Option<String>,
}

/// Status of the video's newest job (or the one `job_id` or `language` names).
#[utoipa::path(get, path = "/api/videos/{id}/status", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), WhichJob),
    responses((status = 200, body = JobStatusResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiQuery(which): ApiQuery<WhichJob>,
) -> Result<Json<JobStatusResponse>, ApiError> {
    let job = dubs::newest_job(&state, user.id, video_id, which.choice()?).await?;
    Ok(Json(JobStatusResponse {
        job_id: job.id,
        status: job.status,
        progress: job.progress,
        estimated_completion: job.estimated_completion,
        error_message: job.error_message,
    }))
}

/// Cancels the video's running dub (the newest, or the one `job_id` or `language` names): its
/// activities stop, its artifacts are deleted and its credits released; the job ends
/// `cancelled`. The other jobs of its batch go on.
#[utoipa::path(post, path = "/api/videos/{id}/cancel", tag = "jobs", operation_id = "cancel_dub", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), WhichJob),
    responses((status = 202, body = MessageResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiQuery(which): ApiQuery<WhichJob>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    dubs::cancel(&state, user.id, video_id, which.choice()?).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new("the dub is being cancelled")),
    ))
}

/// Resumes the video's failed dub from the step that failed: finished steps are reused, not
/// recomputed or charged again. Credits are held again for the new attempt.
#[utoipa::path(post, path = "/api/videos/{id}/resume", tag = "jobs", operation_id = "resume_dub", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), WhichJob),
    responses((status = 202, body = DubResponse), (status = 402, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiQuery(which): ApiQuery<WhichJob>,
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    let resumed = dubs::resume(&state, user.id, video_id, which.choice()?).await?;
    Ok((StatusCode::ACCEPTED, Json(DubResponse::from(resumed))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// The only job type is `dubbing`.
    #[param(value_type = Option<JobType>, inline)]
    job_type: Option<String>,
    #[param(value_type = Option<crate::schemas::JobStatusName>, inline)]
    status: Option<String>,
    /// Only the jobs of this batch (a request with `target_languages`).
    batch_id: Option<uuid::Uuid>,
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
    let status = q
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|e| ApiError::validation("status", e))?;
    if q.job_type.as_deref().is_some_and(|t| t != "dubbing") {
        return Err(ApiError::validation(
            "job_type",
            "the only job type is `dubbing`",
        ));
    }
    let filter = jobs::JobFilter {
        status,
        batch: q.batch_id,
    };
    let (rows, total) = dubs::page(&state, user.id, filter, limit, offset).await?;
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
    let (job, steps) = dubs::job_with_steps(&state, user.id, id).await?;
    let speakers = dubs::speakers(&state, &job).await?;
    let mut view = JobView::build(&job, Some(steps));
    view.speakers = Some(speakers.into_iter().map(SpeakerView::from).collect());
    Ok(Json(view))
}
