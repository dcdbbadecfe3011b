//! Billing end to end: the real API and worker (BillingWorkflow on the Temporal dev server,
//! PostgreSQL, the SMTP sink) against a local fake of Paddle's API and its signed webhooks.

use anyhow::Context;
use chrono::{Duration as Span, Utc};
use onevoice_shared::billing::{Catalog, DEFAULT_PLANS};
use onevoice_shared::ids::UserId;
use onevoice_shared::paddle::signature;
use onevoice_shared::repo::{billing, ledger};
use onevoice_tests::billing::{APPLY_DEADLINE, Billing, start};
use onevoice_tests::flows;
use onevoice_tests::harness::{TestApp, eventually};
use onevoice_tests::mail;
use onevoice_tests::paddle::{FakePaddle, WebhookSender};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn checkout_grants_the_plans_credits_once_however_often_paddle_delivers() -> anyhow::Result<()>
{
    let b = start(&[]).await?;
    let email = format!("buyer-{}@example.test", uuid::Uuid::new_v4().simple());
    let (user, token) = b.app.user(&email).await?;
    let start_balance = b.balance(user).await?;

    let (status, body) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token,
            Some(json!({"plan_id": "gold_forever"})),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let (status, checkout) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token,
            Some(json!({"plan_id": "pro_monthly", "payment_method_id": "pm_x"})),
        )
        .await?;
    assert_eq!(status, 201, "{checkout}");
    let txn_id = checkout["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(txn_id.starts_with("txn_"));
    assert_eq!(
        checkout["checkout_url"],
        format!("https://localhost/pay?_ptxn={txn_id}")
    );
    let customer = b
        .paddle
        .customer_by_email(&email)
        .expect("customer created at Paddle");
    assert_eq!(
        billing::customer_id(&b.app.state.db, user)
            .await?
            .as_deref(),
        customer["id"].as_str()
    );

    let (sub, txn) = b.paddle.pay_checkout(&txn_id)?;
    b.send_and_apply("subscription.created", &sub).await?;
    // The same notification three times, then the same transaction in another event.
    let (event_id, body) = WebhookSender::event("transaction.completed", &txn, Utc::now());
    let mut duplicates = Vec::new();
    for _ in 0..3 {
        let (status, ack) = b.hooks.deliver(&body).await?;
        assert_eq!(status, 200, "{ack}");
        duplicates.push(ack["duplicate"].as_bool());
    }
    assert_eq!(duplicates, [Some(false), Some(true), Some(true)]);
    assert!(b.applied(&event_id).await?.contains("2000 credits granted"));
    let again = b.send_and_apply("transaction.completed", &txn).await?;
    assert!(again.contains("no new credits"), "{again}");

    assert_eq!(b.balance(user).await?, start_balance + 2000);
    let grants: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credit_ledger WHERE idempotency_key = $1")
            .bind(format!("paddle:{txn_id}"))
            .fetch_one(&b.app.state.db)
            .await?;
    assert_eq!(grants, 1);

    let s = b.subscription(&token).await?;
    assert_eq!(
        (s["plan_id"].as_str(), s["status"].as_str()),
        (Some("pro_monthly"), Some("active"))
    );
    assert_eq!(s["credits_included"], 2000);
    let (_, same) = b
        .call(Method::GET, "/api/users/subscription", &token, None)
        .await?;
    assert_eq!(same, s, "the account page shows the same subscription");
    let (_, history) = b
        .call(Method::GET, "/api/billing/history", &token, None)
        .await?;
    assert_eq!(history["pagination"]["total"], 1, "{history}");
    assert_eq!(history["invoices"][0]["id"], txn_id.as_str());
    assert_eq!(history["invoices"][0]["amount"], 29.99);
    assert_eq!(history["invoices"][0]["status"], "completed");

    let (status, _) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token,
            Some(json!({"plan_id": "starter_monthly"})),
        )
        .await?;
    assert_eq!(status, 409, "a second subscription is refused");

    let mails = mail::wait_for(&mail::stack_maildir(), &email, 1).await?;
    assert!(
        mails.iter().any(|m| m.text.contains("2000")),
        "payment notice with the credits"
    );
    b.app.shutdown().await
}

#[tokio::test]
async fn an_older_snapshot_arriving_late_never_overwrites_newer_state() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, token) = b.app.user("late@example.test").await?;
    let (_, checkout) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token,
            Some(json!({"plan_id": "starter_monthly"})),
        )
        .await?;
    let (created, _) = b
        .paddle
        .pay_checkout(checkout["transaction_id"].as_str().unwrap_or_default())?;
    let mut updated = created.clone();
    updated["items"][0]["price"]["id"] = json!("pri_01onevoicepro00000000000000");
    let t0 = Utc::now() - Span::seconds(60);

    // `subscription.updated` (newer) is delivered before `subscription.created` (older).
    let newer = b
        .hooks
        .send("subscription.updated", &updated, t0 + Span::seconds(10))
        .await?;
    assert!(
        b.applied(&newer)
            .await?
            .starts_with("applied: new -> active")
    );
    let older = b.hooks.send("subscription.created", &created, t0).await?;
    assert!(b.applied(&older).await?.starts_with("stale"));

    let s = b.subscription(&token).await?;
    assert_eq!(s["plan_id"], "pro_monthly", "{s}");
    assert_eq!(s["credits_included"], 2000);
    b.app.shutdown().await
}

