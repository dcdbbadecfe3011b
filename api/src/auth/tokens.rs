//! Short-lived access tokens: HS256 JWTs with `sub`, `sid` (the session family), `exp`, `iat` and
//! `jti`. Only HS256 is accepted, so `alg: none` and algorithm-confusion tokens are rejected; the
//! extractor also checks the session is still live, so logout revokes access tokens at once.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use onevoice_shared::ids::UserId;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Token type; refresh and one-time tokens are opaque, never JWTs, so only `access` exists.
    pub typ: String,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

pub fn issue(
    secret: &str,
    user: UserId,
    session_family: Uuid,
    ttl: Duration,
) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user.0,
        sid: session_family,
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
        let t = issue(SECRET, user, Uuid::new_v4(), Duration::from_secs(60)).unwrap();
        assert_eq!(verify(SECRET, &t.token).unwrap().sub, user.0);
        assert!(verify("another-secret-another-secret-00", &t.token).is_err());
        let mut tampered = t.token.clone();
        tampered.push('x');
        assert!(verify(SECRET, &tampered).is_err());
    }

    #[test]
    fn rejects_alg_none_and_expired() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let now = Utc::now().timestamp();
        let payload = format!(
            r#"{{"sub":"{}","sid":"{}","exp":{},"iat":{},"jti":"{}","typ":"access"}}"#,
            Uuid::new_v4(),
            Uuid::new_v4(),
            now + 60,
            now,
            Uuid::new_v4()
        );
        let forged = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        assert!(verify(SECRET, &forged).is_err());
        let claims = Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            exp: now - 1,
            iat: now - 61,
            jti: Uuid::new_v4(),
            typ: "access".into(),
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(verify(SECRET, &expired).is_err());
    }
}
