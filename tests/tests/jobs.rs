//! Dubbing jobs: credits held and settled exactly once, 402 and the race for the last credits,
//! Idempotency-Key, cancel, failure with refund and one notice, resume from the failed step, and
//! the jobs API.

use anyhow::Context;
use onevoice_shared::ids::JobId;
use onevoice_shared::repo::ledger;
use onevoice_tests::flows::{dub, finished_job, ready_video, sample_video};
use onevoice_tests::harness::{self, TestApp};
use onevoice_tests::history::{History, scheduled_together, workers};
use onevoice_tests::{keys, mail, sample};
use serde_json::{Value, json};
use std::time::Duration;

const DUB_DEADLINE: Duration = Duration::from_secs(180);

fn request(transcript: &str, target: &str) -> Value {
    json!({"target_language": target, "source_language": "en", "source_transcript": transcript})
}

async fn balance(app: &TestApp, user: onevoice_shared::ids::UserId) -> anyhow::Result<i64> {
    Ok(ledger::balance(&app.state.db, user).await?)
}

async fn ledger_kinds(app: &TestApp, job: &str) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT kind, amount FROM credit_ledger WHERE job_id = $1::uuid ORDER BY created_at, kind",
    )
    .bind(job)
    .fetch_all(&app.state.db)
    .await?)
}

