//! A small Paddle Billing API client (reqwest): the calls OneVoice makes, the `{data, meta}`
//! envelope, the error envelope, and retries only where a repeat cannot do harm.
//!
//! A 429 is always retried (Paddle did not process the request), after `Retry-After`. A 5xx or a
//! timeout is retried only for calls whose repetition lands in the same state (reads, updates to a
//! given value, cancel/resume); creating a checkout transaction is not, since a lost response
//! would otherwise become two transactions.

use super::entities::{
    Customer, CustomerAuthToken, PaymentMethod, PortalSession, Subscription, SubscriptionPreview,
    Transaction,
};
use crate::retry::Retries;
use crate::secret::Secret;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;

/// Three tries; a `Retry-After` over 10 s fails as unavailable so the caller (an HTTP client, or
/// Temporal) decides when to come back.
const RETRIES: Retries = Retries {
    attempts: 3,
    max_wait: Duration::from_secs(10),
};

#[derive(Clone, Debug)]
pub struct PaddleClient {
    http: reqwest::Client,
    base: Url,
    api_key: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaddleError {
    /// Paddle answered with its error envelope (4xx other than 429).
    #[error("Paddle rejected the request ({status}, {code}): {detail}")]
    Rejected {
        status: u16,
        code: String,
        detail: String,
    },
    /// Paddle could not be reached or kept failing (5xx, 429, timeouts).
    #[error("Paddle is unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    #[error("unexpected answer from Paddle: {0}")]
    Malformed(String),
}

impl PaddleError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PaddleError::Unavailable { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, PaddleError::Rejected { status: 404, .. })
    }
}

#[derive(Deserialize)]
struct DataEnvelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    detail: String,
}

/// Whether a call may be sent again after a 5xx or a timeout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Unsafe,
}

