//! The legacy SQS contract against moto: messages from a producer that is not our code start
//! jobs exactly once, unprocessable ones are dead-lettered with a reason, a crash between start
//! and delete starts nothing new, and what OneVoice publishes reads as the old consumer expects.

use anyhow::Context;
use onevoice_api::bridge::{self, Counters, Outcome};
use onevoice_tests::flows::{dub, finished_job, ready_video};
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::sample;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

struct Queues {
    jobs: String,
    dlq: String,
    events: String,
}

/// Fresh queues for one test (moto's account id is fixed).
async fn queues() -> anyhow::Result<Queues> {
    let endpoint = std::env::var("SQS_ENDPOINT_URL").context("SQS_ENDPOINT_URL")?;
    let tag = Uuid::new_v4().simple().to_string();
    let mut urls = Vec::new();
    for name in ["jobs", "dlq", "events"] {
        let out = python(&["-c", &format!(
            "import boto3,os; c=boto3.client('sqs', endpoint_url='{endpoint}', region_name=os.environ.get('S3_REGION','us-east-1'), \
             aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY']); \
             print(c.create_queue(QueueName='t-{tag}-{name}')['QueueUrl'])"
        )])
        .await?;
        urls.push(out.trim().to_string());
    }
    Ok(Queues {
        jobs: urls[0].clone(),
        dlq: urls[1].clone(),
        events: urls[2].clone(),
    })
}

async fn python(args: &[&str]) -> anyhow::Result<String> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let out = tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

async fn app_with(q: &Queues) -> anyhow::Result<TestApp> {
    TestApp::spawn_with(&[
        ("SQS_QUEUE_URL", q.jobs.as_str()),
        ("SQS_DLQ_URL", q.dlq.as_str()),
        ("SQS_PUBLISH_QUEUE_URL", q.events.as_str()),
        ("DISPATCH_MODE", "sqs"),
        ("SQS_WAIT_TIME_SECONDS", "1"),
        ("SQS_VISIBILITY_TIMEOUT", "2"),
    ])
    .await
}

/// Runs the bridge in the background until the returned sender is dropped or fired.
fn start_bridge(
    app: &TestApp,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<Counters>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let state = app.state.clone();
    let task = tokio::spawn(async move {
        let counters = Counters::default();
        bridge::run(state, &counters, async {
            let _ = stopped.await;
        })
        .await?;
        Ok(counters)
    });
    (stop, task)
}

/// How many runs of a workflow id Temporal has (visibility is eventually consistent: poll for 1).
async fn runs(app: &TestApp, workflow_id: &str) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let query = format!("WorkflowId = '{workflow_id}'");
    let mut stream = app.state.temporal.list_workflows(query, Default::default());
    let mut n = 0;
    while let Some(w) = stream.next().await {
        w?;
        n += 1;
    }
    Ok(n)
}

/// A pending job whose DUBBING_JOB message the API has queued (DISPATCH_MODE=sqs).
async fn queued_job(app: &TestApp, token: &str) -> anyhow::Result<(String, String)> {
    let dir = tempfile::tempdir()?;
    let sample = sample::make(dir.path()).await?;
    let video = ready_video(
        app,
        token,
        "legacy.mp4",
        tokio::fs::read(&sample.video).await?,
    )
    .await?;
    let body = json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript});
    let (status, res) = dub(app, token, &video, body, None).await?;
    anyhow::ensure!(status == 202, "dub: {res}");
    Ok((video, res["job_id"].as_str().context("job_id")?.to_string()))
}

