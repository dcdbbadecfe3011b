//! Typed configuration, read once from the environment at start-up (12-factor).
//!
//! Every variable is documented in `.env.example`. A missing or malformed variable stops start-up
//! with a message naming it; secrets are held in [`Secret`] so printing `Settings` never leaks them.

use crate::billing::{Catalog, DEFAULT_PLANS};
use crate::locale::Locale;
use crate::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use url::Url;

#[derive(Clone, Debug)]
pub struct Settings {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub api: ApiSettings,
    pub database: DatabaseSettings,
    pub temporal: TemporalSettings,
    pub s3: S3Settings,
    pub smtp: SmtpSettings,
    pub jwt_secret: Secret,
    pub auth: AuthSettings,
    pub uploads: UploadSettings,
    pub outbound: OutboundSettings,
    pub webhooks: WebhookSettings,
    pub credits: CreditSettings,
    pub sqs: SqsSettings,
    pub tools: ToolSettings,
    pub billing: BillingSettings,
    pub audio: AudioSettings,
    pub speech: SpeechSettings,
    pub text: TextSettings,
}

/// The speech providers, for synthesis and recognition. espeak-ng is always there; an HTTP
/// provider is on when configured.
#[derive(Clone, Debug, Default)]
pub struct SpeechSettings {
    /// Lines synthesized at once per provider (by one worker).
    pub concurrency: usize,
    pub timeout: Duration,
    pub openai: Option<HttpProvider>,
    pub elevenlabs: Option<HttpProvider>,
    pub fish: Option<HttpProvider>,
    /// A WhisperX host (302.ai's `/302/whisperx`), for speech recognition only.
    pub whisperx: Option<HttpProvider>,
    /// The local recognition service (Whisper base, OpenAI's transcription protocol).
    pub local_asr: Option<HttpProvider>,
    /// The local synthesis service (Piper and Kokoro voices, OpenAI's speech protocol).
    pub local_tts: Option<HttpProvider>,
    /// Fish voices offered: reference id and display name.
    pub fish_voices: Vec<(String, String)>,
    /// Speech recognition model of the OpenAI(-compatible) provider (`whisper-1`).
    pub transcription_model: String,
    /// Speech recognition model of ElevenLabs (`scribe_v1`).
    pub scribe_model: String,
    /// Which provider recognizes speech (`ASR_PROVIDER`); none: a transcript is required.
    pub recognizer: Option<Recognizer>,
    /// Longest piece of audio sent to a recognizer at once (`ASR_CHUNK_SECS`, 600; tests
    /// shorten it to cross chunk boundaries in a short sample).
    pub chunk_secs: u64,
    pub cloning: CloneSettings,
}

/// Voice cloning: how much of a speaker alone a clone is made from, and how long an unsaved
/// clone is kept at the provider.
#[derive(Clone, Debug)]
pub struct CloneSettings {
    /// A speaker with less speech alone keeps a catalogue voice (`CLONE_MIN_SECS`, 10; tests
    /// shorten it for their short samples).
    pub min_reference: Duration,
    /// The reference stops here (`CLONE_MAX_SECS`, 60; more adds little, the providers say).
    pub max_reference: Duration,
    /// An unsaved clone is deleted at the provider this long after its job ends
    /// (`CLONE_RETENTION_DAYS`, 30: the time a job can be re-rendered), or with its video.
    pub retention: Duration,
}

