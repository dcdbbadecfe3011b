//! Streaming decode of any supported file (AAC/MP4, MP3, WAV, FLAC) to interleaved `f32` with
//! symphonia, one packet at a time, so memory stays flat however long the media is.

use super::EngineError;
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

pub struct AudioReader {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track: u32,
    pub rate: u32,
    pub channels: usize,
    /// Frames the container announces (`None` when it does not say).
    pub frames: Option<u64>,
    scratch: Option<SampleBuffer<f32>>,
    /// Frames still to drop: the encoder delay the container's edit list names.
    skip: usize,
}

impl AudioReader {
    /// Opens the first audio track of `path`. Encoder delay and padding are trimmed when the
    /// container records them (gapless), so sample 0 is the first real sample.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let file = File::open(path).map_err(|e| EngineError::io(path, e))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let options = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, stream, &options, &MetadataOptions::default())
            .map_err(|e| EngineError::media(path, e))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| {
                t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some()
            })
            .ok_or_else(|| EngineError::Media(format!("{}: no audio track", path.display())))?;
        let params = track.codec_params.clone();
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| EngineError::media(path, e))?;
        let rate = params.sample_rate.unwrap_or(0);
        let channels = params.channels.map(|c| c.count()).unwrap_or(0);
        let priming = super::mp4::audio_priming(path, rate).unwrap_or(0);
        Ok(Self {
            skip: priming as usize,
            track: track.id,
            rate,
            channels,
            frames: params.n_frames,
            format,
            decoder,
            scratch: None,
        })
    }

    /// Appends the next packet's samples (interleaved) to `out`; `false` at the end.
    pub fn next_into(&mut self, out: &mut Vec<f32>) -> Result<bool, EngineError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(EngineError::Media(format!("reading audio: {e}"))),
            };
            if packet.track_id() != self.track {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(decoded) => {
                    if decoded.frames() == 0 {
                        continue;
                    }
                    let spec = *decoded.spec();
                    // The channel count is only certain once a packet is decoded (AAC in MP4).
                    self.channels = spec.channels.count();
                    self.rate = spec.rate;
                    let needed = decoded.capacity() as u64;
                    let scratch = match &mut self.scratch {
                        Some(s) if s.capacity() as u64 >= needed * spec.channels.count() as u64 => {
                            s
                        }
                        slot => slot.insert(SampleBuffer::new(needed, spec)),
                    };
                    scratch.copy_interleaved_ref(decoded);
                    let samples = scratch.samples();
                    let frames = samples.len() / self.channels.max(1);
                    let dropped = self.skip.min(frames);
                    self.skip -= dropped;
                    out.extend_from_slice(&samples[dropped * self.channels..]);
                    return Ok(true);
                }
                // A corrupt packet is skipped, as players do; the length is fixed by the caller.
                Err(SymphoniaError::DecodeError(e)) => {
                    tracing::debug!(error = e, "skipping an undecodable audio packet");
                }
                Err(e) => return Err(EngineError::Media(format!("decoding audio: {e}"))),
            }
        }
    }

    /// Decodes the whole file (for short clips) as mono: channels are averaged.
    pub fn read_mono(path: &Path) -> Result<(Vec<f32>, u32), EngineError> {
        let mut reader = Self::open(path)?;
        let mut interleaved = Vec::new();
        while reader.next_into(&mut interleaved)? {}
        let channels = reader.channels.max(1);
        let mono = if channels == 1 {
            interleaved
        } else {
            interleaved
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32)
                .collect()
        };
        Ok((mono, reader.rate))
    }
}

/// Streams `path` as mono at `rate` (channels averaged, resampled as it decodes), handing each
/// block to `block` with whether it is the last: for analyses of whole tracks (recognition
/// chunks, speakers) that must not hold the track in memory.
pub fn stream_mono(
    path: &Path,
    rate: u32,
    mut block: impl FnMut(&[f32], bool) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut reader = AudioReader::open(path)?;
    let mut decoded = Vec::new();
    let mut resampler: Option<super::resample::StreamResampler> = None;
    let mut out = Vec::new();
    loop {
        decoded.clear();
        let more = reader.next_into(&mut decoded)?;
        let channels = reader.channels.max(1);
        let mono: Vec<f32> = decoded
            .chunks_exact(channels)
            .map(|f| f.iter().sum::<f32>() / channels as f32)
            .collect();
        let r = match resampler.as_mut() {
            Some(r) => r,
            None => resampler.insert(super::resample::StreamResampler::new(
                reader.rate.max(1),
                rate,
                1,
            )?),
        };
        out.clear();
        r.push(&mono, &mut out)?;
        if !more {
            r.finish(&mut out)?;
        }
        block(&out, !more)?;
        if !more {
            return Ok(());
        }
    }
}

/// Frames and sample rate of a file from its header (no decoding); for planning.
pub fn probe_length(path: &Path) -> Result<(u64, u32), EngineError> {
    let reader = AudioReader::open(path)?;
    match reader.frames {
        Some(frames) => Ok((frames, reader.rate)),
        None => {
            let (samples, rate) = AudioReader::read_mono(path)?;
            Ok((samples.len() as u64, rate))
        }
    }
}
