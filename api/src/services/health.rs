//! What `/health/detailed` reports: each dependency checked (concurrently, bounded, its failure
//! named in a few words that carry no host or credential), cached for `HEALTH_CACHE_SECS`, and
//! the host's CPU, memory and disk.

use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::workflowservice::v1::GetSystemInfoRequest;
use tokio::sync::Mutex;
use utoipa::ToSchema;

/// A dependency slower than this is reported down: the API would be unusable anyway.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Serialize, ToSchema)]
pub struct CheckResult {
    /// `healthy` or `unhealthy`.
    #[schema(schema_with = health_status)]
    status: &'static str,
    latency_ms: u64,
    /// What failed, in a few words (never a host, URL or credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(crate) fn health_status() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["healthy", "unhealthy"]))
        .build()
}

#[derive(Clone, Serialize, ToSchema)]
pub struct Checks {
    database: CheckResult,
    temporal: CheckResult,
    storage: CheckResult,
    smtp: CheckResult,
}

impl Checks {
    pub fn healthy(&self) -> bool {
        [&self.database, &self.temporal, &self.storage, &self.smtp]
            .iter()
            .all(|c| c.status == "healthy")
    }
}

/// The last checks and when they ran. One caller at a time refreshes them; the others wait and
/// reuse the result, so a flood of calls checks each dependency once per `HEALTH_CACHE_SECS`.
#[derive(Clone, Default)]
pub struct ChecksCache(Arc<Mutex<Option<CheckedAt>>>);

#[derive(Clone)]
struct CheckedAt {
    at: Instant,
    wall: DateTime<Utc>,
    checks: Checks,
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

/// Checks PostgreSQL, Temporal, S3 and SMTP concurrently.
async fn run_checks(state: &AppState) -> Checks {
    let db = check(onevoice_shared::db::ping(&state.db));
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
    let (database, temporal, storage, smtp) = tokio::join!(db, temporal, storage, smtp);
    Checks {
        database,
        temporal,
        storage,
        smtp,
    }
}

/// The cached checks, refreshed when older than `HEALTH_CACHE_SECS`; with when they ran.
pub async fn cached_checks(state: &AppState) -> (Checks, DateTime<Utc>) {
    let mut cached = state.health.0.lock().await;
    let fresh = cached
        .as_ref()
        .filter(|c| c.at.elapsed() < state.settings.api.health_cache);
    let last = match fresh {
        Some(c) => c.clone(),
        None => {
            let checks = run_checks(state).await;
            let c = CheckedAt {
                at: Instant::now(),
                wall: Utc::now(),
                checks,
            };
            *cached = Some(c.clone());
            c
        }
    };
    (last.checks, last.wall)
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
pub fn system_info(work_dir: &std::path::Path) -> SystemInfo {
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
