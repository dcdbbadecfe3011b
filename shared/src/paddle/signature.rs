//! `Paddle-Signature` verification (Paddle Billing): `ts=<unix seconds>;h1=<hex>[;h1=<hex>…]`,
//! where each `h1` is HMAC-SHA256 keyed with the endpoint secret over `"<ts>:" + raw body`.
//!
//! Several `h1` values arrive while Paddle rotates a secret, and we may hold several secrets
//! (old and new) ourselves: any pair matching is enough. The body must be the bytes as received.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Paddle-Signature header")]
    Missing,
    #[error("malformed Paddle-Signature header")]
    Malformed,
    #[error("signature timestamp outside the accepted window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` for `body` against any of `secrets`, accepting timestamps within `tolerance`
/// of `now_unix` on either side (a little clock skew ahead is as harmless as a short delay).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut ts: Option<&str> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(';') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match key {
            "ts" => ts = Some(value),
            "h1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            // Unknown keys may be added by Paddle later; they do not weaken the check.
            _ => {}
        }
    }
    let ts = ts.ok_or(SignatureError::Malformed)?;
    let ts_value: i64 = ts.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if (now_unix - ts_value).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        for signature in &signatures {
            // `verify_slice` compares in constant time.
            if mac(secret, ts, body).verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `h1` value for `body` at `ts` (what Paddle sends; our fakes and tests sign with it).
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, &ts.to_string(), body).finalize().into_bytes())
}

fn mac(secret: &str, ts: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vector from provider-contracts.md §5.1 (checked there with Python's hmac).
    const SECRET: &str = "pdl_ntfset_01hexampleexampleexampleexam_DevOnlyNotARealSecret0000";
    const ROTATED: &str = "pdl_ntfset_01hexampleexampleexampleexam_RotatedNewSecret00000000";
    const BODY: &str = r#"{"event_id":"evt_01hexample","event_type":"subscription.created","occurred_at":"2024-04-12T10:18:49.000000Z","notification_id":"ntf_01hexample","data":{"id":"sub_01hexample"}}"#;
    const TS: i64 = 1_712_917_130;
    const H1: &str = "00b8c68b0f4861d216dea24fb55b1481514868076d22b68124a290c5aa35091d";
    const H1_ROTATED: &str = "118a841973fffa35470d62f5148667badbbcb128b6619af1362b9ec0b97553ae";
    const WINDOW: Duration = Duration::from_secs(5);

    #[test]
    fn matches_the_documented_vectors() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), H1);
        assert_eq!(sign(ROTATED, TS, BODY.as_bytes()), H1_ROTATED);
        let header = format!("ts={TS};h1={H1}");
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), &[SECRET], TS + 3, WINDOW),
            Ok(())
        );
    }

    #[test]
    fn accepts_any_signature_with_any_secret_during_rotation() {
        let header = format!("ts={TS};h1={H1_ROTATED};h1={H1}");
        // Only the old secret configured: the second h1 matches.
        assert!(verify(Some(&header), BODY.as_bytes(), &[SECRET], TS, WINDOW).is_ok());
        // Both secrets configured, only the new signature sent.
        let header = format!("ts={TS};h1={H1_ROTATED}");
        assert!(
            verify(
                Some(&header),
                BODY.as_bytes(),
                &[SECRET, ROTATED],
                TS,
                WINDOW
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let header = format!("ts={TS};h1={H1}");
        let tampered = BODY.replace("sub_01hexample", "sub_01hexamplf");
        assert_eq!(
            verify(Some(&header), tampered.as_bytes(), &[SECRET], TS, WINDOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), &[ROTATED], TS, WINDOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), &[SECRET], TS + 6, WINDOW),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, BODY.as_bytes(), &[SECRET], TS, WINDOW),
            Err(SignatureError::Missing)
        );
        for bad in ["", "ts=1", "h1=00", "ts=x;h1=00", "ts=1;h1=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), BODY.as_bytes(), &[SECRET], 1, WINDOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // The Stripe-style scheme the seed used is not accepted.
        let stripe = format!("sha256={H1}");
        assert!(verify(Some(&stripe), BODY.as_bytes(), &[SECRET], TS, WINDOW).is_err());
    }
}
