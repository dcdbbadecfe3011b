//! The sum of the mix, held in the output WAV until its gain is known, then scaled in place.
//!
//! The gain comes from the loudness of the whole sum, so the sum must wait somewhere between the
//! summing pass and the scaling pass. Memory would grow with the media, and a float scratch
//! file is 1.4 GB of fresh page cache an hour, which a kernel fills at well under 1 GB/s and
//! then starts writing back: it was the largest single cost of the mix. Instead the sum is kept
//! as block floating point, where the final samples go: 16-bit samples relative to the peak of
//! each group of `GROUP` frames, the groups' scales in memory (170 KB an hour). The scaling pass
//! rewrites those same pages, which are already cached.
//!
//! Holding the sum at 16 bits rounds it once more, by at most half a step of its group's peak:
//! below half a step of the output wherever the gain leaves that peak under full scale, which
//! the ceiling guarantees unless the limiter is on (and then the group is being limited, where
//! the difference cannot be heard). Groups sit on a fixed grid, so a re-render that changes one
//! line leaves every group it does not touch identical; the groups it touches are re-rounded
//! whole, so a change shows up to one group (85 ms) beyond the samples that changed.

use super::limit::Limiter;
use super::loudness::StereoLoudness;
use super::mix::CHANNELS;
use super::{EngineError, wav};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Barrier};

/// Frames that share one scale (85 ms at 48 kHz), on a fixed grid from the first frame.
pub const GROUP: usize = 4_096;
/// Frames read and rewritten at a time by the scaling pass (1 MiB).
const CHUNK: u64 = 64 * GROUP as u64;
const FRAME_BYTES: u64 = CHANNELS as u64 * 2;

/// The unscaled sum in `path`'s data area, and how to read it back.
pub(super) struct Held {
    path: PathBuf,
    frames: u64,
    /// What one step of a group's stored samples is worth.
    scales: Vec<f32>,
}

