//! Webhook endpoints of an account: registered (the signing secret shown once), listed, changed,
//! rotated, deleted; their delivery log, and manual redelivery. Only plans with API access may
//! register endpoints. Events are written by the activities (`onevoice_activities::webhooks`).

use crate::services::api_keys::plan_has_api_access;
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use crate::text;
use onevoice_shared::ids::UserId;
use onevoice_shared::outbound::AddressRule;
use onevoice_shared::repo::{billing, webhooks as repo};
use onevoice_shared::webhook::EventType;
use uuid::Uuid;

/// Endpoints one account may register.
pub const MAX_ENDPOINTS: i64 = 10;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Deliveries an endpoint may have waiting before manual redeliveries are refused (so
/// redelivery cannot be turned into a flood at someone else's URL).
pub const MAX_PENDING: i64 = 100;
const SECRET_PREFIX: &str = "whsec_";
const SECRET_CHARS: usize = 32;

/// A new secret: `whsec_` and 32 base62 characters (about 190 random bits).
fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        crate::auth::random_base62(SECRET_CHARS)
    )
}

/// A URL deliveries may go to: http(s) (https only in production), no credentials, no literal
/// private address (names are checked again, resolved, at each delivery).
fn endpoint_url(state: &AppState, url: &str) -> Result<String> {
    let rule = AddressRule {
        allow_private: state.settings.outbound.allow_private,
    };
    checked_url(url, rule, state.settings.webhooks.require_https)
}

fn checked_url(url: &str, rule: AddressRule, require_https: bool) -> Result<String> {
    let url = text::nonblank_line("url", url, MAX_URL_CHARS)?.trim();
    let parsed =
        url::Url::parse(url).map_err(|_| ServiceError::invalid("url", "not a valid URL"))?;
    rule.check_url(&parsed)
        .map_err(|refusal| ServiceError::invalid("url", refusal.to_string()))?;
    if require_https && parsed.scheme() != "https" {
        return Err(ServiceError::invalid("url", "must be an https URL"));
    }
    Ok(parsed.to_string())
}

/// The event names, each once, in a stable order.
fn event_names(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() || events.len() > EventType::ALL.len() {
        return Err(ServiceError::invalid(
            "events",
            format!("name 1 to {} events", EventType::ALL.len()),
        ));
    }
    let mut parsed = Vec::new();
    for name in events {
        let event = EventType::parse(name).ok_or_else(|| {
            ServiceError::invalid("events", format!("unknown event '{}'", name.escape_debug()))
        })?;
        if !parsed.contains(&event) {
            parsed.push(event);
        }
    }
    Ok(EventType::ALL
        .into_iter()
        .filter(|e| parsed.contains(e))
        .map(|e| e.as_str().to_string())
        .collect())
}

fn description(d: &str) -> Result<&str> {
    Ok(text::line("description", d, MAX_DESCRIPTION_CHARS)?.trim())
}

pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a [String],
}

/// A registered endpoint and its secret, which is never shown again.
pub struct Created {
    pub endpoint: repo::Endpoint,
    pub secret: String,
}