#[tokio::test]
async fn a_completed_dub_is_charged_once_and_notified_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let email = format!("charge-{}@example.com", uuid::Uuid::new_v4().simple());
    let (user, token) = app.user(&email).await?;
    let (_dir, sample, video) = sample_video(&app, &token, "clip.mp4").await?;
    assert_eq!(balance(&app, user).await?, 100);

    let quote: Value = app
        .http
        .get(app.url(&format!("/api/videos/{video}/quote")))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(quote["credits"], 10, "{quote}"); // 11 s: one started minute at 10 credits
    assert_eq!(quote["sufficient"], true);

    let (status, body) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "es"),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["credits"], quote["credits"]);
    let job = body["job_id"].as_str().context("job_id")?.to_string();
    assert_eq!(balance(&app, user).await?, 90, "the quote is held at once");
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["job_steps"].as_array().map(Vec::len), Some(15));
    assert_eq!(
        ledger_kinds(&app, &job).await?,
        vec![
            ("reserve".into(), -10),
            ("capture".into(), -10),
            ("release".into(), 10)
        ]
    );
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    assert_eq!(balance(&app, user).await?, 90);
    // Counted once the workflow closed and the outbox drained: a second notice cannot hide.
    let notices = mail::settled(&app, &format!("dub-{job}"), &email).await?;
    assert_eq!(notices.len(), 1);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM emails WHERE to_address = $1")
        .bind(&email)
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(outbox, 1, "one notice written to the outbox");
    assert!(
        notices[0].subject.contains("더빙") || notices[0].subject.contains("dubbed"),
        "{}",
        notices[0].subject
    );

    // Operators find it by search attributes (visibility is eventually consistent: poll).
    let query = format!(
        "WorkflowType = 'DubbingWorkflow' AND JobStatus = 'completed' AND UserId = '{user}' AND TargetLanguage = 'es'"
    );
    let found = onevoice_tests::harness::eventually(
        Duration::from_secs(30),
        "the job in visibility",
        || async {
            use futures::StreamExt;
            let mut stream = app
                .state
                .temporal
                .list_workflows(query.clone(), Default::default());
            let mut ids = Vec::new();
            while let Some(w) = stream.next().await {
                ids.push(w?.id().to_string());
            }
            Ok(ids.contains(&format!("dub-{job}")).then_some(ids))
        },
    )
    .await?;
    assert_eq!(found.len(), 1);

    // The jobs API lists it, filters, and hides it from others.
    let list: Value = app
        .http
        .get(app.url("/api/jobs?status=completed&limit=10"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["jobs"][0]["id"], job.as_str());
    let none: Value = app
        .http
        .get(app.url("/api/jobs?status=failed"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(none["pagination"]["total"], 0);
    let (_, other) = app.user("nosy@example.com").await?;
    assert_eq!(
        app.http
            .get(app.url(&format!("/api/jobs/{job}")))
            .bearer_auth(&other)
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        app.http
            .get(app.url("/api/jobs?limit=0"))
            .bearer_auth(&token)
            .send()
            .await?
            .status(),
        422
    );
    app.shutdown().await
}

#[tokio::test]
async fn the_last_credits_go_to_exactly_one_of_the_racing_dubs_round_after_round()
-> anyhow::Result<()> {
    let app = TestApp::spawn_paused(&[("DEFAULT_FREE_CREDITS", "15")]).await?;
    let (user, token) = app.user("racer@example.com").await?;
    let dir = tempfile::tempdir()?;
    let sample = sample::make(dir.path()).await?;
    let bytes = tokio::fs::read(&sample.video).await?;
    // Ingest needs the worker; the dubs then wait in the queue (the worker is stopped again).
    let mut app = app;
    app.start_worker().await?;
    let video = ready_video(&app, &token, "race.mp4", bytes).await?;
    let (a, b) = tokio::join!(
        dub(
            &app,
            &token,
            &video,
            request(&sample.transcript, "es"),
            None
        ),
        dub(
            &app,
            &token,
            &video,
            request(&sample.transcript, "es"),
            None
        ),
    );
    let mut statuses = vec![a?.0, b?.0];
    statuses.sort();
    assert_eq!(statuses, vec![202, 402]);
    let (status, body) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "es"),
        None,
    )
    .await?;
    assert_eq!(status, 402);
    assert_eq!(body["error"], "HTTP_402");
    assert_eq!(
        (
            body["details"]["needed"].as_i64(),
            body["details"]["available"].as_i64()
        ),
        (Some(10), Some(5))
    );
    app.stop_worker().await?;
    let holds = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM credit_ledger WHERE user_id = $1 AND kind = 'reserve'",
        )
        .bind(user)
        .fetch_one(&app.state.db)
        .await?;
        anyhow::Ok(n)
    };
    assert_eq!(holds().await?, 1);

    // Round after round, the credits for exactly one more dub, and eight requests at once for
    // them: one hold per round, never two, and the balance never below zero.
    for round in 1..=5 {
        let balance = onevoice_shared::repo::ledger::balance(&app.state.db, user).await?;
        onevoice_shared::repo::ledger::append(
            &app.state.db,
            onevoice_shared::repo::ledger::Entry {
                user,
                job: None,
                video: None,
                kind: onevoice_shared::repo::ledger::Kind::Grant,
                amount: 10 - balance,
                key: &format!("test:race:{round}"),
                description: "credits for one more dub",
            },
        )
        .await?;
        let racers = (0..8).map(|_| {
            dub(
                &app,
                &token,
                &video,
                request(&sample.transcript, "es"),
                None,
            )
        });
        let mut statuses: Vec<u16> = futures::future::join_all(racers)
            .await
            .into_iter()
            .map(|r| r.map(|(status, _)| status))
            .collect::<anyhow::Result<_>>()?;
        statuses.sort();
        assert_eq!(
            statuses,
            [202, 402, 402, 402, 402, 402, 402, 402],
            "round {round}"
        );
        assert_eq!(holds().await?, 1 + round, "round {round}");
        assert_eq!(
            onevoice_shared::repo::ledger::balance(&app.state.db, user).await?,
            0,
            "round {round}"
        );
    }
    app.shutdown().await
}

#[tokio::test]
async fn idempotency_key_returns_the_same_job() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user("idem@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "idem.mp4").await?;
    let body = request(&sample.transcript, "es");
    let (s1, first) = dub(&app, &token, &video, body.clone(), Some("order-42")).await?;
    let (s2, second) = dub(&app, &token, &video, body.clone(), Some("order-42")).await?;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["job_id"], second["job_id"]);
    let (s3, _) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "fr"),
        Some("order-42"),
    )
    .await?;
    assert_eq!(s3, 409, "same key, other body");
    assert_eq!(balance(&app, user).await?, 90, "charged once");
    // Several languages of one video: one job each.
    let (s4, other) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "fr"),
        Some("order-43"),
    )
    .await?;
    assert_eq!(s4, 202);
    assert_ne!(other["job_id"], first["job_id"]);
    app.shutdown().await
}

