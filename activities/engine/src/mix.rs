//! The mix: the original track (decoded, resampled, made stereo) ducked under the dub, the dubbed
//! clips placed at their planned samples, one static gain to the loudness target under a peak
//! ceiling, written as 16-bit WAV.
//!
//! Everything streams in blocks, so memory stays flat as the media grows: one thread decodes and
//! resamples the original track, one prepares the clips in timeline order (decode, resample,
//! stretch, cut), and the caller's thread ducks and sums, while one thread measures the sum
//! (BS.1770, `loudness`) and another holds it in the output WAV (`held`). The gain is known
//! only at the end, so a second pass scales the held sum in place.

use super::EngineError;
use super::decode::AudioReader;
use super::duck::Ducker;
use super::held::{Held, hold};
use super::loudness::StereoLoudness;
use super::plan::{Placement, Plan};
use super::resample::{StreamResampler, resample_mono};
use super::stretch::stretch;
use ebur128::{EbuR128, Mode};
use onevoice_shared::contracts::MixGain;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

pub const CHANNELS: usize = 2;
/// Frames per block handed between the threads (about a third of a second).
const BLOCK: usize = 16_384;

#[derive(Clone, Debug)]
pub struct MixSpec {
    /// The original media; its first audio track is the background.
    pub background: PathBuf,
    /// One clip per placement of the plan, in the same order.
    pub clips: Vec<PathBuf>,
    /// Background gain under speech (linear); 0 silences the original track entirely.
    pub duck_gain: f32,
    pub target_lufs: f64,
    /// A gain given instead of measured (a re-render keeps its first render's, so what it did
    /// not change comes out the same).
    pub gain: Option<MixGain>,
    /// The ceiling of the peak, in dBFS (sample peak) or dBTP (true peak).
    pub ceiling_db: f64,
    /// Measure the true (inter-sample, 4x oversampled) peak rather than the sample peak.
    pub true_peak: bool,
    /// Reach the loudness target and hold the ceiling with a look-ahead limiter (instead of
    /// letting the ceiling lower the one static gain).
    pub limiter: bool,
    /// Set from outside to stop the mix between blocks (a cancelled activity).
    pub cancel: Arc<AtomicBool>,
    /// One part of the mix alone (an editor's stem); `None` mixes both.
    pub only: Option<Stem>,
    /// The original track, when `background` is something else (a separated stem): it plays
    /// over the plan's kept spans. `None`: `background` is the original track.
    pub original: Option<PathBuf>,
}

/// A part of the mix. With the mix's gain and no limiter, the two add up to the mix as it was
/// before its limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stem {
    /// The dubbed lines alone, placed as in the mix.
    Voices,
    /// The background alone, ducked as in the mix.
    Background,
}

#[derive(Clone, Debug, Serialize)]
pub struct MixReport {
    pub frames: u64,
    /// Integrated loudness and peak (sample or true) of the sum before the gain.
    pub measured_lufs: f64,
    pub measured_peak_db: f64,
    pub gain_db: f64,
    /// Whether the peak ceiling, not the loudness target, set the gain.
    pub ceiling_bound: bool,
    /// Whether the limiter held the ceiling.
    pub limited: bool,
    pub seconds_mixing: f64,
    pub seconds_writing: f64,
}

