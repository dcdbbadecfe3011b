//! The benchmark's "mix job" (../shared/bench/README.md §2) run by the Rust audio engine:
//!
//!     mixjob SEGMENTS_JSON OUT_DIR [--jobs N] [--encoder fdk|ffmpeg|ffmpeg-fast] [--bitrate 96k]
//!
//! writes OUT_DIR/mix.wav and OUT_DIR/out.mp4 and prints one JSON line of stage timings, as the
//! bench harness (`run_bench.sh`, `CASES=custom`) expects.

use onevoice_engine::encode::{AacEncoder, EncodeSpec, encode_and_mux};
use onevoice_engine::mix::{self, MixSpec};
use onevoice_engine::plan::{Cue, Rules, plan};
use onevoice_engine::{RAMP, decode};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Deserialize)]
struct Job {
    source_mp4: PathBuf,
    duration_s: f64,
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct Segment {
    start: f64,
    end: f64,
    tts_wav: PathBuf,
}

const RATE: u32 = 48_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut encoder = AacEncoder::Fdk;
    // The bench's mux encodes at 96 kbit/s.
    let mut bitrate = 96_000;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--jobs" => jobs = it.next().unwrap_or_default().parse()?,
            "--bitrate" => {
                bitrate = onevoice_shared::settings::parse_bitrate(&it.next().unwrap_or_default())
                    .map_err(anyhow::Error::msg)?
            }
            "--encoder" => {
                encoder = it
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?
            }
            _ => positional.push(a),
        }
    }
    let [segments, out_dir] = positional.as_slice() else {
        anyhow::bail!(
            "usage: mixjob SEGMENTS_JSON OUT_DIR [--jobs N] [--encoder fdk|ffmpeg|ffmpeg-fast] [--bitrate 96k]"
        );
    };
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let started = Instant::now();

    let job: Job = serde_json::from_slice(&std::fs::read(segments)?)?;
    let mut cues = Vec::with_capacity(job.segments.len());
    for s in &job.segments {
        let (clip_frames, clip_rate) = decode::probe_length(&s.tts_wav)?;
        cues.push(Cue {
            start_s: s.start,
            end_s: s.end,
            clip_frames,
            clip_rate,
        });
    }
    let timeline = plan(
        job.duration_s,
        &cues,
        Rules {
            rate: RATE,
            max_speed: 1.2,
            tolerance_s: 1.5,
            ramp: RAMP,
        },
    );
    let planned = started.elapsed().as_secs_f64();

    let wav = out_dir.join("mix.wav");
    let spec = MixSpec {
        gain: None,
        background: job.source_mp4.clone(),
        clips: job.segments.iter().map(|s| s.tts_wav.clone()).collect(),
        duck_gain: 10f32.powf(-12.0 / 20.0),
        target_lufs: -20.0,
        ceiling_db: -1.0,
        // The bench defines the ceiling on the sample peak.
        true_peak: false,
        // The bench's normalization is one static gain (README §2, step 5).
        limiter: false,
        cancel: Default::default(),
        only: None,
        original: None,
    };
    let report = mix::mix(&spec, &timeline, RATE, &wav)?;
    let mixed = started.elapsed().as_secs_f64();

    encode_and_mux(
        &EncodeSpec {
            ffmpeg: "ffmpeg".into(),
            video: job.source_mp4.clone(),
            wav,
            rate: RATE,
            channels: 2,
            frames: timeline.frames,
            bitrate,
            encoder,
            jobs,
            scratch: out_dir.clone(),
        },
        &out_dir.join("out.mp4"),
    )?;
    let total = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "timings_s": {
                "plan": planned,
                "mix": report.seconds_mixing,
                "gain_write_wav": report.seconds_writing,
                "mix_stage": mixed,
                "mux": total - mixed,
                "total": total,
            },
            "loudness": { "measured_lufs": report.measured_lufs, "peak_dbfs": report.measured_peak_db,
                          "gain_db": report.gain_db, "ceiling_bound": report.ceiling_bound },
            // This process alone (time -v reports the largest of it and its ffmpeg children).
            "self_peak_rss_kb": peak_rss_kb(),
            "segments": timeline.placements.len(),
            "stretched": timeline.placements.iter().filter(|p| p.speed > 1.0).count(),
            "truncated": timeline.placements.iter().filter(|p| p.overrun() > 0).count(),
        })
    );
    Ok(())
}

/// `VmHWM` of this process, from /proc (Linux).
fn peak_rss_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