/// Many short lines, so that speech synthesis runs long enough to be interrupted.
fn long_transcript() -> String {
    let cues: Vec<onevoice_shared::srt::Cue> = (0..400u64)
        .map(|n| onevoice_shared::srt::Cue {
            start_ms: n * 25,
            end_ms: n * 25 + 20,
            text: format!("Line number {n} of the long transcript."),
            speaker: None,
        })
        .collect();
    onevoice_shared::srt::write(&cues)
}

/// Waits until generate_audio has written some lines.
async fn synthesis_under_way(app: &TestApp, job: &str) -> anyhow::Result<()> {
    let clips = keys::job(job).clips();
    onevoice_tests::harness::eventually(
        DUB_DEADLINE,
        "speech synthesis to be under way",
        || async { Ok((app.state.storage.list(&clips).await?.len() > 5).then_some(())) },
    )
    .await
}

#[tokio::test]
async fn cancel_mid_run_releases_the_credits_and_keeps_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user("canceller@example.com").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "cancel.mp4").await?;
    let mut body = request(&long_transcript(), "es");
    body["burn_subtitles"] = json!(true);
    let (_, body) = dub(&app, &token, &video, body, None).await?;
    let job = body["job_id"].as_str().context("job")?.to_string();
    synthesis_under_way(&app, &job).await?;
    let subtitled = keys::outputs(user, &video, &job).subtitled("es".parse()?);
    assert!(
        app.state.storage.size_of(&subtitled).await?.is_some(),
        "the subtitled video is made before synthesis"
    );
    let (status, _) = onevoice_tests::flows::cancel(&app, &token, &video).await?;
    assert_eq!(status, 202);
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "cancelled", "{done}");
    let generate = done["job_steps"].as_array().and_then(|s| {
        s.iter()
            .find(|x| x["step_name"] == "generate_audio")
            .cloned()
    });
    assert_eq!(
        generate.context("step")?["status"],
        "cancelled",
        "the running step observed the cancel"
    );
    assert_eq!(balance(&app, user).await?, 100, "the hold was released");
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        0
    );
    let output = keys::outputs(user, &video, &job).dubbed("es".parse()?);
    assert_eq!(
        app.state.storage.size_of(&output).await?,
        None,
        "no output of a cancelled job"
    );
    assert_eq!(
        app.state
            .storage
            .delete_prefix(&keys::job(&job).prefix())
            .await?,
        0,
        "artifacts left"
    );
    let (status, _) = onevoice_tests::flows::cancel(&app, &token, &video).await?;
    assert_eq!(status, 409, "nothing left to cancel");
    let video_status: Value = app
        .http
        .get(app.url(&format!("/api/videos/{video}")))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(video_status["status"], "uploaded");
    // Of the video, only what the upload made is left: the original and its thumbnails.
    let prefix = keys::video(user, &video).prefix();
    let left = app.state.storage.list(&prefix).await?;
    let unexpected: Vec<&String> = left
        .iter()
        .filter(|k| {
            let rest = &k[prefix.len()..];
            !(rest.starts_with("original.") || rest.starts_with("thumbnails/"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "left by the cancelled job: {unexpected:?}"
    );
    // Deleting the video then leaves nothing at all.
    let res = app
        .http
        .delete(app.url(&format!("/api/videos/{video}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert!(res.status().is_success(), "{}", res.status());
    onevoice_tests::harness::eventually(DUB_DEADLINE, "the video's objects to go", || async {
        let mut left = app.state.storage.list(&prefix).await?;
        left.extend(app.state.storage.list(&keys::job(&job).prefix()).await?);
        Ok(left.is_empty().then_some(()))
    })
    .await?;
    app.shutdown().await
}

/// A dub cancelled while it still waits in the task queue (no worker has taken it) ends
/// cancelled once a worker comes, with its hold released and nothing run.
#[tokio::test]
async fn a_dub_cancelled_in_the_queue_ends_cancelled_and_releases_its_hold() -> anyhow::Result<()> {
    let mut app = TestApp::spawn().await?;
    let (user, token) = app.user("queued-cancel@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "queued.mp4").await?;
    app.stop_worker().await?;
    let (status, started) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "es"),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    assert_eq!(balance(&app, user).await?, 90, "held");
    let (status, _) = onevoice_tests::flows::cancel(&app, &token, &video).await?;
    assert_eq!(status, 202);
    app.start_worker().await?;
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(balance(&app, user).await?, 100, "the hold was released");
    let ran: Vec<&Value> = done["job_steps"]
        .as_array()
        .context("steps")?
        .iter()
        .filter(|s| s["status"] == "completed")
        .collect();
    assert!(ran.is_empty(), "no step ran: {ran:?}");
    app.shutdown().await
}

/// A resume asked the moment the job reads failed, while its run is still sending the failure
/// notice, starts a new run once that one has closed. (Before, the start found the closing run
/// and took it for the new one: 202, and the job stayed pending with its credits held.)
#[tokio::test]
async fn a_resume_while_the_failed_run_still_closes_starts_a_new_run() -> anyhow::Result<()> {
    use onevoice_tests::proxy::SlowProxy;
    let smtp = &onevoice_tests::harness::settings_with(&[])?.smtp;
    let proxy = SlowProxy::start(format!("{}:{}", smtp.host, smtp.port)).await?;
    let port = proxy.port.to_string();
    let mut app = TestApp::spawn_paused(&[("SMTP_PORT", port.as_str())]).await?;
    app.start_worker().await?;
    let (user, token) = app.user("resume-closing@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "closing.mp4").await?;
    app.stop_worker().await?;
    let (_, body) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "es"),
        None,
    )
    .await?;
    let job = body["job_id"].as_str().context("job")?.to_string();
    let transcript = keys::outputs(user, &video, &job).transcript();
    let storage = app.state.storage.clone();
    let put = |bytes: Vec<u8>| storage.put_bytes(&transcript, bytes, "application/x-subrip");
    put(b"not an srt".to_vec()).await?;
    // The failure notice is the first mail: it waits at the proxy, and the run with it.
    proxy.slow_for(Duration::from_secs(12));
    app.start_worker().await?;
    let failed = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(failed["status"], "failed", "{failed}");
    put(sample.transcript.clone().into_bytes()).await?;
    let (status, answer) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 202, "{answer}");
    let done = finished_job(&app, &token, &job, Duration::from_secs(90)).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["retry_count"], 1);
    app.shutdown().await
}

#[tokio::test]
async fn a_failed_dub_refunds_notifies_once_and_resumes_from_the_failed_step() -> anyhow::Result<()>
{
    let mut app = TestApp::spawn_paused(harness::NO_OVERRIDES).await?;
    app.start_worker().await?;
    let email = format!("resume-{}@example.com", uuid::Uuid::new_v4().simple());
    let (user, token) = app.user(&email).await?;
    let (dir, sample, video) = sample_video(&app, &token, "resume.mp4").await?;
    let (job, transcript_key) = onevoice_tests::flows::dub_with_broken_transcript(
        &mut app,
        &token,
        user,
        &video,
        &sample.transcript,
    )
    .await?;
    let failed = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid SRT"),
        "{failed}"
    );
    let step = |name: &str| {
        failed["job_steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["step_name"] == name).cloned())
    };
    assert_eq!(
        step("prepare_video").context("step")?["status"],
        "completed"
    );
    assert_eq!(
        step("speech_recognition").context("step")?["status"],
        "failed"
    );
    assert_eq!(balance(&app, user).await?, 100, "refunded");
    // Counted once the workflow closed and the outbox drained: a second notice cannot hide.
    let notices = mail::settled(&app, &format!("dub-{job}"), &email).await?;
    assert_eq!(notices.len(), 1);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM emails WHERE to_address = $1")
        .bind(&email)
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(outbox, 1, "one notice written to the outbox");
    assert!(
        notices[0].text.contains("refunded") || notices[0].text.contains("환불"),
        "{}",
        notices[0].text
    );
    // Finished steps must be reused, not recomputed: swap the original for another video, so a
    // recomputed prepare_video would extract different audio.
    let audio = keys::job(&job).source_audio();
    let audio_before = app.state.storage.get_bytes(&audio).await?;
    let other = sample::make_large(&dir.path().join("other"), 1).await?;
    let original = keys::video(user, &video).original("mp4");
    app.state
        .storage
        .put_bytes(&original, tokio::fs::read(&other).await?, "video/mp4")
        .await?;

    // Fix the cause and resume: the failed step and the rest run, finished steps are reused.
    app.state
        .storage
        .put_bytes(
            &transcript_key,
            sample.transcript.clone().into_bytes(),
            "application/x-subrip",
        )
        .await?;
    let (status, answer) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 202, "{}", answer);
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["retry_count"], 1);
    assert!(
        app.state.storage.get_bytes(&audio).await? == audio_before,
        "prepare_video ran again"
    );
    assert_eq!(
        balance(&app, user).await?,
        90,
        "charged once, for the successful round"
    );
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    let notices = mail::settled(&app, &format!("dub-{job}"), &email).await?;
    assert_eq!(
        notices.len(),
        2,
        "one failure notice and one completion notice"
    );
    let (status, _) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 409, "a completed dub cannot be resumed");
    app.shutdown().await
}

