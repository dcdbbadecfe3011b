//! Cloned voices (`cloned_voices`) and the consent attested before cloning (`voice_consents`).
//!
//! A clone's row is written before the provider is asked (so a retried step finds it) and goes
//! only after the provider has deleted the voice: deleting is asked for here
//! (`delete_requested_at`) and done by the activities (`voice::clones`), which retry until the
//! provider confirms.

use crate::ids::{JobId, UserId, VideoId};
use crate::voices::CloneProvider;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use std::net::IpAddr;
use uuid::Uuid;

/// What a user attested before a job cloned voices.
pub struct Consent<'a> {
    pub job: JobId,
    pub user: UserId,
    pub video: VideoId,
    pub signed_by: &'a str,
    pub statement: &'a str,
    pub ip: Option<IpAddr>,
}

pub async fn record_consent(db: impl PgExecutor<'_>, c: &Consent<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO voice_consents (job_id, user_id, video_id, signed_by, statement, ip)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.job)
    .bind(c.user)
    .bind(c.video)
    .bind(c.signed_by)
    .bind(c.statement)
    .bind(c.ip.map(sqlx::types::ipnetwork::IpNetwork::from))
    .execute(db)
    .await?;
    Ok(())
}

/// A recorded consent: who, when, from where.
#[derive(Debug, sqlx::FromRow)]
pub struct ConsentRow {
    pub signed_by: String,
    pub statement: String,
    pub ip: Option<sqlx::types::ipnetwork::IpNetwork>,
    pub video_id: VideoId,
    pub attested_at: DateTime<Utc>,
}

pub async fn consent_of_job(db: &PgPool, job: JobId) -> sqlx::Result<Option<ConsentRow>> {
    sqlx::query_as(
        "SELECT signed_by, statement, ip, video_id, attested_at FROM voice_consents
         WHERE job_id = $1",
    )
    .bind(job)
    .fetch_optional(db)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClonedVoice {
    pub id: Uuid,
    pub user_id: UserId,
    pub job_id: Option<JobId>,
    pub speaker_id: String,
    pub provider: String,
    pub provider_voice_id: Option<String>,
    pub name: String,
    pub saved: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl ClonedVoice {
    pub fn provider(&self) -> Option<CloneProvider> {
        CloneProvider::parse(&self.provider)
    }

    /// The id requests and jobs name the voice by (`elevenlabs-<id>`), once it exists.
    pub fn voice_id(&self) -> Option<String> {
        Some(
            self.provider()?
                .voice_id(self.provider_voice_id.as_deref()?),
        )
    }
}

const COLUMNS: &str = "id, user_id, job_id, speaker_id, provider, provider_voice_id, name, saved,
    created_at, expires_at";

/// A clone about to be made.
pub struct NewClone<'a> {
    pub user: UserId,
    pub job: JobId,
    pub speaker_id: &'a str,
    pub provider: CloneProvider,
    pub name: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// The row of the job speaker's clone: the one written by an earlier attempt, or a new one. A
/// row already asked to be deleted (its job failed and expired, and is now resumed) is taken
/// back while its voice still exists; once deleted at the provider the row is gone and a new
/// one is made.
pub async fn begin(db: &PgPool, c: &NewClone<'_>) -> sqlx::Result<ClonedVoice> {
    sqlx::query(
        "INSERT INTO cloned_voices (id, user_id, job_id, speaker_id, provider, name, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (job_id, speaker_id) DO UPDATE
           SET delete_requested_at = NULL, expires_at = EXCLUDED.expires_at
           WHERE cloned_voices.delete_requested_at IS NOT NULL",
    )
    .bind(Uuid::new_v4())
    .bind(c.user)
    .bind(c.job)
    .bind(c.speaker_id)
    .bind(c.provider.as_str())
    .bind(c.name)
    .bind(c.expires_at)
    .execute(db)
    .await?;
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cloned_voices WHERE job_id = $1 AND speaker_id = $2"
    ))
    .bind(c.job)
    .bind(c.speaker_id)
    .fetch_one(db)
    .await
}

