//! Uploads go straight to S3: one presigned PUT, or a multipart upload for large files. The
//! client writes only the upload key; completing checks the object and starts
//! `VideoIngestWorkflow`, which freezes it as the original, probes it and marks the video
//! `uploaded` (or `failed` with a reason).

use super::videos::{owned, remove};
use super::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal;
use crate::text;
use onevoice_shared::contracts::{CompletedUpload, IngestInput};
use onevoice_shared::ids::{UserId, VideoId};
use onevoice_shared::keys::{self, VideoKeys};
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::repo::{activity, media, videos};
use onevoice_shared::status::{FileType, VideoStatus};
use serde_json::json;

/// A file about to be uploaded, as the client describes it.
pub struct FileDescription<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: Option<u64>,
}

/// A checked description: the video's title (the file's stem), extension and MIME type.
struct Checked {
    title: String,
    ext: String,
    content_type: String,
}

/// A single-PUT upload ready to go.
pub struct PresignedUpload {
    pub video_id: VideoId,
    pub upload_url: String,
}

/// A multipart upload ready to go.
pub struct MultipartUpload {
    pub video_id: VideoId,
    pub part_size: u64,
    pub part_count: u32,
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

/// The size against the limits, when it is known.
fn check_size(state: &AppState, size: u64) -> Result<()> {
    let max = state.settings.uploads.max_bytes;
    if size == 0 {
        return Err(ServiceError::invalid("size", "the file is empty"));
    }
    if size > max {
        return Err(ServiceError::TooLarge(format!(
            "the file is {size} bytes; the limit is {max} bytes"
        )));
    }
    Ok(())
}

fn check(state: &AppState, file: &FileDescription<'_>) -> Result<Checked> {
    let filename = text::nonblank_line("filename", file.filename, 255)?;
    let content_type = text::line("content_type", file.content_type, 255)?;
    let allowed = &state.settings.uploads.extensions;
    let path = std::path::Path::new(filename);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| allowed.contains(e))
        .ok_or_else(|| {
            ServiceError::invalid(
                "filename",
                format!("must end in one of: .{}", allowed.join(", .")),
            )
        })?;
    let content_type = content_type.trim().to_ascii_lowercase();
    if !mime_matches(&ext, &content_type) {
        return Err(ServiceError::invalid(
            "content_type",
            format!("`{content_type}` is not a video type for .{ext} files"),
        ));
    }
    if let Some(size) = file.size {
        check_size(state, size)?;
    }
    let title = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(filename)
        .to_string();
    Ok(Checked {
        title,
        ext,
        content_type,
    })
}

/// Creates a video and a presigned URL to PUT its file to. A size given is signed into the
/// URL, so S3 refuses any other length.
#[tracing::instrument(skip_all, fields(%user))]
pub async fn presigned(
    state: &AppState,
    user: UserId,
    file: &FileDescription<'_>,
) -> Result<PresignedUpload> {
    let c = check(state, file)?;
    let single_max = state.settings.uploads.max_single_put_bytes;
    if file.size.is_some_and(|size| size > single_max) {
        return Err(ServiceError::invalid(
            "size",
            format!("files over {single_max} bytes must use the multipart upload"),
        ));
    }
    let (video_id, key) = create(state, user, file, &c).await?;
    // The client writes the upload key only; `complete` freezes it as the original.
    let key = keys::upload_of(&key);
    let upload_url = match file.size {
        Some(size) => {
            state
                .storage
                .presign_put_sized(&key, &c.content_type, size)
                .await?
        }
        None => state.storage.presign_put(&key, &c.content_type).await?,
    };
    Ok(PresignedUpload {
        video_id,
        upload_url,
    })
}

/// Creates a video and starts a multipart upload of `size` bytes for it.
#[tracing::instrument(skip_all, fields(%user))]
pub async fn multipart(
    state: &AppState,
    user: UserId,
    file: &FileDescription<'_>,
) -> Result<MultipartUpload> {
    let c = check(state, file)?;
    let size = file.size.unwrap_or(0);
    let part_size = state.settings.uploads.part_bytes;
    let part_count = size.div_ceil(part_size);
    if part_count > 10_000 {
        return Err(ServiceError::invalid(
            "size",
            "too many parts for the configured part size",
        ));
    }
    let (video_id, key) = create(state, user, file, &c).await?;
    let upload_id = state
        .storage
        .create_multipart(&keys::upload_of(&key), &c.content_type)
        .await?;
    videos::set_upload(&state.db, video_id, Some(&upload_id), Some(size as i64)).await?;
    Ok(MultipartUpload {
        video_id,
        part_size,
        part_count: part_count as u32,
    })
}

