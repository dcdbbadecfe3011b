//! Records the workflow histories that `tests/tests/replay.rs` replays on every later version of
//! the code: each scenario runs on the local stack with today's workflows (the same harness as
//! the tests), and its history is written to `tests/histories/<name>.json`.
//!
//! Run it in the test environment when a workflow's commands change on purpose (and gate the
//! change with `ctx.patched`), to keep a history of the new shape beside the old ones:
//!
//! ```sh
//! eval "$(scripts/stack.sh env)"
//! cargo run -p onevoice-tests --bin record-histories -- [scenario ...]
//! ```
//!
//! Never rewrite an existing file: it stands for the jobs that are running the old way.

use anyhow::Context;
use chrono::Utc;
use onevoice_shared::billing::{Catalog, DEFAULT_PLANS};
use onevoice_tests::flows::{dub, finished_job, sample_video};
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::paddle::{FakePaddle, WebhookSender};
use onevoice_tests::tts::FakeTts;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use temporalio_client::{
    UntypedWorkflow, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowFetchHistoryOptions,
};

const DEADLINE: Duration = Duration::from_secs(180);
const SCENARIOS: [&str; 21] = [
    "dubbing-recognized",
    "dubbing-speakers",
    "dubbing-cloned",
    "dubbing-cloned-from-vocals",
    "dubbing-separated",
    "dubbing-failed",
    "dubbing-resumed",
    "dubbing-cancelled-queued",
    "ingest",
    "email",
    "erasure",
    "maintenance",
    "billing",
    "rerender",
    "export",
    "dubbing-reviewed",
    "dubbing-own-translation",
    "dubbing-speech-batches",
    "webhook-given-up",
    "dubbing-time-range",
    "dubbing-recognition-chunks",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("histories");
    for name in SCENARIOS {
        if !asked.is_empty() && !asked.iter().any(|a| a == name) {
            continue;
        }
        let file = dir.join(format!("{name}.json"));
        anyhow::ensure!(
            !file.exists(),
            "{} exists: recorded histories are never rewritten",
            file.display()
        );
        let json = record(name)
            .await
            .with_context(|| format!("scenario {name}"))?;
        tokio::fs::write(&file, json).await?;
        println!("{}", file.display());
    }
    Ok(())
}

async fn record(name: &str) -> anyhow::Result<Vec<u8>> {
    match name {
        "dubbing-recognized" => recognized().await,
        "dubbing-speakers" => speakers().await,
        "dubbing-cloned" => cloned().await,
        "dubbing-cloned-from-vocals" => cloned_from_vocals().await,
        "dubbing-separated" => separated().await,
        "dubbing-failed" => failed_then_resumed(false).await,
        "dubbing-resumed" => failed_then_resumed(true).await,
        "dubbing-cancelled-queued" => cancelled_queued().await,
        "ingest" => ingest().await,
        "email" => email().await,
        "erasure" => erasure().await,
        "maintenance" => maintenance().await,
        "billing" => billing().await,
        "rerender" => rerender().await,
        "export" => export().await,
        "dubbing-reviewed" => reviewed().await,
        "dubbing-own-translation" => own_translation().await,
        "dubbing-speech-batches" => speech_batches().await,
        "webhook-given-up" => webhook_given_up().await,
        "dubbing-time-range" => time_range().await,
        "dubbing-recognition-chunks" => recognition_chunks().await,
        other => anyhow::bail!("no scenario {other}"),
    }
}

/// The history of the latest run of `workflow_id`, once it is closed (or, for workflows that never
/// end, as it stands).
async fn history(app: &TestApp, workflow_id: &str, wait_closed: bool) -> anyhow::Result<Vec<u8>> {
    let handle = app
        .state
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_string());
    if wait_closed {
        eventually(DEADLINE, &format!("{workflow_id} to close"), || async {
            let d = handle.describe(WorkflowDescribeOptions::default()).await?;
            Ok((d.status() != WorkflowExecutionStatus::Running).then_some(()))
        })
        .await?;
    }
    app.history(workflow_id).await
}

