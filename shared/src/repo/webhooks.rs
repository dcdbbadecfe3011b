//! Webhook endpoints, the events written for them, and their deliveries and attempts.

use crate::ids::{JobId, UserId, VideoId};
use crate::webhook::EventType;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// An endpoint as its owner sees it (never the secrets).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, url, description, events, enabled, disabled_reason,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at,
    last_success_at, created_at, updated_at";

pub struct NewEndpoint<'a> {
    pub user: UserId,
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a [String],
    pub secret: &'a str,
}

/// Stores an endpoint unless the user already has `max` (then `None`); the user's row is locked
/// for the count.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    db: &PgPool,
    e: NewEndpoint<'_>,
    max: i64,
) -> Result<Option<Endpoint>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(e.user)
        .execute(&mut *tx)
        .await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE user_id = $1")
            .bind(e.user)
            .fetch_one(&mut *tx)
            .await?;
    if count >= max {
        return Ok(None);
    }
    let row = sqlx::query_as(&format!(
        "INSERT INTO webhook_endpoints (user_id, url, description, events, secret)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(e.user)
    .bind(e.url)
    .bind(e.description)
    .bind(e.events)
    .bind(e.secret)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &PgPool, user: UserId) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE user_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(user)
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(db: &PgPool, user: UserId, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// What may change on an endpoint; `None` keeps the value. Enabling clears the reason it was
/// disabled.
#[derive(Default)]
pub struct Change<'a> {
    pub url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub events: Option<&'a [String]>,
    pub enabled: Option<bool>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    db: &PgPool,
    user: UserId,
    id: Uuid,
    c: Change<'_>,
) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhook_endpoints SET url = coalesce($3, url),
            description = coalesce($4, description), events = coalesce($5, events),
            enabled = coalesce($6, enabled),
            disabled_reason = CASE WHEN $6 THEN NULL WHEN $6 = false THEN 'disabled by you'
                                   ELSE disabled_reason END,
            updated_at = now()
         WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user)
    .bind(c.url)
    .bind(c.description)
    .bind(c.events)
    .bind(c.enabled)
    .fetch_optional(db)
    .await
}

/// Replaces the secret; the old one keeps signing until `overlap_secs` from now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate_secret(
    db: &PgPool,
    user: UserId,
    id: Uuid,
    secret: &str,
    overlap_secs: i64,
) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
            previous_secret_expires_at = now() + make_interval(secs => $4), updated_at = now()
         WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user)
    .bind(secret)
    .bind(overlap_secs as f64)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &PgPool, user: UserId, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What an event is about: a job (its counter numbers the event) or a video.
#[derive(Clone, Copy, Debug)]
pub enum Subject {
    Job { job: JobId, video: Option<VideoId> },
    Video(VideoId),
}

/// An event to record, with its cause's key (`job:<id>:r0:started`, …): written once per key.
pub struct NewEvent<'a> {
    pub user: UserId,
    pub event_type: EventType,
    pub subject: Subject,
    pub dedupe_key: &'a str,
    pub data: serde_json::Value,
}

