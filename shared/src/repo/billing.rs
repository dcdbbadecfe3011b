//! Subscriptions, payments and webhook events as Paddle reports them.
//!
//! Paddle delivers at least once and in no particular order, so every write here is keyed: events
//! by `event_id`, payments by transaction id and outcome, and a subscription snapshot is applied
//! only when it is newer than the one stored (`paddle_updated_at`).

use crate::ids::UserId;
use crate::paddle::entities::{Envelope, Subscription, Transaction, major_units};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

// --- webhook events -------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    New,
    /// Seen before; `processed` says whether applying it already finished.
    Duplicate {
        processed: bool,
    },
}

/// Stores a verified event before anything acts on it. `outcome` marks it processed at once (for
/// events nothing acts on).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn store_event(
    db: &PgPool,
    event: &Envelope,
    payload: &Value,
    user: Option<UserId>,
    outcome: Option<&str>,
) -> Result<Stored, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_events (provider, event_id, event_type, occurred_at, payload, user_id,
                                     outcome, processed_at)
         VALUES ('paddle', $1, $2, $3, $4, $5, $6, CASE WHEN $6::text IS NULL THEN NULL ELSE now() END)
         ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(&event.event_id)
    .bind(&event.event_type)
    .bind(event.occurred_at)
    .bind(payload)
    .bind(user)
    .bind(outcome)
    .execute(db)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Stored::New);
    }
    let processed: bool = sqlx::query_scalar(
        "SELECT processed_at IS NOT NULL FROM webhook_events WHERE provider = 'paddle' AND event_id = $1",
    )
    .bind(&event.event_id)
    .fetch_one(db)
    .await?;
    Ok(Stored::Duplicate { processed })
}

#[derive(Debug, sqlx::FromRow)]
pub struct StoredEvent {
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: Value,
    pub processed_at: Option<DateTime<Utc>>,
}

/// The event, locked until the transaction ends, so a retried activity waits for the first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn lock_event(
    conn: &mut PgConnection,
    event_id: &str,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_type, occurred_at, payload, processed_at FROM webhook_events
         WHERE provider = 'paddle' AND event_id = $1 FOR UPDATE",
    )
    .bind(event_id)
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_processed(
    db: impl PgExecutor<'_>,
    event_id: &str,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_events SET processed_at = now(), outcome = $2, error = NULL
         WHERE provider = 'paddle' AND event_id = $1",
    )
    .bind(event_id)
    .bind(outcome)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether an event was applied, and how (tests and operators read it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn event_outcome(db: &PgPool, event_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT outcome FROM webhook_events WHERE provider = 'paddle' AND event_id = $1 AND processed_at IS NOT NULL",
    )
    .bind(event_id)
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

// --- whose event ----------------------------------------------------------------------------------

#[tracing::instrument(level = "debug", skip_all)]
pub async fn customer_id(db: &PgPool, user: UserId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT paddle_customer_id FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Records the user's Paddle customer; a concurrent first call that won keeps its id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_customer_id(
    db: &PgPool,
    user: UserId,
    customer: &str,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "UPDATE users SET paddle_customer_id = $2 WHERE id = $1 AND paddle_customer_id IS NULL",
    )
    .bind(user)
    .bind(customer)
    .execute(db)
    .await?;
    Ok(customer_id(db, user)
        .await?
        .unwrap_or_else(|| customer.to_string()))
}

/// Remembers the Paddle customer of a user matched by other means (a checkout opened by Paddle.js
/// with our user id in `custom_data`), unless the user has one or another user holds it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn adopt_customer(
    db: impl PgExecutor<'_>,
    user: UserId,
    customer: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET paddle_customer_id = $2 WHERE id = $1 AND paddle_customer_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM users WHERE paddle_customer_id = $2)",
    )
    .bind(user)
    .bind(customer)
    .execute(db)
    .await?;
    Ok(())
}

/// A completed Paddle payment that matched no account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UnmatchedPayment {
    pub event_id: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub transaction_id: Option<String>,
    pub customer_id: Option<String>,
    /// Minor units, as Paddle sent it.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub outcome: Option<String>,
}

/// Paid `transaction.completed` events that matched no account, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn unmatched_payments(db: &PgPool) -> Result<Vec<UnmatchedPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, occurred_at, payload->'data'->>'id' AS transaction_id,
                payload->'data'->>'customer_id' AS customer_id,
                coalesce(payload->'data'->'details'->'totals'->>'grand_total',
                         payload->'data'->'details'->'totals'->>'total') AS amount,
                payload->'data'->>'currency_code' AS currency, outcome
         FROM webhook_events
         WHERE provider = 'paddle' AND event_type = 'transaction.completed' AND user_id IS NULL
           AND outcome LIKE 'unmatched%'
           AND coalesce(payload->'data'->'details'->'totals'->>'grand_total',
                        payload->'data'->'details'->'totals'->>'total', '0') ~ '^[0-9]+$'
           AND coalesce(payload->'data'->'details'->'totals'->>'grand_total',
                        payload->'data'->'details'->'totals'->>'total', '0')::numeric > 0
         ORDER BY occurred_at DESC NULLS LAST",
    )
    .fetch_all(db)
    .await
}

