//! The parts of Paddle Billing's entities and webhook envelope that OneVoice reads. Unknown fields
//! are ignored and most fields are optional, so a richer payload never breaks parsing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A webhook notification: the event and a snapshot of the entity at `occurred_at`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Envelope {
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub notification_id: Option<String>,
    pub data: Value,
}

/// What a Paddle event is about, parsed once from its `event_type`: the webhook route, the user
/// lookup and the billing activity all decide by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A snapshot of a subscription (`data` is the subscription).
    Subscription,
    /// A payment went through (`data` is the transaction).
    TransactionCompleted,
    /// A payment failed (`data` is the transaction).
    PaymentFailed,
    /// A refund or chargeback (`data` is the adjustment).
    Adjustment,
    /// Every other type: stored and acknowledged only.
    Other,
}

impl EventKind {
    pub fn of(event_type: &str) -> Self {
        match event_type {
            "subscription.created"
            | "subscription.updated"
            | "subscription.activated"
            | "subscription.canceled"
            | "subscription.past_due"
            | "subscription.paused"
            | "subscription.resumed"
            | "subscription.trialing"
            | "subscription.imported" => EventKind::Subscription,
            "transaction.completed" => EventKind::TransactionCompleted,
            "transaction.payment_failed" => EventKind::PaymentFailed,
            "adjustment.created" | "adjustment.updated" => EventKind::Adjustment,
            _ => EventKind::Other,
        }
    }

    /// Whether OneVoice acts on it.
    pub fn is_handled(self) -> bool {
        self != EventKind::Other
    }
}

