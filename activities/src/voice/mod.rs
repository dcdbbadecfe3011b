//! Voice activities: synthesizing every translated line (generate_audio) with the voice the job
//! asked for: espeak-ng offline, the local speech service's neural voices, or OpenAI speech,
//! ElevenLabs or Fish Audio over HTTP.
//!
//! Lines are synthesized in parallel, at most `TTS_CONCURRENCY` at a time per provider on a
//! worker (the providers limit concurrency, not request rates). A job's lines come in batches,
//! each an activity any worker can take, joined into one manifest at the end (`join_speech`).
//! Each clip is stored in S3 as soon as it exists, named by a hash of what shapes it (text, voice, language, model), so a retry, a
//! resume or a re-render of the job only synthesizes the lines it does not have yet; a line that
//! cannot be synthesized fails the step with the provider's reason (never silence in its place).
//! Cancellation stops between lines.

pub mod clones;
mod elevenlabs;
mod fish;
pub(crate) mod http;
pub(crate) mod openai;
pub mod previews;

use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::{error, heartbeat, memo, process};
use futures::StreamExt;
use onevoice_shared::contracts::{
    CloneVoicesInput, CloneVoicesOutput, JoinSpeechInput, SynthesizeInput, SynthesizeOutput,
    SynthesizedLine, activity,
};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::srt::Cue;
use onevoice_shared::voices::{Provider, VoiceChoice};
use std::collections::HashMap;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;
use tokio::sync::Semaphore;

/// The voice of a job that names none: espeak-ng's voice of the language.
const DEFAULT_VOICE: &str = "espeak";

pub struct VoiceActivities {
    deps: Deps,
    http: reqwest::Client,
    /// Per-provider limits shared by every job on this worker.
    limits: HashMap<Provider, Arc<Semaphore>>,
}

impl VoiceActivities {
    pub fn new(deps: Deps) -> Self {
        let n = deps.speech.concurrency.max(1);
        let limits = [
            Provider::Espeak,
            Provider::Local,
            Provider::OpenAi,
            Provider::ElevenLabs,
            Provider::Fish,
        ]
        .into_iter()
        .map(|p| (p, Arc::new(Semaphore::new(n))))
        .collect();
        let http = reqwest::Client::builder()
            .timeout(deps.speech.timeout)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { deps, http, limits }
    }
}

#[activities]
impl VoiceActivities {
    /// Clones each speaker's voice from their reference audio (part of the speakers step; the
    /// user attested consent). A provider's refusal fails the step with its reason: the job
    /// never falls back to a stock voice silently.
    #[activity(name = activity::CLONE_VOICES)]
    pub async fn clone_voices(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CloneVoicesInput,
    ) -> Result<CloneVoicesOutput, ActivityError> {
        heartbeat::beating(&ctx, clones::clone_speakers(&self.deps, &self.http, &input)).await
    }

    /// Speaks the job's lines (or one batch of them, `input.lines`) and stores their manifest.
    #[activity(name = activity::SYNTHESIZE)]
    pub async fn synthesize(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SynthesizeInput,
    ) -> Result<SynthesizeOutput, ActivityError> {
        let render = JobKeys(input.job_id).render(input.version);
        // A batch keeps its own result and manifest, beside the job's.
        let (key, manifest_key) = match input.lines {
            None => (
                render.step_result(Step::GenerateAudio),
                render.tts_manifest(),
            ),
            Some(batch) => (
                render.batch_result(Step::GenerateAudio, batch),
                render.tts_part(batch),
            ),
        };
        let this = &*self;
        heartbeat::beating(
            &ctx,
            memo::once(&self.deps.storage, &key, || async {
                let lines = this.speak(&ctx, &input).await?;
                store_manifest(&this.deps.storage, manifest_key, &lines).await
            }),
        )
        .await
    }

    /// The manifests of a job's batches (in line order) made the job's manifest.
    #[activity(name = activity::JOIN_SPEECH)]
    pub async fn join_speech(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: JoinSpeechInput,
    ) -> Result<SynthesizeOutput, ActivityError> {
        let storage = &self.deps.storage;
        let render = JobKeys(input.job_id).render(input.version);
        let key = render.step_result(Step::GenerateAudio);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let mut lines: Vec<SynthesizedLine> = Vec::new();
                for part in &input.parts {
                    let batch: Vec<SynthesizedLine> =
                        storage.get_json(part).await.map_err(error::storage)?;
                    lines.extend(batch);
                }
                // The batches cover every line once: anything else is a bug, never a dub
                // with lines missing.
                let cues: Vec<Cue> = storage
                    .get_json(&input.cues_key)
                    .await
                    .map_err(error::storage)?;
                if lines.len() != cues.len() {
                    return Err(error::fatal(format!(
                        "the batches hold {} lines of {}",
                        lines.len(),
                        cues.len()
                    )));
                }
                store_manifest(storage, render.tts_manifest(), &lines).await
            }),
        )
        .await
    }
}

