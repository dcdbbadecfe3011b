//! Videos: create, change, list, delete, duplicate, thumbnails and downloads. Uploads are in
//! [`super::uploads`].

use super::review::files as review;
use super::{Result, ServiceError};
use crate::image::ImageKind;
use crate::state::AppState;
use crate::temporal;
use crate::text;
use onevoice_shared::contracts::{DeleteVideoInput, ThumbnailInput};
use onevoice_shared::ids::{UserId, VideoId};
use onevoice_shared::keys::VideoKeys;
use onevoice_shared::language::Language;
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::repo::{jobs, media, videos};
use onevoice_shared::status::{FileType, VideoStatus};
use std::time::Duration;
use uuid::Uuid;

pub const TITLE_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 5000;
/// How long a thumbnail extraction may take before the request gives up.
const THUMBNAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// A video's editable metadata, as sent (checked here).
#[derive(Default)]
pub struct Metadata<'a> {
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub original_language: Option<&'a str>,
}

/// The checked metadata.
struct Checked<'a> {
    title: Option<String>,
    description: Option<&'a str>,
    language: Option<Language>,
}

fn check<'a>(m: &Metadata<'a>) -> Result<Checked<'a>> {
    let title = m
        .title
        .map(|t| text::nonblank_line("title", t, TITLE_MAX).map(str::to_string))
        .transpose()?;
    let description = m
        .description
        .map(|d| text::multiline("description", d, DESCRIPTION_MAX))
        .transpose()?;
    let language = m
        .original_language
        .map(|c| c.parse::<Language>())
        .transpose()
        .map_err(|e| ServiceError::invalid("original_language", e.to_string()))?;
    Ok(Checked {
        title,
        description,
        language,
    })
}

/// The caller's video (another user's reads as absent).
pub async fn owned(state: &AppState, user: UserId, id: VideoId) -> Result<VideoDetail> {
    videos::detail(&state.db, user, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("video not found".into()))
}

/// A video record without a file (status `pending`).
#[tracing::instrument(skip_all, fields(%user))]
pub async fn create(state: &AppState, user: UserId, m: &Metadata<'_>) -> Result<VideoDetail> {
    let c = check(m)?;
    let title = c
        .title
        .ok_or_else(|| ServiceError::invalid("title", "required"))?;
    let id = VideoId::new();
    let mut tx = state.db.begin().await?;
    let new = videos::NewVideo {
        id,
        user_id: user,
        title: &title,
        description: c.description,
        original_language: c.language.map(|l| l.code()),
        status: VideoStatus::Pending,
    };
    videos::insert(&mut tx, new).await?;
    tx.commit().await?;
    owned(state, user, id).await
}

/// Changes title, description or original language; absent fields stay.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn update(
    state: &AppState,
    user: UserId,
    id: VideoId,
    m: &Metadata<'_>,
) -> Result<VideoDetail> {
    owned(state, user, id).await?;
    let c = check(m)?;
    let language = c.language.map(|l| l.code());
    videos::update(&state.db, id, c.title.as_deref(), c.description, language).await?;
    owned(state, user, id).await
}

/// A page of the caller's videos, newest first, and how many match.
pub async fn page(
    state: &AppState,
    user: UserId,
    status: Option<VideoStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<VideoDetail>, i64)> {
    Ok(videos::page(&state.db, user, status, limit, offset).await?)
}

/// Hides the video at once, cancels its running dubs, and hands the rest to the deletion
/// workflow (which deletes everything under the video's keys and its jobs').
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn delete(state: &AppState, user: UserId, id: VideoId) -> Result<()> {
    owned(state, user, id).await?;
    remove(state, user, id).await
}

/// [`delete`] of a video already known to be the caller's.
pub(super) async fn remove(state: &AppState, user: UserId, id: VideoId) -> Result<()> {
    let running = jobs::active_for_video(&state.db, id).await?;
    videos::tombstone(&state.db, id).await?;
    let unavailable = |e: anyhow::Error| {
        tracing::error!(error = %e, video = %id, "cannot hand the video to its deletion");
        ServiceError::Unavailable("the video could not be deleted now; please retry".into())
    };
    for job in running {
        temporal::cancel_dubbing(&state.temporal, job, "video deleted")
            .await
            .map_err(unavailable)?;
    }
    let input = DeleteVideoInput {
        video_id: id,
        user_id: user,
    };
    temporal::delete_video(&state.temporal, &state.settings.temporal.task_queue, input)
        .await
        .map_err(unavailable)
}

/// Copies an uploaded video (server-side in S3, no re-upload) into a new video, `uploaded`.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn duplicate(state: &AppState, user: UserId, id: VideoId) -> Result<VideoDetail> {
    let v = owned(state, user, id).await?;
    let (Some(key), Some(_)) = (&v.original_key, v.duration) else {
        return Err(ServiceError::Conflict(
            "only an uploaded video can be duplicated".into(),
        ));
    };
    let ext = key.rsplit('.').next().unwrap_or("mp4");
    let new_id = VideoId::new();
    let new_keys = VideoKeys::new(user, new_id);
    let new_key = new_keys.original(ext);
    state.storage.copy(key, &new_key).await?;
    let new_thumb = match &v.thumbnail_key {
        Some(t) => {
            let kind = ImageKind::of_key(t).unwrap_or(ImageKind::Jpeg);
            let k = new_keys.thumbnail("default", kind.ext());
            state.storage.copy(t, &k).await?;
            Some(k)
        }
        None => None,
    };
    let title: String = format!("{} (copy)", v.title)
        .chars()
        .take(TITLE_MAX)
        .collect();
    let mut tx = state.db.begin().await?;
    let new = videos::NewVideo {
        id: new_id,
        user_id: user,
        title: &title,
        description: v.description.as_deref(),
        original_language: v.original_language.as_deref(),
        status: VideoStatus::Uploaded,
    };
    videos::insert(&mut tx, new).await?;
    media::copy_file(&mut tx, (id, key), (new_id, &new_key)).await?;
    tx.commit().await?;
    if let Some(k) = new_thumb {
        videos::set_thumbnail(&state.db, new_id, state.storage.bucket(), &k).await?;
    }
    owned(state, user, new_id).await
}

