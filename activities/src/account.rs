//! Erasure of a deleted account: every stored object, then the personal data in the database.

use crate::deps::Deps;
use crate::error;
use crate::voice::clones;
use onevoice_shared::contracts::{EraseAccountInput, ErasureReport, activity};
use onevoice_shared::keys::{self, JobKeys};
use onevoice_shared::repo::{cloned_voices, emails, jobs, users};
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
        let user = input.user_id;
        // Every voice cloned for the user, saved or not, is deleted at its provider (or left
        // asked for, for the maintenance loop; the rows outlive the user row until then).
        cloned_voices::request_delete_of_user(&d.db, user)
            .await
            .map_err(error::db)?;
        clones::delete_doomed(d, &clones::client(d)).await?;
        let jobs = jobs::ids_of_user(&d.db, user).await.map_err(error::db)?;
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
        let mut tx = d.db.begin().await.map_err(error::db)?;
        emails::delete_of_user(&mut *tx, user)
            .await
            .map_err(error::db)?;
        users::delete_erased(&mut *tx, user)
            .await
            .map_err(error::db)?;
        tx.commit().await.map_err(error::db)?;
        tracing::info!(%user, objects_deleted, "account erased");
        Ok(ErasureReport { objects_deleted })
    }
}
