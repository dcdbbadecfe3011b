use onevoice_shared::billing::Catalog;
use onevoice_shared::mail::Mailer;
use onevoice_shared::queue::Queue;
use onevoice_shared::settings::{
    AudioSettings, OutboundSettings, SpeechSettings, TextSettings, ToolSettings, WebhookSettings,
};
use onevoice_shared::storage::Storage;
use sqlx::PgPool;

/// What activities need from the outside world, built once by the worker.
#[derive(Clone, Debug)]
pub struct Deps {
    pub db: PgPool,
    pub storage: Storage,
    pub mailer: Mailer,
    /// Sender mailbox of every email (`Name <address>`).
    pub email_from: String,
    /// Base URL of the web app, for links in notices.
    pub frontend_url: String,
    pub tools: ToolSettings,
    pub queue: Queue,
    /// Where job messages are published (legacy contract); none disables publishing.
    pub publish_url: Option<String>,
    /// The plans, for the credits a paid period grants.
    pub plans: Catalog,
    pub audio: AudioSettings,
    pub speech: SpeechSettings,
    pub text: TextSettings,
    /// After how long a pending job with no workflow is failed as stranded.
    pub stranded_after: std::time::Duration,
    /// Where imports may connect, and how long they may take.
    pub outbound: OutboundSettings,
    /// How webhooks are delivered.
    pub webhooks: WebhookSettings,
    /// Largest video accepted (uploads and imports alike).
    pub max_upload_bytes: u64,
}