/// Where a new thumbnail comes from.
pub enum ThumbnailSource {
    /// An image the client sent.
    Image(Vec<u8>),
    /// The frame at this many seconds into the video.
    Frame(f64),
    /// A representative frame.
    Auto,
}

/// Sets the video's thumbnail; returns its key. An image is stored as what its content says
/// it is (and served so); a frame is a JPEG extracted by the worker.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn set_thumbnail(
    state: &AppState,
    user: UserId,
    id: VideoId,
    source: ThumbnailSource,
) -> Result<String> {
    let v = owned(state, user, id).await?;
    let name = Uuid::new_v4().simple().to_string();
    let keys = VideoKeys::new(user, id);
    let key = match source {
        ThumbnailSource::Image(bytes) => {
            let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
                ServiceError::invalid("thumbnail", "must be a JPEG, PNG or WebP image")
            })?;
            if kind == ImageKind::Gif {
                return Err(ServiceError::invalid(
                    "thumbnail",
                    "must be a JPEG, PNG or WebP image",
                ));
            }
            let key = keys.thumbnail(&name, kind.ext());
            state
                .storage
                .put_bytes(&key, bytes, kind.content_type())
                .await?;
            key
        }
        ThumbnailSource::Frame(_) | ThumbnailSource::Auto => {
            let at = match source {
                ThumbnailSource::Frame(secs) => Some(secs),
                _ => None,
            };
            let key = keys.thumbnail(&name, ImageKind::Jpeg.ext());
            extract_frame(state, &v, at, &key).await?;
            key
        }
    };
    let previous = v.thumbnail_key.clone();
    videos::set_thumbnail(&state.db, id, state.storage.bucket(), &key).await?;
    if let Some(old) = previous.filter(|o| *o != key) {
        state.storage.delete_prefix(&old).await?;
    }
    Ok(key)
}

/// Has the worker write the frame at `at` seconds (a representative one for `None`) to `key`.
async fn extract_frame(
    state: &AppState,
    v: &VideoDetail,
    at: Option<f64>,
    key: &str,
) -> Result<()> {
    let (Some(original), Some(duration)) = (&v.original_key, v.duration) else {
        return Err(ServiceError::Conflict(
            "the video has not been processed yet".into(),
        ));
    };
    if let Some(t) = at
        && t >= duration
    {
        return Err(ServiceError::invalid(
            "timestamp",
            format!("must be less than the duration ({duration:.3} s)"),
        ));
    }
    let input = ThumbnailInput {
        key: original.clone(),
        at_ms: at.map(|t| (t * 1000.0) as u64),
        output_key: key.to_string(),
    };
    let task_queue = &state.settings.temporal.task_queue;
    match temporal::thumbnail(&state.temporal, task_queue, input, THUMBNAIL_TIMEOUT).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(reason)) => Err(ServiceError::invalid("timestamp", reason)),
        Err(e) => {
            tracing::error!(error = %e, video = %v.id, "thumbnail extraction did not finish");
            Err(ServiceError::Unavailable(
                "the frame could not be extracted now; please retry".into(),
            ))
        }
    }
}

/// Which file of a video a download asks for.
pub struct FileRequest<'a> {
    pub file_type: FileType,
    /// Language of an output file (e.g. `es`).
    pub language: Option<&'a str>,
    /// `vtt` or `srt` for subtitles (default `srt`); ignored for other files.
    pub vtt: bool,
    /// Which version of a dub's rendered files (default: the job's current one).
    pub version: Option<u32>,
}

/// A presigned download URL for one of the caller's video's files.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn download_url(
    state: &AppState,
    user: UserId,
    id: VideoId,
    req: FileRequest<'_>,
) -> Result<String> {
    videos::find_owned(&state.db, user, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("video not found".into()))?;
    let language = req
        .language
        .map(|l| l.parse::<Language>())
        .transpose()
        .map_err(|e| ServiceError::invalid("language", e.to_string()))?
        .map(|l| l.code());
    let subtitles = matches!(
        req.file_type,
        FileType::DubSubtitles
            | FileType::TranslationSubtitles
            | FileType::SourceSubtitles
            | FileType::BilingualSubtitles
    );
    // A dub's own subtitles are found by their SRT; the version's files give either format.
    let format = subtitles.then_some(if req.vtt && req.file_type != FileType::DubSubtitles {
        "vtt"
    } else {
        "srt"
    });
    let file_type = req.file_type;
    let rendered = review::versioned(file_type);
    if req.version.is_some() && !rendered {
        return Err(ServiceError::invalid(
            "version",
            "only the dubbed video, the dubbed audio and the dub subtitles have versions",
        ));
    }
    let file = media::newest(&state.db, id, file_type, language, format)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no {file_type} file for this video yet")))?;
    let (key, filename) = match (rendered, file.job_id) {
        (true, Some(job)) => {
            review::rendered_file(state, job, req.version, file_type, req.vtt, &file).await?
        }
        _ => (file.s3_key, file.filename),
    };
    Ok(state.storage.presign_get(&key, &filename).await?)
}
