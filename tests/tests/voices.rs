//! Dubbing with the HTTP speech providers (OpenAI, ElevenLabs, Fish), against local fakes that
//! speak their wire formats, including their errors.

use anyhow::Context;
use onevoice_tests::flows::{download, dub, dub_to_end, finished_job, sample_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::media;
use onevoice_tests::tts::{self, FakeTts, KEY};
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

async fn start() -> anyhow::Result<(TestApp, FakeTts)> {
    let fake = FakeTts::start().await?;
    let settings = fake.settings();
    Ok((TestApp::spawn_with(&settings).await?, fake))
}

fn request(transcript: &str, voice: &str) -> Value {
    json!({"target_language": "es", "source_language": "en", "source_transcript": transcript, "voice_id": voice})
}

#[tokio::test]
async fn the_catalogue_offers_the_configured_providers_and_dubs_ride_out_rate_limits()
-> anyhow::Result<()> {
    let (app, fake) = start().await?;
    let voices: Value = app
        .http
        .get(app.url("/api/videos/voices?language=es"))
        .send()
        .await?
        .json()
        .await?;
    let providers: Vec<&str> = voices
        .as_array()
        .context("list")?
        .iter()
        .filter_map(|v| v["provider"].as_str())
        .collect();
    for p in ["espeak-ng", "openai", "elevenlabs", "fish"] {
        assert!(providers.contains(&p), "{p} missing: {voices}");
    }

    let (_, token) = app.user("tts-openai@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "openai.mp4").await?;
    // The first request is rate limited (Retry-After: 1), the next one fails on the server.
    fake.fail_next("/v1/audio/speech", 429, json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}), Some(1));
    fake.fail_next("/v1/audio/speech", 500, json!({"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}}), None);
    let (status, body) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "openai-coral"),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let calls = fake.calls("/v1/audio/speech");
    assert_eq!(
        calls.len(),
        sample.cues.len() + 2,
        "every line once, plus the two refused tries"
    );
    assert_eq!(
        calls.iter().filter(|t| *t != "<fault>").count(),
        sample.cues.len()
    );
    // Waited as told: Retry-After (1 s) after the 429, the backoff (0.5 s) after the 500.
    let waits = fake.waits_after_faults("/v1/audio/speech");
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(1), "{waits:?}");
    assert!(waits[1] >= Duration::from_millis(500), "{waits:?}");

    // ElevenLabs, with a busy answer first.
    let (_dir2, sample2, video2) = sample_video(&app, &token, "eleven.mp4").await?;
    fake.fail_next(
        "/v1/text-to-speech/",
        429,
        json!({"detail": {"status": "system_busy", "message": "busy"}}),
        None,
    );
    let (_, body) = dub(
        &app,
        &token,
        &video2,
        request(&sample2.transcript, "elevenlabs-21m00Tcm4TlvDq8ikWAM"),
        None,
    )
    .await?;
    let done = finished_job(
        &app,
        &token,
        body["job_id"].as_str().context("job")?,
        DEADLINE,
    )
    .await?;
    assert_eq!(done["status"], "completed", "{done}");
    // Each line went to ElevenLabs, for the chosen voice, once; the busy answer was waited out.
    let eleven = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM";
    let calls = fake.calls(eleven);
    assert_eq!(calls.len(), sample2.cues.len() + 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|t| *t == "<fault>").count(), 1);
    let waits = fake.waits_after_faults(eleven);
    assert!(
        waits.len() == 1 && waits[0] >= Duration::from_millis(500),
        "{waits:?}"
    );
    // And the dub speaks with ElevenLabs' audio (its fake's pitch), not another provider's.
    assert_voice_in_dub(&app, &token, &video2, _dir2.path(), tts::ELEVENLABS_HZ).await?;

    // A line far too long for its slot is cut at its room and reported; the job still completes.
    let crowded = "1\n00:00:01,000 --> 00:00:02,000\nThis first line goes on and on with far too many words to ever fit \
        into the single second its subtitle allows, however fast it is spoken by anyone at all\n\n\
        2\n00:00:02,500 --> 00:00:04,000\nThen a short one.\n";
    let (status, body) = dub(&app, &token, &video, request(crowded, "openai-nova"), None).await?;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job_id, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let unfit = done["job_result"]["unfit_lines"]
        .as_array()
        .context("unfit_lines")?
        .clone();
    assert!(!unfit.is_empty(), "{done}");
    assert!(
        unfit
            .iter()
            .all(|u| u["overrun_ms"].as_u64().unwrap_or(0) > 0),
        "{unfit:?}"
    );

    // A voice of a provider that is not configured, or of none, is refused up front.
    let (status, body) = dub(
        &app,
        &token,
        &video,
        request(&sample.transcript, "openai-nonexistent"),
        None,
    )
    .await?;
    assert_eq!(status, 422, "{body}");
    app.shutdown().await
}

