use crate::auth::tokens;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::sessions;
use uuid::Uuid;

/// The authenticated caller. Missing, malformed, expired or forged tokens, tokens of revoked
/// sessions (logout, password change) and of deactivated users all answer 401 with
/// `WWW-Authenticate: Bearer`.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub id: UserId,
    /// The session family the token belongs to (what logout revokes).
    pub session_family: Uuid,
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
        let claims = tokens::Signer::new(&state.settings)
            .verify(token.trim())
            .map_err(|_| ApiError::Unauthorized("could not validate credentials".into()))?;
        let id = UserId(claims.sub);
        if !sessions::is_live(&state.db, id, claims.sid).await? {
            return Err(ApiError::Unauthorized(
                "could not validate credentials".into(),
            ));
        }
        Ok(AuthUser {
            id,
            session_family: claims.sid,
        })
    }
}
