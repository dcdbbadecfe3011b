//! The final AAC encode and mux, in parallel.
//!
//! The mix is cut at AAC frame boundaries (1024 samples) on a fixed grid of chunks; runs of
//! chunks are encoded by separate encoders at once (the Fraunhofer FDK encoder in this process,
//! or ffmpeg's native one, a process each), each with a few frames of the preceding audio as
//! pre-roll, so its encoder state at the cut matches a continuous encode, and a few frames of the
//! following audio as post-roll, so its last block (which reaches past the cut) is made of the
//! audio that really follows; and the frames covering each chunk are concatenated into one
//! ADTS stream. The decoder's overlap-add across a cut then combines frames from two encoders
//! that saw the same audio, which leaves no seam (`module_tests`: the error at a cut is that of
//! anywhere else). The stream is muxed with the video stream copied.

use super::EngineError;
pub use onevoice_shared::settings::AacEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
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
    /// Bits per second.
    pub bitrate: u32,
    pub encoder: AacEncoder,
    /// Parallel encoders.
    pub jobs: usize,
    pub scratch: PathBuf,
}

/// Encodes the WAV to AAC and muxes it with the video into `out` (MP4, faststart).
pub fn encode_and_mux(spec: &EncodeSpec, out: &Path) -> Result<(), EngineError> {
    let aac = spec.scratch.join("audio.aac");
    encode_aac(spec, &aac, None)?;
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
    // The ADTS stream starts with the encoder's priming samples; this offset puts the first
    // real sample at zero, as a single encode's edit list would.
    let priming = priming_frames(spec.encoder) * AAC_FRAME;
    cmd.args([
        "-itsoffset",
        &format!("-{}", priming as f64 / spec.rate as f64),
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

/// AAC frames an encoder emits before the one that decodes to the first input sample:
/// ffmpeg's native encoder primes with one (1024 samples), FDK with two (its reported delay,
/// checked whenever it opens).
fn priming_frames(encoder: AacEncoder) -> u64 {
    match encoder {
        AacEncoder::Fdk => 2,
        AacEncoder::Ffmpeg | AacEncoder::FfmpegFast => 1,
    }
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

/// AAC frames per chunk of the encode grid (5.5 s at 48 kHz). The grid depends only on the
/// mix's length, so two versions of a dub cut their mixes at the same places, and a re-render
/// encodes only the chunks whose audio changed and copies the others from the previous stream.
pub const CHUNK_FRAMES: u64 = 256;

/// What an encode produced, chunk by chunk; stored beside the ADTS stream so the next version
/// can reuse its unchanged chunks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodeSheet {
    pub chunks: Vec<EncodedChunk>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodedChunk {
    /// SHA-256 of everything that shapes the chunk's frames: the encoder's settings, the
    /// chunk's place, and the samples it and its pre- and post-roll cover.
    pub hash: String,
    /// Bytes of its ADTS frames in the stream.
    pub bytes: u64,
    /// Copied from the previous stream rather than encoded.
    #[serde(default)]
    pub reused: bool,
}

impl EncodeSheet {
    pub fn reused(&self) -> usize {
        self.chunks.iter().filter(|c| c.reused).count()
    }
}

/// A run's index and the bytes of each of its chunks.
type EncodedRun = (usize, Result<Vec<u64>, EngineError>);

/// A previous encode of a mix as long as this one: its ADTS stream and its sheet.
#[derive(Clone, Copy, Debug)]
pub struct Previous<'a> {
    pub aac: &'a Path,
    pub sheet: &'a EncodeSheet,
}

/// The chunks' sample ranges: the grid of [`CHUNK_FRAMES`], the last one shorter.
fn grid(frames: u64) -> Vec<(u64, u64)> {
    let per = CHUNK_FRAMES * AAC_FRAME;
    let mut out: Vec<(u64, u64)> = (0..frames.div_ceil(per))
        .map(|k| (k * per, ((k + 1) * per).min(frames)))
        .collect();
    if out.is_empty() {
        out.push((0, 0));
    }
    out
}

/// The samples each chunk's frames are made from (the chunk with its pre- and post-roll): what
/// its hash covers, so a chunk is reused exactly when none of these samples changed.
pub fn chunk_windows(frames: u64) -> Vec<(u64, u64)> {
    grid(frames)
        .into_iter()
        .map(|(start, end)| fed(frames, start, end))
        .collect()
}

/// The samples an encoder is fed for the chunks `[start, end)`: a few frames of pre-roll
/// before (none at the start) and of post-roll after (none at the end).
fn fed(frames: u64, start: u64, end: u64) -> (u64, u64) {
    let preroll = (PREROLL_FRAMES * AAC_FRAME).min(start);
    let postroll = if end == frames {
        0
    } else {
        (POSTROLL_FRAMES * AAC_FRAME).min(frames - end)
    };
    (start - preroll, end + postroll)
}

/// Encodes the WAV into the ADTS stream `aac`: the chunks whose hash matches `previous`'s are
/// copied from its stream, the others are encoded in runs of consecutive chunks, one ffmpeg
/// per run, `spec.jobs` at a time (a first encode is `jobs` runs of about equal length).
pub fn encode_aac(
    spec: &EncodeSpec,
    aac: &Path,
    previous: Option<Previous<'_>>,
) -> Result<EncodeSheet, EngineError> {
    let chunks = grid(spec.frames);
    let hashes = hash_chunks(spec, &chunks)?;
    let reusable = reusable(&hashes, previous);
    let runs = runs(&reusable, spec.jobs);
    let parts: Vec<PathBuf> = (0..runs.len())
        .map(|k| spec.scratch.join(format!("run{k}.aac")))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let encoded: Vec<Vec<EncodedRun>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.jobs.clamp(1, runs.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(run) = runs.get(k) else { break };
                        done.push((k, encode_run(spec, &chunks, run.clone(), &parts[k])));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(0, Err(EngineError::Tool("encoder thread panicked".into())))]
                })
            })
            .collect()
    });
    let mut sizes: Vec<Vec<u64>> = vec![Vec::new(); runs.len()];
    for (k, result) in encoded.into_iter().flatten() {
        sizes[k] = result?;
    }
    // Stitch: each chunk from its run's part or from the previous stream.
    let mut out = std::io::BufWriter::new(File::create(aac).map_err(|e| EngineError::io(aac, e))?);
    let mut old = match previous {
        Some(p) if reusable.iter().any(Option::is_some) => {
            Some(File::open(p.aac).map_err(|e| EngineError::io(p.aac, e))?)
        }
        _ => None,
    };
    let mut sheet = EncodeSheet::default();
    let mut open_run: Option<(usize, File)> = None;
    for (c, hash) in hashes.into_iter().enumerate() {
        let (bytes, reused) = match (reusable[c], old.as_mut()) {
            (Some((offset, bytes)), Some(old)) => {
                old.seek(SeekFrom::Start(offset))
                    .map_err(|e| EngineError::io(aac, e))?;
                copy_exactly(&mut old.take(bytes), &mut out, bytes, aac)?;
                (bytes, true)
            }
            _ => {
                let k = runs
                    .iter()
                    .position(|r| r.contains(&c))
                    .expect("every fresh chunk is in a run");
                if open_run.as_ref().is_none_or(|(open, _)| *open != k) {
                    let file = File::open(&parts[k]).map_err(|e| EngineError::io(&parts[k], e))?;
                    open_run = Some((k, file));
                }
                let bytes = sizes[k][c - runs[k].start];
                let (_, part) = open_run.as_mut().expect("opened above");
                copy_exactly(&mut part.take(bytes), &mut out, bytes, aac)?;
                (bytes, false)
            }
        };
        sheet.chunks.push(EncodedChunk {
            hash,
            bytes,
            reused,
        });
    }
    out.flush().map_err(|e| EngineError::io(aac, e))?;
    for part in &parts {
        let _ = std::fs::remove_file(part);
    }
    Ok(sheet)
}

