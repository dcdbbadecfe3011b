//! ElevenLabs (`POST {base}/v1/text-to-speech/{voice_id}?output_format=pcm_24000`).

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
