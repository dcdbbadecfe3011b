//! Periodic cleanup, run by `MaintenanceWorkflow`.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{CleanupReport, MaintenanceInput, activity, upload_key};
use onevoice_shared::repo::{auth_tokens, pending, rate_limits, videos};
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
        input: MaintenanceInput,
    ) -> Result<CleanupReport, ActivityError> {
        let db = &self.deps.db;
        let err = |e: sqlx::Error| error::transient(format!("database error: {e}"));
        let cutoff =
            chrono::Utc::now() - chrono::Duration::seconds(input.abandon_upload_secs as i64);
        let mut abandoned_uploads = 0;
        for (video, user) in videos::abandoned(db, cutoff).await.map_err(err)? {
            // Multipart uploads hold parts invisible to listing until aborted.
            let uploads: Vec<(String, String)> = sqlx::query_as(
                "SELECT s3_key, upload_id FROM media_files WHERE video_id = $1 AND upload_id IS NOT NULL",
            )
            .bind(video)
            .fetch_all(db)
            .await
            .map_err(err)?;
            for (key, upload_id) in uploads {
                // Uploads go to the upload key; ones begun before that, to the original's.
                let storage = &self.deps.storage;
                if storage
                    .abort_multipart(&upload_key(&key), &upload_id)
                    .await
                    .is_err()
                {
                    storage
                        .abort_multipart(&key, &upload_id)
                        .await
                        .map_err(error::storage)?;
                }
            }
            self.deps
                .storage
                .delete_prefix(&format!("videos/{user}/{video}/"))
                .await
                .map_err(error::storage)?;
            sqlx::query("DELETE FROM videos WHERE id = $1 AND status = 'pending'")
                .bind(video)
                .execute(db)
                .await
                .map_err(err)?;
            abandoned_uploads += 1;
        }
        let report = CleanupReport {
            expired_signups: pending::delete_expired(db).await.map_err(err)?,
            stale_tokens: auth_tokens::delete_stale(db).await.map_err(err)?,
            old_rate_limits: rate_limits::delete_old(db).await.map_err(err)?,
            abandoned_uploads,
        };
        if report != CleanupReport::default() {
            tracing::info!(?report, "cleanup");
        }
        Ok(report)
    }
}
