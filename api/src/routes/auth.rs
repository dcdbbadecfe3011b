//! `/api/auth`: signup with email verification, login, token refresh, logout, password reset.

use crate::auth::fields::validate_email;
use crate::auth::{AuthUser, password, rate_limit, session};
use crate::error::ApiError;
use crate::extract::{ApiJson, ClientInfo};
use crate::outbox;
use crate::schemas::{EmailText, TokenText};
use crate::services::accounts::{self, Signup, VERIFICATION_TTL_HOURS, VERIFY_MAIL};
use crate::state::AppState;
use crate::views::{AuthResponse, MessageResponse, UserView};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{Duration, Utc};
use onevoice_shared::email::EmailKind;
use onevoice_shared::locale::Locale;
use onevoice_shared::one_time_token;
use onevoice_shared::repo::auth_tokens::{self, Purpose};
use onevoice_shared::repo::{activity, former_accounts, ledger, pending, sessions, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const RESET_TTL_HOURS: i64 = 1;
/// The per-address budgets of the emails these routes send (see [`rate_limit::mail_allowed`]).
const RESET_MAIL: &str = "reset-mail";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
}

/// The locale of a request: the explicit one, else `Accept-Language`, else the default.
fn request_locale(
    state: &AppState,
    explicit: Option<&str>,
    headers: &HeaderMap,
) -> Result<Locale, ApiError> {
    if let Some(l) = explicit {
        return Locale::from_code(l)
            .ok_or_else(|| ApiError::validation("locale", "must be `ko` or `en`"));
    }
    Ok(headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::from_accept_language)
        .unwrap_or(state.settings.auth.default_locale))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct SignupRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    email: String,
    /// 8 to 128 characters.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    password: String,
    /// 3 to 50 letters, digits, `_`, `.` or `-`; unique.
    #[schema(
        format = "username",
        min_length = 3,
        max_length = 50,
        example = "ada_l"
    )]
    username: String,
    #[schema(format = "line", max_length = 100)]
    full_name: Option<String>,
    /// `ko` or `en`; defaults from `Accept-Language`.
    #[schema(schema_with = crate::schemas::optional_locale)]
    locale: Option<String>,
}

/// Registers a pending account and emails a verification link (valid 24 h). Each request is its
/// own: its link creates the account with the password of that request, whatever later requests
/// for the same address ask (the first link verified wins and the others stop working).
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 202, body = MessageResponse), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn signup(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    let locale = request_locale(&state, req.locale.as_deref(), &headers)?;
    let signup = Signup {
        email: &req.email,
        username: &req.username,
        password: &req.password,
        full_name: req.full_name.as_deref(),
        locale,
    };
    accounts::signup(&state, client.ip, &signup).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse::new(
            "check your inbox to verify your email address",
        )),
    ))
}

/// A token either as the seed's bare JSON string or as `{"token": "..."}`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenBody {
    Bare(#[schema(inline)] TokenText),
    Object {
        #[schema(format = "line", max_length = 512)]
        token: String,
    },
}

impl TokenBody {
    fn token(&self) -> &str {
        match self {
            TokenBody::Bare(TokenText(t)) | TokenBody::Object { token: t } => t,
        }
    }
}

/// Verifies the email of a pending signup, creates the account and logs it in.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = AuthResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<AuthResponse>, ApiError> {
    let invalid = || ApiError::BadRequest("invalid or expired verification link".into());
    rate_limit::check(&state, "verify", client.ip, None).await?;
    let mut tx = state.db.begin().await?;
    let p = pending::take_by_token(&mut tx, &one_time_token::hash(body.token()))
        .await?
        .ok_or_else(invalid)?;
    let user = users::insert_verified(
        &mut *tx,
        users::NewUser {
            email: &p.email,
            username: &p.username,
            full_name: p.full_name.as_deref(),
            password_hash: &p.password_hash,
            locale: &p.locale,
        },
    )
    .await?
    .ok_or_else(|| ApiError::Conflict("this email or username was registered meanwhile".into()))?;
    activity::record(
        &mut *tx,
        user.id,
        "signup",
        "account created and email verified",
        None,
    )
    .await?;
    // Welcome credits once per address, not per account: deleting the account and signing up
    // again with the same address gets none.
    let address =
        former_accounts::email_hmac(state.settings.jwt_secret.expose().as_bytes(), &p.email);
    if former_accounts::claim_signup_grant(&mut *tx, &address).await? {
        ledger::grant_signup(&mut *tx, user.id, state.settings.credits.signup_grant).await?;
    }
    tx.commit().await?;
    let tokens = session::start(&state.db, &state.settings, user.id, &client).await?;
    Ok(Json(AuthResponse {
        tokens,
        user: UserView::build(&state, user).await,
    }))
}

/// An email either as the seed's bare JSON string or as `{"email": "..."}`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EmailBody {
    Bare(#[schema(inline)] EmailText),
    Object {
        #[schema(format = Email, max_length = 254, example = "ada@example.com")]
        email: String,
    },
}

