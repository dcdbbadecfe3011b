//! Declarations of the activities the workflows schedule: names and input/output types only. The
//! implementations live in the `onevoice-activities` crate and register under the same names.
#![allow(clippy::unimplemented)] // the macro requires `unimplemented!()` bodies for declarations

use onevoice_shared::contracts::{
    ApplyPaddleEventInput, BillingOutcome, BurnSubtitlesInput, CleanupReport, DeleteVideoInput,
    EraseAccountInput, ErasureReport, ExtractAudioInput, ExtractAudioOutput, FinishJobInput,
    IngestInput, LoadTranscriptInput, MaintenanceInput, MediaInfo, MixInput, MixOutput, MuxInput,
    MuxOutput, PlanTimingInput, PlanTimingOutput, ProgressReport, PublishInput, RecordIngestInput,
    SendEmailInput, SuspendOverdueInput, SynthesizeInput, SynthesizeOutput, ThumbnailInput,
    TranscribeInput, TranscriptOutput, TranslateInput, TranslateOutput, activity,
};
use onevoice_shared::contracts::{
    CloneVoicesInput, CloneVoicesOutput, CompletedUpload, DeliverWebhookInput, ExportInput,
    ExportOutput, FinishRerenderInput, JoinSpeechInput, OwnTranslationInput, SentencesOutput,
    SeparateInput, SeparateOutput, SpeakersInput, SpeakersOutput, SplitMeaningInput,
    SplitSentencesInput, SubtitleFiles, SubtitlesInput, TerminologyInput, TerminologyOutput,
    TrimVideoInput,
};
use onevoice_shared::contracts::{
    CutSpeechInput, JoinTranscriptInput, RecognizeChunkInput, RecognizedChunk, SpeechChunks,
};
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;

/// Activities of the dubbing pipeline.
pub struct DubbingActivities;

#[activity_definitions]
impl DubbingActivities {
    #[activity(name = activity::TRIM_VIDEO)]
    pub fn trim_video(input: TrimVideoInput) -> Result<String, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::EXTRACT_AUDIO)]
    pub fn extract_audio(input: ExtractAudioInput) -> Result<ExtractAudioOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::LOAD_TRANSCRIPT)]
    pub fn load_transcript(input: LoadTranscriptInput) -> Result<TranscriptOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::TRANSCRIBE)]
    pub fn transcribe(input: TranscribeInput) -> Result<TranscriptOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::CUT_SPEECH)]
    pub fn cut_speech(input: CutSpeechInput) -> Result<SpeechChunks, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::RECOGNIZE_CHUNK)]
    pub fn recognize_chunk(input: RecognizeChunkInput) -> Result<RecognizedChunk, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::JOIN_TRANSCRIPT)]
    pub fn join_transcript(input: JoinTranscriptInput) -> Result<TranscriptOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SPLIT_SENTENCES)]
    pub fn split_sentences(input: SplitSentencesInput) -> Result<SentencesOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SPLIT_MEANING)]
    pub fn split_meaning(input: SplitMeaningInput) -> Result<SentencesOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::TERMINOLOGY)]
    pub fn terminology(input: TerminologyInput) -> Result<TerminologyOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::TRANSLATE)]
    pub fn translate(input: TranslateInput) -> Result<TranslateOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::OWN_TRANSLATION)]
    pub fn own_translation(input: OwnTranslationInput) -> Result<TranslateOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SUBTITLES)]
    pub fn subtitles(input: SubtitlesInput) -> Result<SubtitleFiles, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SPEAKERS)]
    pub fn speakers(input: SpeakersInput) -> Result<SpeakersOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SEPARATE)]
    pub fn separate(input: SeparateInput) -> Result<SeparateOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::CLONE_VOICES)]
    pub fn clone_voices(input: CloneVoicesInput) -> Result<CloneVoicesOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SYNTHESIZE)]
    pub fn synthesize(input: SynthesizeInput) -> Result<SynthesizeOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::JOIN_SPEECH)]
    pub fn join_speech(input: JoinSpeechInput) -> Result<SynthesizeOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::PLAN_TIMING)]
    pub fn plan_timing(input: PlanTimingInput) -> Result<PlanTimingOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::MIX)]
    pub fn mix(input: MixInput) -> Result<MixOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::BURN_SUBTITLES)]
    pub fn burn_subtitles(input: BurnSubtitlesInput) -> Result<String, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::MUX)]
    pub fn mux(input: MuxInput) -> Result<MuxOutput, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::PUBLISH)]
    pub fn publish(input: PublishInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::RECORD_PROGRESS)]
    pub fn record_progress(input: ProgressReport) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::FINISH_JOB)]
    pub fn finish_job(input: FinishJobInput) -> Result<Option<uuid::Uuid>, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::FINISH_RERENDER)]
    pub fn finish_rerender(input: FinishRerenderInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::EXPORT_STEMS)]
    pub fn export_stems(input: ExportInput) -> Result<ExportOutput, ActivityError> {
        unimplemented!()
    }
}

/// Activities of the small workflows: email delivery and maintenance.
pub struct SupportActivities;

#[activity_definitions]
impl SupportActivities {
    #[activity(name = activity::SEND_EMAIL)]
    pub fn send_email(input: SendEmailInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::CLEANUP)]
    pub fn cleanup(input: MaintenanceInput) -> Result<CleanupReport, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::ERASE_ACCOUNT)]
    pub fn erase_account(input: EraseAccountInput) -> Result<ErasureReport, ActivityError> {
        unimplemented!()
    }
}

/// Activities of webhook deliveries.
pub struct WebhookActivities;

#[activity_definitions]
impl WebhookActivities {
    #[activity(name = activity::DELIVER_WEBHOOK)]
    pub fn deliver(input: DeliverWebhookInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Marks the delivery failed; disables an endpoint that failed everything for the whole
    /// window and returns the outbox email telling its owner.
    #[activity(name = activity::GIVE_UP_WEBHOOK)]
    pub fn give_up(input: DeliverWebhookInput) -> Result<Option<uuid::Uuid>, ActivityError> {
        unimplemented!()
    }
}

/// Activities of the upload, thumbnail and deletion workflows of videos.
pub struct VideoActivities;

#[activity_definitions]
impl VideoActivities {
    #[activity(name = activity::PROBE_VIDEO)]
    pub fn probe_video(input: IngestInput) -> Result<MediaInfo, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::IMPORT_URL)]
    pub fn import_url(input: IngestInput) -> Result<CompletedUpload, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::EXTRACT_THUMBNAIL)]
    pub fn extract_thumbnail(input: ThumbnailInput) -> Result<String, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::RECORD_INGEST)]
    pub fn record_ingest(input: RecordIngestInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::DELETE_VIDEO)]
    pub fn delete_video(input: DeleteVideoInput) -> Result<u64, ActivityError> {
        unimplemented!()
    }
}

/// Activities of the customer's `BillingWorkflow`.
pub struct BillingActivities;

#[activity_definitions]
impl BillingActivities {
    #[activity(name = activity::APPLY_PADDLE_EVENT)]
    pub fn apply_paddle_event(
        input: ApplyPaddleEventInput,
    ) -> Result<BillingOutcome, ActivityError> {
        unimplemented!()
    }

    #[activity(name = activity::SUSPEND_OVERDUE)]
    pub fn suspend_overdue(input: SuspendOverdueInput) -> Result<BillingOutcome, ActivityError> {
        unimplemented!()
    }
}
