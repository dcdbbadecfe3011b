//! Audio activities, run by the Rust engine ([`engine`]):
//!
//! * `plan_timing` (audio_task_setup + dub_chunks): the seed's timing rules — short or hurried
//!   lines grouped (up to three) under one speed factor, gaps kept or dropped, never faster than
//!   `DUB_MAX_SPEED`, what still does not fit cut and reported (not fatal) — plus the ducking
//!   windows and the dub's subtitles with the spoken times;
//! * `separate` (merge_audio, before the mix): the original track without its voices, from the
//!   separation service or the engine's suppressor (`separation`), stored as the background stem;
//! * `mix` (merge_audio): the background stem at full level, or the original track ducked under
//!   the placed lines (or silenced), one gain to the loudness target under a true-peak ceiling,
//!   as a 48 kHz stereo WAV.

pub use onevoice_engine as engine;
mod lalalai;
pub mod pitch;
mod separation;

use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::{blocking, error, heartbeat, memo};
use engine::clips::{ClipArchive, clip_archive};
use engine::mix::{self as mixer, MixSpec, Stem};
use engine::plan::{Cue, DubRules, Plan, plan_tracks};
use lalalai::LalalAi;
use onevoice_shared::contracts::{
    ExportInput, ExportOutput, MixGain, MixInput, MixOutput, PlanTimingInput, PlanTimingOutput,
    SeparateInput, SeparateOutput, SpeakerFit, SynthesizedLine, UnfitLine, activity,
};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::srt;
use onevoice_shared::storage::StorageError;
use separation::{Offline, Separator};
use std::path::PathBuf;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The engine's timeline rate.
pub const RATE: u32 = 48_000;

pub struct AudioActivities {
    deps: Deps,
    /// For the separation service. No limit on a whole request: an hour's track takes a while
    /// to upload; a stalled read still ends it.
    http: reqwest::Client,
}

impl AudioActivities {
    pub fn new(deps: Deps) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(deps.speech.timeout)
            .build()
            .unwrap_or_default();
        Self { deps, http }
    }

    /// Downloads every line's clip into `scratch`, in order.
    async fn clips(
        &self,
        lines: &[SynthesizedLine],
        scratch: &Scratch,
    ) -> Result<Vec<PathBuf>, ActivityError> {
        use futures::StreamExt;
        // Several at a time: a long dub has a thousand small clips, and one request after
        // another would spend most of the step waiting.
        let storage = &self.deps.storage;
        let fetches: Vec<(String, PathBuf)> = lines
            .iter()
            .enumerate()
            // No clip for a kept line: the plan places nothing there.
            .map(|(n, line)| match line.keep_original {
                true => (String::new(), PathBuf::new()),
                false => (
                    line.audio_key.clone(),
                    scratch.path(&format!("{n:05}.clip")),
                ),
            })
            .collect();
        let fetched: Vec<Result<PathBuf, ActivityError>> = futures::stream::iter(fetches)
            .map(|(key, path)| async move {
                if !key.is_empty() {
                    storage
                        .download_to(&key, &path)
                        .await
                        .map_err(error::storage)?;
                }
                Ok(path)
            })
            .buffered(CLIP_FETCHES)
            .collect()
            .await;
        fetched.into_iter().collect()
    }
}

/// Clips downloaded at once.
const CLIP_FETCHES: usize = 8;

