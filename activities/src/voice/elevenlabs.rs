//! ElevenLabs: speech (`POST {base}/v1/text-to-speech/{voice_id}?output_format=pcm_24000`) and
//! instant voice cloning (`POST /v1/voices/add`, `DELETE /v1/voices/{voice_id}`).

use super::http::{self, Auth, Refusal, check_pcm, pcm_to_wav};
use onevoice_shared::language::Language;
use onevoice_shared::settings::HttpProvider;
use reqwest::StatusCode;
use serde_json::{Value, json};
use temporalio_sdk::activities::ActivityError;

const RATE: u32 = 24_000;

pub(crate) async fn speak(
    client: &reqwest::Client,
    provider: &HttpProvider,
    voice_id: &str,
    language: Language,
    text: &str,
) -> Result<Vec<u8>, ActivityError> {
    let url = http::url(
        provider,
        "ElevenLabs",
        &format!("v1/text-to-speech/{voice_id}"),
    )?;
    let body =
        json!({ "text": text, "model_id": provider.model, "language_code": language.code() });
    let pcm = http::send(
        "ElevenLabs",
        || {
            let req = client
                .post(url.clone())
                .query(&[("output_format", "pcm_24000")])
                .json(&body);
            http::authorize(req, provider, Auth::XiApiKey)
        },
        classify,
    )
    .await?;
    check_pcm("ElevenLabs", &pcm)?;
    Ok(pcm_to_wav(&pcm, RATE))
}

/// Creates a voice from `wav` (instant voice cloning); returns its id.
pub(crate) async fn clone_voice(
    client: &reqwest::Client,
    provider: &HttpProvider,
    name: &str,
    wav: &[u8],
    labels: &Value,
) -> Result<String, ActivityError> {
    let url = http::url(provider, "ElevenLabs", "v1/voices/add")?;
    let body = http::send(
        "ElevenLabs",
        || {
            let form = reqwest::multipart::Form::new()
                .text("name", name.to_string())
                .part("files", http::wav_part(wav, "reference.wav"))
                .text("remove_background_noise", "false")
                .text("labels", labels.to_string());
            http::authorize(
                client.post(url.clone()).multipart(form),
                provider,
                Auth::XiApiKey,
            )
        },
        classify_refusal,
    )
    .await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    if answer["requires_verification"] == true {
        return Err(crate::error::fatal(
            "ElevenLabs: the cloned voice requires verification",
        ));
    }
    answer["voice_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| crate::error::transient("ElevenLabs: no voice_id in the answer"))
}

/// Deletes a voice; one that is not there any more counts as deleted.
pub(crate) async fn delete_voice(
    client: &reqwest::Client,
    provider: &HttpProvider,
    voice_id: &str,
) -> Result<(), ActivityError> {
    let url = http::url(provider, "ElevenLabs", &format!("v1/voices/{voice_id}"))?;
    http::send_or_gone(
        "ElevenLabs",
        || http::authorize(client.delete(url.clone()), provider, Auth::XiApiKey),
        classify,
        |status, body| {
            status == StatusCode::NOT_FOUND
                || (status.is_client_error()
                    && String::from_utf8_lossy(body).contains("voice_not_found"))
        },
    )
    .await?;
    Ok(())
}

/// [`classify`], with only the status and the provider's code in the message: a refusal to
/// clone is reported to the user as it is.
fn classify_refusal(status: StatusCode, body: &[u8]) -> Refusal {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["detail"]["status"].as_str().map(str::to_string))
        .unwrap_or_default();
    Refusal {
        message: format!("{} {code}", status.as_u16()).trim().to_string(),
        ..classify(status, body)
    }
}

/// `{"detail": {"status", "message"}}`, or FastAPI's validation list on 422. Of the 429s,
/// `too_many_concurrent_requests` and `system_busy` pass with time.
fn classify(status: StatusCode, body: &[u8]) -> Refusal {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .map(|v| v["detail"].clone())
        .unwrap_or_default();
    let code = detail["status"].as_str().unwrap_or("").to_string();
    let message = match &detail {
        Value::Object(_) => detail["message"].as_str().unwrap_or("").to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i["msg"].as_str())
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    let never = matches!(
        code.as_str(),
        "quota_exceeded" | "invalid_api_key" | "voice_not_found" | "max_character_limit_exceeded"
    );
    Refusal {
        retryable: http::transient_status(status) && !never,
        message: format!("{} {code} {message}", status.as_u16())
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_passes_quota_and_validation_do_not() {
        let detail =
            |status: &str| format!(r#"{{"detail":{{"status":"{status}","message":"m"}}}}"#);
        assert!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                detail("system_busy").as_bytes()
            )
            .retryable
        );
        assert!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                detail("too_many_concurrent_requests").as_bytes()
            )
            .retryable
        );
        assert!(
            !classify(
                StatusCode::UNAUTHORIZED,
                detail("quota_exceeded").as_bytes()
            )
            .retryable
        );
        let invalid = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"missing"}]}"#,
        );
        assert!(!invalid.retryable && invalid.message.contains("field required"));
    }
}