/// Stores the spoken lines' manifest at `manifest_key` and says where it is.
async fn store_manifest(
    storage: &onevoice_shared::storage::Storage,
    manifest_key: String,
    lines: &[SynthesizedLine],
) -> Result<SynthesizeOutput, ActivityError> {
    storage
        .put_json(&manifest_key, &lines)
        .await
        .map_err(error::storage)?;
    Ok(SynthesizeOutput {
        manifest_key,
        lines: lines.len() as u32,
    })
}

impl VoiceActivities {
    /// Every line of `input` (its batch, or all), spoken and stored, in line order.
    async fn speak(
        &self,
        ctx: &ActivityContext,
        input: &SynthesizeInput,
    ) -> Result<Vec<SynthesizedLine>, ActivityError> {
        let deps = &self.deps;
        let cues: Vec<Cue> = deps
            .storage
            .get_json(&input.cues_key)
            .await
            .map_err(error::storage)?;
        let (first, end) = match input.lines {
            None => (0, cues.len()),
            Some(b) => (b.first as usize, b.end as usize),
        };
        if first > end || end > cues.len() {
            return Err(error::fatal(format!(
                "lines {first}..{end} of a translation of {} lines",
                cues.len()
            )));
        }
        // Every voice the job speaks with, checked before any line is spoken.
        // The manifest names the language's plain espeak-ng voice `espeak` (a re-render
        // gives each line the voice the manifest names).
        let parse = |id: &str| match id {
            DEFAULT_VOICE => Ok(VoiceChoice::Espeak { variant: None }),
            _ => VoiceChoice::parse(id)
                .ok_or_else(|| error::invalid_input(format!("unknown voice `{id}`"))),
        };
        let choice = match input.voice_id.as_deref() {
            None => VoiceChoice::Espeak { variant: None },
            Some(id) => parse(id)?,
        };
        let speakers: HashMap<&str, (VoiceChoice, &str)> = input
            .voices
            .iter()
            .map(|(label, id)| Ok((label.as_str(), (parse(id)?, id.as_str()))))
            .collect::<Result<_, ActivityError>>()?;
        let own: HashMap<usize, (VoiceChoice, &str)> = input
            .line_voices
            .iter()
            .map(|(n, id)| Ok((*n as usize, (parse(id)?, id.as_str()))))
            .collect::<Result<_, ActivityError>>()?;
        let default = (choice, input.voice_id.as_deref().unwrap_or(DEFAULT_VOICE));
        let scratch = Scratch::new(&deps.tools.work_dir, "synthesize")?;
        let keys = JobKeys(input.job_id);
        let done = std::sync::atomic::AtomicU64::new(0);
        let results: Vec<Result<SynthesizedLine, ActivityError>> =
            futures::stream::iter(cues.into_iter().enumerate().skip(first).take(end - first))
                .map(|(n, cue)| {
                    let (choice, voice_id) = own.get(&n).unwrap_or_else(|| {
                        cue.speaker
                            .as_deref()
                            .and_then(|s| speakers.get(s))
                            .unwrap_or(&default)
                    });
                    let voice = Voice {
                        choice,
                        id: voice_id,
                    };
                    let (scratch, done) = (&scratch, &done);
                    async move {
                        let line = if input.kept.contains(&(n as u32)) {
                            kept_line(voice, cue)
                        } else {
                            self.line(ctx, input, voice, scratch, keys, n, &cue).await?
                        };
                        let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        crate::heartbeat::progress(ctx, finished).await;
                        Ok(line)
                    }
                })
                .buffered(deps.speech.concurrency.max(1))
                .collect()
                .await;
        // The first failure in line order decides: a passing one makes Temporal retry the
        // step (the lines done so far stay stored), a permanent one fails it with its reason.
        results.into_iter().collect()
    }
}

impl VoiceActivities {
    /// What names a clip: everything that shapes its sound (the voice's catalogue id names its
    /// provider, the provider's configured model its engine). Speed and placement are the
    /// mixer's, not the clip's.
    fn clip_hash(
        &self,
        language: onevoice_shared::language::Language,
        voice: Voice<'_>,
        text: &str,
    ) -> String {
        use sha2::{Digest, Sha256};
        let speech = &self.deps.speech;
        let model = match voice.choice.provider() {
            Provider::OpenAi => speech.openai.as_ref(),
            Provider::Local => speech.local_tts.as_ref(),
            Provider::ElevenLabs => speech.elevenlabs.as_ref(),
            Provider::Fish => speech.fish.as_ref(),
            Provider::Espeak => None,
        }
        .map_or("", |p| p.model.as_str());
        let named = serde_json::json!([voice.id, language.code(), model, text]);
        format!("{:x}", Sha256::digest(named.to_string().as_bytes()))
    }
}

