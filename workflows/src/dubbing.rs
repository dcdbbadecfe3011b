//! `DubbingWorkflow` (`dub-{job_id}`): the dubbing pipeline of one job.
//!
//! The seed's steps in order: speech recognition (or the user's transcript), sentences, lines
//! split by meaning, terminology, translation, display subtitles, optional burned-in subtitles,
//! speech, timing, mixing and muxing. Each stage picks its engine from the worker's settings
//! (LLM or rules and Apertium, HTTP voices or espeak-ng); steps a job does not need (reference
//! audio, burning subtitles when not asked) are reported as skipped, so progress adds up to 100.

use crate::activities::{DubbingActivities, SupportActivities};
use crate::options;
use crate::reasons;
use onevoice_shared::contracts::{
    APPROVE_SIGNAL, Approval, BackgroundMode, BackgroundReport, BurnSubtitlesInput,
    CloneVoicesInput, CutSpeechInput, DubbingInput, DubbingOutput, DubbingProgress,
    ExtractAudioInput, ExtractAudioOutput, FinishJobInput, JobOutcome, JoinSpeechInput,
    JoinTranscriptInput, LineBatch, LoadTranscriptInput, MixInput, MuxInput, OwnTranslationInput,
    PlanTimingInput, ProgressReport, PublishInput, RecognizeChunkInput, ReviewMark, ReviewStage,
    SendEmailInput, SeparateInput, SeparateOutput, SpeakersInput, SpeechChunk, SplitMeaningInput,
    SplitSentencesInput, SubtitleFiles, SubtitlesInput, SynthesizeInput, SynthesizeOutput,
    TerminologyInput, TranscribeInput, TranscriptOutput, TranscriptSource, TranslateInput,
    TranslateOutput, TrimVideoInput, search_attribute,
};
use onevoice_shared::failure;
use onevoice_shared::keys::{JobOutputs, VideoKeys};
use onevoice_shared::language::Language;
use onevoice_shared::legacy;
use onevoice_shared::pipeline::{Step, progress_percent};
use onevoice_shared::status::{JobStatus, StepStatus};
use std::collections::{BTreeMap, BTreeSet};
use temporalio_common::search_attributes::SearchAttributeKey;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ApplicationFailure, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

pub const JOB_STATUS: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(search_attribute::JOB_STATUS);

#[workflow]
pub struct DubbingWorkflow {
    input: DubbingInput,
    progress: DubbingProgress,
    /// Step transitions not yet written to the job row.
    unreported: Vec<(Step, StepStatus)>,
    /// Where the review checkpoint stands, not yet written to the job row.
    unreported_review: Option<ReviewMark>,
    /// The user's approval at the review checkpoint (the first one counts).
    approval: Option<Approval>,
}