fn copy_exactly(
    from: &mut impl Read,
    to: &mut impl Write,
    bytes: u64,
    path: &Path,
) -> Result<(), EngineError> {
    let copied = std::io::copy(from, to).map_err(|e| EngineError::io(path, e))?;
    if copied != bytes {
        return Err(EngineError::Tool(format!(
            "a chunk of the AAC stream is {copied} bytes, not {bytes}"
        )));
    }
    Ok(())
}

/// Where each chunk's frames lie in the previous stream (offset, bytes), if they can be reused:
/// same hash at the same index of a grid as long as this one, from a stream as long as its sheet
/// says.
fn reusable(hashes: &[String], previous: Option<Previous<'_>>) -> Vec<Option<(u64, u64)>> {
    let none = vec![None; hashes.len()];
    let Some(previous) = previous else {
        return none;
    };
    let old = &previous.sheet.chunks;
    let total: u64 = old.iter().map(|c| c.bytes).sum();
    let on_disk = std::fs::metadata(previous.aac).map(|m| m.len()).ok();
    if old.len() != hashes.len() || on_disk != Some(total) {
        return none;
    }
    let mut offset = 0;
    old.iter()
        .zip(hashes)
        .map(|(chunk, hash)| {
            let at = offset;
            offset += chunk.bytes;
            (chunk.hash == *hash).then_some((at, chunk.bytes))
        })
        .collect()
}

