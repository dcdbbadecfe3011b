//! Media activities built on ffprobe/ffmpeg: probing and audio extraction (prepare_video), and
//! muxing the dubbed audio into the final video (final_video).

use crate::audio::engine::EngineError;
use crate::audio::engine::encode::{
    EncodeSheet, EncodeSpec, Previous, encode_aac, mux as engine_mux, wav_frames,
};
use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::text::script;
use crate::{blocking, error, heartbeat, memo, process};
use onevoice_shared::contracts::{
    BurnSubtitlesInput, ExtractAudioInput, ExtractAudioOutput, MuxInput, MuxOutput, TrimVideoInput,
    activity,
};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::storage::StorageError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;

/// Sample rate of every intermediate audio track.
pub const SAMPLE_RATE: u32 = 48_000;

/// How far the decoded length may be from the priced one: containers and streams disagree by a
/// few frames, a swapped file by much more.
const MAX_LENGTH_DRIFT_MS: u64 = 1_000;

pub struct MediaActivities {
    deps: Deps,
}

impl MediaActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl MediaActivities {
    /// Cuts the job's part out of the source video: the picture re-encoded so the cut is exact
    /// (a stream copy would start at the keyframe before it, out of step with the dub), the
    /// audio kept lossless (FLAC in Matroska). Stored once per job.
    #[activity(name = activity::TRIM_VIDEO)]
    pub async fn trim_video(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TrimVideoInput,
    ) -> Result<String, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).trimmed_video();
        if deps
            .storage
            .size_of(&key)
            .await
            .map_err(error::storage)?
            .is_some()
        {
            return Ok(key);
        }
        heartbeat::beating(&ctx, async {
            let scratch = Scratch::new(&deps.tools.work_dir, "trim-video")?;
            let source = scratch.path("source");
            deps.storage
                .download_to(&input.video_key, &source)
                .await
                .map_err(error::storage)?;
            let cut = scratch.path("trimmed.mkv");
            let seconds = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
            let mut cmd = Command::new(&deps.tools.ffmpeg);
            cmd.args(["-nostdin", "-v", "error", "-y"])
                .args(["-ss", &seconds(input.range.start_ms)])
                .arg("-i")
                .arg(&source)
                .args(["-t", &seconds(input.range.duration_ms())])
                .args(["-map", "0:v:0", "-map", "0:a:0?"])
                .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"])
                .args(["-c:a", "flac"])
                .arg(&cut);
            process::run(&ctx, cmd, None, |_| {
                error::invalid_input("the part of the video cannot be cut out")
            })
            .await?;
            deps.storage
                .put_file(&key, &cut, "video/x-matroska")
                .await
                .map_err(error::storage)?;
            Ok(key)
        })
        .await
    }

    /// Downloads the source video, probes it and extracts its first audio track as 48 kHz mono
    /// PCM. A video without audio gets a silent track of its length, so it can still be dubbed.
    #[activity(name = activity::EXTRACT_AUDIO)]
    pub async fn extract_audio(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ExtractAudioInput,
    ) -> Result<ExtractAudioOutput, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).step_result(Step::PrepareVideo);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let scratch = Scratch::new(&deps.tools.work_dir, "extract-audio")?;
                let source = scratch.path("source");
                deps.storage
                    .download_to(&input.video_key, &source)
                    .await
                    .map_err(error::storage)?;
                let probe = probe(&ctx, &deps.tools.ffprobe, &source).await?;
                if !probe.has_video {
                    return Err(error::invalid_input("the uploaded file has no video stream"));
                }
                // Stereo FLAC: lossless, half the size of WAV, and decoded by the audio engine.
                let wav = scratch.path("source.flac");
                let mut cmd = Command::new(&deps.tools.ffmpeg);
                cmd.args(["-nostdin", "-v", "error", "-y"]);
                if probe.has_audio {
                    cmd.arg("-i").arg(&source).args(["-map", "0:a:0"]);
                } else {
                    cmd.args([
                        "-f",
                        "lavfi",
                        "-i",
                        &format!("anullsrc=r={SAMPLE_RATE}:cl=stereo"),
                    ])
                    .args(["-t", &format!("{:.3}", probe.duration_ms as f64 / 1000.0)]);
                }
                cmd.args(["-ac", "2", "-ar", &SAMPLE_RATE.to_string(), "-c:a", "flac"])
                    .arg(&wav);
                process::run(&ctx, cmd, None, |_| {
                    error::invalid_input("the video's audio cannot be decoded")
                })
                .await?;
                // What is dubbed is what was priced: the decoded length must match the length
                // the job was quoted for (the original is frozen at upload; this catches any
                // way around that).
                if let Some(priced) = input.priced_duration_ms {
                    let decoded = self::probe(&ctx, &deps.tools.ffprobe, &wav).await?.duration_ms;
                    if decoded.abs_diff(priced) > MAX_LENGTH_DRIFT_MS {
                        tracing::warn!(job = %input.job_id, decoded, priced, "decoded length differs from the priced one");
                        return Err(error::invalid_input(format!(
                            "the video is {:.1} s long but was priced for {:.1} s; upload it again to dub it",
                            decoded as f64 / 1000.0,
                            priced as f64 / 1000.0
                        )));
                    }
                }
                let audio_key = JobKeys(input.job_id).source_audio();
                deps.storage
                    .put_file_kept(&audio_key, &wav, "audio/flac")
                    .await
                    .map_err(error::storage)?;
                Ok(ExtractAudioOutput {
                    audio_key,
                    duration_ms: probe.duration_ms,
                })
            }),
        )
        .await
    }

    /// Burns the translation subtitles into the original video (re-encoded; audio copied), with
    /// fonts that cover CJK and Hangul.
    #[activity(name = activity::BURN_SUBTITLES)]
    pub async fn burn_subtitles(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: BurnSubtitlesInput,
    ) -> Result<String, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).step_result(Step::EmbedSubtitles);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let scratch = Scratch::new(&deps.tools.work_dir, "burn")?;
                let (video, srt, out) = (
                    scratch.path("source"),
                    scratch.path("subs.srt"),
                    scratch.path("subtitled.mp4"),
                );
                deps.storage
                    .download_to(&input.video_key, &video)
                    .await
                    .map_err(error::storage)?;
                deps.storage
                    .download_to(&input.srt_key, &srt)
                    .await
                    .map_err(error::storage)?;
                // The filter argument is parsed by ffmpeg: the scratch path has no quotes or colons.
                let filter = format!(
                    "subtitles={}:force_style='FontName=Noto Sans CJK KR,FontSize=20,Outline=1'",
                    srt.display()
                );
                let mut cmd = Command::new(&deps.tools.ffmpeg);
                // Warnings on: libass reports there the characters no font could draw.
                cmd.args(["-nostdin", "-v", "warning", "-y", "-i"])
                    .arg(&video)
                    .args([
                        "-vf", &filter, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    ])
                    .args([
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "copy",
                        "-movflags",
                        "+faststart",
                    ])
                    .arg(&out);
                let done = process::run(&ctx, cmd, None, error::fatal).await?;
                check_glyphs(&String::from_utf8_lossy(&done.stderr))?;
                deps.storage
                    .put_file(&input.output_key, &out, "video/mp4")
                    .await
                    .map_err(error::storage)?;
                Ok(input.output_key.clone())
            }),
        )
        .await
    }

    /// Encodes the dubbed track to AAC (one encoder per core, see the engine's `encode`) and muxes
    /// it with the source's video stream (copied, not re-encoded) into an MP4 as long as the
    /// source; the same AAC alone goes into an M4A, the dubbed audio on its own.
    #[activity(name = activity::MUX)]
    pub async fn mux(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: MuxInput,
    ) -> Result<MuxOutput, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id)
            .render(input.version)
            .step_result(Step::FinalVideo);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let scratch = Scratch::new(&deps.tools.work_dir, "mux")?;
                let started = std::time::Instant::now();
                let (video, audio, out) = (
                    scratch.path("source"),
                    scratch.path("dub.wav"),
                    scratch.path("dubbed.mp4"),
                );
                deps.storage
                    .download_to(&input.video_key, &video)
                    .await
                    .map_err(error::storage)?;
                deps.storage
                    .download_to(&input.audio_key, &audio)
                    .await
                    .map_err(error::storage)?;
                let spec = EncodeSpec {
                    ffmpeg: deps.tools.ffmpeg.clone(),
                    video: video.clone(),
                    frames: wav_frames(&audio, 2).map_err(|e| error::fatal(e.to_string()))?,
                    wav: audio,
                    rate: crate::audio::RATE,
                    channels: 2,
                    bitrate: deps.audio.aac_bitrate,
                    encoder: deps.audio.aac_encoder,
                    jobs: match deps.audio.encoder_jobs {
                        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                        n => n,
                    },
                    scratch: scratch.path(""),
                };
                let (aac, audio_only) = (scratch.path("dub.aac"), scratch.path("dub.m4a"));
                let previous = self.previous_encode(&input, &scratch).await?;
                let fetched = started.elapsed().as_secs_f64();
                let (mp4, aac_in, m4a) = (out.clone(), aac.clone(), audio_only.clone());
                let sheet = blocking::run(&ctx, Default::default(), move || {
                    let previous = previous
                        .as_ref()
                        .map(|(aac, sheet)| Previous { aac, sheet });
                    let sheet = encode_aac(&spec, &aac_in, previous)?;
                    // Both containers at once: each is mostly copying.
                    std::thread::scope(|scope| {
                        let video =
                            scope.spawn(|| engine_mux(&spec, Some(&spec.video), &aac_in, &mp4));
                        let audio = engine_mux(&spec, None, &aac_in, &m4a);
                        video.join().unwrap_or_else(|_| {
                            Err(EngineError::Tool("mux thread panicked".into()))
                        })?;
                        audio
                    })?;
                    Ok(sheet)
                })
                .await?;
                let encoded = started.elapsed().as_secs_f64() - fetched;
                // The stream, then its sheet: a sheet is only ever read beside its whole stream.
                let (aac_key, sheet_key) =
                    JobKeys(input.job_id).render(input.version).encoded_mix();
                let audio_only_key = onevoice_shared::keys::audio_only_of(&input.output_key);
                let storage = &deps.storage;
                let (_, size_bytes, _) = tokio::try_join!(
                    async {
                        storage.put_file_kept(&aac_key, &aac, "audio/aac").await?;
                        storage.put_json(&sheet_key, &sheet).await
                    },
                    storage.put_file(&input.output_key, &out, "video/mp4"),
                    storage.put_file(&audio_only_key, &audio_only, "audio/mp4"),
                )
                .map_err(error::storage)?;
                tracing::info!(
                    job = %input.job_id,
                    chunks = sheet.chunks.len(),
                    reused = sheet.reused(),
                    fetch_seconds = fetched,
                    encode_seconds = encoded,
                    store_seconds = started.elapsed().as_secs_f64() - fetched - encoded,
                    "dubbed track encoded"
                );
                Ok(MuxOutput {
                    output_key: input.output_key.clone(),
                    size_bytes,
                    audio_only_key: Some(audio_only_key),
                })
            }),
        )
        .await
    }
}

