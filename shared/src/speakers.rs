//! The speakers of a job: who they are (as measured from the source audio) and which voice
//! dubs each. A speaker keeps the label the transcript or the recognizer gave it (`Kim`,
//! `speaker_0`) and gets a short id of its own (`S1`, `S2`, … in order of first appearance).

use crate::language::Language;
use crate::settings::SpeechSettings;
use crate::voices::{self, Voice};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most speakers a request may name voices for, and longest label.
pub const MAX_REQUESTED: usize = 32;

/// Below this median pitch a voice is guessed male, above it female (adult speaking voices
/// centre near 120 Hz and 210 Hz; the guess is a guess and says so).
pub const GENDER_SPLIT_HZ: f64 = 165.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn guess(pitch_hz: f64) -> Gender {
        if pitch_hz < GENDER_SPLIT_HZ {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }
}

/// One speaker of a job, as measured from the source audio.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// `S1`, `S2`, … in order of first appearance.
    pub id: String,
    /// The transcript's or the recognizer's name.
    pub label: String,
    pub lines: u32,
    /// Time spoken (lines added up, overlaps counted for each speaker).
    pub speech_ms: u64,
    /// Median pitch of the voiced frames outside overlaps; None when none could be measured.
    pub pitch_hz: Option<f64>,
    pub gender: Option<Gender>,
    /// A short clip of the speaker alone (16 kHz WAV), when there is one.
    pub sample_key: Option<String>,
    /// The voice that dubs the speaker.
    pub voice_id: String,
    /// Their cleanest speech alone, loudness normalised, to clone the voice from (when the job
    /// clones voices and there is enough of it).
    #[serde(default)]
    pub reference_key: Option<String>,
    /// Length of that reference (or of all their speech alone, when too short for one).
    #[serde(default)]
    pub reference_ms: u64,
    /// Whether `voice_id` is a voice cloned from them.
    #[serde(default)]
    pub cloned: bool,
}

/// The voice of every speaker: the request's choice for the labels it names; the job's voice
/// for the speaker who talks most among those of its gender (and for a lone speaker); then, for
/// the others by speech time, a catalogue voice nobody has yet, of the speaker's guessed gender,
/// of the job voice's provider and of the best quality available. Voices are reused only when
/// the catalogue has run out (the least used first).
pub fn assign_voices(
    speakers: &[Speaker],
    requested: &BTreeMap<String, String>,
    job_voice: Option<&str>,
    language: Language,
    speech: &SpeechSettings,
) -> BTreeMap<String, String> {
    let catalogue = voices::catalogue(language, speech);
    let job_voice = job_voice
        .map(str::to_string)
        .unwrap_or_else(|| format!("espeak-{}-m", language.code()));
    let provider = catalogue
        .iter()
        .find(|v| v.id == job_voice)
        .map(|v| v.provider);
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for s in speakers {
        if let Some(v) = requested.get(&s.label) {
            out.insert(s.label.clone(), v.clone());
            *used.entry(v.clone()).or_default() += 1;
        }
    }
    let mut rest: Vec<&Speaker> = speakers
        .iter()
        .filter(|s| !out.contains_key(&s.label))
        .collect();
    // Most speech first: the main speaker of the job voice's gender gets it (a lone speaker
    // gets it whatever it is), the others the best voices left.
    rest.sort_by_key(|s| std::cmp::Reverse(s.speech_ms));
    let job_gender = catalogue
        .iter()
        .find(|v| v.id == job_voice)
        .map(|v| v.gender);
    let fits = |s: &Speaker| match (s.gender, job_gender) {
        (Some(g), Some(v)) if v == "male" || v == "female" => g.as_str() == v,
        _ => true,
    };
    let main = if speakers.len() == 1 {
        rest.first().map(|s| s.label.clone())
    } else {
        rest.iter().find(|s| fits(s)).map(|s| s.label.clone())
    };
    if let Some(label) = main.filter(|_| !used.contains_key(&job_voice)) {
        used.insert(job_voice.clone(), 1);
        out.insert(label, job_voice.clone());
    }
    for s in rest {
        if out.contains_key(&s.label) {
            continue;
        }
        let voice =
            pick(&catalogue, s.gender, provider, &used).unwrap_or_else(|| job_voice.clone());
        *used.entry(voice.clone()).or_default() += 1;
        out.insert(s.label.clone(), voice);
    }
    out
}

