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
    /// Fish voices offered: reference id and display name.
    pub fish_voices: Vec<(String, String)>,
    /// Speech recognition model of the OpenAI(-compatible) provider (`whisper-1`).
    pub transcription_model: String,
    /// Speech recognition model of ElevenLabs (`scribe_v1`).
    pub scribe_model: String,
    /// Which provider recognizes speech (`ASR_PROVIDER`); none: a transcript is required.
    pub recognizer: Option<Recognizer>,
}

/// A speech recognizer, by the name jobs and `ASR_PROVIDER` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Recognizer {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "elevenlabs")]
    ElevenLabs,
    #[serde(rename = "whisperx")]
    WhisperX,
}

impl Recognizer {
    pub const ALL: [Recognizer; 3] = [
        Recognizer::OpenAi,
        Recognizer::ElevenLabs,
        Recognizer::WhisperX,
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
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Recognizer::OpenAi => "openai",
            Recognizer::ElevenLabs => "elevenlabs",
            Recognizer::WhisperX => "whisperx",
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
    /// Largest speed-up applied to a line that is longer than its slot (the seed's `max`).
    pub max_speed: f64,
    /// How far a line may run into the gap after its slot (the seed's `tolerance`).
    pub gap_tolerance: Duration,
    /// Gain of the original track under speech (dB, negative).
    pub duck_db: f64,
    /// Integrated loudness of the final mix (LUFS) and its true-peak ceiling (dBTP).
    pub target_lufs: f64,
    pub true_peak_dbtp: f64,
    pub aac_bitrate: String,
    /// Parallel AAC encoders for the final video (0: one per core).
    pub encoder_jobs: usize,
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
}

/// Start-up configuration errors: each names the variable and says what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

const DEV_JWT_SECRET: &str = "local-development-secret-change-me-0123456789";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup`, collecting every problem rather than stopping at the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup: &lookup,
            errors: Vec::new(),
        };
        let environment = r
            .parse_with("ONEVOICE_ENV", Some("development"), |v| match v {
                "development" => Ok(Environment::Development),
                "production" => Ok(Environment::Production),
                _ => Err("expected `development` or `production`".into()),
            })
            .unwrap_or(Environment::Development);
        let log_format = r
            .parse_with("LOG_FORMAT", Some("text"), |v| match v {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected `text` or `json`".into()),
            })
            .unwrap_or(LogFormat::Text);
        let api = ApiSettings {
            bind: r
                .parse("API_BIND", Some("127.0.0.1:8000"))
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            public_base_url: r
                .parse("PUBLIC_BASE_URL", Some("http://127.0.0.1:8000"))
                .unwrap_or_else(placeholder_url),
            cors_allowed_origins: r
                .parse_with("CORS_ALLOWED_ORIGINS", Some(""), |v| {
                    Ok(if v == "*" {
                        None
                    } else {
                        Some(
                            v.split(',')
                                .map(|o| o.trim().to_string())
                                .filter(|o| !o.is_empty())
                                .collect(),
                        )
                    })
                })
                .unwrap_or_default(),
            max_request_body_bytes: r
                .parse("MAX_REQUEST_BODY_BYTES", Some("1048576"))
                .unwrap_or_default(),
            shutdown_grace: Duration::from_secs(
                r.parse("SHUTDOWN_GRACE_SECS", Some("10"))
                    .unwrap_or_default(),
            ),
            trust_forwarded_for: r
                .parse_with("TRUST_FORWARDED_FOR", Some("false"), parse_bool)
                .unwrap_or_default(),
            operator_token: r
                .parse_with("OPERATOR_TOKEN", Some(""), |v| match v.trim() {
                    "" => Ok(None),
                    t if t.len() >= 16 => Ok(Some(Secret::new(t))),
                    _ => Err("must be at least 16 characters".into()),
                })
                .flatten(),
            health_cache: Duration::from_secs(r.parse("HEALTH_CACHE_SECS", Some("5")).unwrap_or(5)),
        };
        let database = DatabaseSettings {
            url: Secret::new(
                r.parse_with("DATABASE_URL", None, |v| {
                    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
                        Ok(v.to_string())
                    } else {
                        Err("expected a postgres:// URL".into())
                    }
                })
                .unwrap_or_default(),
            ),
            max_connections: r
                .parse("DATABASE_MAX_CONNECTIONS", Some("10"))
                .unwrap_or_default(),
        };
        let temporal = TemporalSettings {
            address: r
                .parse("TEMPORAL_ADDRESS", Some("http://127.0.0.1:7233"))
                .unwrap_or_else(placeholder_url),
            namespace: r.string("TEMPORAL_NAMESPACE", Some("default")),
            task_queue: r.string("TEMPORAL_TASK_QUEUE", Some("onevoice-main")),
            ui_url: r
                .parse("TEMPORAL_UI_URL", Some("http://127.0.0.1:8233"))
                .unwrap_or_else(placeholder_url),
            max_concurrent_activities: r
                .parse("WORKER_MAX_CONCURRENT_ACTIVITIES", Some("4"))
                .unwrap_or(1),
            maintenance_interval: Duration::from_secs(
                r.parse("MAINTENANCE_INTERVAL_SECS", Some("3600"))
                    .unwrap_or(3600),
            ),
            stranded_grace: Duration::from_secs(
                r.parse("JOB_STRANDED_AFTER_SECS", Some("900"))
                    .unwrap_or(900),
            ),
            activity_budget: crate::contracts::ActivityBudget {
                total_secs: r
                    .parse("ACTIVITY_BUDGET_SECS", Some("21600"))
                    .unwrap_or(21_600),
                heartbeat_secs: r
                    .parse_with("ACTIVITY_HEARTBEAT_TIMEOUT_SECS", Some("10"), |v| {
                        match v.parse::<u64>() {
                            // Activities beat every second.
                            Ok(n) if n >= 2 => Ok(n),
                            _ => Err("must be a number of seconds of at least 2".into()),
                        }
                    })
                    .unwrap_or(10),
                max_retry_interval_secs: r
                    .parse("ACTIVITY_RETRY_MAX_INTERVAL_SECS", Some("60"))
                    .unwrap_or(60),
            },
        };
        let s3 = S3Settings {
            bucket: r.string("S3_BUCKET", None),
            region: r.string("S3_REGION", Some("us-east-1")),
            endpoint_url: r
                .parse_with("S3_ENDPOINT_URL", Some(""), |v| {
                    if v.is_empty() {
                        Ok(None)
                    } else {
                        Url::parse(v).map(Some).map_err(|e| e.to_string())
                    }
                })
                .flatten(),
            force_path_style: r
                .parse_with("S3_FORCE_PATH_STYLE", Some("false"), parse_bool)
                .unwrap_or_default(),
            access_key_id: Secret::new(r.string("AWS_ACCESS_KEY_ID", None)),
            secret_access_key: Secret::new(r.string("AWS_SECRET_ACCESS_KEY", None)),
            presign_ttl: Duration::from_secs(
                r.parse("PRESIGN_TTL_SECS", Some("3600"))
                    .unwrap_or_default(),
            ),
            upload_url_ttl: Duration::from_secs(
                r.parse("UPLOAD_URL_TTL_SECS", Some("900"))
                    .unwrap_or_default(),
            ),
        };
        let smtp = SmtpSettings {
            host: r.string("SMTP_HOST", Some("127.0.0.1")),
            port: r.parse("SMTP_PORT", Some("25")).unwrap_or_default(),
            security: r
                .parse_with("SMTP_SECURITY", Some("starttls"), |v| match v {
                    "plain" => Ok(SmtpSecurity::Plain),
                    "starttls" => Ok(SmtpSecurity::StartTls),
                    "tls" => Ok(SmtpSecurity::Tls),
                    _ => Err("expected `plain`, `starttls` or `tls`".into()),
                })
                .unwrap_or(SmtpSecurity::StartTls),
            username: Some(r.string("SMTP_USERNAME", Some(""))).filter(|u| !u.is_empty()),
            password: Secret::new(r.string("SMTP_PASSWORD", Some(""))),
            from: r
                .parse_with(
                    "EMAIL_FROM",
                    Some("OneVoice <noreply@onevoice.local>"),
                    |v| {
                        if v.contains('@') {
                            Ok(v.to_string())
                        } else {
                            Err("expected a mailbox such as `Name <a@b.c>`".into())
                        }
                    },
                )
                .unwrap_or_default(),
        };
        let jwt_secret = Secret::new(
            r.parse_with("JWT_SECRET", None, |v| {
                if v.len() >= 32 {
                    Ok(v.to_string())
                } else {
                    Err("must be at least 32 bytes long".into())
                }
            })
            .unwrap_or_default(),
        );
        let auth = AuthSettings {
            frontend_url: r
                .parse("FRONTEND_URL", Some("http://localhost:3000"))
                .unwrap_or_else(placeholder_url),
            default_locale: r
                .parse_with("DEFAULT_LOCALE", Some("ko"), |v| {
                    Locale::parse(v).ok_or_else(|| "expected `ko` or `en`".into())
                })
                .unwrap_or_default(),
            access_token_ttl: Duration::from_secs(
                r.parse("ACCESS_TOKEN_TTL_SECS", Some("900")).unwrap_or(900),
            ),
            refresh_token_ttl: Duration::from_secs(
                r.parse::<u64>("REFRESH_TOKEN_TTL_DAYS", Some("30"))
                    .unwrap_or(30)
                    * 86_400,
            ),
            session_max_age: Duration::from_secs(
                r.parse("SESSION_MAX_AGE_SECS", Some("7776000"))
                    .unwrap_or(7_776_000),
            ),
            jwt_issuer: r.parse("JWT_ISSUER", Some("onevoice")).unwrap_or_default(),
            jwt_audience: r
                .parse("JWT_AUDIENCE", Some("onevoice-api"))
                .unwrap_or_default(),
            rate_limit_per_ip: r.parse("AUTH_RATE_LIMIT_PER_IP", Some("30")).unwrap_or(30),
            rate_limit_per_email: r.parse("AUTH_RATE_LIMIT_PER_EMAIL", Some("5")).unwrap_or(5),
            rate_limit_window: Duration::from_secs(
                r.parse("AUTH_RATE_LIMIT_WINDOW_SECS", Some("900"))
                    .unwrap_or(900),
            ),
            login_lock_base: Duration::from_secs(
                r.parse("AUTH_LOGIN_LOCK_BASE_SECS", Some("30"))
                    .unwrap_or(30),
            ),
            mail_per_address: r.parse("AUTH_MAIL_PER_ADDRESS", Some("5")).unwrap_or(5),
            password_hash_concurrency: r
                .parse_with("PASSWORD_HASH_CONCURRENCY", Some("2"), |v| {
                    match v.parse::<usize>() {
                        Ok(n) if n >= 1 => Ok(n),
                        _ => Err("must be a whole number of at least 1".into()),
                    }
                })
                .unwrap_or(1),
            avatar_max_bytes: r
                .parse("AVATAR_MAX_BYTES", Some("5242880"))
                .unwrap_or(5_242_880),
        };
        let uploads = UploadSettings {
            max_bytes: r.parse("MAX_UPLOAD_BYTES", Some("2147483648")).unwrap_or(0),
            max_single_put_bytes: r
                .parse("MAX_SINGLE_PUT_BYTES", Some("536870912"))
                .unwrap_or(0),
            part_bytes: r
                .parse_with("MULTIPART_PART_BYTES", Some("16777216"), |v| {
                    match v.parse::<u64>() {
                        Ok(n) if n >= 5 * 1024 * 1024 => Ok(n),
                        _ => Err("must be a number of bytes of at least 5 MiB (5242880)".into()),
                    }
                })
                .unwrap_or(16 * 1024 * 1024),
            extensions: r
                .string(
                    "UPLOAD_ALLOWED_EXTENSIONS",
                    Some("mp4,mov,mkv,webm,avi,m4v"),
                )
                .split(',')
                .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
            abandon_after: Duration::from_secs(
                r.parse::<u64>("UPLOAD_ABANDON_SECS", Some("86400"))
                    .unwrap_or(86_400),
            ),
        };
        let credits = CreditSettings {
            cost_per_minute: r.parse("CREDIT_COST_PER_MINUTE", Some("10")).unwrap_or(10),
            signup_grant: r.parse("DEFAULT_FREE_CREDITS", Some("100")).unwrap_or(100),
            processing_ratio: r.parse("PROCESSING_TIME_RATIO", Some("1.5")).unwrap_or(1.5),
        };
        let sqs = SqsSettings {
            queue_url: r.optional_url("SQS_QUEUE_URL"),
            dlq_url: r.optional_url("SQS_DLQ_URL"),
            publish_url: r.optional_url("SQS_PUBLISH_QUEUE_URL"),
            endpoint_url: r.optional_url("SQS_ENDPOINT_URL"),
            dispatch: r
                .parse_with("DISPATCH_MODE", Some("temporal"), |v| match v {
                    "temporal" => Ok(Dispatch::Temporal),
                    "sqs" => Ok(Dispatch::Sqs),
                    _ => Err("expected `temporal` or `sqs`".into()),
                })
                .unwrap_or_default(),
            wait_secs: r.parse("SQS_WAIT_TIME_SECONDS", Some("20")).unwrap_or(20),
            visibility_secs: r.parse("SQS_VISIBILITY_TIMEOUT", Some("60")).unwrap_or(60),
            message_retention: Duration::from_secs(
                r.parse("SQS_MESSAGE_RETENTION_SECS", Some("345600"))
                    .unwrap_or(345_600),
            ),
        };
        if sqs.dispatch == Dispatch::Sqs && sqs.queue_url.is_none() {
            r.errors
                .push("DISPATCH_MODE: `sqs` needs SQS_QUEUE_URL".into());
        }
        let tools = ToolSettings {
            ffmpeg: r.string("FFMPEG_BIN", Some("ffmpeg")).into(),
            ffprobe: r.string("FFPROBE_BIN", Some("ffprobe")).into(),
            espeak: r.string("ESPEAK_BIN", Some("espeak-ng")).into(),
            apertium: r.string("APERTIUM_BIN", Some("apertium")).into(),
            work_dir: r.string("WORK_DIR", Some("/tmp/onevoice-work")).into(),
        };
        let billing = read_billing(&mut r, environment);
        let speech = read_speech(&mut r);
        let text = read_text(&mut r, speech.openai.as_ref());
        let audio = AudioSettings {
            max_speed: r
                .parse_with("DUB_MAX_SPEED", Some("1.4"), |v| match v.parse::<f64>() {
                    Ok(x) if (1.0..=2.0).contains(&x) => Ok(x),
                    _ => Err("expected a speed-up between 1.0 and 2.0".into()),
                })
                .unwrap_or(1.4),
            gap_tolerance: Duration::from_millis(
                r.parse("DUB_GAP_TOLERANCE_MS", Some("1500"))
                    .unwrap_or(1500),
            ),
            duck_db: r
                .parse_with("AUDIO_DUCK_DB", Some("-12"), |v| match v.parse::<f64>() {
                    Ok(x) if (-60.0..=0.0).contains(&x) => Ok(x),
                    _ => Err("expected a gain between -60 and 0 dB".into()),
                })
                .unwrap_or(-12.0),
            target_lufs: r
                .parse_with("AUDIO_TARGET_LUFS", Some("-16"), |v| {
                    match v.parse::<f64>() {
                        Ok(x) if (-40.0..=-5.0).contains(&x) => Ok(x),
                        _ => Err("expected a loudness between -40 and -5 LUFS".into()),
                    }
                })
                .unwrap_or(-16.0),
            true_peak_dbtp: r
                .parse_with("AUDIO_TRUE_PEAK_DBTP", Some("-1"), |v| {
                    match v.parse::<f64>() {
                        Ok(x) if (-20.0..=0.0).contains(&x) => Ok(x),
                        _ => Err("expected a ceiling between -20 and 0 dBTP".into()),
                    }
                })
                .unwrap_or(-1.0),
            aac_bitrate: r.string("AUDIO_AAC_BITRATE", Some("128k")),
            encoder_jobs: r.parse("AAC_ENCODER_JOBS", Some("0")).unwrap_or(0),
        };
        if environment == Environment::Production {
            if jwt_secret.expose() == DEV_JWT_SECRET {
                r.errors.push(
                    "JWT_SECRET: the development default must not be used in production".into(),
                );
            }
            if smtp.security == SmtpSecurity::Plain {
                r.errors
                    .push("SMTP_SECURITY: `plain` is only for a local sink, not production".into());
            }
        }
        if !r.errors.is_empty() {
            return Err(SettingsError(r.errors));
        }
        Ok(Settings {
            environment,
            log_format,
            api,
            database,
            temporal,
            s3,
            smtp,
            jwt_secret,
            auth,
            uploads,
            credits,
            sqs,
            tools,
            billing,
            audio,
            speech,
            text,
        })
    }
}

fn read_speech<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> SpeechSettings {
    let mut provider = |key_var: &str,
                        url_var: &str,
                        default_url: &str,
                        model_var: &str,
                        default_model: &str,
                        keyless: bool| {
        let key = r.string(key_var, Some(""));
        let explicit_url = (r.lookup)(url_var).filter(|u| !u.trim().is_empty());
        let url = r
            .parse_with(url_var, Some(default_url), |v| {
                let v = if v.ends_with('/') {
                    v.to_string()
                } else {
                    format!("{v}/")
                };
                Url::parse(&v).map_err(|e| e.to_string())
            })
            .unwrap_or_else(placeholder_url);
        let model = r.string(model_var, Some(default_model));
        // On with a key, or (self-hosted servers without keys) with an explicit URL.
        let on = !key.trim().is_empty() || (keyless && explicit_url.is_some());
        on.then(|| HttpProvider {
            base_url: url,
            api_key: Secret::new(key.trim()),
            model: model.trim().to_string(),
        })
    };
    let openai = provider(
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "https://api.openai.com/v1/",
        "OPENAI_TTS_MODEL",
        "gpt-4o-mini-tts",
        true,
    );
    let elevenlabs = provider(
        "ELEVENLABS_API_KEY",
        "ELEVENLABS_BASE_URL",
        "https://api.elevenlabs.io/",
        "ELEVENLABS_MODEL",
        "eleven_multilingual_v2",
        false,
    );
    let fish = provider(
        "FISH_API_KEY",
        "FISH_BASE_URL",
        "https://api.fish.audio/",
        "FISH_MODEL",
        "s2.1-pro",
        true,
    );
    let whisperx = provider(
        "WHISPERX_API_KEY",
        "WHISPERX_BASE_URL",
        "https://api.302.ai/",
        "WHISPERX_MODEL",
        "",
        false,
    );
    let fish_voices = r
        .string("FISH_VOICES", Some(""))
        .split(',')
        .filter_map(|pair| {
            let (id, name) = pair.split_once('=').unwrap_or((pair, pair));
            let id = id.trim();
            (!id.is_empty()).then(|| (id.to_string(), name.trim().to_string()))
        })
        .collect();
    // `auto`: the first configured of OpenAI and ElevenLabs.
    let recognizer = r
        .parse_with("ASR_PROVIDER", Some("auto"), |v| match v {
            "auto" => Ok(if openai.is_some() {
                Some(Recognizer::OpenAi)
            } else if elevenlabs.is_some() {
                Some(Recognizer::ElevenLabs)
            } else if whisperx.is_some() {
                Some(Recognizer::WhisperX)
            } else {
                None
            }),
            "openai" if openai.is_some() => Ok(Some(Recognizer::OpenAi)),
            "elevenlabs" if elevenlabs.is_some() => Ok(Some(Recognizer::ElevenLabs)),
            "whisperx" if whisperx.is_some() => Ok(Some(Recognizer::WhisperX)),
            "openai" | "elevenlabs" | "whisperx" => {
                Err("that provider is not configured (no API key)".into())
            }
            "none" => Ok(None),
            _ => Err("expected auto, openai, elevenlabs, whisperx or none".into()),
        })
        .flatten();
    SpeechSettings {
        concurrency: r
            .parse_with("TTS_CONCURRENCY", Some("4"), |v| match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => Err("expected 1 to 64".into()),
            })
            .unwrap_or(4),
        timeout: Duration::from_secs(r.parse("TTS_TIMEOUT_SECS", Some("120")).unwrap_or(120)),
        openai,
        elevenlabs,
        fish,
        whisperx,
        fish_voices,
        transcription_model: r.string("OPENAI_ASR_MODEL", Some("whisper-1")),
        scribe_model: r.string("ELEVENLABS_ASR_MODEL", Some("scribe_v1")),
        recognizer,
    }
}

fn read_text<F: Fn(&str) -> Option<String>>(
    r: &mut Reader<'_, F>,
    openai: Option<&HttpProvider>,
) -> TextSettings {
    let d = TextSettings::default();
    let key = r.string("LLM_API_KEY", Some(""));
    let url = r.optional_url("LLM_BASE_URL").map(|u| {
        let mut u = u;
        if !u.path().ends_with('/') {
            u.set_path(&format!("{}/", u.path()));
        }
        u
    });
    let model = r
        .string("LLM_MODEL", Some("gpt-4o-mini"))
        .trim()
        .to_string();
    // Its own endpoint (a local server may have no key), else the OpenAI provider's.
    let llm = match (url, key.trim()) {
        (Some(base_url), key) => Some(HttpProvider {
            base_url,
            api_key: Secret::new(key),
            model,
        }),
        (None, "") => openai.map(|p| HttpProvider { model, ..p.clone() }),
        (None, key) => Some(HttpProvider {
            base_url: Url::parse("https://api.openai.com/v1/").expect("a valid URL"),
            api_key: Secret::new(key),
            model,
        }),
    };
    let translator = r
        .parse_with("TRANSLATOR", Some("auto"), |v| match v {
            "auto" => Ok(Translator::Auto),
            "llm" if llm.is_some() => Ok(Translator::Llm),
            "llm" => {
                Err("no LLM is configured (LLM_BASE_URL, LLM_API_KEY or OPENAI_API_KEY)".into())
            }
            "apertium" => Ok(Translator::Apertium),
            _ => Err("expected auto, llm or apertium".into()),
        })
        .unwrap_or(Translator::Auto);
    let positive = |v: &str| match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive whole number".to_string()),
    };
    TextSettings {
        llm,
        llm_concurrency: r
            .parse_with("LLM_CONCURRENCY", Some("4"), positive)
            .unwrap_or(d.llm_concurrency),
        llm_timeout: Duration::from_secs(
            r.parse_with("LLM_TIMEOUT_SECS", Some("300"), positive)
                .unwrap_or(300) as u64,
        ),
        translator,
        reflect: r
            .parse_with("TRANSLATE_REFLECT", Some("true"), parse_bool)
            .unwrap_or(true),
        max_words: r
            .parse_with("SPLIT_MAX_WORDS", Some("20"), positive)
            .unwrap_or(d.max_words),
        subtitle_max_length: r
            .parse_with("SUBTITLE_MAX_LENGTH", Some("75"), positive)
            .unwrap_or(d.subtitle_max_length),
        subtitle_target_multiplier: r
            .parse_with("SUBTITLE_TARGET_MULTIPLIER", Some("1.2"), |v| {
                match v.parse::<f64>() {
                    Ok(x) if (0.5..=3.0).contains(&x) => Ok(x),
                    _ => Err("expected a number from 0.5 to 3".to_string()),
                }
            })
            .unwrap_or(d.subtitle_target_multiplier),
        summary_chars: r
            .parse_with("SUMMARY_CHARS", Some("8000"), positive)
            .unwrap_or(d.summary_chars),
    }
}

fn read_billing<F: Fn(&str) -> Option<String>>(
    r: &mut Reader<'_, F>,
    environment: Environment,
) -> BillingSettings {
    // Empty counts as unset (compose passes `${BILLING_PLANS:-}` through).
    let plans_set = (r.lookup)("BILLING_PLANS").is_some_and(|v| !v.trim().is_empty());
    let catalog = r
        .parse_with("BILLING_PLANS", Some(DEFAULT_PLANS), |v| {
            Catalog::parse(if v.is_empty() { DEFAULT_PLANS } else { v })
        })
        .unwrap_or_default();
    let api_url = r
        .parse_with("PADDLE_ENVIRONMENT", Some("sandbox"), |v| match v {
            "sandbox" => Ok("https://sandbox-api.paddle.com/"),
            "live" | "production" => Ok("https://api.paddle.com/"),
            _ => Err("expected `sandbox` or `live`".into()),
        })
        .unwrap_or("https://sandbox-api.paddle.com/");
    let api_url: Url = r
        .parse_with("PADDLE_API_URL", Some(api_url), |v| {
            // A trailing slash makes relative paths join under it.
            let v = if v.ends_with('/') {
                v.to_string()
            } else {
                format!("{v}/")
            };
            Url::parse(&v).map_err(|e| e.to_string())
        })
        .unwrap_or_else(placeholder_url);
    let api_key = r.string("PADDLE_API_KEY", Some(""));
    let timeout = Duration::from_secs(r.parse("PADDLE_TIMEOUT_SECS", Some("10")).unwrap_or(10));
    // The seed's single `PADDLE_WEBHOOK_SECRET` still works; the list form allows rotation.
    let secrets = match (r.lookup)("PADDLE_WEBHOOK_SECRETS") {
        Some(list) => list,
        None => r.string("PADDLE_WEBHOOK_SECRET", Some("")),
    };
    let webhook_secrets: Vec<Secret> = secrets
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect();
    let settings = BillingSettings {
        catalog,
        paddle: (!api_key.trim().is_empty()).then(|| PaddleSettings {
            api_url,
            api_key: Secret::new(api_key.trim()),
            timeout,
        }),
        webhook_secrets,
        webhook_tolerance: Duration::from_secs(
            r.parse("PADDLE_WEBHOOK_TOLERANCE_SECS", Some("5"))
                .unwrap_or(5),
        ),
        grace_period: Duration::from_secs(
            r.parse("BILLING_GRACE_PERIOD_SECS", Some("604800"))
                .unwrap_or(604_800),
        ),
        overage_price_per_credit: r
            .parse("BILLING_OVERAGE_PRICE_PER_CREDIT", Some("0.01"))
            .unwrap_or(0.01),
        workflow_event_limit: r
            .parse_with("BILLING_WORKFLOW_MAX_EVENTS", Some("500"), |v| {
                match v.parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(n),
                    _ => Err("expected a positive number".into()),
                }
            })
            .unwrap_or(500),
    };
    if environment == Environment::Production && settings.paddle.is_some() && !plans_set {
        r.errors.push(
            "BILLING_PLANS: production billing needs the plans of your Paddle catalogue (the default price ids are placeholders)".into(),
        );
    }
    settings
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    errors: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn raw(&mut self, key: &str, default: Option<&str>) -> Option<String> {
        match (self.lookup)(key) {
            Some(v) => Some(v),
            None => {
                if default.is_none() {
                    self.errors.push(format!("{key}: required but not set"));
                }
                default.map(str::to_string)
            }
        }
    }

    fn string(&mut self, key: &str, default: Option<&str>) -> String {
        let v = self.raw(key, default).unwrap_or_default();
        if v.trim().is_empty() && default.is_none() {
            self.errors.push(format!("{key}: must not be empty"));
        }
        v
    }

    /// A URL that may be left unset (or empty).
    fn optional_url(&mut self, key: &str) -> Option<Url> {
        self.parse_with(key, Some(""), |v| {
            if v.is_empty() {
                Ok(None)
            } else {
                Url::parse(v).map(Some).map_err(|e| e.to_string())
            }
        })
        .flatten()
    }

    fn parse<T: FromStr>(&mut self, key: &str, default: Option<&str>) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_with(key, default, |v| v.parse::<T>().map_err(|e| e.to_string()))
    }

    fn parse_with<T>(
        &mut self,
        key: &str,
        default: Option<&str>,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let v = self.raw(key, default)?;
        match f(v.trim()) {
            Ok(t) => Some(t),
            Err(e) => {
                // The value itself is not echoed: it may be a secret.
                self.errors.push(format!("{key}: {e}"));
                None
            }
        }
    }
}

/// Stands in for a value that failed to parse; never used, since the error aborts start-up.
fn placeholder_url() -> Url {
    Url::parse("http://invalid.invalid/").expect("static URL")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("DATABASE_URL", "postgres://u:p@localhost/db"),
            ("S3_BUCKET", "b"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "sekrit-value"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
    }

    fn load(vars: &HashMap<&str, &str>) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn minimal_environment_is_enough() {
        let s = load(&base()).unwrap();
        assert_eq!(s.temporal.task_queue, "onevoice-main");
        assert_eq!(s.api.bind.port(), 8000);
        assert!(!format!("{s:?}").contains("sekrit-value"));
    }

    #[test]
    fn names_every_bad_variable_without_echoing_values() {
        let mut vars = base();
        vars.insert("API_BIND", "not-an-address");
        vars.insert("SMTP_SECURITY", "carrier-pigeon");
        vars.insert("JWT_SECRET", "short");
        vars.remove("S3_BUCKET");
        let err = load(&vars).unwrap_err().to_string();
        for key in ["API_BIND", "SMTP_SECURITY", "JWT_SECRET", "S3_BUCKET"] {
            assert!(err.contains(key), "{key} missing from: {err}");
        }
        assert!(!err.contains("short"));
    }

    #[test]
    fn production_refuses_development_defaults() {
        let mut vars = base();
        vars.insert("ONEVOICE_ENV", "production");
        vars.insert("JWT_SECRET", DEV_JWT_SECRET);
        vars.insert("SMTP_SECURITY", "plain");
        let err = load(&vars).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET") && err.contains("SMTP_SECURITY"));
    }

    #[test]
    fn billing_defaults_and_validation() {
        let mut vars = base();
        vars.insert("BILLING_PLANS", "");
        let s = load(&vars).unwrap();
        assert_eq!(
            s.billing.catalog.plans().len(),
            3,
            "empty means the default plans"
        );
        assert!(s.billing.paddle.is_none() && s.billing.webhook_secrets.is_empty());
        vars.insert("PADDLE_API_KEY", "pdl_sdbx_apikey_x");
        vars.insert("PADDLE_WEBHOOK_SECRETS", "old, new");
        vars.insert("ONEVOICE_ENV", "production");
        vars.insert("SMTP_SECURITY", "tls");
        let err = load(&vars).unwrap_err().to_string();
        assert!(
            err.contains("BILLING_PLANS"),
            "production needs real prices: {err}"
        );
        vars.insert("ONEVOICE_ENV", "development");
        let s = load(&vars).unwrap();
        assert_eq!(s.billing.webhook_secrets.len(), 2);
        assert!(!format!("{s:?}").contains("pdl_sdbx_apikey_x"));
        vars.insert("BILLING_PLANS", "[]");
        assert!(
            load(&vars)
                .unwrap_err()
                .to_string()
                .contains("BILLING_PLANS")
        );
    }

    #[test]
    fn the_llm_is_its_own_endpoint_or_the_openai_providers() {
        let mut vars = base();
        let text = load(&vars).unwrap().text;
        assert!(text.llm.is_none());
        assert_eq!(text.translator, Translator::Auto);
        assert!(
            load(&{
                let mut v = vars.clone();
                v.insert("TRANSLATOR", "llm");
                v
            })
            .unwrap_err()
            .to_string()
            .contains("TRANSLATOR")
        );
        vars.insert("OPENAI_API_KEY", "sk-openai");
        vars.insert("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
        let llm = load(&vars)
            .unwrap()
            .text
            .llm
            .expect("the OpenAI provider's");
        assert_eq!(llm.base_url.as_str(), "http://127.0.0.1:9/v1/");
        assert_eq!(llm.model, "gpt-4o-mini");
        // A local server without a key, by URL alone.
        vars.insert("LLM_BASE_URL", "http://127.0.0.1:11434/v1");
        vars.insert("LLM_MODEL", "qwen2.5");
        let llm = load(&vars).unwrap().text.llm.expect("its own");
        assert_eq!(llm.base_url.as_str(), "http://127.0.0.1:11434/v1/");
        assert!(llm.api_key.is_empty());
        assert_eq!(llm.model, "qwen2.5");
        vars.insert("SUBTITLE_TARGET_MULTIPLIER", "9");
        assert!(
            load(&vars)
                .unwrap_err()
                .to_string()
                .contains("SUBTITLE_TARGET_MULTIPLIER")
        );
    }

    #[test]
    fn speech_recognition_follows_the_configured_providers() {
        let mut vars = base();
        assert_eq!(load(&vars).unwrap().speech.recognizer, None);
        vars.insert("ELEVENLABS_API_KEY", "xi-key");
        assert_eq!(
            load(&vars).unwrap().speech.recognizer,
            Some(Recognizer::ElevenLabs)
        );
        vars.insert("OPENAI_API_KEY", "sk-key");
        assert_eq!(
            load(&vars).unwrap().speech.recognizer,
            Some(Recognizer::OpenAi),
            "auto prefers OpenAI"
        );
        vars.insert("ASR_PROVIDER", "elevenlabs");
        assert_eq!(
            load(&vars).unwrap().speech.recognizer,
            Some(Recognizer::ElevenLabs)
        );
        vars.remove("ELEVENLABS_API_KEY");
        assert!(
            load(&vars)
                .unwrap_err()
                .to_string()
                .contains("ASR_PROVIDER")
        );
        vars.insert("ASR_PROVIDER", "whisperx");
        vars.insert("WHISPERX_API_KEY", "wx-key");
        assert_eq!(
            load(&vars).unwrap().speech.recognizer,
            Some(Recognizer::WhisperX)
        );
    }

    #[test]
    fn cors_star_means_any() {
        let mut vars = base();
        vars.insert("CORS_ALLOWED_ORIGINS", "*");
        assert!(load(&vars).unwrap().api.cors_allowed_origins.is_none());
        vars.insert(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, https://b.example",
        );
        assert_eq!(
            load(&vars).unwrap().api.cors_allowed_origins.unwrap().len(),
            2
        );
    }
}
