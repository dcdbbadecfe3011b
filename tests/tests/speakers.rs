//! Speakers: a video with two people gets two voices. A generated conversation (a low male and a
//! high female espeak-ng voice, taking turns and once talking over each other) is recognized by
//! fakes of the diarizing recognizers (they tell speakers apart by the pitch of what they hear),
//! or comes with a transcript naming its speakers; the job lists its speakers as measured from
//! the audio, gives each a voice of their own, and the dub sounds like two people.

use anyhow::Context;
use onevoice_activities::audio::engine::plan::Plan;
use onevoice_activities::audio::pitch;
use onevoice_shared::contracts::SynthesizedLine;
use onevoice_shared::srt;
use onevoice_tests::flows::{download, dub, dub_to_end, ready_video, stored_audio};
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::history::{History, scheduled_together, workers};
use onevoice_tests::keys;
use onevoice_tests::media::{self, MEASURE_RATE};
use onevoice_tests::sample::{self, DIALOGUE_NAMES};
use onevoice_tests::tts::{DIARIZE_MODEL, FakeTts};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(180);

async fn start(extra: &[(&'static str, &str)]) -> anyhow::Result<(TestApp, FakeTts)> {
    let fake = FakeTts::start().await?;
    let mut settings = fake.settings();
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Ok((TestApp::spawn_with(&settings).await?, fake))
}

/// The dialogue sample, uploaded: (its scratch directory, the sample, the video id).
async fn dialogue(
    app: &TestApp,
    token: &str,
) -> anyhow::Result<(tempfile::TempDir, sample::Sample, String)> {
    let dir = tempfile::tempdir()?;
    let sample = sample::make_dialogue(dir.path()).await?;
    let bytes = tokio::fs::read(&sample.video).await?;
    let video = ready_video(app, token, "dialogue.mp4", bytes).await?;
    Ok((dir, sample, video))
}

/// The job's speakers by label: (gender, voice, pitch).
fn speakers(job: &Value) -> anyhow::Result<BTreeMap<String, (String, String, f64)>> {
    job["speakers"]
        .as_array()
        .context("speakers")?
        .iter()
        .map(|s| {
            Ok((
                s["label"].as_str().context("label")?.to_string(),
                (
                    s["gender"].as_str().unwrap_or("unknown").to_string(),
                    s["voice_id"].as_str().context("voice_id")?.to_string(),
                    s["pitch_hz"].as_f64().unwrap_or(0.0),
                ),
            ))
        })
        .collect()
}

/// Two speakers, a male and a female one, each with a voice of their own.
fn assert_two_voices(job: &Value) -> anyhow::Result<BTreeMap<String, (String, String, f64)>> {
    let found = speakers(job)?;
    assert_eq!(found.len(), 2, "two speakers: {job}");
    let genders: Vec<&str> = found.values().map(|(g, _, _)| g.as_str()).collect();
    assert!(
        genders.contains(&"male") && genders.contains(&"female"),
        "{found:?}"
    );
    let voices: std::collections::BTreeSet<&str> =
        found.values().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(
        voices.len(),
        2,
        "never the same voice for two speakers: {found:?}"
    );
    for (gender, _, hz) in found.values() {
        // The sample's voices: about 95 Hz and 240 Hz.
        let range = if gender == "male" {
            70.0..150.0
        } else {
            190.0..300.0
        };
        assert!(range.contains(hz), "{gender} voice measured at {hz} Hz");
    }
    Ok(found)
}

/// The job's synthesized lines (the manifest the voices step wrote).
async fn manifest(app: &TestApp, job: &str) -> anyhow::Result<Vec<SynthesizedLine>> {
    Ok(app
        .state
        .storage
        .get_json(&keys::job(job).render(1).tts_manifest())
        .await?)
}

/// The job's recognized lines, each with the median pitch of the source audio under it.
async fn recognized_lines(
    app: &TestApp,
    job_id: &str,
) -> anyhow::Result<Vec<(srt::Cue, Option<f64>)>> {
    let keys = keys::job(job_id);
    let cues: Vec<srt::Cue> = app
        .state
        .storage
        .get_json(&keys.text_json("source_cues"))
        .await?;
    let audio = stored_audio(app, &keys.source_audio(), false).await?;
    let at = |ms: u64| ((ms * u64::from(MEASURE_RATE) / 1000) as usize).min(audio.len());
    Ok(cues
        .into_iter()
        .map(|c| {
            let hz = pitch::median_hz(&audio[at(c.start_ms)..at(c.end_ms)], MEASURE_RATE);
            (c, hz)
        })
        .collect())
}

/// Every line is spoken by its speaker's voice, and both speakers have lines.
fn assert_lines_follow_speakers(
    lines: &[SynthesizedLine],
    found: &BTreeMap<String, (String, String, f64)>,
) {
    for line in lines {
        let speaker = line.speaker.as_deref().unwrap_or("nobody");
        let (_, voice, _) = found
            .get(speaker)
            .unwrap_or_else(|| panic!("{line:?} is spoken by someone found: {lines:#?}"));
        assert_eq!(line.voice_id.as_deref(), Some(voice.as_str()), "{line:?}");
    }
    for label in found.keys() {
        assert!(
            lines.iter().any(|l| l.speaker.as_deref() == Some(label)),
            "{label} has lines: {lines:?}"
        );
    }
}

#[tokio::test]
async fn scribe_finds_two_speakers_and_each_is_dubbed_in_a_voice_of_their_gender()
-> anyhow::Result<()> {
    let (app, _fake) = start(&[("ASR_PROVIDER", "elevenlabs")]).await?;
    let (_, token) = app.user("speakers-scribe@example.test").await?;
    let (dir, _sample, video) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en",
        "voice_id": "espeak-es-m", "preserve_background_music": false});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    let found = assert_two_voices(&job)?;
    // The male speaker talks most and keeps the job's voice; the female one gets the
    // catalogue's female voice of the same provider.
    let by_gender: BTreeMap<&str, &str> = found
        .values()
        .map(|(g, v, _)| (g.as_str(), v.as_str()))
        .collect();
    assert_eq!(by_gender["male"], "espeak-es-m", "{found:?}");
    assert_eq!(by_gender["female"], "espeak-es-f", "{found:?}");
    let steps = job["job_steps"].as_array().context("steps")?;
    let step = steps
        .iter()
        .find(|s| s["step_name"] == "extract_reference_audio")
        .context("step")?;
    assert_eq!(step["status"], "completed", "{step}");

    // Each speaker's sample clip is the speaker alone: its pitch is theirs.
    for s in job["speakers"].as_array().context("speakers")? {
        let url = s["sample_url"].as_str().context("sample_url")?;
        let wav = app
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let path = dir
            .path()
            .join(format!("{}.wav", s["id"].as_str().unwrap_or("s")));
        tokio::fs::write(&path, &wav).await?;
        let clip = media::decode_audio(&path).await?;
        let hz = pitch::median_hz(&clip, MEASURE_RATE).context("a voiced clip")?;
        let measured = s["pitch_hz"].as_f64().unwrap_or(0.0);
        assert!(
            (hz - measured).abs() < measured * 0.15,
            "clip {hz} Hz vs {s}"
        );
    }

    // Every line went to its speaker's voice, and the dub sounds like a man and a woman.
    let job_id = job["id"].as_str().context("id")?;
    let lines = manifest(&app, job_id).await?;
    assert_lines_follow_speakers(&lines, &found);
    // The fit report, per speaker: their voice, lines, speed-ups and overruns.
    let fit = job["job_result"]["speaker_fit"]
        .as_array()
        .context("speaker_fit")?;
    assert_eq!(fit.len(), 2, "{fit:?}");
    for f in fit {
        let label = f["speaker"].as_str().context("speaker")?;
        assert_eq!(f["voice_id"].as_str(), Some(found[label].1.as_str()), "{f}");
        let theirs = lines
            .iter()
            .filter(|l| l.speaker.as_deref() == Some(label))
            .count();
        assert_eq!(f["lines"].as_u64(), Some(theirs as u64), "{f}");
        let max = f["max_speed"].as_f64().context("max_speed")?;
        assert!((1.0..=1.4).contains(&max), "{f}");
        assert!(f["overrun_ms"].is_u64() && f["stretched"].is_u64(), "{f}");
    }
    let audio = download(&app, &token, &video, "file_type=dubbed_audio&language=es").await?;
    let audio_path = dir.path().join("dub.m4a");
    tokio::fs::write(&audio_path, audio).await?;
    let dubbed = media::decode_audio(&audio_path).await?;
    let srt_bytes = download(&app, &token, &video, "file_type=dub_subtitles&language=es").await?;
    let spoken = srt::parse(&String::from_utf8(srt_bytes)?)?;
    assert_eq!(spoken.len(), lines.len(), "every line is placed");
    let mut per_voice: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (cue, line) in spoken.iter().zip(&lines) {
        let at = |ms: u64| (ms * u64::from(MEASURE_RATE) / 1000) as usize;
        let part = &dubbed[at(cue.start_ms).min(dubbed.len())..at(cue.end_ms).min(dubbed.len())];
        per_voice
            .entry(line.voice_id.clone().unwrap_or_default())
            .or_default()
            .extend(pitch::track(part, MEASURE_RATE));
    }
    let male =
        pitch::median(per_voice.remove("espeak-es-m").unwrap_or_default()).context("male")?;
    let female =
        pitch::median(per_voice.remove("espeak-es-f").unwrap_or_default()).context("female")?;
    println!("dubbed voices: male {male:.0} Hz, female {female:.0} Hz");
    assert!(
        female - male > 40.0,
        "the dubbed voices differ: male {male:.0} Hz, female {female:.0} Hz"
    );
    app.shutdown().await
}

