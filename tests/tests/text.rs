//! The text stages inside real dubs: sentences, splitting by meaning, terminology, the two-pass
//! LLM translation with shortening, and the display subtitles the videos API serves, against the
//! fake OpenAI chat completions (with its 429s, 500s, refusals, truncations and malformed
//! answers).

use anyhow::Context;
use onevoice_shared::repo::ledger;
use onevoice_shared::srt;
use onevoice_tests::chat::ChatFault;
use onevoice_tests::flows::{download, dub, dub_to_end, finished_job, sample_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::tts::FakeTts;
use serde_json::json;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(180);
const CHAT: &str = "/v1/chat/completions";

/// Two sentences in one cue, a 26-word line with no punctuation or connector (split by
/// meaning), an 85-character sentence (split for display, its translation aligned), lines too
/// long to say in their slot (shortened) and a name in the glossary.
const TRANSCRIPT: &str = "1\n00:00:00,500 --> 00:00:03,000\nHello and welcome to OneVoice. This video was dubbed automatically.\n\n\
2\n00:00:03,200 --> 00:00:08,500\nwe recorded this short sample on a quiet sunny afternoon in the small studio next to the river with two old microphones from the last century\n\n\
3\n00:00:09,000 --> 00:00:10,500\nOur engineers, designers and translators worked together for many long months on it. Thank you for watching OneVoice.\n";

/// Shorter than `SLOW`: such an answer times out and is asked again.
const LLM_TIMEOUT: &str = "2";
const SLOW: Duration = Duration::from_secs(3);

async fn start() -> anyhow::Result<(TestApp, FakeTts)> {
    start_with(LLM_TIMEOUT).await
}

async fn start_with(llm_timeout_secs: &str) -> anyhow::Result<(TestApp, FakeTts)> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("LLM_MODEL", "gpt-test".into()));
    settings.push(("LLM_TIMEOUT_SECS", llm_timeout_secs.into()));
    Ok((TestApp::spawn_with(&settings).await?, fake))
}

async fn text(app: &TestApp, token: &str, video: &str, query: &str) -> anyhow::Result<String> {
    Ok(String::from_utf8(
        download(app, token, video, query).await?,
    )?)
}

