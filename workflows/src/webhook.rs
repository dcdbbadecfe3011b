//! `WebhookDeliveryWorkflow` (`webhook-{delivery_id}`): delivers one event to one endpoint,
//! retrying with doubling waits for the retry window (a day). Out of retries, the delivery is
//! marked failed; an endpoint that failed everything for that long is disabled and its owner is
//! emailed. Each delivery is its own workflow, so one dead endpoint holds up nothing else.

use crate::activities::{SupportActivities, WebhookActivities};
use crate::options;
use onevoice_shared::contracts::{DeliverWebhookInput, SendEmailInput};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityExecutionError, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct WebhookDeliveryWorkflow;

#[workflow_methods]
impl WebhookDeliveryWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: DeliverWebhookInput,
    ) -> WorkflowResult<()> {
        let delivered = ctx
            .execute_activity(
                WebhookActivities::deliver,
                input.clone(),
                options::webhook_delivery(&input),
            )
            .await;
        match delivered {
            Ok(()) => Ok(()),
            Err(ActivityExecutionError::Failed(_)) => {
                let email = ctx
                    .execute_activity(
                        WebhookActivities::give_up,
                        input,
                        options::bookkeeping(false),
                    )
                    .await?;
                if let Some(email_id) = email {
                    ctx.execute_activity(
                        SupportActivities::send_email,
                        SendEmailInput { email_id },
                        options::email(),
                    )
                    .await?;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
