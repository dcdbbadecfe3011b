//! Uploads: a presigned PUT, or a multipart upload for large files; then `complete`.

use super::VideoView;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::services::uploads::{self, CompletedPart, FileDescription};
use crate::state::AppState;
use crate::views::MessageResponse;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::VideoId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct UploadUrlRequest {
    /// Original file name; its extension must be an accepted video container.
    #[schema(format = "nonblank-line", max_length = 255, example = "interview.mp4")]
    filename: String,
    /// MIME type the client sends with the PUT (e.g. `video/mp4`); it is part of the signature.
    #[schema(format = "line", max_length = 255, example = "video/mp4")]
    content_type: String,
    /// Size in bytes. When given it is checked now and signed into the URL, so S3 refuses any
    /// other length; otherwise it is checked when the upload completes.
    #[schema(minimum = 1, example = 10485760)]
    size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct UploadUrlResponse {
    /// Presigned URL: `PUT` the file there with the same `Content-Type`, then call `complete`.
    upload_url: String,
    #[schema(value_type = uuid::Uuid)]
    video_id: VideoId,
    expires_at: DateTime<Utc>,
}

/// Creates a video and returns a presigned URL to upload its file straight to S3.
#[utoipa::path(post, path = "/api/videos/upload-url", tag = "videos", security(("bearer" = [])),
    request_body = UploadUrlRequest,
    responses((status = 201, body = UploadUrlResponse), (status = 401, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn upload_url(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<UploadUrlRequest>,
) -> Result<(StatusCode, Json<UploadUrlResponse>), ApiError> {
    let file = FileDescription {
        filename: &req.filename,
        content_type: &req.content_type,
        size: req.size,
    };
    let upload = uploads::presigned(&state, user.id, &file).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadUrlResponse {
            upload_url: upload.upload_url,
            video_id: upload.video_id,
            expires_at: Utc::now() + state.storage.upload_url_ttl(),
        }),
    ))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct MultipartRequest {
    #[schema(format = "nonblank-line", max_length = 255, example = "lecture.mkv")]
    filename: String,
    #[schema(format = "line", max_length = 255, example = "video/x-matroska")]
    content_type: String,
    /// Size in bytes (required: it decides the number of parts).
    #[schema(minimum = 1, example = 1073741824)]
    size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MultipartResponse {
    #[schema(value_type = uuid::Uuid)]
    video_id: VideoId,
    /// Bytes per part; the last part may be shorter.
    part_size: u64,
    part_count: u32,
}

/// Starts a multipart upload for a large file. Then: `parts` for URLs, PUT each part, `complete`.
#[utoipa::path(post, path = "/api/videos/multipart", tag = "videos", security(("bearer" = [])),
    request_body = MultipartRequest,
    responses((status = 201, body = MultipartResponse), (status = 413, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn multipart_initiate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<MultipartRequest>,
) -> Result<(StatusCode, Json<MultipartResponse>), ApiError> {
    let file = FileDescription {
        filename: &req.filename,
        content_type: &req.content_type,
        size: Some(req.size),
    };
    let upload = uploads::multipart(&state, user.id, &file).await?;
    Ok((
        StatusCode::CREATED,
        Json(MultipartResponse {
            video_id: upload.video_id,
            part_size: upload.part_size,
            part_count: upload.part_count,
        }),
    ))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartsRequest {
    /// 1-based part numbers to sign (at most 100 per request).
    #[schema(schema_with = crate::schemas::part_numbers)]
    part_numbers: Vec<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct PartUrl {
    part_number: u32,
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct PartsResponse {
    parts: Vec<PartUrl>,
    expires_at: DateTime<Utc>,
}

/// Presigned URLs for parts of a multipart upload (PUT each part's bytes; keep each `ETag`).
#[utoipa::path(post, path = "/api/videos/{id}/multipart/parts", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")), request_body = PartsRequest,
    responses((status = 200, body = PartsResponse), (status = 409, body = crate::error::ErrorBody)))]
pub(super) async fn multipart_parts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<PartsRequest>,
) -> Result<Json<PartsResponse>, ApiError> {
    let urls = uploads::part_urls(&state, user.id, id, &req.part_numbers).await?;
    Ok(Json(PartsResponse {
        parts: urls
            .into_iter()
            .map(|(part_number, url)| PartUrl { part_number, url })
            .collect(),
        expires_at: Utc::now() + state.storage.upload_url_ttl(),
    }))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct CompletedPartBody {
    #[schema(minimum = 1, maximum = 10000)]
    part_number: u32,
    /// The `ETag` S3 answered to the part's PUT.
    #[schema(format = "line", max_length = 1024)]
    etag: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct MultipartCompleteRequest {
    #[schema(min_items = 1, max_items = 10000)]
    parts: Vec<CompletedPartBody>,
}

/// Assembles the uploaded parts and starts processing the video (same as `complete`).
#[utoipa::path(post, path = "/api/videos/{id}/multipart/complete", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")), request_body = MultipartCompleteRequest,
    responses((status = 202, body = VideoView), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn multipart_complete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<MultipartCompleteRequest>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let parts: Vec<CompletedPart<'_>> = req
        .parts
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: &p.etag,
        })
        .collect();
    let v = uploads::complete_multipart(&state, user.id, id, &parts).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VideoView::build(&state, v).await),
    ))
}

/// Abandons a multipart upload and deletes the video.
#[utoipa::path(post, path = "/api/videos/{id}/multipart/abort", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 200, body = MessageResponse), (status = 409, body = crate::error::ErrorBody)))]
pub(super) async fn multipart_abort(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<Json<MessageResponse>, ApiError> {
    uploads::abort_multipart(&state, user.id, id).await?;
    Ok(Json(MessageResponse::new("upload aborted")))
}

/// Marks the upload finished: checks size and limits, then probes the file in the background.
/// The video turns `uploaded` (with duration, resolution, codecs…) or `failed` with a reason.
#[utoipa::path(post, path = "/api/videos/{id}/complete", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 202, body = VideoView), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn complete_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let v = uploads::complete(&state, user.id, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VideoView::build(&state, v).await),
    ))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ImportRequest {
    /// An http(s) URL of the video file. It must reach a public address (never a private,
    /// loopback or link-local one, whatever its name resolves to, redirects included).
    #[schema(
        format = "line",
        min_length = 1,
        max_length = 2048,
        example = "https://example.com/talk.mp4"
    )]
    url: String,
    /// The file's name, when the URL's path does not end in it; its extension must be an
    /// accepted video container.
    #[schema(format = "nonblank-line", max_length = 255, example = "talk.mp4")]
    filename: Option<String>,
}

/// Imports a video from a URL: the video is created at once (`pending`); the worker downloads
/// the file (within the upload size limit, `IMPORT_TIMEOUT_SECS`, at most 5 redirects) and
/// ingests it exactly like an upload, so it turns `uploaded` or `failed` with a reason.
#[utoipa::path(post, path = "/api/videos/import", tag = "videos", security(("bearer" = [])),
    request_body = ImportRequest,
    responses((status = 202, body = VideoView), (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn import(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let v = uploads::import(&state, user.id, &req.url, req.filename.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VideoView::build(&state, v).await),
    ))
}
