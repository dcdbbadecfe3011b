//! Changes to one's own account: profile (with a confirmed email change), password, deletion.
//! Each sensitive change re-checks the password, throttled like sign-ins, so a stolen access
//! token cannot be used to guess it.

use super::{Result, ServiceError};
use crate::auth::fields::{validate_email, validate_full_name, validate_username};
use crate::auth::{password, rate_limit};
use crate::outbox;
use crate::state::AppState;
use crate::temporal;
use chrono::{Duration, Utc};
use onevoice_shared::email::EmailKind;
use onevoice_shared::ids::UserId;
use onevoice_shared::locale::Locale;
use onevoice_shared::one_time_token;
use onevoice_shared::repo::auth_tokens::{self, Purpose};
use onevoice_shared::repo::{activity, billing, former_accounts, pending, sessions, users};
use std::net::IpAddr;
use uuid::Uuid;

const EMAIL_CHANGE_TTL_HOURS: i64 = 24;
/// How long a verification link works.
pub const VERIFICATION_TTL_HOURS: i64 = 24;
/// The per-address budget of verification emails (see [`rate_limit::mail_allowed`]).
pub const VERIFY_MAIL: &str = "verify-mail";

/// A signup request as sent (checked here).
pub struct Signup<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub full_name: Option<&'a str>,
    pub locale: Locale,
}

/// Registers a pending account and emails a verification link (valid 24 h). Each request is its
/// own: its link creates the account with the password of that request, whatever later requests
/// for the same address ask (the first link verified wins and the others stop working). Past
/// the address's mail budget the answer is the same and nothing is sent.
#[tracing::instrument(skip_all)]
pub async fn signup(state: &AppState, ip: Option<IpAddr>, req: &Signup<'_>) -> Result<()> {
    let email = validate_email("email", req.email)?;
    let username = validate_username(req.username)?;
    password::validate("password", req.password)?;
    let full_name = validate_full_name(req.full_name)?;
    rate_limit::check(state, "signup", ip, Some(&email)).await?;
    if users::email_taken(&state.db, &email).await? {
        return Err(ServiceError::Conflict(
            "this email is already registered".into(),
        ));
    }
    if users::username_taken(&state.db, &username, None).await?
        || pending::username_reserved(&state.db, &username, &email).await?
    {
        return Err(ServiceError::Conflict("this username is taken".into()));
    }
    let password_hash = state.passwords.hash(req.password).await?;
    let (token, token_hash) = one_time_token::generate();
    let new = pending::NewPending {
        email: &email,
        username: &username,
        full_name: full_name.as_deref(),
        password_hash: &password_hash,
        locale: req.locale.as_str(),
        token_hash: &token_hash,
        expires_at: Utc::now() + Duration::hours(VERIFICATION_TTL_HOURS),
    };
    pending::insert(&state.db, new).await?;
    if rate_limit::mail_allowed(state, VERIFY_MAIL, &email).await? {
        let link = outbox::link(state, "/verify-email", &token);
        let kind = EmailKind::VerifyEmail { username, link };
        outbox::send(state, None, &email, req.locale, kind).await?;
    }
    Ok(())
}

/// Who asks: the account, the session family of the token, and the client's address (for the
/// throttle).
#[derive(Clone, Copy)]
pub struct Caller {
    pub user: UserId,
    pub session_family: Uuid,
    pub ip: Option<IpAddr>,
}

/// The caller's account row.
pub async fn me(state: &AppState, user: UserId) -> Result<users::UserRow> {
    users::find(&state.db, user)
        .await?
        .ok_or_else(|| ServiceError::Unauthenticated("account not found".into()))
}

/// Checks the caller's password before a sensitive change.
async fn confirm_password(
    state: &AppState,
    caller: &Caller,
    row: &users::UserRow,
    password: &str,
    wrong: &str,
) -> Result<()> {
    rate_limit::check(state, "reauth", caller.ip, Some(&row.email)).await?;
    if state
        .passwords
        .verify(password, Some(&row.password_hash))
        .await?
    {
        Ok(())
    } else {
        Err(ServiceError::Refused(wrong.into()))
    }
}

