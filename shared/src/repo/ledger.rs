//! The credit ledger: append-only entries keyed by an idempotency key, so every grant, hold,
//! release and charge happens exactly once however often it is attempted.
//!
//! A job's credits: `reserve` (a hold of the quoted amount, at start), then either `release` of the
//! hold plus `capture` of the actual cost (success), or `release` alone (failure, cancel). Each
//! resume of a failed job is a new round with its own hold.

use crate::ids::{JobId, UserId, VideoId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Grant,
    Reserve,
    Release,
    Capture,
    /// Credits taken back (a refund or chargeback of the payment that granted them).
    Adjustment,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::Reserve => "reserve",
            Kind::Release => "release",
            Kind::Capture => "capture",
            Kind::Adjustment => "adjustment",
        }
    }
}

pub struct Entry<'a> {
    pub user: UserId,
    pub job: Option<JobId>,
    pub video: Option<VideoId>,
    pub kind: Kind,
    /// Signed: positive adds credits.
    pub amount: i64,
    pub key: &'a str,
    pub description: &'a str,
}

/// Appends an entry unless its key exists; returns whether it was new.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn append(db: impl PgExecutor<'_>, e: Entry<'_>) -> Result<bool, sqlx::Error> {
    insert(db, e, None).await
}

async fn insert(
    db: impl PgExecutor<'_>,
    e: Entry<'_>,
    metadata: Option<serde_json::Value>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO credit_ledger (user_id, job_id, video_id, kind, amount, idempotency_key, description, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(e.user)
    .bind(e.job)
    .bind(e.video)
    .bind(e.kind.as_str())
    .bind(e.amount)
    .bind(e.key)
    .bind(e.description)
    .bind(metadata)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A paid period of a subscription: every grant for it counts together, so the period's credits
/// are granted once however many payments cover it (a renewal, then an upgrade's proration).
/// Periods are told apart by their end, which a proration inside the period shares.
#[derive(Clone, Copy, Debug)]
pub struct PaidPeriod<'a> {
    pub subscription: &'a str,
    pub ends_at: DateTime<Utc>,
}

/// Appends a grant for a paid period (see [`PaidPeriod`]) unless its key exists.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn append_for_period(
    db: impl PgExecutor<'_>,
    e: Entry<'_>,
    period: PaidPeriod<'_>,
) -> Result<bool, sqlx::Error> {
    let metadata = serde_json::json!({
        "subscription": period.subscription,
        "period_end": period.ends_at.timestamp(),
    });
    insert(db, e, Some(metadata)).await
}

/// The credits granted so far for a paid period.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn granted_for_period(
    db: impl PgExecutor<'_>,
    user: UserId,
    period: PaidPeriod<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM credit_ledger
         WHERE user_id = $1 AND kind = 'grant' AND metadata->>'subscription' = $2
           AND (metadata->>'period_end')::bigint = $3",
    )
    .bind(user)
    .bind(period.subscription)
    .bind(period.ends_at.timestamp())
    .fetch_one(db)
    .await
}

/// The amount of the entry with this key (0 when there is none).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn amount_of(db: impl PgExecutor<'_>, key: &str) -> Result<i64, sqlx::Error> {
    let amount: Option<i64> =
        sqlx::query_scalar("SELECT amount FROM credit_ledger WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(db)
            .await?;
    Ok(amount.unwrap_or(0))
}

/// The key of the grant a Paddle transaction made.
pub fn payment_key(transaction: &str) -> String {
    format!("paddle:{transaction}")
}

/// The key of what a Paddle adjustment (refund, chargeback, credit) took back.
pub fn adjustment_key(adjustment: &str) -> String {
    format!("paddle:adjustment:{adjustment}")
}

/// What adjustments of a transaction took back so far (a positive number).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn taken_back(
    db: impl PgExecutor<'_>,
    user: UserId,
    transaction: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(-sum(amount), 0)::bigint FROM credit_ledger
         WHERE user_id = $1 AND kind = 'adjustment' AND metadata->>'transaction' = $2",
    )
    .bind(user)
    .bind(transaction)
    .fetch_one(db)
    .await
}

/// Takes back `credits` (positive) for an adjustment of `transaction`, once per `key`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn take_back(
    db: impl PgExecutor<'_>,
    user: UserId,
    credits: i64,
    key: &str,
    description: &str,
    transaction: &str,
) -> Result<bool, sqlx::Error> {
    let entry = Entry {
        user,
        job: None,
        video: None,
        kind: Kind::Adjustment,
        amount: -credits,
        key,
        description,
    };
    insert(
        db,
        entry,
        Some(serde_json::json!({ "transaction": transaction })),
    )
    .await
}

/// Serializes balance checks of one user until the transaction ends, so two concurrent holds
/// cannot both pass a check that only one of them fits.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn lock_user(conn: &mut PgConnection, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7101))")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn balance(db: impl PgExecutor<'_>, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM credit_ledger WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

pub fn reserve_key(job: JobId, round: i32) -> String {
    format!("job:{job}:r{round}:reserve")
}

pub fn release_key(job: JobId, round: i32) -> String {
    format!("job:{job}:r{round}:release")
}

/// The entry of `kind` (reserve, release, capture) of re-render `version` of a job: one each per
/// version, however often it is attempted.
pub fn rerender_key(job: JobId, version: u32, kind: Kind) -> String {
    format!("job:{job}:v{version}:{}", kind.as_str())
}

/// What a re-render holds (its reserve entry), 0 when none.
pub async fn rerender_held(
    db: impl PgExecutor<'_>,
    job: JobId,
    version: u32,
) -> Result<i64, sqlx::Error> {
    amount_of(db, &rerender_key(job, version, Kind::Reserve))
        .await
        .map(|a| -a)
}

pub fn capture_key(job: JobId) -> String {
    format!("job:{job}:capture")
}

/// The credits held by a round of a job (0 when there is no hold).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn held(db: impl PgExecutor<'_>, job: JobId, round: i32) -> Result<i64, sqlx::Error> {
    let amount: Option<i64> =
        sqlx::query_scalar("SELECT -amount FROM credit_ledger WHERE idempotency_key = $1")
            .bind(reserve_key(job, round))
            .fetch_optional(db)
            .await?;
    Ok(amount.unwrap_or(0))
}

/// How many capture entries a job has (tests prove "exactly once" with it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn captures(db: impl PgExecutor<'_>, job: JobId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM credit_ledger WHERE job_id = $1 AND kind = 'capture'")
        .bind(job)
        .fetch_one(db)
        .await
}

/// The one-time welcome grant of a new account.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn grant_signup(
    db: impl PgExecutor<'_>,
    user: UserId,
    credits: u32,
) -> Result<bool, sqlx::Error> {
    append(
        db,
        Entry {
            user,
            job: None,
            video: None,
            kind: Kind::Grant,
            amount: i64::from(credits),
            key: &format!("signup:{user}"),
            description: "welcome credits",
        },
    )
    .await
}