#[tokio::test]
async fn openais_diarizing_model_names_speakers_and_each_gets_an_openai_voice() -> anyhow::Result<()>
{
    let (app, fake) = start(&[
        ("ASR_PROVIDER", "openai"),
        ("OPENAI_ASR_MODEL", DIARIZE_MODEL),
    ])
    .await?;
    let (_, token) = app.user("speakers-openai@example.test").await?;
    let (_dir, _sample, video) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en", "voice_id": "openai-onyx"});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(fake.calls("/v1/audio/transcriptions"), [DIARIZE_MODEL]);
    let found = assert_two_voices(&job)?;
    let labels: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(labels, ["A", "B"], "the provider's labels");
    for (gender, voice, _) in found.values() {
        let expected = if gender == "male" {
            "openai-onyx"
        } else {
            "openai-coral"
        };
        assert_eq!(voice, expected, "{found:?}");
    }
    // The synthesis requests: each line asked for its speaker's voice.
    let lines = manifest(&app, job["id"].as_str().context("id")?).await?;
    assert_lines_follow_speakers(&lines, &found);
    let spoken = fake.spoken();
    for line in &lines {
        let voice = line
            .voice_id
            .as_deref()
            .unwrap_or("")
            .trim_start_matches("openai-");
        assert!(
            spoken.iter().any(|(v, t)| v == voice && *t == line.text),
            "`{}` was asked of {voice}: {spoken:?}",
            line.text
        );
    }
    app.shutdown().await
}

