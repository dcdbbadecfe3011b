//! Dubbing jobs: quote, start (credits held atomically, idempotent by key), resume, cancel, and
//! the start of a job the legacy queue handed over.

mod batch;
mod checks;
pub(crate) use checks::{may_spend, voice_usable};
mod rounds;

use super::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal;
pub use batch::{MAX_BATCH_LANGUAGES, StartedBatch, batch_jobs, start_batch};
use checks::{
    check_background, check_cloning, check_glossary, check_review, check_speaker_voices,
    may_preview, price_of, ready_video, requested_recognizer, span, within,
};
use chrono::Utc;
use onevoice_shared::contracts::{
    BackgroundMode, DubbingInput, GlossaryTerm, ReviewStage, TimeRange, TranscriptSource,
    dubbing_workflow_id,
};
use onevoice_shared::ids::{JobId, UserId, VideoId};
use onevoice_shared::job_config::{JobConfig, SpeechSource};
use onevoice_shared::keys::VideoKeys;
use onevoice_shared::language::{Language, UnsupportedLanguage};
use onevoice_shared::legacy::{self, JobMessage};
use onevoice_shared::pipeline::credit_cost;
use onevoice_shared::repo::videos::VideoDetail;
use onevoice_shared::repo::{activity, billing, cloned_voices, jobs, ledger, media, videos};
use onevoice_shared::settings::{Dispatch, Recognizer};
use onevoice_shared::speakers::MAX_REQUESTED;
use onevoice_shared::srt::MAX_SPEAKER_CHARS;
use onevoice_shared::srt::{self, Cue};
use onevoice_shared::status::{FileType, JobStatus, VideoStatus};
pub use rounds::{cancel, resume, start_queued};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::ToSchema;

fn default_true() -> bool {
    true
}

/// What a client asks to dub.
#[derive(Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"target_language": "es", "voice_id": "espeak-es-f",
    "preserve_background_music": true, "burn_subtitles": true,
    "source_transcript": "1\n00:00:01,000 --> 00:00:03,500\nHello and welcome.\n",
    "glossary": [{"source": "OneVoice", "target": "OneVoice"}]}))]
