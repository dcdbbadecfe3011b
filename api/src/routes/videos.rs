//! `/api/videos`: videos and their files. Uploads go straight to S3 (one presigned PUT, or a
//! multipart upload for large files); completing an upload starts `VideoIngestWorkflow`, which
//! probes the file and marks the video `uploaded` (or `failed` with a reason). Also: listing with
//! pagination, thumbnails, duplicate, delete, downloads, and starting a dub.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiMultipart, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::temporal;
use crate::text;
use crate::views::{MessageResponse, PageRequest, Pagination};
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::contracts::{CompletedUpload, DeleteVideoInput, IngestInput, ThumbnailInput};
use onevoice_shared::ids::{JobId, UserId, VideoId};
use onevoice_shared::keys::{self, VideoKeys};
use onevoice_shared::language::Language;
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::repo::{activity, media, videos};
use onevoice_shared::status::{FileType, VideoStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Largest thumbnail image accepted.
const THUMBNAIL_MAX_BYTES: usize = 5 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let thumbnail = OpenApiRouter::new()
        .routes(routes!(set_thumbnail))
        .layer(DefaultBodyLimit::max(THUMBNAIL_MAX_BYTES + 64 * 1024));
    OpenApiRouter::new()
        .routes(routes!(list_videos, create_video))
        .routes(routes!(languages))
        .routes(routes!(voices))
        .routes(routes!(upload_url))
        .routes(routes!(multipart_initiate))
        .routes(routes!(multipart_parts))
        .routes(routes!(multipart_complete))
        .routes(routes!(multipart_abort))
        .routes(routes!(complete_upload))
        .routes(routes!(get_video, update_video, delete_video))
        .routes(routes!(duplicate))
        .routes(routes!(download))
        .merge(thumbnail)
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
    status: String,
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
            Some(k) => state.storage.presign_get(k, "thumbnail.jpg").await.ok(),
            None => None,
        };
        let video_url = match (&v.original_key, probed) {
            (Some(k), true) => state
                .storage
                .presign_get(k, v.original_filename.as_deref().unwrap_or("video"))
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

async fn owned(state: &AppState, user: UserId, id: VideoId) -> Result<VideoDetail, ApiError> {
    videos::detail(&state.db, user, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))
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
    if let Some(s) = &q.status {
        s.parse::<VideoStatus>()
            .map_err(|e| ApiError::validation("status", e))?;
    }
    let (rows, total) = videos::page(
        &state.db,
        user.id,
        q.status.as_deref(),
        paging.limit(),
        paging.offset(),
    )
    .await?;
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

const TITLE_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 5000;

fn check_title(title: &str) -> Result<String, ApiError> {
    Ok(text::nonblank_line("title", title, TITLE_MAX)?.to_string())
}

fn check_description(description: Option<&str>) -> Result<Option<&str>, ApiError> {
    description
        .map(|d| text::multiline("description", d, DESCRIPTION_MAX))
        .transpose()
}

fn check_language(field: &str, code: Option<&str>) -> Result<Option<Language>, ApiError> {
    code.map(|c| {
        c.parse::<Language>()
            .map_err(|e| ApiError::validation(field, e.to_string()))
    })
    .transpose()
}

/// Creates a video record without a file (status `pending`).
#[utoipa::path(post, path = "/api/videos", tag = "videos", security(("bearer" = [])), request_body = CreateVideo,
    responses((status = 201, body = VideoView), (status = 422, body = crate::error::ErrorBody)))]