#[tokio::test]
async fn speakers_named_by_the_transcript_take_the_voices_asked_for() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, token) = app.user("speakers-named@example.test").await?;
    let (_dir, sample, video) = dialogue(&app, &token).await?;
    // The transcript as WebVTT with voice spans.
    let mut vtt = String::from("WEBVTT\n\n");
    for cue in &sample.cues {
        let ts = |ms: u64| {
            format!(
                "00:{:02}:{:02}.{:03}",
                ms / 60_000,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        vtt.push_str(&format!(
            "{} --> {}\n<v {}>{}</v>\n\n",
            ts(cue.start_ms),
            ts(cue.end_ms),
            cue.speaker.as_deref().unwrap_or(""),
            cue.text
        ));
    }
    let [kim, ana] = DIALOGUE_NAMES;
    let request = |voices: Value| {
        json!({"target_language": "es", "source_language": "en", "source_transcript": vtt,
            "voice_id": "espeak-es-f", "voices": voices})
    };

    // Hostile and mistaken requests: a clear 422 naming the field, and no job.
    let jobs_before = app.get("/api/jobs", &token).await?.body["pagination"]["total"].clone();
    let many: serde_json::Map<String, Value> = (0..40)
        .map(|n| (format!("P{n}"), json!("espeak-es-m")))
        .collect();
    for (body, field) in [
        (request(json!({"Nobody": "espeak-es-m"})), "voices.Nobody"),
        (request(json!({ana: "espeak-fr-f"})), "voices.Ana"),
        (request(json!({ana: "espeak-es-m\u{0}"})), "voices"),
        (request(json!({" ": "espeak-es-m"})), "voices"),
        (request(Value::Object(many)), "voices"),
        (
            json!({"target_language": "es", "source_language": "en", "voices": {kim: "espeak-es-m"}}),
            "voices",
        ),
    ] {
        let (status, refused) = dub(&app, &token, &video, body, None).await?;
        assert_eq!(status, 422, "{refused}");
        assert!(refused.to_string().contains(field), "{field}: {refused}");
    }
    let jobs_after = app.get("/api/jobs", &token).await?.body["pagination"]["total"].clone();
    assert_eq!(jobs_before, jobs_after, "nothing was started");

    // Ana gets the voice asked for. It is also the job's voice, which would have gone to the
    // main speaker: Kim gets the catalogue's voice matching him instead.
    let body = request(json!({ana: "espeak-es-f"}));
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    let found = assert_two_voices(&job)?;
    assert_eq!(found[ana].1, "espeak-es-f", "{found:?}");
    assert_eq!(found[kim].1, "espeak-es-m", "{found:?}");
    assert_eq!(found[kim].0, "male", "{found:?}");
    let job_id = job["id"].as_str().context("id")?;
    let lines = manifest(&app, job_id).await?;
    assert_lines_follow_speakers(&lines, &found);

    // Ana cuts in before Kim's third line ends: each is planned on their own speaker's track,
    // so Kim's line keeps the room after its slot (as a line followed by silence does) instead
    // of being squeezed into it, neither is cut, and they overlap in the dub as in the video.
    let plan: Plan = app
        .state
        .storage
        .get_json(&keys::job(job_id).render(1).timing_plan())
        .await?;
    let (his, hers) = (&plan.placements[2], &plan.placements[3]);
    assert_eq!(lines[2].speaker.as_deref(), Some(kim));
    assert_eq!(lines[3].speaker.as_deref(), Some(ana));
    assert!(lines[3].start_ms < lines[2].end_ms, "the sample overlaps");
    assert!(
        his.window > his.slot,
        "Kim's line is not held to its slot: {his:?}"
    );
    assert_eq!((his.overrun(), hers.overrun()), (0, 0), "{his:?} {hers:?}");
    assert!(
        hers.start < his.start + his.placed,
        "both play at once: {his:?} {hers:?}"
    );
    assert!(job["job_result"]["unfit_lines"] == json!([]), "{job}");
    app.shutdown().await
}

#[tokio::test]
async fn a_speaker_keeps_their_label_across_recognition_chunks() -> anyhow::Result<()> {
    // Chunks of 4 s: the second one starts with the woman, whom Scribe then calls `speaker_0`.
    // Two workers of one activity at a time each: the chunks are heard by both.
    let one_at_a_time = ("WORKER_MAX_CONCURRENT_ACTIVITIES", "1");
    let (app, fake) = start(&[
        ("ASR_PROVIDER", "elevenlabs"),
        ("ASR_CHUNK_SECS", "4"),
        one_at_a_time,
    ])
    .await?;
    let _second = app
        .worker_command()?
        .envs(fake.settings())
        .envs([
            ("ASR_PROVIDER", "elevenlabs"),
            ("ASR_CHUNK_SECS", "4"),
            one_at_a_time,
        ])
        .spawn()?;
    let (_, token) = app.user("speakers-chunks@example.test").await?;
    let (_dir, _sample, video) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en", "voice_id": "espeak-es-m"});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(
        fake.calls("/v1/speech-to-text").len() >= 3,
        "several chunks"
    );
    let job_id = job["id"].as_str().context("id")?;
    let history = History::parse(&app.history(&format!("dub-{job_id}")).await?)?;
    let chunks = history.runs("speech.recognize_chunk");
    assert!(chunks.len() >= 3, "a chunk an activity: {}", chunks.len());
    assert_eq!(history.runs("speech.join_transcript").len(), 1);
    assert!(
        scheduled_together(&chunks),
        "chunks heard one after another"
    );
    let workers = workers(&chunks);
    assert_eq!(workers.len(), 2, "both workers hear chunks: {workers:?}");
    assert_two_voices(&job)?;
    // Every recognized line of a speaker is in that speaker's voice.
    let mut heard: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (cue, hz) in recognized_lines(&app, job_id).await? {
        if let Some(hz) = hz {
            heard
                .entry(cue.speaker.unwrap_or_default())
                .or_default()
                .push(hz);
        }
    }
    assert_eq!(heard.len(), 2, "{heard:?}");
    for (speaker, pitches) in &heard {
        let (low, high) = pitches
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), p| (l.min(*p), h.max(*p)));
        assert!(
            high < low * 1.5,
            "{speaker} speaks in one voice: {pitches:?}"
        );
    }
    app.shutdown().await
}

