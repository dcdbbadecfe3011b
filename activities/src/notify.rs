//! Email delivery from the outbox over SMTP (lettre).
//!
//! The message id is derived from the outbox id, so if an attempt delivers but crashes before
//! recording it, the retry's copy carries the same `Message-ID` and mail systems fold the two;
//! an email already recorded as sent is never sent again.

use crate::deps::Deps;
use crate::error;
use lettre::AsyncTransport;
use lettre::message::{Mailbox, MultiPart};
use onevoice_shared::contracts::{SendEmailInput, activity};
use onevoice_shared::repo::{emails, users};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Kinds whose body holds a one-time link: erased from the outbox once delivered.
const SECRET_KINDS: [&str; 3] = ["verify_email", "password_reset", "email_change"];

/// Job and billing notices honour the recipient's preferences at send time; account emails
/// (verification, reset, security notices) always go out.
async fn wanted(db: &sqlx::PgPool, email: &emails::EmailRow) -> Result<bool, sqlx::Error> {
    let notice = match email.kind.as_str() {
        "job_completed" | "job_failed" => users::Notice::Processing,
        k if k.starts_with("billing_") => users::Notice::Billing,
        _ => return Ok(true),
    };
    let Some(user) = email.user_id else {
        return Ok(true);
    };
    users::wants(db, user, notice).await
}

pub struct NotifyActivities {
    deps: Deps,
}

impl NotifyActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[activities]
impl NotifyActivities {
    #[activity(name = activity::SEND_EMAIL)]
    pub async fn send_email(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SendEmailInput,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        let Some(email) = emails::get(&d.db, input.email_id)
            .await
            .map_err(error::db)?
        else {
            return Err(error::fatal(format!(
                "email {} does not exist",
                input.email_id
            )));
        };
        if email.status != "pending" {
            return Ok(());
        }
        if !wanted(&d.db, &email).await.map_err(error::db)? {
            emails::mark_suppressed(&d.db, email.id)
                .await
                .map_err(error::db)?;
            tracing::info!(email = %email.id, kind = %email.kind, "email suppressed by the user's preferences");
            return Ok(());
        }
        let (Some(text), Some(html)) = (email.text_body.clone(), email.html_body.clone()) else {
            return Err(error::fatal("email has no body"));
        };
        let from: Mailbox = d
            .email_from
            .parse()
            .map_err(|e| error::fatal(format!("bad sender address: {e}")))?;
        let to: Mailbox = email
            .to_address
            .parse()
            .map_err(|e| error::fatal(format!("bad recipient address: {e}")))?;
        let message = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(&email.subject)
            .message_id(Some(format!("<{}@onevoice>", email.id)))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| error::fatal(format!("cannot build the message: {e}")))?;
        if let Err(e) = d.mailer.send(message).await {
            let reason = e.to_string();
            emails::record_attempt(&d.db, email.id, &reason)
                .await
                .map_err(error::db)?;
            // A permanent SMTP rejection (5xx) of the recipient will not change on retry.
            return Err(if e.is_permanent() {
                error::fatal(format!("SMTP rejected the email: {reason}"))
            } else {
                error::transient(format!("SMTP delivery failed: {reason}"))
            });
        }
        emails::mark_sent(&d.db, email.id, SECRET_KINDS.contains(&email.kind.as_str()))
            .await
            .map_err(error::db)?;
        tracing::info!(email = %email.id, kind = %email.kind, "email sent");
        Ok(())
    }
}

/// Queues a notice to `user` in their language, once per `dedupe` cause (a repeat returns the
/// same outbox email); returns the outbox id for an `EmailWorkflow`.
pub(crate) async fn queue_notice(
    db: &sqlx::PgPool,
    user: &users::UserRow,
    kind: &onevoice_shared::email::EmailKind,
    dedupe: &str,
) -> Result<uuid::Uuid, sqlx::Error> {
    let locale = onevoice_shared::locale::Locale::parse(&user.locale).unwrap_or_default();
    let rendered = onevoice_shared::email::render(kind, locale);
    emails::insert(
        db,
        emails::NewEmail {
            user_id: Some(user.id),
            kind,
            to: &user.email,
            locale,
            rendered: &rendered,
            dedupe_key: Some(dedupe),
        },
    )
    .await
}
