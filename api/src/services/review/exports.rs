//! Exports of a version for editors: the mix as WAV (every render stores it), and, made on
//! request by `ExportWorkflow`, the voice stem, the background stem and the zip of every line's
//! clip with its timing sheet. Free, and made once per version: asking again finds them.

use super::rerender::render_input;
use super::{files, segments};
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal::{self, ExportState};
use onevoice_shared::contracts::ExportInput;
use onevoice_shared::ids::{JobId, UserId};
use onevoice_shared::keys::JobKeys;

/// Where a version's exports stand.
pub enum Exports {
    /// Being made; ask again.
    Processing,
    /// Links valid for the storage's presign time.
    Ready(ExportFiles),
    /// The last attempt failed; asking for them again starts anew.
    Failed,
}

impl Exports {
    /// `processing`, `ready` or `failed`, and what that means for the caller.
    pub fn describe(&self) -> (&'static str, &'static str) {
        match self {
            Exports::Processing => (
                "processing",
                "the exports are being made; ask again in a moment",
            ),
            Exports::Ready(_) => ("ready", "the exports are ready"),
            Exports::Failed => (
                "failed",
                "the exports could not be made; ask for them again",
            ),
        }
    }
}

pub struct ExportFiles {
    pub mix_wav_url: String,
    pub voices_url: String,
    pub background_url: String,
    pub clips_url: String,
}

/// Asks for the exports of a completed version of one of the caller's dubs (a repeat while they
/// are made, or once they are, changes nothing).
#[tracing::instrument(skip_all, fields(%user, %job, version))]
pub async fn request(state: &AppState, user: UserId, job: JobId, version: u32) -> Result<Exports> {
    let all = segments(state, user, job).await?;
    completed_version(state, job, version).await?;
    if let Some(ready) = ready(state, job, version).await? {
        return Ok(Exports::Ready(ready));
    }
    let first = render_input(state, &all).await?;
    let input = ExportInput {
        job_id: job,
        version,
        source_audio_key: JobKeys(job).source_audio(),
        preserve_background: first.preserve_background,
        background_stem_key: first.background_stem_key,
        activity_budget: Some(state.settings.temporal.activity_budget),
    };
    temporal::start_export(&state.temporal, &state.settings.temporal.task_queue, &input)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "exports could not be started");
            ServiceError::Unavailable("the exports could not be started; try again".into())
        })?;
    Ok(Exports::Processing)
}

/// Where the exports of a version stand; 404 when none were asked for.
pub async fn status(state: &AppState, user: UserId, job: JobId, version: u32) -> Result<Exports> {
    segments(state, user, job).await?;
    completed_version(state, job, version).await?;
    if let Some(ready) = ready(state, job, version).await? {
        return Ok(Exports::Ready(ready));
    }
    let asked = temporal::export_state(&state.temporal, job, version)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "export state unknown");
            ServiceError::Unavailable("the exports' state is unknown now; try again".into())
        })?;
    match asked {
        ExportState::None => Err(ServiceError::NotFound(format!(
            "no exports were asked for version {version}: POST to this path to make them"
        ))),
        ExportState::Failed => Ok(Exports::Failed),
        // Completed but not yet visible, or still running.
        ExportState::Running | ExportState::Completed => Ok(Exports::Processing),
    }
}

async fn completed_version(state: &AppState, job: JobId, version: u32) -> Result<()> {
    match version {
        0 => Err(ServiceError::invalid("version", "must be 1 or more")),
        1 => Ok(()),
        n => files::completed(state, job, n).await.map(|_| ()),
    }
}

/// The links to the exports, once the activity that makes them stored its result (last).
async fn ready(state: &AppState, job: JobId, version: u32) -> Result<Option<ExportFiles>> {
    let render = JobKeys(job).render(version);
    if state
        .storage
        .size_of(&render.export("result.json"))
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let name = |what: &str| format!("dub-{job}-v{version}-{what}");
    let link =
        |key: String, file: String| async move { state.storage.presign_get(&key, &file).await };
    Ok(Some(ExportFiles {
        mix_wav_url: link(render.mix(), name("mix.wav")).await?,
        voices_url: link(render.export("voices.wav"), name("voices.wav")).await?,
        background_url: link(render.export("background.wav"), name("background.wav")).await?,
        clips_url: link(render.export("clips.zip"), name("clips.zip")).await?,
    }))
}
