//! `MaintenanceWorkflow` (`maintenance-{task_queue}`): a durable timer loop that removes expired
//! signups, used one-time tokens and old rate-limit counters. It continues as new every so many
//! rounds to keep its history small.

use crate::activities::SupportActivities;
use crate::options;
use onevoice_shared::contracts::MaintenanceInput;
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ContinueAsNewOptions, WorkflowContext, WorkflowResult};

/// Rounds per run before continuing as new (each round adds about ten history events).
const ROUNDS_PER_RUN: u32 = 100;

#[workflow]
#[derive(Default)]
pub struct MaintenanceWorkflow;

#[workflow_methods]
impl MaintenanceWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: MaintenanceInput,
    ) -> WorkflowResult<()> {
        for _ in 0..ROUNDS_PER_RUN {
            ctx.execute_activity(
                SupportActivities::cleanup,
                input.clone(),
                options::bookkeeping(false),
            )
            .await?;
            ctx.timer(Duration::from_secs(input.interval_secs.max(1)))
                .await;
        }
        ctx.continue_as_new(input, ContinueAsNewOptions::default())?;
        Ok(())
    }
}
