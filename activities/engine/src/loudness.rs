//! BS.1770-4 integrated loudness and sample peak of a stereo stream, measured as it passes.
//!
//! The `ebur128` crate measures the same thing (the mix still asks it for the true peak), but
//! its K-weighting runs one channel at a time through a fourth-order filter whose every sample
//! waits on the last (about 20 cycles a sample). Here both channels run side by side through
//! the spec's two biquads, with the feedback term added last, so the four recursions overlap:
//! an hour of 48 kHz stereo is measured in about a quarter of the time. The gating follows the
//! spec: 400 ms blocks every 100 ms, an absolute gate at -70 LUFS and a relative one 10 LU
//! under the mean of what passed the first.

/// One biquad's coefficients, `a0` normalised to 1.
#[derive(Clone, Copy, Debug)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// Stage 1, the head's high shelf (+4 dB above ~1.7 kHz), derived for any rate the way the
    /// spec's 48 kHz table was.
    fn shelf(rate: f64) -> Self {
        const F0: f64 = 1_681.974_450_955_533;
        const GAIN_DB: f64 = 3.999_843_853_973_347;
        const Q: f64 = 0.707_175_236_955_419_6;
        let k = (std::f64::consts::PI * F0 / rate).tan();
        let vh = 10f64.powf(GAIN_DB / 20.0);
        let vb = vh.powf(0.499_666_774_154_541_6);
        let a0 = 1.0 + k / Q + k * k;
        Self {
            b: [
                (vh + vb * k / Q + k * k) / a0,
                2.0 * (k * k - vh) / a0,
                (vh - vb * k / Q + k * k) / a0,
            ],
            a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / Q + k * k) / a0],
        }
    }

    /// Stage 2, the revised low-frequency B-curve: a high-pass at ~38 Hz (numerator 1, -2, 1,
    /// as in the spec's table).
    fn high_pass(rate: f64) -> Self {
        const F0: f64 = 38.135_470_876_024_44;
        const Q: f64 = 0.500_327_037_323_877_3;
        let k = (std::f64::consts::PI * F0 / rate).tan();
        let a0 = 1.0 + k / Q + k * k;
        Self {
            b: [1.0, -2.0, 1.0],
            a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / Q + k * k) / a0],
        }
    }
}

/// Direct-form-I state of one biquad for both channels: the last two inputs and outputs.
#[derive(Clone, Copy, Default)]
struct State {
    x1: [f64; 2],
    x2: [f64; 2],
    y1: [f64; 2],
    y2: [f64; 2],
}

impl State {
    #[inline(always)]
    fn step(&mut self, f: &Biquad, x: [f64; 2]) -> [f64; 2] {
        let mut y = [0.0; 2];
        for c in 0..2 {
            // Everything but the previous output first: only the last product and subtraction
            // wait on the previous sample.
            let ahead =
                f.b[0] * x[c] + f.b[1] * self.x1[c] + f.b[2] * self.x2[c] - f.a[1] * self.y2[c];
            y[c] = ahead - f.a[0] * self.y1[c];
        }
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }

    /// Zeroes what has decayed to nothing, so silence never drags the filter into subnormal
    /// arithmetic (tens of times slower) for long.
    fn settle(&mut self) {
        for v in [&mut self.x1, &mut self.x2, &mut self.y1, &mut self.y2] {
            for s in v.iter_mut() {
                if s.abs() < 1e-200 {
                    *s = 0.0;
                }
            }
        }
    }
}

/// Measures interleaved stereo blocks as they come.
pub struct StereoLoudness {
    shelf: Biquad,
    high_pass: Biquad,
    stages: [State; 2],
    /// Frames in 100 ms; four make a gating block.
    sub_len: usize,
    /// Frames and K-weighted energy (both channels) of the 100 ms piece being filled.
    filled: usize,
    energy: f64,
    /// The energy of every complete 100 ms piece: 8 bytes per 100 ms, 288 KB an hour.
    pieces: Vec<f64>,
    peak: f32,
}

impl StereoLoudness {
    pub fn new(rate: u32) -> Self {
        let r = f64::from(rate);
        Self {
            shelf: Biquad::shelf(r),
            high_pass: Biquad::high_pass(r),
            stages: [State::default(); 2],
            sub_len: (rate as usize / 10).max(1),
            filled: 0,
            energy: 0.0,
            pieces: Vec::new(),
            peak: 0.0,
        }
    }

    /// Adds interleaved stereo frames (a trailing half frame is ignored).
    pub fn add(&mut self, interleaved: &[f32]) {
        let mut frames = interleaved.chunks_exact(2);
        loop {
            let take = self.sub_len - self.filled;
            let mut energy = 0.0;
            let mut peak = self.peak;
            let [shelf, high_pass] = &mut self.stages;
            let mut n = 0;
            for f in frames.by_ref().take(take) {
                let x = [f64::from(f[0]), f64::from(f[1])];
                let y = high_pass.step(&self.high_pass, shelf.step(&self.shelf, x));
                energy += y[0] * y[0] + y[1] * y[1];
                peak = peak.max(f[0].abs()).max(f[1].abs());
                n += 1;
            }
            self.peak = peak;
            self.energy += energy;
            self.filled += n;
            if self.filled < self.sub_len {
                return;
            }
            self.pieces.push(self.energy);
            self.energy = 0.0;
            self.filled = 0;
            self.stages.iter_mut().for_each(State::settle);
        }
    }

