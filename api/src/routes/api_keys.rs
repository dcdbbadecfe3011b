//! API keys for integrations: created from a signed-in session (the key is shown once), listed,
//! revoked. A key is sent as `Authorization: Bearer ov_…` or `X-API-Key: ov_…` and works on the
//! routes its scopes cover; managing keys, signing in and changing the account need a session.

use crate::auth::AuthUser;
use crate::auth::api_keys::Scope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::services::api_keys::{self, NewKey};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::repo::api_keys::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

/// A key as lists show it: never the secret.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: Uuid,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    scopes: Vec<Scope>,
    rate_limit_per_minute: i32,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            rate_limit_per_minute: k.rate_limit_per_minute,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreateKey {
    #[schema(format = "nonblank-line", min_length = 1, max_length = 100)]
    name: String,
    /// What the key may do: `read` (videos, jobs, outputs, profile), `dub` (upload, dub, edit,
    /// cancel, delete), `billing` (plans, subscription, payments).
    #[schema(min_items = 1, max_items = 3)]
    scopes: Vec<Scope>,
    /// Requests per minute (default and most: `API_KEY_RATE_LIMIT_PER_MINUTE`).
    #[schema(minimum = 1, maximum = 1000000)]
    rate_limit_per_minute: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    key: ApiKeyView,
    /// The key itself, shown this once: only a hash of it is kept.
    secret: String,
}

/// Creates an API key (only on plans with API access: 403 otherwise; at most 20 live keys:
/// 409). The answer carries the key itself, which is never shown again.
#[utoipa::path(post, path = "/api/keys", tag = "keys", security(("bearer" = [])),
    request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let new = NewKey {
        name: &req.name,
        scopes: &req.scopes,
        rate_limit_per_minute: req.rate_limit_per_minute,
    };
    let created = api_keys::create(&state, user.id, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: created.row.into(),
            secret: created.key,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    keys: Vec<ApiKeyView>,
}

/// The caller's live keys, newest first.
#[utoipa::path(get, path = "/api/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList)))]
async fn list_keys(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = api_keys::list(&state, user.id).await?;
    Ok(Json(ApiKeyList {
        keys: keys.into_iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revokes a key: requests with it are refused (401) from now on.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "key id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    api_keys::revoke(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
