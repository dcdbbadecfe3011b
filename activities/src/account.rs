//! Erasure of a deleted account: every stored object, then the personal data in the database.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{EraseAccountInput, ErasureReport, activity};
use onevoice_shared::ids::JobId;
use onevoice_shared::keys::{self, JobKeys};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct AccountActivities {
    deps: Deps,
}

impl AccountActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl AccountActivities {
    /// Idempotent: a retry finds fewer objects and rows, and ends the same way.
    #[activity(name = activity::ERASE_ACCOUNT)]
    pub async fn erase_account(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: EraseAccountInput,
    ) -> Result<ErasureReport, ActivityError> {
        let d = &self.deps;
        let db_err = |e: sqlx::Error| error::transient(format!("database error: {e}"));
        let user = input.user_id;
        let jobs: Vec<JobId> = sqlx::query_scalar("SELECT id FROM jobs WHERE user_id = $1")
            .bind(user)
            .fetch_all(&d.db)
            .await
            .map_err(db_err)?;
        let mut prefixes = keys::user_prefixes(user).to_vec();
        prefixes.extend(jobs.into_iter().map(|job| JobKeys(job).prefix()));
        let mut objects_deleted = 0;
        for prefix in prefixes {
            objects_deleted += d
                .storage
                .delete_prefix(&prefix)
                .await
                .map_err(error::storage)? as u64;
            let _ = ctx.record_heartbeat(objects_deleted).await;
        }
        // The user row goes last: its cascade removes videos, jobs, sessions, tokens and activity.
        // Emails keep no address of a deleted user.
        let mut tx = d.db.begin().await.map_err(db_err)?;
        sqlx::query("DELETE FROM emails WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM users WHERE id = $1 AND deleted_at IS NOT NULL")
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(%user, objects_deleted, "account erased");
        Ok(ErasureReport { objects_deleted })
    }
}
