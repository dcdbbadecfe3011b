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
    /// Merged spans `[a, b)` where the original audio plays as it was, voices and all: lines
    /// the user kept undubbed (plans from before have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<(u64, u64)>,
}

impl Plan {
    /// Plays the original audio over `spans` (lines left undubbed, which have no clip), with
    /// ramps of `ramp` samples just outside them.
    pub fn keep_original(&mut self, spans: Vec<(u64, u64)>, ramp: u64) {
        self.kept = super::duck::windows(spans, ramp);
    }
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
    let windows = duck_windows(&placements, rules.ramp);
    Plan {
        frames,
        placements,
        windows,
        kept: Vec::new(),
    }
}

/// The seed's timing rules for a dub (`_8_1`/`_8_2`/`_10` of the old service).
#[derive(Clone, Copy, Debug)]
pub struct DubRules {
    pub rate: u32,
    /// Speed-up accepted without rearranging (the seed's `speed_factor.accept`).
    pub accept: f64,
    /// The most a line is ever sped up (`speed_factor.max`); beyond it the end is cut.
    pub max_speed: f64,
    /// How far the last line of a group may run into the following gap (`tolerance`).
    pub tolerance_s: f64,
    /// Lines shorter than this are grouped with the next (`min_subtitle_duration`).
    pub min_duration_s: f64,
    /// The most lines in one group (the seed's chunks of 1 to 3 rows).
    pub max_group: usize,
    pub ramp: u64,
}

impl Default for DubRules {
    fn default() -> Self {
        Self {
            rate: 48_000,
            accept: 1.2,
            max_speed: 1.4,
            tolerance_s: 1.5,
            min_duration_s: 2.5,
            max_group: 3,
            ramp: 2_400,
        }
    }
}

/// Plans a dub with the seed's rules, one voice: [`plan_tracks`] with every line on one track.
pub fn plan_dub(duration_s: f64, cues: &[Cue], rules: DubRules) -> Plan {
    plan_tracks(duration_s, cues, &vec![0; cues.len()], rules)
}

/// Plans a dub whose lines (sorted by start) are spoken on `tracks` (one per speaker: line `k`
/// is on `tracks[k]`). Each track is planned on its own with the seed's rules: lines are grouped
/// (at most `max_group`) while a line is shorter than `min_duration_s` or would need more than
/// `accept` to fit its own room; each group gets one speed factor, chosen in the seed's order:
/// keep the gaps within the group's span, drop them, keep them using the tolerance after the
/// group, or drop them using it, never past `max_speed`; what still does not fit is cut at the
/// end of the group's room and reported. Without a speed-up every line starts at its own
/// subtitle; sped-up groups are packed from the group's start (with the gaps scaled when kept).
///
/// Across tracks, a line's room also ends where another speaker's next line begins after it —
/// the dub does not talk over the next turn — but a line of someone else that starts inside
/// its slot (people talking over each other in the original) limits nothing: both are placed,
/// whole, and the mixer plays them together.
pub fn plan_tracks(duration_s: f64, cues: &[Cue], tracks: &[usize], rules: DubRules) -> Plan {
    let rate = rules.rate as f64;
    let frames = (duration_s * rate).round() as u64;
    let at = |s: f64| ((s * rate).round() as u64).min(frames);
    let starts: Vec<u64> = cues.iter().map(|c| at(c.start_s)).collect();
    let ends: Vec<u64> = cues
        .iter()
        .zip(&starts)
        .map(|(c, s)| at(c.end_s).max(*s))
        .collect();
    // Where another track's next turn begins after each line's slot (lines are sorted by
    // start: the first such line after the slot's end).
    let fences: Vec<u64> = (0..cues.len())
        .map(|k| {
            let after = starts.partition_point(|&s| s < ends[k]);
            (after..cues.len())
                .find(|&m| tracks.get(m) != tracks.get(k))
                .map_or(frames, |m| starts[m])
        })
        .collect();
    let mut placements: Vec<Option<Placement>> = vec![None; cues.len()];
    let mut names: Vec<usize> = tracks.to_vec();
    names.sort_unstable();
    names.dedup();
    for track in names {
        let lines: Vec<usize> = (0..cues.len())
            .filter(|&k| tracks.get(k) == Some(&track))
            .collect();
        let track_cues: Vec<Cue> = lines.iter().map(|&k| cues[k].clone()).collect();
        let track_fences: Vec<u64> = lines.iter().map(|&k| fences[k]).collect();
        for (k, p) in lines
            .into_iter()
            .zip(plan_track(frames, &track_cues, &track_fences, rules))
        {
            placements[k] = Some(p);
        }
    }
    let placements: Vec<Placement> = placements.into_iter().flatten().collect();
    let windows = duck_windows(&placements, rules.ramp);
    Plan {
        frames,
        placements,
        windows,
        kept: Vec::new(),
    }
}

