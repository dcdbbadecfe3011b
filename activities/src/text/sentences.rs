//! Rule-based segmentation into dubbable lines, without a parser model: sentence ends by
//! punctuation (with each language's abbreviations, and no spaces needed in Japanese and
//! Chinese), then the seed's clause cuts at commas and before connectors, and for lines still too
//! long a cut at the most natural point near the middle.

use super::script::{self, spaced, word_count};
use super::timed::TimedLine;
use onevoice_shared::language::Language;

/// Sentences, then clauses: the lines the translation and the voice work on.
pub fn segment(transcript: &TimedLine, lang: Language) -> Vec<TimedLine> {
    sentences(transcript, lang)
        .iter()
        .flat_map(|s| clauses(s, lang))
        .collect()
}

/// Cuts after every sentence end.
pub fn sentences(text: &TimedLine, lang: Language) -> Vec<TimedLine> {
    let s = text.text.as_str();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if !script::is_terminal(c) {
            i += 1;
            continue;
        }
        // The whole run: `?!`, `...`, and closing quotes or brackets.
        let mut j = i + 1;
        while j < chars.len() && (script::is_terminal(chars[j].1) || script::is_closing(chars[j].1))
        {
            j += 1;
        }
        let end = chars.get(j).map_or(s.len(), |(b, _)| *b);
        if ends_sentence(s, at, c, end, lang) {
            cuts.push(end);
        }
        i = j;
    }
    cuts.extend(pauses(text));
    cuts.sort_unstable();
    cuts.dedup();
    merge_punctuation(text.cut_at(&cuts))
}

/// A pause this long before a word that could start a sentence ends one, punctuated or not
/// (recognizers and subtitle files often leave the last period out).
const SENTENCE_PAUSE_MS: u64 = 500;

/// Where the speaker pauses before what reads as a new sentence: not after a comma, not before
/// a lowercase word.
fn pauses(text: &TimedLine) -> Vec<usize> {
    text.words
        .windows(2)
        .filter(|w| w[1].start_ms >= w[0].end_ms + SENTENCE_PAUSE_MS)
        .filter(|w| {
            let before = text.text[..w[0].to].chars().last();
            let after = text.text[w[1].from..].chars().next();
            !before.is_some_and(script::is_clause_mark) && !after.is_some_and(char::is_lowercase)
        })
        .map(|w| w[1].from)
        .collect()
}

/// Whether the punctuation `c` at byte `at` (its run ending at `end`) closes a sentence.
fn ends_sentence(s: &str, at: usize, c: char, end: usize, lang: Language) -> bool {
    let rest = &s[end..];
    let next = rest.chars().next();
    if next.is_none() {
        return true;
    }
    let full_width = matches!(c, '。' | '！' | '？');
    if !spaced(lang) && (full_width || c == '…') {
        return true;
    }
    // `3.5`, `e.g.x`, `U.S.A`: no space, no sentence end.
    if !next.is_some_and(char::is_whitespace) {
        return !spaced(lang) && next.is_some_and(|n| !n.is_ascii_alphanumeric()) || full_width;
    }
    if c == '.' && is_abbreviation(&s[..at], lang) {
        return false;
    }
    // A lowercase word after it continues the sentence (`wait... what`); other scripts have no
    // case and always start a new one.
    let following = rest.trim_start().chars().next();
    !following.is_some_and(char::is_lowercase)
}

/// The word before a period is an abbreviation or an initial (`Dr.`, `J.`).
fn is_abbreviation(before: &str, lang: Language) -> bool {
    let word: String = before
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '(' | '"' | '“' | '«' | '¿' | '¡'))
        .next()
        .unwrap_or("")
        .to_lowercase();
    if word.is_empty() {
        return false;
    }
    let mut letters = word.chars();
    let initial = letters.next().is_some_and(char::is_alphabetic) && letters.next().is_none();
    initial && spaced(lang) || script::abbreviations(lang).contains(&word.as_str())
}

/// A piece that is only punctuation (`"`, `…`) belongs to the line before it.
fn merge_punctuation(lines: Vec<TimedLine>) -> Vec<TimedLine> {
    let mut out: Vec<TimedLine> = Vec::with_capacity(lines.len());
    for line in lines {
        match out.last_mut() {
            Some(prev) if script::normalized(&line.text).is_empty() => {
                *prev = TimedLine::join(&[prev.clone(), line], "");
            }
            _ => out.push(line),
        }
    }
    out
}

