use onevoice_shared::mail::Mailer;
use onevoice_shared::settings::Settings;
use onevoice_shared::storage::Storage;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;
use temporalio_client::Client;

/// Everything a request handler may use; cheap to clone (every field is a handle).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub storage: Storage,
    pub temporal: Client,
    pub mailer: Mailer,
    pub queue: onevoice_shared::queue::Queue,
    /// The Paddle API; `None` when billing is not configured.
    pub paddle: Option<onevoice_shared::paddle::PaddleClient>,
    /// Password hashing, bounded (`PASSWORD_HASH_CONCURRENCY`).
    pub passwords: crate::auth::password::Passwords,
    pub started_at: Instant,
    /// The last checks of `/health/detailed`, reused for `HEALTH_CACHE_SECS`.
    pub health: crate::services::health::ChecksCache,
    /// The voice previews last seen in S3.
    pub previews: crate::services::voices::PreviewCache,
}
