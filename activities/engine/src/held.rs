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
//! the difference cannot be heard).

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

/// Frames that share one scale (85 ms at 48 kHz).
const GROUP: usize = 4_096;
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
    let mut bytes = Vec::with_capacity(group_len * 2);
    let mut store = |group: &[f32], bytes: &mut Vec<u8>| -> Result<(), EngineError> {
        scales.push(quantise(group, bytes));
        writer.write_all(bytes).map_err(|e| EngineError::io(out, e))
    };
    for block in blocks {
        let mut rest = &block[..];
        while !rest.is_empty() {
            if partial.is_empty() && rest.len() >= group_len {
                let (group, after) = rest.split_at(group_len);
                store(group, &mut bytes)?;
                rest = after;
                continue;
            }
            let take = (group_len - partial.len()).min(rest.len());
            partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if partial.len() == group_len {
                store(&partial, &mut bytes)?;
                partial.clear();
            }
        }
    }
    if !partial.is_empty() {
        store(&partial, &mut bytes)?;
    }
    drop(store);
    writer.flush().map_err(|e| EngineError::io(out, e))?;
    Ok(Held {
        path: out.to_path_buf(),
        frames,
        scales,
    })
}

/// Stores `group` as 16-bit little-endian samples in `bytes`; returns what one step is worth.
fn quantise(group: &[f32], bytes: &mut Vec<u8>) -> f32 {
    let peak = peak(group);
    let scale = if peak > 0.0 && peak.is_finite() {
        peak / 32_767.0
    } else {
        1.0
    };
    let inverse = 1.0 / scale;
    bytes.clear();
    bytes.extend(group.iter().flat_map(|s| to_i16(s * inverse).to_le_bytes()));
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

/// Rounds to the nearest step (half away from zero), saturating: `f32::round` is a libm call
/// per sample without SSE4.1, this is two instructions.
#[inline(always)]
fn to_i16(s: f32) -> i16 {
    (s + 0.5f32.copysign(s)) as i16
}

impl Held {
    fn open(&self, write: bool) -> Result<File, EngineError> {
        OpenOptions::new()
            .read(true)
            .write(write)
            .open(&self.path)
            .map_err(|e| EngineError::io(&self.path, e))
    }

    /// Frames `[from, to)` of the held sum as interleaved floats in `out`.
    fn read(
        &self,
        file: &File,
        (from, to): (u64, u64),
        bytes: &mut Vec<u8>,
        out: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        bytes.resize(((to - from) * FRAME_BYTES) as usize, 0);
        file.read_exact_at(bytes, wav::HEADER_BYTES + from * FRAME_BYTES)
            .map_err(|e| EngineError::io(&self.path, e))?;
        out.clear();
        let mut at = from;
        let mut stored = bytes.chunks_exact(2);
        while at < to {
            let group = at / GROUP as u64;
            let end = ((group + 1) * GROUP as u64).min(to);
            let scale = self.scales[group as usize];
            let samples = ((end - at) as usize) * CHANNELS;
            out.extend(
                stored
                    .by_ref()
                    .take(samples)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * scale),
            );
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
        let mut bytes = Vec::new();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let read_from = if limit.is_some() {
            from.saturating_sub(Limiter::WARM_UP)
        } else {
            from
        };
        let read_to = if limit.is_some() {
            (to + Limiter::LOOKAHEAD as u64).min(self.frames)
        } else {
            to
        };
        let file = self.open(true);
        let copied = file.as_ref().map_err(|e| EngineError::Io(e.to_string())).and_then(|file| {
            self.read(file, (read_from, from), &mut bytes, &mut before)?;
            self.read(file, (to, read_to), &mut bytes, &mut after)
        });
        // Every part waits here, even one that failed, so none waits forever.
        barrier.wait();
        copied?;
        let file = file?;

        let mut limiter = limit.map(Limiter::new);
        // The next frame the limiter (or the plain path) hands out, and the next to write.
        let mut emitted = read_from;
        let mut written = from;
        let mut pcm: Vec<u8> = Vec::with_capacity((CHUNK * FRAME_BYTES) as usize);
        let mut samples = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let mut feed = |samples: &[f32], pcm: &mut Vec<u8>| {
            for f in samples.chunks_exact(CHANNELS) {
                let frame = [f[0] * gain, f[1] * gain];
                let out = match limiter.as_mut() {
                    Some(l) => l.process(frame),
                    None => Some(frame),
                };
                if let Some(out) = out {
                    if (from..to).contains(&emitted) {
                        pcm.extend(out.iter().flat_map(|s| to_i16(s * 32_767.0).to_le_bytes()));
                    }
                    emitted += 1;
                }
            }
        };
        // Writes trail reads (the limiter only delays), so rewriting in place is safe.
        let mut flush = |pcm: &mut Vec<u8>| -> Result<(), EngineError> {
            file.write_all_at(pcm, wav::HEADER_BYTES + written * FRAME_BYTES)
                .map_err(|e| EngineError::io(&self.path, e))?;
            written += pcm.len() as u64 / FRAME_BYTES;
            pcm.clear();
            Ok(())
        };
        feed(&before, &mut pcm);
        let mut at = from;
        while at < to {
            let end = (at + CHUNK).min(to);
            self.read(&file, (at, end), &mut bytes, &mut samples)?;
            feed(&samples, &mut pcm);
            flush(&mut pcm)?;
            at = end;
        }
        feed(&after, &mut pcm);
        if read_to == self.frames
            && let Some(l) = limiter.as_mut()
        {
            for frame in l.flush() {
                if (from..to).contains(&emitted) {
                    pcm.extend(frame.iter().flat_map(|s| to_i16(s * 32_767.0).to_le_bytes()));
                }
                emitted += 1;
            }
        }
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
        let (mut bytes, mut samples) = (Vec::new(), Vec::new());
        let mut limited: Vec<f32> = Vec::with_capacity(CHUNK as usize * CHANNELS);
        let mut at = 0;
        while at < self.frames {
            let end = (at + CHUNK).min(self.frames);
            self.read(&file, (at, end), &mut bytes, &mut samples)?;
            limited.clear();
            for f in samples.chunks_exact(CHANNELS) {
                if let Some(out) = limiter.process([f[0] * gain, f[1] * gain]) {
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
