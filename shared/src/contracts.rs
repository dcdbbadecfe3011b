//! The contract between the API, the workflows and the activities: workflow ids, task queues,
//! activity names, search attributes, and the small input/output documents they exchange.
//!
//! Large data never travels through Temporal: documents here carry S3 keys and counts, and every
//! artifact lives in the bucket under a key from [`crate::keys`].

use crate::ids::{JobId, UserId, VideoId};
use crate::language::Language;
use crate::pipeline::Step;
use crate::settings::Recognizer;
use crate::status::StepStatus;
use serde::{Deserialize, Serialize};

/// Workflow id of a dubbing job: one workflow per job, so a duplicate start is a no-op.
pub fn dubbing_workflow_id(job: JobId) -> String {
    format!("dub-{job}")
}

/// `RerenderWorkflow` of version `version` of a job (one per version: a repeated start finds it).
pub fn rerender_workflow_id(job: JobId, version: u32) -> String {
    format!("rerender-{job}-v{version}")
}

/// Workflow id of the editors' exports of version `n` of a dub.
pub fn export_workflow_id(job: JobId, version: u32) -> String {
    format!("export-{job}-v{version}")
}

/// Names of the activities `DubbingWorkflow` schedules. Implementations register under these names
/// (the activities crate), definitions call them (the workflows crate).
pub mod activity {
    pub const EXTRACT_AUDIO: &str = "media.extract_audio";
    pub const TRIM_VIDEO: &str = "media.trim_video";
    pub const LOAD_TRANSCRIPT: &str = "text.load_transcript";
    pub const TRANSCRIBE: &str = "speech.transcribe";
    pub const CUT_SPEECH: &str = "speech.cut";
    pub const RECOGNIZE_CHUNK: &str = "speech.recognize_chunk";
    pub const JOIN_TRANSCRIPT: &str = "speech.join_transcript";
    pub const SPLIT_SENTENCES: &str = "text.split_sentences";
    pub const SPLIT_MEANING: &str = "text.split_meaning";
    pub const TERMINOLOGY: &str = "text.terminology";
    pub const TRANSLATE: &str = "text.translate";
    pub const OWN_TRANSLATION: &str = "text.own_translation";
    pub const SUBTITLES: &str = "text.subtitles";
    pub const SYNTHESIZE: &str = "voice.synthesize";
    pub const JOIN_SPEECH: &str = "voice.join_speech";
    pub const SPEAKERS: &str = "speakers.profile";
    pub const CLONE_VOICES: &str = "voice.clone";
    pub const MIX: &str = "audio.mix";
    pub const SEPARATE: &str = "audio.separate";
    pub const PLAN_TIMING: &str = "audio.plan_timing";
    pub const MUX: &str = "media.mux";
    pub const BURN_SUBTITLES: &str = "media.burn_subtitles";
    pub const PUBLISH: &str = "bridge.publish";
    pub const RECORD_PROGRESS: &str = "jobs.record_progress";
    pub const FINISH_JOB: &str = "jobs.finish";
    pub const FINISH_RERENDER: &str = "jobs.finish_rerender";
    pub const EXPORT_STEMS: &str = "audio.export_stems";
    pub const SEND_EMAIL: &str = "notify.send_email";
    pub const CLEANUP: &str = "maintenance.cleanup";
    pub const ERASE_ACCOUNT: &str = "account.erase";
    pub const PROBE_VIDEO: &str = "media.probe_video";
    pub const IMPORT_URL: &str = "media.import_url";
    pub const EXTRACT_THUMBNAIL: &str = "media.extract_thumbnail";
    pub const RECORD_INGEST: &str = "videos.record_ingest";
    pub const DELETE_VIDEO: &str = "videos.delete";
    pub const APPLY_PADDLE_EVENT: &str = "billing.apply_paddle_event";
    pub const SUSPEND_OVERDUE: &str = "billing.suspend_overdue";
    pub const DELIVER_WEBHOOK: &str = "webhooks.deliver";
    pub const GIVE_UP_WEBHOOK: &str = "webhooks.give_up";
}

/// Workflow id of the processing of a finished upload.
pub fn ingest_workflow_id(video: VideoId) -> String {
    format!("ingest-{video}")
}