impl Default for CloneSettings {
    fn default() -> Self {
        CloneSettings {
            min_reference: Duration::from_secs(10),
            max_reference: Duration::from_secs(60),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// OpenAI's transcription model that names a speaker per segment (`diarized_json`).
pub const OPENAI_DIARIZE_MODEL: &str = "gpt-4o-transcribe-diarize";

/// A speech recognizer, by the name jobs and `ASR_PROVIDER` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Recognizer {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "elevenlabs")]
    ElevenLabs,
    #[serde(rename = "whisperx")]
    WhisperX,
    /// The local service: the offline profile's recognizer, used when no paid one is configured.
    #[serde(rename = "local")]
    Local,
}

impl Recognizer {
    pub const ALL: [Recognizer; 4] = [
        Recognizer::OpenAi,
        Recognizer::ElevenLabs,
        Recognizer::WhisperX,
        Recognizer::Local,
    ];

    pub fn from_name(name: &str) -> Option<Recognizer> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether its provider has settings (a key, or a URL for a keyless server).
    pub fn is_configured(self, speech: &SpeechSettings) -> bool {
        match self {
            Recognizer::OpenAi => speech.openai.is_some(),
            Recognizer::ElevenLabs => speech.elevenlabs.is_some(),
            Recognizer::WhisperX => speech.whisperx.is_some(),
            Recognizer::Local => speech.local_asr.is_some(),
        }
    }

    /// Whether it tells speakers apart: Scribe and the local service always, OpenAI with its
    /// diarizing model. (The WhisperX host documents no diarization.)
    pub fn diarizes(self, speech: &SpeechSettings) -> bool {
        match self {
            Recognizer::ElevenLabs | Recognizer::Local => true,
            Recognizer::OpenAi => speech.transcription_model == OPENAI_DIARIZE_MODEL,
            Recognizer::WhisperX => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Recognizer::OpenAi => "openai",
            Recognizer::ElevenLabs => "elevenlabs",
            Recognizer::WhisperX => "whisperx",
            Recognizer::Local => "local",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpProvider {
    pub base_url: Url,
    /// Empty for a self-hosted server without a key.
    pub api_key: Secret,
    /// Model (OpenAI `model`, ElevenLabs `model_id`, Fish `model` header; empty: the server's).
    pub model: String,
}

/// The text stages: sentence splitting, terminology, translation and subtitles.
#[derive(Clone, Debug)]
pub struct TextSettings {
    /// An OpenAI-compatible chat-completions endpoint (`LLM_*`, else the OpenAI provider's URL
    /// and key); none: the offline engines only.
    pub llm: Option<HttpProvider>,
    /// Requests in flight to the LLM per worker.
    pub llm_concurrency: usize,
    pub llm_timeout: Duration,
    pub translator: Translator,
    /// The second, expressive translation pass (seed `reflect_translate`).
    pub reflect: bool,
    /// Lines longer than this many words (characters / 2 for unspaced scripts) are split again.
    pub max_words: usize,
    /// Longest subtitle line, in weighted characters (seed `subtitle.max_length`).
    pub subtitle_max_length: usize,
    /// Weight of the translation's length against the limit (seed `subtitle.target_multiplier`).
    pub subtitle_target_multiplier: f64,
    /// Characters of the transcript the terminology pass reads (seed `summary_length`).
    pub summary_chars: usize,
}

impl Default for TextSettings {
    fn default() -> Self {
        TextSettings {
            llm: None,
            llm_concurrency: 4,
            llm_timeout: Duration::from_secs(300),
            translator: Translator::Auto,
            reflect: true,
            max_words: 20,
            subtitle_max_length: 75,
            subtitle_target_multiplier: 1.2,
            summary_chars: 8000,
        }
    }
}

/// Which engine translates (`TRANSLATOR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translator {
    /// The LLM when one is configured, else Apertium.
    Auto,
    Llm,
    Apertium,
}

/// How the dub is timed, mixed and encoded.
#[derive(Clone, Debug)]
pub struct AudioSettings {
    /// The separation service that makes the background stem (LALAL.AI: `LALALAI_API_KEY`,
    /// `SEPARATOR`); none: the offline voice suppressor.
    pub separator: Option<HttpProvider>,
    /// How often a separation task is checked (`LALALAI_POLL_MS`, 5000: the API allows 30
    /// checks a minute; tests shorten it).
    pub separation_poll: Duration,
    /// Largest speed-up applied to a line that is longer than its slot (the seed's `max`).
    pub max_speed: f64,
    /// How far a line may run into the gap after its slot (the seed's `tolerance`).
    pub gap_tolerance: Duration,
    /// Gain of the original track under speech (dB, negative).
    pub duck_db: f64,
    /// Integrated loudness of the final mix (LUFS) and its true-peak ceiling (dBTP).
    pub target_lufs: f64,
    pub true_peak_dbtp: f64,
    /// Bitrate of the AAC track (bits per second; `AUDIO_AAC_BITRATE`, `128k`).
    pub aac_bitrate: u32,
    /// Which AAC encoder makes the track (`AAC_ENCODER`).
    pub aac_encoder: AacEncoder,
    /// Parallel AAC encoders for the final video (0: one per core).
    pub encoder_jobs: usize,
}

/// The AAC encoder of the final track (`AAC_ENCODER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AacEncoder {
    /// `fdk`: the Fraunhofer FDK AAC encoder, in process (crate `fdk-aac`, built from source): about
    /// 230x real time per core, 5x ffmpeg's, at better measured quality (README, "The audio engine").
    Fdk,
    /// `ffmpeg`: ffmpeg's native encoder (its default `twoloop` coder), one process per chunk run;
    /// for deployments that cannot take the FDK library's licence.
    Ffmpeg,
    /// `ffmpeg-fast`: ffmpeg's native encoder with its `fast` coder.
    FfmpegFast,
}

impl std::str::FromStr for AacEncoder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fdk" => Ok(Self::Fdk),
            "ffmpeg" => Ok(Self::Ffmpeg),
            "ffmpeg-fast" => Ok(Self::FfmpegFast),
            _ => Err("expected fdk, ffmpeg or ffmpeg-fast".into()),
        }
    }
}