impl Envelope {
    pub fn kind(&self) -> EventKind {
        EventKind::of(&self.event_type)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Period {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ScheduledChange {
    /// `cancel`, `pause` or `resume`.
    pub action: String,
    pub effective_at: DateTime<Utc>,
    #[serde(default)]
    pub resume_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Money {
    /// Minor units, as a string (`"3000"` is 30.00).
    pub amount: String,
    pub currency_code: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Price {
    pub id: String,
    #[serde(default)]
    pub unit_price: Option<Money>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Item {
    pub price: Price,
    #[serde(default = "one")]
    pub quantity: i64,
}

fn one() -> i64 {
    1
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub next_billed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub paused_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub current_billing_period: Option<Period>,
    #[serde(default)]
    pub scheduled_change: Option<ScheduledChange>,
    #[serde(default)]
    pub custom_data: Option<Value>,
    #[serde(default)]
    pub items: Vec<Item>,
    /// Present when asked for with `include=next_transaction`: the upcoming invoice.
    #[serde(default)]
    pub next_transaction: Option<TransactionPreview>,
}

impl Subscription {
    /// The price of the first item: OneVoice subscriptions hold exactly one plan.
    pub fn price_id(&self) -> Option<&str> {
        self.items.first().map(|i| i.price.id.as_str())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Totals {
    #[serde(default)]
    pub subtotal: Option<String>,
    #[serde(default)]
    pub tax: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub grand_total: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Details {
    #[serde(default)]
    pub totals: Option<Totals>,
}

impl Details {
    /// What the customer pays, in minor units: `grand_total` (after credits), else `total`.
    pub fn amount_due(&self) -> Option<&str> {
        let t = self.totals.as_ref()?;
        t.grand_total.as_deref().or(t.total.as_deref())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Payment {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Checkout {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Transaction {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub invoice_id: Option<String>,
    #[serde(default)]
    pub invoice_number: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub custom_data: Option<Value>,
    #[serde(default)]
    pub billing_period: Option<Period>,
    #[serde(default)]
    pub billed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default)]
    pub details: Option<Details>,
    #[serde(default)]
    pub payments: Vec<Payment>,
    #[serde(default)]
    pub checkout: Option<Checkout>,
}

impl Transaction {
    /// The failure code of the newest failed payment attempt (`declined`, ...).
    pub fn failure_code(&self) -> Option<&str> {
        self.payments
            .iter()
            .filter(|p| p.status.as_deref() == Some("error"))
            .max_by_key(|p| p.created_at)
            .and_then(|p| p.error_code.as_deref())
    }
}

/// Money moved back after a transaction: a refund, a credit to the customer's balance, or a
/// chargeback (and its reversal). Only `approved` adjustments have happened.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Adjustment {
    pub id: String,
    /// `refund`, `credit`, `chargeback`, `chargeback_reverse`, `chargeback_warning`, ...
    pub action: String,
    pub transaction_id: String,
    /// `pending_approval`, `approved`, `rejected`, `reversed`.
    pub status: String,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub totals: Option<Totals>,
}

impl Adjustment {
    /// The amount moved back, in minor units.
    pub fn total(&self) -> Option<i64> {
        self.totals.as_ref()?.total.as_deref()?.trim().parse().ok()
    }
}

/// A previewed transaction (`next_transaction`, `immediate_transaction`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct TransactionPreview {
    #[serde(default)]
    pub billing_period: Option<Period>,
    #[serde(default)]
    pub details: Option<Details>,
}

/// The summary of a plan change preview (`PATCH /subscriptions/{id}/preview`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct UpdateSummary {
    #[serde(default)]
    pub credit: Option<Money>,
    #[serde(default)]
    pub charge: Option<Money>,
    #[serde(default)]
    pub result: Option<UpdateResult>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct UpdateResult {
    /// `credit` or `charge`.
    pub action: String,
    pub amount: String,
    pub currency_code: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SubscriptionPreview {
    #[serde(default)]
    pub immediate_transaction: Option<TransactionPreview>,
    #[serde(default)]
    pub next_transaction: Option<TransactionPreview>,
    #[serde(default)]
    pub update_summary: Option<UpdateSummary>,
    #[serde(default)]
    pub next_billed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Card {
    #[serde(default, rename = "type")]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub expiry_month: Option<u32>,
    #[serde(default)]
    pub expiry_year: Option<u32>,
}

/// A saved payment method (`GET /customers/{id}/payment-methods`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PaymentMethod {
    pub id: String,
    /// `card`, `paypal`, `apple_pay`, ...
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub card: Option<Card>,
    #[serde(default)]
    pub saved_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CustomerAuthToken {
    pub customer_auth_token: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PortalUrls {
    #[serde(default)]
    pub general: Option<PortalGeneral>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PortalGeneral {
    pub overview: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PortalSession {
    pub id: String,
    pub urls: PortalUrls,
}

/// Minor units (`"3266"`) to major units (32.66); Paddle's zero-decimal currencies (JPY, KRW)
/// have no minor unit.
pub fn major_units(minor: &str, currency: &str) -> Option<f64> {
    let value: i64 = minor.trim().parse().ok()?;
    let zero_decimal = matches!(currency.to_ascii_uppercase().as_str(), "JPY" | "KRW");
    Some(if zero_decimal {
        value as f64
    } else {
        value as f64 / 100.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_documented_subscription_and_transaction() {
        let sub: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","status":"active","customer_id":"ctm_1","currency_code":"USD",
            "current_billing_period":{"starts_at":"2024-04-12T10:18:47.635Z","ends_at":"2024-05-12T10:18:47.635Z"},
            "scheduled_change":{"action":"cancel","effective_at":"2024-05-12T10:18:47.635Z","resume_at":null},
            "custom_data":{"user_id":"u"},"unknown_field":1,
            "items":[{"status":"active","quantity":1,"price":{"id":"pri_1","unit_price":{"amount":"3000","currency_code":"USD"}}}]}"#,
        )
        .unwrap();
        assert_eq!(sub.price_id(), Some("pri_1"));
        assert_eq!(sub.scheduled_change.unwrap().action, "cancel");
        let txn: Transaction = serde_json::from_str(
            r#"{"id":"txn_1","status":"ready","payments":[
                {"status":"error","error_code":"declined","created_at":"2024-04-12T10:18:49Z"},
                {"status":"error","error_code":"expired_card","created_at":"2024-04-12T10:19:49Z"}],
                "details":{"totals":{"total":"3266","grand_total":"3000"}}}"#,
        )
        .unwrap();
        assert_eq!(txn.failure_code(), Some("expired_card"));
        assert_eq!(txn.details.unwrap().amount_due(), Some("3000"));
    }

    #[test]
    fn converts_minor_units() {
        assert_eq!(major_units("3266", "USD"), Some(32.66));
        assert_eq!(major_units("1500", "krw"), Some(1500.0));
        assert_eq!(major_units("x", "USD"), None);
    }
}
