//! The seed's align step: when a sentence was split for display, the LLM splits its translation
//! to match the source pieces in meaning (word order differs between languages, so a split at
//! the same share of the length can fall mid-phrase). Its parts are kept only when they are the
//! translation's own words in as many pieces; otherwise the split by length stands.

use super::llm::{Ask, Llm, LlmError, array_of, object, string};
use super::subtitles::{self, Pair};
use futures::{StreamExt, TryStreamExt};
use onevoice_shared::language::Language;
use serde::Deserialize;
use serde_json::json;
use temporalio_sdk::activities::ActivityError;

#[derive(Deserialize)]
struct Parts {
    parts: Vec<String>,
}

/// Realigns the translation of every group of more than one piece; returns how many changed.
pub async fn align(
    llm: &Llm,
    groups: &mut [Vec<Pair>],
    translations: &[String],
    from: Language,
    to: Language,
    concurrency: usize,
) -> Result<usize, ActivityError> {
    let split: Vec<usize> = (0..groups.len()).filter(|i| groups[*i].len() > 1).collect();
    let asks: Vec<(usize, Vec<String>)> = split
        .iter()
        .map(|&i| (i, groups[i].iter().map(|p| p.source.text.clone()).collect()))
        .collect();
    let answers: Vec<(usize, Option<Vec<String>>)> =
        futures::stream::iter(asks)
            .map(|(i, sources)| {
                let translation = &translations[i];
                async move {
                    Ok::<_, ActivityError>((i, ask(llm, &sources, translation, from, to).await?))
                }
            })
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
    let mut changed = 0;
    for (i, parts) in answers {
        if let Some(parts) = parts
            && subtitles::realign(&mut groups[i], &translations[i], &parts, to)
        {
            changed += 1;
        }
    }
    Ok(changed)
}

async fn ask(
    llm: &Llm,
    sources: &[String],
    translation: &str,
    from: Language,
    to: Language,
) -> Result<Option<Vec<String>>, ActivityError> {
    let ask = Ask {
        name: "subtitle_align",
        instructions: format!(
            "You are a Netflix subtitle expert. A {} subtitle was split into {} parts for \
             display. Split its {} translation into exactly as many parts, each matching its \
             source part in meaning, in order. Joined in order, your parts must be the \
             translation exactly: do not add, remove or reword anything. Answer with JSON only.",
            from.english_name(),
            sources.len(),
            to.english_name()
        ),
        input: json!({"source_parts": sources, "translation": translation}),
        schema: object(json!({"parts": array_of(string())})),
        max_tokens: 2000,
    };
    match llm.ask::<Parts>(&ask).await {
        Ok(p) => Ok(Some(p.parts)),
        Err(LlmError::Failed(e)) => Err(e),
        Err(why) => {
            tracing::warn!(reason = ?why, "no subtitle alignment; keeping the split by length");
            Ok(None)
        }
    }
}
