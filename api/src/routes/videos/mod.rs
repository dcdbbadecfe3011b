//! `/api/videos`: videos and their files. Thin handlers over `services::videos` and
//! `services::uploads`; uploads, thumbnails, the public catalogue and downloads have their own
//! modules.

mod catalogue;
mod downloads;
mod thumbnails;
mod uploads;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::videos::{self, Metadata};
use crate::state::AppState;
use crate::views::{MessageResponse, PageRequest, Pagination};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::VideoId;
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::status::VideoStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_videos, create_video))
        .routes(routes!(catalogue::languages))
        .routes(routes!(catalogue::voices))
        .routes(routes!(uploads::upload_url))
        .routes(routes!(uploads::multipart_initiate))
        .routes(routes!(uploads::multipart_parts))
        .routes(routes!(uploads::multipart_complete))
        .routes(routes!(uploads::multipart_abort))
        .routes(routes!(uploads::complete_upload))
        .routes(routes!(uploads::import))
        .routes(routes!(get_video, update_video, delete_video))
        .routes(routes!(duplicate))
        .routes(routes!(downloads::download))
        .merge(thumbnails::router())
}

/// A video as clients see it (the seed's `Video`, plus the upload's state and media details).
#[derive(Serialize, ToSchema)]
pub struct VideoView {
    #[schema(value_type = uuid::Uuid)]
    id: VideoId,
    title: String,
    description: Option<String>,
    /// Seconds.
    duration: Option<f64>,
    original_language: Option<String>,
    target_languages: Vec<String>,
    /// pending (waiting for the upload), uploaded, processing, completed, failed.
    #[schema(schema_with = crate::schemas::video_status)]
    status: VideoStatus,
    /// Why the video failed, when it did.
    status_reason: Option<String>,
    thumbnail_url: Option<String>,
    video_url: Option<String>,
    media: Option<MediaView>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MediaView {
    filename: Option<String>,
    size: Option<i64>,
    resolution: Option<String>,
    fps: Option<f64>,
    video_codec: Option<String>,
    audio_codec: Option<String>,
    audio_tracks: Option<i32>,
}

impl VideoView {
    async fn build(state: &AppState, v: VideoDetail) -> Self {
        let probed = v.duration.is_some();
        let thumbnail_url = match &v.thumbnail_key {
            Some(k) => state.storage.listed_url(k, "thumbnail.jpg").await.ok(),
            None => None,
        };
        let video_url = match (&v.original_key, probed) {
            (Some(k), true) => state
                .storage
                .listed_url(k, v.original_filename.as_deref().unwrap_or("video"))
                .await
                .ok(),
            _ => None,
        };
        VideoView {
            id: v.id,
            title: v.title,
            description: v.description,
            duration: v.duration,
            original_language: v.original_language,
            target_languages: v.target_languages,
            status: v.status,
            status_reason: v.status_reason,
            thumbnail_url,
            video_url,
            media: probed.then_some(MediaView {
                filename: v.original_filename,
                size: v.file_size,
                resolution: v.resolution,
                fps: v.fps,
                video_codec: v.video_codec,
                audio_codec: v.audio_codec,
                audio_tracks: v.audio_tracks,
            }),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 100000)]
    page: Option<u32>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// Only videos in this status.
    #[param(value_type = Option<crate::schemas::VideoStatusName>, inline)]
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VideoList {
    videos: Vec<VideoView>,
    pagination: Pagination,
}

/// The caller's videos, newest first.
#[utoipa::path(get, path = "/api/videos", tag = "videos", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = VideoList), (status = 422, body = crate::error::ErrorBody)))]
async fn list_videos(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<VideoList>, ApiError> {
    let paging = PageRequest::new(q.page, q.per_page)?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<VideoStatus>)
        .transpose()
        .map_err(|e| ApiError::validation("status", e))?;
    let (rows, total) =
        videos::page(&state, user.id, status, paging.limit(), paging.offset()).await?;
    let mut list = Vec::with_capacity(rows.len());
    for row in rows {
        list.push(VideoView::build(&state, row).await);
    }
    Ok(Json(VideoList {
        videos: list,
        pagination: paging.pagination(total),
    }))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreateVideo {
    #[schema(format = "nonblank-line", max_length = 255)]
    title: String,
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[schema(schema_with = crate::schemas::optional_language)]
    original_language: Option<String>,
}

/// Creates a video record without a file (status `pending`).
#[utoipa::path(post, path = "/api/videos", tag = "videos", security(("bearer" = [])), request_body = CreateVideo,
    responses((status = 201, body = VideoView), (status = 422, body = crate::error::ErrorBody)))]
async fn create_video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateVideo>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let metadata = Metadata {
        title: Some(&req.title),
        description: req.description.as_deref(),
        original_language: req.original_language.as_deref(),
    };
    let v = videos::create(&state, user.id, &metadata).await?;
    Ok((StatusCode::CREATED, Json(VideoView::build(&state, v).await)))
}

/// One video.
#[utoipa::path(get, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 200, body = VideoView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<Json<VideoView>, ApiError> {
    let v = videos::owned(&state, user.id, id).await?;
    Ok(Json(VideoView::build(&state, v).await))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct UpdateVideo {
    #[schema(format = "nonblank-line", max_length = 255)]
    title: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[schema(schema_with = crate::schemas::optional_language)]
    original_language: Option<String>,
}

/// Updates title, description or original language.
#[utoipa::path(put, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")), request_body = UpdateVideo,
    responses((status = 200, body = VideoView), (status = 404, body = crate::error::ErrorBody)))]
async fn update_video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<UpdateVideo>,
) -> Result<Json<VideoView>, ApiError> {
    let metadata = Metadata {
        title: req.title.as_deref(),
        description: req.description.as_deref(),
        original_language: req.original_language.as_deref(),
    };
    let v = videos::update(&state, user.id, id, &metadata).await?;
    Ok(Json(VideoView::build(&state, v).await))
}

/// Deletes the video and every file derived from it (a dub in progress is cancelled first).
#[utoipa::path(delete, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 202, body = MessageResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    videos::delete(&state, user.id, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new("the video is being deleted")),
    ))
}

/// Copies an uploaded video (server-side in S3, no re-upload) into a new video.
#[utoipa::path(post, path = "/api/videos/{id}/duplicate", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 201, body = VideoView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn duplicate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let copy = videos::duplicate(&state, user.id, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(VideoView::build(&state, copy).await),
    ))
}
