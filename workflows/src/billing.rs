//! `BillingWorkflow` (`billing-{user_id}`): one per customer, fed by the Paddle webhook route with
//! signal-with-start.
//!
//! It applies the customer's events one at a time, oldest `occurred_at` first among those waiting
//! (the activity also ignores snapshots older than the state it holds, since Paddle does not
//! promise order), and owns the grace-period timer: a subscription that turns past due keeps
//! dubbing until the deadline, then the customer is suspended until a payment arrives. It never
//! completes; it continues as new after `event_limit` events so its history stays small.

use crate::activities::BillingActivities;
use crate::email::EmailWorkflow;
use crate::options;
use onevoice_shared::contracts::{
    ApplyPaddleEventInput, BillingInput, BillingOutcome, PaddleEventRef, SendEmailInput,
    SuspendOverdueInput, email_workflow_id,
};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ChildWorkflowOptions, ContinueAsNewOptions, ParentClosePolicy,
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
};

#[workflow]
pub struct BillingWorkflow {
    input: BillingInput,
    /// Signalled events not applied yet.
    pending: Vec<PaddleEventRef>,
    grace_deadline: Option<chrono::DateTime<chrono::Utc>>,
    applied: u32,
}

#[workflow_methods]
impl BillingWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: BillingInput) -> Self {
        Self {
            pending: input.pending.clone(),
            grace_deadline: input.grace_deadline,
            input,
            applied: 0,
        }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
        loop {
            if ctx.state(|s| s.pending.is_empty()) {
                let (limit_reached, deadline) =
                    ctx.state(|s| (s.applied >= s.input.event_limit, s.grace_deadline));
                if limit_reached {
                    let next = ctx.state(|s| BillingInput {
                        pending: Vec::new(),
                        grace_deadline: s.grace_deadline,
                        ..s.input.clone()
                    });
                    ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
                }
                match deadline {
                    Some(deadline) => {
                        let now: chrono::DateTime<chrono::Utc> =
                            ctx.workflow_time().map(Into::into).unwrap_or_default();
                        let wait = (deadline - now).to_std().unwrap_or(Duration::ZERO);
                        let expired = temporalio_sdk::workflows::select! {
                            res = ctx.wait_condition(|s| !s.pending.is_empty()) => { res?; false }
                            _ = ctx.timer(wait) => true,
                        };
                        if expired {
                            suspend_overdue(ctx).await?;
                            continue;
                        }
                    }
                    None => ctx.wait_condition(|s| !s.pending.is_empty()).await?,
                }
            }
            let next = ctx.state_mut(|s| {
                // The oldest waiting event first; Paddle does not deliver in order.
                let i = s
                    .pending
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| (e.occurred_at, e.event_id.clone()))
                    .map(|(i, _)| i)?;
                Some(s.pending.remove(i))
            });
            let Some(event) = next else { continue };
            let input = ctx.state(|s| ApplyPaddleEventInput {
                user_id: s.input.user_id,
                event_id: event.event_id.clone(),
                grace_period_secs: s.input.grace_period_secs,
            });
            ctx.set_current_details(format!(
                "applying {} ({})",
                event.event_type, event.event_id
            ));
            let outcome = ctx
                .execute_activity(
                    BillingActivities::apply_paddle_event,
                    input,
                    options::bookkeeping(false),
                )
                .await?;
            ctx.state_mut(|s| s.applied += 1);
            settle(ctx, outcome).await?;
        }
    }

    /// A webhook event for this customer. The same event twice is kept once (the activity would
    /// ignore it anyway).
    #[signal(name = "paddle_event")]
    pub fn paddle_event(&mut self, _ctx: &mut SyncWorkflowContext<Self>, event: PaddleEventRef) {
        if !self.pending.iter().any(|e| e.event_id == event.event_id) {
            self.pending.push(event);
        }
    }

    /// For operators and tests: `temporal workflow query --type state`.
    #[query]
    pub fn state(&self, _ctx: &WorkflowContextView) -> BillingOutcome {
        BillingOutcome {
            grace_deadline: self.grace_deadline,
            emails: Vec::new(),
        }
    }
}

async fn suspend_overdue(
    ctx: &mut WorkflowContext<BillingWorkflow>,
) -> Result<(), ActivityExecutionError> {
    let input = ctx.state(|s| SuspendOverdueInput {
        user_id: s.input.user_id,
        grace_period_secs: s.input.grace_period_secs,
    });
    let outcome = ctx
        .execute_activity(
            BillingActivities::suspend_overdue,
            input,
            options::bookkeeping(false),
        )
        .await?;
    settle(ctx, outcome).await
}

/// Takes the new deadline and hands the queued notices to their own `EmailWorkflow`s: an SMTP
/// outage then delays an email without holding up the customer's next billing event.
async fn settle(
    ctx: &mut WorkflowContext<BillingWorkflow>,
    outcome: BillingOutcome,
) -> Result<(), ActivityExecutionError> {
    ctx.state_mut(|s| s.grace_deadline = outcome.grace_deadline);
    for email_id in outcome.emails {
        let options = ChildWorkflowOptions::builder()
            .workflow_id(email_workflow_id(email_id))
            .parent_close_policy(ParentClosePolicy::Abandon)
            .build();
        // Already started (a replayed activity returned the same email): nothing to do.
        let _already_started = ctx
            .start_child_workflow(EmailWorkflow::run, SendEmailInput { email_id }, options)
            .await;
    }
    Ok(())
}
