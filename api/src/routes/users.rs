//! `/api/users`: the caller's own profile, password, avatar, activity, dashboard, credits,
//! subscription, notification preferences and account deletion. Every route acts on the
//! authenticated user only; there are no ids to guess.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiMultipart, ApiQuery, ClientInfo};
use crate::image::ImageKind;
use crate::services::accounts::{self, Caller, ProfileChange};
use crate::state::AppState;
use crate::views::{MessageResponse, PageRequest, Pagination, SubscriptionView, UserView};
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use onevoice_shared::repo::{activity, credits, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router(avatar_max_bytes: usize) -> OpenApiRouter<AppState> {
    let avatar = OpenApiRouter::new()
        .routes(routes!(upload_avatar, delete_avatar))
        // Room for the multipart framing around the largest accepted image.
        .layer(DefaultBodyLimit::max(avatar_max_bytes + 64 * 1024));
    OpenApiRouter::new()
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(confirm_email))
        .routes(routes!(change_password))
        .routes(routes!(activity_log))
        .routes(routes!(dashboard_stats))
        .routes(routes!(credits_usage))
        .routes(routes!(subscription))
        .routes(routes!(get_preferences, set_preferences))
        .routes(routes!(delete_account))
        .merge(avatar)
}

async fn me(state: &AppState, user: AuthUser) -> Result<users::UserRow, ApiError> {
    Ok(accounts::me(state, user.id).await?)
}

fn caller(user: &AuthUser, client: &ClientInfo) -> Result<Caller, ApiError> {
    Ok(Caller {
        user: user.id,
        session_family: user.session_family()?,
        ip: client.ip,
    })
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/users/profile", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = crate::error::ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<UserView>, ApiError> {
    let row = me(&state, user).await?;
    Ok(Json(UserView::build(&state, row).await))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ProfileUpdate {
    /// 3 to 50 letters, digits, `_`, `.` or `-`; unique.
    #[schema(format = "username", min_length = 3, max_length = 50)]
    username: Option<String>,
    /// Empty removes it.
    #[schema(format = "line", max_length = 100)]
    full_name: Option<String>,
    /// A new address is not applied at once: a confirmation link is sent to it. Needs
    /// `current_password`.
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    /// The account's password; required to change the email.
    #[schema(format = Password, max_length = 128)]
    current_password: Option<String>,
    /// `ko` or `en`.
    #[schema(schema_with = crate::schemas::optional_locale)]
    locale: Option<String>,
}

/// Updates the profile. Changing the email needs the current password and sends a confirmation
/// link to the new address; the email changes when the link is used, the old address is told,
/// and every other session is signed out.
#[utoipa::path(put, path = "/api/users/profile", tag = "users", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<ProfileUpdate>,
) -> Result<Json<UserView>, ApiError> {
    let change = ProfileChange {
        username: req.username.as_deref(),
        full_name: req.full_name.as_deref(),
        email: req.email.as_deref(),
        current_password: req.current_password.as_deref(),
        locale: req.locale.as_deref(),
    };
    let row = accounts::update_profile(&state, &caller(&user, &client)?, &change).await?;
    Ok(Json(UserView::build(&state, row).await))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ConfirmEmailRequest {
    #[schema(format = "line", max_length = 512)]
    token: String,
}

/// Applies an email change with the link sent to the new address: the old address is told, and
/// every session but the one that asked for the change is signed out.
#[utoipa::path(post, path = "/api/users/confirm-email", tag = "users", request_body = ConfirmEmailRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn confirm_email(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ConfirmEmailRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    accounts::confirm_email(&state, client.ip, &req.token).await?;
    Ok(Json(MessageResponse::new("your email address was changed")))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct PasswordChange {
    #[schema(format = Password, max_length = 128)]
    current_password: String,
    #[schema(format = Password, min_length = 8, max_length = 128)]
    new_password: String,
}

/// Changes the password and signs out every session (sign in again with the new one).
#[utoipa::path(put, path = "/api/users/password", tag = "users", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 200, body = MessageResponse), (status = 400, body = crate::error::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Json<MessageResponse>, ApiError> {
    let caller = caller(&user, &client)?;
    accounts::change_password(&state, &caller, &req.current_password, &req.new_password).await?;
    Ok(Json(MessageResponse::new(
        "your password was changed; sign in again",
    )))
}