/// Creates the video and its original-file row for an upload about to start; returns the
/// original's key.
async fn create(
    state: &AppState,
    user: UserId,
    file: &FileDescription<'_>,
    c: &Checked,
) -> Result<(VideoId, String)> {
    let video_id = VideoId::new();
    let key = VideoKeys::new(user, video_id).original(&c.ext);
    let mut tx = state.db.begin().await?;
    let new = videos::NewVideo {
        id: video_id,
        user_id: user,
        title: &c.title,
        description: None,
        original_language: None,
        status: VideoStatus::Pending,
    };
    videos::insert(&mut tx, new).await?;
    let original = media::NewMediaFile {
        video_id,
        job_id: None,
        file_type: FileType::Original,
        filename: file.filename.trim(),
        file_format: &c.ext,
        content_type: &c.content_type,
        bucket: state.storage.bucket(),
        key: &key,
        size: None,
        duration_secs: None,
        language: None,
    };
    media::insert(&mut tx, &original).await?;
    let what = format!("video '{}' created; upload started", c.title);
    let details = json!({ "video_id": video_id });
    activity::record(&mut *tx, user, "video_created", &what, Some(details)).await?;
    tx.commit().await?;
    if let Some(size) = file.size {
        videos::set_upload(&state.db, video_id, None, Some(size as i64)).await?;
    }
    Ok((video_id, key))
}

/// The multipart upload in progress of a video: upload key, upload id, announced size.
struct Pending {
    key: String,
    upload_id: String,
    size: u64,
}

fn pending_multipart(v: &VideoDetail) -> Result<Pending> {
    match (&v.upload_id, &v.original_key, v.expected_size) {
        (Some(u), Some(k), Some(size)) if v.status == VideoStatus::Pending => Ok(Pending {
            key: keys::upload_of(k),
            upload_id: u.clone(),
            size: size as u64,
        }),
        _ => Err(ServiceError::Conflict(
            "this video has no multipart upload in progress".into(),
        )),
    }
}

/// Presigned URLs for parts of a multipart upload, in the order asked.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn part_urls(
    state: &AppState,
    user: UserId,
    id: VideoId,
    part_numbers: &[u32],
) -> Result<Vec<(u32, String)>> {
    let v = owned(state, user, id).await?;
    let p = pending_multipart(&v)?;
    let count = p.size.div_ceil(state.settings.uploads.part_bytes) as u32;
    if part_numbers.is_empty() || part_numbers.len() > 100 {
        return Err(ServiceError::invalid(
            "part_numbers",
            "give 1 to 100 part numbers",
        ));
    }
    let mut parts = Vec::with_capacity(part_numbers.len());
    for &n in part_numbers {
        if n == 0 || n > count {
            return Err(ServiceError::invalid(
                "part_numbers",
                format!("parts are numbered 1 to {count}"),
            ));
        }
        let url = state
            .storage
            .presign_part(&p.key, &p.upload_id, n as i32)
            .await?;
        parts.push((n, url));
    }
    Ok(parts)
}

/// One part of a completion: its number and the ETag S3 gave it.
pub struct CompletedPart<'a> {
    pub part_number: u32,
    pub etag: &'a str,
}

/// The parts of a completion, in order: each once, numbered 1 to 10,000, with its ETag.
fn completed_parts(parts: &[CompletedPart<'_>]) -> Result<Vec<(i32, String)>> {
    let invalid = || ServiceError::invalid("parts", "list every part once, with its ETag");
    if parts.is_empty() || parts.len() > 10_000 {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if !(1..=10_000).contains(&p.part_number) {
            return Err(ServiceError::invalid(
                &format!("parts[{i}].part_number"),
                "must be between 1 and 10000",
            ));
        }
        let etag = text::line(&format!("parts[{i}].etag"), p.etag, 1024)?.to_string();
        out.push((p.part_number as i32, etag));
    }
    out.sort_by_key(|p| p.0);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid());
    }
    Ok(out)
}

/// Assembles the uploaded parts and starts processing the video (as [`complete`]). A second
/// call after success answers the same again.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn complete_multipart(
    state: &AppState,
    user: UserId,
    id: VideoId,
    parts: &[CompletedPart<'_>],
) -> Result<VideoDetail> {
    // The list is checked before anything else, so an invalid one is refused even when the
    // upload was completed before.
    let parts = completed_parts(parts)?;
    let v = owned(state, user, id).await?;
    if v.upload_id.is_none() && v.status != VideoStatus::Pending {
        return Ok(v);
    }
    let p = pending_multipart(&v)?;
    // Every part of the upload must be listed: S3 would assemble a list with a part left out,
    // and the upload would be spent on a truncated file. (A part that was never uploaded, or
    // an ETag that is not its own, S3 refuses itself, and the upload stays open.)
    let count = p.size.div_ceil(state.settings.uploads.part_bytes) as i32;
    if let Some(n) = (1..=count).find(|n| !parts.iter().any(|(p, _)| p == n)) {
        return Err(ServiceError::invalid(
            "parts",
            format!("part {n} is missing from the list"),
        ));
    }
    if let Some((n, _)) = parts.iter().find(|(p, _)| *p > count) {
        return Err(ServiceError::invalid(
            "parts",
            format!("the upload has {count} parts, not {n}"),
        ));
    }
    state
        .storage
        .complete_multipart(&p.key, &p.upload_id, &parts)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "multipart completion refused");
            ServiceError::invalid("parts", "S3 refused the parts (missing part or wrong ETag)")
        })?;
    videos::set_upload(&state.db, id, None, v.expected_size).await?;
    complete(state, user, id).await
}

