//! Webhook endpoints: where an account's events are delivered, signed (see
//! `onevoice_shared::webhook` and the README's "Webhooks" for the scheme), and each endpoint's
//! delivery log with manual redelivery.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::webhooks::{self, Change, NewEndpoint};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onevoice_shared::repo::webhooks::{AttemptRow, Delivery, Endpoint};
use onevoice_shared::webhook::EventType;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

/// The event names an endpoint can subscribe to, from the one list of them.
fn event_list() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(EventType::ALL.map(EventType::as_str))),
        )
        .min_items(Some(1))
        .max_items(Some(EventType::ALL.len()))
}

/// An endpoint as lists show it: never its secret.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    id: Uuid,
    url: String,
    description: String,
    #[schema(schema_with = event_list)]
    events: Vec<String>,
    /// Off when its owner turned it off, or after every attempt failed for the retry window.
    enabled: bool,
    disabled_reason: Option<String>,
    /// Until then deliveries carry a second signature, made with the secret before the last
    /// rotation.
    previous_secret_expires_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: e.previous_secret_expires_at,
            last_success_at: e.last_success_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreateEndpoint {
    /// Where events are posted: https in production; never a private or loopback address.
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    url: String,
    #[schema(max_length = 200)]
    description: Option<String>,
    #[schema(schema_with = event_list)]
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// The signing secret, shown this once.
    secret: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    attempt: i32,
    at: DateTime<Utc>,
    /// The endpoint's HTTP status; none when no answer came.
    response_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
}

/// A delivery of an event to the endpoint.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    id: Uuid,
    event_id: Uuid,
    event_type: String,
    /// The job's event number (the video's for `video.ready`).
    sequence: i64,
    job_id: Option<Uuid>,
    /// The delivery this one repeats (manual redelivery).
    redelivery_of: Option<Uuid>,
    /// `pending` (trying), `delivered`, `failed` (out of retries) or `cancelled` (the endpoint
    /// was disabled).
    status: String,
    attempts: i32,
    response_code: Option<i32>,
    latency_ms: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    attempt_log: Vec<AttemptView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

impl DeliveryView {
    /// A delivery with its own attempts, picked from the page's.
    fn new(d: Delivery, attempts: &[AttemptRow]) -> Self {
        DeliveryView {
            attempt_log: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    at: a.at,
                    response_code: a.response_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            sequence: d.sequence,
            job_id: d.job_id,
            redelivery_of: d.redelivery_of,
            status: d.status,
            attempts: d.attempts,
            response_code: d.response_code,
            latency_ms: d.latency_ms,
            last_error: d.last_error,
            created_at: d.created_at,
            finished_at: d.finished_at,
        }
    }
}

/// Registers an endpoint (plans with API access: 403 otherwise; at most 10: 409). The answer
/// carries the signing secret, which is never shown again.
#[utoipa::path(post, path = "/api/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_endpoint(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), ApiError> {
    let new = NewEndpoint {
        url: &req.url,
        description: req.description.as_deref(),
        events: &req.events,
    };
    let created = webhooks::create(&state, user.id, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointWithSecret {
            endpoint: created.endpoint.into(),
            secret: created.secret,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    endpoints: Vec<EndpointView>,
}

/// The caller's endpoints, newest first.
#[utoipa::path(get, path = "/api/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = EndpointList)))]
async fn list_endpoints(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = webhooks::list(&state, user.id).await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.into_iter().map(EndpointView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_endpoint(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(webhooks::get(&state, user.id, id).await?.into()))
}

/// What to change; absent fields stay.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct UpdateEndpoint {
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    url: Option<String>,
    #[schema(max_length = 200)]
    description: Option<String>,
    #[schema(schema_with = event_list)]
    events: Option<Vec<String>>,
    /// `true` turns a disabled endpoint back on (redeliver what it missed from its log).
    enabled: Option<bool>,
}

/// Changes an endpoint: its URL, events, description, or whether it is enabled.
#[utoipa::path(patch, path = "/api/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    request_body = UpdateEndpoint,
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn update_endpoint(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateEndpoint>,
) -> Result<Json<EndpointView>, ApiError> {
    let change = Change {
        url: req.url.as_deref(),
        description: req.description.as_deref(),
        events: req.events.as_deref(),
        enabled: req.enabled,
    };
    Ok(Json(
        webhooks::update(&state, user.id, id, change).await?.into(),
    ))
}

/// Deletes an endpoint; its pending deliveries stop.
#[utoipa::path(delete, path = "/api/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret (shown this once). Deliveries are signed with both secrets until
/// `previous_secret_expires_at`, so a receiver can switch without missing one.
#[utoipa::path(post, path = "/api/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = EndpointWithSecret), (status = 404, body = crate::error::ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EndpointWithSecret>, ApiError> {
    let rotated = webhooks::rotate_secret(&state, user.id, id).await?;
    Ok(Json(EndpointWithSecret {
        endpoint: rotated.endpoint.into(),
        secret: rotated.secret,
    }))
}

/// The endpoint's delivery log, newest first: each delivery's status and its attempts.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id"), DeliveriesQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 100"));
    }
    let (deliveries, attempts) = webhooks::deliveries(&state, user.id, id, limit).await?;
    Ok(Json(DeliveryList {
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView::new(d, &attempts))
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Redelivery {
    /// The new delivery (same event id, new delivery id).
    delivery_id: Uuid,
}

/// Sends a delivery's event again, as a new delivery (409 while the endpoint is disabled or
/// has 100 deliveries waiting).
#[utoipa::path(post, path = "/api/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "endpoint id"), ("delivery_id" = Uuid, Path, description = "delivery id")),
    responses((status = 202, body = Redelivery), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn redeliver(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<Redelivery>), ApiError> {
    let delivery_id = webhooks::redeliver(&state, user.id, id, delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(Redelivery { delivery_id })))
}
