//! OneVoice's Temporal workflows: deterministic orchestration only. Every effect (S3, ffmpeg,
//! providers, database, email) happens in an activity; this crate cannot even link the I/O clients
//! (it uses `onevoice-shared` without the `io` feature).

pub mod activities;
pub mod dubbing;
mod options;

pub use dubbing::DubbingWorkflow;
