//! Translation by an LLM, the seed's way: chunks of up to ten lines (600 characters) with the
//! lines around them, the theme and the glossary terms they use; a faithful pass, then an
//! expressive one; the returned lines counted and asked again when they do not match. Lines whose
//! estimated speech cannot fit their slot even at the top speed-up are then shortened.

use super::estimate::speech_ms;
use super::llm::{Ask, Llm, LlmError, array_of, object, string};
use super::terminology::Terminology;
use futures::{StreamExt, TryStreamExt};
use onevoice_shared::language::Language;
use onevoice_shared::srt::Cue;
use serde::Deserialize;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use temporalio_sdk::activities::ActivityError;

const CHUNK_LINES: usize = 10;
const CHUNK_CHARS: usize = 600;
const CONTEXT_BEFORE: usize = 3;
const CONTEXT_AFTER: usize = 2;
/// A pass whose line count is wrong is asked again this many times.
const COUNT_ATTEMPTS: usize = 3;

pub struct Translation<'a> {
    pub llm: &'a Llm,
    pub from: Language,
    pub to: Language,
    pub terminology: &'a Terminology,
    /// Run the expressive pass.
    pub reflect: bool,
    pub concurrency: usize,
}

#[derive(Deserialize)]
struct Faithful {
    lines: Vec<FaithfulLine>,
}

#[derive(Deserialize)]
struct FaithfulLine {
    id: i64,
    translation: String,
}

#[derive(Deserialize)]
struct Expressive {
    lines: Vec<ExpressiveLine>,
}

#[derive(Deserialize)]
struct ExpressiveLine {
    id: i64,
    free: String,
}

