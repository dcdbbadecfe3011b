//! The HTTP benchmark of the read routes (issue 25; not part of the test command): the API (built
//! in release mode, in this process, on the local stack) answers a fixed rate of requests from an
//! open-loop load generator, and the latency percentiles are printed per route.
//!
//! Open loop: requests are sent on a fixed schedule (one every 1/RATE s) whether or not earlier
//! ones have been answered, and each latency is measured from the moment the schedule meant to
//! send it, so a slow answer cannot hide the requests queued behind it (no coordinated
//! omission). The generator runs on its own thread and runtime, apart from the server's.
//!
//! The data: one user with VIDEOS uploaded videos, one of them dubbed to the end (so its job has
//! all its steps). Routes: the dub's status (`GET /api/videos/{id}/status`), the job with its steps
//! (`GET /api/jobs/{id}`) and the video list (`GET /api/videos`).
//!
//! ```sh
//! scripts/bench-http.sh            # RATE=500 SECONDS=20 VIDEOS=20
//! ```

use anyhow::Context;
use onevoice_shared::srt;
use onevoice_tests::flows::{dub_to_end, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::sample;
use onevoice_tests::stats::env_or;
use serde_json::json;
use std::time::Duration;

/// What one route's load produced.
struct Outcome {
    /// Latencies of the answered requests, in microseconds, sorted.
    latencies: Vec<u64>,
    failures: usize,
    sent: usize,
    /// The span from the first scheduled send to the last answer.
    wall: Duration,
}

/// Sends GET `url` (with `token`) `rate` times a second for `seconds` on the schedule, each
/// latency counted from its scheduled instant.
async fn open_loop(url: String, token: String, rate: u32, seconds: u64) -> Outcome {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = rate as usize * seconds as usize;
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total);
    for k in 0..total {
        let due = start + period * k as u32;
        tokio::time::sleep_until(due).await;
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        handles.push(tokio::spawn(async move {
            let ok = match client.get(&url).bearer_auth(&token).send().await {
                Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for h in handles {
        match h.await {
            Ok((true, took)) => latencies.push(took.as_micros() as u64),
            _ => failures += 1,
        }
    }
    latencies.sort_unstable();
    Outcome {
        latencies,
        failures,
        sent: total,
        wall: start.elapsed(),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[k] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let rate: u32 = env_or("RATE", 500);
    let seconds: u64 = env_or("SECONDS", 20);
    let videos: usize = env_or("VIDEOS", 20);
    // The server: API and worker on a runtime of its own.
    let server = tokio::runtime::Runtime::new()?;
    let (app, token, routes) = server.block_on(async {
        let app = TestApp::spawn_with(&[("DEFAULT_FREE_CREDITS", "100000")]).await?;
        let (_, token) = app.user("bench-http@example.test").await?;
        let dir = tempfile::tempdir()?;
        let sample = sample::make(dir.path()).await?;
        let bytes = tokio::fs::read(&sample.video).await?;
        let mut ids = Vec::new();
        for k in 0..videos.max(1) {
            ids.push(ready_video(&app, &token, &format!("clip-{k}.mp4"), bytes.clone()).await?);
        }
        let body = json!({"target_language": "es", "source_language": "en",
            "source_transcript": srt::write(&sample.cues)});
        let job = dub_to_end(&app, &token, &ids[0], body, Duration::from_secs(600)).await?;
        anyhow::ensure!(job["status"] == "completed", "the dub ended: {job}");
        let job_id = job["id"].as_str().context("job id")?.to_string();
        let routes = vec![
            ("dub status", format!("/api/videos/{}/status", ids[0])),
            ("job with steps", format!("/api/jobs/{job_id}")),
            ("video list", "/api/videos".to_string()),
        ];
        anyhow::Ok((app, token, routes))
    })?;
    println!(
        "open loop at {rate} requests/s for {seconds} s per route ({videos} videos); latency from the scheduled send, ms\n"
    );
    println!(
        "| route | sent | failed | p50 | p90 | p99 | max | achieved req/s |\n|---|---|---|---|---|---|---|---|"
    );
    for (name, path) in &routes {
        let (url, token) = (app.url(path), token.clone());
        // The generator: its own thread and single-threaded runtime, so it does not take turns
        // with the server's tasks.
        let outcome = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // A short warm-up at the same rate (connections, caches), then the measured run.
            rt.block_on(open_loop(url.clone(), token.clone(), rate, 2));
            rt.block_on(open_loop(url, token, rate, seconds))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("load generator panicked"))?;
        let l = &outcome.latencies;
        println!(
            "| {name} `{}` | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            path.split('/').take(3).collect::<Vec<_>>().join("/") + "/…",
            outcome.sent,
            outcome.failures,
            percentile(l, 0.50),
            percentile(l, 0.90),
            percentile(l, 0.99),
            percentile(l, 1.0),
            l.len() as f64 / outcome.wall.as_secs_f64()
        );
    }
    server.block_on(app.shutdown())
}