#[tokio::test]
async fn webhooks_are_verified_and_unknown_events_change_nothing() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let data = json!({"id": "sub_01forged", "status": "active", "customer_id": "ctm_01nobody", "items": []});
    let (_, body) = WebhookSender::event("subscription.created", &data, Utc::now());
    let now = Utc::now().timestamp();
    let good = signature::sign(&b.hooks.secret, now, body.as_bytes());
    let forged = signature::sign("pdl_ntfset_not_our_secret", now, body.as_bytes());
    let stale_ts = now - 60;
    let stale = signature::sign(&b.hooks.secret, stale_ts, body.as_bytes());
    for (header, why) in [
        (Some(format!("ts={now};h1={forged}")), "forged"),
        (Some(format!("ts={stale_ts};h1={stale}")), "stale"),
        (Some(format!("sha256={good}")), "the seed's scheme"),
        (Some("ts=abc;h1=zz".to_string()), "malformed"),
        (None, "missing"),
    ] {
        let (status, answer) = b.hooks.deliver_with(&body, header.as_deref()).await?;
        assert_eq!(status, 400, "{why}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("signature"),
            "{why}: {answer}"
        );
    }
    let (status, answer) = b.hooks.deliver("{\"event_id\": ").await?;
    assert_eq!(status, 400);
    assert!(
        answer["message"].as_str().unwrap_or("").contains("JSON"),
        "{answer}"
    );
    let (status, _) = b
        .hooks
        .deliver(r#"{"event_type":"subscription.created"}"#)
        .await?;
    assert_eq!(status, 400, "an event without id or time");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&b.app.state.db)
        .await?;
    assert_eq!(stored, 0, "nothing unverified or unparsable is stored");

    // During Paddle's secret rotation two h1 arrive; one valid is enough.
    let header = format!("ts={now};h1={forged};h1={good}");
    let (status, answer) = b.hooks.deliver_with(&body, Some(&header)).await?;
    assert_eq!(status, 200, "{answer}");

    for kind in ["address.created", "made.up.event"] {
        let (event_id, body) = WebhookSender::event(kind, &json!({"id": "add_01x"}), Utc::now());
        assert_eq!(b.hooks.deliver(&body).await?.0, 200);
        assert_eq!(b.hooks.deliver(&body).await?.1["duplicate"], true);
        assert_eq!(b.applied(&event_id).await?, "ignored");
    }
    let subscriptions: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions")
        .fetch_one(&b.app.state.db)
        .await?;
    assert_eq!(
        subscriptions, 0,
        "the unmatched and unknown events changed nothing"
    );
    b.app.shutdown().await?;

    // Without a configured secret nothing is accepted (never "unverified but fine").
    let paddle =
        FakePaddle::start(&Catalog::parse(DEFAULT_PLANS).map_err(anyhow::Error::msg)?).await?;
    let app = TestApp::spawn_with(&[
        ("PADDLE_API_URL", paddle.url.as_str()),
        ("PADDLE_WEBHOOK_SECRETS", ""),
    ])
    .await?;
    let (status, _) = WebhookSender::new(app.url("/api/webhooks/paddle"))
        .deliver(&body)
        .await?;
    assert_eq!(status, 503);
    app.shutdown().await
}

#[tokio::test]
async fn past_due_runs_a_grace_period_then_suspends_dubbing_until_payment() -> anyhow::Result<()> {
    // A two-second grace period, and a workflow that continues as new every three events.
    let b = start(&[
        ("BILLING_GRACE_PERIOD_SECS", "2"),
        ("BILLING_WORKFLOW_MAX_EVENTS", "3"),
    ])
    .await?;
    let email = format!("late-payer-{}@example.test", uuid::Uuid::new_v4().simple());
    let (user, token, sub_id) = b.subscriber(&email, "starter_monthly").await?;
    let (_dir, sample, video) = flows::sample_video(&b.app, &token, "clip.mp4").await?;
    let dub_body = json!({"target_language": "es", "source_language": "en", "source_transcript": sample.transcript});

    let (sub, txn) = b.paddle.renew(&sub_id, false)?;
    let failed = b.send_and_apply("transaction.payment_failed", &txn).await?;
    assert!(failed.contains("declined"), "{failed}");
    b.send_and_apply("subscription.past_due", &sub).await?;
    let s = b.subscription(&token).await?;
    assert_eq!(s["status"], "past_due");
    assert!(s["grace_period_ends_at"].is_string(), "{s}");

    // The timer in the workflow suspends once the grace period is over.
    let suspended = eventually(APPLY_DEADLINE, "the suspension", || async {
        let s = b.subscription(&token).await?;
        Ok((s["suspended"] == true).then_some(s))
    })
    .await?;
    assert_eq!(suspended["status"], "past_due");
    let (status, refused) = flows::dub(&b.app, &token, &video, dub_body.clone(), None).await?;
    assert_eq!(status, 402, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("suspended")
    );
    let before_payment = b.balance(user).await?;

    let (sub, txn) = b.paddle.renew(&sub_id, true)?;
    assert!(
        b.send_and_apply("transaction.completed", &txn)
            .await?
            .contains("suspension lifted")
    );
    b.send_and_apply("subscription.updated", &sub).await?;
    let s = b.subscription(&token).await?;
    assert_eq!(
        (s["status"].as_str(), s["suspended"].as_bool()),
        (Some("active"), Some(false)),
        "{s}"
    );
    assert_eq!(
        b.balance(user).await?,
        before_payment + 500,
        "the paid period's credits"
    );
    let (status, started) = flows::dub(&b.app, &token, &video, dub_body, None).await?;
    assert_eq!(status, 202, "{started}");

    // Payment failed, suspended and payment received notices went out.
    let mails = mail::wait_for(&mail::stack_maildir(), &email, 4).await?;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("결제에 실패")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("일시 중지")),
        "{subjects:?}"
    );

    // Six events through a workflow that continues as new every three: several runs, one id.
    let id = onevoice_shared::contracts::billing_workflow_id(user);
    eventually(
        APPLY_DEADLINE,
        "continue-as-new to show in visibility",
        || async { Ok((count_runs(&b.app, &id).await? >= 2).then_some(())) },
    )
    .await?;
    b.app.shutdown().await
}