/// Shuts the app down whatever the scenario's outcome, then returns that outcome.
async fn finish(app: TestApp, out: anyhow::Result<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    app.shutdown().await?;
    out
}

fn request(transcript: Option<&str>) -> Value {
    match transcript {
        Some(t) => {
            json!({"target_language": "es", "source_language": "en", "source_transcript": t})
        }
        None => {
            json!({"target_language": "es", "source_language": "en", "voice_id": "openai-alloy"})
        }
    }
}

/// Starts a dub (it must be accepted) and waits for it to complete: the job id and the job.
async fn dub_completed(
    app: &TestApp,
    token: &str,
    video: &str,
    body: Value,
) -> anyhow::Result<(String, Value)> {
    let (status, started) = dub(app, token, video, body, None).await?;
    anyhow::ensure!(status == 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(app, token, &job, DEADLINE).await?;
    anyhow::ensure!(done["status"] == "completed", "{done}");
    Ok((job, done))
}

/// A dub without a transcript: recognized by the OpenAI-compatible fake.
async fn recognized() -> anyhow::Result<Vec<u8>> {
    let fake = FakeTts::start().await?;
    let settings = fake.settings();
    let app = TestApp::spawn_with(&settings).await?;
    let out = recognized_on(&app).await;
    finish(app, out).await
}

async fn recognized_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-asr@example.com").await?;
    let (_dir, _sample, video) = sample_video(app, &token, "asr.mp4").await?;
    let (job, _) = dub_completed(app, &token, &video, request(None)).await?;
    history(app, &format!("dub-{job}"), true).await
}

/// A recognized dub in chunks of 4 s (the `recognition-chunks` patch) whose language is
/// detected: the first chunk is heard alone, the others together, then joined.
async fn recognition_chunks() -> anyhow::Result<Vec<u8>> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("ASR_CHUNK_SECS", "4".into()));
    let app = TestApp::spawn_with(&settings).await?;
    let out = recognition_chunks_on(&app).await;
    finish(app, out).await
}

async fn recognition_chunks_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-asr-chunks@example.com").await?;
    let (_dir, _sample, video) = sample_video(app, &token, "asr-chunks.mp4").await?;
    let mut body = request(None);
    body["source_language"] = json!("auto");
    let (job, _) = dub_completed(app, &token, &video, body).await?;
    history(app, &format!("dub-{job}"), true).await
}

/// A dub of a two-speaker conversation whose transcript names them: the speakers step runs
/// (the `speakers` patch) and each speaker gets a voice.
async fn speakers() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = speakers_on(&app).await;
    finish(app, out).await
}

async fn speakers_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-speakers@example.com").await?;
    let dir = tempfile::tempdir()?;
    let sample = onevoice_tests::sample::make_dialogue(dir.path()).await?;
    let bytes = tokio::fs::read(&sample.video).await?;
    let video = onevoice_tests::flows::ready_video(app, &token, "dialogue.mp4", bytes).await?;
    let (job, done) = dub_completed(app, &token, &video, request(Some(&sample.transcript))).await?;
    anyhow::ensure!(
        done["speakers"].as_array().map(Vec::len) == Some(2),
        "two speakers: {done}"
    );
    history(app, &format!("dub-{job}"), true).await
}

/// A finished dub with one line edited and re-rendered: `RerenderWorkflow` (version 2).
async fn rerender() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = rerender_on(&app).await;
    finish(app, out).await
}

async fn rerender_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-rerender@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "rerender.mp4").await?;
    let (job, _) = dub_completed(app, &token, &video, request(Some(&sample.transcript))).await?;
    let edit = json!({"edits": [{"index": 0, "translation": "Hola de nuevo a todos."}]});
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/jobs/{job}/segments"),
        Some(&token),
        Some(&edit),
    )
    .await?
    .expect(200)?;
    app.post(&format!("/api/jobs/{job}/rerender"), &token)
        .await?
        .expect(202)?;
    history(app, &format!("rerender-{job}-v2"), true).await
}

