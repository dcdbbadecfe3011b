//! The offline profile: the local speech services (`scripts/stack.sh` starts them) recognize
//! and speak with real models, and a video dubbed without a transcript and without any key
//! completes. Word error rates are measured on generated speech whose text is known.

use anyhow::Context;
use onevoice_tests::flows::{download, dub_to_end, ready_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::local_speech::{synthesize, transcribe};
use onevoice_tests::sample::{self, SPANISH_LINES, Speaker};
use onevoice_tests::wer::wer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(300);

#[tokio::test]
async fn a_spanish_video_without_a_transcript_is_dubbed_into_english_offline() -> anyhow::Result<()>
{
    // No paid provider is configured in the test stack: recognition is the local one.
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("offline@example.test").await?;
    let dir = tempfile::tempdir()?;
    let base_url = std::env::var("LOCAL_TTS_BASE_URL")?;
    let speaker = Speaker::Local {
        base_url: &base_url,
        voice: "jm_kumo",
        language: "es",
    };
    let spoken = sample::make_spoken(dir.path(), &SPANISH_LINES, speaker).await?;
    let video = ready_video(
        &app,
        &token,
        "offline.mp4",
        tokio::fs::read(&spoken.video).await?,
    )
    .await?;

    // No voice named: English's local neural voice, not espeak-ng's.
    let body = json!({"target_language": "en", "source_language": "es"});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["voice_id"], "local-joe", "{done}");

    let heard = subtitles(&app, &token, &video, "source_subtitles").await?;
    let said: Vec<&str> = SPANISH_LINES.iter().map(|(_, text)| *text).collect();
    let rate = wer(&said.join(" "), &heard.join(" "));
    eprintln!("recognized Spanish: WER {rate:.3}, heard {heard:?}");
    assert!(
        rate <= 0.15,
        "WER {rate:.2}: said {said:?}, heard {heard:?}"
    );
    let translated = subtitles(&app, &token, &video, "translation_subtitles").await?;
    assert_eq!(translated.len(), heard.len(), "{translated:?}");
    assert!(
        translated
            .iter()
            .any(|l| l.to_lowercase().contains("river")),
        "Apertium translated the lines into English: {translated:?}"
    );
    app.shutdown().await
}

async fn subtitles(
    app: &TestApp,
    token: &str,
    video: &str,
    file_type: &str,
) -> anyhow::Result<Vec<String>> {
    let srt = download(
        app,
        token,
        video,
        &format!("file_type={file_type}&language=en"),
    )
    .await?;
    let cues = onevoice_shared::srt::parse(&String::from_utf8(srt)?)?;
    Ok(cues.into_iter().map(|c| c.text).collect())
}

/// Sentences unlike the sample's, so the voice is not measured on what it was tuned against.
const ENGLISH: [&str; 4] = [
    "The river was quiet this morning, and the boats stayed in the harbor.",
    "Please send the report to the team before Friday afternoon.",
    "We walked along the shore until the sun came up over the hills.",
    "Her new bicycle is faster than the old car.",
];

#[tokio::test]
async fn piper_english_is_recognized_back() -> anyhow::Result<()> {
    let mut said = Vec::new();
    let mut heard = Vec::new();
    for text in ENGLISH {
        let wav = synthesize(text, "joe", "en").await?;
        let doc = transcribe(wav, Some("en")).await?;
        said.push(text);
        heard.push(doc["text"].as_str().context("text")?.to_string());
    }
    let rate = wer(&said.join(" "), &heard.join(" "));
    eprintln!("Piper's English recognized back: WER {rate:.3}");
    assert!(rate <= 0.25, "WER {rate:.2}: heard {heard:?}");
    Ok(())
}

#[tokio::test]
async fn the_recognizer_answers_openai_verbose_json_with_words_and_the_language()
-> anyhow::Result<()> {
    let wav = synthesize(ENGLISH[1], "joe", "en").await?;
    // Without a language, it is detected and named as OpenAI names it.
    let doc = transcribe(wav, None).await?;
    assert_eq!(doc["language"], "english", "{doc}");
    assert!(doc["duration"].as_f64().is_some_and(|d| d > 1.0), "{doc}");
    let segments = doc["segments"].as_array().context("segments")?;
    assert!(!segments.is_empty(), "{doc}");
    let words = doc["words"].as_array().context("words")?;
    assert!(words.len() >= 8, "{doc}");
    let mut last = 0.0;
    for w in words {
        let (start, end) = (
            w["start"].as_f64().context("start")?,
            w["end"].as_f64().context("end")?,
        );
        assert!(
            start >= last - 0.01 && end >= start,
            "word times run forward: {doc}"
        );
        last = start;
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_errors() -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let tts = format!(
        "{}/audio/speech",
        std::env::var("LOCAL_TTS_BASE_URL")?.trim_end_matches('/')
    );
    let asr = format!(
        "{}/audio/transcriptions",
        std::env::var("LOCAL_ASR_BASE_URL")?.trim_end_matches('/')
    );
    let refused = |status: u16, doc: &Value| {
        assert_eq!(status, 400, "{doc}");
        assert!(doc["error"]["message"].is_string(), "{doc}");
    };
    for body in [
        json!({"input": "hello", "voice": "nobody"}),
        json!({"input": "", "voice": "joe"}),
        json!({"input": "x".repeat(5000), "voice": "joe"}),
        json!({"input": "hello", "voice": "joe", "lang_code": "ko"}),
        json!({"input": "hello", "voice": "joe", "response_format": "mp3"}),
        json!({"input": "hello", "voice": "joe", "speed": 100}),
        json!(["not", "an", "object"]),
    ] {
        let answer = http.post(&tts).json(&body).send().await?;
        let status = answer.status().as_u16();
        refused(status, &answer.json().await?);
    }
    // Not audio at all, or no file.
    for form in [
        reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"not audio".to_vec()).file_name("a.wav"),
            )
            .text("model", "whisper-base"),
        reqwest::multipart::Form::new().text("model", "whisper-base"),
        reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![0u8; 64]).file_name("a.wav"),
            )
            .text("language", "xx"),
    ] {
        let answer = http.post(&asr).multipart(form).send().await?;
        let status = answer.status().as_u16();
        refused(status, &answer.json().await?);
    }
    Ok(())
}