/// Events that arrive out of order are applied oldest first, and a grace period that is running
/// when the workflow continues as new goes on in the new run: its deadline is carried and its
/// timer still suspends dubbing.
#[tokio::test]
async fn events_apply_oldest_first_and_the_grace_timer_survives_continue_as_new()
-> anyhow::Result<()> {
    use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions};
    let mut b = start(&[
        ("BILLING_GRACE_PERIOD_SECS", "3"),
        ("BILLING_WORKFLOW_MAX_EVENTS", "2"),
    ])
    .await?;
    let email = format!("ordered-{}@example.test", uuid::Uuid::new_v4().simple());
    let (user, token, sub_id) = b.subscriber(&email, "starter_monthly").await?;
    let active = b.paddle.subscription(&sub_id).context("at Paddle")?;
    let workflow = b.app.state.temporal.get_workflow_handle::<UntypedWorkflow>(
        onevoice_shared::contracts::billing_workflow_id(user),
    );
    let run_before = workflow
        .describe(WorkflowDescribeOptions::default())
        .await?
        .run_id()
        .to_string();

    // With no worker, three events wait in the workflow, delivered newest first.
    b.app.stop_worker().await?;
    let (past_due, failed_txn) = b.paddle.renew(&sub_id, false)?;
    let now = Utc::now();
    let newest = b
        .hooks
        .send("subscription.past_due", &past_due, now)
        .await?;
    let middle = b
        .hooks
        .send(
            "transaction.payment_failed",
            &failed_txn,
            now - Span::seconds(1),
        )
        .await?;
    let oldest = b
        .hooks
        .send("subscription.updated", &active, now - Span::seconds(2))
        .await?;
    b.app.start_worker().await?;
    b.applied(&newest).await?;
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT event_id FROM webhook_events WHERE event_id = ANY($1) ORDER BY processed_at",
    )
    .bind(vec![newest.clone(), middle.clone(), oldest.clone()])
    .fetch_all(&b.app.state.db)
    .await?;
    assert_eq!(order, [oldest, middle, newest], "applied oldest first");
    let s = b.subscription(&token).await?;
    assert_eq!(s["status"], "past_due", "{s}");
    let deadline = s["grace_period_ends_at"].clone();
    assert!(deadline.is_string(), "{s}");

    // The limit was reached with the grace period running: a new run carries the deadline...
    eventually(
        APPLY_DEADLINE,
        "the workflow to continue as new",
        || async {
            let run = workflow
                .describe(WorkflowDescribeOptions::default())
                .await?
                .run_id()
                .to_string();
            Ok((run != run_before).then_some(()))
        },
    )
    .await?;
    // ...and its timer ends the grace period.
    let suspended = eventually(APPLY_DEADLINE, "the suspension", || async {
        let s = b.subscription(&token).await?;
        Ok((s["suspended"] == true).then_some(s))
    })
    .await?;
    assert_eq!(suspended["grace_period_ends_at"], deadline);
    b.app.shutdown().await
}

async fn count_runs(app: &TestApp, workflow_id: &str) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let query = format!("WorkflowId = '{workflow_id}'");
    let runs: Vec<_> = app
        .state
        .temporal
        .list_workflows(query, Default::default())
        .collect()
        .await;
    Ok(runs.into_iter().filter(|r| r.is_ok()).count())
}

#[tokio::test]
async fn cancelling_takes_effect_at_the_end_of_the_period() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let email = format!("leaver-{}@example.test", uuid::Uuid::new_v4().simple());
    let (user, token, sub_id) = b.subscriber(&email, "starter_monthly").await?;
    let period_end = b.subscription(&token).await?["current_period_end"].clone();

    let (status, cancelled) = b
        .call(
            Method::POST,
            "/api/billing/subscription/cancel",
            &token,
            None,
        )
        .await?;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["effective_at"], period_end);
    // Paddle itself was asked to cancel at the period's end (not only our row).
    let asked = b
        .paddle
        .bodies(Method::POST, &format!("subscriptions/{sub_id}/cancel"));
    assert_eq!(asked, [json!({"effective_from": "next_billing_period"})]);
    assert_eq!(
        b.paddle.subscription(&sub_id).expect("at Paddle")["scheduled_change"]["action"],
        "cancel"
    );
    let s = b.subscription(&token).await?;
    assert_eq!(
        (s["status"].as_str(), s["cancel_at_period_end"].as_bool()),
        (Some("active"), Some(true))
    );

    let (status, resumed) = b
        .call(
            Method::POST,
            "/api/billing/subscription/resume",
            &token,
            None,
        )
        .await?;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["cancel_at_period_end"], false);
    assert_eq!(
        b.paddle
            .bodies(Method::PATCH, &format!("subscriptions/{sub_id}")),
        [json!({"scheduled_change": null})],
        "the scheduled cancel was withdrawn at Paddle"
    );
    assert!(b.paddle.subscription(&sub_id).expect("at Paddle")["scheduled_change"].is_null());
    let (status, _) = b
        .call(
            Method::POST,
            "/api/billing/subscription/resume",
            &token,
            None,
        )
        .await?;
    assert_eq!(status, 409, "nothing to resume");

    b.call(
        Method::POST,
        "/api/billing/subscription/cancel",
        &token,
        None,
    )
    .await?;
    let balance = b.balance(user).await?;
    let ended = b.paddle.end_subscription(&sub_id)?;
    b.send_and_apply("subscription.canceled", &ended).await?;
    let s = b.subscription(&token).await?;
    assert_eq!(s["status"], "cancelled", "{s}");
    assert_eq!(
        s["current_period_end"], period_end,
        "the last period stays visible"
    );
    assert_eq!(b.balance(user).await?, balance, "paid credits stay");
    let (status, _) = b
        .call(
            Method::POST,
            "/api/billing/subscription/cancel",
            &token,
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let mails = mail::wait_for(&mail::stack_maildir(), &email, 2).await?;
    assert!(mails.iter().any(|m| m.subject.contains("구독이 종료")));
    b.app.shutdown().await
}