/// A worker process killed (SIGKILL) in the middle of a long activity: the server notices the
/// missing heartbeats, retries the activity on another worker, lines already synthesized are
/// reused, and the job is still charged exactly once.
#[tokio::test]
async fn the_job_survives_its_worker_process_being_killed_mid_activity() -> anyhow::Result<()> {
    let mut app = TestApp::spawn_paused(harness::NO_OVERRIDES).await?;
    app.start_worker().await?;
    let (user, token) = app.user("crash@example.com").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "crash.mp4").await?;
    // From here on the work runs in a separate `onevoice worker` process.
    app.stop_worker().await?;
    let mut process = app.worker_process()?;
    let (_, body) = dub(
        &app,
        &token,
        &video,
        request(&long_transcript(), "es"),
        None,
    )
    .await?;
    let job = body["job_id"].as_str().context("job")?.to_string();
    synthesis_under_way(&app, &job).await?;
    process.kill().await?;
    let clips = app
        .state
        .storage
        .list(&keys::job(&job).clips())
        .await?
        .len();
    assert!(
        clips < 400,
        "the activity finished before the kill; the test proves nothing"
    );
    app.start_worker().await?;
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    assert_eq!(balance(&app, user).await?, 90);
    app.shutdown().await
}

/// A long dub's lines are spoken in batches, each an activity of its own scheduled at once, so
/// every worker of the task queue speaks some of them: here the API's worker (one activity at a
/// time) and an `onevoice worker` process. The job's manifest holds every line once, in order.
#[tokio::test]
async fn a_long_dubs_lines_are_spoken_in_batches_by_every_worker() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[
        ("SPEECH_BATCH_LINES", "25"),
        ("WORKER_MAX_CONCURRENT_ACTIVITIES", "1"),
    ])
    .await?;
    let (_, token) = app.user("batches@example.com").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "batches.mp4").await?;
    // One activity at a time each: neither worker can take every batch while the other waits.
    let _second = app
        .worker_command()?
        .env("WORKER_MAX_CONCURRENT_ACTIVITIES", "1")
        .spawn()?;
    let (status, body) = dub(
        &app,
        &token,
        &video,
        request(&long_transcript(), "es"),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");

    let history = History::parse(&app.history(&format!("dub-{job}")).await?)?;
    let batches = history.runs("voice.synthesize");
    assert_eq!(batches.len(), 16, "400 lines in batches of 25");
    assert_eq!(history.runs("voice.join_speech").len(), 1);
    assert!(
        scheduled_together(&batches),
        "batches scheduled one after another"
    );
    let workers = workers(&batches);
    assert_eq!(workers.len(), 2, "both workers speak lines: {workers:?}");

    let manifest: Vec<onevoice_shared::contracts::SynthesizedLine> = app
        .state
        .storage
        .get_json(&keys::job(&job).render(1).tts_manifest())
        .await?;
    let starts: Vec<u64> = manifest.iter().map(|l| l.start_ms).collect();
    let expected: Vec<u64> = (0..400).map(|n| n * 25).collect();
    assert_eq!(starts, expected, "every line once, in order");
    app.shutdown().await
}

