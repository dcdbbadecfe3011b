//! The speakers step (extract_reference_audio): who speaks in the video, measured from the
//! source audio, and which voice dubs each.
//!
//! The source cues name their speakers (the uploaded transcript's names or the recognizer's
//! labels). For each speaker the source track gives the time spoken, the median pitch (YIN)
//! and from it a gender guess, over the moments when nobody else speaks (overlaps would mix two
//! voices), and a sample clip of up to `CLIP_S` of them alone. Voices are then assigned
//! (`shared::speakers::assign_voices`): the user's choice by label, else distinct catalogue
//! voices of the right gender. The speakers are recorded in `job_speakers` for the API.
//!
//! A job that clones voices also gets each speaker's reference: their longest moments alone
//! (the cleanest: no one else speaks, fewest joins) up to `CLONE_MAX_SECS`, loudness normalised.
//! A speaker with less than `CLONE_MIN_SECS` alone gets no reference and keeps a catalogue voice
//! (the job's speakers say so).

use crate::audio::engine::EngineError;
use crate::audio::engine::decode::stream_mono;
use crate::audio::pitch;
use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::voice::http::pcm_to_wav;
use crate::{blocking, error, heartbeat, memo};
use onevoice_shared::contracts::{SpeakersInput, SpeakersOutput, activity};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::speakers::{Gender, Speaker, assign_voices};
use onevoice_shared::srt::Cue;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Rate the voices are measured at.
const RATE: u32 = 16_000;
/// Speech per speaker the pitch is measured on (more changes nothing but the time it takes).
const PITCH_S: u64 = 30;
/// Longest sample clip of a speaker.
const CLIP_S: u64 = 10;

pub struct SpeakerActivities {
    deps: Deps,
}

impl SpeakerActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl SpeakerActivities {
    #[activity(name = activity::SPEAKERS)]
    pub async fn profile(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SpeakersInput,
    ) -> Result<SpeakersOutput, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).step_result(Step::ExtractReferenceAudio);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let cues: Vec<Cue> = deps
                    .storage
                    .get_json(&input.cues_key)
                    .await
                    .map_err(error::storage)?;
                let mut speakers = tally(&cues);
                if speakers.is_empty() {
                    return Ok(SpeakersOutput {
                        speakers: 0,
                        voices: Default::default(),
                    });
                }
                let scratch = Scratch::new(&deps.tools.work_dir, "speakers")?;
                let source = scratch.path("source.audio");
                // The voices alone when a separator gave them: cleaner pitch, samples and
                // references than over the music.
                let track = input.vocals_key.as_ref().unwrap_or(&input.audio_key);
                deps.storage
                    .download_to(track, &source)
                    .await
                    .map_err(error::storage)?;
                let labels: Vec<String> = speakers.iter().map(|s| s.label.clone()).collect();
                let cloning = &deps.speech.cloning;
                let reference = input.references.then(|| Span {
                    min: samples(cloning.min_reference),
                    max: samples(cloning.max_reference),
                });
                let cancel = Arc::new(AtomicBool::new(false));
                let flag = cancel.clone();
                let measured = blocking::run(&ctx, cancel, move || {
                    measure(&source, &cues, &labels, reference, &flag)
                })
                .await?;
                let keys = JobKeys(input.job_id);
                for (speaker, m) in speakers.iter_mut().zip(measured) {
                    speaker.pitch_hz = m.pitch_hz.map(|hz| (hz * 10.0).round() / 10.0);
                    speaker.gender = m.pitch_hz.map(Gender::guess);
                    if !m.clip.is_empty() {
                        let clip_key = keys.speaker(&speaker.id, "sample.wav");
                        deps.storage
                            .put_bytes(&clip_key, wav(&m.clip), "audio/wav")
                            .await
                            .map_err(error::storage)?;
                        speaker.sample_key = Some(clip_key);
                    }
                    speaker.reference_ms = m.solo_samples * 1000 / u64::from(RATE);
                    if !m.reference.is_empty() {
                        let key = keys.speaker(&speaker.id, "reference.wav");
                        deps.storage
                            .put_bytes(&key, reference_wav(&m.reference), "audio/wav")
                            .await
                            .map_err(error::storage)?;
                        speaker.reference_key = Some(key);
                        speaker.reference_ms = m.reference.len() as u64 * 1000 / u64::from(RATE);
                    }
                }
                let voices = assign_voices(
                    &speakers,
                    &input.voices,
                    input.voice_id.as_deref(),
                    input.target_language,
                    &deps.speech,
                );
                for s in &mut speakers {
                    s.voice_id = voices.get(&s.label).cloned().unwrap_or_default();
                }
                onevoice_shared::repo::speakers::replace(&deps.db, input.job_id, &speakers)
                    .await
                    .map_err(|e| error::transient(format!("recording the speakers: {e}")))?;
                tracing::info!(speakers = speakers.len(), "speakers measured");
                Ok(SpeakersOutput {
                    speakers: speakers.len() as u32,
                    voices,
                })
            }),
        )
        .await
    }
}