impl PaddleClient {
    pub fn new(base: Url, api_key: Secret, timeout: Duration) -> Result<Self, PaddleError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("onevoice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PaddleError::Malformed(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    /// The customer with this email, if Paddle has one.
    pub async fn find_customer(&self, email: &str) -> Result<Option<Customer>, PaddleError> {
        let found: Vec<Customer> = self
            .call(
                Method::GET,
                "customers",
                &[("email", email)],
                None,
                Repeat::Safe,
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Creates the customer; when Paddle already has one with this email (a lost earlier
    /// response, or an account from before), that one is returned.
    pub async fn create_customer(
        &self,
        email: &str,
        name: &str,
        user_id: &str,
    ) -> Result<Customer, PaddleError> {
        let body = json!({ "email": email, "name": name, "custom_data": { "user_id": user_id } });
        match self
            .call(Method::POST, "customers", &[], Some(body), Repeat::Unsafe)
            .await
        {
            Err(PaddleError::Rejected { status: 409, .. }) => {
                self.find_customer(email).await?.ok_or_else(|| {
                    PaddleError::Malformed("customer conflict without a customer".into())
                })
            }
            other => other,
        }
    }

    /// A checkout transaction for one unit of `price_id`; its `checkout.url` is where the
    /// customer pays. Our user id rides along in `custom_data` onto the subscription it creates.
    pub async fn create_checkout(
        &self,
        customer_id: &str,
        price_id: &str,
        custom_data: &serde_json::Value,
    ) -> Result<Transaction, PaddleError> {
        let body = json!({
            "items": [{ "price_id": price_id, "quantity": 1 }],
            "customer_id": customer_id,
            "custom_data": custom_data,
            "collection_mode": "automatic",
        });
        self.call(
            Method::POST,
            "transactions",
            &[],
            Some(body),
            Repeat::Unsafe,
        )
        .await
    }

    /// The subscription, with the upcoming invoice when `with_next` is set.
    pub async fn subscription(
        &self,
        id: &str,
        with_next: bool,
    ) -> Result<Subscription, PaddleError> {
        let query: &[(&str, &str)] = if with_next {
            &[("include", "next_transaction")]
        } else {
            &[]
        };
        self.call(
            Method::GET,
            &format!("subscriptions/{id}"),
            query,
            None,
            Repeat::Safe,
        )
        .await
    }

    fn change_body(price_id: &str) -> Value {
        json!({
            "items": [{ "price_id": price_id, "quantity": 1 }],
            "proration_billing_mode": "prorated_immediately",
            "on_payment_failure": "prevent_change",
        })
    }

    /// What switching to `price_id` now would charge or credit, without changing anything.
    pub async fn preview_change(
        &self,
        id: &str,
        price_id: &str,
    ) -> Result<SubscriptionPreview, PaddleError> {
        self.call(
            Method::PATCH,
            &format!("subscriptions/{id}/preview"),
            &[],
            Some(Self::change_body(price_id)),
            Repeat::Safe,
        )
        .await
    }

    /// Switches the plan now, prorated; refused by Paddle when the prorated charge fails.
    pub async fn change_plan(&self, id: &str, price_id: &str) -> Result<Subscription, PaddleError> {
        self.call(
            Method::PATCH,
            &format!("subscriptions/{id}"),
            &[],
            Some(Self::change_body(price_id)),
            Repeat::Safe,
        )
        .await
    }

    /// Schedules the cancellation for the end of the paid period.
    pub async fn cancel_at_period_end(&self, id: &str) -> Result<Subscription, PaddleError> {
        self.call(
            Method::POST,
            &format!("subscriptions/{id}/cancel"),
            &[],
            Some(json!({ "effective_from": "next_billing_period" })),
            Repeat::Safe,
        )
        .await
    }

    /// Cancels now (account deletion): Paddle ends the subscription at once and bills nothing
    /// more.
    pub async fn cancel_now(&self, id: &str) -> Result<Subscription, PaddleError> {
        self.call(
            Method::POST,
            &format!("subscriptions/{id}/cancel"),
            &[],
            Some(json!({ "effective_from": "immediately" })),
            Repeat::Safe,
        )
        .await
    }

    /// Withdraws a scheduled cancellation or pause.
    pub async fn remove_scheduled_change(&self, id: &str) -> Result<Subscription, PaddleError> {
        self.call(
            Method::PATCH,
            &format!("subscriptions/{id}"),
            &[],
            Some(json!({ "scheduled_change": null })),
            Repeat::Safe,
        )
        .await
    }

    /// Resumes a paused subscription now, starting a new billing period.
    pub async fn resume(&self, id: &str) -> Result<Subscription, PaddleError> {
        self.call(
            Method::POST,
            &format!("subscriptions/{id}/resume"),
            &[],
            Some(
                json!({ "effective_from": "immediately", "on_resume": "start_new_billing_period" }),
            ),
            Repeat::Safe,
        )
        .await
    }

    /// A transaction whose checkout lets the customer replace the card of a subscription.
    pub async fn update_payment_method_transaction(
        &self,
        id: &str,
    ) -> Result<Transaction, PaddleError> {
        self.call(
            Method::GET,
            &format!("subscriptions/{id}/update-payment-method-transaction"),
            &[],
            None,
            Repeat::Safe,
        )
        .await
    }

    pub async fn payment_methods(
        &self,
        customer_id: &str,
    ) -> Result<Vec<PaymentMethod>, PaddleError> {
        self.call(
            Method::GET,
            &format!("customers/{customer_id}/payment-methods"),
            &[],
            None,
            Repeat::Safe,
        )
        .await
    }

    pub async fn delete_payment_method(
        &self,
        customer_id: &str,
        payment_method_id: &str,
    ) -> Result<(), PaddleError> {
        self.send(
            Method::DELETE,
            &format!("customers/{customer_id}/payment-methods/{payment_method_id}"),
            &[],
            None,
            Repeat::Safe,
        )
        .await
        .map(|_| ())
    }

    /// A short-lived token that lets Paddle.js show the customer's saved payment methods.
    pub async fn customer_auth_token(
        &self,
        customer_id: &str,
    ) -> Result<CustomerAuthToken, PaddleError> {
        self.call(
            Method::POST,
            &format!("customers/{customer_id}/auth-token"),
            &[],
            None,
            Repeat::Safe,
        )
        .await
    }

    /// A customer portal session (invoices, cards, cancellation) for the given subscriptions.
    pub async fn portal_session(
        &self,
        customer_id: &str,
        subscription_ids: &[String],
    ) -> Result<PortalSession, PaddleError> {
        self.call(
            Method::POST,
            &format!("customers/{customer_id}/portal-sessions"),
            &[],
            Some(json!({ "subscription_ids": subscription_ids })),
            Repeat::Safe,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        repeat: Repeat,
    ) -> Result<T, PaddleError> {
        let bytes = self.send(method, path, query, body, repeat).await?;
        serde_json::from_slice::<DataEnvelope<T>>(&bytes)
            .map(|e| e.data)
            .map_err(|e| PaddleError::Malformed(format!("{path}: {e}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        repeat: Repeat,
    ) -> Result<Vec<u8>, PaddleError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| PaddleError::Malformed(format!("bad path {path}: {e}")))?;
        let mut backoff = Duration::from_millis(300);
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.api_key.expose())
                .header("Paddle-Version", "1")
                .query(query);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(&response);
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|e| PaddleError::Unavailable {
                            reason: format!("reading the answer: {e}"),
                            retry_after: None,
                        })?;
                    if status.is_success() {
                        return Ok(bytes.to_vec());
                    }
                    let error = rejection(status, &bytes, retry_after);
                    let retry = match status {
                        StatusCode::TOO_MANY_REQUESTS => true,
                        s if s.is_server_error() => repeat == Repeat::Safe,
                        _ => false,
                    };
                    if !retry {
                        return Err(error);
                    }
                    (error, retry_after)
                }
                Err(e) => {
                    let error = PaddleError::Unavailable {
                        reason: if e.is_timeout() {
                            "request timed out".into()
                        } else {
                            "connection failed".into()
                        },
                        retry_after: None,
                    };
                    // A request that never connected was not processed, whatever the call.
                    if repeat == Repeat::Unsafe && !e.is_connect() {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            let (error, retry_after) = failure;
            let Some(wait) = RETRIES.next_wait(attempt, retry_after, backoff) else {
                return Err(error);
            };
            tracing::warn!(path, attempt, wait_ms = wait.as_millis() as u64, error = %error, "Paddle call failed; retrying");
            tokio::time::sleep(wait).await;
            backoff *= 2;
            attempt += 1;
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    retry_after_header(response.headers())
}

/// Paddle's `Retry-After`: whole seconds.
fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn rejection(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> PaddleError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok();
    let (code, detail) = parsed
        .map(|e| (e.error.code, e.error.detail))
        .unwrap_or_else(|| {
            (
                "unknown".into(),
                String::from_utf8_lossy(body).chars().take(200).collect(),
            )
        });
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        PaddleError::Unavailable {
            reason: format!("{} {code}: {detail}", status.as_u16()),
            retry_after,
        }
    } else {
        PaddleError::Rejected {
            status: status.as_u16(),
            code,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_is_whole_seconds() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_static(v));
            retry_after_header(&h)
        };
        assert_eq!(with("2"), Some(Duration::from_secs(2)));
        assert_eq!(with(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(with("1.5"), None);
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after_header(&HeaderMap::new()), None);
    }
}
