//! OpenAI speech (`POST {base}/audio/speech`), also any OpenAI-compatible server (the local
//! speech service among them): raw 24 kHz 16-bit PCM, wrapped in WAV here.

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
    voice: &str,
    text: &str,
    language: Option<Language>,
) -> Result<Vec<u8>, ActivityError> {
    let url = http::url(provider, "OpenAI", "audio/speech")?;
    let mut body =
        json!({ "model": provider.model, "input": text, "voice": voice, "response_format": "pcm" });
    // OpenAI's voices hear the language in the text; a voice that speaks several languages
    // through different phonemizers (the local Kokoro voices) is told (`lang_code`, as Kokoro's
    // servers name it).
    if let Some(language) = language {
        body["lang_code"] = language.code().into();
    }
    let name = if language.is_some() {
        "local speech synthesis"
    } else {
        "OpenAI speech"
    };
    let pcm = http::send(
        name,
        || http::authorize(client.post(url.clone()).json(&body), provider, Auth::Bearer),
        classify,
    )
    .await?;
    check_pcm(name, &pcm)?;
    Ok(pcm_to_wav(&pcm, RATE))
}

/// `{"error": {"message", "type", "code"}}`; `insufficient_quota` is a 429 that waiting does not
/// fix.
pub(crate) fn classify(status: StatusCode, body: &[u8]) -> Refusal {
    let error = serde_json::from_slice::<Value>(body).ok();
    let field = |k: &str| {
        error
            .as_ref()
            .and_then(|e| e["error"][k].as_str())
            .unwrap_or("")
            .to_string()
    };
    let (message, code, kind) = (field("message"), field("code"), field("type"));
    let quota = code == "insufficient_quota" || kind == "insufficient_quota";
    Refusal {
        retryable: http::transient_status(status) && !quota,
        message: format!(
            "{} {}",
            status.as_u16(),
            if message.is_empty() {
                "error".into()
            } else {
                message
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_final_while_rate_limits_and_server_errors_pass() {
        let body = |code: &str| {
            format!(r#"{{"error":{{"message":"m","type":"{code}","param":null,"code":"{code}"}}}}"#)
        };
        assert!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                body("rate_limit_exceeded").as_bytes()
            )
            .retryable
        );
        assert!(
            !classify(
                StatusCode::TOO_MANY_REQUESTS,
                body("insufficient_quota").as_bytes()
            )
            .retryable
        );
        assert!(classify(StatusCode::BAD_GATEWAY, b"not json").retryable);
        let refused = classify(StatusCode::UNAUTHORIZED, body("invalid_api_key").as_bytes());
        assert!(!refused.retryable && refused.message.starts_with("401"));
    }
}