/// The user an event concerns: by the customer we created for them, then by a subscription we
/// know, then by the user id we put in `custom_data` at checkout.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_user(
    db: &PgPool,
    customer: Option<&str>,
    subscription: Option<&str>,
    custom_user: Option<Uuid>,
) -> Result<Option<UserId>, sqlx::Error> {
    if let Some(customer) = customer {
        let found: Option<UserId> =
            sqlx::query_scalar("SELECT id FROM users WHERE paddle_customer_id = $1")
                .bind(customer)
                .fetch_optional(db)
                .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if let Some(subscription) = subscription {
        let found: Option<UserId> = sqlx::query_scalar(
            "SELECT user_id FROM subscriptions WHERE paddle_subscription_id = $1",
        )
        .bind(subscription)
        .fetch_optional(db)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match custom_user {
        Some(id) => {
            sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await
        }
        None => Ok(None),
    }
}

// --- subscriptions --------------------------------------------------------------------------------

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub plan_id: String,
    pub paddle_subscription_id: Option<String>,
    pub status: String,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub next_billed_at: Option<DateTime<Utc>>,
    pub credits_included: i32,
    pub past_due_since: Option<DateTime<Utc>>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub paddle_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, user_id, plan_id, paddle_subscription_id, status,
    current_period_start, current_period_end, cancel_at_period_end, cancelled_at, paused_at,
    next_billed_at, credits_included, past_due_since, suspended_at, paddle_updated_at, created_at";

/// The subscription the account pages show: the newest live one, else the newest of any status.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn current(db: &PgPool, user: UserId) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = $1
         ORDER BY (status IN ('active', 'trialing', 'past_due', 'paused')) DESC, created_at DESC LIMIT 1"
    ))
    .bind(user)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn by_paddle_id(
    db: impl PgExecutor<'_>,
    paddle_id: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE paddle_subscription_id = $1"
    ))
    .bind(paddle_id)
    .fetch_optional(db)
    .await
}

/// SQL for the plan of a user's live, unsuspended subscription (`user` is an SQL expression):
/// what entitlements such as API access follow. A past-due subscription is live in its grace.
pub fn live_plan_sql(user: &str) -> String {
    format!(
        "SELECT s.plan_id FROM subscriptions s
          WHERE s.user_id = {user} AND s.suspended_at IS NULL
            AND s.status IN ('active', 'trialing', 'past_due')
          ORDER BY s.created_at DESC LIMIT 1"
    )
}

/// The plan of the user's live, unsuspended subscription, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn live_plan(
    db: impl PgExecutor<'_>,
    user: UserId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&live_plan_sql("$1"))
        .bind(user)
        .fetch_optional(db)
        .await
}

/// Why a user's dubbing is suspended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspension {
    /// A subscription stayed unpaid past its grace period.
    Overdue,
    /// A payment was charged back and the dispute is open.
    Disputed,
}

/// Whether the user's dubbing is suspended, and why (an open dispute first).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn suspension(
    db: impl PgExecutor<'_>,
    user: UserId,
) -> Result<Option<Suspension>, sqlx::Error> {
    let (disputed, overdue): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM billing_disputes WHERE user_id = $1 AND resolved_at IS NULL),
                EXISTS (SELECT 1 FROM subscriptions WHERE user_id = $1 AND suspended_at IS NOT NULL)",
    )
    .bind(user)
    .fetch_one(db)
    .await?;
    Ok(if disputed {
        Some(Suspension::Disputed)
    } else if overdue {
        Some(Suspension::Overdue)
    } else {
        None
    })
}

/// Opens a dispute for a chargeback (once per adjustment); returns whether it was new.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn open_dispute(
    db: impl PgExecutor<'_>,
    user: UserId,
    adjustment: &str,
    transaction: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO billing_disputes (adjustment_id, user_id, transaction_id) VALUES ($1, $2, $3)
         ON CONFLICT (adjustment_id) DO NOTHING",
    )
    .bind(adjustment)
    .bind(user)
    .bind(transaction)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Closes the open disputes of a transaction (its chargeback was reversed); returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_disputes(
    db: impl PgExecutor<'_>,
    user: UserId,
    transaction: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE billing_disputes SET resolved_at = now()
         WHERE user_id = $1 AND transaction_id = $2 AND resolved_at IS NULL",
    )
    .bind(user)
    .bind(transaction)
    .execute(db)
    .await?
    .rows_affected())
}

