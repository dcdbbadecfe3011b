//! The voices a dub can use: the offline espeak-ng voice of every language, the neural voices of
//! the local speech service (Piper's English voice, Kokoro's Japanese voices), and those of the
//! HTTP providers that are configured (OpenAI speech, ElevenLabs, Fish Audio). A voice id names
//! its provider (`espeak-es-f`, `local-joe`, `openai-coral`, `elevenlabs-<voice id>`,
//! `fish-<reference id>`).

use crate::language::Language;
use crate::settings::SpeechSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Espeak,
    Local,
    OpenAi,
    ElevenLabs,
    Fish,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Espeak => "espeak-ng",
            Provider::Local => "local",
            Provider::OpenAi => "openai",
            Provider::ElevenLabs => "elevenlabs",
            Provider::Fish => "fish",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voice {
    pub id: String,
    pub name: String,
    pub gender: &'static str,
    pub style: &'static str,
    /// How it sounds in this language: `premium` (a paid provider's natural voice), `standard` (a
    /// local neural voice in its own language), `accented` (a local neural voice speaking a
    /// language it was not trained on: intelligible, with an accent) or `basic` (espeak-ng's
    /// formant voice: robotic but always there).
    pub quality: &'static str,
    pub provider: Provider,
}

/// A voice id, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceChoice {
    /// espeak-ng's voice of the language, `m`/`f` register or the default.
    Espeak {
        variant: Option<char>,
    },
    /// A voice of the local speech service (`LOCAL_VOICES`).
    Local(String),
    OpenAi(String),
    ElevenLabs(String),
    Fish(String),
}

impl VoiceChoice {
    pub fn parse(id: &str) -> Option<Self> {
        let (provider, rest) = id.split_once('-')?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match provider {
            "espeak" => {
                let variant = rest.rsplit_once('-').map(|(_, v)| v);
                match variant {
                    Some("m") => Some(Self::Espeak { variant: Some('m') }),
                    Some("f") => Some(Self::Espeak { variant: Some('f') }),
                    _ => None,
                }
            }
            "local" if LOCAL_VOICES.iter().any(|v| v.id == rest) => {
                Some(Self::Local(rest.to_string()))
            }
            "openai" if OPENAI_VOICES.iter().any(|(v, _)| *v == rest) => {
                Some(Self::OpenAi(rest.to_string()))
            }
            "elevenlabs" if valid(rest) => Some(Self::ElevenLabs(rest.to_string())),
            "fish" if valid(rest) => Some(Self::Fish(rest.to_string())),
            _ => None,
        }
    }

    pub fn provider(&self) -> Provider {
        match self {
            Self::Espeak { .. } => Provider::Espeak,
            Self::Local(_) => Provider::Local,
            Self::OpenAi(_) => Provider::OpenAi,
            Self::ElevenLabs(_) => Provider::ElevenLabs,
            Self::Fish(_) => Provider::Fish,
        }
    }
}

/// A provider that can clone a voice from a recording: ElevenLabs (instant voice cloning) or
/// Fish Audio (a model trained in `fast` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloneProvider {
    #[serde(rename = "elevenlabs")]
    ElevenLabs,
    Fish,
}

impl CloneProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            CloneProvider::ElevenLabs => "elevenlabs",
            CloneProvider::Fish => "fish",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "elevenlabs" => Some(CloneProvider::ElevenLabs),
            "fish" => Some(CloneProvider::Fish),
            _ => None,
        }
    }

    /// The catalogue id of the provider's voice `id` (`elevenlabs-<id>`, `fish-<id>`).
    pub fn voice_id(self, id: &str) -> String {
        format!("{}-{id}", self.as_str())
    }

    /// Who clones for a job speaking with `voice`: that voice's provider when it can, else the
    /// first configured of ElevenLabs and Fish Audio.
    pub fn for_job(voice: Option<&str>, speech: &SpeechSettings) -> Option<Self> {
        match voice.and_then(VoiceChoice::parse).map(|v| v.provider()) {
            Some(Provider::ElevenLabs) if speech.elevenlabs.is_some() => {
                return Some(CloneProvider::ElevenLabs);
            }
            Some(Provider::Fish) if speech.fish.is_some() => return Some(CloneProvider::Fish),
            _ => {}
        }
        if speech.elevenlabs.is_some() {
            Some(CloneProvider::ElevenLabs)
        } else if speech.fish.is_some() {
            Some(CloneProvider::Fish)
        } else {
            None
        }
    }
}

