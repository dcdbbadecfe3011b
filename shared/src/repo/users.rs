use crate::ids::UserId;
use sqlx::PgPool;

/// Finds a user by (normalized) email or creates a verified one; used by the operator command
/// that issues tokens. Returns the user's id.
pub async fn ensure_verified(
    db: &PgPool,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<UserId, sqlx::Error> {
    let email = email.trim().to_lowercase();
    sqlx::query_scalar(
        "INSERT INTO users (email, username, password_hash, is_verified)
         VALUES ($1, $2, $3, true)
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
         RETURNING id",
    )
    .bind(&email)
    .bind(username)
    .bind(password_hash)
    .fetch_one(db)
    .await
}

/// Whether the user exists and may use the API.
pub async fn is_active(db: &PgPool, id: UserId) -> Result<bool, sqlx::Error> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT is_active AND deleted_at IS NULL FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(active.unwrap_or(false))
}
