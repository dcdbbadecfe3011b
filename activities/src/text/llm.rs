//! An OpenAI-compatible chat-completions client for the text stages: one JSON-schema request per
//! question (Structured Outputs, `strict`), answers cached per job in S3 so a retried activity
//! never pays twice, and every way an answer can go wrong told apart: HTTP failures (classified
//! as for the speech providers), refusals, truncation (`finish_reason: length`), content
//! filtering and malformed JSON.

use crate::error;
use crate::voice::http::{self, Auth};
use onevoice_shared::settings::HttpProvider;
use onevoice_shared::storage::Storage;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use temporalio_sdk::activities::ActivityError;
use tokio::sync::Semaphore;

const NAME: &str = "LLM";

/// Why a question got no usable answer.
#[derive(Debug)]
pub enum LlmError {
    /// The model declined (`refusal`, or `finish_reason: content_filter`).
    Refused(String),
    /// The answer hit the token limit and is cut off.
    Truncated,
    /// Not JSON of the asked shape, even after asking again.
    Malformed(String),
    /// The request itself failed (already classified for Temporal).
    Failed(ActivityError),
}

impl LlmError {
    /// As a Temporal error: a refusal is final, anything else may pass on retry.
    pub fn into_activity(self, what: &str) -> ActivityError {
        match self {
            LlmError::Refused(reason) => {
                // The model's own words stay in the log; the user learns which stage refused.
                tracing::warn!(stage = what, %reason, "the language model refused");
                error::invalid_input(format!(
                    "the language model refused the transcript while {what}"
                ))
            }
            LlmError::Truncated => error::transient(format!("{what}: the answer was cut off")),
            LlmError::Malformed(e) => error::transient(format!("{what}: malformed answer: {e}")),
            LlmError::Failed(e) => e,
        }
    }
}

/// One question: instructions, the material as JSON, and the JSON schema of the answer.
pub struct Ask<'a> {
    /// Schema name (`[a-zA-Z0-9_-]`): also what the answer is about, in logs.
    pub name: &'a str,
    pub instructions: String,
    pub input: Value,
    pub schema: Value,
    pub max_tokens: u32,
}

/// Malformed answers are asked again this many times.
const MALFORMED_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    provider: HttpProvider,
    limit: Arc<Semaphore>,
    storage: Storage,
    /// Where answers are cached (`jobs/{id}/llm/`).
    cache_prefix: String,
}

impl Llm {
    pub fn new(
        http: reqwest::Client,
        provider: HttpProvider,
        limit: Arc<Semaphore>,
        storage: Storage,
        cache_prefix: String,
    ) -> Self {
        Self {
            http,
            provider,
            limit,
            storage,
            cache_prefix,
        }
    }

    /// Asks and parses the answer as `T`.
    pub async fn ask<T: DeserializeOwned>(&self, ask: &Ask<'_>) -> Result<T, LlmError> {
        let mut last = String::new();
        for attempt in 0..MALFORMED_ATTEMPTS {
            let body = self.body(ask, attempt);
            let key = format!(
                "{}{:x}.json",
                self.cache_prefix,
                Sha256::digest(body.to_string().as_bytes())
            );
            let content = match self.storage.get_json::<String>(&key).await {
                Ok(cached) => cached,
                Err(_) => self.complete(&body).await?,
            };
            match serde_json::from_str::<T>(unfenced(&content)) {
                Ok(answer) => {
                    // Only answers that parsed are kept, so a retry asks again.
                    if let Err(e) = self.storage.put_json(&key, &content).await {
                        tracing::warn!(error = %e, "caching an LLM answer failed");
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    tracing::warn!(question = ask.name, attempt, error = %e, "malformed LLM answer");
                    last = e.to_string();
                }
            }
        }
        Err(LlmError::Malformed(last))
    }

    /// The request; a repeated question says so, which also changes its cache key.
    fn body(&self, ask: &Ask<'_>, attempt: usize) -> Value {
        let mut instructions = ask.instructions.clone();
        if attempt > 0 {
            instructions.push_str(
                "\nYour previous answer was not valid JSON of the required schema. \
                 Answer again with JSON only.",
            );
        }
        let mut body = json!({
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": ask.input.to_string()},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": ask.name, "strict": true, "schema": ask.schema},
            },
            "max_completion_tokens": ask.max_tokens,
        });
        if !self.provider.model.is_empty() {
            body["model"] = json!(self.provider.model);
        }
        body
    }

    /// One chat completion: the message content, or why there is none.
    async fn complete(&self, body: &Value) -> Result<String, LlmError> {
        let url = http::url(&self.provider, NAME, "chat/completions").map_err(LlmError::Failed)?;
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| LlmError::Failed(error::transient("the worker is shutting down")))?;
        let raw = http::send(
            NAME,
            || {
                http::authorize(
                    self.http.post(url.clone()).json(body),
                    &self.provider,
                    Auth::Bearer,
                )
            },
            crate::voice::openai::classify,
        )
        .await
        .map_err(LlmError::Failed)?;
        let doc: Value = serde_json::from_slice(&raw)
            .map_err(|e| LlmError::Malformed(format!("not a chat completion: {e}")))?;
        let choice = &doc["choices"][0];
        if let Some(refusal) = choice["message"]["refusal"].as_str() {
            return Err(LlmError::Refused(refusal.to_string()));
        }
        match choice["finish_reason"].as_str() {
            Some("length") => return Err(LlmError::Truncated),
            Some("content_filter") => {
                return Err(LlmError::Refused("blocked by the content filter".into()));
            }
            _ => {}
        }
        choice["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| LlmError::Malformed("no message content".into()))
    }
}

/// The JSON inside a Markdown code fence, which servers that do not enforce the schema
/// (Ollama Cloud, older vLLM) sometimes wrap it in.
fn unfenced(content: &str) -> &str {
    let t = content.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// A strict JSON-schema object: every property required, nothing else allowed.
pub fn object(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

pub fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

pub fn string() -> Value {
    json!({"type": "string"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_json_is_read_and_bare_json_untouched() {
        assert_eq!(unfenced("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(unfenced("```\n[1]\n```\n"), "[1]");
        assert_eq!(unfenced("  {\"b\": \"```\"}  "), "{\"b\": \"```\"}");
    }

    #[test]
    fn schemas_are_strict() {
        let schema = object(json!({"parts": array_of(string()), "theme": string()}));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["parts", "theme"]));
    }
}
