use crate::ids::{JobId, VideoId};
use crate::status::FileType;
use sqlx::{PgPool, Postgres, Transaction};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MediaFileRow {
    /// The job that made it (none for the original upload).
    pub job_id: Option<JobId>,
    pub filename: String,
    pub file_format: String,
    pub s3_key: String,
    pub file_size: Option<i64>,
    pub duration: Option<f64>,
    pub language_code: Option<String>,
}

pub struct NewMediaFile<'a> {
    pub video_id: VideoId,
    pub job_id: Option<JobId>,
    pub file_type: FileType,
    pub filename: &'a str,
    pub file_format: &'a str,
    pub content_type: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: Option<i64>,
    pub duration_secs: Option<f64>,
    pub language: Option<&'a str>,
}

const INSERT: &str = "INSERT INTO media_files (video_id, job_id, file_type, filename, file_format, content_type,
        s3_bucket, s3_key, file_size, duration, language_code)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (s3_bucket, s3_key) DO UPDATE SET file_size = EXCLUDED.file_size, duration = EXCLUDED.duration";

fn bind<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    f: &'q NewMediaFile<'q>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    q.bind(f.video_id)
        .bind(f.job_id)
        .bind(f.file_type.as_str())
        .bind(f.filename)
        .bind(f.file_format)
        .bind(f.content_type)
        .bind(f.bucket)
        .bind(f.key)
        .bind(f.size)
        .bind(f.duration_secs)
        .bind(f.language)
}

/// Registers a file; registering the same object again only refreshes its size and duration.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    f: &NewMediaFile<'_>,
) -> Result<(), sqlx::Error> {
    bind(sqlx::query(INSERT), f).execute(&mut **tx).await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_pool(db: &PgPool, f: &NewMediaFile<'_>) -> Result<(), sqlx::Error> {
    bind(sqlx::query(INSERT), f).execute(db).await?;
    Ok(())
}

/// Registers a copy of a video's file under another video (a duplicate): the same probe
/// results, the copied object's key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn copy_file(
    tx: &mut Transaction<'_, Postgres>,
    from: (VideoId, &str),
    to: (VideoId, &str),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO media_files (video_id, file_type, filename, file_format, content_type, file_size, duration,
            resolution, fps, video_codec, audio_codec, audio_tracks, media_info, s3_bucket, s3_key)
         SELECT $2, file_type, filename, file_format, content_type, file_size, duration, resolution, fps,
            video_codec, audio_codec, audio_tracks, media_info, s3_bucket, $3
         FROM media_files WHERE video_id = $1 AND s3_key = $4",
    )
    .bind(from.0)
    .bind(to.0)
    .bind(to.1)
    .bind(from.1)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest active file of a type (and language, for outputs; and format, e.g. `vtt`) of a
/// video.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest(
    db: &PgPool,
    video: VideoId,
    file_type: FileType,
    language: Option<&str>,
    format: Option<&str>,
) -> Result<Option<MediaFileRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job_id, filename, file_format, s3_key, file_size, duration, language_code FROM media_files
         WHERE video_id = $1 AND file_type = $2 AND is_active AND ($3::text IS NULL OR language_code = $3)
           AND ($4::text IS NULL OR file_format = $4)
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(video)
    .bind(file_type.as_str())
    .bind(language)
    .bind(format)
    .fetch_optional(db)
    .await
}

/// Forgets the files of a job (a cancelled one's objects are deleted first).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_of_job(db: &PgPool, job: JobId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media_files WHERE job_id = $1")
        .bind(job)
        .execute(db)
        .await?;
    Ok(())
}

/// The video's multipart uploads still open: (key, upload id).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn open_uploads(
    db: &PgPool,
    video: VideoId,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s3_key, upload_id FROM media_files WHERE video_id = $1 AND upload_id IS NOT NULL",
    )
    .bind(video)
    .fetch_all(db)
    .await
}
