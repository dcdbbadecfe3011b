//! Password hashing with Argon2id (OWASP's first choice), off the async executor: a hash takes
//! tens of milliseconds of CPU on purpose.

use crate::error::ApiError;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LEN: usize = 8;
/// Bounded so a huge password cannot be used to burn CPU.
pub const MAX_LEN: usize = 128;

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: the OWASP 2023 baseline for Argon2id.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("static params"),
    )
}

/// Checks length rules; `field` names the request field in the 422.
pub fn validate(field: &str, password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(ApiError::validation(
            field,
            format!("must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

pub async fn hash(password: &str) -> Result<String, ApiError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Verifies a password. With no stored hash (unknown user) it still spends the time of a real
/// check, so response times do not reveal which emails have accounts.
pub async fn verify(password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
    let password = password.to_string();
    let stored = stored.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let dummy;
        let hash = match stored.as_deref().and_then(|s| PasswordHash::new(s).ok()) {
            Some(h) => h,
            None => {
                dummy = argon2()
                    .hash_password(b"timing-equalizer", &SaltString::generate(&mut OsRng))
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                let _ = PasswordHash::new(&dummy)
                    .map(|h| argon2().verify_password(password.as_bytes(), &h));
                return false;
            }
        };
        argon2().verify_password(password.as_bytes(), &hash).is_ok()
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!verify("wrong", Some(&h)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
        assert!(!verify("anything", Some("!")).await.unwrap());
    }

    #[test]
    fn enforces_length() {
        assert!(validate("password", "short").is_err());
        assert!(validate("password", &"x".repeat(129)).is_err());
        assert!(validate("password", "long enough").is_ok());
    }
}
