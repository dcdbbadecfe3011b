//! The Temporal connection and typed workflow starts.

use onevoice_shared::contracts::{DeliverWebhookInput, webhook_delivery_workflow_id};
use onevoice_shared::contracts::{
    DubbingInput, MaintenanceInput, SendEmailInput, dubbing_workflow_id, email_workflow_id,
    maintenance_workflow_id, search_attribute,
};
use onevoice_shared::contracts::{EraseAccountInput, erasure_workflow_id};
use onevoice_shared::contracts::{ExportInput, export_workflow_id};
use onevoice_shared::contracts::{RerenderInput, rerender_workflow_id};
use onevoice_shared::ids::UserId;
use onevoice_shared::settings::{Settings, TemporalSettings};
use onevoice_shared::status::JobStatus;
use onevoice_workflows::{
    AccountErasureWorkflow, DubbingWorkflow, EmailWorkflow, ExportWorkflow, MaintenanceWorkflow,
    RerenderWorkflow, WebhookDeliveryWorkflow,
};
use std::time::{Duration, Instant};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy, WorkflowStartOptions,
    errors::{WorkflowInteractionError, WorkflowStartError},
};
use temporalio_common::HasWorkflowDefinition;
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

/// Starts a workflow. One with its id that already runs (or ran, as the options' reuse policy
/// says) is this same start done before, so that is a success too: every start here is
/// idempotent.
async fn start_once<W>(
    client: &Client,
    workflow: W,
    input: W::Input,
    options: WorkflowStartOptions,
) -> anyhow::Result<()>
where
    W: HasWorkflowDefinition,
    W::Input: Send,
{
    match client.start_workflow(workflow, input, options).await {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Starts `dub-{job_id}`. Starting the same job twice is harmless: a running or completed workflow
/// with that id is left alone (a queued job's message may come twice).
pub async fn start_dubbing(
    client: &Client,
    task_queue: &str,
    input: &DubbingInput,
    title: &str,
) -> anyhow::Result<()> {
    let options = dubbing_options(
        task_queue,
        input,
        title,
        WorkflowIdConflictPolicy::UseExisting,
    );
    start_once(client, DubbingWorkflow::run, input.clone(), options).await
}

/// Starts a new run of a failed dub (a resume): the new run replays the pipeline, and every step
/// that had finished returns its stored result.
///
/// The failed run may still be open: it records the failure, then sends the notice. A start
/// then would find it running and be taken for the new run while nothing runs after it closes,
/// so that run is waited for (up to `patience`), and one still open after it is an error.
pub async fn resume_dubbing(
    client: &Client,
    task_queue: &str,
    input: &DubbingInput,
    title: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    use temporalio_client::{WorkflowGetResultOptions, errors::WorkflowGetResultError};
    let previous = client.get_workflow_handle::<DubbingWorkflow>(dubbing_workflow_id(input.job_id));
    let closed = previous.get_result(WorkflowGetResultOptions::default());
    match tokio::time::timeout(patience, closed).await {
        Err(_) => anyhow::bail!("the failed run of the dub is still open"),
        Ok(Err(WorkflowGetResultError::Rpc(status))) => return Err(status.into()),
        // Closed, however it ended (a failed dub's run fails).
        Ok(_) => {}
    }
    let options = dubbing_options(task_queue, input, title, WorkflowIdConflictPolicy::Fail);
    client
        .start_workflow(DubbingWorkflow::run, input.clone(), options)
        .await?;
    Ok(())
}

/// How a dub's workflow starts: its search attributes and memo, and the id policies. A failed
/// run may be followed by a new one (a resume); a completed one never.
/// Starts `rerender-{job}-v{n}` (a repeat finds it started and leaves it alone).
pub async fn start_rerender(
    client: &Client,
    task_queue: &str,
    input: &RerenderInput,
) -> anyhow::Result<()> {
    let attrs = SearchAttributes::new([
        SearchAttributeKey::<String>::keyword(search_attribute::USER_ID)
            .value_set(input.user_id.to_string()),
        SearchAttributeKey::<String>::keyword(search_attribute::VIDEO_ID)
            .value_set(input.video_id.to_string()),
    ]);
    let options = WorkflowStartOptions::new(
        task_queue,
        rerender_workflow_id(input.job_id, input.version),
    )
    .search_attributes(attrs)
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .build();
    start_once(client, RerenderWorkflow::run, input.clone(), options).await
}

/// Starts `export-{job}-v{n}`: a running or completed one is left alone, a failed one is
/// started again.
pub async fn start_export(
    client: &Client,
    task_queue: &str,
    input: &ExportInput,
) -> anyhow::Result<()> {
    let options =
        WorkflowStartOptions::new(task_queue, export_workflow_id(input.job_id, input.version))
            .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
            .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicateFailedOnly)
            .build();
    start_once(client, ExportWorkflow::run, input.clone(), options).await
}

/// How the exports of a version are doing, as far as Temporal knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportState {
    /// Never asked for (or forgotten after the retention period).
    None,
    Running,
    Completed,
    /// Failed, cancelled, terminated or timed out: asking again starts it anew.
    Failed,
}