#[tokio::test]
async fn refusals_that_waiting_cannot_fix_fail_the_job_at_once_in_plain_words() -> anyhow::Result<()>
{
    let (app, fake) = start().await?;
    let (_, token) = app.user("tts-refused@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "refused.mp4").await?;
    let cases = [
        (
            "/v1/tts",
            "fish-0123456789abcdef",
            402,
            json!({"status": 402, "message": "Insufficient credit", "reason": null}),
            "Insufficient credit",
        ),
        (
            "/v1/audio/speech",
            "openai-alloy",
            429,
            json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
            "quota",
        ),
        (
            "/v1/text-to-speech/",
            "elevenlabs-29vD33N1CtxCmqQRPOHJ",
            401,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
            "invalid_api_key",
        ),
    ];
    for (path, voice, status, body, reason) in cases {
        fake.fail_next(path, status, body, None);
        let before = fake.calls(path).len();
        let (code, started) = dub(
            &app,
            &token,
            &video,
            request(&sample.transcript, voice),
            None,
        )
        .await?;
        assert_eq!(code, 202, "{started}");
        let failed = finished_job(
            &app,
            &token,
            started["job_id"].as_str().context("job")?,
            DEADLINE,
        )
        .await?;
        assert_eq!(failed["status"], "failed", "{voice}: {failed}");
        // The user reads a plain sentence; the provider's answer (which is about our account
        // with it) is for operators: the workflow's history and the worker's log keep it.
        let message = failed["error_message"].as_str().unwrap_or_default();
        assert_eq!(message, onevoice_shared::failure::DUB_FAILED, "{voice}");
        let shown = failed.to_string();
        assert!(
            !shown.contains(reason),
            "{voice}: the provider's answer leaked: {shown}"
        );
        assert!(!shown.contains(KEY), "the key leaked");
        let events = app
            .state
            .temporal
            .get_workflow_handle::<onevoice_workflows::DubbingWorkflow>(format!(
                "dub-{}",
                started["job_id"].as_str().context("job")?
            ))
            .fetch_history(Default::default())
            .into_events()
            .await?;
        assert!(
            format!("{events:?}").contains(reason),
            "{voice}: operators find the provider's answer in the history"
        );
        // Not retried: the refused request is the only one for that line.
        let refused = fake.calls(path)[before..]
            .iter()
            .filter(|t| *t == "<fault>")
            .count();
        assert_eq!(refused, 1, "{voice}");
    }
    app.shutdown().await
}

#[tokio::test]
async fn a_video_without_transcript_is_recognized_once_and_dubbed() -> anyhow::Result<()> {
    let (app, fake) = start().await?;
    let (_, token) = app.user("asr@example.test").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "asr.mp4").await?;
    let body =
        json!({"target_language": "es", "source_language": "en", "voice_id": "openai-alloy"});
    // The first answer is a rate limit with Retry-After: 1, waited out inside the attempt.
    fake.fail_next(
        "/v1/audio/transcriptions",
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        Some(1),
    );
    let (status, started) = dub(&app, &token, &video, body.clone(), None).await?;
    assert_eq!(status, 202, "{started}");
    let done = finished_job(
        &app,
        &token,
        started["job_id"].as_str().context("job")?,
        DEADLINE,
    )
    .await?;
    assert_eq!(done["status"], "completed", "{done}");
    let recognized = fake.calls("/v1/audio/transcriptions");
    assert_eq!(
        recognized,
        ["<fault>", "whisper-1"],
        "one refused try, one answer"
    );
    let waits = fake.waits_after_faults("/v1/audio/transcriptions");
    assert!(
        waits.len() == 1 && waits[0] >= Duration::from_secs(1),
        "the same audio was sent again only after Retry-After: {waits:?}"
    );
    let srt = String::from_utf8(
        download(
            &app,
            &token,
            &video,
            "file_type=translation_subtitles&language=es",
        )
        .await?,
    )?;
    let cues = onevoice_shared::srt::parse(&srt)?;
    assert!(cues.len() >= 3, "one line per recognized segment: {srt}");
    // The OpenAI fake's chat completions translated it (`Spanish: …`).
    assert!(cues[0].text.starts_with("Spanish: "), "{srt}");

    // Another dub of the same video reuses the cached recognition: no new request.
    let (status, again) = dub(
        &app,
        &token,
        &video,
        json!({"target_language": "es", "source_language": "en"}),
        None,
    )
    .await?;
    assert_eq!(status, 202, "{again}");
    let done = finished_job(
        &app,
        &token,
        again["job_id"].as_str().context("job")?,
        DEADLINE,
    )
    .await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        fake.calls("/v1/audio/transcriptions").len(),
        2,
        "served from the cache"
    );
    assert_eq!(
        fake.transcription_languages(),
        ["en"],
        "told the language it was given"
    );

    // `auto`: the recognizer detects the language (nothing sent), the job reports it, in place
    // of the video's stated language (French here) it started with.
    let res = app
        .http
        .put(app.url(&format!("/api/videos/{video}")))
        .bearer_auth(&token)
        .json(&json!({"original_language": "fr"}))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let body = json!({"target_language": "es", "source_language": "auto"});
    let (status, auto) = dub(&app, &token, &video, body, None).await?;
    assert_eq!(status, 202, "{auto}");
    let job = auto["job_id"].as_str().context("job")?;
    let done = finished_job(&app, &token, job, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["job_result"]["source_language"], "en", "{done}");
    assert_eq!(done["source_language"], "en", "{done}");
    assert_eq!(
        fake.transcription_languages(),
        ["en", ""],
        "detection names no language"
    );
    // `auto` with a transcript makes no sense.
    let body = json!({"target_language": "es", "source_language": "auto",
        "source_transcript": "1\n00:00:01,000 --> 00:00:02,000\nHi\n"});
    assert_eq!(dub(&app, &token, &video, body, None).await?.0, 422);

    // A job may choose its recognizer among those the server has.
    let body =
        json!({"target_language": "es", "source_language": "en", "asr_provider": "elevenlabs"});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(fake.calls("/v1/speech-to-text"), ["scribe_v1"]);
    for (body, why) in [
        (
            json!({"target_language": "es", "source_language": "en", "asr_provider": "azure"}),
            "unknown",
        ),
        (
            json!({"target_language": "es", "source_language": "en", "asr_provider": "openai",
            "source_transcript": "1\n00:00:01,000 --> 00:00:02,000\nHi\n"}),
            "with a transcript",
        ),
    ] {
        let (status, refused) = dub(&app, &token, &video, body, None).await?;
        assert_eq!(status, 422, "{why}: {refused}");
        assert!(
            refused.to_string().contains("asr_provider"),
            "{why}: {refused}"
        );
    }
    app.shutdown().await
}

