//! Applying Paddle events to a customer's billing state: subscriptions, payments, the credits a
//! paid period grants, grace periods and suspension.
//!
//! Each event is applied in one database transaction that also marks it processed, so a retried
//! activity (or a redelivered webhook) finds it done and changes nothing. Credits are granted
//! for what was paid, with the transaction id as the ledger's idempotency key:
//! * nothing for a transaction that charged nothing (a payment-method change);
//! * a subscription period's plan credits once, however many transactions pay for it: a renewal
//!   or first purchase grants them, an upgrade's proration inside the period grants the
//!   difference to the new plan (see [`ledger::PaidPeriod`]);
//! * refunds, chargebacks and credits (Paddle adjustments) take back the refunded share of what
//!   their transaction granted, once per adjustment; a chargeback also suspends dubbing.

use crate::deps::Deps;
use crate::error;
use chrono::{DateTime, Utc};
use onevoice_shared::contracts::{
    ApplyPaddleEventInput, BillingOutcome, SuspendOverdueInput, activity,
};
use onevoice_shared::email::{self, EmailKind};
use onevoice_shared::ids::UserId;
use onevoice_shared::locale::Locale;
use onevoice_shared::paddle::entities::{Adjustment, EventKind, Subscription, Transaction};
use onevoice_shared::repo::{activity as activity_log, billing, emails, ledger, users};
use serde_json::json;
use sqlx::PgConnection;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

pub struct BillingActivities {
    deps: Deps,
}

impl BillingActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

/// A notice to queue once the event's changes are committed.
struct Notice {
    dedupe: String,
    kind: EmailKind,
}

#[activities]
impl BillingActivities {
    #[activity(name = activity::APPLY_PADDLE_EVENT)]
    pub async fn apply_paddle_event(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ApplyPaddleEventInput,
    ) -> Result<BillingOutcome, ActivityError> {
        let d = &self.deps;
        let user = self.account(input.user_id).await?;
        let mut tx = d.db.begin().await.map_err(error::db)?;
        let event = billing::lock_event(&mut tx, &input.event_id)
            .await
            .map_err(error::db)?
            .ok_or_else(|| {
                error::fatal(format!("webhook event {} is not stored", input.event_id))
            })?;
        let mut notices = Vec::new();
        if event.processed_at.is_none() {
            let data = event.payload.get("data").cloned().unwrap_or_default();
            if let Some(customer) = data.get("customer_id").and_then(|c| c.as_str()) {
                billing::adopt_customer(&mut *tx, input.user_id, customer)
                    .await
                    .map_err(error::db)?;
            }
            let applied = match EventKind::of(&event.event_type) {
                EventKind::Subscription => match serde_json::from_value(data) {
                    Ok(sub) => {
                        self.apply_subscription(
                            &mut tx,
                            input.user_id,
                            &sub,
                            event.occurred_at,
                            &input,
                            &mut notices,
                        )
                        .await?
                    }
                    Err(e) => format!("malformed subscription: {e}"),
                },
                kind @ (EventKind::TransactionCompleted | EventKind::PaymentFailed) => {
                    match serde_json::from_value(data) {
                        Ok(txn) => {
                            self.apply_transaction(
                                &mut tx,
                                input.user_id,
                                kind == EventKind::PaymentFailed,
                                &txn,
                                event.occurred_at,
                                &input.event_id,
                                &mut notices,
                            )
                            .await?
                        }
                        Err(e) => format!("malformed transaction: {e}"),
                    }
                }
                EventKind::Adjustment => match serde_json::from_value(data) {
                    Ok(adjustment) => {
                        self.apply_adjustment(&mut tx, input.user_id, &adjustment)
                            .await?
                    }
                    Err(e) => format!("malformed adjustment: {e}"),
                },
                EventKind::Other => "ignored".to_string(),
            };
            tracing::info!(event = %input.event_id, kind = %event.event_type, user = %input.user_id, outcome = %applied, "Paddle event applied");
            billing::mark_processed(&mut *tx, &input.event_id, &applied)
                .await
                .map_err(error::db)?;
        }
        let resend = format!("paddle:{}:", input.event_id);
        self.finish(tx, &user, input.grace_period_secs, &resend, notices)
            .await
    }

