//! Audio activities: placing the synthesized lines on the timeline over the original track
//! (merge_audio).
//!
//! This first version mixes with ffmpeg's filter graph: the original track is lowered under the
//! whole dub and each clip starts exactly at its subtitle's start time. The Rust DSP engine
//! (symphonia, rubato, time-stretch, ducking, loudness) replaces it in the audio-engine issue.

use crate::deps::Deps;
use crate::media::SAMPLE_RATE;
use crate::scratch::Scratch;
use crate::{error, memo, process};
use onevoice_shared::contracts::{
    MixInput, MixOutput, SynthesizedLine, activity, job_prefix, step_result_key,
};
use onevoice_shared::pipeline::Step;
use std::fmt::Write as _;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;

/// Gain of the original track under the dub (about -12 dB): speech stays intelligible while the
/// background keeps its ambience.
const BACKGROUND_GAIN: f32 = 0.25;

pub struct AudioActivities {
    deps: Deps,
}

impl AudioActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl AudioActivities {
    #[activity(name = activity::MIX)]
    pub async fn mix(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: MixInput,
    ) -> Result<MixOutput, ActivityError> {
        let deps = &self.deps;
        let key = step_result_key(input.job_id, Step::MergeAudio);
        memo::once(&deps.storage, &key, || async {
            let lines: Vec<SynthesizedLine> = deps
                .storage
                .get_json(&input.manifest_key)
                .await
                .map_err(error::storage)?;
            let scratch = Scratch::new(&deps.tools.work_dir, "mix")?;
            let source = scratch.path("source.wav");
            deps.storage
                .download_to(&input.source_audio_key, &source)
                .await
                .map_err(error::storage)?;
            let mut clips = Vec::with_capacity(lines.len());
            for (n, line) in lines.iter().enumerate() {
                let clip = scratch.path(&format!("{n:05}.wav"));
                deps.storage
                    .download_to(&line.audio_key, &clip)
                    .await
                    .map_err(error::storage)?;
                clips.push(clip);
            }
            let graph = scratch.path("graph.txt");
            let gain = if input.preserve_background {
                BACKGROUND_GAIN
            } else {
                0.0
            };
            tokio::fs::write(&graph, filter_graph(&lines, gain))
                .await
                .map_err(|e| error::transient(format!("cannot write filter graph: {e}")))?;
            let mixed = scratch.path("mix.wav");
            let mut cmd = Command::new(&deps.tools.ffmpeg);
            cmd.args(["-nostdin", "-v", "error", "-y", "-i"])
                .arg(&source);
            for clip in &clips {
                cmd.arg("-i").arg(clip);
            }
            cmd.arg("-filter_complex_script")
                .arg(&graph)
                .args([
                    "-map",
                    "[out]",
                    "-ac",
                    "1",
                    "-ar",
                    &SAMPLE_RATE.to_string(),
                    "-c:a",
                    "pcm_s16le",
                ])
                .args(["-t", &format!("{:.3}", input.duration_ms as f64 / 1000.0)])
                .arg(&mixed);
            process::run(&ctx, cmd, None, error::permanent).await?;
            let audio_key = format!("{}audio/mix.wav", job_prefix(input.job_id));
            deps.storage
                .put_file(&audio_key, &mixed, "audio/wav")
                .await
                .map_err(error::storage)?;
            Ok(MixOutput { audio_key })
        })
        .await
    }
}

/// The ffmpeg filter graph: input 0 is the original track, inputs 1..=n the clips in order.
fn filter_graph(lines: &[SynthesizedLine], background_gain: f32) -> String {
    let mut g = format!("[0:a]aresample={SAMPLE_RATE},volume={background_gain}[bg];\n");
    for (n, line) in lines.iter().enumerate() {
        let _ = writeln!(
            g,
            "[{}:a]aresample={SAMPLE_RATE},adelay={}:all=1[c{n}];",
            n + 1,
            line.start_ms
        );
    }
    g.push_str("[bg]");
    for n in 0..lines.len() {
        let _ = write!(g, "[c{n}]");
    }
    // duration=first: the mix is exactly as long as the original track; normalize=0 keeps levels
    // instead of dividing every input by the input count.
    let _ = write!(
        g,
        "amix=inputs={}:duration=first:dropout_transition=0:normalize=0,alimiter=limit=0.97[out]",
        lines.len() + 1
    );
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_places_each_clip_at_its_start() {
        let line = |start_ms| SynthesizedLine {
            start_ms,
            end_ms: start_ms + 1000,
            audio_key: String::new(),
        };
        let g = filter_graph(&[line(1500), line(4000)], BACKGROUND_GAIN);
        assert!(g.contains("[1:a]aresample=48000,adelay=1500:all=1[c0]"));
        assert!(g.contains("[2:a]aresample=48000,adelay=4000:all=1[c1]"));
        assert!(g.contains("[bg][c0][c1]amix=inputs=3:duration=first"));
    }
}
