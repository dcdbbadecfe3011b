//! The system benchmark (issue 25; not part of the test command): a whole offline dub of a long
//! video through the real REST API on the local stack, the server (API and worker) in this
//! process, built as `scripts/bench-dub.sh`'s `PROFILE` says (dev by default: the build the main
//! job and the tests use).
//!
//! The video is the audio bench's `source_{MINUTES}.mp4` (../shared/bench/make_fixtures.sh) and
//! its transcript the fixture's segments, each line numbered so that no two lines share a clip
//! (the fixture repeats 40 sentences). Each run uploads the video again and dubs it to the end.
//! Prints, per run and as medians: the job's time (the server's `created_at` to `completed_at`),
//! each step's, the share of lines whose speech ends inside their slot (`GET /api/jobs/{id}/fit`)
//! and this process's peak resident memory.
//!
//! ```sh
//! scripts/bench-dub.sh            # MINUTES="10 60" RUNS=3 VOICE=<voice id>
//! ```

use anyhow::Context;
use chrono::{DateTime, Utc};
use onevoice_shared::srt::{self, Cue};
use onevoice_tests::flows::{dub, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::stats::{env_or, median};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(3 * 3600);

#[derive(Deserialize)]
struct Fixture {
    source_mp4: PathBuf,
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct Segment {
    start: f64,
    end: f64,
    text: String,
}

/// The fixture's segments as an SRT, every line numbered so each is its own clip.
fn transcript(fixture: &Fixture) -> String {
    let cues: Vec<Cue> = fixture
        .segments
        .iter()
        .enumerate()
        .map(|(k, s)| Cue {
            start_ms: (s.start * 1000.0).round() as u64,
            end_ms: (s.end * 1000.0).round() as u64,
            text: format!("{} {}.", s.text.trim_end_matches('.'), k + 1),
            speaker: None,
        })
        .collect();
    srt::write(&cues)
}

fn at(v: &Value, field: &str) -> Option<DateTime<Utc>> {
    v[field].as_str()?.parse().ok()
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// `VmHWM` of this process (the API and the worker), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("RUNS", 3);
    let minutes: u64 = env_or("MINUTES", 10);
    let voice = std::env::var("VOICE").ok();
    let dir = PathBuf::from(env_or("DUBBENCH_DIR", "/tmp/dubbench".to_string()));
    let fixture: Fixture = serde_json::from_slice(
        &std::fs::read(dir.join(format!("segments_{minutes}.json")))
            .context("the bench fixture (scripts/bench-dub.sh makes it)")?,
    )?;
    let video_bytes = std::fs::read(&fixture.source_mp4)?;
    let srt = transcript(&fixture);
    // Access tokens that outlive a slow dub (a neural voice's hour takes longer than 15 minutes).
    let app = TestApp::spawn_with(&[
        ("DEFAULT_FREE_CREDITS", "1000000"),
        ("ACCESS_TOKEN_TTL_SECS", "86400"),
    ])
    .await?;
    println!(
        "{minutes}-minute video, {} lines, voice {}; {runs} runs (server times, seconds)\n",
        fixture.segments.len(),
        voice.as_deref().unwrap_or("(default)")
    );

    // step name -> (order, seconds per run)
    let mut steps: BTreeMap<String, (i64, Vec<f64>)> = BTreeMap::new();
    let (mut totals, mut shares) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (_, token) = app.user(&format!("bench-dub-{run}@example.test")).await?;
        let video = ready_video(&app, &token, "bench.mp4", video_bytes.clone()).await?;
        let mut body = json!({"target_language": "es", "source_language": "en",
            "source_transcript": srt});
        if let Some(v) = &voice {
            body["voice_id"] = json!(v);
        }
        let (status, started) = dub(&app, &token, &video, body, None).await?;
        anyhow::ensure!(status == 202, "dub refused with {status}: {started}");
        let id = started["job_id"].as_str().context("job_id")?.to_string();
        let deadline = Instant::now() + DEADLINE;
        let job = loop {
            let j = app
                .get(&format!("/api/jobs/{id}"), &token)
                .await?
                .expect(200)?;
            if matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                break j;
            }
            anyhow::ensure!(Instant::now() < deadline, "the dub did not end: {j}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        anyhow::ensure!(job["status"] == "completed", "the dub ended: {job}");
        let total = seconds(
            at(&job, "created_at").context("created_at")?,
            at(&job, "completed_at").context("completed_at")?,
        );
        for step in job["job_steps"].as_array().context("job_steps")? {
            if let (Some(from), Some(to)) = (at(step, "started_at"), at(step, "completed_at")) {
                let name = step["step_name"].as_str().unwrap_or("?").to_string();
                let order = step["step_order"].as_i64().unwrap_or(0);
                steps
                    .entry(name)
                    .or_insert((order, Vec::new()))
                    .1
                    .push(seconds(from, to));
            }
        }
        let fit = app
            .get(&format!("/api/jobs/{id}/fit"), &token)
            .await?
            .expect(200)?;
        let share = fit["within_slot_share"]
            .as_f64()
            .context("within_slot_share")?;
        println!(
            "run {}: job {total:.1} s, {:.1} % of lines inside their slot",
            run + 1,
            share * 100.0
        );
        totals.push(total);
        shares.push(share);
    }

    println!("\n| step | medians (s) | runs |\n|---|---|---|");
    let mut ordered: Vec<_> = steps.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _))| *order);
    for (name, (_, times)) in ordered {
        let all: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
        println!(
            "| {name} | {:.2} | {} |",
            median(times.clone()),
            all.join(", ")
        );
    }
    let all: Vec<String> = totals.iter().map(|t| format!("{t:.1}")).collect();
    println!(
        "| **job** | **{:.1}** | {} |",
        median(totals),
        all.join(", ")
    );
    println!(
        "\nlines inside their slot: {:.1} % (median); peak memory of the server (API and worker): {:.0} MiB",
        median(shares) * 100.0,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    app.shutdown().await
}