async fn create_video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateVideo>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let title = check_title(&req.title)?;
    let description = check_description(req.description.as_deref())?;
    let language = check_language("original_language", req.original_language.as_deref())?;
    let id = VideoId::new();
    let mut tx = state.db.begin().await?;
    videos::insert(
        &mut tx,
        videos::NewVideo {
            id,
            user_id: user.id,
            title: &title,
            original_language: language.map(|l| l.code()),
        },
    )
    .await?;
    if let Some(d) = description {
        sqlx::query("UPDATE videos SET description = $2 WHERE id = $1")
            .bind(id)
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(VideoView::build(&state, owned(&state, user.id, id).await?).await),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct LanguageView {
    code: &'static str,
    name: &'static str,
    native_name: &'static str,
}

/// Languages OneVoice dubs from and into (public).
#[utoipa::path(get, path = "/api/videos/languages", tag = "videos", responses((status = 200, body = Vec<LanguageView>)))]
async fn languages() -> Json<Vec<LanguageView>> {
    Json(
        Language::ALL
            .iter()
            .map(|l| LanguageView {
                code: l.code(),
                name: l.english_name(),
                native_name: l.native_name(),
            })
            .collect(),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VoicesQuery {
    /// ISO 639-1 code, e.g. `es`.
    #[param(value_type = crate::schemas::LanguageCode, inline)]
    language: String,
}

#[derive(Serialize, ToSchema)]
pub struct VoiceView {
    id: String,
    name: String,
    language: &'static str,
    gender: &'static str,
    style: &'static str,
    provider: &'static str,
    preview_url: Option<String>,
}

/// Voices available for a language from the configured TTS providers (public).
#[utoipa::path(get, path = "/api/videos/voices", tag = "videos", params(VoicesQuery),
    responses((status = 200, body = Vec<VoiceView>), (status = 422, body = crate::error::ErrorBody)))]
async fn voices(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<VoicesQuery>,
) -> Result<Json<Vec<VoiceView>>, ApiError> {
    let language: Language =
        q.language
            .parse()
            .map_err(|e: onevoice_shared::language::UnsupportedLanguage| {
                ApiError::validation("language", e.to_string())
            })?;
    let voices = onevoice_shared::voices::catalogue(language, &state.settings.speech);
    Ok(Json(
        voices
            .into_iter()
            .map(|v| VoiceView {
                id: v.id,
                name: v.name,
                language: language.code(),
                gender: v.gender,
                style: v.style,
                provider: v.provider.name(),
                preview_url: None,
            })
            .collect(),
    ))
}

/// Allowed MIME types of each upload extension.
fn mime_matches(ext: &str, content_type: &str) -> bool {
    let allowed: &[&str] = match ext {
        "mp4" => &["video/mp4"],
        "m4v" => &["video/x-m4v", "video/mp4"],
        "mov" => &["video/quicktime"],
        "mkv" => &["video/x-matroska", "video/matroska"],
        "webm" => &["video/webm"],
        "avi" => &["video/x-msvideo", "video/avi", "video/msvideo"],
        _ => &[],
    };
    allowed.contains(&content_type)
}

/// Validates a file about to be uploaded; returns (title, extension, content type).
fn check_upload(
    state: &AppState,
    filename: &str,
    content_type: &str,
    size: Option<u64>,
) -> Result<(String, String, String), ApiError> {
    let filename = text::nonblank_line("filename", filename, 255)?;
    let content_type = text::line("content_type", content_type, 255)?;
    let allowed = &state.settings.uploads.extensions;
    let ext = std::path::Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| allowed.contains(e))
        .ok_or_else(|| {
            ApiError::validation(
                "filename",
                format!("must end in one of: .{}", allowed.join(", .")),
            )
        })?;
    let content_type = content_type.trim().to_ascii_lowercase();
    if !mime_matches(&ext, &content_type) {
        return Err(ApiError::validation(
            "content_type",
            format!("`{content_type}` is not a video type for .{ext} files"),
        ));
    }
    if let Some(size) = size {
        let max = state.settings.uploads.max_bytes;
        if size == 0 {
            return Err(ApiError::validation("size", "the file is empty"));
        }
        if size > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file is {size} bytes; the limit is {max} bytes"
            )));
        }
    }
    let title = std::path::Path::new(filename)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(filename)
        .to_string();
    Ok((title, ext, content_type))
}

