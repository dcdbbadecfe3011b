//! `AccountErasureWorkflow` (`erase-{user_id}`): after an account is deleted (and deactivated at
//! once by the API), removes its stored media and its personal data, retrying until done.

use crate::activities::SupportActivities;
use crate::options;
use onevoice_shared::contracts::{EraseAccountInput, ErasureReport};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct AccountErasureWorkflow;

#[workflow_methods]
impl AccountErasureWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: EraseAccountInput,
    ) -> WorkflowResult<ErasureReport> {
        Ok(ctx
            .execute_activity(
                SupportActivities::erase_account,
                input,
                options::bookkeeping(false),
            )
            .await?)
    }
}