/// The placements of one track's lines; `fences[k]`: where line `k`'s room ends at the latest.
fn plan_track(frames: u64, cues: &[Cue], fences: &[u64], rules: DubRules) -> Vec<Placement> {
    let rate = rules.rate as f64;
    let at = |s: f64| ((s * rate).round() as u64).min(frames);
    let starts: Vec<u64> = cues.iter().map(|c| at(c.start_s)).collect();
    let ends: Vec<u64> = cues
        .iter()
        .zip(&starts)
        .map(|(c, s)| at(c.end_s).max(*s))
        .collect();
    let naturals: Vec<u64> = cues
        .iter()
        .map(|c| ((c.clip_frames as f64 * rate) / c.clip_rate.max(1) as f64).round() as u64)
        .collect();
    let tolerance = (rules.tolerance_s * rate).round() as u64;
    let min_duration = (rules.min_duration_s * rate).round() as u64;
    let next_start = |k: usize| {
        starts
            .get(k + 1)
            .copied()
            .unwrap_or(frames)
            .max(ends[k])
            .min(fences[k].max(ends[k]))
    };
    // The room of a group `i..=j`: from its first start to its last end plus the tolerance.
    let room = |i: usize, j: usize| ends[j] - starts[i] + (next_start(j) - ends[j]).min(tolerance);

    let mut placements: Vec<Placement> = Vec::with_capacity(cues.len());
    let mut i = 0;
    while i < cues.len() {
        let mut j = i;
        while j + 1 < cues.len() && j + 1 - i < rules.max_group {
            let clips: u64 = naturals[i..=j].iter().sum();
            let short = ends[j] - starts[j] < min_duration;
            let too_fast = clips as f64 > rules.accept * room(i, j) as f64;
            if !(short || too_fast) {
                break;
            }
            j += 1;
        }
        let span = (ends[j] - starts[i]).max(1) as f64;
        let window = room(i, j).max(1) as f64;
        let clips: f64 = naturals[i..=j].iter().sum::<u64>() as f64;
        let gaps: f64 = (i..j)
            .map(|k| starts[k + 1].saturating_sub(ends[k]) as f64)
            .sum();
        let (speed, keep_gaps) = if clips + gaps <= rules.accept * span {
            ((clips + gaps) / span, true)
        } else if clips <= rules.accept * span {
            (clips / span, false)
        } else if clips + gaps <= rules.accept * window {
            ((clips + gaps) / window, true)
        } else {
            (clips / window, false)
        };
        let speed = (speed.clamp(1.0, rules.max_speed) * 1000.0).round() / 1000.0;
        let limit = starts[i] + room(i, j);
        let mut position = starts[i];
        for k in i..=j {
            // Unhurried lines keep their own start; hurried ones follow each other.
            let start = if speed == 1.0 {
                position.max(starts[k])
            } else {
                position
            };
            let stretched = (naturals[k] as f64 / speed).round() as u64;
            // A line never runs into the next line's own start, nor past the group's room.
            let own_limit = if k < j && speed == 1.0 {
                next_start(k)
            } else {
                limit
            };
            let placed = stretched.min(own_limit.saturating_sub(start));
            placements.push(Placement {
                start,
                slot: ends[k] - starts[k],
                window: own_limit.saturating_sub(start),
                natural: naturals[k],
                speed,
                stretched,
                placed,
            });
            position = start + placed;
            if keep_gaps && k < j {
                position += (starts[k + 1].saturating_sub(ends[k]) as f64 / speed).round() as u64;
            }
        }
        i = j + 1;
    }
    placements
}

