//! Histories recorded by earlier versions of the workflows replay on today's code, so a change
//! that would break jobs already running (a new step, a reordered activity) fails here first and
//! gets gated with `ctx.patched`. Each `tests/histories/*.json` is a `temporal workflow show
//! --output json` export of a completed run.

use anyhow::Context;
use onevoice_workflows::DubbingWorkflow;
use std::path::Path;
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

#[tokio::test]
async fn recorded_dubbing_histories_replay_on_todays_code() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("histories");
    let mut replayed = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with("dubbing-") {
            continue;
        }
        let history = WorkflowHistory::from_json(&std::fs::read(&path)?)
            .with_context(|| format!("{name}: not a history export"))?;
        // One replayer per history: a failure names its file.
        let replayer = WorkflowReplayer::new(
            WorkflowReplayerOptions::new()
                .register_workflow::<DubbingWorkflow>()?
                .build(),
        )?;
        replayer
            .replay_workflow(history)
            .await
            .with_context(|| format!("{name} no longer replays"))?;
        replayed.push(name);
    }
    replayed.sort();
    assert_eq!(
        replayed,
        [
            "dubbing-before-text-stages.json",
            "dubbing-text-stages.json"
        ],
        "every recorded version is replayed"
    );
    Ok(())
}
