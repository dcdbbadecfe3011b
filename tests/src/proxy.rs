//! A TCP proxy that can hold what clients send for a while: a dependency that is slow for a
//! moment (a database answering late), to test what waits on it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct SlowProxy {
    pub port: u16,
    until: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlowProxy {
    /// Forwards every connection to `target` (`host:port`).
    pub async fn start(target: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let until: Arc<Mutex<Option<Instant>>> = Arc::default();
        let held = until.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, held) = (target.clone(), held.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        let _ = pump(client, server, held).await;
                    }
                });
            }
        });
        Ok(Self { port, until, task })
    }

    /// For the next `d`, whatever any client sends is held until that time is up.
    pub fn slow_for(&self, d: Duration) {
        *self.until.lock().unwrap() = Some(Instant::now() + d);
    }
}

async fn pump(
    client: TcpStream,
    server: TcpStream,
    until: Arc<Mutex<Option<Instant>>>,
) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            let until = *until.lock().unwrap();
            if let Some(until) = until {
                // The slowness this proxy exists to play.
                tokio::time::sleep_until(until.into()).await;
            }
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::select! {
        r = upstream => r,
        r = downstream => r.map(|_| ()),
    }
}
