//! How long a line takes to say, estimated before any voice speaks it (seed §6.3): syllables
//! times the language's seconds per syllable, plus pauses at punctuation.

use super::script;
use onevoice_shared::language::Language;

/// Estimated speaking time of `text` in `lang`, in milliseconds, at normal speed.
pub fn speech_ms(text: &str, lang: Language) -> u64 {
    let per_syllable = match lang {
        Language::English => 0.225,
        Language::Chinese | Language::Japanese | Language::Korean => 0.21,
        _ => 0.22,
    };
    let pauses = punctuation_groups(text) as f64 * 0.1;
    ((syllables(text, lang) as f64 * per_syllable + pauses) * 1000.0).round() as u64
}

/// Syllables: Hangul blocks, kana and Han characters one each (small kana and the long mark
/// join the one before), vowel groups in alphabetic words.
pub fn syllables(text: &str, lang: Language) -> usize {
    let mut count = 0;
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let mut letters = String::new();
        for c in word.chars() {
            if script::is_hangul(c) || script::is_cjk(c) {
                if !is_small_kana(c) {
                    count += 1;
                }
            } else {
                letters.push(c);
            }
        }
        if !letters.is_empty() {
            count += vowel_groups(&letters.to_lowercase(), lang).max(1);
        }
    }
    count
}

fn is_small_kana(c: char) -> bool {
    matches!(
        c,
        'ゃ' | 'ゅ'
            | 'ょ'
            | 'ャ'
            | 'ュ'
            | 'ョ'
            | 'っ'
            | 'ッ'
            | 'ー'
            | 'ぁ'
            | 'ぃ'
            | 'ぅ'
            | 'ぇ'
            | 'ぉ'
            | 'ァ'
            | 'ィ'
            | 'ゥ'
            | 'ェ'
            | 'ォ'
    )
}

fn vowel_groups(word: &str, lang: Language) -> usize {
    let vowel = |c: char| "aeiouyáéíóúàèìòùâêîôûäëïöüãõåæøœаеёиоуыэюя".contains(c);
    let mut groups = 0;
    let mut previous = false;
    for c in word.chars() {
        let v = vowel(c);
        if v && !previous {
            groups += 1;
        }
        previous = v;
    }
    // English's silent final e (`make`, not `the`).
    if lang == Language::English && groups > 1 && word.ends_with('e') && !word.ends_with("le") {
        groups -= 1;
    }
    groups
}

/// Runs of punctuation inside the line (each a short pause); the final one does not count.
fn punctuation_groups(text: &str) -> usize {
    let trimmed = text.trim_end_matches(|c: char| !c.is_alphanumeric());
    let mut groups = 0;
    let mut previous = false;
    for c in trimmed.chars() {
        let p = !c.is_alphanumeric() && !c.is_whitespace();
        if p && !previous {
            groups += 1;
        }
        previous = p;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_syllables_per_script() {
        assert_eq!(syllables("make the banana", Language::English), 5);
        assert_eq!(syllables("안녕하세요", Language::Korean), 5);
        assert_eq!(syllables("きょうは", Language::Japanese), 3);
        assert_eq!(syllables("buenas tardes", Language::Spanish), 4);
    }

    #[test]
    fn pauses_add_time() {
        let plain = speech_ms("hello there my friend", Language::English);
        let paused = speech_ms("hello, there, my friend.", Language::English);
        assert_eq!(paused, plain + 200);
    }
}
