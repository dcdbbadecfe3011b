//! Media assertions with real ffprobe/ffmpeg: stream layout, duration, and loudness in windows.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::Path;
use tokio::process::Command;

/// Rate the audio is decoded at for measurements.
pub const MEASURE_RATE: u32 = 16_000;

#[derive(Debug, Deserialize)]
struct Probe {
    streams: Vec<Stream>,
    format: Format,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: String,
}

#[derive(Debug, Deserialize)]
struct Format {
    duration: String,
}

#[derive(Debug, PartialEq)]
pub struct Layout {
    pub video_streams: usize,
    pub audio_streams: usize,
    pub duration_ms: u64,
}

pub async fn layout(file: &Path) -> anyhow::Result<Layout> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_entries",
            "format=duration:stream=codec_type",
        ])
        .arg(file)
        .output()
        .await?;
    if !out.status.success() {
        bail!("ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let p: Probe = serde_json::from_slice(&out.stdout)?;
    let count = |kind: &str| p.streams.iter().filter(|s| s.codec_type == kind).count();
    Ok(Layout {
        video_streams: count("video"),
        audio_streams: count("audio"),
        duration_ms: (p.format.duration.parse::<f64>().context("duration")? * 1000.0).round()
            as u64,
    })
}

/// Decodes the first audio track to mono f32 samples at [`MEASURE_RATE`].
pub async fn decode_audio(file: &Path) -> anyhow::Result<Vec<f32>> {
    decode(file, 1).await
}

/// Decodes the first audio track to interleaved stereo f32 samples at [`MEASURE_RATE`].
pub async fn decode_stereo(file: &Path) -> anyhow::Result<Vec<f32>> {
    decode(file, 2).await
}

/// Integrated loudness (EBU R128, LUFS) and sample peak (dBFS) of the first audio track, in
/// stereo as it is delivered.
pub async fn loudness(file: &Path) -> anyhow::Result<(f64, f64)> {
    let samples = decode(file, 2).await?;
    let mut meter = ebur128::EbuR128::new(2, MEASURE_RATE, ebur128::Mode::I)?;
    meter.add_frames_f32(&samples)?;
    let peak = samples.iter().fold(0.0f32, |p, s| p.max(s.abs()));
    Ok((
        meter.loudness_global()?,
        20.0 * f64::from(peak).max(1e-12).log10(),
    ))
}

async fn decode(file: &Path, channels: u32) -> anyhow::Result<Vec<f32>> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:a:0",
            "-ac",
            &channels.to_string(),
            "-ar",
            &MEASURE_RATE.to_string(),
            "-f",
            "f32le",
            "-",
        ])
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "ffmpeg decode failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// RMS level in dBFS of `samples` between two times.
pub fn rms_dbfs(samples: &[f32], start_ms: u64, end_ms: u64) -> f64 {
    let at = |ms: u64| ((ms * u64::from(MEASURE_RATE) / 1000) as usize).min(samples.len());
    let window = &samples[at(start_ms)..at(end_ms)];
    if window.is_empty() {
        return f64::NEG_INFINITY;
    }
    let mean_square =
        window.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / window.len() as f64;
    10.0 * mean_square.max(1e-20).log10()
}

fn window(samples: &[f32], start_ms: u64, end_ms: u64) -> &[f32] {
    let at = |ms: u64| ((ms * u64::from(MEASURE_RATE) / 1000) as usize).min(samples.len());
    &samples[at(start_ms)..at(end_ms).max(at(start_ms))]
}

/// How much of `part` a `mix` carries between two times, by least squares: `mix ≈ gain × part +
/// rest`, where `rest` is whatever else is in the mix. Returns `(gain, rest_db)`: the gain of
/// `part` in the mix, and the level of the rest in dBFS. Both files must be decoded the same way
/// (sample-aligned).
pub fn share_of(mix: &[f32], part: &[f32], start_ms: u64, end_ms: u64) -> (f64, f64) {
    let (m, p) = (
        window(mix, start_ms, end_ms),
        window(part, start_ms, end_ms),
    );
    let n = m.len().min(p.len());
    let dot: f64 = (0..n).map(|i| f64::from(m[i]) * f64::from(p[i])).sum();
    let pp: f64 = (0..n).map(|i| f64::from(p[i]).powi(2)).sum();
    let gain = if pp > 0.0 { dot / pp } else { 0.0 };
    let rest: f64 = (0..n)
        .map(|i| (f64::from(m[i]) - gain * f64::from(p[i])).powi(2))
        .sum::<f64>()
        / n.max(1) as f64;
    (gain, 10.0 * rest.max(1e-20).log10())
}