/// The fresh chunks grouped into runs of consecutive indices, none longer than an equal share of
/// all fresh chunks across `jobs` encoders.
fn runs(reusable: &[Option<(u64, u64)>], jobs: usize) -> Vec<std::ops::Range<usize>> {
    let fresh = reusable.iter().filter(|r| r.is_none()).count();
    let most = fresh.div_ceil(jobs.max(1)).max(1);
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (c, r) in reusable.iter().enumerate() {
        if r.is_some() {
            continue;
        }
        match out.last_mut() {
            Some(run) if run.end == c && run.len() < most => run.end += 1,
            _ => out.push(c..c + 1),
        }
    }
    out
}

/// Encodes the chunks of `run` with one ffmpeg into `part`, returning each chunk's bytes.
fn encode_run(
    spec: &EncodeSpec,
    chunks: &[(u64, u64)],
    run: std::ops::Range<usize>,
    part: &Path,
) -> Result<Vec<u64>, EngineError> {
    let (start, end) = (chunks[run.start].0, chunks[run.end - 1].1);
    let (from, to) = fed(spec.frames, start, end);
    // Packet i decodes to input samples [(i-p)*1024, (i-p+1)*1024), p the encoder's priming
    // frames: skip the pre-roll and, after the first chunk, the priming packets; the first
    // chunk keeps them (the mux's offset removes them).
    let priming = priming_frames(spec.encoder);
    let first = if start == 0 {
        0
    } else {
        ((start - from) / AAC_FRAME + priming) as usize
    };
    let counts: Vec<usize> = run
        .map(|c| {
            let (s, e) = chunks[c];
            ((e - s).div_ceil(AAC_FRAME) + if c == 0 { priming } else { 0 }) as usize
        })
        .collect();
    encode_range(spec, from, to, first, &counts, part)
}

/// Each chunk's hash, computed on `spec.jobs` threads.
fn hash_chunks(spec: &EncodeSpec, chunks: &[(u64, u64)]) -> Result<Vec<String>, EngineError> {
    let threads = spec.jobs.clamp(1, chunks.len());
    let mut hashes = vec![String::new(); chunks.len()];
    let results: Vec<Result<Vec<(usize, String)>, EngineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut file =
                        File::open(&spec.wav).map_err(|e| EngineError::io(&spec.wav, e))?;
                    let mut buf = vec![0u8; 1 << 20];
                    (t..chunks.len())
                        .step_by(threads)
                        .map(|c| {
                            let hash = hash_chunk(spec, chunks, c, &mut file, &mut buf)?;
                            Ok((c, hash))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(EngineError::Tool("hashing thread panicked".into())))
            })
            .collect()
    });
    for result in results {
        for (c, hash) in result? {
            hashes[c] = hash;
        }
    }
    Ok(hashes)
}