/// A consent attestation as a request carries it.
fn consent() -> Value {
    json!({"confirmed": true, "name": "Dana Producer"})
}

/// Polls the fake until the voices with `ids` are deleted there.
async fn deleted_at_fake(fake: &FakeTts, ids: &[String]) -> anyhow::Result<()> {
    eventually(DEADLINE, "the clones deleted at the provider", || async {
        let clones = fake.clones();
        Ok(ids
            .iter()
            .all(|id| clones.iter().any(|c| &c.id == id && c.deleted))
            .then_some(()))
    })
    .await
}

#[tokio::test]
async fn cloning_with_consent_makes_one_voice_per_speaker_and_deletes_them_in_time()
-> anyhow::Result<()> {
    let (app, fake) = start(&[
        ("ASR_PROVIDER", "elevenlabs"),
        ("CLONE_MIN_SECS", "1"),
        ("MAINTENANCE_INTERVAL_SECS", "1"),
    ])
    .await?;
    let (_, token) = app.user("speakers-clone@example.test").await?;
    let (dir, _sample, video) = dialogue(&app, &token).await?;
    let voice = "elevenlabs-21m00Tcm4TlvDq8ikWAM";
    let request = |extra: Value| {
        let mut body = json!({"target_language": "es", "source_language": "en",
            "voice_id": voice, "preserve_background_music": false});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };

    // No consent, a consent not confirmed or not signed, a consent without cloning, a recognizer
    // that cannot tell speakers apart: a 422 naming the field, and no job.
    let jobs_before = app.get("/api/jobs", &token).await?.body["pagination"]["total"].clone();
    for (extra, field) in [
        (json!({"clone_voices": true}), "voice_consent"),
        (
            json!({"clone_voices": true, "voice_consent": {"confirmed": false, "name": "Dana"}}),
            "voice_consent.confirmed",
        ),
        (
            json!({"clone_voices": true, "voice_consent": {"confirmed": true, "name": " "}}),
            "voice_consent.name",
        ),
        (
            json!({"clone_voices": true, "voice_consent": {"confirmed": true}}),
            "voice_consent",
        ),
        (json!({"voice_consent": consent()}), "voice_consent"),
        (
            json!({"clone_voices": true, "voice_consent": consent(), "asr_provider": "whisperx"}),
            "clone_voices",
        ),
    ] {
        let (status, refused) = dub(&app, &token, &video, request(extra.clone()), None).await?;
        assert_eq!(status, 422, "{extra}: {refused}");
        assert!(refused.to_string().contains(field), "{field}: {refused}");
    }
    let jobs_after = app.get("/api/jobs", &token).await?.body["pagination"]["total"].clone();
    assert_eq!(jobs_before, jobs_after, "nothing was started");
    assert!(fake.clones().is_empty());

    let body = request(json!({"clone_voices": true, "voice_consent": consent()}));
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    let job_id = job["id"].as_str().context("id")?;

    // The consent is on record: who, when, from where, for which video.
    let (signed_by, ip, for_video): (String, Option<String>, uuid::Uuid) = sqlx::query_as(
        "SELECT signed_by, host(ip), video_id FROM voice_consents WHERE job_id = $1::uuid",
    )
    .bind(job_id)
    .fetch_one(&app.state.db)
    .await?;
    assert_eq!(signed_by, "Dana Producer");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(for_video.to_string(), video);

    // One voice per speaker, made from that speaker alone: its pitch is theirs.
    let found = assert_two_voices(&job)?;
    let clones = fake.clones();
    assert_eq!(clones.len(), 2, "{clones:?}");
    for s in job["speakers"].as_array().context("speakers")? {
        assert_eq!(s["cloned"], true, "{s}");
        let id = s["voice_id"]
            .as_str()
            .and_then(|v| v.strip_prefix("elevenlabs-"))
            .context("an ElevenLabs voice")?;
        let clone = clones
            .iter()
            .find(|c| c.id == id)
            .context("made at the fake")?;
        let label = s["label"].as_str().unwrap_or("");
        assert!(clone.name.contains(label), "{clone:?}");
        let measured = s["pitch_hz"].as_f64().context("pitch")?;
        let heard = clone.hz.context("a voiced reference")?;
        assert!(
            (heard - measured).abs() < measured * 0.15,
            "{label}: the reference is at {heard:.0} Hz, the speaker at {measured:.0} Hz"
        );
        assert!(clone.seconds >= 1.0, "{clone:?}");
        let labels = clone
            .fields
            .iter()
            .find(|(n, _)| n == "labels")
            .map(|(_, v)| v.as_str());
        let gender = s["gender"].as_str().unwrap_or("");
        assert!(labels.is_some_and(|l| l.contains(gender)), "{clone:?}");
    }
    // Every line went to its speaker's clone, and the dub keeps the two voices apart.
    let lines = manifest(&app, job_id).await?;
    assert_lines_follow_speakers(&lines, &found);
    let audio = download(&app, &token, &video, "file_type=dubbed_audio&language=es").await?;
    let audio_path = dir.path().join("dub.m4a");
    tokio::fs::write(&audio_path, audio).await?;
    let dubbed = media::decode_audio(&audio_path).await?;
    let srt_bytes = download(&app, &token, &video, "file_type=dub_subtitles&language=es").await?;
    let spoken = srt::parse(&String::from_utf8(srt_bytes)?)?;
    let mut per_gender: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (cue, line) in spoken.iter().zip(&lines) {
        let at = |ms: u64| ((ms * u64::from(MEASURE_RATE) / 1000) as usize).min(dubbed.len());
        let gender = found[line.speaker.as_deref().unwrap_or("")].0.clone();
        per_gender.entry(gender).or_default().extend(pitch::track(
            &dubbed[at(cue.start_ms)..at(cue.end_ms)],
            MEASURE_RATE,
        ));
    }
    let male = pitch::median(per_gender.remove("male").unwrap_or_default()).context("male")?;
    let female =
        pitch::median(per_gender.remove("female").unwrap_or_default()).context("female")?;
    println!("cloned voices in the dub: male {male:.0} Hz, female {female:.0} Hz");
    assert!(
        female - male > 40.0,
        "male {male:.0} Hz, female {female:.0} Hz"
    );

    // The library lists both, to their owner only.
    let library = app.get("/api/voices", &token).await?.expect(200)?;
    let listed = library["voices"].as_array().context("voices")?.clone();
    assert_eq!(listed.len(), 2, "{library}");
    let (_, stranger) = app.user("speakers-clone-stranger@example.test").await?;
    let theirs = app.get("/api/voices", &stranger).await?.expect(200)?;
    assert_eq!(theirs["voices"], json!([]), "{theirs}");
    let keep = listed[0]["id"].as_str().context("id")?.to_string();
    let keep_voice = listed[0]["voice_id"]
        .as_str()
        .context("voice_id")?
        .to_string();
    let path = format!("/api/voices/{keep}");
    for (method, body) in [
        (reqwest::Method::PATCH, Some(json!({"saved": true}))),
        (reqwest::Method::DELETE, None),
    ] {
        let answer = app
            .call(method, &path, Some(&stranger), body.as_ref())
            .await?;
        assert_eq!(answer.status, 404, "another user's voice: {}", answer.body);
    }
    // Saved and renamed, one outlives the video; the other goes with it.
    for (body, field) in [
        (json!({"name": " "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
    ] {
        let answer = app
            .call(reqwest::Method::PATCH, &path, Some(&token), Some(&body))
            .await?;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert!(answer.body.to_string().contains(field), "{}", answer.body);
    }
    let saved = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({"saved": true, "name": "Narrator voice"})),
        )
        .await?
        .expect(200)?;
    assert_eq!(saved["saved"], true, "{saved}");
    assert_eq!(saved["name"], "Narrator voice", "{saved}");
    assert!(saved["expires_at"].is_null(), "{saved}");
    let doomed: Vec<String> = clones
        .iter()
        .map(|c| format!("elevenlabs-{}", c.id))
        .filter(|v| *v != keep_voice)
        .collect();
    let doomed_ids: Vec<String> = doomed
        .iter()
        .map(|v| v.trim_start_matches("elevenlabs-").to_string())
        .collect();
    app.delete(&format!("/api/videos/{video}"), &token)
        .await?
        .expect(202)?;
    deleted_at_fake(&fake, &doomed_ids).await?;
    let kept_id = keep_voice.trim_start_matches("elevenlabs-").to_string();
    assert!(
        fake.clones().iter().any(|c| c.id == kept_id && !c.deleted),
        "the saved voice stays"
    );
    // Once the video's rows are gone too, the saved voice belongs to no job.
    let library = eventually(DEADLINE, "the video's jobs gone", || async {
        let library = app.get("/api/voices", &token).await?.expect(200)?;
        Ok(library["voices"][0]["job_id"].is_null().then_some(library))
    })
    .await?;
    assert_eq!(
        library["voices"].as_array().map(Vec::len),
        Some(1),
        "{library}"
    );

    // The saved voice dubs a new video; a stranger cannot name it.
    let (_dir2, _sample2, video2) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en", "voice_id": keep_voice,
        "preserve_background_music": false});
    let (status, started) = dub(&app, &token, &video2, body.clone(), None).await?;
    assert_eq!(status, 202, "{started}");
    // While that job runs, the voice it speaks with cannot be deleted from under it.
    let refused = app
        .call(reqwest::Method::DELETE, &path, Some(&token), None)
        .await?;
    assert_eq!(
        refused.status, 409,
        "in use by a running job: {}",
        refused.body
    );
    let (_dir3, _sample3, stranger_video) = dialogue(&app, &stranger).await?;
    let (status, refused) = dub(&app, &stranger, &stranger_video, body, None).await?;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("voice_id"), "{refused}");
    let job2 = started["job_id"].as_str().context("job_id")?;
    let job2 = onevoice_tests::flows::finished_job(&app, &token, job2, DEADLINE).await?;
    assert_eq!(job2["status"], "completed", "{job2}");

    // Deleted by its owner: gone from the library at once, from the provider within a round.
    app.delete(&format!("/api/voices/{keep}"), &token)
        .await?
        .expect(204)?;
    let library = app.get("/api/voices", &token).await?.expect(200)?;
    assert_eq!(library["voices"], json!([]), "{library}");
    deleted_at_fake(&fake, &[kept_id]).await?;
    app.shutdown().await
}

