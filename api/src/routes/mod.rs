//! HTTP routes, one module per resource.

pub mod auth;
pub mod health;
pub mod users;
pub mod videos;
