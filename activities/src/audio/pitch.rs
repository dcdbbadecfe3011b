//! The pitch of a voice: YIN (de Cheveigné & Kawahara, 2002) over short frames, and the median
//! over the voiced ones. Used to describe a job's speakers (pitch and a gender guess) and by the
//! tests to tell the voices of a dub apart.

/// Lowest and highest fundamental frequency looked for (a deep male voice to a child's).
const MIN_HZ: f64 = 60.0;
const MAX_HZ: f64 = 500.0;
/// YIN's threshold on the cumulative mean normalized difference: below it, a period is found.
const THRESHOLD: f32 = 0.15;
/// Frames quieter than this (RMS, full scale 1.0) are silence, not voice.
const MIN_RMS: f32 = 0.01;

/// The fundamental frequency of each voiced frame of `samples` (mono, `rate` Hz): 32 ms frames
/// every 16 ms.
pub fn track(samples: &[f32], rate: u32) -> Vec<f64> {
    let rate_f = f64::from(rate);
    let min_tau = (rate_f / MAX_HZ).floor() as usize;
    let max_tau = (rate_f / MIN_HZ).ceil() as usize;
    let window = (rate as usize * 32 / 1000).max(max_tau);
    let hop = (rate as usize * 16 / 1000).max(1);
    let mut out = Vec::new();
    let mut diff = vec![0f32; max_tau + 1];
    let mut at = 0;
    while at + window + max_tau <= samples.len() {
        let frame = &samples[at..at + window + max_tau];
        at += hop;
        let rms = (frame[..window].iter().map(|s| s * s).sum::<f32>() / window as f32).sqrt();
        if rms < MIN_RMS {
            continue;
        }
        for (tau, d) in diff.iter_mut().enumerate().skip(1) {
            *d = frame[..window]
                .iter()
                .zip(&frame[tau..tau + window])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
        }
        // Cumulative mean normalized difference, in place.
        let mut running = 0f32;
        for (tau, d) in diff.iter_mut().enumerate().skip(1) {
            running += *d;
            *d = if running > 0.0 {
                *d * tau as f32 / running
            } else {
                1.0
            };
        }
        let Some(mut tau) = (min_tau.max(2)..max_tau).find(|&t| diff[t] < THRESHOLD) else {
            continue;
        };
        // The bottom of that dip, refined between samples by a parabola.
        while tau + 1 < max_tau && diff[tau + 1] < diff[tau] {
            tau += 1;
        }
        let (a, b, c) = (diff[tau - 1], diff[tau], diff[tau + 1]);
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > f32::EPSILON {
            (0.5 * (a - c) / denom).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        out.push(rate_f / (tau as f64 + f64::from(shift)));
    }
    out
}

/// The median fundamental frequency of the voiced frames of `samples`, if any are voiced.
pub fn median_hz(samples: &[f32], rate: u32) -> Option<f64> {
    median(track(samples, rate))
}

/// The median of `values` (None when empty).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buzzy vowel-like tone: `hz` with its first harmonics, as a voice has.
    fn voice(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let s: f64 = (1..=5)
                    .map(|k| (2.0 * std::f64::consts::PI * hz * k as f64 * t).sin() / k as f64)
                    .sum();
                (0.2 * s) as f32
            })
            .collect()
    }

    #[test]
    fn finds_the_fundamental_of_low_and_high_voices() {
        for hz in [85.0, 120.0, 210.0, 260.0] {
            let found = median_hz(&voice(hz, 16_000, 0.5), 16_000).unwrap();
            assert!((found - hz).abs() < hz * 0.03, "{hz} Hz found as {found}");
        }
    }

    #[test]
    fn silence_and_noise_have_no_pitch() {
        assert_eq!(median_hz(&vec![0.0; 16_000], 16_000), None);
        // Deterministic white noise (an LCG): no period below the threshold.
        let mut x: u32 = 12345;
        let noise: Vec<f32> = (0..16_000)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        assert!(track(&noise, 16_000).len() < 5);
    }
}
