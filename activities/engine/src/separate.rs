//! The offline voice suppressor: the original track with its voices taken out under the original
//! speech, so the dub can be laid over the music instead of ducking everything.
//!
//! Voices sit in the centre of a stereo mix, and in the speech band of any mix. Under the
//! original speech (its spans, with ramps outside them as the ducking has), a stereo source loses
//! the centre of the bins whose left and right are alike (`centre`: the music spread across the
//! image and the bass stay); a mono source, or a stereo one whose sides are silent (a mono
//! video's track), loses `MONO_DEPTH_DB` in the speech band `MONO_BAND` and `MONO_REST_DB`
//! elsewhere. The mono bands are Linkwitz–Riley crossovers, whose sum is an allpass: where
//! nothing is suppressed the signal keeps its magnitude. Block by block, in two streaming passes
//! (the first only measures the sides): memory is flat whatever the length.

use super::centre::CentreRemover;
use super::duck::Ducker;
use super::mix::background_blocks;
use super::{EngineError, wav};
use std::f64::consts::PI;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The speech band of a mono source (Hz: from below a low voice's fundamental to its
/// sibilance), and how much of it goes under speech. Nothing tells a voice from the music in
/// it, so the music in the band goes too.
pub const MONO_BAND: (f64, f64) = (80.0, 8_000.0);
pub const MONO_DEPTH_DB: f32 = -30.0;
/// What the rest of a mono source loses under speech (as the ducking does).
pub const MONO_REST_DB: f32 = -12.0;
/// Sides this far below the centre (dB) make a stereo track a mono one.
const SILENT_SIDES_DB: f64 = -40.0;

/// How a track is laid out, and its length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Track {
    /// Whether its sides carry anything: voices are then taken from the centre, else from the
    /// speech band.
    pub stereo: bool,
    /// Frames at the rate it was measured at.
    pub frames: u64,
}

/// The first pass: whether `source` has sides (above `SILENT_SIDES_DB` of its centre), and its
/// length at `rate`.
pub fn measure(source: &Path, rate: u32, cancel: &AtomicBool) -> Result<Track, EngineError> {
    let (mut mid, mut side, mut frames) = (0f64, 0f64, 0u64);
    background_blocks(source, rate, |block| {
        for frame in block.chunks_exact(2) {
            let (l, r) = (f64::from(frame[0]), f64::from(frame[1]));
            mid += (l + r) * (l + r);
            side += (l - r) * (l - r);
        }
        frames += (block.len() / 2) as u64;
        !cancel.load(Ordering::Relaxed)
    })?;
    if cancel.load(Ordering::Relaxed) {
        return Err(EngineError::Cancelled);
    }
    Ok(Track {
        stereo: side > 0.0 && 10.0 * (side / mid.max(1e-30)).log10() > SILENT_SIDES_DB,
        frames,
    })
}

