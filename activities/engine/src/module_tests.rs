//! The engine's building blocks one by one, on synthetic signals whose right answer is known:
//! the WAV writer, resampling, decoding (WAV, FLAC, AAC in MP4 with its priming), and the
//! parallel AAC encode, whose chunk seams must leave no gap and no click.

use super::decode::AudioReader;
use super::encode::{AacEncoder, CHUNK_FRAMES, EncodeSpec, Previous, encode_aac, mux};
use super::resample::{StreamResampler, resample_mono};
use super::tests::{worst_difference, write_wav};
use super::wav;
use std::path::Path;
use std::process::Command;

const RATE: u32 = 48_000;

fn read_all(path: &Path) -> Vec<f32> {
    let mut reader = AudioReader::open(path).unwrap();
    let mut out = Vec::new();
    while reader.next_into(&mut out).unwrap() {}
    out
}

fn sine(freq: f64, rate: u32, frames: usize, channels: usize, amp: f64) -> Vec<f32> {
    (0..frames)
        .flat_map(|n| {
            let s = ((2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin() * amp)
                as f32;
            std::iter::repeat_n(s, channels)
        })
        .collect()
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The index of the largest absolute sample.
fn peak_at(samples: &[f32]) -> usize {
    samples
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i)
}

/// An encode of `wav` (48 kHz stereo, `frames` long) by `jobs` FDK encoders, at 128 kbit/s.
fn encode_spec(wav: &Path, scratch: &Path, frames: usize, jobs: usize) -> EncodeSpec {
    EncodeSpec {
        ffmpeg: "ffmpeg".into(),
        video: wav.to_path_buf(),
        wav: wav.to_path_buf(),
        rate: RATE,
        channels: 2,
        frames: frames as u64,
        bitrate: 128_000,
        encoder: AacEncoder::Fdk,
        jobs,
        scratch: scratch.to_path_buf(),
    }
}

/// The coding error of `decoded` against `source` (left channel) in the 20 ms around `at`, in dB.
fn error_db(decoded: &[f32], source: &[f32], at: usize) -> f64 {
    let window = (RATE / 50) as usize;
    let frames = source.len() / 2;
    let (from, to) = (at.saturating_sub(window / 2), (at + window / 2).min(frames));
    let e: f64 = (from..to)
        .map(|i| f64::from(decoded[2 * i] - source[2 * i]).powi(2))
        .sum::<f64>()
        / (to - from) as f64;
    10.0 * e.max(1e-20).log10()
}

/// `error_db` of every 20 ms window but the first and last, sorted.
fn errors_everywhere(decoded: &[f32], source: &[f32]) -> Vec<f64> {
    let window = (RATE / 50) as usize;
    let mut all: Vec<f64> = (1..source.len() / 2 / window - 1)
        .map(|w| error_db(decoded, source, w * window))
        .collect();
    all.sort_by(f64::total_cmp);
    all
}

/// The largest step between neighbouring samples near `at` that the source does not have.
fn worst_jump(decoded: &[f32], source: &[f32], at: usize) -> f32 {
    let jump = |s: &[f32], i: usize| (s[2 * i] - s[2 * (i - 1)]).abs();
    (at - 64..at + 64)
        .map(|i| jump(decoded, i) - jump(source, i))
        .fold(f32::MIN, f32::max)
}

#[test]
fn the_wav_writer_writes_what_is_read_back_and_no_more_than_announced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let frames = 4_800u64;
    let mut w = wav::Writer::create(&path, RATE, 2, frames).unwrap();
    let pcm: Vec<i16> = (0..frames * 2)
        .map(|i| (i as i16).wrapping_mul(7))
        .collect();
    w.write(&pcm).unwrap();
    // Past the announced length: dropped, so the header stays true.
    w.write(&[1, 2, 3, 4]).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, wav::HEADER_BYTES + frames * 2 * 2);
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), RATE);
    let read = read_all(&path);
    assert_eq!(read.len(), pcm.len());
    for (got, want) in read.iter().zip(&pcm) {
        assert!((got - f32::from(*want) / 32768.0).abs() < 1e-6);
    }
}

