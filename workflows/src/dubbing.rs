//! `DubbingWorkflow` (`dub-{job_id}`): the dubbing pipeline of one job.
//!
//! The walking skeleton runs the seed's steps with offline engines: the user's transcript stands in
//! for speech recognition, Apertium translates, espeak-ng speaks, ffmpeg mixes and muxes. Steps this
//! version does not run yet are reported as skipped, so progress still adds up to 100.

use crate::activities::DubbingActivities;
use crate::options;
use onevoice_shared::contracts::{
    DubbingInput, DubbingOutput, DubbingProgress, ExtractAudioInput, LoadTranscriptInput, MixInput,
    MuxInput, SynthesizeInput, TranslateInput, search_attribute,
};
use onevoice_shared::pipeline::{Step, progress_percent};
use temporalio_common::search_attributes::SearchAttributeKey;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, WorkflowContext, WorkflowContextView, WorkflowResult,
    WorkflowTermination,
};

pub const JOB_STATUS: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(search_attribute::JOB_STATUS);

#[workflow]
pub struct DubbingWorkflow {
    input: DubbingInput,
    progress: DubbingProgress,
}

#[workflow_methods]
impl DubbingWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: DubbingInput) -> Self {
        Self { input, progress: DubbingProgress::default() }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<DubbingOutput> {
        set_status(ctx, "processing");
        match pipeline(ctx).await {
            Ok(out) => {
                set_status(ctx, "completed");
                Ok(out)
            }
            Err(ActivityExecutionError::Cancelled(_)) => {
                set_status(ctx, "cancelled");
                Err(WorkflowTermination::cancelled())
            }
            Err(e) => {
                set_status(ctx, "failed");
                Err(e.into())
            }
        }
    }

    /// Live progress for the API and operators (`temporal workflow query --type progress`).
    #[query]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> DubbingProgress {
        self.progress.clone()
    }
}

fn set_status(ctx: &mut WorkflowContext<DubbingWorkflow>, status: &str) {
    ctx.upsert_search_attributes([JOB_STATUS.value_set(status.to_string())]);
}

fn begin(ctx: &mut WorkflowContext<DubbingWorkflow>, step: Step) {
    ctx.state_mut(|s| s.progress.current_step = Some(step));
}

fn finish(ctx: &mut WorkflowContext<DubbingWorkflow>, step: Step) {
    ctx.state_mut(|s| {
        s.progress.completed_steps.push(step);
        s.progress.current_step = None;
        s.progress.percent = percent(&s.progress);
    });
}

fn skip(ctx: &mut WorkflowContext<DubbingWorkflow>, steps: &[Step]) {
    ctx.state_mut(|s| {
        s.progress.skipped_steps.extend_from_slice(steps);
        s.progress.percent = percent(&s.progress);
    });
}

fn percent(p: &DubbingProgress) -> f64 {
    let done: Vec<Step> = p.completed_steps.iter().chain(&p.skipped_steps).copied().collect();
    progress_percent(&done)
}

async fn pipeline(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
) -> Result<DubbingOutput, ActivityExecutionError> {
    let input = ctx.state(|s| s.input.clone());
    let job_id = input.job_id;

    begin(ctx, Step::PrepareVideo);
    let audio = ctx
        .execute_activity(
            DubbingActivities::extract_audio,
            ExtractAudioInput { job_id, video_key: input.video_key.clone() },
            options::long_running(),
        )
        .await?;
    finish(ctx, Step::PrepareVideo);

    begin(ctx, Step::SpeechRecognition);
    let transcript = ctx
        .execute_activity(
            DubbingActivities::load_transcript,
            LoadTranscriptInput { job_id, transcript_key: input.transcript_key.clone() },
            options::quick(),
        )
        .await?;
    finish(ctx, Step::SpeechRecognition);
    skip(ctx, &[Step::NlpSplit, Step::MeaningSplit, Step::Summarize]);

    begin(ctx, Step::Translate);
    let translation = ctx
        .execute_activity(
            DubbingActivities::translate,
            TranslateInput {
                job_id,
                cues_key: transcript.cues_key,
                source_language: input.source_language,
                target_language: input.target_language,
            },
            options::long_running(),
        )
        .await?;
    finish(ctx, Step::Translate);
    skip(
        ctx,
        &[
            Step::SplitSubtitles,
            Step::GenerateSubtitles,
            Step::EmbedSubtitles,
            Step::AudioTaskSetup,
            Step::DubChunks,
            Step::ExtractReferenceAudio,
        ],
    );

    begin(ctx, Step::GenerateAudio);
    let speech = ctx
        .execute_activity(
            DubbingActivities::synthesize,
            SynthesizeInput {
                job_id,
                cues_key: translation.cues_key,
                language: input.target_language,
            },
            options::long_running(),
        )
        .await?;
    finish(ctx, Step::GenerateAudio);

    begin(ctx, Step::MergeAudio);
    let mixed = ctx
        .execute_activity(
            DubbingActivities::mix,
            MixInput {
                job_id,
                source_audio_key: audio.audio_key,
                manifest_key: speech.manifest_key,
                duration_ms: audio.duration_ms,
            },
            options::long_running(),
        )
        .await?;
    finish(ctx, Step::MergeAudio);

    begin(ctx, Step::FinalVideo);
    let video = ctx
        .execute_activity(
            DubbingActivities::mux,
            MuxInput {
                job_id,
                video_key: input.video_key.clone(),
                audio_key: mixed.audio_key,
                duration_ms: audio.duration_ms,
                output_key: input.output_key.clone(),
            },
            options::long_running(),
        )
        .await?;
    finish(ctx, Step::FinalVideo);

    Ok(DubbingOutput {
        output_key: video.output_key,
        duration_ms: audio.duration_ms,
        lines: speech.lines,
    })
}
