//! The HTTP foundation: health, the error envelope, authentication and the OpenAPI document.

use onevoice_tests::harness::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_envelope(body: &Value, code: &str, path: &str, method: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["details"]["path"], path, "{body}");
    assert_eq!(body["details"]["method"], method, "{body}");
}

#[tokio::test]
async fn health_and_errors() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;

    let res = app.http.get(app.url("/health")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.json::<Value>().await?["status"], "healthy");

    // Every dependency of the local stack is really checked.
    let res = app.http.get(app.url("/health/detailed")).send().await?;
    let status = res.status();
    let body: Value = res.json().await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    for dep in ["database", "temporal", "storage", "smtp"] {
        assert_eq!(body["checks"][dep]["status"], "healthy", "{dep}: {body}");
    }
    // The host's figures are for operators only (see the health test below).
    assert!(body.get("system").is_none(), "{body}");

    // 404 for unknown routes, 405 for a wrong method: both in the envelope.
    let res = app.http.get(app.url("/api/nothing-here")).send().await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_envelope(&res.json().await?, "HTTP_404", "/api/nothing-here", "GET");
    let res = app.http.delete(app.url("/health")).send().await?;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_envelope(&res.json().await?, "HTTP_405", "/health", "DELETE");

    // Missing or forged credentials: 401 with a challenge, never details.
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_envelope(
        &res.json().await?,
        "HTTP_401",
        "/api/videos/upload-url",
        "POST",
    );
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let (_, token) = app.user("http@example.com").await?;
    // Malformed JSON and missing fields: 422 VALIDATION_ERROR.
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_envelope(
        &res.json().await?,
        "VALIDATION_ERROR",
        "/api/videos/upload-url",
        "POST",
    );
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .json(&json!({"filename": "a.mp4"}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .json(&json!({"filename": "notes.txt", "content_type": "text/plain"}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await?;
    assert_eq!(body["details"]["errors"][0]["field"], "filename", "{body}");

    // A body over the limit: 413 in the envelope.
    let big = "x".repeat(app.state.settings.api.max_request_body_bytes + 1);
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"filename\": \"{big}\"}}"))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_envelope(
        &res.json().await?,
        "HTTP_413",
        "/api/videos/upload-url",
        "POST",
    );

    // Another user's video is indistinguishable from a missing one.
    let res = app
        .http
        .post(app.url("/api/videos/upload-url"))
        .bearer_auth(&token)
        .json(&json!({"filename": "mine.mp4", "content_type": "video/mp4"}))
        .send()
        .await?;
    let video_id = res.json::<Value>().await?["video_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, other) = app.user("other@example.com").await?;
    for path in [
        format!("/api/videos/{video_id}/status"),
        format!("/api/videos/{video_id}/download"),
    ] {
        let res = app
            .http
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The owner sees "no job yet" for status, and the dub refuses a video not uploaded yet.
    let res = app
        .http
        .get(app.url(&format!("/api/videos/{video_id}/status")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .http
        .post(app.url(&format!("/api/videos/{video_id}/dub")))
        .bearer_auth(&token)
        .json(&json!({"target_language": "es", "source_language": "en",
                      "source_transcript": "1\n00:00:01,000 --> 00:00:02,000\nHi\n"}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // A malformed transcript or an unsupported language is refused before anything starts.
    let res = app
        .http
        .post(app.url(&format!("/api/videos/{video_id}/dub")))
        .bearer_auth(&token)
        .json(&json!({"target_language": "xx", "source_language": "en", "source_transcript": "garbage"}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.state.db)
        .await?;
    assert_eq!(jobs, 0);

    // The OpenAPI document describes the routes, and the docs page serves.
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    for path in [
        "/health/detailed",
        "/api/auth/signup",
        "/api/auth/verify-email",
        "/api/auth/resend-verification",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
        "/api/users/profile",
        "/api/users/confirm-email",
        "/api/users/password",
        "/api/users/avatar",
        "/api/users/activity",
        "/api/users/dashboard/stats",
        "/api/users/credits/usage",
        "/api/users/subscription",
        "/api/users/notifications/preferences",
        "/api/users/delete-account",
        "/api/videos",
        "/api/videos/languages",
        "/api/videos/voices",
        "/api/videos/upload-url",
        "/api/videos/multipart",
        "/api/videos/{id}/multipart/parts",
        "/api/videos/{id}/multipart/complete",
        "/api/videos/{id}/multipart/abort",
        "/api/videos/{id}/complete",
        "/api/videos/{id}",
        "/api/videos/{id}/thumbnail",
        "/api/videos/{id}/duplicate",
        "/api/videos/{id}/download",
        "/api/videos/{id}/dub",
        "/api/videos/{id}/status",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
        for (_, op) in doc["paths"][path].as_object().into_iter().flatten() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{path} has no responses"
            );
        }
    }
    let docs = app.http.get(app.url("/docs")).send().await?;
    assert_eq!(docs.status(), StatusCode::OK);
    // The page itself; contract.rs loads it in a browser without internet.
    assert!(docs.text().await?.contains("swagger-ui"));

    app.shutdown().await
}

/// `/health/detailed` checks its dependencies once per `HEALTH_CACHE_SECS` however often it is
/// called, shows the host's figures only to the operator token, and names a dependency that is
/// really down (503).
#[tokio::test]
async fn detailed_health_is_cached_private_and_names_what_is_down() -> anyhow::Result<()> {
    let smtp = onevoice_tests::smtp::accepting().await?;
    let port = smtp.port.to_string();
    let operator = "operator-token-0123456789";
    let app = TestApp::spawn_paused(&[
        ("SMTP_PORT", port.as_str()),
        ("SMTP_SECURITY", "plain"),
        ("HEALTH_CACHE_SECS", "3600"),
        ("OPERATOR_TOKEN", operator),
    ])
    .await?;
    let detailed = |token: Option<&str>| {
        let mut req = app.http.get(app.url("/health/detailed"));
        if let Some(t) = token {
            req = req.header("x-operator-token", t);
        }
        async move {
            let res = req.send().await?;
            let status = res.status();
            anyhow::Ok((status, res.json::<Value>().await?))
        }
    };
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(detailed(None).await?);
    }
    assert_eq!(smtp.connections(), 1, "five calls, one SMTP check");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["checked_at"], answers[0].1["checked_at"]);
        assert!(body.get("system").is_none(), "{body}");
    }
    let (_, wrong) = detailed(Some("operator-token-wrong-guess")).await?;
    assert!(wrong.get("system").is_none(), "{wrong}");
    let (_, body) = detailed(Some(operator)).await?;
    assert!(
        body["system"]["cpu_count"].as_u64().unwrap_or(0) > 0,
        "{body}"
    );
    assert!(
        body["system"]["memory"]["total_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(body["system"]["disk"]["total_bytes"].as_u64().unwrap_or(0) > 0);
    app.shutdown().await?;

    // A relay that is really down: 503, the SMTP check named, no host in the answer.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port().to_string()
    };
    let app = TestApp::spawn_paused(&[
        ("SMTP_PORT", closed.as_str()),
        ("SMTP_SECURITY", "plain"),
        ("HEALTH_CACHE_SECS", "0"),
    ])
    .await?;
    let res = app.http.get(app.url("/health/detailed")).send().await?;
    let status = res.status();
    let text = res.text().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let body: Value = serde_json::from_str(&text)?;
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["smtp"]["status"], "unhealthy", "{body}");
    for dep in ["database", "temporal", "storage"] {
        assert_eq!(body["checks"][dep]["status"], "healthy", "{dep}: {body}");
    }
    assert!(
        !text.contains("127.0.0.1") && !text.contains(&closed),
        "{text}"
    );
    app.shutdown().await
}
