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
                gender, sample_key, voice_id, position, reference_key, reference_ms, cloned)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .bind(&s.reference_key)
        .bind(s.reference_ms as i64)
        .bind(s.cloned)
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
    reference_key: Option<String>,
    reference_ms: i64,
    cloned: bool,
}

/// The job's speakers in order of first appearance.
pub async fn of_job(db: &PgPool, job: JobId) -> sqlx::Result<Vec<Speaker>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT speaker_id, label, lines, speech_ms, pitch_hz, gender, sample_key, voice_id,
                reference_key, reference_ms, cloned
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
            reference_key: r.reference_key,
            reference_ms: r.reference_ms.max(0) as u64,
            cloned: r.cloned,
        })
        .collect())
}

/// Gives a speaker of the job the voice cloned from them.
pub async fn set_cloned_voice(
    db: &PgPool,
    job: JobId,
    speaker: &str,
    voice_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_speakers SET voice_id = $3, cloned = true
         WHERE job_id = $1 AND speaker_id = $2",
    )
    .bind(job)
    .bind(speaker)
    .bind(voice_id)
    .execute(db)
    .await?;
    Ok(())
}
