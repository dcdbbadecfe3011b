//! Webhook deliveries (`webhooks.deliver`, `webhooks.give_up`): one signed `POST` per attempt
//! through the outbound guard, each attempt logged for the endpoint's owner.
//!
//! An attempt that cannot succeed (the endpoint was deleted or disabled meanwhile, the delivery
//! already went through) ends the delivery without an error, so Temporal stops retrying it.

use crate::deps::Deps;
use crate::error;
use onevoice_shared::contracts::{DeliverWebhookInput, activity};
use onevoice_shared::email::EmailKind;
use onevoice_shared::outbound::{self, AddressRule, Limits, Refusal};
use onevoice_shared::repo::{users, webhooks};
use onevoice_shared::webhook;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

pub struct WebhookActivities {
    deps: Deps,
    /// No redirects (a receiver answers itself), only addresses the rule allows.
    client: reqwest::Client,
}

impl WebhookActivities {
    pub fn new(deps: Deps) -> Self {
        let limits = Limits {
            connect_timeout: deps.webhooks.timeout.min(Duration::from_secs(5)),
            timeout: deps.webhooks.timeout,
            max_redirects: 0,
        };
        let rule = AddressRule {
            allow_private: deps.outbound.allow_private,
        };
        let client = outbound::client(rule, limits).expect("a TLS backend is available");
        Self { deps, client }
    }
}

/// How an attempt ended, in words the endpoint's owner reads in the delivery log (never an
/// address we resolved or a library's message).
fn describe(e: &reqwest::Error) -> &'static str {
    let mut source = e.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<Refusal>().is_some() {
            return "the URL points to a private or reserved address";
        }
        source = cause.source();
    }
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    }
}

#[activities]
impl WebhookActivities {
    #[activity(name = activity::DELIVER_WEBHOOK)]
    pub async fn deliver(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: DeliverWebhookInput,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        let Some(out) = webhooks::outgoing(&d.db, input.delivery_id)
            .await
            .map_err(error::db)?
        else {
            return Ok(()); // the endpoint was deleted, and its deliveries with it
        };
        if out.status != "pending" {
            return Ok(());
        }
        if !out.enabled {
            webhooks::end(&d.db, out.id, "cancelled")
                .await
                .map_err(error::db)?;
            return Ok(());
        }
        let mut secrets = vec![out.secret.as_str()];
        secrets.extend(out.previous_secret.as_deref());
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhook::signature_header(&secrets, timestamp, out.body.as_bytes());
        let started = Instant::now();
        let sent = self
            .client
            .post(&out.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "OneVoice-Webhooks/1")
            .header(webhook::EVENT_HEADER, &out.event_type)
            .header(webhook::DELIVERY_HEADER, out.id.to_string())
            .header(webhook::SIGNATURE_HEADER, signature)
            .body(out.body.clone())
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let (code, failure) = match &sent {
            Ok(res) if res.status().is_success() => (Some(res.status().as_u16()), None),
            Ok(res) if res.status().is_redirection() => (
                Some(res.status().as_u16()),
                Some("redirects are not followed"),
            ),
            Ok(res) => (Some(res.status().as_u16()), Some("the endpoint refused it")),
            Err(e) => (None, Some(describe(e))),
        };
        let attempt = webhooks::Attempt {
            number: ctx.info().attempt as i32,
            response_code: code.map(i32::from),
            latency_ms,
            error: failure,
        };
        webhooks::record_attempt(&d.db, out.id, attempt, failure.is_none())
            .await
            .map_err(error::db)?;
        match failure {
            None => Ok(()),
            Some(why) => Err(error::transient(format!(
                "webhook delivery failed: {why}{}",
                code.map(|c| format!(" ({c})")).unwrap_or_default()
            ))),
        }
    }

    #[activity(name = activity::GIVE_UP_WEBHOOK)]
    pub async fn give_up(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: DeliverWebhookInput,
    ) -> Result<Option<Uuid>, ActivityError> {
        let d = &self.deps;
        let Some(out) = webhooks::outgoing(&d.db, input.delivery_id)
            .await
            .map_err(error::db)?
        else {
            return Ok(None);
        };
        webhooks::end(&d.db, out.id, "failed")
            .await
            .map_err(error::db)?;
        // Failing a whole retry window with no success since the delivery began: the endpoint
        // is dead, not hiccuping.
        let dead = out.last_success_at.is_none_or(|t| t < out.created_at);
        if !dead
            || !webhooks::disable(&d.db, out.endpoint_id, "every attempt failed for a day")
                .await
                .map_err(error::db)?
        {
            return Ok(None);
        }
        tracing::info!(endpoint = %out.endpoint_id, "webhook endpoint disabled after failing");
        let Some(user) = users::find_any(&d.db, out.user_id)
            .await
            .map_err(error::db)?
        else {
            return Ok(None);
        };
        let kind = EmailKind::WebhookDisabled {
            username: user.username.clone(),
            url: out.url.clone(),
        };
        let dedupe = format!("webhook:{}:disabled:{}", out.endpoint_id, out.id);
        let id = crate::notify::queue_notice(&d.db, &user, &kind, &dedupe)
            .await
            .map_err(error::db)?;
        Ok(Some(id))
    }
}

/// Records an event about `job` in the caller's transaction (see `webhooks::emit`), under
/// `job:<id>:<cause>`; `extra` adds to the fields every job event carries.
pub(crate) async fn job_event(
    conn: &mut sqlx::PgConnection,
    job: &onevoice_shared::repo::jobs::JobRow,
    event_type: webhook::EventType,
    cause: &str,
    extra: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let mut data = serde_json::json!({
        "job_id": job.id,
        "video_id": job.video_id,
        "batch_id": job.batch_id,
        "target_language": job.target_language,
        "round": job.retry_count,
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    webhooks::emit(
        conn,
        webhooks::NewEvent {
            user: job.user_id,
            event_type,
            subject: webhooks::Subject::Job {
                job: job.id,
                video: job.video_id,
            },
            dedupe_key: &format!("job:{}:{cause}", job.id),
            data,
        },
    )
    .await?;
    Ok(())
}
