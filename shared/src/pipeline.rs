//! The dubbing pipeline's steps, their seed names and weights (seed-system.md §3.1), and progress.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One step of `DubbingWorkflow`, in execution order. The names are the seed's `job_steps.step_name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    PrepareVideo,
    SpeechRecognition,
    NlpSplit,
    MeaningSplit,
    Summarize,
    Translate,
    SplitSubtitles,
    GenerateSubtitles,
    EmbedSubtitles,
    AudioTaskSetup,
    DubChunks,
    ExtractReferenceAudio,
    GenerateAudio,
    MergeAudio,
    FinalVideo,
}

impl Step {
    pub const ALL: [Step; 15] = [
        Step::PrepareVideo,
        Step::SpeechRecognition,
        Step::NlpSplit,
        Step::MeaningSplit,
        Step::Summarize,
        Step::Translate,
        Step::SplitSubtitles,
        Step::GenerateSubtitles,
        Step::EmbedSubtitles,
        Step::AudioTaskSetup,
        Step::DubChunks,
        Step::ExtractReferenceAudio,
        Step::GenerateAudio,
        Step::MergeAudio,
        Step::FinalVideo,
    ];

    pub fn name(self) -> &'static str {
        self.meta().0
    }

    /// Relative share of the job's progress; the weights add up to 110 as in the seed.
    pub fn weight(self) -> u32 {
        self.meta().1
    }

    /// 1-based position, stored as `job_steps.step_order`.
    pub fn order(self) -> u32 {
        Step::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i as u32 + 1)
    }

    fn meta(self) -> (&'static str, u32) {
        match self {
            Step::PrepareVideo => ("prepare_video", 3),
            Step::SpeechRecognition => ("speech_recognition", 15),
            Step::NlpSplit => ("nlp_split", 5),
            Step::MeaningSplit => ("meaning_split", 5),
            Step::Summarize => ("summarize", 8),
            Step::Translate => ("translate", 15),
            Step::SplitSubtitles => ("split_subtitles", 5),
            Step::GenerateSubtitles => ("generate_subtitles", 8),
            Step::EmbedSubtitles => ("embed_subtitles", 5),
            Step::AudioTaskSetup => ("audio_task_setup", 5),
            Step::DubChunks => ("dub_chunks", 5),
            Step::ExtractReferenceAudio => ("extract_reference_audio", 3),
            Step::GenerateAudio => ("generate_audio", 15),
            Step::MergeAudio => ("merge_audio", 5),
            Step::FinalVideo => ("final_video", 8),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub const TOTAL_WEIGHT: u32 = 110;

/// Progress in percent (0–100) when `finished` steps are done: the weighted share, as the seed computes it.
pub fn progress_percent(finished: &[Step]) -> f64 {
    let done: u32 = finished.iter().map(|s| s.weight()).sum();
    (f64::from(done) * 100.0 / f64::from(TOTAL_WEIGHT)).min(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_the_seed() {
        assert_eq!(
            Step::ALL.iter().map(|s| s.weight()).sum::<u32>(),
            TOTAL_WEIGHT
        );
        assert_eq!(Step::PrepareVideo.order(), 1);
        assert_eq!(Step::FinalVideo.order(), 15);
        assert_eq!(
            serde_json::to_string(&Step::GenerateAudio).unwrap(),
            "\"generate_audio\""
        );
    }

    #[test]
    fn progress_is_weighted() {
        assert_eq!(progress_percent(&[]), 0.0);
        assert!((progress_percent(&[Step::PrepareVideo]) - 300.0 / 110.0).abs() < 1e-9);
        assert_eq!(progress_percent(&Step::ALL), 100.0);
    }
}

/// Credits a job costs: `per_minute` for every started minute of media (at least one minute).
/// The quote and the charge both use this function, so the price a user sees is the price paid.
pub fn credit_cost(duration_ms: u64, per_minute: u32) -> i64 {
    let minutes = duration_ms.div_ceil(60_000).max(1);
    minutes as i64 * i64::from(per_minute)
}

/// Credits a re-render costs: the seconds of the lines it speaks anew at the per-minute rate,
/// rounded up, at least one credit.
pub fn rerender_cost(changed_ms: u64, per_minute: u32) -> i64 {
    let credits = (u128::from(changed_ms) * u128::from(per_minute)).div_ceil(60_000);
    i64::try_from(credits).unwrap_or(i64::MAX).max(1)
}

#[cfg(test)]
mod cost_tests {
    use super::{credit_cost, rerender_cost};

    #[test]
    fn a_rerender_costs_its_changed_seconds_and_at_least_one_credit() {
        assert_eq!(rerender_cost(0, 10), 1);
        assert_eq!(rerender_cost(1_500, 10), 1);
        assert_eq!(rerender_cost(6_000, 10), 1);
        assert_eq!(rerender_cost(6_001, 10), 2);
        assert_eq!(rerender_cost(90_000, 10), 15);
        assert_eq!(rerender_cost(u64::MAX, u32::MAX), i64::MAX);
    }

    #[test]
    fn charges_per_started_minute() {
        assert_eq!(credit_cost(0, 10), 10);
        assert_eq!(credit_cost(11_000, 10), 10);
        assert_eq!(credit_cost(60_000, 10), 10);
        assert_eq!(credit_cost(60_001, 10), 20);
        assert_eq!(credit_cost(3_600_000, 10), 600);
    }
}
