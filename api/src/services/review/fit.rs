//! The fit report: how a dub's lines fit their time, and which ones a user should shorten.

use super::{Segment, segments};
use crate::services::Result;
use crate::state::AppState;
use onevoice_shared::ids::{JobId, UserId};

/// How a dub's lines fit their time, for a client to show which lines to shorten.
pub struct FitReport {
    pub lines: u32,
    /// Lines whose speech, after any speed-up, ends within their own slot, and their share
    /// (to three places; 1 for a dub without lines).
    pub within_slot: u32,
    pub within_slot_share: f64,
    /// Lines sped up, and the largest and mean speed-up over all lines.
    pub stretched: u32,
    pub max_speed: f64,
    pub mean_speed: f64,
    /// Lines whose end was cut, and how much was cut in all.
    pub overruns: u32,
    pub overrun_ms: u64,
    /// The lines that fit worst, worst first: cut ones by how much was cut, then by the speed
    /// they would need to fit their slot.
    pub worst: Vec<UnfitLine>,
}

/// A line that fits its time badly.
pub struct UnfitLine {
    pub index: u32,
    pub translation: String,
    /// The line's span in the original, and the dubbed line's length as synthesized.
    pub slot_ms: u64,
    pub natural_ms: u64,
    /// Speed-up applied, and the speed-up it would need to fit its own span (to three places).
    pub speed: f64,
    pub needed_speed: f64,
    pub overrun_ms: u64,
}

/// The most lines the fit report names.
pub const WORST_LINES: usize = 10;

/// The speed a line would need to fit its own slot (1 when it fits as synthesized).
fn needed_speed(s: &Segment) -> f64 {
    let slot = s.slot_ms();
    if slot == 0 {
        return 1.0;
    }
    (s.natural_ms as f64 / slot as f64).max(1.0)
}

fn thousandths(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The fit report of one of the caller's finished jobs.
pub async fn fit(state: &AppState, user: UserId, job: JobId) -> Result<FitReport> {
    let all = segments(state, user, job).await?.lines;
    let spoken_ends = |s: &Segment| s.planned_ms.1.saturating_sub(s.rendered.end_ms);
    let mut worst: Vec<&Segment> = all
        .iter()
        .filter(|s| s.overrun_ms > 0 || spoken_ends(s) > 0 || s.speed > 1.0)
        .collect();
    worst.sort_by(|a, b| {
        b.overrun_ms
            .cmp(&a.overrun_ms)
            .then(needed_speed(b).total_cmp(&needed_speed(a)))
            .then(a.index.cmp(&b.index))
    });
    worst.truncate(WORST_LINES);
    let lines = all.len() as u32;
    let within_slot = all.iter().filter(|s| spoken_ends(s) == 0).count() as u32;
    Ok(FitReport {
        lines,
        within_slot,
        within_slot_share: if lines == 0 {
            1.0
        } else {
            thousandths(f64::from(within_slot) / f64::from(lines))
        },
        stretched: all.iter().filter(|s| s.speed > 1.0).count() as u32,
        max_speed: all.iter().map(|s| s.speed).fold(1.0, f64::max),
        mean_speed: thousandths(all.iter().map(|s| s.speed).sum::<f64>() / all.len().max(1) as f64),
        overruns: all.iter().filter(|s| s.overrun_ms > 0).count() as u32,
        overrun_ms: all.iter().map(|s| s.overrun_ms).sum(),
        worst: worst
            .into_iter()
            .map(|s| UnfitLine {
                index: s.index,
                translation: s.rendered.translation.clone(),
                slot_ms: s.rendered.end_ms.saturating_sub(s.rendered.start_ms),
                natural_ms: s.natural_ms,
                speed: s.speed,
                needed_speed: thousandths(needed_speed(s)),
                overrun_ms: s.overrun_ms,
            })
            .collect(),
    })
}