/// The speakers the cues name, in order of first appearance, with their lines and speech time.
fn tally(cues: &[Cue]) -> Vec<Speaker> {
    let mut speakers: Vec<Speaker> = Vec::new();
    for cue in cues {
        let Some(label) = cue.speaker.as_deref() else {
            continue;
        };
        let n = match speakers.iter().position(|s| s.label == label) {
            Some(n) => n,
            None => {
                speakers.push(Speaker {
                    id: format!("S{}", speakers.len() + 1),
                    label: label.to_string(),
                    ..Speaker::default()
                });
                speakers.len() - 1
            }
        };
        speakers[n].lines += 1;
        speakers[n].speech_ms += cue.end_ms.saturating_sub(cue.start_ms);
    }
    speakers
}

/// What the audio says of one speaker.
struct Measured {
    pitch_hz: Option<f64>,
    /// Up to `CLIP_S` of the speaker alone, 16 kHz mono.
    clip: Vec<f32>,
    /// Their reference to clone from (empty: not asked for, or too little speech alone).
    reference: Vec<f32>,
    /// All their time alone, in samples.
    solo_samples: u64,
}

/// Bounds of a reference, in samples.
#[derive(Clone, Copy)]
struct Span {
    min: u64,
    max: u64,
}

fn samples(d: std::time::Duration) -> u64 {
    (d.as_secs_f64() * f64::from(RATE)) as u64
}

/// Moments alone shorter than this are left out of a reference (a word between two others'
/// lines is mostly its edges).
const REFERENCE_PIECE_MIN_S: f64 = 0.5;

/// The moments of a reference: the longest of `solo` first, up to `span.max` in all, in time
/// order; none when they add up to less than `span.min`.
fn reference_times(solo: &[(u64, u64)], span: Span) -> Vec<(u64, u64)> {
    let shortest = (REFERENCE_PIECE_MIN_S * f64::from(RATE)) as u64;
    let mut longest: Vec<(u64, u64)> = solo
        .iter()
        .copied()
        .filter(|(s, e)| e - s >= shortest)
        .collect();
    longest.sort_by_key(|(s, e)| (std::cmp::Reverse(e - s), *s));
    let mut picked = Vec::new();
    let mut total = 0;
    for (s, e) in longest {
        if total >= span.max {
            break;
        }
        let e = e.min(s + (span.max - total));
        total += e - s;
        picked.push((s, e));
    }
    if total < span.min {
        return Vec::new();
    }
    picked.sort_unstable();
    picked
}

/// Each labelled speaker's times alone (their cues minus everyone else's), in samples at
/// `RATE`, in order.
fn solo_times(cues: &[Cue], label: &str) -> Vec<(u64, u64)> {
    let at = |ms: u64| ms * u64::from(RATE) / 1000;
    let others: Vec<(u64, u64)> = cues
        .iter()
        .filter(|c| c.speaker.as_deref().is_some_and(|s| s != label))
        .map(|c| (at(c.start_ms), at(c.end_ms)))
        .collect();
    let mut out = Vec::new();
    for cue in cues.iter().filter(|c| c.speaker.as_deref() == Some(label)) {
        let mut pieces = vec![(at(cue.start_ms), at(cue.end_ms))];
        for (os, oe) in &others {
            pieces = pieces
                .into_iter()
                .flat_map(|(s, e)| {
                    if *oe <= s || *os >= e {
                        vec![(s, e)]
                    } else {
                        vec![(s, *os), (*oe, e)]
                    }
                })
                .filter(|(s, e)| e > s)
                .collect();
        }
        out.extend(pieces);
    }
    out.sort_unstable();
    out
}