impl MediaActivities {
    /// The newest earlier version's encode of the mix (its stream downloaded into `scratch`, and
    /// its sheet), whose unchanged chunks this version's encode copies; none for a first render
    /// or when no earlier version got as far as its encode.
    async fn previous_encode(
        &self,
        input: &MuxInput,
        scratch: &Scratch,
    ) -> Result<Option<(PathBuf, EncodeSheet)>, ActivityError> {
        let storage = &self.deps.storage;
        for version in (1..input.version).rev() {
            let (aac_key, sheet_key) = JobKeys(input.job_id).render(version).encoded_mix();
            let sheet = match storage.get_json::<EncodeSheet>(&sheet_key).await {
                Ok(sheet) => sheet,
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(error::storage(e)),
            };
            let aac = scratch.path("previous.aac");
            storage
                .download_to(&aac_key, &aac)
                .await
                .map_err(error::storage)?;
            return Ok(Some((aac, sheet)));
        }
        Ok(None)
    }
}

/// What the pipeline needs to know about a media file.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub duration_ms: u64,
    pub has_video: bool,
    pub has_audio: bool,
}

#[derive(Deserialize)]
struct FfprobeOutput {
    #[serde(default)]
    streams: Vec<FfprobeStream>,
    format: Option<FfprobeFormat>,
}

