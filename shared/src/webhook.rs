//! Webhooks as receivers see them: the event types, and how a delivery is signed.
//!
//! A delivery is a `POST` of the event's JSON with these headers:
//! - `OneVoice-Event`: the event type, e.g. `job.completed`;
//! - `OneVoice-Delivery`: the delivery's id (a redelivery has a new one; the event `id` stays);
//! - `OneVoice-Signature`: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each `v1` is
//!   HMAC-SHA256 of `"<t>.<body>"` under one of the endpoint's secrets (two during a rotation).
//!
//! A receiver recomputes the HMAC with its secret, compares it with each `v1` in constant time,
//! and refuses timestamps older than a few minutes (replays).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const EVENT_HEADER: &str = "OneVoice-Event";
pub const DELIVERY_HEADER: &str = "OneVoice-Delivery";
pub const SIGNATURE_HEADER: &str = "OneVoice-Signature";

/// What an endpoint can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "job.started")]
    JobStarted,
    #[serde(rename = "job.step_completed")]
    JobStepCompleted,
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    #[serde(rename = "video.ready")]
    VideoReady,
    #[serde(rename = "credits.low")]
    CreditsLow,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::JobStarted,
        EventType::JobStepCompleted,
        EventType::JobCompleted,
        EventType::JobFailed,
        EventType::JobCancelled,
        EventType::VideoReady,
        EventType::CreditsLow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobStarted => "job.started",
            EventType::JobStepCompleted => "job.step_completed",
            EventType::JobCompleted => "job.completed",
            EventType::JobFailed => "job.failed",
            EventType::JobCancelled => "job.cancelled",
            EventType::VideoReady => "video.ready",
            EventType::CreditsLow => "credits.low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The HMAC of one secret over `"<timestamp>.<body>"`, hex-encoded.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `OneVoice-Signature` value: the timestamp and one signature per live secret.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

/// Checks a signature header as a receiver would: some `v1` matches `secret`, and the
/// timestamp is within `tolerance_secs` of `now`. (Our tests verify deliveries with it; it is the
/// reference for the README's recipe.)
pub fn verify(header: &str, secret: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    signatures.iter().any(|candidate| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(candidate).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_signs_and_only_the_right_one_verifies() {
        let body = br#"{"id":"e","type":"job.completed"}"#;
        let header = signature_header(&["whsec_new", "whsec_old"], 1_700_000_000, body);
        assert_eq!(header.matches("v1=").count(), 2);
        assert!(verify(&header, "whsec_new", body, 1_700_000_100, 300));
        assert!(verify(&header, "whsec_old", body, 1_700_000_100, 300));
        assert!(!verify(&header, "whsec_other", body, 1_700_000_100, 300));
        assert!(!verify(&header, "whsec_new", b"{}", 1_700_000_100, 300));
        // Replayed long after: refused.
        assert!(!verify(&header, "whsec_new", body, 1_700_001_000, 300));
    }

    #[test]
    fn event_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(EventType::parse("job.*"), None);
    }
}
