//! A dub cancelled at each long step, and resumed after a failure at each later step, against the
//! real workflow with the providers' fakes (recognition, the LLM, the voice) made slow or failing
//! at the chosen moment. Cancelled: the running step reads cancelled, nothing after it ran, the
//! hold is released. Resumed: the steps that had finished are reused (their providers are not
//! asked again) and the job is charged once.

use anyhow::Context;
use onevoice_shared::repo::ledger;
use onevoice_tests::chat::ChatFault;
use onevoice_tests::flows::{dub, finished_job, sample_video};
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::keys;
use onevoice_tests::tts::FakeTts;
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(180);
/// How long a provider takes when a test needs the job to stay in one step.
const SLOW: Duration = Duration::from_secs(6);
const CHAT: &str = "/v1/chat/completions";
const SPEECH: &str = "/v1/audio/speech";

async fn start() -> anyhow::Result<(TestApp, FakeTts)> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.push(("LLM_MODEL", "gpt-test".into()));
    // The slow answers are awaited, not timed out.
    settings.push(("LLM_TIMEOUT_SECS", "60".into()));
    // A step that keeps failing (the broken video at the mux) gives up after its sixth passing
    // error: seconds apart here, not up to a minute.
    settings.push(("ACTIVITY_RETRY_MAX_INTERVAL_SECS", "1".into()));
    Ok((TestApp::spawn_with(&settings).await?, fake))
}

fn body(transcript: Option<&str>) -> Value {
    let mut b =
        json!({"target_language": "es", "source_language": "en", "voice_id": "openai-alloy"});
    if let Some(t) = transcript {
        b["source_transcript"] = json!(t);
    }
    b
}

async fn job(app: &TestApp, token: &str, job: &str) -> anyhow::Result<Value> {
    Ok(app
        .http
        .get(app.url(&format!("/api/jobs/{job}")))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["job_steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_name"] == name))
        .unwrap_or(&Value::Null)
}