/// A voice of the local speech service (scripts/local_speech/tts.py).
pub struct LocalVoice {
    /// The service's voice name.
    pub id: &'static str,
    pub name: &'static str,
    pub gender: &'static str,
    /// The language it was trained on.
    pub native: Language,
    /// Other languages it speaks (through espeak-ng's phonemes), with an accent.
    pub accented: &'static [Language],
}

/// Piper's US English voice and Kokoro-82M's five Japanese voices, which also speak Spanish
/// and English with a Japanese accent (measured: scripts/bench-local-speech.sh).
pub const LOCAL_VOICES: [LocalVoice; 6] = [
    LocalVoice {
        id: "joe",
        name: "Joe (Piper)",
        gender: "male",
        native: Language::English,
        accented: &[],
    },
    kokoro("jf_alpha", "Alpha (Kokoro)", "female"),
    kokoro("jf_gongitsune", "Gongitsune (Kokoro)", "female"),
    kokoro("jf_nezumi", "Nezumi (Kokoro)", "female"),
    kokoro("jf_tebukuro", "Tebukuro (Kokoro)", "female"),
    kokoro("jm_kumo", "Kumo (Kokoro)", "male"),
];

const fn kokoro(id: &'static str, name: &'static str, gender: &'static str) -> LocalVoice {
    LocalVoice {
        id,
        name,
        gender,
        native: Language::Japanese,
        accented: &[Language::Spanish, Language::English],
    }
}

impl LocalVoice {
    /// `standard` in its own language, `accented` in the others it speaks, else None.
    pub fn quality_in(&self, language: Language) -> Option<&'static str> {
        if self.native == language {
            Some("standard")
        } else if self.accented.contains(&language) {
            Some("accented")
        } else {
            None
        }
    }
}

/// What a voice says in its preview sample.
pub fn preview_sentence(language: Language) -> &'static str {
    match language {
        Language::Japanese => "こんにちは。あなたの動画を、この声で吹き替えます。",
        Language::Spanish => "Hola. Así sonará tu vídeo doblado con esta voz.",
        _ => "Hello. This is how your video will sound, dubbed with this voice.",
    }
}

/// Every local voice with each language it speaks: the previews a worker generates.
pub fn local_previews() -> impl Iterator<Item = (String, Language)> {
    LOCAL_VOICES.iter().flat_map(|v| {
        std::iter::once(v.native)
            .chain(v.accented.iter().copied())
            .map(|l| (format!("local-{}", v.id), l))
    })
}

/// OpenAI's voices that every speech model supports (tts-1 lacks the newer ones), all
/// multilingual.
pub const OPENAI_VOICES: [(&str, &str); 9] = [
    ("alloy", "neutral"),
    ("ash", "male"),
    ("coral", "female"),
    ("echo", "male"),
    ("fable", "neutral"),
    ("nova", "female"),
    ("onyx", "male"),
    ("sage", "female"),
    ("shimmer", "female"),
];

/// ElevenLabs premade voices, spoken in every language by the multilingual models.
pub const ELEVENLABS_VOICES: [(&str, &str, &str); 4] = [
    ("21m00Tcm4TlvDq8ikWAM", "Rachel", "female"),
    ("29vD33N1CtxCmqQRPOHJ", "Drew", "male"),
    ("EXAVITQu4vr4xnSDxMaL", "Sarah", "female"),
    ("ErXwobaYiN019PkySvjV", "Antoni", "male"),
];

