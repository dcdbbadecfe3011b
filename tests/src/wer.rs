//! Word error rate: the word-level edit distance between what was said and what was heard,
//! over the number of words said. Case and punctuation do not count.

/// Lowercase words without surrounding punctuation (`"Hello, world!"` → `hello world`).
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Substitutions, deletions and insertions to turn `reference` into `heard`, per reference word.
pub fn wer(reference: &str, heard: &str) -> f64 {
    edit_rate(&words(reference), &words(heard))
}

/// Character error rate, for scripts written without spaces (Japanese, Chinese): the same
/// distance over characters, punctuation and spaces left out.
pub fn cer(reference: &str, heard: &str) -> f64 {
    let chars = |t: &str| -> Vec<String> {
        t.chars()
            .filter(|c| c.is_alphanumeric())
            .map(|c| c.to_lowercase().to_string())
            .collect()
    };
    edit_rate(&chars(reference), &chars(heard))
}

fn edit_rate(r: &[String], h: &[String]) -> f64 {
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    // One row of the Levenshtein table at a time.
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut row = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let substitution = previous[j] + usize::from(rw != hw);
            row[j + 1] = substitution.min(previous[j + 1] + 1).min(row[j] + 1);
        }
        previous = row;
    }
    previous[h.len()] as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_substitutions_deletions_and_insertions_per_reference_word() {
        assert_eq!(wer("Hello, world!", "hello world"), 0.0);
        assert_eq!(wer("the boats stayed", "the boat stayed"), 1.0 / 3.0);
        assert_eq!(wer("a b c d", "a c d"), 0.25);
        assert_eq!(wer("a b", "a b c d"), 1.0);
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(wer("El río", "el rio"), 0.5);
        assert_eq!(cer("今日は、晴れ。", "今日は晴れ"), 0.0);
        assert_eq!(cer("今日は晴れ", "今日も晴れ"), 0.2);
    }
}
