//! The Temporal connection and typed workflow starts.

use onevoice_shared::contracts::{
    DubbingInput, MaintenanceInput, SendEmailInput, dubbing_workflow_id, email_workflow_id,
    maintenance_workflow_id, search_attribute,
};
use onevoice_shared::contracts::{EraseAccountInput, erasure_workflow_id};
use onevoice_shared::ids::UserId;
use onevoice_shared::settings::TemporalSettings;
use onevoice_shared::status::JobStatus;
use onevoice_workflows::{
    AccountErasureWorkflow, DubbingWorkflow, EmailWorkflow, MaintenanceWorkflow,
};
use std::time::{Duration, Instant};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy, WorkflowStartOptions, errors::WorkflowStartError,
};
use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributes};

/// Connects, retrying for up to `patience`: at start-up the server may still be coming up, and a
/// refused connection fails immediately.
pub async fn connect(
    settings: &TemporalSettings,
    identity: &str,
    patience: Duration,
) -> anyhow::Result<Client> {
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(200);
    loop {
        let options = ConnectionOptions::new(settings.address.clone())
            .identity(identity.to_string())
            .build();
        match Connection::connect(options).await {
            Ok(conn) => {
                return Ok(Client::new(
                    conn,
                    ClientOptions::new(settings.namespace.clone()).build(),
                )?);
            }
            Err(e) if Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, address = %settings.address, "Temporal not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(anyhow::anyhow!(e).context(format!(
                    "cannot connect to Temporal at {}",
                    settings.address
                )));
            }
        }
    }
}

/// Starts `dub-{job_id}`. Starting the same job twice is harmless: a running or finished workflow
/// with that id is left alone.
pub async fn start_dubbing(
    client: &Client,
    task_queue: &str,
    input: &DubbingInput,
) -> anyhow::Result<()> {
    let attrs = SearchAttributes::new([
        SearchAttributeKey::<String>::keyword(search_attribute::USER_ID)
            .value_set(input.user_id.to_string()),
        SearchAttributeKey::<String>::keyword(search_attribute::VIDEO_ID)
            .value_set(input.video_id.to_string()),
        SearchAttributeKey::<String>::keyword(search_attribute::JOB_STATUS)
            .value_set(JobStatus::Pending.as_str().to_string()),
        SearchAttributeKey::<String>::keyword(search_attribute::TARGET_LANGUAGE)
            .value_set(input.target_language.code().to_string()),
    ]);
    let options = WorkflowStartOptions::new(task_queue, dubbing_workflow_id(input.job_id))
        .search_attributes(attrs)
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    match client
        .start_workflow(DubbingWorkflow::run, input.clone(), options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Starts delivery of an outbox email (`email-{id}`); a second start of the same email is a no-op.
pub async fn send_email(
    client: &Client,
    task_queue: &str,
    email_id: uuid::Uuid,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(task_queue, email_workflow_id(email_id))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    match client
        .start_workflow(EmailWorkflow::run, SendEmailInput { email_id }, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes sure the cleanup loop of this task queue runs (workers call it at start-up; all but the
/// first call find it running).
pub async fn ensure_maintenance(
    client: &Client,
    task_queue: &str,
    interval: Duration,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(task_queue, maintenance_workflow_id(task_queue))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    let input = MaintenanceInput {
        interval_secs: interval.as_secs().max(1),
    };
    match client
        .start_workflow(MaintenanceWorkflow::run, input, options)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Starts the erasure of a deleted account's data (`erase-{user_id}`).
pub async fn erase_account(client: &Client, task_queue: &str, user: UserId) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(task_queue, erasure_workflow_id(user))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    match client
        .start_workflow(
            AccountErasureWorkflow::run,
            EraseAccountInput { user_id: user },
            options,
        )
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
