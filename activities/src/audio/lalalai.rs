//! LALAL.AI's source separation (API v1, provider-contracts-speakers.md): the track uploaded as
//! raw bytes, a `stem_separator` task for `vocals`, checked until it is done, its `back` track
//! (`no_vocals`: everything but the voices) and its `stem` track (the voices alone) downloaded,
//! and the upload deleted at LALAL.AI.
//!
//! The upload and the task are remembered in storage as soon as the provider names them, and
//! forgotten only once the step's result is stored, so a retried or resumed attempt (even after a
//! crash between the download and that result) checks the task it started instead of paying for
//! another. A lost answer to the split is the one gap: its idempotency key makes the provider
//! refuse a second split (`idempotency_key_used`) without naming the first task, so that upload
//! is deleted (cancelling the task) and the attempt starts over with a new one.

use crate::error;
use crate::voice::http::{self, Refusal};
use onevoice_shared::settings::HttpProvider;
use onevoice_shared::storage::{Storage, StorageError};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;

pub(crate) const NAME: &str = "LALAL.AI";

/// A separation in progress at the provider, as remembered between attempts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Task {
    source_id: String,
    idempotency_key: String,
    #[serde(default)]
    task_id: Option<String>,
}

/// The provider, and where its task is remembered.
pub(crate) struct LalalAi<'a> {
    pub http: &'a reqwest::Client,
    pub provider: &'a HttpProvider,
    pub storage: &'a Storage,
    /// The storage key of the task in progress.
    pub task_key: String,
    pub poll: Duration,
}