/// The dub's options reach the steps they affect: a glossary term is kept as given, the
/// translation is burned into a subtitled copy, and without background the dub plays alone.
#[tokio::test]
async fn dub_options_reach_the_pipeline() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("options@example.com").await?;
    let (dir, sample, video) = sample_video(&app, &token, "options.mp4").await?;
    let mut body = request(&onevoice_shared::srt::write_vtt(&sample.cues), "es"); // WebVTT this time
    body["burn_subtitles"] = json!(true);
    body["preserve_background_music"] = json!(false);
    body["glossary"] = json!([{"source": "OneVoice", "target": "UnaVoz"}]);
    let (status, started) = dub(&app, &token, &video, body, None).await?;
    assert_eq!(status, 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");

    let download = |file_type: &'static str| {
        let url = app.url(&format!(
            "/api/videos/{video}/download?file_type={file_type}&language=es"
        ));
        let (http, token) = (&app.http, &token);
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let url = v["download_url"]
                .as_str()
                .context("download_url")?
                .to_string();
            anyhow::Ok(
                http.get(url)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?
                    .to_vec(),
            )
        }
    };
    let srt = String::from_utf8(download("translation_subtitles").await?)?;
    assert!(srt.contains("UnaVoz"), "glossary term missing: {srt}");
    let subtitled = dir.path().join("subtitled.mp4");
    tokio::fs::write(&subtitled, download("subtitle_video").await?).await?;
    let layout = onevoice_tests::media::layout(&subtitled).await?;
    assert_eq!((layout.video_streams, layout.audio_streams), (1, 1));
    assert!(layout.duration_ms.abs_diff(sample::DURATION_MS) <= 200);
    // The translation is in the picture while its line plays, and only then.
    let cue = &sample.cues[1];
    onevoice_tests::media::assert_burned_in(
        &sample.video,
        &subtitled,
        (cue.start_ms + cue.end_ms) / 2,
        sample.cues[0].start_ms / 2,
    )
    .await?;

    // Before the first line the mix is digital silence: the original track was left out.
    let mix = dir.path().join("mix.wav");
    tokio::fs::write(
        &mix,
        app.state
            .storage
            .get_bytes(&keys::job(&job).render(1).mix())
            .await?,
    )
    .await?;
    let samples = onevoice_tests::media::decode_audio(&mix).await?;
    let quiet = onevoice_tests::media::rms_dbfs(&samples, 0, sample::LINES[0].0 - 100);
    assert!(quiet < -120.0, "background still present: {quiet:.1} dBFS");
    let steps = done["job_steps"].as_array().context("steps")?;
    let embed = steps
        .iter()
        .find(|s| s["step_name"] == "embed_subtitles")
        .context("embed step")?;
    assert_eq!(embed["status"], "completed");
    app.shutdown().await
}

