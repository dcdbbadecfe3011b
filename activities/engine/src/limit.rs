//! A stereo-linked look-ahead peak limiter: the gain starts falling a few milliseconds before a peak
//! that would pass the ceiling, so the peak itself comes out at the ceiling without clipping,
//! and recovers smoothly afterwards. It lets the mix reach its loudness target when a static
//! gain alone would push peaks over the ceiling.

use std::collections::VecDeque;

/// Release time constant (about 80 ms).
const RELEASE_FRAMES: f32 = 3_840.0;

pub struct Limiter {
    ceiling: f32,
    delay: VecDeque<[f32; 2]>,
    /// Indices (into the stream) and levels of the window's decreasing peaks.
    peaks: VecDeque<(u64, f32)>,
    frame: u64,
    gain: f32,
    attack: f32,
    release: f32,
}

impl Limiter {
    pub fn new(ceiling: f32) -> Self {
        Self {
            ceiling,
            delay: VecDeque::with_capacity(Self::LOOKAHEAD + 1),
            peaks: VecDeque::new(),
            frame: 0,
            gain: 1.0,
            // Close to the target within the look-ahead; the last fraction is clamped.
            attack: 1.0 - (-6.0 / Self::LOOKAHEAD as f32).exp(),
            release: 1.0 - (-1.0 / RELEASE_FRAMES).exp(),
        }
    }

    /// Feeds one frame; returns the frame [`Self::LOOKAHEAD`] frames earlier, limited (none at first).
    pub fn process(&mut self, frame: [f32; 2]) -> Option<[f32; 2]> {
        let level = frame[0].abs().max(frame[1].abs());
        while self.peaks.back().is_some_and(|(_, p)| *p <= level) {
            self.peaks.pop_back();
        }
        self.peaks.push_back((self.frame, level));
        self.delay.push_back(frame);
        self.frame += 1;
        if self.delay.len() <= Self::LOOKAHEAD {
            return None;
        }
        let out = self
            .delay
            .pop_front()
            .expect("the delay holds the look-ahead and one frame");
        let oldest = self.frame - (Self::LOOKAHEAD as u64 + 1);
        while self.peaks.front().is_some_and(|(i, _)| *i < oldest) {
            self.peaks.pop_front();
        }
        let peak = self.peaks.front().map_or(0.0, |(_, p)| *p);
        let target = if peak > self.ceiling {
            self.ceiling / peak
        } else {
            1.0
        };
        let rate = if target < self.gain {
            self.attack
        } else {
            self.release
        };
        self.gain += (target - self.gain) * rate;
        let g = self.gain;
        let clamp = |s: f32| (s * g).clamp(-self.ceiling, self.ceiling);
        Some([clamp(out[0]), clamp(out[1])])
    }

    /// The frames still in the look-ahead, limited.
    pub fn flush(&mut self) -> Vec<[f32; 2]> {
        let mut out = Vec::with_capacity(self.delay.len());
        for _ in 0..Self::LOOKAHEAD {
            if let Some(f) = self.process([0.0, 0.0]) {
                out.push(f);
            }
        }
        out
    }

    /// Frames between a frame going in and coming out (5 ms at 48 kHz).
    pub const LOOKAHEAD: usize = 240;

    /// Frames of history after which two limiters fed the same audio agree (to continue a
    /// stream from the middle).
    pub const WARM_UP: u64 = (Self::LOOKAHEAD as u64) + 12 * RELEASE_FRAMES as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_ceiling_and_leaves_quiet_audio_alone() {
        let mut l = Limiter::new(0.5);
        let input: Vec<[f32; 2]> = (0..48_000)
            .map(|n| {
                let loud = (20_000..20_100).contains(&n);
                let s = (n as f32 * 0.05).sin() * if loud { 0.9 } else { 0.2 };
                [s, -s]
            })
            .collect();
        let mut out: Vec<[f32; 2]> = input.iter().filter_map(|f| l.process(*f)).collect();
        out.extend(l.flush());
        assert_eq!(out.len(), input.len());
        assert!(out.iter().all(|f| f[0].abs() <= 0.5 && f[1].abs() <= 0.5));
        // Far from the burst the audio passes untouched.
        assert!((out[5_000][0] - input[5_000][0]).abs() < 1e-6);
        assert!((out[47_000][0] - input[47_000][0]).abs() < 2e-4);
        // Around the burst the gain dipped, but no more than needed.
        let peak = out[19_000..21_000]
            .iter()
            .fold(0.0f32, |p, f| p.max(f[0].abs()));
        assert!(peak > 0.45, "limited to the ceiling, not far below: {peak}");
    }
}
