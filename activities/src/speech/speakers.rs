//! One label per person across recognition chunks. A diarizing provider numbers speakers per
//! request (`speaker_0` is whoever it hears first), so the same person may be `speaker_1` in the
//! next ten-minute chunk. Each chunk's speakers are matched to those already heard by their
//! voice: by voiceprint where the recognizer gives them (the local service's speaker
//! embeddings, averaged over everything a speaker has said so far), else by the median pitch of
//! their lines in the chunk (within `SAME_VOICE`). The closest pairs are matched first, each
//! known speaker once per chunk; a voice like nobody known is someone new.

use super::RATE;
use super::recognizers::Recognized;
use crate::audio::pitch;
use std::collections::HashMap;

/// Relative pitch difference under which two chunks' speakers are the same person.
const SAME_VOICE: f64 = 0.2;
/// Cosine similarity of voiceprints above which two chunks' speakers are the same person (the
/// local service's voiceprints of one voice in two chunks measured 0.75 to 0.81, of two voices
/// 0.16 to 0.39, on the tests' dialogue).
const SAME_PRINT: f32 = 0.6;
/// The same, when either side spoke less than `PRINT_MIN_MS` (a word or two makes a rougher
/// voiceprint: 0.5 to 0.56 to the same voice, 0.09 to 0.22 to the other, measured likewise).
const SAME_SHORT_PRINT: f32 = 0.4;
const PRINT_MIN_MS: u64 = 1_500;

/// A speaker heard so far: job-wide label, pitch and voiceprint, each with the speech time it
/// averages.
struct Known {
    name: String,
    hz: Option<(f64, u64)>,
    print: Option<(Vec<f32>, u64)>,
}

/// The speakers heard so far.
#[derive(Default)]
pub(super) struct Voices {
    known: Vec<Known>,
}

/// A speaker of one chunk, as heard there.
struct Heard<'a> {
    label: String,
    hz: Option<f64>,
    print: Option<&'a Vec<f32>>,
    spoken_ms: u64,
}

/// How far apart two voices are (lower is closer), or None when they are not the same person.
fn distance(heard: &Heard, known: &Known) -> Option<f64> {
    if let (Some(a), Some((b, known_ms))) = (heard.print, &known.print) {
        let similarity: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let long = heard.spoken_ms.min(*known_ms) >= PRINT_MIN_MS;
        let bar = if long { SAME_PRINT } else { SAME_SHORT_PRINT };
        if similarity > bar {
            return Some(f64::from(1.0 - similarity));
        }
        // A word or two may still be told by its pitch; ranked after every voiceprint match.
        if long {
            return None;
        }
        return pitch_distance(heard, known).map(|d| d + 1.0);
    }
    pitch_distance(heard, known)
}

fn pitch_distance(heard: &Heard, known: &Known) -> Option<f64> {
    let d = match (heard.hz, known.hz) {
        (Some(a), Some((b, _))) => (a - b).abs() / b,
        // Unmeasured: only the provider's own label can say it is the same.
        _ if known.name == heard.label => 0.0,
        _ => f64::MAX,
    };
    (d < SAME_VOICE).then_some(d)
}

/// `print` with `add` averaged in, weighted by speech time, made unit length again.
fn blend(print: &mut (Vec<f32>, u64), add: &[f32], ms: u64) {
    let (old, old_ms) = print;
    let (wa, wb) = (*old_ms as f32, ms as f32);
    for (x, y) in old.iter_mut().zip(add) {
        *x = *x * wa + y * wb;
    }
    let norm = old.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    old.iter_mut().for_each(|x| *x /= norm);
    *old_ms += ms;
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
        let heard: Vec<Heard> = order
            .into_iter()
            .map(|label| {
                let theirs = || {
                    chunk
                        .segments
                        .iter()
                        .filter(|s| s.speaker.as_ref() == Some(&label))
                };
                let voice: Vec<f32> = theirs()
                    .flat_map(|s| samples[at(s.start_ms)..at(s.end_ms).max(at(s.start_ms))].iter())
                    .copied()
                    .collect();
                let spoken_ms = theirs().map(|s| s.end_ms.saturating_sub(s.start_ms)).sum();
                Heard {
                    hz: pitch::median_hz(&voice, RATE),
                    print: chunk.voiceprints.get(&label),
                    spoken_ms,
                    label,
                }
            })
            .collect();
        // The closest pairs first, each side used once: a voice takes the known speaker it is
        // most like, not the first one that is alike enough.
        let mut pairs: Vec<(f64, usize, usize)> = heard
            .iter()
            .enumerate()
            .flat_map(|(h, one)| {
                self.known
                    .iter()
                    .enumerate()
                    .filter_map(move |(k, known)| Some((distance(one, known)?, h, k)))
            })
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut matched: Vec<Option<usize>> = vec![None; heard.len()];
        let mut taken = vec![false; self.known.len()];
        for (_, h, k) in pairs {
            if matched[h].is_none() && !taken[k] {
                matched[h] = Some(k);
                taken[k] = true;
            }
        }
        let mut names: HashMap<String, String> = HashMap::new();
        for (one, k) in heard.iter().zip(matched) {
            let k = k.unwrap_or_else(|| {
                let free = !self.known.iter().any(|known| known.name == one.label);
                let name = if free {
                    one.label.clone()
                } else {
                    format!("{}_{}", one.label, self.known.len())
                };
                self.known.push(Known {
                    name,
                    hz: None,
                    print: None,
                });
                self.known.len() - 1
            });
            let known = &mut self.known[k];
            if let Some(print) = one.print {
                match &mut known.print {
                    Some(p) => blend(p, print, one.spoken_ms),
                    None => known.print = Some((print.clone(), one.spoken_ms)),
                }
            }
            if let Some(hz) = one.hz {
                let ms = one.spoken_ms.max(1);
                known.hz = Some(match known.hz {
                    Some((mean, n)) => {
                        ((mean * n as f64 + hz * ms as f64) / (n + ms) as f64, n + ms)
                    }
                    None => (hz, ms),
                });
            }
            names.insert(one.label.clone(), known.name.clone());
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
            voiceprints: Default::default(),
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

    #[test]
    fn voiceprints_decide_over_pitch() {
        let unit = |v: [f32; 3]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let mut voices = Voices::default();
        // Two people of one pitch: only their voiceprints tell them apart.
        let (mut first, wav) = chunk(&[(2, 120.0, "speaker_0"), (2, 120.0, "speaker_1")]);
        first.voiceprints = [
            ("speaker_0".to_string(), unit([1.0, 0.1, 0.0])),
            ("speaker_1".to_string(), unit([0.0, 1.0, 0.2])),
        ]
        .into();
        voices.relabel(&mut first, &wav);
        assert_eq!(labels(&first), ["speaker_0", "speaker_1"]);
        let (mut second, wav) = chunk(&[(2, 120.0, "speaker_0"), (2, 120.0, "speaker_1")]);
        second.voiceprints = [
            ("speaker_0".to_string(), unit([0.1, 1.0, 0.1])),
            ("speaker_1".to_string(), unit([1.0, 0.0, 0.1])),
        ]
        .into();
        voices.relabel(&mut second, &wav);
        assert_eq!(labels(&second), ["speaker_1", "speaker_0"]);
    }
}
