//! Paddle's notifications: verify, store, then hand over.
//!
//! The signature is checked over the raw bytes (never re-serialized JSON). A verified event is
//! stored under its `event_id` before anything acts on it, so a redelivery is recognised and a
//! crash after storing loses nothing: Paddle retries until we answer 200, and a retry of an event
//! not yet applied signals again. The work itself happens in the customer's `BillingWorkflow`.

use super::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal;
use onevoice_shared::contracts::PaddleEventRef;
use onevoice_shared::paddle::custom_data;
use onevoice_shared::paddle::entities::{Envelope, EventKind};
use onevoice_shared::paddle::signature;
use onevoice_shared::repo::billing::{self, Stored};
use onevoice_shared::repo::former_accounts;
use serde_json::Value;

/// Receives one notification (`header`: its `Paddle-Signature`); answers how it was stored.
#[tracing::instrument(skip_all)]
pub async fn receive(state: &AppState, header: Option<&str>, body: &[u8]) -> Result<Stored> {
    let (payload, event) = verify(state, header, body)?;
    if !event.kind().is_handled() {
        // Stored for the record (and a later version), acknowledged, nothing changes.
        let stored =
            billing::store_event(&state.db, &event, &payload, None, Some("ignored")).await?;
        tracing::info!(event = %event.event_id, kind = %event.event_type, "Paddle event stored, not acted on");
        return Ok(stored);
    }
    let user = whose(state, &event).await?;
    let Some(user) = user else {
        // Kept for operators (`onevoice unmatched-payments`); a payment of an erased account's
        // customer is an error to look at: it should not happen once its subscription ended.
        let customer = event.data.get("customer_id").and_then(Value::as_str);
        let erased = match customer {
            Some(c) => former_accounts::customer_was_erased(&state.db, c).await?,
            None => false,
        };
        let outcome = if erased {
            "unmatched: the customer's account was erased"
        } else {
            "unmatched: no user for this customer"
        };
        let stored = billing::store_event(&state.db, &event, &payload, None, Some(outcome)).await?;
        if event.kind() == EventKind::TransactionCompleted {
            tracing::error!(event = %event.event_id, erased, "a Paddle payment matched no account");
        } else {
            tracing::warn!(event = %event.event_id, kind = %event.event_type, erased, "Paddle event for an unknown customer");
        }
        return Ok(stored);
    };
    let stored = billing::store_event(&state.db, &event, &payload, Some(user), None).await?;
    if stored == (Stored::Duplicate { processed: true }) {
        return Ok(stored);
    }
    let reference = PaddleEventRef {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        occurred_at: event.occurred_at,
    };
    temporal::signal_billing(&state.temporal, &state.settings, user, reference)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, event = %event.event_id, "cannot hand the Paddle event to its workflow");
            ServiceError::Unavailable("the event could not be queued; retry later".into())
        })?;
    Ok(stored)
}

/// The user the event concerns (see [`billing::resolve_user`]).
async fn whose(state: &AppState, event: &Envelope) -> Result<Option<onevoice_shared::ids::UserId>> {
    let data = &event.data;
    let text = |key: &str| data.get(key).and_then(Value::as_str);
    let subscription = if event.kind() == EventKind::Subscription {
        text("id")
    } else {
        text("subscription_id")
    };
    // Only a user id we signed at checkout counts (see `custom_data`).
    let custom_user = data
        .get("custom_data")
        .and_then(|c| custom_data::signed_user(state.settings.jwt_secret.expose().as_bytes(), c));
    Ok(billing::resolve_user(&state.db, text("customer_id"), subscription, custom_user).await?)
}

/// A notification whose signature is one of ours, parsed: the raw payload and its envelope.
fn verify(state: &AppState, header: Option<&str>, body: &[u8]) -> Result<(Value, Envelope)> {
    let settings = &state.settings.billing;
    if settings.webhook_secrets.is_empty() {
        // Never accept unverifiable events; Paddle retries once we are configured.
        tracing::error!("Paddle webhook received but no PADDLE_WEBHOOK_SECRETS is configured");
        return Err(ServiceError::Unavailable(
            "webhooks are not configured".into(),
        ));
    }
    let secrets: Vec<&str> = settings
        .webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    if let Err(e) = signature::verify(
        header,
        body,
        &secrets,
        chrono::Utc::now().timestamp(),
        settings.webhook_tolerance,
    ) {
        tracing::warn!(reason = %e, "Paddle webhook rejected");
        return Err(ServiceError::Refused(format!(
            "invalid webhook signature: {e}"
        )));
    }
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ServiceError::Refused(format!("invalid JSON payload: {e}")))?;
    let event: Envelope = serde_json::from_value(payload.clone())
        .map_err(|e| ServiceError::Refused(format!("invalid webhook event: {e}")))?;
    if event.event_id.trim().is_empty() || event.event_type.trim().is_empty() {
        return Err(ServiceError::Refused(
            "invalid webhook event: empty event_id or event_type".into(),
        ));
    }
    Ok((payload, event))
}