#[tokio::test]
async fn legacy_messages_start_each_job_once_and_publish_the_old_format() -> anyhow::Result<()> {
    let q = queues().await?;
    let app = app_with(&q).await?;
    let (user, token) = app.user("legacy@example.com").await?;
    let (video, job) = queued_job(&app, &token).await?;
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1::uuid")
        .bind(&job)
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(
        status, "pending",
        "in sqs dispatch the API only queues the job"
    );
    // A producer that is not our code sends the same job three more times.
    python(&[
        &fixture("legacy_producer.py"),
        &q.jobs,
        &job,
        &user.to_string(),
        &video,
        "3",
    ])
    .await?;
    let (stop, bridge) = start_bridge(&app);
    let done = finished_job(&app, &token, &job, Duration::from_secs(180)).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let workflow = format!("dub-{job}");
    let n = eventually(Duration::from_secs(30), "the run in visibility", || async {
        let n = runs(&app, &workflow).await?;
        Ok((n > 0).then_some(n))
    })
    .await?;
    assert_eq!(n, 1, "four messages must start one workflow");
    // Every message was consumed.
    eventually(Duration::from_secs(30), "the queue to drain", || async {
        let left = app.state.queue.receive(&q.jobs, 10, 0, 0).await?;
        Ok(left.is_empty().then_some(()))
    })
    .await?;
    let _ = stop.send(());
    let counters = bridge.await??;
    assert_eq!(counters.snapshot()[0], ("received", 4));

    // The events the workflow published read as the old consumer expects.
    let lines = python(&[&fixture("legacy_consumer.py"), &q.events]).await?;
    let events: Vec<Value> = lines
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["messageType"].as_str())
        .collect();
    assert!(
        types.contains(&"DUBBING_JOB") && types.contains(&"DUBBING_COMPLETED"),
        "{events:?}"
    );
    for e in &events {
        assert_eq!(e["jobId"], job.as_str());
        assert_eq!(
            e["keys"],
            json!(["messageType", "jobId", "userId", "videoId", "requestedAt"])
        );
        assert!(
            e["requestedAt"]
                .as_str()
                .is_some_and(|t| t.ends_with("+00:00")),
            "{e}"
        );
        assert_eq!(
            e["messageId"],
            format!("{job}:{}", e["messageType"].as_str().unwrap_or_default())
        );
    }
    app.shutdown().await
}

#[tokio::test]
async fn unprocessable_messages_go_to_the_dead_letter_queue_with_a_reason() -> anyhow::Result<()> {
    let q = queues().await?;
    let app = app_with(&q).await?;
    let (user, _) = app.user("dlq@example.com").await?;
    let (user, video, unknown) = (
        user.to_string(),
        Uuid::new_v4().to_string(),
        Uuid::new_v4().to_string(),
    );
    python(&[
        &fixture("legacy_producer.py"),
        &q.jobs,
        &unknown,
        &user,
        &video,
        "1",
        "{oops not json",
    ])
    .await?;
    python(&[
        &fixture("legacy_producer.py"),
        &q.jobs,
        &unknown,
        &user,
        &video,
        "1",
        r#"{"hello": "world"}"#,
        "PING",
    ])
    .await?;
    python(&[
        &fixture("legacy_producer.py"),
        &q.jobs,
        &unknown,
        &user,
        &video,
        "1",
    ])
    .await?;
    let (stop, bridge) = start_bridge(&app);
    let reasons: Vec<String> =
        eventually(Duration::from_secs(60), "three dead letters", || async {
            let counters_done = app.state.queue.receive(&q.dlq, 10, 1, 30).await?;
            Ok((!counters_done.is_empty()).then(|| {
                counters_done
                    .iter()
                    .filter_map(|m| {
                        m.message_attributes()?
                            .get("reason")?
                            .string_value()
                            .map(str::to_string)
                    })
                    .collect::<Vec<_>>()
            }))
        })
        .await?;
    let mut all = reasons;
    while all.len() < 3 {
        let more = app.state.queue.receive(&q.dlq, 10, 2, 30).await?;
        anyhow::ensure!(!more.is_empty(), "only {} dead letters: {all:?}", all.len());
        all.extend(more.iter().filter_map(|m| {
            m.message_attributes()?
                .get("reason")?
                .string_value()
                .map(str::to_string)
        }));
    }
    all.sort();
    assert!(
        all.iter().any(|r| r.starts_with("malformed body")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|r| r.contains("unknown message type `PING`")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|r| r.contains(&format!("unknown job {unknown}"))),
        "{all:?}"
    );
    let _ = stop.send(());
    let counters = bridge.await??;
    assert_eq!(counters.snapshot()[3], ("dead_lettered", 3));
    assert_eq!(counters.snapshot()[1], ("started", 0));
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(jobs, 0);
    app.shutdown().await
}