/// Mixes into `out` (48 kHz stereo s16 WAV of exactly `plan.frames` frames).
pub fn mix(spec: &MixSpec, plan: &Plan, rate: u32, out: &Path) -> Result<MixReport, EngineError> {
    if spec.clips.len() != plan.placements.len() {
        return Err(EngineError::Media(
            "one clip per placement is needed".into(),
        ));
    }
    let started = Instant::now();
    let (bg_tx, bg_rx) = sync_channel::<Result<Vec<f32>, EngineError>>(DEPTH);
    let (clip_tx, clip_rx) = sync_channel::<Result<(u64, Vec<f32>), EngineError>>(16);
    // The original track, decoded beside the background only where the plan keeps some of it.
    let keeping = !plan.kept.is_empty() && spec.only != Some(Stem::Voices);
    let original = spec.original.as_ref().filter(|_| keeping);
    let (orig_tx, orig_rx) = sync_channel::<Result<Vec<f32>, EngineError>>(DEPTH);
    let measured = std::thread::scope(|scope| {
        let streams = [(Some(&spec.background), bg_tx), (original, orig_tx)];
        for (path, tx) in streams {
            let Some(path) = path else { continue };
            scope.spawn(move || {
                if let Err(e) = background_blocks(path, rate, |block| tx.send(Ok(block)).is_ok()) {
                    let _ = tx.send(Err(e));
                }
            });
        }
        let voices = spec.only != Some(Stem::Background);
        scope.spawn(move || {
            if !voices {
                return; // the summing thread finds no clips
            }
            let mut resamplers = Resamplers::default();
            // In order of start: two speakers' lines may be placed out of line order.
            let mut order: Vec<(&PathBuf, &Placement)> =
                spec.clips.iter().zip(&plan.placements).collect();
            order.sort_by_key(|(_, p)| p.start);
            // Lines kept undubbed have no clip.
            for (path, p) in order.into_iter().filter(|(_, p)| p.placed > 0) {
                let clip =
                    prepare_clip(path, p, rate, &mut resamplers).map(|samples| (p.start, samples));
                let failed = clip.is_err();
                if clip_tx.send(clip).is_err() || failed {
                    return;
                }
            }
        });
        let sources = Sources {
            background: bg_rx,
            original: original.map(|_| orig_rx),
            clips: clip_rx,
        };
        sum_and_measure(spec, plan, rate, sources, out)
    })?;
    let mixing = started.elapsed().as_secs_f64();

    let written = Instant::now();
    let (lufs, peak, held) = measured;
    let peak_db = 20.0 * f64::from(peak).max(1e-12).log10();
    let to_target = if lufs.is_finite() {
        spec.target_lufs - lufs
    } else {
        0.0
    };
    let to_ceiling = spec.ceiling_db - peak_db;
    // Inter-sample peaks can rise a little above the limited samples: keep a margin.
    let margin = if spec.true_peak { 0.5 } else { 0.0 };
    let limit = 10f64.powf((spec.ceiling_db - margin) / 20.0) as f32;
    // With the limiter, the loudness target sets the gain and the limiter holds the ceiling;
    // without it, the ceiling caps the one static gain.
    let (gain_db, limit) = if let Some(given) = spec.gain {
        (given.gain_db, given.limited.then_some(limit))
    } else if spec.limiter && lufs.is_finite() && to_ceiling < to_target {
        // Limiting takes some loudness away; measure how much at the target gain and make up
        // for it (bounded, so a pathological input cannot ask for an absurd gain).
        let gain = 10f64.powf(to_target / 20.0) as f32;
        let limited = held.loudness_limited(rate, gain, limit)?;
        let makeup = if limited.is_finite() {
            (spec.target_lufs - limited).clamp(0.0, 6.0)
        } else {
            0.0
        };
        (to_target + makeup, Some(limit))
    } else {
        (to_target.min(to_ceiling), None)
    };
    held.scale(10f64.powf(gain_db / 20.0) as f32, limit)?;
    Ok(MixReport {
        frames: plan.frames,
        measured_lufs: lufs,
        measured_peak_db: peak_db,
        gain_db,
        ceiling_bound: to_ceiling < to_target,
        limited: limit.is_some(),
        seconds_mixing: mixing,
        seconds_writing: written.elapsed().as_secs_f64(),
    })
}

/// Decodes `path`, resamples to `rate` and makes it stereo, handing over blocks of about
/// `BLOCK` frames until `send` returns false or the file ends. Decoding runs on a thread of its
/// own, so decoding and resampling overlap.
pub(super) fn background_blocks(
    path: &Path,
    rate: u32,
    mut send: impl FnMut(Vec<f32>) -> bool,
) -> Result<(), EngineError> {
    // (source rate, stereo samples at that rate)
    let (tx, rx) = sync_channel::<Result<(u32, Vec<f32>), EngineError>>(DEPTH);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let decoded = (|| {
                let mut reader = AudioReader::open(path)?;
                let mut decoded = Vec::with_capacity(BLOCK * CHANNELS);
                loop {
                    decoded.clear();
                    let mut more = true;
                    while more && decoded.len() < BLOCK * reader.channels.max(1) {
                        more = reader.next_into(&mut decoded)?;
                    }
                    let mut stereo = Vec::with_capacity(decoded.len() / reader.channels.max(1) * 2);
                    to_stereo(&decoded, reader.channels.max(1), &mut stereo);
                    if (!stereo.is_empty() && tx.send(Ok((reader.rate, stereo))).is_err()) || !more
                    {
                        return Ok(());
                    }
                }
            })();
            if let Err(e) = decoded {
                let _ = tx.send(Err(e));
            }
        });
        let mut resampler: Option<StreamResampler> = None;
        let mut resampled = Vec::with_capacity(BLOCK * CHANNELS * 2);
        let mut chunks = rx.into_iter();
        loop {
            let next = chunks.next().transpose()?;
            let more = next.is_some();
            if let Some((source_rate, stereo)) = next {
                let r = match resampler.as_mut() {
                    Some(r) => r,
                    None => resampler.insert(StreamResampler::new(source_rate, rate, CHANNELS)?),
                };
                r.push(&stereo, &mut resampled)?;
            } else if let Some(r) = resampler.as_mut() {
                r.finish(&mut resampled)?;
            }
            while resampled.len() >= BLOCK * CHANNELS || (!more && !resampled.is_empty()) {
                let take = resampled.len().min(BLOCK * CHANNELS);
                let block: Vec<f32> = resampled.drain(..take).collect();
                if !send(block) {
                    return Ok(());
                }
            }
            if !more {
                return Ok(());
            }
        }
    })
}

