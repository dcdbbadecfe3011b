//! HTTP routes, one module per resource.

pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod dubs;
pub mod health;
pub mod review;
pub mod users;
pub mod versions;
pub mod videos;
pub mod voices;
pub mod webhook_endpoints;
pub mod webhooks;