pub struct DubRequest {
    /// Language to dub into (ISO 639-1, e.g. `es`); or, for several at once, `target_languages`
    /// (exactly one of the two).
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_language)]
    pub target_language: Option<String>,
    /// Several languages to dub into: one job each under a `batch_id`, quoted and held together
    /// (all or nothing: 402 when the credits do not cover every one, and nothing starts),
    /// followed at `/api/batches/{id}`. Not with `voice_id`, `voices` or
    /// `translated_transcript`, which belong to one language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schemas::target_languages)]
    pub target_languages: Option<Vec<String>>,
    /// Voice to speak with (see `/api/videos/voices`). When omitted: a local neural voice of
    /// the target language where the server has one (`local-joe` for English, `local-jf_alpha`
    /// for Japanese), else espeak-ng's.
    #[serde(default)]
    #[schema(format = "nonblank-line", max_length = 200)]
    pub voice_id: Option<String>,
    /// Keep the original background under the dub (`false` is `background: "none"`).
    #[serde(default = "default_true")]
    pub preserve_background_music: bool,
    /// What plays under the dub: `separated` (the default: the original track with its voices
    /// taken out under the original speech), `ducked` (the original track lowered under speech)
    /// or `none` (the dub alone).
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_background)]
    pub background: Option<String>,
    /// Language spoken in the video; defaults to the video's `original_language`. `auto` has
    /// speech recognition detect it.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_source_language)]
    pub source_language: Option<String>,
    /// Transcript of the video as SRT or WebVTT text. Without one, the speech is recognized.
    #[serde(default)]
    pub source_transcript: Option<String>,
    /// Your own translation of the video, as SRT or WebVTT text in `target_language` (speakers
    /// named as in `source_transcript`): it is spoken as given, each cue timed like any
    /// translated line, instead of translating. With `source_transcript`, each line shows the
    /// source text it overlaps; without, no speech is recognized at all.
    #[serde(default)]
    pub translated_transcript: Option<String>,
    /// Speech recognizer for this job (one configured on the server); the server's default
    /// when omitted.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_recognizer)]
    pub asr_provider: Option<String>,
    /// Also produce the original video with the translation burned in (`subtitle_video`).
    #[serde(default)]
    pub burn_subtitles: bool,
    /// Terms to translate exactly as given (at most 200).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub glossary: Vec<GlossaryEntry>,
    /// Voices for speakers named in `source_transcript` (WebVTT `<v Name>`, or `Name:` /
    /// `[Name]` before every SRT line): `{"Kim": "openai-onyx"}`. Every other speaker gets a
    /// distinct voice of the catalogue matching their measured gender; see the job's `speakers`.
    #[serde(default)]
    pub voices: BTreeMap<String, String>,
    /// Clone each speaker's voice from the video (at ElevenLabs or Fish Audio, whichever the
    /// server has; the job voice's provider first) and dub them with it. Needs `voice_consent`,
    /// and speakers the job can tell apart (named in `source_transcript`, or a recognizer that
    /// diarizes). A speaker with too little speech alone keeps a catalogue voice. The clones
    /// appear in `/api/voices`, and are deleted with the video or after the retention period
    /// unless saved there.
    #[serde(default)]
    pub clone_voices: bool,
    /// The caller's attestation that everyone heard in the video consented to being cloned
    /// (recorded with the time and the caller's address).
    #[serde(default)]
    pub voice_consent: Option<VoiceConsent>,
    /// `translation`: stop once the translation is made, before any voice is synthesized, for
    /// the caller to review and edit it (`/api/jobs/{id}/segments`), and go on when they
    /// approve it (`POST /api/jobs/{id}/approve`). The job stays `processing` meanwhile, with
    /// `review.state` `awaiting_approval`; not approved in time (`REVIEW_TIMEOUT_SECS`), it is
    /// cancelled and its credits released.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::optional_review)]
    pub review: Option<String>,
    /// Dub only from this second of the video (default: its start); the job is priced and
    /// charged for the part it dubs, and its outputs are that part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub start: Option<f64>,
    /// Dub only up to this second (default: the video's end); at least a second after `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub end: Option<f64>,
    /// A free preview: the video's first `PREVIEW_SECONDS` (30) dubbed at no charge, every
    /// output file named `….preview.…`; `PREVIEWS_PER_DAY` (3) per account in any 24 hours
    /// (429 beyond). Not with `start`, `end` or `target_languages`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

/// The review timeout a job carries, when it asked for a review.
pub(crate) fn review_timeout(state: &AppState, config: &JobConfig) -> Option<u64> {
    config
        .review
        .map(|_| state.settings.temporal.review_timeout.as_secs())
}

/// What a caller attests before voices are cloned: they confirm [`CONSENT_STATEMENT`] and sign it
/// with their name.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct VoiceConsent {
    /// Must be `true`: "I confirm that every person whose voice is heard in this video has
    /// given their permission for it to be cloned to dub this video, and that I may give it."
    pub confirmed: bool,
    /// The name of the person attesting.
    #[schema(format = "nonblank-line", min_length = 1, max_length = 200)]
    pub name: String,
}

/// The statement a consent confirms, versioned: the record keeps the text that was confirmed.
pub const CONSENT_STATEMENT: &str = "v1: I confirm that every person whose voice is heard in this video has given their      permission for it to be cloned to dub this video, and that I may give it.";

/// A term and its translation: one line each, 1 to 100 characters, without `[` or `]`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct GlossaryEntry {
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\[\\]][^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*$"
    )]
    pub source: String,
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\[\\]][^\\u0000-\\u001F\\u007F-\\u009F\\[\\]]*$"
    )]
    pub target: String,
}

/// What dubbing a video costs.
pub struct Quote {
    pub credits: i64,
    pub duration_seconds: f64,
    pub estimated_processing_seconds: u64,
    /// The caller's balance (negative after a refund or chargeback).
    pub available: i64,
}

/// A job that was started, resumed or found again by its idempotency key.
pub struct Started {
    pub job_id: JobId,
    pub status: JobStatus,
    /// Credits held for this run.
    pub credits: i64,
    pub message: &'static str,
}