/// Every voice available for `language` with the configured providers.
pub fn catalogue(language: Language, speech: &SpeechSettings) -> Vec<Voice> {
    let mut voices = vec![
        Voice {
            id: format!("espeak-{}-m", language.code()),
            name: format!("{} (m)", language.native_name()),
            gender: "male",
            style: "synthetic",
            quality: "basic",
            provider: Provider::Espeak,
        },
        Voice {
            id: format!("espeak-{}-f", language.code()),
            name: format!("{} (f)", language.native_name()),
            gender: "female",
            style: "synthetic",
            quality: "basic",
            provider: Provider::Espeak,
        },
    ];
    if speech.local_tts.is_some() {
        // Native voices first: they sound best.
        let mut local: Vec<(&LocalVoice, &'static str)> = LOCAL_VOICES
            .iter()
            .filter_map(|v| Some((v, v.quality_in(language)?)))
            .collect();
        local.sort_by_key(|(_, quality)| *quality != "standard");
        voices.extend(local.into_iter().map(|(v, quality)| Voice {
            id: format!("local-{}", v.id),
            name: v.name.to_string(),
            gender: v.gender,
            style: "natural",
            quality,
            provider: Provider::Local,
        }));
    }
    if speech.openai.is_some() {
        voices.extend(OPENAI_VOICES.iter().map(|(v, gender)| Voice {
            id: format!("openai-{v}"),
            name: format!("OpenAI {v}"),
            gender,
            style: "natural",
            quality: "premium",
            provider: Provider::OpenAi,
        }));
    }
    if speech.elevenlabs.is_some() {
        voices.extend(ELEVENLABS_VOICES.iter().map(|(id, name, gender)| Voice {
            id: format!("elevenlabs-{id}"),
            name: format!("ElevenLabs {name}"),
            gender,
            style: "natural",
            quality: "premium",
            provider: Provider::ElevenLabs,
        }));
    }
    if speech.fish.is_some() {
        voices.extend(speech.fish_voices.iter().map(|(id, name)| Voice {
            id: format!("fish-{id}"),
            name: name.clone(),
            gender: "unknown",
            style: "natural",
            quality: "premium",
            provider: Provider::Fish,
        }));
    }
    voices
}

/// The voice of a dub that names none: a local neural voice trained on `language` when the
/// local service is configured (it sounds far better than espeak-ng), else espeak-ng's (None).
pub fn default_voice(language: Language, speech: &SpeechSettings) -> Option<String> {
    speech.local_tts.as_ref()?;
    LOCAL_VOICES
        .iter()
        .find(|v| v.native == language)
        .map(|v| format!("local-{}", v.id))
}

/// Whether `id` is a voice of the catalogue for `language`.
pub fn is_available(id: &str, language: Language, speech: &SpeechSettings) -> bool {
    catalogue(language, speech).iter().any(|v| v.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_of_every_provider_and_rejects_the_rest() {
        assert_eq!(
            VoiceChoice::parse("espeak-es-f"),
            Some(VoiceChoice::Espeak { variant: Some('f') })
        );
        assert_eq!(
            VoiceChoice::parse("openai-coral"),
            Some(VoiceChoice::OpenAi("coral".into()))
        );
        assert_eq!(VoiceChoice::parse("openai-nonexistent"), None);
        assert_eq!(
            VoiceChoice::parse("elevenlabs-21m00Tcm4TlvDq8ikWAM").map(|v| v.provider()),
            Some(Provider::ElevenLabs)
        );
        assert_eq!(
            VoiceChoice::parse("local-joe"),
            Some(VoiceChoice::Local("joe".into()))
        );
        assert_eq!(VoiceChoice::parse("local-nobody"), None);
        assert_eq!(VoiceChoice::parse("fish-../etc"), None);
        assert_eq!(VoiceChoice::parse("nobody"), None);
    }
}

#[cfg(test)]
mod local_voices {
    use super::*;
    use url::Url;

    fn with_local() -> SpeechSettings {
        SpeechSettings {
            local_tts: Some(crate::settings::HttpProvider {
                base_url: Url::parse("http://127.0.0.1:8302/v1/").unwrap(),
                api_key: crate::secret::Secret::new(""),
                model: "local".into(),
            }),
            ..SpeechSettings::default()
        }
    }

    #[test]
    fn each_language_lists_the_local_voices_that_speak_it_native_ones_first() {
        let ids = |l| -> Vec<(String, &str)> {
            catalogue(l, &with_local())
                .into_iter()
                .filter(|v| v.provider == Provider::Local)
                .map(|v| (v.id, v.quality))
                .collect()
        };
        let english = ids(Language::English);
        assert_eq!(english[0], ("local-joe".to_string(), "standard"));
        assert_eq!(english.len(), 6);
        assert!(english[1..].iter().all(|(_, q)| *q == "accented"));
        let japanese = ids(Language::Japanese);
        assert_eq!(japanese.len(), 5);
        assert!(japanese.iter().all(|(_, q)| *q == "standard"));
        assert!(ids(Language::Spanish).iter().all(|(_, q)| *q == "accented"));
        assert!(ids(Language::Korean).is_empty());
        assert_eq!(
            default_voice(Language::English, &with_local()).as_deref(),
            Some("local-joe")
        );
        assert_eq!(
            default_voice(Language::Japanese, &with_local()).as_deref(),
            Some("local-jf_alpha")
        );
        assert_eq!(default_voice(Language::Spanish, &with_local()), None);
        assert_eq!(
            default_voice(Language::English, &SpeechSettings::default()),
            None
        );
        assert!(
            catalogue(Language::English, &SpeechSettings::default())
                .iter()
                .all(|v| v.provider != Provider::Local)
        );
    }
}