/// Abandons a multipart upload and deletes the video.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn abort_multipart(state: &AppState, user: UserId, id: VideoId) -> Result<()> {
    let v = owned(state, user, id).await?;
    let p = pending_multipart(&v)?;
    state.storage.abort_multipart(&p.key, &p.upload_id).await?;
    remove(state, user, id).await
}

/// Checks the uploaded object (not empty, within the limit, the size announced) and starts the
/// ingest workflow; idempotent. An unusable upload is deleted and the video marked `failed`.
#[tracing::instrument(skip_all, fields(%user, %id))]
pub async fn complete(state: &AppState, user: UserId, id: VideoId) -> Result<VideoDetail> {
    let v = owned(state, user, id).await?;
    if v.status != VideoStatus::Pending {
        return Ok(v);
    }
    let key = v
        .original_key
        .clone()
        .ok_or_else(|| ServiceError::Conflict("this video has no file to upload".into()))?;
    let upload = keys::upload_of(&key);
    let Some(stat) = state.storage.stat(&upload).await? else {
        // Frozen by an ingest already under way (or uploaded before uploads were frozen).
        if state.storage.stat(&key).await?.is_none() {
            return Err(ServiceError::Conflict(
                "the file has not been uploaded yet".into(),
            ));
        }
        return start_ingest(state, user, id, key, None, None).await;
    };
    let (size, max) = (stat.size, state.settings.uploads.max_bytes);
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
        return Err(ServiceError::invalid("file", reason));
    }
    let checked = CompletedUpload {
        key: upload,
        size,
        etag: stat.etag,
    };
    start_ingest(state, user, id, key, Some(checked), None).await
}

/// Longest URL an import takes.
const MAX_URL_CHARS: usize = 2048;

/// Creates a video to be fetched from `url` and starts its ingest, which downloads it first
/// (see `onevoice_activities::import`). The URL is checked here as far as it can be without
/// resolving it (scheme, credentials, a literal address); the worker checks every address it
/// connects to. The file's name is `filename`, or the last segment of the URL's path.
#[tracing::instrument(skip_all, fields(%user))]
pub async fn import(
    state: &AppState,
    user: UserId,
    url: &str,
    filename: Option<&str>,
) -> Result<VideoDetail> {
    let url = text::line("url", url, MAX_URL_CHARS)?;
    let parsed =
        url::Url::parse(url.trim()).map_err(|_| ServiceError::invalid("url", "not a valid URL"))?;
    let rule = onevoice_shared::outbound::AddressRule {
        allow_private: state.settings.outbound.allow_private,
    };
    rule.check_url(&parsed)
        .map_err(|refusal| ServiceError::invalid("url", refusal.to_string()))?;
    let from_url = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .map(|last| {
            percent_encoding::percent_decode_str(last)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let filename = filename.map(str::to_string).unwrap_or(from_url);
    let ext = std::path::Path::new(&filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let Some(content_type) = default_mime(&ext) else {
        let allowed = state.settings.uploads.extensions.join(", .");
        return Err(ServiceError::invalid(
            "filename",
            format!(
                "the URL does not end in a video file name: give `filename` ending in one of .{allowed}"
            ),
        ));
    };
    let file = FileDescription {
        filename: &filename,
        content_type,
        size: None,
    };
    let c = check(state, &file)?;
    let (id, key) = create(state, user, &file, &c).await?;
    let import = onevoice_shared::contracts::ImportSource {
        url: parsed.to_string(),
        timeout_secs: state.settings.outbound.import_timeout.as_secs(),
    };
    start_ingest(state, user, id, key, None, Some(import)).await
}

/// The MIME type an upload of this extension would be sent with.
fn default_mime(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "mp4" => "video/mp4",
        "m4v" => "video/x-m4v",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "avi" => "video/x-msvideo",
        _ => return None,
    })
}

/// Hands the upload to its ingest workflow (one per video: a repeated call joins it).
async fn start_ingest(
    state: &AppState,
    user: UserId,
    id: VideoId,
    key: String,
    upload: Option<CompletedUpload>,
    import: Option<onevoice_shared::contracts::ImportSource>,
) -> Result<VideoDetail> {
    let input = IngestInput {
        video_id: id,
        user_id: user,
        key,
        upload,
        import,
    };
    temporal::ingest(&state.temporal, &state.settings.temporal.task_queue, input)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, video = %id, "cannot start ingest");
            ServiceError::Unavailable(
                "the upload could not be processed now; call complete again".into(),
            )
        })?;
    owned(state, user, id).await
}