#[derive(Deserialize)]
struct FfprobeStream {
    codec_type: Option<String>,
}

#[derive(Deserialize)]
struct FfprobeFormat {
    duration: Option<String>,
}

/// Probes a local file; a file ffprobe cannot read is not media, which no retry will change.
pub async fn probe(
    ctx: &ActivityContext,
    ffprobe: &Path,
    file: &Path,
) -> Result<Probe, ActivityError> {
    let mut cmd = Command::new(ffprobe);
    cmd.args([
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_entries",
        "format=duration:stream=codec_type",
    ])
    .arg(file);
    let out = process::run(ctx, cmd, None, |_| {
        error::invalid_input("the file is not playable media")
    })
    .await?;
    parse_probe(&out.stdout)
}

fn parse_probe(json: &[u8]) -> Result<Probe, ActivityError> {
    let parsed: FfprobeOutput = serde_json::from_slice(json)
        .map_err(|e| error::transient(format!("unexpected ffprobe output: {e}")))?;
    let seconds = parsed
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| error::invalid_input("the file has no readable duration"))?;
    let has = |kind: &str| {
        parsed
            .streams
            .iter()
            .any(|s| s.codec_type.as_deref() == Some(kind))
    };
    Ok(Probe {
        duration_ms: (seconds * 1000.0).round() as u64,
        has_video: has("video"),
        has_audio: has("audio"),
    })
}

