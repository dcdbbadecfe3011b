//! What the text stages need to know about how each language is written: word separation,
//! sentence punctuation, abbreviations, connectors, and how long a line looks on screen.

use onevoice_shared::language::Language;

/// Japanese and Chinese are written without spaces between words; Korean has them.
pub fn spaced(lang: Language) -> bool {
    !matches!(lang, Language::Japanese | Language::Chinese)
}

/// What joins two pieces of text in `lang`.
pub fn joiner(lang: Language) -> &'static str {
    if spaced(lang) { " " } else { "" }
}

/// Han, kana and their punctuation: one character is about a word's worth of reading.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // Han extension A
        | 0x4E00..=0x9FFF    // Han
        | 0xF900..=0xFAFF    // Han compatibility
        | 0x20000..=0x2FA1F) // Han extensions B–F
}

pub fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F)
}

/// Full-width forms and CJK punctuation (`，`, `。`, `「`): as wide as a Han character.
fn is_full_width(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

/// The seed's display weight of a character: CJK and full-width 1.75, Hangul 1.5, else 1.
pub fn char_weight(c: char) -> f64 {
    if is_cjk(c) || is_full_width(c) {
        1.75
    } else if is_hangul(c) {
        1.5
    } else {
        1.0
    }
}

/// How long `text` looks on screen, in Latin-character units.
pub fn weighted_len(text: &str) -> f64 {
    text.chars().map(char_weight).sum()
}

/// Words in `text`: space-separated tokens, where every two Han or kana characters count as one
/// word (Japanese and Chinese have no spaces to count).
pub fn word_count(text: &str) -> usize {
    let mut words = 0usize;
    let mut cjk = 0usize;
    for token in text.split_whitespace() {
        let han = token.chars().filter(|c| is_cjk(*c)).count();
        cjk += han;
        if token.chars().any(|c| c.is_alphanumeric() && !is_cjk(c)) {
            words += 1;
        }
    }
    words + cjk.div_ceil(2)
}

/// Ends a sentence.
pub fn is_terminal(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | '…' | '。' | '！' | '？' | '‼' | '⁇' | '⁈' | '⁉' | '؟' | '।'
    )
}

/// May follow a sentence's last punctuation and still belong to it.
pub fn is_closing(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '»' | '”' | '’' | '」' | '』' | '）' | '】' | '〕' | '》'
    )
}

/// Separates clauses: where a long line may be cut.
pub fn is_clause_mark(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '，' | '、' | '；' | '：' | '—' | '–')
}

/// Words that end with a period without ending a sentence (compared without the period,
/// lowercased).
pub fn abbreviations(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::English => &[
            "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "u.s",
            "u.k", "inc", "ltd", "co", "corp", "no", "fig", "approx", "mt", "ft", "jan", "feb",
            "mar", "apr", "aug", "sept", "oct", "nov", "dec",
        ],
        Language::Spanish => &[
            "sr", "sra", "srta", "dr", "dra", "ud", "uds", "etc", "p.ej", "pág", "núm", "av",
            "lic", "ing", "prof", "ee.uu",
        ],
        Language::French => &[
            "m", "mme", "mlle", "dr", "pr", "etc", "p.ex", "cf", "av", "st",
        ],
        Language::German => &[
            "z.b", "usw", "dr", "hr", "fr", "bzw", "ca", "nr", "str", "d.h",
        ],
        Language::Italian => &["sig", "sig.ra", "dott", "prof", "ecc", "ing", "avv", "es"],
        Language::Portuguese => &["sr", "sra", "dr", "dra", "etc", "prof", "av", "ex", "p.ex"],
        Language::Russian => &["г", "т.е", "т.д", "т.п", "др", "им", "ул", "см"],
        _ => &[],
    }
}

/// Words that open a subordinate or coordinate clause; a long line is cut before one
/// (the seed's connector lists, without English "that", which mostly is not one).
pub fn connectors(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::English => &[
            "which", "where", "when", "because", "but", "and", "or", "so", "although", "while",
            "unless", "whereas",
        ],
        Language::Spanish => &[
            "que", "cuando", "donde", "porque", "pero", "y", "o", "aunque", "mientras", "sino",
        ],
        Language::French => &[
            "que", "qui", "où", "quand", "parce", "mais", "et", "ou", "lorsque", "puisque",
        ],
        Language::German => &[
            "dass", "welche", "wo", "wann", "weil", "aber", "und", "oder", "obwohl", "während",
        ],
        Language::Italian => &["che", "quale", "dove", "quando", "perché", "ma", "e", "o"],
        Language::Portuguese => &[
            "que", "quando", "onde", "porque", "mas", "e", "ou", "embora",
        ],
        Language::Russian => &[
            "что",
            "который",
            "где",
            "когда",
            "потому",
            "но",
            "и",
            "или",
            "хотя",
        ],
        Language::Chinese => &[
            "因为", "所以", "但是", "而且", "然后", "如果", "虽然", "可是",
        ],
        Language::Korean => &["그래서", "그러나", "하지만", "그리고", "그런데", "왜냐하면"],
        Language::Japanese => &[],
    }
}

/// Japanese clause endings a long line is cut after (`…けど、` `…ので`).
pub fn trailing_connectors(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::Japanese => &["けれども", "けど", "ので", "から", "のに", "ながら", "たら"],
        _ => &[],
    }
}

/// Letters and digits only, lowercased: what two renderings of the same words share.
pub fn normalized(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_seed() {
        assert_eq!(weighted_len("abc"), 3.0);
        assert_eq!(weighted_len("日本語"), 5.25);
        assert_eq!(weighted_len("한국어"), 4.5);
        assert_eq!(weighted_len("，。"), 3.5);
    }

    #[test]
    fn counts_words_in_every_script() {
        assert_eq!(word_count("Hello there, my friend."), 4);
        assert_eq!(word_count("今日はいい天気ですね"), 5);
        assert_eq!(word_count("오늘 날씨가 좋네요"), 3);
        assert_eq!(word_count("— , ."), 0);
    }
}