/// Writes the WAV's header and every block it receives (interleaved stereo, `frames` frames in
/// all) into `out`'s data area, held at 16 bits against each group's peak.
pub(super) fn hold(
    blocks: Receiver<Arc<Vec<f32>>>,
    out: &Path,
    rate: u32,
    frames: u64,
) -> Result<Held, EngineError> {
    wav::Writer::create(out, rate, CHANNELS as u16, frames)?.reserve()?;
    let mut file = OpenOptions::new()
        .write(true)
        .open(out)
        .map_err(|e| EngineError::io(out, e))?;
    file.seek(SeekFrom::Start(wav::HEADER_BYTES))
        .map_err(|e| EngineError::io(out, e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let group_len = GROUP * CHANNELS;
    let mut scales = Vec::with_capacity(frames.div_ceil(GROUP as u64) as usize);
    // A group split across blocks is gathered here.
    let mut partial: Vec<f32> = Vec::with_capacity(group_len);
    let mut stored = Vec::with_capacity(group_len);
    let mut store = |group: &[f32], stored: &mut Vec<i16>| -> Result<(), EngineError> {
        scales.push(quantise(group, stored));
        writer
            .write_all(bytemuck::cast_slice(stored))
            .map_err(|e| EngineError::io(out, e))
    };
    for block in blocks {
        let mut rest = &block[..];
        while !rest.is_empty() {
            if partial.is_empty() && rest.len() >= group_len {
                let (group, after) = rest.split_at(group_len);
                store(group, &mut stored)?;
                rest = after;
                continue;
            }
            let take = (group_len - partial.len()).min(rest.len());
            partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if partial.len() == group_len {
                store(&partial, &mut stored)?;
                partial.clear();
            }
        }
    }
    if !partial.is_empty() {
        store(&partial, &mut stored)?;
    }
    writer.flush().map_err(|e| EngineError::io(out, e))?;
    Ok(Held {
        path: out.to_path_buf(),
        frames,
        scales,
    })
}

/// Stores `group` as 16-bit little-endian samples in `stored`; returns what one step is worth.
fn quantise(group: &[f32], stored: &mut Vec<i16>) -> f32 {
    let peak = peak(group);
    let scale = if peak > 0.0 && peak.is_finite() {
        peak / 32_767.0
    } else {
        1.0
    };
    let inverse = 1.0 / scale;
    stored.resize(group.len(), 0);
    for (q, s) in stored.iter_mut().zip(group) {
        *q = to_i16(s * inverse).to_le();
    }
    scale
}

/// The largest absolute sample, in eight lanes so it vectorises.
fn peak(samples: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = samples.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, s) in lanes.iter_mut().zip(chunk) {
            let a = s.abs();
            *lane = if a > *lane { a } else { *lane };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(0.0, |m, s| if s.abs() > m { s.abs() } else { m })
}

/// Rounds to the nearest step (half away from zero), saturating. `f32::round` is a libm call
/// per sample without SSE4.1; this (clamped first, so the cast cannot overflow) vectorises.
#[inline(always)]
fn to_i16(s: f32) -> i16 {
    (s + 0.5f32.copysign(s)).clamp(-32_768.0, 32_767.0) as i16
}

/// Writes `samples` (already scaled to steps) as 16-bit little-endian samples into `pcm`.
fn to_pcm(samples: &[f32], pcm: &mut Vec<i16>) {
    let at = pcm.len();
    pcm.resize(at + samples.len(), 0);
    for (q, s) in pcm[at..].iter_mut().zip(samples) {
        *q = to_i16(*s).to_le();
    }
}

impl Held {
    fn open(&self, write: bool) -> Result<File, EngineError> {
        OpenOptions::new()
            .read(true)
            .write(write)
            .open(&self.path)
            .map_err(|e| EngineError::io(&self.path, e))
    }

    /// Frames `[from, to)` of the held sum, times `factor`, as interleaved floats in `out`.
    fn read(
        &self,
        file: &File,
        (from, to): (u64, u64),
        factor: f32,
        stored: &mut Vec<i16>,
        out: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        stored.resize(((to - from) as usize) * CHANNELS, 0);
        file.read_exact_at(
            bytemuck::cast_slice_mut(stored),
            wav::HEADER_BYTES + from * FRAME_BYTES,
        )
        .map_err(|e| EngineError::io(&self.path, e))?;
        out.resize(stored.len(), 0.0);
        let mut at = from;
        let (mut stored, mut out) = (&stored[..], &mut out[..]);
        while at < to {
            let group = at / GROUP as u64;
            let end = ((group + 1) * GROUP as u64).min(to);
            let step = self.scales[group as usize] * factor;
            let n = ((end - at) as usize) * CHANNELS;
            let (these, rest) = (stored.split_at(n), out.split_at_mut(n));
            for (o, q) in rest.0.iter_mut().zip(these.0) {
                *o = f32::from(i16::from_le(*q)) * step;
            }
            (stored, out) = (these.1, rest.1);
            at = end;
        }
        Ok(())
    }

    /// Scales the held sum by `gain` into the final 16-bit samples, in place, through the
    /// limiter when `limit` (a linear ceiling) is set; one thread per half of the file.
    pub(super) fn scale(&self, gain: f32, limit: Option<f32>) -> Result<(), EngineError> {
        let parts = 2u64;
        let per = self.frames.div_ceil(parts);
        let barrier = Barrier::new(parts as usize);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parts)
                .map(|k| {
                    let part = ((k * per).min(self.frames), ((k + 1) * per).min(self.frames));
                    let barrier = &barrier;
                    scope.spawn(move || self.scale_part(part, gain, limit, barrier))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(EngineError::Io("scaling thread panicked".into())))
                })
                .collect::<Result<Vec<()>, _>>()
        })?;
        Ok(())
    }

    /// Frames `[from, to)`, scaled (and limited) in place. A limited part also reads the frames
    /// before it (for its limiter to agree with the previous part's) and after it (the
    /// look-ahead): it copies them before any part starts rewriting, hence the barrier.
    fn scale_part(
        &self,
        (from, to): (u64, u64),
        gain: f32,
        limit: Option<f32>,
        barrier: &Barrier,
    ) -> Result<(), EngineError> {
        let (back, ahead) = match limit {
            Some(_) => (Limiter::WARM_UP, Limiter::LOOKAHEAD as u64),
            None => (0, 0),
        };
        let (read_from, read_to) = (from.saturating_sub(back), (to + ahead).min(self.frames));
        let mut stored = Vec::new();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let file = self.open(true);
        let copied = match &file {
            Ok(file) => self
                .read(file, (read_from, from), gain, &mut stored, &mut before)
                .and_then(|()| self.read(file, (to, read_to), gain, &mut stored, &mut after)),
            Err(e) => Err(EngineError::Io(e.to_string())),
        };
        // Every part waits here, even one that failed, so none waits forever.
        barrier.wait();
        copied?;
        let file = file?;

        // Writes trail reads (the limiter only delays), so rewriting in place is safe.
        let mut written = from;
        let mut flush = |pcm: &mut Vec<i16>| -> Result<(), EngineError> {
            file.write_all_at(
                bytemuck::cast_slice(pcm),
                wav::HEADER_BYTES + written * FRAME_BYTES,
            )
            .map_err(|e| EngineError::io(&self.path, e))?;
            written += (pcm.len() / CHANNELS) as u64;
            pcm.clear();
            Ok(())
        };
        let mut pcm = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let mut samples = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let Some(limit) = limit else {
            // Gain and step in one multiplication.
            let mut at = from;
            while at < to {
                let end = (at + CHUNK).min(to);
                self.read(&file, (at, end), gain * 32_767.0, &mut stored, &mut samples)?;
                to_pcm(&samples, &mut pcm);
                flush(&mut pcm)?;
                at = end;
            }
            return Ok(());
        };
        let mut limiter = Limiter::new(limit);
        // The next frame the limiter hands out; only this part's are kept.
        let mut emitted = read_from;
        let mut limited = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let mut keep = |frame: [f32; 2], limited: &mut Vec<f32>| {
            if (from..to).contains(&emitted) {
                limited.extend(frame.map(|s| s * 32_767.0));
            }
            emitted += 1;
        };
        let mut feed = |samples: &[f32], limited: &mut Vec<f32>| {
            for f in samples.chunks_exact(CHANNELS) {
                if let Some(frame) = limiter.process([f[0], f[1]]) {
                    keep(frame, limited);
                }
            }
        };
        feed(&before, &mut limited);
        let mut at = from;
        while at < to {
            let end = (at + CHUNK).min(to);
            self.read(&file, (at, end), gain, &mut stored, &mut samples)?;
            feed(&samples, &mut limited);
            to_pcm(&limited, &mut pcm);
            limited.clear();
            flush(&mut pcm)?;
            at = end;
        }
        feed(&after, &mut limited);
        if read_to == self.frames {
            limiter
                .flush()
                .into_iter()
                .for_each(|f| keep(f, &mut limited));
        }
        to_pcm(&limited, &mut pcm);
        flush(&mut pcm)
    }

    /// Integrated loudness of the held sum scaled by `gain` and limited at `limit`.
    pub(super) fn loudness_limited(
        &self,
        rate: u32,
        gain: f32,
        limit: f32,
    ) -> Result<f64, EngineError> {
        let file = self.open(false)?;
        let mut meter = StereoLoudness::new(rate);
        let mut limiter = Limiter::new(limit);
        let (mut stored, mut samples) = (Vec::new(), Vec::new());
        let mut limited: Vec<f32> = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let mut at = 0;
        while at < self.frames {
            let end = (at + CHUNK).min(self.frames);
            self.read(&file, (at, end), gain, &mut stored, &mut samples)?;
            limited.clear();
            for f in samples.chunks_exact(CHANNELS) {
                if let Some(out) = limiter.process([f[0], f[1]]) {
                    limited.extend_from_slice(&out);
                }
            }
            meter.add(&limited);
            at = end;
        }
        meter.add(&limiter.flush().concat());
        Ok(meter.integrated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    const RATE: u32 = 48_000;

    /// Stereo whose level swings every half second: quiet passages (where holding at 16 bits
    /// must cost nothing audible), loud ones that pass full scale (for the limiter), silence.
    fn program(frames: usize) -> Vec<f32> {
        let noise = crate::tests::noise(frames, 1.0);
        (0..frames)
            .flat_map(|n| {
                let noise = noise[n];
                let level = match (n / (RATE as usize / 2)) % 4 {
                    0 => 0.001,
                    1 => 0.3,
                    2 => 1.6,
                    _ => 0.0,
                };
                let tone = (n as f32 * 0.031).sin();
                [
                    level * (0.7 * tone + 0.3 * noise),
                    level * (0.5 * tone - 0.5 * noise),
                ]
            })
            .collect()
    }

    /// Holds `signal` in a WAV, handed over in uneven blocks as the summing thread would.
    fn held(signal: &[f32], dir: &Path) -> Held {
        let out = dir.join("mix.wav");
        let (tx, rx) = sync_channel(4);
        let frames = (signal.len() / CHANNELS) as u64;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for block in signal.chunks(2 * 5_003) {
                    tx.send(Arc::new(block.to_vec())).unwrap();
                }
            });
            hold(rx, &out, RATE, frames).unwrap()
        })
    }

    fn wav_samples(path: &Path) -> Vec<i16> {
        let bytes = std::fs::read(path).unwrap();
        bytes[wav::HEADER_BYTES as usize..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    #[test]
    fn the_held_sum_scaled_in_place_is_the_float_sum_scaled_to_within_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let signal = program(13 * RATE as usize + 77);
        let held = held(&signal, dir.path());
        // Held, each sample is within half a step of its own group's peak: quiet passages keep
        // their detail however loud the rest is.
        let file = held.open(false).unwrap();
        let (mut stored, mut back) = (Vec::new(), Vec::new());
        held.read(&file, (0, held.frames), 1.0, &mut stored, &mut back)
            .unwrap();
        for (group, (read, sent)) in back
            .chunks(GROUP * CHANNELS)
            .zip(signal.chunks(GROUP * CHANNELS))
            .enumerate()
        {
            let half_step = peak(sent) / 32_767.0 / 2.0;
            let worst = read
                .iter()
                .zip(sent)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst <= half_step * 1.01,
                "group {group}: {worst} > {half_step}"
            );
        }

        let gain = 0.55;
        held.scale(gain, None).unwrap();
        let out = wav_samples(&held.path);
        assert_eq!(out.len(), signal.len(), "every frame, and no more");
        let exact = signal.iter().map(|s| to_i16(s * gain * 32_767.0));
        let worst = out
            .iter()
            .zip(exact)
            .map(|(a, b)| (i32::from(*a) - i32::from(b)).abs())
            .max();
        assert!(
            worst <= Some(1),
            "within one step of rounding the float sum: {worst:?}"
        );
    }

    #[test]
    fn limited_halves_rewritten_in_place_agree_with_one_limiter_over_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        // 10.5 s: the halves meet in a loud passage, where the limiter is at work.
        let signal = program(21 * RATE as usize / 2 + 77);
        let held = held(&signal, dir.path());
        let (gain, ceiling) = (0.9, 0.8);
        // The reference: what the held sum reads as, limited in one pass from start to end.
        let file = held.open(false).unwrap();
        let (mut stored, mut whole) = (Vec::new(), Vec::new());
        held.read(&file, (0, held.frames), gain, &mut stored, &mut whole)
            .unwrap();
        let mut limiter = Limiter::new(ceiling);
        let mut expected: Vec<f32> = whole
            .chunks_exact(2)
            .filter_map(|f| limiter.process([f[0], f[1]]))
            .flatten()
            .collect();
        expected.extend(limiter.flush().concat());
        let mut pcm = Vec::new();
        to_pcm(
            &expected.iter().map(|s| s * 32_767.0).collect::<Vec<_>>(),
            &mut pcm,
        );

        held.scale(gain, Some(ceiling)).unwrap();
        let out = wav_samples(&held.path);
        assert_eq!(out.len(), pcm.len());
        let worst = out
            .iter()
            .zip(&pcm)
            .map(|(a, b)| (i32::from(*a) - i32::from(i16::from_le(*b))).abs())
            .max();
        assert!(worst <= Some(1), "worst difference {worst:?} steps");
        let ceiling_steps = (ceiling * 32_767.0) as i16 + 1;
        assert!(
            out.iter().all(|s| s.abs() <= ceiling_steps),
            "the ceiling holds"
        );
    }

    #[test]
    fn loudness_after_the_limiter_reads_the_held_sum() {
        let dir = tempfile::tempdir().unwrap();
        let signal = program(6 * RATE as usize);
        let held = held(&signal, dir.path());
        let mut limiter = Limiter::new(0.5);
        let mut meter = StereoLoudness::new(RATE);
        let mut limited: Vec<f32> = signal
            .chunks_exact(2)
            .filter_map(|f| limiter.process([f[0] * 2.0, f[1] * 2.0]))
            .flatten()
            .collect();
        limited.extend(limiter.flush().concat());
        meter.add(&limited);
        let lufs = held.loudness_limited(RATE, 2.0, 0.5).unwrap();
        assert!(
            (lufs - meter.integrated()).abs() < 0.01,
            "{lufs} vs {}",
            meter.integrated()
        );
    }
}