/// Creates the video and its original-file row for an upload about to start.
async fn create_upload(
    state: &AppState,
    user: UserId,
    filename: &str,
    title: &str,
    ext: &str,
    content_type: &str,
    size: Option<u64>,
) -> Result<(VideoId, String), ApiError> {
    let video_id = VideoId::new();
    let key = VideoKeys::new(user, video_id).original(ext);
    let mut tx = state.db.begin().await?;
    videos::insert(
        &mut tx,
        videos::NewVideo {
            id: video_id,
            user_id: user,
            title,
            original_language: None,
        },
    )
    .await?;
    media::insert(
        &mut tx,
        &media::NewMediaFile {
            video_id,
            job_id: None,
            file_type: FileType::Original,
            filename: filename.trim(),
            file_format: ext,
            content_type,
            bucket: state.storage.bucket(),
            key: &key,
            size: None,
            duration_secs: None,
            language: None,
        },
    )
    .await?;
    activity::record(
        &mut *tx,
        user,
        "video_created",
        &format!("video '{title}' created; upload started"),
        Some(json!({ "video_id": video_id })),
    )
    .await?;
    tx.commit().await?;
    if let Some(size) = size {
        videos::set_upload(&state.db, video_id, None, Some(size as i64)).await?;
    }
    Ok((video_id, key))
}

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
async fn upload_url(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<UploadUrlRequest>,
) -> Result<(StatusCode, Json<UploadUrlResponse>), ApiError> {
    let (title, ext, content_type) =
        check_upload(&state, &req.filename, &req.content_type, req.size)?;
    if let Some(size) = req.size
        && size > state.settings.uploads.max_single_put_bytes
    {
        return Err(ApiError::validation(
            "size",
            format!(
                "files over {} bytes must use the multipart upload",
                state.settings.uploads.max_single_put_bytes
            ),
        ));
    }
    let (video_id, key) = create_upload(
        &state,
        user.id,
        &req.filename,
        &title,
        &ext,
        &content_type,
        req.size,
    )
    .await?;
    // The client writes the upload key only; `complete` freezes it as the original.
    let key = keys::upload_of(&key);
    let upload_url = match req.size {
        Some(size) => {
            state
                .storage
                .presign_put_sized(&key, &content_type, size)
                .await?
        }
        None => state.storage.presign_put(&key, &content_type).await?,
    };
    let expires_at = Utc::now() + state.storage.upload_url_ttl();
    Ok((
        StatusCode::CREATED,
        Json(UploadUrlResponse {
            upload_url,
            video_id,
            expires_at,
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
async fn multipart_initiate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<MultipartRequest>,
) -> Result<(StatusCode, Json<MultipartResponse>), ApiError> {
    let (title, ext, content_type) =
        check_upload(&state, &req.filename, &req.content_type, Some(req.size))?;
    let part_size = state.settings.uploads.part_bytes;
    let part_count = req.size.div_ceil(part_size);
    if part_count > 10_000 {
        return Err(ApiError::validation(
            "size",
            "too many parts for the configured part size",
        ));
    }
    let (video_id, key) = create_upload(
        &state,
        user.id,
        &req.filename,
        &title,
        &ext,
        &content_type,
        Some(req.size),
    )
    .await?;
    let upload_id = state
        .storage
        .create_multipart(&keys::upload_of(&key), &content_type)
        .await?;
    videos::set_upload(&state.db, video_id, Some(&upload_id), Some(req.size as i64)).await?;
    Ok((
        StatusCode::CREATED,
        Json(MultipartResponse {
            video_id,
            part_size,
            part_count: part_count as u32,
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

/// The upload key, upload id and announced size of the video's multipart upload in progress.
fn pending_multipart(v: &VideoDetail) -> Result<(String, String, i64), ApiError> {
    match (&v.upload_id, &v.original_key, v.expected_size) {
        (Some(u), Some(k), Some(size)) if v.status == VideoStatus::Pending.as_str() => {
            Ok((keys::upload_of(k), u.clone(), size))
        }
        _ => Err(ApiError::Conflict(
            "this video has no multipart upload in progress".into(),
        )),
    }
}

/// Presigned URLs for parts of a multipart upload (PUT each part's bytes; keep each `ETag`).
#[utoipa::path(post, path = "/api/videos/{id}/multipart/parts", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")), request_body = PartsRequest,
    responses((status = 200, body = PartsResponse), (status = 409, body = crate::error::ErrorBody)))]
async fn multipart_parts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<PartsRequest>,
) -> Result<Json<PartsResponse>, ApiError> {
    let v = owned(&state, user.id, id).await?;
    let (key, upload_id, size) = pending_multipart(&v)?;
    let count = (size as u64).div_ceil(state.settings.uploads.part_bytes) as u32;
    if req.part_numbers.is_empty() || req.part_numbers.len() > 100 {
        return Err(ApiError::validation(
            "part_numbers",
            "give 1 to 100 part numbers",
        ));
    }
    let mut parts = Vec::with_capacity(req.part_numbers.len());
    for n in req.part_numbers {
        if n == 0 || n > count {
            return Err(ApiError::validation(
                "part_numbers",
                format!("parts are numbered 1 to {count}"),
            ));
        }
        parts.push(PartUrl {
            part_number: n,
            url: state
                .storage
                .presign_part(&key, &upload_id, n as i32)
                .await?,
        });
    }
    Ok(Json(PartsResponse {
        parts,
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
async fn multipart_complete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<MultipartCompleteRequest>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    // The list is checked before anything else, so an invalid one is refused even when the
    // upload was completed before.
    let parts = completed_parts(req.parts)?;
    let v = owned(&state, user.id, id).await?;
    if v.upload_id.is_none() && v.status != VideoStatus::Pending.as_str() {
        // Completed before: answer the same again.
        return Ok((
            StatusCode::ACCEPTED,
            Json(VideoView::build(&state, v).await),
        ));
    }
    let (key, upload_id, size) = pending_multipart(&v)?;
    // Every part of the upload must be listed: S3 would assemble a list with a part left out,
    // and the upload would be spent on a truncated file. (A part that was never uploaded, or
    // an ETag that is not its own, S3 refuses itself, and the upload stays open.)
    let count = (size as u64).div_ceil(state.settings.uploads.part_bytes) as i32;
    if let Some(n) = (1..=count).find(|n| !parts.iter().any(|(p, _)| p == n)) {
        return Err(ApiError::validation(
            "parts",
            format!("part {n} is missing from the list"),
        ));
    }
    if let Some((n, _)) = parts.iter().find(|(p, _)| *p > count) {
        return Err(ApiError::validation(
            "parts",
            format!("the upload has {count} parts, not {n}"),
        ));
    }
    state
        .storage
        .complete_multipart(&key, &upload_id, &parts)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "multipart completion refused");
            ApiError::validation("parts", "S3 refused the parts (missing part or wrong ETag)")
        })?;
    videos::set_upload(&state.db, id, None, v.expected_size).await?;
    finish_upload(&state, user.id, id).await
}

/// The parts of a completion, in order: each once, numbered 1 to 10,000, with its ETag.
fn completed_parts(parts: Vec<CompletedPartBody>) -> Result<Vec<(i32, String)>, ApiError> {
    let invalid = || ApiError::validation("parts", "list every part once, with its ETag");
    if parts.is_empty() || parts.len() > 10_000 {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.into_iter().enumerate() {
        if !(1..=10_000).contains(&p.part_number) {
            return Err(ApiError::validation(
                &format!("parts[{i}].part_number"),
                "must be between 1 and 10000",
            ));
        }
        let etag = text::line(&format!("parts[{i}].etag"), &p.etag, 1024)?.to_string();
        out.push((p.part_number as i32, etag));
    }
    out.sort_by_key(|p| p.0);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid());
    }
    Ok(out)
}

/// Abandons a multipart upload and deletes the video.
#[utoipa::path(post, path = "/api/videos/{id}/multipart/abort", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 200, body = MessageResponse), (status = 409, body = crate::error::ErrorBody)))]
async fn multipart_abort(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<Json<MessageResponse>, ApiError> {
    let v = owned(&state, user.id, id).await?;
    let (key, upload_id, _) = pending_multipart(&v)?;
    state.storage.abort_multipart(&key, &upload_id).await?;
    remove_video(&state, user.id, id).await?;
    Ok(Json(MessageResponse::new("upload aborted")))
}

/// Checks the uploaded object and starts the ingest workflow; idempotent.
async fn finish_upload(
    state: &AppState,
    user: UserId,
    id: VideoId,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    let v = owned(state, user, id).await?;
    if v.status != VideoStatus::Pending.as_str() {
        return Ok((StatusCode::ACCEPTED, Json(VideoView::build(state, v).await)));
    }
    let key = v
        .original_key
        .clone()
        .ok_or_else(|| ApiError::Conflict("this video has no file to upload".into()))?;
    let upload = keys::upload_of(&key);
    let Some(stat) = state.storage.stat(&upload).await? else {
        // Frozen by an ingest already under way (or uploaded before uploads were frozen).
        if state.storage.stat(&key).await?.is_none() {
            return Err(ApiError::Conflict(
                "the file has not been uploaded yet".into(),
            ));
        }
        return start_ingest(state, user, id, key, None).await;
    };
    let size = stat.size;
    let max = state.settings.uploads.max_bytes;
    let declared = v.expected_size.map(|s| s as u64);
    let problem = if size == 0 {
        Some("the uploaded file is empty".to_string())
    } else if size > max {
        Some(format!(
            "the file is {size} bytes; the limit is {max} bytes"
        ))
    } else if declared.is_some_and(|d| d != size) {
        Some(format!(
            "the upload has {size} bytes but {} were announced",
            declared.unwrap_or(0)
        ))
    } else {
        None
    };
    if let Some(reason) = problem {
        // Nothing unusable is kept.
        state.storage.delete(&upload).await?;
        videos::set_status_reason(&state.db, id, VideoStatus::Failed, Some(&reason)).await?;
        return Err(ApiError::validation("file", reason));
    }
    let checked = CompletedUpload {
        key: upload,
        size,
        etag: stat.etag,
    };
    start_ingest(state, user, id, key, Some(checked)).await
}

/// Hands the upload to its ingest workflow (one per video: a repeated call joins it).
async fn start_ingest(
    state: &AppState,
    user: UserId,
    id: VideoId,
    key: String,
    upload: Option<CompletedUpload>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    temporal::ingest(
        &state.temporal,
        &state.settings.temporal.task_queue,
        IngestInput {
            video_id: id,
            user_id: user,
            key,
            upload,
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, video = %id, "cannot start ingest");
        ApiError::ServiceUnavailable(
            "the upload could not be processed now; call complete again".into(),
        )
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VideoView::build(state, owned(state, user, id).await?).await),
    ))
}

/// Marks the upload finished: checks size and limits, then probes the file in the background.
/// The video turns `uploaded` (with duration, resolution, codecs…) or `failed` with a reason.
#[utoipa::path(post, path = "/api/videos/{id}/complete", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    responses((status = 202, body = VideoView), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn complete_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> Result<(StatusCode, Json<VideoView>), ApiError> {
    finish_upload(&state, user.id, id).await
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
    Ok(Json(
        VideoView::build(&state, owned(&state, user.id, id).await?).await,
    ))
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
    owned(&state, user.id, id).await?;
    let title = req.title.as_deref().map(check_title).transpose()?;
    let description = check_description(req.description.as_deref())?;
    let language = check_language("original_language", req.original_language.as_deref())?;
    videos::update(
        &state.db,
        id,
        title.as_deref(),
        description,
        language.map(|l| l.code()),
    )
    .await?;
    Ok(Json(
        VideoView::build(&state, owned(&state, user.id, id).await?).await,
    ))
}

/// Hides the video, cancels its running dubs, and hands the rest to the deletion workflow.
async fn remove_video(state: &AppState, user: UserId, id: VideoId) -> Result<(), ApiError> {
    let running: Vec<JobId> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE video_id = $1 AND status IN ('pending', 'processing')",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    videos::tombstone(&state.db, id).await?;
    for job in running {
        temporal::cancel_dubbing(&state.temporal, job, "video deleted")
            .await
            .map_err(ApiError::Internal)?;
    }
    temporal::delete_video(
        &state.temporal,
        &state.settings.temporal.task_queue,
        DeleteVideoInput {
            video_id: id,
            user_id: user,
        },
    )
    .await
    .map_err(ApiError::Internal)
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
    owned(&state, user.id, id).await?;
    remove_video(&state, user.id, id).await?;
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
    let v = owned(&state, user.id, id).await?;
    let (Some(key), Some(_)) = (&v.original_key, v.duration) else {
        return Err(ApiError::Conflict(
            "only an uploaded video can be duplicated".into(),
        ));
    };
    let ext = key.rsplit('.').next().unwrap_or("mp4");
    let new_id = VideoId::new();
    let new_keys = VideoKeys::new(user.id, new_id);
    let new_key = new_keys.original(ext);
    state.storage.copy(key, &new_key).await?;
    let new_thumb = match &v.thumbnail_key {
        Some(t) => {
            let k = new_keys.thumbnail("default");
            state.storage.copy(t, &k).await?;
            Some(k)
        }
        None => None,
    };
    let title: String = format!("{} (copy)", v.title).chars().take(255).collect();
    let mut tx = state.db.begin().await?;
    videos::insert(
        &mut tx,
        videos::NewVideo {
            id: new_id,
            user_id: user.id,
            title: &title,
            original_language: v.original_language.as_deref(),
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO media_files (video_id, file_type, filename, file_format, content_type, file_size, duration,
            resolution, fps, video_codec, audio_codec, audio_tracks, media_info, s3_bucket, s3_key)
         SELECT $2, file_type, filename, file_format, content_type, file_size, duration, resolution, fps,
            video_codec, audio_codec, audio_tracks, media_info, s3_bucket, $3
         FROM media_files WHERE video_id = $1 AND s3_key = $4",
    )
    .bind(id)
    .bind(new_id)
    .bind(&new_key)
    .bind(key)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE videos SET status = 'uploaded', description = $2 WHERE id = $1")
        .bind(new_id)
        .bind(&v.description)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some(k) = new_thumb {
        videos::set_thumbnail(&state.db, new_id, state.storage.bucket(), &k).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(VideoView::build(&state, owned(&state, user.id, new_id).await?).await),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ThumbnailResponse {
    thumbnail_url: String,
}

fn sniff_image(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [0xFF, 0xD8, 0xFF, ..]
            | [0x89, b'P', b'N', b'G', ..]
            | [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..
            ]
    )
}

/// The multipart form of a thumbnail change: an image, or a time of the video, or neither.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form that `set_thumbnail` reads field by field
pub struct ThumbnailUpload {
    /// A JPEG, PNG or WebP image.
    #[schema(value_type = Option<String>, format = Binary)]
    thumbnail: Option<Vec<u8>>,
    /// Seconds into the video of the frame to use.
    #[schema(minimum = 0.0)]
    timestamp: Option<f64>,
}

/// Sets the thumbnail: multipart field `thumbnail` (a JPEG, PNG or WebP image), or field
/// `timestamp` (seconds) to take that frame of the video; with neither, a representative frame.
#[utoipa::path(post, path = "/api/videos/{id}/thumbnail", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")),
    request_body(content = ThumbnailUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = ThumbnailResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_thumbnail(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<Json<ThumbnailResponse>, ApiError> {
    let v = owned(&state, user.id, id).await?;
    let (mut image, mut timestamp) = (None, None);
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the image is too large".into())
        } else {
            ApiError::validation("thumbnail", e.body_text())
        }
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("thumbnail") => image = Some(field.bytes().await.map_err(bad)?),
            Some("timestamp") => {
                let text = field.text().await.map_err(bad)?;
                let secs: f64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        ApiError::validation("timestamp", "must be a number of seconds ≥ 0")
                    })?;
                timestamp = Some(secs);
            }
            _ => {}
        }
    }
    let key = VideoKeys::new(user.id, id).thumbnail(&Uuid::new_v4().simple().to_string());
    if let Some(bytes) = image {
        if !sniff_image(&bytes) {
            return Err(ApiError::validation(
                "thumbnail",
                "must be a JPEG, PNG or WebP image",
            ));
        }
        state
            .storage
            .put_bytes(&key, bytes.to_vec(), "image/jpeg")
            .await?;
    } else {
        let (Some(original), Some(duration)) = (&v.original_key, v.duration) else {
            return Err(ApiError::Conflict(
                "the video has not been processed yet".into(),
            ));
        };
        if let Some(t) = timestamp
            && t >= duration
        {
            return Err(ApiError::validation(
                "timestamp",
                format!("must be less than the duration ({duration:.3} s)"),
            ));
        }
        let input = ThumbnailInput {
            key: original.clone(),
            at_ms: timestamp.map(|t| (t * 1000.0) as u64),
            output_key: key.clone(),
        };
        match temporal::thumbnail(
            &state.temporal,
            &state.settings.temporal.task_queue,
            input,
            Duration::from_secs(60),
        )
        .await
        .map_err(ApiError::Internal)?
        {
            Ok(_) => {}
            Err(reason) => return Err(ApiError::validation("timestamp", reason)),
        }
    }
    let previous = v.thumbnail_key.clone();
    videos::set_thumbnail(&state.db, id, state.storage.bucket(), &key).await?;
    if let Some(old) = previous.filter(|o| *o != key) {
        state.storage.delete_prefix(&old).await?;
    }
    Ok(Json(ThumbnailResponse {
        thumbnail_url: state.storage.presign_get(&key, "thumbnail.jpg").await?,
    }))
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DownloadFileType {
    Original,
    DubbedVideo,
    SubtitleVideo,
    DubbedAudio,
    DubSubtitles,
    TranslationSubtitles,
    SourceSubtitles,
    /// Translation and source together in each cue.
    BilingualSubtitles,
}

/// Subtitle file format.
#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubtitleFormat {
    Srt,
    Vtt,
}

impl From<DownloadFileType> for FileType {
    fn from(t: DownloadFileType) -> Self {
        match t {
            DownloadFileType::Original => FileType::Original,
            DownloadFileType::DubbedVideo => FileType::DubbedVideo,
            DownloadFileType::SubtitleVideo => FileType::SubtitleVideo,
            DownloadFileType::DubbedAudio => FileType::DubbedAudio,
            DownloadFileType::DubSubtitles => FileType::DubSubtitles,
            DownloadFileType::TranslationSubtitles => FileType::TranslationSubtitles,
            DownloadFileType::SourceSubtitles => FileType::SourceSubtitles,
            DownloadFileType::BilingualSubtitles => FileType::BilingualSubtitles,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// Which file (default `dubbed_video`).
    #[param(inline)]
    file_type: Option<DownloadFileType>,
    /// Language of an output file (e.g. `es`).
    #[param(value_type = Option<crate::schemas::LanguageCode>, inline)]
    language: Option<String>,
    /// Format of a subtitle file (default `srt`); ignored for videos and audio.
    #[param(inline)]
    format: Option<SubtitleFormat>,
}

#[derive(Serialize, ToSchema)]
pub struct DownloadResponse {
    download_url: String,
    expires_at: DateTime<Utc>,
}

/// A presigned download URL for one of the video's files.
#[utoipa::path(get, path = "/api/videos/{id}/download", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), DownloadQuery),
    responses((status = 200, body = DownloadResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiQuery(q): ApiQuery<DownloadQuery>,
) -> Result<Json<DownloadResponse>, ApiError> {
    videos::find_owned(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))?;
    let file_type: FileType = q.file_type.unwrap_or(DownloadFileType::DubbedVideo).into();
    let language = match q.language.as_deref() {
        Some(l) => Some(
            l.parse::<Language>()
                .map_err(|e| ApiError::validation("language", e.to_string()))?
                .code(),
        ),
        None => None,
    };
    let subtitles = matches!(
        file_type,
        FileType::DubSubtitles
            | FileType::TranslationSubtitles
            | FileType::SourceSubtitles
            | FileType::BilingualSubtitles
    );
    let format = subtitles.then_some(match q.format {
        Some(SubtitleFormat::Vtt) => "vtt",
        _ => "srt",
    });
    let file = media::newest(&state.db, video_id, file_type, language, format)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no {file_type} file for this video yet")))?;
    let download_url = state
        .storage
        .presign_get(&file.s3_key, &file.filename)
        .await?;
    Ok(Json(DownloadResponse {
        download_url,
        expires_at: Utc::now() + state.storage.presign_ttl(),
    }))
}