/// Copies the samples of sorted, non-overlapping times (each tagged with a speaker) out of a
/// stream that arrives block by block.
struct Collector {
    times: Vec<(u64, u64, usize)>,
    next: usize,
    out: Vec<Vec<f32>>,
}

impl Collector {
    fn new(mut times: Vec<(u64, u64, usize)>, speakers: usize) -> Self {
        times.sort_unstable();
        Self {
            times,
            next: 0,
            out: vec![Vec::new(); speakers],
        }
    }

    /// Takes what it wants of `block`, which starts at sample `base`.
    fn feed(&mut self, base: u64, block: &[f32]) {
        let end = base + block.len() as u64;
        while let Some(&(s, e, who)) = self.times.get(self.next) {
            if s >= end {
                break;
            }
            let (from, to) = (s.max(base), e.min(end));
            if from < to {
                self.out[who]
                    .extend_from_slice(&block[(from - base) as usize..(to - base) as usize]);
            }
            if e > end {
                break;
            }
            self.next += 1;
        }
    }
}

/// Streams the source once at 16 kHz mono, keeping each speaker's first `PITCH_S` alone (for
/// the pitch) and their longest moment alone (the clip).
fn measure(
    source: &Path,
    cues: &[Cue],
    labels: &[String],
    reference: Option<Span>,
    cancel: &AtomicBool,
) -> Result<Vec<Measured>, EngineError> {
    let mut for_pitch = Vec::new();
    let mut for_clip = Vec::new();
    let mut for_reference = Vec::new();
    let mut solo_samples = Vec::new();
    for (who, label) in labels.iter().enumerate() {
        let solo = solo_times(cues, label);
        solo_samples.push(solo.iter().map(|(s, e)| e - s).sum::<u64>());
        if let Some(span) = reference {
            for_reference.extend(
                reference_times(&solo, span)
                    .into_iter()
                    .map(|(s, e)| (s, e, who)),
            );
        }
        let mut budget = PITCH_S * u64::from(RATE);
        for (s, e) in &solo {
            if budget == 0 {
                break;
            }
            let e = (*e).min(s + budget);
            budget -= e - s;
            for_pitch.push((*s, e, who));
        }
        if let Some((s, e)) = solo.iter().max_by_key(|(s, e)| e - s) {
            for_clip.push((*s, (*e).min(s + CLIP_S * u64::from(RATE)), who));
        }
    }
    let mut pitch_samples = Collector::new(for_pitch, labels.len());
    let mut clips = Collector::new(for_clip, labels.len());
    let mut references = Collector::new(for_reference, labels.len());
    let mut base = 0u64;
    stream_mono(source, RATE, |block, _last| {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        pitch_samples.feed(base, block);
        clips.feed(base, block);
        references.feed(base, block);
        base += block.len() as u64;
        Ok(())
    })?;
    Ok(pitch_samples
        .out
        .into_iter()
        .zip(clips.out)
        .zip(references.out)
        .zip(solo_samples)
        .map(|(((voice, clip), reference), solo_samples)| Measured {
            pitch_hz: pitch::median_hz(&voice, RATE),
            clip,
            reference,
            solo_samples,
        })
        .collect())
}

/// A clip as 16-bit WAV, its peak brought to -3 dBFS so every speaker's sample plays as loud.
fn wav(clip: &[f32]) -> Vec<u8> {
    let peak = clip.iter().fold(0f32, |m, s| m.max(s.abs()));
    let gain = if peak > 1e-4 { 0.708 / peak } else { 1.0 };
    wav_at(clip, gain)
}

/// Loudness of a reference (RMS, dBFS): what the cloning providers' guides ask of a sample, with
/// room below full scale.
const REFERENCE_RMS_DBFS: f32 = -20.0;
/// Highest peak of a reference (-1 dBFS): quiet speech is not raised into clipping.
const REFERENCE_PEAK: f32 = 0.891;

/// A reference as 16-bit WAV, loudness normalised (its RMS to `REFERENCE_RMS_DBFS`, its peak
/// at most `REFERENCE_PEAK`), so every speaker's clone hears them at the same level.
fn reference_wav(reference: &[f32]) -> Vec<u8> {
    let n = reference.len().max(1) as f32;
    let rms = (reference.iter().map(|s| s * s).sum::<f32>() / n).sqrt();
    let peak = reference.iter().fold(0f32, |m, s| m.max(s.abs()));
    let gain = if rms > 1e-5 {
        (10f32.powf(REFERENCE_RMS_DBFS / 20.0) / rms).min(REFERENCE_PEAK / peak.max(1e-5))
    } else {
        1.0
    };
    wav_at(reference, gain)
}

