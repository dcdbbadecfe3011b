use super::read::DEV_JWT_SECRET;
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
fn temporal_address_takes_the_clis_form_and_a_url() {
    let s = load(&base()).unwrap();
    assert_eq!(s.temporal.address.as_str(), "http://127.0.0.1:7233/");
    for (given, expected) in [
        ("temporal.internal:7233", "http://temporal.internal:7233/"),
        ("http://127.0.0.1:7233", "http://127.0.0.1:7233/"),
        (
            "https://ns.tmprl.cloud:7233",
            "https://ns.tmprl.cloud:7233/",
        ),
    ] {
        let mut vars = base();
        vars.insert("TEMPORAL_ADDRESS", given);
        assert_eq!(load(&vars).unwrap().temporal.address.as_str(), expected);
    }
    for bad in ["temporal", "127.0.0.1:7233/ns", "ftp://h:1", "h:notaport"] {
        let mut vars = base();
        vars.insert("TEMPORAL_ADDRESS", bad);
        let err = load(&vars).unwrap_err().to_string();
        assert!(err.contains("TEMPORAL_ADDRESS"), "{bad}: {err}");
    }
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
fn the_separator_is_the_service_with_a_key_unless_told_offline() {
    let mut vars = base();
    assert!(
        load(&vars).unwrap().audio.separator.is_none(),
        "offline by default"
    );
    vars.insert("SEPARATOR", "lalalai");
    assert!(load(&vars).unwrap_err().to_string().contains("SEPARATOR"));
    vars.insert("LALALAI_API_KEY", "license");
    let audio = load(&vars).unwrap().audio;
    let service = audio.separator.expect("LALAL.AI");
    assert_eq!(service.base_url.as_str(), "https://www.lalal.ai/");
    assert_eq!(audio.separation_poll, std::time::Duration::from_secs(5));
    vars.insert("SEPARATOR", "auto");
    assert!(load(&vars).unwrap().audio.separator.is_some());
    vars.insert("SEPARATOR", "offline");
    assert!(load(&vars).unwrap().audio.separator.is_none());
    vars.insert("SEPARATOR", "demucs");
    assert!(load(&vars).is_err());
    vars.insert("SEPARATOR", "auto");
    vars.insert("LALALAI_POLL_MS", "1");
    assert!(
        load(&vars)
            .unwrap_err()
            .to_string()
            .contains("LALALAI_POLL_MS")
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

#[test]
fn the_aac_encoder_and_bitrate_are_checked_at_start() {
    let s = load(&base()).unwrap();
    assert_eq!(s.audio.aac_encoder, AacEncoder::Fdk);
    assert_eq!(s.audio.aac_bitrate, 128_000);
    let mut vars = base();
    vars.insert("AAC_ENCODER", "ffmpeg-fast");
    vars.insert("AUDIO_AAC_BITRATE", "96000");
    let s = load(&vars).unwrap();
    assert_eq!(s.audio.aac_encoder, AacEncoder::FfmpegFast);
    assert_eq!(s.audio.aac_bitrate, 96_000);
    vars.insert("AAC_ENCODER", "lame");
    vars.insert("AUDIO_AAC_BITRATE", "9000k");
    let err = load(&vars).unwrap_err().to_string();
    assert!(
        err.contains("AAC_ENCODER") && err.contains("AUDIO_AAC_BITRATE"),
        "{err}"
    );
}

#[test]
fn speech_batches_hold_at_least_one_line() {
    assert_eq!(load(&base()).unwrap().temporal.speech_batch_lines, 32);
    let mut vars = base();
    vars.insert("SPEECH_BATCH_LINES", "8");
    assert_eq!(load(&vars).unwrap().temporal.speech_batch_lines, 8);
    for bad in ["0", "-3", "many"] {
        vars.insert("SPEECH_BATCH_LINES", bad);
        let err = load(&vars).unwrap_err().to_string();
        assert!(err.contains("SPEECH_BATCH_LINES"), "{bad}: {err}");
    }
}