/// Workflow id of the deletion of a video and everything derived from it.
pub fn video_deletion_workflow_id(video: VideoId) -> String {
    format!("delete-video-{video}")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestInput {
    pub video_id: VideoId,
    pub user_id: UserId,
    /// S3 key of the original: what is probed, priced and dubbed.
    pub key: String,
    /// The completed upload the original is frozen from (absent in ingests started before
    /// uploads were frozen, which probed `key` as uploaded).
    #[serde(default)]
    pub upload: Option<CompletedUpload>,
    /// For a video imported by URL: where to fetch it from, first (absent for uploads, and in
    /// every ingest started before imports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportSource>,
}

/// A video to fetch from the web (`POST /api/videos/import`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportSource {
    pub url: String,
    /// The longest the download may take (`IMPORT_TIMEOUT_SECS`).
    pub timeout_secs: u64,
}

/// An upload as `complete` checked it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletedUpload {
    pub key: String,
    pub size: u64,
    /// Its entity tag then: the copy is refused if the object changed since.
    pub etag: Option<String>,
}

/// What ffprobe found in an upload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub duration_ms: u64,
    pub size_bytes: u64,
    pub format_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub audio_tracks: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThumbnailInput {
    pub key: String,
    /// Where in the video; `None` picks a representative frame.
    pub at_ms: Option<u64>,
    pub output_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IngestOutcome {
    Ready {
        info: MediaInfo,
        thumbnail_key: Option<String>,
    },
    Rejected {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordIngestInput {
    pub video_id: VideoId,
    pub outcome: IngestOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteVideoInput {
    pub video_id: VideoId,
    pub user_id: UserId,
}

/// Workflow id of the erasure of a deleted account's data.
pub fn erasure_workflow_id(user: UserId) -> String {
    format!("erase-{user}")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EraseAccountInput {
    pub user_id: UserId,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErasureReport {
    pub objects_deleted: u64,
}

/// Workflow id of the delivery of one outbox email: starting it twice delivers once.
pub fn email_workflow_id(email_id: uuid::Uuid) -> String {
    format!("email-{email_id}")
}

/// Workflow id of a customer's billing: one long-lived workflow per user applies their Paddle
/// events in order and keeps their grace-period timer.
pub fn billing_workflow_id(user: UserId) -> String {
    format!("billing-{user}")
}

/// A stored Paddle webhook event, as the API signals it to the customer's `BillingWorkflow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaddleEventRef {
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingInput {
    pub user_id: UserId,
    pub grace_period_secs: u64,
    /// Events a run applies before it continues as new.
    pub event_limit: u32,
    /// Carried across continue-as-new: events signalled but not applied yet.
    #[serde(default)]
    pub pending: Vec<PaddleEventRef>,
    /// Carried across continue-as-new: when dubbing is suspended if still unpaid.
    #[serde(default)]
    pub grace_deadline: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyPaddleEventInput {
    pub user_id: UserId,
    pub event_id: String,
    pub grace_period_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspendOverdueInput {
    pub user_id: UserId,
    pub grace_period_secs: u64,
}

/// The customer's billing state after an activity, and the notices it queued.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BillingOutcome {
    /// When dubbing gets suspended unless a payment arrives (a past-due, unsuspended subscription).
    pub grace_deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// Outbox emails to deliver.
    pub emails: Vec<uuid::Uuid>,
}

/// Workflow id of the periodic cleanup, one per task queue.
pub fn maintenance_workflow_id(task_queue: &str) -> String {
    format!("maintenance-{task_queue}")
}

/// Workflow id of one webhook delivery: the relay may start it twice; it runs once.
pub fn webhook_delivery_workflow_id(delivery: uuid::Uuid) -> String {
    format!("webhook-{delivery}")
}

/// One delivery of an event to an endpoint, with the retry schedule (settings the workflow
/// cannot read itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliverWebhookInput {
    pub delivery_id: uuid::Uuid,
    /// Attempts stop this long after the first.
    pub retry_window_secs: u64,
    pub first_retry_ms: u64,
    pub max_retry_interval_secs: u64,
    /// One attempt's limit.
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendEmailInput {
    pub email_id: uuid::Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceInput {
    /// Seconds between cleanups.
    pub interval_secs: u64,
    /// Uploads still pending after this many seconds are removed.
    #[serde(default = "default_abandon_secs")]
    pub abandon_upload_secs: u64,
}

fn default_abandon_secs() -> u64 {
    24 * 3600
}

/// What one cleanup removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CleanupReport {
    pub expired_signups: u64,
    pub stale_tokens: u64,
    pub old_rate_limits: u64,
    #[serde(default)]
    pub abandoned_uploads: u64,
    /// Jobs whose workflow never started, failed with their hold released.
    #[serde(default)]
    pub stranded_jobs: u64,
    /// Cloned voices deleted at their provider (expired, or asked to be deleted).
    #[serde(default)]
    pub cloned_voices_deleted: u64,
}

/// Custom search attributes registered on the Temporal server (`scripts/stack.sh` registers them
/// on the dev server; production namespaces need `temporal operator search-attribute create`).
pub mod search_attribute {
    pub const USER_ID: &str = "UserId";
    pub const VIDEO_ID: &str = "VideoId";
    pub const JOB_STATUS: &str = "JobStatus";
    pub const TARGET_LANGUAGE: &str = "TargetLanguage";
}

/// Start input of `DubbingWorkflow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DubbingInput {
    pub job_id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    /// S3 key of the uploaded source video.
    pub video_key: String,
    /// Where the source text comes from (named `transcript_key` on the wire, see
    /// [`TranscriptSource`]).
    #[serde(rename = "transcript_key")]
    pub transcript: TranscriptSource,
    pub source_language: Language,
    pub target_language: Language,
    /// S3 key the dubbed MP4 is written to.
    pub output_key: String,
    /// Price locked when the job was quoted and started.
    #[serde(default = "default_credits_per_minute")]
    pub credits_per_minute: u32,
    /// The video's length when the job was priced (absent in jobs started before it was kept).
    #[serde(default)]
    pub priced_duration_ms: Option<u64>,
    /// How long the job's long steps may keep retrying (absent in jobs started before it was
    /// set: the defaults then).
    #[serde(default)]
    pub activity_budget: Option<ActivityBudget>,
    #[serde(default)]
    pub options: DubOptions,
    /// How long a review checkpoint waits for the user's approval before the job is given up
    /// (`REVIEW_TIMEOUT`); set on jobs that asked for a review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_timeout_secs: Option<u64>,
    /// The user's approval, when a resumed job's review was approved before: the checkpoint
    /// does not wait again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The user's own translation (SRT, stored at this key): it replaces the text stages. With
    /// it, `transcript` `Recognize` means the job has no source text at all: nothing is
    /// recognized, the translation's timing makes the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_translation_key: Option<String>,
    /// Lines per synthesis batch (`SPEECH_BATCH_LINES`): the batches are activities of their
    /// own, so several workers speak one job's lines. Absent in jobs started before batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_batch_lines: Option<u32>,
    /// Only this part of the video is dubbed (a time range, or a preview): the job cuts it out
    /// first and dubs the cut as the whole video. The transcripts the job reads are the part's,
    /// already shifted to start at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<TimeRange>,
}

/// A part of a video, in milliseconds from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl TimeRange {
    pub fn duration_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// Cut `range` out of the source video (`media.trim_video`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrimVideoInput {
    pub job_id: JobId,
    pub video_key: String,
    pub range: TimeRange,
}

/// Where a job's source text comes from.
///
/// On the wire it stays the string every worker has read since the first release (a key, or empty
/// for "recognize"), so recorded histories and workers of either version read each other's
/// inputs; in code the sentinel is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TranscriptSource {
    /// The user's transcript (SRT/WebVTT), stored at this key.
    Uploaded(String),
    /// None was given: speech recognition writes one.
    Recognize,
}

impl From<String> for TranscriptSource {
    fn from(key: String) -> Self {
        if key.is_empty() {
            TranscriptSource::Recognize
        } else {
            TranscriptSource::Uploaded(key)
        }
    }
}

impl From<TranscriptSource> for String {
    fn from(source: TranscriptSource) -> Self {
        match source {
            TranscriptSource::Uploaded(key) => key,
            TranscriptSource::Recognize => String::new(),
        }
    }
}

/// Timeouts of long activities, from the settings (`ACTIVITY_*`). Their attempts are unlimited:
/// a lost worker costs an attempt (its heartbeat times out), and losing workers must not fail a
/// job, so only time bounds the retries; the activities give up by themselves on errors that
/// keep coming back (see `heartbeat` in the activities crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityBudget {
    /// From the first schedule to the end of the last attempt.
    pub total_secs: u64,
    /// A running attempt whose worker stops heartbeating this long is retried elsewhere.
    pub heartbeat_secs: u64,
    /// The longest wait between two attempts.
    pub max_retry_interval_secs: u64,
}

impl Default for ActivityBudget {
    fn default() -> Self {
        ActivityBudget {
            total_secs: 6 * 60 * 60,
            heartbeat_secs: 10,
            max_retry_interval_secs: 60,
        }
    }
}

/// The user's choices for a dub, carried to the steps they affect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DubOptions {
    /// Keep the original track (lowered) under the dub; otherwise the dub plays alone.
    pub preserve_background_music: bool,
    /// Also produce the original video with the translation burned in (`subtitle_video`).
    pub burn_subtitles: bool,
    /// Terms translated exactly as given.
    pub glossary: Vec<GlossaryTerm>,
    #[serde(default)]
    pub voice_id: Option<String>,
    /// Detect the spoken language during speech recognition (the source language given is only
    /// a fallback).
    #[serde(default)]
    pub detect_language: bool,
    /// The job's speech recognizer, in place of the deployment's (`ASR_PROVIDER`).
    #[serde(default)]
    pub recognizer: Option<Recognizer>,
    /// Voices the user chose for speakers known in advance, by the transcript's labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub voices: std::collections::BTreeMap<String, String>,
    /// Clone every speaker's voice at this provider (the user attested consent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_voices: Option<crate::voices::CloneProvider>,
    /// What plays under the dub; none (jobs from before the modes): the original ducked, or
    /// nothing without `preserve_background_music`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundMode>,
    /// Stop after this stage for the user's review, and go on when they approve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewStage>,
}

/// Where a dub stops for the user's review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStage {
    /// After the text stages, before any voice is synthesized: the user edits the translation
    /// (`PATCH /api/jobs/{id}/segments`) and approves it.
    Translation,
}

/// What the user approved at the review checkpoint: the lines to speak (`srt::Cue` list, the
/// translation as edited), the voices the user gave single lines and the lines they keep
/// undubbed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub cues_key: String,
    #[serde(default)]
    pub line_voices: std::collections::BTreeMap<u32, String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub kept: std::collections::BTreeSet<u32>,
}

