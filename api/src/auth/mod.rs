//! Authentication: passwords, access tokens, sessions with rotating refresh tokens, rate limits,
//! and the extractor that guards protected routes.

pub mod api_keys;
mod extractor;
pub mod fields;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod tokens;

pub use extractor::{AuthUser, Credential};