/// The provider made the voice.
pub async fn created(db: &PgPool, id: Uuid, provider_voice_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE cloned_voices SET provider_voice_id = $2 WHERE id = $1")
        .bind(id)
        .bind(provider_voice_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The user's voices, newest first: saved ones and those of their jobs, not being deleted.
pub async fn of_user(db: &PgPool, user: UserId) -> sqlx::Result<Vec<ClonedVoice>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cloned_voices
         WHERE user_id = $1 AND delete_requested_at IS NULL AND provider_voice_id IS NOT NULL
         ORDER BY created_at DESC, id"
    ))
    .bind(user)
    .fetch_all(db)
    .await
}

/// One of the user's voices (not being deleted).
pub async fn find_owned(db: &PgPool, user: UserId, id: Uuid) -> sqlx::Result<Option<ClonedVoice>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cloned_voices
         WHERE id = $1 AND user_id = $2 AND delete_requested_at IS NULL
           AND provider_voice_id IS NOT NULL"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Whether `voice_id` (`elevenlabs-<id>`) is a voice the user saved to their library.
pub async fn is_saved_by(db: &PgPool, user: UserId, voice_id: &str) -> sqlx::Result<bool> {
    let Some((provider, id)) = voice_id.split_once('-') else {
        return Ok(false);
    };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM cloned_voices
         WHERE user_id = $1 AND provider = $2 AND provider_voice_id = $3 AND saved
           AND delete_requested_at IS NULL)",
    )
    .bind(user)
    .bind(provider)
    .bind(id)
    .fetch_one(db)
    .await
}

/// Renames and/or saves (or unsaves) one of the user's voices; false: no such voice.
pub async fn update(
    db: &PgPool,
    user: UserId,
    id: Uuid,
    name: Option<&str>,
    saved: Option<bool>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE cloned_voices SET name = COALESCE($3, name), saved = COALESCE($4, saved)
         WHERE id = $1 AND user_id = $2 AND delete_requested_at IS NULL
           AND provider_voice_id IS NOT NULL",
    )
    .bind(id)
    .bind(user)
    .bind(name)
    .bind(saved)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a running job may yet speak with the voice: the job that cloned it, or another job
/// of its owner that chose it (as its voice or a speaker's, `JobConfig`).
pub async fn in_use(db: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (
           SELECT 1 FROM cloned_voices c
           JOIN jobs j ON j.id = c.job_id OR j.user_id = c.user_id
           WHERE c.id = $1 AND j.status IN ('pending', 'processing')
             AND (j.id = c.job_id
                  OR j.job_config->>'voice_id' = c.provider || '-' || c.provider_voice_id
                  OR EXISTS (SELECT 1 FROM jsonb_path_query(j.job_config, '$.voices.*') v
                             WHERE v #>> '{}' = c.provider || '-' || c.provider_voice_id)))",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// The user deletes one of their voices; false: no such voice.
pub async fn request_delete(db: &PgPool, user: UserId, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE cloned_voices SET delete_requested_at = now()
         WHERE id = $1 AND user_id = $2 AND delete_requested_at IS NULL
           AND provider_voice_id IS NOT NULL",
    )
    .bind(id)
    .bind(user)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The video is being deleted: so are the clones of its jobs the user has not saved.
pub async fn request_delete_of_video(db: &PgPool, video: VideoId) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE cloned_voices SET delete_requested_at = now()
         WHERE delete_requested_at IS NULL AND NOT saved
           AND job_id IN (SELECT id FROM jobs WHERE video_id = $1)",
    )
    .bind(video)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The account is being erased: every voice of the user goes, saved or not.
pub async fn request_delete_of_user(db: &PgPool, user: UserId) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE cloned_voices SET delete_requested_at = now()
         WHERE user_id = $1 AND delete_requested_at IS NULL",
    )
    .bind(user)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Unsaved clones past their retention whose job no longer runs.
pub async fn request_delete_expired(db: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE cloned_voices c SET delete_requested_at = now()
         WHERE delete_requested_at IS NULL AND NOT saved AND expires_at < now()
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id
                           AND j.status IN ('pending', 'processing'))",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Voices to delete at their provider, oldest request first: of one user, of one video's jobs,
/// or all.
pub async fn doomed(db: &PgPool, limit: i64) -> sqlx::Result<Vec<ClonedVoice>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cloned_voices WHERE delete_requested_at IS NOT NULL
         ORDER BY delete_requested_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The provider deleted the voice (or never made it): the row goes.
pub async fn forget(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cloned_voices WHERE id = $1 AND delete_requested_at IS NOT NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