/// Waits until the job's step `name` is running.
async fn at_step(app: &TestApp, token: &str, id: &str, name: &str) -> anyhow::Result<()> {
    eventually(DEADLINE, &format!("{name} to run"), || async {
        let j = job(app, token, id).await?;
        anyhow::ensure!(
            !matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ),
            "the job ended before {name}: {j}"
        );
        Ok((step(&j, name)["status"] == "processing").then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_dub_cancelled_in_each_long_step_stops_there_and_releases_its_hold() -> anyhow::Result<()>
{
    let (app, fake) = start().await?;
    let (user, token) = app.user("steps-cancel@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "cancel-steps.mp4").await?;
    let before = ledger::balance(&app.state.db, user).await?;
    // Each step held by a slow provider: recognition (no transcript), translation (the LLM),
    // synthesis (the voice).
    for (name, with_transcript) in [
        ("speech_recognition", false),
        ("translate", true),
        ("generate_audio", true),
    ] {
        match name {
            "speech_recognition" => fake.slow_next("/v1/audio/transcriptions", SLOW),
            // The LLM answers other stages too: only the translation is slow.
            "translate" => fake.spoil_next_chat("translation", ChatFault::Slow(SLOW)),
            _ => fake.slow_next(SPEECH, SLOW),
        }
        let transcript = with_transcript.then_some(sample.transcript.as_str());
        let (status, started) = dub(&app, &token, &video, body(transcript), None).await?;
        assert_eq!(status, 202, "{name}: {started}");
        let id = started["job_id"].as_str().context("job")?.to_string();
        at_step(&app, &token, &id, name).await?;
        let (status, _) = onevoice_tests::flows::cancel(&app, &token, &video).await?;
        assert_eq!(status, 202, "{name}");
        let done = finished_job(&app, &token, &id, DEADLINE).await?;
        assert_eq!(done["status"], "cancelled", "{name}: {done}");
        assert_eq!(step(&done, name)["status"], "cancelled", "{name}: {done}");
        assert_eq!(step(&done, "final_video")["status"], "pending", "{name}");
        assert_eq!(
            ledger::balance(&app.state.db, user).await?,
            before,
            "{name}: the hold was released"
        );
    }
    app.shutdown().await
}

#[tokio::test]
async fn a_dub_resumes_after_a_failure_at_each_later_step_reusing_what_finished()
-> anyhow::Result<()> {
    let (app, fake) = start().await?;
    let (user, token) = app.user("steps-resume@example.com").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "resume-steps.mp4").await?;
    let original = keys::video(user, &video).original("mp4");
    let original_bytes = app.state.storage.get_bytes(&original).await?;
    let resume = |id: String| {
        let (app, token, video) = (&app, &token, &video);
        async move {
            let (status, answer) = onevoice_tests::flows::resume(app, token, video).await?;
            anyhow::ensure!(status == 202, "resume: {}", answer);
            finished_job(app, token, &id, DEADLINE).await
        }
    };

    // Requests the voice answered (refusals aside).
    let spoken = || {
        fake.calls(SPEECH)
            .into_iter()
            .filter(|c| c != "<fault>")
            .count()
    };
    // A refused chunk of several lines is halved and asked again; a single line the model
    // refuses is final: the translation case dubs the first line alone.
    let one_line = onevoice_shared::srt::write(&sample.cues[..1]);
    for failing in ["translate", "generate_audio", "final_video"] {
        let balance = ledger::balance(&app.state.db, user).await?;
        let spoken_before = spoken();
        let (transcript, lines) = match failing {
            "translate" => (one_line.as_str(), 1),
            _ => (sample.transcript.as_str(), sample.cues.len()),
        };
        match failing {
            // The model refuses a line: final for that job.
            "translate" => fake.spoil_next_chat("translation", ChatFault::Refusal),
            // The voice provider refuses our key: final.
            "generate_audio" => fake.fail_next(
                SPEECH,
                401,
                json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
                None,
            ),
            // The video is broken while the voice speaks: the mux (the last step) cannot read it.
            _ => fake.slow_next(SPEECH, SLOW),
        }
        let (status, started) = dub(&app, &token, &video, body(Some(transcript)), None).await?;
        assert_eq!(status, 202, "{failing}: {started}");
        let id = started["job_id"].as_str().context("job")?.to_string();
        if failing == "final_video" {
            at_step(&app, &token, &id, "generate_audio").await?;
            app.state
                .storage
                .put_bytes(&original, b"not a video any more".to_vec(), "video/mp4")
                .await?;
        }
        let failed = finished_job(&app, &token, &id, DEADLINE).await?;
        assert_eq!(failed["status"], "failed", "{failing}: {failed}");
        assert_eq!(
            step(&failed, failing)["status"],
            "failed",
            "{failing}: {failed}"
        );
        assert_eq!(
            ledger::balance(&app.state.db, user).await?,
            balance,
            "{failing}: refunded"
        );
        if failing == "final_video" {
            app.state
                .storage
                .put_bytes(&original, original_bytes.clone(), "video/mp4")
                .await?;
        }

        let (chats, voices) = (fake.calls(CHAT).len(), spoken());
        let done = resume(id.clone()).await?;
        assert_eq!(done["status"], "completed", "{failing}: {done}");
        assert_eq!(done["retry_count"], 1);
        // What had finished was reused: after a failed translation the terminology is not asked
        // again; after a failed synthesis only the missing lines are spoken; after a failed mux
        // nothing is asked of any provider.
        let asked_chat: Vec<String> = fake.calls(CHAT)[chats..].to_vec();
        let asked_voice = spoken() - voices;
        match failing {
            "translate" => assert!(
                !asked_chat.iter().any(|c| c.starts_with("terminology")),
                "{asked_chat:?}"
            ),
            "generate_audio" => assert!(asked_chat.is_empty(), "{asked_chat:?}"),
            _ => {
                assert!(asked_chat.is_empty(), "{asked_chat:?}");
                assert_eq!(asked_voice, 0, "no line spoken again");
            }
        }
        // Across the failed round and the resumed one, every line was spoken exactly once.
        assert_eq!(
            spoken() - spoken_before,
            lines,
            "{failing}: each line spoken once"
        );
        assert_eq!(
            ledger::balance(&app.state.db, user).await?,
            balance - 10,
            "{failing}: charged once"
        );
    }
    app.shutdown().await
}
