//! A local stand-in for LALAL.AI's separation API v1 (provider-contracts-speakers.md): raw-byte
//! upload with `Content-Disposition`, `split/stem_separator` with an idempotency key, `check`
//! (queued, progress, then success, or the failure it was told to give; 429 when told to), the
//! tracks downloaded by plain GET, and `delete`. Requests without the licence key, malformed
//! bodies and unknown sources get the API's own error shapes.
//!
//! It does not separate anything: its `back` track (`no_vocals`) is the upload at half amplitude
//! and 44.1 kHz (another rate than the source's, as a real stem may have), so a test can tell the
//! service's stem from the offline suppressor's in the job's mix; its `stem` track (`vocals`) is
//! the upload with a `VOCALS_MARKER_HZ` tone added, so a test can tell what was cut from it.

use crate::served::{Served, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const KEY: &str = "lalal-test-license-never-logged";
/// The tone the fake's vocals carry and the upload does not.
pub const VOCALS_MARKER_HZ: f64 = 3_000.0;

/// How the next task (or request) goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The upload is refused: 400 with this licence code (`exceeded_duration`...).
    Upload(&'static str),
    /// The task ends in `error` with this code (`inference_error`).
    Task(&'static str),
    /// The task is `cancelled`.
    Cancelled,
    /// The split is made but its answer is lost (a 500 instead).
    LostSplit,
    /// The next checks are answered 429, then 500, this many of each.
    BusyChecks(usize),
}

/// What the fake was asked, in order.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    /// Uploads: (file name, bytes).
    pub uploads: Vec<(String, usize)>,
    /// Splits that reached the API: their JSON bodies.
    pub splits: Vec<Value>,
    /// Checks answered 200: the statuses they gave.
    pub checks: Vec<String>,
    /// Checks refused (429 / 500).
    pub refused_checks: usize,
    pub downloads: Vec<String>,
    /// Deleted sources.
    pub deleted: Vec<String>,
}

struct Task {
    source: String,
    presets: Value,
    /// Checks left in `progress` before the outcome.
    checks_left: usize,
    outcome: Option<Failure>,
}

#[derive(Default)]
struct Inner {
    dir: Option<tempfile::TempDir>,
    sources: HashMap<String, std::path::PathBuf>,
    tasks: HashMap<String, Task>,
    keys: HashMap<String, String>,
    failures: Vec<Failure>,
    busy_checks: (usize, usize),
    calls: Calls,
    base: String,
}

#[derive(Clone)]
pub struct FakeLalalAi {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: Served,
}

impl FakeLalalAi {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            dir: Some(tempfile::tempdir()?),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v1/upload/", post(upload))
            .route("/api/v1/split/stem_separator/", post(split))
            .route("/api/v1/check/", post(check))
            .route("/api/v1/delete/", post(delete))
            .route("/media/{name}", get(download))
            .with_state(inner.clone());
        let server = serve(app).await?;
        inner.lock().expect("fake").base = server.url.clone();
        Ok(Self {
            url: server.url.clone(),
            inner,
            _server: server,
        })
    }

    /// Settings that make the separation stage use this fake, checking every 20 ms.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LALALAI_BASE_URL", self.url.clone()),
            ("LALALAI_API_KEY", KEY.into()),
            ("LALALAI_POLL_MS", "20".into()),
        ]
    }

    /// The next upload, task or checks go wrong this way (in the order given).
    pub fn fail(&self, failure: Failure) {
        let mut inner = self.inner.lock().expect("fake");
        if let Failure::BusyChecks(n) = failure {
            inner.busy_checks = (n, n);
        } else {
            inner.failures.push(failure);
        }
    }

    pub fn calls(&self) -> Calls {
        self.inner.lock().expect("fake").calls.clone()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

fn error(status: u16, detail: &str, code: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({"detail": detail, "code": code}))).into_response()
}

/// FastAPI's validation error, as the API answers a malformed body.
fn invalid(loc: &[&str], msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]})),
    )
        .into_response()
}