/// Attack: have a short upload priced, then PUT a longer file to the still-valid
/// presigned URL before dubbing. The upload was frozen when it completed, so the dub is of the
/// short file that was priced; and an original changed behind the API's back (any way around the
/// freeze) fails the job with a plain reason and releases the hold.
#[tokio::test]
async fn the_media_that_is_priced_is_the_media_that_is_dubbed() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user("frozen@example.com").await?;
    let dir = tempfile::tempdir()?;
    let long = sample::make(dir.path()).await?;
    let short = sample::trim(&long, &dir.path().join("short.mp4"), 4_000).await?;
    let long_bytes = tokio::fs::read(&long.video).await?;

    // Upload the short file through a presigned PUT (no size signed) and complete it.
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .json(&json!({"filename": "short.mp4", "content_type": "video/mp4"}))
        .send()
        .await?;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await?;
    let video = body["video_id"].as_str().context("video_id")?.to_string();
    let upload_url = body["upload_url"]
        .as_str()
        .context("upload_url")?
        .to_string();
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().context("expires")?.parse()?;
    assert!(
        expires - chrono::Utc::now() <= chrono::Duration::minutes(15),
        "upload URLs live minutes: {expires}"
    );
    let put = |bytes: Vec<u8>| {
        app.http
            .put(&upload_url)
            .header("content-type", "video/mp4")
            .body(bytes)
            .send()
    };
    assert!(
        put(tokio::fs::read(&short.video).await?)
            .await?
            .status()
            .is_success()
    );
    let res = app
        .http
        .post(app.url(&format!("/api/videos/{video}/complete")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), 202);
    let ready = onevoice_tests::flows::settled(&app, &token, &video).await?;
    assert_eq!(ready["status"], "uploaded", "{ready}");
    let priced = ready["duration"].as_f64().context("duration")?;
    assert!((3.5..4.5).contains(&priced), "{ready}");

    // The URL still takes a PUT; it no longer reaches what was priced.
    assert!(put(long_bytes.clone()).await?.status().is_success());
    let before = balance(&app, user).await?;
    let (status, started) =
        dub(&app, &token, &video, request(&short.transcript, "es"), None).await?;
    assert_eq!(status, 202, "{started}");
    let credits = started["credits"].as_i64().context("credits")?;
    let job = started["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let dubbed = dir.path().join("dubbed.mp4");
    tokio::fs::write(
        &dubbed,
        onevoice_tests::flows::download(&app, &token, &video, "file_type=dubbed_video&language=es")
            .await?,
    )
    .await?;
    let dubbed_ms = sample::duration_ms(&dubbed).await?;
    assert!(
        dubbed_ms < 5_000,
        "the dub must be of the priced 4 s upload, not the 11 s file PUT later ({dubbed_ms} ms)"
    );
    assert_eq!(balance(&app, user).await?, before - credits);

    // Defence in depth: an original replaced behind the API's back fails the dub plainly.
    let second = onevoice_tests::flows::ready_video(
        &app,
        &token,
        "second.mp4",
        tokio::fs::read(&short.video).await?,
    )
    .await?;
    let original: String = sqlx::query_scalar(
        "SELECT s3_key FROM media_files WHERE video_id = $1::uuid AND file_type = 'original'",
    )
    .bind(&second)
    .fetch_one(&app.state.db)
    .await?;
    app.state
        .storage
        .put_bytes(&original, long_bytes, "video/mp4")
        .await?;
    let before = balance(&app, user).await?;
    let (status, started) = dub(
        &app,
        &token,
        &second,
        request(&short.transcript, "es"),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    let failed = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(failed["status"], "failed", "{failed}");
    let reason = failed["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("was priced for"), "{failed}");
    assert!(!reason.contains('/'), "no paths or tool output: {reason}");
    assert_eq!(balance(&app, user).await?, before, "the hold is released");
    app.shutdown().await
}

/// Worker loss is not a failure: the worker process is killed (SIGKILL) mid-synthesis more times
/// than the old attempt limit of the step (6), each attempt making some progress, and the job
/// still completes, charged once.
#[tokio::test]
async fn a_job_survives_more_worker_losses_than_the_old_attempt_limit() -> anyhow::Result<()> {
    const KILLS: usize = 7;
    let mut app = TestApp::spawn_paused(&[
        ("ACTIVITY_HEARTBEAT_TIMEOUT_SECS", "2"),
        ("ACTIVITY_RETRY_MAX_INTERVAL_SECS", "1"),
    ])
    .await?;
    app.start_worker().await?;
    let (user, token) = app.user("losses@example.com").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "losses.mp4").await?;
    app.stop_worker().await?;
    let mut process = app.worker_process()?;
    let (_, body) = dub(
        &app,
        &token,
        &video,
        request(&long_transcript(), "es"),
        None,
    )
    .await?;
    let job = body["job_id"].as_str().context("job")?.to_string();
    let lines = keys::job(&job).clips();
    let mut done = 0;
    for kill in 0..KILLS {
        // Each attempt synthesizes some more lines before its worker dies.
        onevoice_tests::harness::eventually(
            DUB_DEADLINE,
            "the next attempt to make progress",
            || async {
                let n = app.state.storage.list(&lines).await?.len();
                Ok((n > done).then_some(()))
            },
        )
        .await?;
        process.kill().await?;
        // Counted once the worker is dead, so only a new attempt can add lines.
        done = app.state.storage.list(&lines).await?.len();
        assert!(
            done < 400,
            "synthesis finished before kill {kill}; the test proves nothing"
        );
        process = app.worker_process()?;
    }
    let finished = finished_job(&app, &token, &job, DUB_DEADLINE).await?;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(
        ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
        1
    );
    assert_eq!(balance(&app, user).await?, 90, "charged once");
    process.kill().await?;
    app.shutdown().await
}
