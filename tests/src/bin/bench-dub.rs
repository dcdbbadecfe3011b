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
//! With `WORKERS=n` the API stays in this process and the work goes to `n` separate
//! `onevoice worker` processes, each pinned to one core (`PIN=0`: not pinned), as `n` one-core
//! machines would run it; the memory printed is then each worker's. With `FAKE_TTS_MS=t` the
//! voice is `openai-alloy` of a fake provider answering every line in `t` ms (each worker still
//! asks it `TTS_CONCURRENCY` lines at a time), and the bench prints how far generate_audio was
//! from that ideal: the orchestration's share of the step.
//!
//! ```sh
//! scripts/bench-dub.sh            # MINUTES="10 60" RUNS=3 VOICE=<voice id>
//! WORKERS=2 FAKE_TTS_MS=300 scripts/bench-dub.sh 60
//! ```

use anyhow::Context;
use chrono::{DateTime, Utc};
use onevoice_shared::srt::{self, Cue};
use onevoice_tests::flows::{dub, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::stats::{env_or, median};
use onevoice_tests::tts::FakeTts;
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

/// `VmHWM` of a process (`self`: this one, the API and maybe the worker), in MiB.
fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
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
    let workers: usize = env_or("WORKERS", 0);
    let fake_ms: Option<u64> = std::env::var("FAKE_TTS_MS")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("FAKE_TTS_MS")?;
    let fake = match fake_ms {
        Some(ms) => {
            let fake = FakeTts::start().await?;
            fake.answer_after("/v1/audio/speech", Duration::from_millis(ms));
            Some(fake)
        }
        None => None,
    };
    let voice = std::env::var("VOICE")
        .ok()
        .or_else(|| fake.as_ref().map(|_| "openai-alloy".to_string()));
    let dir = PathBuf::from(env_or("DUBBENCH_DIR", "/tmp/dubbench".to_string()));
    let fixture: Fixture = serde_json::from_slice(
        &std::fs::read(dir.join(format!("segments_{minutes}.json")))
            .context("the bench fixture (scripts/bench-dub.sh makes it)")?,
    )?;
    let video_bytes = std::fs::read(&fixture.source_mp4)?;
    let srt = transcript(&fixture);
    // Access tokens that outlive a slow dub (a neural voice's hour takes longer than 15 minutes).
    let provider = fake.as_ref().map(FakeTts::settings).unwrap_or_default();
    let mut settings = vec![
        ("DEFAULT_FREE_CREDITS", "1000000".to_string()),
        ("ACCESS_TOKEN_TTL_SECS", "86400".to_string()),
    ];
    settings.extend(provider.iter().cloned());
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = if workers == 0 {
        TestApp::spawn_with(&settings).await?
    } else {
        TestApp::spawn_paused(&settings).await?
    };
    let pin = env_or("PIN", 1) == 1;
    let cores = std::thread::available_parallelism()?.get();
    let mut processes = Vec::new();
    for n in 0..workers {
        let mut cmd = app.worker_command()?;
        cmd.envs(provider.iter().map(|(k, v)| (*k, v.as_str())));
        let child = cmd.spawn()?;
        let pid = child.id().context("a worker's pid")?.to_string();
        if pin {
            // Every thread of the worker (and so the tools it starts) on one core.
            let core = (n % cores).to_string();
            let pinned = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", &core, &pid])
                .stdout(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(pinned.success(), "taskset failed");
        }
        processes.push((child, pid));
    }
    let concurrency = app.state.settings.speech.concurrency;
    println!(
        "{minutes}-minute video, {} lines, voice {}; {}; {runs} runs (server times, seconds)\n",
        fixture.segments.len(),
        voice.as_deref().unwrap_or("(default)"),
        match workers {
            0 => "the worker in the API's process".to_string(),
            n => format!(
                "{n} worker process(es){}, {concurrency} lines at a time each",
                if pin { " on a core each" } else { "" }
            ),
        }
    );

    // step name -> (order, seconds per run)
    let mut steps: BTreeMap<String, (i64, Vec<f64>)> = BTreeMap::new();
    let (mut totals, mut shares, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
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
        let mut in_steps = 0.0;
        for step in job["job_steps"].as_array().context("job_steps")? {
            if let (Some(from), Some(to)) = (at(step, "started_at"), at(step, "completed_at")) {
                let name = step["step_name"].as_str().unwrap_or("?").to_string();
                let order = step["step_order"].as_i64().unwrap_or(0);
                in_steps += seconds(from, to);
                steps
                    .entry(name)
                    .or_insert((order, Vec::new()))
                    .1
                    .push(seconds(from, to));
            }
        }
        // The job's time outside every step: queueing, workflow tasks, bookkeeping.
        gaps.push(total - in_steps);
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
    let synthesis = steps
        .get("generate_audio")
        .map(|(_, times)| median(times.clone()));
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
        "\nlines inside their slot: {:.1} % (median); time between steps: {:.2} s (median)",
        median(shares) * 100.0,
        median(gaps)
    );
    if let (Some(ms), Some(took)) = (fake_ms, synthesis) {
        // Every worker asks `concurrency` lines at a time, each answered in `ms`.
        let rounds = fixture
            .segments
            .len()
            .div_ceil(workers.max(1) * concurrency);
        let ideal = rounds as f64 * ms as f64 / 1000.0;
        println!(
            "generate_audio: {took:.2} s against {ideal:.2} s spent in the provider at best: \
             {:.2} s ({:.1} %) of orchestration",
            took - ideal,
            (took - ideal) / took * 100.0
        );
    }
    if processes.is_empty() {
        println!(
            "peak memory of the server (API and worker): {:.0} MiB",
            peak_rss_mib("self").unwrap_or(f64::NAN)
        );
    }
    for (n, (child, pid)) in processes.iter_mut().enumerate() {
        println!(
            "peak memory of worker {}: {:.0} MiB",
            n + 1,
            peak_rss_mib(pid).unwrap_or(f64::NAN)
        );
        child.kill().await?;
    }
    app.shutdown().await
}
