//! The voices a dub can use: the offline espeak-ng voice of every language, and those of the HTTP
//! providers that are configured (OpenAI speech, ElevenLabs, Fish Audio). A voice id names its
//! provider (`espeak-es-f`, `openai-coral`, `elevenlabs-<voice id>`, `fish-<reference id>`).

use crate::language::Language;
use crate::settings::SpeechSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Espeak,
    OpenAi,
    ElevenLabs,
    Fish,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Espeak => "espeak-ng",
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
    pub provider: Provider,
}

/// A voice id, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceChoice {
    /// espeak-ng's voice of the language, `m`/`f` register or the default.
    Espeak {
        variant: Option<char>,
    },
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
            Self::OpenAi(_) => Provider::OpenAi,
            Self::ElevenLabs(_) => Provider::ElevenLabs,
            Self::Fish(_) => Provider::Fish,
        }
    }
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
            provider: Provider::Espeak,
        },
        Voice {
            id: format!("espeak-{}-f", language.code()),
            name: format!("{} (f)", language.native_name()),
            gender: "female",
            style: "synthetic",
            provider: Provider::Espeak,
        },
    ];
    if speech.openai.is_some() {
        voices.extend(OPENAI_VOICES.iter().map(|(v, gender)| Voice {
            id: format!("openai-{v}"),
            name: format!("OpenAI {v}"),
            gender,
            style: "natural",
            provider: Provider::OpenAi,
        }));
    }
    if speech.elevenlabs.is_some() {
        voices.extend(ELEVENLABS_VOICES.iter().map(|(id, name, gender)| Voice {
            id: format!("elevenlabs-{id}"),
            name: format!("ElevenLabs {name}"),
            gender,
            style: "natural",
            provider: Provider::ElevenLabs,
        }));
    }
    if speech.fish.is_some() {
        voices.extend(speech.fish_voices.iter().map(|(id, name)| Voice {
            id: format!("fish-{id}"),
            name: name.clone(),
            gender: "unknown",
            style: "natural",
            provider: Provider::Fish,
        }));
    }
    voices
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
        assert_eq!(VoiceChoice::parse("fish-../etc"), None);
        assert_eq!(VoiceChoice::parse("nobody"), None);
    }
}