#[tokio::test]
async fn a_redelivery_after_a_crash_between_start_and_delete_starts_nothing_new()
-> anyhow::Result<()> {
    let q = queues().await?;
    let app = app_with(&q).await?;
    let (_, token) = app.user("redelivery@example.com").await?;
    let (_, job) = queued_job(&app, &token).await?;
    // A bridge takes the message and starts the workflow, then dies before deleting it.
    let first = app.state.queue.receive(&q.jobs, 1, 5, 2).await?;
    let message = first.first().context("the API's message")?;
    assert_eq!(
        bridge::process_message(&app.state, message).await?,
        Outcome::Started
    );
    // The message comes back after its visibility timeout, to the next bridge.
    let (stop, bridge) = start_bridge(&app);
    let done = finished_job(&app, &token, &job, Duration::from_secs(180)).await?;
    assert_eq!(done["status"], "completed");
    eventually(
        Duration::from_secs(30),
        "the redelivered message to be consumed",
        || async {
            let left = app.state.queue.receive(&q.jobs, 10, 0, 0).await?;
            Ok(left.is_empty().then_some(()))
        },
    )
    .await?;
    let _ = stop.send(());
    let counters = bridge.await??;
    assert!(counters.snapshot()[0].1 >= 1, "the redelivery was received");
    let workflow = format!("dub-{job}");
    let n = eventually(Duration::from_secs(30), "the run in visibility", || async {
        let n = runs(&app, &workflow).await?;
        Ok((n > 0).then_some(n))
    })
    .await?;
    assert_eq!(n, 1, "the redelivery must not start a second run");
    app.shutdown().await
}

/// The old producer sends a job's message again after the job completed (a redelivery hours
/// later, a replay of the queue): nothing is dubbed or charged again. Temporal alone would allow
/// it (a closed workflow id can be started anew): the job's status is what stops it.
#[tokio::test]
async fn a_message_redelivered_after_the_job_completed_dubs_nothing_again() -> anyhow::Result<()> {
    use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions};
    let q = queues().await?;
    let app = app_with(&q).await?;
    let (user, token) = app.user("late@example.com").await?;
    let (video, job) = queued_job(&app, &token).await?;
    let (stop, bridge) = start_bridge(&app);
    let done = finished_job(&app, &token, &job, Duration::from_secs(180)).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let workflow = app
        .state
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(format!("dub-{job}"));
    let first_run = workflow
        .describe(WorkflowDescribeOptions::default())
        .await?
        .run_id()
        .to_string();
    let balance = || onevoice_shared::repo::ledger::balance(&app.state.db, user);
    let charged = balance().await?;

    python(&[
        &fixture("legacy_producer.py"),
        &q.jobs,
        &job,
        &user.to_string(),
        &video,
        "2",
    ])
    .await?;
    // Both copies are consumed (skipped, deleted)...
    eventually(
        Duration::from_secs(30),
        "the late copies to be consumed",
        || async {
            let left = app.state.queue.receive(&q.jobs, 10, 0, 0).await?;
            Ok(left.is_empty().then_some(()))
        },
    )
    .await?;
    let _ = stop.send(());
    let counters = bridge.await??;
    let counted: std::collections::HashMap<_, _> = counters.snapshot().into_iter().collect();
    assert_eq!(counted["skipped"], 2, "{counted:?}");
    assert_eq!(counted["started"], 1, "{counted:?}");
    // ...and start nothing: the workflow's latest run is still the first, the job and the
    // balance are as the first run left them.
    let latest = workflow
        .describe(WorkflowDescribeOptions::default())
        .await?
        .run_id()
        .to_string();
    assert_eq!(latest, first_run, "a second run was started");
    let after: Value = app
        .http
        .get(app.url(&format!("/api/jobs/{job}")))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(after["status"], "completed");
    assert_eq!(after["completed_at"], done["completed_at"]);
    assert_eq!(balance().await?, charged, "charged again");
    app.shutdown().await
}