/// A dub that stops for the review of its translation (the `review-translation` patch), one
/// line edited and approved.
async fn reviewed() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = reviewed_on(&app).await;
    finish(app, out).await
}

async fn reviewed_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-review@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "review.mp4").await?;
    let mut body = request(Some(&sample.transcript));
    body["review"] = json!("translation");
    let (status, started) = dub(app, &token, &video, body, None).await?;
    anyhow::ensure!(status == 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    eventually(DEADLINE, "the review checkpoint", || async {
        let j = app.get(&format!("/api/jobs/{job}"), &token).await?.body;
        Ok((j["review"]["state"] == "awaiting_approval").then_some(()))
    })
    .await?;
    let edit = json!({"edits": [{"index": 0, "translation": "Bienvenidos, revisado."}]});
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/jobs/{job}/segments"),
        Some(&token),
        Some(&edit),
    )
    .await?
    .expect(200)?;
    app.post(&format!("/api/jobs/{job}/approve"), &token)
        .await?
        .expect(202)?;
    let done = finished_job(app, &token, &job, DEADLINE).await?;
    anyhow::ensure!(done["status"] == "completed", "{done}");
    history(app, &format!("dub-{job}"), true).await
}

/// A dub whose three lines are spoken in two batches (the `speech-batches` patch), joined.
async fn speech_batches() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn_with(&[("SPEECH_BATCH_LINES", "2")]).await?;
    let out = speech_batches_on(&app).await;
    finish(app, out).await
}

async fn speech_batches_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-batches@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "batches.mp4").await?;
    let (job, _) = dub_completed(app, &token, &video, request(Some(&sample.transcript))).await?;
    history(app, &format!("dub-{job}"), true).await
}

/// A dub of the user's own translation with its source transcript (the `own-translation`
/// patch): nothing translated, each line matched to its source.
async fn own_translation() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = own_translation_on(&app).await;
    finish(app, out).await
}

async fn own_translation_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-own@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "own.mp4").await?;
    let translated: Vec<onevoice_shared::srt::Cue> = sample
        .cues
        .iter()
        .map(|c| onevoice_shared::srt::Cue {
            text: format!("Traducción propia: {}", c.text),
            ..c.clone()
        })
        .collect();
    let mut body = request(Some(&sample.transcript));
    body["translated_transcript"] = json!(onevoice_shared::srt::write(&translated));
    let (job, _) = dub_completed(app, &token, &video, body).await?;
    history(app, &format!("dub-{job}"), true).await
}

/// A dub of a part of the video (the `time-range` patch): the part is cut out first.
async fn time_range() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = time_range_on(&app).await;
    finish(app, out).await
}

async fn time_range_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-range@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "range.mp4").await?;
    let mut body = request(Some(&sample.transcript));
    body["start"] = json!(3.5);
    body["end"] = json!(9.5);
    let (job, _) = dub_completed(app, &token, &video, body).await?;
    history(app, &format!("dub-{job}"), true).await
}

/// The exports of a finished dub's first version: `ExportWorkflow`.
async fn export() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = export_on(&app).await;
    finish(app, out).await
}

async fn export_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-export@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "export.mp4").await?;
    let (job, _) = dub_completed(app, &token, &video, request(Some(&sample.transcript))).await?;
    app.post(&format!("/api/jobs/{job}/versions/1/exports"), &token)
        .await?
        .expect(202)?;
    history(app, &format!("export-{job}-v1"), true).await
}

/// A dub with the default background: the original voices taken out before the mix.
async fn separated() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = separated_on(&app).await;
    finish(app, out).await
}

async fn separated_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-separated@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "separated.mp4").await?;
    let (job, done) = dub_completed(app, &token, &video, request(Some(&sample.transcript))).await?;
    anyhow::ensure!(
        done["job_result"]["background"]["mode"] == "separated",
        "separated: {done}"
    );
    history(app, &format!("dub-{job}"), true).await
}

