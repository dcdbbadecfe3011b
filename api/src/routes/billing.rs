//! `/api/billing`: plans, the caller's subscription (checkout, plan change with a prorated preview,
//! cancel at period end, resume), payment methods, invoices and usage.
//!
//! Paddle owns subscriptions and payments; these routes ask it for changes and show what its
//! webhooks told us. A change Paddle confirms is applied at once from its answer, so the caller
//! sees it without waiting for the webhook (which then finds nothing newer to apply). Every route
//! acts on the caller's own Paddle customer only.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::views::{MessageResponse, PageRequest, Pagination, SubscriptionView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use onevoice_shared::billing::Plan;
use onevoice_shared::paddle::PaddleClient;
use onevoice_shared::paddle::custom_data;
use onevoice_shared::paddle::entities::{Money, Subscription, TransactionPreview, major_units};
use onevoice_shared::repo::{billing, credits, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Statuses of a subscription that still bills (one such subscription per user).
const LIVE: [&str; 4] = ["active", "trialing", "past_due", "paused"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(plans))
        .routes(routes!(get_subscription, change_plan))
        .routes(routes!(subscribe))
        .routes(routes!(preview_change))
        .routes(routes!(cancel))
        .routes(routes!(resume))
        .routes(routes!(payment_methods))
        .routes(routes!(delete_payment_method))
        .routes(routes!(update_payment_method))
        .routes(routes!(setup_intent))
        .routes(routes!(portal))
        .routes(routes!(upcoming_invoice))
        .routes(routes!(history))
        .routes(routes!(usage))
}

fn paddle(state: &AppState) -> Result<&PaddleClient, ApiError> {
    state
        .paddle
        .as_ref()
        .ok_or_else(|| ApiError::ServiceUnavailable("billing is not configured".into()))
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    id: String,
    name: String,
    price: f64,
    currency: String,
    billing_period: String,
    credits_included: i64,
    features: Vec<String>,
    /// Whether subscribers may create and use API keys (`/api/keys`).
    api_access: bool,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            price: p.price,
            currency: p.currency.clone(),
            billing_period: p.billing_period.clone(),
            credits_included: p.credits_included,
            features: p.features.clone(),
            api_access: p.api_access,
        }
    }
}

/// The plans on sale.
#[utoipa::path(get, path = "/api/billing/plans", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = [PlanView])))]
async fn plans(State(state): State<AppState>, _user: AuthUser) -> Json<Vec<PlanView>> {
    Json(
        state
            .settings
            .billing
            .catalog
            .plans()
            .iter()
            .map(PlanView::from)
            .collect(),
    )
}

fn grace(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.settings.billing.grace_period).unwrap_or_default()
}

async fn live_subscription(
    state: &AppState,
    user: &AuthUser,
) -> Result<billing::SubscriptionRow, ApiError> {
    billing::current(&state.db, user.id)
        .await?
        .filter(|s| LIVE.contains(&s.status.as_str()) && s.paddle_subscription_id.is_some())
        .ok_or_else(|| ApiError::NotFound("no active subscription".into()))
}

/// The caller's subscription: the live one, else the most recent.
#[utoipa::path(get, path = "/api/billing/subscription", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SubscriptionView>, ApiError> {
    current_view(&state, &user).await
}

/// The live subscription, else the most recent.
async fn current_view(
    state: &AppState,
    user: &AuthUser,
) -> Result<Json<SubscriptionView>, ApiError> {
    let row = crate::services::billing::subscription(state, user.id).await?;
    Ok(Json(SubscriptionView::new(row, grace(state))))
}

/// Applies a subscription Paddle just returned, and answers with our view of it.
async fn apply(
    state: &AppState,
    user: &AuthUser,
    sub: &Subscription,
) -> Result<Json<SubscriptionView>, ApiError> {
    let plan = sub
        .price_id()
        .and_then(|p| state.settings.billing.catalog.by_price(p));
    let (plan_id, credits) = match plan {
        Some(p) => (p.id.clone(), p.credits_included),
        None => (sub.price_id().unwrap_or("unknown").to_string(), 0),
    };
    let mut tx = state.db.begin().await?;
    billing::apply_snapshot(
        &mut tx,
        user.id,
        sub,
        sub.updated_at.unwrap_or_else(Utc::now),
        &plan_id,
        credits,
    )
    .await?;
    tx.commit().await?;
    let row = billing::by_paddle_id(&state.db, &sub.id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("subscription vanished")))?;
    Ok(Json(SubscriptionView::new(row, grace(state))))
}

