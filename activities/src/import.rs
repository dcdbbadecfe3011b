//! Fetching a video from a URL the user gave (`media.import_url`), through the outbound guard
//! (`onevoice_shared::outbound`): only public addresses, checked on each connection and redirect;
//! a size cap enforced on the announced length and on the bytes as they arrive; a time limit.
//! The file lands at the video's upload key, so the ingest continues exactly as for an upload.

use crate::error;
use onevoice_shared::outbound::{self, AddressRule, Limits, Refusal};
use std::error::Error as _;
use std::path::Path;
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::io::AsyncWriteExt;
use url::Url;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

pub(crate) struct Fetch<'a> {
    pub url: &'a str,
    pub rule: AddressRule,
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// Downloads `fetch.url` to `to`; returns the number of bytes. What the user can fix (an address
/// that is not allowed, a page that does not exist, a file over the limit) fails as invalid
/// input with a message that names no internal detail; a server that cannot be reached or fails
/// (5xx, 408, 429, a broken connection) is retried.
pub(crate) async fn download(
    ctx: &ActivityContext,
    fetch: Fetch<'_>,
    to: &Path,
) -> Result<u64, ActivityError> {
    let url = Url::parse(fetch.url).map_err(|_| error::invalid_input("the URL is not valid"))?;
    fetch
        .rule
        .check_url(&url)
        .map_err(|r| error::invalid_input(format!("the URL cannot be imported: {r}")))?;
    let limits = Limits {
        connect_timeout: Duration::from_secs(10),
        timeout: fetch.timeout,
        max_redirects: MAX_REDIRECTS,
    };
    let client = outbound::client(fetch.rule, limits)
        .map_err(|e| error::fatal(format!("HTTP client: {e}")))?;
    let mut res = client.get(url).send().await.map_err(request_error)?;
    let status = res.status();
    if !status.is_success() {
        let message = format!("the server answered {} for the URL", status.as_u16());
        return Err(
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                error::transient(message)
            } else {
                error::invalid_input(message)
            },
        );
    }
    let too_big = || {
        error::invalid_input(format!(
            "the file at the URL is larger than the limit of {} bytes",
            fetch.max_bytes
        ))
    };
    if res.content_length().is_some_and(|n| n > fetch.max_bytes) {
        return Err(too_big());
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| error::fatal(format!("scratch file: {e}")))?;
    let mut received: u64 = 0;
    while let Some(chunk) = res.chunk().await.map_err(request_error)? {
        received += chunk.len() as u64;
        if received > fetch.max_bytes {
            return Err(too_big());
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| error::transient(format!("scratch file: {e}")))?;
        crate::heartbeat::progress(ctx, received).await;
    }
    file.flush()
        .await
        .map_err(|e| error::transient(format!("scratch file: {e}")))?;
    if received == 0 {
        return Err(error::invalid_input("the file at the URL is empty"));
    }
    Ok(received)
}

/// A failed request: refused by the address rule or the redirect limit (the user's to fix),
/// or a network failure (retried).
fn request_error(e: reqwest::Error) -> ActivityError {
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return error::invalid_input(format!("the URL cannot be imported: {refusal}"));
        }
        source = cause.source();
    }
    if e.is_redirect() {
        return error::invalid_input(format!("the URL redirects more than {MAX_REDIRECTS} times"));
    }
    if e.is_timeout() {
        return error::transient("the download from the URL timed out");
    }
    // Without the URL or the address: the user's message must not echo resolved hosts.
    error::transient(format!("the URL could not be fetched ({})", kind(&e)))
}

fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the transfer broke off"
    } else {
        "request failed"
    }
}
