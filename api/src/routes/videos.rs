//! Videos: direct-to-S3 upload URLs, starting a dub, its status, and downloads of the results.
//!
//! This is the slice of the seed's `/api/videos` contract the walking skeleton needs; listing,
//! multipart uploads, probing, thumbnails, duplicate and delete belong to the videos issue.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::temporal;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::contracts::{DubbingInput, dubbing_workflow_id};
use onevoice_shared::ids::{JobId, VideoId};
use onevoice_shared::language::Language;
use onevoice_shared::repo::{activity, jobs, media, videos};
use onevoice_shared::srt;
use onevoice_shared::status::{FileType, JobStatus, VideoStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Video containers accepted for upload (the seed's `ALLOWED_VIDEO_EXTENSIONS`).
const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "mov", "mkv", "webm", "avi", "m4v"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_url))
        .routes(routes!(start_dub))
        .routes(routes!(status))
        .routes(routes!(download))
}

#[derive(Deserialize, ToSchema)]
pub struct UploadUrlRequest {
    /// Original file name; its extension must be a video container (mp4, mov, mkv, webm, avi, m4v).
    filename: String,
    /// MIME type the client will send with the PUT (e.g. `video/mp4`); it is part of the signature.
    content_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct UploadUrlResponse {
    /// Presigned URL: `PUT` the file there with the same `Content-Type`.
    upload_url: String,
    #[schema(value_type = uuid::Uuid)]
    video_id: VideoId,
    expires_at: DateTime<Utc>,
}

/// Creates a video and returns a presigned URL to upload its file straight to S3.
#[utoipa::path(post, path = "/api/videos/upload-url", tag = "videos", security(("bearer" = [])),
    request_body = UploadUrlRequest,
    responses((status = 201, body = UploadUrlResponse), (status = 401, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn upload_url(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<UploadUrlRequest>,
) -> Result<(StatusCode, Json<UploadUrlResponse>), ApiError> {
    let filename = req.filename.trim();
    let ext = std::path::Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| VIDEO_EXTENSIONS.contains(&e.as_str()))
        .ok_or_else(|| {
            ApiError::validation(
                "filename",
                format!("must end in one of: .{}", VIDEO_EXTENSIONS.join(", .")),
            )
        })?;
    let content_type = req.content_type.trim().to_ascii_lowercase();
    if !content_type.starts_with("video/") || content_type.len() > 100 {
        return Err(ApiError::validation(
            "content_type",
            "must be a video MIME type such as video/mp4",
        ));
    }
    if filename.is_empty() || filename.chars().count() > 255 {
        return Err(ApiError::validation(
            "filename",
            "must be 1 to 255 characters",
        ));
    }
    let video_id = VideoId::new();
    let key = format!("videos/{}/{video_id}/original.{ext}", user.id);
    let upload_url = state.storage.presign_put(&key, &content_type).await?;
    let title = std::path::Path::new(filename)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(filename);
    let mut tx = state.db.begin().await?;
    videos::insert(
        &mut tx,
        videos::NewVideo {
            id: video_id,
            user_id: user.id,
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
            filename,
            file_format: &ext,
            content_type: &content_type,
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
        user.id,
        "video_created",
        &format!("video '{title}' created; upload started"),
        Some(json!({ "video_id": video_id })),
    )
    .await?;
    tx.commit().await?;
    let expires_at = Utc::now() + state.storage.presign_ttl();
    Ok((
        StatusCode::CREATED,
        Json(UploadUrlResponse {
            upload_url,
            video_id,
            expires_at,
        }),
    ))
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
pub struct DubRequest {
    /// Language to dub into (ISO 639-1, e.g. `es`).
    target_language: String,
    /// Voice to speak with; the offline engine picks the target language's voice when omitted.
    #[serde(default)]
    voice_id: Option<String>,
    /// Keep the original background under the dub.
    #[serde(default = "default_true")]
    preserve_background_music: bool,
    /// Language spoken in the video; defaults to the video's `original_language`.
    #[serde(default)]
    source_language: Option<String>,
    /// Transcript of the video as SRT text. Required until speech recognition is available.
    #[serde(default)]
    source_transcript: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DubResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
    /// Always `pending` when the job was accepted.
    #[schema(value_type = String)]
    status: JobStatus,
    message: String,
}

/// Starts dubbing a video into a language (one job per request).
#[utoipa::path(post, path = "/api/videos/{id}/dub", tag = "jobs", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id")), request_body = DubRequest,
    responses((status = 202, body = DubResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn start_dub(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiJson(req): ApiJson<DubRequest>,
) -> Result<(StatusCode, Json<DubResponse>), ApiError> {
    let video = videos::find_owned(&state.db, user.id, video_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("video not found".into()))?;
    let target: Language = req.target_language.parse().map_err(
        |e: onevoice_shared::language::UnsupportedLanguage| {
            ApiError::validation("target_language", e.to_string())
        },
    )?;
    let source: Language = req
        .source_language
        .as_deref()
        .or(video.original_language.as_deref())
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
    let transcript = req.source_transcript.as_deref().ok_or_else(|| {
        ApiError::validation(
            "source_transcript",
            "required: speech recognition is not available in this version",
        )
    })?;
    let cues = srt::parse(transcript)
        .map_err(|e| ApiError::validation("source_transcript", e.to_string()))?;
    if video.status == VideoStatus::Deleting.as_str() {
        return Err(ApiError::NotFound("video not found".into()));
    }
    let original = media::newest(&state.db, video_id, FileType::Original, None)
        .await?
        .ok_or_else(|| ApiError::Conflict("the video has no uploaded file".into()))?;
    match state.storage.size_of(&original.s3_key).await? {
        Some(size) if size > 0 => {}
        _ => {
            return Err(ApiError::Conflict(
                "the video file has not been uploaded yet".into(),
            ));
        }
    }
    if video.status == VideoStatus::Pending.as_str() {
        videos::set_status(&state.db, video_id, VideoStatus::Uploaded).await?;
    }

    let job_id = JobId::new();
    let workflow_id = dubbing_workflow_id(job_id);
    let prefix = format!("videos/{}/{video_id}", user.id);
    let transcript_key = format!("{prefix}/transcripts/{job_id}.srt");
    let output_key = format!("{prefix}/dubbed/{job_id}.{target}.mp4");
    state
        .storage
        .put_bytes(
            &transcript_key,
            srt::write(&cues).into_bytes(),
            "application/x-subrip",
        )
        .await?;
    let mut tx = state.db.begin().await?;
    jobs::insert(
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
            }),
        },
    )
    .await?;
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
    activity::record(
        &mut *tx,
        user.id,
        "dub_started",
        &format!("dubbing '{}' into {}", video.title, target.english_name()),
        Some(json!({ "video_id": video_id, "job_id": job_id })),
    )
    .await?;
    tx.commit().await?;

    let input = DubbingInput {
        job_id,
        user_id: user.id,
        video_id,
        video_key: original.s3_key,
        transcript_key,
        source_language: source,
        target_language: target,
        output_key,
    };
    if let Err(e) =
        temporal::start_dubbing(&state.temporal, &state.settings.temporal.task_queue, &input).await
    {
        tracing::error!(error = %e, %job_id, "could not start the dubbing workflow");
        jobs::finish(
            &state.db,
            job_id,
            JobStatus::Failed,
            Some("the job could not be started"),
            None,
        )
        .await?;
        return Err(ApiError::ServiceUnavailable(
            "the job could not be started; please retry".into(),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(DubResponse {
            job_id,
            status: JobStatus::Pending,
            message: "dubbing job started".into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct JobStatusResponse {
    #[schema(value_type = uuid::Uuid)]
    job_id: JobId,
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

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DownloadFileType {
    Original,
    DubbedVideo,
    SubtitleVideo,
    DubSubtitles,
    TranslationSubtitles,
    SourceSubtitles,
}

impl From<DownloadFileType> for FileType {
    fn from(t: DownloadFileType) -> Self {
        match t {
            DownloadFileType::Original => FileType::Original,
            DownloadFileType::DubbedVideo => FileType::DubbedVideo,
            DownloadFileType::SubtitleVideo => FileType::SubtitleVideo,
            DownloadFileType::DubSubtitles => FileType::DubSubtitles,
            DownloadFileType::TranslationSubtitles => FileType::TranslationSubtitles,
            DownloadFileType::SourceSubtitles => FileType::SourceSubtitles,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct DownloadQuery {
    /// Which file (default `dubbed_video`).
    file_type: Option<DownloadFileType>,
    /// Language of an output file (e.g. `es`).
    language: Option<String>,
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
    let file = media::newest(&state.db, video_id, file_type, language)
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