/// The dialogue dubbed with its speakers' voices cloned (at the ElevenLabs fake).
async fn cloned() -> anyhow::Result<Vec<u8>> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("CLONE_MIN_SECS", "1".into()));
    let app = TestApp::spawn_with(&settings).await?;
    let out = cloned_on(&app, &fake).await;
    finish(app, out).await
}

/// The same with LALAL.AI's fake separating: the separation runs first in the speakers step,
/// whose references are cut from the voices alone.
async fn cloned_from_vocals() -> anyhow::Result<Vec<u8>> {
    let fake = FakeTts::start().await?;
    let separator = onevoice_tests::lalalai::FakeLalalAi::start().await?;
    let mut settings = fake.settings();
    settings.extend(separator.settings());
    settings.push(("CLONE_MIN_SECS", "1".into()));
    let app = TestApp::spawn_with(&settings).await?;
    let out = cloned_on(&app, &fake).await;
    finish(app, out).await
}

async fn cloned_on(app: &TestApp, fake: &FakeTts) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-cloned@example.com").await?;
    let dir = tempfile::tempdir()?;
    let sample = onevoice_tests::sample::make_dialogue(dir.path()).await?;
    let bytes = tokio::fs::read(&sample.video).await?;
    let video = onevoice_tests::flows::ready_video(app, &token, "dialogue.mp4", bytes).await?;
    let mut body = request(Some(&sample.transcript));
    body["voice_id"] = json!("elevenlabs-21m00Tcm4TlvDq8ikWAM");
    body["clone_voices"] = json!(true);
    body["voice_consent"] = json!({"confirmed": true, "name": "Recorder"});
    let (job, _) = dub_completed(app, &token, &video, body).await?;
    anyhow::ensure!(fake.clones().len() == 2, "two clones: {:?}", fake.clones());
    history(app, &format!("dub-{job}"), true).await
}

/// A dub whose transcript is broken behind the API's back fails at speech recognition; with
/// `resume`, the transcript is mended and the job resumed (the latest run is recorded).
async fn failed_then_resumed(resume: bool) -> anyhow::Result<Vec<u8>> {
    let mut app = TestApp::spawn().await?;
    let out = failed_then_resumed_on(&mut app, resume).await;
    finish(app, out).await
}

async fn failed_then_resumed_on(app: &mut TestApp, resume: bool) -> anyhow::Result<Vec<u8>> {
    let (user, token) = app.user("record-fail@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "fail.mp4").await?;
    app.stop_worker().await?;
    let (_, started) = dub(app, &token, &video, request(Some(&sample.transcript)), None).await?;
    let job = started["job_id"].as_str().context("job")?.to_string();
    let transcript_key = onevoice_tests::keys::outputs(user, &video, &job).transcript();
    app.state
        .storage
        .put_bytes(
            &transcript_key,
            b"not an srt".to_vec(),
            "application/x-subrip",
        )
        .await?;
    app.start_worker().await?;
    let failed = finished_job(app, &token, &job, DEADLINE).await?;
    anyhow::ensure!(failed["status"] == "failed", "{failed}");
    let workflow = format!("dub-{job}");
    if !resume {
        return history(app, &workflow, true).await;
    }
    history(app, &workflow, true).await?;
    app.state
        .storage
        .put_bytes(
            &transcript_key,
            sample.transcript.into_bytes(),
            "application/x-subrip",
        )
        .await?;
    let (status, _) = onevoice_tests::flows::resume(app, &token, &video).await?;
    anyhow::ensure!(status == 202, "resume: {}", status);
    let done = eventually(DEADLINE, "the resumed job to end", || async {
        let j: Value = app
            .http
            .get(app.url(&format!("/api/jobs/{job}")))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        Ok((j["status"] == "completed" || j["status"] == "failed").then_some(j))
    })
    .await?;
    anyhow::ensure!(done["status"] == "completed", "{done}");
    history(app, &workflow, true).await
}

/// A dub cancelled while it waits in the task queue (no worker yet).
async fn cancelled_queued() -> anyhow::Result<Vec<u8>> {
    let mut app = TestApp::spawn().await?;
    let out = cancelled_queued_on(&mut app).await;
    finish(app, out).await
}

async fn cancelled_queued_on(app: &mut TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-cancel@example.com").await?;
    let (_dir, sample, video) = sample_video(app, &token, "cancel.mp4").await?;
    app.stop_worker().await?;
    let (_, started) = dub(app, &token, &video, request(Some(&sample.transcript)), None).await?;
    let job = started["job_id"].as_str().context("job")?.to_string();
    let (status, _) = onevoice_tests::flows::cancel(app, &token, &video).await?;
    anyhow::ensure!(status == 202, "cancel: {}", status);
    app.start_worker().await?;
    let done = finished_job(app, &token, &job, DEADLINE).await?;
    anyhow::ensure!(done["status"] == "cancelled", "{done}");
    history(app, &format!("dub-{job}"), true).await
}

async fn ingest() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = ingest_on(&app).await;
    finish(app, out).await
}

