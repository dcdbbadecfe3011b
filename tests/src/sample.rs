//! Generates a small sample video with speech at known times and its SRT transcript, so nothing
//! large is committed and every run tests real media. The lines are spoken by espeak-ng (always
//! installed) or by a neural voice of the local speech service (natural speech, for the offline
//! profile's recognition).

use anyhow::{Context, bail};
use onevoice_shared::srt::{self, Cue};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The spoken lines and where they start; the video lasts [`DURATION_MS`].
pub const LINES: [(u64, &str); 3] = [
    (1_000, "Hello and welcome to OneVoice."),
    (4_500, "This video was dubbed automatically."),
    (8_000, "Thank you for watching."),
];
pub const DURATION_MS: u64 = 11_000;

/// Spanish lines for the offline profile's default pair (Spanish → English): Apertium
/// translates them plainly.
pub const SPANISH_LINES: [(u64, &str); 3] = [
    (1_000, "Buenos días a todos."),
    (4_000, "El río estaba tranquilo esta mañana."),
    (7_500, "Mañana vamos a visitar el museo."),
];

/// A conversation of two clearly different voices: a low male one (about 95 Hz) and a high
/// female one (about 240 Hz), taking turns, and once talking over each other (the female voice
/// starts before the male one has finished). (start ms, speaker index, text).
pub const DIALOGUE: [(u64, usize, &str); 4] = [
    (500, 0, "Good morning and welcome to the show."),
    (3_300, 1, "Thank you, it is great to be here."),
    (6_000, 0, "Tell us about your new book."),
    (7_400, 1, "It is a story about the sea."),
];
/// The two voices of [`DIALOGUE`], and the names its transcript gives them.
pub const DIALOGUE_VOICES: [Speaker<'static>; 2] = [
    Speaker::EspeakPitched {
        voice: "en+m3",
        pitch: 40,
    },
    Speaker::EspeakPitched {
        voice: "en+f3",
        pitch: 70,
    },
];
pub const DIALOGUE_NAMES: [&str; 2] = ["Kim", "Ana"];

/// Who speaks a sample's lines.
#[derive(Clone, Copy, Debug)]
pub enum Speaker<'a> {
    /// espeak-ng's English voice.
    Espeak,
    /// An espeak-ng voice (`en+f3`) at a pitch (0–99).
    EspeakPitched { voice: &'a str, pitch: u8 },
    /// A voice of the local speech service (OpenAI's speech protocol at `base_url`), speaking
    /// `language` (ISO 639-1).
    Local {
        base_url: &'a str,
        voice: &'a str,
        language: &'a str,
    },
}

impl Speaker<'_> {
    async fn speak(&self, text: &str, wav: &Path) -> anyhow::Result<()> {
        match self {
            Speaker::Espeak => {
                run(Command::new("espeak-ng")
                    .args(["-v", "en", "-s", "150", "-w"])
                    .arg(wav)
                    .arg(text))
                .await?;
            }
            Speaker::EspeakPitched { voice, pitch } => {
                run(Command::new("espeak-ng")
                    .args(["-v", voice, "-s", "150", "-p", &pitch.to_string(), "-w"])
                    .arg(wav)
                    .arg(text))
                .await?;
            }
            Speaker::Local {
                base_url,
                voice,
                language,
            } => {
                let audio =
                    crate::local_speech::synthesize_at(base_url, text, voice, language).await?;
                tokio::fs::write(wav, audio).await?;
            }
        }
        Ok(())
    }
}

pub struct Sample {
    pub video: PathBuf,
    pub transcript: String,
    pub cues: Vec<Cue>,
}

async fn run(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

/// Duration of a media file in milliseconds, by ffprobe.
pub async fn duration_ms(file: &Path) -> anyhow::Result<u64> {
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=nw=1:nk=1",
        ])
        .arg(file))
    .await?;
    let secs: f64 = String::from_utf8(out)?.trim().parse()?;
    Ok((secs * 1000.0).round() as u64)
}

/// The first `ms` of `src` as `dst` (streams copied), with the cues that end within it.
pub async fn trim(sample: &Sample, dst: &Path, ms: u64) -> anyhow::Result<Sample> {
    run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&sample.video)
        .args(["-t", &format!("{:.3}", ms as f64 / 1000.0), "-c", "copy"])
        .arg(dst))
    .await?;
    let cues: Vec<Cue> = sample
        .cues
        .iter()
        .filter(|c| c.end_ms <= ms)
        .cloned()
        .collect();
    Ok(Sample {
        video: dst.to_path_buf(),
        transcript: srt::write(&cues),
        cues,
    })
}

/// Writes `sample.mp4` (H.264 test pattern + AAC speech) into `dir` and returns it with its SRT.
pub async fn make(dir: &Path) -> anyhow::Result<Sample> {
    make_spoken(dir, &LINES, Speaker::Espeak).await
}

/// Like [`make`], with `lines` spoken by `speaker` (each line must end before the next starts
/// and before [`DURATION_MS`]).
pub async fn make_spoken(
    dir: &Path,
    lines: &[(u64, &str)],
    speaker: Speaker<'_>,
) -> anyhow::Result<Sample> {
    let voiced: Vec<(u64, &str, Speaker, Option<&str>)> = lines
        .iter()
        .map(|(at, text)| (*at, *text, speaker, None))
        .collect();
    make_voiced(dir, &voiced).await
}

