//! A local stand-in for Paddle Billing, speaking its documented wire format
//! (provider-contracts.md §5): the API (`{data, meta}` answers, the error envelope, 429 with
//! `Retry-After`, bearer keys) and the webhook sender (`Paddle-Signature: ts=…;h1=…` over
//! `ts:raw body`, duplicates and out-of-order delivery on demand).
//!
//! Tests play the customer's side with the helpers: paying a checkout, a renewal that fails or
//! succeeds. Paddle's own state changes as it would, and the matching events come back as JSON
//! entities for the webhook sender.

use crate::served::{Served, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use onevoice_shared::billing::Catalog;
use onevoice_shared::paddle::signature;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "pdl_sdbx_apikey_01fakefakefakefakefakefake_TestOnly";
pub const WEBHOOK_SECRET: &str = "pdl_ntfset_01hfakefakefakefakefakefake_TestOnlySecret0000";

/// A failure to answer the next matching request with.
#[derive(Clone, Debug)]
struct Fault {
    method: Method,
    path_prefix: String,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    prices: HashMap<String, i64>,
    customers: Vec<Value>,
    transactions: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    payment_methods: HashMap<String, Vec<Value>>,
    faults: VecDeque<Fault>,
    /// Every request: method, path and when it arrived.
    calls: Vec<(Method, String, std::time::Instant)>,
    /// Every JSON body received, with its method and path.
    bodies: Vec<(Method, String, Value)>,
    last_preview: Option<Value>,
    seq: u64,
}

impl Inner {
    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_01fake{:020}", self.seq)
    }
}

#[derive(Clone)]
pub struct FakePaddle {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: Served,
}

