//! Speech recognition (speech_recognition) for jobs that bring no transcript: an
//! OpenAI-compatible transcription endpoint (`POST {base}/audio/transcriptions`, `whisper-1`,
//! `verbose_json` with segment and word timestamps) or ElevenLabs Scribe (words with speakers,
//! grouped into lines here), chosen by `ASR_PROVIDER`.
//!
//! The source track is decoded, mixed to mono and resampled to 16 kHz as it streams, and cut into
//! chunks of at most ten minutes (well under the 25 MB upload limit) at the quietest moment near
//! each boundary, so no word is cut in half; segment times are shifted back by each chunk's
//! offset. Every chunk's answer is cached in S3 under a hash of its audio, model and language,
//! so a retry, a resume or another job on the same video never pays twice.

use crate::audio::engine::EngineError;
use crate::audio::engine::decode::AudioReader;
use crate::audio::engine::resample::StreamResampler;
use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::text::timed::Word;
use crate::voice::http::{self, Auth, Refusal, pcm_to_wav};
use crate::{error, memo};
use onevoice_shared::contracts::{
    TranscribeInput, TranscriptOutput, activity, job_prefix, step_result_key,
};
use onevoice_shared::pipeline::Step;
use onevoice_shared::settings::{HttpProvider, Recognizer};
use onevoice_shared::srt::{self, Cue};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

const RATE: u32 = 16_000;
/// Longest chunk sent at once: 10 minutes of 16-bit 16 kHz mono is 19.2 MB.
const CHUNK_S: u64 = 600;
/// How far before a boundary the quietest cut point is looked for.
const SEARCH_S: u64 = 20;

pub struct SpeechActivities {
    deps: Deps,
    http: reqwest::Client,
}

impl SpeechActivities {
    pub fn new(deps: Deps) -> Self {
        let http = reqwest::Client::builder()
            .timeout(deps.speech.timeout.max(std::time::Duration::from_secs(300)))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { deps, http }
    }
}

/// A segment of a chunk's transcription, relative to the chunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Segment {
    start_ms: u64,
    end_ms: u64,
    text: String,
}

#[activities]
impl SpeechActivities {
    #[activity(name = activity::TRANSCRIBE)]
    pub async fn transcribe(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TranscribeInput,
    ) -> Result<TranscriptOutput, ActivityError> {
        let deps = &self.deps;
        let key = step_result_key(input.job_id, Step::SpeechRecognition);
        memo::once(&deps.storage, &key, || async {
            let recognizer = deps.speech.recognizer.ok_or_else(|| {
                error::permanent("speech recognition is not configured (ASR_PROVIDER)")
            })?;
            let scratch = Scratch::new(&deps.tools.work_dir, "transcribe")?;
            let source = scratch.path("source.audio");
            deps.storage
                .download_to(&input.audio_key, &source)
                .await
                .map_err(error::storage)?;
            let dir = scratch.path("");
            let chunks = tokio::task::spawn_blocking(move || cut_chunks(&source, &dir))
                .await
                .map_err(|e| error::transient(format!("preparing audio: {e}")))?
                .map_err(|e| error::permanent(format!("the audio cannot be read: {e}")))?;
            let mut cues = Vec::new();
            let mut words: Vec<Word> = Vec::new();
            // Detection happens on the first chunk; the rest are told what it found.
            let mut language = (!input.detect).then_some(input.language);
            let mut detected = None;
            for (offset_ms, path) in chunks {
                let wav = tokio::fs::read(&path)
                    .await
                    .map_err(|e| error::transient(format!("reading a chunk: {e}")))?;
                let Recognized {
                    segments,
                    words: timed,
                    language: heard,
                } = self.chunk_segments(recognizer, language, wav).await?;
                words.extend(timed.into_iter().map(|w| Word {
                    start_ms: offset_ms + w.start_ms,
                    end_ms: offset_ms + w.end_ms,
                    text: w.text,
                }));
                if language.is_none() {
                    let heard = heard.ok_or_else(|| {
                        error::permanent(format!("{} detected no language", recognizer.name()))
                    })?;
                    let found: onevoice_shared::language::Language =
                        heard.parse().map_err(|_| {
                            error::permanent(format!(
                                "the speech is in `{heard}`, a language OneVoice does not dub from"
                            ))
                        })?;
                    language = Some(found);
                    detected = Some(found);
                }
                cues.extend(segments.into_iter().map(|s| Cue {
                    start_ms: offset_ms + s.start_ms,
                    end_ms: offset_ms + s.end_ms.max(s.start_ms),
                    text: s.text,
                }));
                let _ = ctx.record_heartbeat(cues.len() as u64).await;
            }
            if cues.is_empty() {
                return Err(error::permanent("no speech was recognized in the video"));
            }
            let cues_key = format!("{}text/source_cues.json", job_prefix(input.job_id));
            deps.storage
                .put_json(&cues_key, &cues)
                .await
                .map_err(error::storage)?;
            let words_key = if words.is_empty() {
                None
            } else {
                let key = format!("{}text/source_words.json", job_prefix(input.job_id));
                deps.storage
                    .put_json(&key, &words)
                    .await
                    .map_err(error::storage)?;
                Some(key)
            };
            deps.storage
                .put_bytes(
                    &input.transcript_key,
                    srt::write(&cues).into_bytes(),
                    "application/x-subrip",
                )
                .await
                .map_err(error::storage)?;
            Ok(TranscriptOutput {
                cues_key,
                lines: cues.len() as u32,
                language: detected,
                words_key,
            })
        })
        .await
    }
}

