//! One isolated OneVoice per test: a fresh PostgreSQL database (migrated), the real API on an
//! ephemeral port and a real Temporal worker on a task queue of its own, sharing the local stack's
//! Temporal server, S3/SQS (moto) and SMTP sink. Nothing is mocked.

use anyhow::Context;
use onevoice_api::auth::session;
use onevoice_api::extract::ClientInfo;
use onevoice_api::state::AppState;
use onevoice_api::worker::{self, WorkerConfig, WorkerHandle};
use onevoice_api::{bootstrap, server, temporal};
use onevoice_shared::ids::UserId;
use onevoice_shared::repo::users;
use onevoice_shared::settings::Settings;
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub http: reqwest::Client,
    database: String,
    admin_url: String,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    worker: Option<WorkerHandle>,
}

/// The local stack's settings (exported by `scripts/stack.sh env`), with `overrides` applied.
pub fn settings_with(overrides: &[(&str, String)]) -> anyhow::Result<Settings> {
    Settings::from_lookup(|key| {
        overrides
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    })
    .context("test settings (run the tests through scripts/test.sh, which exports the stack's environment)")
}

fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url)?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

/// No settings overridden (for [`TestApp::spawn_paused`] with the stack's settings).
pub const NO_OVERRIDES: &[(&str, &str)] = &[];

impl TestApp {
    /// Starts the API and a worker against a new database.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(NO_OVERRIDES).await
    }

    /// Like [`TestApp::spawn`], with some settings overridden (e.g. low rate limits).
    pub async fn spawn_with<V: AsRef<str>>(overrides: &[(&str, V)]) -> anyhow::Result<Self> {
        let mut app = Self::spawn_paused(overrides).await?;
        app.start_worker().await?;
        Ok(app)
    }

    /// The API without a worker: workflows wait in their task queue until [`TestApp::start_worker`],
    /// so a test can act on a job (cancel it, break an input) before any step runs.
    pub async fn spawn_paused<V: AsRef<str>>(overrides: &[(&str, V)]) -> anyhow::Result<Self> {
        onevoice_api::telemetry::init(onevoice_shared::settings::LogFormat::Text);
        let base = settings_with(&[])?;
        let database = format!("onevoice_test_{}", Uuid::new_v4().simple());
        let admin_url = with_database(base.database.url.expose(), "postgres")?;
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;

        let task_queue = format!("test-{}", Uuid::new_v4().simple());
        let mut all = vec![
            (
                "DATABASE_URL",
                with_database(base.database.url.expose(), &database)?,
            ),
            ("TEMPORAL_TASK_QUEUE", task_queue.clone()),
            ("API_BIND", "127.0.0.1:0".into()),
            ("SHUTDOWN_GRACE_SECS", "2".into()),
        ];
        all.extend(overrides.iter().map(|(k, v)| (*k, v.as_ref().to_string())));
        let settings = Arc::new(settings_with(&all)?);
        let state = bootstrap::app_state(settings.clone(), "onevoice-test").await?;
        onevoice_shared::db::migrate(&state.db).await?;
        let listener = tokio::net::TcpListener::bind(settings.api.bind).await?;
        let addr = listener.local_addr()?;
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            state,
            http: reqwest::Client::new(),
            database,
            admin_url,
            stop_server: Some(stop_server),
            server: Some(server),
            worker: None,
        })
    }

    /// A worker in a separate `onevoice worker` process on this app's database and task queue,
    /// for tests that kill it. The binary is the one `scripts/test.sh` builds (via `stack.sh`).
    pub fn worker_process(&self) -> anyhow::Result<tokio::process::Child> {
        Ok(self.worker_command()?.spawn()?)
    }

    /// The command of [`TestApp::worker_process`], to add settings before spawning it.
    pub fn worker_command(&self) -> anyhow::Result<tokio::process::Command> {
        let settings = &self.state.settings;
        let mut cmd = tokio::process::Command::new(onevoice_binary()?);
        cmd.arg("worker")
            .env("DATABASE_URL", settings.database.url.expose())
            .env("TEMPORAL_TASK_QUEUE", &settings.temporal.task_queue)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Runs an `onevoice` subcommand (an operator tool) against this app's database; returns
    /// its standard output.
    pub async fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new(onevoice_binary()?)
            .args(args)
            .env("DATABASE_URL", self.state.settings.database.url.expose())
            .env("RUST_LOG", "warn")
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "onevoice {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Stops the worker (its workflows wait in the task queue until one starts again).
    pub async fn stop_worker(&mut self) -> anyhow::Result<()> {
        if let Some(worker) = self.worker.take() {
            worker.stop().await?;
        }
        Ok(())
    }

    /// Starts the worker (and the maintenance loop of its task queue).
    pub async fn start_worker(&mut self) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        self.worker = Some(worker::spawn(
            self.state.temporal.clone(),
            bootstrap::deps(&self.state)?,
            WorkerConfig {
                task_queue: settings.temporal.task_queue.clone(),
                max_concurrent_activities: settings.temporal.max_concurrent_activities,
                graceful_shutdown: Duration::from_secs(2),
            },
        )?);
        temporal::ensure_maintenance(&self.state.temporal, &settings).await?;
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A verified user and an access token of a new session.
    pub async fn user(&self, email: &str) -> anyhow::Result<(UserId, String)> {
        let username = email.split('@').next().unwrap_or("user");
        let id = users::ensure_verified(&self.state.db, email, username, "!").await?;
        onevoice_shared::repo::ledger::grant_signup(
            &self.state.db,
            id,
            self.state.settings.credits.signup_grant,
        )
        .await?;
        let pair = session::start(
            &self.state.db,
            &self.state.settings,
            id,
            &ClientInfo::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((id, pair.access_token))
    }

    /// A workflow's history as it stands, in the JSON form `tests/histories/` keeps.
    pub async fn history(&self, workflow_id: &str) -> anyhow::Result<Vec<u8>> {
        use temporalio_client::{UntypedWorkflow, WorkflowFetchHistoryOptions};
        Ok(self
            .state
            .temporal
            .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_string())
            .fetch_history(WorkflowFetchHistoryOptions::builder().build())
            .to_json()
            .await?)
    }

    /// Stops server and worker and drops the database. Call at the end of every test.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop_server.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await??;
        }
        if let Some(worker) = self.worker.take() {
            worker.stop().await?;
        }
        self.terminate_workflows().await;
        self.state.db.close().await;
        drop_database(&self.admin_url, &self.database).await
    }
}

