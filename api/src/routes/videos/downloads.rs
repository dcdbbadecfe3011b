//! Downloads: a presigned URL for one of a video's files.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::services::videos::{self, FileRequest};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::VideoId;
use onevoice_shared::status::FileType;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// Which version of a re-rendered dub (`dubbed_video`, `dubbed_audio`, `dub_subtitles`);
    /// default: the job's current version.
    #[param(minimum = 1)]
    version: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct DownloadResponse {
    download_url: String,
    expires_at: DateTime<Utc>,
}

/// A presigned download URL for one of the video's files. A dub's rendered files come from its
/// current version (see `POST /api/jobs/{id}/versions/{version}/current`) unless `version` names
/// another.
#[utoipa::path(get, path = "/api/videos/{id}/download", tag = "videos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "video id"), DownloadQuery),
    responses((status = 200, body = DownloadResponse), (status = 404, body = crate::error::ErrorBody)))]
pub(super) async fn download(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(video_id): ApiPath<VideoId>,
    ApiQuery(q): ApiQuery<DownloadQuery>,
) -> Result<Json<DownloadResponse>, ApiError> {
    let request = FileRequest {
        file_type: q.file_type.unwrap_or(DownloadFileType::DubbedVideo).into(),
        language: q.language.as_deref(),
        vtt: matches!(q.format, Some(SubtitleFormat::Vtt)),
        version: q.version,
    };
    let download_url = videos::download_url(&state, user.id, video_id, request).await?;
    Ok(Json(DownloadResponse {
        download_url,
        expires_at: Utc::now() + state.storage.presign_ttl(),
    }))
}
