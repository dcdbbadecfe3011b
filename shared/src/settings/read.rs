//! Reading the settings from environment variables: every problem is collected, not just the
//! first, and no value is echoed back (they may be secrets).

use super::*;

pub(super) const DEV_JWT_SECRET: &str = "local-development-secret-change-me-0123456789";

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
        let api = read_api(&mut r);
        let database = read_database(&mut r);
        let temporal = read_temporal(&mut r);
        let s3 = read_s3(&mut r);
        let smtp = read_smtp(&mut r);
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
        let auth = read_auth(&mut r);
        let uploads = read_uploads(&mut r);
        let outbound = OutboundSettings {
            allow_private: r
                .parse("OUTBOUND_ALLOW_PRIVATE", Some("false"))
                .unwrap_or(false),
            import_timeout: Duration::from_secs(
                r.checked::<u64>(
                    "IMPORT_TIMEOUT_SECS",
                    "1800",
                    |n| n >= 1,
                    "must be at least 1 second",
                )
                .unwrap_or(1800),
            ),
        };
        let webhooks = read_webhooks(&mut r, environment);
        let credits = read_credits(&mut r);
        let sqs = read_sqs(&mut r);
        if sqs.dispatch == Dispatch::Sqs && sqs.queue_url.is_none() {
            r.errors
                .push("DISPATCH_MODE: `sqs` needs SQS_QUEUE_URL".into());
        }
        let tools = read_tools(&mut r);
        let billing = read_billing(&mut r, environment);
        let speech = read_speech(&mut r);
        let text = read_text(&mut r, speech.openai.as_ref());
        let audio = read_audio(&mut r);
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
            if outbound.allow_private {
                r.errors.push(
                    "OUTBOUND_ALLOW_PRIVATE: imports may not reach private addresses in production"
                        .into(),
                );
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
            outbound,
            webhooks,
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

fn read_api<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> ApiSettings {
    ApiSettings {
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
    }
}

fn read_database<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> DatabaseSettings {
    DatabaseSettings {
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
    }
}

fn read_temporal<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> TemporalSettings {
    TemporalSettings {
        address: r
            .parse_with("TEMPORAL_ADDRESS", Some("127.0.0.1:7233"), temporal_address)
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
        speech_batch_lines: r
            .checked::<u32>(
                "SPEECH_BATCH_LINES",
                "32",
                |n| (1..=10_000).contains(&n),
                "expected 1 to 10000 lines",
            )
            .unwrap_or(32),
        review_timeout: Duration::from_secs(
            r.checked::<u64>(
                "REVIEW_TIMEOUT_SECS",
                "604800",
                |n| n >= 1,
                "must be a number of seconds of at least 1",
            )
            .unwrap_or(604_800),
        ),
        activity_budget: crate::contracts::ActivityBudget {
            total_secs: r
                .parse("ACTIVITY_BUDGET_SECS", Some("21600"))
                .unwrap_or(21_600),
            heartbeat_secs: r
                // Activities beat every second.
                .checked::<u64>(
                    "ACTIVITY_HEARTBEAT_TIMEOUT_SECS",
                    "10",
                    |n| n >= 2,
                    "must be a number of seconds of at least 2",
                )
                .unwrap_or(10),
            max_retry_interval_secs: r
                .parse("ACTIVITY_RETRY_MAX_INTERVAL_SECS", Some("60"))
                .unwrap_or(60),
        },
    }
}

fn read_s3<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> S3Settings {
    S3Settings {
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
    }
}

fn read_smtp<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> SmtpSettings {
    SmtpSettings {
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
    }
}

fn read_auth<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> AuthSettings {
    AuthSettings {
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
        api_key_rate_limit_per_minute: r
            .checked::<u32>(
                "API_KEY_RATE_LIMIT_PER_MINUTE",
                "600",
                |n| (1..=1_000_000).contains(&n),
                "expected 1 to 1000000 requests per minute",
            )
            .unwrap_or(600),
        password_hash_concurrency: r
            .checked::<usize>(
                "PASSWORD_HASH_CONCURRENCY",
                "2",
                |n| n >= 1,
                "must be a whole number of at least 1",
            )
            .unwrap_or(1),
        avatar_max_bytes: r
            .parse("AVATAR_MAX_BYTES", Some("5242880"))
            .unwrap_or(5_242_880),
    }
}

fn read_uploads<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> UploadSettings {
    UploadSettings {
        max_bytes: r.parse("MAX_UPLOAD_BYTES", Some("2147483648")).unwrap_or(0),
        max_single_put_bytes: r
            .parse("MAX_SINGLE_PUT_BYTES", Some("536870912"))
            .unwrap_or(0),
        part_bytes: r
            .checked::<u64>(
                "MULTIPART_PART_BYTES",
                "16777216",
                |n| n >= 5 * 1024 * 1024,
                "must be a number of bytes of at least 5 MiB (5242880)",
            )
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
    }
}

fn read_webhooks<F: Fn(&str) -> Option<String>>(
    r: &mut Reader<'_, F>,
    environment: Environment,
) -> WebhookSettings {
    let mut secs = |name: &str, default: u64| {
        Duration::from_secs(
            r.checked::<u64>(
                name,
                &default.to_string(),
                |n| n >= 1,
                "must be at least 1 second",
            )
            .unwrap_or(default),
        )
    };
    let retry_window = secs("WEBHOOK_RETRY_WINDOW_SECS", 86_400);
    let max_retry_interval = secs("WEBHOOK_MAX_RETRY_INTERVAL_SECS", 3_600);
    let timeout = secs("WEBHOOK_TIMEOUT_SECS", 10);
    let secret_overlap = secs("WEBHOOK_SECRET_OVERLAP_SECS", 86_400);
    WebhookSettings {
        retry_window,
        first_retry: Duration::from_millis(
            r.checked::<u64>(
                "WEBHOOK_FIRST_RETRY_MS",
                "30000",
                |n| n >= 1,
                "must be at least 1",
            )
            .unwrap_or(30_000),
        ),
        max_retry_interval,
        timeout,
        secret_overlap,
        credits_low_threshold: r.parse("CREDITS_LOW_THRESHOLD", Some("10")).unwrap_or(10),
        require_https: environment == Environment::Production,
    }
}

fn read_credits<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> CreditSettings {
    CreditSettings {
        cost_per_minute: r.parse("CREDIT_COST_PER_MINUTE", Some("10")).unwrap_or(10),
        signup_grant: r.parse("DEFAULT_FREE_CREDITS", Some("100")).unwrap_or(100),
        processing_ratio: r.parse("PROCESSING_TIME_RATIO", Some("1.5")).unwrap_or(1.5),
        preview_seconds: r
            .checked(
                "PREVIEW_SECONDS",
                "30",
                |n: u32| n >= 1,
                "must be at least 1",
            )
            .unwrap_or(30),
        previews_per_day: r.parse("PREVIEWS_PER_DAY", Some("3")).unwrap_or(3),
    }
}

fn read_sqs<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> SqsSettings {
    SqsSettings {
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
    }
}

fn read_tools<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> ToolSettings {
    ToolSettings {
        ffmpeg: r.string("FFMPEG_BIN", Some("ffmpeg")).into(),
        ffprobe: r.string("FFPROBE_BIN", Some("ffprobe")).into(),
        espeak: r.string("ESPEAK_BIN", Some("espeak-ng")).into(),
        apertium: r.string("APERTIUM_BIN", Some("apertium")).into(),
        work_dir: r.string("WORK_DIR", Some("/tmp/onevoice-work")).into(),
        file_cache_bytes: r
            .parse::<u64>("FILE_CACHE_MB", Some("2048"))
            .unwrap_or(2048)
            .saturating_mul(1 << 20),
    }
}

fn read_audio<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> AudioSettings {
    // LALAL.AI's splitter goes in the model's place (empty: its latest).
    let lalalai = provider(
        r,
        "LALALAI_API_KEY",
        "LALALAI_BASE_URL",
        "https://www.lalal.ai/",
        "LALALAI_SPLITTER",
        "",
        false,
    );
    // `auto`: the separation service when it has a key, else the offline suppressor.
    let separator = r
        .parse_with("SEPARATOR", Some("auto"), |v| match v {
            "auto" => Ok(lalalai.clone()),
            "offline" => Ok(None),
            "lalalai" if lalalai.is_some() => Ok(lalalai.clone()),
            "lalalai" => Err("LALAL.AI is not configured (no LALALAI_API_KEY)".into()),
            _ => Err("expected auto, offline or lalalai".into()),
        })
        .flatten();
    AudioSettings {
        separator,
        separation_poll: Duration::from_millis(
            r.checked::<u64>(
                "LALALAI_POLL_MS",
                "5000",
                |ms| (10..=60_000).contains(&ms),
                "expected 10 to 60000 ms",
            )
            .unwrap_or(5000),
        ),
        max_speed: r
            .checked::<f64>(
                "DUB_MAX_SPEED",
                "1.4",
                |x| (1.0..=2.0).contains(&x),
                "expected a speed-up between 1.0 and 2.0",
            )
            .unwrap_or(1.4),
        gap_tolerance: Duration::from_millis(
            r.parse("DUB_GAP_TOLERANCE_MS", Some("1500"))
                .unwrap_or(1500),
        ),
        duck_db: r
            .checked::<f64>(
                "AUDIO_DUCK_DB",
                "-12",
                |x| (-60.0..=0.0).contains(&x),
                "expected a gain between -60 and 0 dB",
            )
            .unwrap_or(-12.0),
        target_lufs: r
            .checked::<f64>(
                "AUDIO_TARGET_LUFS",
                "-16",
                |x| (-40.0..=-5.0).contains(&x),
                "expected a loudness between -40 and -5 LUFS",
            )
            .unwrap_or(-16.0),
        true_peak_dbtp: r
            .checked::<f64>(
                "AUDIO_TRUE_PEAK_DBTP",
                "-1",
                |x| (-20.0..=0.0).contains(&x),
                "expected a ceiling between -20 and 0 dBTP",
            )
            .unwrap_or(-1.0),
        aac_bitrate: r
            .parse_with("AUDIO_AAC_BITRATE", Some("128k"), parse_bitrate)
            .unwrap_or(128_000),
        aac_encoder: r
            .parse("AAC_ENCODER", Some("fdk"))
            .unwrap_or(AacEncoder::Fdk),
        encoder_jobs: r.parse("AAC_ENCODER_JOBS", Some("0")).unwrap_or(0),
    }
}

/// The Temporal frontend: `host:port`, the form the `temporal` CLI reads from the same variable
/// (so one exported value serves the service and operators), or an `http(s)://` URL, which the
/// CLI refuses but older configurations used.
fn temporal_address(v: &str) -> Result<Url, String> {
    let url = if v.contains("://") {
        Url::parse(v).map_err(|e| e.to_string())?
    } else {
        Url::parse(&format!("http://{v}")).map_err(|e| e.to_string())?
    };
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.port().is_some()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.username().is_empty();
    if bare {
        Ok(url)
    } else {
        Err("expected host:port (e.g. 127.0.0.1:7233)".into())
    }
}

/// A provider's base URL, ending with a slash so relative paths join under it.
fn base_url(v: &str) -> Result<Url, String> {
    let v = if v.ends_with('/') {
        v.to_string()
    } else {
        format!("{v}/")
    };
    Url::parse(&v).map_err(|e| e.to_string())
}

/// An HTTP provider: on with a key, or (self-hosted servers without keys, when `keyless`) with
/// an explicit URL.
fn provider<F: Fn(&str) -> Option<String>>(
    r: &mut Reader<'_, F>,
    key_var: &str,
    url_var: &str,
    default_url: &str,
    model_var: &str,
    default_model: &str,
    keyless: bool,
) -> Option<HttpProvider> {
    let key = r.string(key_var, Some(""));
    let explicit_url = (r.lookup)(url_var).filter(|u| !u.trim().is_empty());
    let url = r
        .parse_with(url_var, Some(default_url), base_url)
        .unwrap_or_else(placeholder_url);
    let model = r.string(model_var, Some(default_model));
    // On with a key, or (self-hosted servers without keys) with an explicit URL.
    let on = !key.trim().is_empty() || (keyless && explicit_url.is_some());
    on.then(|| HttpProvider {
        base_url: url,
        api_key: Secret::new(key.trim()),
        model: model.trim().to_string(),
    })
}

fn read_speech<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> SpeechSettings {
    let openai = provider(
        r,
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "https://api.openai.com/v1/",
        "OPENAI_TTS_MODEL",
        "gpt-4o-mini-tts",
        true,
    );
    let elevenlabs = provider(
        r,
        "ELEVENLABS_API_KEY",
        "ELEVENLABS_BASE_URL",
        "https://api.elevenlabs.io/",
        "ELEVENLABS_MODEL",
        "eleven_multilingual_v2",
        false,
    );
    let fish = provider(
        r,
        "FISH_API_KEY",
        "FISH_BASE_URL",
        "https://api.fish.audio/",
        "FISH_MODEL",
        "s2.1-pro",
        true,
    );
    let whisperx = provider(
        r,
        "WHISPERX_API_KEY",
        "WHISPERX_BASE_URL",
        "https://api.302.ai/",
        "WHISPERX_MODEL",
        "",
        false,
    );
    // The local speech services (scripts/stack.sh starts them): keyless, on when a URL is set.
    let mut local = |url_var: &str, model: &str| {
        r.parse_with(url_var, Some(""), |v| {
            if v.trim().is_empty() {
                return Ok(None);
            }
            base_url(v).map(Some)
        })
        .flatten()
        .map(|base_url| HttpProvider {
            base_url,
            api_key: Secret::new(""),
            model: model.to_string(),
        })
    };
    let local_asr = local("LOCAL_ASR_BASE_URL", "whisper-base");
    let local_tts = local("LOCAL_TTS_BASE_URL", "local");
    let fish_voices = r
        .string("FISH_VOICES", Some(""))
        .split(',')
        .filter_map(|pair| {
            let (id, name) = pair.split_once('=').unwrap_or((pair, pair));
            let id = id.trim();
            (!id.is_empty()).then(|| (id.to_string(), name.trim().to_string()))
        })
        .collect();
    // `auto`: the first configured of the paid recognizers, else the local one.
    let recognizer = r
        .parse_with("ASR_PROVIDER", Some("auto"), |v| match v {
            "auto" => Ok(if openai.is_some() {
                Some(Recognizer::OpenAi)
            } else if elevenlabs.is_some() {
                Some(Recognizer::ElevenLabs)
            } else if whisperx.is_some() {
                Some(Recognizer::WhisperX)
            } else if local_asr.is_some() {
                Some(Recognizer::Local)
            } else {
                None
            }),
            "openai" if openai.is_some() => Ok(Some(Recognizer::OpenAi)),
            "elevenlabs" if elevenlabs.is_some() => Ok(Some(Recognizer::ElevenLabs)),
            "whisperx" if whisperx.is_some() => Ok(Some(Recognizer::WhisperX)),
            "local" if local_asr.is_some() => Ok(Some(Recognizer::Local)),
            "openai" | "elevenlabs" | "whisperx" => {
                Err("that provider is not configured (no API key)".into())
            }
            "local" => Err("the local recognizer is not configured (LOCAL_ASR_BASE_URL)".into()),
            "none" => Ok(None),
            _ => Err("expected auto, openai, elevenlabs, whisperx, local or none".into()),
        })
        .flatten();
    SpeechSettings {
        concurrency: r
            .checked::<usize>(
                "TTS_CONCURRENCY",
                "4",
                |n| (1..=64).contains(&n),
                "expected 1 to 64",
            )
            .unwrap_or(4),
        timeout: Duration::from_secs(r.parse("TTS_TIMEOUT_SECS", Some("120")).unwrap_or(120)),
        openai,
        elevenlabs,
        fish,
        whisperx,
        local_asr,
        local_tts,
        fish_voices,
        transcription_model: r.string("OPENAI_ASR_MODEL", Some("whisper-1")),
        scribe_model: r.string("ELEVENLABS_ASR_MODEL", Some("scribe_v1")),
        recognizer,
        chunk_secs: r
            .checked::<u64>(
                "ASR_CHUNK_SECS",
                "600",
                |n| (4..=1200).contains(&n),
                "expected 4 to 1200 seconds (10 minutes of 16 kHz audio is 19 MB, under the 25 MB upload limit)",
            )
            .unwrap_or(600),
        cloning: read_cloning(r),
    }
}

fn read_cloning<F: Fn(&str) -> Option<String>>(r: &mut Reader<'_, F>) -> CloneSettings {
    let min = r
        .checked::<f64>(
            "CLONE_MIN_SECS",
            "10",
            |n| (1.0..=60.0).contains(&n),
            "expected 1 to 60 seconds",
        )
        .unwrap_or(10.0);
    let max = r
        .checked::<f64>(
            "CLONE_MAX_SECS",
            "60",
            |n| (1.0..=300.0).contains(&n),
            "expected 1 to 300 seconds",
        )
        .unwrap_or(60.0);
    let days = r
        .checked::<f64>(
            "CLONE_RETENTION_DAYS",
            "30",
            |n| n > 0.0 && n <= 3650.0,
            "expected more than 0 and at most 3650 days",
        )
        .unwrap_or(30.0);
    CloneSettings {
        min_reference: Duration::from_secs_f64(min),
        max_reference: Duration::from_secs_f64(max.max(min)),
        retention: Duration::from_secs_f64(days * 86_400.0),
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
        .parse_with("PADDLE_API_URL", Some(api_url), base_url)
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
            .checked::<u32>(
                "BILLING_WORKFLOW_MAX_EVENTS",
                "500",
                |n| n >= 1,
                "expected a positive number",
            )
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

    /// A number that must pass `valid`; `what` says what it must be when it does not.
    fn checked<T: FromStr + Copy>(
        &mut self,
        key: &str,
        default: &str,
        valid: impl Fn(T) -> bool,
        what: &str,
    ) -> Option<T> {
        self.parse_with(key, Some(default), |v| match v.parse::<T>() {
            Ok(n) if valid(n) => Ok(n),
            _ => Err(what.to_string()),
        })
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
