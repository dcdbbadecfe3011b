//! Activity implementations of OneVoice, grouped by concern. Each activity is idempotent: it keys
//! its artifacts on job id + step and stores its result document last, so a retry, a worker crash
//! or an operator's reset returns the stored result instead of redoing (or re-charging) the work.

mod blocking;
mod deps;
mod error;
mod heartbeat;
mod import;
mod memo;
mod process;
mod scratch;

pub mod account;
pub mod audio;
pub mod billing;
pub mod bridge;
pub mod jobs;
pub mod maintenance;
pub mod media;
pub mod notify;
pub mod speakers;
pub mod speech;
pub mod text;
pub mod video;
pub mod voice;
pub mod webhooks;

pub use account::AccountActivities;
pub use audio::AudioActivities;
pub use billing::BillingActivities;
pub use bridge::BridgeActivities;
pub use deps::Deps;
pub use jobs::JobActivities;
pub use maintenance::MaintenanceActivities;
pub use media::MediaActivities;
pub use notify::NotifyActivities;
pub use speakers::SpeakerActivities;
pub use speech::SpeechActivities;
pub use text::TextActivities;
pub use video::VideoActivities;
pub use voice::VoiceActivities;
pub use webhooks::WebhookActivities;