/// What a sample's lines are spoken over, and how it is stored.
#[derive(Clone, Copy, Debug)]
pub enum Bed {
    /// Quiet pink noise; AAC in MP4, as videos usually come.
    Noise,
    /// A music bed — a chord on the left, two higher notes on the right, a bass in the centre — or
    /// its mono copy, with or without the voices; PCM in Matroska, so tracks add up exactly
    /// (a test can take the music-only sample from the full one and find the voices).
    Music { stereo: bool, voices: bool },
}

/// [`DIALOGUE`] over `bed`; the transcript names the speakers ([`DIALOGUE_NAMES`]).
pub async fn make_dialogue_over(dir: &Path, bed: Bed) -> anyhow::Result<Sample> {
    let voiced: Vec<(u64, &str, Speaker, Option<&str>)> = DIALOGUE
        .iter()
        .map(|(at, who, text)| {
            (
                *at,
                *text,
                DIALOGUE_VOICES[*who],
                Some(DIALOGUE_NAMES[*who]),
            )
        })
        .collect();
    make_voiced_over(dir, &voiced, bed).await
}

/// [`DIALOGUE`] as a sample video (over quiet noise, AAC in MP4); its transcript names the
/// speakers ([`DIALOGUE_NAMES`]).
pub async fn make_dialogue(dir: &Path) -> anyhow::Result<Sample> {
    make_dialogue_over(dir, Bed::Noise).await
}

/// A sample of lines (start, text, voice, speaker's name), which may overlap.
async fn make_voiced(
    dir: &Path,
    lines: &[(u64, &str, Speaker<'_>, Option<&str>)],
) -> anyhow::Result<Sample> {
    make_voiced_over(dir, lines, Bed::Noise).await
}

async fn make_voiced_over(
    dir: &Path,
    lines: &[(u64, &str, Speaker<'_>, Option<&str>)],
    bed: Bed,
) -> anyhow::Result<Sample> {
    tokio::fs::create_dir_all(dir).await?;
    let voices = !matches!(bed, Bed::Music { voices: false, .. });
    let mut cues = Vec::new();
    let mut graph = String::new();
    let mut inputs = Vec::new();
    for (n, (start_ms, text, speaker, name)) in lines.iter().enumerate() {
        let wav = dir.join(format!("line{n}.wav"));
        speaker.speak(text, &wav).await?;
        let len = duration_ms(&wav).await?;
        cues.push(Cue {
            start_ms: *start_ms,
            end_ms: start_ms + len,
            text: text.to_string(),
            speaker: name.map(str::to_string),
        });
        if voices {
            graph.push_str(&format!(
                "[{}:a]aresample=48000,adelay={start_ms}:all=1[l{n}];",
                n + 1
            ));
        }
        inputs.push(wav);
    }
    let secs = format!("{:.3}", DURATION_MS as f64 / 1000.0);
    // Input 0 is the bed, which sets the length (never digital silence).
    let heard = if voices { lines.len() } else { 0 };
    graph.push_str("[0:a]");
    for n in 0..heard {
        graph.push_str(&format!("[l{n}]"));
    }
    graph.push_str(&format!(
        "amix=inputs={}:duration=first:normalize=0[a]",
        heard + 1
    ));
    let (bed_source, container, codec) = match bed {
        Bed::Noise => (
            format!("anoisesrc=c=pink:r=48000:a=0.003:d={secs}"),
            "mp4",
            ["-c:a", "aac", "-b:a", "128k"],
        ),
        Bed::Music { stereo, .. } => {
            let left = "0.12*sin(2*PI*220*t)+0.09*sin(2*PI*277.2*t)+0.07*sin(2*PI*329.6*t)";
            let right = "0.1*sin(2*PI*440*t)+0.06*sin(2*PI*554.4*t)";
            let centre = "0.12*sin(2*PI*55*t)";
            let expr = if stereo {
                format!("{left}+{centre}|{right}+{centre}")
            } else {
                let mono = format!("0.5*({left})+0.5*({right})+{centre}");
                format!("{mono}|{mono}")
            };
            (
                format!("aevalsrc={expr}:s=48000:d={secs}"),
                "mkv",
                ["-c:a", "pcm_s16le", "-ar", "48000"],
            )
        }
    };
    let video = dir.join(format!("sample.{container}"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", &bed_source]);
    for wav in &inputs[..heard] {
        cmd.arg("-i").arg(wav);
    }
    cmd.args([
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=640x360:rate=25:duration={secs}"),
    ])
    .args(["-filter_complex", &graph])
    .args(["-map", &format!("{}:v", heard + 1), "-map", "[a]"])
    .args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ])
    .args(codec)
    .args(["-t", &secs, "-movflags", "+faststart"])
    .arg(&video);
    run(&mut cmd).await?;
    for wav in &inputs {
        let _ = tokio::fs::remove_file(wav).await;
    }
    Ok(Sample {
        video,
        transcript: srt::write_with_speakers(&cues),
        cues,
    })
}

/// A playable video of at least `min_bytes` (lossless H.264 noise, so it is large and quick to
/// make), for multipart uploads.
pub async fn make_large(dir: &Path, min_bytes: u64) -> anyhow::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let video = dir.join("large.mp4");
    for seconds in [2u32, 4, 8, 16] {
        run(Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                &format!(
                    "nullsrc=size=640x360:rate=25:duration={seconds},geq=random(1)*255:128:128"
                ),
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                &format!("sine=frequency=440:duration={seconds}"),
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-qp",
                "0",
                "-c:a",
                "aac",
                "-shortest",
            ])
            .arg(&video))
        .await?;
        if tokio::fs::metadata(&video).await?.len() >= min_bytes {
            return Ok(video);
        }
    }
    bail!("could not make a video of {min_bytes} bytes")
}
