//! Local stand-ins for the HTTP speech providers, speaking their documented wire formats
//! (provider-contracts.md §1.3, §2.2, §3): OpenAI `POST /v1/audio/speech` (raw 24 kHz PCM),
//! ElevenLabs `POST /v1/text-to-speech/{voice}?output_format=pcm_24000` (`xi-api-key`), Fish
//! `POST /v1/tts` (WAV). Each answers with a tone whose length follows the text, and can be told
//! to fail the next requests with a provider's own error answers (429 with `Retry-After`, 500,
//! 401, 402, quota).

mod clones;

pub use clones::FakeClone;

use crate::chat::{self, ChatFault};
use crate::served::{Served, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const KEY: &str = "sk-test-tts-key-never-logged";
/// The Fish voice offered (`FISH_VOICES`).
const FISH_STOCK_VOICE: &str = "0123456789abcdef";

#[derive(Clone, Debug)]
struct Fault {
    path_prefix: String,
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    /// Every request that reached a fake API (or was answered with a fault).
    calls: Vec<Call>,
    /// The language each transcription request named (empty: none, detect).
    languages: Vec<String>,
    /// Chat answers to spoil, by schema name, in order.
    chat_faults: VecDeque<(String, ChatFault)>,
    /// Requests to answer late: (path prefix, delay), each used once.
    slow: VecDeque<(String, std::time::Duration)>,
    /// Every request to a path with this prefix is answered after this long (a provider's
    /// steady latency, for benchmarks).
    latency: Option<(String, std::time::Duration)>,
    /// Every line synthesized: (the provider's voice, the text).
    spoken: Vec<(String, String)>,
    /// Voices cloned at the fakes, deleted ones too.
    clones: Vec<FakeClone>,
}

/// One request: its path, what it asked for (the text to speak, the model...), what identifies a
/// retry of it (the same `key`), whether it was answered with a fault, and when it came.
struct Call {
    path: String,
    record: String,
    key: String,
    fault: bool,
    at: Instant,
}

impl Inner {
    fn record(&mut self, path: &str, record: String, key: String) {
        self.calls.push(Call {
            path: path.to_string(),
            record,
            key,
            fault: false,
            at: Instant::now(),
        });
    }

    /// The answer of the first fault waiting for `path`, recorded as a `<fault>` call of the
    /// request identified by `key`.
    fn take_fault(&mut self, path: &str, key: &str) -> Option<Response> {
        let i = self
            .faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix))?;
        let fault = self.faults.remove(i)?;
        self.calls.push(Call {
            path: path.to_string(),
            record: "<fault>".into(),
            key: key.to_string(),
            fault: true,
            at: Instant::now(),
        });
        let mut res = json_error(fault.status, fault.body);
        if let Some(secs) = fault.retry_after {
            res.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("number"));
        }
        Some(res)
    }
}

#[derive(Clone)]
pub struct FakeTts {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: Served,
}

