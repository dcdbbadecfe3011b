//! The fake OpenAI chat completions (`POST /v1/chat/completions`, provider-contracts.md §1.2):
//! answers the pipeline's JSON-schema questions by their schema name, from the JSON material in
//! the user message, and can answer the ways the real API goes wrong with a 200: a refusal,
//! `finish_reason: length`, malformed content, a translation missing a line, or late.
//!
//! The fake translates into `"{Target}: {line}"` (glossary terms replaced by their targets;
//! Korean, Japanese and Chinese named in their own script), so a test can tell a translated line
//! and where its terms came from.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A 200 answer that is not a usable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFault {
    Refusal,
    Truncated,
    Malformed,
    /// A translation with one line too few.
    MissingLine,
    /// A whole answer, this late.
    Slow(std::time::Duration),
}

/// The schema name a request asks for (`response_format.json_schema.name`).
pub fn schema_name(request: &Value) -> String {
    request["response_format"]["json_schema"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The answer to one chat-completions request.
pub fn complete(request: &Value, fault: Option<ChatFault>) -> Response {
    let strict = request["response_format"]["type"] == "json_schema"
        && request["response_format"]["json_schema"]["strict"] == true;
    let input: Option<Value> = request["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .and_then(|c| serde_json::from_str(c).ok());
    let (Some(input), true) = (input, strict) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "expected a strict json_schema request with JSON input", "type": "invalid_request_error", "param": "response_format", "code": null}})),
        )
            .into_response();
    };
    let name = schema_name(request);
    let mut answer = match name.as_str() {
        "sentence_split" => split(&input),
        "terminology" => terminology(&input),
        "translation" => translation(&input),
        "expressive_translation" => expressive(&input),
        "shorten" => shorten(&input),
        "subtitle_align" => align(&input),
        _ => json!({}),
    };
    let (content, refusal, finish) = match fault {
        None | Some(ChatFault::Slow(_)) => (Some(answer.to_string()), None, "stop"),
        Some(ChatFault::Refusal) => (None, Some("I'm sorry, I can't help with that."), "stop"),
        Some(ChatFault::Truncated) => {
            let full = answer.to_string();
            (Some(full[..full.len() / 2].to_string()), None, "length")
        }
        Some(ChatFault::Malformed) => (
            Some("Here is your JSON: {\"lines\": [".into()),
            None,
            "stop",
        ),
        Some(ChatFault::MissingLine) => {
            if let Some(lines) = answer["lines"].as_array_mut() {
                lines.pop();
            }
            (Some(answer.to_string()), None, "stop")
        }
    };
    axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_760_000_000,
        "model": request["model"].as_str().unwrap_or("gpt-4o-mini"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal},
            "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }))
    .into_response()
}

/// `{parts, text}` → the words dealt into `parts` balanced parts.
fn split(input: &Value) -> Value {
    let text = input["text"].as_str().unwrap_or("");
    let n = input["parts"].as_u64().unwrap_or(2).max(1) as usize;
    let words: Vec<&str> = text.split_whitespace().collect();
    let per = words.len().div_ceil(n).max(1);
    let parts: Vec<String> = words.chunks(per).map(|c| c.join(" ")).collect();
    json!({"parts": parts})
}

/// A theme, and every capitalized word of four letters or more not among the known terms.
fn terminology(input: &Value) -> Value {
    let known: Vec<String> = input["known_terms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_lowercase))
        .collect();
    let mut terms: Vec<Value> = Vec::new();
    for word in input["transcript"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
    {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let capital = word.chars().next().is_some_and(char::is_uppercase);
        let seen = terms.iter().any(|t| t["source"] == word);
        if capital && word.chars().count() >= 4 && !known.contains(&word.to_lowercase()) && !seen {
            terms.push(json!({"source": word, "target": word.to_uppercase(), "note": "a name"}));
        }
    }
    json!({"theme": "A short test video. It is friendly.", "terms": terms})
}

fn translated(line: &str, input: &Value) -> String {
    let mut out = line.to_string();
    for term in input["glossary"].as_array().into_iter().flatten() {
        if let (Some(s), Some(t)) = (term["source"].as_str(), term["target"].as_str()) {
            out = out.replace(s, t);
        }
    }
    // Languages in their own script name themselves so: Hangul and Han reach the subtitles.
    let target = match input["target_language"].as_str().unwrap_or("Target") {
        "Korean" => "한국어",
        "Japanese" => "日本語",
        "Chinese" => "中文",
        other => other,
    };
    format!("{target}: {out}")
}

fn translation(input: &Value) -> Value {
    let lines: Vec<Value> = input["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| json!({"id": l["id"], "translation": translated(l["text"].as_str().unwrap_or(""), input)}))
        .collect();
    json!({"lines": lines})
}

fn expressive(input: &Value) -> Value {
    let lines: Vec<Value> = input["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| json!({"id": l["id"], "critique": "fluent", "free": l["direct"]}))
        .collect();
    json!({"lines": lines})
}

/// The first half of the words.
fn shorten(input: &Value) -> Value {
    let words: Vec<&str> = input["text"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let keep = words.len().div_ceil(2);
    json!({"analysis": "dropped the second half", "result": words[..keep].join(" ")})
}

/// The translation's words dealt out in proportion to the source parts' words.
fn align(input: &Value) -> Value {
    let sources: Vec<usize> = input["source_parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().unwrap_or("").split_whitespace().count().max(1))
        .collect();
    let words: Vec<&str> = input["translation"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let total: usize = sources.iter().sum::<usize>().max(1);
    let mut parts = Vec::new();
    let mut taken = 0;
    let mut seen = 0;
    for (i, n) in sources.iter().enumerate() {
        seen += n;
        let until = if i + 1 == sources.len() {
            words.len()
        } else {
            (words.len() * seen / total).clamp(taken, words.len())
        };
        parts.push(words[taken..until].join(" "));
        taken = until;
    }
    json!({"parts": parts})
}
