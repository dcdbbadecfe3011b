//! `POST /api/webhooks/paddle`: hands the raw notification to `services::paddle_events`, which
//! verifies and stores it before anything acts on it; this route only answers quickly (Paddle
//! wants 200 within 5 s).

use crate::error::ApiError;
use crate::services::paddle_events;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use onevoice_shared::repo::billing::Stored;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Paddle's notifications are a few KB; nothing near this is legitimate, and a larger body is
/// refused (413) before it is verified or stored.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(paddle))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    /// Always `success` (the seed's answer).
    status: &'static str,
    /// The event was received before; nothing was done again.
    duplicate: bool,
}

/// Receives Paddle Billing notifications (`Paddle-Signature: ts=…;h1=…`).
#[utoipa::path(post, path = "/api/webhooks/paddle", tag = "webhooks",
    params(("Paddle-Signature" = String, Header, description = "`ts=…;h1=…`: HMAC-SHA256 of `ts:body` with a webhook secret")),
    request_body(content = Object, content_type = "application/json", description = "a Paddle notification (`event_id`, `event_type`, `occurred_at`, `data`)"),
    responses((status = 200, body = WebhookAck), (status = 400, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn paddle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let header = headers
        .get("paddle-signature")
        .map(|v| v.to_str().unwrap_or(""));
    let stored = paddle_events::receive(&state, header, &body).await?;
    Ok(Json(WebhookAck {
        status: "success",
        duplicate: stored != Stored::New,
    }))
}