#[tokio::test]
async fn the_llm_text_pipeline_runs_inside_the_dub_and_every_subtitle_is_served()
-> anyhow::Result<()> {
    let (app, fake) = start().await?;
    let (_, token) = app.user("text-llm@example.test").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "text.mp4").await?;

    // The LLM is rate limited once and fails once on its side; the translation answers are
    // malformed, then a line short, then cut off (the chunk is halved); one expressive pass is
    // refused (its faithful translation stands); the terminology answer comes too late once.
    fake.fail_next(CHAT, 429, json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}), Some(1));
    fake.fail_next(CHAT, 500, json!({"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}}), None);
    fake.spoil_next_chat("translation", ChatFault::Malformed);
    fake.spoil_next_chat("translation", ChatFault::MissingLine);
    fake.spoil_next_chat("translation", ChatFault::Truncated);
    fake.spoil_next_chat("expressive_translation", ChatFault::Refusal);
    fake.spoil_next_chat("terminology", ChatFault::Slow(SLOW));

    let body = json!({"target_language": "es", "source_language": "en", "source_transcript": TRANSCRIPT,
        "glossary": [{"source": "OneVoice", "target": "UnaVoz"}]});
    let (status, started) = dub(&app, &token, &video, body, None).await?;
    assert_eq!(status, 202, "{started}");
    let job = started["job_id"].as_str().context("job")?.to_string();
    let done = finished_job(&app, &token, &job, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");

    let calls = fake.calls(CHAT);
    for expected in [
        "<fault>",
        "sentence_split",
        "terminology <Slow(3s)>",
        "terminology",
        "translation <Malformed>",
        "translation <MissingLine>",
        "translation <Truncated>",
        "translation",
        "expressive_translation <Refusal>",
        "expressive_translation",
        "shorten",
        "subtitle_align",
    ] {
        assert!(
            calls.iter().any(|c| c == expected),
            "no `{expected}` call: {calls:?}"
        );
    }

    // Source subtitles: the sentences of the first cue, the long line split by meaning (and for
    // display), every word kept, in order, within the transcript's times.
    let source = srt::parse(
        &text(
            &app,
            &token,
            &video,
            "file_type=source_subtitles&language=es",
        )
        .await?,
    )?;
    let lines: Vec<&str> = source.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        lines[..2],
        [
            "Hello and welcome to OneVoice.",
            "This video was dubbed automatically."
        ]
    );
    assert_eq!(lines.last(), Some(&"Thank you for watching OneVoice."));
    assert!(
        lines.len() >= 5,
        "the 26-word line was not split: {lines:?}"
    );
    let words = |cues: &[srt::Cue]| -> Vec<String> {
        cues.iter()
            .flat_map(|c| {
                c.text
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(words(&source), words(&srt::parse(TRANSCRIPT)?));
    assert!(
        source.iter().all(|c| c.text.chars().count() <= 75),
        "{lines:?}"
    );
    assert_eq!(source[0].start_ms, 500);
    assert_eq!(source.last().map(|c| c.end_ms), Some(10_500));
    assert!(
        source.windows(2).all(|w| w[0].end_ms <= w[1].start_ms),
        "{source:?}"
    );

    // The same cues as WebVTT.
    let vtt = text(
        &app,
        &token,
        &video,
        "file_type=source_subtitles&language=es&format=vtt",
    )
    .await?;
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    assert_eq!(srt::parse_vtt(&vtt)?, source);

    // The translation, with the user's term and the terms the LLM found.
    let translation_srt = text(
        &app,
        &token,
        &video,
        "file_type=translation_subtitles&language=es",
    )
    .await?;
    let translation = srt::parse(&translation_srt)?;
    assert_eq!(translation.len(), source.len(), "{translation_srt}");
    assert!(
        translation[0].text.starts_with("Spanish: HELLO"),
        "{translation_srt}"
    );
    assert!(translation_srt.contains("UnaVoz"), "{translation_srt}");
    assert!(!translation_srt.contains("OneVoice"), "{translation_srt}");
    for (t, s) in translation.iter().zip(&source) {
        assert_eq!((t.start_ms, t.end_ms), (s.start_ms, s.end_ms));
    }
    let translation_vtt = text(
        &app,
        &token,
        &video,
        "file_type=translation_subtitles&language=es&format=vtt",
    )
    .await?;
    assert_eq!(srt::parse_vtt(&translation_vtt)?, translation);

    // Bilingual: the translation above the source, cue by cue.
    for format in ["srt", "vtt"] {
        let both = text(
            &app,
            &token,
            &video,
            &format!("file_type=bilingual_subtitles&language=es&format={format}"),
        )
        .await?;
        let cues = srt::parse_any(&both)?;
        assert_eq!(cues.len(), source.len());
        for ((b, t), s) in cues.iter().zip(&translation).zip(&source) {
            assert_eq!(b.text, format!("{}\n{}", t.text, s.text));
        }
    }

    // Lines too long for their slot were shortened: fewer words than a whole translation
    // (each source line plus its `Spanish:` prefix), in the subtitles as in the dub.
    let full = words(&srt::parse(TRANSCRIPT)?).len() + 5;
    assert!(
        words(&translation).len() < full,
        "nothing shortened: {translation_srt}"
    );
    let dub_srt =
        srt::parse(&text(&app, &token, &video, "file_type=dub_subtitles&language=es").await?)?;
    // Each spoken line is a translated sentence, shortened as shown (a line with no room at all
    // is left out of the dub and reported as unfit).
    let shown = words(&translation);
    assert!(!dub_srt.is_empty());
    for line in &dub_srt {
        let spoken = words(std::slice::from_ref(line));
        assert!(
            shown.windows(spoken.len()).any(|w| w == spoken.as_slice()),
            "{spoken:?} is not a displayed translation: {shown:?}"
        );
    }

    // The job's segments say which lines were shortened: those with fewer words than their
    // whole translation (the fake's `Spanish:` and the source line; it keeps half the words).
    let segments = app
        .get(&format!("/api/jobs/{job}/segments"), &token)
        .await?
        .expect(200)?;
    let segments = segments["segments"].as_array().context("segments")?;
    assert_eq!(
        serde_json::json!(segments.len()),
        done["job_result"]["lines"]
    );
    let count = |v: &serde_json::Value| v.as_str().unwrap_or("").split_whitespace().count();
    for s in segments {
        let whole = count(&s["source_text"]) + 1;
        assert_eq!(s["shortened"], count(&s["translation"]) < whole, "{s}");
    }
    assert!(
        segments.iter().any(|s| s["shortened"] == true),
        "{segments:?}"
    );

    // A shortened line the user rewrites is theirs once re-rendered: no longer "shortened";
    // the other lines say what they said.
    let edited = segments
        .iter()
        .position(|s| s["shortened"] == true)
        .context("a shortened line")?;
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/jobs/{job}/segments/{edited}"),
            Some(&token),
            Some(&json!({"translation": "Hola."})),
        )
        .await?
        .parts();
    assert_eq!(status, 200, "{body}");
    app.post(&format!("/api/jobs/{job}/rerender"), &token)
        .await?
        .expect(202)?;
    let versions_path = format!("/api/jobs/{job}/versions");
    let versions = onevoice_tests::harness::eventually(DEADLINE, "version 2 to end", || async {
        let v = app.get(&versions_path, &token).await?.expect(200)?;
        let status = &v["versions"][1]["status"];
        Ok((!status.is_null() && status != "processing").then_some(v))
    })
    .await?;
    assert_eq!(versions["versions"][1]["status"], "completed", "{versions}");
    let after = app
        .get(&format!("/api/jobs/{job}/segments"), &token)
        .await?
        .expect(200)?;
    let after = after["segments"].as_array().context("segments")?;
    for (k, (was, now)) in segments.iter().zip(after).enumerate() {
        if k == edited {
            assert_eq!(
                (now["translation"].clone(), now["shortened"].clone()),
                (json!("Hola."), json!(false)),
                "{now}"
            );
        } else {
            assert_eq!(now["shortened"], was["shortened"], "{now}");
        }
    }

    // Another job's subtitles are not this user's to read.
    let (_, stranger) = app.user("text-stranger@example.test").await?;
    let res = app
        .http
        .get(app.url(&format!(
            "/api/videos/{video}/download?file_type=bilingual_subtitles&language=es"
        )))
        .bearer_auth(&stranger)
        .send()
        .await?;
    assert_eq!(res.status(), 404);

    // A format the API does not serve is refused with the field named.
    let res = app
        .http
        .get(app.url(&format!(
            "/api/videos/{video}/download?file_type=source_subtitles&format=docx"
        )))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await?;
    assert!(body.to_string().contains("format"), "{body}");

    app.shutdown().await
}

#[tokio::test]
async fn a_refused_line_fails_the_job_with_the_reason_and_refunds() -> anyhow::Result<()> {
    let (app, fake) = start().await?;
    let (user, token) = app.user("text-refused@example.test").await?;
    let (_dir, _sample, video) = sample_video(&app, &token, "refused.mp4").await?;
    let before = ledger::balance(&app.state.db, user).await?;
    fake.spoil_next_chat("translation", ChatFault::Refusal);
    let transcript = "1\n00:00:01,000 --> 00:00:03,000\nSomething the model will not translate.\n";
    let body =
        json!({"target_language": "es", "source_language": "en", "source_transcript": transcript});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["error_message"].as_str().unwrap_or("");
    assert!(message.contains("refused"), "{done}");
    assert_eq!(
        ledger::balance(&app.state.db, user).await?,
        before,
        "the hold was released"
    );
    app.shutdown().await
}

#[tokio::test]
async fn korean_subtitles_are_burned_with_a_font_that_draws_hangul() -> anyhow::Result<()> {
    let (app, _fake) = start().await?;
    let (_, token) = app.user("text-korean@example.test").await?;
    let (dir, sample, video) = sample_video(&app, &token, "korean.mp4").await?;
    // The burn fails the job if libass finds no font for a Hangul syllable.
    let body = json!({"target_language": "ko", "source_language": "en",
        "source_transcript": sample.transcript, "burn_subtitles": true});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let burned = text(
        &app,
        &token,
        &video,
        "file_type=translation_subtitles&language=ko",
    )
    .await?;
    assert!(burned.contains("한국어: "), "{burned}");
    let subtitled = download(&app, &token, &video, "file_type=subtitle_video&language=ko").await?;
    let file = dir.path().join("subtitled.mp4");
    tokio::fs::write(&file, subtitled).await?;
    let cue = &sample.cues[2];
    onevoice_tests::media::assert_burned_in(
        &sample.video,
        &file,
        (cue.start_ms + cue.end_ms) / 2,
        sample.cues[0].start_ms / 2,
    )
    .await?;
    app.shutdown().await
}

#[tokio::test]
async fn an_answer_slower_than_the_heartbeat_timeout_is_waited_for_not_paid_twice()
-> anyhow::Result<()> {
    // Long activities must heartbeat within 10 s; this answer takes 12.
    let (app, fake) = start_with("60").await?;
    let (_, token) = app.user("text-slow@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "slow.mp4").await?;
    fake.spoil_next_chat("terminology", ChatFault::Slow(Duration::from_secs(12)));
    let body = json!({"target_language": "es", "source_language": "en",
        "source_transcript": sample.transcript});
    let done = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    let asked: Vec<String> = fake
        .calls(CHAT)
        .into_iter()
        .filter(|c| c.starts_with("terminology"))
        .collect();
    assert_eq!(
        asked,
        ["terminology <Slow(12s)>"],
        "asked once, answer awaited"
    );
    app.shutdown().await
}
