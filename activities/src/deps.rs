use onevoice_shared::settings::ToolSettings;
use onevoice_shared::storage::Storage;
use sqlx::PgPool;

/// What activities need from the outside world, built once by the worker.
#[derive(Clone, Debug)]
pub struct Deps {
    pub db: PgPool,
    pub storage: Storage,
    pub tools: ToolSettings,
}
