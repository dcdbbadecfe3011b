//! The voice library: the voices cloned from the speakers of the caller's videos. A clone lives
//! as long as its job can be re-rendered (deleted with the video, or after
//! `CLONE_RETENTION_DAYS`) unless saved here; a saved voice can dub any later job
//! (`voice_id`, or `voices` by speaker).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::services::voices;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::ids::JobId;
use onevoice_shared::repo::cloned_voices::ClonedVoice;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_voices))
        .routes(routes!(update_voice, delete_voice))
}

/// A voice cloned from a speaker.
#[derive(Serialize, ToSchema)]
pub struct ClonedVoiceView {
    id: Uuid,
    /// What requests name it by (`voice_id`, `voices`): `elevenlabs-…` or `fish-…`.
    voice_id: String,
    name: String,
    /// `elevenlabs` or `fish`.
    provider: String,
    /// Kept until deleted; otherwise deleted with its job's video or at `expires_at`.
    saved: bool,
    /// The job it was cloned in (null once that job is gone).
    #[schema(value_type = Option<uuid::Uuid>)]
    job_id: Option<JobId>,
    /// The speaker of that job (`S1`, …).
    speaker_id: String,
    created_at: DateTime<Utc>,
    /// When it is deleted unless saved (null when saved).
    expires_at: Option<DateTime<Utc>>,
}

impl From<ClonedVoice> for ClonedVoiceView {
    fn from(v: ClonedVoice) -> Self {
        ClonedVoiceView {
            voice_id: v.voice_id().unwrap_or_default(),
            id: v.id,
            name: v.name,
            provider: v.provider,
            saved: v.saved,
            job_id: v.job_id,
            speaker_id: v.speaker_id,
            created_at: v.created_at,
            expires_at: (!v.saved).then_some(v.expires_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VoiceLibrary {
    voices: Vec<ClonedVoiceView>,
}

/// The caller's cloned voices, newest first.
#[utoipa::path(get, path = "/api/voices", tag = "voices", security(("bearer" = [])),
    responses((status = 200, body = VoiceLibrary)))]
async fn list_voices(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<VoiceLibrary>, ApiError> {
    let voices = voices::library(&state, user.id).await?;
    Ok(Json(VoiceLibrary {
        voices: voices.into_iter().map(ClonedVoiceView::from).collect(),
    }))
}

/// A new name, and/or whether the voice is saved to the library.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct UpdateVoice {
    #[schema(format = "nonblank-line", min_length = 1, max_length = 100)]
    name: Option<String>,
    saved: Option<bool>,
}

/// Renames a cloned voice, or saves it to the library (`saved: true`: kept after its video is
/// deleted and past the retention period, until deleted here).
#[utoipa::path(patch, path = "/api/voices/{id}", tag = "voices", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "voice id (the library's, not the provider's)")),
    request_body = UpdateVoice,
    responses((status = 200, body = ClonedVoiceView), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn update_voice(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateVoice>,
) -> Result<Json<ClonedVoiceView>, ApiError> {
    let voice = voices::update(&state, user.id, id, req.name.as_deref(), req.saved).await?;
    Ok(Json(voice.into()))
}

/// Deletes a cloned voice: it is gone from the library at once and deleted at the provider
/// shortly after. Dubs already made keep their audio.
#[utoipa::path(delete, path = "/api/voices/{id}", tag = "voices", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "voice id (the library's, not the provider's)")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn delete_voice(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    voices::delete(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