impl TestApp {
    /// Ends the workflows this test left on its task queue (the maintenance loop always, and any
    /// job a failing test left behind), so the shared dev server does not accumulate them.
    async fn terminate_workflows(&self) {
        use futures::StreamExt;
        use temporalio_client::{UntypedWorkflow, WorkflowTerminateOptions};
        let queue = &self.state.settings.temporal.task_queue;
        let mut ids = vec![onevoice_shared::contracts::maintenance_workflow_id(queue)];
        let query = format!("TaskQueue = '{queue}' AND ExecutionStatus = 'Running'");
        let mut stream = self
            .state
            .temporal
            .list_workflows(query, Default::default());
        while let Some(Ok(w)) = stream.next().await {
            ids.push(w.id().to_string());
        }
        for id in ids {
            let handle = self
                .state
                .temporal
                .get_workflow_handle::<UntypedWorkflow>(id);
            let _ = handle
                .terminate(
                    WorkflowTerminateOptions::builder()
                        .reason("test finished")
                        .build(),
                )
                .await;
        }
    }
}

/// The `onevoice` binary of this build: beside a binary of the workspace, or one level up from
/// a test binary (`target/debug/deps/`).
fn onevoice_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("onevoice"))
        .find(|p| p.exists())
        .context("the onevoice binary is not built (run the tests through scripts/test.sh)")
}

async fn drop_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

impl Drop for TestApp {
    /// A test that panicked never reached `shutdown`: still remove its database.
    fn drop(&mut self) {
        if self.server.is_none() {
            return;
        }
        if let Some(worker) = &self.worker {
            worker.signal_stop();
        }
        let (admin_url, database) = (self.admin_url.clone(), self.database.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_database(&admin_url, &database));
            }
        })
        .join();
    }
}

/// Polls `probe` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let until = Instant::now() + deadline;
    let mut delay = Duration::from_millis(50);
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if Instant::now() >= until {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}
