//! The final AAC encode and mux, in parallel.
//!
//! ffmpeg's AAC encoder is single-threaded and, at 30-35x realtime, the slowest part of a dub.
//! The mix is cut at AAC frame boundaries (1024 samples) into one chunk per core; each chunk is
//! encoded by its own ffmpeg with a few frames of the preceding audio as pre-roll, so its
//! encoder state at the cut matches a continuous encode, and a few frames of the following
//! audio as post-roll, so its last block (which reaches past the cut) is made of the audio that
//! really follows; and the frames covering each chunk are concatenated into one ADTS stream. The
//! decoder's overlap-add across a cut then combines frames from two encoders that saw the same
//! audio, which leaves no seam (`module_tests`: the error at a cut is that of anywhere else). The stream is
//! muxed with the video stream copied.

use super::EngineError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const AAC_FRAME: u64 = 1024;
/// Frames of pre-roll before each cut.
const PREROLL_FRAMES: u64 = 8;
/// Frames of post-roll after each cut: the last packet kept before a cut is an MDCT block that
/// reaches one frame past it, and it must be encoded from the audio that really follows (not
/// the end of its chunk's input), or its overlap with the next chunk's first packet does not
/// cancel and leaves a frame-long burst of error at the seam.
const POSTROLL_FRAMES: u64 = 2;
/// Bytes of the WAV header our writer produces.
const WAV_HEADER: u64 = 44;

#[derive(Clone, Debug)]
pub struct EncodeSpec {
    pub ffmpeg: PathBuf,
    /// The video whose first video stream is copied.
    pub video: PathBuf,
    /// A 16-bit WAV written by this engine.
    pub wav: PathBuf,
    pub rate: u32,
    pub channels: u16,
    /// Frames of the WAV (see [`wav_frames`]).
    pub frames: u64,
    pub bitrate: String,
    /// ffmpeg's `-aac_coder` (`twoloop`, its default, or the faster `fast`).
    pub coder: String,
    /// Parallel encoders.
    pub jobs: usize,
    pub scratch: PathBuf,
}

/// Encodes the WAV to AAC and muxes it with the video into `out` (MP4, faststart).
pub fn encode_and_mux(spec: &EncodeSpec, out: &Path) -> Result<(), EngineError> {
    let aac = spec.scratch.join("audio.aac");
    encode_aac(spec, &aac)?;
    let muxed = mux(spec, Some(&spec.video), &aac, out);
    let _ = std::fs::remove_file(&aac);
    muxed
}

/// Puts the ADTS stream `aac` into `out` (MP4 or M4A), with the first video stream of `video`
/// copied when given.
pub fn mux(
    spec: &EncodeSpec,
    video: Option<&Path>,
    aac: &Path,
    out: &Path,
) -> Result<(), EngineError> {
    let mut cmd = Command::new(&spec.ffmpeg);
    cmd.args(["-nostdin", "-v", "error", "-y"]);
    if let Some(video) = video {
        cmd.arg("-i").arg(video);
    }
    // The ADTS stream starts with the encoder's 1024 priming samples; this offset puts the
    // first real sample at zero, as a single encode's edit list would.
    cmd.args([
        "-itsoffset",
        &format!("-{}", AAC_FRAME as f64 / spec.rate as f64),
    ])
    .args(["-f", "aac", "-i"])
    .arg(aac);
    if video.is_some() {
        cmd.args(["-map", "0:v:0", "-map", "1:a:0"]);
    }
    let status = cmd
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .status()
        .map_err(|e| EngineError::Tool(format!("cannot run ffmpeg: {e}")))?;
    if !status.success() {
        return Err(EngineError::Tool(format!("ffmpeg mux failed ({status})")));
    }
    Ok(())
}

/// Frames of a WAV this engine wrote (its 44-byte header's data size).
pub fn wav_frames(path: &Path, channels: u16) -> Result<u64, EngineError> {
    let mut header = [0u8; 44];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| EngineError::io(path, e))?;
    if &header[0..4] != b"RIFF" || &header[36..40] != b"data" {
        return Err(EngineError::Media(format!(
            "{}: not a WAV of this engine",
            path.display()
        )));
    }
    let data = u32::from_le_bytes([header[40], header[41], header[42], header[43]]);
    Ok(u64::from(data) / (u64::from(channels) * 2))
}

