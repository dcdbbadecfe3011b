//! The speech recognizers, one `Transcriber` each: how a chunk of 16 kHz WAV is sent (path,
//! multipart fields, key) and how the answer is read into timed segments and words. The request
//! itself (retries, `Retry-After`, error classes) and the cache are shared (`super`).

use crate::error;
use crate::text::timed::Word;
use crate::voice::http::{self, Auth, Refusal};
use onevoice_shared::settings::{HttpProvider, Recognizer, SpeechSettings};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use temporalio_sdk::activities::ActivityError;

/// A speech-recognition API.
pub(super) trait Transcriber: Send + Sync {
    /// Names the provider in errors and logs.
    fn name(&self) -> &'static str;
    /// What else decides the answer besides audio and language (part of the cache key).
    fn model(&self) -> &str;
    /// Relative to the provider's base URL.
    fn path(&self) -> &'static str;
    fn auth(&self) -> Auth;
    /// The multipart form for one chunk; `language` (ISO 639-1) when known, else detection.
    fn form(&self, wav: &[u8], language: Option<&str>) -> Form;
    /// Reads a 200 answer; a body that is not a transcript is a retryable error.
    fn parse(&self, body: &[u8]) -> Result<Recognized, ActivityError>;
}

/// The transcriber `recognizer` names, with its provider settings.
pub(super) fn configured(
    recognizer: Recognizer,
    speech: &SpeechSettings,
) -> Result<(Box<dyn Transcriber>, &HttpProvider), ActivityError> {
    let (transcriber, provider): (Box<dyn Transcriber>, _) = match recognizer {
        Recognizer::OpenAi => (
            Box::new(OpenAiTranscription {
                name: "OpenAI transcription",
                model: speech.transcription_model.clone(),
                diarize: false,
            }),
            speech.openai.as_ref(),
        ),
        // The local service speaks the same protocol; its model is named by its settings.
        Recognizer::Local => (
            Box::new(OpenAiTranscription {
                name: "local speech recognition",
                model: speech
                    .local_asr
                    .as_ref()
                    .map(|p| p.model.clone())
                    .unwrap_or_default(),
                // Ours: a speaker per segment and word, and each speaker's voiceprint.
                diarize: true,
            }),
            speech.local_asr.as_ref(),
        ),
        Recognizer::ElevenLabs => (
            Box::new(Scribe {
                model: speech.scribe_model.clone(),
            }),
            speech.elevenlabs.as_ref(),
        ),
        Recognizer::WhisperX => (Box::new(WhisperXHost), speech.whisperx.as_ref()),
    };
    let provider = provider
        .ok_or_else(|| error::invalid_input(format!("{} is not configured", recognizer.name())))?;
    Ok((transcriber, provider))
}

pub(super) use onevoice_shared::settings::OPENAI_DIARIZE_MODEL;

/// `POST {base}/audio/transcriptions` (OpenAI or a compatible server): `verbose_json` with
/// segment and word times, or `diarized_json` with a speaker per segment.
struct OpenAiTranscription {
    name: &'static str,
    model: String,
    /// Ask for speakers with `diarize=true` (the local service's extension of the protocol).
    diarize: bool,
}

impl Transcriber for OpenAiTranscription {
    fn name(&self) -> &'static str {
        self.name
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn path(&self) -> &'static str {
        "audio/transcriptions"
    }
    fn auth(&self) -> Auth {
        Auth::Bearer
    }
    fn form(&self, wav: &[u8], language: Option<&str>) -> Form {
        let form = Form::new()
            .part("file", wav_part(wav))
            .text("model", self.model.clone());
        // The diarizing model answers `diarized_json` only (a speaker per segment, no word
        // times), and needs a chunking strategy for audio over 30 s.
        let form = if self.model == OPENAI_DIARIZE_MODEL {
            form.text("response_format", "diarized_json")
                .text("chunking_strategy", "auto")
        } else {
            form.text("response_format", "verbose_json")
                .text("timestamp_granularities[]", "segment")
                .text("timestamp_granularities[]", "word")
        };
        let form = if self.diarize {
            form.text("diarize", "true")
        } else {
            form
        };
        with_language(form, "language", language)
    }
    fn parse(&self, body: &[u8]) -> Result<Recognized, ActivityError> {
        parse_verbose(body)
    }
}