/// The highest normalized correlation of `a` and `b` over lags of up to `max_lag_ms` either way.
pub fn best_correlation(a: &[f32], b: &[f32], max_lag_ms: u64) -> f64 {
    let max_lag = (max_lag_ms * u64::from(MEASURE_RATE) / 1000) as isize;
    let n = a.len().min(b.len()) as isize;
    (-max_lag..=max_lag)
        .map(|lag| {
            let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
            for i in max_lag..(n - max_lag) {
                let (x, y) = (f64::from(a[i as usize]), f64::from(b[(i + lag) as usize]));
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            if aa > 0.0 && bb > 0.0 {
                ab / (aa * bb).sqrt()
            } else {
                0.0
            }
        })
        .fold(f64::MIN, f64::max)
}

/// Frame size that [`frame_at`] scales to.
pub const FRAME: (usize, usize) = (320, 180);

/// The video frame at `at_ms`, scaled to [`FRAME`], as 8-bit gray pixels (row by row).
pub async fn frame_at(file: &Path, at_ms: u64) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-ss",
            &format!("{:.3}", at_ms as f64 / 1000.0),
            "-i",
        ])
        .arg(file)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={}:{}", FRAME.0, FRAME.1),
            "-pix_fmt",
            "gray",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .await?;
    if !out.status.success() || out.stdout.len() != FRAME.0 * FRAME.1 {
        bail!(
            "no frame at {at_ms} ms: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// Mean absolute difference of two [`frame_at`] frames over the rows `from..to` (fractions of
/// the height: 0.0 top, 1.0 bottom).
pub fn frame_difference(a: &[u8], b: &[u8], from: f64, to: f64) -> f64 {
    let (w, h) = FRAME;
    let rows = ((from * h as f64) as usize)..((to * h as f64) as usize).min(h);
    let n = rows.len() * w;
    let sum: u64 = rows
        .flat_map(|y| (0..w).map(move |x| y * w + x))
        .map(|i| u64::from(a[i].abs_diff(b[i])))
        .sum();
    sum as f64 / n.max(1) as f64
}

/// Checks that `subtitled` is `original` with text burned in at the bottom while `cue_ms` is
/// shown, and nowhere else: inside the cue the bottom band differs clearly and the rest of the
/// picture does not; before `quiet_ms` (no cue shown) nothing differs beyond coding noise.
pub async fn assert_burned_in(
    original: &Path,
    subtitled: &Path,
    cue_ms: u64,
    quiet_ms: u64,
) -> anyhow::Result<()> {
    let (a, b) = (
        frame_at(original, cue_ms).await?,
        frame_at(subtitled, cue_ms).await?,
    );
    let band = frame_difference(&a, &b, 0.75, 1.0);
    let above = frame_difference(&a, &b, 0.0, 0.6);
    anyhow::ensure!(
        band > 4.0 && band > 3.0 * above,
        "no text at the bottom at {cue_ms} ms: bottom differs by {band:.2}, the rest by {above:.2}"
    );
    let (a, b) = (
        frame_at(original, quiet_ms).await?,
        frame_at(subtitled, quiet_ms).await?,
    );
    let quiet = frame_difference(&a, &b, 0.75, 1.0);
    anyhow::ensure!(
        quiet < band / 3.0,
        "the bottom differs at {quiet_ms} ms too, with no cue shown: {quiet:.2} vs {band:.2}"
    );
    Ok(())
}

/// The share (0–1) of the energy between two times that is at `hz` (Goertzel over the window,
/// ±1 Hz of leakage aside), for telling a fake voice's tone from anything else.
pub fn tone_share(samples: &[f32], start_ms: u64, end_ms: u64, hz: f64) -> f64 {
    let w = window(samples, start_ms, end_ms);
    if w.is_empty() {
        return 0.0;
    }
    let n = w.len() as f64;
    let omega = 2.0 * std::f64::consts::PI * hz / f64::from(MEASURE_RATE);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in w {
        let s0 = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A sine of amplitude A gives power (A·n/2)²; its energy over the window is A²·n/2.
    let tone_energy = 2.0 * power / n;
    let energy: f64 = w.iter().map(|x| f64::from(*x).powi(2)).sum();
    (tone_energy / energy.max(1e-20)).min(1.0)
}