#[workflow_methods]
impl DubbingWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: DubbingInput) -> Self {
        Self {
            input,
            progress: DubbingProgress::default(),
            unreported: Vec::new(),
            unreported_review: None,
            approval: None,
        }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<DubbingOutput> {
        set_status(ctx, JobStatus::Processing);
        // Existing consumers of the legacy queue see every job, started and finished.
        let requested_at: chrono::DateTime<chrono::Utc> =
            ctx.workflow_time().map(Into::into).unwrap_or_default();
        let result = match publish(ctx, legacy::DUBBING_JOB, requested_at, false).await {
            Ok(()) => pipeline(ctx).await,
            // Cancelled before it began (while it waited in the queue): settled like any
            // cancel below (job cancelled, hold released). Before this patch such a job stayed
            // `pending` with its hold until the stranded-job sweep failed it.
            Err(e @ ActivityExecutionError::Cancelled(_)) if ctx.patched(QUEUED_CANCEL_PATCH) => {
                Err(Stop::Activity(e))
            }
            Err(e) => return Err(e.into()),
        };
        let (status, outcome) = match &result {
            Err(Stop::Cancelled | Stop::Activity(ActivityExecutionError::Cancelled(_))) => {
                (JobStatus::Cancelled, JobOutcome::Cancelled)
            }
            // Not approved in time: failed, so its hold is released and a resume waits again.
            Err(Stop::ReviewExpired) => (
                JobStatus::Failed,
                JobOutcome::Failed {
                    message: failure::REVIEW_EXPIRED.into(),
                },
            ),
            Ok(output) => {
                report(ctx).await?;
                (
                    JobStatus::Completed,
                    JobOutcome::Completed {
                        output: output.clone(),
                    },
                )
            }
            Err(Stop::Activity(e)) => (
                JobStatus::Failed,
                JobOutcome::Failed {
                    message: reasons::for_user(e, failure::DUB_FAILED),
                },
            ),
        };
        let input = ctx.state(|s| s.input.clone());
        // Detached from the workflow's cancellation, so a cancelled job is still recorded.
        // Settles the credits and the read model in one transaction; returns the notice to send.
        let notice = ctx
            .execute_activity(
                DubbingActivities::finish_job,
                FinishJobInput {
                    job_id: input.job_id,
                    video_id: input.video_id,
                    target_language: input.target_language,
                    outcome,
                    credits_per_minute: input.credits_per_minute,
                },
                options::bookkeeping(true),
            )
            .await?;
        // The job is settled: an email that cannot be delivered (a relay refusing it for good)
        // changes nothing of its outcome. The outbox row keeps the attempts and the reason.
        if let Some(email_id) = notice {
            let _undelivered = ctx
                .execute_activity(
                    SupportActivities::send_email,
                    SendEmailInput { email_id },
                    options::email(),
                )
                .await;
        }
        let event = match status {
            JobStatus::Completed => legacy::DUBBING_COMPLETED,
            JobStatus::Cancelled => legacy::DUBBING_CANCELLED,
            _ => legacy::DUBBING_FAILED,
        };
        publish(ctx, event, requested_at, true).await?;
        set_status(ctx, status);
        match result {
            Ok(output) => Ok(output),
            Err(Stop::Cancelled | Stop::Activity(ActivityExecutionError::Cancelled(_))) => {
                Err(WorkflowTermination::cancelled())
            }
            Err(Stop::ReviewExpired) => {
                Err(ApplicationFailure::non_retryable(failure::REVIEW_EXPIRED).into())
            }
            Err(Stop::Activity(e)) => Err(e.into()),
        }
    }

    /// The user approved the translation at the review checkpoint (`POST /api/jobs/{id}/approve`
    /// sends it). A repeat, or one that comes when nothing waits for it, changes nothing.
    #[signal(name = APPROVE_SIGNAL)]
    pub fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>, approval: Approval) {
        if self.approval.is_none() {
            self.approval = Some(approval);
        }
    }

    /// Live progress for the API and operators (`temporal workflow query --type progress`).
    #[query]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> DubbingProgress {
        self.progress.clone()
    }
}

async fn publish(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    message_type: &str,
    requested_at: chrono::DateTime<chrono::Utc>,
    detached: bool,
) -> Result<(), ActivityExecutionError> {
    let input = ctx.state(|s| s.input.clone());
    ctx.execute_activity(
        DubbingActivities::publish,
        PublishInput {
            message_type: message_type.to_string(),
            job_id: input.job_id,
            user_id: input.user_id,
            video_id: input.video_id,
            requested_at,
        },
        options::bookkeeping(detached),
    )
    .await
}

fn set_status(ctx: &mut WorkflowContext<DubbingWorkflow>, status: JobStatus) {
    ctx.upsert_search_attributes([JOB_STATUS.value_set(status.as_str().to_string())]);
}

/// Marks `step` as running and writes every transition since the last report to the job row.
async fn begin(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    step: Step,
) -> Result<(), ActivityExecutionError> {
    ctx.state_mut(|s| {
        s.progress.current_step = Some(step);
        s.unreported.push((step, StepStatus::Processing));
    });
    report(ctx).await
}

async fn report(ctx: &mut WorkflowContext<DubbingWorkflow>) -> Result<(), ActivityExecutionError> {
    let report = ctx.state_mut(|s| ProgressReport {
        job_id: s.input.job_id,
        percent: s.progress.percent,
        steps: std::mem::take(&mut s.unreported),
        review: s.unreported_review.take(),
    });
    ctx.execute_activity(
        DubbingActivities::record_progress,
        report,
        options::bookkeeping(false),
    )
    .await
}

