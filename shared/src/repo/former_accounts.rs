//! What outlives an erased account for money's sake: a keyed HMAC of its normalized email, whether
//! that address had its welcome credits, and its Paddle customer. The address itself is never
//! kept; the HMAC only tells whether a new signup uses an address seen before.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgExecutor;

/// Separates these MACs from anything else made with the same key.
const CONTEXT: &[u8] = b"onevoice/former-accounts/email/v1:";

/// The HMAC of an address, normalized as accounts are (trimmed, lower-cased; `+tags` kept, so
/// `a+x@b.c` is another address than `a@b.c`, as it is another mailbox).
pub fn email_hmac(key: &[u8], email: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(CONTEXT);
    mac.update(super::users::normalize_email(email).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Claims the welcome credits of an address: true the first time, false ever after, whichever
/// account (erased or not) had them.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim_signup_grant(
    db: impl PgExecutor<'_>,
    email_hmac: &[u8],
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO former_accounts (email_hmac, signup_granted_at) VALUES ($1, now())
         ON CONFLICT (email_hmac) DO UPDATE SET signup_granted_at = now()
         WHERE former_accounts.signup_granted_at IS NULL",
    )
    .bind(email_hmac)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Remembers an account being erased: its address had its welcome credits (every account did,
/// including those made before this table), and its Paddle customer.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn remember_erased(
    db: impl PgExecutor<'_>,
    email_hmac: &[u8],
    paddle_customer: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO former_accounts (email_hmac, signup_granted_at, paddle_customer_id, erased_at)
         VALUES ($1, now(), $2, now())
         ON CONFLICT (email_hmac) DO UPDATE SET
            signup_granted_at = coalesce(former_accounts.signup_granted_at, now()),
            paddle_customer_id = coalesce(EXCLUDED.paddle_customer_id, former_accounts.paddle_customer_id),
            erased_at = now()",
    )
    .bind(email_hmac)
    .bind(paddle_customer)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a Paddle customer belonged to an erased account.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn customer_was_erased(
    db: impl PgExecutor<'_>,
    paddle_customer: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM former_accounts WHERE paddle_customer_id = $1 AND erased_at IS NOT NULL)",
    )
    .bind(paddle_customer)
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::email_hmac;

    #[test]
    fn the_same_address_however_written_and_plus_tags_apart() {
        let key = b"0123456789abcdef0123456789abcdef";
        assert_eq!(
            email_hmac(key, " Ann@Example.com "),
            email_hmac(key, "ann@example.com")
        );
        assert_ne!(
            email_hmac(key, "ann+dub@example.com"),
            email_hmac(key, "ann@example.com")
        );
        assert_ne!(
            email_hmac(b"another key, also 32 bytes long!", "ann@example.com"),
            email_hmac(key, "ann@example.com")
        );
    }
}
