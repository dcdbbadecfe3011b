//! API keys: created from a session on a plan with API access (shown once, stored hashed), used
//! as a bearer or `X-API-Key` within their scopes, refused on session-only routes, rate limited
//! per key, revoked; plans without API access and other accounts get nothing.

use anyhow::Context;
use onevoice_tests::billing::{Billing, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create_key(b: &Billing, token: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
    Ok(b.app
        .call(Method::POST, "/api/keys", Some(token), Some(&body))
        .await?
        .parts())
}

/// A request with the key in `X-API-Key` (and no Authorization header).
async fn with_header(
    b: &Billing,
    method: Method,
    path: &str,
    key: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let res = b
        .app
        .http
        .request(method, b.app.url(path))
        .header("x-api-key", key)
        .send()
        .await?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn a_key_works_within_its_scopes_beside_the_session_until_revoked() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (user, token, _) = b.subscriber("keys-pro@example.com", "pro_monthly").await?;
    let (_dir, _sample, video) =
        onevoice_tests::flows::sample_video(&b.app, &token, "keys.mp4").await?;

    let (status, created) =
        create_key(&b, &token, json!({"name": "CI reader", "scopes": ["read"]})).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let reader = created["secret"].as_str().context("secret")?.to_string();
    assert!(
        reader.starts_with("ov_") && reader.starts_with(created["prefix"].as_str().unwrap_or("?"))
    );
    // Stored hashed: the database never holds the key.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_sha256 FROM api_keys WHERE user_id = $1")
            .bind(user)
            .fetch_one(&b.app.state.db)
            .await?;
    assert_eq!(stored.len(), 32);
    let dump: String =
        sqlx::query_scalar("SELECT row_to_json(k)::text FROM api_keys k WHERE user_id = $1")
            .bind(user)
            .fetch_one(&b.app.state.db)
            .await?;
    assert!(!dump.contains(&reader[15..]), "the secret is stored as is");
    // Listed without the secret.
    let list = b.app.get("/api/keys", &token).await?.expect(200)?;
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["keys"][0]["prefix"], created["prefix"]);
    assert_eq!(list["keys"][0]["scopes"], json!(["read"]));
    assert!(!list.to_string().contains(&reader[15..]));

    // Read, as a bearer and as X-API-Key.
    let videos = b.app.get("/api/videos", &reader).await?.expect(200)?;
    assert!(videos.to_string().contains(&video), "{videos}");
    let (status, one) =
        with_header(&b, Method::GET, &format!("/api/videos/{video}"), &reader).await?;
    assert_eq!(status, StatusCode::OK, "{one}");
    let used = b.app.get("/api/keys", &token).await?.expect(200)?;
    assert!(used["keys"][0]["last_used_at"].is_string(), "{used}");

    // Not beyond its scope: no dubbing, no billing, and never the session-only routes.
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 1000});
    for (method, path, body) in [
        (
            Method::POST,
            "/api/videos/upload-url".to_string(),
            Some(upload.clone()),
        ),
        (Method::DELETE, format!("/api/videos/{video}"), None),
        (Method::GET, "/api/billing/subscription".to_string(), None),
        (Method::GET, "/api/keys".to_string(), None),
        (
            Method::POST,
            "/api/keys".to_string(),
            Some(json!({"name": "more", "scopes": ["read"]})),
        ),
        (
            Method::PUT,
            "/api/users/profile".to_string(),
            Some(json!({"full_name": "Mallory"})),
        ),
        (Method::POST, "/api/auth/logout".to_string(), None),
    ] {
        let (status, body) = b
            .app
            .call(method.clone(), &path, Some(&reader), body.as_ref())
            .await?
            .parts();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"], "HTTP_403", "{body}");
    }
    assert!(
        b.app
            .get(&format!("/api/videos/{video}"), &token)
            .await?
            .status
            .is_success(),
        "the video is still there"
    );

    // A dub-scoped key does what the reader may not; the session keeps working beside both.
    let (_, dubber) = create_key(
        &b,
        &token,
        json!({"name": "uploader", "scopes": ["dub", "read", "dub"]}),
    )
    .await?;
    assert_eq!(
        dubber["scopes"],
        json!(["dub", "read"]),
        "deduplicated: {dubber}"
    );
    let dubber = dubber["secret"].as_str().context("secret")?.to_string();
    let (status, body) = b
        .app
        .call(
            Method::POST,
            "/api/videos/upload-url",
            Some(&dubber),
            Some(&upload),
        )
        .await?
        .parts();
    assert!(status.is_success(), "{status} {body}");
    b.app
        .get("/api/users/profile", &dubber)
        .await?
        .expect(200)?;
    b.app.get("/api/users/profile", &token).await?.expect(200)?;

    // Another account's key sees none of this account's data.
    let (_, other_token, _) = b
        .subscriber("keys-other@example.com", "pro_monthly")
        .await?;
    let (_, other) = create_key(
        &b,
        &other_token,
        json!({"name": "other", "scopes": ["read", "dub"]}),
    )
    .await?;
    let other = other["secret"].as_str().context("secret")?.to_string();
    assert_eq!(
        b.app
            .get(&format!("/api/videos/{video}"), &other)
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = b.app.get("/api/videos", &other).await?.expect(200)?;
    assert!(!listed.to_string().contains(&video), "{listed}");
    let reader_id = created["id"].as_str().context("id")?;
    let (status, _) = b
        .app
        .call(
            Method::DELETE,
            &format!("/api/keys/{reader_id}"),
            Some(&other_token),
            None,
        )
        .await?
        .parts();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another account cannot revoke the key"
    );

    // Forged and mangled keys: one 401 for all, nothing learnt.
    let forged = format!("{}{}", &reader[..15], "A".repeat(reader.len() - 15));
    for bad in [
        forged.as_str(),
        "ov_",
        "ov_short",
        &format!("{reader}x"),
        &reader.replace("ov_", "ov-"),
    ] {
        let (status, body) = with_header(&b, Method::GET, "/api/videos", bad).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        let status = b.app.get("/api/videos", bad).await?.status;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }

    // Revoked: refused from now on, gone from the list; revoking twice finds nothing.
    let path = format!("/api/keys/{reader_id}");
    let (status, _) = b
        .app
        .call(Method::DELETE, &path, Some(&token), None)
        .await?
        .parts();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        b.app.get("/api/videos", &reader).await?.status,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = b
        .app
        .call(Method::DELETE, &path, Some(&token), None)
        .await?
        .parts();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let list = b.app.get("/api/keys", &token).await?.expect(200)?;
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(1), "{list}");
    b.app.shutdown().await
}

