//! Review of a dub: its lines (`/api/jobs/{id}/segments`), edits of them, the fit report
//! (`/api/jobs/{id}/fit`), the approval at a review checkpoint and re-renders. Versions and
//! their exports are in `routes::versions`.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey};
use crate::services::review::edits::{self, Fields, SegmentPatch};
use crate::services::review::rerender as rerenders;
use crate::services::review::{self, Segment};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::JobId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_segments, edit_segments))
        .routes(routes!(edit_segment))
        .routes(routes!(fit))
        .routes(routes!(rerender_quote))
        .routes(routes!(rerender))
        .routes(routes!(approve))
}

/// A line's pending edit: what the next re-render speaks.
#[derive(Serialize, ToSchema)]
pub struct EditView {
    /// 1 for the first edit of the line, +1 for each after it (the earlier ones are kept).
    revision: u32,
    translation: String,
    voice_id: Option<String>,
    start_ms: u64,
    end_ms: u64,
    keep_original: bool,
    edited_at: DateTime<Utc>,
}

/// One line of a dub. Times are milliseconds from the start of the video.
#[derive(Serialize, ToSchema)]
pub struct SegmentView {
    /// 0-based position of the line.
    index: u32,
    /// Who says it (a label of the job's `speakers`), when the job knows.
    speaker: Option<String>,
    /// What was said in the video.
    source_text: String,
    /// What the dub says.
    translation: String,
    voice_id: Option<String>,
    /// The line's span in the original.
    start_ms: u64,
    end_ms: u64,
    /// Where the timing plan put the dubbed line, before any cut.
    planned_start_ms: u64,
    planned_end_ms: u64,
    /// What is heard of it (null when none of it fits before the end of the video).
    spoken_start_ms: Option<u64>,
    spoken_end_ms: Option<u64>,
    /// Time the line could take: its span plus the allowed spill into the gap after it.
    room_ms: u64,
    /// Length of the dubbed line as synthesized, before any speed-up.
    natural_ms: u64,
    /// Speed-up applied to fit (1 = as synthesized).
    speed: f64,
    /// How much of its end was cut for not fitting even at the maximum speed-up.
    overrun_ms: u64,
    /// Whether the translation was shortened to fit the time.
    shortened: bool,
    /// The line plays the original audio (the user kept it undubbed): nothing is spoken.
    keep_original: bool,
    /// The newest edit of the line, if any.
    edit: Option<EditView>,
    /// Whether the next re-render speaks this line differently from this version.
    changed: bool,
}