fn finish(ctx: &mut WorkflowContext<DubbingWorkflow>, step: Step) {
    ctx.state_mut(|s| {
        s.progress.completed_steps.push(step);
        s.progress.current_step = None;
        s.progress.percent = percent(&s.progress);
        s.unreported.push((step, StepStatus::Completed));
    });
}

fn skip(ctx: &mut WorkflowContext<DubbingWorkflow>, steps: &[Step]) {
    ctx.state_mut(|s| {
        s.progress.skipped_steps.extend_from_slice(steps);
        s.progress.percent = percent(&s.progress);
        s.unreported
            .extend(steps.iter().map(|step| (*step, StepStatus::Skipped)));
    });
}

fn percent(p: &DubbingProgress) -> f64 {
    let done: Vec<Step> = p
        .completed_steps
        .iter()
        .chain(&p.skipped_steps)
        .copied()
        .collect();
    progress_percent(&done)
}

/// Why the pipeline stopped short of a dub.
enum Stop {
    /// An activity failed or was cancelled (the job was cancelled).
    Activity(ActivityExecutionError),
    /// The job was cancelled while it waited for nothing but the user (its review).
    Cancelled,
    /// The review checkpoint was not approved in time.
    ReviewExpired,
}

impl From<ActivityExecutionError> for Stop {
    fn from(e: ActivityExecutionError) -> Self {
        Stop::Activity(e)
    }
}

