//! Short-lived access tokens: HS256 JWTs with `iss`, `aud`, `sub`, `sid` (the session family),
//! `exp`, `iat` and `jti`. Only HS256 is accepted, so `alg: none` and algorithm-confusion tokens
//! are rejected, and a token made for another issuer or audience (another service sharing the
//! key) is refused; the extractor also checks the session is still live, so logout revokes
//! access tokens at once.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use onevoice_shared::ids::UserId;
use onevoice_shared::settings::Settings;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
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

/// Who signs and who accepts: the key, and the issuer and audience written and checked.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub secret: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
}

impl<'a> Signer<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Signer {
            secret: settings.jwt_secret.expose(),
            issuer: &settings.auth.jwt_issuer,
            audience: &settings.auth.jwt_audience,
        }
    }

    pub fn issue(
        &self,
        user: UserId,
        session_family: Uuid,
        ttl: Duration,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        issue(self, user, session_family, ttl)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        verify(self, token)
    }
}

fn issue(
    signer: &Signer<'_>,
    user: UserId,
    session_family: Uuid,
    ttl: Duration,
) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: signer.issuer.to_string(),
        aud: signer.audience.to_string(),
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
        &EncodingKey::from_secret(signer.secret.as_bytes()),
    )?;
    Ok(IssuedToken {
        token,
        expires_in: ttl.as_secs(),
    })
}

fn verify(signer: &Signer<'_>, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub", "iat", "iss", "aud"]);
    validation.set_issuer(&[signer.issuer]);
    validation.set_audience(&[signer.audience]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(signer.secret.as_bytes()),
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
    const SIGNER: Signer<'static> = Signer {
        secret: SECRET,
        issuer: "onevoice",
        audience: "onevoice-api",
    };

    #[test]
    fn round_trip_and_tampering() {
        let user = UserId::new();
        let t = SIGNER
            .issue(user, Uuid::new_v4(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(SIGNER.verify(&t.token).unwrap().sub, user.0);
        let other_key = Signer {
            secret: "another-secret-another-secret-00",
            ..SIGNER
        };
        assert!(other_key.verify(&t.token).is_err());
        let mut tampered = t.token.clone();
        tampered.push('x');
        assert!(SIGNER.verify(&tampered).is_err());
    }

    #[test]
    fn rejects_another_issuer_or_audience() {
        let user = UserId::new();
        let ttl = Duration::from_secs(60);
        for foreign in [
            Signer {
                issuer: "another-service",
                ..SIGNER
            },
            Signer {
                audience: "another-api",
                ..SIGNER
            },
        ] {
            let t = foreign.issue(user, Uuid::new_v4(), ttl).unwrap();
            assert!(SIGNER.verify(&t.token).is_err());
        }
        // A token without the claims at all (as issued before they existed) is refused too.
        let now = Utc::now().timestamp();
        let bare = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": user.0, "sid": Uuid::new_v4(), "exp": now + 60,
                                "iat": now, "jti": Uuid::new_v4(), "typ": "access"}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(SIGNER.verify(&bare).is_err());
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
        assert!(SIGNER.verify(&forged).is_err());
        let claims = Claims {
            iss: "onevoice".into(),
            aud: "onevoice-api".into(),
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
        assert!(SIGNER.verify(&expired).is_err());
    }
}
