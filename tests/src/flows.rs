//! The client-side steps most tests repeat, through the real REST API: upload a video (presigned
//! PUT + complete), wait for it to be processed, start a dub, wait for a job to end.

use crate::harness::{TestApp, eventually};
use anyhow::Context;
use serde_json::{Value, json};
use std::time::Duration;

/// Uploads `bytes` through a presigned PUT and completes the upload; returns the video id.
pub async fn upload(
    app: &TestApp,
    token: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<String> {
    let content_type = if filename.ends_with(".mkv") {
        "video/x-matroska"
    } else {
        "video/mp4"
    };
    let request = json!({"filename": filename, "content_type": content_type, "size": bytes.len()});
    let body = app
        .post_json("/api/videos/upload-url", Some(token), &request)
        .await?
        .expect(201)?;
    let id = body["video_id"].as_str().context("video_id")?.to_string();
    let put = app
        .http
        .put(body["upload_url"].as_str().context("upload_url")?)
        .header("content-type", "video/mp4")
        .body(bytes)
        .send()
        .await?;
    anyhow::ensure!(put.status().is_success(), "PUT answered {}", put.status());
    app.post(&format!("/api/videos/{id}/complete"), token)
        .await?
        .expect(202)?;
    Ok(id)
}

/// Waits until the ingest workflow settled the video; returns it.
pub async fn settled(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Value> {
    let path = format!("/api/videos/{id}");
    eventually(
        Duration::from_secs(60),
        "the upload to be processed",
        || async {
            let v = app.get(&path, token).await?.body;
            Ok((v["status"] != "pending").then_some(v))
        },
    )
    .await
}

/// Uploads the file and waits until it is ready to dub.
pub async fn ready_video(
    app: &TestApp,
    token: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<String> {
    let id = upload(app, token, filename, bytes).await?;
    let v = settled(app, token, &id).await?;
    anyhow::ensure!(v["status"] == "uploaded", "upload not accepted: {v}");
    Ok(id)
}

/// Requests a dub; returns the status and the body.
pub async fn dub(
    app: &TestApp,
    token: &str,
    video: &str,
    body: Value,
    key: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = app
        .http
        .post(app.url(&format!("/api/videos/{video}/dub")))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// Starts a dub (which must be accepted: 202) and waits for its job to end; returns the job.
pub async fn dub_to_end(
    app: &TestApp,
    token: &str,
    video: &str,
    body: Value,
    deadline: Duration,
) -> anyhow::Result<Value> {
    let (status, started) = dub(app, token, video, body, None).await?;
    anyhow::ensure!(status == 202, "dub refused with {status}: {started}");
    let job = started["job_id"].as_str().context("job_id")?;
    finished_job(app, token, job, deadline).await
}

/// Waits until the job reaches a terminal status; returns `GET /api/jobs/{id}`.
pub async fn finished_job(
    app: &TestApp,
    token: &str,
    job: &str,
    deadline: Duration,
) -> anyhow::Result<Value> {
    let path = format!("/api/jobs/{job}");
    eventually(deadline, "the job to end", || async {
        let j = app.get(&path, token).await?.body;
        Ok(matches!(
            j["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        )
        .then_some(j))
    })
    .await
}

/// A freshly generated sample video, uploaded and processed: the scratch directory (keep it alive
/// while the sample is used), the sample, and the video id.
pub async fn sample_video(
    app: &TestApp,
    token: &str,
    filename: &str,
) -> anyhow::Result<(tempfile::TempDir, crate::sample::Sample, String)> {
    let dir = tempfile::tempdir()?;
    let sample = crate::sample::make(dir.path()).await?;
    let video = ready_video(app, token, filename, tokio::fs::read(&sample.video).await?).await?;
    Ok((dir, sample, video))
}

/// The bytes of one of a video's files (`query`: `file_type=…&language=…&format=…`), fetched
/// through the presigned URL the API hands out.
pub async fn download(
    app: &TestApp,
    token: &str,
    video: &str,
    query: &str,
) -> anyhow::Result<Vec<u8>> {
    let answer = app
        .get(&format!("/api/videos/{video}/download?{query}"), token)
        .await?;
    let url = answer.expect(200).context(query.to_string())?["download_url"]
        .as_str()
        .context("download_url")?
        .to_string();
    Ok(app
        .http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .to_vec())
}

/// Asks to cancel the video's running dub (`POST /api/videos/{id}/cancel`); returns the status
/// and the body.
pub async fn cancel(app: &TestApp, token: &str, video: &str) -> anyhow::Result<(u16, Value)> {
    video_action(app, token, video, "cancel").await
}

/// Asks to resume the video's failed dub (`POST /api/videos/{id}/resume`); returns the status
/// and the body.
pub async fn resume(app: &TestApp, token: &str, video: &str) -> anyhow::Result<(u16, Value)> {
    video_action(app, token, video, "resume").await
}

async fn video_action(
    app: &TestApp,
    token: &str,
    video: &str,
    action: &str,
) -> anyhow::Result<(u16, Value)> {
    let (status, body) = app
        .post(&format!("/api/videos/{video}/{action}"), token)
        .await?
        .parts();
    Ok((status.as_u16(), body))
}

/// A job's stored audio artifact (any format ffmpeg reads), decoded at
/// [`crate::media::MEASURE_RATE`]: mono, or interleaved stereo.
pub async fn stored_audio(app: &TestApp, key: &str, stereo: bool) -> anyhow::Result<Vec<f32>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(key.rsplit('/').next().unwrap_or("audio"));
    app.state.storage.download_to(key, &file).await?;
    if stereo {
        crate::media::decode_stereo(&file).await
    } else {
        crate::media::decode_audio(&file).await
    }
}

/// Starts a Spanish dub of `video` whose uploaded transcript is broken after the job starts and
/// before the worker reaches it (the worker is stopped meanwhile), so the job fails at speech
/// recognition through no fault of the request; returns the job id and the transcript's key (to
/// fix the cause). The job has not ended yet.
pub async fn dub_with_broken_transcript(
    app: &mut TestApp,
    token: &str,
    user: onevoice_shared::ids::UserId,
    video: &str,
    transcript: &str,
) -> anyhow::Result<(String, String)> {
    app.stop_worker().await?;
    let request = serde_json::json!({
        "target_language": "es", "source_language": "en", "source_transcript": transcript,
    });
    let (status, body) = dub(app, token, video, request, None).await?;
    anyhow::ensure!(status == 202, "dub refused with {status}: {body}");
    let job = body["job_id"].as_str().context("job_id")?.to_string();
    let transcript_key = crate::keys::outputs(user, video, &job).transcript();
    app.state
        .storage
        .put_bytes(
            &transcript_key,
            b"not an srt".to_vec(),
            "application/x-subrip",
        )
        .await?;
    app.start_worker().await?;
    Ok((job, transcript_key))
}