#[tokio::test]
async fn a_provider_refusing_to_clone_fails_the_job_with_its_reason() -> anyhow::Result<()> {
    // A retention of about a second: the clones go once their job has ended.
    let (app, fake) = start(&[
        ("ASR_PROVIDER", "elevenlabs"),
        ("CLONE_MIN_SECS", "1"),
        ("CLONE_RETENTION_DAYS", "0.00001"),
        ("MAINTENANCE_INTERVAL_SECS", "1"),
    ])
    .await?;
    let (_, token) = app.user("speakers-clone-refused@example.test").await?;
    let (_dir, _sample, video) = dialogue(&app, &token).await?;
    // Fish Audio clones for a job speaking with a Fish voice; it refuses the first model.
    fake.fail_next(
        "/model",
        402,
        json!({"status": 402, "message": "Insufficient balance"}),
        None,
    );
    let body = json!({"target_language": "es", "source_language": "en",
        "voice_id": "fish-0123456789abcdef", "clone_voices": true, "voice_consent": consent()});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "failed", "{job}");
    let why = job["error_message"].as_str().unwrap_or("");
    assert!(
        why.contains("could not be cloned") && why.contains("402"),
        "the provider's refusal, said plainly: {why}"
    );
    assert!(!why.contains(onevoice_tests::tts::KEY), "{why}");
    assert!(fake.spoken().is_empty(), "no stock voice spoke instead");
    assert!(fake.clones().is_empty());

    // Resumed, the step clones at Fish: a private model per speaker, usable at once.
    let (status, resumed) = onevoice_tests::flows::resume(&app, &token, &video).await?;
    assert_eq!(status, 202, "{resumed}");
    let job_id = job["id"].as_str().context("id")?;
    let job = onevoice_tests::flows::finished_job(&app, &token, job_id, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    let clones = fake.clones();
    assert_eq!(clones.len(), 2, "{clones:?}");
    for clone in &clones {
        let field = |n: &str| {
            clone
                .fields
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field("visibility").as_deref(), Some("private"), "{clone:?}");
        assert_eq!(field("train_mode").as_deref(), Some("fast"), "{clone:?}");
    }
    let voices: std::collections::BTreeSet<String> =
        fake.spoken().into_iter().map(|(voice, _)| voice).collect();
    let made: std::collections::BTreeSet<String> = clones.iter().map(|c| c.id.clone()).collect();
    assert_eq!(voices, made, "every line in a cloned voice");
    // Past the retention period, with the job over, both are deleted at the provider (the row
    // left by the refused attempt was taken back by the resumed one, not deleted under it).
    let ids: Vec<String> = made.into_iter().collect();
    deleted_at_fake(&fake, &ids).await?;
    let library = app.get("/api/voices", &token).await?.expect(200)?;
    assert_eq!(library["voices"], json!([]), "{library}");
    app.shutdown().await
}

