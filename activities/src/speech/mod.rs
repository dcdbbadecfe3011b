//! Speech recognition (speech_recognition) for jobs that bring no transcript, by the recognizer
//! `ASR_PROVIDER` chooses (`recognizers`: an OpenAI-compatible transcription endpoint, ElevenLabs
//! Scribe or a WhisperX host, each behind the `Transcriber` trait).
//!
//! The source track is decoded, mixed to mono and resampled to 16 kHz as it streams, and cut into
//! chunks of at most ten minutes (well under the 25 MB upload limit) at the quietest moment near
//! each boundary, so no word is cut in half; segment times are shifted back by each chunk's
//! offset. Every chunk's answer is cached in S3 under a hash of its audio, model and language,
//! so a retry, a resume or another job on the same video never pays twice.
//!
//! The workflow runs this as separate activities so that long audio is recognized by every
//! worker at once: `cut_speech` stores the chunks, `recognize_chunk` hears one (the first alone
//! when the language is to be detected), `join_transcript` makes them the transcript.

use crate::audio::engine::EngineError;
use crate::audio::engine::decode::stream_mono;
use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::text::timed::Word;
use crate::voice::http::{self, pcm_to_wav};
use crate::{error, heartbeat, memo};
use onevoice_shared::contracts::{
    CutSpeechInput, JoinTranscriptInput, RecognizeChunkInput, RecognizedChunk, SpeechChunk,
    SpeechChunks, TranscribeInput, TranscriptOutput, activity,
};
use onevoice_shared::ids::JobId;
use onevoice_shared::keys::JobKeys;
use onevoice_shared::language::Language;
use onevoice_shared::pipeline::Step;
use onevoice_shared::settings::Recognizer;
use onevoice_shared::srt::{self, Cue};
use onevoice_shared::storage::Storage;
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
    /// The whole recognition in one activity: what jobs started before the chunks fanned out
    /// (no `recognition-chunks` marker) run on a resume.
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
                let recognizer = self.recognizer(input.recognizer)?;
                let scratch = Scratch::new(&deps.tools.work_dir, "transcribe")?;
                let chunks = self.cut(&scratch, &input.audio_key).await?;
                let mut transcript = Transcript::default();
                // Detection happens on the first chunk; the rest are told what it found.
                let mut language = (!input.detect).then_some(input.language);
                let mut detected = None;
                for (offset_ms, path) in chunks {
                    let wav = tokio::fs::read(&path)
                        .await
                        .map_err(|e| error::transient(format!("reading a chunk: {e}")))?;
                    let (_, recognized) = self.chunk_segments(recognizer, language, &wav).await?;
                    if language.is_none() {
                        let found = spoken_language(recognizer, recognized.language.as_deref())?;
                        language = Some(found);
                        detected = Some(found);
                    }
                    transcript.add(offset_ms, recognized, &wav);
                    crate::heartbeat::progress(&ctx, transcript.cues.len() as u64).await;
                }
                transcript
                    .store(&deps.storage, input.job_id, &input.transcript_key, detected)
                    .await
            }),
        )
        .await
    }

    /// The source track cut into recognition chunks, stored for any worker to recognize.
    #[activity(name = activity::CUT_SPEECH)]
    pub async fn cut_speech(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CutSpeechInput,
    ) -> Result<SpeechChunks, ActivityError> {
        let deps = &self.deps;
        let keys = JobKeys(input.job_id);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &keys.speech_chunks(), || async {
                let scratch = Scratch::new(&deps.tools.work_dir, "speech-cut")?;
                let mut chunks = Vec::new();
                for (n, (offset_ms, path)) in self
                    .cut(&scratch, &input.audio_key)
                    .await?
                    .into_iter()
                    .enumerate()
                {
                    let key = keys.speech_chunk(n);
                    deps.storage
                        .put_file(&key, &path, "audio/wav")
                        .await
                        .map_err(error::storage)?;
                    chunks.push(SpeechChunk { offset_ms, key });
                }
                Ok(SpeechChunks { chunks })
            }),
        )
        .await
    }

    /// One chunk recognized (or found in the recognizer's cache, which makes a retry free).
    #[activity(name = activity::RECOGNIZE_CHUNK)]
    pub async fn recognize_chunk(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecognizeChunkInput,
    ) -> Result<RecognizedChunk, ActivityError> {
        heartbeat::beating(&ctx, async {
            let recognizer = self.recognizer(input.recognizer)?;
            let wav = self
                .deps
                .storage
                .get_bytes(&input.chunk.key)
                .await
                .map_err(error::storage)?;
            let (result_key, recognized) = self
                .chunk_segments(recognizer, input.language, &wav)
                .await?;
            let language = match input.language {
                Some(told) => told,
                None => spoken_language(recognizer, recognized.language.as_deref())?,
            };
            Ok(RecognizedChunk {
                chunk: input.chunk,
                result_key,
                language,
            })
        })
        .await
    }

    /// The recognized chunks, in track order, made the job's transcript: times shifted by each
    /// chunk's offset, and each speaker given one label throughout.
    #[activity(name = activity::JOIN_TRANSCRIPT)]
    pub async fn join_transcript(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: JoinTranscriptInput,
    ) -> Result<TranscriptOutput, ActivityError> {
        let storage = &self.deps.storage;
        let key = JobKeys(input.job_id).step_result(Step::SpeechRecognition);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let mut transcript = Transcript::default();
                for part in &input.chunks {
                    let recognized: Recognized = storage
                        .get_json(&part.result_key)
                        .await
                        .map_err(error::storage)?;
                    // Only speaker labels need the audio (to match voices across chunks).
                    let wav = if recognized.segments.iter().any(|s| s.speaker.is_some()) {
                        storage
                            .get_bytes(&part.chunk.key)
                            .await
                            .map_err(error::storage)?
                    } else {
                        Vec::new()
                    };
                    transcript.add(part.chunk.offset_ms, recognized, &wav);
                }
                transcript
                    .store(storage, input.job_id, &input.transcript_key, input.detected)
                    .await
            }),
        )
        .await
    }
}