impl Translation<'_> {
    /// One translation per line of `lines`, in order.
    pub async fn run(&self, lines: &[String]) -> Result<Vec<String>, ActivityError> {
        let chunks = chunks(lines);
        let done: Vec<Vec<String>> = futures::stream::iter(chunks)
            .map(|range| self.chunk(lines, range))
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;
        Ok(done.into_iter().flatten().collect())
    }

    /// A chunk through both passes; halved when the model cannot answer it whole.
    fn chunk<'s>(
        &'s self,
        lines: &'s [String],
        range: std::ops::Range<usize>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>, ActivityError>> + Send + 's>> {
        Box::pin(async move {
            let direct = match self.faithful(lines, range.clone()).await {
                Ok(direct) => direct,
                Err(LlmError::Failed(e)) => return Err(e),
                Err(why) if range.len() > 1 => {
                    tracing::warn!(reason = ?why, lines = range.len(), "halving a translation chunk");
                    let mid = range.start + range.len() / 2;
                    let mut first = self.chunk(lines, range.start..mid).await?;
                    first.extend(self.chunk(lines, mid..range.end).await?);
                    return Ok(first);
                }
                Err(why) => {
                    return Err(why.into_activity(&format!("translating line {}", range.start + 1)));
                }
            };
            if !self.reflect {
                return Ok(direct);
            }
            match self.expressive(lines, range, &direct).await {
                Ok(free) => Ok(free),
                Err(LlmError::Failed(e)) => Err(e),
                // The faithful translation stands.
                Err(why) => {
                    tracing::warn!(reason = ?why, "expressive pass failed; keeping the faithful one");
                    Ok(direct)
                }
            }
        })
    }

    async fn faithful(
        &self,
        lines: &[String],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<String>, LlmError> {
        let numbered: Vec<Value> = lines[range.clone()]
            .iter()
            .enumerate()
            .map(|(i, text)| json!({"id": i + 1, "text": text}))
            .collect();
        let instructions = format!(
            "You are a Netflix subtitle expert translating a video from {} into {}. Translate \
             every numbered line faithfully and accurately, in the context of the lines before \
             and after it and the theme, using the glossary's translation for its terms. Keep \
             each line's id; return exactly one translation per line, never merging or \
             splitting lines. Answer with JSON only.",
            self.from.english_name(),
            self.to.english_name()
        );
        let schema = object(json!({"lines": array_of(object(json!({
            "id": {"type": "integer"}, "translation": string(),
        })))}));
        let input = self.context(lines, range.clone(), numbered);
        let answer: Vec<(i64, String)> = self
            .counted(
                "translation",
                instructions,
                input,
                schema,
                range.len(),
                |v: Faithful| v.lines.into_iter().map(|l| (l.id, l.translation)).collect(),
            )
            .await?;
        Ok(answer.into_iter().map(|(_, t)| t).collect())
    }

    async fn expressive(
        &self,
        lines: &[String],
        range: std::ops::Range<usize>,
        direct: &[String],
    ) -> Result<Vec<String>, LlmError> {
        let numbered: Vec<Value> = lines[range.clone()]
            .iter()
            .zip(direct)
            .enumerate()
            .map(|(i, (text, direct))| json!({"id": i + 1, "source": text, "direct": direct}))
            .collect();
        let instructions = format!(
            "You are a Netflix subtitle expert. Each numbered line has a {} source and a direct \
             {} translation. For each, write `critique` (fluency, style, conciseness of the \
             direct translation) and `free`: a natural, concise {} subtitle that a native \
             speaker would say, faithful to the source and the glossary, never empty and \
             without comments. Keep each line's id and return exactly one item per line. \
             Answer with JSON only.",
            self.from.english_name(),
            self.to.english_name(),
            self.to.english_name()
        );
        let schema = object(json!({"lines": array_of(object(json!({
            "id": {"type": "integer"}, "critique": string(), "free": string(),
        })))}));
        let input = self.context(lines, range.clone(), numbered);
        let answer: Vec<(i64, String)> = self
            .counted(
                "expressive_translation",
                instructions,
                input,
                schema,
                range.len(),
                |v: Expressive| v.lines.into_iter().map(|l| (l.id, l.free)).collect(),
            )
            .await?;
        Ok(answer.into_iter().map(|(_, t)| t).collect())
    }

    /// The chunk with what surrounds it: theme, the glossary terms it uses, the lines before
    /// and after.
    fn context(
        &self,
        lines: &[String],
        range: std::ops::Range<usize>,
        numbered: Vec<Value>,
    ) -> Value {
        let chunk = lines[range.clone()].join("\n").to_lowercase();
        let terms: Vec<Value> = self
            .terminology
            .terms
            .iter()
            .filter(|t| chunk.contains(&t.source.to_lowercase()))
            .map(|t| json!({"source": t.source, "target": t.target, "note": t.note}))
            .collect();
        json!({
            "source_language": self.from.english_name(),
            "target_language": self.to.english_name(),
            "theme": self.terminology.theme,
            "glossary": terms,
            "previous_lines": lines[range.start.saturating_sub(CONTEXT_BEFORE)..range.start],
            "next_lines": lines[range.end..(range.end + CONTEXT_AFTER).min(lines.len())],
            "lines": numbered,
        })
    }

    /// Asks until the answer has exactly `n` non-empty lines with ids 1..=n; returns them in
    /// id order.
    async fn counted<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        instructions: String,
        input: Value,
        schema: Value,
        n: usize,
        read: impl Fn(T) -> Vec<(i64, String)>,
    ) -> Result<Vec<(i64, String)>, LlmError> {
        let mut complaint = String::new();
        for attempt in 0..COUNT_ATTEMPTS {
            let mut instructions = instructions.clone();
            if attempt > 0 {
                instructions.push_str(&format!(
                    "\nYour previous answer was wrong: {complaint}. There are exactly {n} lines, \
                     ids 1 to {n}."
                ));
            }
            let ask = Ask {
                name,
                instructions,
                input: input.clone(),
                schema: schema.clone(),
                max_tokens: 8000,
            };
            let mut lines = read(self.llm.ask::<T>(&ask).await?);
            lines.sort_by_key(|(id, _)| *id);
            let ids_ok = lines
                .iter()
                .enumerate()
                .all(|(i, (id, _))| *id == i as i64 + 1);
            let empty = lines.iter().any(|(_, t)| t.trim().is_empty());
            if lines.len() == n && ids_ok && !empty {
                return Ok(lines
                    .into_iter()
                    .map(|(id, t)| (id, t.trim().to_string()))
                    .collect());
            }
            complaint = if lines.len() != n {
                format!("it had {} lines", lines.len())
            } else if empty {
                "a line was empty".into()
            } else {
                "the ids were not 1 to n".into()
            };
            tracing::warn!(question = name, attempt, expected = n, %complaint, "translation line count mismatch");
        }
        Err(LlmError::Malformed(format!(
            "after {COUNT_ATTEMPTS} attempts {complaint} instead of {n}"
        )))
    }

    /// Translations shortened where the estimated speech overruns `slots` (milliseconds each
    /// line may take) even at `max_speed`; returns the indices of the lines shortened.
    pub async fn shorten(
        &self,
        sources: &[String],
        translations: &mut [String],
        slots: &[u64],
        max_speed: f64,
    ) -> Result<Vec<usize>, ActivityError> {
        let too_long: Vec<usize> = (0..translations.len())
            .filter(|&i| fits(&translations[i], self.to, slots[i], max_speed).is_none())
            .collect();
        let shorter: Vec<(usize, String)> = futures::stream::iter(too_long)
            .map(|i| {
                let (source, text, slot) = (&sources[i], translations[i].clone(), slots[i]);
                async move {
                    Ok::<_, ActivityError>((i, self.shorter(source, &text, slot, max_speed).await?))
                }
            })
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;
        let mut shortened = Vec::with_capacity(shorter.len());
        for (i, text) in shorter {
            translations[i] = text;
            shortened.push(i);
        }
        Ok(shortened)
    }

    /// The LLM's shorter version of one line, else the line without punctuation (the seed's
    /// fallback: fewer pauses).
    async fn shorter(
        &self,
        source: &str,
        text: &str,
        slot_ms: u64,
        max_speed: f64,
    ) -> Result<String, ActivityError> {
        #[derive(Deserialize)]
        struct Trimmed {
            result: String,
        }
        // At the top speed-up, the slot holds this much speech at a normal pace.
        let seconds = slot_ms as f64 * max_speed / 1000.0;
        let ask = Ask {
            name: "shorten",
            instructions: format!(
                "You are a Netflix subtitle expert. The {} line `text` translates `source` but \
                 takes too long to say at a normal pace in {:.1} seconds. Shorten it by removing fillers and \
                 modifiers while keeping its meaning and the glossary terms; write `analysis` \
                 (what you removed) and `result` (the shortened line, never empty). Answer with \
                 JSON only.",
                self.to.english_name(),
                seconds
            ),
            input: json!({"source": source, "text": text, "seconds": seconds}),
            schema: object(json!({"analysis": string(), "result": string()})),
            max_tokens: 2000,
        };
        let before = speech_ms(text, self.to);
        match self.llm.ask::<Trimmed>(&ask).await {
            Ok(t) if !t.result.trim().is_empty() && speech_ms(&t.result, self.to) < before => {
                Ok(t.result.trim().to_string())
            }
            Err(LlmError::Failed(e)) => Err(e),
            _ => {
                let plain: String = text
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c.is_whitespace() {
                            c
                        } else {
                            ' '
                        }
                    })
                    .collect();
                let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
                Ok(if plain.is_empty() {
                    text.to_string()
                } else {
                    plain
                })
            }
        }
    }
}