    /// The gated integrated loudness in LUFS of what was added (-inf for silence or less than
    /// one 400 ms block).
    pub fn integrated(&self) -> f64 {
        let per_block = 4.0 * self.sub_len as f64;
        // The mean square (summed over channels) of every 400 ms block, 100 ms apart.
        let blocks: Vec<f64> = self
            .pieces
            .windows(4)
            .map(|w| w.iter().sum::<f64>() / per_block)
            .collect();
        let lufs = |z: f64| -0.691 + 10.0 * z.log10();
        let gated_mean = |threshold: f64| {
            let (sum, n) = blocks
                .iter()
                .filter(|z| lufs(**z) > threshold)
                .fold((0.0, 0usize), |(s, n), z| (s + z, n + 1));
            (n > 0).then(|| sum / n as f64)
        };
        let Some(absolute) = gated_mean(-70.0) else {
            return f64::NEG_INFINITY;
        };
        let relative = lufs(absolute) - 10.0;
        gated_mean(relative.max(-70.0)).map_or(f64::NEG_INFINITY, lufs)
    }

    /// The largest absolute sample added.
    pub fn sample_peak(&self) -> f32 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebur128::{EbuR128, Mode};

    #[test]
    fn the_filters_at_48k_are_the_specs_table() {
        let shelf = Biquad::shelf(48_000.0);
        let hp = Biquad::high_pass(48_000.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(shelf.b[0], 1.535_124_859_586_97), "{shelf:?}");
        assert!(close(shelf.b[1], -2.691_696_189_406_38), "{shelf:?}");
        assert!(close(shelf.b[2], 1.198_392_810_852_85), "{shelf:?}");
        assert!(close(shelf.a[0], -1.690_659_293_182_41), "{shelf:?}");
        assert!(close(shelf.a[1], 0.732_480_774_215_85), "{shelf:?}");
        assert!(close(hp.a[0], -1.990_047_454_833_98), "{hp:?}");
        assert!(close(hp.a[1], 0.990_072_250_366_21), "{hp:?}");
    }

    /// A signal whose loudness moves: speech-like bursts over a quiet bed, a loud passage,
    /// digital silence (which the gates must drop) and a tail shorter than a block.
    fn program(rate: u32) -> Vec<f32> {
        let mut out = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        let r = rate as usize;
        for n in 0..r * 9 + r / 7 {
            let t = n as f32 / rate as f32;
            let (l, rr) = match n / r {
                0..=2 => {
                    let burst = if (n / (r / 3)).is_multiple_of(2) {
                        0.4
                    } else {
                        0.02
                    };
                    let tone = (t * 2.0 * std::f32::consts::PI * 220.0).sin();
                    (
                        burst * tone + 0.01 * noise(),
                        0.5 * burst * tone + 0.01 * noise(),
                    )
                }
                3..=4 => (0.8 * noise(), 0.7 * noise()),
                5..=6 => (0.0, 0.0),
                _ => {
                    let low = (t * 2.0 * std::f32::consts::PI * 30.0).sin();
                    (0.3 * low + 0.05 * noise(), 0.1 * noise())
                }
            };
            out.extend_from_slice(&[l, rr]);
        }
        out
    }

    #[test]
    fn integrated_loudness_and_peak_agree_with_ebur128_however_the_stream_is_cut() {
        for rate in [48_000u32, 44_100] {
            let signal = program(rate);
            let mut reference = EbuR128::new(2, rate, Mode::I | Mode::SAMPLE_PEAK).unwrap();
            reference.add_frames_f32(&signal).unwrap();
            let expected = reference.loudness_global().unwrap();
            let expected_peak = reference
                .sample_peak(0)
                .unwrap()
                .max(reference.sample_peak(1).unwrap());
            // Whole, and in uneven pieces that straddle the 100 ms boundaries.
            for piece in [signal.len(), 2 * 1_237, 2 * 4_800, 2 * 16_384 + 2] {
                let mut meter = StereoLoudness::new(rate);
                signal.chunks(piece).for_each(|c| meter.add(c));
                let lufs = meter.integrated();
                assert!(
                    (lufs - expected).abs() < 0.01,
                    "{rate} Hz, pieces of {piece}: {lufs} LUFS, ebur128 {expected}"
                );
                assert!((f64::from(meter.sample_peak()) - expected_peak).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn silence_and_less_than_a_block_have_no_loudness() {
        let mut meter = StereoLoudness::new(48_000);
        meter.add(&vec![0.0; 2 * 48_000]);
        assert_eq!(meter.integrated(), f64::NEG_INFINITY);
        let mut short = StereoLoudness::new(48_000);
        short.add(&vec![0.5; 2 * 19_000]);
        assert_eq!(short.integrated(), f64::NEG_INFINITY);
        assert_eq!(short.sample_peak(), 0.5);
    }
}
