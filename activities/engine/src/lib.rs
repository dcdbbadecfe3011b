//! The audio engine in Rust: decode (symphonia), resample (rubato), pitch-preserving
//! time-stretch (WSOLA), placement on the timeline, ducking of the original track, BS.1770
//! loudness normalization under a peak ceiling, and the parallel AAC encode of the final video.
//! It streams in blocks, so memory stays flat as the media grows.

pub mod centre;
pub mod clips;
pub mod decode;
pub mod duck;
pub mod encode;
pub mod held;
pub mod limit;
pub mod loudness;
pub mod mix;
pub mod mp4;
pub mod plan;
pub mod resample;
pub mod separate;
pub mod stretch;
pub mod wav;

use std::path::Path;

/// Ducking ramps: 50 ms at 48 kHz.
pub const RAMP: u64 = 2_400;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input is not usable media (cannot heal on retry).
    #[error("{0}")]
    Media(String),
    #[error("{0}")]
    Io(String),
    /// An external tool (ffmpeg) failed.
    #[error("{0}")]
    Tool(String),
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        EngineError::Io(format!("{}: {e}", path.display()))
    }

    pub fn media(path: &Path, e: impl std::fmt::Display) -> Self {
        EngineError::Media(format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod module_tests;
#[cfg(test)]
mod tests;
