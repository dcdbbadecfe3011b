//! API keys of an account: created (the key shown once), listed, revoked. Only accounts whose
//! plan sells API access (`api_access` in the catalogue) may have working keys.

use crate::auth::api_keys::{self, Scope};
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::{api_keys as repo, billing};
use uuid::Uuid;

/// Live keys one account may hold.
pub const MAX_KEYS: i64 = 20;
/// Scopes a request may name (there are three).
pub const MAX_SCOPES: usize = 3;
/// Longest key name.
pub const MAX_NAME_CHARS: usize = 100;

/// Whether a plan (of a live, unsuspended subscription; `None` without one) includes API access.
pub fn plan_has_api_access(state: &AppState, plan_id: Option<&str>) -> bool {
    plan_id
        .and_then(|id| state.settings.billing.catalog.by_id(id))
        .is_some_and(|plan| plan.api_access)
}

pub struct NewKey<'a> {
    pub name: &'a str,
    pub scopes: &'a [Scope],
    pub rate_limit_per_minute: Option<u32>,
}

/// A created key: its stored row and the key itself, which is never shown again.
pub struct Created {
    pub row: repo::ApiKey,
    pub key: String,
}

pub async fn create(state: &AppState, user: UserId, new: NewKey<'_>) -> Result<Created> {
    let name = crate::text::nonblank_line("name", new.name, MAX_NAME_CHARS)?;
    if new.scopes.is_empty() || new.scopes.len() > MAX_SCOPES {
        return Err(ServiceError::invalid(
            "scopes",
            format!("name 1 to {MAX_SCOPES} scopes"),
        ));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in new.scopes {
        if !scopes.iter().any(|s| s == scope.as_str()) {
            scopes.push(scope.as_str().to_string());
        }
    }
    let most = state.settings.auth.api_key_rate_limit_per_minute;
    let rate = new.rate_limit_per_minute.unwrap_or(most);
    if rate == 0 || rate > most {
        return Err(ServiceError::invalid(
            "rate_limit_per_minute",
            format!("must be 1 to {most}"),
        ));
    }
    let plan = billing::live_plan(&state.db, user).await?;
    if !plan_has_api_access(state, plan.as_deref()) {
        return Err(ServiceError::Forbidden(
            "your plan does not include API access".into(),
        ));
    }
    let key = api_keys::generate();
    let row = repo::insert(
        &state.db,
        repo::NewKey {
            user,
            name,
            prefix: &key.prefix,
            secret_sha256: &key.digest,
            scopes: &scopes,
            rate_limit_per_minute: rate as i32,
        },
        MAX_KEYS,
    )
    .await?
    .ok_or_else(|| {
        ServiceError::Conflict(format!(
            "an account holds at most {MAX_KEYS} API keys; revoke one first"
        ))
    })?;
    tracing::info!(key_id = %row.id, "API key created");
    Ok(Created { row, key: key.key })
}

pub async fn list(state: &AppState, user: UserId) -> Result<Vec<repo::ApiKey>> {
    Ok(repo::list(&state.db, user).await?)
}

pub async fn revoke(state: &AppState, user: UserId, id: Uuid) -> Result<()> {
    if !repo::revoke(&state.db, user, id).await? {
        return Err(ServiceError::NotFound("API key not found".into()));
    }
    tracing::info!(key_id = %id, "API key revoked");
    Ok(())
}
