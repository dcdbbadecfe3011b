//! The engine end to end on synthetic media: a noise background (44.1 kHz stereo WAV) and tone
//! clips (24 kHz mono WAV) of known pitch and length, planned, mixed and measured.

use super::decode::AudioReader;
use super::mix::{MixSpec, mix};
use super::plan::{Cue, Rules, plan};
use super::wav;
use ebur128::{EbuR128, Mode};
use std::path::Path;

/// Writes `samples` (interleaved, -1..1) as a 16-bit WAV.
pub(super) fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let frames = samples.len() as u64 / u64::from(channels);
    let mut w = wav::Writer::create(path, rate, channels, frames).unwrap();
    let pcm: Vec<i16> = samples
        .iter()
        .map(|s| (s * 32767.0).round() as i16)
        .collect();
    w.write(&pcm).unwrap();
    w.finish().unwrap();
}

/// The largest difference between two signals, sample by sample.
pub(super) fn worst_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max)
}

/// Deterministic noise (xorshift), so the test does not depend on a random seed.
pub(super) fn noise(n: usize, level: f32) -> Vec<f32> {
    let mut x: u32 = 0x9E37_79B9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * level
        })
        .collect()
}

fn tone(freq: f32, rate: u32, seconds: f64) -> Vec<f32> {
    (0..(rate as f64 * seconds) as usize)
        .map(|n| (2.0 * std::f32::consts::PI * freq * n as f32 / rate as f32).sin() * 0.6)
        .collect()
}

fn measure(path: &Path) -> (Vec<f32>, f64, f64) {
    let mut reader = AudioReader::open(path).unwrap();
    let mut y = Vec::new();
    while reader.next_into(&mut y).unwrap() {}
    let mut meter = EbuR128::new(2, 48_000, Mode::I | Mode::TRUE_PEAK).unwrap();
    meter.add_frames_f32(&y).unwrap();
    let true_peak = (0..2)
        .map(|c| meter.true_peak(c).unwrap())
        .fold(0.0, f64::max);
    (
        y,
        meter.loudness_global().unwrap(),
        20.0 * true_peak.log10(),
    )
}

#[test]
fn the_limiter_reaches_a_loud_target_without_passing_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let background = dir.path().join("bg.wav");
    write_wav(&background, 48_000, 2, &noise(48_000 * 10 * 2, 0.05));
    let clip = dir.path().join("clip.wav");
    // Speech-like crest: a steady tone with short clicks far above its level, so a static gain
    // is held back by the clicks while a limiter only has to touch the clicks.
    let bursts: Vec<f32> = tone(220.0, 24_000, 4.0)
        .iter()
        .enumerate()
        .map(|(n, s)| if n % 6_000 < 24 { 0.9 } else { s * 0.25 })
        .collect();
    write_wav(&clip, 24_000, 1, &bursts);
    let cues = [Cue {
        start_s: 2.0,
        end_s: 7.0,
        clip_frames: bursts.len() as u64,
        clip_rate: 24_000,
    }];
    let timeline = plan(10.0, &cues, Rules::default());
    for limiter in [false, true] {
        let out = dir.path().join(format!("mix-{limiter}.wav"));
        let spec = MixSpec {
            gain: None,
            background: background.clone(),
            clips: vec![clip.clone()],
            duck_gain: 0.25,
            target_lufs: -12.0,
            ceiling_db: -1.0,
            true_peak: true,
            limiter,
            cancel: Default::default(),
            only: None,
            original: None,
        };
        let report = mix(&spec, &timeline, 48_000, &out).unwrap();
        assert!(
            report.ceiling_bound,
            "a static gain cannot reach -12 LUFS here: {report:?}"
        );
        let (_, lufs, true_peak) = measure(&out);
        assert!(
            true_peak <= -1.0 + 0.1,
            "limiter {limiter}: true peak {true_peak:.2} dBTP"
        );
        if limiter {
            assert!(
                (lufs + 12.0).abs() <= 1.0,
                "limited to the target: {lufs:.2} LUFS"
            );
        } else {
            assert!(lufs < -13.0, "without it the ceiling wins: {lufs:.2} LUFS");
        }
    }
}

