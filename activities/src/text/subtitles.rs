//! Display subtitles: a sentence too long to read on one line (the seed's weighted length: CJK
//! 1.75, Hangul 1.5, against 75, the translation weighted 1.2) is cut in two where it breaks
//! best near its middle, the translation at the matching point, up to three times; every piece
//! is timed by the words it holds. Then the seed's smoothing: gaps under a second are closed.

use super::script::{self, weighted_len};
use super::timed::TimedLine;
use onevoice_shared::language::Language;
use onevoice_shared::srt::Cue;

/// Cuts a line may take (each halves it).
const ROUNDS: usize = 3;
/// Shorter gaps between subtitles are closed (the seed's flicker guard).
const MIN_GAP_MS: u64 = 1000;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_length: f64,
    pub target_multiplier: f64,
}

/// One display subtitle: the source piece and its translation, on the same times.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub source: TimedLine,
    pub translation: String,
}

/// Each sentence's display pieces (one group per sentence), before smoothing.
pub fn split_all(
    sentences: &[TimedLine],
    translations: &[String],
    to: Language,
    limits: Limits,
) -> Vec<Vec<Pair>> {
    sentences
        .iter()
        .zip(translations)
        .map(|(s, t)| {
            split(
                Pair {
                    source: s.clone(),
                    translation: t.clone(),
                },
                to,
                limits,
                ROUNDS,
            )
        })
        .collect()
}

/// The groups in order, gaps under a second closed.
pub fn smooth(groups: Vec<Vec<Pair>>) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = groups.into_iter().flatten().collect();
    close_gaps(&mut pairs);
    pairs
}

/// Gives a group's pieces the translation `parts` (an aligner's split of `translation`), when
/// they are its words in as many pieces; otherwise the group stays as it is.
pub fn realign(group: &mut [Pair], translation: &str, parts: &[String], to: Language) -> bool {
    if parts.len() != group.len() {
        return false;
    }
    let Some(cuts) = super::meaning::map_back(translation, &break_points(translation, to), parts)
    else {
        return false;
    };
    if cuts.len() + 1 != group.len() {
        return false;
    }
    let mut bounds = vec![0];
    bounds.extend(cuts);
    bounds.push(translation.len());
    for (pair, w) in group.iter_mut().zip(bounds.windows(2)) {
        pair.translation = translation[w[0]..w[1]].trim().to_string();
    }
    true
}

fn too_long(pair: &Pair, limits: Limits) -> bool {
    weighted_len(&pair.source.text) > limits.max_length
        || weighted_len(&pair.translation) * limits.target_multiplier > limits.max_length
}

fn split(pair: Pair, to: Language, limits: Limits, rounds: usize) -> Vec<Pair> {
    if rounds == 0 || !too_long(&pair, limits) {
        return vec![pair];
    }
    let Some(cut) = best_source_cut(&pair.source) else {
        return vec![pair];
    };
    let share = weighted_len(&pair.source.text[..cut]) / weighted_len(&pair.source.text).max(1.0);
    let Some(tr_cut) = best_text_cut(&pair.translation, share, to) else {
        return vec![pair];
    };
    let halves = pair.source.cut_at(&[cut]);
    let [left, right] = <[TimedLine; 2]>::try_from(halves)
        .ok()
        .unwrap_or_else(|| unreachable!("a cut strictly inside the line gives two pieces"));
    let (tl, tr) = pair.translation.split_at(tr_cut);
    [
        Pair {
            source: left,
            translation: tl.trim().to_string(),
        },
        Pair {
            source: right,
            translation: tr.trim().to_string(),
        },
    ]
    .into_iter()
    .flat_map(|p| split(p, to, limits, rounds - 1))
    .collect()
}

/// The token boundary of the source nearest its weighted middle, favouring punctuation.
fn best_source_cut(line: &TimedLine) -> Option<usize> {
    let total = weighted_len(&line.text).max(1.0);
    line.words
        .windows(2)
        .map(|w| w[1].from)
        .filter(|cut| *cut > 0 && *cut < line.text.len())
        .map(|cut| (score(&line.text, cut, 0.5, total), cut))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, cut)| cut)
}

/// Where `text` may be cut: after a space in spaced scripts, between any two characters in
/// Japanese and Chinese (never before punctuation).
pub fn break_points(text: &str, lang: Language) -> Vec<usize> {
    let spaced = script::spaced(lang) || text.contains(' ');
    text.char_indices()
        .skip(1)
        .filter(|(i, c)| {
            let before = text[..*i].chars().last();
            if spaced {
                before.is_some_and(char::is_whitespace) && !c.is_whitespace()
            } else {
                !c.is_whitespace()
                    && !script::is_clause_mark(*c)
                    && !script::is_terminal(*c)
                    && !script::is_closing(*c)
            }
        })
        .map(|(i, _)| i)
        .collect()
}

