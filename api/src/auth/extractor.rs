use crate::auth::api_keys::{self, required_scope};
use crate::auth::tokens;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::sessions;
use uuid::Uuid;

/// The authenticated caller: a signed-in session (an access token) or an API key (a bearer
/// `ov_…` or `X-API-Key`). Missing, malformed, expired or forged credentials, tokens of revoked
/// sessions (logout, password change), revoked keys and deactivated users all answer 401 with
/// `WWW-Authenticate: Bearer`. A key on a route its scopes do not cover, or on a route for
/// sessions only ([`required_scope`]), answers 403 before the handler runs.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub id: UserId,
    pub credential: Credential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An access token of this session family (what logout revokes).
    Session(Uuid),
    ApiKey(Uuid),
}

impl AuthUser {
    /// The session family of a signed-in caller. Routes that use it are for sessions only, so a
    /// key never reaches them; the error is the extractor's, should a route be misfiled.
    pub fn session_family(&self) -> Result<Uuid, ApiError> {
        match self.credential {
            Credential::Session(family) => Ok(family),
            Credential::ApiKey(_) => Err(session_only()),
        }
    }
}

fn session_only() -> ApiError {
    ApiError::Forbidden("this route needs a signed-in session, not an API key".into())
}

const API_KEY_HEADER: &str = "x-api-key";

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let credential = match (header(API_KEY_HEADER), header(AUTHORIZATION.as_str())) {
            (Some(key), _) => key.trim(),
            (None, Some(auth)) => auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::Unauthorized("expected a Bearer token".into()))?
                .trim(),
            (None, None) => return Err(ApiError::Unauthorized("not authenticated".into())),
        };
        if api_keys::is_api_key(credential) || header(API_KEY_HEADER).is_some() {
            let key = api_keys::verify(state, credential).await?;
            let Some(needed) = required_scope(&parts.method, parts.uri.path()) else {
                return Err(session_only());
            };
            if !key.scopes.contains(&needed) {
                return Err(ApiError::Forbidden(format!(
                    "this API key lacks the `{}` scope",
                    needed.as_str()
                )));
            }
            return Ok(AuthUser {
                id: key.user,
                credential: Credential::ApiKey(key.key_id),
            });
        }
        let claims = tokens::Signer::new(&state.settings)
            .verify(credential)
            .map_err(|_| ApiError::Unauthorized("could not validate credentials".into()))?;
        let id = UserId(claims.sub);
        if !sessions::is_live(&state.db, id, claims.sid).await? {
            return Err(ApiError::Unauthorized(
                "could not validate credentials".into(),
            ));
        }
        Ok(AuthUser {
            id,
            credential: Credential::Session(claims.sid),
        })
    }
}
