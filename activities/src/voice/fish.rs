//! Fish Audio, hosted (`api.fish.audio`, `model` header) or a self-hosted fish-speech server:
//! `POST {base}/v1/tts` with JSON, WAV back; voice models made from a recording (`POST /model`,
//! `DELETE /model/{id}`).

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

/// Creates a private voice model from `wav` (trained in `fast` mode: usable at once); returns
/// its id, the `reference_id` of synthesis.
pub(crate) async fn clone_voice(
    client: &reqwest::Client,
    provider: &HttpProvider,
    title: &str,
    wav: &[u8],
) -> Result<String, ActivityError> {
    let url = http::url(provider, "Fish Audio", "model")?;
    let body = http::send(
        "Fish Audio",
        || {
            let form = reqwest::multipart::Form::new()
                .text("type", "tts")
                .text("title", title.to_string())
                .text("train_mode", "fast")
                .part("voices", http::wav_part(wav, "reference.wav"))
                // The API's default is public, which needs a cover image: never.
                .text("visibility", "private")
                .text("enhance_audio_quality", "true");
            http::authorize(
                client.post(url.clone()).multipart(form),
                provider,
                Auth::Bearer,
            )
        },
        classify_refusal,
    )
    .await?;
    let model: Value = serde_json::from_slice(&body).unwrap_or_default();
    if model["state"] == "failed" {
        return Err(crate::error::fatal("Fish Audio: training the voice failed"));
    }
    model["_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| crate::error::transient("Fish Audio: no _id in the answer"))
}

/// Deletes a voice model; one that is not there any more counts as deleted.
pub(crate) async fn delete_voice(
    client: &reqwest::Client,
    provider: &HttpProvider,
    id: &str,
) -> Result<(), ActivityError> {
    let url = http::url(provider, "Fish Audio", &format!("model/{id}"))?;
    http::send_or_gone(
        "Fish Audio",
        || http::authorize(client.delete(url.clone()), provider, Auth::Bearer),
        classify,
        |status, _| status == StatusCode::NOT_FOUND,
    )
    .await?;
    Ok(())
}

/// [`classify`] with the status alone in the message: a refusal to clone is reported to the
/// user as it is, and Fish's messages may say more than they should read.
fn classify_refusal(status: StatusCode, body: &[u8]) -> Refusal {
    Refusal {
        message: status.as_u16().to_string(),
        ..classify(status, body)
    }
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