    /// Runs when a grace period's timer fires: suspends what is still unpaid.
    #[activity(name = activity::SUSPEND_OVERDUE)]
    pub async fn suspend_overdue(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SuspendOverdueInput,
    ) -> Result<BillingOutcome, ActivityError> {
        let d = &self.deps;
        let user = self.account(input.user_id).await?;
        let mut tx = d.db.begin().await.map_err(error::db)?;
        let suspended = billing::suspend_overdue(&mut *tx, input.user_id, input.grace_period_secs)
            .await
            .map_err(error::db)?;
        let mut notices = Vec::new();
        if suspended > 0 {
            tracing::info!(user = %input.user_id, "dubbing suspended: grace period ended unpaid");
            activity_log::record(
                &mut *tx,
                input.user_id,
                "billing_suspended",
                "dubbing suspended: the subscription stayed unpaid past its grace period",
                None,
            )
            .await
            .map_err(error::db)?;
            // One notice per suspension episode: keyed on the day it happened.
            notices.push(Notice {
                dedupe: format!(
                    "billing:{}:suspended:{}",
                    input.user_id,
                    Utc::now().format("%Y%m%d")
                ),
                kind: EmailKind::BillingSuspended {
                    username: user.username.clone(),
                    link: self.billing_link(),
                },
            });
        }
        let resend = format!("billing:{}:suspended:", input.user_id);
        self.finish(tx, &user, input.grace_period_secs, &resend, notices)
            .await
    }
}

/// The credits of a `granted` grant that a refund of `refunded` out of `paid` (minor units)
/// takes back, rounded to the nearest credit; everything when the payment's total is unknown.
fn share_of(granted: i64, refunded: i64, paid: i64) -> i64 {
    if granted <= 0 || refunded <= 0 {
        return 0;
    }
    if paid <= 0 || refunded >= paid {
        return granted;
    }
    let (g, r, p) = (i128::from(granted), i128::from(refunded), i128::from(paid));
    ((g * r + p / 2) / p) as i64
}

impl BillingActivities {
    async fn account(&self, user: UserId) -> Result<users::UserRow, ActivityError> {
        users::find(&self.deps.db, user)
            .await
            .map_err(error::db)?
            .ok_or_else(|| error::fatal(format!("user {user} does not exist")))
    }

