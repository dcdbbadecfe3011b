//! Billing fixtures: the app against a local fake of Paddle, and subscribers who paid through the
//! real checkout and webhook flow.

use crate::harness::{TestApp, eventually};
use crate::paddle::{FakePaddle, WebhookSender};
use chrono::Utc;
use onevoice_shared::billing::{Catalog, DEFAULT_PLANS};
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::{billing, ledger};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

pub const APPLY_DEADLINE: Duration = Duration::from_secs(30);

/// The real API and worker against a local fake of Paddle, with a sender of its signed webhooks.
pub struct Billing {
    pub app: TestApp,
    pub paddle: FakePaddle,
    pub hooks: WebhookSender,
}

/// Starts the app with the fake's settings and `extra` ones.
pub async fn start(extra: &[(&str, &str)]) -> anyhow::Result<Billing> {
    let paddle =
        FakePaddle::start(&Catalog::parse(DEFAULT_PLANS).map_err(anyhow::Error::msg)?).await?;
    let mut settings = paddle.settings();
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let app = TestApp::spawn_with(&settings).await?;
    let hooks = WebhookSender::new(app.url("/api/webhooks/paddle"));
    Ok(Billing { app, paddle, hooks })
}

impl Billing {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// Waits until the worker applied the event; returns how.
    pub async fn applied(&self, event_id: &str) -> anyhow::Result<String> {
        eventually(
            APPLY_DEADLINE,
            &format!("event {event_id} to be applied"),
            || async { Ok(billing::event_outcome(&self.app.state.db, event_id).await?) },
        )
        .await
    }

    pub async fn send_and_apply(&self, event_type: &str, data: &Value) -> anyhow::Result<String> {
        let id = self.hooks.send(event_type, data, Utc::now()).await?;
        self.applied(&id).await
    }

    /// A user who subscribed to `plan` and paid; returns (user, token, subscription id).
    pub async fn subscriber(
        &self,
        email: &str,
        plan: &str,
    ) -> anyhow::Result<(UserId, String, String)> {
        let (user, token) = self.app.user(email).await?;
        let (sub, _) = self.subscribe_and_pay(&token, plan).await?;
        Ok((
            user,
            token,
            sub["id"].as_str().unwrap_or_default().to_string(),
        ))
    }

    /// The caller subscribes to `plan` through the API and pays the checkout at Paddle; the
    /// webhooks are applied. Returns (subscription, transaction) as Paddle sent them.
    pub async fn subscribe_and_pay(
        &self,
        token: &str,
        plan: &str,
    ) -> anyhow::Result<(Value, Value)> {
        let (status, checkout) = self
            .call(
                Method::POST,
                "/api/billing/subscribe",
                token,
                Some(json!({"plan_id": plan})),
            )
            .await?;
        anyhow::ensure!(status == 201, "subscribe: {status} {checkout}");
        let (sub, txn) = self
            .paddle
            .pay_checkout(checkout["transaction_id"].as_str().unwrap_or_default())?;
        self.send_and_apply("subscription.created", &sub).await?;
        self.send_and_apply("transaction.completed", &txn).await?;
        Ok((sub, txn))
    }

    pub async fn subscription(&self, token: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .call(Method::GET, "/api/billing/subscription", token, None)
            .await?;
        anyhow::ensure!(status == 200, "subscription: {status} {body}");
        Ok(body)
    }

    pub async fn balance(&self, user: UserId) -> anyhow::Result<i64> {
        Ok(ledger::balance(&self.app.state.db, user).await?)
    }
}