/// Name of `DubbingWorkflow`'s approval signal.
pub const APPROVE_SIGNAL: &str = "approve";

/// What plays under the dub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundMode {
    /// The original track without its voices (a separation stage), at full level.
    Separated,
    /// The original track, lowered under speech by `AUDIO_DUCK_DB`.
    Ducked,
    /// Nothing: the dub alone.
    None,
}

impl BackgroundMode {
    pub const ALL: [BackgroundMode; 3] = [Self::Separated, Self::Ducked, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Separated => "separated",
            Self::Ducked => "ducked",
            Self::None => "none",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl DubOptions {
    /// The job's background mode: the one asked for, or what jobs did before there were modes.
    pub fn background_mode(&self) -> BackgroundMode {
        self.background
            .unwrap_or(if self.preserve_background_music {
                BackgroundMode::Ducked
            } else {
                BackgroundMode::None
            })
    }
}

impl Default for DubOptions {
    fn default() -> Self {
        DubOptions {
            preserve_background_music: true,
            burn_subtitles: false,
            glossary: Vec::new(),
            voice_id: None,
            detect_language: false,
            recognizer: None,
            voices: Default::default(),
            clone_voices: None,
            background: None,
            review: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlossaryTerm {
    pub source: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BurnSubtitlesInput {
    pub job_id: JobId,
    pub video_key: String,
    pub srt_key: String,
    pub output_key: String,
}

fn default_credits_per_minute() -> u32 {
    10
}

/// Result of `DubbingWorkflow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DubbingOutput {
    pub output_key: String,
    /// Translation subtitles (SRT) in S3.
    pub translation_srt_key: String,
    /// The original video with the translation burned in, when asked for.
    #[serde(default)]
    pub subtitle_video_key: Option<String>,
    pub duration_ms: u64,
    pub lines: u32,
    /// The dub's subtitles with the spoken times.
    #[serde(default)]
    pub dub_srt_key: Option<String>,
    #[serde(default)]
    pub dubbed_audio_key: Option<String>,
    /// Lines that could not fit their slot (cut at the end of their window).
    #[serde(default)]
    pub unfit_lines: Vec<UnfitLine>,
    /// The detected source language, when the job asked for detection.
    #[serde(default)]
    pub source_language: Option<Language>,
    /// Display subtitles (source, translation, bilingual).
    #[serde(default)]
    pub subtitles: Option<SubtitleFiles>,
    /// How each speaker's lines fit: voice, speed-ups, overruns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speaker_fit: Vec<SpeakerFit>,
    /// What played under the dub, and how the voices were taken out when separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundReport>,
}

/// What played under the dub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackgroundReport {
    pub mode: BackgroundMode,
    /// How the voices were taken out (`separated`): `centre` (a stereo track's centre removed
    /// under speech), `speech_band` (a mono track's speech band lowered under speech) or
    /// `lalalai` (the separation service's track without voices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Why the separation service was not used when it was configured (it refused the track).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Takes the original voices out of the source track under the source's speech.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparateInput {
    pub job_id: JobId,
    pub source_audio_key: String,
    /// The source cues (`TranscriptOutput::cues_key`): where the original speech is.
    pub cues_key: String,
    pub duration_ms: u64,
    /// Also keep the voices alone when the separator gives them (for the speakers step).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vocals: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparateOutput {
    /// The background stem (WAV), for `MixInput::background_stem_key`.
    pub stem_key: String,
    /// `centre`, `speech_band` or `lalalai` (see `BackgroundReport::method`).
    pub method: String,
    /// Why the separation service was not used when it was configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The original voices alone (WAV, the source's timeline), when the separator gives them:
    /// the speakers step cuts its references from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocals_key: Option<String>,
}

/// Answer of the `progress` query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DubbingProgress {
    /// 0–100, weighted by the seed's step weights.
    pub percent: f64,
    pub current_step: Option<Step>,
    pub completed_steps: Vec<Step>,
    /// Steps this pipeline version does not run (counted as done for progress).
    pub skipped_steps: Vec<Step>,
}

/// The job's identity, passed to every activity so it can key its artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRef {
    pub job_id: JobId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractAudioInput {
    pub job_id: JobId,
    pub video_key: String,
    /// The length the job was priced for; the decoded audio may differ by at most a second.
    #[serde(default)]
    pub priced_duration_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractAudioOutput {
    /// 48 kHz mono PCM WAV of the source's first audio track.
    pub audio_key: String,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadTranscriptInput {
    pub job_id: JobId,
    pub transcript_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptOutput {
    /// JSON list of `srt::Cue` in S3.
    pub cues_key: String,
    pub lines: u32,
    /// The language the recognizer detected, when asked to.
    #[serde(default)]
    pub language: Option<Language>,
    /// JSON list of the recognizer's timed words (`text::Word`), when it gives them.
    #[serde(default)]
    pub words_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSentencesInput {
    pub job_id: JobId,
    pub cues_key: String,
    #[serde(default)]
    pub words_key: Option<String>,
    pub language: Language,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitMeaningInput {
    pub job_id: JobId,
    pub sentences_key: String,
    pub language: Language,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentencesOutput {
    /// JSON list of timed sentences (readable as `srt::Cue`s, with word spans).
    pub sentences_key: String,
    pub lines: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerminologyInput {
    pub job_id: JobId,
    pub sentences_key: String,
    pub source_language: Language,
    pub target_language: Language,
    /// The user's terms: kept as given, ahead of anything the model proposes.
    #[serde(default)]
    pub glossary: Vec<GlossaryTerm>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerminologyOutput {
    /// `{theme, terms}` in S3.
    pub terminology_key: String,
    pub terms: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubtitlesInput {
    pub job_id: JobId,
    pub sentences_key: String,
    /// The translated sentences (`TranslateOutput::cues_key`).
    pub translation_key: String,
    pub source_language: Language,
    pub target_language: Language,
}

/// The subtitle files of a job, each as SRT and WebVTT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubtitleFiles {
    pub source_srt: String,
    pub source_vtt: String,
    pub translation_srt: String,
    pub translation_vtt: String,
    /// Translation above the source line.
    pub bilingual_srt: String,
    pub bilingual_vtt: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscribeInput {
    pub job_id: JobId,
    /// The extracted source track (`ExtractAudioOutput::audio_key`).
    pub audio_key: String,
    pub language: Language,
    /// Where the recognized transcript is also stored as SRT (served as the source transcript).
    pub transcript_key: String,
    /// Let the recognizer detect the language instead of telling it `language`.
    #[serde(default)]
    pub detect: bool,
    /// The job's recognizer; the deployment's when none.
    #[serde(default)]
    pub recognizer: Option<Recognizer>,
}

/// The job's source track to cut into recognition chunks (stored in S3), so that any worker
/// can recognize any of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutSpeechInput {
    pub job_id: JobId,
    pub audio_key: String,
}

/// A piece of the source track as the recognizer hears it: 16 kHz mono WAV in S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechChunk {
    /// Where the chunk starts in the track.
    pub offset_ms: u64,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeechChunks {
    /// In track order, covering it without gaps.
    pub chunks: Vec<SpeechChunk>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecognizeChunkInput {
    pub job_id: JobId,
    pub chunk: SpeechChunk,
    /// The language spoken; none: the recognizer detects it (the first chunk of a job that
    /// asked for detection).
    pub language: Option<Language>,
    pub recognizer: Option<Recognizer>,
}

/// A recognized chunk: the recognizer's answer stays in its content-addressed cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecognizedChunk {
    pub chunk: SpeechChunk,
    /// The cached answer (`keys::asr_cache`).
    pub result_key: String,
    /// The language the recognizer was told, or detected.
    pub language: Language,
}

/// The recognized chunks (in track order) made the job's transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinTranscriptInput {
    pub job_id: JobId,
    pub chunks: Vec<RecognizedChunk>,
    /// Where the transcript is also stored as SRT (`TranscribeInput::transcript_key`).
    pub transcript_key: String,
    /// The language detected on the first chunk, when the job asked for detection.
    pub detected: Option<Language>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslateInput {
    pub job_id: JobId,
    pub cues_key: String,
    pub source_language: Language,
    pub target_language: Language,
    #[serde(default)]
    pub glossary: Vec<GlossaryTerm>,
    /// The terminology stage's theme and glossary (supersedes `glossary`).
    #[serde(default)]
    pub terminology_key: Option<String>,
}

/// The user's translation made the job's lines: its cues as they are, each with the source text
/// it overlaps most when there is a source transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnTranslationInput {
    pub job_id: JobId,
    /// The user's translation (SRT with speaker labels, as the API stored it).
    pub translation_key: String,
    /// The source transcript's cues (`TranscriptOutput::cues_key`), when there is one.
    #[serde(default)]
    pub source_cues_key: Option<String>,
    pub source_language: Language,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslateOutput {
    /// JSON list of translated `srt::Cue` (same timing as the source).
    pub cues_key: String,
    /// The same cues as SRT, served to clients as translation subtitles.
    pub srt_key: String,
    pub lines: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeInput {
    pub job_id: JobId,
    pub cues_key: String,
    pub language: Language,
    /// A voice of `/api/videos/voices` (e.g. `espeak-es-f`); the language's default when absent.
    #[serde(default)]
    pub voice_id: Option<String>,
    /// Each speaker's voice, by the speaker labels of the cues (`SpeakersOutput::voices`); a
    /// line of a speaker not listed (or of nobody) is spoken by `voice_id`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub voices: std::collections::BTreeMap<String, String>,
    /// Voices of single lines (by 0-based index), over the speakers' (a re-render's edits).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub line_voices: std::collections::BTreeMap<u32, String>,
    /// Lines (0-based) that keep the original audio: nothing is synthesized for them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub kept: std::collections::BTreeSet<u32>,
    /// The render this is part of (1: the first dub; see `keys::RenderKeys`).
    #[serde(default = "first_render", skip_serializing_if = "is_first_render")]
    pub version: u32,
    /// Only these lines, a batch of the job's (absent: every line, as before batches). A batch
    /// writes its own part of the manifest; `JoinSpeechInput` puts the parts together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<LineBatch>,
}

/// A batch of a job's lines: `first..end` (0-based, `end` excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineBatch {
    pub first: u32,
    pub end: u32,
}

impl LineBatch {
    /// `lines` cut into batches of at most `size` (at least one line each), in order.
    pub fn split(lines: u32, size: u32) -> Vec<LineBatch> {
        let size = size.max(1);
        (0..lines)
            .step_by(size as usize)
            .map(|first| LineBatch {
                first,
                end: (first + size).min(lines),
            })
            .collect()
    }
}

/// The spoken lines of a job's batches (their manifests, in line order), made one manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinSpeechInput {
    pub job_id: JobId,
    /// The job's lines (every batch's `cues_key`): the parts must hold each once.
    pub cues_key: String,
    pub parts: Vec<String>,
    #[serde(default = "first_render", skip_serializing_if = "is_first_render")]
    pub version: u32,
}

/// Render 1 is the job's first dub; its inputs serialize without `version`, as before versions,
/// so recorded histories keep their payloads.
fn first_render() -> u32 {
    1
}

fn is_first_render(v: &u32) -> bool {
    *v <= 1
}

/// The speakers step (extract_reference_audio): who speaks, measured from the source audio,
/// and the voice that dubs each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeakersInput {
    pub job_id: JobId,
    /// The extracted source track.
    pub audio_key: String,
    /// The source cues (`TranscriptOutput::cues_key`), with their speakers.
    pub cues_key: String,
    pub target_language: Language,
    /// The job's voice: the main speaker's, and everyone's when there is one speaker.
    #[serde(default)]
    pub voice_id: Option<String>,
    /// The user's voices by speaker label.
    #[serde(default)]
    pub voices: std::collections::BTreeMap<String, String>,
    /// Also cut each speaker's reference audio, to clone their voice from.
    #[serde(default)]
    pub references: bool,
    /// The original voices alone (`SeparateOutput::vocals_key`): measured and cut instead of the
    /// source track, which has the music under them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocals_key: Option<String>,
}

/// Clones the voice of every speaker of a job with a reference (`Speaker::reference_key`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloneVoicesInput {
    pub job_id: JobId,
    pub user_id: UserId,
    pub provider: crate::voices::CloneProvider,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloneVoicesOutput {
    /// The cloned voice of each speaker cloned, by label (over `SpeakersOutput::voices`).
    pub voices: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeakersOutput {
    /// How many speakers the cues name (0: nobody is named, one voice speaks every line).
    pub speakers: u32,
    /// Each speaker's voice, by label (`SynthesizeInput::voices`).
    pub voices: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthesizedLine {
    pub start_ms: u64,
    pub end_ms: u64,
    pub audio_key: String,
    /// What the line says (for the dub's subtitles).
    #[serde(default)]
    pub text: String,
    /// Who says it (a label of the job's speakers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// The voice that spoke it (for a line kept undubbed, the one that would have).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// The line keeps the original audio: it has no clip (`audio_key` is empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_original: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeOutput {
    /// JSON list of `SynthesizedLine` in S3.
    pub manifest_key: String,
    pub lines: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixInput {
    pub job_id: JobId,
    pub source_audio_key: String,
    pub manifest_key: String,
    pub duration_ms: u64,
    #[serde(default = "yes")]
    pub preserve_background: bool,
    /// The timing plan (`PlanTimingOutput::plan_key`).
    #[serde(default)]
    pub plan_key: String,
    /// A separated background stem (music and effects without the original voices,
    /// `SeparateOutput::stem_key`): mixed under the dub at full level instead of ducking the
    /// original track.
    #[serde(default)]
    pub background_stem_key: Option<String>,
    /// A re-render's gain (its first render's), so what it did not change comes out identical;
    /// measured when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain: Option<MixGain>,
    #[serde(default = "first_render", skip_serializing_if = "is_first_render")]
    pub version: u32,
}

/// The one static gain of a mix, and whether the limiter held its ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixGain {
    pub gain_db: f64,
    pub limited: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanTimingInput {
    pub job_id: JobId,
    /// The synthesized lines (`SynthesizeOutput::manifest_key`).
    pub manifest_key: String,
    pub duration_ms: u64,
    #[serde(default = "first_render", skip_serializing_if = "is_first_render")]
    pub version: u32,
}

/// A line that did not fit its slot even at the maximum speed-up: its end was cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnfitLine {
    /// 0-based index of the line.
    pub line: u32,
    /// How much was cut.
    pub overrun_ms: u64,
}

/// How one speaker's lines fit their time (a voice per speaker is sped up differently).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeakerFit {
    /// The speaker's label; none for lines nobody is named for.
    pub speaker: Option<String>,
    pub voice_id: Option<String>,
    pub lines: u32,
    /// Lines sped up to fit, and the largest and mean speed-up of the speaker's lines.
    pub stretched: u32,
    pub max_speed: f64,
    pub mean_speed: f64,
    /// Lines cut for not fitting even at the maximum speed-up, and how much was cut in all.
    pub overruns: u32,
    pub overrun_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanTimingOutput {
    /// The plan document (JSON: every line's placement and the ducking windows).
    pub plan_key: String,
    /// The dub's subtitles with the times the lines are really spoken.
    pub dub_srt_key: String,
    /// Lines sped up to fit.
    pub stretched: u32,
    pub unfit: Vec<UnfitLine>,
    /// The same, per speaker (one entry for a dub whose lines name nobody).
    #[serde(default)]
    pub speakers: Vec<SpeakerFit>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixOutput {
    pub audio_key: String,
    /// Integrated loudness of the mix before normalization, and the gain applied.
    #[serde(default)]
    pub measured_lufs: f64,
    #[serde(default)]
    pub gain_db: f64,
    /// Whether the limiter held the ceiling (at that gain).
    #[serde(default)]
    pub limited: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MuxInput {
    pub job_id: JobId,
    pub video_key: String,
    pub audio_key: String,
    pub duration_ms: u64,
    pub output_key: String,
    #[serde(default = "first_render", skip_serializing_if = "is_first_render")]
    pub version: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MuxOutput {
    pub output_key: String,
    pub size_bytes: u64,
    /// The dubbed audio alone (AAC in M4A), the same encode as the video's.
    #[serde(default)]
    pub audio_only_key: Option<String>,
}

/// Step transitions since the last report, with the job's progress: the API's read model follows
/// the workflow through these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub job_id: JobId,
    pub percent: f64,
    pub steps: Vec<(Step, StepStatus)>,
    /// The job's review checkpoint, when it reached one (absent otherwise, and in every report
    /// from before checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewMark>,
}

/// Where a job's review stands, for the read model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReviewMark {
    /// Waiting for the user's approval until `deadline`.
    Awaiting {
        deadline: chrono::DateTime<chrono::Utc>,
    },
    Approved,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome {
    Completed { output: DubbingOutput },
    Failed { message: String },
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishJobInput {
    pub job_id: JobId,
    pub video_id: VideoId,
    pub target_language: Language,
    pub outcome: JobOutcome,
    #[serde(default = "default_credits_per_minute")]
    pub credits_per_minute: u32,
}

/// A legacy-contract message about a job, published to the events queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishInput {
    pub message_type: String,
    pub job_id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    /// When the job was requested (the workflow's start time), so retries publish the same body.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// Start input of `RerenderWorkflow`: version `version` of a finished job, speaking its lines as
/// edited. Unchanged lines find their clips stored; the mix keeps the first render's gain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RerenderInput {
    pub job_id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    pub version: u32,
    pub language: Language,
    /// The lines to speak (`keys::RenderKeys::cues`), and each line's voice.
    pub cues_key: String,
    pub line_voices: std::collections::BTreeMap<u32, String>,
    /// Lines that keep the original audio.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub kept: std::collections::BTreeSet<u32>,
    pub video_key: String,
    pub source_audio_key: String,
    pub duration_ms: u64,
    pub preserve_background: bool,
    pub background_stem_key: Option<String>,
    pub gain: Option<MixGain>,
    /// The version's dubbed video (`keys::JobOutputs::version`).
    pub output_key: String,
    #[serde(default)]
    pub activity_budget: Option<ActivityBudget>,
}

/// What a re-render produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RerenderOutput {
    pub output_key: String,
    pub dubbed_audio_key: Option<String>,
    pub dub_srt_key: String,
    pub mix_key: String,
    pub lines: u32,
    pub unfit_lines: Vec<UnfitLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RerenderOutcome {
    Completed { output: RerenderOutput },
    Failed { message: String },
}

/// Settles a re-render: its version's status, and its credits (captured on success, released
/// otherwise), once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishRerenderInput {
    pub job_id: JobId,
    pub version: u32,
    pub outcome: RerenderOutcome,
}

/// The exports editors ask for, of one completed version of a dub: its voices and its
/// background as stems, and every line's clip as heard with a timing sheet. The mix itself is
/// already a WAV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportInput {
    pub job_id: JobId,
    pub version: u32,
    /// What the version's mix was made of (as in `MixInput`).
    pub source_audio_key: String,
    pub preserve_background: bool,
    pub background_stem_key: Option<String>,
    #[serde(default)]
    pub activity_budget: Option<ActivityBudget>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportOutput {
    /// 48 kHz stereo 16-bit WAVs as long as the video, at the mix's gain, without its limiter.
    pub voices_key: String,
    pub background_key: String,
    /// A zip of one WAV per spoken line (as placed: sped up and cut as in the mix) and
    /// `timing.csv` saying where each goes.
    pub clips_key: String,
    pub lines: u32,
}

#[cfg(test)]
mod tests {
    use super::LineBatch;

    #[test]
    fn batches_cover_every_line_once_in_order() {
        let batches = LineBatch::split(70, 32);
        let spans: Vec<(u32, u32)> = batches.iter().map(|b| (b.first, b.end)).collect();
        assert_eq!(spans, [(0, 32), (32, 64), (64, 70)]);
        assert_eq!(LineBatch::split(32, 32).len(), 1);
        assert!(LineBatch::split(0, 32).is_empty());
        // A size of 0 (never configured, but not trusted) still makes progress.
        assert_eq!(LineBatch::split(3, 0).len(), 3);
    }
}