/// The best voice for a speaker of `gender`: unused before used (least used first), then the
/// right gender, then the job's provider, then quality; the catalogue's order breaks ties.
fn pick(
    catalogue: &[Voice],
    gender: Option<Gender>,
    provider: Option<voices::Provider>,
    used: &BTreeMap<String, usize>,
) -> Option<String> {
    let quality = |q: &str| match q {
        "premium" => 0,
        "standard" => 1,
        "accented" => 2,
        _ => 3,
    };
    catalogue
        .iter()
        .enumerate()
        .min_by_key(|(i, v)| {
            (
                used.get(&v.id).copied().unwrap_or(0),
                gender.is_some_and(|g| g.as_str() != v.gender),
                Some(v.provider) != provider,
                quality(v.quality),
                *i,
            )
        })
        .map(|(_, v)| v.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(label: &str, speech_ms: u64, gender: Option<Gender>) -> Speaker {
        Speaker {
            id: String::new(),
            label: label.into(),
            lines: 1,
            speech_ms,
            pitch_hz: None,
            gender,
            ..Speaker::default()
        }
    }

    #[test]
    fn guesses_gender_from_pitch() {
        assert_eq!(Gender::guess(95.0), Gender::Male);
        assert_eq!(Gender::guess(230.0), Gender::Female);
    }

    #[test]
    fn every_speaker_gets_a_voice_of_their_own() {
        let speech = SpeechSettings::default();
        let speakers = [
            speaker("A", 5_000, Some(Gender::Female)),
            speaker("B", 9_000, Some(Gender::Male)),
            speaker("C", 1_000, Some(Gender::Female)),
        ];
        let voices = assign_voices(
            &speakers,
            &BTreeMap::new(),
            Some("espeak-es-m"),
            Language::Spanish,
            &speech,
        );
        // The main speaker (B) keeps the job's voice; A gets the female one; C, with the
        // catalogue used up (espeak has two), the least used of the right gender.
        assert_eq!(voices["B"], "espeak-es-m");
        assert_eq!(voices["A"], "espeak-es-f");
        assert_eq!(voices.len(), 3);
    }

    #[test]
    fn the_job_voice_goes_to_the_main_speaker_of_its_gender() {
        let speech = SpeechSettings::default();
        let speakers = [
            speaker("A", 2_000, Some(Gender::Male)),
            speaker("B", 9_000, Some(Gender::Female)),
        ];
        let voices = assign_voices(
            &speakers,
            &BTreeMap::new(),
            Some("espeak-es-m"),
            Language::Spanish,
            &speech,
        );
        assert_eq!(voices["A"], "espeak-es-m");
        assert_eq!(voices["B"], "espeak-es-f");
        // A lone speaker takes the job's voice whatever it is.
        let lone = assign_voices(
            &speakers[1..],
            &BTreeMap::new(),
            Some("espeak-es-m"),
            Language::Spanish,
            &speech,
        );
        assert_eq!(lone["B"], "espeak-es-m");
    }

    #[test]
    fn requested_voices_win_and_are_not_given_twice() {
        let speech = SpeechSettings::default();
        let speakers = [
            speaker("Kim", 9_000, Some(Gender::Male)),
            speaker("Ana", 5_000, Some(Gender::Male)),
        ];
        let requested = BTreeMap::from([("Kim".to_string(), "espeak-es-f".to_string())]);
        let voices = assign_voices(
            &speakers,
            &requested,
            Some("espeak-es-f"),
            Language::Spanish,
            &speech,
        );
        assert_eq!(voices["Kim"], "espeak-es-f");
        // The job's voice is taken: Ana gets the other one.
        assert_eq!(voices["Ana"], "espeak-es-m");
    }
}