pub async fn export_state(
    client: &Client,
    job: onevoice_shared::ids::JobId,
    version: u32,
) -> anyhow::Result<ExportState> {
    use temporalio_client::{WorkflowDescribeOptions, WorkflowExecutionStatus as S};
    let handle = client.get_workflow_handle::<ExportWorkflow>(export_workflow_id(job, version));
    match handle.describe(WorkflowDescribeOptions::default()).await {
        Ok(d) => Ok(match d.status() {
            S::Completed => ExportState::Completed,
            S::Failed | S::Canceled | S::Terminated | S::TimedOut => ExportState::Failed,
            // Running, paused, or a status of a newer server: still going as far as we know.
            _ => ExportState::Running,
        }),
        Err(WorkflowInteractionError::NotFound(_)) => Ok(ExportState::None),
        Err(e) => Err(e.into()),
    }
}

fn dubbing_options(
    task_queue: &str,
    input: &DubbingInput,
    title: &str,
    conflict: WorkflowIdConflictPolicy,
) -> WorkflowStartOptions {
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
    // The memo shows in the Web UI beside the search attributes: what is being dubbed, and how.
    let mut memo = temporalio_common::MemoValues::new();
    memo.insert("video_title", title.to_string());
    memo.insert(
        "languages",
        format!("{} -> {}", input.source_language, input.target_language),
    );
    memo.insert("credits_per_minute", input.credits_per_minute);
    WorkflowStartOptions::new(task_queue, dubbing_workflow_id(input.job_id))
        .search_attributes(attrs)
        .memo(memo)
        .id_conflict_policy(conflict)
        .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicateFailedOnly)
        .build()
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
    start_once(
        client,
        EmailWorkflow::run,
        SendEmailInput { email_id },
        options,
    )
    .await
}

/// Starts the delivery of one webhook (`webhook-{id}`); starting it twice delivers once.
pub async fn deliver_webhook(
    client: &Client,
    task_queue: &str,
    input: DeliverWebhookInput,
) -> anyhow::Result<()> {
    let options =
        WorkflowStartOptions::new(task_queue, webhook_delivery_workflow_id(input.delivery_id))
            .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
            .build();
    start_once(client, WebhookDeliveryWorkflow::run, input, options).await
}

/// Makes sure the cleanup loop of this task queue runs (workers call it at start-up; all but the
/// first call find it running).
pub async fn ensure_maintenance(client: &Client, settings: &Settings) -> anyhow::Result<()> {
    let task_queue = &settings.temporal.task_queue;
    let options = WorkflowStartOptions::new(task_queue, maintenance_workflow_id(task_queue))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    let input = MaintenanceInput {
        interval_secs: settings.temporal.maintenance_interval.as_secs().max(1),
        abandon_upload_secs: settings.uploads.abandon_after.as_secs(),
    };
    start_once(client, MaintenanceWorkflow::run, input, options).await
}

/// Starts the erasure of a deleted account's data (`erase-{user_id}`).
pub async fn erase_account(client: &Client, task_queue: &str, user: UserId) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(task_queue, erasure_workflow_id(user))
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .build();
    start_once(
        client,
        AccountErasureWorkflow::run,
        EraseAccountInput { user_id: user },
        options,
    )
    .await
}

/// Starts processing a finished upload (`ingest-{video_id}`); idempotent.
pub async fn ingest(
    client: &Client,
    task_queue: &str,
    input: onevoice_shared::contracts::IngestInput,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(
        task_queue,
        onevoice_shared::contracts::ingest_workflow_id(input.video_id),
    )
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .build();
    start_once(
        client,
        onevoice_workflows::VideoIngestWorkflow::run,
        input,
        options,
    )
    .await
}