/// The refusal of a request without the licence key (none: it has it).
fn unlicensed(headers: &HeaderMap) -> Option<Response> {
    match headers.get("x-license-key").and_then(|v| v.to_str().ok()) {
        Some(KEY) => None,
        _ => Some(error(401, "Invalid license key", "invalid_license")),
    }
}

fn take(inner: &mut Inner, pick: impl Fn(&Failure) -> bool) -> Option<Failure> {
    let i = inner.failures.iter().position(pick)?;
    Some(inner.failures.remove(i))
}

async fn upload(State(inner): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unlicensed(&headers) {
        return refused;
    }
    let disposition = headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(name) = disposition
        .split("filename=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|n| disposition.starts_with("attachment") && !n.is_empty())
    else {
        return error(
            400,
            "Content-Disposition with a filename is required",
            "bad_request",
        );
    };
    if body.is_empty() {
        return error(400, "The file is empty", "bad_request");
    }
    let mut inner = inner.lock().expect("fake");
    inner.calls.uploads.push((name.to_string(), body.len()));
    if let Some(Failure::Upload(code)) = take(&mut inner, |f| matches!(f, Failure::Upload(_))) {
        return error(400, "The licence does not allow this file", code);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = inner.dir.as_ref().expect("dir").path().to_path_buf();
    let path = dir.join(format!("{id}-{name}"));
    if std::fs::write(&path, &body).is_err() {
        return error(500, "storage", "internal_error");
    }
    inner.sources.insert(id.clone(), path);
    axum::Json(
        json!({"id": id, "name": name, "size": body.len(), "duration": 10,
        "expires": 4_102_444_800u64}),
    )
    .into_response()
}

async fn split(State(inner): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unlicensed(&headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid(&["body"], "JSON decode error");
    };
    let Some(source) = body["source_id"].as_str().map(str::to_string) else {
        return invalid(&["body", "split_input", "source_id"], "Field required");
    };
    let presets = body["presets"].clone();
    const STEMS: [&str; 9] = [
        "vocals",
        "drum",
        "piano",
        "bass",
        "electric_guitar",
        "acoustic_guitar",
        "synthesizer",
        "strings",
        "wind",
    ];
    if !presets["stem"].as_str().is_some_and(|s| STEMS.contains(&s)) {
        return invalid(
            &["body", "split_input", "presets", "stem"],
            "Input should be a stem",
        );
    }
    let (upload, outcome, back, vocals, id) = {
        let mut inner = inner.lock().expect("fake");
        inner.calls.splits.push(body.clone());
        let Some(upload) = inner.sources.get(&source).cloned() else {
            return error(400, "Source not found", "source_not_found");
        };
        if let Some(key) = body["idempotency_key"].as_str()
            && inner.keys.contains_key(key)
        {
            return error(400, "The idempotency key was used", "idempotency_key_used");
        }
        let outcome = take(&mut inner, |f| {
            matches!(
                f,
                Failure::Task(_) | Failure::Cancelled | Failure::LostSplit
            )
        });
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(key) = body["idempotency_key"].as_str() {
            inner.keys.insert(key.to_string(), id.clone());
        }
        let dir = inner.dir.as_ref().expect("dir").path().to_path_buf();
        let (back, vocals) = (
            dir.join(format!("{id}-no_vocals.wav")),
            dir.join(format!("{id}-vocals.wav")),
        );
        (upload, outcome, back, vocals, id)
    };
    // The stems are made now; the checks reveal them after two rounds of progress.
    let back_made = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&upload)
        .args(["-af", "volume=0.5", "-ar", "44100", "-c:a", "pcm_s16le"])
        .arg(&back)
        .status()
        .await;
    let marker = format!("sine=frequency={VOCALS_MARKER_HZ}:sample_rate=44100");
    let vocals_made = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&upload)
        .args(["-f", "lavfi", "-i", &marker])
        .args([
            "-filter_complex",
            "[0:a]aresample=44100[a];[a][1:a]amix=inputs=2:duration=first:normalize=0",
            "-c:a",
            "pcm_s16le",
        ])
        .arg(&vocals)
        .status()
        .await;
    if !back_made.is_ok_and(|s| s.success()) || !vocals_made.is_ok_and(|s| s.success()) {
        return error(400, "The file is not audio", "inference_error");
    }
    let lost = outcome == Some(Failure::LostSplit);
    inner.lock().expect("fake").tasks.insert(
        id.clone(),
        Task {
            source,
            presets,
            checks_left: 2,
            outcome: outcome.filter(|o| *o != Failure::LostSplit),
        },
    );
    if lost {
        return error(500, "Internal server error", "internal_error");
    }
    axum::Json(json!({"task_id": id})).into_response()
}

