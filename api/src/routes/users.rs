//! `/api/users`: the caller's own profile, password, avatar, activity, dashboard, credits,
//! subscription, notification preferences and account deletion. Every route acts on the
//! authenticated user only; there are no ids to guess.

use crate::auth::{AuthUser, password, rate_limit};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiMultipart, ApiQuery, ClientInfo};
use crate::outbox;
use crate::routes::auth::{validate_email, validate_full_name, validate_username};
use crate::state::AppState;
use crate::temporal;
use crate::views::{MessageResponse, PageRequest, Pagination, UserView};
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use onevoice_shared::email::EmailKind;
use onevoice_shared::locale::Locale;
use onevoice_shared::one_time_token;
use onevoice_shared::repo::auth_tokens::{self, Purpose};
use onevoice_shared::repo::{activity, billing, credits, former_accounts, sessions, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

const EMAIL_CHANGE_TTL_HOURS: i64 = 24;

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
    users::find(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("account not found".into()))
}

/// Checks the caller's password before a sensitive change, throttled like sign-in attempts so a
/// stolen access token cannot be used to guess it.
async fn confirm_password(
    state: &AppState,
    client: &ClientInfo,
    row: &users::UserRow,
    password: &str,
    wrong: &str,
) -> Result<(), ApiError> {
    rate_limit::check(state, "reauth", client.ip, Some(&row.email)).await?;
    if state
        .passwords
        .verify(password, Some(&row.password_hash))
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::BadRequest(wrong.into()))
    }
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
    let username = req.username.as_deref().map(validate_username).transpose()?;
    let full_name = match req.full_name.as_deref() {
        Some(n) => Some(validate_full_name(Some(n))?.unwrap_or_default()),
        None => None,
    };
    let locale = req
        .locale
        .as_deref()
        .map(|l| {
            Locale::from_code(l)
                .ok_or_else(|| ApiError::validation("locale", "must be `ko` or `en`"))
        })
        .transpose()?;
    let new_email = req
        .email
        .as_deref()
        .map(|e| validate_email("email", e))
        .transpose()?;
    let current = me(&state, user).await?;
    // Only an address that really changes needs the password; it is checked before anything of
    // the request is applied.
    let new_email = new_email.filter(|e| *e != current.email);
    if new_email.is_some() {
        let password = req.current_password.as_deref().ok_or_else(|| {
            ApiError::validation("current_password", "is required to change the email")
        })?;
        confirm_password(
            &state,
            &client,
            &current,
            password,
            "the current password is not correct",
        )
        .await?;
    }
    if let Some(name) = &username
        && users::username_taken(&state.db, name, Some(user.id)).await?
    {
        return Err(ApiError::Conflict("this username is taken".into()));
    }
    if !users::update_profile(
        &state.db,
        user.id,
        username.as_deref(),
        full_name.as_deref(),
        locale.map(Locale::as_str),
    )
    .await?
    {
        return Err(ApiError::Conflict("this username is taken".into()));
    }
    if let Some(email) = new_email {
        if users::email_taken(&state.db, &email).await? {
            return Err(ApiError::Conflict(
                "this email is already registered".into(),
            ));
        }
        let (token, hash) = one_time_token::generate();
        let expires = Utc::now() + Duration::hours(EMAIL_CHANGE_TTL_HOURS);
        auth_tokens::issue(
            &state.db,
            auth_tokens::NewToken {
                user: user.id,
                purpose: Purpose::EmailChange,
                token_hash: &hash,
                new_email: Some(&email),
                session_family: Some(user.session_family),
                expires_at: expires,
            },
        )
        .await?;
        let link = outbox::link(&state, "/confirm-email", &token);
        let locale = locale.unwrap_or_else(|| Locale::parse(&current.locale).unwrap_or_default());
        outbox::send(
            &state,
            Some(user.id),
            &email,
            locale,
            EmailKind::EmailChange {
                username: current.username.clone(),
                link,
                new_email: email.clone(),
            },
        )
        .await?;
    }
    let row = me(&state, user).await?;
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
    rate_limit::check(&state, "confirm-email", client.ip, None).await?;
    let mut tx = state.db.begin().await?;
    let used = auth_tokens::consume(
        &mut *tx,
        Purpose::EmailChange,
        &one_time_token::hash(&req.token),
    )
    .await?
    .ok_or_else(|| ApiError::BadRequest("invalid or expired confirmation link".into()))?;
    let user_id = used.user_id;
    let new_email = used
        .new_email
        .ok_or_else(|| ApiError::BadRequest("invalid confirmation link".into()))?;
    let old = users::find(&mut *tx, user_id)
        .await?
        .ok_or_else(|| ApiError::BadRequest("invalid or expired confirmation link".into()))?;
    if !users::set_email(&mut *tx, user_id, &new_email).await? {
        return Err(ApiError::Conflict(
            "this email is already registered".into(),
        ));
    }
    sessions::revoke_all_except(&mut *tx, user_id, used.session_family).await?;
    // Reset links went to the old address: they stop working with it.
    auth_tokens::revoke_unused(&mut *tx, user_id, Purpose::PasswordReset).await?;
    activity::record(
        &mut *tx,
        user_id,
        "email_changed",
        "account email changed",
        None,
    )
    .await?;
    tx.commit().await?;
    outbox::send(
        &state,
        Some(user_id),
        &old.email,
        Locale::parse(&old.locale).unwrap_or_default(),
        EmailKind::EmailChanged {
            username: old.username,
            new_email,
        },
    )
    .await?;
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
    password::validate("new_password", &req.new_password)?;
    let row = me(&state, user).await?;
    confirm_password(
        &state,
        &client,
        &row,
        &req.current_password,
        "the current password is not correct",
    )
    .await?;
    let hash = state.passwords.hash(&req.new_password).await?;
    let mut tx = state.db.begin().await?;
    users::set_password(&mut *tx, user.id, &hash).await?;
    sessions::revoke_all(&mut *tx, user.id).await?;
    activity::record(
        &mut *tx,
        user.id,
        "password_changed",
        "password changed",
        None,
    )
    .await?;
    tx.commit().await?;
    let locale = Locale::parse(&row.locale).unwrap_or_default();
    outbox::send(
        &state,
        Some(user.id),
        &row.email,
        locale,
        EmailKind::PasswordChanged {
            username: row.username,
        },
    )
    .await?;
    Ok(Json(MessageResponse::new(
        "your password was changed; sign in again",
    )))
}

