//! Histories recorded by earlier versions of the workflows replay on today's code, so a change
//! that would break workflows already running (a new step, a reordered activity, a timer moved)
//! fails here first and gets gated with `ctx.patched`. Every `tests/histories/*.json` is replayed:
//! the dubbing paths (text stages before and after their patch, recognition, failure, resume, a
//! cancel in the queue, the speakers step, a review checkpoint, lines spoken in batches) and every
//! other workflow (billing with signals and its grace timer, ingest, erasure, email, the maintenance loop, a re-render, a version's exports). They are recorded with
//! `cargo run -p onevoice-tests --bin record-histories` (or `onevoice export-history <id>`).

use anyhow::Context;
use onevoice_workflows::{
    AccountErasureWorkflow, BillingWorkflow, DubbingWorkflow, EmailWorkflow, ExportWorkflow,
    MaintenanceWorkflow, RerenderWorkflow, ThumbnailWorkflow, VideoDeletionWorkflow,
    VideoIngestWorkflow, WebhookDeliveryWorkflow,
};
use std::path::Path;
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

/// Every file the directory must hold: a recorded history is never dropped (it stands for
/// workflows that ran that way).
const RECORDED: [&str; 23] = [
    "billing.json",
    "dubbing-before-text-stages.json",
    "dubbing-cancelled-queued.json",
    "dubbing-cloned-from-vocals.json",
    "dubbing-cloned.json",
    "dubbing-failed.json",
    "dubbing-own-translation.json",
    "dubbing-recognition-chunks.json",
    "dubbing-recognized.json",
    "dubbing-resumed.json",
    "dubbing-reviewed.json",
    "dubbing-separated.json",
    "dubbing-speakers.json",
    "dubbing-speech-batches.json",
    "dubbing-text-stages.json",
    "dubbing-time-range.json",
    "email.json",
    "erasure.json",
    "export.json",
    "ingest.json",
    "maintenance.json",
    "rerender.json",
    "webhook-given-up.json",
];

#[tokio::test]
async fn every_recorded_history_replays_on_todays_code() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("histories");
    let mut replayed = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let history = WorkflowHistory::from_json(&std::fs::read(&path)?)
            .with_context(|| format!("{name}: not a history export"))?;
        // One replayer per history, knowing every workflow: a failure names its file.
        let replayer = WorkflowReplayer::new(
            WorkflowReplayerOptions::new()
                .register_workflow::<DubbingWorkflow>()?
                .register_workflow::<RerenderWorkflow>()?
                .register_workflow::<ExportWorkflow>()?
                .register_workflow::<BillingWorkflow>()?
                .register_workflow::<EmailWorkflow>()?
                .register_workflow::<AccountErasureWorkflow>()?
                .register_workflow::<MaintenanceWorkflow>()?
                .register_workflow::<VideoIngestWorkflow>()?
                .register_workflow::<ThumbnailWorkflow>()?
                .register_workflow::<VideoDeletionWorkflow>()?
                .register_workflow::<WebhookDeliveryWorkflow>()?
                .build(),
        )?;
        replayer
            .replay_workflow(history)
            .await
            .with_context(|| format!("{name} no longer replays"))?;
        replayed.push(name);
    }
    replayed.sort();
    assert_eq!(replayed, RECORDED, "every recorded history is replayed");
    Ok(())
}
