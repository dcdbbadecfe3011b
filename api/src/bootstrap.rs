//! Builds the shared handles (pool, storage, mailer, Temporal client) from settings, once.

use crate::auth::password::Passwords;
use crate::state::AppState;
use crate::temporal;
use onevoice_activities::Deps;
use onevoice_shared::paddle::PaddleClient;
use onevoice_shared::settings::Settings;
use onevoice_shared::storage::{FileCache, Storage};
use onevoice_shared::{db, mail};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `role pid@host`, the form Temporal's own SDKs use after the role.
fn process_identity(role: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{role} {}@{host}", std::process::id())
}

/// How long start-up waits for Temporal before giving up.
const TEMPORAL_PATIENCE: Duration = Duration::from_secs(30);

/// `role` names the process kind; the Temporal identity adds its pid and host, so the Web UI
/// tells which of several workers ran an activity.
pub async fn app_state(settings: Arc<Settings>, role: &str) -> anyhow::Result<AppState> {
    let identity = &process_identity(role);
    let db = db::pool(&settings.database)?;
    let storage = Storage::new(&settings.s3);
    let mailer = mail::mailer(&settings.smtp)?;
    let queue = onevoice_shared::queue::Queue::new(&settings.s3, &settings.sqs);
    let temporal = temporal::connect(&settings.temporal, identity, TEMPORAL_PATIENCE).await?;
    let paddle = match &settings.billing.paddle {
        Some(p) => Some(PaddleClient::new(
            p.api_url.clone(),
            p.api_key.clone(),
            p.timeout,
        )?),
        None => None,
    };
    Ok(AppState {
        paddle,
        passwords: Passwords::new(settings.auth.password_hash_concurrency)
            .await
            .map_err(|e| anyhow::anyhow!("password hashing: {e}"))?,
        settings,
        db,
        storage,
        temporal,
        mailer,
        queue,
        started_at: Instant::now(),
        health: Default::default(),
        previews: Default::default(),
    })
}

/// The worker's own clients. They are separate from the API's because the worker runs on its own
/// runtime: a pooled connection belongs to the runtime that opened it, and must not outlive it
/// inside a pool the API keeps using (stopping the worker would leave the API dead connections).
pub fn deps(state: &AppState) -> anyhow::Result<Deps> {
    let settings = &state.settings;
    Ok(Deps {
        db: db::pool(&settings.database)?,
        storage: worker_storage(settings),
        mailer: mail::mailer(&settings.smtp)?,
        email_from: settings.smtp.from.clone(),
        frontend_url: settings.auth.frontend_url.to_string(),
        tools: settings.tools.clone(),
        queue: onevoice_shared::queue::Queue::new(&settings.s3, &settings.sqs),
        publish_url: settings.sqs.publish_url.as_ref().map(|u| u.to_string()),
        plans: settings.billing.catalog.clone(),
        audio: settings.audio.clone(),
        speech: settings.speech.clone(),
        text: settings.text.clone(),
        stranded_after: settings
            .sqs
            .stranded_after(settings.temporal.stranded_grace),
        outbound: settings.outbound.clone(),
        webhooks: settings.webhooks.clone(),
        max_upload_bytes: settings.uploads.max_bytes,
    })
}

/// The worker's storage, with its local copies of what it uploaded when there is room for them.
fn worker_storage(settings: &Settings) -> Storage {
    let storage = Storage::new(&settings.s3);
    let tools = &settings.tools;
    if tools.file_cache_bytes == 0 {
        return storage;
    }
    match FileCache::open(&tools.work_dir.join("cache"), tools.file_cache_bytes) {
        Ok(cache) => storage.with_cache(cache),
        Err(e) => {
            tracing::warn!(error = %e, "file cache unavailable; every download goes to S3");
            storage
        }
    }
}