impl LalalAi<'_> {
    /// Writes the track without its voices to `out` and, when asked and the task gave them,
    /// the voices alone to `vocals` (returns whether it did). A final refusal (the provider's error, a
    /// failed or cancelled task) is a fatal error; see `error::refused`.
    pub(crate) async fn background(
        &self,
        source: &Path,
        out: &Path,
        vocals: Option<&Path>,
    ) -> Result<bool, ActivityError> {
        let task = match self.storage.get_json::<Task>(&self.task_key).await {
            Ok(task) => task,
            Err(StorageError::NotFound(_) | StorageError::Json { .. }) => Task::default(),
            Err(e) => return Err(error::storage(e)),
        };
        let task = self.started(task, source).await?;
        let task_id = task.task_id.clone().unwrap_or_default();
        let (back, voices) = self.finished(&task_id).await?;
        self.download(&back, out).await?;
        let voices = voices.zip(vocals);
        if let Some((url, to)) = &voices {
            self.download(url, to).await?;
        }
        Ok(voices.is_some())
    }

    /// Deletes the upload at the provider and forgets the task, once the step's result is
    /// stored (or the service refused): until then a retried attempt still finds the task and
    /// its links. Nothing to do when there is no task, so it may run again after a crash.
    pub(crate) async fn forget(&self) -> Result<(), ActivityError> {
        match self.storage.get_json::<Task>(&self.task_key).await {
            Ok(task) => self.delete_upload(&task.source_id).await,
            Err(StorageError::NotFound(_)) => return Ok(()),
            Err(StorageError::Json { .. }) => {}
            Err(e) => return Err(error::storage(e)),
        }
        self.storage
            .delete(&self.task_key)
            .await
            .map_err(error::storage)
    }

    /// The user's audio goes from the provider as soon as it is not needed (this also cancels a
    /// task still running on it); a failure only leaves it to expire there (`expires`, a day).
    async fn delete_upload(&self, source_id: &str) {
        if source_id.is_empty() {
            return;
        }
        let deleted = http::send(
            NAME,
            || self.post("api/v1/delete/", json!({"source_id": source_id})),
            classify,
        )
        .await;
        if let Err(e) = deleted {
            tracing::warn!(error = ?e, "the separation service kept the upload; it expires there");
        }
    }

    async fn download(&self, url: &str, to: &Path) -> Result<(), ActivityError> {
        let track = http::send(
            NAME,
            // The official client downloads without the key: the link is the credential.
            || self.http.get(url),
            classify,
        )
        .await?;
        tokio::fs::write(to, track)
            .await
            .map_err(|e| error::transient(format!("writing a stem: {e}")))
    }

    /// The task of `task`, uploading and splitting what it does not have yet.
    async fn started(&self, mut task: Task, source: &Path) -> Result<Task, ActivityError> {
        if task.task_id.is_some() {
            return Ok(task);
        }
        if task.source_id.is_empty() {
            let bytes = bytes::Bytes::from(
                tokio::fs::read(source)
                    .await
                    .map_err(|e| error::transient(format!("reading the track: {e}")))?,
            );
            let name = source
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("source.flac");
            let body = http::send(
                NAME,
                || {
                    self.authorized(self.http.post(self.url("api/v1/upload/")))
                        .header(
                            reqwest::header::CONTENT_DISPOSITION,
                            format!("attachment; filename=\"{name}\""),
                        )
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(bytes.clone())
                },
                classify,
            )
            .await?;
            task.source_id = field(&body, "id")?;
            task.idempotency_key = uuid::Uuid::new_v4().to_string();
            self.remember(&task).await?;
        }
        let mut presets = json!({"stem": "vocals", "extraction_level": "deep_extraction",
            "dereverb_enabled": false, "encoder_format": "wav", "multivocal": null});
        if !self.provider.model.is_empty() {
            presets["splitter"] = json!(self.provider.model);
        }
        let split = json!({"source_id": task.source_id, "presets": presets,
            "idempotency_key": task.idempotency_key});
        let started = http::send_or_gone(
            NAME,
            || self.post("api/v1/split/stem_separator/", split.clone()),
            classify,
            |status, body| {
                status == StatusCode::BAD_REQUEST && code(body) == "idempotency_key_used"
            },
        )
        .await?;
        let Some(body) = started else {
            // An earlier attempt started a task whose answer was lost: its upload goes (with
            // the task on it), and the step starts over.
            self.forget().await?;
            return Err(error::transient(format!(
                "{NAME}: an earlier split's answer was lost; uploading again"
            )));
        };
        task.task_id = Some(field(&body, "task_id")?);
        self.remember(&task).await?;
        tracing::info!(progress = "started", "separation task started");
        Ok(task)
    }

    /// Checks the task every `poll` until it is done; the URLs of its `back` track and of its
    /// `stem` track when it has one.
    async fn finished(&self, task_id: &str) -> Result<(String, Option<String>), ActivityError> {
        let check = json!({"task_ids": [task_id]});
        let mut last = None;
        loop {
            let body =
                http::send(NAME, || self.post("api/v1/check/", check.clone()), classify).await?;
            let answer: Value = serde_json::from_slice(&body)
                .map_err(|_| error::transient(format!("{NAME}: an unreadable check")))?;
            let item = &answer["result"][task_id];
            match item["status"].as_str() {
                Some("progress") => {
                    let progress = item["progress"].as_u64();
                    if progress != last {
                        tracing::info!(progress, "separating");
                        last = progress;
                    }
                    tokio::time::sleep(self.poll).await;
                }
                Some("success") => {
                    let tracks = item["result"]["tracks"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let url = |kind: &str| {
                        tracks
                            .iter()
                            .find(|t| t["type"] == kind)
                            .and_then(|t| t["url"].as_str())
                            .map(str::to_string)
                    };
                    let back = url("back").ok_or_else(|| {
                        error::fatal(format!("{NAME}: the task returned no background track"))
                    })?;
                    return Ok((back, url("stem")));
                }
                Some("error") => {
                    let code = item["error"]["code"].as_str().unwrap_or("error");
                    return Err(error::fatal(format!(
                        "{NAME}: the separation failed ({code})"
                    )));
                }
                Some("cancelled") => {
                    return Err(error::fatal(format!(
                        "{NAME}: the separation was cancelled"
                    )));
                }
                // The upload is gone (expired or deleted): the task cannot finish.
                Some("server_error") => {
                    return Err(error::fatal(format!("{NAME}: the upload is gone")));
                }
                _ => {
                    return Err(error::transient(format!(
                        "{NAME}: the check did not name the task"
                    )));
                }
            }
        }
    }

    async fn remember(&self, task: &Task) -> Result<(), ActivityError> {
        self.storage
            .put_json(&self.task_key, task)
            .await
            .map_err(error::storage)
    }

    fn url(&self, path: &str) -> reqwest::Url {
        // The base URL ends with '/', so joining a relative path cannot fail.
        self.provider
            .base_url
            .join(path)
            .unwrap_or_else(|_| self.provider.base_url.clone())
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header("X-License-Key", self.provider.api_key.expose())
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.authorized(self.http.post(self.url(path))).json(&body)
    }
}

/// A string field of a JSON answer; its absence is the provider's error, retried.
fn field(body: &[u8], name: &str) -> Result<String, ActivityError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v[name].as_str().map(str::to_string))
        .ok_or_else(|| error::transient(format!("{NAME}: an answer without `{name}`")))
}

/// The `code` of an error answer (`{"detail": …, "code": …}`).
fn code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Rate limits and server errors are retried; anything else (a refused key, a track too long
/// for the licence, a bad request) is final. The provider's text stays out: only its status and
/// code are kept.
fn classify(status: StatusCode, body: &[u8]) -> Refusal {
    let code = code(body);
    Refusal {
        retryable: http::transient_status(status),
        message: if code.is_empty() {
            format!("{}", status.as_u16())
        } else {
            format!("{} {code}", status.as_u16())
        },
    }
}