/// The second pass: writes `source` at `rate` as 16-bit stereo WAV to `out` (`track.frames`
/// long), its voices suppressed under `speech` (frame spans at `rate`).
pub fn suppress_voices(
    source: &Path,
    rate: u32,
    track: Track,
    speech: &[(u64, u64)],
    out: &Path,
    cancel: &AtomicBool,
) -> Result<(), EngineError> {
    let windows = super::duck::windows(speech.to_vec(), super::RAMP);
    // The envelope: 1 outside speech, 0 under it (ramps outside the spans).
    let mut envelope = Ducker::new(&windows, 0.0, super::RAMP);
    let mut writer = wav::Writer::create(out, rate, 2, track.frames)?;
    let mut suppressor = if track.stereo {
        Suppressor::Centre(CentreRemover::new(rate))
    } else {
        Suppressor::Band(SpeechBand::new(rate))
    };
    let mut samples = Vec::new();
    let mut pcm: Vec<i16> = Vec::new();
    let mut left = track.frames;
    let mut failed = None;
    let mut write = |samples: &mut Vec<f32>, writer: &mut wav::Writer| {
        let n = (samples.len() as u64 / 2).min(left) as usize;
        pcm.clear();
        pcm.extend(samples[..2 * n].iter().map(|x| to_pcm(*x)));
        samples.clear();
        left -= n as u64;
        writer.write(&pcm)
    };
    background_blocks(source, rate, |block| {
        if cancel.load(Ordering::Relaxed) {
            failed = Some(EngineError::Cancelled);
            return false;
        }
        suppressor.process(&block, &mut envelope, &mut samples);
        if let Err(e) = write(&mut samples, &mut writer) {
            failed = Some(e);
            return false;
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    suppressor.flush(&mut envelope, &mut samples);
    write(&mut samples, &mut writer)?;
    writer.finish()
}

/// Writes `stem` (any format the engine decodes) at `rate` as 16-bit stereo WAV to `out`,
/// exactly `frames` long: cut, or padded with silence.
pub fn conform(
    stem: &Path,
    rate: u32,
    frames: u64,
    out: &Path,
    cancel: &AtomicBool,
) -> Result<(), EngineError> {
    let mut writer = wav::Writer::create(out, rate, 2, frames)?;
    let mut left = frames;
    let mut pcm: Vec<i16> = Vec::new();
    let mut failed = None;
    background_blocks(stem, rate, |block| {
        if cancel.load(Ordering::Relaxed) {
            failed = Some(EngineError::Cancelled);
            return false;
        }
        let n = (block.len() as u64 / 2).min(left) as usize;
        pcm.clear();
        pcm.extend(block[..2 * n].iter().map(|x| to_pcm(*x)));
        left -= n as u64;
        if let Err(e) = writer.write(&pcm) {
            failed = Some(e);
            return false;
        }
        left > 0
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let silence = vec![0i16; 2 * 4096];
    while left > 0 {
        let n = left.min(4096) as usize;
        writer.write(&silence[..2 * n])?;
        left -= n as u64;
    }
    writer.finish()
}

fn to_pcm(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// The two ways voices go: a stereo track's centre (spectral), a mono track's speech band.
enum Suppressor {
    Centre(CentreRemover),
    Band(SpeechBand),
}

impl Suppressor {
    fn process(&mut self, block: &[f32], envelope: &mut Ducker, out: &mut Vec<f32>) {
        match self {
            Self::Centre(centre) => centre.process(block, envelope, out),
            Self::Band(band) => band.process(block, envelope, out),
        }
    }

    fn flush(&mut self, envelope: &mut Ducker, out: &mut Vec<f32>) {
        if let Self::Centre(centre) = self {
            centre.flush(envelope, out);
        }
    }
}

/// A mono track's suppressor: under speech its speech band (`MONO_BAND`) falls by
/// `MONO_DEPTH_DB` and the rest by `MONO_REST_DB`. Linear crossovers, sample by sample.
struct SpeechBand {
    mid: Split,
    side: Split,
    deep: f32,
    rest: f32,
    gains: Vec<f32>,
    position: u64,
}

impl SpeechBand {
    fn new(rate: u32) -> Self {
        Self {
            mid: Split::new(rate, MONO_BAND),
            side: Split::new(rate, MONO_BAND),
            deep: 10f32.powf(MONO_DEPTH_DB / 20.0),
            rest: 10f32.powf(MONO_REST_DB / 20.0),
            gains: Vec::new(),
            position: 0,
        }
    }

    fn process(&mut self, block: &[f32], envelope: &mut Ducker, out: &mut Vec<f32>) {
        let frames = block.len() / 2;
        self.gains.resize(frames, 1.0);
        envelope.fill(self.position, &mut self.gains);
        self.position += frames as u64;
        for (frame, keep) in block.chunks_exact(2).zip(&self.gains) {
            let (l, r) = (frame[0], frame[1]);
            let (m, s) = ((l + r) * 0.5, (l - r) * 0.5);
            let (m_low, m_band, m_high) = self.mid.process(m);
            let (s_low, s_band, s_high) = self.side.process(s);
            // Under speech (`keep` 0) the band falls to `deep`, the rest to `rest`.
            let band = self.deep + (1.0 - self.deep) * keep;
            let other = self.rest + (1.0 - self.rest) * keep;
            let m = other * (m_low + m_high) + band * m_band;
            let s = other * (s_low + s_high) + band * s_band;
            out.extend([m + s, m - s]);
        }
    }
}

/// A second-order section (RBJ's cookbook), transposed direct form II.
#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    /// Butterworth (Q = 1/√2) low- or high-pass at `hz`.
    fn butterworth(rate: u32, hz: f64, high: bool) -> Self {
        let w = 2.0 * PI * hz / f64::from(rate);
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let (b0, b1) = if high {
            ((1.0 + cos) / 2.0, -(1.0 + cos))
        } else {
            ((1.0 - cos) / 2.0, 1.0 - cos)
        };
        Self {
            b: [b0 / a0, b1 / a0, b0 / a0],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            z: [0.0; 2],
        }
    }

    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A 4th-order Linkwitz–Riley filter: two Butterworth sections in a row.
#[derive(Clone, Copy)]
struct Lr4([Biquad; 2]);

impl Lr4 {
    fn new(rate: u32, hz: f64, high: bool) -> Self {
        let b = Biquad::butterworth(rate, hz.min(f64::from(rate) * 0.45), high);
        Self([b, b])
    }

    fn run(&mut self, x: f64) -> f64 {
        let y = self.0[0].run(x);
        self.0[1].run(y)
    }
}

/// Three bands (below, inside and above a band) whose sum is an allpass of the input: the low
/// band goes through the upper crossover's allpass too, so all three share one phase.
struct Split {
    low: Lr4,
    above_low: Lr4,
    band: Lr4,
    high: Lr4,
    low_ap: (Lr4, Lr4),
}

impl Split {
    fn new(rate: u32, (from, to): (f64, f64)) -> Self {
        Self {
            low: Lr4::new(rate, from, false),
            above_low: Lr4::new(rate, from, true),
            band: Lr4::new(rate, to, false),
            high: Lr4::new(rate, to, true),
            low_ap: (Lr4::new(rate, to, false), Lr4::new(rate, to, true)),
        }
    }

    fn process(&mut self, x: f32) -> (f32, f32, f32) {
        let x = f64::from(x);
        let low = self.low.run(x);
        let rest = self.above_low.run(x);
        let band = self.band.run(rest);
        let high = self.high.run(rest);
        let low = self.low_ap.0.run(low) + self.low_ap.1.run(low);
        (low as f32, band as f32, high as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    /// Writes interleaved stereo to a WAV file.
    fn write(path: &Path, stereo: &[f32]) {
        super::super::tests::write_wav(path, RATE, 2, stereo);
    }

    fn read(path: &Path) -> Vec<f32> {
        let mut out = Vec::new();
        background_blocks(path, RATE, |b| {
            out.extend(b);
            true
        })
        .unwrap();
        out
    }

    /// Energy of the frames `from..to` of interleaved stereo.
    fn energy(stereo: &[f32], from: usize, to: usize) -> f64 {
        stereo[from * 2..to * 2]
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum()
    }

    fn tone(hz: f64, n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (2.0 * PI * hz * i as f64 / f64::from(RATE)).sin() as f32)
            .collect()
    }

    /// A voice-like sound: a 110 Hz fundamental and its harmonics up to 3.5 kHz.
    fn voice(n: usize) -> Vec<f32> {
        let mut v = vec![0.0; n];
        for k in 1..=32 {
            for (x, t) in v.iter_mut().zip(tone(110.0 * k as f64, n, 0.2 / k as f32)) {
                *x += t;
            }
        }
        v
    }

    /// [`voice`] in both channels between frames `a` and `b`, silence elsewhere.
    fn centred_voice(n: usize, a: usize, b: usize) -> Vec<f32> {
        let v = voice(n);
        (0..n)
            .flat_map(|i| {
                let x = if (a..b).contains(&i) { v[i] } else { 0.0 };
                [x, x]
            })
            .collect()
    }

    /// Runs the suppressor on `stereo` with speech over `span` (frames), as a stereo track or
    /// a mono one; returns the output.
    fn run(dir: &Path, name: &str, stereo: &[f32], span: (u64, u64), wide: bool) -> Vec<f32> {
        let (input, output) = (
            dir.join(format!("{name}.wav")),
            dir.join(format!("{name}.out.wav")),
        );
        write(&input, stereo);
        let cancel = AtomicBool::new(false);
        let track = Track {
            stereo: wide,
            frames: (stereo.len() / 2) as u64,
        };
        suppress_voices(&input, RATE, track, &[span], &output, &cancel).unwrap();
        let out = read(&output);
        assert_eq!(out.len(), stereo.len());
        out
    }

    fn db(x: f64) -> f64 {
        10.0 * x.max(1e-30).log10()
    }

    #[test]
    fn a_centred_voice_goes_and_wide_music_stays_under_speech_only() {
        let dir = tempfile::tempdir().unwrap();
        let n = RATE as usize * 3;
        let (a, b) = (RATE as usize, 2 * RATE as usize);
        // The voice in the centre during the middle second; music with different notes left and
        // right (wide) and a centred 30 Hz bass throughout.
        let voice_st = centred_voice(n, a, b);
        let (l, r, bass) = (tone(220.0, n, 0.2), tone(277.0, n, 0.2), tone(30.0, n, 0.2));
        let music: Vec<f32> = (0..n)
            .flat_map(|i| [l[i] + bass[i], r[i] + bass[i]])
            .collect();
        let span = (a as u64, b as u64);
        // The track is stereo: the mix has sides.
        let mix: Vec<f32> = voice_st.iter().zip(&music).map(|(a, b)| a + b).collect();
        let mixed = dir.path().join("mix.wav");
        write(&mixed, &mix);
        let track = measure(&mixed, RATE, &AtomicBool::new(false)).unwrap();
        assert_eq!(
            track,
            Track {
                stereo: true,
                frames: n as u64
            }
        );
        // What the voice left is the difference between the stems with and without it.
        let mix_out = run(dir.path(), "mix", &mix, span, true);
        let music_out = run(dir.path(), "music", &music, span, true);
        let voice_out: Vec<f32> = mix_out.iter().zip(&music_out).map(|(a, b)| a - b).collect();
        let (from, to) = (a + 4_800, b - 4_800);
        let residual = db(energy(&voice_out, from, to) / energy(&voice_st, from, to));
        let kept = db(energy(&music_out, from, to) / energy(&music, from, to));
        println!("stereo: voice residual {residual:.1} dB, music kept {kept:.1} dB");
        assert!(residual < -30.0, "voice residual {residual:.1} dB");
        // The hard-panned notes lose their share of the centre (3 dB), the bass nothing.
        assert!(kept > -2.0, "music kept {kept:.1} dB");
        // Away from speech the music passes at its level.
        let outside = db(energy(&music_out, 4_800, a - 4_800) / energy(&music, 4_800, a - 4_800));
        assert!(outside.abs() < 0.2, "music outside speech {outside:.2} dB");
    }

    #[test]
    fn a_mono_track_loses_its_speech_band_under_speech() {
        let dir = tempfile::tempdir().unwrap();
        let n = RATE as usize * 3;
        let (a, b) = (RATE as usize, 2 * RATE as usize);
        let voice_st = centred_voice(n, a, b);
        let span = (a as u64, b as u64);
        let input = dir.path().join("in.wav");
        write(&input, &voice_st);
        let track = measure(&input, RATE, &AtomicBool::new(false)).unwrap();
        assert!(!track.stereo, "equal channels are a mono track");
        let out = run(dir.path(), "mono", &voice_st, span, false);
        let (from, to) = (a + 4_800, b - 4_800);
        let residual = db(energy(&out, from, to) / energy(&voice_st, from, to));
        println!("mono: voice residual {residual:.1} dB (ducking: -12 dB)");
        assert!(residual < -22.0, "voice residual {residual:.1} dB");
    }
}