/// Which part of a video a request dubs: `start`/`end` in seconds, or a preview.
#[derive(Clone, Copy, Debug, Default)]
pub struct Part {
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub preview: bool,
}

impl Part {
    fn of(req: &DubRequest) -> Self {
        Part {
            start: req.start,
            end: req.end,
            preview: req.preview,
        }
    }
}

/// What dubbing this video (or a part of it) costs, with the same function the job is charged
/// with.
#[tracing::instrument(skip_all, fields(%user, %video))]
pub async fn quote(state: &AppState, user: UserId, video: VideoId, part: Part) -> Result<Quote> {
    let v = ready_video(state, user, video).await?;
    let whole = v.duration.unwrap_or(0.0);
    let seconds = span(state, part, whole)?.map_or(whole, |r| r.duration_ms() as f64 / 1000.0);
    let (credits, estimate) = price_of(state, (seconds * 1000.0).round() as u64);
    let credits = if part.preview { 0 } else { credits };
    Ok(Quote {
        credits,
        duration_seconds: seconds,
        estimated_processing_seconds: estimate,
        available: ledger::balance(&state.db, user).await?,
    })
}

/// Starts dubbing a video into a language. The quoted credits are held at once, atomically with
/// the balance check: two requests cannot both spend the last credits. With an idempotency key,
/// a repeated request returns the same job (another body with the same key is a conflict).
#[tracing::instrument(skip_all, fields(%user, %video))]
pub async fn start(
    state: &AppState,
    user: UserId,
    video: VideoId,
    req: &DubRequest,
    idempotency_key: Option<&str>,
    ip: Option<std::net::IpAddr>,
) -> Result<Started> {
    let request_hash =
        Sha256::digest(serde_json::to_vec(&(video, req)).unwrap_or_default()).to_vec();
    if let Some(key) = idempotency_key
        && let Some(existing) = jobs::find_by_idempotency_key(&state.db, user, key).await?
    {
        return replay(existing, &request_hash);
    }
    if req.target_languages.is_some() {
        return Err(ServiceError::invalid(
            "target_languages",
            "a request for several languages starts a batch (see start_batch)",
        ));
    }
    let plan = plan(state, user, video, req, req.target_language.as_deref()).await?;
    let job_id = JobId::new();
    store_texts(state, user, job_id, &plan).await?;
    let new = NewDub {
        job_id,
        user,
        plan: &plan,
        idempotency_key,
        request_hash: &request_hash,
        ip,
        batch_id: None,
    };
    if let Err(e) = record(state, &new).await {
        return match e {
            Recorded::Replay => replay(
                race_winner(state, user, idempotency_key).await?,
                &request_hash,
            ),
            Recorded::Failed(e) => Err(e),
        };
    }
    let input = input_of(state, job_id, user, &plan);
    if let Err(e) = dispatch(state, &input, &plan.title).await {
        tracing::error!(error = %e, %job_id, "could not start the dubbing workflow");
        abort_start(state, job_id, user, video, 0).await?;
        return Err(ServiceError::Unavailable(
            "the job could not be started; please retry".into(),
        ));
    }
    Ok(Started {
        job_id,
        status: JobStatus::Pending,
        credits: plan.credits,
        message: "dubbing job started",
    })
}

/// The job's price per minute: nothing for a free preview.
pub(crate) fn credits_per_minute(state: &AppState, config: &JobConfig) -> u32 {
    if config.preview {
        0
    } else {
        state.settings.credits.cost_per_minute
    }
}

