//! Offline translation with Apertium, for the language pairs installed on the worker. Glossary
//! terms pass through as superblanks and unknown-word markers are removed.

use crate::{error, process};
use futures::{StreamExt, TryStreamExt};
use onevoice_shared::contracts::GlossaryTerm;
use onevoice_shared::language::Language;
use onevoice_shared::srt::Cue;
use std::path::Path;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;

/// Apertium processes run at once per activity; each is single-threaded.
const TRANSLATE_CONCURRENCY: usize = 4;

/// Every cue translated from `from` to `to`, timing kept.
pub async fn translate(
    ctx: &ActivityContext,
    bin: &Path,
    from: Language,
    to: Language,
    cues: Vec<Cue>,
    glossary: &[GlossaryTerm],
) -> Result<Vec<Cue>, ActivityError> {
    let mode = apertium_mode(ctx, bin, from, to).await?;
    translate_all(ctx, bin, &mode, cues, glossary).await
}

/// Finds the installed Apertium mode for a pair: Debian ships both ISO 639-3 (`eng-spa`) and
/// older ISO 639-1 (`en-es`) names depending on the package.
async fn apertium_mode(
    ctx: &ActivityContext,
    bin: &Path,
    from: Language,
    to: Language,
) -> Result<String, ActivityError> {
    let mut cmd = Command::new(bin);
    cmd.arg("-l");
    let out = process::run(ctx, cmd, None, error::transient).await?;
    let installed = String::from_utf8_lossy(&out.stdout).into_owned();
    let candidates = [
        format!("{}-{}", from.iso639_3(), to.iso639_3()),
        format!("{}-{}", from.code(), to.code()),
    ];
    candidates
        .into_iter()
        .find(|c| installed.lines().any(|l| l.trim() == c))
        .ok_or_else(|| {
            error::invalid_input(format!(
                "no offline translation from {from} to {to}: Apertium has no such pair installed"
            ))
        })
}

/// Separates lines in one Apertium run; a superblank (`[…]`) passes through untranslated.
const LINE_SEPARATOR: &str = "[OVGSEP]";

/// Translates every cue in a single Apertium run (one process start instead of one per line,
/// about 200x faster for long transcripts). Should the line count not survive the round trip,
/// the lines are translated one by one instead.
async fn translate_all(
    ctx: &ActivityContext,
    bin: &Path,
    mode: &str,
    cues: Vec<Cue>,
    glossary: &[GlossaryTerm],
) -> Result<Vec<Cue>, ActivityError> {
    let protected: Vec<(String, Vec<String>)> = cues
        .iter()
        .map(|c| protect_terms(&c.text, glossary))
        .collect();
    let joined = protected
        .iter()
        .map(|(text, _)| text.replace('\n', " "))
        .collect::<Vec<_>>()
        .join(&format!("\n{LINE_SEPARATOR}\n"));
    let mut cmd = Command::new(bin);
    cmd.args(["-u", mode]);
    let out = process::run(ctx, cmd, Some(joined.into_bytes()), error::transient).await?;
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let pieces: Vec<&str> = raw.split(LINE_SEPARATOR).collect();
    let translated: Vec<String> = if pieces.len() == cues.len() {
        pieces.iter().map(|p| clean_apertium_output(p)).collect()
    } else {
        tracing::warn!(
            expected = cues.len(),
            got = pieces.len(),
            "line count changed; translating line by line"
        );
        let texts: Vec<String> = protected.iter().map(|(text, _)| text.clone()).collect();
        futures::stream::iter(texts)
            .map(|text: String| async move { apertium(ctx, bin, mode, &text).await })
            .buffered(TRANSLATE_CONCURRENCY)
            .try_collect()
            .await?
    };
    cues.into_iter()
        .zip(translated)
        .zip(protected)
        .map(|((cue, text), (_, terms))| {
            let text = restore_terms(&text, &terms);
            if text.trim().is_empty() {
                return Err(error::invalid_input(format!(
                    "line `{}` translated to nothing",
                    cue.text
                )));
            }
            Ok(Cue { text, ..cue })
        })
        .collect()
}

