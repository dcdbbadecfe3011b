//! The fakes' voice cloning (provider-contracts-speakers.md): ElevenLabs instant voice cloning
//! (`POST /v1/voices/add`, `DELETE /v1/voices/{id}`) and Fish Audio models (`POST /model`,
//! `DELETE /model/{id}`). Each refuses what its API refuses (unknown or missing fields, a public
//! Fish model without a cover image, no sample) in its own error shape, and a clone then speaks:
//! the synthesis fakes answer its id with a tone at the pitch of the sample it was made from, and
//! refuse it once deleted, as they refuse any voice they do not have.

use super::{Inner, KEY, json_error};
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use onevoice_activities::audio::pitch;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A voice a fake made.
#[derive(Clone, Debug)]
pub struct FakeClone {
    /// `elevenlabs` or `fish`.
    pub provider: &'static str,
    pub id: String,
    /// `name` (ElevenLabs) or `title` (Fish).
    pub name: String,
    /// Seconds of audio in the samples.
    pub seconds: f64,
    /// Median pitch of the samples.
    pub hz: Option<f64>,
    /// The form's other text fields, as sent.
    pub fields: Vec<(String, String)>,
    pub deleted: bool,
}

pub(super) fn is_clone_request(method: &Method, path: &str) -> bool {
    (method == Method::POST && (path == "/v1/voices/add" || path == "/model"))
        || (method == Method::DELETE
            && (path.starts_with("/v1/voices/") || path.starts_with("/model/")))
}

/// Whether `voice` speaks at the provider, and at which pitch when it is a clone:
/// `None` unknown, `Some(None)` a stock voice, `Some(Some(hz))` a clone.
pub(super) fn voice(inner: &Inner, provider: &str, voice: &str) -> Option<Option<f64>> {
    let stock = match provider {
        "elevenlabs" => onevoice_shared::voices::ELEVENLABS_VOICES
            .iter()
            .any(|(id, _, _)| *id == voice),
        _ => voice == super::FISH_STOCK_VOICE,
    };
    if stock {
        return Some(None);
    }
    inner
        .clones
        .iter()
        .find(|c| c.provider == provider && c.id == voice && !c.deleted)
        .map(|c| Some(c.hz.unwrap_or(180.0)))
}

