//! What every HTTP speech provider shares: a request retried inside the attempt with backoff
//! that honours `Retry-After`, and the outcome classified for Temporal: rate limits, server
//! errors and timeouts are retryable; authentication, bad requests, exhausted quota and content
//! refusals are not (the job fails with the provider's reason). API keys never reach a log or an
//! error message.

use crate::error;
use onevoice_shared::retry::Retries;
use onevoice_shared::settings::HttpProvider;
use reqwest::Url;
use reqwest::{RequestBuilder, StatusCode};
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;

/// Four tries inside one activity attempt (Temporal retries the activity after that); a
/// `Retry-After` over 30 s is left to Temporal's retry instead of holding the attempt.
const RETRIES: Retries = Retries {
    attempts: 4,
    max_wait: Duration::from_secs(30),
};

/// How a provider expects its key.
#[derive(Clone, Copy)]
pub(crate) enum Auth {
    Bearer,
    /// ElevenLabs' `xi-api-key` header.
    XiApiKey,
}

/// The provider's URL for `path` (relative to its base URL).
pub(crate) fn url(provider: &HttpProvider, name: &str, path: &str) -> Result<Url, ActivityError> {
    provider
        .base_url
        .join(path)
        .map_err(|e| error::fatal(format!("{name} base URL: {e}")))
}

/// Adds the provider's key the way it expects it; a self-hosted server may have none.
pub(crate) fn authorize(
    req: RequestBuilder,
    provider: &HttpProvider,
    auth: Auth,
) -> RequestBuilder {
    if provider.api_key.is_empty() {
        return req;
    }
    match auth {
        Auth::Bearer => req.bearer_auth(provider.api_key.expose()),
        Auth::XiApiKey => req.header("xi-api-key", provider.api_key.expose()),
    }
}

/// How a provider's error answer is to be treated.
pub(crate) struct Refusal {
    pub retryable: bool,
    pub message: String,
}

/// Sends the request `make` builds until it succeeds, fails for good, or the attempts run out;
/// returns the body of the success. `classify` reads an error answer.
pub(crate) async fn send(
    provider: &str,
    make: impl Fn() -> RequestBuilder,
    classify: fn(StatusCode, &[u8]) -> Refusal,
) -> Result<Vec<u8>, ActivityError> {
    let body = send_or_gone(provider, make, classify, |_, _| false).await?;
    Ok(body.unwrap_or_default())
}

/// [`send`] of a request about something that may be gone already (deleting a voice): an error
/// answer `gone` recognises is `None`, not a failure.
pub(crate) async fn send_or_gone(
    provider: &str,
    make: impl Fn() -> RequestBuilder,
    classify: fn(StatusCode, &[u8]) -> Refusal,
    gone: fn(StatusCode, &[u8]) -> bool,
) -> Result<Option<Vec<u8>>, ActivityError> {
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let (refusal, retry_after) = match make().send().await {
            Ok(res) if res.status().is_success() => match res.bytes().await {
                Ok(body) => return Ok(Some(body.to_vec())),
                Err(e) => (
                    Refusal {
                        retryable: true,
                        message: format!("reading the audio failed: {}", without_url(&e)),
                    },
                    None,
                ),
            },
            Ok(res) => {
                let status = res.status();
                let retry_after = retry_after(res.headers());
                let body = res.bytes().await.unwrap_or_default();
                if gone(status, &body) {
                    return Ok(None);
                }
                (classify(status, &body), retry_after)
            }
            Err(e) => (
                Refusal {
                    retryable: true,
                    message: if e.is_timeout() {
                        "timed out".into()
                    } else {
                        format!("unreachable: {}", without_url(&e))
                    },
                },
                None,
            ),
        };
        let message = format!("{provider}: {}", refusal.message);
        if !refusal.retryable {
            // A refused key, an exhausted quota, a refused text: the provider's answer is for
            // operators (the user reads a plain sentence; see onevoice_shared::failure).
            tracing::error!(provider, reason = %refusal.message, "provider refused for good");
            return Err(error::fatal(message));
        }
        let Some(wait) = RETRIES.next_wait(attempt, retry_after, backoff) else {
            return Err(error::transient(message));
        };
        tracing::warn!(provider, attempt, wait_ms = wait.as_millis() as u64, reason = %refusal.message, "provider request failed; retrying");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
        attempt += 1;
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds (possibly fractional).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    if let Some(ms) = read("retry-after-ms") {
        return Some(Duration::from_secs_f64((ms / 1000.0).max(0.0)));
    }
    read("retry-after").map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// reqwest's error text without the URL (which may carry a query we do not want in logs).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// The retryable statuses every provider shares.
pub(crate) fn transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// A WAV file as a multipart part.
pub(crate) fn wav_part(wav: &[u8], filename: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(wav.to_vec())
        .file_name(filename.to_string())
        .mime_str("audio/wav")
        .expect("a valid MIME type")
}

/// Wraps 16-bit little-endian mono PCM in a WAV header.
pub(crate) fn pcm_to_wav(pcm: &[u8], rate: u32) -> Vec<u8> {
    let data = pcm.len() as u32;
    let mut wav = Vec::with_capacity(44 + pcm.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    wav.extend_from_slice(pcm);
    wav
}

/// A body that should be raw PCM: non-empty and whole samples, else the attempt is retried.
pub(crate) fn check_pcm(provider: &str, pcm: &[u8]) -> Result<(), ActivityError> {
    if pcm.len() < 2 || !pcm.len().is_multiple_of(2) {
        return Err(error::transient(format!(
            "{provider}: returned {} bytes, not 16-bit audio",
            pcm.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn retry_after_reads_milliseconds_first_then_fractional_seconds() {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis());
        assert_eq!(
            ms(retry_after(&headers(&[("retry-after", "2")]))),
            Some(2000)
        );
        assert_eq!(
            ms(retry_after(&headers(&[("retry-after", " 1.5 ")]))),
            Some(1500)
        );
        assert_eq!(
            ms(retry_after(&headers(&[
                ("retry-after", "20"),
                ("retry-after-ms", "250")
            ]))),
            Some(250)
        );
        assert_eq!(ms(retry_after(&headers(&[("retry-after", "-3")]))), Some(0));
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2026 07:28:00 GMT"
            )])),
            None
        );
        assert_eq!(retry_after(&headers(&[])), None);
    }
}