/// A profile change as sent; absent fields stay.
#[derive(Default)]
pub struct ProfileChange<'a> {
    pub username: Option<&'a str>,
    /// Empty removes it.
    pub full_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub current_password: Option<&'a str>,
    pub locale: Option<&'a str>,
}

/// Applies a profile change. A new email is not applied at once: it needs the current password,
/// and a confirmation link goes to the new address ([`confirm_email`] applies it).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub async fn update_profile(
    state: &AppState,
    caller: &Caller,
    change: &ProfileChange<'_>,
) -> Result<users::UserRow> {
    let username = change.username.map(validate_username).transpose()?;
    let full_name = match change.full_name {
        Some(n) => Some(validate_full_name(Some(n))?.unwrap_or_default()),
        None => None,
    };
    let locale = change
        .locale
        .map(|l| {
            Locale::from_code(l)
                .ok_or_else(|| ServiceError::invalid("locale", "must be `ko` or `en`"))
        })
        .transpose()?;
    let new_email = change
        .email
        .map(|e| validate_email("email", e))
        .transpose()?;
    let current = me(state, caller.user).await?;
    // Only an address that really changes needs the password; it is checked before anything of
    // the request is applied.
    let new_email = new_email.filter(|e| *e != current.email);
    if new_email.is_some() {
        let password = change.current_password.ok_or_else(|| {
            ServiceError::invalid("current_password", "is required to change the email")
        })?;
        let wrong = "the current password is not correct";
        confirm_password(state, caller, &current, password, wrong).await?;
    }
    let taken = || ServiceError::Conflict("this username is taken".into());
    if let Some(name) = &username
        && users::username_taken(&state.db, name, Some(caller.user)).await?
    {
        return Err(taken());
    }
    let applied = users::update_profile(
        &state.db,
        caller.user,
        username.as_deref(),
        full_name.as_deref(),
        locale.map(Locale::as_str),
    )
    .await?;
    if !applied {
        return Err(taken());
    }
    if let Some(email) = new_email {
        let locale = locale.unwrap_or_else(|| Locale::parse(&current.locale).unwrap_or_default());
        request_email_change(state, caller, &current, &email, locale).await?;
    }
    me(state, caller.user).await
}

/// Sends the confirmation link of an email change to the new address.
async fn request_email_change(
    state: &AppState,
    caller: &Caller,
    current: &users::UserRow,
    email: &str,
    locale: Locale,
) -> Result<()> {
    if users::email_taken(&state.db, email).await? {
        return Err(ServiceError::Conflict(
            "this email is already registered".into(),
        ));
    }
    let (token, hash) = one_time_token::generate();
    let new_token = auth_tokens::NewToken {
        user: caller.user,
        purpose: Purpose::EmailChange,
        token_hash: &hash,
        new_email: Some(email),
        session_family: Some(caller.session_family),
        expires_at: Utc::now() + Duration::hours(EMAIL_CHANGE_TTL_HOURS),
    };
    auth_tokens::issue(&state.db, new_token).await?;
    let kind = EmailKind::EmailChange {
        username: current.username.clone(),
        link: outbox::link(state, "/confirm-email", &token),
        new_email: email.to_string(),
    };
    outbox::send(state, Some(caller.user), email, locale, kind).await
}