/// Placed spans merged into ducking windows (spans closer than two ramps share one).
fn duck_windows(placements: &[Placement], ramp: u64) -> Vec<(u64, u64)> {
    let spans: Vec<(u64, u64)> = placements
        .iter()
        .filter(|p| p.placed > 0)
        .map(|p| (p.start, p.start + p.placed))
        .collect();
    super::duck::windows(spans, ramp)
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

    fn dub_cue(start_s: f64, end_s: f64, clip_s: f64) -> Cue {
        cue(start_s, end_s, clip_s)
    }

    #[test]
    fn seed_rules_group_short_and_hurried_lines_and_never_pass_the_maximum() {
        let rules = DubRules::default();
        let cues = [
            dub_cue(0.0, 3.0, 2.0),   // fits alone at its own start
            dub_cue(4.0, 5.0, 1.4),   // short (1 s): grouped with the next
            dub_cue(5.5, 8.0, 3.0),   //   the group needs 4.4 s in 4.0 s (+0.5 s gap kept? no)
            dub_cue(12.0, 14.0, 6.0), // far too long even at 1.4 with the tolerance: cut
        ];
        let p = plan_dub(20.0, &cues, rules);
        assert_eq!(p.placements.len(), 4);
        assert!(p.placements.iter().all(|x| x.speed <= rules.max_speed));
        let first = &p.placements[0];
        assert_eq!((first.start, first.speed, first.overrun()), (0, 1.0, 0));
        // The group of lines 1-2 shares one speed factor and is packed from 4.0 s.
        let (a, b) = (&p.placements[1], &p.placements[2]);
        assert_eq!(a.speed, b.speed);
        assert!(a.speed > 1.0 && a.speed <= 1.2, "{a:?}");
        assert_eq!(a.start, 4 * 48_000);
        assert!(b.start >= a.start + a.placed, "no overlap");
        assert_eq!(b.overrun(), 0);
        assert!(
            b.start + b.placed <= 8 * 48_000 + 48_000 * 3 / 2,
            "inside the group's room"
        );
        // The last line is cut at its room (slot + 1.5 s of the 6 s gap) and reported.
        let last = &p.placements[3];
        assert_eq!(last.speed, 1.4);
        assert_eq!(last.placed, (3.5 * 48_000.0) as u64);
        assert!(last.overrun() > 0);
        // Lines never overlap, whatever the grouping.
        for w in p.placements.windows(2) {
            assert!(w[0].start + w[0].placed <= w[1].start);
        }
    }

    /// A re-render re-plans the whole timeline from the clips' lengths; what keeps the
    /// unchanged stretches identical is that the grouping looks only forward from a group's
    /// first line, a few lines deep: one line's new length changes only the groups that could
    /// reach it and those after it until a group starts on the same line again.
    #[test]
    fn one_lines_new_length_moves_only_its_neighbourhood() {
        let rules = DubRules::default();
        // A busy minute-long stretch, repeated: lines of 1 to 5 s, gaps of 0.1 to 2 s, clips
        // from 0.6 to 1.6 times their slot (many lines grouped and sped up).
        let mut seed = 7u64;
        let mut next = |lo: f64, hi: f64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((seed >> 33) as f64 / (1u64 << 31) as f64)
        };
        let mut cues = Vec::new();
        let mut at = 0.5;
        while at < 300.0 {
            let slot = next(1.0, 5.0);
            let clip = slot * next(0.6, 1.6);
            cues.push(dub_cue(at, at + slot, clip));
            at += slot + next(0.1, 2.0);
        }
        let before = plan_dub(310.0, &cues, rules);
        let mut widest = 0;
        for k in 0..cues.len() {
            for factor in [0.5, 1.5] {
                let mut edited = cues.clone();
                edited[k].clip_frames = (edited[k].clip_frames as f64 * factor) as u64;
                let after = plan_dub(310.0, &edited, rules);
                let moved: Vec<usize> = (0..cues.len())
                    .filter(|&i| before.placements[i] != after.placements[i])
                    .collect();
                let (Some(&first), Some(&last)) = (moved.first(), moved.last()) else {
                    continue;
                };
                assert!(
                    first + rules.max_group > k,
                    "line {first} moved, before the group that could reach line {k}"
                );
                widest = widest.max(last - first + 1);
            }
        }
        assert!(
            widest <= 3 * rules.max_group,
            "a new length moved {widest} lines of {}",
            cues.len()
        );
    }

    #[test]
    fn speakers_talking_over_each_other_are_both_placed_whole() {
        let rules = DubRules::default();
        let s = |x: f64| (x * 48_000.0) as u64;
        // A talks from 0 to 3 s; B cuts in at 2 s. Each dubbed line takes 3.8 s.
        let cues = [dub_cue(0.0, 3.0, 3.8), dub_cue(2.0, 5.0, 3.8)];
        // One voice: A's room ends with its slot (B's line follows at once), so it is hurried.
        let one = plan_dub(10.0, &cues, rules);
        assert!(one.placements[0].speed > 1.0, "{:?}", one.placements[0]);
        // Two speakers: A runs into the gap after its slot as any line does, B is not in its
        // way; both at their own starts, overlapping as in the original.
        let two = plan_tracks(10.0, &cues, &[0, 1], rules);
        for (p, start) in two.placements.iter().zip([0.0, 2.0]) {
            assert_eq!((p.start, p.speed, p.overrun()), (s(start), 1.0, 0), "{p:?}");
        }
        // One ducking window under both.
        assert_eq!(two.windows, [(0, s(5.8))]);
    }

    #[test]
    fn a_speaker_does_not_talk_over_the_next_turn() {
        let rules = DubRules::default();
        // A's line (0–2 s) needs 3 s; B answers at 2.5 s. A's room ends at B's turn: sped up
        // and cut there; B's own line starts on time.
        let cues = [dub_cue(0.0, 2.0, 3.0), dub_cue(2.5, 5.0, 2.0)];
        let two = plan_tracks(10.0, &cues, &[0, 1], rules);
        let a = &two.placements[0];
        assert!(a.start + a.placed <= (2.5 * 48_000.0) as u64, "{a:?}");
        assert!(a.speed > 1.0 && a.speed <= rules.max_speed, "{a:?}");
        assert_eq!(two.placements[1].start, (2.5 * 48_000.0) as u64);
    }
}