async fn check(State(inner): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unlicensed(&headers) {
        return refused;
    }
    let Some(ids) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["task_ids"].as_array().cloned())
        .filter(|ids| (1..=200).contains(&ids.len()))
    else {
        return invalid(&["body", "task_ids"], "1 to 200 task ids");
    };
    let mut inner = inner.lock().expect("fake");
    let (too_many, failing) = inner.busy_checks;
    if too_many > 0 {
        inner.busy_checks.0 -= 1;
        inner.calls.refused_checks += 1;
        let mut res = error(429, "Too many requests", "rate_limited");
        res.headers_mut()
            .insert("retry-after", "0".parse().expect("number"));
        return res;
    }
    if failing > 0 {
        inner.busy_checks.1 -= 1;
        inner.calls.refused_checks += 1;
        return error(500, "Internal server error", "internal_error");
    }
    let base = inner.base.clone();
    let mut result = serde_json::Map::new();
    for id in ids.iter().filter_map(Value::as_str) {
        let Some(task) = inner.tasks.get_mut(id) else {
            result.insert(
                id.into(),
                json!({"status": "server_error", "error": "Task not found"}),
            );
            continue;
        };
        let mut presets = task.presets.clone();
        presets["task_type"] = json!("split");
        presets["label"] = json!("stem_separator");
        let item = if task.checks_left > 0 {
            task.checks_left -= 1;
            let progress = if task.checks_left == 1 { 0 } else { 50 };
            json!({"status": "progress", "source_id": task.source, "presets": presets,
                "progress": progress})
        } else {
            match &task.outcome {
                Some(Failure::Task(code)) => json!({"status": "error", "source_id": task.source,
                    "presets": presets, "error": {"detail": "Inference failed", "code": code}}),
                Some(_) => json!({"status": "cancelled", "source_id": task.source,
                    "presets": presets}),
                None => json!({"status": "success", "source_id": task.source, "presets": presets,
                    "result": {"duration": 10, "tracks": [
                        {"type": "stem", "label": "vocals",
                         "url": format!("{base}/media/{id}-vocals.wav")},
                        {"type": "back", "label": "no_vocals",
                         "url": format!("{base}/media/{id}-no_vocals.wav")}]}}),
            }
        };
        let status = item["status"].as_str().unwrap_or_default().to_string();
        inner.calls.checks.push(status);
        result.insert(id.into(), item);
    }
    axum::Json(json!({"result": result})).into_response()
}

async fn download(State(inner): Shared, Path(name): Path<String>) -> Response {
    let path = {
        let mut inner = inner.lock().expect("fake");
        inner.calls.downloads.push(name.clone());
        inner.dir.as_ref().expect("dir").path().join(&name)
    };
    // Only what the fake made (a path segment cannot leave its directory).
    match tokio::fs::read(&path).await {
        Ok(bytes) if name.ends_with(".wav") => {
            ([("content-type", "audio/wav")], bytes).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete(State(inner): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unlicensed(&headers) {
        return refused;
    }
    let Some(source) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["source_id"].as_str().map(str::to_string))
    else {
        return invalid(&["body", "source_id"], "Field required");
    };
    let mut inner = inner.lock().expect("fake");
    if let Some(path) = inner.sources.remove(&source) {
        let _ = std::fs::remove_file(path);
    }
    inner.calls.deleted.push(source);
    axum::Json(json!({})).into_response()
}