impl AacEncoder {
    /// The setting's spelling, also part of every encoded chunk's hash.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fdk => "fdk",
            Self::Ffmpeg => "ffmpeg",
            Self::FfmpegFast => "ffmpeg-fast",
        }
    }
}

/// A bitrate as `128k` or `128000`, between 32 and 320 kb/s.
pub fn parse_bitrate(v: &str) -> Result<u32, String> {
    let bps = match v.strip_suffix(['k', 'K']) {
        Some(kilo) => kilo.parse::<u32>().ok().and_then(|k| k.checked_mul(1000)),
        None => v.parse::<u32>().ok(),
    };
    match bps {
        Some(b) if (32_000..=320_000).contains(&b) => Ok(b),
        _ => Err("expected a bitrate between 32k and 320k".into()),
    }
}

#[derive(Clone, Debug)]
pub struct BillingSettings {
    pub catalog: Catalog,
    /// The Paddle API; `None` (no `PADDLE_API_KEY`) turns the routes that need Paddle off (503).
    pub paddle: Option<PaddleSettings>,
    /// Endpoint secrets of the webhook destination; several while rotating. None: webhooks are
    /// refused (503) rather than accepted unverified.
    pub webhook_secrets: Vec<Secret>,
    /// How far a webhook's signature timestamp may be from now.
    pub webhook_tolerance: Duration,
    /// How long a past-due subscription keeps dubbing before it is suspended.
    pub grace_period: Duration,
    /// Price of a credit used beyond the plan's, for the usage page (USD).
    pub overage_price_per_credit: f64,
    /// Events a `BillingWorkflow` run applies before it continues as new.
    pub workflow_event_limit: u32,
}

#[derive(Clone, Debug)]
pub struct PaddleSettings {
    pub api_url: Url,
    pub api_key: Secret,
    pub timeout: Duration,
}

/// How new jobs reach Temporal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dispatch {
    /// The API starts the workflow itself (default).
    #[default]
    Temporal,
    /// The API sends the legacy `DUBBING_JOB` message; `onevoice sqs-bridge` starts the workflow.
    Sqs,
}

#[derive(Clone, Debug)]
pub struct SqsSettings {
    /// The legacy queue: `sqs-bridge` consumes it; the API sends to it in `sqs` dispatch.
    pub queue_url: Option<Url>,
    /// Where unprocessable messages go, with the reason.
    pub dlq_url: Option<Url>,
    /// Where job lifecycle messages are published (none when unset).
    pub publish_url: Option<Url>,
    pub endpoint_url: Option<Url>,
    pub dispatch: Dispatch,
    pub wait_secs: i32,
    pub visibility_secs: i32,
    /// How long the legacy queue keeps a message (SQS's `MessageRetentionPeriod`): in `sqs`
    /// dispatch a pending job may still be started until its message expires.
    pub message_retention: Duration,
}