/// A message whose handling outlasts its visibility timeout (the bridge's database answers 4 s
/// late, the timeout is 2 s) stays hidden from every other consumer meanwhile: the bridge keeps
/// extending it, so no second bridge starts the same job in parallel.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_stays_hidden_while_its_slow_handling_lasts() -> anyhow::Result<()> {
    use onevoice_tests::proxy::SlowProxy;
    use std::sync::atomic::Ordering;
    let q = queues().await?;
    let app = app_with(&q).await?;
    let (_, token) = app.user("slow-bridge@example.com").await?;
    let (_, job) = queued_job(&app, &token).await?;

    // A bridge of its own, whose PostgreSQL is behind a proxy that can answer late.
    let db_url = url::Url::parse(app.state.settings.database.url.expose())?;
    let proxy = SlowProxy::start(format!(
        "{}:{}",
        db_url.host_str().unwrap_or("127.0.0.1"),
        db_url.port().unwrap_or(5432)
    ))
    .await?;
    let mut proxied = db_url.clone();
    let _ = proxied.set_port(Some(proxy.port));
    let settings = onevoice_tests::harness::settings_with(&[
        ("DATABASE_URL", proxied.to_string()),
        (
            "TEMPORAL_TASK_QUEUE",
            app.state.settings.temporal.task_queue.clone(),
        ),
        ("SQS_QUEUE_URL", q.jobs.clone()),
        ("SQS_DLQ_URL", q.dlq.clone()),
        ("SQS_PUBLISH_QUEUE_URL", q.events.clone()),
        ("DISPATCH_MODE", "sqs".into()),
        ("SQS_WAIT_TIME_SECONDS", "1".into()),
        ("SQS_VISIBILITY_TIMEOUT", "2".into()),
    ])?;
    let visibility = settings.sqs.visibility_secs as u64;
    let state =
        onevoice_api::bootstrap::app_state(std::sync::Arc::new(settings), "slow-bridge").await?;
    sqlx::query("SELECT 1").execute(&state.db).await?;
    // Slower than the visibility timeout, within the pool's acquire timeout (5 s).
    proxy.slow_for(Duration::from_millis(visibility * 2000));
    let counters = std::sync::Arc::new(Counters::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let bridge = tokio::spawn({
        let counters = counters.clone();
        async move {
            bridge::run(state, &counters, async {
                let _ = stopped.await;
            })
            .await
        }
    });

    // Once the bridge has the message, another consumer keeps looking: it must never get it.
    eventually(
        Duration::from_secs(30),
        "the bridge to receive the message",
        || async { Ok((counters.received.load(Ordering::Relaxed) > 0).then_some(())) },
    )
    .await?;
    let since = std::time::Instant::now();
    while counters.started.load(Ordering::Relaxed) == 0 {
        let seen = app.state.queue.receive(&q.jobs, 10, 1, 0).await?;
        assert!(
            seen.is_empty(),
            "the message became visible after {:?} while it was being handled",
            since.elapsed()
        );
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(90),
            "the bridge never started the job"
        );
    }
    assert!(
        since.elapsed() > Duration::from_secs(visibility),
        "the handling outlasted the visibility timeout ({:?})",
        since.elapsed()
    );
    let _ = stop.send(());
    bridge.await??;
    let done = finished_job(&app, &token, &job, Duration::from_secs(180)).await?;
    assert_eq!(done["status"], "completed", "{done}");
    app.shutdown().await
}