#[tokio::test]
async fn a_plan_change_is_previewed_with_paddles_proration_then_applied() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, token, sub_id) = b
        .subscriber("upgrader@example.test", "starter_monthly")
        .await?;
    let path = "/api/billing/subscription/preview";
    let (status, preview) = b
        .call(
            Method::POST,
            path,
            &token,
            Some(json!({"plan_id": "pro_monthly"})),
        )
        .await?;
    assert_eq!(status, 200, "{preview}");
    let paddle = b.paddle.last_preview().expect("Paddle was asked");
    let minor = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 100.0
    };
    let summary = &paddle["update_summary"];
    assert_eq!(preview["action"], "charge");
    assert_eq!(
        preview["amount"]["amount"].as_f64(),
        Some(minor(&summary["result"]["amount"]))
    );
    assert_eq!(
        preview["credit"]["amount"].as_f64(),
        Some(minor(&summary["credit"]["amount"]))
    );
    assert_eq!(
        preview["charge"]["amount"].as_f64(),
        Some(minor(&summary["charge"]["amount"]))
    );
    assert!(
        preview["amount"]["amount"].as_f64().unwrap_or(0.0) > 19.0,
        "about a month of the difference: {preview}"
    );
    assert_eq!(preview["next_billing_amount"]["amount"], 29.99);
    assert_eq!(
        b.subscription(&token).await?["plan_id"],
        "starter_monthly",
        "a preview changes nothing"
    );

    assert_eq!(
        b.call(
            Method::POST,
            path,
            &token,
            Some(json!({"plan_id": "starter_monthly"}))
        )
        .await?
        .0,
        409
    );
    assert_eq!(
        b.call(Method::POST, path, &token, Some(json!({"plan_id": "nope"})))
            .await?
            .0,
        422
    );
    assert_eq!(
        b.call(Method::POST, path, &token, Some(json!({"plan": 1})))
            .await?
            .0,
        422
    );

    let (status, changed) = b
        .call(
            Method::PUT,
            "/api/billing/subscription",
            &token,
            Some(json!({"plan_id": "pro_monthly"})),
        )
        .await?;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["plan_id"].as_str(),
            changed["credits_included"].as_i64()
        ),
        (Some("pro_monthly"), Some(2000))
    );
    let at_paddle = b.paddle.subscription(&sub_id).expect("at Paddle");
    assert_eq!(
        at_paddle["items"][0]["price"]["id"],
        "pri_01onevoicepro00000000000000"
    );
    let changes: Vec<Value> = b
        .paddle
        .bodies(Method::PATCH, &format!("subscriptions/{sub_id}"))
        .into_iter()
        .filter(|body| body.get("items").is_some())
        .collect();
    assert_eq!(changes.len(), 2, "one preview, one change: {changes:?}");
    for body in &changes {
        assert_eq!(
            body["proration_billing_mode"], "prorated_immediately",
            "{body}"
        );
        assert_eq!(
            body["items"][0]["price_id"],
            "pri_01onevoicepro00000000000000"
        );
    }
    b.app.shutdown().await
}

#[tokio::test]
async fn paddle_failures_are_retried_only_where_a_repeat_is_harmless() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, token) = b.app.user("retry@example.test").await?;
    // A 429 on the customer lookup: waited out (Retry-After: 1) and retried.
    b.paddle.fail_next(Method::GET, "customers", 429, Some(1));
    let (status, body) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token,
            Some(json!({"plan_id": "pro_monthly"})),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(b.paddle.calls(Method::GET, "customers"), 2);
    let gaps = b.paddle.gaps(Method::GET, "customers");
    assert!(
        gaps[0] >= Duration::from_secs(1),
        "asked again only after Retry-After: {gaps:?}"
    );

    // A 500 while creating a checkout: not repeated (it could create a second transaction).
    let (_, token2) = b.app.user("retry2@example.test").await?;
    b.paddle.fail_next(Method::POST, "transactions", 500, None);
    let before = b.paddle.calls(Method::POST, "transactions");
    let (status, body) = b
        .call(
            Method::POST,
            "/api/billing/subscribe",
            &token2,
            Some(json!({"plan_id": "pro_monthly"})),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(b.paddle.calls(Method::POST, "transactions"), before + 1);

    // Paddle refusing our key is an upstream problem (502), and the key never leaks.
    b.paddle.fail_next(Method::POST, "customers/", 403, None);
    let (status, body) = b
        .call(Method::POST, "/api/billing/setup-intent", &token, None)
        .await?;
    assert_eq!(status, 502, "{body}");
    assert!(!body.to_string().contains("apikey"));

    // Paddle refusing a request for good: 409 in plain words, without Paddle's own text.
    b.paddle.fail_next(Method::POST, "customers/", 400, None);
    let (status, body) = b
        .call(Method::POST, "/api/billing/setup-intent", &token, None)
        .await?;
    assert_eq!(status, 409, "{body}");
    assert!(!body.to_string().contains("injected"), "{body}");
    b.app.shutdown().await
}