/// The workflow input of a new job.
fn input_of(state: &AppState, job_id: JobId, user: UserId, plan: &Plan) -> DubbingInput {
    let outputs = VideoKeys::new(user, plan.video).job(job_id);
    DubbingInput {
        job_id,
        user_id: user,
        video_id: plan.video,
        priced_duration_ms: plan.priced_duration_ms,
        activity_budget: Some(state.settings.temporal.activity_budget),
        speech_batch_lines: Some(state.settings.temporal.speech_batch_lines),
        video_key: plan.video_key.clone(),
        transcript: match plan.cues {
            Some(_) => TranscriptSource::Uploaded(outputs.transcript()),
            None => TranscriptSource::Recognize,
        },
        source_language: plan.config.source_language,
        target_language: plan.config.target_language,
        output_key: outputs.dubbed(plan.config.target_language),
        credits_per_minute: credits_per_minute(state, &plan.config),
        range: plan.config.range,
        options: plan.config.options(),
        review_timeout_secs: review_timeout(state, &plan.config),
        approval: None,
        own_translation_key: plan
            .own_translation
            .as_ref()
            .map(|_| outputs.own_translation()),
    }
}

/// Stores the texts the user gave with the request (with the speakers' names, which the job
/// reads back: `load_transcript`).
async fn store_texts(state: &AppState, user: UserId, job_id: JobId, plan: &Plan) -> Result<()> {
    let outputs = VideoKeys::new(user, plan.video).job(job_id);
    let uploads = [
        (&plan.cues, outputs.transcript()),
        (&plan.own_translation, outputs.own_translation()),
    ];
    for (cues, key) in uploads {
        if let Some(cues) = cues {
            let body = srt::write_with_speakers(cues).into_bytes();
            state
                .storage
                .put_bytes(&key, body, "application/x-subrip")
                .await?;
        }
    }
    Ok(())
}

/// A checked request: everything the job needs, before anything is written.
struct Plan {
    video: VideoId,
    config: JobConfig,
    /// The user's transcript, parsed; `None`: the speech is recognized (unless the user brought
    /// their translation).
    cues: Option<Vec<Cue>>,
    /// The user's own translation, parsed.
    own_translation: Option<Vec<Cue>>,
    title: String,
    video_key: String,
    priced_duration_ms: Option<u64>,
    credits: i64,
    estimate_secs: u64,
    /// Who attested consent to clone voices, when the job clones them.
    consent_by: Option<String>,
}

