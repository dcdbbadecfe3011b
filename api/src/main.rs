//! `onevoice`: the one binary of OneVoice. Subcommands run the API, the Temporal worker, both
//! together (local development), the database migrations, and operator tools.

use anyhow::Context;
use clap::{Parser, Subcommand};
use onevoice_api::services::operator;
use onevoice_api::state::AppState;
use onevoice_api::worker::{self, WorkerConfig};
use onevoice_api::{bootstrap, server, telemetry, temporal};
use onevoice_shared::settings::Settings;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "onevoice", version, about = "OneVoice video-dubbing backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Run a Temporal worker (workflows and activities).
    Worker,
    /// Run the API and a worker in one process, after applying migrations (local use).
    Dev,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Consume the legacy SQS queue and start the workflows of DUBBING_JOB messages.
    SqsBridge,
    /// Operator tool: ensure a verified user with this email exists and print an access token.
    Token {
        #[arg(long)]
        email: String,
        /// Token lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: u64,
    },
    /// Operator tool: print a workflow's history as JSON, the form `tests/histories/` keeps for
    /// replay tests (the CLI's `temporal workflow show` JSON is not it).
    ExportHistory {
        /// Workflow id, e.g. `dub-{job id}`.
        workflow_id: String,
    },
    /// Operator tool: list the Paddle payments that matched no account (an erased account's
    /// customer, or a checkout nobody here started), to refund or attribute by hand.
    UnmatchedPayments,
    /// Operator tool: grant credits to an existing account (support gestures, demos). Recorded in
    /// the ledger under a fresh key, with the reason.
    GrantCredits {
        #[arg(long)]
        email: String,
        #[arg(long)]
        amount: u32,
        #[arg(long)]
        reason: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("onevoice: {e}\n(see .env.example for every variable)");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match run(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("onevoice: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Arc<Settings>) -> anyhow::Result<()> {
    match command {
        Command::SqsBridge => {
            let state = bootstrap::app_state(settings.clone(), "onevoice-sqs-bridge").await?;
            let counters = onevoice_api::bridge::Counters::default();
            onevoice_api::bridge::run(state, &counters, server::shutdown_signal()).await
        }
        Command::ExportHistory { workflow_id } => {
            let client = temporal::connect(
                &settings.temporal,
                "onevoice-export",
                Duration::from_secs(5),
            )
            .await?;
            let json = client
                .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id)
                .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::builder().build())
                .to_json()
                .await?;
            println!("{}", String::from_utf8(json)?);
            Ok(())
        }
        Command::Migrate => {
            let pool = onevoice_shared::db::pool(&settings.database)?;
            onevoice_shared::db::migrate(&pool)
                .await
                .context("applying migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let state = bootstrap::app_state(settings.clone(), "onevoice-api").await?;
            let listener = tokio::net::TcpListener::bind(settings.api.bind).await?;
            server::serve(state, listener, server::shutdown_signal()).await
        }
        Command::Worker => {
            let state = bootstrap::app_state(settings.clone(), "onevoice-worker").await?;
            let handle = start_worker(&state, &settings).await?;
            server::shutdown_signal().await;
            handle.stop().await
        }
        Command::Dev => {
            let state = bootstrap::app_state(settings.clone(), "onevoice-dev").await?;
            onevoice_shared::db::migrate(&state.db)
                .await
                .context("applying migrations")?;
            let handle = start_worker(&state, &settings).await?;
            let listener = tokio::net::TcpListener::bind(settings.api.bind).await?;
            let served = server::serve(state, listener, server::shutdown_signal()).await;
            handle.stop().await?;
            served
        }
        Command::GrantCredits {
            email,
            amount,
            reason,
        } => {
            let pool = onevoice_shared::db::pool(&settings.database)?;
            let balance = operator::grant_credits(&pool, &email, amount, &reason).await?;
            println!("granted {amount} credits to {email}; balance {balance}");
            Ok(())
        }
        Command::UnmatchedPayments => {
            let pool = onevoice_shared::db::pool(&settings.database)?;
            let payments = operator::unmatched_payments(&pool).await?;
            for p in &payments {
                println!(
                    "{}\t{}\ttransaction {}\tcustomer {}\t{} {} (minor units)\t{}",
                    p.occurred_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    p.event_id,
                    p.transaction_id.as_deref().unwrap_or("?"),
                    p.customer_id.as_deref().unwrap_or("?"),
                    p.amount.as_deref().unwrap_or("?"),
                    p.currency.as_deref().unwrap_or(""),
                    p.outcome.as_deref().unwrap_or("")
                );
            }
            eprintln!("{} unmatched payment(s)", payments.len());
            Ok(())
        }
        Command::Token { email, ttl_minutes } => {
            let pool = onevoice_shared::db::pool(&settings.database)?;
            let ttl = Duration::from_secs(ttl_minutes * 60);
            println!(
                "{}",
                operator::access_token(&pool, &settings, &email, ttl).await?
            );
            Ok(())
        }
    }
}

/// Starts the worker and makes sure its task queue's cleanup loop runs.
async fn start_worker(
    state: &AppState,
    settings: &Settings,
) -> anyhow::Result<worker::WorkerHandle> {
    let deps = bootstrap::deps(state)?;
    let handle = worker::spawn(
        state.temporal.clone(),
        deps.clone(),
        worker_config(settings),
    )?;
    temporal::ensure_maintenance(&state.temporal, settings).await?;
    // The local voices' preview samples, made once for the whole deployment; meanwhile the
    // catalogue lists those voices without a preview.
    tokio::spawn(async move {
        match onevoice_activities::voice::previews::generate_missing(&deps).await {
            Ok(0) => {}
            Ok(made) => tracing::info!(made, "voice previews generated"),
            Err(e) => tracing::warn!(error = %e, "voice previews not generated"),
        }
    });
    Ok(handle)
}

fn worker_config(settings: &Settings) -> WorkerConfig {
    WorkerConfig {
        task_queue: settings.temporal.task_queue.clone(),
        max_concurrent_activities: settings.temporal.max_concurrent_activities,
        graceful_shutdown: settings.api.shutdown_grace,
    }
}
