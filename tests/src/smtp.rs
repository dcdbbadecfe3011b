//! A local SMTP server for tests: one that refuses every recipient for good (`550 5.1.1`), to
//! test what happens when a relay rejects an email permanently, and one that accepts, to count
//! who connects. It speaks just enough SMTP for lettre (greeting, EHLO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT) and stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub struct FakeSmtp {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSmtp {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Refuses every recipient with `550 5.1.1`.
pub async fn refusing() -> anyhow::Result<FakeSmtp> {
    serve(true).await
}

/// Accepts every message (and keeps none).
pub async fn accepting() -> anyhow::Result<FakeSmtp> {
    serve(false).await
}

async fn serve(refuse: bool) -> anyhow::Result<FakeSmtp> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 fake ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            if write.write_all(b"250 OK queued\r\n").await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "RCPT" if refuse => b"550 5.1.1 mailbox unavailable\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 end with .\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 OK\r\n",
                    };
                    if write.write_all(answer).await.is_err() || verb == "QUIT" {
                        return;
                    }
                }
            });
        }
    });
    Ok(FakeSmtp {
        port,
        connections,
        task,
    })
}
