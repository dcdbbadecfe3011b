//! The speakers step (extract_reference_audio): who speaks in the video, measured from the
//! source audio, and which voice dubs each.
//!
//! The source cues name their speakers (the uploaded transcript's names or the recognizer's
//! labels). For each speaker the source track gives the time spoken, the median pitch (YIN)
//! and from it a gender guess, over the moments when nobody else speaks (overlaps would mix two
//! voices), and a sample clip of up to `CLIP_S` of them alone. Voices are then assigned
//! (`shared::speakers::assign_voices`): the user's choice by label, else distinct catalogue
//! voices of the right gender. The speakers are recorded in `job_speakers` for the API.

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
                deps.storage
                    .download_to(&input.audio_key, &source)
                    .await
                    .map_err(error::storage)?;
                let labels: Vec<String> = speakers.iter().map(|s| s.label.clone()).collect();
                let cancel = Arc::new(AtomicBool::new(false));
                let flag = cancel.clone();
                let measured = blocking::run(&ctx, cancel, move || {
                    measure(&source, &cues, &labels, &flag)
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
                    lines: 0,
                    speech_ms: 0,
                    pitch_hz: None,
                    gender: None,
                    sample_key: None,
                    voice_id: String::new(),
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
    cancel: &AtomicBool,
) -> Result<Vec<Measured>, EngineError> {
    let mut for_pitch = Vec::new();
    let mut for_clip = Vec::new();
    for (who, label) in labels.iter().enumerate() {
        let solo = solo_times(cues, label);
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
    let mut base = 0u64;
    stream_mono(source, RATE, |block, _last| {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        pitch_samples.feed(base, block);
        clips.feed(base, block);
        base += block.len() as u64;
        Ok(())
    })?;
    Ok(pitch_samples
        .out
        .into_iter()
        .zip(clips.out)
        .map(|(voice, clip)| Measured {
            pitch_hz: pitch::median_hz(&voice, RATE),
            clip,
        })
        .collect())
}

/// A clip as 16-bit WAV, its peak brought to -3 dBFS so every speaker's sample plays as loud.
fn wav(clip: &[f32]) -> Vec<u8> {
    let peak = clip.iter().fold(0f32, |m, s| m.max(s.abs()));
    let gain = if peak > 1e-4 { 0.708 / peak } else { 1.0 };
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
    fn the_collector_takes_its_times_across_blocks() {
        let mut c = Collector::new(vec![(2, 5, 0), (6, 9, 1)], 2);
        let stream: Vec<f32> = (0..10).map(|i| i as f32).collect();
        for (n, block) in stream.chunks(3).enumerate() {
            c.feed(n as u64 * 3, block);
        }
        assert_eq!(c.out, [vec![2.0, 3.0, 4.0], vec![6.0, 7.0, 8.0]]);
    }
}