async fn ingest_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (_, token) = app.user("record-ingest@example.com").await?;
    let (_dir, _sample, video) = sample_video(app, &token, "ingest.mp4").await?;
    history(app, &format!("ingest-{video}"), true).await
}

/// A signup's verification email, through its `EmailWorkflow`.
async fn email() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = email_on(&app).await;
    finish(app, out).await
}

async fn email_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let address = format!("record-{}@example.com", uuid::Uuid::new_v4().simple());
    let res = app
        .http
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": address, "password": "record-passw0rd", "username": "recorder"}))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 202, "signup: {}", res.status());
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM emails WHERE to_address = $1")
        .bind(&address)
        .fetch_one(&app.state.db)
        .await?;
    history(
        app,
        &onevoice_shared::contracts::email_workflow_id(id),
        true,
    )
    .await
}

/// An account deleted with a video: its `AccountErasureWorkflow`.
async fn erasure() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn().await?;
    let out = erasure_on(&app).await;
    finish(app, out).await
}

async fn erasure_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let (user, token) = app.user("record-erase@example.com").await?;
    let hash = app
        .state
        .passwords
        .hash("record-passw0rd")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    onevoice_shared::repo::users::set_password(&app.state.db, user, &hash).await?;
    let (_dir, _sample, _video) = sample_video(app, &token, "erase.mp4").await?;
    let res = app
        .http
        .post(app.url("/api/users/delete-account"))
        .bearer_auth(&token)
        .json(&json!({"password": "record-passw0rd"}))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 202, "delete-account: {}", res.status());
    history(app, &format!("erase-{user}"), true).await
}

/// Three rounds of the maintenance loop (it never ends: recorded as it stands).
async fn maintenance() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn_with(&[("MAINTENANCE_INTERVAL_SECS", "1")]).await?;
    let out = maintenance_on(&app).await;
    finish(app, out).await
}

async fn maintenance_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let queue = app.state.settings.temporal.task_queue.clone();
    let workflow = onevoice_shared::contracts::maintenance_workflow_id(&queue);
    let handle = app
        .state
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow.clone());
    eventually(DEADLINE, "three maintenance rounds", || async {
        let events = handle
            .fetch_history(WorkflowFetchHistoryOptions::builder().build())
            .into_events()
            .await?;
        let fired = events
            .iter()
            .filter(|e| format!("{:?}", e.event_type()).contains("TimerFired"))
            .count();
        Ok((fired >= 3).then_some(()))
    })
    .await?;
    history(app, &workflow, false).await
}

