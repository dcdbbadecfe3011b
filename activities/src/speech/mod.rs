//! Speech recognition (speech_recognition) for jobs that bring no transcript, by the recognizer
//! `ASR_PROVIDER` chooses (`recognizers`: an OpenAI-compatible transcription endpoint, ElevenLabs
//! Scribe or a WhisperX host, each behind the `Transcriber` trait).
//!
//! The source track is decoded, mixed to mono and resampled to 16 kHz as it streams, and cut into
//! chunks of at most ten minutes (well under the 25 MB upload limit) at the quietest moment near
//! each boundary, so no word is cut in half; segment times are shifted back by each chunk's
//! offset. Every chunk's answer is cached in S3 under a hash of its audio, model and language,
//! so a retry, a resume or another job on the same video never pays twice.

use crate::audio::engine::EngineError;
use crate::audio::engine::decode::stream_mono;
use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::text::timed::Word;
use crate::voice::http::{self, pcm_to_wav};
use crate::{error, heartbeat, memo};
use onevoice_shared::contracts::{TranscribeInput, TranscriptOutput, activity};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::settings::Recognizer;
use onevoice_shared::srt::{self, Cue};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

mod recognizers;
mod speakers;
use recognizers::Recognized;

const RATE: u32 = 16_000;
/// How far before a boundary the quietest cut point is looked for (at most a quarter of a chunk).
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

#[activities]
impl SpeechActivities {
    #[activity(name = activity::TRANSCRIBE)]
    pub async fn transcribe(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TranscribeInput,
    ) -> Result<TranscriptOutput, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).step_result(Step::SpeechRecognition);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let recognizer = input.recognizer.or(deps.speech.recognizer).ok_or_else(|| {
                    error::invalid_input("speech recognition is not configured (ASR_PROVIDER)")
                })?;
                let scratch = Scratch::new(&deps.tools.work_dir, "transcribe")?;
                let source = scratch.path("source.audio");
                deps.storage
                    .download_to(&input.audio_key, &source)
                    .await
                    .map_err(error::storage)?;
                let dir = scratch.path("");
                let chunk_s = deps.speech.chunk_secs.max(4);
                let chunks =
                    tokio::task::spawn_blocking(move || cut_chunks(&source, &dir, chunk_s))
                        .await
                        .map_err(|e| error::transient(format!("preparing audio: {e}")))?
                        .map_err(|e| {
                            tracing::warn!(error = %e, "the job's audio cannot be read");
                            error::invalid_input("the video's audio cannot be read")
                        })?;
                let mut cues = Vec::new();
                let mut words: Vec<Word> = Vec::new();
                // Detection happens on the first chunk; the rest are told what it found.
                let mut language = (!input.detect).then_some(input.language);
                let mut detected = None;
                let mut voices = speakers::Voices::default();
                for (offset_ms, path) in chunks {
                    let wav = tokio::fs::read(&path)
                        .await
                        .map_err(|e| error::transient(format!("reading a chunk: {e}")))?;
                    let mut recognized = self.chunk_segments(recognizer, language, &wav).await?;
                    // The provider numbers speakers per request: the same person gets the same
                    // label in every chunk.
                    voices.relabel(&mut recognized, &wav);
                    let Recognized {
                        segments,
                        words: timed,
                        language: heard,
                        ..
                    } = recognized;
                    words.extend(timed.into_iter().map(|w| Word {
                        start_ms: offset_ms + w.start_ms,
                        end_ms: offset_ms + w.end_ms,
                        text: w.text,
                        speaker: w.speaker,
                    }));
                    if language.is_none() {
                        let heard = heard.ok_or_else(|| {
                            error::invalid_input(format!(
                                "{} detected no language",
                                recognizer.name()
                            ))
                        })?;
                        let found: onevoice_shared::language::Language =
                        heard.parse().map_err(|_| {
                            error::invalid_input(format!(
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
                        speaker: s.speaker,
                    }));
                    crate::heartbeat::progress(&ctx, cues.len() as u64).await;
                }
                if cues.is_empty() {
                    return Err(error::invalid_input(
                        "no speech was recognized in the video",
                    ));
                }
                let cues_key = JobKeys(input.job_id).text_json("source_cues");
                deps.storage
                    .put_json(&cues_key, &cues)
                    .await
                    .map_err(error::storage)?;
                let words_key = if words.is_empty() {
                    None
                } else {
                    let key = JobKeys(input.job_id).text_json("source_words");
                    deps.storage
                        .put_json(&key, &words)
                        .await
                        .map_err(error::storage)?;
                    Some(key)
                };
                deps.storage
                    .put_bytes(
                        &input.transcript_key,
                        srt::write_with_speakers(&cues).into_bytes(),
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
            }),
        )
        .await
    }
}

