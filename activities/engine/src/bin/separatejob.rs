//! The offline voice suppressor on a long track, for its speed and memory (a benchmark, not a
//! test):
//!
//!     separatejob SOURCE OUT_WAV [--speech PERCENT]
//!
//! takes the voices out of SOURCE under speech spans covering PERCENT of it (default 60: a 3 s
//! line every 5 s), writes OUT_WAV and prints one JSON line: seconds of audio, seconds taken by
//! each pass, the real-time factor, and the layout found. Peak memory: run under
//! `/usr/bin/time -v`.

use onevoice_engine::separate::{measure, suppress_voices};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

const RATE: u32 = 48_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut percent = 60u64;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--speech" => percent = it.next().unwrap_or_default().parse()?,
            _ => positional.push(a),
        }
    }
    let [source, out] = positional.as_slice() else {
        anyhow::bail!("usage: separatejob SOURCE OUT_WAV [--speech PERCENT]");
    };
    let (source, out) = (PathBuf::from(source), PathBuf::from(out));
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let track = measure(&source, RATE, &cancel)?;
    let measured = started.elapsed().as_secs_f64();
    let period = 5 * u64::from(RATE);
    let spoken = period * percent.min(100) / 100;
    let speech: Vec<(u64, u64)> = (0..track.frames / period)
        .map(|n| (n * period, n * period + spoken))
        .collect();
    let started = Instant::now();
    suppress_voices(&source, RATE, track, &speech, &out, &cancel)?;
    let suppressed = started.elapsed().as_secs_f64();
    let seconds = track.frames as f64 / f64::from(RATE);
    println!(
        "{}",
        serde_json::json!({
            "audio_s": seconds,
            "measure_s": measured,
            "suppress_s": suppressed,
            "realtime_factor": seconds / (measured + suppressed),
            "stereo": track.stereo,
        })
    );
    Ok(())
}
