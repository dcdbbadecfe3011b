//! Review of a finished dub through the real REST API: its segments (every line with its timing
//! as planned and as heard), the fit report, and edits of lines, valid and hostile.

use anyhow::Context;
use onevoice_activities::audio::RATE;
use onevoice_activities::audio::engine::plan::Plan;
use onevoice_shared::pipeline::rerender_cost;
use onevoice_tests::flows::{dub, dub_to_end, sample_video};
use onevoice_tests::harness::TestApp;
use onevoice_tests::keys;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(180);

fn ms(samples: u64) -> u64 {
    samples * 1000 / u64::from(RATE)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let (status, body) = app
        .call(Method::PATCH, path, Some(token), Some(&body))
        .await?
        .parts();
    Ok((status.as_u16(), body))
}

/// The field a 422 names.
fn field(body: &Value) -> String {
    body["details"]["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_finished_dub_serves_its_segments_and_fit_and_takes_valid_edits_only()
-> anyhow::Result<()> {
    let mut app = TestApp::spawn().await?;
    let (_, token) = app.user("review@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "review.mp4").await?;
    let job = dub_to_end(
        &app,
        &token,
        &video,
        json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript}),
        DEADLINE,
    )
    .await?;
    assert_eq!(job["status"], "completed", "{job}");
    let id = job["id"].as_str().context("id")?.to_string();
    let segments_path = format!("/api/jobs/{id}/segments");

    // Every line, with what the stored plan says of it.
    let page = app.get(&segments_path, &token).await?.expect(200)?;
    let lines = page["segments"].as_array().context("segments")?.clone();
    assert_eq!(lines.len(), sample.cues.len(), "{page}");
    assert_eq!(u(&page["pagination"]["total"]), lines.len() as u64);
    assert_eq!(job["job_result"]["lines"], json!(lines.len()));
    assert_eq!(page["changed"], 0);
    let plan: Plan = app
        .state
        .storage
        .get_json(&keys::job(&id).render(1).timing_plan())
        .await?;
    for (k, (line, cue)) in lines.iter().zip(&sample.cues).enumerate() {
        let p = &plan.placements[k];
        assert_eq!(line["index"], json!(k));
        assert_eq!(line["source_text"], cue.text.as_str(), "{line}");
        assert!(!line["translation"].as_str().unwrap_or("").trim().is_empty());
        assert_ne!(line["translation"], line["source_text"], "{line}");
        assert_eq!(
            (u(&line["start_ms"]), u(&line["end_ms"])),
            (cue.start_ms, cue.end_ms)
        );
        assert_eq!(u(&line["planned_start_ms"]), ms(p.start), "{line}");
        assert_eq!(u(&line["planned_end_ms"]), ms(p.start + p.stretched));
        assert_eq!(u(&line["spoken_start_ms"]), ms(p.start));
        assert_eq!(u(&line["spoken_end_ms"]), ms(p.start + p.placed));
        assert_eq!(u(&line["natural_ms"]), ms(p.natural));
        assert_eq!(line["speed"].as_f64(), Some(p.speed));
        assert_eq!(u(&line["overrun_ms"]), ms(p.overrun()));
        assert!(
            line["voice_id"].as_str().is_some_and(|v| !v.is_empty()),
            "{line}"
        );
        assert_eq!(line["shortened"], false, "Apertium shortens nothing");
        assert_eq!(line["edit"], Value::Null);
    }
    // Pages.
    let second = app
        .get(&format!("{segments_path}?limit=1&offset=1"), &token)
        .await?
        .expect(200)?;
    assert_eq!(second["segments"][0]["index"], 1);
    assert_eq!(second["pagination"]["count"], 1);
    let past = app
        .get(&format!("{segments_path}?offset=99"), &token)
        .await?
        .expect(200)?;
    assert_eq!(past["segments"], json!([]));
    for query in ["limit=0", "limit=501", "offset=-1", "limit=x"] {
        let (status, body) = app
            .get(&format!("{segments_path}?{query}"), &token)
            .await?
            .parts();
        assert_eq!(status, 422, "{query}: {body}");
    }

    // The fit report agrees with the lines and the job's result.
    let fit = app
        .get(&format!("/api/jobs/{id}/fit"), &token)
        .await?
        .expect(200)?;
    assert_eq!(u(&fit["lines"]), lines.len() as u64);
    let unfit = job["job_result"]["unfit_lines"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(u(&fit["overruns"]), unfit as u64, "{fit}");
    let sped = lines
        .iter()
        .filter(|l| l["speed"].as_f64() > Some(1.0))
        .count();
    assert_eq!(u(&fit["stretched"]), sped as u64);
    assert!(u(&fit["within_slot"]) <= lines.len() as u64);
    for worst in fit["worst"].as_array().context("worst")? {
        let k = u(&worst["index"]) as usize;
        assert_eq!(worst["translation"], lines[k]["translation"]);
    }

    // Nothing edited: nothing to re-render, nothing to pay.
    let quote_path = format!("/api/jobs/{id}/rerender/quote");
    let quote = app.get(&quote_path, &token).await?.expect(200)?;
    assert_eq!(
        (quote["changed_lines"].clone(), quote["credits"].clone()),
        (json!(0), json!(0))
    );

    // An edit of the first line's text: a first revision, the line as rendered unchanged.
    let first = format!("{segments_path}/0");
    let (status, edited) = patch(
        &app,
        &first,
        &token,
        json!({"translation": "Hola a todos."}),
    )
    .await?;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["edit"]["revision"], 1);
    assert_eq!(edited["edit"]["translation"], "Hola a todos.");
    assert_eq!(edited["edit"]["voice_id"], lines[0]["voice_id"]);
    assert_eq!(edited["translation"], lines[0]["translation"]);
    assert_eq!(edited["changed"], true);
    // The same edit again adds nothing; another one is a second revision, the first kept.
    let (_, again) = patch(
        &app,
        &first,
        &token,
        json!({"translation": "Hola a todos."}),
    )
    .await?;
    assert_eq!(again["edit"]["revision"], 1);
    let (_, second) = patch(
        &app,
        &first,
        &token,
        json!({"translation": "¡Hola!", "keep_original": false}),
    )
    .await?;
    assert_eq!(second["edit"]["revision"], 2);
    let history =
        onevoice_shared::repo::segment_edits::history(&app.state.db, id.parse()?, 0).await?;
    let texts: Vec<&str> = history
        .iter()
        .map(|r| r.state.translation.as_str())
        .collect();
    assert_eq!(texts, ["Hola a todos.", "¡Hola!"]);
    // Back to what was rendered: a revision, and nothing left to re-render.
    let (_, back) = patch(
        &app,
        &first,
        &token,
        json!({"translation": lines[0]["translation"]}),
    )
    .await?;
    assert_eq!(back["changed"], false, "{back}");

    // A batch moves two neighbours together: line 1 ends later where line 2 now starts. Alone,
    // the same end would run into line 2 and is refused.
    let (a, b) = (&lines[1], &lines[2]);
    let moved = u(&b["start_ms"]) + 300;
    let (status, alone) = patch(
        &app,
        &format!("{segments_path}/1"),
        &token,
        json!({"end_ms": moved}),
    )
    .await?;
    assert_eq!((status, field(&alone).as_str()), (422, "end_ms"), "{alone}");
    let batch = json!({"edits": [
        {"index": 1, "end_ms": moved, "translation": "Este vídeo se dobló solo."},
        {"index": 2, "start_ms": moved, "keep_original": true},
    ]});
    let (status, both) = patch(&app, &segments_path, &token, batch).await?;
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["segments"][0]["edit"]["end_ms"], json!(moved));
    assert_eq!(both["segments"][0]["edit"]["start_ms"], a["start_ms"]);
    assert_eq!(both["segments"][1]["edit"]["keep_original"], true);
    let page = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(page["changed"], 2, "{page}");
    // The quote charges those two lines' time (each its longer span), at least one credit.
    let quote = app.get(&quote_path, &token).await?.expect(200)?;
    let span = |l: &Value| u(&l["end_ms"]) - u(&l["start_ms"]);
    let changed_ms = span(a).max(moved - u(&a["start_ms"])) + span(b).max(u(&b["end_ms"]) - moved);
    assert_eq!(
        (u(&quote["changed_lines"]), u(&quote["changed_ms"])),
        (2, changed_ms),
        "{quote}"
    );
    let per_minute = app.state.settings.credits.cost_per_minute;
    assert_eq!(
        quote["credits"],
        json!(rerender_cost(changed_ms, per_minute))
    );
    assert_eq!(quote["sufficient"], true);
    // The rendered lines themselves are untouched.
    assert_eq!(page["segments"][1]["end_ms"], a["end_ms"]);

    // Hostile and broken edits: 422 naming the field, 404 for a line that is not there;
    // nothing is recorded by any of them.
    let end = u(&b["end_ms"]);
    for (path, body, status, expected) in [
        (
            first.clone(),
            json!({"translation": "   "}),
            422,
            "translation",
        ),
        (
            first.clone(),
            json!({"translation": "x".repeat(1001)}),
            422,
            "translation",
        ),
        (
            first.clone(),
            json!({"translation": "a\u{0}b"}),
            422,
            "translation",
        ),
        (
            first.clone(),
            json!({"voice_id": "no-such-voice"}),
            422,
            "voice_id",
        ),
        (
            first.clone(),
            json!({"voice_id": "openai-alloy"}),
            422,
            "voice_id",
        ),
        (first.clone(), json!({}), 422, "body"),
        (first.clone(), json!({"start_ms": -5}), 422, "start_ms"),
        (first.clone(), json!({"end_ms": "soon"}), 422, "end_ms"),
        (
            first.clone(),
            json!({"keep_original": "yes"}),
            422,
            "keep_original",
        ),
        (
            first.clone(),
            json!({"start_ms": 0, "end_ms": 100}),
            422,
            "end_ms",
        ),
        (
            format!("{segments_path}/2"),
            json!({"end_ms": 60_000}),
            422,
            "end_ms",
        ),
        (
            format!("{segments_path}/2"),
            json!({"start_ms": end, "end_ms": end - 50}),
            422,
            "end_ms",
        ),
        (
            format!("{segments_path}/1"),
            json!({"start_ms": 0}),
            422,
            "start_ms",
        ),
        (
            format!("{segments_path}/3"),
            json!({"translation": "x"}),
            404,
            "",
        ),
        (
            format!("{segments_path}/-1"),
            json!({"translation": "x"}),
            422,
            "index",
        ),
        (segments_path.clone(), json!({"edits": []}), 422, "edits"),
        (
            segments_path.clone(),
            json!({"edits": [{"index": 0, "translation": "a"}, {"index": 0, "translation": "b"}]}),
            422,
            "edits[1].index",
        ),
        (
            segments_path.clone(),
            json!({"edits": [{"index": 7, "translation": "a"}]}),
            422,
            "edits[0].index",
        ),
        (
            segments_path.clone(),
            json!({"edits": [{"index": 0}]}),
            422,
            "edits[0]",
        ),
        (
            segments_path.clone(),
            json!({"edits": [{"index": 0, "translation": "ok"}, {"index": 1, "voice_id": "nope"}]}),
            422,
            "edits[1].voice_id",
        ),
    ] {
        let (got, answer) = patch(&app, &path, &token, body.clone()).await?;
        assert_eq!(got, status, "{path} {body}: {answer}");
        if status == 422 {
            assert_eq!(field(&answer), expected, "{body}: {answer}");
        }
        let text = answer.to_string();
        assert!(
            !text.contains("/tmp") && !text.contains("segment_edits"),
            "{text}"
        );
    }
    let after = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(
        after["segments"], page["segments"],
        "a refused edit changed something"
    );

    // Another user finds nothing of this job.
    let (_, stranger) = app.user("review-stranger@example.test").await?;
    for path in [
        segments_path.clone(),
        format!("/api/jobs/{id}/fit"),
        quote_path.clone(),
    ] {
        assert_eq!(app.get(&path, &stranger).await?.status, 404, "{path}");
    }
    let (status, _) = patch(&app, &first, &stranger, json!({"translation": "mine"})).await?;
    assert_eq!(status, 404);
    let (status, _) = patch(
        &app,
        &segments_path,
        &stranger,
        json!({"edits": [{"index": 0, "translation": "mine"}]}),
    )
    .await?;
    assert_eq!(status, 404);
    let mine = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(mine["segments"], page["segments"]);

    // A job that has not finished has no lines to review yet (no worker: it stays pending).
    app.stop_worker().await?;
    let (status, started) = dub(&app, &token, &video, json!({"target_language": "fr", "source_language": "en", "source_transcript": sample.transcript}), None).await?;
    assert_eq!(status, 202, "{started}");
    let pending = started["job_id"].as_str().context("job_id")?;
    for path in [
        format!("/api/jobs/{pending}/segments"),
        format!("/api/jobs/{pending}/fit"),
    ] {
        let (status, body) = app.get(&path, &token).await?.parts();
        assert_eq!(status, 409, "{path}: {body}");
    }
    let (status, body) = patch(
        &app,
        &format!("/api/jobs/{pending}/segments/0"),
        &token,
        json!({"translation": "x"}),
    )
    .await?;
    assert_eq!(status, 409, "{body}");
    app.shutdown().await
}