pub async fn create(state: &AppState, user: UserId, new: NewEndpoint<'_>) -> Result<Created> {
    let url = endpoint_url(state, new.url)?;
    let events = event_names(new.events)?;
    let description = description(new.description.unwrap_or(""))?;
    let plan = billing::live_plan(&state.db, user).await?;
    if !plan_has_api_access(state, plan.as_deref()) {
        return Err(ServiceError::Forbidden(
            "your plan does not include API access".into(),
        ));
    }
    let secret = new_secret();
    let endpoint = repo::insert(
        &state.db,
        repo::NewEndpoint {
            user,
            url: &url,
            description,
            events: &events,
            secret: &secret,
        },
        MAX_ENDPOINTS,
    )
    .await?
    .ok_or_else(|| {
        ServiceError::Conflict(format!(
            "an account has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        ))
    })?;
    tracing::info!(endpoint = %endpoint.id, "webhook endpoint registered");
    Ok(Created { endpoint, secret })
}

pub async fn list(state: &AppState, user: UserId) -> Result<Vec<repo::Endpoint>> {
    Ok(repo::list(&state.db, user).await?)
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("webhook endpoint not found".into())
}

pub async fn get(state: &AppState, user: UserId, id: Uuid) -> Result<repo::Endpoint> {
    repo::get(&state.db, user, id).await?.ok_or_else(not_found)
}

/// What may change on an endpoint (checked here before it is stored).
pub use repo::Change;

pub async fn update(
    state: &AppState,
    user: UserId,
    id: Uuid,
    c: Change<'_>,
) -> Result<repo::Endpoint> {
    let url = c.url.map(|u| endpoint_url(state, u)).transpose()?;
    let events = c.events.map(event_names).transpose()?;
    let description = c.description.map(description).transpose()?;
    let change = repo::Change {
        url: url.as_deref(),
        description,
        events: events.as_deref(),
        enabled: c.enabled,
    };
    repo::update(&state.db, user, id, change)
        .await?
        .ok_or_else(not_found)
}

/// A new secret; the old one keeps signing for `WEBHOOK_SECRET_OVERLAP_SECS`.
pub async fn rotate_secret(state: &AppState, user: UserId, id: Uuid) -> Result<Created> {
    let secret = new_secret();
    let overlap = state.settings.webhooks.secret_overlap.as_secs() as i64;
    let endpoint = repo::rotate_secret(&state.db, user, id, &secret, overlap)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(endpoint = %id, "webhook secret rotated");
    Ok(Created { endpoint, secret })
}

pub async fn delete(state: &AppState, user: UserId, id: Uuid) -> Result<()> {
    if !repo::delete(&state.db, user, id).await? {
        return Err(not_found());
    }
    Ok(())
}

pub async fn deliveries(
    state: &AppState,
    user: UserId,
    id: Uuid,
    limit: i64,
) -> Result<(Vec<repo::Delivery>, Vec<repo::AttemptRow>)> {
    get(state, user, id).await?;
    Ok(repo::deliveries(&state.db, id, limit).await?)
}

/// Queues the event of one of the endpoint's deliveries again (a new delivery, same event id).
pub async fn redeliver(state: &AppState, user: UserId, id: Uuid, delivery: Uuid) -> Result<Uuid> {
    let endpoint = get(state, user, id).await?;
    if !endpoint.enabled {
        return Err(ServiceError::Conflict(
            "the endpoint is disabled; enable it first".into(),
        ));
    }
    if repo::pending_count(&state.db, id).await? >= MAX_PENDING {
        return Err(ServiceError::Conflict(format!(
            "the endpoint already has {MAX_PENDING} deliveries waiting; retry once they are done"
        )));
    }
    repo::redeliver(&state.db, id, delivery)
        .await?
        .ok_or_else(|| ServiceError::NotFound("delivery not found".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_takes_only_https_and_never_private_addresses() {
        let public = AddressRule {
            allow_private: false,
        };
        let production = |url: &str| checked_url(url, public, true);
        assert!(production("https://hooks.example.com/onevoice").is_ok());
        for refused in [
            "http://hooks.example.com/onevoice",
            "https://127.0.0.1/hook",
            "https://[fe80::1]/hook",
            "https://user:pw@hooks.example.com/",
            "ftp://hooks.example.com/",
        ] {
            assert!(production(refused).is_err(), "{refused}");
        }
        // Outside production plain http is fine; private addresses only when allowed.
        assert!(checked_url("http://hooks.example.com/", public, false).is_ok());
        assert!(checked_url("http://127.0.0.1:9000/", public, false).is_err());
        let local = AddressRule {
            allow_private: true,
        };
        assert!(checked_url("http://127.0.0.1:9000/", local, false).is_ok());
    }

    #[test]
    fn events_are_known_kept_once_and_ordered() {
        let names = |v: &[&str]| event_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            names(&["credits.low", "job.started", "credits.low"]).unwrap(),
            vec!["job.started".to_string(), "credits.low".to_string()]
        );
        assert!(names(&[]).is_err());
        assert!(names(&["job.everything"]).is_err());
    }
}
