//! `EmailWorkflow` (`email-{email_id}`): delivers one outbox email, retrying through SMTP outages.

use crate::activities::SupportActivities;
use crate::options;
use onevoice_shared::contracts::SendEmailInput;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct EmailWorkflow;

#[workflow_methods]
impl EmailWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: SendEmailInput) -> WorkflowResult<()> {
        ctx.execute_activity(SupportActivities::send_email, input, options::email())
            .await?;
        Ok(())
    }
}
