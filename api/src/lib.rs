//! The OneVoice HTTP API (axum) and the pieces the `onevoice` binary composes: server, worker,
//! telemetry and the Temporal connection.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod bridge;
pub mod error;
pub mod extract;
pub mod image;
pub mod openapi;
pub mod outbox;
pub mod routes;
pub mod schemas;
pub mod server;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod temporal;
pub mod text;
pub mod views;
pub mod webhook_relay;
pub mod worker;