#[tokio::test]
async fn account_routes_act_on_the_callers_own_billing_only() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (_, token, sub_id) = b
        .subscriber("owner@example.test", "starter_monthly")
        .await?;
    let (_, other, _) = b
        .subscriber("other@example.test", "starter_monthly")
        .await?;

    let (status, plans) = b
        .call(Method::GET, "/api/billing/plans", &token, None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(plans.as_array().map(Vec::len), Some(3));
    let (status, _) = b
        .app
        .http
        .get(b.app.url("/api/billing/plans"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))?;
    assert!(status == 401 || status == 403, "billing needs a login");

    let (_, methods) = b
        .call(Method::GET, "/api/billing/payment-methods", &token, None)
        .await?;
    assert_eq!(methods.as_array().map(Vec::len), Some(1), "{methods}");
    assert_eq!(
        (methods[0]["brand"].as_str(), methods[0]["last4"].as_str()),
        (Some("visa"), Some("4242"))
    );
    assert_eq!(methods[0]["is_default"], true);
    let pm = methods[0]["id"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/billing/payment-methods/{pm}");
    assert_eq!(
        b.call(Method::DELETE, &path, &other, None).await?.0,
        404,
        "not someone else's"
    );
    assert_eq!(
        b.call(
            Method::DELETE,
            "/api/billing/payment-methods/x;drop",
            &token,
            None
        )
        .await?
        .0,
        422
    );
    assert_eq!(b.call(Method::DELETE, &path, &token, None).await?.0, 200);
    let (_, methods) = b
        .call(Method::GET, "/api/billing/payment-methods", &token, None)
        .await?;
    assert_eq!(methods, json!([]));

    let (_, intent) = b
        .call(Method::POST, "/api/billing/setup-intent", &token, None)
        .await?;
    assert!(
        intent["client_secret"]
            .as_str()
            .unwrap_or("")
            .starts_with("pca_"),
        "{intent}"
    );
    let (_, portal) = b
        .call(Method::POST, "/api/billing/portal", &token, None)
        .await?;
    assert!(
        portal["url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://customer-portal.paddle.com/")
    );
    let (_, update) = b
        .call(Method::PUT, "/api/billing/payment-method", &token, None)
        .await?;
    assert!(
        update["checkout_url"]
            .as_str()
            .unwrap_or("")
            .contains("_ptxn=txn_"),
        "{update}"
    );
    let (status, upcoming) = b
        .call(Method::GET, "/api/billing/upcoming-invoice", &token, None)
        .await?;
    assert_eq!(status, 200, "{upcoming}");
    assert_eq!(
        (upcoming["amount"].as_f64(), upcoming["currency"].as_str()),
        (Some(9.99), Some("USD"))
    );

    for _ in 0..2 {
        let (sub, txn) = b.paddle.renew(&sub_id, true)?;
        b.send_and_apply("transaction.completed", &txn).await?;
        b.send_and_apply("subscription.updated", &sub).await?;
    }
    let (_, page1) = b
        .call(
            Method::GET,
            "/api/billing/history?page=1&per_page=2",
            &token,
            None,
        )
        .await?;
    assert_eq!(page1["invoices"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        (
            page1["pagination"]["total"].as_i64(),
            page1["pagination"]["pages"].as_i64()
        ),
        (Some(3), Some(2))
    );
    let (_, page2) = b
        .call(
            Method::GET,
            "/api/billing/history?page=2&per_page=2",
            &token,
            None,
        )
        .await?;
    assert_eq!(page2["invoices"].as_array().map(Vec::len), Some(1));
    assert_ne!(page1["invoices"][0]["id"], page2["invoices"][0]["id"]);
    let (_, legacy) = b
        .call(Method::GET, "/api/billing/history?perPage=1", &token, None)
        .await?;
    assert_eq!(legacy["pagination"]["pages"], 3, "the seed's perPage works");
    assert_eq!(
        b.call(Method::GET, "/api/billing/history?per_page=0", &token, None)
            .await?
            .0,
        422
    );
    let (_, theirs) = b
        .call(Method::GET, "/api/billing/history", &other, None)
        .await?;
    assert_eq!(theirs["pagination"]["total"], 1, "only their own payments");

    let (_, usage) = b
        .call(Method::GET, "/api/billing/usage", &token, None)
        .await?;
    assert_eq!(
        (
            usage["current_period_usage"].as_i64(),
            usage["included_credits"].as_i64()
        ),
        (Some(0), Some(500))
    );
    assert_eq!(usage["overage_credits"], 0);
    b.app.shutdown().await
}

/// Attack: a stranger opens a Paddle checkout of their own (Paddle.js takes `custom_data` from
/// the page) naming somebody else's user id. Unsigned, it matches nobody and adopts no
/// customer; the custom data OneVoice signs at checkout is what matches an event with no known
/// customer or subscription.
#[tokio::test]
async fn only_custom_data_we_signed_matches_a_payment_to_a_user() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (user, token) = b.app.user("paddlejs@example.test").await?;
    let sub = |id: &str, customer: &str, custom: Value| {
        json!({
            "id": id, "status": "active", "customer_id": customer, "custom_data": custom,
            "current_billing_period": {"starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
            "items": [{"quantity": 1, "price": {"id": "pri_01onevoicestarter000000000"}}],
        })
    };
    let forged = sub(
        "sub_01strangers",
        "ctm_01stranger",
        json!({"user_id": user.to_string()}),
    );
    let id = b
        .hooks
        .send("subscription.created", &forged, Utc::now())
        .await?;
    let outcome = b.applied(&id).await?;
    assert!(outcome.starts_with("unmatched"), "{outcome}");
    assert_eq!(billing::customer_id(&b.app.state.db, user).await?, None);
    let (status, _) = b
        .call(Method::GET, "/api/billing/subscription", &token, None)
        .await?;
    assert_eq!(status, 404, "the stranger's subscription is not the user's");

    // What OneVoice's own checkout carries (see `POST /api/billing/subscribe`).
    let key = b.app.state.settings.jwt_secret.expose().as_bytes().to_vec();
    let ours = sub(
        "sub_01frompaddlejs",
        "ctm_01frompaddlejs",
        onevoice_shared::paddle::custom_data::for_user(&key, user),
    );
    assert!(
        b.send_and_apply("subscription.created", &ours)
            .await?
            .starts_with("applied")
    );
    assert_eq!(b.subscription(&token).await?["plan_id"], "starter_monthly");
    assert_eq!(
        billing::customer_id(&b.app.state.db, user)
            .await?
            .as_deref(),
        Some("ctm_01frompaddlejs"),
        "later events find the user by customer"
    );
    b.app.shutdown().await
}

/// A completed transaction as Paddle sends it for `sub`: `origin`, one plan price, the amount
/// charged (minor units) and the period it pays for.
fn transaction(
    sub: &Value,
    id: &str,
    origin: &str,
    price: &str,
    total: i64,
    period: &Value,
) -> Value {
    json!({
        "id": id, "status": "completed", "origin": origin,
        "customer_id": sub["customer_id"].clone(), "subscription_id": sub["id"].clone(),
        "currency_code": "USD", "collection_mode": "automatic", "custom_data": sub["custom_data"].clone(),
        "billing_period": period, "billed_at": Utc::now().to_rfc3339(),
        "items": [{"price": {"id": price}, "quantity": 1, "proration": null}],
        "details": {"totals": {"subtotal": total.to_string(), "tax": "0", "total": total.to_string(),
                               "grand_total": total.to_string(), "currency_code": "USD"}},
        "payments": [],
    })
}

/// Attack: collect credits from transactions that paid for none. A payment-method change
/// (nothing charged) grants nothing; an upgrade inside a period grants the difference between
/// the plans once per period, however often the plan goes down and up again; a renewal grants
/// the new period's credits.
#[tokio::test]
async fn transactions_grant_exactly_what_was_paid() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (user, token, sub_id) = b
        .subscriber("payer@example.test", "starter_monthly")
        .await?;
    let after_checkout = b.balance(user).await?;
    let sub = b.paddle.subscription(&sub_id).context("subscription")?;
    let period = sub["current_billing_period"].clone();
    const STARTER: &str = "pri_01onevoicestarter000000000";
    const PRO: &str = "pri_01onevoicepro00000000000000";

    let change = transaction(
        &sub,
        "txn_01paymentmethodchange",
        "subscription_payment_method_change",
        STARTER,
        0,
        &period,
    );
    let outcome = b.send_and_apply("transaction.completed", &change).await?;
    assert!(outcome.contains("no credits"), "{outcome}");
    assert_eq!(
        b.balance(user).await?,
        after_checkout,
        "a card change is not a purchase"
    );

    // Upgrade: Paddle charges the prorated difference for the rest of the period.
    let (status, _) = b
        .call(
            Method::PUT,
            "/api/billing/subscription",
            &token,
            Some(json!({"plan_id": "pro_monthly"})),
        )
        .await?;
    assert_eq!(status, 200);
    let rest = json!({"starts_at": Utc::now().to_rfc3339(), "ends_at": period["ends_at"].clone()});
    let upgrade = transaction(
        &sub,
        "txn_01upgradeproration",
        "subscription_update",
        PRO,
        1_300,
        &rest,
    );
    b.send_and_apply("transaction.completed", &upgrade).await?;
    assert_eq!(
        b.balance(user).await?,
        after_checkout + 1_500,
        "an upgrade grants Pro's 2000 less Starter's 500 already granted for the period"
    );
    // Down and up again inside the same period: the period's Pro credits were granted already.
    let again = transaction(
        &sub,
        "txn_01upgradeagain",
        "subscription_update",
        PRO,
        1_200,
        &rest,
    );
    let outcome = b.send_and_apply("transaction.completed", &again).await?;
    assert!(outcome.contains("no new credits"), "{outcome}");
    assert_eq!(b.balance(user).await?, after_checkout + 1_500);

    // The next period is paid in full.
    let (_, renewal) = b.paddle.renew(&sub_id, true)?;
    b.send_and_apply("transaction.completed", &renewal).await?;
    let plan_now = if renewal["items"][0]["price"]["id"] == PRO {
        2_000
    } else {
        500
    };
    assert_eq!(b.balance(user).await?, after_checkout + 1_500 + plan_now);
    b.app.shutdown().await
}

/// A Paddle adjustment of `txn` as its webhooks carry it.
fn adjustment(id: &str, action: &str, status: &str, txn: &Value, total: i64) -> Value {
    json!({
        "id": id, "action": action, "status": status, "type": "partial",
        "transaction_id": txn["id"].clone(), "subscription_id": txn["subscription_id"].clone(),
        "customer_id": txn["customer_id"].clone(), "reason": "requested by customer",
        "currency_code": "USD", "credit_applied_to_balance": null,
        "items": [], "totals": {"subtotal": total.to_string(), "tax": "0", "total": total.to_string(),
                                "fee": "0", "earnings": total.to_string(), "currency_code": "USD"},
        "created_at": Utc::now().to_rfc3339(), "updated_at": Utc::now().to_rfc3339(),
    })
}

/// Attack: buy credits, spend them, get the money back. An approved refund takes back the
/// refunded share of what its payment granted, once per adjustment however often it is
/// delivered; a chargeback takes back the rest and suspends dubbing; a balance that went
/// negative refuses dubs with 402 and says why.
#[tokio::test]
async fn refunds_and_chargebacks_take_back_what_their_payment_granted() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let (user, token) = b.app.user("refunder@example.test").await?;
    let (_, txn) = b.subscribe_and_pay(&token, "pro_monthly").await?;
    let paid_up = b.balance(user).await?;

    // Half of the $29.99 refunded: waiting for approval changes nothing, approval takes back
    // 2000 × 1500 / 2999 = 1000 credits, once.
    let refund = adjustment(
        "adj_01refundhalf",
        "refund",
        "pending_approval",
        &txn,
        1_500,
    );
    let outcome = b.send_and_apply("adjustment.created", &refund).await?;
    assert!(outcome.contains("until it is approved"), "{outcome}");
    assert_eq!(b.balance(user).await?, paid_up);
    let approved = adjustment("adj_01refundhalf", "refund", "approved", &txn, 1_500);
    for _ in 0..2 {
        b.send_and_apply("adjustment.updated", &approved).await?;
    }
    assert_eq!(b.balance(user).await?, paid_up - 1_000);

    // The buyer spends most of what is left, then charges the payment back: the other 1000 go,
    // the balance turns negative, and dubbing stops.
    ledger::append(
        &b.app.state.db,
        ledger::Entry {
            user,
            job: None,
            video: None,
            kind: ledger::Kind::Capture,
            amount: -1_050,
            key: "test:spent",
            description: "credits spent on dubs",
        },
    )
    .await?;
    let chargeback = adjustment("adj_01chargeback", "chargeback", "approved", &txn, 2_999);
    b.send_and_apply("adjustment.created", &chargeback).await?;
    assert_eq!(b.balance(user).await?, paid_up - 2_000 - 1_050);
    assert!(b.balance(user).await? < 0);
    let dir = tempfile::tempdir()?;
    let sample = onevoice_tests::sample::make(dir.path()).await?;
    let video = flows::ready_video(
        &b.app,
        &token,
        "after.mp4",
        tokio::fs::read(&sample.video).await?,
    )
    .await?;
    let request = json!({"target_language": "es", "source_language": "en",
                         "source_transcript": sample.transcript});
    let (status, body) = flows::dub(&b.app, &token, &video, request.clone(), None).await?;
    assert_eq!(status, 402, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("charged back"),
        "{body}"
    );
    // Reversed: the dispute closes, and the negative balance still refuses, saying so.
    let reversed = adjustment(
        "adj_01reverse",
        "chargeback_reverse",
        "approved",
        &txn,
        2_999,
    );
    b.send_and_apply("adjustment.created", &reversed).await?;
    let (status, body) = flows::dub(&b.app, &token, &video, request, None).await?;
    assert_eq!(status, 402, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("negative"),
        "{body}"
    );
    assert!(
        body["details"]["available"].as_i64().unwrap_or(0) < 0,
        "{body}"
    );
    b.app.shutdown().await
}

