//! End to end: upload a generated video through a presigned PUT, dub it through the REST API and
//! the real DubbingWorkflow, and check the MP4 that lands in S3.

use anyhow::Context;
use onevoice_shared::pipeline::Step;
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::{keys, media, sample};
use serde_json::{Value, json};
use std::time::Duration;

/// Background-only level relative to the original (the mix's BACKGROUND_GAIN of 0.25 is -12 dB).
const BACKGROUND_DB: f64 = -12.04;

#[tokio::test]
async fn dubs_a_video_end_to_end() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let scratch = tempfile::tempdir()?;
    let sample = sample::make(scratch.path()).await?;
    let (_, token) = app.user("e2e@example.com").await?;
    let e2e = Run {
        app: &app,
        token: &token,
        dir: scratch.path(),
        sample: &sample,
    };

    let video = e2e.upload_through_a_presigned_put().await?;
    let job = e2e.start_the_dub(&video).await?;
    e2e.progress_only_rises_until_the_job_completes(&video, &job)
        .await?;
    e2e.every_step_is_accounted_for(&job).await?;
    let dubbed = e2e
        .the_dubbed_video_keeps_the_sources_layout(&video)
        .await?;
    let delivered = e2e
        .every_line_is_louder_than_the_lowered_original(&dubbed)
        .await?;
    let mix = mix_by_content(&app, &job, &delivered).await?;
    e2e.the_translation_subtitles_are_spanish(&video).await?;
    let spoken = e2e
        .the_dubs_subtitles_carry_the_spoken_times(&video)
        .await?;
    e2e.the_dubs_voice_replaces_the_ducked_original(&mix, &spoken);
    e2e.the_audio_meets_the_loudness_target(&video, &dubbed)
        .await?;
    e2e.every_line_fits(&job).await?;

    app.shutdown().await
}

/// One end-to-end run: the app, the user's token, a scratch directory and the sample video.
struct Run<'a> {
    app: &'a TestApp,
    token: &'a str,
    dir: &'a std::path::Path,
    sample: &'a sample::Sample,
}

