//! Streaming band-limited resampling (rubato's FFT resampler) of interleaved audio, with the
//! resampler's delay removed so output sample 0 lines up with input sample 0.

use super::EngineError;
use rubato::{FftFixedInOut, Resampler};

pub struct StreamResampler {
    inner: Option<FftFixedInOut<f32>>,
    channels: usize,
    /// Per-channel input not yet processed (less than one chunk).
    pending: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    /// Output frames still to drop (the resampler's delay).
    skip: usize,
}

/// Input frames per FFT chunk: long enough for a steep filter, short enough to stay cheap.
const CHUNK: usize = 2048;

impl StreamResampler {
    pub fn new(from: u32, to: u32, channels: usize) -> Result<Self, EngineError> {
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedInOut::new(from as usize, to as usize, CHUNK, channels)
                    .map_err(|e| EngineError::Media(format!("resampler: {e}")))?,
            )
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        let out = inner
            .as_ref()
            .map_or_else(Vec::new, |r| r.output_buffer_allocate(true));
        Ok(Self {
            inner,
            channels,
            pending: vec![Vec::with_capacity(CHUNK * 2); channels],
            out,
            skip,
        })
    }

    /// Resamples `input` (interleaved), appending whatever is ready to `output` (interleaved).
    pub fn push(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), EngineError> {
        if self.inner.is_none() {
            output.extend_from_slice(input);
            return Ok(());
        }
        if self.channels == 1 {
            self.pending[0].extend_from_slice(input);
        } else {
            for (c, pending) in self.pending.iter_mut().enumerate() {
                pending.extend(input.iter().skip(c).step_by(self.channels));
            }
        }
        self.drain(output, false)
    }

    /// Pushes out what the resampler still holds (zero-padded at the end).
    pub fn finish(&mut self, output: &mut Vec<f32>) -> Result<(), EngineError> {
        if self.inner.is_none() {
            return Ok(());
        }
        self.drain(output, true)
    }

    fn drain(&mut self, output: &mut Vec<f32>, flush: bool) -> Result<(), EngineError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        // When flushing, zero-pad so the delayed tail comes out too.
        let tail_chunks = if flush {
            1 + inner.output_delay() / inner.output_frames_max() + 1
        } else {
            0
        };
        let mut extra = tail_chunks;
        // Input consumed so far: dropped from `pending` once at the end, not chunk by chunk
        // (which moved the rest of a block along for every chunk).
        let mut used_total = 0;
        loop {
            let need = inner.input_frames_next();
            if self.pending[0].len() - used_total < need {
                if extra == 0 {
                    break;
                }
                extra -= 1;
                for ch in &mut self.pending {
                    ch.resize(used_total + need, 0.0);
                }
            }
            let input: Vec<&[f32]> = self.pending.iter().map(|ch| &ch[used_total..]).collect();
            let (used, made) = inner
                .process_into_buffer(&input, &mut self.out, None)
                .map_err(|e| EngineError::Media(format!("resampling: {e}")))?;
            used_total += used;
            let start = self.skip.min(made);
            self.skip -= start;
            if self.channels == 1 {
                output.extend_from_slice(&self.out[0][start..made]);
            } else {
                let at = output.len();
                output.resize(at + (made - start) * self.channels, 0.0);
                for (c, channel) in self.out.iter().enumerate() {
                    for (slot, s) in output[at + c..]
                        .iter_mut()
                        .step_by(self.channels)
                        .zip(&channel[start..made])
                    {
                        *slot = *s;
                    }
                }
            }
        }
        for ch in &mut self.pending {
            ch.drain(..used_total);
        }
        Ok(())
    }

    /// Forgets the stream so far, to resample another one with the same rates (planning the
    /// FFTs again for every clip would cost more than resampling it).
    pub fn reset(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
            self.skip = inner.output_delay();
        }
        for ch in &mut self.pending {
            ch.clear();
        }
    }
}

/// Resamples a whole mono signal (clips) with `r` (mono, `from` → `to`), reset first.
pub fn resample_mono(
    r: &mut StreamResampler,
    input: &[f32],
    from: u32,
    to: u32,
) -> Result<Vec<f32>, EngineError> {
    r.reset();
    let mut out = Vec::with_capacity(input.len() * to as usize / from.max(1) as usize + 4096);
    r.push(input, &mut out)?;
    r.finish(&mut out)?;
    let expected = (input.len() as u64 * to as u64 + from as u64 / 2) / from.max(1) as u64;
    out.truncate(expected as usize);
    Ok(out)
}