/// A relay that refuses the completion email for good does not make a finished dub fail: the
/// workflow still completes and publishes its legacy DUBBING_COMPLETED message.
#[tokio::test]
async fn a_refused_completion_email_does_not_fail_the_finished_job() -> anyhow::Result<()> {
    use temporalio_client::{UntypedWorkflow, WorkflowGetResultOptions};
    let smtp = onevoice_tests::smtp::refusing().await?;
    let q = queues().await?;
    let app = TestApp::spawn_with(&[
        ("SQS_PUBLISH_QUEUE_URL", q.events.as_str()),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &smtp.port.to_string()),
    ])
    .await?;
    let (_, token) = app.user("refused@example.com").await?;
    let dir = tempfile::tempdir()?;
    let sample = sample::make(dir.path()).await?;
    let video = ready_video(
        &app,
        &token,
        "refused.mp4",
        tokio::fs::read(&sample.video).await?,
    )
    .await?;
    let body = json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript});
    let (status, res) = dub(&app, &token, &video, body, None).await?;
    assert_eq!(status, 202, "{res}");
    let job = res["job_id"].as_str().context("job_id")?.to_string();
    let workflow =
        onevoice_shared::contracts::dubbing_workflow_id(onevoice_shared::ids::JobId(job.parse()?));
    let handle = app
        .state
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow);
    let result = tokio::time::timeout(
        Duration::from_secs(180),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await?;
    assert!(
        result.is_ok(),
        "the workflow must complete: {:?}",
        result.err()
    );
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM emails WHERE kind = 'job_completed'")
            .fetch_one(&app.state.db)
            .await?;
    assert!(attempts >= 1, "the email was tried");
    let lines = python(&[&fixture("legacy_consumer.py"), &q.events]).await?;
    assert!(lines.contains("DUBBING_COMPLETED"), "{lines}");
    app.shutdown().await
}

/// A job committed whose workflow never started — here its legacy message is never consumed —
/// is found by the maintenance workflow once the grace period (and, in `sqs` dispatch, the
/// message's retention) has passed: failed, with its hold released. A resume that cannot start
/// gives its new hold back the same way.
#[tokio::test]
async fn stranded_jobs_are_failed_and_their_holds_released() -> anyhow::Result<()> {
    let q = queues().await?;
    let app = TestApp::spawn_with(&[
        ("SQS_QUEUE_URL", q.jobs.as_str()),
        ("SQS_DLQ_URL", q.dlq.as_str()),
        ("SQS_PUBLISH_QUEUE_URL", q.events.as_str()),
        ("DISPATCH_MODE", "sqs"),
        ("MAINTENANCE_INTERVAL_SECS", "1"),
        ("JOB_STRANDED_AFTER_SECS", "1"),
        ("SQS_MESSAGE_RETENTION_SECS", "2"),
    ])
    .await?;
    let (user, token) = app.user("stranded@example.com").await?;
    let balance = || onevoice_shared::repo::ledger::balance(&app.state.db, user);
    let before = balance().await?;
    let (video, job) = queued_job(&app, &token).await?;
    assert!(balance().await? < before, "the job holds its credits");
    let failed = finished_job(&app, &token, &job, Duration::from_secs(60)).await?;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains("could not be started"),
        "{failed}"
    );
    assert_eq!(balance().await?, before, "the hold is released");

    // Resuming it cannot start (its original is gone): the new hold goes back at once.
    sqlx::query("DELETE FROM media_files WHERE video_id = $1::uuid AND file_type = 'original'")
        .bind(&video)
        .execute(&app.state.db)
        .await?;
    let (status, _) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 409);
    assert_eq!(balance().await?, before, "the resume's hold is released");
    let job_now: Value = app
        .http
        .get(app.url(&format!("/api/jobs/{job}")))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(job_now["status"], "failed", "{job_now}");
    app.shutdown().await
}