#[test]
fn a_short_write_is_padded_with_silence_so_the_header_stays_true() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.wav");
    let mut w = wav::Writer::create(&path, RATE, 1, 100).unwrap();
    w.write(&[1000; 50]).unwrap();
    w.finish().unwrap();
    let read = read_all(&path);
    assert_eq!(read.len(), 100);
    assert!(
        read[..50]
            .iter()
            .all(|s| (s - 1000.0 / 32768.0).abs() < 1e-6)
    );
    assert!(read[50..].iter().all(|s| *s == 0.0));
}

#[test]
fn resampling_keeps_pitch_length_and_alignment_whether_streamed_or_whole() {
    // A 1 kHz tone with a click at 0.5 s, 24 kHz -> 48 kHz.
    let mut input = sine(1_000.0, 24_000, 24_000, 1, 0.3);
    input[12_000] = 0.95;
    let mut whole_r = StreamResampler::new(24_000, RATE, 1).unwrap();
    let whole = resample_mono(&mut whole_r, &input, 24_000, RATE).unwrap();
    assert_eq!(whole.len(), 48_000, "twice the samples");
    // Aligned: the click stays at 0.5 s (the resampler's delay is removed).
    let at = peak_at(&whole);
    assert!(at.abs_diff(24_000) <= 2, "click at {at}");
    // Pitch kept: 1 kHz is 2 000 zero crossings a second, away from the edges and the click.
    let body = &whole[2_000..22_000];
    let crossings = body
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let hz = crossings as f64 / 2.0 / (body.len() as f64 / f64::from(RATE));
    assert!((hz - 1_000.0).abs() < 5.0, "{hz:.1} Hz");
    // Streaming in odd block sizes gives the same samples as one push.
    let mut streamed_r = StreamResampler::new(24_000, RATE, 1).unwrap();
    let mut streamed = Vec::new();
    for block in input.chunks(777) {
        streamed_r.push(block, &mut streamed).unwrap();
    }
    streamed_r.finish(&mut streamed).unwrap();
    streamed.truncate(whole.len());
    let worst = worst_difference(&streamed, &whole);
    assert!(worst < 1e-5, "streamed differs by {worst}");
}

#[test]
fn decoding_flac_matches_the_wav_and_aac_in_mp4_starts_at_its_first_real_sample() {
    let dir = tempfile::tempdir().unwrap();
    let wav_path = dir.path().join("src.wav");
    // Stereo 48 kHz: a quiet tone with a click at exactly 1.000 s.
    let mut samples = sine(440.0, RATE, 2 * RATE as usize, 2, 0.1);
    samples[2 * RATE as usize] = 0.9;
    samples[2 * RATE as usize + 1] = 0.9;
    write_wav(&wav_path, RATE, 2, &samples);
    let reference = read_all(&wav_path);

    let flac = dir.path().join("src.flac");
    ffmpeg(&[
        "-i",
        wav_path.to_str().unwrap(),
        "-c:a",
        "flac",
        flac.to_str().unwrap(),
    ]);
    let decoded = read_all(&flac);
    assert_eq!(decoded.len(), reference.len(), "lossless length");
    let worst = worst_difference(&decoded, &reference);
    assert!(worst < 1e-4, "FLAC differs by {worst}");

    // AAC in MP4: the encoder's priming is named by the edit list and trimmed, so the click is
    // where it was, and the length is the source's.
    let m4a = dir.path().join("src.m4a");
    ffmpeg(&[
        "-i",
        wav_path.to_str().unwrap(),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        m4a.to_str().unwrap(),
    ]);
    assert!(
        super::mp4::audio_priming(&m4a, RATE).is_some_and(|p| p > 0),
        "priming read"
    );
    let decoded = read_all(&m4a);
    assert!(
        decoded.len().abs_diff(reference.len()) <= 2 * 1024,
        "{} vs {} samples",
        decoded.len(),
        reference.len()
    );
    let left: Vec<f32> = decoded.iter().step_by(2).copied().collect();
    let at = peak_at(&left);
    assert!(
        at.abs_diff(RATE as usize) <= 24,
        "click at {at}, not {RATE}"
    );
}

