//! Liveness (`/health`) and readiness with dependency checks (`/health/detailed`).

use crate::services::health::{Checks, SystemInfo, cached_checks, health_status, system_info};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const SERVICE: &str = "onevoice-backend";
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(health_slash))
        .routes(routes!(health_detailed))
}

#[derive(Serialize, ToSchema)]
pub struct RootResponse {
    service: &'static str,
    version: &'static str,
    status: &'static str,
    message: &'static str,
    docs_url: &'static str,
    timestamp: DateTime<Utc>,
}

/// Service banner.
#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, body = RootResponse)))]
async fn root() -> Json<RootResponse> {
    Json(RootResponse {
        service: "OneVoice Backend API",
        version: VERSION,
        status: "healthy",
        message: "Welcome to the OneVoice dubbing API",
        docs_url: "/docs",
        timestamp: Utc::now(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    status: &'static str,
    timestamp: DateTime<Utc>,
    service: &'static str,
    version: &'static str,
}

fn alive() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "healthy",
        timestamp: Utc::now(),
        service: SERVICE,
        version: VERSION,
    })
}

/// Liveness: the process answers. Never touches a dependency.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthResponse)))]
async fn health() -> Json<HealthResponse> {
    alive()
}

/// Liveness at the seed's path (which had a trailing slash).
#[utoipa::path(get, path = "/health/", tag = "health", responses((status = 200, body = HealthResponse)))]
async fn health_slash() -> Json<HealthResponse> {
    alive()
}

#[derive(Serialize, ToSchema)]
pub struct DetailedHealth {
    /// `healthy` when every dependency answers, else `unhealthy` (and status 503).
    #[schema(schema_with = health_status)]
    status: &'static str,
    timestamp: DateTime<Utc>,
    service: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    /// When these checks ran (they are reused for a few seconds).
    checked_at: DateTime<Utc>,
    checks: Checks,
    /// The host's figures, only for a caller with the operator token.
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<SystemInfo>,
}

/// Whether the request carries the operator token (compared by digest, in constant time).
fn is_operator(state: &AppState, headers: &HeaderMap) -> bool {
    use sha2::{Digest, Sha256};
    let (Some(expected), Some(given)) = (
        state.settings.api.operator_token.as_ref(),
        headers.get("x-operator-token"),
    ) else {
        return false;
    };
    let a = Sha256::digest(expected.expose().as_bytes());
    let b = Sha256::digest(given.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Readiness: checks PostgreSQL, Temporal, S3 and SMTP concurrently (reusing checks younger than
/// `HEALTH_CACHE_SECS`); 503 naming the dependency when one is down. The host's CPU, memory and
/// disk are added for a caller with the operator token (`X-Operator-Token`).
#[utoipa::path(get, path = "/health/detailed", tag = "health",
    params(("X-Operator-Token" = Option<String>, Header, description = "the operator token (`OPERATOR_TOKEN`): adds `system`")),
    responses((status = 200, body = DetailedHealth), (status = 503, body = DetailedHealth)))]
async fn health_detailed(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let (checks, checked_at) = cached_checks(&state).await;
    let system = if is_operator(&state, &headers) {
        let work_dir = state.settings.tools.work_dir.clone();
        tokio::task::spawn_blocking(move || system_info(&work_dir))
            .await
            .ok()
    } else {
        None
    };
    let healthy = checks.healthy();
    let body = DetailedHealth {
        status: if healthy { "healthy" } else { "unhealthy" },
        timestamp: Utc::now(),
        service: SERVICE,
        version: VERSION,
        uptime_seconds: state.started_at.elapsed().as_secs(),
        checked_at,
        checks,
        system,
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // The 503 is this body, not the error envelope: it names what is down.
    (code, Extension(crate::error::OwnBody), Json(body))
}
