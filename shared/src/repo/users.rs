use crate::ids::UserId;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub avatar_key: Option<String>,
    pub locale: String,
    pub email_notifications: bool,
    pub processing_complete: bool,
    pub billing_updates: bool,
    pub marketing_emails: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, username, full_name, password_hash, is_active, is_verified, avatar_key, locale,
    email_notifications, processing_complete, billing_updates, marketing_emails, last_login_at, created_at, updated_at";

/// Emails are compared and stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Finds a user by email or creates a verified one; used by the operator command that issues
/// tokens and by tests. Returns the user's id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ensure_verified(
    db: &PgPool,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<UserId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (email, username, password_hash, is_verified)
         VALUES ($1, $2, $3, true)
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
         RETURNING id",
    )
    .bind(normalize_email(email))
    .bind(username)
    .bind(password_hash)
    .fetch_one(db)
    .await
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub full_name: Option<&'a str>,
    pub password_hash: &'a str,
    pub locale: &'a str,
}

/// Creates a verified user; `None` when the email or username is taken.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_verified(
    db: impl PgExecutor<'_>,
    u: NewUser<'_>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (email, username, full_name, password_hash, locale, is_verified)
         VALUES ($1, $2, $3, $4, $5, true)
         ON CONFLICT DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(normalize_email(u.email))
    .bind(u.username)
    .bind(u.full_name)
    .bind(u.password_hash)
    .bind(u.locale)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_email(db: &PgPool, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL"
    ))
    .bind(normalize_email(email))
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn email_taken(db: &PgPool, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)")
        .bind(normalize_email(email))
        .fetch_one(db)
        .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn username_taken(
    db: &PgPool,
    username: &str,
    except: Option<UserId>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1) AND id IS DISTINCT FROM $2)")
        .bind(username)
        .bind(except)
        .fetch_one(db)
        .await
}

/// Whether the user exists and may use the API.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn is_active(db: &PgPool, id: UserId) -> Result<bool, sqlx::Error> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT is_active AND deleted_at IS NULL FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(active.unwrap_or(false))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn touch_login(db: &PgPool, id: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_password(
    db: impl PgExecutor<'_>,
    id: UserId,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Applies a profile change; `None` fields stay. Returns false when the username is taken.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update_profile(
    db: &PgPool,
    id: UserId,
    username: Option<&str>,
    full_name: Option<&str>,
    locale: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE users SET username = coalesce($2, username), full_name = coalesce($3, full_name),
                locale = coalesce($4, locale)
         WHERE id = $1",
    )
    .bind(id)
    .bind(username)
    .bind(full_name)
    .bind(locale)
    .execute(db)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Returns false when another account took the address meanwhile.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_email(
    db: impl PgExecutor<'_>,
    id: UserId,
    email: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
        .bind(id)
        .bind(normalize_email(email))
        .execute(db)
        .await;
    match res {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_avatar(
    db: &PgPool,
    id: UserId,
    key: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    // Returns the previous key so the caller can delete that object.
    sqlx::query_scalar(
        "UPDATE users u SET avatar_key = $2 FROM (SELECT avatar_key FROM users WHERE id = $1 FOR UPDATE) old
         WHERE u.id = $1 RETURNING old.avatar_key",
    )
    .bind(id)
    .bind(key)
    .fetch_one(db)
    .await
}

pub struct Preferences {
    pub email_notifications: Option<bool>,
    pub processing_complete: Option<bool>,
    pub billing_updates: Option<bool>,
    pub marketing_emails: Option<bool>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_preferences(db: &PgPool, id: UserId, p: Preferences) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_notifications = coalesce($2, email_notifications),
            processing_complete = coalesce($3, processing_complete),
            billing_updates = coalesce($4, billing_updates),
            marketing_emails = coalesce($5, marketing_emails)
         WHERE id = $1",
    )
    .bind(id)
    .bind(p.email_notifications)
    .bind(p.processing_complete)
    .bind(p.billing_updates)
    .bind(p.marketing_emails)
    .execute(db)
    .await?;
    Ok(())
}

/// Deactivates the account at once and frees its email and username; the erasure workflow
/// deletes the rest.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn deactivate(db: impl PgExecutor<'_>, id: UserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET is_active = false, deleted_at = now(),
            email = 'deleted-' || id || '@deleted.invalid', username = 'deleted-' || id,
            full_name = NULL, password_hash = '!'
         WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// A user, deactivated or not (background work still needs the address of a deactivated one).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_any(db: &PgPool, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Deletes a deactivated user's row for good (the erasure's last step; rows that reference it
/// go with it or are anonymised by the schema).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_erased(db: impl PgExecutor<'_>, id: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE id = $1 AND deleted_at IS NOT NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A kind of notice users may turn off.
#[derive(Clone, Copy, Debug)]
pub enum Notice {
    Processing,
    Billing,
}

/// Whether the user wants notices of this kind now (email notifications on, and the kind's own
/// preference); a missing user wants none.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn wants(db: &PgPool, id: UserId, notice: Notice) -> Result<bool, sqlx::Error> {
    let sql = match notice {
        Notice::Processing => {
            "SELECT email_notifications AND processing_complete FROM users WHERE id = $1"
        }
        Notice::Billing => {
            "SELECT email_notifications AND billing_updates FROM users WHERE id = $1"
        }
    };
    let allowed: Option<bool> = sqlx::query_scalar(sql).bind(id).fetch_optional(db).await?;
    Ok(allowed.unwrap_or(false))
}