#[tokio::test]
async fn elevenlabs_scribe_and_a_whisperx_host_recognize_when_chosen() -> anyhow::Result<()> {
    for (provider, path, model) in [
        ("elevenlabs", "/v1/speech-to-text", "scribe_v1"),
        ("whisperx", "/302/whisperx", ""),
    ] {
        recognized_by(provider, path, model).await?;
    }
    Ok(())
}

async fn recognized_by(provider: &str, path: &str, model: &str) -> anyhow::Result<()> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("ASR_PROVIDER", provider.into()));
    let app = TestApp::spawn_with(&settings).await?;
    let (_, token) = app.user(&format!("{provider}@example.test")).await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "recognized.mp4").await?;
    // A 200 whose body is not a transcript is retried, not taken for silence.
    fake.fail_next(path, 200, json!({"detail": "unexpected"}), None);
    let body = json!({"target_language": "es", "source_language": "en"});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(fake.calls(path), ["<fault>", model], "{provider}");
    assert!(
        fake.calls("/v1/audio/transcriptions").is_empty(),
        "{provider}"
    );
    let lines = done["job_result"]["lines"].as_u64().unwrap_or(0);
    assert!(
        lines >= 3,
        "{provider}: one line per recognized part: {done}"
    );
    app.shutdown().await
}