impl FakeTts {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let server = serve(Router::new().fallback(handle).with_state(inner.clone())).await?;
        Ok(Self {
            url: server.url.clone(),
            inner,
            _server: server,
        })
    }

    /// Settings that point every HTTP provider at this fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_BASE_URL", format!("{}/v1", self.url)),
            ("OPENAI_API_KEY", KEY.into()),
            ("ELEVENLABS_BASE_URL", self.url.clone()),
            ("ELEVENLABS_API_KEY", KEY.into()),
            ("FISH_BASE_URL", self.url.clone()),
            ("FISH_API_KEY", KEY.into()),
            ("FISH_VOICES", format!("{FISH_STOCK_VOICE}=Narrator")),
            ("WHISPERX_BASE_URL", self.url.clone()),
            ("WHISPERX_API_KEY", KEY.into()),
        ]
    }

    /// The next request whose path starts with `path_prefix` gets `status` and `body`.
    pub fn fail_next(&self, path_prefix: &str, status: u16, body: Value, retry_after: Option<u64>) {
        self.inner.lock().unwrap().faults.push_back(Fault {
            path_prefix: path_prefix.into(),
            status,
            body,
            retry_after,
        });
    }

    /// The next request whose path starts with `path_prefix` is answered (normally) after
    /// `delay`, as a busy provider would.
    pub fn slow_next(&self, path_prefix: &str, delay: std::time::Duration) {
        self.inner
            .lock()
            .unwrap()
            .slow
            .push_back((path_prefix.into(), delay));
    }

    /// Every request whose path starts with `path_prefix` is answered after `delay` from now on.
    pub fn answer_after(&self, path_prefix: &str, delay: std::time::Duration) {
        self.inner.lock().unwrap().latency = Some((path_prefix.into(), delay));
    }

    /// The next chat completion asking for `schema` answers with `fault`.
    pub fn spoil_next_chat(&self, schema: &str, fault: ChatFault) {
        self.inner
            .lock()
            .unwrap()
            .chat_faults
            .push_back((schema.into(), fault));
    }

    /// Every line synthesized, as (the provider's voice, the text).
    pub fn spoken(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().spoken.clone()
    }

    /// Every voice cloned at the fakes (deleted ones marked so).
    pub fn clones(&self) -> Vec<FakeClone> {
        self.inner.lock().unwrap().clones.clone()
    }

    /// The language each transcription request named (empty when it asked for detection).
    pub fn transcription_languages(&self) -> Vec<String> {
        self.inner.lock().unwrap().languages.clone()
    }

    /// Requests that arrived at paths starting with `path_prefix`.
    pub fn calls(&self, path_prefix: &str) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.path.starts_with(path_prefix))
            .map(|c| c.record.clone())
            .collect()
    }

    /// For every fault answered at paths starting with `path_prefix`, how long the client waited
    /// before it asked again for the same thing (the same text, the same audio).
    pub fn waits_after_faults(&self, path_prefix: &str) -> Vec<std::time::Duration> {
        let inner = self.inner.lock().unwrap();
        let calls: Vec<&Call> = inner
            .calls
            .iter()
            .filter(|c| c.path.starts_with(path_prefix))
            .collect();
        calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.fault)
            .filter_map(|(i, fault)| {
                calls[i + 1..]
                    .iter()
                    .find(|c| c.key == fault.key)
                    .map(|retry| retry.at - fault.at)
            })
            .collect()
    }
}

/// The pitch each fake voice speaks at, so a test can tell whose audio is in a dub.
pub const OPENAI_HZ: f64 = 330.0;
pub const ELEVENLABS_HZ: f64 = 440.0;
pub const FISH_HZ: f64 = 550.0;

/// A tone of `hz` as 24 kHz 16-bit mono PCM, about as long as reading `text` takes.
fn speech(text: &str, hz: f64) -> Vec<u8> {
    let seconds = (text.split_whitespace().count() as f64 * 0.3).clamp(0.4, 6.0);
    let n = (24_000.0 * seconds) as usize;
    (0..n)
        .flat_map(|i| {
            let s = (2.0 * std::f64::consts::PI * hz * i as f64 / 24_000.0).sin() * 9_000.0;
            (s as i16).to_le_bytes()
        })
        .collect()
}

fn wav(pcm: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&24_000u32.to_le_bytes());
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 16, 0]);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