/// Applies an email change with the link sent to the new address: the old address is told, and
/// every session but the one that asked for the change is signed out.
#[tracing::instrument(skip_all)]
pub async fn confirm_email(state: &AppState, ip: Option<IpAddr>, token: &str) -> Result<()> {
    rate_limit::check(state, "confirm-email", ip, None).await?;
    let expired = || ServiceError::Refused("invalid or expired confirmation link".into());
    let mut tx = state.db.begin().await?;
    let used = auth_tokens::consume(&mut *tx, Purpose::EmailChange, &one_time_token::hash(token))
        .await?
        .ok_or_else(expired)?;
    let user_id = used.user_id;
    let new_email = used
        .new_email
        .ok_or_else(|| ServiceError::Refused("invalid confirmation link".into()))?;
    let old = users::find(&mut *tx, user_id).await?.ok_or_else(expired)?;
    if !users::set_email(&mut *tx, user_id, &new_email).await? {
        return Err(ServiceError::Conflict(
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
    let kind = EmailKind::EmailChanged {
        username: old.username,
        new_email,
    };
    let locale = Locale::parse(&old.locale).unwrap_or_default();
    outbox::send(state, Some(user_id), &old.email, locale, kind).await
}

/// Changes the password and signs out every session (sign in again with the new one).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current_password: &str,
    new_password: &str,
) -> Result<()> {
    password::validate("new_password", new_password)?;
    let row = me(state, caller.user).await?;
    let wrong = "the current password is not correct";
    confirm_password(state, caller, &row, current_password, wrong).await?;
    let hash = state.passwords.hash(new_password).await?;
    let mut tx = state.db.begin().await?;
    users::set_password(&mut *tx, caller.user, &hash).await?;
    sessions::revoke_all(&mut *tx, caller.user).await?;
    activity::record(
        &mut *tx,
        caller.user,
        "password_changed",
        "password changed",
        None,
    )
    .await?;
    tx.commit().await?;
    let locale = Locale::parse(&row.locale).unwrap_or_default();
    let kind = EmailKind::PasswordChanged {
        username: row.username,
    };
    outbox::send(state, Some(caller.user), &row.email, locale, kind).await
}

/// Deletes the account: its Paddle subscription is cancelled at once, it is deactivated and
/// signed out, then a workflow erases its media and personal data. An HMAC of the address and
/// the Paddle customer are kept (see `former_accounts`) so later payments are still attributed
/// and the address gets no second welcome grant.
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub async fn delete_account(state: &AppState, caller: &Caller, password: &str) -> Result<()> {
    let user = caller.user;
    let row = me(state, user).await?;
    confirm_password(state, caller, &row, password, "the password is not correct").await?;
    cancel_subscription_now(state, user).await?;
    let address =
        former_accounts::email_hmac(state.settings.jwt_secret.expose().as_bytes(), &row.email);
    let customer = billing::customer_id(&state.db, user).await?;
    let mut tx = state.db.begin().await?;
    former_accounts::remember_erased(&mut *tx, &address, customer.as_deref()).await?;
    sessions::revoke_all(&mut *tx, user).await?;
    users::deactivate(&mut *tx, user).await?;
    tx.commit().await?;
    temporal::erase_account(&state.temporal, &state.settings.temporal.task_queue, user)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, %user, "cannot start the erasure of a deleted account");
            ServiceError::Unavailable(
                "the account was closed but its erasure could not start; retry to finish".into(),
            )
        })
}

/// A deleted account pays for nothing more: its subscription ends now, before anything is
/// erased (if Paddle cannot be reached, nothing is deleted and the user can retry).
async fn cancel_subscription_now(state: &AppState, user: UserId) -> Result<()> {
    let subscription = billing::current(&state.db, user).await?;
    let Some(paddle_id) = subscription
        .filter(|s| !matches!(s.status.as_str(), "canceled" | "cancelled"))
        .and_then(|s| s.paddle_subscription_id)
    else {
        return Ok(());
    };
    let unavailable = "the subscription could not be cancelled; nothing was deleted, try again";
    let paddle = state.paddle.as_ref().ok_or_else(|| {
        ServiceError::Unavailable("billing is not available; try again later".into())
    })?;
    paddle.cancel_now(&paddle_id).await.map_err(|e| {
        tracing::error!(error = %e, %user, "cannot cancel the subscription of a deleted account");
        ServiceError::Unavailable(unavailable.into())
    })?;
    Ok(())
}