/// ElevenLabs Scribe (`POST /v1/speech-to-text`): words with spacing tokens and speakers.
struct Scribe {
    model: String,
}

impl Transcriber for Scribe {
    fn name(&self) -> &'static str {
        "ElevenLabs Scribe"
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn path(&self) -> &'static str {
        "v1/speech-to-text"
    }
    fn auth(&self) -> Auth {
        Auth::XiApiKey
    }
    fn form(&self, wav: &[u8], language: Option<&str>) -> Form {
        let form = Form::new()
            .part("file", wav_part(wav))
            .text("model_id", self.model.clone())
            .text("timestamps_granularity", "word")
            .text("diarize", "true")
            .text("tag_audio_events", "false");
        with_language(form, "language_code", language)
    }
    fn parse(&self, body: &[u8]) -> Result<Recognized, ActivityError> {
        parse_scribe(body)
    }
}

/// A WhisperX host (`POST {base}/302/whisperx`, aligned): WhisperX's native segments.
struct WhisperXHost;

impl Transcriber for WhisperXHost {
    fn name(&self) -> &'static str {
        "WhisperX"
    }
    /// The host picks its model; answers differ by the alignment mode.
    fn model(&self) -> &str {
        "align"
    }
    fn path(&self) -> &'static str {
        "302/whisperx"
    }
    fn auth(&self) -> Auth {
        Auth::Bearer
    }
    fn form(&self, wav: &[u8], language: Option<&str>) -> Form {
        let form = Form::new()
            .part("audio_input", wav_part(wav))
            .text("processing_type", "align")
            .text("output", "raw");
        with_language(form, "language", language)
    }
    fn parse(&self, body: &[u8]) -> Result<Recognized, ActivityError> {
        let doc: Value = serde_json::from_slice(body)
            .map_err(|e| error::transient(format!("WhisperX: malformed answer: {e}")))?;
        if doc["segments"].as_array().is_none() {
            let reason = doc["error"].as_str().unwrap_or("no segments in the answer");
            return Err(error::transient(format!("WhisperX: {reason}")));
        }
        parse_verbose(body)
    }
}

fn with_language(form: Form, field: &'static str, language: Option<&str>) -> Form {
    match language {
        Some(l) => form.text(field, l.to_string()),
        None => form,
    }
}

fn wav_part(wav: &[u8]) -> Part {
    crate::voice::http::wav_part(wav, "audio.wav")
}

/// A segment of a chunk's transcription, relative to the chunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// The provider's label of who says it (`speaker_0`, `A`), when it diarizes.
    #[serde(default)]
    pub speaker: Option<String>,
}

/// Scribe's words grouped into lines: a new line after a pause over a second, at a change of
/// speaker, or after a sentence's end once the line has run a second.
fn parse_scribe(body: &[u8]) -> Result<Recognized, ActivityError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| error::transient(format!("ElevenLabs Scribe: malformed answer: {e}")))?;
    // A 200 without the words is not an empty transcript: it must not be cached as one.
    if !doc["words"].is_array() {
        return Err(error::transient(
            "ElevenLabs Scribe: malformed answer: no `words`",
        ));
    }
    let ms = |v: &Value| v.as_f64().map(|s| (s.max(0.0) * 1000.0).round() as u64);
    let mut segments: Vec<Segment> = Vec::new();
    let mut current: Option<Segment> = None;
    let mut words = Vec::new();
    for word in doc["words"].as_array().into_iter().flatten() {
        let text = word["text"].as_str().unwrap_or("");
        match word["type"].as_str() {
            Some("spacing") => {
                if let Some(seg) = current.as_mut() {
                    seg.text.push_str(text);
                }
                continue;
            }
            Some("word") | None => {}
            // Audio events (laughter, music) are not speech.
            _ => continue,
        }
        let (Some(start), Some(end)) = (ms(&word["start"]), ms(&word["end"])) else {
            continue;
        };
        let speaker = word["speaker_id"].as_str().map(str::to_string);
        words.push(Word {
            start_ms: start,
            end_ms: end.max(start),
            text: text.to_string(),
            speaker: speaker.clone(),
        });
        let breaks = current.as_ref().is_some_and(|seg| {
            let ended = seg
                .text
                .trim_end()
                .ends_with(['.', '!', '?', '。', '！', '？']);
            start > seg.end_ms + 1000
                || seg.speaker != speaker
                || (ended && seg.end_ms - seg.start_ms >= 1000)
        });
        if breaks && let Some(seg) = current.take() {
            segments.push(seg);
        }
        match current.as_mut() {
            Some(seg) => {
                seg.text.push_str(text);
                seg.end_ms = end;
            }
            None => {
                current = Some(Segment {
                    start_ms: start,
                    end_ms: end,
                    text: text.to_string(),
                    speaker,
                });
            }
        }
    }
    segments.extend(current);
    for seg in &mut segments {
        seg.text = seg.text.trim().to_string();
    }
    Ok(Recognized {
        segments: segments
            .into_iter()
            .filter(|s| !s.text.is_empty())
            .collect(),
        words,
        language: doc["language_code"].as_str().map(str::to_string),
        voiceprints: Default::default(),
    })
}