/// The parallel encode against a single encoder on the same 12 s: same length, aligned, and at
/// each cut between chunks the coding error is no larger than anywhere else (no gap, no click).
#[test]
fn parallel_aac_chunks_join_without_a_gap_or_a_click() {
    let dir = tempfile::tempdir().unwrap();
    let frames = 12 * RATE as usize;
    // A chord, so the coding error is not trivially zero anywhere.
    let a = sine(440.0, RATE, frames, 2, 0.2);
    let b = sine(659.25, RATE, frames, 2, 0.15);
    let samples: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let wav_path = dir.path().join("mix.wav");
    write_wav(&wav_path, RATE, 2, &samples);
    let source = read_all(&wav_path);
    for encoder in [AacEncoder::Fdk, AacEncoder::Ffmpeg] {
        chunks_join_without_a_gap_or_a_click(dir.path(), &wav_path, &source, frames, encoder);
    }
}

fn chunks_join_without_a_gap_or_a_click(
    dir: &Path,
    wav_path: &Path,
    source: &[f32],
    frames: usize,
    encoder: AacEncoder,
) {
    let name = encoder.name();
    let encode = |jobs: usize| {
        let scratch = dir.join(format!("{name}{jobs}"));
        std::fs::create_dir_all(&scratch).unwrap();
        let mut spec = encode_spec(wav_path, &scratch, frames, jobs);
        spec.encoder = encoder;
        let aac = scratch.join("out.aac");
        encode_aac(&spec, &aac, None).unwrap();
        let m4a = scratch.join("out.m4a");
        mux(&spec, None, &aac, &m4a).unwrap();
        read_all(&m4a)
    };
    let parallel = encode(3);
    let single = encode(1);
    // No gap: as long as one continuous encode, which is the mix rounded up to whole AAC
    // frames (the last frame's padding; ADTS records no end trim).
    assert_eq!(
        parallel.len(),
        single.len(),
        "{name}: as long as one encoder's"
    );
    let whole_frames = (frames as u64).div_ceil(1024) as usize * 1024 * 2;
    assert_eq!(parallel.len(), whole_frames, "{name}");
    // The chunks' cuts (see encode::CHUNK_FRAMES): 262 144 frames apart.
    let cuts = [262_144usize, 524_288];
    let elsewhere = errors_everywhere(&parallel, source);
    let typical = elsewhere[elsewhere.len() / 2];
    let worst_elsewhere = elsewhere[elsewhere.len() * 95 / 100];
    assert!(
        typical < -40.0,
        "{name}: the encode follows the source: {typical:.1} dB"
    );
    for cut in cuts {
        let at_cut = error_db(&parallel, source, cut);
        assert!(
            at_cut <= worst_elsewhere + 3.0,
            "{name}: cut at {cut}: {at_cut:.1} dB against {typical:.1} dB typical, {worst_elsewhere:.1} dB at the 95th percentile"
        );
        // And sample by sample, no jump the source does not have.
        let jump = worst_jump(&parallel, source, cut);
        assert!(
            jump < 0.05,
            "{name}: click at {cut}: a jump {jump:.3} larger"
        );
    }
    // Away from the cuts both encodes follow the source closely (the chunks' own rate control
    // lands a few dB from one continuous encoder's; both are far below audibility here).
    let single = errors_everywhere(&single, source);
    let single_typical = single[single.len() / 2];
    assert!(
        typical < -45.0 && single_typical < -45.0,
        "{name}: parallel {typical:.1} dB, single {single_typical:.1} dB"
    );
}

