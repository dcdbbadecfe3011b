//! What a dub was asked for, stored as the job's `job_config`: clients read it on `/api/jobs`,
//! and a resume or a queued start rebuilds the workflow input from it. It is written and read
//! with serde only; rows written before a field existed read with that field's default.

use crate::contracts::{DubOptions, GlossaryTerm};
use crate::language::Language;
use crate::settings::Recognizer;
use crate::voices::{Provider, VoiceChoice};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    pub target_language: Language,
    /// The language spoken in the video (a fallback for the record when `detect_language`).
    pub source_language: Language,
    #[serde(default)]
    pub voice_id: Option<String>,
    #[serde(default = "yes")]
    pub preserve_background_music: bool,
    /// The synthesis provider of the voice (`espeak-ng`, `openai`, `elevenlabs`, `fish`). Read
    /// for display only: the voice decides.
    #[serde(default)]
    pub tts_method: Option<String>,
    /// Speech recognition detects the source language.
    #[serde(default)]
    pub detect_language: bool,
    /// Where the source text comes from.
    #[serde(default)]
    pub speech_recognition: SpeechSource,
    /// The recognizer the request named (none: the deployment's default).
    #[serde(default)]
    pub asr_provider: Option<Recognizer>,
    #[serde(default)]
    pub burn_subtitles: bool,
    #[serde(default)]
    pub glossary: Vec<GlossaryTerm>,
    /// The user's voices for speakers known in advance, by the transcript's labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub voices: std::collections::BTreeMap<String, String>,
    /// Where each speaker's voice is cloned (the user attested consent; see `voice_consents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_voices: Option<crate::voices::CloneProvider>,
    /// What plays under the dub (`separated`, `ducked`, `none`); rows from before the modes
    /// have none and follow `preserve_background_music`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<crate::contracts::BackgroundMode>,
    /// Where the dub stops for the user's review (none: it runs through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::contracts::ReviewStage>,
    /// The request carried its own translation (`JobOutputs::own_translation`): it is spoken
    /// as given, not made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_translation: bool,
    /// Only this part of the video is dubbed (and charged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<crate::contracts::TimeRange>,
    /// A free preview of the video's first seconds, marked as such in its outputs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

fn yes() -> bool {
    true
}

/// Where a job's source text comes from, as `job_config.speech_recognition` names it:
/// `transcript` (the user's), the recognizer that produces it, or `none` (a job dubbing the
/// user's own translation without its source).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SpeechSource {
    #[default]
    #[serde(with = "transcript_name")]
    Transcript,
    #[serde(with = "none_name")]
    None,
    Recognizer(Recognizer),
}

/// A unit variant of [`SpeechSource`] written as one fixed word.
macro_rules! fixed_name {
    ($module:ident, $word:literal) => {
        mod $module {
            use serde::{Deserialize, Deserializer, Serializer, de::Error};

            pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($word)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
                match String::deserialize(d)?.as_str() {
                    $word => Ok(()),
                    other => Err(D::Error::custom(format!("not `{}`: {other}", $word))),
                }
            }
        }
    };
}
fixed_name!(transcript_name, "transcript");
fixed_name!(none_name, "none");

impl JobConfig {
    /// The options the workflow carries.
    pub fn options(&self) -> DubOptions {
        DubOptions {
            preserve_background_music: self.preserve_background_music,
            burn_subtitles: self.burn_subtitles,
            glossary: self.glossary.clone(),
            voice_id: self.voice_id.clone(),
            detect_language: self.detect_language,
            recognizer: self.asr_provider,
            voices: self.voices.clone(),
            clone_voices: self.clone_voices,
            background: self.background,
            review: self.review,
        }
    }

    /// Whether the job recognizes its speech (rather than reading the user's transcript).
    pub fn recognizes(&self) -> bool {
        matches!(self.speech_recognition, SpeechSource::Recognizer(_))
    }

    /// The provider that speaks `voice_id` (espeak-ng for the default voice).
    pub fn tts_method_of(voice_id: Option<&str>) -> &'static str {
        voice_id
            .and_then(VoiceChoice::parse)
            .map_or(Provider::Espeak, |v| v.provider())
            .name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_written_before_the_type_still_read() {
        // A row of the first release: hand-written JSON with `tts_method` and no newer fields.
        let old = json!({
            "target_language": "es", "source_language": "en", "voice_id": null,
            "preserve_background_music": false, "tts_method": "espeak-ng",
            "speech_recognition": "transcript",
        });
        let config: JobConfig = serde_json::from_value(old).unwrap();
        assert!(!config.recognizes());
        assert!(!config.preserve_background_music);
        assert_eq!(config.options().glossary, vec![]);

        let recognized = json!({
            "target_language": "es", "source_language": "en", "speech_recognition": "openai",
            "asr_provider": "openai", "detect_language": true, "burn_subtitles": true,
            "glossary": [{"source": "OneVoice", "target": "OneVoice"}],
        });
        let config: JobConfig = serde_json::from_value(recognized).unwrap();
        assert_eq!(
            config.speech_recognition,
            SpeechSource::Recognizer(Recognizer::OpenAi)
        );
        let options = config.options();
        assert_eq!(options.recognizer, Some(Recognizer::OpenAi));
        assert!(
            options.detect_language && options.burn_subtitles && options.preserve_background_music
        );
        assert_eq!(options.glossary.len(), 1);
    }

    #[test]
    fn writes_what_clients_read() {
        let config = JobConfig {
            target_language: "es".parse().unwrap(),
            source_language: "en".parse().unwrap(),
            voice_id: Some("openai-nova".into()),
            preserve_background_music: true,
            tts_method: Some(JobConfig::tts_method_of(Some("openai-nova")).into()),
            detect_language: false,
            speech_recognition: SpeechSource::Transcript,
            asr_provider: None,
            burn_subtitles: false,
            glossary: vec![],
            voices: Default::default(),
            clone_voices: None,
            background: None,
            review: None,
            own_translation: false,
            range: None,
            preview: false,
        };
        let value = serde_json::to_value(&config).unwrap();
        assert_eq!(value["speech_recognition"], "transcript");
        assert_eq!(value["tts_method"], "openai");
        assert_eq!(value["target_language"], "es");
        assert_eq!(serde_json::from_value::<JobConfig>(value).unwrap(), config);
        assert_eq!(JobConfig::tts_method_of(None), "espeak-ng");

        // A dub of the user's own translation without its source has no source text.
        let own = JobConfig {
            speech_recognition: SpeechSource::None,
            own_translation: true,
            ..config
        };
        let value = serde_json::to_value(&own).unwrap();
        assert_eq!(value["speech_recognition"], "none");
        assert_eq!(value["own_translation"], true);
        assert_eq!(serde_json::from_value::<JobConfig>(value).unwrap(), own);
    }
}