/// The fakes are strict about each provider's own field names: a request that mixes up two
/// providers' names (which the fakes once accepted) is refused the way that provider refuses.
#[tokio::test]
async fn the_provider_fakes_refuse_another_providers_field_names() -> anyhow::Result<()> {
    let fake = FakeTts::start().await?;
    let http = reqwest::Client::new();
    let wav = {
        let mut w = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        w.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
        w.extend_from_slice(&16_000u32.to_le_bytes());
        w.extend_from_slice(&32_000u32.to_le_bytes());
        w.extend_from_slice(&[2, 0, 16, 0]);
        w.extend_from_slice(b"data");
        w.extend_from_slice(&64_000u32.to_le_bytes());
        w.extend(std::iter::repeat_n(0u8, 64_000));
        w
    };
    let file = || reqwest::multipart::Part::bytes(wav.clone()).file_name("a.wav");
    // OpenAI's transcription with Scribe's `model_id`.
    let form = reqwest::multipart::Form::new()
        .part("file", file())
        .text("model_id", "whisper-1");
    let res = http
        .post(format!("{}/v1/audio/transcriptions", fake.url))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await?;
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    // Scribe with OpenAI's `model` and `language`.
    let form = reqwest::multipart::Form::new()
        .part("file", file())
        .text("model", "scribe_v1")
        .text("language", "en");
    let res = http
        .post(format!("{}/v1/speech-to-text", fake.url))
        .header("xi-api-key", KEY)
        .multipart(form)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    // The right names pass.
    let form = reqwest::multipart::Form::new()
        .part("file", file())
        .text("model_id", "scribe_v1")
        .text("language_code", "en");
    let res = http
        .post(format!("{}/v1/speech-to-text", fake.url))
        .header("xi-api-key", KEY)
        .multipart(form)
        .send()
        .await?;
    assert_eq!(res.status(), 200, "{}", res.text().await?);
    // OpenAI speech reads `input`, not ElevenLabs' `text`.
    let res = http
        .post(format!("{}/v1/audio/speech", fake.url))
        .bearer_auth(KEY)
        .json(&json!({"model": "gpt-4o-mini-tts", "text": "hola", "voice": "coral", "response_format": "pcm"}))
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    // ElevenLabs reads `text`, not OpenAI's `input`.
    let res = http
        .post(format!(
            "{}/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=pcm_24000",
            fake.url
        ))
        .header("xi-api-key", KEY)
        .json(&json!({"input": "hola", "model_id": "eleven_multilingual_v2"}))
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    Ok(())
}

/// Inside every spoken line of the video's dub, most of the sound is the fake voice's tone at
/// `hz` and none is another fake voice's.
async fn assert_voice_in_dub(
    app: &TestApp,
    token: &str,
    video: &str,
    dir: &std::path::Path,
    hz: f64,
) -> anyhow::Result<()> {
    let audio = dir.join("dub.m4a");
    tokio::fs::write(
        &audio,
        download(app, token, video, "file_type=dubbed_audio&language=es").await?,
    )
    .await?;
    let samples = media::decode_audio(&audio).await?;
    let srt = String::from_utf8(
        download(app, token, video, "file_type=dub_subtitles&language=es").await?,
    )?;
    let spoken = onevoice_shared::srt::parse(&srt)?;
    assert!(!spoken.is_empty());
    for line in &spoken {
        let (start, end) = (line.start_ms + 50, line.end_ms.saturating_sub(50));
        let share = media::tone_share(&samples, start, end, hz);
        assert!(
            share > 0.5,
            "line at {start} ms: {share:.2} of it at {hz} Hz"
        );
        for other in [tts::OPENAI_HZ, tts::ELEVENLABS_HZ, tts::FISH_HZ] {
            if other != hz {
                let share = media::tone_share(&samples, start, end, other);
                assert!(share < 0.05, "line at {start} ms: {share:.2} at {other} Hz");
            }
        }
    }
    Ok(())
}