fn json_error(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    if clones::is_clone_request(req.method(), req.uri().path()) {
        return clones::handle(inner, req).await;
    }
    let path = req.uri().path().to_string();
    let delay = {
        let mut inner = inner.lock().unwrap();
        let i = inner
            .slow
            .iter()
            .position(|(p, _)| path.starts_with(p.as_str()));
        let steady = inner
            .latency
            .as_ref()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, d)| *d);
        i.and_then(|i| inner.slow.remove(i))
            .map(|(_, d)| d)
            .or(steady)
    };
    if let Some(d) = delay {
        // The slowness this fake exists to play.
        tokio::time::sleep(d).await;
    }
    if matches!(
        path.as_str(),
        "/v1/audio/transcriptions" | "/v1/speech-to-text" | "/302/whisperx"
    ) {
        return transcribe(inner, req).await;
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let bearer = header("authorization") == format!("Bearer {KEY}");
    if path == "/v1/chat/completions" {
        return chat_reply(&inner, bearer, &path, &input).await;
    }
    let mut inner = inner.lock().unwrap();
    // Authentication first, as the real services do.
    let (authorized, unauthorized) = if path.starts_with("/v1/audio/speech") {
        (
            bearer,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        )
    } else if path.starts_with("/v1/text-to-speech/") {
        (
            header("xi-api-key") == KEY,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        )
    } else if path == "/v1/tts" {
        (
            bearer,
            json!({"status": 401, "message": "Invalid token", "reason": null}),
        )
    } else {
        return json_error(404, json!({"error": "not found"}));
    };
    if !authorized {
        return json_error(401, unauthorized);
    }
    let text_field = if path.starts_with("/v1/audio/speech") {
        "input"
    } else {
        "text"
    };
    let text = input[text_field].as_str().unwrap_or("").to_string();
    if let Some(res) = inner.take_fault(&path, &text) {
        return res;
    }
    // Each provider reads its own field names only, and refuses others as it would.
    if let Some(refused) = strict_body(&path, &input) {
        return refused;
    }
    inner.record(&path, text.clone(), text.clone());
    let voice = if let Some(id) = path.strip_prefix("/v1/text-to-speech/") {
        id.to_string()
    } else {
        input["voice"]
            .as_str()
            .or(input["reference_id"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    // The voice must be one the provider has: a stock voice, or a clone not deleted.
    let provider = if path.starts_with("/v1/text-to-speech/") {
        Some("elevenlabs")
    } else {
        (path == "/v1/tts").then_some("fish")
    };
    let clone_hz = match provider {
        None => None,
        Some(p) => match clones::voice(&inner, p, &voice) {
            Some(hz) => hz,
            None if p == "elevenlabs" => {
                return json_error(
                    400,
                    json!({"detail": {"status": "voice_not_found", "message": "A voice with this id was not found."}}),
                );
            }
            None => {
                return json_error(
                    400,
                    json!({"status": 400, "message": "Reference not found"}),
                );
            }
        },
    };
    inner.spoken.push((voice, text.clone()));
    if path.starts_with("/v1/audio/speech") {
        if input["response_format"] != "pcm" {
            return json_error(
                400,
                json!({"error": {"message": "unsupported request", "type": "invalid_request_error", "param": null, "code": null}}),
            );
        }
        return (StatusCode::OK, speech(&text, OPENAI_HZ)).into_response();
    }
    if path.starts_with("/v1/text-to-speech/") {
        if !query.contains("output_format=pcm_24000") {
            return json_error(
                422,
                json!({"detail": [{"loc": ["query", "output_format"], "msg": "unexpected format", "type": "value_error"}]}),
            );
        }
        let hz = clone_hz.unwrap_or(ELEVENLABS_HZ);
        return (StatusCode::OK, speech(&text, hz)).into_response();
    }
    if input["format"] != "wav" {
        return json_error(
            422,
            json!([{"loc": ["body", "format"], "type": "value_error", "msg": "the fake answers format wav only"}]),
        );
    }
    let hz = clone_hz.unwrap_or(FISH_HZ);
    (StatusCode::OK, wav(&speech(&text, hz))).into_response()
}

/// The JSON fields each synthesis API knows (provider-contracts.md §1.3, §2.2, §3.1) and the
/// ones it requires; a request with another provider's names is refused with this provider's
/// own error answer (returned).
fn strict_body(path: &str, input: &Value) -> Option<Response> {
    let (known, required): (&[&str], &[&str]) = if path.starts_with("/v1/audio/speech") {
        (
            &[
                "model",
                "input",
                "voice",
                "response_format",
                "speed",
                "instructions",
                "stream_format",
            ],
            &["model", "input", "voice"],
        )
    } else if path.starts_with("/v1/text-to-speech/") {
        (
            &[
                "text",
                "model_id",
                "language_code",
                "voice_settings",
                "seed",
                "previous_text",
                "next_text",
                "previous_request_ids",
                "next_request_ids",
                "apply_text_normalization",
                "pronunciation_dictionary_locators",
            ],
            &["text"],
        )
    } else {
        (
            &[
                "text",
                "reference_id",
                "references",
                "format",
                "sample_rate",
                "mp3_bitrate",
                "opus_bitrate",
                "latency",
                "chunk_length",
                "min_chunk_length",
                "normalize",
                "temperature",
                "top_p",
                "prosody",
                "max_new_tokens",
                "repetition_penalty",
                "condition_on_previous_chunks",
                "early_stop_threshold",
            ],
            &["text"],
        )
    };
    let Some(fields) = input.as_object() else {
        return Some(refuse(path, "body", "the body must be a JSON object"));
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Some(refuse(path, unknown, "unknown field"));
    }
    required
        .iter()
        .find(|r| !fields.get(**r).is_some_and(Value::is_string))
        .map(|missing| refuse(path, missing, "field required"))
}

/// A request error in the shape of the provider behind `path`.
fn refuse(path: &str, field: &str, msg: &str) -> Response {
    if path.starts_with("/v1/audio/") {
        json_error(
            400,
            json!({"error": {"message": format!("{msg}: {field}"), "type": "invalid_request_error", "param": field, "code": null}}),
        )
    } else if path.starts_with("/v1/text-to-speech/") || path == "/v1/speech-to-text" {
        json_error(
            422,
            json!({"detail": [{"loc": ["body", field], "msg": msg, "type": "value_error"}]}),
        )
    } else if path == "/302/whisperx" {
        json_error(400, json!({"error": format!("{msg}: {field}")}))
    } else {
        json_error(
            422,
            json!([{"loc": ["body", field], "type": "value_error", "msg": msg}]),
        )
    }
}

/// `POST /v1/chat/completions`: HTTP faults first, then the answer (spoiled if asked).
async fn chat_reply(inner: &Mutex<Inner>, bearer: bool, path: &str, input: &Value) -> Response {
    if !bearer {
        return json_error(
            401,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        );
    }
    let fault = {
        let mut inner = inner.lock().unwrap();
        if let Some(res) = inner.take_fault(path, &chat::schema_name(input)) {
            return res;
        }
        let schema = chat::schema_name(input);
        let fault = inner
            .chat_faults
            .iter()
            .position(|(s, _)| *s == schema)
            .and_then(|i| inner.chat_faults.remove(i))
            .map(|(_, f)| f);
        let record = match fault {
            Some(f) => format!("{schema} <{f:?}>"),
            None => schema,
        };
        let key = chat::schema_name(input);
        inner.record(path, record, key);
        fault
    };
    if let Some(ChatFault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    chat::complete(input, fault)
}

/// `POST /v1/audio/transcriptions` (multipart): `verbose_json` with one segment (and its words)
/// per 2.5 s of the uploaded WAV. Refuses what the real endpoint refuses: no file, `word`
/// granularity without `verbose_json`.
async fn transcribe(inner: Arc<Mutex<Inner>>, req: Request) -> Response {
    use axum::extract::FromRequest;
    let path = req.uri().path().to_string();
    let scribe = path == "/v1/speech-to-text";
    // Read before any await: a borrowed request is not `Send`.
    let authorized = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if scribe {
            header("xi-api-key").as_deref() == Some(KEY)
        } else {
            header("authorization") == Some(format!("Bearer {KEY}"))
        }
    };
    if !authorized {
        return json_error(
            401,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        );
    }
    let Ok(mut form) = axum::extract::Multipart::from_request(req, &()).await else {
        return json_error(
            400,
            json!({"error": {"message": "expected multipart/form-data", "type": "invalid_request_error", "param": null, "code": null}}),
        );
    };
    // Each API's own form fields (provider-contracts.md §1.1, §2.1, §4.1): another API's names
    // are refused as that API would, so a client mixing them up fails here too.
    let (known, file_field, model_field, language_field): (&[&str], &str, &str, &str) =
        match path.as_str() {
            "/v1/audio/transcriptions" => (
                &[
                    "file",
                    "model",
                    "language",
                    "prompt",
                    "response_format",
                    "timestamp_granularities[]",
                    "temperature",
                    "include[]",
                    "stream",
                    "chunking_strategy",
                ],
                "file",
                "model",
                "language",
            ),
            "/v1/speech-to-text" => (
                &[
                    "model_id",
                    "file",
                    "cloud_storage_url",
                    "source_url",
                    "language_code",
                    "tag_audio_events",
                    "num_speakers",
                    "timestamps_granularity",
                    "diarize",
                    "diarization_threshold",
                    "file_format",
                    "temperature",
                    "seed",
                    "use_multi_channel",
                    "webhook",
                    "keyterms",
                    "additional_formats",
                ],
                "file",
                "model_id",
                "language_code",
            ),
            _ => (
                &[
                    "audio_input",
                    "processing_type",
                    "language",
                    "output",
                    "translate",
                ],
                "audio_input",
                "",
                "language",
            ),
        };
    let (mut audio, mut format, mut granularities, mut model) =
        (None, String::new(), Vec::new(), String::new());
    let mut language = String::new();
    let mut chunking = String::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        if !known.contains(&name.as_str()) {
            return refuse(&path, &name, "unknown field");
        }
        if name == file_field {
            audio = field.bytes().await.ok();
        } else if name == model_field {
            model = field.text().await.unwrap_or_default();
        } else if name == language_field {
            language = field.text().await.unwrap_or_default();
        } else if name == "response_format" {
            format = field.text().await.unwrap_or_default();
        } else if name == "timestamp_granularities[]" {
            granularities.push(field.text().await.unwrap_or_default());
        } else if name == "chunking_strategy" {
            chunking = field.text().await.unwrap_or_default();
        }
    }
    if !model_field.is_empty() && model.is_empty() {
        return refuse(&path, model_field, "field required");
    }
    {
        let mut inner = inner.lock().unwrap();
        // A retry sends the same audio: its length identifies it.
        let key = audio.as_ref().map_or(0, |a| a.len()).to_string();
        if let Some(res) = inner.take_fault(&path, &key) {
            return res;
        }
        inner.record(&path, model.clone(), key);
        inner.languages.push(language.clone());
    }
    let Some(audio) = audio.filter(|a| a.len() > 44 && &a[0..4] == b"RIFF") else {
        return json_error(
            400,
            json!({"error": {"message": "Invalid file format.", "type": "invalid_request_error", "param": "file", "code": null}}),
        );
    };
    if !scribe && granularities.iter().any(|g| g == "word") && format != "verbose_json" {
        return json_error(
            400,
            json!({"error": {"message": "timestamp_granularities requires verbose_json", "type": "invalid_request_error", "param": null, "code": null}}),
        );
    }
    let rate = u32::from_le_bytes([audio[24], audio[25], audio[26], audio[27]]).max(1);
    let duration = (audio.len() - 44) as f64 / (f64::from(rate) * 2.0);
    if model == DIARIZE_MODEL {
        // provider-contracts-speakers.md: `diarized_json` only, no timestamp granularities,
        // a chunking strategy for audio over 30 s.
        let refused = if format != "diarized_json" {
            Some((
                "response_format",
                "diarized_json is required for speaker labels",
            ))
        } else if !granularities.is_empty() {
            Some(("timestamp_granularities", "not supported by this model"))
        } else if duration > 30.0 && chunking != "auto" {
            Some((
                "chunking_strategy",
                "chunking_strategy is required for audio over 30 seconds",
            ))
        } else {
            None
        };
        if let Some((param, message)) = refused {
            return json_error(
                400,
                json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": "invalid_value"}}),
            );
        }
        let segments: Vec<Value> = diarize(&audio[44..], rate)
            .into_iter()
            .enumerate()
            .map(|(n, (start, end, who))| {
                // Speakers are `A`, `B`, … in order of appearance.
                let speaker = char::from(b'A' + (who % 26) as u8).to_string();
                json!({"type": "transcript.text.segment", "id": format!("seg_{n:03}"),
                    "start": start, "end": end, "speaker": speaker,
                    "text": format!(" Thank you for watching part {}.", n + 1)})
            })
            .collect();
        return axum::Json(json!({"task": "transcribe", "duration": duration,
            "text": segments.iter().filter_map(|s| s["text"].as_str()).collect::<String>(),
            "segments": segments, "usage": {"type": "duration", "seconds": duration.ceil() as u64}}))
        .into_response();
    }
    let mut segments = Vec::new();
    let mut words = Vec::new();
    let mut start = 0.0;
    while start + 1.0 < duration {
        let end = (start + 2.5f64).min(duration);
        let n = segments.len() + 1;
        let text = format!(" Thank you for watching part {n}.");
        for (i, w) in text.split_whitespace().enumerate() {
            let at = start + i as f64 * 0.3;
            words.push(json!({"word": w, "start": at, "end": at + 0.25}));
        }
        // Every field the API's verbose segment has, so the client is read against the real shape.
        segments.push(
            json!({"id": n - 1, "seek": 0, "start": start, "end": end, "text": text,
            "tokens": [50364, 2425, 13], "temperature": 0.0, "avg_logprob": -0.21,
            "compression_ratio": 0.8, "no_speech_prob": 0.01}),
        );
        start += 3.0;
    }
    if path == "/302/whisperx" {
        // WhisperX's native shape; a word it could not align (a digit) has no times.
        let aligned: Vec<Value> = segments
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s["words"] = json!([{"word": "Thank", "start": s["start"], "end": s["end"], "score": 0.9}, {"word": "3"}]);
                s
            })
            .collect();
        return axum::Json(json!({"segments": aligned, "language": "en"})).into_response();
    }
    if scribe {
        // Scribe (`diarize=true`): words with spacing tokens, each with the speaker heard.
        let mut tokens = Vec::new();
        let mut texts = Vec::new();
        for (n, (start, end, who)) in diarize(&audio[44..], rate).into_iter().enumerate() {
            let speaker = format!("speaker_{who}");
            let text = format!(" Thank you for watching part {}.", n + 1);
            texts.push(text.clone());
            // The words share the time the speaker talks.
            let words: Vec<&str> = text.split_whitespace().collect();
            let step = (end - start) / words.len() as f64;
            for (i, w) in words.iter().enumerate() {
                let at = start + i as f64 * step;
                if i > 0 {
                    tokens.push(json!({"text": " ", "start": at, "end": at, "type": "spacing", "speaker_id": speaker}));
                }
                tokens.push(json!({"text": w, "start": at, "end": at + step * 0.8, "type": "word", "speaker_id": speaker, "logprob": -0.1}));
            }
        }
        return axum::Json(json!({"language_code": "eng", "language_probability": 0.99,
            "text": texts.concat(),
            "words": tokens, "audio_duration_secs": duration}))
        .into_response();
    }
    // Detection (no language sent) hears English, as the sample speaks it.
    let heard = if language.is_empty() {
        "english".to_string()
    } else {
        language
    };
    axum::Json(
        json!({"task": "transcribe", "language": heard, "duration": duration,
        "text": segments.iter().filter_map(|s| s["text"].as_str()).collect::<String>(),
        "segments": segments, "words": words,
        "usage": {"type": "duration", "seconds": duration.ceil() as u64}}),
    )
    .into_response()
}

