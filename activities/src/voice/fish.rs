//! Fish Audio, hosted (`api.fish.audio`, `model` header) or a self-hosted fish-speech server:
//! `POST {base}/v1/tts` with JSON, WAV back.

use super::http::{self, Auth, Refusal};
use onevoice_shared::settings::HttpProvider;
use reqwest::StatusCode;
use serde_json::{Value, json};
use temporalio_sdk::activities::ActivityError;

pub(crate) async fn speak(
    client: &reqwest::Client,
    provider: &HttpProvider,
    reference_id: &str,
    text: &str,
) -> Result<Vec<u8>, ActivityError> {
    let url = http::url(provider, "Fish Audio", "v1/tts")?;
    let body = json!({
        "text": text, "reference_id": reference_id, "format": "wav", "sample_rate": 24000,
        "latency": "normal", "normalize": true,
    });
    let wav = http::send(
        "Fish Audio",
        || {
            let mut req = client.post(url.clone()).json(&body);
            if !provider.model.is_empty() {
                req = req.header("model", &provider.model);
            }
            http::authorize(req, provider, Auth::Bearer)
        },
        classify,
    )
    .await?;
    if wav.len() < 44 || &wav[0..4] != b"RIFF" {
        return Err(crate::error::transient(format!(
            "Fish Audio: returned {} bytes that are not WAV",
            wav.len()
        )));
    }
    Ok(wav)
}

/// `{"status", "message"}`; 402 means out of credit (not retryable).
fn classify(status: StatusCode, body: &[u8]) -> Refusal {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    Refusal {
        retryable: http::transient_status(status),
        message: format!("{} {message}", status.as_u16()).trim().to_string(),
    }
}