impl SpeechActivities {
    /// The job's recognizer, else the deployment's.
    fn recognizer(&self, chosen: Option<Recognizer>) -> Result<Recognizer, ActivityError> {
        chosen.or(self.deps.speech.recognizer).ok_or_else(|| {
            error::invalid_input("speech recognition is not configured (ASR_PROVIDER)")
        })
    }

    /// The source track decoded and cut into WAV chunks in `scratch`: (offset ms, path).
    async fn cut(
        &self,
        scratch: &Scratch,
        audio_key: &str,
    ) -> Result<Vec<(u64, PathBuf)>, ActivityError> {
        let source = scratch.path("source.audio");
        self.deps
            .storage
            .download_to(audio_key, &source)
            .await
            .map_err(error::storage)?;
        let dir = scratch.path("");
        let chunk_s = self.deps.speech.chunk_secs.max(4);
        tokio::task::spawn_blocking(move || cut_chunks(&source, &dir, chunk_s))
            .await
            .map_err(|e| error::transient(format!("preparing audio: {e}")))?
            .map_err(|e| {
                tracing::warn!(error = %e, "the job's audio cannot be read");
                error::invalid_input("the video's audio cannot be read")
            })
    }

    /// One chunk's segments and where they are cached: from the cache, or from the provider
    /// (then cached).
    async fn chunk_segments(
        &self,
        recognizer: Recognizer,
        language: Option<Language>,
        wav: &[u8],
    ) -> Result<(String, Recognized), ActivityError> {
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
            return Ok((cache_key, cached));
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
        Ok((cache_key, segments))
    }
}

/// The language a recognizer says it heard, if OneVoice dubs from it.
fn spoken_language(recognizer: Recognizer, heard: Option<&str>) -> Result<Language, ActivityError> {
    let heard = heard.ok_or_else(|| {
        error::invalid_input(format!("{} detected no language", recognizer.name()))
    })?;
    heard.parse().map_err(|_| {
        error::invalid_input(format!(
            "the speech is in `{heard}`, a language OneVoice does not dub from"
        ))
    })
}

/// The job's transcript as its chunks come in, in track order.
#[derive(Default)]
struct Transcript {
    cues: Vec<Cue>,
    words: Vec<Word>,
    voices: speakers::Voices,
}

impl Transcript {
    /// A chunk's answer added: its times shifted by the chunk's offset, and its speakers
    /// labelled as the job's (the provider numbers speakers per request).
    fn add(&mut self, offset_ms: u64, mut recognized: Recognized, wav: &[u8]) {
        self.voices.relabel(&mut recognized, wav);
        self.words
            .extend(recognized.words.into_iter().map(|w| Word {
                start_ms: offset_ms + w.start_ms,
                end_ms: offset_ms + w.end_ms,
                text: w.text,
                speaker: w.speaker,
            }));
        self.cues
            .extend(recognized.segments.into_iter().map(|s| Cue {
                start_ms: offset_ms + s.start_ms,
                end_ms: offset_ms + s.end_ms.max(s.start_ms),
                text: s.text,
                speaker: s.speaker,
            }));
    }

    /// The cues, the timed words and the SRT stored; fails when nothing was said.
    async fn store(
        self,
        storage: &Storage,
        job_id: JobId,
        transcript_key: &str,
        detected: Option<Language>,
    ) -> Result<TranscriptOutput, ActivityError> {
        if self.cues.is_empty() {
            return Err(error::invalid_input(
                "no speech was recognized in the video",
            ));
        }
        let keys = JobKeys(job_id);
        let cues_key = keys.text_json("source_cues");
        storage
            .put_json(&cues_key, &self.cues)
            .await
            .map_err(error::storage)?;
        let words_key = if self.words.is_empty() {
            None
        } else {
            let key = keys.text_json("source_words");
            storage
                .put_json(&key, &self.words)
                .await
                .map_err(error::storage)?;
            Some(key)
        };
        storage
            .put_bytes(
                transcript_key,
                srt::write_with_speakers(&self.cues).into_bytes(),
                "application/x-subrip",
            )
            .await
            .map_err(error::storage)?;
        Ok(TranscriptOutput {
            cues_key,
            lines: self.cues.len() as u32,
            language: detected,
            words_key,
        })
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
