//! A flood of requests that make the API hash passwords cannot take more memory than the hashing
//! pool allows (`PASSWORD_HASH_CONCURRENCY` × 19 MiB), and bogus reset tokens cost no hashing.
//!
//! This file holds one test on purpose: it measures the resident memory of its own process, where
//! the API runs, so no other test may run beside it.

use onevoice_api::auth::password::MEMORY_KIB;
use onevoice_shared::repo::users;
use onevoice_tests::harness::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// A `kB` line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))
}

#[tokio::test]
async fn a_hashing_flood_stays_under_the_memory_ceiling() -> anyhow::Result<()> {
    const THREADS: u64 = 2;
    const FLOOD: usize = 64;
    let app = TestApp::spawn_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "2"),
        ("AUTH_RATE_LIMIT_PER_IP", "100000"),
        ("AUTH_RATE_LIMIT_PER_EMAIL", "100000"),
    ])
    .await?;
    let email = format!("flood-{}@example.com", Uuid::new_v4().simple());
    let hash = app.state.passwords.hash("the-real-passw0rd").await?;
    users::ensure_verified(&app.state.db, &email, "flooded", &hash).await?;
    let login = || {
        app.http
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": "a-wrong-passw0rd"}))
            .send()
    };
    let reset = |n: usize| {
        app.http
            .post(app.url("/api/auth/reset-password"))
            .json(&json!({"token": format!("bogus-{n}"), "new_password": "a-new-passw0rd"}))
            .send()
    };
    // Warm up every path once (connections, pools, the hashing threads' arenas).
    assert_eq!(login().await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reset(0).await?.status(), StatusCode::BAD_REQUEST);

    // Resets the peak resident size of this process to its current size.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let before = status_kib("VmRSS:")?;
    let computed = app.state.passwords.computations();
    let resets = futures::future::join_all((0..FLOOD).map(reset));
    let logins = futures::future::join_all((0..FLOOD).map(|_| login()));
    let (resets, logins) = tokio::join!(resets, logins);
    for r in resets {
        assert_eq!(r?.status(), StatusCode::BAD_REQUEST);
    }
    for r in logins {
        assert_eq!(r?.status(), StatusCode::UNAUTHORIZED);
    }
    let peak = status_kib("VmHWM:")?;
    let grew_mib = peak.saturating_sub(before) / 1024;
    // The pool's own memory, plus room for 128 requests in flight (buffers, tasks).
    let ceiling_mib = THREADS * u64::from(MEMORY_KIB) / 1024 + 48;
    println!(
        "hashing flood: {FLOOD} bogus resets + {FLOOD} logins; resident {} MiB before, peak grew {grew_mib} MiB (ceiling {ceiling_mib} MiB)",
        before / 1024
    );
    assert!(
        grew_mib <= ceiling_mib,
        "the flood grew the resident memory by {grew_mib} MiB, over {ceiling_mib} MiB"
    );
    assert_eq!(
        app.state.passwords.computations() - computed,
        FLOOD as u64,
        "one verification per login, none per bogus reset"
    );
    app.shutdown().await
}
