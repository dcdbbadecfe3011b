//! An SMTP server that refuses every recipient for good (`550 5.1.1`), for tests of what happens
//! when a mail relay rejects an email permanently. It speaks just enough SMTP for lettre (greeting,
//! EHLO, MAIL, RCPT, RSET, QUIT) and stops when dropped.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub struct RefusingSmtp {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RefusingSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn refusing() -> anyhow::Result<RefusingSmtp> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 refusing ESMTP\r\n").await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 refusing\r\n",
                        "RCPT" => b"550 5.1.1 mailbox unavailable\r\n",
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
    Ok(RefusingSmtp { port, task })
}