/// Where to cut `text` so its first part holds about `share` of it.
fn best_text_cut(text: &str, share: f64, lang: Language) -> Option<usize> {
    let total = weighted_len(text).max(1.0);
    break_points(text, lang)
        .into_iter()
        .map(|i| (score(text, i, share, total), i))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| i)
}

/// Closeness of the cut to the wanted share, with a bonus after punctuation.
fn score(text: &str, cut: usize, share: f64, total: f64) -> f64 {
    let off = (weighted_len(&text[..cut]) / total - share).abs();
    let after_mark = text[..cut]
        .trim_end()
        .chars()
        .last()
        .is_some_and(|c| script::is_clause_mark(c) || script::is_terminal(c));
    -off + if after_mark { 0.15 } else { 0.0 }
}

/// A gap under a second ends the earlier subtitle when the next begins.
fn close_gaps(pairs: &mut [Pair]) {
    for i in 1..pairs.len() {
        let next_start = pairs[i].source.start_ms;
        let prev = &mut pairs[i - 1].source;
        if next_start > prev.end_ms && next_start - prev.end_ms < MIN_GAP_MS {
            prev.end_ms = next_start;
        }
        // Overlaps from rounding are trimmed; a subtitle lasts at least a tenth of a second.
        if prev.end_ms > next_start && next_start > prev.start_ms {
            prev.end_ms = next_start;
        }
        prev.end_ms = prev.end_ms.max(prev.start_ms + 100);
    }
    if let Some(last) = pairs.last_mut() {
        last.source.end_ms = last.source.end_ms.max(last.source.start_ms + 100);
    }
}

/// The translation as displayed: Chinese and Japanese commas and full stops become spaces (the
/// seed's display rule), so a subtitle reads as a phrase.
pub fn display_text(text: &str, lang: Language) -> String {
    if script::spaced(lang) {
        return text.to_string();
    }
    text.replace(['，', '。'], " ").trim().to_string()
}