#[derive(Serialize, ToSchema)]
pub struct AvatarResponse {
    avatar_url: String,
}

/// The image type of `bytes`, by its magic number (the declared type is not trusted).
fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(("jpg", "image/jpeg")),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(("png", "image/png")),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(("gif", "image/gif")),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(("webp", "image/webp")),
        _ => None,
    }
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
    let (ext, content_type) = sniff_image(&bytes)
        .ok_or_else(|| ApiError::validation("avatar", "must be a JPEG, PNG, GIF or WebP image"))?;
    let key = onevoice_shared::keys::avatar(user.id, &Uuid::new_v4().to_string(), ext);
    state
        .storage
        .put_bytes(&key, bytes.to_vec(), content_type)
        .await?;
    if let Some(old) = users::set_avatar(&state.db, user.id, Some(&key)).await? {
        // A failed delete leaves an orphan object, never a broken avatar; the erasure sweeps it.
        if let Err(e) = state.storage.delete_prefix(&old).await {
            tracing::warn!(error = %e, "could not delete the previous avatar");
        }
    }
    let avatar_url = state
        .storage
        .presign_get(&key, &format!("avatar.{ext}"))
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
    responses((status = 200, body = crate::routes::billing::SubscriptionView),
        (status = 404, body = crate::error::ErrorBody)))]
async fn subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<crate::routes::billing::SubscriptionView>, ApiError> {
    crate::routes::billing::current_view(&state, &user).await
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
    let row = me(&state, user).await?;
    confirm_password(
        &state,
        &client,
        &row,
        &req.password,
        "the password is not correct",
    )
    .await?;
    // A deleted account pays for nothing more: its subscription ends now, before anything is
    // erased (if Paddle cannot be reached, nothing is deleted and the user can retry).
    let subscription = billing::current(&state.db, user.id).await?;
    if let Some(paddle_id) = subscription
        .filter(|s| !matches!(s.status.as_str(), "canceled" | "cancelled"))
        .and_then(|s| s.paddle_subscription_id)
    {
        let paddle = state.paddle.as_ref().ok_or_else(|| {
            ApiError::ServiceUnavailable("billing is not available; try again later".into())
        })?;
        paddle.cancel_now(&paddle_id).await.map_err(|e| {
            tracing::error!(error = %e, user = %user.id, "cannot cancel the subscription of a deleted account");
            ApiError::ServiceUnavailable(
                "the subscription could not be cancelled; nothing was deleted, try again".into(),
            )
        })?;
    }
    let address =
        former_accounts::email_hmac(state.settings.jwt_secret.expose().as_bytes(), &row.email);
    let customer = billing::customer_id(&state.db, user.id).await?;
    let mut tx = state.db.begin().await?;
    former_accounts::remember_erased(&mut *tx, &address, customer.as_deref()).await?;
    sessions::revoke_all(&mut *tx, user.id).await?;
    users::deactivate(&mut *tx, user.id).await?;
    tx.commit().await?;
    temporal::erase_account(
        &state.temporal,
        &state.settings.temporal.task_queue,
        user.id,
    )
    .await
    .map_err(ApiError::Internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new(
            "your account was deleted; its data is being erased",
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::sniff_image;

    #[test]
    fn sniffs_images_by_content() {
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]).map(|t| t.0),
            Some("jpg")
        );
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n....").map(|t| t.0),
            Some("png")
        );
        assert_eq!(sniff_image(b"GIF89a...").map(|t| t.0), Some("gif"));
        assert_eq!(
            sniff_image(b"RIFF\0\0\0\0WEBPVP8 ").map(|t| t.0),
            Some("webp")
        );
        assert_eq!(sniff_image(b"<svg xmlns=...>"), None);
    }
}