/// A line the user keeps undubbed: the original audio plays there, nothing is synthesized. It
/// names the voice it would have had, so an edit that keeps that voice changes nothing.
fn kept_line(voice: Voice<'_>, cue: Cue) -> SynthesizedLine {
    SynthesizedLine {
        start_ms: cue.start_ms,
        end_ms: cue.end_ms,
        audio_key: String::new(),
        text: cue.text,
        speaker: cue.speaker,
        voice_id: Some(voice.id.to_string()),
        keep_original: true,
    }
}

/// The voice a line is spoken with, and its catalogue id.
#[derive(Clone, Copy)]
struct Voice<'a> {
    choice: &'a VoiceChoice,
    id: &'a str,
}

impl VoiceActivities {
    /// One line's clip: stored already, or synthesized now and stored.
    #[allow(clippy::too_many_arguments)]
    async fn line(
        &self,
        ctx: &ActivityContext,
        input: &SynthesizeInput,
        voice: Voice<'_>,
        scratch: &Scratch,
        keys: JobKeys,
        n: usize,
        cue: &Cue,
    ) -> Result<SynthesizedLine, ActivityError> {
        if ctx.is_cancelled() {
            return Err(ActivityError::cancelled());
        }
        let deps = &self.deps;
        let audio_key = keys.clip(&self.clip_hash(input.language, voice, &cue.text));
        let line = SynthesizedLine {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
            audio_key: audio_key.clone(),
            text: cue.text.clone(),
            speaker: cue.speaker.clone(),
            voice_id: Some(voice.id.to_string()),
            keep_original: false,
        };
        let choice = voice.choice;
        let stored = deps
            .storage
            .size_of(&audio_key)
            .await
            .map_err(error::storage)?;
        if stored.is_some_and(|size| size > 0) {
            return Ok(line);
        }
        let _permit = self.limits[&choice.provider()]
            .acquire()
            .await
            .map_err(|_| error::transient("speech limiter closed"))?;
        let providers = &deps.speech;
        let unconfigured =
            |p: &str| error::invalid_input(format!("the {p} voices are not configured"));
        let wav = match choice {
            VoiceChoice::Espeak { variant } => {
                let path = scratch.path(&format!("{n:05}.wav"));
                let mut cmd = Command::new(&deps.tools.espeak);
                cmd.args(["-v", &espeak_voice(input, *variant), "--stdin", "-w"])
                    .arg(&path);
                process::run(ctx, cmd, Some(cue.text.clone().into_bytes()), |msg| {
                    tracing::warn!(detail = %msg, "espeak-ng failed on a line");
                    error::invalid_input(
                        "the offline voice could not speak a line of the transcript",
                    )
                })
                .await?;
                tokio::fs::read(&path)
                    .await
                    .map_err(|e| error::transient(format!("reading espeak-ng output: {e}")))?
            }
            VoiceChoice::OpenAi(voice) => {
                let p = providers
                    .openai
                    .as_ref()
                    .ok_or_else(|| unconfigured("OpenAI"))?;
                openai::speak(&self.http, p, voice, &cue.text, None).await?
            }
            VoiceChoice::Local(voice) => {
                let p = providers
                    .local_tts
                    .as_ref()
                    .ok_or_else(|| unconfigured("local"))?;
                openai::speak(&self.http, p, voice, &cue.text, Some(input.language)).await?
            }
            VoiceChoice::ElevenLabs(voice) => {
                let p = providers
                    .elevenlabs
                    .as_ref()
                    .ok_or_else(|| unconfigured("ElevenLabs"))?;
                elevenlabs::speak(&self.http, p, voice, input.language, &cue.text).await?
            }
            VoiceChoice::Fish(reference) => {
                let p = providers
                    .fish
                    .as_ref()
                    .ok_or_else(|| unconfigured("Fish Audio"))?;
                fish::speak(&self.http, p, reference, &cue.text).await?
            }
        };
        deps.storage
            .put_bytes(&audio_key, wav, "audio/wav")
            .await
            .map_err(error::storage)?;
        Ok(line)
    }
}

/// The espeak-ng voice of a job: the language's voice, with the female or male variant the user
/// picked (`espeak-es-f` → `es+f3`).
fn espeak_voice(input: &SynthesizeInput, variant: Option<char>) -> String {
    let base = input.language.espeak_voice();
    match variant {
        Some('f') => format!("{base}+f3"),
        Some('m') => format!("{base}+m3"),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevoice_shared::ids::JobId;
    use onevoice_shared::language::Language;

    #[test]
    fn picks_the_variant() {
        let input = SynthesizeInput {
            job_id: JobId::new(),
            cues_key: String::new(),
            language: Language::Spanish,
            voice_id: None,
            voices: Default::default(),
            line_voices: Default::default(),
            kept: Default::default(),
            version: 1,
            lines: None,
        };
        assert_eq!(espeak_voice(&input, Some('f')), "es+f3");
        assert_eq!(espeak_voice(&input, Some('m')), "es+m3");
        assert_eq!(espeak_voice(&input, None), "es");
    }
}