fn hash_chunk(
    spec: &EncodeSpec,
    chunks: &[(u64, u64)],
    c: usize,
    file: &mut File,
    buf: &mut [u8],
) -> Result<String, EngineError> {
    let (start, end) = chunks[c];
    let (from, to) = fed(spec.frames, start, end);
    let mut hasher = Sha256::new();
    let settings = format!(
        "aac v2 rate={} channels={} bitrate={} encoder={} frames={} chunk={start}..{end}\n",
        spec.rate,
        spec.channels,
        spec.bitrate,
        spec.encoder.name(),
        spec.frames
    );
    hasher.update(settings.as_bytes());
    let frame_bytes = u64::from(spec.channels) * 2;
    file.seek(SeekFrom::Start(WAV_HEADER + from * frame_bytes))
        .map_err(|e| EngineError::io(&spec.wav, e))?;
    let mut left = (to - from) * frame_bytes;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        file.read_exact(&mut buf[..n])
            .map_err(|e| EngineError::io(&spec.wav, e))?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Encodes samples `[start, end)` of the WAV with one encoder and writes its ADTS frames from
/// `first` on to `part`: `counts[k]` frames for the k-th chunk. Returns each chunk's bytes.
fn encode_range(
    spec: &EncodeSpec,
    start: u64,
    end: u64,
    first: usize,
    counts: &[usize],
    part: &Path,
) -> Result<Vec<u64>, EngineError> {
    let mut sink = FrameSink::create(part, first, counts)?;
    match spec.encoder {
        AacEncoder::Fdk => encode_fdk(spec, start, end, &mut sink)?,
        AacEncoder::Ffmpeg => encode_ffmpeg(spec, start, end, "twoloop", &mut sink)?,
        AacEncoder::FfmpegFast => encode_ffmpeg(spec, start, end, "fast", &mut sink)?,
    }
    sink.finish()
}

/// The FDK encoder in this thread: the WAV's samples in, one ADTS frame out per 1024 of them.
fn encode_fdk(
    spec: &EncodeSpec,
    start: u64,
    end: u64,
    sink: &mut FrameSink,
) -> Result<(), EngineError> {
    use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};
    let fail = |what: &str, e: fdk_aac::enc::EncoderError| {
        EngineError::Tool(format!("FDK AAC encoder {what}: {e}"))
    };
    let channels = match spec.channels {
        1 => ChannelMode::Mono,
        2 => ChannelMode::Stereo,
        n => {
            return Err(EngineError::Media(format!(
                "cannot encode {n} channels to AAC"
            )));
        }
    };
    let encoder = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(spec.bitrate),
        sample_rate: spec.rate,
        transport: Transport::Adts,
        channels,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(|e| fail("setup", e))?;
    // The stitching and the mux's offset count on a delay of whole frames.
    let delay = encoder.info().map_err(|e| fail("info", e))?.nDelay;
    if u64::from(delay) != priming_frames(AacEncoder::Fdk) * AAC_FRAME {
        return Err(EngineError::Tool(format!(
            "the FDK AAC encoder delays by {delay} samples, not two frames"
        )));
    }
    let mut packet = vec![0u8; 8192];
    let mut feed = |pcm: &[i16], sink: &mut FrameSink| -> Result<(), EngineError> {
        let mut at = 0;
        while at < pcm.len() {
            let done = encoder
                .encode(&pcm[at..], &mut packet)
                .map_err(|e| fail("encode", e))?;
            if done.input_consumed == 0 && done.output_size == 0 {
                return Err(EngineError::Tool("the FDK AAC encoder stalled".into()));
            }
            at += done.input_consumed;
            if done.output_size > 0 {
                sink.push(&packet[..done.output_size])?;
            }
        }
        Ok(())
    };
    let frame_bytes = u64::from(spec.channels) * 2;
    let mut file = File::open(&spec.wav).map_err(|e| EngineError::io(&spec.wav, e))?;
    file.seek(SeekFrom::Start(WAV_HEADER + start * frame_bytes))
        .map_err(|e| EngineError::io(&spec.wav, e))?;
    // Whole sample frames per read, so every block ends between frames.
    let block = (1 << 18) / frame_bytes as usize * frame_bytes as usize;
    let mut bytes = vec![0u8; block];
    let mut pcm: Vec<i16> = Vec::with_capacity(block / 2);
    let mut left = (end - start) * frame_bytes;
    while left > 0 {
        let n = (left as usize).min(block);
        file.read_exact(&mut bytes[..n])
            .map_err(|e| EngineError::io(&spec.wav, e))?;
        pcm.clear();
        pcm.extend(
            bytes[..n]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        feed(&pcm, sink)?;
        left -= n as u64;
    }
    // At the end of the mix (or within a post-roll of it) the encoder holds its last frames
    // back: silence pushes them out, as ffmpeg's flush does.
    let silence = vec![0i16; AAC_FRAME as usize * usize::from(spec.channels)];
    for _ in 0..=priming_frames(AacEncoder::Fdk) {
        if !sink.wants_more() {
            break;
        }
        feed(&silence, sink)?;
    }
    Ok(())
}

/// ffmpeg's native encoder with `coder`, fed through a pipe by a second thread.
fn encode_ffmpeg(
    spec: &EncodeSpec,
    start: u64,
    end: u64,
    coder: &str,
    sink: &mut FrameSink,
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
        .args(["-aac_coder", coder, "-b:a"])
        .arg(spec.bitrate.to_string())
        .args(["-f", "adts", "pipe:1"])
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
    let read = read_adts(stdout, sink);
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
    read
}

/// Reads ADTS frames from `input` to its end, one by one, into `sink`.
fn read_adts(input: impl Read, sink: &mut FrameSink) -> Result<(), EngineError> {
    let mut input = std::io::BufReader::with_capacity(1 << 16, input);
    let mut frame = vec![0u8; 8192];
    loop {
        let mut header = [0u8; 7];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(EngineError::Tool(format!("reading ffmpeg: {e}"))),
        }
        let len = adts_length(&header)?;
        frame.resize(len, 0);
        frame[..7].copy_from_slice(&header);
        input
            .read_exact(&mut frame[7..len])
            .map_err(|_| EngineError::Tool("truncated ADTS frame".into()))?;
        sink.push(&frame[..len])?;
    }
}

