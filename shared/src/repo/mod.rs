//! Database access, one module per aggregate. Queries are checked at run time (no database is
//! needed to build), and the end-to-end tests exercise them.

pub mod activity;
pub mod api_keys;
pub mod auth_tokens;
pub mod billing;
pub mod cloned_voices;
pub mod credits;
pub mod emails;
pub mod former_accounts;
pub mod job_versions;
pub mod jobs;
pub mod ledger;
pub mod media;
pub mod pending;
pub mod rate_limits;
pub mod segment_edits;
pub mod sessions;
pub mod speakers;
pub mod users;
pub mod videos;
pub mod webhooks;
