//! The operator commands of the `onevoice` binary (support gestures, payments to look at, tokens
//! for scripts). They run without the HTTP server, against the database alone.

use crate::auth::session;
use crate::extract::ClientInfo;
use onevoice_shared::repo::billing::{self, UnmatchedPayment};
use onevoice_shared::repo::{ledger, users};
use onevoice_shared::settings::Settings;
use sqlx::PgPool;
use std::time::Duration;

/// Grants credits to an existing account, recorded in the ledger under a fresh key with the
/// reason; returns the new balance.
#[tracing::instrument(skip_all, fields(amount))]
pub async fn grant_credits(
    db: &PgPool,
    email: &str,
    amount: u32,
    reason: &str,
) -> anyhow::Result<i64> {
    let user = users::find_by_email(db, email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
    let key = format!("operator:{}", uuid::Uuid::new_v4());
    let entry = ledger::Entry {
        user: user.id,
        job: None,
        video: None,
        kind: ledger::Kind::Grant,
        amount: i64::from(amount),
        key: &key,
        description: reason,
    };
    ledger::append(db, entry).await?;
    Ok(ledger::balance(db, user.id).await?)
}

/// The Paddle payments that matched no account (an erased account's customer, or a checkout
/// nobody here started), to refund or attribute by hand.
pub async fn unmatched_payments(db: &PgPool) -> anyhow::Result<Vec<UnmatchedPayment>> {
    Ok(billing::unmatched_payments(db).await?)
}

/// Ensures a verified account with this email (with the signup grant) and starts a session for
/// it; returns an access token valid for `ttl`. The account gets no password: `!` is not a hash.
#[tracing::instrument(skip_all)]
pub async fn access_token(
    db: &PgPool,
    settings: &Settings,
    email: &str,
    ttl: Duration,
) -> anyhow::Result<String> {
    let username = email.split('@').next().unwrap_or("user");
    let user = users::ensure_verified(db, email, username, "!").await?;
    ledger::grant_signup(db, user, settings.credits.signup_grant).await?;
    let mut settings = settings.clone();
    settings.auth.access_token_ttl = ttl;
    let pair = session::start(db, &settings, user, &ClientInfo::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(pair.access_token)
}
