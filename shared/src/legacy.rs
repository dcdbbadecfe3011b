//! The legacy queue contract (seed-system.md §5): `DUBBING_JOB` messages of the old Python
//! service, byte-for-byte, plus lifecycle messages in the same style.
//!
//! Body: `{"messageType": "DUBBING_JOB", "jobId": "…", "userId": "…", "videoId": "…",
//! "requestedAt": "2025-09-04T12:34:56.789012+00:00"}` — Python's `json.dumps` layout (", " and
//! ": " separators, this key order) and `datetime.isoformat()` with a `+00:00` offset.
//! String message attributes: `messageType`, `jobId`, `userId`, `videoId`; new: `messageId`, a
//! stable id consumers can deduplicate on.

use crate::ids::{JobId, UserId, VideoId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Message types: the legacy one and the lifecycle events OneVoice adds.
pub const DUBBING_JOB: &str = "DUBBING_JOB";
pub const DUBBING_COMPLETED: &str = "DUBBING_COMPLETED";
pub const DUBBING_FAILED: &str = "DUBBING_FAILED";
pub const DUBBING_CANCELLED: &str = "DUBBING_CANCELLED";
pub const LIFECYCLE: [&str; 3] = [DUBBING_COMPLETED, DUBBING_FAILED, DUBBING_CANCELLED];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub message_type: String,
    pub job_id: JobId,
    pub user_id: UserId,
    pub video_id: VideoId,
    pub requested_at: DateTime<Utc>,
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl JobMessage {
    /// The body exactly as the old producer wrote it.
    pub fn body(&self) -> String {
        format!(
            "{{\"messageType\": {}, \"jobId\": {}, \"userId\": {}, \"videoId\": {}, \"requestedAt\": {}}}",
            json_string(&self.message_type),
            json_string(&self.job_id.to_string()),
            json_string(&self.user_id.to_string()),
            json_string(&self.video_id.to_string()),
            json_string(
                &self
                    .requested_at
                    .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
                    .to_string()
            ),
        )
    }

    /// Stable per job and type: the FIFO deduplication id, and the `messageId` attribute.
    pub fn message_id(&self) -> String {
        format!("{}:{}", self.job_id, self.message_type)
    }

    /// The String attributes: the legacy four and `messageId`.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("messageType", self.message_type.clone()),
            ("jobId", self.job_id.to_string()),
            ("userId", self.user_id.to_string()),
            ("videoId", self.video_id.to_string()),
            ("messageId", self.message_id()),
        ]
    }
}

/// Why a received message cannot be processed (it goes to the dead-letter queue with this).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("missing or invalid {0}")]
    BadField(&'static str),
}

/// Reads a received message the way the old consumer did: the type from the attribute (falling
/// back to the body), the job id from the attribute, else the body. Lifecycle types are returned
/// as they are (callers skip them).
pub fn parse(
    body: &str,
    attribute: impl Fn(&str) -> Option<String>,
) -> Result<JobMessage, Invalid> {
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| Invalid::Malformed(e.to_string()))?;
    if !json.is_object() {
        return Err(Invalid::Malformed("the body is not a JSON object".into()));
    }
    let field =
        |attr: &str, key: &str| attribute(attr).or_else(|| json[key].as_str().map(str::to_string));
    let message_type =
        field("messageType", "messageType").ok_or(Invalid::BadField("messageType"))?;
    if message_type != DUBBING_JOB && !LIFECYCLE.contains(&message_type.as_str()) {
        return Err(Invalid::UnknownType(message_type));
    }
    let id = |attr: &'static str| -> Result<uuid::Uuid, Invalid> {
        field(attr, attr)
            .and_then(|v| v.parse().ok())
            .ok_or(Invalid::BadField(attr))
    };
    let (job_id, user_id, video_id) = (
        JobId(id("jobId")?),
        UserId(id("userId")?),
        VideoId(id("videoId")?),
    );
    let requested_at = json["requestedAt"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or(Invalid::BadField("requestedAt"))?;
    Ok(JobMessage {
        message_type,
        job_id,
        user_id,
        video_id,
        requested_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn body_matches_the_python_producer() {
        let m = JobMessage {
            message_type: DUBBING_JOB.into(),
            job_id: JobId("6f1c3a3e-0000-4000-8000-000000000001".parse().unwrap()),
            user_id: UserId("6f1c3a3e-0000-4000-8000-000000000002".parse().unwrap()),
            video_id: VideoId("6f1c3a3e-0000-4000-8000-000000000003".parse().unwrap()),
            requested_at: Utc.with_ymd_and_hms(2025, 9, 4, 12, 34, 56).unwrap()
                + chrono::Duration::microseconds(789_012),
        };
        assert_eq!(
            m.body(),
            r#"{"messageType": "DUBBING_JOB", "jobId": "6f1c3a3e-0000-4000-8000-000000000001", "userId": "6f1c3a3e-0000-4000-8000-000000000002", "videoId": "6f1c3a3e-0000-4000-8000-000000000003", "requestedAt": "2025-09-04T12:34:56.789012+00:00"}"#
        );
        assert_eq!(parse(&m.body(), |_| None).unwrap(), m);
    }

    #[test]
    fn rejects_what_the_bridge_cannot_run() {
        assert!(matches!(
            parse("{not json", |_| None),
            Err(Invalid::Malformed(_))
        ));
        assert!(matches!(
            parse(r#"{"messageType": "PING"}"#, |_| None),
            Err(Invalid::UnknownType(_))
        ));
        assert_eq!(
            parse(r#"{"messageType": "DUBBING_JOB", "jobId": "x"}"#, |_| None),
            Err(Invalid::BadField("jobId"))
        );
        // The attribute wins over the body, as in the old consumer.
        let body = r#"{"messageType": "PING", "jobId": "6f1c3a3e-0000-4000-8000-000000000001", "userId": "6f1c3a3e-0000-4000-8000-000000000002", "videoId": "6f1c3a3e-0000-4000-8000-000000000003", "requestedAt": "2025-09-04T12:34:56.789012+00:00"}"#;
        let m = parse(body, |k| {
            (k == "messageType").then(|| DUBBING_JOB.to_string())
        })
        .unwrap();
        assert_eq!(m.message_type, DUBBING_JOB);
    }
}