/// What a recognizer heard in a chunk, as cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Recognized {
    pub segments: Vec<Segment>,
    /// Timed words (relative to the chunk), when the recognizer gives them.
    #[serde(default)]
    pub words: Vec<Word>,
    /// The language it reports (`english`, `en`, `eng`: each provider has its own form).
    pub language: Option<String>,
    /// Each speaker's voiceprint (a unit speaker embedding), when the recognizer gives them
    /// (the local service), by its label in this chunk.
    #[serde(default)]
    pub voiceprints: std::collections::BTreeMap<String, Vec<f32>>,
}

/// `verbose_json`: segments with times in seconds (the words are there too; segments are the
/// lines). A malformed answer is retried: the next one may be whole.
fn parse_verbose(body: &[u8]) -> Result<Recognized, ActivityError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| error::transient(format!("OpenAI transcription: malformed answer: {e}")))?;
    if !doc["segments"].is_array() && !doc["text"].is_string() {
        return Err(error::transient(
            "OpenAI transcription: malformed answer: neither `segments` nor `text`",
        ));
    }
    let ms = |v: &Value| (v.as_f64().unwrap_or(0.0).max(0.0) * 1000.0).round() as u64;
    let segments = match doc["segments"].as_array() {
        Some(segments) => segments
            .iter()
            .map(|s| Segment {
                start_ms: ms(&s["start"]),
                end_ms: ms(&s["end"]),
                text: s["text"].as_str().unwrap_or("").trim().to_string(),
                // `diarized_json` (OpenAI's diarizing model) names a speaker per segment.
                speaker: s["speaker"].as_str().map(str::to_string),
            })
            .collect(),
        // Without segments, the whole text is one line over the audio's duration.
        None => vec![Segment {
            start_ms: 0,
            end_ms: ms(&doc["duration"]),
            text: doc["text"].as_str().unwrap_or("").trim().to_string(),
            speaker: None,
        }],
    };
    // OpenAI lists the words beside the segments; WhisperX inside each segment.
    let nested = doc["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["words"].as_array().into_iter().flatten());
    let words = doc["words"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(nested)
        .filter_map(|w| {
            let text = w["word"].as_str()?.trim();
            (!text.is_empty() && w["start"].is_number()).then(|| Word {
                start_ms: ms(&w["start"]),
                end_ms: ms(&w["end"]).max(ms(&w["start"])),
                text: text.to_string(),
                // The local service diarizes words too.
                speaker: w["speaker"].as_str().map(str::to_string),
            })
        })
        .collect();
    Ok(Recognized {
        segments: segments
            .into_iter()
            .filter(|s| !s.text.is_empty())
            .collect(),
        words,
        language: doc["language"].as_str().map(str::to_string),
        // The local service's voiceprints: `speakers: [{id, embedding}]`.
        voiceprints: doc["speakers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let id = s["id"].as_str()?.to_string();
                let embedding: Vec<f32> = s["embedding"]
                    .as_array()?
                    .iter()
                    .filter_map(|x| x.as_f64().map(|x| x as f32))
                    .collect();
                (!embedding.is_empty()).then_some((id, embedding))
            })
            .collect(),
    })
}

