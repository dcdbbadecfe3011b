//! The Temporal worker: registers the workflows and activities and polls the task queue.
//!
//! `Worker::run` is `!Send`, so the worker gets its own thread with a current-thread runtime; the
//! API keeps the multi-threaded one. [`WorkerHandle::stop`] drains it within the grace period.

use onevoice_activities::{
    AccountActivities, AudioActivities, BillingActivities, BridgeActivities, Deps, JobActivities,
    MaintenanceActivities, MediaActivities, NotifyActivities, SpeakerActivities, SpeechActivities,
    TextActivities, VideoActivities, VoiceActivities, WebhookActivities,
};
use onevoice_workflows::{
    AccountErasureWorkflow, BillingWorkflow, DubbingWorkflow, EmailWorkflow, ExportWorkflow,
    MaintenanceWorkflow, RerenderWorkflow, ThumbnailWorkflow, VideoDeletionWorkflow,
    VideoIngestWorkflow, WebhookDeliveryWorkflow,
};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use temporalio_client::Client;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

pub struct WorkerConfig {
    pub task_queue: String,
    pub max_concurrent_activities: usize,
    pub graceful_shutdown: Duration,
}

pub struct WorkerHandle {
    stop: Box<dyn Fn() + Send>,
    thread: JoinHandle<anyhow::Result<()>>,
}

impl WorkerHandle {
    /// Asks the worker to stop without waiting (for use where nothing can be awaited, e.g. `Drop`).
    pub fn signal_stop(&self) {
        (self.stop)();
    }

    /// Asks the worker to stop taking tasks and waits for it to drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        (self.stop)();
        tokio::task::spawn_blocking(move || self.thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("worker thread panicked"))?
    }
}

pub fn spawn(client: Client, deps: Deps, config: WorkerConfig) -> anyhow::Result<WorkerHandle> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("temporal-worker".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let result = async {
                    let runtime = Runtime::from_current_tokio(Default::default())?;
                    let tuner = TunerHolder::builder()
                        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(50))
                        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(
                            config.max_concurrent_activities.max(1),
                        ))
                        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(10))
                        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                        .build();
                    let options = WorkerOptions::new(config.task_queue.clone())
                        .register_activities(MediaActivities::new(deps.clone()))
                        .register_activities(TextActivities::new(deps.clone()))
                        .register_activities(VoiceActivities::new(deps.clone()))
                        .register_activities(AudioActivities::new(deps.clone()))
                        .register_activities(JobActivities::new(deps.clone()))
                        .register_activities(NotifyActivities::new(deps.clone()))
                        .register_activities(MaintenanceActivities::new(deps.clone()))
                        .register_activities(AccountActivities::new(deps.clone()))
                        .register_activities(VideoActivities::new(deps.clone()))
                        .register_activities(BridgeActivities::new(deps.clone()))
                        .register_activities(BillingActivities::new(deps.clone()))
                        .register_activities(SpeechActivities::new(deps.clone()))
                        .register_activities(SpeakerActivities::new(deps.clone()))
                        .register_activities(WebhookActivities::new(deps.clone()))
                        .register_workflow::<DubbingWorkflow>()?
                        .register_workflow::<RerenderWorkflow>()?
                        .register_workflow::<ExportWorkflow>()?
                        .register_workflow::<BillingWorkflow>()?
                        .register_workflow::<EmailWorkflow>()?
                        .register_workflow::<MaintenanceWorkflow>()?
                        .register_workflow::<AccountErasureWorkflow>()?
                        .register_workflow::<VideoIngestWorkflow>()?
                        .register_workflow::<ThumbnailWorkflow>()?
                        .register_workflow::<VideoDeletionWorkflow>()?
                        .register_workflow::<WebhookDeliveryWorkflow>()?
                        .tuner(tuner)
                        .graceful_shutdown_period(config.graceful_shutdown)
                        .build();
                    // The webhook relay lives with the worker: it dies with this runtime.
                    tokio::spawn(crate::webhook_relay::run(
                        deps.db.clone(),
                        client.clone(),
                        config.task_queue.clone(),
                        deps.webhooks.clone(),
                    ));
                    anyhow::Ok(Worker::new(&runtime, client, options)?)
                }
                .await;
                let mut worker = match result {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = tx.send(Ok(
                    Box::new(worker.shutdown_handle()) as Box<dyn Fn() + Send>
                ));
                tracing::info!(task_queue = %config.task_queue, "worker polling");
                worker.run().await?;
                tracing::info!("worker stopped");
                anyhow::Ok(())
            })
        })?;
    let stop = rx
        .recv()
        .map_err(|_| anyhow::anyhow!("worker thread exited during start-up"))??;
    Ok(WorkerHandle { stop, thread })
}