/// Checks a request into `target` (the request's `target_language`, or one of a batch's).
async fn plan(
    state: &AppState,
    user: UserId,
    video: VideoId,
    req: &DubRequest,
    target: Option<&str>,
) -> Result<Plan> {
    let target: Language = target
        .ok_or_else(|| {
            ServiceError::invalid("target_language", "required (or `target_languages`)")
        })?
        .parse()
        .map_err(|e: UnsupportedLanguage| {
            ServiceError::invalid("target_language", e.to_string())
        })?;
    let v = ready_video(state, user, video).await?;
    let requested = requested_recognizer(state, req)?;
    let recognizer = requested.or(state.settings.speech.recognizer);
    // `auto`: speech recognition detects it (the video's language, or English, is only a
    // fallback for the record until then).
    let detect_language = req.source_language.as_deref() == Some("auto");
    let own_translation = req
        .translated_transcript
        .as_deref()
        .map(srt::parse_transcript)
        .transpose()
        .map_err(|e| ServiceError::invalid("translated_transcript", e.to_string()))?;
    if detect_language
        && (req.source_transcript.is_some() || own_translation.is_some() || recognizer.is_none())
    {
        return Err(ServiceError::invalid(
            "source_language",
            "`auto` needs speech recognition: omit source_transcript and translated_transcript \
             (and configure a recognizer)",
        ));
    }
    if own_translation.is_some() && !req.glossary.is_empty() {
        return Err(ServiceError::invalid(
            "glossary",
            "a job with translated_transcript translates nothing: omit the glossary",
        ));
    }
    let source: Language = req
        .source_language
        .as_deref()
        .filter(|l| *l != "auto")
        .or(v.original_language.as_deref())
        .or(detect_language.then_some("en"))
        .ok_or_else(|| {
            ServiceError::invalid(
                "source_language",
                "required: the video has no original_language",
            )
        })?
        .parse()
        .map_err(|e: UnsupportedLanguage| {
            ServiceError::invalid("source_language", e.to_string())
        })?;
    if let Some(voice) = &req.voice_id
        && !voice_usable(state, user, voice, target).await?
    {
        return Err(ServiceError::invalid(
            "voice_id",
            format!("not a voice for {target}; see /api/videos/voices and /api/voices"),
        ));
    }
    let voice_id = req
        .voice_id
        .clone()
        .or_else(|| onevoice_shared::voices::default_voice(target, &state.settings.speech));
    // Without a transcript, the speech is recognized (when a recognizer is configured), unless
    // the user brought their translation: then there is no source text.
    let (cues, speech) = match (req.source_transcript.as_deref(), recognizer) {
        (Some(transcript), _) => {
            let cues = srt::parse_transcript(transcript)
                .map_err(|e| ServiceError::invalid("source_transcript", e.to_string()))?;
            (Some(cues), SpeechSource::Transcript)
        }
        (None, _) if own_translation.is_some() => (None, SpeechSource::None),
        (None, Some(r)) => (None, SpeechSource::Recognizer(r)),
        (None, None) => {
            return Err(ServiceError::invalid(
                "source_transcript",
                "required: speech recognition is not configured on this server",
            ));
        }
    };
    // A part of the video: its transcripts are the part's, starting at 0 like the cut.
    let range = span(state, Part::of(req), v.duration.unwrap_or(0.0))?;
    let (cues, own_translation) = match range {
        Some(r) => (
            cues.map(|c| within(c, r, "source_transcript"))
                .transpose()?,
            own_translation
                .map(|c| within(c, r, "translated_transcript"))
                .transpose()?,
        ),
        None => (cues, own_translation),
    };
    let background = check_background(req)?;
    let review = check_review(req)?;
    let glossary = check_glossary(&req.glossary)?;
    // Who speaks is told by the source transcript, else by the user's translation.
    let speaker_cues = cues.as_deref().or(own_translation.as_deref());
    let voices = check_speaker_voices(state, user, &req.voices, speaker_cues, target).await?;
    let recognizer = recognizer.filter(|_| speech != SpeechSource::None);
    let cloning = check_cloning(state, req, voice_id.as_deref(), speaker_cues, recognizer)?;
    let original = media::newest(&state.db, video, FileType::Original, None, None)
        .await?
        .ok_or_else(|| ServiceError::Conflict("the video has no uploaded file".into()))?;
    let priced_ms = match range {
        Some(r) => Some(r.duration_ms()),
        None => original.duration.map(|s| (s * 1000.0).round() as u64),
    };
    let (credits, estimate_secs) = price_of(state, priced_ms.unwrap_or(0));
    let credits = if req.preview { 0 } else { credits };
    Ok(Plan {
        video,
        config: JobConfig {
            target_language: target,
            source_language: source,
            tts_method: Some(JobConfig::tts_method_of(voice_id.as_deref()).into()),
            voice_id,
            preserve_background_music: background != BackgroundMode::None,
            detect_language,
            speech_recognition: speech,
            asr_provider: requested,
            burn_subtitles: req.burn_subtitles,
            glossary,
            voices,
            clone_voices: cloning.as_ref().map(|(provider, _)| *provider),
            background: Some(background),
            review,
            own_translation: own_translation.is_some(),
            range,
            preview: req.preview,
        },
        cues,
        own_translation,
        title: v.title,
        video_key: original.s3_key,
        priced_duration_ms: priced_ms,
        credits,
        estimate_secs,
        consent_by: cloning.map(|(_, name)| name),
    })
}

struct NewDub<'a> {
    job_id: JobId,
    user: UserId,
    plan: &'a Plan,
    idempotency_key: Option<&'a str>,
    request_hash: &'a [u8],
    ip: Option<std::net::IpAddr>,
    batch_id: Option<uuid::Uuid>,
}

/// Why a new dub's rows were not written.
enum Recorded {
    /// A concurrent request with the same idempotency key was first.
    Replay,
    Failed(ServiceError),
}

impl<E: Into<ServiceError>> From<E> for Recorded {
    fn from(e: E) -> Self {
        Recorded::Failed(e.into())
    }
}