#[tokio::test]
async fn the_offline_diarizer_tells_the_two_voices_apart_across_chunks() -> anyhow::Result<()> {
    // No paid provider in the test stack: the local recognizer, which diarizes with its speaker
    // embedder; chunks of 5 s put each person in more than one chunk.
    let app = TestApp::spawn_with(&[("ASR_CHUNK_SECS", "5")]).await?;
    let (_, token) = app.user("speakers-offline@example.test").await?;
    let (_dir, _sample, video) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en", "voice_id": "espeak-es-m"});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["job_config"]["speech_recognition"], "local", "{job}");
    let job_id = job["id"].as_str().context("id")?;
    let heard = recognized_lines(&app, job_id).await?;
    let named = job["speakers"].as_array().map(Vec::len);
    assert_eq!(named, Some(2), "two speakers in {heard:#?}");
    let found = assert_two_voices(&job)?;
    let lines = manifest(&app, job_id).await?;
    assert_lines_follow_speakers(&lines, &found);
    // Every recognized line of a speaker is in that speaker's voice.
    for (cue, hz) in &heard {
        let hz = hz.context("a voiced line")?;
        let speaker = cue.speaker.as_deref().context("every line has a speaker")?;
        let (gender, _, _) = &found[speaker];
        let expected = if hz < 165.0 { "male" } else { "female" };
        assert_eq!(
            gender, expected,
            "`{}` at {hz:.0} Hz is {speaker}'s",
            cue.text
        );
    }
    app.shutdown().await
}