/// Extracts a thumbnail through the worker and waits for it (bounded by `timeout`).
pub async fn thumbnail(
    client: &Client,
    task_queue: &str,
    input: onevoice_shared::contracts::ThumbnailInput,
    timeout: Duration,
) -> anyhow::Result<Result<String, String>> {
    use temporalio_client::{WorkflowGetResultOptions, errors::WorkflowGetResultError};
    let id = format!("thumbnail-{}", uuid::Uuid::new_v4());
    let options = WorkflowStartOptions::new(task_queue, id)
        .execution_timeout(timeout)
        .build();
    let handle = client
        .start_workflow(onevoice_workflows::ThumbnailWorkflow::run, input, options)
        .await?;
    match tokio::time::timeout(
        timeout,
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    {
        Ok(Ok(key)) => Ok(Ok(key)),
        Ok(Err(WorkflowGetResultError::Failed(f))) => {
            let mut source: &dyn std::error::Error = &*f;
            while let Some(next) = source.source() {
                source = next;
            }
            Ok(Err(source.to_string()))
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(anyhow::anyhow!("thumbnail extraction timed out")),
    }
}

/// Starts the deletion of a video (`delete-video-{id}`); idempotent.
pub async fn delete_video(
    client: &Client,
    task_queue: &str,
    input: onevoice_shared::contracts::DeleteVideoInput,
) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(
        task_queue,
        onevoice_shared::contracts::video_deletion_workflow_id(input.video_id),
    )
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .build();
    start_once(
        client,
        onevoice_workflows::VideoDeletionWorkflow::run,
        input,
        options,
    )
    .await
}

/// Asks a running dub to stop; a finished or unknown one is left as it is.
pub async fn cancel_dubbing(
    client: &Client,
    job: onevoice_shared::ids::JobId,
    reason: &str,
) -> anyhow::Result<()> {
    use temporalio_client::WorkflowCancelOptions;
    let handle = client.get_workflow_handle::<DubbingWorkflow>(dubbing_workflow_id(job));
    match handle
        .cancel(
            WorkflowCancelOptions::builder()
                .reason(reason.to_string())
                .build(),
        )
        .await
    {
        Ok(()) => Ok(()),
        // Closed or never started: nothing runs to cancel.
        Err(e @ WorkflowInteractionError::NotFound(_)) => {
            tracing::info!(%job, error = %e, "dub not cancelled (not running)");
            Ok(())
        }
        Err(WorkflowInteractionError::Rpc(status))
            if status.code() == temporalio_client::tonic::Code::FailedPrecondition =>
        {
            tracing::info!(%job, %status, "dub not cancelled (not running)");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Hands the user's approval to a dub waiting at its review checkpoint.
pub async fn approve_dubbing(
    client: &Client,
    job: onevoice_shared::ids::JobId,
    approval: onevoice_shared::contracts::Approval,
) -> anyhow::Result<()> {
    use temporalio_client::WorkflowSignalOptions;
    client
        .get_workflow_handle::<DubbingWorkflow>(dubbing_workflow_id(job))
        .signal(
            DubbingWorkflow::approve,
            approval,
            WorkflowSignalOptions::default(),
        )
        .await?;
    Ok(())
}

/// Hands a stored Paddle event to the customer's `BillingWorkflow`, starting it if it does not
/// run (signal-with-start is atomic: the signal is never lost between the two).
pub async fn signal_billing(
    client: &Client,
    settings: &Settings,
    user: UserId,
    event: onevoice_shared::contracts::PaddleEventRef,
) -> anyhow::Result<()> {
    use onevoice_shared::contracts::{BillingInput, billing_workflow_id};
    use onevoice_workflows::BillingWorkflow;
    let input = BillingInput {
        user_id: user,
        grace_period_secs: settings.billing.grace_period.as_secs(),
        event_limit: settings.billing.workflow_event_limit,
        pending: Vec::new(),
        grace_deadline: None,
    };
    let attrs =
        SearchAttributes::new([
            SearchAttributeKey::<String>::keyword(search_attribute::USER_ID)
                .value_set(user.to_string()),
        ]);
    let options = WorkflowStartOptions::new(
        settings.temporal.task_queue.clone(),
        billing_workflow_id(user),
    )
    .search_attributes(attrs)
    .build();
    client
        .signal_with_start_workflow(
            BillingWorkflow::run,
            input,
            BillingWorkflow::paddle_event,
            event,
            options,
        )
        .await?;
    Ok(())
}
