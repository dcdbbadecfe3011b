//! Test support for OneVoice's end-to-end tests: a harness that runs the real API and worker
//! against the local stack with a fresh database and task queue per test, sample media made on
//! the spot with espeak-ng and ffmpeg, and media assertions that decode with real ffmpeg.

pub mod api;
pub mod billing;
pub mod chat;
pub mod flows;
pub mod harness;
pub mod history;
pub mod keys;
pub mod lalalai;
pub mod local_speech;
pub mod mail;
pub mod media;
pub mod paddle;
pub mod proxy;
pub mod sample;
pub mod served;
pub mod smtp;
pub mod stats;
pub mod tts;
pub mod wer;
