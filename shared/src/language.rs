//! The languages OneVoice dubs from and into (seed-system.md §1.4), as a closed set.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A supported language, identified on the wire by its ISO 639-1 code (`"en"`, `"ko"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Language {
    English,
    Korean,
    Japanese,
    Chinese,
    Spanish,
    French,
    German,
    Italian,
    Portuguese,
    Russian,
}

impl Language {
    pub const ALL: [Language; 10] = [
        Language::English,
        Language::Korean,
        Language::Japanese,
        Language::Chinese,
        Language::Spanish,
        Language::French,
        Language::German,
        Language::Italian,
        Language::Portuguese,
        Language::Russian,
    ];

    pub fn code(self) -> &'static str {
        self.meta().0
    }

    pub fn english_name(self) -> &'static str {
        self.meta().1
    }

    pub fn native_name(self) -> &'static str {
        self.meta().2
    }

    /// ISO 639-3 code, the form Apertium language pairs use (`eng-spa`).
    pub fn iso639_3(self) -> &'static str {
        self.meta().3
    }

    /// espeak-ng voice for the offline synthesizer.
    pub fn espeak_voice(self) -> &'static str {
        match self {
            Language::Chinese => "cmn",
            Language::Portuguese => "pt-br",
            other => other.code(),
        }
    }

    fn meta(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Language::English => ("en", "English", "English", "eng"),
            Language::Korean => ("ko", "Korean", "한국어", "kor"),
            Language::Japanese => ("ja", "Japanese", "日本語", "jpn"),
            Language::Chinese => ("zh", "Chinese", "中文", "zho"),
            Language::Spanish => ("es", "Spanish", "Español", "spa"),
            Language::French => ("fr", "French", "Français", "fra"),
            Language::German => ("de", "German", "Deutsch", "deu"),
            Language::Italian => ("it", "Italian", "Italiano", "ita"),
            Language::Portuguese => ("pt", "Portuguese", "Português", "por"),
            Language::Russian => ("ru", "Russian", "Русский", "rus"),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unsupported language `{0}`; supported: en, ko, ja, zh, es, fr, de, it, pt, ru")]
pub struct UnsupportedLanguage(pub String);

impl FromStr for Language {
    type Err = UnsupportedLanguage;

    /// Accepts the ISO 639-1 code, the ISO 639-3 code or the English name, in any case, because
    /// providers disagree (`en`, `eng`, `english`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| {
                l.code() == wanted
                    || l.iso639_3() == wanted
                    || l.english_name().eq_ignore_ascii_case(&wanted)
            })
            .ok_or_else(|| UnsupportedLanguage(s.to_string()))
    }
}

impl TryFrom<String> for Language {
    type Error = UnsupportedLanguage;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Language> for String {
    fn from(l: Language) -> Self {
        l.code().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_provider_spelling() {
        assert_eq!("en".parse(), Ok(Language::English));
        assert_eq!("English".parse(), Ok(Language::English));
        assert_eq!("spa".parse(), Ok(Language::Spanish));
        assert_eq!(" KO ".parse(), Ok(Language::Korean));
        assert!("xx".parse::<Language>().is_err());
    }

    #[test]
    fn serializes_as_code() {
        assert_eq!(
            serde_json::to_string(&Language::Japanese).unwrap(),
            "\"ja\""
        );
        let l: Language = serde_json::from_str("\"fr\"").unwrap();
        assert_eq!(l, Language::French);
        assert!(serde_json::from_str::<Language>("\"klingon\"").is_err());
    }
}
