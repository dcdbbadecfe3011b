//! Signed webhooks: a local receiver verifies every delivery's signature and sees each event
//! once per delivery, numbered in the order of the job's life, although it answers 500 to every
//! first attempt; the delivery log shows both attempts; a redelivery after a secret rotation is
//! signed with both secrets. A dead receiver is disabled (and its owner emailed) while the job
//! completes anyway. Registration refuses private addresses, unknown events, plans without API
//! access and other accounts' endpoints.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use axum::routing::post;
use onevoice_shared::webhook;
use onevoice_tests::billing::{Billing, start};
use onevoice_tests::flows::{dub_to_end, sample_video};
use onevoice_tests::harness::eventually;
use onevoice_tests::mail;
use onevoice_tests::served::serve;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(180);
const ALL_EVENTS: [&str; 7] = [
    "job.started",
    "job.step_completed",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "video.ready",
    "credits.low",
];

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: Bytes,
    answered: u16,
}

/// A receiver that answers 500 to the first attempt of every delivery and 200 to the next.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

impl Receiver {
    fn all(&self) -> Vec<Received> {
        self.0.lock().expect("receiver lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> HttpStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let delivery = header(webhook::DELIVERY_HEADER);
    let mut seen = r.0.lock().expect("receiver lock");
    let first = !seen.iter().any(|x| x.delivery == delivery);
    let answered = if first { 500 } else { 200 };
    seen.push(Received {
        delivery,
        event: header(webhook::EVENT_HEADER),
        signature: header(webhook::SIGNATURE_HEADER),
        body,
        answered,
    });
    HttpStatus::from_u16(answered).unwrap_or(HttpStatus::OK)
}

async fn register(b: &Billing, token: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
    Ok(b.app
        .call(
            Method::POST,
            "/api/webhook-endpoints",
            Some(token),
            Some(&body),
        )
        .await?
        .parts())
}

async fn deliveries(b: &Billing, token: &str, endpoint: &str) -> anyhow::Result<Vec<Value>> {
    let log = b
        .app
        .get(
            &format!("/api/webhook-endpoints/{endpoint}/deliveries?limit=100"),
            token,
        )
        .await?
        .expect(200)?;
    Ok(log["deliveries"].as_array().cloned().unwrap_or_default())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn events_arrive_signed_once_per_delivery_in_the_order_of_the_jobs_life() -> anyhow::Result<()>
{
    // Signup grant 100 + Pro's 2000: the dub's 10 credits cross a threshold of 2095.
    let b = start(&[
        ("OUTBOUND_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_FIRST_RETRY_MS", "200"),
        ("WEBHOOK_MAX_RETRY_INTERVAL_SECS", "1"),
        ("CREDITS_LOW_THRESHOLD", "2095"),
    ])
    .await?;
    let email = format!("hooks-{}@example.com", Uuid::new_v4().simple());
    let (user, token, _) = b.subscriber(&email, "pro_monthly").await?;
    anyhow::ensure!(
        b.balance(user).await? == 2100,
        "the threshold assumes 2100 credits"
    );
    let receiver = Receiver::default();
    let server = serve(
        Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone()),
    )
    .await?;

    let (status, created) = register(
        &b,
        &token,
        json!({"url": format!("{}/hooks", server.url), "events": ALL_EVENTS, "description": "CI"}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let endpoint = created["id"].as_str().context("id")?.to_string();
    let secret = created["secret"].as_str().context("secret")?.to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    let listed = b
        .app
        .get("/api/webhook-endpoints", &token)
        .await?
        .expect(200)?;
    assert_eq!(listed["endpoints"][0]["id"], created["id"]);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is listed"
    );

    let (_dir, sample, video) = sample_video(&b.app, &token, "hooks.mp4").await?;
    let body = json!({"target_language": "es", "source_language": "en",
                      "source_transcript": sample.transcript});
    let job = dub_to_end(&b.app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");
    let job_id = job["id"].as_str().context("job id")?.to_string();

    // Every delivery ends delivered, each after a 500 and a 200 (the log says so).
    let log = eventually(DEADLINE, "every delivery to be delivered", || async {
        let log = deliveries(&b, &token, &endpoint).await?;
        let done = log.iter().all(|d| d["status"] == "delivered");
        let has_end = log.iter().any(|d| d["event_type"] == "credits.low");
        Ok((done && has_end).then_some(log))
    })
    .await?;
    for d in &log {
        let codes: Vec<i64> = d["attempt_log"]
            .as_array()
            .context("attempt_log")?
            .iter()
            .filter_map(|a| a["response_code"].as_i64())
            .collect();
        assert_eq!(codes, vec![500, 200], "{d}");
        assert_eq!(d["attempts"], 2, "{d}");
    }

    // What the receiver saw: each signed, each delivery answered 200 exactly once, and each event
    // in exactly one delivery.
    let received = receiver.all();
    let mut events: BTreeMap<String, Value> = BTreeMap::new();
    let mut delivered = HashSet::new();
    for r in &received {
        assert!(
            webhook::verify(&r.signature, &secret, &r.body, now(), 300),
            "bad signature on {r:?}"
        );
        let event: Value = serde_json::from_slice(&r.body)?;
        assert_eq!(event["type"], r.event.as_str());
        if r.answered == 200 {
            assert!(delivered.insert(r.delivery.clone()), "{} twice", r.delivery);
            let id = event["id"].as_str().context("event id")?.to_string();
            assert!(
                events.insert(id, event).is_none(),
                "one event in two deliveries"
            );
        }
    }
    assert_eq!(delivered.len(), log.len());
    assert!(received.len() >= 2 * log.len());

    let ready: Vec<&Value> = events
        .values()
        .filter(|e| e["type"] == "video.ready")
        .collect();
    assert_eq!(ready.len(), 1, "{events:?}");
    assert_eq!(ready[0]["data"]["video_id"], video.as_str());

    // The job's events, by sequence number: started, the steps, completed, then credits.low.
    let mut of_job: Vec<&Value> = events
        .values()
        .filter(|e| e["data"]["job_id"] == job_id.as_str())
        .collect();
    of_job.sort_by_key(|e| e["sequence"].as_i64());
    let sequence: Vec<i64> = of_job
        .iter()
        .filter_map(|e| e["sequence"].as_i64())
        .collect();
    assert_eq!(sequence, (1..=of_job.len() as i64).collect::<Vec<_>>());
    let types: Vec<&str> = of_job.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"job.started"), "{types:?}");
    assert_eq!(
        &types[types.len() - 2..],
        &["job.completed", "credits.low"],
        "{types:?}"
    );
    assert!(
        types[1..types.len() - 2]
            .iter()
            .all(|t| *t == "job.step_completed")
    );
    let completed = of_job[of_job.len() - 2];
    assert_eq!(completed["data"]["credits_charged"], 10, "{completed}");
    assert_eq!(of_job[of_job.len() - 1]["data"]["balance"], 2090);
    // One step event per step the job shows completed.
    let stepped: HashSet<&str> = of_job
        .iter()
        .filter(|e| e["type"] == "job.step_completed")
        .filter_map(|e| e["data"]["step"].as_str())
        .collect();
    let shown = b
        .app
        .get(&format!("/api/jobs/{job_id}"), &token)
        .await?
        .expect(200)?;
    let done_steps: HashSet<&str> = shown["job_steps"]
        .as_array()
        .context("job_steps")?
        .iter()
        .filter(|s| s["status"] == "completed")
        .filter_map(|s| s["step_name"].as_str())
        .collect();
    assert_eq!(stepped, done_steps, "{shown}");
    assert_eq!(stepped.len(), types.len() - 3);

    // Rotation: the next delivery carries both signatures; a redelivery keeps the event's id.
    let rotated = b
        .app
        .post(
            &format!("/api/webhook-endpoints/{endpoint}/rotate-secret"),
            &token,
        )
        .await?
        .expect(200)?;
    let new_secret = rotated["secret"]
        .as_str()
        .context("new secret")?
        .to_string();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let original = log
        .iter()
        .find(|d| d["event_type"] == "job.completed")
        .context("job.completed delivery")?;
    let again = b
        .app
        .post(
            &format!(
                "/api/webhook-endpoints/{endpoint}/deliveries/{}/redeliver",
                original["id"].as_str().unwrap_or_default()
            ),
            &token,
        )
        .await?
        .expect(202)?;
    let redelivery = again["delivery_id"]
        .as_str()
        .context("delivery_id")?
        .to_string();
    let resent = eventually(DEADLINE, "the redelivery", || async {
        Ok(receiver
            .all()
            .into_iter()
            .find(|r| r.delivery == redelivery && r.answered == 200))
    })
    .await?;
    assert_eq!(resent.signature.matches("v1=").count(), 2, "{resent:?}");
    for s in [&secret, &new_secret] {
        assert!(webhook::verify(
            &resent.signature,
            s,
            &resent.body,
            now(),
            300
        ));
    }
    let resent_event: Value = serde_json::from_slice(&resent.body)?;
    assert_eq!(resent_event["id"], original["event_id"]);

    // Another account sees nothing of the endpoint.
    let (_, other, _) = b
        .subscriber(
            &format!("other-{}@example.com", Uuid::new_v4().simple()),
            "pro_monthly",
        )
        .await?;
    for (method, path) in [
        (Method::GET, format!("/api/webhook-endpoints/{endpoint}")),
        (Method::DELETE, format!("/api/webhook-endpoints/{endpoint}")),
        (
            Method::GET,
            format!("/api/webhook-endpoints/{endpoint}/deliveries"),
        ),
        (
            Method::POST,
            format!("/api/webhook-endpoints/{endpoint}/rotate-secret"),
        ),
        (
            Method::POST,
            format!("/api/webhook-endpoints/{endpoint}/deliveries/{redelivery}/redeliver"),
        ),
    ] {
        let (status, body) = b.app.call(method, &path, Some(&other), None).await?.parts();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let patch = json!({"enabled": false});
    let (status, _) = b
        .app
        .call(
            Method::PATCH,
            &format!("/api/webhook-endpoints/{endpoint}"),
            Some(&other),
            Some(&patch),
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_dead_receiver_is_disabled_and_its_owner_told_while_the_job_completes()
-> anyhow::Result<()> {
    let b = start(&[
        ("OUTBOUND_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_RETRY_WINDOW_SECS", "3"),
        ("WEBHOOK_FIRST_RETRY_MS", "200"),
        ("WEBHOOK_MAX_RETRY_INTERVAL_SECS", "1"),
    ])
    .await?;
    let email = format!("dead-{}@example.com", Uuid::new_v4().simple());
    let (_, token, _) = b.subscriber(&email, "pro_monthly").await?;
    // A port nothing listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (status, created) = register(
        &b,
        &token,
        json!({"url": format!("http://{closed}/hooks"), "events": ALL_EVENTS}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let endpoint = created["id"].as_str().context("id")?.to_string();

    let (_dir, sample, video) = sample_video(&b.app, &token, "dead.mp4").await?;
    let body = json!({"target_language": "es", "source_language": "en",
                      "source_transcript": sample.transcript});
    let job = dub_to_end(&b.app, &token, &video, body, DEADLINE).await?;
    assert_eq!(job["status"], "completed", "{job}");

    let disabled = eventually(DEADLINE, "the endpoint to be disabled", || async {
        let e = b
            .app
            .get(&format!("/api/webhook-endpoints/{endpoint}"), &token)
            .await?
            .expect(200)?;
        Ok((e["enabled"] == false).then_some(e))
    })
    .await?;
    assert!(disabled["disabled_reason"].is_string(), "{disabled}");
    let maildir = mail::stack_maildir();
    // The notice names the endpoint (in the account's language, whichever it is).
    eventually(DEADLINE, "the email about it", || async {
        Ok(mail::messages_to(&maildir, &email)?
            .into_iter()
            .find(|m| m.text.contains(&format!("http://{closed}/hooks"))))
    })
    .await?;

    let log = eventually(DEADLINE, "every delivery to end", || async {
        let log = deliveries(&b, &token, &endpoint).await?;
        Ok(log.iter().all(|d| d["status"] != "pending").then_some(log))
    })
    .await?;
    assert!(!log.is_empty());
    for d in &log {
        assert!(
            matches!(d["status"].as_str(), Some("failed" | "cancelled")),
            "{d}"
        );
        for a in d["attempt_log"].as_array().context("attempt_log")? {
            assert_eq!(a["error"], "could not connect", "{a}");
            assert!(a["response_code"].is_null());
        }
    }
    // Nothing else is sent to a disabled endpoint, and a redelivery waits for it to be enabled.
    let first = log[0]["id"].as_str().unwrap_or_default();
    let (status, body) = b
        .app
        .call(
            Method::POST,
            &format!("/api/webhook-endpoints/{endpoint}/deliveries/{first}/redeliver"),
            Some(&token),
            None,
        )
        .await?
        .parts();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let enabled = b
        .app
        .call(
            Method::PATCH,
            &format!("/api/webhook-endpoints/{endpoint}"),
            Some(&token),
            Some(&json!({"enabled": true})),
        )
        .await?
        .expect(200)?;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_reason"].is_null(), "{enabled}");
    Ok(())
}

#[tokio::test]
async fn registration_refuses_private_addresses_bad_events_other_plans_and_too_many()
-> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, token, _) = b
        .subscriber(
            &format!("reg-{}@example.com", Uuid::new_v4().simple()),
            "pro_monthly",
        )
        .await?;
    let events = json!(["job.completed"]);
    for (url, field) in [
        ("http://127.0.0.1:8000/hook", "url"),
        ("http://169.254.169.254/latest/meta-data", "url"),
        ("http://[::1]/hook", "url"),
        ("http://10.0.0.7/hook", "url"),
        ("http://0x7f000001/hook", "url"),
        ("ftp://example.com/hook", "url"),
        ("https://user:pw@example.com/hook", "url"),
        ("not a url", "url"),
        ("", "url"),
    ] {
        let (status, body) = register(&b, &token, json!({"url": url, "events": events})).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(body.to_string().contains(field), "{url}: {body}");
    }
    for bad in [
        json!([]),
        json!(["job.*"]),
        json!(["job.completed", 7]),
        json!("job.completed"),
    ] {
        let (status, body) = register(
            &b,
            &token,
            json!({"url": "https://example.com/hook", "events": bad}),
        )
        .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body.to_string().contains("events"), "{bad}: {body}");
    }
    // Events are kept once each, in a stable order.
    let (status, created) = register(
        &b,
        &token,
        json!({"url": "https://example.com/hook",
               "events": ["job.failed", "job.completed", "job.failed"]}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["events"], json!(["job.completed", "job.failed"]));
    // A name that resolves to a private address passes registration but not delivery.
    let (status, local) = register(
        &b,
        &token,
        json!({"url": "http://localhost:9/hook", "events": ["video.ready"]}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{local}");
    let local_id = local["id"].as_str().context("id")?.to_string();
    for _ in 2..10 {
        register(
            &b,
            &token,
            json!({"url": "https://example.com/h", "events": events}),
        )
        .await?;
    }
    let (status, body) = register(
        &b,
        &token,
        json!({"url": "https://example.com/h", "events": events}),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_dir, _sample, _video) = sample_video(&b.app, &token, "local.mp4").await?;
    let attempt = eventually(DEADLINE, "an attempt at the local name", || async {
        let log = deliveries(&b, &token, &local_id).await?;
        Ok(log
            .first()
            .and_then(|d| d["attempt_log"].as_array()?.first().cloned()))
    })
    .await?;
    assert_eq!(
        attempt["error"], "the URL points to a private or reserved address",
        "{attempt}"
    );

    // Plans without API access cannot register.
    let (_, free) = b
        .app
        .user(&format!("free-{}@example.com", Uuid::new_v4().simple()))
        .await?;
    let (status, body) = register(
        &b,
        &free,
        json!({"url": "https://example.com/h", "events": events}),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    Ok(())
}