fn plan<'a>(state: &'a AppState, plan_id: &str) -> Result<&'a Plan, ApiError> {
    state
        .settings
        .billing
        .catalog
        .by_id(plan_id)
        .ok_or_else(|| ApiError::validation("plan_id", format!("unknown plan `{plan_id}`")))
}

/// The caller's Paddle customer, created on first use.
async fn customer(state: &AppState, user: &AuthUser) -> Result<String, ApiError> {
    if let Some(id) = billing::customer_id(&state.db, user.id).await? {
        return Ok(id);
    }
    let paddle = paddle(state)?;
    let me = users::find(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("account not found".into()))?;
    let found = match paddle.find_customer(&me.email).await? {
        Some(c) => c,
        None => {
            let name = me.full_name.clone().unwrap_or_else(|| me.username.clone());
            paddle
                .create_customer(&me.email, &name, &user.id.to_string())
                .await?
        }
    };
    Ok(billing::set_customer_id(&state.db, user.id, &found.id).await?)
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct SubscribeRequest {
    /// One of `/api/billing/plans`.
    #[schema(format = "nonblank-line", max_length = 64, example = "pro")]
    plan_id: String,
    /// Accepted for compatibility and ignored: Paddle's checkout collects the payment method.
    #[allow(dead_code)]
    #[schema(format = "line", max_length = 64)]
    payment_method_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckoutView {
    /// Paddle's checkout transaction (`txn_…`).
    transaction_id: String,
    /// Where the customer pays (Paddle.js opens it); the subscription starts once paid.
    checkout_url: String,
    plan_id: Option<String>,
}

/// Starts a subscription: returns Paddle's checkout for the plan. The subscription and its
/// credits arrive with the payment's webhooks.
#[utoipa::path(post, path = "/api/billing/subscribe", tag = "billing", security(("bearer" = [])),
    request_body = SubscribeRequest,
    responses((status = 201, body = CheckoutView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn subscribe(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<SubscribeRequest>,
) -> Result<(StatusCode, Json<CheckoutView>), ApiError> {
    let plan = plan(&state, req.plan_id.trim())?;
    if live_subscription(&state, &user).await.is_ok() {
        return Err(ApiError::Conflict(
            "you already have a subscription; change its plan instead".into(),
        ));
    }
    let paddle = paddle(&state)?;
    let customer = customer(&state, &user).await?;
    let txn = paddle
        .create_checkout(
            &customer,
            &plan.paddle_price_id,
            &custom_data::for_user(state.settings.jwt_secret.expose().as_bytes(), user.id),
        )
        .await?;
    let checkout_url = txn
        .checkout
        .and_then(|c| c.url)
        .ok_or_else(|| ApiError::BadGateway("the billing provider returned no checkout".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(CheckoutView {
            transaction_id: txn.id,
            checkout_url,
            plan_id: Some(plan.id.clone()),
        }),
    ))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ChangePlanRequest {
    /// One of `/api/billing/plans`.
    #[schema(format = "nonblank-line", max_length = 64, example = "pro")]
    plan_id: String,
}

async fn changeable(
    state: &AppState,
    user: &AuthUser,
    plan_id: &str,
) -> Result<(billing::SubscriptionRow, Plan), ApiError> {
    let plan = plan(state, plan_id.trim())?.clone();
    let sub = live_subscription(state, user).await?;
    if sub.plan_id == plan.id {
        return Err(ApiError::Conflict(format!(
            "you are already on {}",
            plan.name
        )));
    }
    Ok((sub, plan))
}

/// Switches the plan now; the difference is prorated and charged at once.
#[utoipa::path(put, path = "/api/billing/subscription", tag = "billing", security(("bearer" = [])),
    request_body = ChangePlanRequest,
    responses((status = 200, body = SubscriptionView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn change_plan(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ChangePlanRequest>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let (sub, plan) = changeable(&state, &user, &req.plan_id).await?;
    let paddle_id = sub.paddle_subscription_id.unwrap_or_default();
    let updated = paddle(&state)?
        .change_plan(&paddle_id, &plan.paddle_price_id)
        .await?;
    apply(&state, &user, &updated).await
}

#[derive(Serialize, ToSchema)]
pub struct Amount {
    /// Major units (29.99).
    amount: f64,
    currency: String,
}

fn amount(money: &Money) -> Option<Amount> {
    Some(Amount {
        amount: major_units(&money.amount, &money.currency_code)?,
        currency: money.currency_code.to_ascii_uppercase(),
    })
}

fn preview_total(preview: &TransactionPreview, currency: &str) -> Option<Amount> {
    let details = preview.details.as_ref()?;
    let minor = details.amount_due()?;
    let currency = details
        .totals
        .as_ref()
        .and_then(|t| t.currency_code.clone())
        .unwrap_or_else(|| currency.to_string())
        .to_ascii_uppercase();
    Some(Amount {
        amount: major_units(minor, &currency)?,
        currency,
    })
}

#[derive(Serialize, ToSchema)]
pub struct ChangePreview {
    plan_id: String,
    /// `charge` (pay the difference now) or `credit` (kept for later invoices).
    action: Option<String>,
    /// The net result of the change now.
    amount: Option<Amount>,
    /// Credit for the unused part of the current plan.
    credit: Option<Amount>,
    /// Charge for the rest of the period on the new plan.
    charge: Option<Amount>,
    /// What the next renewal will cost.
    next_billing_amount: Option<Amount>,
    next_billed_at: Option<DateTime<Utc>>,
}

/// What switching to a plan now would charge or credit (prorated by Paddle), changing nothing.
#[utoipa::path(post, path = "/api/billing/subscription/preview", tag = "billing", security(("bearer" = [])),
    request_body = ChangePlanRequest,
    responses((status = 200, body = ChangePreview), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn preview_change(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<ChangePlanRequest>,
) -> Result<Json<ChangePreview>, ApiError> {
    let (sub, plan) = changeable(&state, &user, &req.plan_id).await?;
    let paddle_id = sub.paddle_subscription_id.unwrap_or_default();
    let preview = paddle(&state)?
        .preview_change(&paddle_id, &plan.paddle_price_id)
        .await?;
    let summary = preview.update_summary.unwrap_or_default();
    let result = summary.result.as_ref();
    Ok(Json(ChangePreview {
        plan_id: plan.id.clone(),
        action: result.map(|r| r.action.clone()),
        amount: result.and_then(|r| {
            amount(&Money {
                amount: r.amount.clone(),
                currency_code: r.currency_code.clone(),
            })
        }),
        credit: summary.credit.as_ref().and_then(amount),
        charge: summary.charge.as_ref().and_then(amount),
        next_billing_amount: preview
            .next_transaction
            .as_ref()
            .and_then(|t| preview_total(t, &plan.currency)),
        next_billed_at: preview.next_billed_at,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CancelResponse {
    message: String,
    /// When the subscription ends (the end of the paid period).
    effective_at: Option<DateTime<Utc>>,
}

/// Cancels at the end of the paid period; credits and dubbing stay until then.
#[utoipa::path(post, path = "/api/billing/subscription/cancel", tag = "billing", operation_id = "cancel_subscription", security(("bearer" = [])),
    responses((status = 200, body = CancelResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<CancelResponse>, ApiError> {
    let sub = live_subscription(&state, &user).await?;
    let paddle_id = sub.paddle_subscription_id.unwrap_or_default();
    let updated = paddle(&state)?.cancel_at_period_end(&paddle_id).await?;
    let _view = apply(&state, &user, &updated).await?;
    let effective_at = updated
        .scheduled_change
        .as_ref()
        .map(|c| c.effective_at)
        .or(sub.current_period_end);
    Ok(Json(CancelResponse {
        message: "the subscription will end at the end of the current billing period".into(),
        effective_at,
    }))
}

/// Withdraws a scheduled cancellation, or resumes a paused subscription.
#[utoipa::path(post, path = "/api/billing/subscription/resume", tag = "billing", operation_id = "resume_subscription", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SubscriptionView>, ApiError> {
    let sub = live_subscription(&state, &user).await?;
    let paddle_id = sub.paddle_subscription_id.clone().unwrap_or_default();
    let paddle = paddle(&state)?;
    let updated = if sub.status == "paused" {
        paddle.resume(&paddle_id).await?
    } else if sub.cancel_at_period_end {
        paddle.remove_scheduled_change(&paddle_id).await?
    } else {
        return Err(ApiError::Conflict(
            "the subscription is neither cancelled nor paused".into(),
        ));
    };
    apply(&state, &user, &updated).await
}

#[derive(Serialize, ToSchema)]
pub struct PaymentMethodView {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    last4: Option<String>,
    /// Lower-case card brand (`visa`), or the method type for non-cards.
    brand: Option<String>,
    expiry_month: Option<u32>,
    expiry_year: Option<u32>,
    /// The most recently saved method, which Paddle charges by default.
    is_default: bool,
}

/// The caller's saved payment methods.
#[utoipa::path(get, path = "/api/billing/payment-methods", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = [PaymentMethodView])))]
async fn payment_methods(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<PaymentMethodView>>, ApiError> {
    let Some(customer) = billing::customer_id(&state.db, user.id).await? else {
        return Ok(Json(Vec::new()));
    };
    let mut methods = paddle(&state)?.payment_methods(&customer).await?;
    methods.sort_by_key(|m| std::cmp::Reverse(m.saved_at));
    Ok(Json(
        methods
            .into_iter()
            .enumerate()
            .map(|(i, m)| PaymentMethodView {
                brand: m
                    .card
                    .as_ref()
                    .and_then(|c| c.brand.clone())
                    .or_else(|| Some(m.kind.clone()))
                    .map(|b| b.to_lowercase()),
                last4: m.card.as_ref().and_then(|c| c.last4.clone()),
                expiry_month: m.card.as_ref().and_then(|c| c.expiry_month),
                expiry_year: m.card.as_ref().and_then(|c| c.expiry_year),
                id: m.id,
                kind: m.kind,
                is_default: i == 0,
            })
            .collect(),
    ))
}

/// Removes a saved payment method of the caller's (another customer's is not found).
#[utoipa::path(delete, path = "/api/billing/payment-methods/{payment_method_id}", tag = "billing",
    security(("bearer" = [])), params(("payment_method_id" = String, Path, pattern = "^paymtd_[A-Za-z0-9_]{1,57}$",
        description = "Paddle's payment method id")),
    responses((status = 200, body = MessageResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_payment_method(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(payment_method_id): ApiPath<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    let valid = payment_method_id.starts_with("paymtd_")
        && payment_method_id.len() <= 64
        && payment_method_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ApiError::validation(
            "payment_method_id",
            "expected a Paddle payment method id (paymtd_…)",
        ));
    }
    let customer = billing::customer_id(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("payment method not found".into()))?;
    match paddle(&state)?
        .delete_payment_method(&customer, &payment_method_id)
        .await
    {
        Err(e) if e.is_not_found() => Err(ApiError::NotFound("payment method not found".into())),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(Json(MessageResponse::new("payment method removed"))),
    }
}

/// A checkout in which the caller replaces the card their subscription is charged to.
#[utoipa::path(put, path = "/api/billing/payment-method", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = CheckoutView), (status = 404, body = crate::error::ErrorBody)))]
async fn update_payment_method(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<CheckoutView>, ApiError> {
    let sub = live_subscription(&state, &user).await?;
    let txn = paddle(&state)?
        .update_payment_method_transaction(&sub.paddle_subscription_id.unwrap_or_default())
        .await?;
    let checkout_url = txn
        .checkout
        .and_then(|c| c.url)
        .ok_or_else(|| ApiError::BadGateway("the billing provider returned no checkout".into()))?;
    Ok(Json(CheckoutView {
        transaction_id: txn.id,
        checkout_url,
        plan_id: None,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SetupIntent {
    /// A Paddle customer authentication token for Paddle.js (saved payment methods).
    client_secret: String,
    expires_at: Option<DateTime<Utc>>,
}

/// A short-lived token that lets the web app's Paddle.js show the caller's saved methods.
#[utoipa::path(post, path = "/api/billing/setup-intent", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = SetupIntent)))]
async fn setup_intent(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SetupIntent>, ApiError> {
    let customer = customer(&state, &user).await?;
    let token = paddle(&state)?.customer_auth_token(&customer).await?;
    Ok(Json(SetupIntent {
        client_secret: token.customer_auth_token,
        expires_at: token.expires_at,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PortalView {
    /// Paddle's customer portal (invoices, cards, cancellation); valid for a short while.
    url: String,
}

/// A customer portal session for the caller.
#[utoipa::path(post, path = "/api/billing/portal", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = PortalView)))]
async fn portal(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<PortalView>, ApiError> {
    let customer = customer(&state, &user).await?;
    let subscriptions: Vec<String> = live_subscription(&state, &user)
        .await
        .ok()
        .and_then(|s| s.paddle_subscription_id)
        .into_iter()
        .collect();
    let session = paddle(&state)?
        .portal_session(&customer, &subscriptions)
        .await?;
    let url =
        session.urls.general.map(|g| g.overview).ok_or_else(|| {
            ApiError::BadGateway("the billing provider returned no portal".into())
        })?;
    Ok(Json(PortalView { url }))
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingInvoice {
    amount: f64,
    currency: String,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
}

/// The next renewal's invoice, as Paddle previews it.
#[utoipa::path(get, path = "/api/billing/upcoming-invoice", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = UpcomingInvoice), (status = 404, body = crate::error::ErrorBody)))]
async fn upcoming_invoice(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<UpcomingInvoice>, ApiError> {
    let sub = live_subscription(&state, &user).await?;
    let paddle_sub = paddle(&state)?
        .subscription(&sub.paddle_subscription_id.unwrap_or_default(), true)
        .await?;
    let currency = paddle_sub
        .currency_code
        .clone()
        .unwrap_or_else(|| "USD".into());
    let next = paddle_sub.next_transaction.ok_or_else(|| {
        ApiError::NotFound("no upcoming invoice (the subscription does not renew)".into())
    })?;
    let total = preview_total(&next, &currency)
        .ok_or_else(|| ApiError::BadGateway("the billing provider returned no totals".into()))?;
    Ok(Json(UpcomingInvoice {
        amount: total.amount,
        currency: total.currency,
        period_start: next.billing_period.as_ref().map(|p| p.starts_at),
        period_end: next.billing_period.as_ref().map(|p| p.ends_at),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 100000)]
    page: Option<u32>,
    /// Invoices per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// The seed's name for `per_page`.
    #[serde(rename = "perPage")]
    #[param(minimum = 1, maximum = 100)]
    per_page_legacy: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceView {
    /// Paddle's transaction id (the row id for entries without one).
    id: String,
    amount: f64,
    currency: String,
    /// `completed` or `failed`.
    status: String,
    description: Option<String>,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    failure_code: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    invoices: Vec<InvoiceView>,
    pagination: Pagination,
}

/// The caller's payments, newest first.
#[utoipa::path(get, path = "/api/billing/history", tag = "billing", security(("bearer" = [])),
    params(HistoryQuery), responses((status = 200, body = HistoryPage), (status = 422, body = crate::error::ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let paging = PageRequest::new(q.page, q.per_page.or(q.per_page_legacy))?;
    let (rows, total) =
        billing::history(&state.db, user.id, paging.limit(), paging.offset()).await?;
    Ok(Json(HistoryPage {
        invoices: rows
            .into_iter()
            .map(|r| InvoiceView {
                id: r.paddle_transaction_id.unwrap_or_else(|| r.id.to_string()),
                amount: r.amount,
                currency: r.currency,
                status: r.status,
                description: r.description,
                period_start: r.period_start,
                period_end: r.period_end,
                failure_code: r.failure_code,
                created_at: r.created_at,
            })
            .collect(),
        pagination: paging.pagination(total),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// Credits consumed by finished dubs in the current billing period (calendar month without
    /// a subscription).
    current_period_usage: i64,
    included_credits: i64,
    overage_credits: i64,
    /// `overage_credits` at the overage price (USD).
    overage_cost: f64,
    /// The spendable balance now.
    balance: i64,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
}

/// Credits used in the current billing period against the plan's.
#[utoipa::path(get, path = "/api/billing/usage", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = UsageView)))]
async fn usage(State(state): State<AppState>, user: AuthUser) -> Result<Json<UsageView>, ApiError> {
    let now = Utc::now();
    let live = billing::current(&state.db, user.id)
        .await?
        .filter(|s| LIVE.contains(&s.status.as_str()));
    let (from, to) = match live
        .as_ref()
        .and_then(|s| s.current_period_start.zip(s.current_period_end))
    {
        Some(period) => period,
        None => {
            let start = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            (start, now + chrono::Duration::seconds(1))
        }
    };
    let used = credits::used_between(&state.db, user.id, from, to).await?;
    let included = live.as_ref().map_or(0, |s| i64::from(s.credits_included));
    let overage = (used - included).max(0);
    Ok(Json(UsageView {
        current_period_usage: used,
        included_credits: included,
        overage_credits: overage,
        overage_cost: (overage as f64 * state.settings.billing.overage_price_per_credit * 100.0)
            .round()
            / 100.0,
        balance: credits::balance(&state.db, user.id).await?,
        period_start: from,
        period_end: to,
    }))
}
