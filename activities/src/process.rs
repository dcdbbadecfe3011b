//! Running external tools (ffmpeg, espeak-ng, apertium) from activities: heartbeats while they
//! run, the child is killed when the activity is cancelled, and a failure carries the tool's
//! own message.

use crate::{error, heartbeat};
use std::process::Stdio;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Output of a tool that exited successfully.
pub(crate) struct ToolOutput {
    pub stdout: Vec<u8>,
    /// Warnings the tool printed while succeeding.
    pub stderr: Vec<u8>,
}

/// Runs `cmd` to completion, feeding `stdin` if given. A tool that cannot be started is a
/// deployment problem (retryable: another worker may have it); a non-zero exit is reported with
/// the end of its stderr and classified by `on_failure` (which decides what, if anything, of it a
/// user may read: see `crate::error`).
pub(crate) async fn run(
    ctx: &ActivityContext,
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    on_failure: fn(String) -> ActivityError,
) -> Result<ToolOutput, ActivityError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| error::transient(format!("cannot start `{program}`: {e}")))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(&input)
            .await
            .map_err(|e| error::transient(format!("cannot write to `{program}`: {e}")))?;
        drop(pipe);
    }
    // Dropping the wait (on cancel) kills the child (kill_on_drop).
    let out = heartbeat::beating(ctx, async {
        child
            .wait_with_output()
            .await
            .map_err(|e| error::transient(format!("`{program}` failed: {e}")))
    })
    .await?;
    if out.status.success() {
        return Ok(ToolOutput {
            stdout: out.stdout,
            stderr: out.stderr,
        });
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join(" | ");
    // The tool's own words (with scratch paths) are for operators: logged here, and passed to
    // `on_failure`, which shows them to a user only if it was written to (it never should).
    tracing::warn!(%program, status = %out.status, stderr = %tail, "tool failed");
    Err(on_failure(format!(
        "`{program}` exited with {}: {tail}",
        out.status
    )))
}
