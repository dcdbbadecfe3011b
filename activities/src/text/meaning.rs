//! Lines still too long after the rules are split by meaning: the LLM proposes where, and its
//! parts are mapped back onto the original text (never its rewording), accepted only when they
//! are the same words (similarity of at least 0.9, as the seed required). Whatever the LLM
//! cannot split, the rules cut at the most natural point.

use super::llm::{Ask, Llm, array_of, object, string};
use super::script::{self, word_count};
use super::sentences::split_long;
use super::timed::TimedLine;
use futures::{StreamExt, TryStreamExt};
use onevoice_shared::language::Language;
use serde::Deserialize;
use serde_json::json;
use temporalio_sdk::activities::ActivityError;

/// Least similarity between the original and the LLM's parts put together.
const MIN_SIMILARITY: f64 = 0.9;

#[derive(Deserialize)]
struct Parts {
    parts: Vec<String>,
}

/// Every line over `max_words` split into pieces of about `max_words`.
pub async fn split(
    llm: Option<&Llm>,
    lines: Vec<TimedLine>,
    lang: Language,
    max_words: usize,
    concurrency: usize,
) -> Result<Vec<TimedLine>, ActivityError> {
    let pieces: Vec<Vec<TimedLine>> = futures::stream::iter(lines)
        .map(|line| async move {
            if word_count(&line.text) <= max_words {
                return Ok::<_, ActivityError>(vec![line]);
            }
            let by_meaning = match llm {
                Some(llm) => by_llm(llm, &line, lang, max_words).await?,
                None => None,
            };
            let pieces = by_meaning.unwrap_or_else(|| vec![line]);
            Ok(pieces
                .iter()
                .flat_map(|p| split_long(p, lang, max_words))
                .collect())
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(pieces.into_iter().flatten().collect())
}

/// The LLM's split of `line`, or none when it gave no usable one (a failed request fails).
async fn by_llm(
    llm: &Llm,
    line: &TimedLine,
    lang: Language,
    max_words: usize,
) -> Result<Option<Vec<TimedLine>>, ActivityError> {
    let n = word_count(&line.text).div_ceil(max_words);
    let ask = Ask {
        name: "sentence_split",
        instructions: format!(
            "You are a Netflix subtitle expert. Split the {} line you are given into exactly {n} \
             parts at natural pauses of meaning, so each can be dubbed on its own. Balance the \
             parts; each keeps at least three words. Joined in order, the parts must be the \
             original text exactly: do not add, remove, translate or reword anything. \
             Answer with JSON only.",
            lang.english_name()
        ),
        input: json!({"language": lang.english_name(), "parts": n, "text": line.text}),
        schema: object(json!({"parts": array_of(string())})),
        max_tokens: 2000,
    };
    let parts: Parts = match llm.ask(&ask).await {
        Ok(parts) => parts,
        Err(super::llm::LlmError::Failed(e)) => return Err(e),
        Err(other) => {
            tracing::warn!(reason = ?other, "no split by meaning; cutting by rule");
            return Ok(None);
        }
    };
    let starts: Vec<usize> = line.words.iter().map(|w| w.from).collect();
    Ok(map_back(&line.text, &starts, &parts.parts).map(|cuts| line.cut_at(&cuts)))
}

/// Where `parts` divide `text` (byte offsets among `starts`, its token starts), if they are its
/// words.
pub fn map_back(text: &str, starts: &[usize], parts: &[String]) -> Option<Vec<usize>> {
    let original: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| c.is_alphanumeric())
        .map(|(i, c)| (i, c.to_lowercase().next().unwrap_or(c)))
        .collect();
    let normalized: Vec<Vec<char>> = parts.iter().map(|p| script::normalized(p)).collect();
    let joined: String = normalized.iter().flatten().collect();
    let source: String = original.iter().map(|(_, c)| *c).collect();
    if original.is_empty()
        || parts.len() < 2
        || strsim::normalized_levenshtein(&source, &joined) < MIN_SIMILARITY
    {
        return None;
    }
    let scale = original.len() as f64 / joined.chars().count().max(1) as f64;
    let mut cuts = Vec::new();
    let mut seen = 0usize;
    for part in &normalized[..normalized.len() - 1] {
        seen += part.len();
        let letter = ((seen as f64 * scale).round() as usize).min(original.len() - 1);
        let at = original[letter].0;
        // The token start nearest to where the part ends.
        let cut = starts
            .iter()
            .copied()
            .min_by_key(|from| from.abs_diff(at))?;
        if cut > 0 && cuts.last().is_none_or(|last| cut > *last) {
            cuts.push(cut);
        }
    }
    (!cuts.is_empty()).then_some(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::timed::transcript;
    use onevoice_shared::srt::Cue;

    fn starts(line: &TimedLine) -> Vec<usize> {
        line.words.iter().map(|w| w.from).collect()
    }

    fn line(text: &str, lang: Language) -> TimedLine {
        let cue = Cue {
            start_ms: 0,
            end_ms: 8000,
            text: text.into(),
            ..Cue::default()
        };
        transcript(&[cue], &[], lang)
    }

    #[test]
    fn parts_map_back_onto_the_original_words() {
        let l = line(
            "so we packed everything into the car and drove all night to the coast",
            Language::English,
        );
        // The model dropped a word and changed case: still the same line.
        let parts = vec![
            "So we packed everything into the car".to_string(),
            "and drove all night to coast".to_string(),
        ];
        let cuts = map_back(&l.text, &starts(&l), &parts).expect("similar enough");
        let texts: Vec<String> = l.cut_at(&cuts).into_iter().map(|p| p.text).collect();
        assert_eq!(
            texts,
            vec![
                "so we packed everything into the car",
                "and drove all night to the coast"
            ]
        );
    }

    #[test]
    fn rewritten_parts_are_rejected() {
        let l = line("the weather was lovely all week long", Language::English);
        let parts = vec!["it was sunny".to_string(), "for seven days".to_string()];
        assert_eq!(map_back(&l.text, &starts(&l), &parts), None);
    }

    #[test]
    fn japanese_parts_map_back() {
        let l = line(
            "駅の近くに新しい喫茶店ができたので週末に行きたい",
            Language::Japanese,
        );
        let parts = vec![
            "駅の近くに新しい喫茶店ができたので".to_string(),
            "週末に行きたい".to_string(),
        ];
        let cuts = map_back(&l.text, &starts(&l), &parts).expect("same text");
        let texts: Vec<String> = l.cut_at(&cuts).into_iter().map(|p| p.text).collect();
        assert_eq!(
            texts,
            vec!["駅の近くに新しい喫茶店ができたので", "週末に行きたい"]
        );
    }
}
