//! `ExportWorkflow` (`export-{job}-v{n}`): the exports an editor asks for of one completed
//! version of a dub (voice and background stems, the clips with their timing sheet). One
//! activity does the work; the workflow makes it durable and gives operators one place to see
//! and retry it. It moves no money: exports are free.

use crate::activities::DubbingActivities;
use crate::options;
use onevoice_shared::contracts::{ExportInput, ExportOutput};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowContextView, WorkflowResult};

#[workflow]
pub struct ExportWorkflow {
    input: ExportInput,
}

#[workflow_methods]
impl ExportWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: ExportInput) -> Self {
        Self { input }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ExportOutput> {
        let input = ctx.state(|s| s.input.clone());
        let budget = options::long_running(input.activity_budget.unwrap_or_default());
        Ok(ctx
            .execute_activity(DubbingActivities::export_stems, input, budget)
            .await?)
    }
}
