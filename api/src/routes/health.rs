//! Liveness (`/health`) and readiness with dependency checks (`/health/detailed`).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::workflowservice::v1::GetSystemInfoRequest;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const SERVICE: &str = "onevoice-backend";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A dependency slower than this is reported down: the API would be unusable anyway.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

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
pub struct CheckResult {
    /// `healthy` or `unhealthy`.
    status: &'static str,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    database: CheckResult,
    temporal: CheckResult,
    storage: CheckResult,
    smtp: CheckResult,
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    total_bytes: u64,
    used_bytes: u64,
    percent: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SystemInfo {
    cpu_percent: f64,
    cpu_count: usize,
    memory: Usage,
    disk: Usage,
}

#[derive(Serialize, ToSchema)]
pub struct DetailedHealth {
    /// `healthy` when every dependency answers, else `unhealthy` (and status 503).
    status: &'static str,
    timestamp: DateTime<Utc>,
    service: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    checks: Checks,
    system: SystemInfo,
}

async fn check<F, E>(probe: F) -> CheckResult
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, probe).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(())) => CheckResult {
            status: "healthy",
            latency_ms,
            error: None,
        },
        // Only the kind of failure is reported: connection strings and hosts stay private.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            CheckResult {
                status: "unhealthy",
                latency_ms,
                error: Some(first_words(&e.to_string())),
            }
        }
        Err(_) => CheckResult {
            status: "unhealthy",
            latency_ms,
            error: Some("timed out".into()),
        },
    }
}

/// The start of an error message, without anything that could carry a URL or credentials.
fn first_words(msg: &str) -> String {
    let cut: String = msg
        .split([':', '(', '@', '/'])
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(80)
        .collect();
    if cut.is_empty() {
        "unavailable".into()
    } else {
        cut
    }
}

/// Readiness: checks PostgreSQL, Temporal, S3 and SMTP concurrently and reports CPU, memory and
/// disk. Answers 503 when any dependency is down.
#[utoipa::path(get, path = "/health/detailed", tag = "health", responses(
    (status = 200, body = DetailedHealth), (status = 503, body = DetailedHealth)))]
async fn health_detailed(State(state): State<AppState>) -> (StatusCode, Json<DetailedHealth>) {
    let db = check(async { sqlx::query("SELECT 1").execute(&state.db).await.map(|_| ()) });
    let temporal = check(async {
        let mut svc = state.temporal.connection().workflow_service();
        svc.get_system_info(temporalio_client::tonic::Request::new(
            GetSystemInfoRequest::default(),
        ))
        .await
        .map(|_| ())
    });
    let storage = check(state.storage.check());
    let smtp = check(async {
        match state.mailer.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("SMTP server refused the connection".to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    let work_dir = state.settings.tools.work_dir.clone();
    let system = tokio::task::spawn_blocking(move || system_info(&work_dir));
    let (database, temporal, storage, smtp, system) =
        tokio::join!(db, temporal, storage, smtp, system);
    let checks = Checks {
        database,
        temporal,
        storage,
        smtp,
    };
    let healthy = [
        &checks.database,
        &checks.temporal,
        &checks.storage,
        &checks.smtp,
    ]
    .iter()
    .all(|c| c.status == "healthy");
    let body = DetailedHealth {
        status: if healthy { "healthy" } else { "unhealthy" },
        timestamp: Utc::now(),
        service: SERVICE,
        version: VERSION,
        uptime_seconds: state.started_at.elapsed().as_secs(),
        checks,
        system: system.unwrap_or_else(|_| system_info(std::path::Path::new("/"))),
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

fn usage(total: u64, used: u64) -> Usage {
    let percent = if total == 0 {
        0.0
    } else {
        (used as f64 * 1000.0 / total as f64).round() / 10.0
    };
    Usage {
        total_bytes: total,
        used_bytes: used,
        percent,
    }
}

/// CPU needs two samples 200 ms apart; this runs on a blocking thread.
fn system_info(work_dir: &std::path::Path) -> SystemInfo {
    let mut sys = sysinfo::System::new();
    sys.refresh_cpu_usage();
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    let disks = sysinfo::Disks::new_with_refreshed_list();
    // The disk holding the work directory, where media is processed.
    let disk = disks
        .list()
        .iter()
        .filter(|d| {
            work_dir.starts_with(d.mount_point()) || d.mount_point() == std::path::Path::new("/")
        })
        .max_by_key(|d| d.mount_point().as_os_str().len());
    let (total, available) = disk.map_or((0, 0), |d| (d.total_space(), d.available_space()));
    SystemInfo {
        cpu_percent: (f64::from(sys.global_cpu_usage()) * 10.0).round() / 10.0,
        cpu_count: sys.cpus().len(),
        memory: usage(sys.total_memory(), sys.used_memory()),
        disk: usage(total, total.saturating_sub(available)),
    }
}