/// A re-render's encode: only the chunk whose audio changed is encoded again, every other chunk's
/// frames are the previous stream's bytes, and the stitched stream decodes like a fresh encode of
/// the new mix, with no click where reused and fresh frames meet.
#[test]
fn a_second_encode_reuses_every_unchanged_chunk_without_a_seam() {
    let dir = tempfile::tempdir().unwrap();
    let per = (CHUNK_FRAMES * 1024) as usize;
    let frames = 4 * per + RATE as usize;
    let chord = |n: usize| {
        let a = sine(440.0, RATE, n, 2, 0.2);
        let b = sine(554.37, RATE, n, 2, 0.1);
        a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<f32>>()
    };
    let old = chord(frames);
    // The new mix: another second of sound in the middle of chunk 2.
    let mut new = old.clone();
    let edit = 2 * per + per / 3;
    let other = sine(880.0, RATE, RATE as usize, 2, 0.3);
    new[2 * edit..2 * (edit + RATE as usize)].copy_from_slice(&other);
    let encode = |name: &str, samples: &[f32], previous: Option<Previous<'_>>| {
        let scratch = dir.path().join(name);
        std::fs::create_dir_all(&scratch).unwrap();
        let wav_path = scratch.join("mix.wav");
        write_wav(&wav_path, RATE, 2, samples);
        let spec = encode_spec(&wav_path, &scratch, frames, 2);
        let aac = scratch.join("out.aac");
        let sheet = encode_aac(&spec, &aac, previous).unwrap();
        let m4a = scratch.join("out.m4a");
        mux(&spec, None, &aac, &m4a).unwrap();
        (aac, sheet, read_all(&m4a), read_all(&wav_path))
    };
    let (old_aac, old_sheet, _, _) = encode("v1", &old, None);
    assert_eq!(old_sheet.chunks.len(), 5);
    assert_eq!(old_sheet.reused(), 0);
    let previous = Previous {
        aac: &old_aac,
        sheet: &old_sheet,
    };
    let (new_aac, sheet, stitched, source) = encode("v2", &new, Some(previous));
    let fresh: Vec<usize> = (0..5).filter(|&c| !sheet.chunks[c].reused).collect();
    assert_eq!(fresh, vec![2], "only the edited chunk is encoded");
    // The reused chunks are the old stream's bytes.
    let (a, b) = (
        std::fs::read(&old_aac).unwrap(),
        std::fs::read(&new_aac).unwrap(),
    );
    let offset = |sheet: &super::encode::EncodeSheet, c: usize| -> usize {
        sheet.chunks[..c].iter().map(|k| k.bytes as usize).sum()
    };
    for c in [0, 1, 3, 4] {
        let (x, y) = (offset(&old_sheet, c), offset(&sheet, c));
        let n = sheet.chunks[c].bytes as usize;
        assert_eq!(a[x..x + n], b[y..y + n], "chunk {c} copied");
    }
    // Decoded, it is as long as a fresh encode of the new mix and follows the new mix as
    // closely at the seams around the re-encoded chunk as anywhere else.
    let (_, _, fresh_decode, _) = encode("fresh", &new, None);
    assert_eq!(stitched.len(), fresh_decode.len());
    let elsewhere = errors_everywhere(&stitched, &source);
    let worst_elsewhere = elsewhere[elsewhere.len() * 95 / 100];
    for seam in [2 * per, 3 * per] {
        let at_seam = error_db(&stitched, &source, seam);
        assert!(
            at_seam <= worst_elsewhere + 3.0,
            "seam at {seam}: {at_seam:.1} dB against {worst_elsewhere:.1} dB"
        );
        let jump = worst_jump(&stitched, &source, seam);
        assert!(jump < 0.05, "click at {seam}: {jump:.3}");
    }
}
