//! The speakers of a job (`job_speakers`), written once by the job's speakers step.

use crate::ids::JobId;
use crate::speakers::{Gender, Speaker};
use sqlx::PgPool;

/// Records the job's speakers; a repeat (a retried step) writes the same rows again.
pub async fn replace(db: &PgPool, job: JobId, speakers: &[Speaker]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM job_speakers WHERE job_id = $1")
        .bind(job)
        .execute(&mut *tx)
        .await?;
    for (position, s) in speakers.iter().enumerate() {
        sqlx::query(
            "INSERT INTO job_speakers (job_id, speaker_id, label, lines, speech_ms, pitch_hz,
                gender, sample_key, voice_id, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(job)
        .bind(&s.id)
        .bind(&s.label)
        .bind(s.lines as i32)
        .bind(s.speech_ms as i64)
        .bind(s.pitch_hz)
        .bind(s.gender.map(Gender::as_str))
        .bind(&s.sample_key)
        .bind(&s.voice_id)
        .bind(position as i32)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[derive(sqlx::FromRow)]
struct Row {
    speaker_id: String,
    label: String,
    lines: i32,
    speech_ms: i64,
    pitch_hz: Option<f64>,
    gender: Option<String>,
    sample_key: Option<String>,
    voice_id: String,
}

/// The job's speakers in order of first appearance.
pub async fn of_job(db: &PgPool, job: JobId) -> sqlx::Result<Vec<Speaker>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT speaker_id, label, lines, speech_ms, pitch_hz, gender, sample_key, voice_id
         FROM job_speakers WHERE job_id = $1 ORDER BY position",
    )
    .bind(job)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Speaker {
            id: r.speaker_id,
            label: r.label,
            lines: r.lines.max(0) as u32,
            speech_ms: r.speech_ms.max(0) as u64,
            pitch_hz: r.pitch_hz,
            gender: match r.gender.as_deref() {
                Some("male") => Some(Gender::Male),
                Some("female") => Some(Gender::Female),
                _ => None,
            },
            sample_key: r.sample_key,
            voice_id: r.voice_id,
        })
        .collect())
}
