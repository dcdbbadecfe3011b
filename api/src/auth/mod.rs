//! Authentication: access tokens (JWT, HS256) and the extractor that guards protected routes.

mod extractor;
pub mod tokens;

pub use extractor::AuthUser;
