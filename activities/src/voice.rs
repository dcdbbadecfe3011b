//! Voice activities: synthesizing every translated line (generate_audio). The offline voice is
//! espeak-ng; each line's clip is stored in S3 under its index, so a retry only redoes missing
//! lines, and a line that cannot be spoken fails the step (never silence in its place).

use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::{error, memo, process};
use onevoice_shared::contracts::{
    SynthesizeInput, SynthesizeOutput, SynthesizedLine, activity, job_prefix, step_result_key,
};
use onevoice_shared::pipeline::Step;
use onevoice_shared::srt::Cue;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;

pub struct VoiceActivities {
    deps: Deps,
}

impl VoiceActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl VoiceActivities {
    #[activity(name = activity::SYNTHESIZE)]
    pub async fn synthesize(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SynthesizeInput,
    ) -> Result<SynthesizeOutput, ActivityError> {
        let deps = &self.deps;
        let key = step_result_key(input.job_id, Step::GenerateAudio);
        memo::once(&deps.storage, &key, || async {
            let cues: Vec<Cue> = deps
                .storage
                .get_json(&input.cues_key)
                .await
                .map_err(error::storage)?;
            let scratch = Scratch::new(&deps.tools.work_dir, "synthesize")?;
            let prefix = job_prefix(input.job_id);
            let mut lines = Vec::with_capacity(cues.len());
            for (n, cue) in cues.iter().enumerate() {
                // Cancellation (a user's cancel, or a worker shutting down) stops between lines;
                // the lines done so far stay in S3 for the next attempt.
                if ctx.is_cancelled() {
                    return Err(ActivityError::cancelled());
                }
                let audio_key = format!("{prefix}tts/{n:05}.wav");
                let stored = deps
                    .storage
                    .size_of(&audio_key)
                    .await
                    .map_err(error::storage)?;
                if stored.is_none_or(|size| size == 0) {
                    let wav = scratch.path(&format!("{n:05}.wav"));
                    let mut cmd = Command::new(&deps.tools.espeak);
                    cmd.args(["-v", &espeak_voice(&input), "--stdin", "-w"])
                        .arg(&wav);
                    process::run(&ctx, cmd, Some(cue.text.clone().into_bytes()), |msg| {
                        error::permanent(format!("espeak-ng could not speak a line: {msg}"))
                    })
                    .await?;
                    deps.storage
                        .put_file(&audio_key, &wav, "audio/wav")
                        .await
                        .map_err(error::storage)?;
                }
                lines.push(SynthesizedLine {
                    start_ms: cue.start_ms,
                    end_ms: cue.end_ms,
                    audio_key,
                    text: cue.text.clone(),
                });
                let _ = ctx.record_heartbeat(n as u64 + 1).await;
            }
            let manifest_key = format!("{prefix}tts/manifest.json");
            deps.storage
                .put_json(&manifest_key, &lines)
                .await
                .map_err(error::storage)?;
            Ok(SynthesizeOutput {
                manifest_key,
                lines: lines.len() as u32,
            })
        })
        .await
    }
}

/// The espeak-ng voice of a job: the language's voice, with the female or male variant the user
/// picked (`espeak-es-f` → `es+f3`).
fn espeak_voice(input: &SynthesizeInput) -> String {
    let base = input.language.espeak_voice();
    match input.voice_id.as_deref().and_then(|v| v.rsplit('-').next()) {
        Some("f") => format!("{base}+f3"),
        Some("m") => format!("{base}+m3"),
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
        let input = |voice: Option<&str>| SynthesizeInput {
            job_id: JobId::new(),
            cues_key: String::new(),
            language: Language::Spanish,
            voice_id: voice.map(str::to_string),
        };
        assert_eq!(espeak_voice(&input(Some("espeak-es-f"))), "es+f3");
        assert_eq!(espeak_voice(&input(Some("espeak-es-m"))), "es+m3");
        assert_eq!(espeak_voice(&input(None)), "es");
    }
}
