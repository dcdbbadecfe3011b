use crate::ids::{UserId, VideoId};
use crate::status::VideoStatus;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VideoRow {
    pub id: VideoId,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub original_language: Option<String>,
    pub target_languages: Vec<String>,
    pub status: VideoStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewVideo<'a> {
    pub id: VideoId,
    pub user_id: UserId,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub original_language: Option<&'a str>,
    /// `pending` for a new upload; a copy of a probed video starts `uploaded`.
    pub status: VideoStatus,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    v: NewVideo<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO videos (id, user_id, title, description, original_language, status)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(v.id)
    .bind(v.user_id)
    .bind(v.title)
    .bind(v.description)
    .bind(v.original_language)
    .bind(v.status)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The video if it exists, is not deleted and belongs to `user`; otherwise `None` (callers
/// answer 404 either way, so other users' ids reveal nothing).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_owned(
    db: &PgPool,
    user: UserId,
    id: VideoId,
) -> Result<Option<VideoRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, title, description, original_language, target_languages, status,
                status_reason, created_at, updated_at
         FROM videos WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_status(db: &PgPool, id: VideoId, status: VideoStatus) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET status = $2,
            processing_started_at = CASE WHEN $2 = 'processing' THEN coalesce(processing_started_at, now()) ELSE processing_started_at END,
            processing_completed_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() ELSE processing_completed_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Records a language the video has been dubbed into (kept unique and sorted).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_target_language(
    db: &PgPool,
    id: VideoId,
    language: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET target_languages =
            (SELECT array_agg(DISTINCT l ORDER BY l) FROM unnest(array_append(target_languages, $2)) AS l)
         WHERE id = $1",
    )
    .bind(id)
    .bind(language)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_id(db: &PgPool, id: VideoId) -> Result<Option<VideoRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, title, description, original_language, target_languages, status,
                status_reason, created_at, updated_at
         FROM videos WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Stores the probed details on the video's newest original file.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_media(
    db: &PgPool,
    video: VideoId,
    info: &crate::contracts::MediaInfo,
) -> Result<(), sqlx::Error> {
    let resolution = match (info.width, info.height) {
        (Some(w), Some(h)) => Some(format!("{w}x{h}")),
        _ => None,
    };
    sqlx::query(
        "UPDATE media_files SET duration = $2, file_size = $3, resolution = $4, fps = $5, video_codec = $6,
            audio_codec = $7, audio_tracks = $8, media_info = $9, upload_id = NULL
         WHERE id = (SELECT id FROM media_files WHERE video_id = $1 AND file_type = 'original'
                     ORDER BY created_at DESC LIMIT 1)",
    )
    .bind(video)
    .bind(info.duration_ms as f64 / 1000.0)
    .bind(info.size_bytes as i64)
    .bind(resolution)
    .bind(info.fps)
    .bind(&info.video_codec)
    .bind(&info.audio_codec)
    .bind(info.audio_tracks as i32)
    .bind(serde_json::to_value(info).unwrap_or_default())
    .execute(db)
    .await?;
    Ok(())
}

/// Makes `key` the video's thumbnail, retiring earlier ones.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_thumbnail(
    db: &PgPool,
    video: VideoId,
    bucket: &str,
    key: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE media_files SET is_active = false WHERE video_id = $1 AND file_type = 'thumbnail' AND s3_key <> $2")
        .bind(video)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO media_files (video_id, file_type, filename, file_format, content_type, s3_bucket, s3_key)
         VALUES ($1, 'thumbnail', 'thumbnail.jpg', 'jpg', 'image/jpeg', $2, $3)
         ON CONFLICT (s3_bucket, s3_key) DO UPDATE SET is_active = true, created_at = now()",
    )
    .bind(video)
    .bind(bucket)
    .bind(key)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_status_reason(
    db: impl sqlx::PgExecutor<'_>,
    id: VideoId,
    status: VideoStatus,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET status = $2, status_reason = $3 WHERE id = $1 AND status <> 'deleting'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

/// A video with its newest original and thumbnail, as the API shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VideoDetail {
    pub id: VideoId,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub original_language: Option<String>,
    pub target_languages: Vec<String>,
    pub status: VideoStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub original_key: Option<String>,
    pub original_filename: Option<String>,
    pub duration: Option<f64>,
    pub file_size: Option<i64>,
    pub expected_size: Option<i64>,
    pub upload_id: Option<String>,
    pub content_type: Option<String>,
    pub resolution: Option<String>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub audio_tracks: Option<i32>,
    pub thumbnail_key: Option<String>,
}