/// The three subtitle tracks: source, translation, and both (translation above source).
pub fn tracks(pairs: &[Pair], to: Language) -> [Vec<Cue>; 3] {
    let cue = |p: &Pair, text: String| Cue {
        start_ms: p.source.start_ms,
        end_ms: p.source.end_ms,
        text,
        speaker: p.source.speaker.clone(),
    };
    let source = pairs
        .iter()
        .map(|p| cue(p, p.source.text.clone()))
        .collect();
    let translation = pairs
        .iter()
        .map(|p| cue(p, display_text(&p.translation, to)))
        .collect();
    let both = pairs
        .iter()
        .map(|p| {
            cue(
                p,
                format!("{}\n{}", display_text(&p.translation, to), p.source.text),
            )
        })
        .collect();
    [source, translation, both]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::timed::transcript;

    const LIMITS: Limits = Limits {
        max_length: 75.0,
        target_multiplier: 1.2,
    };

    fn sentence(text: &str, lang: Language, start_ms: u64, end_ms: u64) -> TimedLine {
        transcript(
            &[Cue {
                start_ms,
                end_ms,
                text: text.into(),
                ..Cue::default()
            }],
            &[],
            lang,
        )
    }

    /// Every sentence with its translation, split for display and smoothed.
    fn display(
        sentences: &[TimedLine],
        translations: &[String],
        to: Language,
        limits: Limits,
    ) -> Vec<Pair> {
        smooth(split_all(sentences, translations, to, limits))
    }

    fn shown(pairs: &[Pair]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|p| (p.source.text.clone(), p.translation.clone()))
            .collect()
    }

    // Golden splits: each sentence, its translation and the subtitles they must become.

    #[test]
    fn english_to_spanish() {
        let s = sentence(
            "When we finally reached the top of the mountain, the whole valley was covered in fog.",
            Language::English,
            0,
            6000,
        );
        let t = "Cuando por fin llegamos a la cima de la montaña, todo el valle estaba cubierto de niebla.";
        let pairs = display(&[s], &[t.into()], Language::Spanish, LIMITS);
        assert_eq!(
            shown(&pairs),
            vec![
                (
                    "When we finally reached the top of the mountain,".into(),
                    "Cuando por fin llegamos a la cima de la montaña,".into()
                ),
                (
                    "the whole valley was covered in fog.".into(),
                    "todo el valle estaba cubierto de niebla.".into()
                ),
            ]
        );
        assert_eq!(pairs[0].source.start_ms, 0);
        assert_eq!(pairs[0].source.end_ms, pairs[1].source.start_ms);
        assert_eq!(pairs[1].source.end_ms, 6000);
    }

    #[test]
    fn english_to_korean_weighs_hangul() {
        let s = sentence(
            "We bought fresh fruit at the market, then walked in the park.",
            Language::English,
            1000,
            7000,
        );
        // 54 characters, but 40 Hangul syllables: 74 weighted, × 1.2 is over 75.
        let t = "우리는 아침 일찍 시장에서 신선한 과일을 많이 샀고, 그다음에 친구들과 공원을 천천히 걸었습니다.";
        let pairs = display(&[s], &[t.into()], Language::Korean, LIMITS);
        assert_eq!(
            shown(&pairs),
            vec![
                (
                    "We bought fresh fruit at the market,".into(),
                    "우리는 아침 일찍 시장에서 신선한 과일을 많이 샀고,".into()
                ),
                (
                    "then walked in the park.".into(),
                    "그다음에 친구들과 공원을 천천히 걸었습니다.".into()
                ),
            ]
        );
        assert_eq!(pairs[0].source.start_ms, 1000);
        assert_eq!(pairs[1].source.end_ms, 7000);
    }

    #[test]
    fn english_to_japanese_cuts_between_characters() {
        let s = sentence(
            "There is a new cafe near the station, so I want to go there with friends this weekend.",
            Language::English,
            0,
            5000,
        );
        let t =
            "駅の近くに新しい喫茶店ができたので、週末に友達と一緒に行ってみたいと思っています。";
        let pairs = display(&[s], &[t.into()], Language::Japanese, LIMITS);
        assert_eq!(
            shown(&pairs),
            vec![
                (
                    "There is a new cafe near the station,".into(),
                    "駅の近くに新しい喫茶店ができたので、".into()
                ),
                (
                    "so I want to go there with friends this weekend.".into(),
                    "週末に友達と一緒に行ってみたいと思っています。".into()
                ),
            ]
        );
        let [_, translation, both] = tracks(&pairs, Language::Japanese);
        assert_eq!(translation[0].text, "駅の近くに新しい喫茶店ができたので、");
        assert!(
            both[1]
                .text
                .ends_with("\nso I want to go there with friends this weekend.")
        );
    }

    #[test]
    fn japanese_source_is_cut_between_characters() {
        // 45 characters at 1.75: over 75.
        let s = sentence(
            "駅の近くに新しい喫茶店ができたので、週末に友達と一緒にゆっくり行ってみたいと思っています。",
            Language::Japanese,
            2000,
            9000,
        );
        let t =
            "A new cafe opened near the station, so I want to go there with friends this weekend.";
        let pairs = display(&[s], &[t.into()], Language::English, LIMITS);
        assert_eq!(
            shown(&pairs),
            vec![
                (
                    "駅の近くに新しい喫茶店ができたので、".into(),
                    "A new cafe opened near the station,".into()
                ),
                (
                    "週末に友達と一緒にゆっくり行ってみたいと思っています。".into(),
                    "so I want to go there with friends this weekend.".into()
                ),
            ]
        );
        // Timed by characters: the first piece holds 18 of 45.
        assert_eq!(pairs[0].source.end_ms, 2000 + 7000 * 18 / 45);
    }

    #[test]
    fn an_aligners_split_replaces_the_proportional_one() {
        let s = sentence(
            "When we finally reached the top of the mountain, the whole valley was covered in fog.",
            Language::English,
            0,
            6000,
        );
        let t = "Cuando por fin llegamos a la cima de la montaña, todo el valle estaba cubierto de niebla.";
        let mut groups = split_all(&[s], &[t.into()], Language::Spanish, LIMITS);
        let parts = [
            "Cuando por fin llegamos a la cima".to_string(),
            "de la montaña, todo el valle estaba cubierto de niebla".to_string(),
        ];
        assert!(realign(&mut groups[0], t, &parts, Language::Spanish));
        assert_eq!(
            groups[0][0].translation,
            "Cuando por fin llegamos a la cima"
        );
        assert_eq!(
            groups[0][1].translation,
            "de la montaña, todo el valle estaba cubierto de niebla."
        );
        // A rewording, or the wrong number of parts, leaves the group as it was.
        let before = groups[0].clone();
        assert!(!realign(
            &mut groups[0],
            t,
            &["Al llegar arriba".into(), "había niebla".into()],
            Language::Spanish
        ));
        assert!(!realign(
            &mut groups[0],
            t,
            &[t.to_string()],
            Language::Spanish
        ));
        assert_eq!(groups[0], before);
    }

    #[test]
    fn short_lines_stay_whole_and_gaps_close() {
        let a = sentence("Hello there.", Language::English, 0, 1000);
        let b = sentence("How are you?", Language::English, 1500, 2500);
        let c = sentence("Fine.", Language::English, 5000, 5600);
        let pairs = display(
            &[a, b, c],
            &["Hola.".into(), "¿Qué tal?".into(), "Bien.".into()],
            Language::Spanish,
            LIMITS,
        );
        let times: Vec<(u64, u64)> = pairs
            .iter()
            .map(|p| (p.source.start_ms, p.source.end_ms))
            .collect();
        assert_eq!(times, vec![(0, 1500), (1500, 2500), (5000, 5600)]);
    }
}
