//! The voice catalogue of a language, with a link to each voice's preview sample where one has
//! been generated (the local voices': a worker makes them once, `voice::previews`); and the
//! user's library of voices cloned from their videos' speakers.

use super::{Result, ServiceError};
use crate::state::AppState;
use onevoice_shared::ids::UserId;
use onevoice_shared::keys::{VOICE_PREVIEWS, voice_preview};
use onevoice_shared::language::Language;
use onevoice_shared::repo::cloned_voices::{self, ClonedVoice};
use onevoice_shared::storage::Storage;
use onevoice_shared::voices::{self, Provider, Voice};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// How long a listing of the stored previews is reused: the catalogue is public, so a flood of
/// requests must not become a flood of S3 listings.
const PREVIEWS_FRESH: Duration = Duration::from_secs(60);

/// The preview keys in S3, as listed at a moment.
type Listing = (Instant, Arc<HashSet<String>>);

/// The last listing of the stored previews.
#[derive(Clone, Default)]
pub struct PreviewCache(Arc<Mutex<Option<Listing>>>);

impl PreviewCache {
    async fn stored(&self, storage: &Storage) -> Arc<HashSet<String>> {
        // Held while listing: concurrent requests wait for one listing instead of each making one.
        let mut seen = self.0.lock().await;
        if let Some((at, keys)) = seen.as_ref()
            && at.elapsed() < PREVIEWS_FRESH
        {
            return keys.clone();
        }
        match storage.list(VOICE_PREVIEWS).await {
            Ok(keys) => {
                let keys = Arc::new(keys.into_iter().collect::<HashSet<_>>());
                *seen = Some((Instant::now(), keys.clone()));
                keys
            }
            // Without S3 the catalogue still lists the voices, without previews.
            Err(e) => {
                tracing::warn!(error = %e, "listing voice previews");
                seen.as_ref().map(|(_, k)| k.clone()).unwrap_or_default()
            }
        }
    }
}

/// Every voice for `language` with the configured providers, and its preview's download URL.
pub async fn catalogue(state: &AppState, language: Language) -> Vec<(Voice, Option<String>)> {
    let listed = voices::catalogue(language, &state.settings.speech);
    let stored = if listed.iter().any(|v| v.provider == Provider::Local) {
        state.previews.stored(&state.storage).await
    } else {
        Arc::default()
    };
    let mut out = Vec::with_capacity(listed.len());
    for voice in listed {
        let key = voice_preview(&voice.id, language);
        let url = if stored.contains(&key) {
            let filename = format!("{}.{}.wav", voice.id, language.code());
            state.storage.presign_get(&key, &filename).await.ok()
        } else {
            None
        };
        out.push((voice, url));
    }
    out
}

/// The user's cloned voices: saved to their library, or of their jobs (until deleted with the
/// video or at the end of the retention period).
pub async fn library(state: &AppState, user: UserId) -> Result<Vec<ClonedVoice>> {
    Ok(cloned_voices::of_user(&state.db, user).await?)
}

/// Renames one of the user's voices and/or saves it to the library (kept until the user deletes
/// it) or takes it out (deleted with its job's video or at the end of the retention period).
/// Neither given: the voice as it is.
pub async fn update(
    state: &AppState,
    user: UserId,
    id: Uuid,
    name: Option<&str>,
    saved: Option<bool>,
) -> Result<ClonedVoice> {
    let name = name
        .map(|n| crate::text::nonblank_line("name", n, MAX_NAME_CHARS))
        .transpose()?;
    if !cloned_voices::update(&state.db, user, id, name, saved).await? {
        return Err(not_found());
    }
    cloned_voices::find_owned(&state.db, user, id)
        .await?
        .ok_or_else(not_found)
}

/// Deletes one of the user's voices: it leaves the library at once, and the provider deletes it
/// within a maintenance round. Jobs already dubbed keep their audio.
pub async fn delete(state: &AppState, user: UserId, id: Uuid) -> Result<()> {
    if cloned_voices::find_owned(&state.db, user, id)
        .await?
        .is_none()
    {
        return Err(not_found());
    }
    if cloned_voices::in_use(&state.db, id).await? {
        return Err(ServiceError::Conflict(
            "the voice is dubbing a job that is still running; delete it once the job ends".into(),
        ));
    }
    if !cloned_voices::request_delete(&state.db, user, id).await? {
        return Err(not_found());
    }
    Ok(())
}

/// Longest name of a voice in the library.
pub const MAX_NAME_CHARS: usize = 100;

fn not_found() -> ServiceError {
    ServiceError::NotFound("voice not found".into())
}
