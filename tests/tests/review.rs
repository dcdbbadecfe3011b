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

/// Dubs the sample with its transcript into Spanish to the end: the completed job and its id.
async fn dubbed(
    app: &TestApp,
    token: &str,
    video: &str,
    transcript: &str,
) -> anyhow::Result<(Value, String)> {
    let body =
        json!({"target_language": "es", "source_language": "en", "source_transcript": transcript});
    let job = dub_to_end(app, token, video, body, DEADLINE).await?;
    anyhow::ensure!(job["status"] == "completed", "{job}");
    let id = job["id"].as_str().context("id")?.to_string();
    Ok((job, id))
}

/// The job's versions (`versions_path`) once version `n` has stopped processing.
async fn version_ended(
    app: &TestApp,
    token: &str,
    versions_path: &str,
    n: usize,
) -> anyhow::Result<Value> {
    onevoice_tests::harness::eventually(DEADLINE, "the version to end", || async {
        let v = app.get(versions_path, token).await?.expect(200)?;
        let status = &v["versions"][n - 1]["status"];
        Ok((!status.is_null() && status != "processing").then_some(v))
    })
    .await
}

#[tokio::test]
async fn a_finished_dub_serves_its_segments_and_fit_and_takes_valid_edits_only()
-> anyhow::Result<()> {
    let mut app = TestApp::spawn().await?;
    let (_, token) = app.user("review@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "review.mp4").await?;
    let (job, id) = dubbed(&app, &token, &video, &sample.transcript).await?;
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

/// Frames (48 kHz stereo s16 after the 44-byte header) where two mixes differ.
/// `window` widened to the grid of groups the mix holds its sum in: a change re-rounds the
/// whole group it falls in (`engine::held`), so it may show up to a group beyond its samples.
fn held_window((start, end): (u64, u64)) -> (u64, u64) {
    let group = onevoice_activities::audio::engine::held::GROUP as u64;
    (start / group * group, end.div_ceil(group) * group)
}

fn differing_frames(a: &[u8], b: &[u8]) -> Vec<u64> {
    let header = onevoice_activities::audio::engine::wav::HEADER_BYTES as usize;
    a[header..]
        .chunks(4)
        .zip(b[header..].chunks(4))
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i as u64)
        .collect()
}

#[tokio::test]
async fn a_rerender_speaks_only_the_edited_lines_and_charges_them_once() -> anyhow::Result<()> {
    use onevoice_shared::ids::JobId;
    use onevoice_shared::repo::ledger;

    let app = TestApp::spawn().await?;
    let (user, token) = app.user("rerender@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "rerender.mp4").await?;
    let (job, id) = dubbed(&app, &token, &video, &sample.transcript).await?;
    let job_id = JobId(id.parse()?);
    let keys = keys::job(&id);
    let first_video = job["job_result"]["output_key"]
        .as_str()
        .context("output_key")?
        .to_string();
    let first_bytes = app.state.storage.get_bytes(&first_video).await?;
    let clips_before = app.state.storage.list(&keys.clips()).await?.len();
    assert_eq!(clips_before, sample.cues.len());

    // Nothing edited: nothing to re-render.
    let rerender = format!("/api/jobs/{id}/rerender");
    let (status, body) = app.post(&rerender, &token).await?.parts();
    assert_eq!(status, 409, "{body}");

    // Two lines edited; the quote is what is held and then charged.
    let edits = json!({"edits": [
        {"index": 0, "translation": "Hola a todos y bienvenidos."},
        {"index": 2, "translation": "Gracias por mirar este vídeo."},
    ]});
    let (status, body) = patch(&app, &format!("/api/jobs/{id}/segments"), &token, edits).await?;
    assert_eq!(status, 200, "{body}");
    let quote = app
        .get(&format!("/api/jobs/{id}/rerender/quote"), &token)
        .await?
        .expect(200)?;
    let credits = quote["credits"].as_i64().context("credits")?;
    assert!(credits >= 1, "{quote}");
    let before = ledger::balance(&app.state.db, user).await?;

    // Started once, however often it is asked with the same key; another while it runs is a 409.
    let post = |key: Option<&'static str>| {
        let mut req = app.http.post(app.url(&rerender)).bearer_auth(&token);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        async move {
            let res = req.send().await?;
            Ok::<_, anyhow::Error>((res.status().as_u16(), res.json::<Value>().await?))
        }
    };
    let (status, started) = post(Some("edit-1")).await?;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["version"], 2);
    assert_eq!(started["credits"], json!(credits));
    let (status, again) = post(Some("edit-1")).await?;
    assert_eq!(
        (status, again["version"].clone()),
        (202, json!(2)),
        "{again}"
    );
    let (status, other) = post(None).await?;
    assert_eq!(status, 409, "{other}");

    let versions_path = format!("/api/jobs/{id}/versions");
    let versions = version_ended(&app, &token, &versions_path, 2).await?;
    let v2 = &versions["versions"][1];
    assert_eq!(v2["status"], "completed", "{versions}");
    assert_eq!(
        (
            v2["current"].clone(),
            versions["versions"][0]["current"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(v2["changed_lines"], 2);

    // Only the two edited lines were synthesized again.
    let clips_after = app.state.storage.list(&keys.clips()).await?.len();
    assert_eq!(clips_after, clips_before + 2);

    // The new mix differs from the old one only around the edited lines.
    let (one, two) = (keys.render(1), keys.render(2));
    let (a, b) = (
        app.state.storage.get_bytes(&one.mix()).await?,
        app.state.storage.get_bytes(&two.mix()).await?,
    );
    assert_eq!(a.len(), b.len());
    let plans: Vec<Plan> = vec![
        app.state.storage.get_json(&one.timing_plan()).await?,
        app.state.storage.get_json(&two.timing_plan()).await?,
    ];
    let ramp = onevoice_activities::audio::engine::RAMP;
    let windows: Vec<(u64, u64)> = [0usize, 2]
        .iter()
        .map(|&k| {
            let (p, q) = (&plans[0].placements[k], &plans[1].placements[k]);
            held_window((
                p.start.min(q.start).saturating_sub(ramp),
                (p.start + p.placed).max(q.start + q.placed) + ramp,
            ))
        })
        .collect();
    let differing = differing_frames(&a, &b);
    assert!(!differing.is_empty(), "the edits changed nothing");
    for f in &differing {
        assert!(
            windows.iter().any(|(s, e)| (*s..*e).contains(f)),
            "frame {f} changed outside the edited lines' windows {windows:?}"
        );
    }
    for (s, e) in &windows {
        assert!(
            differing.iter().any(|f| (*s..*e).contains(f)),
            "nothing changed in {s}..{e}"
        );
    }

    // One capture per version: the re-render's is the quote; the balance moved by it alone.
    assert_eq!(ledger::captures(&app.state.db, job_id).await?, 2);
    let capture = ledger::rerender_key(job_id, 2, ledger::Kind::Capture);
    assert_eq!(ledger::amount_of(&app.state.db, &capture).await?, -credits);
    assert_eq!(
        ledger::balance(&app.state.db, user).await?,
        before - credits
    );

    // The first version is untouched and still downloads as it was; the new one has its own.
    assert_eq!(
        app.state.storage.get_bytes(&first_video).await?,
        first_bytes
    );
    let v1_url = versions["versions"][0]["files"]["video_url"]
        .as_str()
        .context("v1 url")?;
    assert_eq!(
        app.http.get(v1_url).send().await?.bytes().await?.to_vec(),
        first_bytes
    );
    let v2_url = v2["files"]["video_url"].as_str().context("v2 url")?;
    let v2_bytes = app.http.get(v2_url).send().await?.bytes().await?;
    assert!(v2_bytes.len() > 1000 && v2_bytes.to_vec() != first_bytes);

    // The video's download serves the current version (2), any other on asking.
    let download = |query: &str| {
        let path = format!("/api/videos/{video}/download?{query}");
        let (app, token) = (&app, &token);
        async move {
            let res = app.get(&path, token).await?;
            if res.status != 200 {
                return Ok::<_, anyhow::Error>(Err(res.status.as_u16()));
            }
            let url = res.body["download_url"]
                .as_str()
                .context("url")?
                .to_string();
            Ok(Ok(app.http.get(url).send().await?.bytes().await?.to_vec()))
        }
    };
    assert_eq!(download("").await?, Ok(v2_bytes.to_vec()));
    assert_eq!(download("version=2").await?, Ok(v2_bytes.to_vec()));
    assert_eq!(download("version=1").await?, Ok(first_bytes.clone()));
    let v2_srt = download("file_type=dub_subtitles&version=2")
        .await?
        .ok()
        .context("v2 srt")?;
    assert!(String::from_utf8(v2_srt)?.contains("Hola a todos y bienvenidos."));
    let v2_vtt = download("file_type=dub_subtitles&format=vtt")
        .await?
        .ok()
        .context("v2 vtt")?;
    assert!(String::from_utf8(v2_vtt)?.starts_with("WEBVTT"));
    for (query, status) in [
        ("version=3", 404),
        ("version=0", 422),
        ("version=x", 422),
        ("file_type=original&version=1", 422),
    ] {
        assert_eq!(download(query).await?, Err(status), "{query}");
    }

    // Exports of version 2: made once in the background, then linked.
    let exports = format!("/api/jobs/{id}/versions/2/exports");
    assert_eq!(
        app.get(&exports, &token).await?.status,
        404,
        "none asked yet"
    );
    let asked = app.post(&exports, &token).await?;
    assert!(
        [200, 202].contains(&asked.status.as_u16()),
        "{}",
        asked.body
    );
    let ready = onevoice_tests::harness::eventually(DEADLINE, "exports to be ready", || async {
        let r = app.get(&exports, &token).await?;
        assert!([200, 202].contains(&r.status.as_u16()), "{}", r.body);
        assert_ne!(r.body["status"], "failed", "{}", r.body);
        Ok((r.body["status"] == "ready").then_some(r.body))
    })
    .await?;
    let fetch = |name: &str| {
        let url = ready["files"][name].as_str().map(str::to_string);
        let http = app.http.clone();
        async move {
            let url = url.context("export url")?;
            Ok::<_, anyhow::Error>(http.get(url).send().await?.bytes().await?.to_vec())
        }
    };
    let (mix_wav, voices, background, clips) = (
        fetch("mix_wav_url").await?,
        fetch("voices_url").await?,
        fetch("background_url").await?,
        fetch("clips_url").await?,
    );
    assert_eq!(mix_wav, b, "the mix WAV is version 2's mix");
    assert_eq!((voices.len(), background.len()), (b.len(), b.len()));
    // The voice stem is silent outside the lines' windows; the background is not all silence.
    let header = onevoice_activities::audio::engine::wav::HEADER_BYTES as usize;
    let frame = |wav: &[u8], f: u64| {
        let at = header + f as usize * 4;
        i16::from_le_bytes([wav[at], wav[at + 1]])
    };
    let spoken = |f: u64| {
        plans[1]
            .placements
            .iter()
            .any(|p| (p.start..p.start + p.placed).contains(&f))
    };
    let frames = ((voices.len() - header) / 4) as u64;
    assert!(
        (0..frames)
            .filter(|f| !spoken(*f))
            .all(|f| frame(&voices, f) == 0)
    );
    assert!((0..frames).any(|f| spoken(f) && frame(&voices, f) != 0));
    assert!((0..frames).any(|f| frame(&background, f) != 0));
    // The clips: one WAV per line, and a timing sheet placing each where the plan did.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(clips))?;
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("timing.csv")?, &mut sheet)?;
    let rows: Vec<&str> = sheet.lines().skip(1).collect();
    assert_eq!(rows.len(), plans[1].placements.len(), "{sheet}");
    for (row, p) in rows.iter().zip(&plans[1].placements) {
        let cells: Vec<&str> = row.splitn(9, ',').collect();
        assert_eq!(cells[4].parse::<u64>()?, ms(p.start), "{row}");
        if p.placed > 0 {
            let clip = zip.by_name(cells[1])?;
            assert_eq!(clip.size(), header as u64 + p.placed * 2, "{row}");
        }
    }
    assert!(sheet.contains("\"Hola a todos y bienvenidos.\""), "{sheet}");
    for (path, status) in [
        (format!("/api/jobs/{id}/versions/3/exports"), 404),
        (format!("/api/jobs/{id}/versions/0/exports"), 422),
    ] {
        assert_eq!(app.post(&path, &token).await?.status, status, "{path}");
    }

    // The segments are version 2's: the edits are what it says, nothing left to re-render.
    let segments = app
        .get(&format!("/api/jobs/{id}/segments"), &token)
        .await?
        .expect(200)?;
    assert_eq!(segments["changed"], 0, "{segments}");
    assert_eq!(
        segments["segments"][0]["translation"],
        "Hola a todos y bienvenidos."
    );
    let (status, body) = post(Some("edit-2")).await?;
    assert_eq!(status, 409, "{body}");

    // Version 1 made current again: its lines, and the edits pending against it.
    let current = |v: &str| format!("/api/jobs/{id}/versions/{v}/current");
    app.post(&current("1"), &token).await?.expect(200)?;
    let segments = app
        .get(&format!("/api/jobs/{id}/segments"), &token)
        .await?
        .expect(200)?;
    assert_eq!(segments["changed"], 2, "{segments}");
    assert_eq!(download("").await?, Ok(first_bytes.clone()));
    for (v, status) in [("0", 404), ("3", 404), ("x", 422)] {
        assert_eq!(
            app.post(&current(v), &token).await?.status,
            status,
            "version {v}"
        );
    }

    // Another user finds nothing of it.
    let (_, stranger) = app.user("rerender-stranger@example.test").await?;
    assert_eq!(app.get(&versions_path, &stranger).await?.status, 404);
    assert_eq!(app.post(&rerender, &stranger).await?.status, 404);
    assert_eq!(app.post(&current("2"), &stranger).await?.status, 404);
    assert_eq!(app.get(&exports, &stranger).await?.status, 404);
    assert_eq!(app.post(&exports, &stranger).await?.status, 404);
    assert_eq!(
        ledger::balance(&app.state.db, user).await?,
        before - credits
    );
    app.shutdown().await
}

/// Starts a dub that stops for review and waits until it does: the job id and the job.
async fn dub_to_review(
    app: &TestApp,
    token: &str,
    video: &str,
    transcript: &str,
) -> anyhow::Result<(String, Value)> {
    let body = json!({"target_language": "es", "source_language": "en",
        "source_transcript": transcript, "review": "translation"});
    let (status, started) = dub(app, token, video, body, None).await?;
    anyhow::ensure!(status == 202, "{started}");
    let id = started["job_id"].as_str().context("job")?.to_string();
    let path = format!("/api/jobs/{id}");
    let job = onevoice_tests::harness::eventually(DEADLINE, "the review checkpoint", || async {
        let j = app.get(&path, token).await?.expect(200)?;
        anyhow::ensure!(
            j["status"] == "processing" || j["status"] == "pending",
            "{j}"
        );
        Ok((j["review"]["state"] == "awaiting_approval").then_some(j))
    })
    .await?;
    Ok((id, job))
}

#[tokio::test]
async fn a_review_checkpoint_waits_across_a_worker_restart_and_speaks_the_approved_edits()
-> anyhow::Result<()> {
    use onevoice_shared::contracts::SynthesizedLine;
    use onevoice_shared::ids::JobId;
    use onevoice_shared::repo::ledger;

    let mut app = TestApp::spawn().await?;
    let (user, token) = app.user("reviewer@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "review-checkpoint.mp4").await?;
    let before = ledger::balance(&app.state.db, user).await?;
    let (id, job) = dub_to_review(&app, &token, &video, &sample.transcript).await?;
    assert!(job["review"]["deadline"].is_string(), "{job}");
    let keys = keys::job(&id);
    // Waiting: the credits are held, and nothing is spoken yet.
    let held = ledger::balance(&app.state.db, user).await?;
    assert!(held < before, "the hold covers the whole dub");
    assert!(app.state.storage.list(&keys.clips()).await?.is_empty());

    // The translation is there to read and edit; a bad edit is refused.
    let segments_path = format!("/api/jobs/{id}/segments");
    let segments = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(
        segments["pagination"]["total"],
        json!(sample.cues.len()),
        "{segments}"
    );
    assert!(segments["segments"][0]["spoken_start_ms"].is_null());
    assert!(
        !segments["segments"][0]["translation"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    let edited = "Bienvenidos todos a esta revisión.";
    let edits = json!({"edits": [{"index": 0, "translation": edited}]});
    let (status, body) = patch(&app, &segments_path, &token, edits).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = patch(
        &app,
        &segments_path,
        &token,
        json!({"edits": [{"index": 1, "translation": "  "}]}),
    )
    .await?;
    assert_eq!(
        (status, field(&body)),
        (422, "edits[0].translation".into()),
        "{body}"
    );
    // Not a finished dub: nothing to re-render or export yet.
    assert_eq!(
        app.get(&format!("/api/jobs/{id}/rerender/quote"), &token)
            .await?
            .status,
        409
    );

    // The wait is durable: a new worker takes it over.
    app.stop_worker().await?;
    app.start_worker().await?;

    let approve = format!("/api/jobs/{id}/approve");
    let (_, stranger) = app.user("review-stranger@example.test").await?;
    assert_eq!(app.post(&approve, &stranger).await?.status, 404);
    let approved = app.post(&approve, &token).await?.expect(202)?;
    assert_eq!(approved["changed_lines"], 1, "{approved}");
    assert_eq!(
        app.post(&approve, &token).await?.status,
        409,
        "approved once"
    );

    let done = onevoice_tests::flows::finished_job(&app, &token, &id, DEADLINE).await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["review"]["state"], "approved", "{done}");
    // The edited line is what was spoken and subtitled; nothing is left to re-render.
    let spoken: Vec<SynthesizedLine> = app
        .state
        .storage
        .get_json(&keys.render(1).tts_manifest())
        .await?;
    assert_eq!(spoken[0].text, edited);
    let display = done["job_result"]["translation_srt_key"]
        .as_str()
        .context("translation_srt_key")?;
    let srt = String::from_utf8(app.state.storage.get_bytes(display).await?)?;
    assert!(
        srt.contains("revisión"),
        "the subtitles say the approved text: {srt}"
    );
    let segments = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(segments["changed"], 0, "{segments}");
    assert_eq!(segments["segments"][0]["translation"], edited);
    // Charged once, the held amount.
    let job_id = JobId(id.parse()?);
    assert_eq!(ledger::captures(&app.state.db, job_id).await?, 1);
    assert_eq!(ledger::balance(&app.state.db, user).await?, held);
    app.shutdown().await
}

#[tokio::test]
async fn an_abandoned_review_releases_the_hold_on_timeout_and_on_cancel() -> anyhow::Result<()> {
    use onevoice_shared::repo::ledger;

    let app = TestApp::spawn_with(&[("REVIEW_TIMEOUT_SECS", "6")]).await?;
    let (user, token) = app.user("review-timeout@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "review-timeout.mp4").await?;
    let before = ledger::balance(&app.state.db, user).await?;
    let (id, waiting) = dub_to_review(&app, &token, &video, &sample.transcript).await?;
    let ended = onevoice_tests::flows::finished_job(&app, &token, &id, DEADLINE).await?;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(
        ended["error_message"],
        onevoice_shared::failure::REVIEW_EXPIRED,
        "{ended}"
    );
    assert_eq!(ledger::balance(&app.state.db, user).await?, before);
    assert_eq!(
        app.post(&format!("/api/jobs/{id}/approve"), &token)
            .await?
            .status,
        409
    );
    assert!(
        app.state
            .storage
            .list(&keys::job(&id).clips())
            .await?
            .is_empty()
    );

    // Resumed, it waits for a review again (holding the credits again); cancelled while it
    // waits: cancelled, released.
    let (status, body) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 202, "{body}");
    let path = format!("/api/jobs/{id}");
    onevoice_tests::harness::eventually(DEADLINE, "the review again", || async {
        let j = app.get(&path, &token).await?.expect(200)?;
        let again = j["review"]["deadline"] != waiting["review"]["deadline"];
        Ok((j["status"] == "processing" && again).then_some(()))
    })
    .await?;
    assert!(ledger::balance(&app.state.db, user).await? < before);
    let (status, body) = onevoice_tests::flows::cancel(&app, &token, &video).await?;
    assert!([200, 202].contains(&status), "{body}");
    let ended = onevoice_tests::flows::finished_job(&app, &token, &id, DEADLINE).await?;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ledger::balance(&app.state.db, user).await?, before);
    app.shutdown().await
}

/// The sample's lines in Spanish, as the user would bring them: the sample's timing, new text.
fn own_translation(cues: &[onevoice_shared::srt::Cue]) -> (Vec<String>, String) {
    let texts: Vec<String> = (0..cues.len())
        .map(|k| format!("Mi propia traducción, línea {}.", k + 1))
        .collect();
    let translated: Vec<onevoice_shared::srt::Cue> = cues
        .iter()
        .zip(&texts)
        .map(|(c, text)| onevoice_shared::srt::Cue {
            text: text.clone(),
            speaker: None,
            ..c.clone()
        })
        .collect();
    (texts, onevoice_shared::srt::write(&translated))
}

#[tokio::test]
async fn a_dub_of_the_users_own_translation_speaks_it_as_given() -> anyhow::Result<()> {
    use onevoice_shared::contracts::SynthesizedLine;

    let app = TestApp::spawn().await?;
    let (_, token) = app.user("own-translation@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "own.mp4").await?;
    let (_dir2, _, bare) = sample_video(&app, &token, "own-bare.mp4").await?;
    let (texts, translated) = own_translation(&sample.cues);

    // Hostile and contradictory requests: 422 naming the field, and no job.
    let refused = [
        (
            json!({"translated_transcript": "1\n00:00:02,000 --> 00:00:01,000\nAl revés.\n"}),
            "translated_transcript",
        ),
        (
            json!({"translated_transcript": "no es un SRT"}),
            "translated_transcript",
        ),
        (
            json!({"translated_transcript": translated, "source_language": "auto"}),
            "source_language",
        ),
        (
            json!({"translated_transcript": translated,
                "glossary": [{"source": "OneVoice", "target": "OneVoice"}]}),
            "glossary",
        ),
    ];
    for (extra, name) in refused {
        let mut body = json!({"target_language": "es", "source_language": "en"});
        for (k, v) in extra.as_object().context("object")? {
            body[k] = v.clone();
        }
        let (status, answer) = dub(&app, &token, &video, body, None).await?;
        assert_eq!((status, field(&answer)), (422, name.into()), "{answer}");
    }
    let jobs = app.get("/api/jobs", &token).await?.expect(200)?;
    assert_eq!(jobs["pagination"]["total"], 0, "{jobs}");

    // With the source transcript, and without any source text; both at once.
    let with_source = json!({"target_language": "es", "source_language": "en",
        "source_transcript": sample.transcript, "translated_transcript": translated});
    let alone = json!({"target_language": "es", "source_language": "en",
        "translated_transcript": translated});
    let mut ids = Vec::new();
    for (v, body) in [(&video, with_source), (&bare, alone)] {
        let (status, started) = dub(&app, &token, v, body, None).await?;
        assert_eq!(status, 202, "{started}");
        ids.push(started["job_id"].as_str().context("job")?.to_string());
    }
    for (id, has_source) in ids.iter().zip([true, false]) {
        let done = onevoice_tests::flows::finished_job(&app, &token, id, DEADLINE).await?;
        assert_eq!(done["status"], "completed", "{done}");
        let step = |name: &str| {
            done["job_steps"]
                .as_array()
                .and_then(|s| s.iter().find(|x| x["step_name"] == name))
                .map(|x| x["status"].clone())
                .unwrap_or_default()
        };
        // Nothing translated, split or summarized; recognized only when there was nothing.
        assert_eq!(step("translate"), "completed", "{done}");
        for skipped in ["nlp_split", "meaning_split", "summarize"] {
            assert_eq!(step(skipped), "skipped", "{skipped}: {done}");
        }
        let recognition = if has_source { "completed" } else { "skipped" };
        assert_eq!(step("speech_recognition"), recognition, "{done}");
        assert_eq!(
            done["job_config"]["speech_recognition"],
            if has_source { "transcript" } else { "none" }
        );
        assert_eq!(done["job_config"]["own_translation"], true);

        // Spoken as given, each line in its own cue's time.
        let keys = keys::job(id);
        let spoken: Vec<SynthesizedLine> = app
            .state
            .storage
            .get_json(&keys.render(1).tts_manifest())
            .await?;
        let said: Vec<&str> = spoken.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(said, texts, "{id}");
        for (line, cue) in spoken.iter().zip(&sample.cues) {
            assert_eq!((line.start_ms, line.end_ms), (cue.start_ms, cue.end_ms));
        }
        let display = done["job_result"]["translation_srt_key"]
            .as_str()
            .context("translation_srt_key")?;
        let srt = String::from_utf8(app.state.storage.get_bytes(display).await?)?;
        assert!(srt.contains(&texts[0]), "{srt}");

        // The segments show the user's lines, with the source they translate when known.
        let segments = app
            .get(&format!("/api/jobs/{id}/segments"), &token)
            .await?
            .expect(200)?;
        for (k, line) in segments["segments"]
            .as_array()
            .context("segments")?
            .iter()
            .enumerate()
        {
            assert_eq!(line["translation"], texts[k].as_str(), "{line}");
            let source = if has_source {
                sample.cues[k].text.as_str()
            } else {
                ""
            };
            assert_eq!(line["source_text"], source, "{line}");
            assert_eq!(line["shortened"], false);
        }
    }
    app.shutdown().await
}

#[tokio::test]
async fn a_line_kept_undubbed_plays_the_original_audio_after_a_rerender() -> anyhow::Result<()> {
    use onevoice_shared::contracts::SynthesizedLine;

    let app = TestApp::spawn().await?;
    let (_, token) = app.user("keep-original@example.test").await?;
    let (_dir, sample, video) = sample_video(&app, &token, "keep.mp4").await?;
    let (_, id) = dubbed(&app, &token, &video, &sample.transcript).await?;
    let keys = keys::job(&id);
    let clips_before = app.state.storage.list(&keys.clips()).await?.len();

    let segments_path = format!("/api/jobs/{id}/segments");
    let edit = json!({"edits": [{"index": 1, "keep_original": true}]});
    let (status, body) = patch(&app, &segments_path, &token, edit).await?;
    assert_eq!(status, 200, "{body}");
    let started = app
        .post(&format!("/api/jobs/{id}/rerender"), &token)
        .await?
        .expect(202)?;
    assert_eq!(started["version"], 2, "{started}");
    let versions_path = format!("/api/jobs/{id}/versions");
    let versions = version_ended(&app, &token, &versions_path, 2).await?;
    assert_eq!(versions["versions"][1]["status"], "completed", "{versions}");

    // Nothing was synthesized; the line has no clip and the plan keeps its time.
    assert_eq!(
        app.state.storage.list(&keys.clips()).await?.len(),
        clips_before
    );
    let (one, two) = (keys.render(1), keys.render(2));
    let spoken: Vec<SynthesizedLine> = app.state.storage.get_json(&two.tts_manifest()).await?;
    assert!(spoken[1].keep_original && spoken[1].audio_key.is_empty());
    assert!(!spoken[0].keep_original && !spoken[2].keep_original);
    let plans: Vec<Plan> = vec![
        app.state.storage.get_json(&one.timing_plan()).await?,
        app.state.storage.get_json(&two.timing_plan()).await?,
    ];
    let cue = &sample.cues[1];
    let samples = |ms: u64| ms * u64::from(RATE) / 1000;
    assert_eq!(
        plans[1].kept,
        vec![(samples(cue.start_ms), samples(cue.end_ms))]
    );
    assert_eq!(plans[1].placements[1].placed, 0);

    // The mix changed only around that line: its clip is gone, the original plays there (at
    // full level, so the limiter may still be recovering from it for a moment after).
    let ramp = onevoice_activities::audio::engine::RAMP;
    let recovery = onevoice_activities::audio::engine::limit::Limiter::WARM_UP;
    let p = &plans[0].placements[1];
    let window = held_window((
        p.start.min(samples(cue.start_ms)).saturating_sub(ramp),
        (p.start + p.placed).max(samples(cue.end_ms)) + 2 * ramp + recovery,
    ));
    let (a, b) = (
        app.state.storage.get_bytes(&one.mix()).await?,
        app.state.storage.get_bytes(&two.mix()).await?,
    );
    let differing = differing_frames(&a, &b);
    assert!(
        !differing.is_empty(),
        "keeping the original changed nothing"
    );
    assert!(
        differing.iter().all(|f| (window.0..window.1).contains(f)),
        "changed outside {window:?}: {:?} .. {:?}",
        differing.first(),
        differing.last(),
    );

    // Its encode copied every chunk of the AAC stream whose audio did not change from v1's.
    let sheet: onevoice_activities::audio::engine::encode::EncodeSheet =
        app.state.storage.get_json(&two.encoded_mix().1).await?;
    let header = onevoice_activities::audio::engine::wav::HEADER_BYTES as usize;
    let windows =
        onevoice_activities::audio::engine::encode::chunk_windows(((a.len() - header) / 4) as u64);
    assert_eq!(sheet.chunks.len(), windows.len());
    for (chunk, (from, to)) in sheet.chunks.iter().zip(windows) {
        let changed = differing.iter().any(|f| (from..to).contains(f));
        assert_eq!(chunk.reused, !changed, "chunk {from}..{to}");
    }
    assert!(
        sheet.reused() > 0,
        "the sample spans more than the edit's chunk"
    );

    // The segments say so, with nothing left to re-render.
    let page = app.get(&segments_path, &token).await?.expect(200)?;
    assert_eq!(page["changed"], 0, "{page}");
    assert_eq!(page["segments"][1]["keep_original"], true, "{page}");
    assert_eq!(page["segments"][0]["keep_original"], false);
    app.shutdown().await
}
