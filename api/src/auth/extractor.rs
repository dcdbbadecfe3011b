use crate::auth::tokens;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::users;

/// The authenticated caller. Missing, malformed, expired or forged tokens, and tokens of users
/// who no longer exist or were deactivated, all answer 401 with `WWW-Authenticate: Bearer`.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub id: UserId,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("not authenticated".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("expected a Bearer token".into()))?;
        let claims = tokens::verify(state.settings.jwt_secret.expose(), token.trim())
            .map_err(|_| ApiError::Unauthorized("could not validate credentials".into()))?;
        let id = UserId(claims.sub);
        if !users::is_active(&state.db, id).await? {
            return Err(ApiError::Unauthorized(
                "could not validate credentials".into(),
            ));
        }
        Ok(AuthUser { id })
    }
}