/// Characters libass could find no font for (`fontselect: failed to find any fallback with
/// glyph 0x…`), in order, once each.
fn missing_glyphs(stderr: &str) -> Vec<char> {
    let mut missing = Vec::new();
    for line in stderr.lines() {
        let Some((_, rest)) = line.split_once("failed to find any fallback with glyph 0x") else {
            continue;
        };
        let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
            && !missing.contains(&c)
        {
            missing.push(c);
        }
    }
    missing
}

/// Han, kana and Hangul must draw: the subtitle font is meant to cover them, so a miss is a
/// broken installation, not the text's fault. Anything else missing (a rare script, an emoji)
/// shows as a box and is logged.
fn check_glyphs(stderr: &str) -> Result<(), ActivityError> {
    let missing = missing_glyphs(stderr);
    // Glyph 0: libass found no font at all.
    if missing.contains(&'\0') {
        return Err(error::fatal(
            "no font is installed for subtitles: install fonts-noto-cjk on the worker",
        ));
    }
    let promised: String = missing
        .iter()
        .filter(|c| script::is_cjk(**c) || script::is_hangul(**c))
        .collect();
    if !promised.is_empty() {
        return Err(error::fatal(format!(
            "the subtitle font cannot draw `{promised}`: install fonts-noto-cjk on the worker"
        )));
    }
    if !missing.is_empty() {
        let shown: String = missing.iter().collect();
        tracing::warn!(characters = %shown, "no font draws these subtitle characters; they show as boxes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_no_font_draws_are_found_and_cjk_ones_fail() {
        let log = "[Parsed_subtitles_0 @ 0x5] fontselect: failed to find any fallback with glyph 0x13000 for font: (Noto Sans CJK KR, 400, 0)\n\
                   [Parsed_subtitles_0 @ 0x5] fontselect: failed to find any fallback with glyph 0x13000 for font: (Noto Sans CJK KR, 400, 0)\n\
                   [Parsed_subtitles_0 @ 0x5] Glyph 0xD55C not found, selecting one more font for (Noto Sans CJK KR, 400, 0)";
        assert_eq!(missing_glyphs(log), vec!['\u{13000}']);
        assert!(check_glyphs(log).is_ok(), "a hieroglyph only warns");
        let hangul =
            "fontselect: failed to find any fallback with glyph 0xD55C for font: (X, 400, 0)";
        assert!(check_glyphs(hangul).is_err());
        let no_fonts = "fontselect: failed to find any fallback with glyph 0x0 for font: (Noto Sans CJK KR, 400, 0)";
        assert!(check_glyphs(no_fonts).is_err());
    }

    #[test]
    fn parses_ffprobe_json() {
        let json = br#"{"streams":[{"codec_type":"video"},{"codec_type":"audio"}],"format":{"duration":"12.345000"}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(
            p,
            Probe {
                duration_ms: 12_345,
                has_video: true,
                has_audio: true
            }
        );
        let silent = br#"{"streams":[{"codec_type":"video"}],"format":{"duration":"3.0"}}"#;
        assert!(!parse_probe(silent).unwrap().has_audio);
        assert!(parse_probe(br#"{"streams":[],"format":{}}"#).is_err());
    }
}
