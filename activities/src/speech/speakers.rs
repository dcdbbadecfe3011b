//! One label per person across recognition chunks. A diarizing provider numbers speakers per
//! request (`speaker_0` is whoever it hears first), so the same person may be `speaker_1` in the
//! next ten-minute chunk. Each chunk's speakers are matched to those already heard by their
//! voice (the median pitch of their lines in the chunk): within `SAME_VOICE` of a known voice,
//! nobody else of the chunk taking it, they get its label; otherwise they are someone new.

use super::RATE;
use super::recognizers::Recognized;
use crate::audio::pitch;
use std::collections::HashMap;

/// Relative pitch difference under which two chunks' speakers are the same person.
const SAME_VOICE: f64 = 0.2;

/// The speakers heard so far: job-wide label and median pitch.
#[derive(Default)]
pub(super) struct Voices {
    known: Vec<(String, Option<f64>)>,
}

impl Voices {
    /// Renames the chunk's speaker labels (segments and words) to the job's.
    pub(super) fn relabel(&mut self, chunk: &mut Recognized, wav: &[u8]) {
        let mut order: Vec<String> = Vec::new();
        for s in &chunk.segments {
            if let Some(l) = &s.speaker
                && !order.contains(l)
            {
                order.push(l.clone());
            }
        }
        if order.is_empty() {
            return;
        }
        let samples: Vec<f32> = wav
            .get(44..)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let at = |ms: u64| ((ms * u64::from(RATE) / 1000) as usize).min(samples.len());
        let mut taken: Vec<usize> = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        for label in order {
            let voice: Vec<f32> = chunk
                .segments
                .iter()
                .filter(|s| s.speaker.as_ref() == Some(&label))
                .flat_map(|s| samples[at(s.start_ms)..at(s.end_ms).max(at(s.start_ms))].iter())
                .copied()
                .collect();
            let hz = pitch::median_hz(&voice, RATE);
            let same = self
                .known
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken.contains(i))
                .filter_map(|(i, (name, known))| {
                    let distance = match (hz, known) {
                        (Some(a), Some(b)) => (a - b).abs() / b,
                        // Unmeasured: only the provider's own label can say it is the same.
                        _ if *name == label => 0.0,
                        _ => f64::MAX,
                    };
                    (distance < SAME_VOICE).then_some((i, distance))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            let i = same.unwrap_or_else(|| {
                let free = !self.known.iter().any(|(n, _)| *n == label);
                let name = if free {
                    label.clone()
                } else {
                    format!("{label}_{}", self.known.len())
                };
                self.known.push((name, hz));
                self.known.len() - 1
            });
            taken.push(i);
            names.insert(label, self.known[i].0.clone());
        }
        let rename = |s: &mut Option<String>| {
            if let Some(l) = s.as_mut()
                && let Some(name) = names.get(l.as_str())
            {
                *l = name.clone();
            }
        };
        chunk
            .segments
            .iter_mut()
            .for_each(|s| rename(&mut s.speaker));
        chunk.words.iter_mut().for_each(|w| rename(&mut w.speaker));
    }
}

#[cfg(test)]
mod tests {
    use super::super::recognizers::Segment;
    use super::*;

    /// A chunk of tones: (seconds, Hz, speaker label) in order.
    fn chunk(parts: &[(u64, f64, &str)]) -> (Recognized, Vec<u8>) {
        let mut pcm = Vec::new();
        let mut segments = Vec::new();
        let mut at_ms = 0;
        for (secs, hz, label) in parts {
            let n = (*secs * u64::from(RATE)) as usize;
            for i in 0..n {
                let t = i as f64 / f64::from(RATE);
                let s: f64 = (1..=4)
                    .map(|k| (2.0 * std::f64::consts::PI * hz * k as f64 * t).sin() / k as f64)
                    .sum();
                pcm.extend(((s * 6000.0) as i16).to_le_bytes());
            }
            segments.push(Segment {
                start_ms: at_ms,
                end_ms: at_ms + secs * 1000,
                text: "x".into(),
                speaker: Some(label.to_string()),
            });
            at_ms += secs * 1000;
        }
        let mut wav = vec![0u8; 44];
        wav.extend(pcm);
        let recognized = Recognized {
            segments,
            words: Vec::new(),
            language: None,
        };
        (recognized, wav)
    }

    fn labels(r: &Recognized) -> Vec<&str> {
        r.segments
            .iter()
            .filter_map(|s| s.speaker.as_deref())
            .collect()
    }

    #[test]
    fn the_same_voice_keeps_its_label_in_the_next_chunk() {
        let mut voices = Voices::default();
        let (mut first, wav) = chunk(&[(1, 100.0, "speaker_0"), (1, 240.0, "speaker_1")]);
        voices.relabel(&mut first, &wav);
        assert_eq!(labels(&first), ["speaker_0", "speaker_1"]);
        // The next chunk starts with the high voice, which the provider calls speaker_0, and
        // brings a third voice.
        let (mut second, wav) = chunk(&[
            (1, 245.0, "speaker_0"),
            (1, 98.0, "speaker_1"),
            (1, 160.0, "speaker_2"),
        ]);
        voices.relabel(&mut second, &wav);
        assert_eq!(labels(&second), ["speaker_1", "speaker_0", "speaker_2"]);
    }
}