/// Records an event in the caller's transaction and queues one delivery per enabled endpoint of
/// the user subscribed to its type; a job's event takes the job's next sequence number. Nothing
/// is written when no endpoint wants it (but the job's counter still moves, so numbers stay in
/// the order of the job's life). Returns the event's id when one was written.
#[tracing::instrument(level = "debug", skip_all, fields(event = e.event_type.as_str()))]
pub async fn emit(conn: &mut PgConnection, e: NewEvent<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbound_events WHERE dedupe_key = $1)")
            .bind(e.dedupe_key)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(None);
    }
    let (job, video, sequence) = match e.subject {
        Subject::Job { job, video } => {
            let seq: Option<i64> = sqlx::query_scalar(
                "UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
            )
            .bind(job)
            .fetch_optional(&mut *conn)
            .await?;
            (Some(job), video, seq.unwrap_or(1))
        }
        // A video has one event (it became ready).
        Subject::Video(video) => (None, Some(video), 1),
    };
    let wanted: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints
                        WHERE user_id = $1 AND enabled AND $2 = ANY (events))",
    )
    .bind(e.user)
    .bind(e.event_type.as_str())
    .fetch_one(&mut *conn)
    .await?;
    if !wanted {
        return Ok(None);
    }
    let id = Uuid::new_v4();
    let body = serde_json::json!({
        "id": id,
        "type": e.event_type.as_str(),
        "created_at": Utc::now(),
        "sequence": sequence,
        "data": e.data,
    })
    .to_string();
    sqlx::query(
        "INSERT INTO outbound_events (id, user_id, event_type, job_id, video_id, sequence, body, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(e.user)
    .bind(e.event_type.as_str())
    .bind(job)
    .bind(video)
    .bind(sequence)
    .bind(&body)
    .bind(e.dedupe_key)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id)
         SELECT id, $3 FROM webhook_endpoints WHERE user_id = $1 AND enabled AND $2 = ANY (events)",
    )
    .bind(e.user)
    .bind(e.event_type.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(DELIVERIES_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(Some(id))
}

/// Notified (on commit) when deliveries are queued, so the relay need not wait for its poll.
pub const DELIVERIES_CHANNEL: &str = "webhook_deliveries";

/// Takes up to `limit` deliveries whose workflow has not been started, locked for the caller's
/// transaction (other relays skip them).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn undispatched(conn: &mut PgConnection, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE dispatched_at IS NULL
         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mark_dispatched(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET dispatched_at = now() WHERE id = ANY ($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Everything an attempt needs: where, what, and with which secrets.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Outgoing {
    pub id: Uuid,
    pub status: String,
    pub endpoint_id: Uuid,
    pub user_id: UserId,
    pub url: String,
    pub enabled: bool,
    pub secret: String,
    /// The previous secret while its overlap lasts.
    pub previous_secret: Option<String>,
    pub event_type: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn outgoing(db: &PgPool, delivery: Uuid) -> Result<Option<Outgoing>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.status, e.id AS endpoint_id, e.user_id, e.url, e.enabled, e.secret,
                CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
                    AS previous_secret,
                ev.event_type, ev.body, d.created_at, e.last_success_at
         FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         JOIN outbound_events ev ON ev.id = d.event_id
         WHERE d.id = $1",
    )
    .bind(delivery)
    .fetch_optional(db)
    .await
}

/// How one attempt went.
pub struct Attempt<'a> {
    pub number: i32,
    pub response_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<&'a str>,
}

/// Logs an attempt; a 2xx marks the delivery delivered and the endpoint healthy.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record_attempt(
    db: &PgPool,
    delivery: Uuid,
    a: Attempt<'_>,
    delivered: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, response_code, latency_ms, error)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(delivery)
    .bind(a.number)
    .bind(a.response_code)
    .bind(a.latency_ms)
    .bind(a.error)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = greatest(attempts, $2), response_code = $3,
            latency_ms = $4, last_error = $5,
            status = CASE WHEN $6 THEN 'delivered' ELSE status END,
            finished_at = CASE WHEN $6 THEN now() ELSE finished_at END
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(delivery)
    .bind(a.number)
    .bind(a.response_code)
    .bind(a.latency_ms)
    .bind(a.error)
    .bind(delivered)
    .execute(&mut *tx)
    .await?;
    if delivered {
        sqlx::query(
            "UPDATE webhook_endpoints SET last_success_at = now()
             WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1)",
        )
        .bind(delivery)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Ends a delivery without success: `failed` (out of retries) or `cancelled` (its endpoint was
/// disabled meanwhile). Returns whether this call ended it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn end(
    db: impl PgExecutor<'_>,
    delivery: Uuid,
    status: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, finished_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(delivery)
    .bind(status)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Disables an endpoint with the reason; returns whether it was enabled until now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn disable(
    db: impl PgExecutor<'_>,
    endpoint: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND enabled",
    )
    .bind(endpoint)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A delivery in the endpoint's log.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub sequence: i64,
    pub job_id: Option<Uuid>,
    pub redelivery_of: Option<Uuid>,
    pub status: String,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt in the log.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub response_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// The endpoint's newest `limit` deliveries, newest first, and their attempts.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn deliveries(
    db: &PgPool,
    endpoint: Uuid,
    limit: i64,
) -> Result<(Vec<Delivery>, Vec<AttemptRow>), sqlx::Error> {
    let deliveries: Vec<Delivery> = sqlx::query_as(
        "SELECT d.id, d.event_id, ev.event_type, ev.sequence, ev.job_id, d.redelivery_of, d.status,
                d.attempts, d.response_code, d.latency_ms, d.last_error, d.created_at, d.finished_at
         FROM webhook_deliveries d JOIN outbound_events ev ON ev.id = d.event_id
         WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = sqlx::query_as(
        "SELECT delivery_id, attempt, at, response_code, latency_ms, error FROM webhook_attempts
         WHERE delivery_id = ANY ($1) ORDER BY delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    Ok((deliveries, attempts))
}

/// Queues the event of a delivery of this endpoint again, as a new delivery; `None` when the
/// delivery is not the endpoint's.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn redeliver(
    db: &PgPool,
    endpoint: Uuid,
    delivery: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, redelivery_of)
         SELECT endpoint_id, event_id, id FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2
         RETURNING id",
    )
    .bind(delivery)
    .bind(endpoint)
    .fetch_optional(&mut *tx)
    .await?;
    if id.is_some() {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(DELIVERIES_CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Deliveries of the endpoint not finished yet.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn pending_count(db: &PgPool, endpoint: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(endpoint)
    .fetch_one(db)
    .await
}