#[derive(Serialize, ToSchema)]
pub struct AvatarResponse {
    avatar_url: String,
}

/// The multipart form of an avatar upload.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form that `upload_avatar` reads field by field
pub struct AvatarUpload {
    /// The image: JPEG, PNG, GIF or WebP (its content decides, not its name).
    #[schema(value_type = String, format = Binary)]
    avatar: Vec<u8>,
}

/// Uploads an avatar (multipart field `avatar`: JPEG, PNG, GIF or WebP, size-limited). The
/// previous avatar is deleted.
#[utoipa::path(post, path = "/api/users/avatar", tag = "users", security(("bearer" = [])),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = AvatarResponse), (status = 413, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn upload_avatar(
    State(state): State<AppState>,
    user: AuthUser,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<Json<AvatarResponse>, ApiError> {
    let max = state.settings.auth.avatar_max_bytes;
    let mut image = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("avatar") {
            image = Some(field.bytes().await.map_err(multipart_error)?);
        }
    }
    let bytes = image.ok_or_else(|| {
        ApiError::validation("avatar", "the multipart field `avatar` is required")
    })?;
    if bytes.len() > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "the avatar must be at most {max} bytes"
        )));
    }
    let kind = ImageKind::sniff(&bytes)
        .ok_or_else(|| ApiError::validation("avatar", "must be a JPEG, PNG, GIF or WebP image"))?;
    let key = onevoice_shared::keys::avatar(user.id, &Uuid::new_v4().to_string(), kind.ext());
    state
        .storage
        .put_bytes(&key, bytes.to_vec(), kind.content_type())
        .await?;
    if let Some(old) = users::set_avatar(&state.db, user.id, Some(&key)).await? {
        // A failed delete leaves an orphan object, never a broken avatar; the erasure sweeps it.
        if let Err(e) = state.storage.delete_prefix(&old).await {
            tracing::warn!(error = %e, "could not delete the previous avatar");
        }
    }
    let avatar_url = state
        .storage
        .presign_get(&key, &format!("avatar.{}", kind.ext()))
        .await?;
    Ok(Json(AvatarResponse { avatar_url }))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the avatar is too large".into())
    } else {
        ApiError::validation("avatar", e.body_text())
    }
}