/// Words a clause needs on each side of a comma cut (the seed's "more than three").
const COMMA_MIN_WORDS: usize = 4;
/// Words a clause needs on each side of a connector cut.
const CONNECTOR_MIN_WORDS: usize = 5;

/// The seed's clause cuts: at a comma with enough words on both sides, and before a connector
/// with at least five words on both sides.
pub fn clauses(line: &TimedLine, lang: Language) -> Vec<TimedLine> {
    let text = line.text.as_str();
    let mut cuts = Vec::new();
    let mut last = 0;
    for (at, c) in text.char_indices() {
        let after = at + c.len_utf8();
        if script::is_clause_mark(c)
            && !matches!(c, '—' | '–')
            && word_count(&text[last..after]) >= COMMA_MIN_WORDS
            && word_count(&text[after..]) >= COMMA_MIN_WORDS
        {
            cuts.push(after);
            last = after;
        }
    }
    for cut in connector_cuts(text, lang) {
        let (prev, next) = neighbours(&cuts, cut, text.len());
        if word_count(&text[prev..cut]) >= CONNECTOR_MIN_WORDS
            && word_count(&text[cut..next]) >= CONNECTOR_MIN_WORDS
        {
            cuts.push(cut);
            cuts.sort_unstable();
        }
    }
    line.cut_at(&cuts)
}

/// The cuts around `at` among `cuts` (sorted): the piece `at` would divide.
fn neighbours(cuts: &[usize], at: usize, len: usize) -> (usize, usize) {
    let prev = cuts.iter().copied().filter(|c| *c < at).max().unwrap_or(0);
    let next = cuts
        .iter()
        .copied()
        .filter(|c| *c > at)
        .min()
        .unwrap_or(len);
    (prev, next)
}