/// The services' sources, beside the tests.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

/// Starts the recognition service on `models` and waits (with a deadline) for it to exit.
async fn start_up_failure(models: &Path) -> anyhow::Result<(Option<i32>, String)> {
    let python = std::env::var("LOCAL_SPEECH_PYTHON").context("LOCAL_SPEECH_PYTHON")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(python)
        .args([
            "-m",
            "local_speech.asr",
            "--port",
            &port.to_string(),
            "--models",
        ])
        .arg(models)
        .env("PYTHONPATH", scripts())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .context("the service with a bad model did not exit")??;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn a_missing_or_corrupt_model_stops_the_service_at_start_up() -> anyhow::Result<()> {
    let real = PathBuf::from(std::env::var("LOCAL_SPEECH_MODELS")?);
    let whisper = std::fs::read_dir(&real)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("whisper-base"))
        })
        .context("the assembled Whisper model")?;
    let name = whisper.file_name().context("name")?.to_owned();

    // Missing: an empty models directory.
    let empty = tempfile::tempdir()?;
    let (code, stderr) = start_up_failure(empty.path()).await?;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("model.bin") && stderr.contains("missing"),
        "{stderr}"
    );

    // Corrupt: every file linked to the real one but a config with a changed byte.
    let broken = tempfile::tempdir()?;
    let copy = broken.path().join(&name);
    std::fs::create_dir(&copy)?;
    for entry in std::fs::read_dir(&whisper)? {
        let path = entry?.path();
        let file = path.file_name().context("file")?;
        if file == "config.json" {
            let mut bytes = std::fs::read(&path)?;
            bytes[10] ^= 1;
            std::fs::write(copy.join(file), bytes)?;
        } else {
            std::os::unix::fs::symlink(&path, copy.join(file))?;
        }
    }
    let (code, stderr) = start_up_failure(broken.path()).await?;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("config.json") && stderr.contains("corrupt"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn the_local_voices_are_listed_with_honest_tiers_and_previews_made_once() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let deps = onevoice_api::bootstrap::deps(&app.state)?;
    onevoice_activities::voice::previews::generate_missing(&deps).await?;
    // Once: a second pass finds every preview stored.
    let again = onevoice_activities::voice::previews::generate_missing(&deps).await?;
    assert_eq!(again, 0);

    for (language, native) in [
        ("en", Some("local-joe")),
        ("es", None),
        ("ja", Some("local-jf_alpha")),
    ] {
        let voices: Value = app
            .http
            .get(app.url(&format!("/api/videos/voices?language={language}")))
            .send()
            .await?
            .json()
            .await?;
        let local: Vec<&Value> = voices
            .as_array()
            .context("list")?
            .iter()
            .filter(|v| v["provider"] == "local")
            .collect();
        assert!(!local.is_empty(), "{voices}");
        for voice in &local {
            let standard = native.is_some_and(|n| voice["id"] == n)
                || (language == "ja"
                    && voice["id"]
                        .as_str()
                        .is_some_and(|i| i.starts_with("local-j")));
            let tier = if standard { "standard" } else { "accented" };
            assert_eq!(voice["quality"], tier, "{voice}");
            assert!(voice["preview_url"].is_string(), "{voice}");
        }
        let espeak = voices
            .as_array()
            .context("list")?
            .iter()
            .find(|v| v["provider"] == "espeak-ng");
        assert_eq!(espeak.context("espeak-ng")?["quality"], "basic");
    }

    // Joe's English preview says its sentence.
    let voices: Value = app
        .http
        .get(app.url("/api/videos/voices?language=en"))
        .send()
        .await?
        .json()
        .await?;
    let joe = voices
        .as_array()
        .context("list")?
        .iter()
        .find(|v| v["id"] == "local-joe")
        .context("joe")?;
    let wav = app
        .http
        .get(joe["preview_url"].as_str().context("url")?)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let heard = transcribe(wav.to_vec(), Some("en")).await?;
    let said =
        onevoice_shared::voices::preview_sentence(onevoice_shared::language::Language::English);
    let rate = wer(said, heard["text"].as_str().context("text")?);
    assert!(rate <= 0.25, "WER {rate:.2}: {heard}");
    app.shutdown().await
}