pub(super) async fn handle(inner: Arc<Mutex<Inner>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let eleven = path.starts_with("/v1/voices/");
    // Read before any await: a borrowed request is not `Send`.
    let authorized = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        if eleven {
            header("xi-api-key") == KEY
        } else {
            header("authorization") == format!("Bearer {KEY}")
        }
    };
    if !authorized {
        return if eleven {
            json_error(
                401,
                json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
            )
        } else {
            json_error(401, json!({"status": 401, "message": "Invalid token"}))
        };
    }
    if req.method() == Method::DELETE {
        return delete(&inner, &path, eleven);
    }
    let Ok(mut form) = axum::extract::Multipart::from_request(req, &()).await else {
        return refuse(eleven, "body", "expected multipart/form-data");
    };
    let (known, file_field, name_field): (&[&str], &str, &str) = if eleven {
        (
            &[
                "name",
                "files",
                "remove_background_noise",
                "description",
                "labels",
            ],
            "files",
            "name",
        )
    } else {
        (
            &[
                "type",
                "title",
                "train_mode",
                "voices",
                "texts",
                "visibility",
                "description",
                "cover_image",
                "tags",
                "enhance_audio_quality",
                "generate_sample",
            ],
            "voices",
            "title",
        )
    };
    let mut samples = Vec::new();
    let mut fields = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        if !known.contains(&name.as_str()) {
            return refuse(eleven, &name, "extra fields not permitted");
        }
        if name == file_field {
            samples.push(field.bytes().await.unwrap_or_default().to_vec());
        } else {
            fields.push((name, field.text().await.unwrap_or_default()));
        }
    }
    let text = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(name) = text(name_field).filter(|n| !n.trim().is_empty()) else {
        return refuse(eleven, name_field, "Field required");
    };
    let name = name.to_string();
    if samples.is_empty() || samples.iter().any(|s| s.len() <= 44 || &s[0..4] != b"RIFF") {
        return refuse(eleven, file_field, "a non-empty audio file is required");
    }
    if eleven {
        if let Some(labels) = text("labels")
            && serde_json::from_str::<serde_json::Map<String, Value>>(labels).is_err()
        {
            return refuse(eleven, "labels", "must be a JSON object");
        }
    } else {
        if text("type") != Some("tts") || text("train_mode") != Some("fast") {
            return refuse(
                eleven,
                "type",
                "type `tts` and train_mode `fast` are required",
            );
        }
        // The API's default visibility is public, which needs a cover image.
        if text("visibility").unwrap_or("public") == "public" && text("cover_image").is_none() {
            return refuse(eleven, "cover_image", "a public model needs a cover image");
        }
    }
    let mut inner = inner.lock().unwrap();
    if let Some(res) = inner.take_fault(&path, &name) {
        return res;
    }
    inner.record(&path, name.clone(), name.clone());
    let (seconds, hz) = heard(&samples);
    let n = inner.clones.len();
    let id = if eleven {
        format!("clone{n:04}x{}", name.len())
    } else {
        format!("{n:08x}{:024x}", name.len())
    };
    inner.clones.push(FakeClone {
        provider: if eleven { "elevenlabs" } else { "fish" },
        id: id.clone(),
        name: name.clone(),
        seconds,
        hz,
        fields,
        deleted: false,
    });
    if eleven {
        (
            StatusCode::OK,
            axum::Json(json!({"voice_id": id, "requires_verification": false})),
        )
            .into_response()
    } else {
        let now = "2026-12-05T00:00:00Z";
        (
            StatusCode::CREATED,
            axum::Json(json!({
                "_id": id, "type": "tts", "title": name, "state": "trained", "tags": [],
                "visibility": "private", "created_at": now, "updated_at": now,
                "like_count": 0, "mark_count": 0, "shared_count": 0, "task_count": 0,
                "author": {"_id": "fake", "nickname": "fake", "avatar": ""}, "samples": []
            })),
        )
            .into_response()
    }
}

fn delete(inner: &Mutex<Inner>, path: &str, eleven: bool) -> Response {
    let id = path.rsplit('/').next().unwrap_or("");
    let provider = if eleven { "elevenlabs" } else { "fish" };
    let mut inner = inner.lock().unwrap();
    if let Some(res) = inner.take_fault(path, id) {
        return res;
    }
    inner.record(path, format!("delete {id}"), id.to_string());
    match inner
        .clones
        .iter_mut()
        .find(|c| c.provider == provider && c.id == id && !c.deleted)
    {
        Some(clone) => {
            clone.deleted = true;
            if eleven {
                (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
            } else {
                StatusCode::OK.into_response()
            }
        }
        None if eleven => json_error(
            400,
            json!({"detail": {"status": "voice_not_found", "message": "A voice with this id was not found."}}),
        ),
        None => json_error(404, json!({"status": 404, "message": "Model not found"})),
    }
}

/// A validation refusal in the API's own shape.
fn refuse(eleven: bool, field: &str, msg: &str) -> Response {
    if eleven {
        json_error(
            422,
            json!({"detail": [{"loc": ["body", field], "msg": msg, "type": "value_error"}]}),
        )
    } else {
        json_error(
            422,
            json!([{"loc": ["body", field], "msg": msg, "type": "value_error"}]),
        )
    }
}

/// The samples' length and median pitch (16-bit mono WAV).
fn heard(samples: &[Vec<u8>]) -> (f64, Option<f64>) {
    let mut seconds = 0.0;
    let mut voice = Vec::new();
    let mut rate = 16_000;
    for wav in samples {
        rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]).max(1);
        let pcm: Vec<f32> = wav[44..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        seconds += pcm.len() as f64 / f64::from(rate);
        voice.extend(pcm);
    }
    (seconds, pitch::median_hz(&voice, rate))
}