/// What a completed transaction charged, in minor units, as its billing history recorded it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn paid_minor_units(
    db: impl PgExecutor<'_>,
    transaction: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(f64, String)> = sqlx::query_as(
        "SELECT amount::float8, currency FROM billing_history
         WHERE paddle_transaction_id = $1 AND status = 'completed'",
    )
    .bind(transaction)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(amount, currency)| {
        let zero_decimal = matches!(currency.as_str(), "JPY" | "KRW");
        if zero_decimal {
            amount.round() as i64
        } else {
            (amount * 100.0).round() as i64
        }
    }))
}

/// What applying a subscription snapshot changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotApplied {
    /// Status before (`None`: the subscription is new to us).
    pub previous_status: Option<String>,
    pub status: String,
    /// The snapshot was older than what we hold and changed nothing.
    pub stale: bool,
    /// The snapshot started a new unpaid episode.
    pub became_past_due: bool,
}

/// Status, `paddle_updated_at` and `past_due_since` of a stored subscription.
type Before = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Applies a snapshot of `sub` taken at `as_of`, unless a newer one was applied already. The
/// plan (`plan_id`, credits) is ours for the snapshot's price; an unknown price keeps its id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn apply_snapshot(
    conn: &mut PgConnection,
    user: UserId,
    sub: &Subscription,
    as_of: DateTime<Utc>,
    plan_id: &str,
    credits_included: i64,
) -> Result<SnapshotApplied, sqlx::Error> {
    let before: Option<Before> = sqlx::query_as(
        "SELECT status, paddle_updated_at, past_due_since FROM subscriptions
         WHERE paddle_subscription_id = $1 FOR UPDATE",
    )
    .bind(&sub.id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((status, Some(stamp), _)) = &before
        && *stamp >= as_of
    {
        return Ok(SnapshotApplied {
            previous_status: Some(status.clone()),
            status: status.clone(),
            stale: true,
            became_past_due: false,
        });
    }
    let cancel_at_period_end = sub
        .scheduled_change
        .as_ref()
        .is_some_and(|c| c.action == "cancel");
    let period = sub.current_billing_period.as_ref();
    let past_due_since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO subscriptions AS s (user_id, plan_id, paddle_subscription_id, paddle_customer_id,
             paddle_price_id, status, current_period_start, current_period_end, cancel_at_period_end,
             cancelled_at, paused_at, next_billed_at, credits_included, paddle_updated_at, past_due_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 CASE WHEN $6 = 'past_due' THEN $14 END)
         ON CONFLICT (paddle_subscription_id) DO UPDATE SET
             plan_id = EXCLUDED.plan_id,
             paddle_customer_id = coalesce(EXCLUDED.paddle_customer_id, s.paddle_customer_id),
             paddle_price_id = EXCLUDED.paddle_price_id,
             status = EXCLUDED.status,
             -- Paddle clears the period of canceled and paused subscriptions; keep the last one.
             current_period_start = coalesce(EXCLUDED.current_period_start, s.current_period_start),
             current_period_end = coalesce(EXCLUDED.current_period_end, s.current_period_end),
             cancel_at_period_end = EXCLUDED.cancel_at_period_end,
             cancelled_at = EXCLUDED.cancelled_at,
             paused_at = EXCLUDED.paused_at,
             next_billed_at = EXCLUDED.next_billed_at,
             credits_included = EXCLUDED.credits_included,
             paddle_updated_at = EXCLUDED.paddle_updated_at,
             -- An unpaid episode starts at the first past-due snapshot after the last payment.
             past_due_since = CASE
                 WHEN EXCLUDED.status <> 'past_due' THEN NULL
                 WHEN s.last_paid_at IS NOT NULL AND s.last_paid_at >= EXCLUDED.paddle_updated_at THEN NULL
                 ELSE coalesce(s.past_due_since, EXCLUDED.paddle_updated_at) END,
             suspended_at = CASE WHEN EXCLUDED.status IN ('active', 'trialing') THEN NULL ELSE s.suspended_at END
         RETURNING past_due_since",
    )
    .bind(user)
    .bind(plan_id)
    .bind(&sub.id)
    .bind(sub.customer_id.as_deref())
    .bind(sub.price_id())
    .bind(&sub.status)
    .bind(period.map(|p| p.starts_at))
    .bind(period.map(|p| p.ends_at))
    .bind(cancel_at_period_end)
    .bind(sub.canceled_at)
    .bind(sub.paused_at)
    .bind(sub.next_billed_at)
    .bind(i32::try_from(credits_included).unwrap_or(i32::MAX))
    .bind(as_of)
    .fetch_one(&mut *conn)
    .await?;
    let previous_status = before.as_ref().map(|(s, _, _)| s.clone());
    let had_episode = before.as_ref().is_some_and(|(_, _, since)| since.is_some());
    Ok(SnapshotApplied {
        became_past_due: past_due_since.is_some() && !had_episode,
        previous_status,
        status: sub.status.clone(),
        stale: false,
    })
}

