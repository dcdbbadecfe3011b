//! The webhook relay: starts a `WebhookDeliveryWorkflow` for every delivery queued in the
//! database (the transactional outbox of webhooks). Events and their deliveries are written in the
//! transaction of the change they report, so none is lost when a process dies; this loop, in
//! every worker process, turns them into workflows. Rows are claimed with `SKIP LOCKED`, and the
//! workflow id is the delivery's, so several relays never deliver one twice.
//!
//! It wakes on the `NOTIFY` sent when deliveries are queued and polls every few seconds anyway
//! (a notification is lost while the listener reconnects).

use onevoice_shared::contracts::DeliverWebhookInput;
use onevoice_shared::repo::webhooks;
use onevoice_shared::settings::WebhookSettings;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use temporalio_client::Client;

/// Deliveries started per round.
const BATCH: i64 = 100;
/// The longest a queued delivery waits when a notification was missed.
const POLL: Duration = Duration::from_secs(3);

pub async fn run(db: PgPool, client: Client, task_queue: String, settings: WebhookSettings) {
    let mut listener = listen(&db).await;
    loop {
        match dispatch(&db, &client, &task_queue, &settings).await {
            // A full batch: there may be more; go again at once.
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "webhook relay round failed"),
        }
        match listener.as_mut() {
            Some(l) => match tokio::time::timeout(POLL, l.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "webhook relay lost its listener");
                    listener = None;
                }
            },
            None => {
                tokio::time::sleep(POLL).await;
                listener = listen(&db).await;
            }
        }
    }
}

async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(db).await.ok()?;
    listener
        .listen(webhooks::DELIVERIES_CHANNEL)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "webhook relay cannot listen"))
        .ok()?;
    Some(listener)
}

/// One round: claims queued deliveries, starts their workflows, marks them dispatched. A start
/// that fails leaves its delivery queued for the next round.
async fn dispatch(
    db: &PgPool,
    client: &Client,
    task_queue: &str,
    settings: &WebhookSettings,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let queued = webhooks::undispatched(&mut tx, BATCH).await?;
    let mut started = Vec::with_capacity(queued.len());
    for delivery_id in queued {
        let input = DeliverWebhookInput {
            delivery_id,
            retry_window_secs: settings.retry_window.as_secs(),
            first_retry_ms: settings.first_retry.as_millis() as u64,
            max_retry_interval_secs: settings.max_retry_interval.as_secs(),
            timeout_secs: settings.timeout.as_secs(),
        };
        match crate::temporal::deliver_webhook(client, task_queue, input).await {
            Ok(()) => started.push(delivery_id),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), delivery = %delivery_id, "cannot start a webhook delivery");
                break;
            }
        }
    }
    webhooks::mark_dispatched(&mut tx, &started).await?;
    tx.commit().await?;
    Ok(started.len())
}