fn data(status: StatusCode, entity: Value) -> Response {
    (
        status,
        axum::Json(json!({ "data": entity, "meta": { "request_id": uuid::Uuid::new_v4() } })),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": { "type": "request_error", "code": code, "detail": detail,
                       "documentation_url": format!("https://developer.paddle.com/v1/errors/shared/{code}") },
            "meta": { "request_id": uuid::Uuid::new_v4() }
        })),
    )
        .into_response()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl FakePaddle {
    /// Starts the fake with the prices of `catalog` (amounts in minor units).
    pub async fn start(catalog: &Catalog) -> anyhow::Result<Self> {
        let mut inner = Inner::default();
        for plan in catalog.plans() {
            inner.prices.insert(
                plan.paddle_price_id.clone(),
                (plan.price * 100.0).round() as i64,
            );
        }
        let inner = Arc::new(Mutex::new(inner));
        let server = serve(Router::new().fallback(handle).with_state(inner.clone())).await?;
        Ok(Self {
            url: server.url.clone(),
            inner,
            _server: server,
        })
    }

    /// The settings that point OneVoice at this fake.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PADDLE_API_URL", self.url.clone()),
            ("PADDLE_API_KEY", API_KEY.to_string()),
            ("PADDLE_WEBHOOK_SECRETS", WEBHOOK_SECRET.to_string()),
        ]
    }

    /// The next request matching `method` and `path_prefix` fails with `status`.
    pub fn fail_next(
        &self,
        method: Method,
        path_prefix: &str,
        status: u16,
        retry_after: Option<u64>,
    ) {
        self.inner.lock().unwrap().faults.push_back(Fault {
            method,
            path_prefix: path_prefix.to_string(),
            status,
            retry_after,
        });
    }

    /// How many requests matching `method` and `path_prefix` arrived.
    pub fn calls(&self, method: Method, path_prefix: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, p, _)| *m == method && p.starts_with(path_prefix))
            .count()
    }

    /// The time between consecutive requests matching `method` and `path_prefix`.
    pub fn gaps(&self, method: Method, path_prefix: &str) -> Vec<std::time::Duration> {
        let inner = self.inner.lock().unwrap();
        let times: Vec<std::time::Instant> = inner
            .calls
            .iter()
            .filter(|(m, p, _)| *m == method && p.starts_with(path_prefix))
            .map(|(_, _, at)| *at)
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The JSON bodies of the requests matching `method` and `path_prefix`, oldest first.
    pub fn bodies(&self, method: Method, path_prefix: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .bodies
            .iter()
            .filter(|(m, p, _)| *m == method && p.starts_with(path_prefix))
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    pub fn customer_by_email(&self, email: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .customers
            .iter()
            .find(|c| c["email"] == email)
            .cloned()
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.inner.lock().unwrap().subscriptions.get(id).cloned()
    }

    pub fn last_preview(&self) -> Option<Value> {
        self.inner.lock().unwrap().last_preview.clone()
    }

    /// The customer pays the checkout: Paddle completes the transaction, saves the card and
    /// creates the subscription. Returns (subscription, transaction) as webhooks carry them.
    pub fn pay_checkout(&self, txn_id: &str) -> anyhow::Result<(Value, Value)> {
        let mut inner = self.inner.lock().unwrap();
        let mut txn = inner
            .transactions
            .get(txn_id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no transaction {txn_id}"))?;
        let customer = txn["customer_id"].as_str().unwrap_or_default().to_string();
        let price_id = txn["items"][0]["price"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let amount = inner.prices.get(&price_id).copied().unwrap_or(0);
        let now = Utc::now();
        let (start, end) = (now, now + Duration::days(30));
        let sub_id = inner.id("sub");
        let sub = json!({
            "id": sub_id, "status": "active", "customer_id": customer, "currency_code": "USD",
            "created_at": ts(now), "updated_at": ts(now), "started_at": ts(start),
            "first_billed_at": ts(start), "next_billed_at": ts(end), "paused_at": null, "canceled_at": null,
            "collection_mode": "automatic", "billing_cycle": {"interval": "month", "frequency": 1},
            "current_billing_period": {"starts_at": ts(start), "ends_at": ts(end)},
            "scheduled_change": null, "custom_data": txn["custom_data"].clone(), "transaction_id": txn_id,
            "management_urls": {"update_payment_method": null, "cancel": "https://localhost/cancel"},
            "items": [price_item(&price_id, amount)],
        });
        txn["status"] = json!("completed");
        txn["subscription_id"] = json!(sub_id);
        txn["billing_period"] = json!({"starts_at": ts(start), "ends_at": ts(end)});
        txn["billed_at"] = json!(ts(now));
        txn["updated_at"] = json!(ts(now));
        txn["invoice_number"] = json!(format!("325-{:05}", inner.seq));
        txn["details"] = totals(amount);
        txn["payments"] = json!([{ "amount": amount.to_string(), "status": "captured", "error_code": null,
            "created_at": ts(now), "captured_at": ts(now), "method_details": {"type": "card", "card": {"type": "visa", "last4": "4242"}} }]);
        inner.transactions.insert(txn_id.to_string(), txn.clone());
        inner.subscriptions.insert(sub_id.clone(), sub.clone());
        let pm = inner.id("paymtd");
        inner
            .payment_methods
            .entry(customer)
            .or_default()
            .push(json!({
                "id": pm, "type": "card", "saved_at": ts(now),
                "card": {"type": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
            }));
        Ok((sub, txn))
    }

    /// A renewal charge of the subscription: paid (`completed`) or declined (the subscription
    /// turns `past_due`). Returns (subscription, transaction).
    pub fn renew(&self, sub_id: &str, paid: bool) -> anyhow::Result<(Value, Value)> {
        let mut inner = self.inner.lock().unwrap();
        let mut sub = inner
            .subscriptions
            .get(sub_id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no subscription {sub_id}"))?;
        let price_id = sub["items"][0]["price"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let amount = inner.prices.get(&price_id).copied().unwrap_or(0);
        let now = Utc::now();
        // The next period begins where the current one ends.
        let start = sub["current_billing_period"]["ends_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let end = start + Duration::days(30);
        let txn_id = inner.id("txn");
        let txn = json!({
            "id": txn_id, "status": if paid { "completed" } else { "past_due" },
            "origin": "subscription_recurring", "customer_id": sub["customer_id"].clone(),
            "subscription_id": sub_id, "currency_code": "USD", "collection_mode": "automatic",
            "custom_data": sub["custom_data"].clone(), "invoice_id": inner.id("inv"),
            "billing_period": {"starts_at": ts(start), "ends_at": ts(end)},
            "created_at": ts(now), "updated_at": ts(now), "billed_at": ts(now),
            "items": [{"price": {"id": price_id}, "quantity": 1, "proration": null}],
            "details": totals(amount),
            "payments": [{ "amount": amount.to_string(), "status": if paid { "captured" } else { "error" },
                "error_code": if paid { Value::Null } else { json!("declined") }, "created_at": ts(now) }],
        });
        sub["status"] = json!(if paid { "active" } else { "past_due" });
        sub["updated_at"] = json!(ts(now));
        if paid {
            sub["current_billing_period"] = json!({"starts_at": ts(start), "ends_at": ts(end)});
            sub["next_billed_at"] = json!(ts(end));
        }
        inner.transactions.insert(txn_id, txn.clone());
        inner.subscriptions.insert(sub_id.to_string(), sub.clone());
        Ok((sub, txn))
    }

    /// The scheduled cancellation takes effect (Paddle does this at the period's end).
    pub fn end_subscription(&self, sub_id: &str) -> anyhow::Result<Value> {
        let mut inner = self.inner.lock().unwrap();
        let sub = inner
            .subscriptions
            .get_mut(sub_id)
            .ok_or_else(|| anyhow::anyhow!("no subscription {sub_id}"))?;
        let now = Utc::now();
        sub["status"] = json!("canceled");
        sub["canceled_at"] = json!(ts(now));
        sub["updated_at"] = json!(ts(now));
        sub["scheduled_change"] = Value::Null;
        sub["current_billing_period"] = Value::Null;
        sub["next_billed_at"] = Value::Null;
        Ok(sub.clone())
    }
}

fn price_item(price_id: &str, amount: i64) -> Value {
    json!({
        "status": "active", "quantity": 1, "recurring": true,
        "price": { "id": price_id, "product_id": "pro_01fakeproduct", "name": price_id,
                   "unit_price": {"amount": amount.to_string(), "currency_code": "USD"},
                   "billing_cycle": {"interval": "month", "frequency": 1} },
    })
}

fn totals(amount: i64) -> Value {
    json!({ "totals": { "subtotal": amount.to_string(), "discount": "0", "tax": "0",
        "total": amount.to_string(), "grand_total": amount.to_string(), "currency_code": "USD" },
        "line_items": [] })
}

/// Paddle's proration of switching `sub` to `amount` now: the unused share of the current price
/// comes back as credit, the same share of the new price is charged.
fn proration(sub: &Value, old: i64, new: i64) -> (i64, i64) {
    let period = &sub["current_billing_period"];
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(start), Some(end)) = (parse(&period["starts_at"]), parse(&period["ends_at"])) else {
        return (0, 0);
    };
    let total = (end - start).num_seconds().max(1) as f64;
    let left = (end - Utc::now()).num_seconds().max(0) as f64 / total;
    (
        (old as f64 * left).round() as i64,
        (new as f64 * left).round() as i64,
    )
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches('/').to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers: HeaderMap = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let mut inner = inner.lock().unwrap();
    inner
        .calls
        .push((method.clone(), path.clone(), std::time::Instant::now()));
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {API_KEY}"))
    {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You aren't permitted to perform this request.",
        );
    }
    if let Some(i) = inner
        .faults
        .iter()
        .position(|f| f.method == method && path.starts_with(&f.path_prefix))
    {
        let fault = inner.faults.remove(i).expect("present");
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = if fault.status == 429 {
            "too_many_requests"
        } else {
            "internal_error"
        };
        let mut res = error(status, code, "injected by the test");
        if let Some(secs) = fault.retry_after {
            res.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("number"));
        }
        return res;
    }
    let input: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad_request", "Invalid JSON"),
        }
    };
    inner
        .bodies
        .push((method.clone(), path.clone(), input.clone()));
    let segments: Vec<&str> = path.split('/').collect();
    let now = Utc::now();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["customers"]) => {
            let email = query.get("email").cloned().unwrap_or_default();
            let found: Vec<Value> = inner
                .customers
                .iter()
                .filter(|c| email.is_empty() || c["email"] == email.as_str())
                .cloned()
                .collect();
            data(StatusCode::OK, json!(found))
        }
        ("POST", ["customers"]) => {
            let email = input["email"].as_str().unwrap_or_default().to_string();
            if !email.contains('@') {
                return error(StatusCode::BAD_REQUEST, "invalid_field", "email is invalid");
            }
            if let Some(c) = inner
                .customers
                .iter()
                .find(|c| c["email"] == email.as_str())
            {
                let detail = format!(
                    "customer email conflicts with customer of id {}",
                    c["id"].as_str().unwrap_or("")
                );
                return error(StatusCode::CONFLICT, "customer_already_exists", &detail);
            }
            let customer = json!({ "id": inner.id("ctm"), "email": email, "name": input["name"].clone(),
                "custom_data": input["custom_data"].clone(), "status": "active", "created_at": ts(now) });
            inner.customers.push(customer.clone());
            data(StatusCode::CREATED, customer)
        }
        ("POST", ["transactions"]) => {
            let price_id = input["items"][0]["price_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some(amount) = inner.prices.get(&price_id).copied() else {
                return error(StatusCode::NOT_FOUND, "not_found", "price not found");
            };
            let id = inner.id("txn");
            let txn = json!({
                "id": id, "status": "ready", "origin": "api", "customer_id": input["customer_id"].clone(),
                "subscription_id": null, "currency_code": "USD", "collection_mode": "automatic",
                "custom_data": input["custom_data"].clone(), "created_at": ts(now), "updated_at": ts(now),
                "items": [{"price": {"id": price_id}, "quantity": 1}],
                "details": totals(amount), "payments": [],
                "checkout": {"url": format!("https://localhost/pay?_ptxn={id}")},
            });
            inner.transactions.insert(id, txn.clone());
            data(StatusCode::CREATED, txn)
        }
        (_, ["subscriptions", id, rest @ ..]) => {
            let id = id.to_string();
            let Some(mut sub) = inner.subscriptions.get(&id).cloned() else {
                return error(StatusCode::NOT_FOUND, "not_found", "Entity not found");
            };
            let current_price = sub["items"][0]["price"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let current_amount = inner.prices.get(&current_price).copied().unwrap_or(0);
            match (method.as_str(), rest) {
                ("GET", []) => {
                    if query
                        .get("include")
                        .is_some_and(|i| i.contains("next_transaction"))
                        && sub["status"] != "canceled"
                        && sub["scheduled_change"]["action"] != "cancel"
                    {
                        sub["next_transaction"] = json!({
                            "billing_period": {"starts_at": sub["next_billed_at"].clone(),
                                "ends_at": sub["next_billed_at"].as_str()
                                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                                    .map(|t| ts(t.with_timezone(&Utc) + Duration::days(30)))},
                            "details": totals(current_amount),
                        });
                    }
                    data(StatusCode::OK, sub)
                }
                ("PATCH", []) | ("PATCH", ["preview"]) => {
                    let preview = rest == ["preview"];
                    if input.get("scheduled_change").is_some_and(Value::is_null) {
                        sub["scheduled_change"] = Value::Null;
                    }
                    if let Some(new_price) = input["items"][0]["price_id"].as_str() {
                        let Some(new_amount) = inner.prices.get(new_price).copied() else {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "invalid_field",
                                "price not found",
                            );
                        };
                        let (credit, charge) = proration(&sub, current_amount, new_amount);
                        let net = charge - credit;
                        let summary = json!({
                            "credit": {"amount": credit.to_string(), "currency_code": "USD"},
                            "charge": {"amount": charge.to_string(), "currency_code": "USD"},
                            "result": {"action": if net >= 0 { "charge" } else { "credit" },
                                       "amount": net.abs().to_string(), "currency_code": "USD"},
                        });
                        sub["items"] = json!([price_item(new_price, new_amount)]);
                        if preview {
                            sub["update_summary"] = summary;
                            sub["next_transaction"] = json!({ "details": totals(new_amount) });
                            inner.last_preview = Some(sub.clone());
                            return data(StatusCode::OK, sub);
                        }
                    }
                    sub["updated_at"] = json!(ts(now));
                    inner.subscriptions.insert(id, sub.clone());
                    data(StatusCode::OK, sub)
                }
                ("POST", ["cancel"]) => {
                    if sub["status"] == "canceled" {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "subscription_locked_canceled",
                            "subscription is canceled",
                        );
                    }
                    if input["effective_from"] == "immediately" {
                        sub["status"] = json!("canceled");
                        sub["canceled_at"] = json!(ts(now));
                        sub["scheduled_change"] = Value::Null;
                        sub["current_billing_period"] = Value::Null;
                        sub["next_billed_at"] = Value::Null;
                    } else {
                        let end = sub["current_billing_period"]["ends_at"].clone();
                        sub["scheduled_change"] =
                            json!({"action": "cancel", "effective_at": end, "resume_at": null});
                    }
                    sub["updated_at"] = json!(ts(now));
                    inner.subscriptions.insert(id, sub.clone());
                    data(StatusCode::OK, sub)
                }
                ("POST", ["resume"]) => {
                    if sub["status"] != "paused" {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "subscription_is_not_paused",
                            "subscription is not paused",
                        );
                    }
                    sub["status"] = json!("active");
                    sub["paused_at"] = Value::Null;
                    sub["updated_at"] = json!(ts(now));
                    inner.subscriptions.insert(id, sub.clone());
                    data(StatusCode::OK, sub)
                }
                ("GET", ["update-payment-method-transaction"]) => {
                    let txn_id = inner.id("txn");
                    data(
                        StatusCode::OK,
                        json!({ "id": txn_id, "status": "ready", "subscription_id": id,
                        "checkout": {"url": format!("https://localhost/pay?_ptxn={txn_id}")} }),
                    )
                }
                _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
            }
        }
        (_, ["customers", customer, rest @ ..]) => {
            let customer = customer.to_string();
            if !inner.customers.iter().any(|c| c["id"] == customer.as_str()) {
                return error(StatusCode::NOT_FOUND, "not_found", "Entity not found");
            }
            match (method.as_str(), rest) {
                ("GET", ["payment-methods"]) => data(
                    StatusCode::OK,
                    json!(
                        inner
                            .payment_methods
                            .get(&customer)
                            .cloned()
                            .unwrap_or_default()
                    ),
                ),
                ("DELETE", ["payment-methods", pm]) => {
                    let methods = inner.payment_methods.entry(customer).or_default();
                    let before = methods.len();
                    methods.retain(|m| m["id"] != *pm);
                    if methods.len() == before {
                        error(StatusCode::NOT_FOUND, "not_found", "Entity not found")
                    } else {
                        StatusCode::NO_CONTENT.into_response()
                    }
                }
                ("POST", ["auth-token"]) => data(
                    StatusCode::OK,
                    json!({ "customer_auth_token": format!("pca_fake_{}", inner.id("tok")),
                            "expires_at": ts(now + Duration::minutes(15)) }),
                ),
                ("POST", ["portal-sessions"]) => data(
                    StatusCode::CREATED,
                    json!({ "id": inner.id("cpls"), "customer_id": customer,
                            "urls": {"general": {"overview": format!("https://customer-portal.paddle.com/cpl_fake?token={customer}")},
                                     "subscriptions": []}, "created_at": ts(now) }),
                ),
                _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    }
}