impl SqsSettings {
    /// After how long a job still `pending` with no workflow is stranded, given the grace: in
    /// `sqs` dispatch, not before its message could have expired from the queue.
    pub fn stranded_after(&self, grace: Duration) -> Duration {
        match self.dispatch {
            Dispatch::Temporal => grace,
            Dispatch::Sqs => grace.max(self.message_retention),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CreditSettings {
    /// Credits per started minute of media (the seed's `CREDIT_COST_PER_MINUTE`).
    pub cost_per_minute: u32,
    /// Credits granted once to every new account (the seed's `DEFAULT_FREE_CREDITS`).
    pub signup_grant: u32,
    /// Processing seconds per second of media, for the time estimate shown with a quote.
    pub processing_ratio: f64,
    /// How much of a video a free preview dubs (from its start).
    pub preview_seconds: u32,
    /// Free previews one account may start in any 24 hours.
    pub previews_per_day: u32,
}

#[derive(Clone, Debug)]
pub struct UploadSettings {
    /// Largest video accepted, in bytes.
    pub max_bytes: u64,
    /// Largest single presigned PUT; bigger files use the multipart flow.
    pub max_single_put_bytes: u64,
    /// Part size of multipart uploads (S3 needs at least 5 MiB for every part but the last).
    pub part_bytes: u64,
    /// Accepted file extensions (lower case, without the dot).
    pub extensions: Vec<String>,
    /// Uploads never completed are removed after this long.
    pub abandon_after: Duration,
}

/// Requests to addresses users give (video imports): see `crate::outbound`.
#[derive(Clone, Debug)]
pub struct OutboundSettings {
    /// Loopback and private addresses may be reached too: local development and tests only
    /// (refused in production).
    pub allow_private: bool,
    /// The longest an import may take to download, body included.
    pub import_timeout: Duration,
}

/// Delivery of signed webhooks (see `crate::webhook`).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// How long a delivery is retried before it fails (a day); an endpoint that failed every
    /// attempt for that long is disabled.
    pub retry_window: Duration,
    /// The wait before the first retry; each next wait doubles, up to `max_retry_interval`.
    pub first_retry: Duration,
    pub max_retry_interval: Duration,
    /// One attempt's limit, from connecting to the end of the response.
    pub timeout: Duration,
    /// After a secret rotation the old secret keeps signing this long.
    pub secret_overlap: Duration,
    /// `credits.low` fires when a job's charge takes the balance below this.
    pub credits_low_threshold: i64,
    /// Endpoints must use https (production).
    pub require_https: bool,
}

#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Base URL of the web app; email links point there (`/verify-email?token=…`).
    pub frontend_url: Url,
    /// Language of emails for users who have not chosen one.
    pub default_locale: Locale,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A login's session ends this long after it, however often it is refreshed.
    pub session_max_age: Duration,
    /// `iss` and `aud` of access tokens, written and checked.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// Attempts per client network on each sensitive auth route per window.
    pub rate_limit_per_ip: u32,
    /// Attempts per (email, client network) per window; for sign-in, the failures after which
    /// that pair is locked, for a time that doubles with each further failure.
    pub rate_limit_per_email: u32,
    pub rate_limit_window: Duration,
    /// The first sign-in lock; later ones double, up to `rate_limit_window`.
    pub login_lock_base: Duration,
    /// Account emails (verification, reset) sent to one address per window, whoever asks;
    /// past it the request is answered as usual and nothing is sent.
    pub mail_per_address: u32,
    /// Requests per minute an API key may make: the default of a new key and the most one can
    /// be given.
    pub api_key_rate_limit_per_minute: u32,
    /// Password hashes computed at once (Argon2id, 19 MiB each): the ceiling of the memory a
    /// flood of sign-ins can take.
    pub password_hash_concurrency: usize,
    pub avatar_max_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub bind: SocketAddr,
    pub public_base_url: Url,
    /// `None` allows any origin.
    pub cors_allowed_origins: Option<Vec<String>>,
    pub max_request_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Shown `X-Operator-Token` by a caller, `/health/detailed` adds the host's CPU, memory and
    /// disk figures; unset, nobody sees them.
    pub operator_token: Option<Secret>,
    /// How long `/health/detailed` reuses its last checks of the dependencies.
    pub health_cache: Duration,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Clone, Debug)]
pub struct TemporalSettings {
    pub address: Url,
    pub namespace: String,
    pub task_queue: String,
    pub ui_url: Url,
    pub max_concurrent_activities: usize,
    /// Time between runs of the cleanup workflow (expired signups, used tokens, old counters).
    pub maintenance_interval: Duration,
    /// Timeouts of long activities (carried in each job's workflow input).
    pub activity_budget: crate::contracts::ActivityBudget,
    /// A job still `pending` this long after it was created, with no workflow, is stranded (a
    /// crash between its commit and its start): the maintenance workflow fails it and releases
    /// its hold.
    pub stranded_grace: Duration,
    /// How long a dub stopped for the user's review waits for their approval before it is given
    /// up and its hold released (`REVIEW_TIMEOUT_SECS`, a week by default).
    pub review_timeout: Duration,
    /// Lines per synthesis activity of a job (`SPEECH_BATCH_LINES`): a long dub's lines are
    /// spoken by as many workers as take its batches.
    pub speech_batch_lines: u32,
}

#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    pub endpoint_url: Option<Url>,
    pub force_path_style: bool,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    /// Lifetime of presigned download URLs.
    pub presign_ttl: Duration,
    /// Lifetime of presigned upload URLs (PUT and multipart parts): minutes, so a URL handed out
    /// for one upload is soon useless. The upload is copied to a key no URL can write when it
    /// completes, so even a live URL cannot change what was priced.
    pub upload_url_ttl: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS: only for a local sink.
    Plain,
    StartTls,
    Tls,
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Secret,
    pub from: String,
}

#[derive(Clone, Debug)]
pub struct ToolSettings {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub espeak: PathBuf,
    pub apertium: PathBuf,
    pub work_dir: PathBuf,
    /// Bytes of the worker's copies of what it uploaded (`{work_dir}/cache`); 0 turns it off.
    pub file_cache_bytes: u64,
}

/// Start-up configuration errors: each names the variable and says what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

mod read;
#[cfg(test)]
mod tests;
