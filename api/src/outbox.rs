//! Queuing emails: render, store in the outbox, hand to an `EmailWorkflow` for delivery.

use crate::services::ServiceError;
use crate::state::AppState;
use crate::temporal;
use onevoice_shared::email::{self, EmailKind};
use onevoice_shared::ids::UserId;
use onevoice_shared::locale::Locale;
use onevoice_shared::repo::emails;

pub async fn send(
    state: &AppState,
    user: Option<UserId>,
    to: &str,
    locale: Locale,
    kind: EmailKind,
) -> Result<(), ServiceError> {
    let rendered = email::render(&kind, locale);
    let id = emails::insert(
        &state.db,
        emails::NewEmail {
            user_id: user,
            kind: &kind,
            to,
            locale,
            rendered: &rendered,
            dedupe_key: None,
        },
    )
    .await?;
    temporal::send_email(&state.temporal, &state.settings.temporal.task_queue, id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, email = %id, "cannot start email delivery");
            ServiceError::Unavailable("the email could not be queued; please retry".into())
        })
}

/// A link into the web app carrying a one-time token.
pub fn link(state: &AppState, path: &str, token: &str) -> String {
    let mut url = state.settings.auth.frontend_url.clone();
    url.set_path(path);
    url.query_pairs_mut().clear().append_pair("token", token);
    url.to_string()
}
