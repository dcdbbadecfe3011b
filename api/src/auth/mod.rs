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

/// `len` random characters of `[0-9A-Za-z]` (5.95 bits each), for secrets handed to clients:
/// API keys, webhook signing secrets.
pub fn random_base62(len: usize) -> String {
    use rand::Rng;
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}