async fn pipeline(ctx: &mut WorkflowContext<DubbingWorkflow>) -> Result<DubbingOutput, Stop> {
    let mut input = ctx.state(|s| s.input.clone());
    let job_id = input.job_id;

    begin(ctx, Step::PrepareVideo).await?;
    // A part of the video: from here on the cut is the video (mux, subtitles burned in).
    if let Some(range) = input.range
        && ctx.patched(TIME_RANGE_PATCH)
    {
        input.video_key = ctx
            .execute_activity(
                DubbingActivities::trim_video,
                TrimVideoInput {
                    job_id,
                    video_key: input.video_key.clone(),
                    range,
                },
                options::long_running(budget(ctx)),
            )
            .await?;
    }
    let audio = ctx
        .execute_activity(
            DubbingActivities::extract_audio,
            ExtractAudioInput {
                job_id,
                video_key: input.video_key.clone(),
                priced_duration_ms: input.priced_duration_ms,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::PrepareVideo);

    // The user's own translation replaces the text stages (jobs carrying one take the marker).
    let own_translation = match &input.own_translation_key {
        Some(key) if ctx.patched(OWN_TRANSLATION_PATCH) => Some(key.clone()),
        _ => None,
    };
    let Lines {
        translation,
        subtitles,
        choices,
        speakers_cues,
        detected,
    } = match own_translation {
        Some(key) => own_lines(ctx, &input, &audio, key).await?,
        None => made_lines(ctx, &input, &audio).await?,
    };
    let display_srt = subtitles.as_ref().map_or_else(
        || translation.srt_key.clone(),
        |s| s.translation_srt.clone(),
    );
    let subtitle_video_key = if input.options.burn_subtitles {
        begin(ctx, Step::EmbedSubtitles).await?;
        let key = ctx
            .execute_activity(
                DubbingActivities::burn_subtitles,
                BurnSubtitlesInput {
                    job_id,
                    video_key: input.video_key.clone(),
                    srt_key: display_srt.clone(),
                    output_key: outputs(&input).subtitled(input.target_language),
                },
                options::long_running(budget(ctx)),
            )
            .await?;
        finish(ctx, Step::EmbedSubtitles);
        Some(key)
    } else {
        skip(ctx, &[Step::EmbedSubtitles]);
        None
    };
    // Who speaks, and the voice of each (histories from before the speakers step skip it).
    let (voices, separated_first) = if ctx.patched(SPEAKERS_PATCH) {
        speakers(ctx, &input, &audio, &speakers_cues).await?
    } else {
        skip(ctx, &[Step::ExtractReferenceAudio]);
        Default::default()
    };

    begin(ctx, Step::GenerateAudio).await?;
    let speak = SynthesizeInput {
        job_id,
        cues_key: translation.cues_key.clone(),
        language: input.target_language,
        voice_id: input.options.voice_id.clone(),
        voices,
        line_voices: choices.voices,
        kept: choices.kept,
        version: 1,
        lines: None,
    };
    // Jobs started before batches (no batch size in their input) speak in one activity.
    let speech = match input.speech_batch_lines {
        Some(size) if ctx.patched(SPEECH_BATCHES_PATCH) => {
            speak_in_batches(ctx, speak, translation.lines, size).await?
        }
        _ => {
            ctx.execute_activity(
                DubbingActivities::synthesize,
                speak,
                options::long_running(budget(ctx)),
            )
            .await?
        }
    };
    finish(ctx, Step::GenerateAudio);

    // The timing plan needs the real length of every clip, so it follows synthesis.
    begin(ctx, Step::AudioTaskSetup).await?;
    let timing = ctx
        .execute_activity(
            DubbingActivities::plan_timing,
            PlanTimingInput {
                job_id,
                manifest_key: speech.manifest_key.clone(),
                duration_ms: audio.duration_ms,
                version: 1,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::AudioTaskSetup);
    finish(ctx, Step::DubChunks);

    begin(ctx, Step::MergeAudio).await?;
    // Jobs that ask for the separated background (none before the modes) take the marker,
    // unless the speakers step separated already.
    let mode = input.options.background_mode();
    let separated = match separated_first {
        Some(done) => Some(done),
        None if mode == BackgroundMode::Separated && ctx.patched(SEPARATION_PATCH) => {
            Some(separate(ctx, &input, &audio, &speakers_cues, false).await?)
        }
        None => None,
    };
    let mixed = ctx
        .execute_activity(
            DubbingActivities::mix,
            MixInput {
                job_id,
                source_audio_key: audio.audio_key,
                manifest_key: speech.manifest_key,
                duration_ms: audio.duration_ms,
                preserve_background: mode != BackgroundMode::None,
                plan_key: timing.plan_key,
                background_stem_key: separated.as_ref().map(|s| s.stem_key.clone()),
                gain: None,
                version: 1,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::MergeAudio);

    begin(ctx, Step::FinalVideo).await?;
    let video = ctx
        .execute_activity(
            DubbingActivities::mux,
            MuxInput {
                job_id,
                video_key: input.video_key.clone(),
                audio_key: mixed.audio_key,
                duration_ms: audio.duration_ms,
                output_key: input.output_key.clone(),
                version: 1,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::FinalVideo);

    Ok(DubbingOutput {
        output_key: video.output_key,
        translation_srt_key: display_srt,
        subtitle_video_key,
        duration_ms: audio.duration_ms,
        lines: speech.lines,
        dub_srt_key: Some(timing.dub_srt_key),
        dubbed_audio_key: video.audio_only_key,
        unfit_lines: timing.unfit,
        speaker_fit: timing.speakers,
        background: input.options.background.map(|mode| BackgroundReport {
            mode,
            note: separated.as_ref().and_then(|s| s.note.clone()),
            method: separated.map(|s| s.method),
        }),
        source_language: detected,
        subtitles,
    })
}

/// Marks histories that run the text stages (sentences, meaning, terminology, subtitles).
const TEXT_STAGES_PATCH: &str = "text-stages";
/// A job cancelled before its first step is settled as cancelled (see `run`).
const QUEUED_CANCEL_PATCH: &str = "queued-cancel";
/// Marks histories that run the speakers step (extract_reference_audio) before synthesis.
const SPEAKERS_PATCH: &str = "speakers";
/// Marks histories of jobs that clone their speakers' voices in the speakers step.
const CLONE_VOICES_PATCH: &str = "clone-voices";
/// Marks histories of jobs that take the original voices out of the background before mixing.
const SEPARATION_PATCH: &str = "separation";
/// Marks histories of jobs that dub the user's own translation.
const OWN_TRANSLATION_PATCH: &str = "own-translation";
/// Marks histories of jobs that stop for the user's review of the translation.
const REVIEW_PATCH: &str = "review-translation";
/// Marks histories of cloning jobs that separate before the speakers step, so its references
/// are cut from the voices alone when the separator gives them.
const SEPARATE_FIRST_PATCH: &str = "separate-before-speakers";

/// Marks histories of jobs whose lines are spoken in batches, one activity each.
const SPEECH_BATCHES_PATCH: &str = "speech-batches";
/// Jobs of a part of the video (a time range, a preview) cut it out first; only such jobs
/// reach the marker, so every other history replays as before.
const TIME_RANGE_PATCH: &str = "time-range";

/// Marks histories of jobs whose speech is recognized chunk by chunk, one activity each.
const RECOGNITION_CHUNKS_PATCH: &str = "recognition-chunks";

/// The source track recognized in chunks that every worker of the task queue can take: cut and
/// stored, then all recognized at once (after the first alone when the language is to be
/// detected: the others are told what it heard), then joined into the transcript.
async fn recognize_in_chunks(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
) -> Result<TranscriptOutput, ActivityExecutionError> {
    let budget = options::long_running(budget(ctx));
    let cut = ctx
        .execute_activity(
            DubbingActivities::cut_speech,
            CutSpeechInput {
                job_id: input.job_id,
                audio_key: audio.audio_key.clone(),
            },
            budget.clone(),
        )
        .await?;
    let recognize = |chunk: SpeechChunk, language: Option<Language>| RecognizeChunkInput {
        job_id: input.job_id,
        chunk,
        language,
        recognizer: input.options.recognizer,
    };
    let mut chunks = cut.chunks.into_iter();
    let mut recognized = Vec::new();
    let mut language = (!input.options.detect_language).then_some(input.source_language);
    let mut detected = None;
    if language.is_none()
        && let Some(first) = chunks.next()
    {
        let heard = ctx
            .execute_activity(
                DubbingActivities::recognize_chunk,
                recognize(first, None),
                budget.clone(),
            )
            .await?;
        language = Some(heard.language);
        detected = Some(heard.language);
        recognized.push(heard);
    }
    let rest = chunks.map(|chunk| {
        ctx.execute_activity(
            DubbingActivities::recognize_chunk,
            recognize(chunk, language),
            budget.clone(),
        )
    });
    // Every chunk runs to its end (the others stay cached for a retry); the first failure in
    // track order decides.
    for heard in temporalio_sdk::workflows::join_all(rest).await {
        recognized.push(heard?);
    }
    ctx.execute_activity(
        DubbingActivities::join_transcript,
        JoinTranscriptInput {
            job_id: input.job_id,
            chunks: recognized,
            transcript_key: outputs(input).transcript(),
            detected,
        },
        budget,
    )
    .await
}

/// The job's lines spoken in batches of `size`, all scheduled at once so that every worker of
/// the task queue takes some (each worker still speaks at most `TTS_CONCURRENCY` lines at a time
/// per provider), then joined into the job's manifest in line order.
async fn speak_in_batches(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    speak: SynthesizeInput,
    lines: u32,
    size: u32,
) -> Result<SynthesizeOutput, ActivityExecutionError> {
    let budget = options::long_running(budget(ctx));
    let batches = LineBatch::split(lines, size).into_iter().map(|batch| {
        ctx.execute_activity(
            DubbingActivities::synthesize,
            SynthesizeInput {
                lines: Some(batch),
                ..speak.clone()
            },
            budget.clone(),
        )
    });
    // Every batch runs to its end (a failed one's siblings keep their clips for the retry);
    // the first failure in line order decides.
    let spoken = temporalio_sdk::workflows::join_all(batches)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    ctx.execute_activity(
        DubbingActivities::join_speech,
        JoinSpeechInput {
            job_id: speak.job_id,
            cues_key: speak.cues_key,
            parts: spoken.into_iter().map(|s| s.manifest_key).collect(),
            version: speak.version,
        },
        budget,
    )
    .await
}

/// The background stem (and, with `vocals`, the voices alone when the separator gives them).
async fn separate(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
    cues_key: &str,
    vocals: bool,
) -> Result<SeparateOutput, ActivityExecutionError> {
    ctx.execute_activity(
        DubbingActivities::separate,
        SeparateInput {
            job_id: input.job_id,
            source_audio_key: audio.audio_key.clone(),
            cues_key: cues_key.to_string(),
            duration_ms: audio.duration_ms,
            vocals,
        },
        options::long_running(budget(ctx)),
    )
    .await
}

/// The speakers step: measured from the source audio, each gets a voice (cloned from them when
/// the job asks). A transcript that names nobody has no speakers: the step is reported skipped
/// and one voice speaks every line. A cloning job with a separated background separates here
/// first (returned for the mix), to measure the voices alone when the separator gives them.
async fn speakers(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
    cues_key: &str,
) -> Result<(BTreeMap<String, String>, Option<SeparateOutput>), ActivityExecutionError> {
    begin(ctx, Step::ExtractReferenceAudio).await?;
    let separated = if input.options.clone_voices.is_some()
        && input.options.background_mode() == BackgroundMode::Separated
        && ctx.patched(SEPARATE_FIRST_PATCH)
    {
        Some(separate(ctx, input, audio, cues_key, true).await?)
    } else {
        None
    };
    let found = ctx
        .execute_activity(
            DubbingActivities::speakers,
            SpeakersInput {
                job_id: input.job_id,
                audio_key: audio.audio_key.clone(),
                cues_key: cues_key.to_string(),
                target_language: input.target_language,
                voice_id: input.options.voice_id.clone(),
                voices: input.options.voices.clone(),
                references: input.options.clone_voices.is_some(),
                vocals_key: separated.as_ref().and_then(|s| s.vocals_key.clone()),
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    if found.speakers == 0 {
        ctx.state_mut(|s| s.progress.current_step = None);
        skip(ctx, &[Step::ExtractReferenceAudio]);
        return Ok((found.voices, separated));
    }
    let mut voices = found.voices;
    // Only jobs asking for clones (none before this change) take the marker.
    if let Some(provider) = input.options.clone_voices
        && ctx.patched(CLONE_VOICES_PATCH)
    {
        let cloned = ctx
            .execute_activity(
                DubbingActivities::clone_voices,
                CloneVoicesInput {
                    job_id: input.job_id,
                    user_id: input.user_id,
                    provider,
                },
                options::long_running(budget(ctx)),
            )
            .await?;
        voices.extend(cloned.voices);
    }
    finish(ctx, Step::ExtractReferenceAudio);
    Ok((voices, separated))
}

/// The job's lines in the target language, and what they were made from.
struct Lines {
    translation: TranslateOutput,
    /// Display subtitles (none before the text stages, nor for the user's own translation).
    subtitles: Option<SubtitleFiles>,
    /// What the user chose line by line at the review checkpoint.
    choices: Choices,
    /// The cues that say who speaks when: the transcript's, else the translation's.
    speakers_cues: String,
    /// The source language, when the recognizer detected it.
    detected: Option<Language>,
}

/// The source text (the user's transcript, else recognized), then the text stages translate it.
async fn made_lines(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
) -> Result<Lines, Stop> {
    begin(ctx, Step::SpeechRecognition).await?;
    let transcript = source_text(ctx, input, audio).await?;
    finish(ctx, Step::SpeechRecognition);
    let speakers_cues = transcript.cues_key.clone();
    let detected = transcript.language;
    let source_language = detected.unwrap_or(input.source_language);

    // Histories from before the text stages (no marker) replay the translation they ran then.
    let (translation, subtitles, choices) = if ctx.patched(TEXT_STAGES_PATCH) {
        let (translation, subtitles, choices) =
            text_stages(ctx, input, transcript, source_language).await?;
        (translation, Some(subtitles), choices)
    } else {
        (
            translation_only(ctx, input, transcript, source_language).await?,
            None,
            Choices::default(),
        )
    };
    Ok(Lines {
        translation,
        subtitles,
        choices,
        speakers_cues,
        detected,
    })
}

/// The user's own translation as the lines: nothing is recognized, split or translated. With a
/// source transcript, each line is matched to the source text it translates.
async fn own_lines(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
    translation_key: String,
) -> Result<Lines, Stop> {
    let transcript = match &input.transcript {
        TranscriptSource::Recognize => {
            skip(ctx, &[Step::SpeechRecognition]);
            None
        }
        TranscriptSource::Uploaded(_) => {
            begin(ctx, Step::SpeechRecognition).await?;
            let transcript = source_text(ctx, input, audio).await?;
            finish(ctx, Step::SpeechRecognition);
            Some(transcript)
        }
    };
    skip(ctx, &[Step::NlpSplit, Step::MeaningSplit, Step::Summarize]);
    begin(ctx, Step::Translate).await?;
    let translation = ctx
        .execute_activity(
            DubbingActivities::own_translation,
            OwnTranslationInput {
                job_id: input.job_id,
                translation_key,
                source_cues_key: transcript.as_ref().map(|t| t.cues_key.clone()),
                source_language: input.source_language,
            },
            options::quick(),
        )
        .await?;
    finish(ctx, Step::Translate);
    let (translation, choices) = reviewed(ctx, input, translation).await?;
    // The user's translation is the display subtitle track as it is.
    skip(ctx, &[Step::SplitSubtitles, Step::GenerateSubtitles]);
    Ok(Lines {
        speakers_cues: transcript.map_or_else(|| translation.cues_key.clone(), |t| t.cues_key),
        translation,
        subtitles: None,
        choices,
        detected: None,
    })
}

/// The source text: the user's transcript when there is one, else speech recognition.
async fn source_text(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    audio: &ExtractAudioOutput,
) -> Result<TranscriptOutput, ActivityExecutionError> {
    match &input.transcript {
        TranscriptSource::Recognize if ctx.patched(RECOGNITION_CHUNKS_PATCH) => {
            recognize_in_chunks(ctx, input, audio).await
        }
        TranscriptSource::Recognize => {
            ctx.execute_activity(
                DubbingActivities::transcribe,
                TranscribeInput {
                    job_id: input.job_id,
                    audio_key: audio.audio_key.clone(),
                    language: input.source_language,
                    transcript_key: outputs(input).transcript(),
                    detect: input.options.detect_language,
                    recognizer: input.options.recognizer,
                },
                options::long_running(budget(ctx)),
            )
            .await
        }
        TranscriptSource::Uploaded(key) => {
            ctx.execute_activity(
                DubbingActivities::load_transcript,
                LoadTranscriptInput {
                    job_id: input.job_id,
                    transcript_key: key.clone(),
                },
                options::quick(),
            )
            .await
        }
    }
}

/// What the user chose line by line at the review checkpoint: voices of single lines, and the
/// lines they keep undubbed.
#[derive(Default)]
struct Choices {
    voices: BTreeMap<u32, String>,
    kept: BTreeSet<u32>,
}

/// The translation as the user approved it at the review checkpoint (jobs that asked for one),
/// with their choices line by line.
async fn reviewed(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    mut translation: TranslateOutput,
) -> Result<(TranslateOutput, Choices), Stop> {
    let mut choices = Choices::default();
    if input.options.review == Some(ReviewStage::Translation) && ctx.patched(REVIEW_PATCH) {
        let approval = review_checkpoint(ctx, input).await?;
        translation.cues_key = approval.cues_key;
        choices = Choices {
            voices: approval.line_voices,
            kept: approval.kept,
        };
    }
    Ok((translation, choices))
}

/// Sentences, lines split by meaning, terminology, translation and display subtitles.
async fn text_stages(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    transcript: TranscriptOutput,
    source_language: Language,
) -> Result<(TranslateOutput, SubtitleFiles, Choices), Stop> {
    let job_id = input.job_id;
    begin(ctx, Step::NlpSplit).await?;
    let sentences = ctx
        .execute_activity(
            DubbingActivities::split_sentences,
            SplitSentencesInput {
                job_id,
                cues_key: transcript.cues_key,
                words_key: transcript.words_key,
                language: source_language,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::NlpSplit);

    begin(ctx, Step::MeaningSplit).await?;
    let lines = ctx
        .execute_activity(
            DubbingActivities::split_meaning,
            SplitMeaningInput {
                job_id,
                sentences_key: sentences.sentences_key,
                language: source_language,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::MeaningSplit);

    begin(ctx, Step::Summarize).await?;
    let terminology = ctx
        .execute_activity(
            DubbingActivities::terminology,
            TerminologyInput {
                job_id,
                sentences_key: lines.sentences_key.clone(),
                source_language,
                target_language: input.target_language,
                glossary: input.options.glossary.clone(),
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::Summarize);

    begin(ctx, Step::Translate).await?;
    let translation = ctx
        .execute_activity(
            DubbingActivities::translate,
            TranslateInput {
                job_id,
                cues_key: lines.sentences_key.clone(),
                source_language,
                target_language: input.target_language,
                glossary: input.options.glossary.clone(),
                terminology_key: Some(terminology.terminology_key),
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::Translate);

    // The user reviews the translation before anything is spoken (jobs that asked for it).
    let (translation, choices) = reviewed(ctx, input, translation).await?;

    // One activity splits the lines for display and writes the files.
    begin(ctx, Step::SplitSubtitles).await?;
    let subtitles = ctx
        .execute_activity(
            DubbingActivities::subtitles,
            SubtitlesInput {
                job_id,
                sentences_key: lines.sentences_key,
                translation_key: translation.cues_key.clone(),
                source_language,
                target_language: input.target_language,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::SplitSubtitles);
    finish(ctx, Step::GenerateSubtitles);
    Ok((translation, subtitles, choices))
}

/// Waits, durably, for the user's approval of the translation, until the job's review timeout
/// (from the moment it starts waiting). The job row says it waits, and until when.
async fn review_checkpoint(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
) -> Result<Approval, Stop> {
    if let Some(approval) = &input.approval {
        return Ok(approval.clone()); // a resumed job, approved in an earlier run
    }
    let timeout = std::time::Duration::from_secs(input.review_timeout_secs.unwrap_or(7 * 86_400));
    let now: chrono::DateTime<chrono::Utc> =
        ctx.workflow_time().map(Into::into).unwrap_or_default();
    let deadline = now + chrono::Duration::from_std(timeout).unwrap_or_default();
    ctx.state_mut(|s| s.unreported_review = Some(ReviewMark::Awaiting { deadline }));
    report(ctx).await?;
    // Some(true): approved; Some(false): cancelled meanwhile; None: the time ran out.
    let waited = temporalio_sdk::workflows::select! {
        waited = ctx.wait_condition(|s| s.approval.is_some()) => Some(waited.is_ok()),
        _ = ctx.timer(timeout) => None,
    };
    let approval = ctx.state(|s| s.approval.clone());
    let approval = match (waited, approval) {
        (Some(true), Some(approval)) => approval,
        (None, _) => return Err(Stop::ReviewExpired),
        _ => return Err(Stop::Cancelled),
    };
    ctx.state_mut(|s| s.unreported_review = Some(ReviewMark::Approved));
    report(ctx).await?;
    Ok(approval)
}

/// The pipeline before the text stages: the transcript's cues translated as they are.
async fn translation_only(
    ctx: &mut WorkflowContext<DubbingWorkflow>,
    input: &DubbingInput,
    transcript: TranscriptOutput,
    source_language: Language,
) -> Result<TranslateOutput, ActivityExecutionError> {
    skip(ctx, &[Step::NlpSplit, Step::MeaningSplit, Step::Summarize]);
    begin(ctx, Step::Translate).await?;
    let translation = ctx
        .execute_activity(
            DubbingActivities::translate,
            TranslateInput {
                job_id: input.job_id,
                cues_key: transcript.cues_key,
                source_language,
                target_language: input.target_language,
                glossary: input.options.glossary.clone(),
                terminology_key: None,
            },
            options::long_running(budget(ctx)),
        )
        .await?;
    finish(ctx, Step::Translate);
    skip(ctx, &[Step::SplitSubtitles, Step::GenerateSubtitles]);
    Ok(translation)
}

/// Where the job's outputs are kept, beside its video.
fn outputs(input: &DubbingInput) -> JobOutputs {
    VideoKeys::new(input.user_id, input.video_id).job(input.job_id)
}

/// The job's activity budget (the defaults for jobs started before it was carried).
fn budget(ctx: &WorkflowContext<DubbingWorkflow>) -> onevoice_shared::contracts::ActivityBudget {
    ctx.state(|s| s.input.activity_budget.unwrap_or_default())
}