impl SpeechActivities {
    /// One chunk's segments: from the cache, or from the provider (then cached).
    async fn chunk_segments(
        &self,
        recognizer: Recognizer,
        language: Option<onevoice_shared::language::Language>,
        wav: Vec<u8>,
    ) -> Result<Recognized, ActivityError> {
        let speech = &self.deps.speech;
        let (model, provider): (&str, _) = match recognizer {
            Recognizer::OpenAi => (&speech.transcription_model, speech.openai.as_ref()),
            Recognizer::ElevenLabs => (&speech.scribe_model, speech.elevenlabs.as_ref()),
            // The host picks its model; the cache is keyed on the alignment mode.
            Recognizer::WhisperX => ("align", speech.whisperx.as_ref()),
        };
        let provider = provider
            .ok_or_else(|| error::permanent(format!("{} is not configured", recognizer.name())))?;
        let language = language.map(|l| l.code());
        let mut hash = Sha256::new();
        for part in [recognizer.name(), model, language.unwrap_or("auto")] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(&wav);
        let cache_key = format!("asr-cache/{}/{:x}.json", recognizer.name(), hash.finalize());
        if let Ok(cached) = self.deps.storage.get_json::<Recognized>(&cache_key).await {
            return Ok(cached);
        }
        let segments = self
            .recognize(recognizer, provider, model, language, &wav)
            .await?;
        self.deps
            .storage
            .put_json(&cache_key, &segments)
            .await
            .map_err(error::storage)?;
        Ok(segments)
    }