/// Signs up through the API (verification email and all); returns (user, access token).
async fn signed_up(b: &Billing, email: &str, password: &str) -> anyhow::Result<(UserId, String)> {
    let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let address = onevoice_shared::repo::users::normalize_email(email);
    let before = mail::messages_to(&mail::stack_maildir(), &address)?.len();
    let res = b
        .app
        .http
        .post(b.app.url("/api/auth/signup"))
        .json(&json!({"email": email, "password": password, "username": username, "locale": "en"}))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 202, "signup answered {}", res.status());
    let msgs = mail::wait_for(&mail::stack_maildir(), &address, before + 1).await?;
    let token = msgs
        .iter()
        .filter(|m| m.text.contains(&username))
        .find_map(|m| mail::token_from(&m.text))
        .context("no verification link")?;
    let res = b
        .app
        .http
        .post(b.app.url("/api/auth/verify-email"))
        .json(&json!(token))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "verify answered {}", res.status());
    let auth: Value = res.json().await?;
    let user: uuid::Uuid = auth["user"]["id"].as_str().context("id")?.parse()?;
    Ok((
        UserId(user),
        auth["access_token"].as_str().context("token")?.to_string(),
    ))
}

/// Attack: take the welcome credits again by deleting the account and signing up anew, and
/// leave a subscription billing an account that is gone. Deleting cancels the subscription at
/// Paddle at once; what outlives the account (an HMAC of the address and the customer) keeps
/// later payments attributed and listed for operators, and the address gets no second grant.
#[tokio::test]
async fn an_erased_account_stops_paying_and_keeps_what_money_needs() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let email = format!("leaver-{}@example.test", uuid::Uuid::new_v4().simple());
    let (user, token) = signed_up(&b, &email, "leavers-passw0rd").await?;
    let welcome = b.balance(user).await?;
    assert!(welcome > 0, "the first account gets the welcome credits");
    let (sub, _) = b.subscribe_and_pay(&token, "starter_monthly").await?;
    let sub_id = sub["id"].as_str().context("sub")?;

    let (status, body) = b
        .call(
            Method::POST,
            "/api/users/delete-account",
            &token,
            Some(json!({"password": "leavers-passw0rd"})),
        )
        .await?;
    assert_eq!(status, 202, "{body}");
    let at_paddle = b.paddle.subscription(sub_id).context("at Paddle")?;
    assert_eq!(
        at_paddle["status"], "canceled",
        "cancelled at once: {at_paddle}"
    );
    eventually(
        Duration::from_secs(60),
        "the account to be erased",
        || async {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
                .bind(user)
                .fetch_one(&b.app.state.db)
                .await?;
            Ok((left == 0).then_some(()))
        },
    )
    .await?;

    // A payment arriving later still says whose it was, and operators see it.
    let (_, late) = b.paddle.renew(sub_id, true)?;
    let id = b
        .hooks
        .send("transaction.completed", &late, Utc::now())
        .await?;
    let outcome = b.applied(&id).await?;
    assert!(outcome.contains("erased"), "{outcome}");
    let listed = b.app.command(&["unmatched-payments"]).await?;
    assert!(
        listed.contains(late["id"].as_str().context("txn id")?),
        "{listed}"
    );

    // The same address (written differently) signs up again: no second welcome grant.
    let (again, _) = signed_up(
        &b,
        &format!("  {}  ", email.to_uppercase()),
        "another-passw0rd",
    )
    .await?;
    assert_ne!(again, user);
    assert_eq!(
        b.balance(again).await?,
        0,
        "the welcome credits go once per address"
    );
    b.app.shutdown().await
}