/// Sends a new verification link for each signup waiting for this address (each link keeps its
/// own request's password). Answers the same whether or not one exists.
#[utoipa::path(post, path = "/api/auth/resend-verification", tag = "auth", request_body = EmailBody,
    responses((status = 200, body = MessageResponse), (status = 429, body = crate::error::ErrorBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<EmailBody>,
) -> Result<Json<MessageResponse>, ApiError> {
    let raw = match &body {
        EmailBody::Bare(EmailText(e)) | EmailBody::Object { email: e } => e,
    };
    let email = validate_email("email", raw)?;
    rate_limit::check(&state, "resend", client.ip, Some(&email)).await?;
    for p in pending::live_for_email(&state.db, &email).await? {
        let (token, token_hash) = one_time_token::generate();
        let expires = Utc::now() + Duration::hours(VERIFICATION_TTL_HOURS);
        if !rate_limit::mail_allowed(&state, VERIFY_MAIL, &email).await?
            || !pending::renew_token(&state.db, p.id, &token_hash, expires).await?
        {
            continue;
        }
        let link = outbox::link(&state, "/verify-email", &token);
        let locale = Locale::parse(&p.locale).unwrap_or_default();
        outbox::send(
            &state,
            None,
            &email,
            locale,
            EmailKind::VerifyEmail {
                username: p.username,
                link,
            },
        )
        .await?;
    }
    Ok(Json(MessageResponse::new(
        "if a signup is waiting for this address, a new link is on its way",
    )))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct LoginRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    email: String,
    #[schema(format = Password, max_length = 128)]
    password: String,
}

/// Logs in with email and password. Unknown email and wrong password get the same answer, at the
/// same cost. Failures lock the (email, client network) pair for a doubling time; nobody else's
/// failures lock an account out.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let email = users::normalize_email(&req.email);
    let attempt = rate_limit::SignIn::begin(&state, client.ip, &email).await?;
    let user = users::find_by_email(&state.db, &email).await?;
    let ok = state
        .passwords
        .verify(
            &req.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await?;
    let user = match user {
        Some(u) if ok && u.is_active => u,
        _ => {
            attempt.failed().await?;
            return Err(ApiError::Unauthorized("incorrect email or password".into()));
        }
    };
    attempt.succeeded().await?;
    users::touch_login(&state.db, user.id).await?;
    let ip = client.ip.map(|ip| ip.to_string()).unwrap_or_default();
    activity::record(
        &state.db,
        user.id,
        "login",
        "signed in",
        Some(serde_json::json!({ "ip": ip })),
    )
    .await?;
    let tokens = session::start(&state.db, &state.settings, user.id, &client).await?;
    Ok(Json(AuthResponse {
        tokens,
        user: UserView::build(&state, user).await,
    }))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(format = "line", max_length = 512)]
    refresh_token: String,
}

/// Exchanges a refresh token for a new token pair. Each refresh token works once; reusing one
/// revokes its whole session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = crate::error::ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let (user_id, tokens) =
        session::refresh(&state.db, &state.settings, &req.refresh_token, &client).await?;
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("account not found".into()))?;
    Ok(Json(AuthResponse {
        tokens,
        user: UserView::build(&state, user).await,
    }))
}

/// Ends this session: its refresh token and every access token issued from it stop working.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MessageResponse), (status = 401, body = crate::error::ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MessageResponse>, ApiError> {
    sessions::revoke_family(&state.db, user.session_family()?).await?;
    Ok(Json(MessageResponse::new("signed out")))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    email: String,
}

/// Emails a password-reset link (valid 1 h). Answers the same whether or not the account exists.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth", request_body = ForgotPasswordRequest,
    responses((status = 200, body = MessageResponse), (status = 429, body = crate::error::ErrorBody)))]
async fn forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ForgotPasswordRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    let email = validate_email("email", &req.email)?;
    rate_limit::check(&state, "forgot", client.ip, Some(&email)).await?;
    let user = users::find_by_email(&state.db, &email)
        .await?
        .filter(|u| u.is_active);
    if let Some(user) = user
        && rate_limit::mail_allowed(&state, RESET_MAIL, &email).await?
    {
        let (token, token_hash) = one_time_token::generate();
        auth_tokens::issue(
            &state.db,
            auth_tokens::NewToken {
                user: user.id,
                purpose: Purpose::PasswordReset,
                token_hash: &token_hash,
                new_email: None,
                session_family: None,
                expires_at: Utc::now() + Duration::hours(RESET_TTL_HOURS),
            },
        )
        .await?;
        let link = outbox::link(&state, "/reset-password", &token);
        let locale = Locale::parse(&user.locale).unwrap_or_default();
        outbox::send(
            &state,
            Some(user.id),
            &user.email,
            locale,
            EmailKind::PasswordReset {
                username: user.username,
                link,
            },
        )
        .await?;
    }
    Ok(Json(MessageResponse::new(
        "if an account uses this address, a reset link is on its way",
    )))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct ResetPasswordRequest {
    #[schema(format = "line", max_length = 512)]
    token: String,
    #[schema(format = Password, min_length = 8, max_length = 128)]
    new_password: String,
}

/// Sets a new password with a reset link's token (single use) and signs out every session. The
/// token is checked before the new password is hashed, so bogus tokens cost no hashing.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    password::validate("new_password", &req.new_password)?;
    rate_limit::check(&state, "reset", client.ip, None).await?;
    let invalid = || ApiError::BadRequest("invalid or expired reset link".into());
    let token_hash = one_time_token::hash(&req.token);
    if !auth_tokens::is_usable(&state.db, Purpose::PasswordReset, &token_hash).await? {
        return Err(invalid());
    }
    let hash = state.passwords.hash(&req.new_password).await?;
    let mut tx = state.db.begin().await?;
    let user_id = auth_tokens::consume(&mut *tx, Purpose::PasswordReset, &token_hash)
        .await?
        .ok_or_else(invalid)?
        .user_id;
    users::set_password(&mut *tx, user_id, &hash).await?;
    sessions::revoke_all(&mut *tx, user_id).await?;
    activity::record(
        &mut *tx,
        user_id,
        "password_reset",
        "password reset by email link",
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(MessageResponse::new(
        "your password was changed; sign in again",
    )))
}