/// A completed payment of a subscription: ends its unpaid episode, and lifts the user's
/// suspension. Returns whether a suspension was lifted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_payment(
    conn: &mut PgConnection,
    user: UserId,
    subscription: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    if let Some(subscription) = subscription {
        sqlx::query(
            "UPDATE subscriptions SET last_paid_at = greatest(last_paid_at, $2), past_due_since = NULL
             WHERE paddle_subscription_id = $1",
        )
        .bind(subscription)
        .bind(paid_at)
        .execute(&mut *conn)
        .await?;
    }
    let lifted = sqlx::query(
        "UPDATE subscriptions SET suspended_at = NULL WHERE user_id = $1 AND suspended_at IS NOT NULL",
    )
    .bind(user)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(lifted > 0)
}

/// When the user's oldest open unpaid episode runs out, if nothing is suspended yet.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn grace_deadline(
    db: impl PgExecutor<'_>,
    user: UserId,
    grace_secs: u64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(past_due_since) + make_interval(secs => $2::float8) FROM subscriptions
         WHERE user_id = $1 AND status = 'past_due' AND past_due_since IS NOT NULL AND suspended_at IS NULL",
    )
    .bind(user)
    .bind(grace_secs as f64)
    .fetch_one(db)
    .await
}

/// Suspends the user's past-due subscriptions whose grace period has run out; returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn suspend_overdue(
    db: impl PgExecutor<'_>,
    user: UserId,
    grace_secs: u64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE subscriptions SET suspended_at = now()
         WHERE user_id = $1 AND status = 'past_due' AND suspended_at IS NULL
           AND past_due_since + make_interval(secs => $2::float8) <= now()",
    )
    .bind(user)
    .bind(grace_secs as f64)
    .execute(db)
    .await?
    .rows_affected())
}

// --- payments -------------------------------------------------------------------------------------

/// Records a transaction's outcome (`completed` or `failed`) once; returns whether it was new.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_transaction(
    db: impl PgExecutor<'_>,
    user: UserId,
    txn: &Transaction,
    status: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let currency = txn
        .currency_code
        .clone()
        .unwrap_or_else(|| "USD".into())
        .to_ascii_uppercase();
    let amount = txn
        .details
        .as_ref()
        .and_then(|d| d.amount_due())
        .and_then(|a| major_units(a, &currency))
        .unwrap_or(0.0);
    let payment_type = if txn.subscription_id.is_some() {
        "subscription"
    } else {
        "one_time"
    };
    let inserted = sqlx::query(
        "INSERT INTO billing_history (user_id, paddle_transaction_id, paddle_subscription_id,
             paddle_invoice_id, amount, currency, status, payment_type, description, period_start,
             period_end, paid_at, failure_code)
         VALUES ($1, $2, $3, $4, $5::float8::numeric(12, 2), $6, $7, $8, $9, $10, $11,
                 CASE WHEN $7 = 'completed' THEN $12 END, $13)
         ON CONFLICT (paddle_transaction_id, status) DO NOTHING",
    )
    .bind(user)
    .bind(&txn.id)
    .bind(txn.subscription_id.as_deref())
    .bind(txn.invoice_id.as_deref())
    .bind(amount)
    .bind(&currency)
    .bind(status)
    .bind(payment_type)
    .bind(match &txn.invoice_number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Payment for transaction {}", txn.id),
    })
    .bind(txn.billing_period.as_ref().map(|p| p.starts_at))
    .bind(txn.billing_period.as_ref().map(|p| p.ends_at))
    .bind(txn.billed_at.unwrap_or(at))
    .bind(txn.failure_code())
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub paddle_transaction_id: Option<String>,
    pub amount: f64,
    pub currency: String,
    pub status: String,
    pub description: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub failure_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One page of the user's payments, newest first, and how many there are in all.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn history(
    db: &PgPool,
    user: UserId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<HistoryRow>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT id, paddle_transaction_id, amount::float8 AS amount, currency::text AS currency, status,
                description, period_start, period_end, failure_code, coalesce(paid_at, created_at) AS created_at
         FROM billing_history WHERE user_id = $1
         ORDER BY coalesce(paid_at, created_at) DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM billing_history WHERE user_id = $1")
        .bind(user)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
