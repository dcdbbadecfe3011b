//! Reading what the SMTP sink received: aiosmtpd writes every message into a Maildir.

use crate::harness::eventually;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: Option<String>,
}

/// The Maildir of the local stack's sink (exported as `MAILDIR` by `scripts/stack.sh env`).
pub fn stack_maildir() -> PathBuf {
    std::env::var("MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/var/tmp/onevoice-stack/maildir"))
}

/// Every message in `maildir` addressed to `to`.
pub fn messages_to(maildir: &Path, to: &str) -> anyhow::Result<Vec<ReceivedEmail>> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let raw = std::fs::read(entry?.path())?;
            let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else {
                continue;
            };
            let recipients: Vec<String> = msg
                .to()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.address().map(str::to_lowercase))
                        .collect()
                })
                .unwrap_or_default();
            if recipients.iter().any(|r| r == &to.to_lowercase()) {
                found.push(ReceivedEmail {
                    to: to.to_string(),
                    subject: msg.subject().unwrap_or_default().to_string(),
                    text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                    message_id: msg.message_id().map(str::to_string),
                });
            }
        }
    }
    Ok(found)
}

/// Waits for the `n`-th message to `to` and returns all of them.
pub async fn wait_for(maildir: &Path, to: &str, n: usize) -> anyhow::Result<Vec<ReceivedEmail>> {
    eventually(
        Duration::from_secs(60),
        &format!("{n} email(s) to {to}"),
        || async {
            let msgs = messages_to(maildir, to)?;
            Ok((msgs.len() >= n).then_some(msgs))
        },
    )
    .await
}

/// The `token` query parameter of the first link in a text body.
pub fn token_from(text: &str) -> Option<String> {
    let start = text.find("token=")? + "token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Every email to `to`, counted only once nothing more can come: the workflow `workflow_id`
/// (which sends them) has closed and no email to `to` waits in the outbox. Counting then, a
/// duplicate sent after the first one cannot hide.
pub async fn settled(
    app: &crate::harness::TestApp,
    workflow_id: &str,
    to: &str,
) -> anyhow::Result<Vec<ReceivedEmail>> {
    use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions, WorkflowExecutionStatus};
    let handle = app
        .state
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_string());
    // Its latest run (a resumed job has several) has closed, however it ended.
    eventually(
        Duration::from_secs(120),
        &format!("{workflow_id} to close"),
        || async {
            let d = handle.describe(WorkflowDescribeOptions::default()).await?;
            Ok((d.status() != WorkflowExecutionStatus::Running).then_some(()))
        },
    )
    .await?;
    eventually(
        Duration::from_secs(60),
        &format!("the outbox to {to} to drain"),
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM emails WHERE to_address = $1 AND status = 'pending'",
            )
            .bind(to)
            .fetch_one(&app.state.db)
            .await?;
            Ok((waiting == 0).then_some(()))
        },
    )
    .await?;
    messages_to(&stack_maildir(), to)
}