/// Takes an encoder's ADTS frames in order: skips the first `skip` (pre-roll, priming),
/// writes `counts[k]` frames for the k-th chunk to the run's part, and drops what follows
/// (post-roll: frames the next run's encoder makes).
struct FrameSink {
    out: std::io::BufWriter<File>,
    path: PathBuf,
    skip: usize,
    counts: Vec<usize>,
    bytes: Vec<u64>,
    /// The chunk being filled and the frames it has.
    chunk: usize,
    taken: usize,
}

impl FrameSink {
    fn create(part: &Path, skip: usize, counts: &[usize]) -> Result<Self, EngineError> {
        let file = File::create(part).map_err(|e| EngineError::io(part, e))?;
        Ok(Self {
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            path: part.to_path_buf(),
            skip,
            counts: counts.to_vec(),
            bytes: vec![0; counts.len()],
            chunk: 0,
            taken: 0,
        })
    }

    fn push(&mut self, frame: &[u8]) -> Result<(), EngineError> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        while self.chunk < self.counts.len() && self.taken == self.counts[self.chunk] {
            self.chunk += 1;
            self.taken = 0;
        }
        if self.chunk == self.counts.len() {
            return Ok(());
        }
        self.out
            .write_all(frame)
            .map_err(|e| EngineError::io(&self.path, e))?;
        self.bytes[self.chunk] += frame.len() as u64;
        self.taken += 1;
        Ok(())
    }

    /// Whether a chunk still lacks frames.
    fn wants_more(&self) -> bool {
        self.skip > 0
            || self.counts[self.chunk.min(self.counts.len())..]
                .iter()
                .enumerate()
                .any(|(k, &n)| if k == 0 { self.taken < n } else { n > 0 })
    }

    /// Each chunk's bytes; an error if the encoder stopped short of any chunk's frames.
    fn finish(mut self) -> Result<Vec<u64>, EngineError> {
        if self.wants_more() {
            return Err(EngineError::Tool(
                "the AAC encoder made fewer frames than the audio needs".into(),
            ));
        }
        self.out
            .flush()
            .map_err(|e| EngineError::io(&self.path, e))?;
        Ok(self.bytes)
    }
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
    fn the_grid_falls_on_aac_frames_covers_everything_and_depends_only_on_the_length() {
        let per = CHUNK_FRAMES * AAC_FRAME;
        let g = grid(10 * per + 5);
        assert_eq!(g.len(), 11);
        assert!(
            g.windows(2)
                .all(|w| w[0].1 == w[1].0 && w[0].1 % AAC_FRAME == 0)
        );
        assert_eq!((g[0].0, g[10].1), (0, 10 * per + 5));
        assert_eq!(grid(1000), vec![(0, 1000)], "short audio is one chunk");
        assert_eq!(grid(0), vec![(0, 0)]);
    }

    #[test]
    fn fresh_chunks_run_together_in_equal_shares() {
        let fresh = vec![None; 10];
        assert_eq!(
            runs(&fresh, 2),
            vec![0..5, 5..10],
            "a first encode: one run per encoder"
        );
        assert_eq!(runs(&fresh, 3), vec![0..4, 4..8, 8..10]);
        let mut edited = vec![Some((0, 1)); 10];
        edited[3] = None;
        edited[4] = None;
        edited[8] = None;
        assert_eq!(runs(&edited, 2), vec![3..5, 8..9]);
        assert!(runs(&[Some((0, 1))], 2).is_empty(), "nothing to encode");
    }
}
