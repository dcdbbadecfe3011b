//! Where every dubbed clip goes on the output timeline: its start, its slot, how far it may spill
//! into the following gap, the speed-up that makes it fit (capped), and the ducking windows.
//! All positions are sample indices at the output rate.

use serde::{Deserialize, Serialize};

/// One line of the dub as the timeline needs it.
#[derive(Clone, Debug)]
pub struct Cue {
    pub start_s: f64,
    pub end_s: f64,
    /// Length of the synthesized clip and its sample rate.
    pub clip_frames: u64,
    pub clip_rate: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub rate: u32,
    /// The largest speed-up applied (the seed's `speed_factor.accept`, 1.2; its `max` is 1.4).
    pub max_speed: f64,
    /// How far a clip may run into the gap after its slot (seed `tolerance`, 1.5 s).
    pub tolerance_s: f64,
    /// Length of the ducking ramps; spans closer than two ramps share one window.
    pub ramp: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            rate: 48_000,
            max_speed: 1.2,
            tolerance_s: 1.5,
            ramp: 2_400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// First sample of the clip on the timeline.
    pub start: u64,
    pub slot: u64,
    /// Slot plus the allowed spill into the gap (never reaching the next line).
    pub window: u64,
    /// Clip length at the output rate before stretching.
    pub natural: u64,
    /// Applied speed-up (1 = as synthesized), rounded to 3 decimals.
    pub speed: f64,
    /// Length after stretching, and what is placed (cut to the window).
    pub stretched: u64,
    pub placed: u64,
}

impl Placement {
    /// Samples cut because the clip did not fit even at the maximum speed-up.
    pub fn overrun(&self) -> u64 {
        self.stretched - self.placed
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub frames: u64,
    pub placements: Vec<Placement>,
    /// Merged spans `[a, b)` under which the background is ducked.
    pub windows: Vec<(u64, u64)>,
}

/// Plans `cues` (sorted by start, not overlapping) on a timeline of `duration_s`.
pub fn plan(duration_s: f64, cues: &[Cue], rules: Rules) -> Plan {
    let rate = rules.rate as f64;
    let frames = (duration_s * rate).round() as u64;
    let starts: Vec<u64> = cues
        .iter()
        .map(|c| (c.start_s * rate).round() as u64)
        .collect();
    let tolerance = (rules.tolerance_s * rate).round() as u64;
    let mut placements = Vec::with_capacity(cues.len());
    for (i, cue) in cues.iter().enumerate() {
        let start = starts[i];
        let end = ((cue.end_s * rate).round() as u64).max(start);
        let slot = end - start;
        let next = starts.get(i + 1).copied().unwrap_or(frames).max(end);
        let window = slot + (next - end).min(tolerance);
        let natural =
            ((cue.clip_frames as f64 * rate) / cue.clip_rate.max(1) as f64).round() as u64;
        let speed = if natural <= slot || slot == 0 {
            1.0
        } else {
            ((natural as f64 / slot as f64).min(rules.max_speed).max(1.0) * 1000.0).round() / 1000.0
        };
        let stretched = (natural as f64 / speed).round() as u64;
        placements.push(Placement {
            start,
            slot,
            window,
            natural,
            speed,
            stretched,
            placed: stretched.min(window).min(frames.saturating_sub(start)),
        });
    }
    let mut windows: Vec<(u64, u64)> = Vec::new();
    for p in placements.iter().filter(|p| p.placed > 0) {
        let (a, b) = (p.start, p.start + p.placed);
        match windows.last_mut() {
            Some(last) if a < last.1 + 2 * rules.ramp => last.1 = last.1.max(b),
            _ => windows.push((a, b)),
        }
    }
    Plan {
        frames,
        placements,
        windows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start_s: f64, end_s: f64, clip_s: f64) -> Cue {
        Cue {
            start_s,
            end_s,
            clip_frames: (clip_s * 24_000.0) as u64,
            clip_rate: 24_000,
        }
    }

    #[test]
    fn fits_speeds_up_caps_and_truncates() {
        let cues = [
            cue(0.0, 2.0, 1.5), // fits as is
            cue(3.0, 5.0, 2.2), // 1.1x
            cue(6.0, 8.0, 3.0), // capped at 1.2, spills into the gap
            cue(8.5, 9.0, 3.0), // capped, truncated at the end of the timeline
        ];
        let p = plan(10.0, &cues, Rules::default());
        assert_eq!(p.frames, 480_000);
        let speeds: Vec<f64> = p.placements.iter().map(|x| x.speed).collect();
        assert_eq!(speeds, [1.0, 1.1, 1.2, 1.2]);
        assert_eq!(
            p.placements[2].window,
            96_000 + 24_000,
            "slot + the 0.5 s gap"
        );
        assert_eq!(p.placements[2].placed, 120_000);
        assert_eq!(p.placements[2].overrun(), 0);
        assert_eq!(p.placements[3].placed, 480_000 - 408_000);
        assert!(p.placements[3].overrun() > 0);
        // 2.0→3.0 and 5.0→6.0 gaps are longer than two ramps: separate windows; 8.0→8.5 merges.
        assert_eq!(p.windows.len(), 3);
        assert_eq!(p.windows[2], (288_000, 480_000));
    }
}
