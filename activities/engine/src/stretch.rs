//! Pitch-preserving time-stretch by WSOLA (waveform-similarity overlap-add), the method of
//! ffmpeg's `atempo` that the seed used.
//!
//! Output frames of `FRAME` samples overlap by half under a Hann window (which sums to one at
//! that overlap). Each frame is read from the input near the position the tempo asks for,
//! shifted by up to `SEARCH` samples to where it best continues the previous frame's tail, so
//! periods line up and the pitch is kept. The search runs on a 4:1 decimated copy first and is
//! refined at full rate, which keeps it cheap enough for hundreds of clips per job.

/// Frame length and search radius in seconds; 40 ms frames suit speech.
const FRAME_S: f64 = 0.040;
const SEARCH_S: f64 = 0.010;
const DECIMATE: usize = 4;

/// Stretches `input` (mono, at `rate`) to play `speed` times faster; the result has
/// `round(len / speed)` samples. `speed` of 1 returns the input unchanged.
pub fn stretch(input: &[f32], rate: u32, speed: f64) -> Vec<f32> {
    let out_len = (input.len() as f64 / speed).round() as usize;
    if (speed - 1.0).abs() < 1e-6 || input.is_empty() {
        return input.to_vec();
    }
    let frame = ((FRAME_S * rate as f64) as usize).max(16) & !1;
    let half = frame / 2;
    let search = ((SEARCH_S * rate as f64) as usize).max(2);
    let window: Vec<f32> = (0..frame)
        .map(|n| {
            let x = std::f32::consts::PI * 2.0 * n as f32 / frame as f32;
            0.5 - 0.5 * x.cos()
        })
        .collect();
    // Padding so every read of a frame, shifted by the search, stays inside the buffer.
    let pad = search + frame;
    let mut padded = vec![0.0f32; pad];
    padded.extend_from_slice(input);
    padded.resize(padded.len() + pad + frame, 0.0);
    let coarse: Vec<f32> = padded
        .chunks(DECIMATE)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();

    let mut out = vec![0.0f32; out_len + frame];
    // Where the previous frame was read from (in padded coordinates), for its natural
    // continuation: the samples that follow it by `half`.
    let mut previous: Option<usize> = None;
    let mut k = 0usize;
    while k * half < out_len + half {
        let target = pad as f64 + (k * half) as f64 * speed - half as f64;
        let target = target.max(0.0).round() as usize;
        let start = match previous {
            None => target.max(pad - half),
            Some(prev) => best_match(&padded, &coarse, prev + half, target, search, half),
        };
        let out_at = (k * half) as isize - half as isize;
        for n in 0..frame {
            let o = out_at + n as isize;
            if o >= 0 && (o as usize) < out.len() {
                out[o as usize] += padded[start + n] * window[n];
            }
        }
        previous = Some(start);
        k += 1;
    }
    out.truncate(out_len);
    out
}

/// The read position within `target ± search` whose first `len` samples best match the
/// samples at `natural` (normalized cross-correlation): coarse search, then a fine one.
fn best_match(
    signal: &[f32],
    coarse: &[f32],
    natural: usize,
    target: usize,
    search: usize,
    len: usize,
) -> usize {
    let lo = target.saturating_sub(search);
    let hi = target + search;
    let (cl, ch, cn, clen) = (
        lo / DECIMATE,
        hi / DECIMATE,
        natural / DECIMATE,
        len / DECIMATE,
    );
    let reference = &coarse[cn..cn + clen];
    let mut best = (f32::MIN, target / DECIMATE);
    for c in cl..=ch {
        let score = similarity(reference, &coarse[c..c + clen]);
        if score > best.0 {
            best = (score, c);
        }
    }
    let centre = best.1 * DECIMATE;
    let reference = &signal[natural..natural + len];
    let mut fine = (f32::MIN, centre.clamp(lo, hi));
    for p in centre.saturating_sub(DECIMATE).max(lo)..=(centre + DECIMATE).min(hi) {
        let score = similarity(reference, &signal[p..p + len]);
        if score > fine.0 {
            fine = (score, p);
        }
    }
    fine.1
}

/// Normalised cross-correlation of `a` with `b` (same length). Eight running sums rather than
/// one, so the compiler may keep them in a vector register: most of the stretch's time is here.
fn similarity(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let (mut dot, mut energy) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (a8, b8) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for i in 0..LANES {
            dot[i] += x[i] * y[i];
            energy[i] += y[i] * y[i];
        }
    }
    let (mut dot, mut energy) = (dot.iter().sum::<f32>(), 1e-9 + energy.iter().sum::<f32>());
    for (x, y) in a_rest.iter().zip(b_rest) {
        dot += x * y;
        energy += y * y;
    }
    dot / energy.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|n| (2.0 * std::f32::consts::PI * freq * n as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Dominant frequency by counting upward zero crossings (a clean tone has one per period).
    fn frequency(signal: &[f32], rate: u32) -> f32 {
        let inner = &signal[signal.len() / 10..signal.len() * 9 / 10];
        let crossings = inner
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        crossings as f32 * rate as f32 / inner.len() as f32
    }

    #[test]
    fn keeps_pitch_and_hits_the_length() {
        let rate = 48_000;
        let input = tone(220.0, rate, 2.0);
        for speed in [1.1, 1.2, 1.4] {
            let out = stretch(&input, rate, speed);
            assert_eq!(out.len(), (input.len() as f64 / speed).round() as usize);
            let f = frequency(&out, rate);
            assert!((f - 220.0).abs() / 220.0 < 0.02, "speed {speed}: {f} Hz");
            // No dropouts: the level stays that of the tone.
            let rms = (out.iter().map(|x| x * x).sum::<f32>() / out.len() as f32).sqrt();
            assert!((rms - 0.3535).abs() < 0.05, "speed {speed}: rms {rms}");
        }
    }

    #[test]
    fn speed_one_is_identity() {
        let input = tone(440.0, 24_000, 0.5);
        assert_eq!(stretch(&input, 24_000, 1.0), input);
    }
}
