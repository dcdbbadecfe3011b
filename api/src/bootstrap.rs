//! Builds the shared handles (pool, storage, mailer, Temporal client) from settings, once.

use crate::state::AppState;
use crate::temporal;
use onevoice_activities::Deps;
use onevoice_shared::settings::Settings;
use onevoice_shared::storage::Storage;
use onevoice_shared::{db, mail};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long start-up waits for Temporal before giving up.
const TEMPORAL_PATIENCE: Duration = Duration::from_secs(30);

pub async fn app_state(settings: Arc<Settings>, identity: &str) -> anyhow::Result<AppState> {
    let db = db::pool(&settings.database)?;
    let storage = Storage::new(&settings.s3);
    let mailer = mail::mailer(&settings.smtp)?;
    let queue = onevoice_shared::queue::Queue::new(&settings.s3, &settings.sqs);
    let temporal = temporal::connect(&settings.temporal, identity, TEMPORAL_PATIENCE).await?;
    Ok(AppState {
        settings,
        db,
        storage,
        temporal,
        mailer,
        queue,
        started_at: Instant::now(),
    })
}

pub fn deps(state: &AppState) -> Deps {
    Deps {
        db: state.db.clone(),
        storage: state.storage.clone(),
        mailer: state.mailer.clone(),
        email_from: state.settings.smtp.from.clone(),
        frontend_url: state.settings.auth.frontend_url.to_string(),
        tools: state.settings.tools.clone(),
        queue: state.queue.clone(),
        publish_url: state
            .settings
            .sqs
            .publish_url
            .as_ref()
            .map(|u| u.to_string()),
    }
}