/// A customer's `BillingWorkflow`: a subscription paid, a renewal that fails, past due, the grace
/// timer suspending dubbing, then the payment (it never ends: recorded as it stands).
async fn billing() -> anyhow::Result<Vec<u8>> {
    let paddle =
        FakePaddle::start(&Catalog::parse(DEFAULT_PLANS).map_err(anyhow::Error::msg)?).await?;
    let mut overrides: Vec<(&str, String)> = paddle.settings();
    overrides.push(("BILLING_GRACE_PERIOD_SECS", "2".into()));
    let app = TestApp::spawn_with(&overrides).await?;
    let out = billing_on(&app, &paddle).await;
    finish(app, out).await
}

async fn billing_on(app: &TestApp, paddle: &FakePaddle) -> anyhow::Result<Vec<u8>> {
    let hooks = WebhookSender::new(app.url("/api/webhooks/paddle"));
    let (user, token) = app.user("record-billing@example.com").await?;
    let send = |kind: &'static str, data: Value| {
        let hooks = &hooks;
        async move {
            let id = hooks.send(kind, &data, Utc::now()).await?;
            eventually(DEADLINE, "the event to be applied", || async {
                Ok(onevoice_shared::repo::billing::event_outcome(&app.state.db, &id).await?)
            })
            .await
        }
    };
    let res = app
        .http
        .post(app.url("/api/billing/subscribe"))
        .bearer_auth(&token)
        .json(&json!({"plan_id": "starter_monthly"}))
        .send()
        .await?;
    let checkout: Value = res.json().await?;
    let txn_id = checkout["transaction_id"].as_str().context("transaction")?;
    let (sub, txn) = paddle.pay_checkout(txn_id)?;
    send("subscription.created", sub.clone()).await?;
    send("transaction.completed", txn).await?;
    let sub_id = sub["id"].as_str().context("subscription id")?.to_string();
    let (past_due, failed) = paddle.renew(&sub_id, false)?;
    send("transaction.payment_failed", failed).await?;
    send("subscription.past_due", past_due).await?;
    eventually(DEADLINE, "the grace period to end", || async {
        let s: Value = app
            .http
            .get(app.url("/api/billing/subscription"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        Ok((s["suspended"] == true).then_some(()))
    })
    .await?;
    let (active, paid) = paddle.renew(&sub_id, true)?;
    send("transaction.completed", paid).await?;
    send("subscription.updated", active).await?;
    history(
        app,
        &onevoice_shared::contracts::billing_workflow_id(user),
        false,
    )
    .await
}

/// A webhook delivery to an endpoint that never answers, retried for a (short) window and given
/// up: the endpoint is disabled and its owner emailed.
async fn webhook_given_up() -> anyhow::Result<Vec<u8>> {
    let app = TestApp::spawn_with(&[
        ("OUTBOUND_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_RETRY_WINDOW_SECS", "2"),
        ("WEBHOOK_FIRST_RETRY_MS", "200"),
        ("WEBHOOK_MAX_RETRY_INTERVAL_SECS", "1"),
    ])
    .await?;
    let out = webhook_given_up_on(&app).await;
    finish(app, out).await
}

async fn webhook_given_up_on(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    use onevoice_shared::repo::webhooks;
    let (user, token) = app.user("record-webhook@example.com").await?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    // Straight into the table: the plan check is the API's, not what is recorded here.
    let url = format!("http://{closed}/hooks");
    webhooks::insert(
        &app.state.db,
        webhooks::NewEndpoint {
            user,
            url: &url,
            description: "",
            events: &["video.ready".to_string()],
            secret: "whsec_record",
        },
        10,
    )
    .await?;
    let (_dir, _sample, _video) = sample_video(app, &token, "webhook.mp4").await?;
    let delivery: uuid::Uuid = eventually(DEADLINE, "the delivery", || async {
        Ok(
            sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE dispatched_at IS NOT NULL")
                .fetch_optional(&app.state.db)
                .await?,
        )
    })
    .await?;
    history(
        app,
        &onevoice_shared::contracts::webhook_delivery_workflow_id(delivery),
        true,
    )
    .await
}
