//! The email outbox.

use crate::email::{EmailKind, Rendered};
use crate::ids::UserId;
use crate::locale::Locale;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EmailRow {
    pub id: Uuid,
    pub user_id: Option<UserId>,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub status: String,
}

pub struct NewEmail<'a> {
    pub user_id: Option<UserId>,
    pub kind: &'a EmailKind,
    pub to: &'a str,
    pub locale: Locale,
    pub rendered: &'a Rendered,
    /// Set for emails that must go out once per cause (e.g. `job:<id>:completed`).
    pub dedupe_key: Option<&'a str>,
}

/// Queues an email; with a dedupe key already present, returns the existing email's id instead.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: impl sqlx::PgExecutor<'_>, e: NewEmail<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO emails (user_id, kind, to_address, locale, subject, text_body, html_body, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (dedupe_key) DO UPDATE SET dedupe_key = EXCLUDED.dedupe_key
         RETURNING id",
    )
    .bind(e.user_id)
    .bind(e.kind.name())
    .bind(e.to)
    .bind(e.locale.as_str())
    .bind(&e.rendered.subject)
    .bind(&e.rendered.text)
    .bind(&e.rendered.html)
    .bind(e.dedupe_key)
    .fetch_one(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(db: &PgPool, id: Uuid) -> Result<Option<EmailRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, kind, to_address, subject, text_body, html_body, status FROM emails WHERE id = $1",
    )
        .bind(id)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_attempt(db: &PgPool, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE emails SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks the email sent; bodies with one-time links are erased, keeping only the subject.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_sent(db: &PgPool, id: Uuid, erase_body: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE emails SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL,
            text_body = CASE WHEN $2 THEN NULL ELSE text_body END,
            html_body = CASE WHEN $2 THEN NULL ELSE html_body END
         WHERE id = $1",
    )
    .bind(id)
    .bind(erase_body)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_suppressed(db: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE emails SET status = 'suppressed', text_body = NULL, html_body = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Emails queued under a dedupe key starting with `prefix` and not delivered yet.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn pending_with_prefix(
    db: impl sqlx::PgExecutor<'_>,
    prefix: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM emails WHERE status = 'pending' AND starts_with(dedupe_key, $1) ORDER BY created_at",
    )
    .bind(prefix)
    .fetch_all(db)
    .await
}

/// Deletes every email of a user (an erasure).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_of_user(
    db: impl sqlx::PgExecutor<'_>,
    user: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM emails WHERE user_id = $1")
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}
