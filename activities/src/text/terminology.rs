//! The content's theme and glossary, read by every translation chunk: the user's own terms as
//! given, then up to fifteen more the LLM finds in the first part of the transcript.

use super::llm::{Ask, Llm, LlmError, array_of, object, string};
use onevoice_shared::contracts::GlossaryTerm;
use onevoice_shared::language::Language;
use serde::{Deserialize, Serialize};
use serde_json::json;
use temporalio_sdk::activities::ActivityError;

/// Terms the LLM may add to the user's.
const MAX_FOUND_TERMS: usize = 15;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Terminology {
    /// Two sentences on what the content is about; empty without an LLM.
    pub theme: String,
    pub terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub source: String,
    pub target: String,
    /// What the term means here (helps the translator); empty for the user's terms.
    #[serde(default)]
    pub note: String,
}

impl Terminology {
    pub fn glossary(&self) -> Vec<GlossaryTerm> {
        self.terms
            .iter()
            .map(|t| GlossaryTerm {
                source: t.source.clone(),
                target: t.target.clone(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct Found {
    theme: String,
    terms: Vec<Term>,
}

/// The terminology of `text` (already cut to the summary length), merged with `custom`.
pub async fn build(
    llm: Option<&Llm>,
    text: &str,
    from: Language,
    to: Language,
    custom: &[GlossaryTerm],
) -> Result<Terminology, ActivityError> {
    let mut terminology = Terminology {
        theme: String::new(),
        terms: custom
            .iter()
            .filter(|t| !t.source.trim().is_empty())
            .map(|t| Term {
                source: t.source.trim().to_string(),
                target: t.target.trim().to_string(),
                note: String::new(),
            })
            .collect(),
    };
    let Some(llm) = llm else {
        return Ok(terminology);
    };
    let known: Vec<&str> = terminology
        .terms
        .iter()
        .map(|t| t.source.as_str())
        .collect();
    let ask = Ask {
        name: "terminology",
        instructions: format!(
            "You are a Netflix subtitle expert preparing the translation of a video from {} \
             into {}. Read the transcript and give: `theme`, two sentences on what it is about \
             and its tone; `terms`, at most {MAX_FOUND_TERMS} names, jargon or recurring terms \
             whose translation must stay consistent, each with `source` (exactly as in the \
             transcript), `target` (its translation) and `note` (what it means here). Leave out \
             the terms listed as known. Answer with JSON only.",
            from.english_name(),
            to.english_name()
        ),
        input: json!({"known_terms": known, "transcript": text}),
        schema: object(json!({
            "theme": string(),
            "terms": array_of(object(json!({
                "source": string(), "target": string(), "note": string(),
            }))),
        })),
        max_tokens: 4000,
    };
    let found: Found = match llm.ask(&ask).await {
        Ok(found) => found,
        Err(LlmError::Failed(e)) => return Err(e),
        // The translation works without it: the user's terms still apply.
        Err(other) => {
            tracing::warn!(reason = ?other, "no terminology from the LLM");
            return Ok(terminology);
        }
    };
    terminology.theme = found.theme.trim().to_string();
    let mut added = 0;
    for term in found.terms {
        let source = term.source.trim();
        let duplicate = terminology
            .terms
            .iter()
            .any(|t| t.source.eq_ignore_ascii_case(source));
        if source.is_empty() || term.target.trim().is_empty() || duplicate {
            continue;
        }
        terminology.terms.push(Term {
            source: source.to_string(),
            target: term.target.trim().to_string(),
            note: term.note.trim().to_string(),
        });
        added += 1;
        if added == MAX_FOUND_TERMS {
            break;
        }
    }
    Ok(terminology)
}