    /// Sends one chunk to the recognizer's endpoint and parses its answer.
    async fn recognize(
        &self,
        recognizer: Recognizer,
        provider: &HttpProvider,
        model: &str,
        language: Option<&str>,
        wav: &[u8],
    ) -> Result<Recognized, ActivityError> {
        let api = Api::of(recognizer, model);
        let url = http::url(provider, api.name, api.path)?;
        let body = http::send(
            api.name,
            || {
                let mut form = reqwest::multipart::Form::new().part(api.file_field, wav_part(wav));
                for (key, value) in &api.fields {
                    form = form.text(*key, value.clone());
                }
                if let Some(l) = language {
                    form = form.text(api.language_field, l.to_string());
                }
                http::authorize(
                    self.http.post(url.clone()).multipart(form),
                    provider,
                    api.auth,
                )
            },
            classify,
        )
        .await?;
        match recognizer {
            Recognizer::ElevenLabs => parse_scribe(&body),
            Recognizer::OpenAi => parse_verbose(&body),
            Recognizer::WhisperX => {
                let doc: Value = serde_json::from_slice(&body)
                    .map_err(|e| error::transient(format!("WhisperX: malformed answer: {e}")))?;
                if doc["segments"].as_array().is_none() {
                    let reason = doc["error"].as_str().unwrap_or("no segments in the answer");
                    return Err(error::transient(format!("WhisperX: {reason}")));
                }
                parse_verbose(&body)
            }
        }
    }
}

/// How each recognizer is called: the multipart fields of its API.
struct Api {
    name: &'static str,
    path: &'static str,
    file_field: &'static str,
    language_field: &'static str,
    fields: Vec<(&'static str, String)>,
    auth: Auth,
}

impl Api {
    fn of(recognizer: Recognizer, model: &str) -> Self {
        let fields = |pairs: &[(&'static str, &str)]| {
            pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
        };
        match recognizer {
            // `POST {base}/audio/transcriptions`: verbose_json with segment and word times.
            Recognizer::OpenAi => Self {
                name: "OpenAI transcription",
                path: "audio/transcriptions",
                file_field: "file",
                language_field: "language",
                fields: fields(&[
                    ("model", model),
                    ("response_format", "verbose_json"),
                    ("timestamp_granularities[]", "segment"),
                    ("timestamp_granularities[]", "word"),
                ]),
                auth: Auth::Bearer,
            },
            // Scribe (`POST /v1/speech-to-text`): words with spacing tokens and speakers.
            Recognizer::ElevenLabs => Self {
                name: "ElevenLabs Scribe",
                path: "v1/speech-to-text",
                file_field: "file",
                language_field: "language_code",
                fields: fields(&[
                    ("model_id", model),
                    ("timestamps_granularity", "word"),
                    ("diarize", "true"),
                    ("tag_audio_events", "false"),
                ]),
                auth: Auth::XiApiKey,
            },
            // A WhisperX host (`POST {base}/302/whisperx`, aligned): WhisperX's native segments.
            Recognizer::WhisperX => Self {
                name: "WhisperX",
                path: "302/whisperx",
                file_field: "audio_input",
                language_field: "language",
                fields: fields(&[("processing_type", "align"), ("output", "raw")]),
                auth: Auth::Bearer,
            },
        }
    }
}

fn wav_part(wav: &[u8]) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(wav.to_vec())
        .file_name("audio.wav")
        .mime_str("audio/wav")
        .expect("a valid MIME type")
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
    let mut current: Option<(Segment, Option<String>)> = None;
    let mut words = Vec::new();
    for word in doc["words"].as_array().into_iter().flatten() {
        let text = word["text"].as_str().unwrap_or("");
        match word["type"].as_str() {
            Some("spacing") => {
                if let Some((seg, _)) = current.as_mut() {
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
        words.push(Word {
            start_ms: start,
            end_ms: end.max(start),
            text: text.to_string(),
        });
        let speaker = word["speaker_id"].as_str().map(str::to_string);
        let breaks = current.as_ref().is_some_and(|(seg, who)| {
            let ended = seg
                .text
                .trim_end()
                .ends_with(['.', '!', '?', '。', '！', '？']);
            start > seg.end_ms + 1000
                || *who != speaker
                || (ended && seg.end_ms - seg.start_ms >= 1000)
        });
        if breaks && let Some((seg, _)) = current.take() {
            segments.push(seg);
        }
        match current.as_mut() {
            Some((seg, _)) => {
                seg.text.push_str(text);
                seg.end_ms = end;
            }
            None => {
                current = Some((
                    Segment {
                        start_ms: start,
                        end_ms: end,
                        text: text.to_string(),
                    },
                    speaker,
                ));
            }
        }
    }
    segments.extend(current.map(|(seg, _)| seg));
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
    })
}

/// What a recognizer heard in a chunk, as cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Recognized {
    segments: Vec<Segment>,
    /// Timed words (relative to the chunk), when the recognizer gives them.
    #[serde(default)]
    words: Vec<Word>,
    /// The language it reports (`english`, `en`, `eng`: each provider has its own form).
    language: Option<String>,
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
            })
            .collect(),
        // Without segments, the whole text is one line over the audio's duration.
        None => vec![Segment {
            start_ms: 0,
            end_ms: ms(&doc["duration"]),
            text: doc["text"].as_str().unwrap_or("").trim().to_string(),
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
    })
}