/// Removes the avatar.
#[utoipa::path(delete, path = "/api/users/avatar", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = MessageResponse)))]
async fn delete_avatar(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MessageResponse>, ApiError> {
    if let Some(old) = users::set_avatar(&state.db, user.id, None).await? {
        state.storage.delete_prefix(&old).await?;
    }
    Ok(Json(MessageResponse::new("avatar removed")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 100000)]
    page: Option<u32>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityItem {
    id: Uuid,
    action: String,
    description: String,
    timestamp: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityResponse {
    activities: Vec<ActivityItem>,
    pagination: Pagination,
}

/// What happened on the account, newest first.
#[utoipa::path(get, path = "/api/users/activity", tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ActivityResponse), (status = 422, body = crate::error::ErrorBody)))]
async fn activity_log(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ActivityResponse>, ApiError> {
    let paging = PageRequest::new(q.page, q.per_page)?;
    let (rows, total) = activity::page(&state.db, user.id, paging.limit(), paging.offset()).await?;
    Ok(Json(ActivityResponse {
        activities: rows
            .into_iter()
            .map(|r| ActivityItem {
                id: r.id,
                action: r.action,
                description: r.description,
                timestamp: r.created_at,
            })
            .collect(),
        pagination: paging.pagination(total),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct DashboardStats {
    total_videos: i64,
    completed_videos: i64,
    /// Videos being uploaded or dubbed.
    processing_videos: i64,
    /// Seconds of uploaded media.
    total_duration: f64,
    credits_used_this_month: i64,
}

fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// Counts for the dashboard.
#[utoipa::path(get, path = "/api/users/dashboard/stats", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = DashboardStats)))]
async fn dashboard_stats(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<DashboardStats>, ApiError> {
    let s = credits::dashboard(&state.db, user.id).await?;
    let now = Utc::now();
    let used = credits::used_between(
        &state.db,
        user.id,
        month_start(now),
        now + Duration::seconds(1),
    )
    .await?;
    Ok(Json(DashboardStats {
        total_videos: s.total_videos,
        completed_videos: s.completed_videos,
        processing_videos: s.processing_videos,
        total_duration: s.total_duration,
        credits_used_this_month: used,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CreditsUsage {
    /// Credits included in the current billing period (0 without a subscription).
    total_credits: i64,
    /// Credits consumed in the current period (this calendar month without a subscription).
    used_credits: i64,
    /// The spendable balance.
    remaining_credits: i64,
    current_period_start: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
}

/// Credits of the current billing period.
#[utoipa::path(get, path = "/api/users/credits/usage", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = CreditsUsage)))]
async fn credits_usage(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<CreditsUsage>, ApiError> {
    let sub = credits::newest_subscription(&state.db, user.id, &["active", "trialing", "past_due"])
        .await?;
    let now = Utc::now();
    let (from, to) = match sub
        .as_ref()
        .and_then(|s| s.current_period_start.zip(s.current_period_end))
    {
        Some(period) => period,
        None => (month_start(now), now + Duration::seconds(1)),
    };
    Ok(Json(CreditsUsage {
        total_credits: sub.as_ref().map_or(0, |s| i64::from(s.credits_included)),
        used_credits: credits::used_between(&state.db, user.id, from, to).await?,
        remaining_credits: credits::balance(&state.db, user.id).await?.max(0),
        current_period_start: sub.as_ref().and_then(|s| s.current_period_start),
        current_period_end: sub.as_ref().and_then(|s| s.current_period_end),
    }))
}

/// The caller's subscription (the same view as `/api/billing/subscription`).
#[utoipa::path(get, path = "/api/users/subscription", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView),
        (status = 404, body = crate::error::ErrorBody)))]
async fn subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SubscriptionView>, ApiError> {
    let row = crate::services::billing::subscription(&state, user.id).await?;
    let grace = chrono::Duration::from_std(state.settings.billing.grace_period).unwrap_or_default();
    Ok(Json(SubscriptionView::new(row, grace)))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NotificationPreferences {
    /// Master switch for non-essential email (job and billing notices).
    email_notifications: Option<bool>,
    processing_complete: Option<bool>,
    billing_updates: Option<bool>,
    marketing_emails: Option<bool>,
}

/// Email preferences. Account emails (verification, reset, security notices) are always sent.
#[utoipa::path(get, path = "/api/users/notifications/preferences", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = NotificationPreferences)))]
async fn get_preferences(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let u = me(&state, user).await?;
    Ok(Json(NotificationPreferences {
        email_notifications: Some(u.email_notifications),
        processing_complete: Some(u.processing_complete),
        billing_updates: Some(u.billing_updates),
        marketing_emails: Some(u.marketing_emails),
    }))
}

/// Updates the given preferences; omitted ones stay.
#[utoipa::path(put, path = "/api/users/notifications/preferences", tag = "users", security(("bearer" = [])),
    request_body = NotificationPreferences, responses((status = 200, body = NotificationPreferences)))]
async fn set_preferences(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(p): ApiJson<NotificationPreferences>,
) -> Result<Json<NotificationPreferences>, ApiError> {
    users::set_preferences(
        &state.db,
        user.id,
        users::Preferences {
            email_notifications: p.email_notifications,
            processing_complete: p.processing_complete,
            billing_updates: p.billing_updates,
            marketing_emails: p.marketing_emails,
        },
    )
    .await?;
    get_preferences(State(state), user).await
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct DeleteAccountRequest {
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// Deletes the account: its Paddle subscription is cancelled at once, it is deactivated and
/// signed out, then a workflow erases its media and personal data. An HMAC of the address and
/// the Paddle customer are kept (see `former_accounts`) so later payments are still attributed
/// and the address gets no second welcome grant.
#[utoipa::path(post, path = "/api/users/delete-account", tag = "users", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses((status = 202, body = MessageResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn delete_account(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    accounts::delete_account(&state, &caller(&user, &client)?, &req.password).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new(
            "your account was deleted; its data is being erased",
        )),
    ))
}