pub(super) fn classify(status: StatusCode, body: &[u8]) -> Refusal {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    let quota = String::from_utf8_lossy(body).contains("insufficient_quota");
    Refusal {
        retryable: http::transient_status(status) && !quota,
        message: format!("{} {message}", status.as_u16()).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_verbose_json_with_and_without_segments() {
        let with = br#"{"language":"english","duration":4.2,"text":"Hi there. Bye.",
            "segments":[{"id":0,"start":0.0,"end":1.5,"text":" Hi there."},{"id":1,"start":2.0,"end":4.2,"text":" Bye."}],
            "words":[{"word":"Hi","start":0.0,"end":0.4}]}"#;
        let r = parse_verbose(with).unwrap();
        assert_eq!(r.language.as_deref(), Some("english"));
        assert_eq!(
            r.words,
            vec![Word {
                start_ms: 0,
                end_ms: 400,
                text: "Hi".into(),
                speaker: None,
            }]
        );
        let s = r.segments;
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[1].start_ms, s[1].end_ms, s[1].text.as_str()),
            (2000, 4200, "Bye.")
        );
        let without = br#"{"language":"en","duration":3.0,"text":"Only text."}"#;
        assert_eq!(parse_verbose(without).unwrap().segments[0].end_ms, 3000);
        assert!(parse_verbose(b"{oops").is_err());
        assert!(parse_verbose(br#"{"error": "busy"}"#).is_err());
        // WhisperX nests the words in the segments; an unaligned word has no times.
        let nested = br#"{"segments":[{"start":1.0,"end":2.0,"text":"Call 911","words":[
            {"word":"Call","start":1.0,"end":1.3,"score":0.9},{"word":"911"}]}]}"#;
        let words: Vec<String> = parse_verbose(nested)
            .unwrap()
            .words
            .into_iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(words, ["Call"]);
    }

    #[test]
    fn groups_scribe_words_into_lines() {
        let body = br#"{"language_code":"eng","text":"Hi there. Bye now.","words":[
            {"text":"Hi","start":0.1,"end":0.3,"type":"word","speaker_id":"speaker_0"},
            {"text":" ","start":0.3,"end":0.35,"type":"spacing","speaker_id":"speaker_0"},
            {"text":"there.","start":0.35,"end":1.2,"type":"word","speaker_id":"speaker_0"},
            {"text":"(laughs)","start":1.2,"end":1.5,"type":"audio_event","speaker_id":"speaker_1"},
            {"text":" ","start":1.5,"end":1.6,"type":"spacing","speaker_id":"speaker_0"},
            {"text":"Bye","start":3.0,"end":3.2,"type":"word","speaker_id":"speaker_1"},
            {"text":" ","start":3.2,"end":3.25,"type":"spacing","speaker_id":"speaker_1"},
            {"text":"now.","start":3.25,"end":3.6,"type":"word","speaker_id":"speaker_1"}]}"#;
        assert!(parse_scribe(br#"{"detail": "unexpected"}"#).is_err());
        let r = parse_scribe(body).unwrap();
        assert_eq!(r.language.as_deref(), Some("eng"));
        let s = r.segments;
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(
            (s[0].start_ms, s[0].end_ms, s[0].text.as_str()),
            (100, 1200, "Hi there.")
        );
        assert_eq!((s[1].start_ms, s[1].text.as_str()), (3000, "Bye now."));
        let words: Vec<(u64, &str)> = r
            .words
            .iter()
            .map(|w| (w.start_ms, w.text.as_str()))
            .collect();
        assert_eq!(
            words,
            [(100, "Hi"), (350, "there."), (3000, "Bye"), (3250, "now.")]
        );
        let speakers: Vec<Option<&str>> = s.iter().map(|s| s.speaker.as_deref()).collect();
        assert_eq!(speakers, [Some("speaker_0"), Some("speaker_1")]);
        assert_eq!(r.words[3].speaker.as_deref(), Some("speaker_1"));
    }

    #[test]
    fn reads_openai_diarized_json() {
        let body = br#"{"task":"transcribe","duration":11.8,"text":"...","segments":[
            {"type":"transcript.text.segment","id":"seg_001","start":0.0,"end":4.7,"text":"Thanks for calling.","speaker":"agent"},
            {"type":"transcript.text.segment","id":"seg_002","start":4.7,"end":11.8,"text":" Hi there.","speaker":"A"}],
            "usage":{"type":"duration","seconds":12}}"#;
        let r = parse_verbose(body).unwrap();
        let seen: Vec<(u64, &str, Option<&str>)> = r
            .segments
            .iter()
            .map(|s| (s.start_ms, s.text.as_str(), s.speaker.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (0, "Thanks for calling.", Some("agent")),
                (4700, "Hi there.", Some("A"))
            ]
        );
        assert!(r.words.is_empty());
    }
}