/// Whether `text` fits `slot_ms` at `max_speed`: the speed it needs, or none when too long.
pub fn fits(text: &str, lang: Language, slot_ms: u64, max_speed: f64) -> Option<f64> {
    let needed = speech_ms(text, lang) as f64 / slot_ms.max(1) as f64;
    (needed <= max_speed).then_some(needed)
}

/// How long each line may speak: until the next line starts, at most `tolerance_ms` past its
/// own end.
pub fn slots(cues: &[Cue], tolerance_ms: u64) -> Vec<u64> {
    cues.iter()
        .enumerate()
        .map(|(i, c)| {
            let limit = c.end_ms + tolerance_ms;
            let next = cues.get(i + 1).map_or(limit, |n| n.start_ms.min(limit));
            next.max(c.end_ms).saturating_sub(c.start_ms)
        })
        .collect()
}

/// Consecutive ranges of at most `CHUNK_LINES` lines and about `CHUNK_CHARS` characters.
fn chunks(lines: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = 0;
    for (i, line) in lines.iter().enumerate() {
        let len = line.chars().count();
        if i > start && (i - start == CHUNK_LINES || chars + len > CHUNK_CHARS) {
            out.push(start..i);
            start = i;
            chars = 0;
        }
        chars += len;
    }
    if start < lines.len() {
        out.push(start..lines.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_lines_and_characters() {
        let lines: Vec<String> = (0..25).map(|i| format!("line {i}")).collect();
        let sizes: Vec<usize> = chunks(&lines).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        let long: Vec<String> = (0..4).map(|_| "x".repeat(250)).collect();
        let sizes: Vec<usize> = chunks(&long).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![2, 2]);
    }

    #[test]
    fn slots_reach_into_the_gap_up_to_the_tolerance() {
        let cue = |s, e| Cue {
            start_ms: s,
            end_ms: e,
            text: String::new(),
            ..Cue::default()
        };
        let cues = [cue(0, 1000), cue(1200, 2000), cue(9000, 9500)];
        assert_eq!(slots(&cues, 1500), vec![1200, 2300, 2000]);
    }

    #[test]
    fn long_lines_do_not_fit_short_slots() {
        let text = "this is a rather long sentence to say in one second";
        assert!(fits(text, Language::English, 1000, 1.4).is_none());
        assert!(fits(text, Language::English, 6000, 1.4).is_some());
    }
}