/// With a separator that gives the voices alone (LALAL.AI's fake), a cloning job separates first
/// and measures and clones its speakers from the voices, not from the voices over the music: the
/// fake's vocals carry a marker tone the source does not, and every reference has it.
#[tokio::test]
async fn clones_are_made_from_the_separated_voices_when_the_separator_gives_them()
-> anyhow::Result<()> {
    use onevoice_tests::lalalai::{FakeLalalAi, KEY, VOCALS_MARKER_HZ};
    let separator = FakeLalalAi::start().await?;
    let (app, fake) = start(&[
        ("CLONE_MIN_SECS", "1"),
        ("LALALAI_BASE_URL", separator.url.as_str()),
        ("LALALAI_API_KEY", KEY),
        ("LALALAI_POLL_MS", "20"),
    ])
    .await?;
    let (_, token) = app.user("speakers-clone-vocals@example.test").await?;
    let (_dir, sample, video) = dialogue(&app, &token).await?;
    let body = json!({"target_language": "es", "source_language": "en",
        "source_transcript": sample.transcript, "voice_id": "elevenlabs-21m00Tcm4TlvDq8ikWAM",
        "clone_voices": true, "voice_consent": consent()});
    let job = dub_to_end(&app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["job_result"]["background"]["method"], "lalalai",
        "{job}"
    );
    let calls = separator.calls();
    assert_eq!(
        calls.splits.len(),
        1,
        "separated once, before the speakers: {calls:?}"
    );
    assert!(
        calls.downloads.iter().any(|d| d.ends_with("-vocals.wav")),
        "{calls:?}"
    );
    assert_eq!(fake.clones().len(), 2, "{:?}", fake.clones());
    let id = job["id"].as_str().context("id")?;
    let keys = keys::job(id);
    let source = stored_audio(&app, &keys.source_audio(), false).await?;
    let whole = source.len() as u64 * 1000 / u64::from(MEASURE_RATE);
    let unmarked = media::tone_share(&source, 0, whole, VOCALS_MARKER_HZ);
    assert!(unmarked < 0.01, "the source has no marker: {unmarked:.3}");
    for speaker in job["speakers"].as_array().context("speakers")? {
        assert_eq!(speaker["cloned"], true, "{speaker}");
        let label = speaker["id"].as_str().context("speaker id")?;
        let reference = stored_audio(&app, &keys.speaker(label, "reference.wav"), false).await?;
        let ms = reference.len() as u64 * 1000 / u64::from(MEASURE_RATE);
        let marked = media::tone_share(&reference, 0, ms, VOCALS_MARKER_HZ);
        assert!(
            marked > 0.1,
            "{label}: cut from the vocals, marker share {marked:.3}"
        );
    }
    app.shutdown().await
}