fn to_stereo(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    match channels {
        1 => interleaved
            .iter()
            .for_each(|s| out.extend_from_slice(&[*s, *s])),
        2 => out.extend_from_slice(interleaved),
        // Surround: the front pair (a full downmix needs the layout, which the dub does not).
        n => interleaved
            .chunks_exact(n)
            .for_each(|f| out.extend_from_slice(&f[..2])),
    }
}

/// Mono resamplers by rates, reused from clip to clip.
#[derive(Default)]
pub struct Resamplers(std::collections::HashMap<(u32, u32), StreamResampler>);

/// A clip as it goes on the timeline: mono, stretched by the planned speed (at the clip's own
/// rate, where it is cheapest; the pitch is kept either way), resampled to `rate`, fixed to the
/// stretched length and cut (or padded) to the placed length.
pub fn prepare_clip(
    path: &Path,
    p: &super::plan::Placement,
    rate: u32,
    resamplers: &mut Resamplers,
) -> Result<Vec<f32>, EngineError> {
    let (samples, clip_rate) = AudioReader::read_mono(path)?;
    let stretched = if p.speed > 1.0 {
        stretch(&samples, clip_rate, p.speed)
    } else {
        samples
    };
    let resampler = match resamplers.0.entry((clip_rate, rate)) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(StreamResampler::new(clip_rate, rate, 1)?)
        }
    };
    let mut placed = resample_mono(resampler, &stretched, clip_rate, rate)?;
    placed.resize(p.stretched as usize, 0.0);
    placed.resize(p.placed as usize, 0.0);
    Ok(placed)
}

/// What the summing thread receives: blocks of the background (and of the original track when
/// it is another file), and the clips in order of start.
struct Sources {
    background: Receiver<Result<Vec<f32>, EngineError>>,
    original: Option<Receiver<Result<Vec<f32>, EngineError>>>,
    clips: Receiver<Result<(u64, Vec<f32>), EngineError>>,
}

/// Ducks and sums block by block; a meter thread measures loudness and peak while a writer
/// thread holds the sum in `out` (both see every block, so neither holds the sum up).
fn sum_and_measure(
    spec: &MixSpec,
    plan: &Plan,
    rate: u32,
    sources: Sources,
    out: &Path,
) -> Result<(f64, f32, Held), EngineError> {
    let (meter_tx, meter_rx) = sync_channel::<Arc<Vec<f32>>>(DEPTH);
    let (write_tx, write_rx) = sync_channel::<Arc<Vec<f32>>>(DEPTH);
    std::thread::scope(|scope| {
        let meter = scope.spawn(move || measure(meter_rx, rate, spec.true_peak));
        let writer = scope.spawn(move || hold(write_rx, out, rate, plan.frames));
        let summed = sum(spec, plan, sources, |block| {
            let block = Arc::new(block);
            meter_tx.send(block.clone()).is_ok() && write_tx.send(block).is_ok()
        });
        drop((meter_tx, write_tx));
        let measured = meter
            .join()
            .unwrap_or_else(|_| Err(EngineError::Media("loudness meter panicked".into())));
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(EngineError::Io("writer panicked".into())));
        summed?;
        let held = written?;
        let (lufs, peak) = measured?;
        Ok((lufs, peak, held))
    })
}

/// Blocks in flight between the summing thread and the meter and writer.
const DEPTH: usize = 16;

