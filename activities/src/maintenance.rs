//! Periodic cleanup, run by `MaintenanceWorkflow`.

use crate::deps::Deps;
use crate::error;
use crate::voice::clones;
use onevoice_shared::contracts::{CleanupReport, MaintenanceInput, activity, dubbing_workflow_id};
use onevoice_shared::keys::{self, VideoKeys};
use onevoice_shared::repo::{
    auth_tokens, cloned_voices, jobs, media, pending, rate_limits, videos,
};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct MaintenanceActivities {
    deps: Deps,
    http: reqwest::Client,
}

impl MaintenanceActivities {
    pub fn new(deps: Deps) -> Self {
        let http = clones::client(&deps);
        Self { deps, http }
    }
}

/// What a stranded job's user reads.
const STRANDED: &str = "the job could not be started; its credits were released, start it again";

impl MaintenanceActivities {
    /// Jobs committed whose workflow never started (a crash between the commit and the start, a
    /// failed start or resume): still `pending` after the grace period with no running workflow.
    /// Each is failed and its hold released, once (the row must still be `pending`).
    async fn fail_stranded_jobs(&self, ctx: &ActivityContext) -> Result<u64, ActivityError> {
        use temporalio_client::errors::WorkflowInteractionError;
        use temporalio_client::{
            UntypedWorkflow, WorkflowDescribeOptions, WorkflowExecutionStatus,
        };
        let db = &self.deps.db;
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(self.deps.stranded_after).unwrap_or_default();
        let client = ctx.client();
        let mut failed = 0;
        for job in jobs::pending_since(db, cutoff).await.map_err(error::db)? {
            let handle = client.get_workflow_handle::<UntypedWorkflow>(dubbing_workflow_id(job.id));
            let running = match handle.describe(WorkflowDescribeOptions::default()).await {
                Ok(d) => d.status() == WorkflowExecutionStatus::Running,
                Err(WorkflowInteractionError::NotFound(_)) => false,
                Err(e) => {
                    return Err(error::transient(format!(
                        "describing a job's workflow: {e}"
                    )));
                }
            };
            if !running
                && jobs::fail_unstarted(db, &job, STRANDED)
                    .await
                    .map_err(error::db)?
            {
                tracing::warn!(job = %job.id, "stranded job failed, its hold released");
                failed += 1;
            }
        }
        Ok(failed)
    }
}

impl MaintenanceActivities {
    /// Unsaved clones past their retention are asked to be deleted; every voice asked to be
    /// deleted (by this, a user or a video's deletion that could not reach the provider) goes.
    async fn delete_cloned_voices(&self) -> Result<u64, ActivityError> {
        let d = &self.deps;
        cloned_voices::request_delete_expired(&d.db)
            .await
            .map_err(error::db)?;
        clones::delete_doomed(d, &self.http).await
    }
}

#[activities]
impl MaintenanceActivities {
    #[activity(name = activity::CLEANUP)]
    pub async fn cleanup(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: MaintenanceInput,
    ) -> Result<CleanupReport, ActivityError> {
        let db = &self.deps.db;
        let cutoff =
            chrono::Utc::now() - chrono::Duration::seconds(input.abandon_upload_secs as i64);
        let mut abandoned_uploads = 0;
        for (video, user) in videos::abandoned(db, cutoff).await.map_err(error::db)? {
            // Multipart uploads hold parts invisible to listing until aborted.
            let uploads = media::open_uploads(db, video).await.map_err(error::db)?;
            for (key, upload_id) in uploads {
                // Uploads go to the upload key; ones begun before that, to the original's.
                let storage = &self.deps.storage;
                if storage
                    .abort_multipart(&keys::upload_of(&key), &upload_id)
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
                .delete_prefix(&VideoKeys::new(user, video).prefix())
                .await
                .map_err(error::storage)?;
            videos::delete_if_pending(db, video)
                .await
                .map_err(error::db)?;
            abandoned_uploads += 1;
        }
        let report = CleanupReport {
            expired_signups: pending::delete_expired(db).await.map_err(error::db)?,
            stale_tokens: auth_tokens::delete_stale(db).await.map_err(error::db)?,
            old_rate_limits: rate_limits::delete_old(db).await.map_err(error::db)?,
            abandoned_uploads,
            stranded_jobs: self.fail_stranded_jobs(&ctx).await?,
            cloned_voices_deleted: self.delete_cloned_voices().await?,
        };
        if report != CleanupReport::default() {
            tracing::info!(?report, "cleanup");
        }
        Ok(report)
    }
}