/// Sends signed webhooks to OneVoice as Paddle would.
#[derive(Clone)]
pub struct WebhookSender {
    pub url: String,
    pub secret: String,
    http: reqwest::Client,
}

impl WebhookSender {
    pub fn new(url: String) -> Self {
        Self {
            url,
            secret: WEBHOOK_SECRET.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// A notification body for `data`, with a new event id; returns (event_id, body).
    pub fn event(event_type: &str, data: &Value, occurred_at: DateTime<Utc>) -> (String, String) {
        let event_id = format!("evt_01{}", uuid::Uuid::new_v4().simple());
        let body = json!({
            "event_id": event_id, "event_type": event_type, "occurred_at": ts(occurred_at),
            "notification_id": format!("ntf_01{}", uuid::Uuid::new_v4().simple()), "data": data,
        });
        (event_id, body.to_string())
    }

    /// Signs `body` with the current time and posts it; returns the status and the answer.
    pub async fn deliver(&self, body: &str) -> anyhow::Result<(u16, Value)> {
        let ts = Utc::now().timestamp();
        let header = format!(
            "ts={ts};h1={}",
            signature::sign(&self.secret, ts, body.as_bytes())
        );
        self.deliver_with(body, Some(&header)).await
    }

    /// Posts `body` with exactly this `Paddle-Signature` header (or none).
    pub async fn deliver_with(
        &self,
        body: &str,
        header: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("user-agent", "Paddle")
            .body(body.to_string());
        if let Some(h) = header {
            req = req.header("paddle-signature", h);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// Builds, signs and delivers an event; returns its id after a 200.
    pub async fn send(
        &self,
        event_type: &str,
        data: &Value,
        occurred_at: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let (id, body) = Self::event(event_type, data, occurred_at);
        let (status, answer) = self.deliver(&body).await?;
        anyhow::ensure!(status == 200, "{event_type} answered {status}: {answer}");
        Ok(id)
    }
}