/// The job, its hold and its record, in one transaction that holds the user's balance lock.
async fn record(state: &AppState, new: &NewDub<'_>) -> Result<(), Recorded> {
    let mut tx = state.db.begin().await.map_err(ServiceError::from)?;
    ledger::lock_user(&mut tx, new.user)
        .await
        .map_err(ServiceError::from)?;
    may_spend(&mut tx, new.user, new.plan.credits).await?;
    if new.plan.config.preview {
        may_preview(&mut tx, state, new.user).await?;
    }
    write_job(state, &mut tx, new).await?;
    tx.commit().await.map_err(ServiceError::from)?;
    Ok(())
}

/// A new job's rows: the job, its hold, its transcript's record, the consent, the activity.
/// The caller holds the user's balance lock and checked the balance.
async fn write_job(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    new: &NewDub<'_>,
) -> Result<(), Recorded> {
    let (plan, user, job_id) = (new.plan, new.user, new.job_id);
    let video = plan.video;
    let inserted = jobs::insert(
        tx,
        jobs::NewJob {
            id: job_id,
            user_id: user,
            video_id: video,
            workflow_id: &dubbing_workflow_id(job_id),
            config: &plan.config,
            credits_cost: plan.credits as i32,
            estimated_completion: Utc::now() + chrono::Duration::seconds(plan.estimate_secs as i64),
            idempotency_key: new.idempotency_key,
            request_hash: new.request_hash,
            batch_id: new.batch_id,
        },
    )
    .await;
    match inserted {
        Err(sqlx::Error::Database(e))
            if e.is_unique_violation() && new.idempotency_key.is_some() =>
        {
            return Err(Recorded::Replay);
        }
        other => other.map_err(ServiceError::from)?,
    }
    ledger::append(
        &mut **tx,
        ledger::Entry {
            user,
            job: Some(job_id),
            video: Some(video),
            kind: ledger::Kind::Reserve,
            amount: -plan.credits,
            key: &ledger::reserve_key(job_id, 0),
            description: "credits held for dubbing",
        },
    )
    .await
    .map_err(ServiceError::from)?;
    // A recognized transcript is written by the job itself, later.
    if plan.cues.is_some() {
        let key = VideoKeys::new(user, video).job(job_id).transcript();
        media::insert(
            tx,
            &media::NewMediaFile {
                video_id: video,
                job_id: Some(job_id),
                file_type: FileType::SourceTranscript,
                filename: "source.srt",
                file_format: "srt",
                content_type: "application/x-subrip",
                bucket: state.storage.bucket(),
                key: &key,
                size: None,
                duration_secs: None,
                language: Some(plan.config.source_language.code()),
            },
        )
        .await
        .map_err(ServiceError::from)?;
    }
    if let Some(signed_by) = &plan.consent_by {
        cloned_voices::record_consent(
            &mut **tx,
            &cloned_voices::Consent {
                job: job_id,
                user,
                video,
                signed_by,
                statement: CONSENT_STATEMENT,
                ip: new.ip,
            },
        )
        .await
        .map_err(ServiceError::from)?;
    }
    let target = plan.config.target_language;
    activity::record(
        &mut **tx,
        user,
        "dub_started",
        &format!("dubbing '{}' into {}", plan.title, target.english_name()),
        Some(json!({ "video_id": video, "job_id": job_id, "credits": plan.credits })),
    )
    .await
    .map_err(ServiceError::from)?;
    Ok(())
}

/// Hands a new job to Temporal: directly, or through the legacy queue (`DISPATCH_MODE=sqs`), where
/// `onevoice sqs-bridge` starts it.
async fn dispatch(state: &AppState, input: &DubbingInput, title: &str) -> anyhow::Result<()> {
    match state.settings.sqs.dispatch {
        Dispatch::Temporal => {
            let task_queue = &state.settings.temporal.task_queue;
            temporal::start_dubbing(&state.temporal, task_queue, input, title).await
        }
        Dispatch::Sqs => {
            let url = state
                .settings
                .sqs
                .queue_url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no SQS_QUEUE_URL"))?;
            let message = JobMessage {
                message_type: legacy::DUBBING_JOB.to_string(),
                job_id: input.job_id,
                user_id: input.user_id,
                video_id: input.video_id,
                requested_at: Utc::now(),
            };
            Ok(state.queue.send_job(url.as_str(), &message).await?)
        }
    }
}