    /// Ends an activity's transaction: queues its notices, picks up the ones a lost earlier
    /// attempt queued (their dedupe keys start with `resend`) so they are handed over after all,
    /// reads the grace deadline as the changes leave it, and commits.
    async fn finish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        user: &users::UserRow,
        grace_secs: u64,
        resend: &str,
        notices: Vec<Notice>,
    ) -> Result<BillingOutcome, ActivityError> {
        let mut emails = emails::pending_with_prefix(&mut *tx, resend)
            .await
            .map_err(error::db)?;
        emails.extend(self.queue(&mut tx, user, notices).await?);
        let grace_deadline = billing::grace_deadline(&mut *tx, user.id, grace_secs)
            .await
            .map_err(error::db)?;
        tx.commit().await.map_err(error::db)?;
        Ok(BillingOutcome {
            grace_deadline,
            emails,
        })
    }

    fn billing_link(&self) -> String {
        format!("{}/billing", self.deps.frontend_url.trim_end_matches('/'))
    }

    fn plan_of(&self, price_id: Option<&str>) -> (String, i64, String) {
        match price_id.and_then(|p| self.deps.plans.by_price(p)) {
            Some(plan) => (plan.id.clone(), plan.credits_included, plan.name.clone()),
            // A price outside our catalogue: kept visible by its id, grants nothing.
            None => {
                let id = price_id.unwrap_or("unknown").to_string();
                (id.clone(), 0, id)
            }
        }
    }

    async fn apply_subscription(
        &self,
        tx: &mut PgConnection,
        user: UserId,
        sub: &Subscription,
        occurred_at: DateTime<Utc>,
        input: &ApplyPaddleEventInput,
        notices: &mut Vec<Notice>,
    ) -> Result<String, ActivityError> {
        let (plan_id, credits, plan_name) = self.plan_of(sub.price_id());
        let applied = billing::apply_snapshot(tx, user, sub, occurred_at, &plan_id, credits)
            .await
            .map_err(error::db)?;
        if applied.stale {
            return Ok(format!("stale: kept the newer state ({})", applied.status));
        }
        let username = self.username(user).await?;
        if applied.became_past_due {
            let deadline = occurred_at
                + chrono::Duration::seconds(
                    i64::try_from(input.grace_period_secs).unwrap_or(i64::MAX / 2),
                );
            notices.push(Notice {
                dedupe: format!("paddle:{}:payment_failed", input.event_id),
                kind: EmailKind::BillingPaymentFailed {
                    username: username.clone(),
                    deadline: deadline.format("%Y-%m-%d %H:%M UTC").to_string(),
                    link: self.billing_link(),
                },
            });
        }
        let ended = sub.status == "canceled"
            && applied
                .previous_status
                .as_deref()
                .is_some_and(|s| s != "canceled");
        if ended {
            notices.push(Notice {
                dedupe: format!("paddle:{}:ended", input.event_id),
                kind: EmailKind::BillingSubscriptionEnded {
                    username,
                    plan: plan_name,
                },
            });
        }
        activity_log::record(
            &mut *tx,
            user,
            "subscription_updated",
            &format!("subscription {} is {} ({plan_id})", sub.id, sub.status),
            Some(json!({ "paddle_subscription_id": sub.id, "status": sub.status })),
        )
        .await
        .map_err(error::db)?;
        Ok(format!(
            "applied: {} -> {}",
            applied.previous_status.as_deref().unwrap_or("new"),
            applied.status
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_transaction(
        &self,
        tx: &mut PgConnection,
        user: UserId,
        failed: bool,
        txn: &Transaction,
        occurred_at: DateTime<Utc>,
        event_id: &str,
        notices: &mut Vec<Notice>,
    ) -> Result<String, ActivityError> {
        if failed {
            let new = billing::record_transaction(&mut *tx, user, txn, "failed", occurred_at)
                .await
                .map_err(error::db)?;
            // The customer hears about it when the subscription turns past due.
            return Ok(format!(
                "payment failed ({}){}",
                txn.failure_code().unwrap_or("no code"),
                if new { "" } else { ", already recorded" }
            ));
        }
        billing::record_transaction(&mut *tx, user, txn, "completed", occurred_at)
            .await
            .map_err(error::db)?;
        let reactivated =
            billing::record_payment(tx, user, txn.subscription_id.as_deref(), occurred_at)
                .await
                .map_err(error::db)?;
        // Credits for what was bought: each plan price times its quantity.
        let mut bought = 0;
        let mut plan_name = String::new();
        for item in &txn.items {
            if let Some(plan) = self.deps.plans.by_price(&item.price.id) {
                bought += plan.credits_included * item.quantity.max(0);
                plan_name = plan.name.clone();
            }
        }
        let paid = txn
            .details
            .as_ref()
            .and_then(|d| d.amount_due())
            .and_then(|a| a.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let method_change = txn.origin.as_deref() == Some("subscription_payment_method_change");
        let period = match (&txn.subscription_id, &txn.billing_period) {
            (Some(subscription), Some(p)) => Some(ledger::PaidPeriod {
                subscription,
                ends_at: p.ends_at,
            }),
            _ => None,
        };
        let credits = if method_change || paid <= 0 {
            0
        } else if let Some(period) = period {
            let already = ledger::granted_for_period(&mut *tx, user, period)
                .await
                .map_err(error::db)?;
            (bought - already).max(0)
        } else {
            bought
        };
        let period_text = txn
            .billing_period
            .as_ref()
            .map(|p| {
                format!(
                    " for {} – {}",
                    p.starts_at.format("%Y-%m-%d"),
                    p.ends_at.format("%Y-%m-%d")
                )
            })
            .unwrap_or_default();
        let entry = ledger::Entry {
            user,
            job: None,
            video: None,
            kind: ledger::Kind::Grant,
            amount: credits,
            key: &ledger::payment_key(&txn.id),
            description: &format!("{plan_name} credits{period_text}"),
        };
        let granted = credits > 0
            && match period {
                Some(period) => ledger::append_for_period(&mut *tx, entry, period).await,
                None => ledger::append(&mut *tx, entry).await,
            }
            .map_err(error::db)?;
        if granted || reactivated {
            notices.push(Notice {
                dedupe: format!("paddle:{event_id}:paid"),
                kind: EmailKind::BillingPaymentReceived {
                    username: self.username(user).await?,
                    plan: plan_name,
                    credits: if granted { credits } else { 0 },
                    reactivated,
                },
            });
        }
        if granted {
            activity_log::record(
                &mut *tx,
                user,
                "credits_granted",
                &format!("{credits} credits for transaction {}", txn.id),
                Some(json!({ "paddle_transaction_id": txn.id, "credits": credits })),
            )
            .await
            .map_err(error::db)?;
        }
        Ok(format!(
            "paid: {}{}",
            if granted {
                format!("{credits} credits granted")
            } else if method_change || paid <= 0 {
                "nothing charged, no credits".to_string()
            } else {
                "no new credits".to_string()
            },
            if reactivated {
                ", suspension lifted"
            } else {
                ""
            }
        ))
    }

    /// Takes back what a refunded, credited or charged-back payment granted, in proportion to
    /// the share of it that went back, once per adjustment; a chargeback also suspends dubbing
    /// until it is reversed. The balance may go negative: credits already spent stay spent.
    async fn apply_adjustment(
        &self,
        tx: &mut PgConnection,
        user: UserId,
        adj: &Adjustment,
    ) -> Result<String, ActivityError> {
        let txn = adj.transaction_id.as_str();
        if adj.action == "chargeback_reverse" {
            if adj.status != "approved" {
                return Ok(format!(
                    "chargeback reversal {}: nothing changed",
                    adj.status
                ));
            }
            let resolved = billing::resolve_disputes(&mut *tx, user, txn)
                .await
                .map_err(error::db)?;
            return Ok(format!("chargeback reversed: {resolved} dispute(s) closed"));
        }
        if !matches!(adj.action.as_str(), "refund" | "credit" | "chargeback") {
            return Ok(format!("adjustment {}: nothing to take back", adj.action));
        }
        if adj.status != "approved" {
            return Ok(format!(
                "{} {}: nothing taken back until it is approved",
                adj.action, adj.status
            ));
        }
        let chargeback = adj.action == "chargeback";
        if chargeback
            && billing::open_dispute(&mut *tx, user, &adj.id, txn)
                .await
                .map_err(error::db)?
        {
            tracing::warn!(user = %user, transaction = txn, "chargeback: dubbing suspended");
            activity_log::record(
                &mut *tx,
                user,
                "billing_disputed",
                "dubbing suspended: a payment was charged back",
                Some(json!({ "paddle_transaction_id": txn, "adjustment_id": adj.id })),
            )
            .await
            .map_err(error::db)?;
        }
        let granted = ledger::amount_of(&mut *tx, &ledger::payment_key(txn))
            .await
            .map_err(error::db)?;
        let left = granted
            - ledger::taken_back(&mut *tx, user, txn)
                .await
                .map_err(error::db)?;
        let paid = billing::paid_minor_units(&mut *tx, txn)
            .await
            .map_err(error::db)?
            .unwrap_or(0);
        let credits = share_of(granted, adj.total().unwrap_or(0), paid).min(left);
        if credits <= 0 {
            return Ok(format!("{}: no credits to take back", adj.action));
        }
        let taken = ledger::take_back(
            &mut *tx,
            user,
            credits,
            &ledger::adjustment_key(&adj.id),
            &format!("credits of a payment taken back ({})", adj.action),
            txn,
        )
        .await
        .map_err(error::db)?;
        if !taken {
            return Ok(format!("{}: already taken back", adj.action));
        }
        activity_log::record(
            &mut *tx,
            user,
            "credits_taken_back",
            &format!("{credits} credits taken back ({} of transaction {txn})", adj.action),
            Some(json!({ "paddle_transaction_id": txn, "adjustment_id": adj.id, "credits": credits })),
        )
        .await
        .map_err(error::db)?;
        Ok(format!("{}: {credits} credits taken back", adj.action))
    }

    async fn username(&self, user: UserId) -> Result<String, ActivityError> {
        Ok(self.account(user).await?.username)
    }

    /// Renders and queues the notices inside the event's transaction; returns their outbox ids.
    async fn queue(
        &self,
        tx: &mut PgConnection,
        user: &users::UserRow,
        notices: Vec<Notice>,
    ) -> Result<Vec<Uuid>, ActivityError> {
        let locale = Locale::parse(&user.locale).unwrap_or_default();
        let mut ids = Vec::with_capacity(notices.len());
        for notice in notices {
            let rendered = email::render(&notice.kind, locale);
            let id = emails::insert(
                &mut *tx,
                emails::NewEmail {
                    user_id: Some(user.id),
                    kind: &notice.kind,
                    to: &user.email,
                    locale,
                    rendered: &rendered,
                    dedupe_key: Some(&notice.dedupe),
                },
            )
            .await
            .map_err(error::db)?;
            ids.push(id);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn takes_back_the_refunded_share() {
        assert_eq!(share_of(2000, 1500, 2999), 1000);
        assert_eq!(share_of(2000, 2999, 2999), 2000);
        assert_eq!(
            share_of(2000, 5000, 2999),
            2000,
            "never more than was granted"
        );
        assert_eq!(share_of(2000, 1, 2999), 1);
        assert_eq!(share_of(2000, 0, 2999), 0);
        assert_eq!(share_of(0, 2999, 2999), 0);
        assert_eq!(
            share_of(500, 100, 0),
            500,
            "an unknown total takes back everything"
        );
    }
}
