//! The preview samples of the local voices: each voice says a sentence in each language it
//! speaks, once, into S3 (`keys::voice_preview`), where the catalogue links to it. A worker
//! generates the missing ones when it starts; they are never generated per request.

use super::openai;
use crate::deps::Deps;
use onevoice_shared::keys::{VOICE_PREVIEWS, voice_preview};
use onevoice_shared::voices::{local_previews, preview_sentence};
use std::collections::HashSet;

/// Generates the previews not in S3 yet, one at a time (the service computes one request at a
/// time anyway); returns how many it made. Nothing to do without the local speech service.
pub async fn generate_missing(deps: &Deps) -> anyhow::Result<usize> {
    let Some(provider) = deps.speech.local_tts.as_ref() else {
        return Ok(0);
    };
    let http = reqwest::Client::builder()
        .timeout(deps.speech.timeout)
        .build()?;
    let stored: HashSet<String> = deps
        .storage
        .list(VOICE_PREVIEWS)
        .await?
        .into_iter()
        .collect();
    let mut made = 0;
    for (voice_id, language) in local_previews() {
        let key = voice_preview(&voice_id, language);
        if stored.contains(&key) {
            continue;
        }
        let voice = voice_id.trim_start_matches("local-");
        let wav = openai::speak(
            &http,
            provider,
            voice,
            preview_sentence(language),
            Some(language),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{voice_id} ({}): {e:?}", language.code()))?;
        deps.storage.put_bytes(&key, wav, "audio/wav").await?;
        made += 1;
    }
    Ok(made)
}