#[tokio::test]
async fn only_plans_with_api_access_get_keys_and_bad_requests_are_422() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, free) = b.app.user("keys-free@example.com").await?;
    let (_, starter, _) = b
        .subscriber("keys-starter@example.com", "starter_monthly")
        .await?;
    for token in [&free, &starter] {
        let (status, body) =
            create_key(&b, token, json!({"name": "k", "scopes": ["read"]})).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("API access"),
            "{body}"
        );
    }
    let plans = b.app.get("/api/billing/plans", &free).await?.expect(200)?;
    let access: Vec<(String, bool)> = plans
        .as_array()
        .context("plans")?
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_string(),
                p["api_access"] == true,
            )
        })
        .collect();
    assert!(
        access.contains(&("pro_monthly".into(), true))
            && access.contains(&("starter_monthly".into(), false)),
        "{access:?}"
    );

    let (_, pro, _) = b
        .subscriber("keys-valid@example.com", "pro_monthly")
        .await?;
    for (body, field) in [
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (json!({"name": "tab\u{7}bell", "scopes": ["read"]}), "name"),
        (
            json!({"name": "k", "scopes": ["read"], "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (
            json!({"name": "k", "scopes": ["read"], "rate_limit_per_minute": 10_000_000}),
            "rate_limit_per_minute",
        ),
    ] {
        let (status, answer) = create_key(&b, &pro, body.clone()).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }
    // At most 20 live keys; a revoked one frees its place.
    let mut last = String::new();
    for i in 0..20 {
        let (status, key) = create_key(
            &b,
            &pro,
            json!({"name": format!("k{i}"), "scopes": ["read"]}),
        )
        .await?;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        last = key["id"].as_str().unwrap_or_default().to_string();
    }
    let (status, _) = create_key(&b, &pro, json!({"name": "k21", "scopes": ["read"]})).await?;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = b
        .app
        .call(
            Method::DELETE,
            &format!("/api/keys/{last}"),
            Some(&pro),
            None,
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = create_key(&b, &pro, json!({"name": "k21", "scopes": ["read"]})).await?;
    assert_eq!(status, StatusCode::CREATED);
    b.app.shutdown().await
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit_and_a_lapsed_plan_stops_every_key() -> anyhow::Result<()> {
    let b = start(&[("API_KEY_RATE_LIMIT_PER_MINUTE", "50")]).await?;
    let (user, token, _) = b.subscriber("keys-rate@example.com", "pro_monthly").await?;
    let (status, _) = create_key(
        &b,
        &token,
        json!({"name": "k", "scopes": ["read"], "rate_limit_per_minute": 51}),
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no more than the setting allows"
    );
    let (_, slow) = create_key(
        &b,
        &token,
        json!({"name": "slow", "scopes": ["read"], "rate_limit_per_minute": 3}),
    )
    .await?;
    let slow = slow["secret"].as_str().context("secret")?.to_string();
    let (_, other) = create_key(&b, &token, json!({"name": "other", "scopes": ["read"]})).await?;
    let other = other["secret"].as_str().context("secret")?.to_string();

    // Counted in fixed one-minute windows: within two windows the fourth request of one is
    // refused, whatever minute the test starts in.
    let mut answered = 0;
    let refused = loop {
        let res = b
            .app
            .http
            .get(b.app.url("/api/videos"))
            .bearer_auth(&slow)
            .send()
            .await?;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            break res;
        }
        assert_eq!(res.status(), StatusCode::OK);
        answered += 1;
        assert!(answered <= 6, "never limited");
    };
    assert!(answered >= 3, "limited after {answered}");
    let retry: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("Retry-After")?;
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = refused.json().await?;
    assert_eq!(body["error"], "HTTP_429", "{body}");
    // The other key and the session are not limited by it.
    b.app.get("/api/videos", &other).await?.expect(200)?;
    b.app.get("/api/videos", &token).await?.expect(200)?;

    // Without a live plan with API access (here the subscription is suspended for non-payment),
    // keys stop working with 403 and come back with the plan.
    sqlx::query("UPDATE subscriptions SET suspended_at = now() WHERE user_id = $1")
        .bind(user)
        .execute(&b.app.state.db)
        .await?;
    let (status, body) = b.app.get("/api/videos", &other).await?.parts();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    sqlx::query("UPDATE subscriptions SET suspended_at = NULL WHERE user_id = $1")
        .bind(user)
        .execute(&b.app.state.db)
        .await?;
    b.app.get("/api/videos", &other).await?.expect(200)?;
    b.app.shutdown().await
}
