//! Clients of the local speech services that `scripts/stack.sh` starts (`LOCAL_TTS_BASE_URL`,
//! `LOCAL_ASR_BASE_URL`), for tests and benchmarks that speak or listen directly.

use anyhow::{Context, bail};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

fn base(var: &str) -> anyhow::Result<String> {
    let url =
        std::env::var(var).with_context(|| format!("{var} is not set (scripts/stack.sh env)"))?;
    Ok(url.trim_end_matches('/').to_string())
}

/// `text` spoken by a local `voice` in `language`, as a 24 kHz WAV file.
pub async fn synthesize(text: &str, voice: &str, language: &str) -> anyhow::Result<Vec<u8>> {
    synthesize_at(&base("LOCAL_TTS_BASE_URL")?, text, voice, language).await
}

/// Like [`synthesize`], by the service at `base_url`.
pub async fn synthesize_at(
    base_url: &str,
    text: &str,
    voice: &str,
    language: &str,
) -> anyhow::Result<Vec<u8>> {
    let url = format!("{}/audio/speech", base_url.trim_end_matches('/'));
    let body = json!({"model": "local", "input": text, "voice": voice, "lang_code": language,
        "response_format": "wav"});
    let answer = reqwest::Client::new().post(&url).json(&body).send().await?;
    let status = answer.status();
    let bytes = answer.bytes().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(bytes.to_vec())
}

/// The local recognizer's `verbose_json` answer for `audio` (`language` ISO 639-1, or detection).
pub async fn transcribe(audio: Vec<u8>, language: Option<&str>) -> anyhow::Result<Value> {
    let url = format!("{}/audio/transcriptions", base("LOCAL_ASR_BASE_URL")?);
    let mut form = Form::new()
        .part(
            "file",
            Part::bytes(audio)
                .file_name("audio.wav")
                .mime_str("audio/wav")?,
        )
        .text("model", "whisper-base")
        .text("response_format", "verbose_json")
        .text("timestamp_granularities[]", "word");
    if let Some(language) = language {
        form = form.text("language", language.to_string());
    }
    let answer = reqwest::Client::new()
        .post(&url)
        .multipart(form)
        .send()
        .await?;
    let status = answer.status();
    let doc: Value = answer.json().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {doc}");
    }
    Ok(doc)
}
