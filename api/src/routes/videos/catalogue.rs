//! The public catalogue: languages and voices.

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use onevoice_shared::language::Language;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct LanguageView {
    code: &'static str,
    name: &'static str,
    native_name: &'static str,
}

/// Languages OneVoice dubs from and into (public).
#[utoipa::path(get, path = "/api/videos/languages", tag = "videos", responses((status = 200, body = Vec<LanguageView>)))]
pub(super) async fn languages() -> Json<Vec<LanguageView>> {
    Json(
        Language::ALL
            .iter()
            .map(|l| LanguageView {
                code: l.code(),
                name: l.english_name(),
                native_name: l.native_name(),
            })
            .collect(),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VoicesQuery {
    /// ISO 639-1 code, e.g. `es`.
    #[param(value_type = crate::schemas::LanguageCode, inline)]
    language: String,
}

#[derive(Serialize, ToSchema)]
pub struct VoiceView {
    id: String,
    name: String,
    language: &'static str,
    gender: &'static str,
    style: &'static str,
    /// `premium` (a paid provider's natural voice), `standard` (a local neural voice in its own
    /// language), `accented` (a local neural voice with an accent) or `basic` (espeak-ng).
    quality: &'static str,
    provider: &'static str,
    preview_url: Option<String>,
}

/// Voices available for a language from the configured TTS providers (public).
#[utoipa::path(get, path = "/api/videos/voices", tag = "videos", params(VoicesQuery),
    responses((status = 200, body = Vec<VoiceView>), (status = 422, body = crate::error::ErrorBody)))]
pub(super) async fn voices(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<VoicesQuery>,
) -> Result<Json<Vec<VoiceView>>, ApiError> {
    let language: Language =
        q.language
            .parse()
            .map_err(|e: onevoice_shared::language::UnsupportedLanguage| {
                ApiError::validation("language", e.to_string())
            })?;
    let voices = crate::services::voices::catalogue(&state, language).await;
    Ok(Json(
        voices
            .into_iter()
            .map(|(v, preview_url)| VoiceView {
                id: v.id,
                name: v.name,
                language: language.code(),
                gender: v.gender,
                style: v.style,
                quality: v.quality,
                provider: v.provider.name(),
                preview_url,
            })
            .collect(),
    ))
}
