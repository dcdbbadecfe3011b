//! A part of a video: `start`/`end` dub only that part (its transcript lines shifted with it)
//! and charge for it; a free preview dubs the first seconds at no charge, names every file
//! `….preview.…`, and is limited per account per day. Ranges that make no sense are refused.

use anyhow::Context;
use onevoice_shared::srt::{self, Cue};
use onevoice_tests::flows::{download, dub, finished_job, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::media::layout;
use onevoice_tests::sample::{self, DURATION_MS};
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(180);
/// Copies of the sample in the long video: 121 s, three started minutes (30 credits).
const COPIES: u64 = 11;

async fn balance(app: &TestApp, user: onevoice_shared::ids::UserId) -> anyhow::Result<i64> {
    Ok(onevoice_shared::repo::ledger::balance(&app.state.db, user).await?)
}

/// Starts a dub that must be accepted and waits for it; returns the job.
async fn dub_done(app: &TestApp, token: &str, video: &str, body: Value) -> anyhow::Result<Value> {
    let (status, started) = dub(app, token, video, body, None).await?;
    anyhow::ensure!(status == 202, "dub refused with {status}: {started}");
    let job = started["job_id"].as_str().context("job_id")?;
    let done = finished_job(app, token, job, DEADLINE).await?;
    anyhow::ensure!(done["status"] == "completed", "{done}");
    Ok(json!({"started": started, "job": done}))
}

/// The length of the video's (one) Spanish dub.
async fn dubbed_length_ms(app: &TestApp, token: &str, video: &str) -> anyhow::Result<u64> {
    let bytes = download(app, token, video, "file_type=dubbed_video&language=es").await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dub.mp4");
    tokio::fs::write(&file, bytes).await?;
    Ok(layout(&file).await?.duration_ms)
}

#[tokio::test]
async fn a_time_range_dubs_and_charges_only_that_part() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (user, token) = app.user("range@example.com").await?;
    let dir = tempfile::tempdir()?;
    let one = sample::make(dir.path()).await?;
    let long = dir.path().join("long.mp4");
    let looped = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-stream_loop"])
        .arg((COPIES - 1).to_string())
        .arg("-i")
        .arg(&one.video)
        .args(["-c", "copy"])
        .arg(&long)
        .status()
        .await?;
    anyhow::ensure!(looped.success(), "ffmpeg could not loop the sample");
    let cues: Vec<Cue> = (0..COPIES)
        .flat_map(|k| {
            one.cues.iter().map(move |c| Cue {
                start_ms: c.start_ms + k * DURATION_MS,
                end_ms: c.end_ms + k * DURATION_MS,
                ..c.clone()
            })
        })
        .collect();
    let transcript = srt::write(&cues);
    let video = ready_video(&app, &token, "long.mp4", tokio::fs::read(&long).await?).await?;
    let quote = app
        .get(&format!("/api/videos/{video}/quote"), &token)
        .await?
        .expect(200)?;
    assert_eq!(quote["credits"], 30, "{quote}");
    let part = app
        .get(
            &format!("/api/videos/{video}/quote?start=11&end=22"),
            &token,
        )
        .await?
        .expect(200)?;
    assert_eq!(part["credits"], 10, "{part}");
    assert_eq!(part["duration_seconds"], 11.0, "{part}");
    let free = app
        .get(&format!("/api/videos/{video}/quote?preview=true"), &token)
        .await?
        .expect(200)?;
    assert_eq!(free["credits"], 0, "{free}");
    app.get(
        &format!("/api/videos/{video}/quote?start=22&end=11"),
        &token,
    )
    .await?
    .expect(422)?;

    // Refused: nonsense ranges, and a transcript with nothing in the range.
    let request = |extra: Value| {
        let mut body = json!({"target_language": "es", "source_language": "en",
                              "source_transcript": transcript});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    };
    for (extra, field) in [
        (json!({"start": 22, "end": 11}), "end"),
        (json!({"start": 10, "end": 10.5}), "end"),
        (json!({"start": -1}), "start"),
        (json!({"end": 500}), "end"),
        (json!({"start": "soon"}), "start"),
        (json!({"preview": true, "start": 1}), "preview"),
    ] {
        let (status, body) = dub(&app, &token, &video, request(extra.clone()), None).await?;
        assert_eq!(status, 422, "{extra}: {body}");
        assert!(body.to_string().contains(field), "{extra}: {body}");
    }
    let first_copy_only = json!({"target_language": "es", "source_language": "en",
                                 "source_transcript": one.transcript, "start": 30, "end": 40});
    let (status, body) = dub(&app, &token, &video, first_copy_only, None).await?;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("source_transcript"), "{body}");
    assert_eq!(balance(&app, user).await?, 100, "refusals hold nothing");

    // The second copy, 11 s to 22 s: charged for 11 s (one minute), and 11 s long.
    let done = dub_done(
        &app,
        &token,
        &video,
        request(json!({"start": 11, "end": 22})),
    )
    .await?;
    assert_eq!(done["started"]["credits"], 10, "{done}");
    let job = &done["job"];
    assert_eq!(job["range"], json!({"start": 11.0, "end": 22.0}), "{job}");
    assert_eq!(job["preview"], false);
    assert_eq!(balance(&app, user).await?, 90);
    let length = dubbed_length_ms(&app, &token, &video).await?;
    assert!(
        length.abs_diff(DURATION_MS) < 500,
        "the dub is {length} ms long"
    );

    // A re-render after an edit is of the same part, not of the whole video.
    let id = job["id"].as_str().context("job id")?;
    let edits = json!({"edits": [{"index": 0, "translation": "Hola y bienvenidos otra vez."}]});
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/jobs/{id}/segments"),
        Some(&token),
        Some(&edits),
    )
    .await?
    .expect(200)?;
    app.post(&format!("/api/jobs/{id}/rerender"), &token)
        .await?
        .expect(202)?;
    let versions = onevoice_tests::harness::eventually(DEADLINE, "version 2", || async {
        let v = app
            .get(&format!("/api/jobs/{id}/versions"), &token)
            .await?
            .expect(200)?;
        Ok((v["versions"][1]["status"] != "processing").then_some(v))
    })
    .await?;
    assert_eq!(versions["versions"][1]["status"], "completed", "{versions}");
    let url = versions["versions"][1]["files"]["video_url"]
        .as_str()
        .context("v2 url")?;
    let bytes = app.http.get(url).send().await?.bytes().await?;
    let file = dir.path().join("v2.mp4");
    tokio::fs::write(&file, &bytes).await?;
    let length = layout(&file).await?.duration_ms;
    assert!(
        length.abs_diff(DURATION_MS) < 500,
        "version 2 is {length} ms long"
    );
    Ok(())
}

