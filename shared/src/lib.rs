//! Everything the OneVoice crates agree on: domain types, the contracts between workflows and
//! activities, configuration, errors, and (behind the default `io` feature) the clients for
//! PostgreSQL, S3 and SMTP.
//!
//! The workflows crate uses this crate without `io`, so orchestration code cannot reach a database,
//! bucket or mail server by accident: all I/O happens in activities or in the API.

pub mod billing;
pub mod contracts;
pub mod email;
pub mod failure;
pub mod ids;
pub mod job_config;
pub mod keys;
pub mod language;
pub mod legacy;
pub mod locale;
pub mod one_time_token;
pub mod paddle;
pub mod pipeline;
pub mod retry;
pub mod secret;
pub mod settings;
pub mod speakers;
pub mod srt;
pub mod status;
pub mod voices;
pub mod webhook;

#[cfg(feature = "io")]
pub mod db;
#[cfg(feature = "io")]
pub mod mail;
#[cfg(feature = "io")]
pub mod outbound;
#[cfg(feature = "io")]
pub mod queue;
#[cfg(feature = "io")]
pub mod repo;
#[cfg(feature = "io")]
pub mod storage;