#[test]
fn places_every_line_at_its_time_within_its_window_at_the_loudness_target() {
    let dir = tempfile::tempdir().unwrap();
    let duration = 20.0;
    let background = dir.path().join("bg.wav");
    write_wav(
        &background,
        44_100,
        2,
        &noise((duration * 44_100.0) as usize * 2, 0.02),
    );
    // (start, end, clip seconds): fits, needs 1.25x (capped at 1.2, spills), far too long (cut).
    let lines = [
        (1.0, 4.0, 2.5),
        (6.0, 8.0, 2.5),
        (11.0, 12.5, 4.0),
        (15.0, 17.0, 1.0),
    ];
    let mut cues = Vec::new();
    let mut clips = Vec::new();
    for (i, (start, end, secs)) in lines.iter().enumerate() {
        let path = dir.path().join(format!("{i}.wav"));
        let samples = tone(300.0 + 100.0 * i as f32, 24_000, *secs);
        write_wav(&path, 24_000, 1, &samples);
        cues.push(Cue {
            start_s: *start,
            end_s: *end,
            clip_frames: samples.len() as u64,
            clip_rate: 24_000,
        });
        clips.push(path);
    }
    let rules = Rules {
        max_speed: 1.2,
        ..Rules::default()
    };
    let timeline = plan(duration, &cues, rules);
    assert!(
        timeline
            .placements
            .iter()
            .all(|p| p.speed <= rules.max_speed)
    );
    assert_eq!(timeline.placements[1].speed, 1.2);
    assert!(
        timeline.placements[2].overrun() > 0,
        "the 4 s line cannot fit 1.5 s + 1.5 s"
    );

    let out = dir.path().join("mix.wav");
    let spec = MixSpec {
        gain: None,
        background,
        clips,
        duck_gain: 10f32.powf(-12.0 / 20.0),
        target_lufs: -20.0,
        ceiling_db: -1.0,
        true_peak: true,
        limiter: false,
        cancel: Default::default(),
        only: None,
        original: None,
    };
    let report = mix(&spec, &timeline, 48_000, &out).unwrap();
    assert!(!report.ceiling_bound);

    let mut reader = AudioReader::open(&out).unwrap();
    let mut y = Vec::new();
    while reader.next_into(&mut y).unwrap() {}
    assert_eq!((reader.rate, reader.channels), (48_000, 2));
    assert_eq!(
        y.len() as u64,
        timeline.frames * 2,
        "as long as the source, to the sample"
    );

    let mut meter = EbuR128::new(2, 48_000, Mode::I | Mode::TRUE_PEAK).unwrap();
    meter.add_frames_f32(&y).unwrap();
    let lufs = meter.loudness_global().unwrap();
    assert!((lufs + 20.0).abs() <= 1.0, "integrated {lufs:.2} LUFS");
    let true_peak = (0..2)
        .map(|c| meter.true_peak(c).unwrap())
        .fold(0.0, f64::max);
    assert!(
        20.0 * true_peak.log10() <= -1.0 + 0.05,
        "true peak {true_peak}"
    );

    // Each line: silence-level (ducked noise) just before its start, tone right after it, and
    // back to the ducked background once its window is over.
    let left: Vec<f32> = y.iter().step_by(2).copied().collect();
    let rms = |from: u64, to: u64| {
        let s = &left[from as usize..to as usize];
        20.0 * ((s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()).log10()
    };
    let ms = 48u64;
    for p in &timeline.placements {
        let before = rms(p.start - 25 * ms, p.start - 5 * ms);
        let after = rms(p.start + 5 * ms, p.start + 25 * ms);
        assert!(
            after > before + 20.0,
            "onset at {}: {before:.1} → {after:.1} dB",
            p.start
        );
        let end = p.start + p.placed;
        assert!(end <= p.start + p.window, "ends inside its window");
        let tail = rms(end + 5 * ms, end + 25 * ms);
        assert!(
            tail < after - 20.0,
            "line at {} still sounds after its end",
            p.start
        );
    }
}

#[test]
fn the_voice_and_background_stems_add_up_to_the_mix() {
    use super::mix::Stem;
    use onevoice_shared::contracts::MixGain;
    let dir = tempfile::tempdir().unwrap();
    let duration = 6.0;
    let background = dir.path().join("bg.wav");
    write_wav(
        &background,
        44_100,
        2,
        &noise((duration * 44_100.0) as usize * 2, 0.05),
    );
    let mut cues = Vec::new();
    let mut clips = Vec::new();
    for (i, (start, end)) in [(0.5, 2.0), (3.0, 5.0)].iter().enumerate() {
        let path = dir.path().join(format!("{i}.wav"));
        let samples = tone(250.0 + 150.0 * i as f32, 24_000, 1.2);
        write_wav(&path, 24_000, 1, &samples);
        cues.push(Cue {
            start_s: *start,
            end_s: *end,
            clip_frames: samples.len() as u64,
            clip_rate: 24_000,
        });
        clips.push(path);
    }
    let timeline = plan(duration, &cues, Rules::default());
    let spec = |only| MixSpec {
        gain: Some(MixGain {
            gain_db: -3.0,
            limited: false,
        }),
        background: background.clone(),
        clips: clips.clone(),
        duck_gain: 10f32.powf(-12.0 / 20.0),
        target_lufs: -20.0,
        ceiling_db: -1.0,
        true_peak: true,
        limiter: false,
        cancel: Default::default(),
        only,
        original: None,
    };
    let render = |only, name: &str| {
        let out = dir.path().join(name);
        let report = mix(&spec(only), &timeline, 48_000, &out).unwrap();
        assert_eq!(report.gain_db, -3.0, "the given gain");
        measure(&out).0
    };
    let (whole, voices, rest) = (
        render(None, "mix.wav"),
        render(Some(Stem::Voices), "voices.wav"),
        render(Some(Stem::Background), "background.wav"),
    );
    assert_eq!(whole.len(), voices.len());
    assert_eq!(whole.len(), rest.len());
    let summed: Vec<f32> = voices.iter().zip(&rest).map(|(a, b)| a + b).collect();
    // Three roundings to 16 bits: at most a couple of steps apart.
    assert!(worst_difference(&whole, &summed) < 3.0 / 32768.0);
    // Each stem holds its own part: no tone in the background, no noise between the lines.
    let between = 48_000 * 2 * 5 / 2..48_000 * 2 * 29 / 10; // 2.5 s to 2.9 s
    assert!(voices[between.clone()].iter().all(|s| s.abs() < 1e-4));
    assert!(rest[between].iter().any(|s| s.abs() > 1e-3));
    let in_line = 48_000 * 2..48_000 * 2 * 3 / 2; // 1.0 s to 1.5 s
    let loudest = |x: &[f32]| x.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(loudest(&voices[in_line.clone()]) > 10.0 * loudest(&rest[in_line]));
}

#[test]
fn a_kept_line_plays_the_original_audio_and_the_rest_is_mixed_as_before() {
    use onevoice_shared::contracts::MixGain;
    let dir = tempfile::tempdir().unwrap();
    let (duration, rate) = (6.0, 48_000u32);
    let frames = (duration * rate as f64) as usize;
    // The original (speech stands for a tone) and a separated stem without it, both at the
    // output rate so the mix can be compared sample by sample.
    let original: Vec<f32> = tone(440.0, rate, duration)
        .iter()
        .flat_map(|s| [s * 0.5, s * 0.5])
        .collect();
    let stem = noise(frames * 2, 0.05);
    let (original_path, stem_path) = (dir.path().join("orig.wav"), dir.path().join("stem.wav"));
    write_wav(&original_path, rate, 2, &original);
    write_wav(&stem_path, rate, 2, &stem);
    let clip = dir.path().join("clip.wav");
    let spoken = tone(250.0, 24_000, 1.2);
    write_wav(&clip, 24_000, 1, &spoken);
    // Line 0 dubbed, line 1 (3 s to 5 s) kept: it has no clip.
    let cues = [
        Cue {
            start_s: 0.5,
            end_s: 2.0,
            clip_frames: spoken.len() as u64,
            clip_rate: 24_000,
        },
        Cue {
            start_s: 3.0,
            end_s: 5.0,
            clip_frames: 0,
            clip_rate: 24_000,
        },
    ];
    let mut timeline = plan(duration, &cues, Rules::default());
    assert_eq!(timeline.placements[1].placed, 0);
    let ramp = super::RAMP;
    timeline.keep_original(vec![(3 * 48_000, 5 * 48_000)], ramp);
    let at = |s: f64| (s * rate as f64) as usize * 2;
    let (inside, between) = (
        at(3.0)..at(5.0),
        at(2.0) + ramp as usize * 2..at(3.0) - ramp as usize * 2,
    );
    let render = |background: &Path, original: Option<&Path>, duck_gain: f32, name: &str| {
        let spec = MixSpec {
            gain: Some(MixGain {
                gain_db: 0.0,
                limited: false,
            }),
            background: background.to_path_buf(),
            clips: vec![clip.clone(), std::path::PathBuf::new()],
            duck_gain,
            target_lufs: -20.0,
            ceiling_db: 0.0,
            true_peak: false,
            limiter: false,
            cancel: Default::default(),
            only: None,
            original: original.map(Path::to_path_buf),
        };
        let out = dir.path().join(name);
        mix(&spec, &timeline, rate, &out).unwrap();
        measure(&out).0
    };
    let step = 2.0 / 32768.0;
    // Over a separated stem: the original replaces it over the kept line, nowhere else.
    let separated = render(&stem_path, Some(&original_path), 1.0, "separated.wav");
    assert_eq!(separated.len(), frames * 2);
    assert!(worst_difference(&separated[inside.clone()], &original[inside.clone()]) < step);
    assert!(worst_difference(&separated[between.clone()], &stem[between.clone()]) < step);
    // Over the original itself (ducked under the dub): at full level over the kept line.
    let ducked = render(&original_path, None, 0.25, "ducked.wav");
    assert!(worst_difference(&ducked[inside.clone()], &original[inside.clone()]) < step);
    assert!(worst_difference(&ducked[between.clone()], &original[between.clone()]) < step);
    let line = at(0.7)..at(1.5);
    let quiet: Vec<f32> = original[line.clone()].iter().map(|s| s * 0.25).collect();
    assert!(
        worst_difference(&ducked[line], &quiet) > 0.1,
        "the dubbed line is heard over the ducked original"
    );
    // Without any background (`none`): the kept line is still the original.
    let bare = render(&original_path, None, 0.0, "bare.wav");
    assert!(worst_difference(&bare[inside.clone()], &original[inside]) < step);
    assert!(bare[between].iter().all(|s| s.abs() < step));
}
