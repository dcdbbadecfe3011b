//! The ducking envelope of the original track: `gain` under speech, linear ramps of `ramp`
//! samples placed just outside each window, 1 elsewhere. Windows are at least two ramps apart
//! (the plan merges closer ones), so ramps never overlap.

/// Spans (in any order) as the windows a [`Ducker`] takes: sorted, and merged where closer than
/// two ramps (their ramps would overlap).
pub fn windows(mut spans: Vec<(u64, u64)>, ramp: u64) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a < last.1 + 2 * ramp => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

pub struct Ducker<'a> {
    windows: &'a [(u64, u64)],
    gain: f32,
    ramp: u64,
    /// First window that may still touch the samples to come.
    next: usize,
}

impl<'a> Ducker<'a> {
    pub fn new(windows: &'a [(u64, u64)], gain: f32, ramp: u64) -> Self {
        Self {
            windows,
            gain,
            ramp,
            next: 0,
        }
    }

    /// Writes the gains of samples `start .. start + out.len()` (called with increasing starts).
    pub fn fill(&mut self, start: u64, out: &mut [f32]) {
        out.fill(1.0);
        let end = start + out.len() as u64;
        let r = self.ramp;
        while self.next < self.windows.len() && self.windows[self.next].1 + r <= start {
            self.next += 1;
        }
        for &(a, b) in &self.windows[self.next..] {
            let from = a.saturating_sub(r);
            if from >= end {
                break;
            }
            let span_from = from.max(start);
            let span_to = (b + r).min(end);
            for n in span_from..span_to {
                let g = if n < a {
                    1.0 - (1.0 - self.gain) * (n + r - a) as f32 / r as f32
                } else if n < b {
                    self.gain
                } else {
                    self.gain + (1.0 - self.gain) * (n - b) as f32 / r as f32
                };
                out[(n - start) as usize] = g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_closer_than_two_ramps_merge_in_any_order() {
        assert_eq!(
            windows(vec![(500, 600), (0, 100), (150, 200)], 30),
            [(0, 200), (500, 600)]
        );
    }

    #[test]
    fn trapezoid_with_ramps_outside_the_window_across_blocks() {
        let windows = [(100, 200)];
        let mut d = Ducker::new(&windows, 0.25, 10);
        let mut all = Vec::new();
        for start in (0..300).step_by(64) {
            let mut block = vec![0.0; 64.min(300 - start)];
            d.fill(start as u64, &mut block);
            all.extend(block);
        }
        assert_eq!(all[89], 1.0);
        assert_eq!(all[90], 1.0, "ramp starts at a - R with gain 1");
        assert!((all[95] - 0.625).abs() < 1e-6);
        assert_eq!(all[100], 0.25);
        assert_eq!(all[199], 0.25);
        assert_eq!(all[200], 0.25, "ramp up starts at b with gain G");
        assert!((all[205] - 0.625).abs() < 1e-6);
        assert_eq!(all[210], 1.0);
    }
}
