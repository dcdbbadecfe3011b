//! The README's operator commands, run as written (after `eval "$(scripts/stack.sh env)"`, which
//! the test command does) against a real job: list, query progress, and reset a failed dub once
//! its cause is fixed — which must complete it and charge it exactly once.

use anyhow::Context;
use onevoice_shared::ids::JobId;
use onevoice_shared::repo::ledger;
use onevoice_tests::flows::{self, finished_job, sample_video};
use onevoice_tests::harness::{self, TestApp, eventually};
use std::time::Duration;

const DUB_DEADLINE: Duration = Duration::from_secs(180);

/// The `temporal …` commands of the README's "Operating jobs" section, in order.
fn readme_operator_commands() -> anyhow::Result<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let section = readme
        .split("\n## Operating jobs")
        .nth(1)
        .context("README has no 'Operating jobs' section")?;
    let section = section.split("\n## ").next().unwrap_or(section);
    Ok(section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("temporal "))
        .map(str::to_string)
        .collect())
}

/// Runs one command in a shell with the test's environment (the stack's exports); its output.
async fn run(command: &str) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("bash")
        .args(["-c", command])
        .output()
        .await
        .context("running bash")?;
    anyhow::ensure!(
        out.status.success(),
        "`{command}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The run id and status of the job workflow's latest run, as the CLI describes it.
async fn latest_run(job: &str) -> anyhow::Result<(String, String)> {
    let out = run(&format!(
        "temporal workflow describe --workflow-id dub-{job} -o json"
    ))
    .await?;
    let v: serde_json::Value = serde_json::from_str(&out).context("describe's JSON")?;
    let info = &v["workflowExecutionInfo"];
    Ok((
        info["execution"]["runId"].as_str().context("runId")?.into(),
        info["status"].as_str().context("status")?.into(),
    ))
}

#[tokio::test]
async fn the_readmes_operator_commands_list_query_and_reset_a_failed_dub() -> anyhow::Result<()> {
    let commands = readme_operator_commands()?;
    let find = |verb: &str| {
        commands
            .iter()
            .find(|c| c.starts_with(&format!("temporal workflow {verb} ")))
            .cloned()
            .with_context(|| format!("no `temporal workflow {verb}` in the README: {commands:?}"))
    };
    let (list, query, reset) = (find("list")?, find("query")?, find("reset")?);

    let mut app = TestApp::spawn_paused(harness::NO_OVERRIDES).await?;
    app.start_worker().await?;
    let email = format!("operator-{}@example.com", uuid::Uuid::new_v4().simple());
    let (user, token) = app.user(&email).await?;
    let (_dir, sample, video) = sample_video(&app, &token, "operator.mp4").await?;
    let (job, transcript_key) =
        flows::dub_with_broken_transcript(&mut app, &token, user, &video, &sample.transcript)
            .await?;
    let failed = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(failed["status"], "failed", "{failed}");
    let balance = || ledger::balance(&app.state.db, user);
    assert_eq!(balance().await?, 100, "refunded");

    // The workflow of this test's job runs on its own task queue but in the stack's namespace,
    // which is what the CLI reaches with the exported TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE.
    let concrete = |c: &str| {
        c.replace("<job_id>", &job)
            .replace("<why>", "transcript fixed")
    };
    run(&list).await?;
    let progress = run(&concrete(&query)).await?;
    assert!(
        progress.contains("prepare_video") && progress.contains("percent"),
        "the progress query answers the job's steps: {progress}"
    );

    // Fix the cause, then reset from the CLI: the job completes and is charged once.
    app.state
        .storage
        .put_bytes(
            &transcript_key,
            sample.transcript.clone().into_bytes(),
            "application/x-subrip",
        )
        .await?;
    run(&concrete(&reset)).await?;
    let done = eventually(DUB_DEADLINE, "the reset run to complete", || async {
        let j = app.get(&format!("/api/jobs/{job}"), &token).await?.body;
        Ok((j["status"] == "completed").then_some(j))
    })
    .await?;
    assert_eq!(
        done["job_steps"].as_array().map(Vec::len),
        Some(15),
        "{done}"
    );
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    assert_eq!(balance().await?, 90, "charged once, for the completed run");

    // "Safe to repeat": a second reset of the completed job runs again and charges nothing more.
    let first = latest_run(&job).await?;
    run(&concrete(&reset)).await?;
    eventually(DUB_DEADLINE, "the second reset run to complete", || async {
        let (run_id, status) = latest_run(&job).await?;
        Ok((run_id != first.0 && status.ends_with("COMPLETED")).then_some(()))
    })
    .await?;
    let again = app.get(&format!("/api/jobs/{job}"), &token).await?.body;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    assert_eq!(balance().await?, 90);
    app.shutdown().await
}