const DETAIL: &str = "SELECT v.id, v.user_id, v.title, v.description, v.original_language, v.target_languages,
        v.status, v.status_reason, v.created_at, v.updated_at,
        o.s3_key AS original_key, o.filename AS original_filename, o.duration, o.file_size, o.expected_size,
        o.upload_id, o.content_type, o.resolution, o.fps, o.video_codec, o.audio_codec, o.audio_tracks,
        t.s3_key AS thumbnail_key
    FROM videos v
    LEFT JOIN LATERAL (SELECT * FROM media_files m WHERE m.video_id = v.id AND m.file_type = 'original' AND m.is_active
                       ORDER BY m.created_at DESC LIMIT 1) o ON true
    LEFT JOIN LATERAL (SELECT s3_key FROM media_files m WHERE m.video_id = v.id AND m.file_type = 'thumbnail' AND m.is_active
                       ORDER BY m.created_at DESC LIMIT 1) t ON true";

#[tracing::instrument(level = "debug", skip_all)]
pub async fn detail(
    db: &PgPool,
    user: UserId,
    id: VideoId,
) -> Result<Option<VideoDetail>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{DETAIL} WHERE v.id = $1 AND v.user_id = $2 AND v.deleted_at IS NULL"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// One page of the user's videos, newest first, optionally of one status; with the total count.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn page(
    db: &PgPool,
    user: UserId,
    status: Option<VideoStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<VideoDetail>, i64), sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "{DETAIL} WHERE v.user_id = $1 AND v.deleted_at IS NULL AND ($2::text IS NULL OR v.status = $2)
         ORDER BY v.created_at DESC, v.id LIMIT $3 OFFSET $4"
    ))
    .bind(user)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM videos WHERE user_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR status = $2)",
    )
    .bind(user)
    .bind(status)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Applies a metadata change; `None` fields stay.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    db: &PgPool,
    id: VideoId,
    title: Option<&str>,
    description: Option<&str>,
    original_language: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos SET title = coalesce($2, title), description = coalesce($3, description),
            original_language = coalesce($4, original_language) WHERE id = $1",
    )
    .bind(id)
    .bind(title)
    .bind(description)
    .bind(original_language)
    .execute(db)
    .await?;
    Ok(())
}

/// Hides the video at once (it answers 404 from now on) before the deletion workflow runs.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn tombstone(db: &PgPool, id: VideoId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE videos SET status = 'deleting', deleted_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// After a job ends: `processing` while another job of the video runs, else `completed` when any
/// dub of it exists, else `uploaded`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn settle_after_job(db: &PgPool, id: VideoId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE videos v SET status = CASE
            WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.video_id = v.id AND j.status IN ('pending', 'processing')) THEN 'processing'
            WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.video_id = v.id AND j.status = 'completed') THEN 'completed'
            ELSE 'uploaded' END,
            processing_completed_at = now()
         WHERE id = $1 AND status NOT IN ('deleting')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Uploads started before `cutoff` and never completed: (video, user, key, upload id).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn abandoned(
    db: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<Vec<(VideoId, UserId)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id FROM videos WHERE status = 'pending' AND created_at < $1 LIMIT 500",
    )
    .bind(cutoff)
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_upload(
    db: &PgPool,
    video: VideoId,
    upload_id: Option<&str>,
    expected_size: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media_files SET upload_id = $2, expected_size = $3
         WHERE video_id = $1 AND file_type = 'original'",
    )
    .bind(video)
    .bind(upload_id)
    .bind(expected_size)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes the video's row (its files' rows go with it); its objects are deleted first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &PgPool, id: VideoId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes the video's row if its upload never completed (an abandoned upload).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_if_pending(db: &PgPool, id: VideoId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM videos WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
