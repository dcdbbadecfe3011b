//! Text that keeps its timing: every line knows when each of its words is spoken, so a line can
//! be cut anywhere and both halves still start and end when their words do.

use super::script::{self, spaced};
use onevoice_shared::language::Language;
use onevoice_shared::srt::Cue;
use serde::{Deserialize, Serialize};

/// A word as a recognizer timed it (milliseconds from the start of the media).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// Who said it, when the recognizer tells words apart by speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

/// A token of a line (byte range of `TimedLine::text`) and when it is spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: usize,
    pub to: usize,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A line with its timed tokens. Serialized, it reads as an `srt::Cue` too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedLine {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    #[serde(default)]
    pub words: Vec<Span>,
    /// Who says the line (a line never spans two speakers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

impl TimedLine {
    pub fn cue(&self) -> Cue {
        Cue {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            text: self.text.clone(),
            speaker: self.speaker.clone(),
        }
    }

    /// A cue's text as tokens (space-separated words; each Han or kana character on its own),
    /// timed from the recognizer's words heard during the cue, else spread over the cue by
    /// weighted length.
    pub fn from_cue(cue: &Cue, heard: &[Word]) -> TimedLine {
        let text = cue.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let tokens = tokens(&text);
        let words = if heard.is_empty() {
            spread(&text, &tokens, cue.start_ms, cue.end_ms)
        } else {
            align(&text, &tokens, heard)
        };
        TimedLine {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms.max(cue.start_ms),
            text,
            words,
            speaker: cue.speaker.clone(),
        }
    }

    /// Lines joined into one (with `joiner` between them), tokens shifted into place; the
    /// first line's speaker says it (only lines of one speaker are joined).
    pub fn join(lines: &[TimedLine], joiner: &str) -> TimedLine {
        let mut out = TimedLine {
            start_ms: lines.first().map_or(0, |l| l.start_ms),
            end_ms: lines.iter().map(|l| l.end_ms).max().unwrap_or(0),
            text: String::new(),
            words: Vec::new(),
            speaker: lines.first().and_then(|l| l.speaker.clone()),
        };
        for line in lines {
            if !out.text.is_empty() && !line.text.is_empty() {
                out.text.push_str(joiner);
            }
            let base = out.text.len();
            out.text.push_str(&line.text);
            out.words.extend(line.words.iter().map(|w| Span {
                from: w.from + base,
                to: w.to + base,
                ..*w
            }));
        }
        out
    }

    /// The part of the line in the byte range `from..to`, trimmed, timed by its own tokens.
    pub fn slice(&self, from: usize, to: usize) -> TimedLine {
        let raw = &self.text[from..to];
        let lead = raw.len() - raw.trim_start().len();
        let text = raw.trim().to_string();
        let (from, to) = (from + lead, from + lead + text.len());
        let words: Vec<Span> = self
            .words
            .iter()
            .filter(|w| w.from < to && w.to > from)
            .map(|w| Span {
                from: w.from.max(from) - from,
                to: w.to.min(to) - from,
                ..*w
            })
            .collect();
        let (start_ms, end_ms) = match (words.first(), words.last()) {
            (Some(a), Some(b)) => (a.start_ms, b.end_ms.max(a.start_ms)),
            // Untimed text: its share of the line by position.
            _ => {
                let len = self.text.len().max(1) as f64;
                let span = self.end_ms.saturating_sub(self.start_ms) as f64;
                let at = |b: usize| self.start_ms + (span * b as f64 / len).round() as u64;
                (at(from), at(to))
            }
        };
        TimedLine {
            start_ms,
            end_ms,
            text,
            words,
            speaker: self.speaker.clone(),
        }
    }

    /// The line cut at each byte offset in `cuts` (ascending); empty pieces are dropped.
    pub fn cut_at(&self, cuts: &[usize]) -> Vec<TimedLine> {
        let mut bounds = vec![0];
        bounds.extend(
            cuts.iter()
                .copied()
                .filter(|c| *c > 0 && *c < self.text.len()),
        );
        bounds.push(self.text.len());
        bounds.dedup();
        bounds
            .windows(2)
            .map(|w| self.slice(w[0], w[1]))
            .filter(|l| !l.text.is_empty())
            .collect()
    }
}

/// The cues of a transcript as one timed text in `lang` (cues joined with a space, or nothing
/// in Japanese and Chinese), each timed from the recognizer's words when there are some.
pub fn transcript(cues: &[Cue], words: &[Word], lang: Language) -> TimedLine {
    let lines = timed_cues(cues, words);
    let joiner = if spaced(lang) { " " } else { "" };
    TimedLine::join(&lines, joiner)
}

/// The transcript as turns: each run of cues by one speaker (or of cues naming nobody) joined
/// as by [`transcript`], so sentences are found within a turn and never across speakers.
pub fn turns(cues: &[Cue], words: &[Word], lang: Language) -> Vec<TimedLine> {
    let lines = timed_cues(cues, words);
    let joiner = if spaced(lang) { " " } else { "" };
    lines
        .chunk_by(|a, b| a.speaker == b.speaker)
        .map(|turn| TimedLine::join(turn, joiner))
        .collect()
}

fn timed_cues(cues: &[Cue], words: &[Word]) -> Vec<TimedLine> {
    cues.iter()
        .map(|cue| {
            // Words heard during the cue (by their midpoint).
            let heard: Vec<Word> = words
                .iter()
                .filter(|w| {
                    let mid = (w.start_ms + w.end_ms) / 2;
                    mid >= cue.start_ms && mid <= cue.end_ms
                })
                .cloned()
                .collect();
            TimedLine::from_cue(cue, &heard)
        })
        .collect()
}

/// Byte ranges of the tokens of `text`: whitespace-separated runs, with every Han or kana
/// character a token of its own.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, i));
            }
        } else if script::is_cjk(c) {
            if let Some(s) = start.take() {
                out.push((s, i));
            }
            out.push((i, i + c.len_utf8()));
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Tokens timed by their share of the weighted length of the line.
fn spread(text: &str, tokens: &[(usize, usize)], start: u64, end: u64) -> Vec<Span> {
    let weights: Vec<f64> = tokens
        .iter()
        .map(|(a, b)| script::weighted_len(&text[*a..*b]).max(0.5))
        .collect();
    let total: f64 = weights.iter().sum::<f64>().max(f64::EPSILON);
    let span = end.saturating_sub(start) as f64;
    let mut acc = 0.0;
    tokens
        .iter()
        .zip(weights)
        .map(|((from, to), w)| {
            let s = start + (span * acc / total).round() as u64;
            acc += w;
            let e = start + (span * acc / total).round() as u64;
            Span {
                from: *from,
                to: *to,
                start_ms: s,
                end_ms: e.max(s),
            }
        })
        .collect()
}

/// Tokens timed by the recognizer's words. Both are the same speech, so the n-th letter of the
/// line is the n-th letter of the words (scaled when the renderings differ, e.g. in punctuation
/// or digits); a token takes the times of the words its letters fall in.
fn align(text: &str, tokens: &[(usize, usize)], heard: &[Word]) -> Vec<Span> {
    let owner: Vec<usize> = heard
        .iter()
        .enumerate()
        .flat_map(|(i, w)| std::iter::repeat_n(i, script::normalized(&w.text).len()))
        .collect();
    let total_line: usize = script::normalized(text).len();
    if owner.is_empty() || total_line == 0 {
        let start = heard.first().map_or(0, |w| w.start_ms);
        let end = heard.last().map_or(start, |w| w.end_ms);
        return spread(text, tokens, start, end);
    }
    let scale = owner.len() as f64 / total_line as f64;
    let word_at = |letter: usize| {
        let i = ((letter as f64 * scale) as usize).min(owner.len() - 1);
        &heard[owner[i]]
    };
    let mut seen = 0usize;
    let mut out = Vec::with_capacity(tokens.len());
    let mut last_end = heard[0].start_ms;
    for (from, to) in tokens {
        let letters = script::normalized(&text[*from..*to]).len();
        let span = if letters == 0 {
            // Punctuation: spoken with the word before it.
            Span {
                from: *from,
                to: *to,
                start_ms: last_end,
                end_ms: last_end,
            }
        } else {
            let first = word_at(seen);
            let last = word_at(seen + letters - 1);
            Span {
                from: *from,
                to: *to,
                start_ms: first.start_ms,
                end_ms: last.end_ms.max(first.start_ms),
            }
        };
        seen += letters;
        last_end = span.end_ms;
        out.push(span);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start_ms: u64, end_ms: u64, text: &str) -> Word {
        Word {
            start_ms,
            end_ms,
            text: text.into(),
            speaker: None,
        }
    }

    #[test]
    fn tokens_take_the_recognizers_times() {
        let cue = Cue {
            start_ms: 0,
            end_ms: 3000,
            text: "Hello, world. Again!".into(),
            ..Cue::default()
        };
        let heard = [
            word(100, 500, "Hello"),
            word(600, 900, "world"),
            word(2000, 2500, "again"),
        ];
        let line = TimedLine::from_cue(&cue, &heard);
        let times: Vec<(u64, u64)> = line.words.iter().map(|w| (w.start_ms, w.end_ms)).collect();
        assert_eq!(times, vec![(100, 500), (600, 900), (2000, 2500)]);
        let parts = line.cut_at(&[13]);
        assert_eq!(parts[0].text, "Hello, world.");
        assert_eq!((parts[0].start_ms, parts[0].end_ms), (100, 900));
        assert_eq!(parts[1].text, "Again!");
        assert_eq!((parts[1].start_ms, parts[1].end_ms), (2000, 2500));
    }

    #[test]
    fn untimed_cues_are_spread_by_weighted_length() {
        let cue = Cue {
            start_ms: 1000,
            end_ms: 2000,
            text: "今日は".into(),
            ..Cue::default()
        };
        let line = TimedLine::from_cue(&cue, &[]);
        assert_eq!(line.words.len(), 3);
        assert_eq!(line.words[0].start_ms, 1000);
        assert_eq!(line.words[2].end_ms, 2000);
        let joined = TimedLine::join(&[line.clone(), line], "");
        assert_eq!(joined.text, "今日は今日は");
        assert_eq!(joined.words[3].from, 9);
    }

    #[test]
    fn turns_follow_the_speakers() {
        let cue = |start_ms, text: &str, speaker: Option<&str>| Cue {
            start_ms,
            end_ms: start_ms + 900,
            text: text.into(),
            speaker: speaker.map(str::to_string),
        };
        let cues = [
            cue(0, "Hi Ana.", Some("Kim")),
            cue(1000, "How are you?", Some("Kim")),
            cue(2000, "Fine, thanks", Some("Ana")),
            cue(3000, "and you?", Some("Ana")),
            cue(4000, "Good.", Some("Kim")),
        ];
        let turns = turns(&cues, &[], Language::English);
        let seen: Vec<(&str, Option<&str>)> = turns
            .iter()
            .map(|t| (t.text.as_str(), t.speaker.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("Hi Ana. How are you?", Some("Kim")),
                ("Fine, thanks and you?", Some("Ana")),
                ("Good.", Some("Kim"))
            ]
        );
        // Cut anywhere, a piece keeps its speaker.
        assert_eq!(turns[1].cut_at(&[6])[1].speaker.as_deref(), Some("Ana"));
        assert_eq!(turns[0].cue().speaker.as_deref(), Some("Kim"));
    }
}