fn sum(
    spec: &MixSpec,
    plan: &Plan,
    sources: Sources,
    mut emit: impl FnMut(Vec<f32>) -> bool,
) -> Result<(), EngineError> {
    let Sources {
        background: bg,
        original,
        clips,
    } = sources;
    let mut ducker = Ducker::new(&plan.windows, spec.duck_gain, super::RAMP);
    let mut gains = vec![0.0f32; BLOCK];
    // 1 - the share of the original track: 0 over kept spans, ramped at their edges.
    let mut keeper = Ducker::new(&plan.kept, 0.0, super::RAMP);
    let mut dubbed = vec![1.0f32; BLOCK];
    let keeping = !plan.kept.is_empty() && spec.only != Some(Stem::Voices);
    let mut active: VecDeque<(u64, Vec<f32>)> = VecDeque::new();
    let mut clips_done = false;
    let mut position = 0u64;
    let silent = spec.duck_gain == 0.0 || spec.only == Some(Stem::Voices);
    while position < plan.frames {
        if spec.cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut block = match bg.recv() {
            Ok(block) => block?,
            // The original track ended early: the rest is silence under the dub.
            Err(_) => vec![0.0; (BLOCK as u64).min(plan.frames - position) as usize * CHANNELS],
        };
        let frames = (block.len() / CHANNELS).min((plan.frames - position) as usize);
        block.truncate(frames * CHANNELS);
        let end = position + frames as u64;
        if silent {
            gains[..frames].fill(0.0);
        } else {
            ducker.fill(position, &mut gains[..frames]);
        }
        if keeping {
            keeper.fill(position, &mut dubbed[..frames]);
        }
        match (&original, keeping) {
            // The original track is another file: the background gives way to it.
            (Some(original), true) => {
                let mut kept = match original.recv() {
                    Ok(block) => block?,
                    Err(_) => Vec::new(), // it ended early: silence
                };
                kept.resize(frames * CHANNELS, 0.0);
                for (((frame, o), g), d) in block
                    .chunks_exact_mut(CHANNELS)
                    .zip(kept.chunks_exact(CHANNELS))
                    .zip(&gains[..frames])
                    .zip(&dubbed[..frames])
                {
                    frame[0] = frame[0] * g * d + o[0] * (1.0 - d);
                    frame[1] = frame[1] * g * d + o[1] * (1.0 - d);
                }
            }
            // The background is the original: it rises to full level over kept spans.
            (None, true) => {
                for ((frame, g), d) in block
                    .chunks_exact_mut(CHANNELS)
                    .zip(&gains[..frames])
                    .zip(&dubbed[..frames])
                {
                    let g = g * d + (1.0 - d);
                    frame[0] *= g;
                    frame[1] *= g;
                }
            }
            (_, false) => {
                for (frame, g) in block.chunks_exact_mut(CHANNELS).zip(&gains[..frames]) {
                    frame[0] *= g;
                    frame[1] *= g;
                }
            }
        }
        // Clips that start before this block ends join the active set (they arrive in order).
        while !clips_done && active.back().is_none_or(|(s, _)| *s < end) {
            match clips.recv() {
                Ok(clip) => {
                    let clip = clip?;
                    let starts_later = clip.0 >= end;
                    active.push_back(clip);
                    if starts_later {
                        break;
                    }
                }
                Err(_) => clips_done = true,
            }
        }
        for (start, samples) in &active {
            let from = (*start).max(position);
            let to = (start + samples.len() as u64).min(end);
            if from >= to {
                continue;
            }
            let dub = &samples[(from - start) as usize..(to - start) as usize];
            let at = (from - position) as usize * CHANNELS;
            for (frame, d) in block[at..].chunks_exact_mut(CHANNELS).zip(dub) {
                frame[0] += d;
                frame[1] += d;
            }
        }
        active.retain(|(s, samples)| s + samples.len() as u64 > end);
        if !emit(block) {
            // The meter or writer stopped; its own error explains why.
            return Ok(());
        }
        position = end;
    }
    Ok(())
}

/// BS.1770 integrated loudness and the peak (true or sample) of every block it receives.
fn measure(
    blocks: Receiver<Arc<Vec<f32>>>,
    rate: u32,
    true_peak: bool,
) -> Result<(f64, f32), EngineError> {
    let mut loudness = StereoLoudness::new(rate);
    // Only the true peak needs `ebur128` (4x oversampling, which our own meter does not do).
    let mut oversampled = if true_peak {
        Some(
            EbuR128::new(CHANNELS as u32, rate, Mode::TRUE_PEAK)
                .map_err(|e| EngineError::Media(format!("loudness meter: {e}")))?,
        )
    } else {
        None
    };
    for block in blocks {
        loudness.add(&block);
        if let Some(meter) = oversampled.as_mut() {
            meter
                .add_frames_f32(&block)
                .map_err(|e| EngineError::Media(format!("loudness meter: {e}")))?;
        }
    }
    let peak = loudness.sample_peak();
    let peak = match oversampled {
        Some(meter) => (0..CHANNELS as u32)
            .filter_map(|c| meter.true_peak(c).ok())
            .fold(f64::from(peak), f64::max) as f32,
        None => peak,
    };
    Ok((loudness.integrated(), peak))
}
