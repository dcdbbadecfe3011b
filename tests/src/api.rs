//! The one way tests talk to the REST API: a method, a path, an optional bearer token and an
//! optional JSON body; the answer is its status and JSON body (`Null` when it has none), read as
//! a typed value on demand.

use crate::harness::TestApp;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The body, if the status is `expected`; otherwise an error showing both.
    pub fn expect(self, expected: u16) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.status.as_u16() == expected,
            "expected {expected}, got {}: {}",
            self.status,
            self.body
        );
        Ok(self.body)
    }

    /// The body as `T`, if the status is `expected`.
    pub fn expect_as<T: DeserializeOwned>(self, expected: u16) -> anyhow::Result<T> {
        Ok(serde_json::from_value(self.expect(expected)?)?)
    }

    /// Status and body, for tests that look at both.
    pub fn parts(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }
}

impl TestApp {
    /// Any request of the API.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await?;
        let status = res.status();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// A POST without a body (an action on a resource).
    pub async fn post(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Answer> {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Answer> {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.call(Method::DELETE, path, Some(token), None).await
    }
}