impl SpeechActivities {
    /// One chunk's segments: from the cache, or from the provider (then cached).
    async fn chunk_segments(
        &self,
        recognizer: Recognizer,
        language: Option<onevoice_shared::language::Language>,
        wav: &[u8],
    ) -> Result<Recognized, ActivityError> {
        let (transcriber, provider) = recognizers::configured(recognizer, &self.deps.speech)?;
        let language = language.map(|l| l.code());
        let mut hash = Sha256::new();
        for part in [
            recognizer.name(),
            transcriber.model(),
            language.unwrap_or("auto"),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(wav);
        let cache_key =
            onevoice_shared::keys::asr_cache(recognizer.name(), &format!("{:x}", hash.finalize()));
        if let Ok(cached) = self.deps.storage.get_json::<Recognized>(&cache_key).await {
            return Ok(cached);
        }
        let url = http::url(provider, transcriber.name(), transcriber.path())?;
        let body = http::send(
            transcriber.name(),
            || {
                http::authorize(
                    self.http
                        .post(url.clone())
                        .multipart(transcriber.form(wav, language)),
                    provider,
                    transcriber.auth(),
                )
            },
            recognizers::classify,
        )
        .await?;
        let segments = transcriber.parse(&body)?;
        self.deps
            .storage
            .put_json(&cache_key, &segments)
            .await
            .map_err(error::storage)?;
        Ok(segments)
    }
}

/// Decodes `source` to 16 kHz mono and writes WAV chunks of at most `chunk_s` into `dir`, cut
/// at the quietest 100 ms shortly before each boundary; returns (offset ms, path).
fn cut_chunks(
    source: &std::path::Path,
    dir: &std::path::Path,
    chunk_s: u64,
) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut pending: Vec<f32> = Vec::new();
    let mut chunks = Vec::new();
    let mut offset: u64 = 0;
    let limit = (chunk_s * u64::from(RATE)) as usize;
    let search = SEARCH_S.min(chunk_s / 4).max(1);
    stream_mono(source, RATE, |block, last| {
        let more = !last;
        pending.extend_from_slice(block);
        while pending.len() > limit || (!more && !pending.is_empty()) {
            let cut = if pending.len() > limit {
                quietest_cut(&pending[..limit], search)
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
        Ok(())
    })?;
    Ok(chunks)
}

/// Where to cut a chunk that fills `samples`: the start of its quietest 100 ms within the last
/// `search_s` seconds.
fn quietest_cut(samples: &[f32], search_s: u64) -> usize {
    let window = (RATE / 10) as usize;
    let from = samples
        .len()
        .saturating_sub((search_s * u64::from(RATE)) as usize);
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
    fn cuts_in_the_quiet() {
        let mut samples = vec![0.5f32; (RATE * 30) as usize];
        let quiet = (RATE * 25) as usize;
        samples[quiet..quiet + 3_200].fill(0.0);
        let cut = quietest_cut(&samples, SEARCH_S);
        assert!((quiet..quiet + 3_200).contains(&cut), "{cut}");
    }
}