/// The job of the concurrent request with the same idempotency key that was recorded first (its
/// answer is ours).
async fn race_winner(
    state: &AppState,
    user: UserId,
    idempotency_key: Option<&str>,
) -> Result<jobs::JobRow> {
    let key = idempotency_key.unwrap_or_default();
    jobs::find_by_idempotency_key(&state.db, user, key)
        .await?
        .ok_or_else(|| {
            ServiceError::Conflict("a request with this Idempotency-Key is in progress".into())
        })
}

/// The answer to a repeated request: the same job, unless the body differs.
fn replay(existing: jobs::JobRow, request_hash: &[u8]) -> Result<Started> {
    if existing.request_hash.as_deref() != Some(request_hash) {
        return Err(ServiceError::Conflict(
            "this Idempotency-Key was used with a different request".into(),
        ));
    }
    Ok(Started {
        job_id: existing.id,
        status: existing.status,
        credits: i64::from(existing.credits_cost.unwrap_or(0)),
        message: "dubbing job already started",
    })
}

/// The workflow of round `round` could not be started: fail the job and release that round's
/// hold (the maintenance workflow does the same for a crash in between, see `fail_unstarted`).
async fn abort_start(
    state: &AppState,
    job: JobId,
    user: UserId,
    video: VideoId,
    round: i32,
) -> Result<()> {
    let job = jobs::PendingJob {
        id: job,
        user_id: user,
        video_id: video,
        retry_count: round,
    };
    let why = "the job could not be started; its credits were released";
    jobs::fail_unstarted(&state.db, &job, why).await?;
    Ok(())
}

/// The caller's video's newest job that `choice` names.
pub async fn newest_job(
    state: &AppState,
    user: UserId,
    video: VideoId,
    choice: jobs::Choice<'_>,
) -> Result<jobs::JobRow> {
    jobs::newest_for_video(&state.db, user, video, choice)
        .await?
        .ok_or_else(|| ServiceError::NotFound("no job found for this video".into()))
}

/// One of the caller's jobs, with its steps in pipeline order.
pub async fn job_with_steps(
    state: &AppState,
    user: UserId,
    job: JobId,
) -> Result<(jobs::JobRow, Vec<jobs::StepRow>)> {
    let row = jobs::find_owned(&state.db, user, job)
        .await?
        .ok_or_else(|| ServiceError::NotFound("job not found".into()))?;
    Ok((row, jobs::steps(&state.db, job).await?))
}

/// A speaker of a job, with a link to their sample clip.
pub struct JobSpeaker {
    pub speaker: onevoice_shared::speakers::Speaker,
    pub sample_url: Option<String>,
    /// Why a job that clones voices did not clone this speaker's.
    pub clone_note: Option<String>,
}

/// The speakers of one of the caller's jobs (found by `job_with_steps` first).
pub async fn speakers(state: &AppState, job: &jobs::JobRow) -> Result<Vec<JobSpeaker>> {
    let speakers = onevoice_shared::repo::speakers::of_job(&state.db, job.id).await?;
    let clones = job.config().is_some_and(|c| c.clone_voices.is_some());
    let min = state.settings.speech.cloning.min_reference.as_secs_f64();
    let mut out = Vec::with_capacity(speakers.len());
    for speaker in speakers {
        let sample_url = match &speaker.sample_key {
            Some(key) => {
                let name = format!("speaker-{}.wav", speaker.id);
                state.storage.presign_get(key, &name).await.ok()
            }
            None => None,
        };
        let clone_note = (clones && speaker.reference_key.is_none()).then(|| {
            format!(
                "not cloned: {:.1} s of speech alone, {min:.0} s needed; a catalogue voice dubs them",
                speaker.reference_ms as f64 / 1000.0
            )
        });
        out.push(JobSpeaker {
            speaker,
            sample_url,
            clone_note,
        });
    }
    Ok(out)
}

/// A page of the caller's jobs, newest first, and how many match.
pub async fn page(
    state: &AppState,
    user: UserId,
    filter: jobs::JobFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<jobs::JobRow>, i64)> {
    Ok(jobs::page(&state.db, user, &filter, limit, offset).await?)
}
