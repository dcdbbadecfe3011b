//! Several target languages in one request: one job per language under a batch id, held
//! together (all or nothing), each completed and charged once, followed together; the per-video
//! status, cancel and resume routes name a job or a language.

use anyhow::Context;
use onevoice_shared::ids::JobId;
use onevoice_shared::repo::ledger;
use onevoice_tests::flows::{dub, finished_job, sample_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::tts::FakeTts;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(240);

async fn balance(app: &TestApp, user: onevoice_shared::ids::UserId) -> anyhow::Result<i64> {
    Ok(ledger::balance(&app.state.db, user).await?)
}

fn batch(transcript: &str, languages: &[&str]) -> Value {
    json!({"target_languages": languages, "source_language": "en", "source_transcript": transcript})
}

#[tokio::test]
async fn a_batch_of_three_languages_completes_each_charged_once() -> anyhow::Result<()> {
    // The offline translator knows English to Spanish only: the LLM (a local fake of OpenAI's
    // API, with its voices) translates into French and German.
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("LLM_MODEL", "gpt-test".into()));
    let app = TestApp::spawn_with(&settings).await?;
    let (user, token) = app.user("batch@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "batch.mp4").await?;
    assert_eq!(balance(&app, user).await?, 100);

    let request = batch(&sample.transcript, &["es", "fr", "de"]);
    let (status, started) = dub(&app, &token, &video, request.clone(), Some("batch-1")).await?;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["credits"], 30, "{started}");
    let batch_id = started["batch_id"]
        .as_str()
        .context("batch_id")?
        .to_string();
    let jobs: Vec<(String, String)> = started["jobs"]
        .as_array()
        .context("jobs")?
        .iter()
        .map(|j| {
            (
                j["target_language"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                j["job_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let languages: Vec<&str> = jobs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(languages, ["es", "fr", "de"]);
    assert_eq!(balance(&app, user).await?, 70, "all three held at once");
    // Listed together: the jobs list filtered by the batch holds exactly its jobs.
    let listed = app
        .get(&format!("/api/jobs?batch_id={batch_id}"), &token)
        .await?
        .expect(200)?;
    assert_eq!(listed["pagination"]["total"], 3, "{listed}");
    let mut ids: Vec<&str> = listed["jobs"]
        .as_array()
        .context("jobs")?
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    let mut expected: Vec<&str> = jobs.iter().map(|(_, j)| j.as_str()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    let other = app
        .get(
            &format!("/api/jobs?batch_id={}", uuid::Uuid::new_v4()),
            &token,
        )
        .await?
        .expect(200)?;
    assert_eq!(other["pagination"]["total"], 0, "{other}");
    app.get("/api/jobs?batch_id=nope", &token)
        .await?
        .expect(422)?;
    // The same request with the same key is the same batch; another body with it is a conflict.
    let (status, again) = dub(&app, &token, &video, request, Some("batch-1")).await?;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["batch_id"], batch_id.as_str());
    let (status, _) = dub(
        &app,
        &token,
        &video,
        batch(&sample.transcript, &["es", "it"]),
        Some("batch-1"),
    )
    .await?;
    assert_eq!(status, 409);
    assert_eq!(
        balance(&app, user).await?,
        70,
        "a repeat holds nothing more"
    );

    for (language, job) in &jobs {
        let done = finished_job(&app, &token, job, DEADLINE).await?;
        assert_eq!(done["status"], "completed", "{language}: {done}");
        assert_eq!(done["target_language"], language.as_str());
        assert_eq!(done["batch_id"], batch_id.as_str());
        assert_eq!(
            ledger::captures(&app.state.db, JobId(job.parse()?)).await?,
            1,
            "{language}"
        );
    }
    assert_eq!(
        balance(&app, user).await?,
        70,
        "three dubs, ten credits each"
    );

    // Followed together, and per language on the per-video routes.
    let followed = app
        .get(&format!("/api/batches/{batch_id}"), &token)
        .await?
        .expect(200)?;
    let statuses: Vec<&str> = followed["jobs"]
        .as_array()
        .context("jobs")?
        .iter()
        .filter_map(|j| j["status"].as_str())
        .collect();
    assert_eq!(statuses, ["completed"; 3], "{followed}");
    let fr = app
        .get(&format!("/api/videos/{video}/status?language=fr"), &token)
        .await?
        .expect(200)?;
    assert_eq!(fr["job_id"], jobs[1].1.as_str(), "{fr}");
    let es = app
        .get(
            &format!("/api/videos/{video}/status?job_id={}", jobs[0].1),
            &token,
        )
        .await?
        .expect(200)?;
    assert_eq!(es["job_id"], jobs[0].1.as_str(), "{es}");
    let (status, body) = app
        .get(&format!("/api/videos/{video}/status?language=xx"), &token)
        .await?
        .parts();
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .get(&format!("/api/videos/{video}/status?language=ja"), &token)
        .await?
        .parts();
    assert_eq!(status, 404, "no job into that language");

    // Nobody else sees the batch.
    let (_, other) = app.user("batch-other@example.com").await?;
    assert_eq!(
        app.get(&format!("/api/batches/{batch_id}"), &other)
            .await?
            .status,
        404
    );
    app.shutdown().await
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_one_language_can_be_cancelled() -> anyhow::Result<()> {
    // 40 credits a minute: the 11 s sample costs 40 per language, and the 100-credit grant
    // covers two languages but not three.
    let mut app = TestApp::spawn_with(&[("CREDIT_COST_PER_MINUTE", "40")]).await?;
    let (user, token) = app.user("batch-poor@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "poor.mp4").await?;

    let (status, body) = dub(
        &app,
        &token,
        &video,
        batch(&sample.transcript, &["es", "fr", "de"]),
        None,
    )
    .await?;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["details"]["needed"], 120, "{body}");
    assert_eq!(balance(&app, user).await?, 100, "nothing held");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE user_id = $1")
        .bind(user)
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(jobs, 0, "nothing started");

    // Requests a batch cannot be.
    for (body, field) in [
        (
            json!({"target_languages": ["es"], "source_transcript": sample.transcript}),
            "target_languages",
        ),
        (
            json!({"target_languages": ["es", "es"], "source_transcript": sample.transcript}),
            "target_languages",
        ),
        (
            json!({"target_languages": ["es", "xx"], "source_transcript": sample.transcript}),
            "target_languages",
        ),
        (
            json!({"target_language": "es", "target_languages": ["fr", "de"], "source_transcript": sample.transcript}),
            "target_languages",
        ),
        (
            json!({"target_languages": ["es", "fr"], "voice_id": "espeak-es-f", "source_transcript": sample.transcript}),
            "voice_id",
        ),
        (
            json!({"source_transcript": sample.transcript}),
            "target_language",
        ),
    ] {
        let (status, answer) = dub(&app, &token, &video, body.clone(), None).await?;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["details"]["errors"][0]["field"], field,
            "{body}: {answer}"
        );
    }
    assert_eq!(balance(&app, user).await?, 100);

    // Two languages fit. The worker stops, so both wait; cancelling one by language leaves the
    // other, which completes.
    app.stop_worker().await?;
    let (status, started) = dub(
        &app,
        &token,
        &video,
        batch(&sample.transcript, &["es", "fr"]),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{started}");
    assert_eq!(balance(&app, user).await?, 20);
    let job_of = |language: &str| -> anyhow::Result<String> {
        started["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["target_language"] == language))
            .and_then(|j| j["job_id"].as_str())
            .map(str::to_string)
            .context("job of language")
    };
    let (es, fr) = (job_of("es")?, job_of("fr")?);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/videos/{video}/cancel?language=fr"),
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(status, 202, "{body}");
    app.start_worker().await?;
    let cancelled = finished_job(&app, &token, &fr, DEADLINE).await?;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let done = finished_job(&app, &token, &es, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        balance(&app, user).await?,
        60,
        "one dub charged, the cancelled one's hold released"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/videos/{video}/resume?language=es"),
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(status, 409, "a completed dub cannot be resumed");
    app.shutdown().await
}
