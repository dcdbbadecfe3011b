//! `onevoice sqs-bridge`: consumes the legacy queue and turns each valid `DUBBING_JOB` message into
//! its `DubbingWorkflow` (`dub-{jobId}`).
//!
//! A message is deleted only after the workflow start is durable (Temporal accepted it), so a
//! crash before the delete means a redelivery, and a redelivered or duplicated message starts
//! nothing new: the workflow id is the job id, and a job that is no longer `pending` is skipped.
//! Unprocessable messages go to the dead-letter queue with the reason. Visibility is extended
//! while a message is being handled; errors back off; shutdown finishes the message in hand.

use crate::state::AppState;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use onevoice_shared::legacy::{self, Invalid};
use onevoice_shared::repo::jobs;
use onevoice_shared::status::JobStatus;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the bridge has done since it started (logged periodically and at shutdown).
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub started: AtomicU64,
    pub skipped: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> [(&'static str, u64); 5] {
        [
            ("received", self.received.load(Ordering::Relaxed)),
            ("started", self.started.load(Ordering::Relaxed)),
            ("skipped", self.skipped.load(Ordering::Relaxed)),
            ("dead_lettered", self.dead_lettered.load(Ordering::Relaxed)),
            ("errors", self.errors.load(Ordering::Relaxed)),
        ]
    }
}

/// How one message was handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The job's workflow was started (or already running): delete the message.
    Started,
    /// Nothing to do (a lifecycle message, or a job already past `pending`): delete it.
    Skipped(String),
    /// Not processable: move it to the dead-letter queue with the reason.
    DeadLetter(String),
}

/// Decides and performs what a message asks for. Errors are transient (the message stays and
/// comes back after its visibility timeout).
pub async fn process_message(state: &AppState, message: &Message) -> anyhow::Result<Outcome> {
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .map(str::to_string)
    };
    let parsed = match legacy::parse(message.body().unwrap_or_default(), attribute) {
        Ok(m) => m,
        Err(e @ (Invalid::Malformed(_) | Invalid::UnknownType(_) | Invalid::BadField(_))) => {
            return Ok(Outcome::DeadLetter(e.to_string()));
        }
    };
    if parsed.message_type != legacy::DUBBING_JOB {
        return Ok(Outcome::Skipped(format!(
            "{} is a lifecycle message",
            parsed.message_type
        )));
    }
    let Some(job) = jobs::get(&state.db, parsed.job_id).await? else {
        return Ok(Outcome::DeadLetter(format!(
            "unknown job {}",
            parsed.job_id
        )));
    };
    if job.user_id != parsed.user_id || job.video_id != Some(parsed.video_id) {
        return Ok(Outcome::DeadLetter(format!(
            "job {} does not belong to that user and video",
            parsed.job_id
        )));
    }
    if job.status != JobStatus::Pending {
        return Ok(Outcome::Skipped(format!(
            "job {} is {}",
            job.id, job.status
        )));
    }
    crate::services::dubs::start_queued(state, &job, parsed.video_id)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the queued job: {e}"))?;
    Ok(Outcome::Started)
}

/// Consumes until `shutdown` resolves.
pub async fn run(
    state: AppState,
    counters: &Counters,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let sqs = &state.settings.sqs;
    let queue_url = sqs
        .queue_url
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("SQS_QUEUE_URL is not set"))?
        .to_string();
    let dlq_url = sqs.dlq_url.as_ref().map(|u| u.to_string());
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(200);
    let mut last_report = tokio::time::Instant::now();
    tracing::info!(queue = %queue_url, "sqs bridge consuming");
    loop {
        let batch = tokio::select! {
            _ = &mut shutdown => break,
            batch = state.queue.receive(&queue_url, 10, sqs.wait_secs, visibility(&state)) => batch,
        };
        let messages = match batch {
            Ok(m) => {
                backoff = Duration::from_millis(200);
                m
            }
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, ?backoff, "receive failed; backing off");
                tokio::select! { _ = &mut shutdown => break, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        for message in messages {
            counters.received.fetch_add(1, Ordering::Relaxed);
            handle(&state, counters, &queue_url, dlq_url.as_deref(), &message).await;
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            tracing::info!(counters = ?counters.snapshot(), "sqs bridge");
            last_report = tokio::time::Instant::now();
        }
    }
    tracing::info!(counters = ?counters.snapshot(), "sqs bridge stopped");
    Ok(())
}

/// The visibility timeout messages are received with and extended by (`SQS_VISIBILITY_TIMEOUT`,
/// at least 2 s so the extension at half of it has time to land).
fn visibility(state: &AppState) -> i32 {
    state.settings.sqs.visibility_secs.max(2)
}

async fn handle(
    state: &AppState,
    counters: &Counters,
    queue_url: &str,
    dlq_url: Option<&str>,
    message: &Message,
) {
    let Some(receipt) = message.receipt_handle() else {
        return;
    };
    let visibility = visibility(state);
    // Keeps the message invisible while it is being handled, however long that takes: extended
    // at half of the timeout it was received with (waiting longer would let it reappear first).
    let keep_alive = async {
        loop {
            tokio::time::sleep(Duration::from_millis(visibility as u64 * 500)).await;
            if let Err(e) = state.queue.extend(queue_url, receipt, visibility).await {
                tracing::warn!(error = %e, "cannot extend visibility");
            }
        }
    };
    let outcome = tokio::select! {
        outcome = process_message(state, message) => outcome,
        _ = keep_alive => unreachable!("the keep-alive loop never ends"),
    };
    let result = match outcome {
        Ok(Outcome::Started) => {
            counters.started.fetch_add(1, Ordering::Relaxed);
            state
                .queue
                .delete(queue_url, receipt)
                .await
                .map_err(anyhow::Error::from)
        }
        Ok(Outcome::Skipped(why)) => {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%why, "message skipped");
            state
                .queue
                .delete(queue_url, receipt)
                .await
                .map_err(anyhow::Error::from)
        }
        Ok(Outcome::DeadLetter(reason)) => {
            counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "message dead-lettered");
            match dlq_url {
                Some(dlq) => match state.queue.dead_letter(dlq, message, &reason).await {
                    Ok(()) => state
                        .queue
                        .delete(queue_url, receipt)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e.into()),
                },
                // Without a dead-letter queue the message stays for the queue's own redrive policy.
                None => Ok(()),
            }
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        let receives = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .cloned()
            .unwrap_or_default();
        tracing::warn!(
            error = format!("{e:#}"),
            receives,
            "message left for redelivery"
        );
    }
}
