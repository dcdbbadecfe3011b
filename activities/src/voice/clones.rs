//! Cloned voices: made at ElevenLabs or Fish Audio from each speaker's reference audio (the
//! user attested consent when starting the job), and deleted there when their time is up.
//!
//! Making one is idempotent per job and speaker: the row is written first
//! (`cloned_voices::begin`), the provider's id once it answers, so a retried step reuses the
//! voice. (An attempt lost between the provider's answer and that write leaves one voice at the
//! provider nobody names; the providers offer no idempotency key to close that window.)
//!
//! Deleting goes through the rows asked to be deleted (`delete_requested_at`): the video's
//! deletion, the account's erasure, the retention expiry and the user's own delete ask, and
//! [`delete_doomed`] deletes at the provider, then forgets the row. A provider that is down keeps
//! the rows for the maintenance loop's next round; a voice already gone counts as deleted.

use super::{elevenlabs, fish};
use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{CloneVoicesInput, CloneVoicesOutput};
use onevoice_shared::repo::cloned_voices::{self, ClonedVoice, NewClone};
use onevoice_shared::repo::speakers;
use onevoice_shared::speakers::Speaker;
use onevoice_shared::voices::CloneProvider;
use serde_json::json;
use std::collections::BTreeMap;
use temporalio_sdk::activities::ActivityError;

/// Clones the voice of every speaker of the job that has a reference, and records each clone as
/// the speaker's voice.
pub(crate) async fn clone_speakers(
    deps: &Deps,
    http: &reqwest::Client,
    input: &CloneVoicesInput,
) -> Result<CloneVoicesOutput, ActivityError> {
    let job_speakers = speakers::of_job(&deps.db, input.job_id)
        .await
        .map_err(error::db)?;
    let retention = chrono::Duration::from_std(deps.speech.cloning.retention).unwrap_or_default();
    let mut voices = BTreeMap::new();
    for speaker in &job_speakers {
        let Some(reference) = &speaker.reference_key else {
            continue;
        };
        let name = format!("{} (OneVoice job {})", speaker.label, short(input));
        let row = cloned_voices::begin(
            &deps.db,
            &NewClone {
                user: input.user_id,
                job: input.job_id,
                speaker_id: &speaker.id,
                provider: input.provider,
                name: &speaker.label,
                expires_at: chrono::Utc::now() + retention,
            },
        )
        .await
        .map_err(error::db)?;
        let provider_id = match &row.provider_voice_id {
            Some(id) => id.clone(),
            None => {
                let wav = deps
                    .storage
                    .get_bytes(reference)
                    .await
                    .map_err(error::storage)?;
                let id = create(deps, http, input.provider, &name, &wav, speaker)
                    .await
                    .map_err(|e| {
                        error::refusal_for_user(e, |why| {
                            format!(
                                "the voice of {} could not be cloned: the provider refused it ({why})",
                                speaker.label
                            )
                        })
                    })?;
                cloned_voices::created(&deps.db, row.id, &id)
                    .await
                    .map_err(error::db)?;
                tracing::info!(job = %input.job_id, speaker = %speaker.id, provider = input.provider.as_str(), "voice cloned");
                id
            }
        };
        let voice_id = input.provider.voice_id(&provider_id);
        speakers::set_cloned_voice(&deps.db, input.job_id, &speaker.id, &voice_id)
            .await
            .map_err(error::db)?;
        voices.insert(speaker.label.clone(), voice_id);
    }
    Ok(CloneVoicesOutput { voices })
}

/// The job id's first block, to tell clones apart in the provider's voice list.
fn short(input: &CloneVoicesInput) -> String {
    input.job_id.to_string().chars().take(8).collect()
}

async fn create(
    deps: &Deps,
    http: &reqwest::Client,
    provider: CloneProvider,
    name: &str,
    wav: &[u8],
    speaker: &Speaker,
) -> Result<String, ActivityError> {
    let unconfigured = |p: &str| error::fatal(format!("cloning at {p}: it is not configured"));
    match provider {
        CloneProvider::ElevenLabs => {
            let p = deps
                .speech
                .elevenlabs
                .as_ref()
                .ok_or_else(|| unconfigured("ElevenLabs"))?;
            let mut labels = json!({ "source": "onevoice" });
            if let Some(gender) = speaker.gender {
                labels["gender"] = json!(gender.as_str());
            }
            elevenlabs::clone_voice(http, p, name, wav, &labels).await
        }
        CloneProvider::Fish => {
            let p = deps
                .speech
                .fish
                .as_ref()
                .ok_or_else(|| unconfigured("Fish Audio"))?;
            fish::clone_voice(http, p, name, wav).await
        }
    }
}

/// Deletes at their providers the voices asked to be deleted (the oldest requests first, up to
/// a batch), and forgets them; returns how many went. A voice the provider will not delete now
/// stays asked for, for the next run (the maintenance loop runs this every round), and does
/// not hold up the others.
pub async fn delete_doomed(deps: &Deps, http: &reqwest::Client) -> Result<u64, ActivityError> {
    let batch = cloned_voices::doomed(&deps.db, 100)
        .await
        .map_err(error::db)?;
    let mut deleted = 0;
    // A creation may still be under way for an hour-young row with no provider id: its voice
    // would be left behind if the row went now.
    let settled = chrono::Utc::now() - chrono::Duration::hours(1);
    for voice in batch {
        if voice.provider_voice_id.is_none() && voice.created_at > settled {
            continue;
        }
        if let Err(e) = delete(deps, http, &voice).await {
            tracing::warn!(voice = %voice.id, provider = %voice.provider, error = ?e, "a cloned voice could not be deleted yet");
            continue;
        }
        cloned_voices::forget(&deps.db, voice.id)
            .await
            .map_err(error::db)?;
        deleted += 1;
    }
    Ok(deleted)
}

async fn delete(
    deps: &Deps,
    http: &reqwest::Client,
    voice: &ClonedVoice,
) -> Result<(), ActivityError> {
    // A creation that never got the provider's answer has nothing to delete.
    let Some(id) = &voice.provider_voice_id else {
        return Ok(());
    };
    let unconfigured = |p: &str| {
        error::transient(format!(
            "a voice cloned at {p} waits to be deleted, but {p} is not configured"
        ))
    };
    match voice.provider() {
        Some(CloneProvider::ElevenLabs) => {
            let p = deps
                .speech
                .elevenlabs
                .as_ref()
                .ok_or_else(|| unconfigured("ElevenLabs"))?;
            elevenlabs::delete_voice(http, p, id).await
        }
        Some(CloneProvider::Fish) => {
            let p = deps
                .speech
                .fish
                .as_ref()
                .ok_or_else(|| unconfigured("Fish Audio"))?;
            fish::delete_voice(http, p, id).await
        }
        None => Err(error::fatal(format!(
            "a cloned voice of unknown provider `{}`",
            voice.provider
        ))),
    }
}

/// An HTTP client for the deletions made outside the voice activities.
pub fn client(deps: &Deps) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(deps.speech.timeout)
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}
