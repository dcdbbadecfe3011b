//! The versions of a dub (`/api/jobs/{id}/versions`): list them with their files, make one
//! current, and ask for a version's exports.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::services::review::exports::{self, Exports};
use crate::services::review::rerender::{self as rerenders, VersionInfo};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::JobId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(make_current))
        .routes(routes!(request_exports, export_status))
}

/// Links to a version's files, valid for an hour.
#[derive(Serialize, ToSchema)]
pub struct VersionFilesView {
    /// The dubbed video (MP4).
    video_url: String,
    /// The dubbed audio alone (M4A).
    audio_url: Option<String>,
    /// The dub's subtitles with the times the lines are spoken (SRT).
    subtitles_url: Option<String>,
}

/// One version of a dub: 1 is the first render, each re-render the next.
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    version: u32,
    /// `processing`, `completed` or `failed`.
    status: String,
    /// Whether this is the version served by default.
    current: bool,
    credits: i64,
    /// Lines it spoke anew, and their time (the first render: every line, the whole video).
    changed_lines: u32,
    changed_ms: u64,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    error_message: Option<String>,
    /// Its files, once completed.
    files: Option<VersionFilesView>,
}

impl From<VersionInfo> for VersionView {
    fn from(v: VersionInfo) -> Self {
        VersionView {
            version: v.version,
            status: v.status,
            current: v.current,
            credits: v.credits,
            changed_lines: v.changed_lines,
            changed_ms: v.changed_ms,
            created_at: v.created_at,
            completed_at: v.completed_at,
            error_message: v.error_message,
            files: v.files.map(|f| VersionFilesView {
                video_url: f.video_url,
                audio_url: f.audio_url,
                subtitles_url: f.subtitles_url,
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionsResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    versions: Vec<VersionView>,
}

/// Every version of a finished dub, with links to the files of each completed one.
#[utoipa::path(get, path = "/api/jobs/{id}/versions", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, body = VersionsResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn list_versions(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<VersionsResponse>, ApiError> {
    let versions = rerenders::versions(&state, user.id, id).await?;
    Ok(Json(VersionsResponse {
        job_id: id,
        versions: versions.into_iter().map(VersionView::from).collect(),
    }))
}

/// A version of a job, as its path names it.
#[derive(Deserialize)]
pub struct VersionPath {
    id: JobId,
    version: u32,
}

/// Makes a completed version the current one: the segments and the next re-render start from it.
#[utoipa::path(post, path = "/api/jobs/{id}/versions/{version}/current", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"),
           ("version" = u32, Path, minimum = 1, description = "version number")),
    responses((status = 200, body = crate::views::MessageResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn make_current(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(VersionPath { id, version }): ApiPath<VersionPath>,
) -> Result<Json<crate::views::MessageResponse>, ApiError> {
    rerenders::make_current(&state, user.id, id, version).await?;
    Ok(Json(crate::views::MessageResponse::new(format!(
        "version {version} is now current"
    ))))
}

/// Links to a version's exports, valid for an hour.
#[derive(Serialize, ToSchema)]
pub struct ExportFilesView {
    /// The mix (48 kHz stereo 16-bit WAV).
    mix_wav_url: String,
    /// The dubbed voices alone, and the background alone: WAVs as long as the video at the
    /// mix's gain (without its limiter), which add up to the mix.
    voices_url: String,
    background_url: String,
    /// A zip of one WAV per spoken line as heard in the mix, and `timing.csv` (line, file,
    /// speaker, voice, start and end in ms, speed, cut ms, text) saying where each goes.
    clips_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExportsResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    version: u32,
    /// `processing`, `ready` or `failed` (asking again starts anew).
    status: &'static str,
    files: Option<ExportFilesView>,
    message: String,
}

impl ExportsResponse {
    fn new(job_id: JobId, version: u32, exports: Exports) -> (StatusCode, Json<Self>) {
        let (status, message) = exports.describe();
        let code = match exports {
            Exports::Processing => StatusCode::ACCEPTED,
            _ => StatusCode::OK,
        };
        let files = match exports {
            Exports::Ready(f) => Some(ExportFilesView {
                mix_wav_url: f.mix_wav_url,
                voices_url: f.voices_url,
                background_url: f.background_url,
                clips_url: f.clips_url,
            }),
            _ => None,
        };
        let response = ExportsResponse {
            job_id,
            version,
            status,
            files,
            message: message.into(),
        };
        (code, Json(response))
    }
}

/// Asks for the exports of a completed version (free): the stems and the clips are made once,
/// in the background (202 until then); the mix WAV is always there.
#[utoipa::path(post, path = "/api/jobs/{id}/versions/{version}/exports", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"),
           ("version" = u32, Path, minimum = 1, description = "version number")),
    responses((status = 200, body = ExportsResponse), (status = 202, body = ExportsResponse),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn request_exports(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(VersionPath { id, version }): ApiPath<VersionPath>,
) -> Result<(StatusCode, Json<ExportsResponse>), ApiError> {
    let exports = exports::request(&state, user.id, id, version).await?;
    Ok(ExportsResponse::new(id, version, exports))
}

/// Where the exports of a version stand, with their links once ready (202 while being made).
#[utoipa::path(get, path = "/api/jobs/{id}/versions/{version}/exports", tag = "review", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "job id"),
           ("version" = u32, Path, minimum = 1, description = "version number")),
    responses((status = 200, body = ExportsResponse), (status = 202, body = ExportsResponse),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn export_status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(VersionPath { id, version }): ApiPath<VersionPath>,
) -> Result<(StatusCode, Json<ExportsResponse>), ApiError> {
    let exports = exports::status(&state, user.id, id, version).await?;
    Ok(ExportsResponse::new(id, version, exports))
}