fn wav_at(clip: &[f32], gain: f32) -> Vec<u8> {
    let pcm: Vec<u8> = clip
        .iter()
        .flat_map(|s| ((s * gain * 32767.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect();
    pcm_to_wav(&pcm, RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start_ms: u64, end_ms: u64, speaker: &str) -> Cue {
        Cue {
            start_ms,
            end_ms,
            text: "x".into(),
            speaker: Some(speaker.into()),
        }
    }

    #[test]
    fn counts_speakers_in_order_of_appearance() {
        let cues = [
            cue(0, 1000, "B"),
            cue(1000, 3000, "A"),
            cue(3000, 3500, "B"),
        ];
        let s = tally(&cues);
        let seen: Vec<(&str, &str, u32, u64)> = s
            .iter()
            .map(|s| (s.id.as_str(), s.label.as_str(), s.lines, s.speech_ms))
            .collect();
        assert_eq!(seen, [("S1", "B", 2, 1500), ("S2", "A", 1, 2000)]);
        assert!(tally(&[Cue::default()]).is_empty());
    }

    #[test]
    fn a_speaker_alone_leaves_out_the_overlaps() {
        // B talks over the middle of A's line.
        let cues = [cue(0, 3000, "A"), cue(1000, 2000, "B")];
        let k = u64::from(RATE) / 1000;
        assert_eq!(
            solo_times(&cues, "A"),
            [(0, 1000 * k), (2000 * k, 3000 * k)]
        );
        assert!(solo_times(&cues, "B").is_empty());
    }

    #[test]
    fn a_reference_takes_the_longest_moments_alone_up_to_its_bounds() {
        let k = u64::from(RATE);
        let solo = [
            (0, k),
            (2 * k, 5 * k),
            (6 * k, 6 * k + k / 4),
            (8 * k, 10 * k),
        ];
        let span = |min: u64, max: u64| Span {
            min: min * k,
            max: max * k,
        };
        // The 3 s and the 2 s moments, in time order; the quarter second is too short to use.
        assert_eq!(
            reference_times(&solo, span(4, 5)),
            [(2 * k, 5 * k), (8 * k, 10 * k)]
        );
        // Capped at the maximum: the longest, then what is left of the next.
        assert_eq!(
            reference_times(&solo, span(1, 4)),
            [(2 * k, 5 * k), (8 * k, 9 * k)]
        );
        // Not enough alone: no reference.
        assert!(reference_times(&solo, span(7, 60)).is_empty());
    }

    #[test]
    fn a_reference_is_brought_to_one_loudness_without_clipping() {
        let level = |wav: &[u8]| {
            let s: Vec<f32> = wav[44..]
                .chunks(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
            let rms = (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
            (
                20.0 * rms.log10(),
                s.iter().fold(0f32, |m, x| m.max(x.abs())),
            )
        };
        let tone =
            |amp: f32| -> Vec<f32> { (0..16_000).map(|i| amp * (i as f32 * 0.05).sin()).collect() };
        for amp in [0.01, 0.3] {
            let (rms, peak) = level(&reference_wav(&tone(amp)));
            assert!((rms - REFERENCE_RMS_DBFS).abs() < 0.5, "{amp}: {rms} dBFS");
            assert!(peak <= REFERENCE_PEAK + 1e-3, "{amp}: peak {peak}");
        }
        // A spike is not pushed past the peak limit.
        let mut spiky = tone(0.01);
        spiky[100] = 0.9;
        let (_, peak) = level(&reference_wav(&spiky));
        assert!(peak <= REFERENCE_PEAK + 1e-3, "peak {peak}");
    }

    #[test]
    fn the_collector_takes_its_times_across_blocks() {
        let mut c = Collector::new(vec![(2, 5, 0), (6, 9, 1)], 2);
        let stream: Vec<f32> = (0..10).map(|i| i as f32).collect();
        for (n, block) in stream.chunks(3).enumerate() {
            c.feed(n as u64 * 3, block);
        }
        assert_eq!(c.out, [vec![2.0, 3.0, 4.0], vec![6.0, 7.0, 8.0]]);
    }
}
