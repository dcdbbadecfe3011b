//! The voice catalogue of a language, with a link to each voice's preview sample where one has
//! been generated (the local voices': a worker makes them once, `voice::previews`).

use crate::state::AppState;
use onevoice_shared::keys::{VOICE_PREVIEWS, voice_preview};
use onevoice_shared::language::Language;
use onevoice_shared::storage::Storage;
use onevoice_shared::voices::{self, Provider, Voice};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

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
