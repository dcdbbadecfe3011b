//! `RerenderWorkflow` (`rerender-{job}-v{n}`): version `n` of a finished dub, speaking its lines
//! as the user edited them. The text stages, the speakers and the separation are the first
//! render's; only the render steps run again, each keyed by the version (`keys::RenderKeys`), so
//! they are not answered by the first render's memos. Synthesis finds every unchanged line's clip
//! stored (clips are named by what shapes them), and the mix keeps the first render's gain, so
//! what was not edited comes out the same. Whatever happens, the version is settled: its credits
//! are captured on success and released otherwise.

use crate::activities::DubbingActivities;
use crate::options;
use crate::reasons;
use onevoice_shared::contracts::{
    FinishRerenderInput, MixInput, MuxInput, PlanTimingInput, RerenderInput, RerenderOutcome,
    RerenderOutput, SynthesizeInput,
};
use onevoice_shared::failure;
use std::collections::BTreeMap;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, WorkflowContext, WorkflowContextView, WorkflowResult,
};

#[workflow]
pub struct RerenderWorkflow {
    input: RerenderInput,
}

#[workflow_methods]
impl RerenderWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: RerenderInput) -> Self {
        Self { input }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<RerenderOutput> {
        let input = ctx.state(|s| s.input.clone());
        let result = render(ctx, &input).await;
        let outcome = match &result {
            Ok(output) => RerenderOutcome::Completed {
                output: output.clone(),
            },
            Err(e) => RerenderOutcome::Failed {
                message: reasons::for_user(e, failure::RERENDER_FAILED),
            },
        };
        // Detached from the workflow's cancellation: the version is settled however it ended.
        ctx.execute_activity(
            DubbingActivities::finish_rerender,
            FinishRerenderInput {
                job_id: input.job_id,
                version: input.version,
                outcome,
            },
            options::bookkeeping(true),
        )
        .await?;
        Ok(result?)
    }
}

async fn render(
    ctx: &mut WorkflowContext<RerenderWorkflow>,
    input: &RerenderInput,
) -> Result<RerenderOutput, ActivityExecutionError> {
    let (job_id, version) = (input.job_id, input.version);
    let budget = options::long_running(input.activity_budget.unwrap_or_default());
    let speech = ctx
        .execute_activity(
            DubbingActivities::synthesize,
            SynthesizeInput {
                job_id,
                cues_key: input.cues_key.clone(),
                language: input.language,
                voice_id: None,
                voices: BTreeMap::new(),
                line_voices: input.line_voices.clone(),
                kept: input.kept.clone(),
                version,
                lines: None,
            },
            budget.clone(),
        )
        .await?;
    let timing = ctx
        .execute_activity(
            DubbingActivities::plan_timing,
            PlanTimingInput {
                job_id,
                manifest_key: speech.manifest_key.clone(),
                duration_ms: input.duration_ms,
                version,
            },
            budget.clone(),
        )
        .await?;
    let mixed = ctx
        .execute_activity(
            DubbingActivities::mix,
            MixInput {
                job_id,
                source_audio_key: input.source_audio_key.clone(),
                manifest_key: speech.manifest_key,
                duration_ms: input.duration_ms,
                preserve_background: input.preserve_background,
                plan_key: timing.plan_key,
                background_stem_key: input.background_stem_key.clone(),
                gain: input.gain,
                version,
            },
            budget.clone(),
        )
        .await?;
    let video = ctx
        .execute_activity(
            DubbingActivities::mux,
            MuxInput {
                job_id,
                video_key: input.video_key.clone(),
                audio_key: mixed.audio_key.clone(),
                duration_ms: input.duration_ms,
                output_key: input.output_key.clone(),
                version,
            },
            budget,
        )
        .await?;
    Ok(RerenderOutput {
        output_key: video.output_key,
        dubbed_audio_key: video.audio_only_key,
        dub_srt_key: timing.dub_srt_key,
        mix_key: mixed.audio_key,
        lines: speech.lines,
        unfit_lines: timing.unfit,
    })
}