/// The chunks' sample ranges: cuts at multiples of the AAC frame.
fn cuts(frames: u64, jobs: usize) -> Vec<(u64, u64)> {
    let jobs = jobs.max(1) as u64;
    let per = frames.div_ceil(jobs).div_ceil(AAC_FRAME) * AAC_FRAME;
    // Chunks shorter than a few seconds are not worth an encoder of their own.
    let per = per.max(AAC_FRAME * 256);
    let mut out = Vec::new();
    let mut start = 0;
    while start < frames {
        out.push((start, (start + per).min(frames)));
        start += per;
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    out
}

/// Encodes the WAV into the ADTS stream `aac`, one encoder per chunk in parallel.
pub fn encode_aac(spec: &EncodeSpec, aac: &Path) -> Result<(), EngineError> {
    let chunks = cuts(spec.frames, spec.jobs);
    let count = chunks.len();
    let parts: Vec<PathBuf> = (0..count)
        .map(|k| spec.scratch.join(format!("chunk{k}.aac")))
        .collect();
    let results: Vec<Result<(), EngineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .zip(&parts)
            .enumerate()
            .map(|(k, (&(start, end), part))| {
                scope.spawn(move || {
                    let preroll = if k == 0 {
                        0
                    } else {
                        (PREROLL_FRAMES * AAC_FRAME).min(start)
                    };
                    // Packet i decodes to input samples [(i-1)*1024, i*1024): skip the
                    // pre-roll (and, after the first chunk, the priming packet).
                    let first = if k == 0 {
                        0
                    } else {
                        (preroll / AAC_FRAME + 1) as usize
                    };
                    let keep = (k + 1 < count)
                        .then(|| ((end - start) / AAC_FRAME) as usize + usize::from(k == 0));
                    let postroll = if k + 1 < count {
                        (POSTROLL_FRAMES * AAC_FRAME).min(spec.frames - end)
                    } else {
                        0
                    };
                    encode_range(spec, start - preroll, end + postroll, first, keep, part)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(EngineError::Tool("encoder thread panicked".into())))
            })
            .collect()
    });
    let mut file = File::create(aac).map_err(|e| EngineError::io(aac, e))?;
    for (r, part) in results.into_iter().zip(&parts) {
        r?;
        let mut chunk = File::open(part).map_err(|e| EngineError::io(part, e))?;
        std::io::copy(&mut chunk, &mut file).map_err(|e| EngineError::io(aac, e))?;
        let _ = std::fs::remove_file(part);
    }
    Ok(())
}

/// Encodes samples `[start, end)` of the WAV with one ffmpeg and writes ADTS frames `first ..
/// first + keep` (all from `first` when `keep` is none) to `part`, as they stream out.
fn encode_range(
    spec: &EncodeSpec,
    start: u64,
    end: u64,
    first: usize,
    keep: Option<usize>,
    part: &Path,
) -> Result<(), EngineError> {
    let mut child = Command::new(&spec.ffmpeg)
        .args(["-nostdin", "-v", "error", "-f", "s16le", "-ar"])
        .arg(spec.rate.to_string())
        .args([
            "-ac",
            &spec.channels.to_string(),
            "-i",
            "pipe:0",
            "-c:a",
            "aac",
        ])
        .args([
            "-aac_coder",
            &spec.coder,
            "-b:a",
            &spec.bitrate,
            "-f",
            "adts",
            "pipe:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| EngineError::Tool(format!("cannot run ffmpeg: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let frame_bytes = u64::from(spec.channels) * 2;
    let wav = spec.wav.clone();
    let feeder = std::thread::spawn(move || -> Result<(), EngineError> {
        let mut file = File::open(&wav).map_err(|e| EngineError::io(&wav, e))?;
        file.seek(SeekFrom::Start(WAV_HEADER + start * frame_bytes))
            .map_err(|e| EngineError::io(&wav, e))?;
        let mut left = (end - start) * frame_bytes;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = (left as usize).min(buf.len());
            file.read_exact(&mut buf[..n])
                .map_err(|e| EngineError::io(&wav, e))?;
            stdin
                .write_all(&buf[..n])
                .map_err(|e| EngineError::Tool(format!("feeding ffmpeg: {e}")))?;
            left -= n as u64;
        }
        Ok(())
    });
    let copied = copy_frames(stdout, part, first, keep);
    let fed = feeder
        .join()
        .unwrap_or_else(|_| Err(EngineError::Tool("feeder panicked".into())));
    let status = child
        .wait()
        .map_err(|e| EngineError::Tool(format!("ffmpeg: {e}")))?;
    fed?;
    if !status.success() {
        return Err(EngineError::Tool(format!(
            "ffmpeg AAC encode failed ({status})"
        )));
    }
    copied
}

/// Reads ADTS frames from `input` one by one and writes frames `first .. first + keep` to `part`.
fn copy_frames(
    input: impl Read,
    part: &Path,
    first: usize,
    keep: Option<usize>,
) -> Result<(), EngineError> {
    let mut input = std::io::BufReader::with_capacity(1 << 16, input);
    let file = File::create(part).map_err(|e| EngineError::io(part, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut frame = vec![0u8; 8192];
    let mut index = 0usize;
    loop {
        let mut header = [0u8; 7];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(EngineError::Tool(format!("reading ffmpeg: {e}"))),
        }
        let len = adts_length(&header)?;
        frame.resize(len, 0);
        frame[..7].copy_from_slice(&header);
        input
            .read_exact(&mut frame[7..len])
            .map_err(|_| EngineError::Tool("truncated ADTS frame".into()))?;
        let wanted = index >= first && keep.is_none_or(|k| index < first + k);
        if wanted {
            out.write_all(&frame[..len])
                .map_err(|e| EngineError::io(part, e))?;
        }
        index += 1;
    }
    out.flush().map_err(|e| EngineError::io(part, e))
}

/// The length of the ADTS frame whose 7-byte header is `h`.
fn adts_length(h: &[u8; 7]) -> Result<usize, EngineError> {
    if h[0] != 0xFF || h[1] & 0xF0 != 0xF0 {
        return Err(EngineError::Tool("ffmpeg wrote no ADTS frame".into()));
    }
    let len =
        (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | (usize::from(h[5]) >> 5);
    if len < 7 {
        return Err(EngineError::Tool("malformed ADTS frame".into()));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_aac_frames_and_cover_everything() {
        let c = cuts(10_000_000, 2);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0, 0);
        assert_eq!(c[0].1 % AAC_FRAME, 0);
        assert_eq!(c[0].1, c[1].0);
        assert_eq!(c[1].1, 10_000_000);
        assert_eq!(cuts(1000, 4), vec![(0, 1000)], "short audio is one chunk");
    }
}
