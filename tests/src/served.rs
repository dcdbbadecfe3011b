//! A local HTTP server for the fakes of paid providers: an ephemeral port, stopped when the
//! last handle is dropped.

use axum::Router;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Clone)]
pub struct Served {
    pub url: String,
    _stop: Arc<oneshot::Sender<()>>,
}

pub async fn serve(app: Router) -> anyhow::Result<Served> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Served {
        url: format!("http://{addr}"),
        _stop: Arc::new(stop),
    })
}
