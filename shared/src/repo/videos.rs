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
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewVideo<'a> {
    pub id: VideoId,
    pub user_id: UserId,
    pub title: &'a str,
    pub original_language: Option<&'a str>,
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    v: NewVideo<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO videos (id, user_id, title, original_language, status) VALUES ($1, $2, $3, $4, 'pending')",
    )
    .bind(v.id)
    .bind(v.user_id)
    .bind(v.title)
    .bind(v.original_language)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The video if it exists, is not deleted and belongs to `user`; otherwise `None` (callers
/// answer 404 either way, so other users' ids reveal nothing).
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
