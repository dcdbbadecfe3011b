//! Periodic cleanup, run by `MaintenanceWorkflow`.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{CleanupReport, MaintenanceInput, activity};
use onevoice_shared::repo::{auth_tokens, pending, rate_limits};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct MaintenanceActivities {
    deps: Deps,
}

impl MaintenanceActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl MaintenanceActivities {
    #[activity(name = activity::CLEANUP)]
    pub async fn cleanup(
        self: Arc<Self>,
        _ctx: ActivityContext,
        _input: MaintenanceInput,
    ) -> Result<CleanupReport, ActivityError> {
        let db = &self.deps.db;
        let err = |e: sqlx::Error| error::transient(format!("database error: {e}"));
        let report = CleanupReport {
            expired_signups: pending::delete_expired(db).await.map_err(err)?,
            stale_tokens: auth_tokens::delete_stale(db).await.map_err(err)?,
            old_rate_limits: rate_limits::delete_old(db).await.map_err(err)?,
        };
        if report != CleanupReport::default() {
            tracing::info!(?report, "cleanup");
        }
        Ok(report)
    }
}
