//! Languages of the emails and messages OneVoice writes to its users.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Ko,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Ko => "ko",
            Locale::En => "en",
        }
    }

    /// Exactly `ko` or `en`, as a request names it.
    pub fn from_code(s: &str) -> Option<Self> {
        [Locale::Ko, Locale::En]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().get(..2)? {
            "ko" => Some(Locale::Ko),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// The first supported language of an `Accept-Language` header, in the client's order.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        header
            .split(',')
            .filter_map(|part| Locale::parse(part.split(';').next()?))
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_supported_language() {
        assert_eq!(
            Locale::from_accept_language("fr-FR,en-US;q=0.8,ko;q=0.5"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("ko-KR"), Some(Locale::Ko));
        assert_eq!(Locale::from_accept_language("de"), None);
    }
}