impl AudioActivities {
    /// Every line's clip length (frames, rate); a kept line has none. A re-render learns each
    /// clip it shares with an earlier version from that version's plan (clips are named by what
    /// shapes them, so the same key is the same audio): only the new clips are fetched and
    /// probed.
    async fn clip_lengths(
        &self,
        input: &PlanTimingInput,
        lines: &[SynthesizedLine],
    ) -> Result<Vec<(u64, u32)>, ActivityError> {
        let known = self.known_lengths(input).await?;
        let unknown: Vec<SynthesizedLine> = lines
            .iter()
            .filter(|l| !l.keep_original && !known.contains_key(&l.audio_key))
            .cloned()
            .collect();
        let scratch = Scratch::new(&self.deps.tools.work_dir, "plan")?;
        let clips = self.clips(&unknown, &scratch).await?;
        let probed = tokio::task::spawn_blocking(move || {
            clips
                .iter()
                .map(|c| engine::decode::probe_length(c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| error::transient(format!("probing clips: {e}")))?
        .map_err(|e| error::fatal(format!("a synthesized line is not playable audio: {e}")))?;
        let probed: std::collections::HashMap<&str, (u64, u32)> = unknown
            .iter()
            .map(|l| l.audio_key.as_str())
            .zip(probed)
            .collect();
        Ok(lines
            .iter()
            .map(|l| match (l.keep_original, known.get(&l.audio_key)) {
                (true, _) => (0, RATE),
                (false, Some(frames)) => (*frames, RATE),
                (false, None) => probed
                    .get(l.audio_key.as_str())
                    .copied()
                    .unwrap_or((0, RATE)),
            })
            .collect())
    }

    /// The clip lengths (at [`RATE`]) the newest earlier version of a re-render planned: its
    /// lines' clips by key. None for a first render.
    async fn known_lengths(
        &self,
        input: &PlanTimingInput,
    ) -> Result<std::collections::HashMap<String, u64>, ActivityError> {
        let keys = JobKeys(input.job_id);
        for version in (1..input.version).rev() {
            let render = keys.render(version);
            let storage = &self.deps.storage;
            let (manifest, plan) = match (
                storage
                    .get_json::<Vec<SynthesizedLine>>(&render.tts_manifest())
                    .await,
                storage.get_json::<Plan>(&render.timing_plan()).await,
            ) {
                (Ok(manifest), Ok(plan)) => (manifest, plan),
                // A version that failed before planning has no plan: look further back.
                (Err(StorageError::NotFound(_)), _) | (_, Err(StorageError::NotFound(_))) => {
                    continue;
                }
                (Err(e), _) | (_, Err(e)) => return Err(error::storage(e)),
            };
            return Ok(manifest
                .into_iter()
                .zip(plan.placements)
                .filter(|(l, _)| !l.keep_original)
                .map(|(l, p)| (l.audio_key, p.natural))
                .collect());
        }
        Ok(Default::default())
    }

    /// The original track, downloaded when the background is another file (a separated stem)
    /// and the plan keeps some of the original audio.
    async fn original(
        &self,
        source_audio_key: &str,
        separated: bool,
        plan: &Plan,
        scratch: &Scratch,
    ) -> Result<Option<PathBuf>, ActivityError> {
        if !separated || plan.kept.is_empty() {
            return Ok(None);
        }
        let path = scratch.path("original.audio");
        self.deps
            .storage
            .download_to(source_audio_key, &path)
            .await
            .map_err(error::storage)?;
        Ok(Some(path))
    }
}

/// The background's gain under speech: a separated stem has no voices to duck; the original
/// track does; without background, none.
fn duck_gain(
    audio: &onevoice_shared::settings::AudioSettings,
    preserve: bool,
    separated: bool,
) -> f32 {
    match (preserve, separated) {
        (false, _) => 0.0,
        (true, true) => 1.0,
        (true, false) => 10f32.powf(audio.duck_db as f32 / 20.0),
    }
}

fn ms(samples: u64) -> u64 {
    samples * 1000 / u64::from(RATE)
}

#[activities]
impl AudioActivities {
    #[activity(name = activity::PLAN_TIMING)]
    pub async fn plan_timing(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: PlanTimingInput,
    ) -> Result<PlanTimingOutput, ActivityError> {
        let deps = &self.deps;
        let render = JobKeys(input.job_id).render(input.version);
        let key = render.step_result(Step::AudioTaskSetup);
        heartbeat::beating(&ctx, memo::once(&deps.storage, &key, || async {
            let lines: Vec<SynthesizedLine> = deps
                .storage
                .get_json(&input.manifest_key)
                .await
                .map_err(error::storage)?;
            let lengths = self.clip_lengths(&input, &lines).await?;
            let cues: Vec<Cue> = lines
                .iter()
                .zip(&lengths)
                .map(|(l, (frames, rate))| Cue {
                    start_s: l.start_ms as f64 / 1000.0,
                    end_s: l.end_ms as f64 / 1000.0,
                    clip_frames: *frames,
                    clip_rate: *rate,
                })
                .collect();
            let rules = DubRules {
                rate: RATE,
                max_speed: deps.audio.max_speed,
                tolerance_s: deps.audio.gap_tolerance.as_secs_f64(),
                ramp: engine::RAMP,
                ..DubRules::default()
            };
            // One track per speaker: people talking over each other are dubbed over each other.
            let mut speakers: Vec<Option<&str>> = Vec::new();
            let tracks: Vec<usize> = lines
                .iter()
                .map(|l| {
                    let who = l.speaker.as_deref();
                    speakers.iter().position(|s| *s == who).unwrap_or_else(|| {
                        speakers.push(who);
                        speakers.len() - 1
                    })
                })
                .collect();
            let mut timeline = plan_tracks(input.duration_ms as f64 / 1000.0, &cues, &tracks, rules);
            let samples = |ms: u64| (ms * u64::from(RATE) / 1000).min(timeline.frames);
            let kept: Vec<(u64, u64)> = lines
                .iter()
                .filter(|l| l.keep_original)
                .map(|l| (samples(l.start_ms), samples(l.end_ms)))
                .collect();
            timeline.keep_original(kept, engine::RAMP);
            // The dub's subtitles: what each clip says while it plays; a line kept undubbed
            // shows its translation over the original, in its own time.
            let dub_cues: Vec<srt::Cue> = timeline
                .placements
                .iter()
                .zip(&lines)
                .filter_map(|(p, l)| {
                    let (start_ms, end_ms) = if l.keep_original {
                        (l.start_ms, l.end_ms)
                    } else {
                        (ms(p.start), ms(p.start + p.placed))
                    };
                    (end_ms > start_ms).then(|| srt::Cue {
                        start_ms,
                        end_ms,
                        text: l.text.clone(),
                        speaker: l.speaker.clone(),
                    })
                })
                .collect();
            let unfit: Vec<UnfitLine> = timeline
                .placements
                .iter()
                .enumerate()
                .filter(|(_, p)| p.overrun() > 0)
                .map(|(i, p)| UnfitLine {
                    line: i as u32,
                    overrun_ms: ms(p.overrun()),
                })
                .collect();
            let (plan_key, (dub_srt_key, dub_vtt_key)) =
                (render.timing_plan(), render.dub_subtitles());
            deps.storage
                .put_json(&plan_key, &timeline)
                .await
                .map_err(error::storage)?;
            deps.storage
                .put_bytes(&dub_srt_key, srt::write(&dub_cues).into_bytes(), "application/x-subrip")
                .await
                .map_err(error::storage)?;
            deps.storage
                .put_bytes(&dub_vtt_key, srt::write_vtt(&dub_cues).into_bytes(), "text/vtt")
                .await
                .map_err(error::storage)?;
            if !unfit.is_empty() {
                tracing::info!(job = %input.job_id, lines = unfit.len(), "lines cut: too long for their slot even sped up");
            }
            Ok(PlanTimingOutput {
                plan_key,
                dub_srt_key,
                stretched: timeline.placements.iter().filter(|p| p.speed > 1.0).count() as u32,
                unfit,
                speakers: fit_by_speaker(&lines, &timeline.placements),
            })
        }))
        .await
    }

    /// The background stem: the source track without its original voices, from the separation
    /// service when one is configured, else (or when it refuses the track) offline, in the
    /// engine. Memoised, so a retry or resume reuses it.
    #[activity(name = activity::SEPARATE)]
    pub async fn separate(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SeparateInput,
    ) -> Result<SeparateOutput, ActivityError> {
        let deps = &self.deps;
        let keys = JobKeys(input.job_id);
        let service = deps.audio.separator.as_ref().map(|provider| LalalAi {
            http: &self.http,
            provider,
            storage: &deps.storage,
            task_key: keys.separation_task(),
            poll: deps.audio.separation_poll,
        });
        let done = heartbeat::beating(&ctx, memo::once(&deps.storage, &keys.separation(), || async {
            let cues: Vec<srt::Cue> = deps
                .storage
                .get_json(&input.cues_key)
                .await
                .map_err(error::storage)?;
            let at = |ms: u64| ms * u64::from(RATE) / 1000;
            let speech: Vec<(u64, u64)> = cues
                .iter()
                .map(|c| (at(c.start_ms), at(c.end_ms.max(c.start_ms))))
                .collect();
            let scratch = Scratch::new(&deps.tools.work_dir, "separate")?;
            let (source, stem, vocals) = (
                scratch.path("source.flac"),
                scratch.path("background.wav"),
                scratch.path("vocals.wav"),
            );
            deps.storage
                .download_to(&input.source_audio_key, &source)
                .await
                .map_err(error::storage)?;
            let track = separation::Track {
                source: &source,
                speech: &speech,
                out: &stem,
                vocals: input.vocals.then_some(vocals.as_path()),
            };
            let (separated, note) = match &service {
                None => (Offline.separate(&ctx, &track).await?, None),
                Some(service) => {
                    match service.separate(&ctx, &track).await {
                        Ok(separated) => (separated, None),
                        Err(e) => {
                            let Some(reason) = error::refused(&e) else {
                                return Err(e);
                            };
                            tracing::warn!(job = %input.job_id, %reason, "the separation service refused the track; separating offline");
                            let separated = Offline.separate(&ctx, &track).await?;
                            (separated, Some(format!("the separation service could not take this track ({reason}); the voices were taken out offline")))
                        }
                    }
                }
            };
            let stem_key = keys.background_stem();
            deps.storage
                .put_file_kept(&stem_key, &stem, "audio/wav")
                .await
                .map_err(error::storage)?;
            let vocals_key = if separated.vocals {
                let key = keys.vocals_stem();
                deps.storage
                    .put_file_kept(&key, &vocals, "audio/wav")
                    .await
                    .map_err(error::storage)?;
                Some(key)
            } else {
                None
            };
            let method = separated.method;
            tracing::info!(job = %input.job_id, method, vocals = vocals_key.is_some(), "original voices taken out of the background");
            Ok(SeparateOutput {
                stem_key,
                method: method.into(),
                note,
                vocals_key,
            })
        }))
        .await?;
        // Only now that the result is stored: see `LalalAi::forget`.
        if let Some(service) = &service {
            service.forget().await?;
        }
        Ok(done)
    }

    #[activity(name = activity::MIX)]
    pub async fn mix(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: MixInput,
    ) -> Result<MixOutput, ActivityError> {
        let deps = &self.deps;
        let render = JobKeys(input.job_id).render(input.version);
        let key = render.step_result(Step::MergeAudio);
        heartbeat::beating(&ctx, memo::once(&deps.storage, &key, || async {
            let lines: Vec<SynthesizedLine> = deps
                .storage
                .get_json(&input.manifest_key)
                .await
                .map_err(error::storage)?;
            let timeline: Plan = deps
                .storage
                .get_json(&input.plan_key)
                .await
                .map_err(error::storage)?;
            let scratch = Scratch::new(&deps.tools.work_dir, "mix")?;
            let started = std::time::Instant::now();
            let source = scratch.path("source.audio");
            let background = input
                .background_stem_key
                .as_ref()
                .unwrap_or(&input.source_audio_key);
            deps.storage
                .download_to(background, &source)
                .await
                .map_err(error::storage)?;
            let original = self.original(&input.source_audio_key, input.background_stem_key.is_some(), &timeline, &scratch).await?;
            let clips = self.clips(&lines, &scratch).await?;
            let fetched = started.elapsed().as_secs_f64();
            let spec = MixSpec {
                background: source,
                original,
                clips,
                // A separated stem has no voices to duck; the original track does.
                duck_gain: duck_gain(
                    &deps.audio,
                    input.preserve_background,
                    input.background_stem_key.is_some(),
                ),
                target_lufs: deps.audio.target_lufs,
                gain: input.gain,
                ceiling_db: deps.audio.true_peak_dbtp,
                true_peak: true,
                limiter: true,
                cancel: Default::default(),
                only: None,
            };
            let out = scratch.path("mix.wav");
            let cancel = spec.cancel.clone();
            let wav = out.clone();
            let report = blocking::run(&ctx, cancel, move || {
                mixer::mix(&spec, &timeline, RATE, &wav)
            })
            .await?;
            let audio_key = render.mix();
            let storing = std::time::Instant::now();
            deps.storage
                .put_file_kept(&audio_key, &out, "audio/wav")
                .await
                .map_err(error::storage)?;
            tracing::info!(job = %input.job_id, measured_lufs = report.measured_lufs, gain_db = report.gain_db,
                ceiling_bound = report.ceiling_bound, seconds = report.seconds_mixing + report.seconds_writing,
                fetch_seconds = fetched, store_seconds = storing.elapsed().as_secs_f64(), "mixed");
            Ok(MixOutput {
                audio_key,
                measured_lufs: report.measured_lufs,
                gain_db: report.gain_db,
                limited: report.limited,
            })
        }))
        .await
    }

    /// The exports editors ask for of one completed version: the voice stem, the background
    /// stem (both at the version's mix gain, without its limiter: together they are the mix)
    /// and the zip of every line's clip with its timing sheet. Memoised per version.
    #[activity(name = activity::EXPORT_STEMS)]
    pub async fn export_stems(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ExportInput,
    ) -> Result<ExportOutput, ActivityError> {
        let deps = &self.deps;
        let render = JobKeys(input.job_id).render(input.version);
        heartbeat::beating(&ctx, memo::once(&deps.storage, &render.export("result.json"), || async {
            let storage = &deps.storage;
            let lines: Vec<SynthesizedLine> =
                storage.get_json(&render.tts_manifest()).await.map_err(error::storage)?;
            let timeline: Plan =
                storage.get_json(&render.timing_plan()).await.map_err(error::storage)?;
            let mixed: MixOutput = storage
                .get_json(&render.step_result(Step::MergeAudio))
                .await
                .map_err(error::storage)?;
            let scratch = Scratch::new(&deps.tools.work_dir, "export")?;
            let source = scratch.path("source.audio");
            let background = input
                .background_stem_key
                .as_ref()
                .unwrap_or(&input.source_audio_key);
            storage.download_to(background, &source).await.map_err(error::storage)?;
            let original = self.original(&input.source_audio_key, input.background_stem_key.is_some(), &timeline, &scratch).await?;
            let clips = self.clips(&lines, &scratch).await?;
            let spec = MixSpec {
                background: source,
                original,
                clips: clips.clone(),
                duck_gain: duck_gain(&deps.audio, input.preserve_background, input.background_stem_key.is_some()),
                target_lufs: deps.audio.target_lufs,
                gain: Some(MixGain { gain_db: mixed.gain_db, limited: false }),
                ceiling_db: deps.audio.true_peak_dbtp,
                true_peak: true,
                limiter: false,
                cancel: Default::default(),
                only: None,
            };
            let (voices, rest, zip, dir) = (
                scratch.path("voices.wav"),
                scratch.path("background.wav"),
                scratch.path("clips.zip"),
                scratch.path(""),
            );
            let cancel = spec.cancel.clone();
            let written = {
                let (voices, rest, zip, cancel) = (voices.clone(), rest.clone(), zip.clone(), cancel.clone());
                blocking::run(&ctx, cancel.clone(), move || {
                    for (stem, out) in [(Stem::Voices, &voices), (Stem::Background, &rest)] {
                        let spec = MixSpec { only: Some(stem), ..spec.clone() };
                        mixer::mix(&spec, &timeline, RATE, out)?;
                    }
                    let archive = ClipArchive {
                        lines: &lines,
                        clips: &clips,
                        plan: &timeline,
                        rate: RATE,
                        gain: 10f64.powf(mixed.gain_db / 20.0) as f32,
                    };
                    let written = clip_archive(&archive, &zip, &dir, &cancel)?;
                    Ok((written, lines.len() as u32))
                })
                .await?
            };
            let output = ExportOutput {
                voices_key: render.export("voices.wav"),
                background_key: render.export("background.wav"),
                clips_key: render.export("clips.zip"),
                lines: written.1,
            };
            for (key, path, kind) in [
                (&output.voices_key, &voices, "audio/wav"),
                (&output.background_key, &rest, "audio/wav"),
                (&output.clips_key, &zip, "application/zip"),
            ] {
                storage.put_file(key, path, kind).await.map_err(error::storage)?;
            }
            tracing::info!(job = %input.job_id, version = input.version, clips = written.0, "exports written");
            Ok(output)
        }))
        .await
    }
}

/// The fit report per speaker, in order of first line: lines, voice, speed-ups, overruns.
fn fit_by_speaker(
    lines: &[SynthesizedLine],
    placements: &[engine::plan::Placement],
) -> Vec<SpeakerFit> {
    let mut out: Vec<SpeakerFit> = Vec::new();
    for (line, p) in lines.iter().zip(placements) {
        let i = match out.iter().position(|f| f.speaker == line.speaker) {
            Some(i) => i,
            None => {
                out.push(SpeakerFit {
                    speaker: line.speaker.clone(),
                    voice_id: line.voice_id.clone(),
                    lines: 0,
                    stretched: 0,
                    max_speed: 1.0,
                    mean_speed: 0.0,
                    overruns: 0,
                    overrun_ms: 0,
                });
                out.len() - 1
            }
        };
        let f = &mut out[i];
        f.lines += 1;
        f.stretched += u32::from(p.speed > 1.0);
        f.max_speed = f.max_speed.max(p.speed);
        f.mean_speed += p.speed;
        f.overruns += u32::from(p.overrun() > 0);
        f.overrun_ms += ms(p.overrun());
    }
    for f in &mut out {
        f.mean_speed = (f.mean_speed / f64::from(f.lines.max(1)) * 1000.0).round() / 1000.0;
    }
    out
}