/// Translates one line. `-u` drops Apertium's unknown-word markers (`*word`), so untranslatable
/// names pass through as they are.
async fn apertium(
    ctx: &ActivityContext,
    bin: &Path,
    mode: &str,
    text: &str,
) -> Result<String, ActivityError> {
    let mut cmd = Command::new(bin);
    cmd.args(["-u", mode]);
    // Lines are translated as one paragraph: Apertium treats a newline as a sentence break.
    let input = text.replace('\n', " ");
    let out = process::run(ctx, cmd, Some(input.into_bytes()), error::transient).await?;
    Ok(clean_apertium_output(&String::from_utf8_lossy(&out.stdout)))
}

/// Removes leftover analysis marks (`#` untranslatable, `@` unknown in transfer) and the space
/// Apertium leaves before punctuation.
fn clean_apertium_output(raw: &str) -> String {
    let mut s: String = raw.trim().replace(['#', '@'], "");
    for p in [" .", " ,", " !", " ?", " ;", " :"] {
        s = s.replace(p, &p[1..]);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replaces glossary terms found in `text` (whole words, any case) with placeholders Apertium
/// passes through untouched (`[…]` is a "superblank" to it); returns the text and the targets.
fn protect_terms(text: &str, glossary: &[GlossaryTerm]) -> (String, Vec<String>) {
    let mut out = text.to_string();
    let mut targets = Vec::new();
    // Longest terms first, so "New York City" wins over "New York".
    let mut terms: Vec<&GlossaryTerm> = glossary
        .iter()
        .filter(|t| !t.source.trim().is_empty())
        .collect();
    terms.sort_by_key(|t| std::cmp::Reverse(t.source.chars().count()));
    for term in terms {
        let lower = out.to_lowercase();
        let needle = term.source.trim().to_lowercase();
        let mut pieces = String::new();
        let mut last = 0;
        let mut found = false;
        let mut from = 0;
        while let Some(pos) = lower[from..].find(&needle).map(|p| p + from) {
            let end = pos + needle.len();
            let before_ok = lower[..pos]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric());
            let after_ok = lower[end..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            if before_ok && after_ok && out.is_char_boundary(pos) && out.is_char_boundary(end) {
                pieces.push_str(&out[last..pos]);
                pieces.push_str(&format!("[OVG{}]", targets.len()));
                last = end;
                found = true;
            }
            from = end;
        }
        if found {
            pieces.push_str(&out[last..]);
            out = pieces;
            targets.push(term.target.clone());
        }
    }
    (out, targets)
}

fn restore_terms(text: &str, targets: &[String]) -> String {
    let mut out = text.to_string();
    for (n, target) in targets.iter().enumerate() {
        out = out.replace(&format!("[OVG{n}]"), target);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glossary_terms_are_protected_and_restored() {
        let glossary = vec![
            GlossaryTerm {
                source: "OneVoice".into(),
                target: "OneVoice".into(),
            },
            GlossaryTerm {
                source: "dub".into(),
                target: "doblaje".into(),
            },
        ];
        let (p, t) = protect_terms(
            "Welcome to onevoice, the dub service (not dubbing).",
            &glossary,
        );
        assert_eq!(p, "Welcome to [OVG0], the [OVG1] service (not dubbing).");
        assert_eq!(
            restore_terms("Bienvenido a [OVG0], el servicio [OVG1]", &t),
            "Bienvenido a OneVoice, el servicio doblaje"
        );
    }

    #[test]
    fn cleans_apertium_marks() {
        assert_eq!(
            clean_apertium_output("Hola Mundo, esto es una prueba .\n"),
            "Hola Mundo, esto es una prueba."
        );
        assert_eq!(clean_apertium_output("#ir  @xyz ?"), "ir xyz?");
    }
}
