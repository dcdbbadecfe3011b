//! Paddle Billing: webhook signatures, the entities we read, and (with `io`) the API client.

#[cfg(feature = "io")]
pub mod client;
pub mod custom_data;
pub mod entities;
pub mod signature;

#[cfg(feature = "io")]
pub use client::{PaddleClient, PaddleError};
