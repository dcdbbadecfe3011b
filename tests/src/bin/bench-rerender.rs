//! The re-render benchmark (issue 23; not part of the test command): how much faster a one-line
//! re-render of a 10-minute video is than its first dub, through the real REST API on the local
//! stack, with the server (API and worker, in this process) built in release mode.
//!
//! Each run uploads a new 10-minute video (the sample looped: a line every few seconds, with its
//! transcript, every line's text its own so no clip is shared), dubs it to the end, edits one
//! line's translation and re-renders it. Times are the server's: the job's `created_at` to
//! `completed_at`, the version's likewise. Prints every run and the medians.
//!
//! ```sh
//! scripts/bench-rerender.sh                     # RUNS=3 MINUTES=10 VOICE=<voice id> (default: the default voice)
//! ```

use anyhow::Context;
use chrono::{DateTime, Utc};
use onevoice_shared::srt::{self, Cue};
use onevoice_tests::flows::{dub, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::sample::{self, DURATION_MS};
use onevoice_tests::stats::{env_or, median};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(3600);

/// The sample looped to `minutes` (streams copied), with its lines repeated at every loop.
async fn long_sample(dir: &Path, minutes: u64) -> anyhow::Result<(Vec<u8>, String, usize)> {
    let short = sample::make(dir).await?;
    let total_ms = minutes * 60_000;
    let loops = total_ms.div_ceil(DURATION_MS);
    let long = dir.join("long.mp4");
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-stream_loop"])
        .arg((loops - 1).to_string())
        .arg("-i")
        .arg(&short.video)
        .args([
            "-t",
            &format!("{:.3}", total_ms as f64 / 1000.0),
            "-c",
            "copy",
        ])
        .arg(&long)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cues: Vec<Cue> = (0..loops)
        .flat_map(|n| {
            // Every line says something of its own (clips are shared by identical lines).
            short.cues.iter().map(move |c| Cue {
                start_ms: c.start_ms + n * DURATION_MS,
                end_ms: c.end_ms + n * DURATION_MS,
                text: format!("{} Part {}.", c.text, n + 1),
                ..c.clone()
            })
        })
        .filter(|c| c.end_ms <= total_ms)
        .collect();
    Ok((tokio::fs::read(&long).await?, srt::write(&cues), cues.len()))
}

fn at(v: &Value, field: &str) -> anyhow::Result<DateTime<Utc>> {
    let s = v[field]
        .as_str()
        .with_context(|| format!("{field} in {v}"))?;
    Ok(s.parse()?)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// Polls `path` every 100 ms until `done` says it ended; returns the last answer.
async fn until(
    app: &TestApp,
    token: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let v = app.get(path, token).await?.expect(200)?;
        if done(&v) {
            return Ok(v);
        }
        anyhow::ensure!(Instant::now() < deadline, "{path} did not end: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("RUNS", 3);
    let minutes: u64 = env_or("MINUTES", 10);
    let voice = std::env::var("VOICE").ok();
    let app = TestApp::spawn_with(&[("DEFAULT_FREE_CREDITS", "100000")]).await?;
    let (_, token) = app.user("bench-rerender@example.test").await?;
    let dir = tempfile::tempdir()?;
    let (video_bytes, transcript, lines) = long_sample(dir.path(), minutes).await?;
    println!(
        "{minutes}-minute video, {lines} lines, voice {}; {runs} runs (server times, seconds)\n",
        voice.as_deref().unwrap_or("(default)")
    );
    println!("| run | first dub | one-line re-render | speed-up |\n|---|---|---|---|");
    let (mut firsts, mut rerenders) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let video = ready_video(&app, &token, "long.mp4", video_bytes.clone()).await?;
        let mut body = json!({"target_language": "es", "source_language": "en",
            "source_transcript": transcript});
        if let Some(v) = &voice {
            body["voice_id"] = json!(v);
        }
        let (status, started) = dub(&app, &token, &video, body, None).await?;
        anyhow::ensure!(status == 202, "dub refused with {status}: {started}");
        let id = started["job_id"].as_str().context("job_id")?.to_string();
        let job = until(&app, &token, &format!("/api/jobs/{id}"), |j| {
            matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await?;
        anyhow::ensure!(job["status"] == "completed", "the dub ended: {job}");
        let first = seconds(at(&job, "created_at")?, at(&job, "completed_at")?);

        // One line in the middle of the video, a different one each run.
        let index = lines / 2 + run;
        let edit = json!({"translation": format!("Una frase nueva, la número {run}.")});
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/api/jobs/{id}/segments/{index}"),
                Some(&token),
                Some(&edit),
            )
            .await?
            .parts();
        anyhow::ensure!(status == 200, "edit refused with {status}: {body}");
        let started = app
            .post(&format!("/api/jobs/{id}/rerender"), &token)
            .await?
            .expect(202)?;
        let n = started["version"].as_u64().context("version")? as usize;
        let versions = until(&app, &token, &format!("/api/jobs/{id}/versions"), |v| {
            let s = &v["versions"][n - 1]["status"];
            !s.is_null() && s != "processing"
        })
        .await?;
        let version = &versions["versions"][n - 1];
        anyhow::ensure!(
            version["status"] == "completed",
            "the re-render ended: {version}"
        );
        let again = seconds(at(version, "created_at")?, at(version, "completed_at")?);
        println!(
            "| {} | {first:.2} | {again:.2} | {:.1}x |",
            run + 1,
            first / again
        );
        firsts.push(first);
        rerenders.push(again);
    }
    let (first, again) = (median(firsts), median(rerenders));
    println!(
        "| median | {first:.2} | {again:.2} | {:.1}x |",
        first / again
    );
    app.shutdown().await
}