impl From<&Segment> for SegmentView {
    fn from(s: &Segment) -> Self {
        SegmentView {
            index: s.index,
            speaker: s.speaker.clone(),
            source_text: s.source_text.clone(),
            translation: s.rendered.translation.clone(),
            voice_id: s.rendered.voice_id.clone(),
            start_ms: s.rendered.start_ms,
            end_ms: s.rendered.end_ms,
            planned_start_ms: s.planned_ms.0,
            planned_end_ms: s.planned_ms.1,
            spoken_start_ms: s.spoken_ms.map(|(a, _)| a),
            spoken_end_ms: s.spoken_ms.map(|(_, b)| b),
            room_ms: s.room_ms,
            natural_ms: s.natural_ms,
            speed: s.speed,
            overrun_ms: s.overrun_ms,
            shortened: s.shortened,
            keep_original: s.rendered.keep_original,
            edit: s.edit.as_ref().map(|e| EditView {
                revision: e.revision,
                translation: e.state.translation.clone(),
                voice_id: e.state.voice_id.clone(),
                start_ms: e.state.start_ms,
                end_ms: e.state.end_ms,
                keep_original: e.state.keep_original,
                edited_at: e.edited_at,
            }),
            changed: s.changed(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentsQuery {
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentsPagination {
    limit: i64,
    offset: i64,
    /// Lines on this page.
    count: usize,
    /// Lines of the job.
    total: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentsResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    /// Length of the dub.
    duration_ms: u64,
    /// Lines the next re-render speaks differently (over all pages).
    changed: usize,
    segments: Vec<SegmentView>,
    pagination: SegmentsPagination,
}

/// The lines of a finished dub, in order, with their timing and the user's pending edits.
#[utoipa::path(get, path = "/api/jobs/{id}/segments", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"), SegmentsQuery),
    responses((status = 200, body = SegmentsResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_segments(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
    ApiQuery(q): ApiQuery<SegmentsQuery>,
) -> Result<Json<SegmentsResponse>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 500"));
    }
    if offset < 0 {
        return Err(ApiError::validation("offset", "must be at least 0"));
    }
    let all = review::checkpoint::reviewable(&state, user.id, id).await?;
    let segments: Vec<SegmentView> = all
        .lines
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .map(SegmentView::from)
        .collect();
    Ok(Json(SegmentsResponse {
        job_id: id,
        duration_ms: all.duration_ms,
        changed: all.lines.iter().filter(|s| s.changed()).count(),
        pagination: SegmentsPagination {
            limit,
            offset,
            count: segments.len(),
            total: all.lines.len(),
        },
        segments,
    }))
}

/// Edits one line of a finished dub: its translation, voice, span (within its neighbours) or
/// whether the original audio plays instead. The line's earlier text is kept as an older
/// revision; the next re-render speaks the newest.
#[utoipa::path(patch, path = "/api/jobs/{id}/segments/{index}", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"),
           ("index" = u32, Path, minimum = 0, description = "0-based line index")),
    request_body = SegmentPatch,
    responses((status = 200, body = SegmentView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn edit_segment(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(LinePath { id, index }): ApiPath<LinePath>,
    ApiJson(patch): ApiJson<SegmentPatch>,
) -> Result<Json<SegmentView>, ApiError> {
    let edited = edits::apply(&state, user.id, id, &[(index, patch)], Fields::One).await?;
    let segment = edited
        .first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an edit returned no line")))?;
    Ok(Json(SegmentView::from(segment)))
}

/// A line of a job, as its path names it.
#[derive(Deserialize)]
pub struct LinePath {
    id: JobId,
    index: u32,
}

/// An edit of one line in a batch.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct IndexedPatch {
    /// 0-based line index.
    index: u32,
    #[serde(flatten)]
    patch: SegmentPatch,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct BatchEdit {
    /// At most 500 lines, each once.
    #[schema(min_items = 1, max_items = 500)]
    edits: Vec<IndexedPatch>,
}

#[derive(Serialize, ToSchema)]
pub struct EditedSegments {
    segments: Vec<SegmentView>,
}

/// Edits several lines at once, all or none (a batch may move two neighbours together).
#[utoipa::path(patch, path = "/api/jobs/{id}/segments", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    request_body = BatchEdit,
    responses((status = 200, body = EditedSegments), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn edit_segments(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(batch): ApiJson<BatchEdit>,
) -> Result<Json<EditedSegments>, ApiError> {
    let patches: Vec<(u32, SegmentPatch)> = batch
        .edits
        .into_iter()
        .map(|e| (e.index, e.patch))
        .collect();
    let edited = edits::apply(&state, user.id, id, &patches, Fields::Batch).await?;
    Ok(Json(EditedSegments {
        segments: edited.iter().map(SegmentView::from).collect(),
    }))
}

/// A line that fits its time badly.
#[derive(Serialize, ToSchema)]
pub struct UnfitSegment {
    index: u32,
    translation: String,
    /// The line's span in the original, and the dubbed line's length as synthesized.
    slot_ms: u64,
    natural_ms: u64,
    /// Speed-up applied, and the speed-up it would need to fit its own span.
    speed: f64,
    needed_speed: f64,
    overrun_ms: u64,
}

/// How a dub's lines fit their time.
#[derive(Serialize, ToSchema)]
pub struct FitView {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    lines: u32,
    /// Lines whose speech, after any speed-up, ends within their own span, and their share.
    within_slot: u32,
    within_slot_share: f64,
    /// Lines sped up to fit; the largest and the mean speed-up over all lines.
    stretched: u32,
    max_speed: f64,
    mean_speed: f64,
    /// Lines whose end was cut, and how much was cut in all.
    overruns: u32,
    overrun_ms: u64,
    /// At most 10 lines that fit worst, worst first: the ones to shorten.
    worst: Vec<UnfitSegment>,
}

/// The fit report of a finished dub: how its lines fit their time, and which to shorten.
#[utoipa::path(get, path = "/api/jobs/{id}/fit", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, body = FitView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn fit(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<FitView>, ApiError> {
    let r = review::fit::fit(&state, user.id, id).await?;
    Ok(Json(FitView {
        job_id: id,
        lines: r.lines,
        within_slot: r.within_slot,
        within_slot_share: r.within_slot_share,
        stretched: r.stretched,
        max_speed: r.max_speed,
        mean_speed: r.mean_speed,
        overruns: r.overruns,
        overrun_ms: r.overrun_ms,
        worst: r.worst.into_iter().map(UnfitSegment::from).collect(),
    }))
}

impl From<review::fit::UnfitLine> for UnfitSegment {
    fn from(l: review::fit::UnfitLine) -> Self {
        UnfitSegment {
            index: l.index,
            translation: l.translation,
            slot_ms: l.slot_ms,
            natural_ms: l.natural_ms,
            speed: l.speed,
            needed_speed: l.needed_speed,
            overrun_ms: l.overrun_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RerenderQuoteView {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    /// Lines a re-render would speak anew (see each segment's `changed`).
    changed_lines: u32,
    /// Their time: each line's longer span, before or after its edit.
    changed_ms: u64,
    /// max(1, ⌈changed seconds × credits per minute / 60⌉); 0 when nothing changed.
    credits: i64,
    /// The caller's spendable balance.
    available_credits: i64,
    sufficient: bool,
}

/// What re-rendering the job's edited lines costs (only the changed lines are charged).
#[utoipa::path(get, path = "/api/jobs/{id}/rerender/quote", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, body = RerenderQuoteView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn rerender_quote(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<RerenderQuoteView>, ApiError> {
    let q = review::rerender_quote(&state, user.id, id).await?;
    Ok(Json(RerenderQuoteView {
        job_id: id,
        changed_lines: q.changed_lines,
        changed_ms: q.changed_ms,
        credits: q.credits,
        available_credits: q.available.max(0),
        sufficient: q.available >= q.credits,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RerenderResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    /// The new version's number (2 for the first re-render).
    version: u32,
    /// Always `processing` when started; see `/api/jobs/{id}/versions`.
    status: &'static str,
    /// Credits held for it (charged when it completes, released if it fails).
    credits: i64,
    changed_lines: u32,
    message: String,
}

/// Makes a new version of a finished dub that speaks its edited lines: only those are
/// synthesized again, the rest is reused, and what was not edited sounds the same. The quoted
/// credits are held at once and charged when the version completes; it then becomes current.
/// With an `Idempotency-Key`, a repeated request returns the same version.
#[utoipa::path(post, path = "/api/jobs/{id}/rerender", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"),
           ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200, format = "nonblank-line",
            description = "makes retries of this request safe: the same key gives the same version")),
    responses((status = 202, body = RerenderResponse), (status = 402, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn rerender(
    State(state): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<JobId>,
) -> Result<(StatusCode, Json<RerenderResponse>), ApiError> {
    let started = rerenders::start(&state, user.id, id, key.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RerenderResponse {
            job_id: id,
            version: started.version,
            status: "processing",
            credits: started.credits,
            changed_lines: started.changed_lines,
            message: started.message.into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ApproveResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    /// The dub goes on: `processing`.
    status: &'static str,
    /// Lines the user edited before approving.
    changed_lines: u32,
    message: String,
}

/// Approves the translation of a dub waiting at its review checkpoint (`review: "translation"`):
/// the lines as edited (`PATCH /api/jobs/{id}/segments`) are spoken, and the dub goes on. 409
/// when the job is not waiting for it (no review asked, approved already, ended).
#[utoipa::path(post, path = "/api/jobs/{id}/approve", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 202, body = ApproveResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
) -> Result<(StatusCode, Json<ApproveResponse>), ApiError> {
    let changed_lines = review::checkpoint::approve(&state, user.id, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ApproveResponse {
            job_id: id,
            status: "processing",
            changed_lines,
            message: "translation approved; the voices are being made".into(),
        }),
    ))
}
