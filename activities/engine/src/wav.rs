//! A streaming 16-bit PCM WAV writer whose header is written up front (the length is known).

use super::EngineError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes before the first sample.
pub const HEADER_BYTES: u64 = 44;

pub struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    expected: u64,
    written: u64,
    channels: u16,
}

impl Writer {
    pub fn create(path: &Path, rate: u32, channels: u16, frames: u64) -> Result<Self, EngineError> {
        let data = frames * u64::from(channels) * 2;
        let data32 = u32::try_from(data)
            .ok()
            .filter(|d| *d <= u32::MAX - 36)
            .ok_or_else(|| EngineError::Media("the mix is too long for a WAV file".into()))?;
        let file = File::create(path).map_err(|e| EngineError::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 22, file);
        let block_align = channels * 2;
        let mut header = Vec::with_capacity(44);
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(36 + data32).to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes());
        header.extend_from_slice(&channels.to_le_bytes());
        header.extend_from_slice(&rate.to_le_bytes());
        header.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        header.extend_from_slice(&block_align.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        header.extend_from_slice(b"data");
        header.extend_from_slice(&data32.to_le_bytes());
        out.write_all(&header)
            .map_err(|e| EngineError::io(path, e))?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            expected: frames * u64::from(channels),
            written: 0,
            channels,
        })
    }

    /// Appends interleaved samples (anything past the announced length is dropped).
    pub fn write(&mut self, samples: &[i16]) -> Result<(), EngineError> {
        let room = (self.expected - self.written).min(samples.len() as u64) as usize;
        let mut bytes = Vec::with_capacity(room * 2);
        for s in &samples[..room] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.out
            .write_all(&bytes)
            .map_err(|e| EngineError::io(&self.path, e))?;
        self.written += room as u64;
        Ok(())
    }

    /// Writes the header and sizes the file to its full length (silence), for writers that fill
    /// the samples in at their offsets.
    pub fn reserve(mut self) -> Result<(), EngineError> {
        self.out
            .flush()
            .map_err(|e| EngineError::io(&self.path, e))?;
        self.out
            .get_ref()
            .set_len(HEADER_BYTES + self.expected * 2)
            .map_err(|e| EngineError::io(&self.path, e))
    }

    /// Pads with silence to the announced length and flushes.
    pub fn finish(mut self) -> Result<(), EngineError> {
        let zeros = vec![0i16; 4096 * self.channels as usize];
        while self.written < self.expected {
            let n = ((self.expected - self.written) as usize).min(zeros.len());
            self.write(&zeros[..n])?;
        }
        self.out.flush().map_err(|e| EngineError::io(&self.path, e))
    }
}
