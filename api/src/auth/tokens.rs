//! Short-lived access tokens: HS256 JWTs with `sub`, `exp`, `iat` and `jti`. Only HS256 is
//! accepted, so `alg: none` and algorithm-confusion tokens are rejected.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use onevoice_shared::ids::UserId;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Token type; refresh and one-time tokens are never JWTs, so only `access` exists.
    pub typ: String,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

pub fn issue(
    secret: &str,
    user: UserId,
    ttl: Duration,
) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user.0,
        iat: now,
        exp: now + ttl.as_secs() as i64,
        jti: Uuid::new_v4(),
        typ: "access".into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok(IssuedToken {
        token,
        expires_in: ttl.as_secs(),
    })
}

pub fn verify(secret: &str, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub", "iat"]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )?;
    if data.claims.typ != "access" {
        return Err(jsonwebtoken::errors::ErrorKind::InvalidToken.into());
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_tampering() {
        let user = UserId::new();
        let t = issue(SECRET, user, Duration::from_secs(60)).unwrap();
        assert_eq!(verify(SECRET, &t.token).unwrap().sub, user.0);
        assert!(verify("another-secret-another-secret-00", &t.token).is_err());
        let mut tampered = t.token.clone();
        tampered.push('x');
        assert!(verify(SECRET, &tampered).is_err());
    }

    #[test]
    fn rejects_alg_none_and_expired() {
        use base64_like::encode;
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let now = Utc::now().timestamp();
        let payload = encode(
            format!(
                r#"{{"sub":"{}","exp":{},"iat":{},"jti":"{}","typ":"access"}}"#,
                Uuid::new_v4(),
                now + 60,
                now,
                Uuid::new_v4()
            )
            .as_bytes(),
        );
        assert!(verify(SECRET, &format!("{header}.{payload}.")).is_err());
        let expired = {
            let claims = Claims {
                sub: Uuid::new_v4(),
                exp: now - 1,
                iat: now - 61,
                jti: Uuid::new_v4(),
                typ: "access".into(),
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap()
        };
        assert!(verify(SECRET, &expired).is_err());
    }

    /// Minimal unpadded base64url, enough to forge a test token.
    mod base64_like {
        pub fn encode(input: &[u8]) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
