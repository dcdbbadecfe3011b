//! OneVoice's Temporal workflows: deterministic orchestration only. Every effect (S3, ffmpeg,
//! providers, database, email) happens in an activity; this crate cannot even link the I/O clients
//! (it uses `onevoice-shared` without the `io` feature).

pub mod account;
pub mod activities;
pub mod billing;
pub mod dubbing;
pub mod email;
pub mod export;
pub mod maintenance;
mod options;
mod reasons;
pub mod rerender;
pub mod video;
pub mod webhook;

pub use account::AccountErasureWorkflow;
pub use billing::BillingWorkflow;
pub use dubbing::DubbingWorkflow;
pub use email::EmailWorkflow;
pub use export::ExportWorkflow;
pub use maintenance::MaintenanceWorkflow;
pub use rerender::RerenderWorkflow;
pub use video::{ThumbnailWorkflow, VideoDeletionWorkflow, VideoIngestWorkflow};
pub use webhook::WebhookDeliveryWorkflow;