/// OpenAI's diarizing transcription model.
pub const DIARIZE_MODEL: &str = "gpt-4o-transcribe-diarize";

/// What a diarizing recognizer hears in 16-bit mono PCM: where someone speaks (runs of 20 ms
/// frames louder than the noise bed, closing pauses under 350 ms) and who, by the pitch of the
/// voice (a voice within 20% of one heard before is that speaker; speakers are numbered in order
/// of appearance). Returns (start s, end s, speaker).
pub fn diarize(pcm: &[u8], rate: u32) -> Vec<(f64, f64, usize)> {
    let samples: Vec<f32> = pcm
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let frame = (rate / 50) as usize;
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt() > 0.02)
        .collect();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    for (i, l) in loud.iter().enumerate() {
        if !l {
            continue;
        }
        match regions.last_mut() {
            Some((_, end)) if i - *end <= 17 => *end = i + 1,
            _ => regions.push((i, i + 1)),
        }
    }
    let mut voices: Vec<f64> = Vec::new();
    regions
        .into_iter()
        .filter(|(s, e)| e - s >= 12)
        .filter_map(|(s, e)| {
            let part = &samples[s * frame..(e * frame).min(samples.len())];
            let hz = onevoice_activities::audio::pitch::median_hz(part, rate)?;
            let who = match voices.iter().position(|v| (hz - v).abs() < v * 0.2) {
                Some(n) => n,
                None => {
                    voices.push(hz);
                    voices.len() - 1
                }
            };
            let secs = |f: usize| (f * frame) as f64 / f64::from(rate);
            Some((secs(s), secs(e), who))
        })
        .collect()
}