/// Byte offsets where a connector starts (or, for Japanese endings, where one ends).
fn connector_cuts(text: &str, lang: Language) -> Vec<usize> {
    let mut cuts = Vec::new();
    if spaced(lang) {
        let mut offset = 0;
        for token in text.split(' ') {
            let bare: String = token
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if offset > 0 && script::connectors(lang).contains(&bare.as_str()) {
                cuts.push(offset);
            }
            offset += token.len() + 1;
        }
    } else {
        for connector in script::connectors(lang) {
            cuts.extend(
                text.match_indices(connector)
                    .map(|(i, _)| i)
                    .filter(|i| *i > 0),
            );
        }
        for ending in script::trailing_connectors(lang) {
            for (i, m) in text.match_indices(ending) {
                let mut end = i + m.len();
                // The comma after the ending stays with it.
                if let Some(c) = text[end..]
                    .chars()
                    .next()
                    .filter(|c| matches!(c, '、' | '，' | ','))
                {
                    end += c.len_utf8();
                }
                if end < text.len() {
                    cuts.push(end);
                }
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// A line over `max_words` cut where it breaks most naturally near its middle (after a clause
/// mark, before a connector, at a pause), again until every piece fits.
pub fn split_long(line: &TimedLine, lang: Language, max_words: usize) -> Vec<TimedLine> {
    let total = word_count(&line.text);
    if total <= max_words || line.words.len() < 2 {
        return vec![line.clone()];
    }
    let connectors = connector_cuts(&line.text, lang);
    let min_side = (total / 4).max(1);
    let best = line
        .words
        .windows(2)
        .filter_map(|pair| {
            let cut = pair[1].from;
            let left = word_count(&line.text[..cut]);
            let right = total.saturating_sub(left);
            if left < min_side || right < min_side {
                return None;
            }
            let balance = (left as f64 - total as f64 / 2.0).abs() / total as f64;
            let before = line.text[..cut].trim_end().chars().last();
            let mut score = -4.0 * balance;
            if before.is_some_and(|c| script::is_clause_mark(c) || script::is_terminal(c)) {
                score += 3.0;
            }
            if connectors.contains(&cut) {
                score += 2.0;
            }
            let pause_ms = pair[1].start_ms.saturating_sub(pair[0].end_ms) as f64;
            score += (pause_ms / 250.0).min(4.0);
            Some((score, cut))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, cut)) = best else {
        return vec![line.clone()];
    };
    line.cut_at(&[cut])
        .iter()
        .flat_map(|piece| split_long(piece, lang, max_words))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::timed::transcript;
    use onevoice_shared::srt::Cue;

    fn lines(text: &str, lang: Language) -> Vec<String> {
        let cue = Cue {
            start_ms: 0,
            end_ms: 60_000,
            text: text.into(),
            ..Cue::default()
        };
        segment(&transcript(&[cue], &[], lang), lang)
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    // Golden segmentations: each input and the lines it must become.

    #[test]
    fn english() {
        assert_eq!(
            lines(
                "Dr. Smith arrived at 3.30 p.m. today. He said: \"We leave now!\" Really? \
                 When the rain stopped, we walked to the old harbour because the boats were \
                 finally back. Apples, pears, and plums.",
                Language::English
            ),
            vec![
                "Dr. Smith arrived at 3.30 p.m. today.",
                "He said: \"We leave now!\"",
                "Really?",
                "When the rain stopped,",
                "we walked to the old harbour",
                "because the boats were finally back.",
                "Apples, pears, and plums.",
            ]
        );
    }

    #[test]
    fn spanish() {
        assert_eq!(
            lines(
                "¿Dónde está el Sr. García? No lo sé. Cuando llegamos a la ciudad, todos los \
                 museos ya estaban cerrados por la fiesta.",
                Language::Spanish
            ),
            vec![
                "¿Dónde está el Sr. García?",
                "No lo sé.",
                "Cuando llegamos a la ciudad,",
                "todos los museos ya estaban cerrados por la fiesta.",
            ]
        );
    }

    #[test]
    fn korean() {
        assert_eq!(
            lines(
                "안녕하세요. 오늘은 날씨가 정말 좋네요! 우리는 아침 일찍 시장에 가서 과일을 많이 샀고, \
                 오후에는 친구들과 함께 공원을 천천히 걸었습니다.",
                Language::Korean
            ),
            vec![
                "안녕하세요.",
                "오늘은 날씨가 정말 좋네요!",
                "우리는 아침 일찍 시장에 가서 과일을 많이 샀고,",
                "오후에는 친구들과 함께 공원을 천천히 걸었습니다.",
            ]
        );
    }

    #[test]
    fn japanese() {
        assert_eq!(
            lines(
                "今日はいい天気ですね。散歩に行きましょうか？駅の近くに新しい喫茶店ができたので、\
                 週末に友達と一緒に行ってみたいと思っています。",
                Language::Japanese
            ),
            vec![
                "今日はいい天気ですね。",
                "散歩に行きましょうか？",
                "駅の近くに新しい喫茶店ができたので、",
                "週末に友達と一緒に行ってみたいと思っています。",
            ]
        );
    }

    #[test]
    fn a_pause_before_a_capital_ends_an_unpunctuated_sentence() {
        let cue = |start_ms, end_ms, text: &str| Cue {
            start_ms,
            end_ms,
            text: text.into(),
            ..Cue::default()
        };
        let cues = [
            cue(0, 2000, "we met at the station"),
            cue(2800, 4000, "Then it rained"),
            cue(4900, 6000, "all day,"),
            cue(6600, 8000, "So we stayed in."),
        ];
        let text = transcript(&cues, &[], Language::English);
        let lines: Vec<String> = sentences(&text, Language::English)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(
            lines,
            vec![
                "we met at the station",
                "Then it rained all day, So we stayed in."
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_at_the_most_natural_point() {
        let text = "the committee met on monday to discuss the budget for the coming year and \
                    the members agreed that the new library should open before the summer holidays";
        let cue = Cue {
            start_ms: 0,
            end_ms: 10_000,
            text: text.into(),
            ..Cue::default()
        };
        let line = transcript(&[cue], &[], Language::English);
        let pieces: Vec<String> = split_long(&line, Language::English, 20)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(
            pieces,
            vec![
                "the committee met on monday to discuss the budget for the coming year",
                "and the members agreed that the new library should open before the summer holidays",
            ]
        );
    }
}