#[tokio::test]
async fn a_preview_is_free_marked_and_limited_per_day() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(&[("PREVIEW_SECONDS", "5"), ("PREVIEWS_PER_DAY", "1")]).await?;
    let (user, token) = app.user("preview@example.com").await?;
    let dir = tempfile::tempdir()?;
    let one = sample::make(dir.path()).await?;
    let video = ready_video(&app, &token, "talk.mp4", tokio::fs::read(&one.video).await?).await?;
    let body = json!({"target_language": "es", "source_language": "en",
                      "source_transcript": one.transcript, "preview": true});

    let done = dub_done(&app, &token, &video, body.clone()).await?;
    assert_eq!(done["started"]["credits"], 0, "{done}");
    let job = &done["job"];
    assert_eq!(job["preview"], true, "{job}");
    assert_eq!(job["range"], json!({"start": 0.0, "end": 5.0}), "{job}");
    assert_eq!(balance(&app, user).await?, 100, "a preview costs nothing");
    let id = job["id"].as_str().context("job id")?;
    let length = dubbed_length_ms(&app, &token, &video).await?;
    assert!(
        length.abs_diff(5_000) < 500,
        "the preview is {length} ms long"
    );
    let names: Vec<String> =
        sqlx::query_scalar("SELECT filename FROM media_files WHERE job_id = $1")
            .bind(uuid::Uuid::parse_str(id)?)
            .fetch_all(&app.state.db)
            .await?;
    // Every output (named after the video; the user's transcript keeps its own name).
    let outputs: Vec<&String> = names.iter().filter(|n| n.starts_with("talk.")).collect();
    assert!(outputs.len() >= 5, "{names:?}");
    assert!(
        outputs.iter().all(|n| n.contains(".es.preview.")),
        "{names:?}"
    );

    // One a day here: the next is refused with when to come back, and nothing is started.
    let res = app
        .http
        .post(app.url(&format!("/api/videos/{video}/dub")))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 429);
    let wait: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("Retry-After")?;
    assert!((1..=86_400).contains(&wait), "{wait}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(jobs, 1);
    // Not for several languages at once.
    let batch = json!({"target_languages": ["es", "fr"], "source_language": "en",
                       "source_transcript": one.transcript, "preview": true});
    let (status, refused) = dub(&app, &token, &video, batch, None).await?;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("preview"), "{refused}");
    Ok(())
}