impl Run<'_> {
    /// Uploads through the presigned URL, exactly as a browser would; returns the video id once
    /// the upload is processed.
    async fn upload_through_a_presigned_put(&self) -> anyhow::Result<String> {
        let (app, token) = (self.app, self.token);
        let body = app
            .post_json(
                "/api/videos/upload-url",
                Some(token),
                &json!({"filename": "sample.mp4", "content_type": "video/mp4"}),
            )
            .await?
            .expect(201)?;
        let video_id = body["video_id"].as_str().context("video_id")?.to_string();
        let upload_url = body["upload_url"].as_str().context("upload_url")?;
        let bytes = tokio::fs::read(&self.sample.video).await?;
        let put = app
            .http
            .put(upload_url)
            .header("content-type", "video/mp4")
            .body(bytes)
            .send()
            .await?;
        assert!(
            put.status().is_success(),
            "presigned PUT failed: {}",
            put.status()
        );
        app.post(&format!("/api/videos/{video_id}/complete"), token)
            .await?
            .expect(202)?;
        let ready = onevoice_tests::flows::settled(app, token, &video_id).await?;
        assert_eq!(ready["status"], "uploaded", "{ready}");
        Ok(video_id)
    }

    /// Starts the dub with the user's transcript; returns the job id.
    async fn start_the_dub(&self, video: &str) -> anyhow::Result<String> {
        let request = json!({
            "target_language": "es",
            "source_language": "en",
            "source_transcript": self.sample.transcript,
        });
        let started = self
            .app
            .post_json(
                &format!("/api/videos/{video}/dub"),
                Some(self.token),
                &request,
            )
            .await?
            .expect(202)?;
        Ok(started["job_id"].as_str().context("job_id")?.to_string())
    }

    async fn progress_only_rises_until_the_job_completes(
        &self,
        video: &str,
        job: &str,
    ) -> anyhow::Result<()> {
        let seen = std::cell::RefCell::new(Vec::new());
        let path = format!("/api/videos/{video}/status");
        let done: Value = eventually(Duration::from_secs(240), "the dub to finish", || {
            let (app, path, token, seen) = (self.app, &path, self.token, &seen);
            async move {
                let s = app.get(path, token).await?.body;
                seen.borrow_mut()
                    .push(s["progress"].as_f64().unwrap_or(-1.0));
                Ok(match s["status"].as_str() {
                    Some("completed") | Some("failed") | Some("cancelled") => Some(s),
                    _ => None,
                })
            }
        })
        .await?;
        assert_eq!(done["status"], "completed", "job ended as {done}");
        assert_eq!(done["job_id"], job);
        assert_eq!(done["progress"], 100.0);
        let seen = seen.into_inner();
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "progress went backwards: {seen:?}"
        );
        Ok(())
    }

    /// The workflow's own progress query agrees, and the job's steps were recorded with the
    /// seed's names and weights.
    async fn every_step_is_accounted_for(&self, job: &str) -> anyhow::Result<()> {
        let handle = self
            .app
            .state
            .temporal
            .get_workflow_handle::<onevoice_workflows::DubbingWorkflow>(format!("dub-{job}"));
        let progress = handle
            .query(
                onevoice_workflows::DubbingWorkflow::progress,
                (),
                Default::default(),
            )
            .await?;
        assert_eq!(progress.percent, 100.0);
        assert_eq!(
            progress.completed_steps.len() + progress.skipped_steps.len(),
            Step::ALL.len()
        );
        assert!(progress.completed_steps.contains(&Step::GenerateAudio));
        let steps: Vec<(String, String, f64)> = sqlx::query_as(
            "SELECT step_name, status, weight FROM job_steps WHERE job_id = $1::uuid ORDER BY step_order",
        )
        .bind(job)
        .fetch_all(&self.app.state.db)
        .await?;
        assert_eq!(steps.len(), 15);
        assert_eq!(steps[0], ("prepare_video".into(), "completed".into(), 3.0));
        assert!(
            steps
                .iter()
                .all(|(_, s, _)| s == "completed" || s == "skipped"),
            "{steps:?}"
        );
        Ok(())
    }

    /// Downloads the dubbed video through the API's presigned URL: one video and one audio
    /// stream, as long as the source.
    async fn the_dubbed_video_keeps_the_sources_layout(
        &self,
        video: &str,
    ) -> anyhow::Result<std::path::PathBuf> {
        let dubbed = self.dir.join("dubbed.mp4");
        let bytes = download(self.app, self.token, video, "dubbed_video").await?;
        tokio::fs::write(&dubbed, bytes).await?;
        let layout = media::layout(&dubbed).await?;
        assert_eq!((layout.video_streams, layout.audio_streams), (1, 1));
        let source_ms = sample::duration_ms(&self.sample.video).await?;
        assert!(
            layout.duration_ms.abs_diff(source_ms) <= 200,
            "duration {} vs source {source_ms}",
            layout.duration_ms
        );
        Ok(dubbed)
    }

    /// Inside every dubbed line's window the track is clearly louder than silence, and clearly
    /// louder than the lowered original alone: the synthesized speech is there. Returns the
    /// delivered track.
    async fn every_line_is_louder_than_the_lowered_original(
        &self,
        dubbed: &std::path::Path,
    ) -> anyhow::Result<Vec<f32>> {
        let original = media::decode_audio(&self.sample.video).await?;
        let dubbed_audio = media::decode_audio(dubbed).await?;
        for cue in &self.sample.cues {
            let dub = media::rms_dbfs(&dubbed_audio, cue.start_ms, cue.end_ms);
            let background = media::rms_dbfs(&original, cue.start_ms, cue.end_ms) + BACKGROUND_DB;
            assert!(
                dub > -35.0,
                "line at {} ms is near silence: {dub:.1} dBFS",
                cue.start_ms
            );
            assert!(
                dub > background + 6.0,
                "line at {} ms: {dub:.1} dBFS vs background {background:.1}",
                cue.start_ms
            );
        }
        Ok(dubbed_audio)
    }

    async fn the_translation_subtitles_are_spanish(&self, video: &str) -> anyhow::Result<()> {
        let srt = download(self.app, self.token, video, "translation_subtitles").await?;
        let cues = onevoice_shared::srt::parse(&String::from_utf8(srt)?)?;
        assert_eq!(cues.len(), self.sample.cues.len());
        assert!(
            cues[2].text.to_lowercase().contains("gracias"),
            "not Spanish: {:?}",
            cues[2].text
        );
        Ok(())
    }

    /// The dub's own subtitles carry the spoken times: every line starts at its subtitle's
    /// start and ends before the next line begins. Returns the spoken lines.
    async fn the_dubs_subtitles_carry_the_spoken_times(
        &self,
        video: &str,
    ) -> anyhow::Result<Vec<onevoice_shared::srt::Cue>> {
        let dub_srt = download(self.app, self.token, video, "dub_subtitles").await?;
        let spoken = onevoice_shared::srt::parse(&String::from_utf8(dub_srt)?)?;
        let cues = &self.sample.cues;
        assert_eq!(spoken.len(), cues.len());
        for (i, (line, cue)) in spoken.iter().zip(cues).enumerate() {
            assert!(
                line.start_ms.abs_diff(cue.start_ms) <= 1,
                "line {i} starts at {}",
                line.start_ms
            );
            if let Some(next) = cues.get(i + 1) {
                assert!(line.end_ms <= next.start_ms, "line {i} runs into the next");
            }
        }
        Ok(spoken)
    }

    /// By content, not loudness (normalisation would lift a lone original to the same level):
    /// inside each spoken line the mix is mostly something that is not the original (the dub's
    /// voice), and the original there is lowered by AUDIO_DUCK_DB against the gaps between
    /// lines.
    fn the_dubs_voice_replaces_the_ducked_original(
        &self,
        mix: &Mix,
        spoken: &[onevoice_shared::srt::Cue],
    ) {
        let duck_db = self.app.state.settings.audio.duck_db;
        let inner = |a: u64, b: u64| (a + 80, b.saturating_sub(80));
        let mut gap_gains = Vec::new();
        let mut last_end = 0;
        for line in spoken {
            if line.start_ms > last_end + 400 {
                let gap =
                    media::share_of(&mix.mix, &mix.source, last_end + 150, line.start_ms - 150);
                gap_gains.push(gap.0);
            }
            last_end = line.end_ms;
        }
        let duration = sample::DURATION_MS;
        if duration > last_end + 400 {
            gap_gains
                .push(media::share_of(&mix.mix, &mix.source, last_end + 150, duration - 150).0);
        }
        assert!(!gap_gains.is_empty(), "the sample has gaps between lines");
        let gap_gain = gap_gains.iter().sum::<f64>() / gap_gains.len() as f64;
        for line in spoken {
            let (start, end) = inner(line.start_ms, line.end_ms);
            let (gain, rest_db) = media::share_of(&mix.mix, &mix.source, start, end);
            let original_db =
                media::rms_dbfs(&mix.source, start, end) + 20.0 * gain.abs().max(1e-9).log10();
            assert!(
                rest_db > original_db + 6.0,
                "line at {} ms: the dub's voice ({rest_db:.1} dBFS) does not dominate the original ({original_db:.1} dBFS)",
                line.start_ms
            );
            let ducked_db = 20.0 * (gain / gap_gain).abs().max(1e-9).log10();
            assert!(
                ducked_db <= duck_db + 1.5,
                "line at {} ms: the original is lowered by {ducked_db:.1} dB, the setting promises {duck_db} dB",
                line.start_ms
            );
        }
    }

    /// The dubbed audio alone, at the loudness target under the ceiling, and the video carries
    /// the same track.
    async fn the_audio_meets_the_loudness_target(
        &self,
        video: &str,
        dubbed: &std::path::Path,
    ) -> anyhow::Result<()> {
        let audio_only = self.dir.join("dub.m4a");
        let bytes = download(self.app, self.token, video, "dubbed_audio").await?;
        tokio::fs::write(&audio_only, bytes).await?;
        let (lufs, peak) = media::loudness(&audio_only).await?;
        let audio = &self.app.state.settings.audio;
        assert!(
            (lufs - audio.target_lufs).abs() <= 1.0,
            "integrated {lufs:.2} LUFS, target {}",
            audio.target_lufs
        );
        // The ceiling holds on the lossless mix; AAC may overshoot it by a fraction of a dB.
        assert!(peak <= audio.true_peak_dbtp + 0.5, "peak {peak:.2} dBFS");
        let video_lufs = media::loudness(dubbed).await?.0;
        assert!(
            (video_lufs - lufs).abs() < 0.1,
            "the video carries the same track"
        );
        Ok(())
    }

    async fn every_line_fits(&self, job: &str) -> anyhow::Result<()> {
        let job = self
            .app
            .get(&format!("/api/jobs/{job}"), self.token)
            .await?
            .expect(200)?;
        assert_eq!(
            job["job_result"]["unfit_lines"],
            json!([]),
            "every line fits: {job}"
        );
        Ok(())
    }
}

/// The job's lossless mix and the original track it was made from (both kept under the job's
/// prefix), decoded the same way; checks that the delivered track is that mix.
struct Mix {
    mix: Vec<f32>,
    source: Vec<f32>,
}

async fn mix_by_content(app: &TestApp, job_id: &str, delivered: &[f32]) -> anyhow::Result<Mix> {
    let keys = keys::job(job_id);
    let mix = onevoice_tests::flows::stored_audio(app, &keys.render(1).mix(), false).await?;
    let source = onevoice_tests::flows::stored_audio(app, &keys.source_audio(), false).await?;
    let delivered_is_mix = media::best_correlation(&mix, delivered, 30);
    assert!(
        delivered_is_mix > 0.95,
        "the delivered track is the job's mix (correlation {delivered_is_mix:.3})"
    );
    Ok(Mix { mix, source })
}

/// Downloads one output of the video through the API's presigned URL.
async fn download(
    app: &TestApp,
    token: &str,
    video: &str,
    file_type: &str,
) -> anyhow::Result<Vec<u8>> {
    onevoice_tests::flows::download(
        app,
        token,
        video,
        &format!("file_type={file_type}&language=es"),
    )
    .await
}