fn classify(status: StatusCode, body: &[u8]) -> Refusal {
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

/// Decodes `source` to 16 kHz mono and writes WAV chunks of at most `CHUNK_S` into `dir`, cut at
/// the quietest 100 ms in the `SEARCH_S` before each boundary; returns (offset ms, path).
fn cut_chunks(
    source: &std::path::Path,
    dir: &std::path::Path,
) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut reader = AudioReader::open(source)?;
    let mut decoded = Vec::new();
    let mut resampler: Option<StreamResampler> = None;
    let mut pending: Vec<f32> = Vec::new();
    let mut chunks = Vec::new();
    let mut offset: u64 = 0;
    let limit = (CHUNK_S * u64::from(RATE)) as usize;
    loop {
        decoded.clear();
        let more = reader.next_into(&mut decoded)?;
        let channels = reader.channels.max(1);
        let mono: Vec<f32> = decoded
            .chunks_exact(channels)
            .map(|f| f.iter().sum::<f32>() / channels as f32)
            .collect();
        let r = match resampler.as_mut() {
            Some(r) => r,
            None => resampler.insert(StreamResampler::new(reader.rate.max(1), RATE, 1)?),
        };
        r.push(&mono, &mut pending)?;
        if !more {
            r.finish(&mut pending)?;
        }
        while pending.len() > limit || (!more && !pending.is_empty()) {
            let cut = if pending.len() > limit {
                quietest_cut(&pending[..limit])
            } else {
                pending.len()
            };
            let rest = pending.split_off(cut);
            let path = dir.join(format!("asr{}.wav", chunks.len()));
            let pcm: Vec<u8> = pending
                .iter()
                .flat_map(|s| ((s * 32767.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
                .collect();
            std::fs::write(&path, pcm_to_wav(&pcm, RATE)).map_err(|e| EngineError::io(&path, e))?;
            chunks.push((offset * 1000 / u64::from(RATE), path));
            offset += pending.len() as u64;
            pending = rest;
        }
        if !more {
            return Ok(chunks);
        }
    }
}

/// Where to cut a chunk that fills `samples`: the start of its quietest 100 ms within the last
/// `SEARCH_S` seconds.
fn quietest_cut(samples: &[f32]) -> usize {
    let window = (RATE / 10) as usize;
    let from = samples
        .len()
        .saturating_sub((SEARCH_S * u64::from(RATE)) as usize);
    let mut best = (f32::MAX, samples.len());
    let mut at = from;
    while at + window <= samples.len() {
        let energy: f32 = samples[at..at + window].iter().map(|s| s * s).sum();
        if energy < best.0 {
            best = (energy, at + window / 2);
        }
        at += window / 2;
    }
    best.1.max(1)
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
                text: "Hi".into()
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
    }

    #[test]
    fn cuts_in_the_quiet() {
        let mut samples = vec![0.5f32; (RATE * 30) as usize];
        let quiet = (RATE * 25) as usize;
        samples[quiet..quiet + 3_200].fill(0.0);
        let cut = quietest_cut(&samples);
        assert!((quiet..quiet + 3_200).contains(&cut), "{cut}");
    }
}