/// The migration that labels paid periods leaves every ledger entry made before it as it was
/// (kind, amount, key), and counts an old grant toward its period, so an upgrade after the
/// migration still grants only the difference.
#[tokio::test]
async fn existing_grants_survive_the_payments_migration_untouched() -> anyhow::Result<()> {
    use sqlx::Connection;
    let settings = onevoice_tests::harness::settings_with(&[])?;
    let mut url = url::Url::parse(settings.database.url.expose())?;
    let name = format!("onevoice_migration_{}", uuid::Uuid::new_v4().simple());
    url.set_path("/postgres");
    let mut admin = sqlx::PgConnection::connect(url.as_str()).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    url.set_path(&format!("/{name}"));
    let db = sqlx::PgPool::connect(url.as_str()).await?;

    // The schema as it was before: the migrations up to the one under test.
    let before = tempfile::tempdir()?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    files.sort_by_key(|f| f.file_name());
    for f in files {
        let file = f.file_name();
        if file.to_string_lossy().as_ref() < "20261204000007" {
            std::fs::copy(f.path(), before.path().join(&file))?;
        }
    }
    sqlx::migrate::Migrator::new(before.path())
        .await?
        .run(&db)
        .await?;
    let user: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, username, password_hash, is_verified) VALUES ('old@example.test', 'old', '!', true) RETURNING id",
    )
    .fetch_one(&db)
    .await?;
    sqlx::query(
        "INSERT INTO billing_history (user_id, paddle_transaction_id, paddle_subscription_id, amount, currency,
             status, payment_type, period_start, period_end, paid_at)
         VALUES ($1, 'txn_01old', 'sub_01old', 9.99, 'USD', 'completed', 'subscription',
                 '2026-11-01T00:00:00.635Z', '2026-12-01T00:00:00.635Z', now())",
    )
    .bind(user)
    .execute(&db)
    .await?;
    for (kind, amount, key) in [
        ("grant", 100_i64, format!("signup:{user}")),
        ("grant", 500, "paddle:txn_01old".to_string()),
        ("reserve", -10, "job:x:r0:reserve".to_string()),
        ("release", 10, "job:x:r0:release".to_string()),
        ("capture", -10, "job:x:capture".to_string()),
    ] {
        sqlx::query(
            "INSERT INTO credit_ledger (user_id, kind, amount, idempotency_key) VALUES ($1, $2, $3, $4)",
        )
        .bind(user)
        .bind(kind)
        .bind(amount)
        .bind(key)
        .execute(&db)
        .await?;
    }
    let rows = |db: sqlx::PgPool| async move {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT idempotency_key, kind, amount FROM credit_ledger ORDER BY idempotency_key",
        )
        .fetch_all(&db)
        .await
    };
    let old = rows(db.clone()).await?;

    onevoice_shared::db::migrate(&db).await?;
    assert_eq!(rows(db.clone()).await?, old, "no entry changed");
    let period = ledger::PaidPeriod {
        subscription: "sub_01old",
        ends_at: "2026-12-01T00:00:00.635Z".parse()?,
    };
    assert_eq!(
        ledger::granted_for_period(&db, UserId(user), period).await?,
        500,
        "the old grant counts for its period"
    );
    db.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// Attack: a huge body at the webhook route. Paddle's notifications are a few KB; one over
/// 256 KiB is refused with 413 in the error envelope, even correctly signed, and nothing is
/// stored.
#[tokio::test]
async fn an_oversized_webhook_is_refused_and_not_stored() -> anyhow::Result<()> {
    let b = start(&[]).await?;
    let padding = "x".repeat(300 * 1024);
    let data = json!({"id": "sub_01huge", "status": "active", "customer_id": "ctm_01huge",
                      "items": [], "custom_data": {"padding": padding}});
    let (_, body) = WebhookSender::event("subscription.created", &data, Utc::now());
    assert!(
        body.len() > 256 * 1024 && body.len() < 1024 * 1024,
        "under the app-wide limit"
    );
    let (status, answer) = b.hooks.deliver(&body).await?;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"], "HTTP_413", "{answer}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&b.app.state.db)
        .await?;
    assert_eq!(stored, 0);
    b.app.shutdown().await
}
