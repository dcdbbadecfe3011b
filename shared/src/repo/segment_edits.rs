//! Edits of a finished job's lines (`segment_edits`): each a new revision of its line holding the
//! whole wanted state, so the newest revision per line is the draft and nothing is overwritten.

use crate::ids::JobId;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What a line should be: its text, voice, timing, and whether the original plays instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineState {
    pub translation: String,
    pub voice_id: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub keep_original: bool,
}

/// The newest revision of an edited line.
#[derive(Clone, Debug)]
pub struct Revision {
    pub line: u32,
    pub revision: u32,
    pub state: LineState,
    pub edited_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    line: i32,
    revision: i32,
    translation: String,
    voice_id: Option<String>,
    start_ms: i64,
    end_ms: i64,
    keep_original: bool,
    created_at: DateTime<Utc>,
}

impl From<Row> for Revision {
    fn from(r: Row) -> Self {
        Revision {
            line: r.line.max(0) as u32,
            revision: r.revision.max(1) as u32,
            state: LineState {
                translation: r.translation,
                voice_id: r.voice_id,
                start_ms: r.start_ms.max(0) as u64,
                end_ms: r.end_ms.max(0) as u64,
                keep_original: r.keep_original,
            },
            edited_at: r.created_at,
        }
    }
}

/// The newest revision of every edited line of the job, by line.
pub async fn newest(db: &PgPool, job: JobId) -> sqlx::Result<Vec<Revision>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT DISTINCT ON (line) line, revision, translation, voice_id, start_ms, end_ms,
                keep_original, created_at
         FROM segment_edits WHERE job_id = $1 ORDER BY line, revision DESC",
    )
    .bind(job)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Revision::from).collect())
}

/// Every revision of one line, oldest first.
pub async fn history(db: &PgPool, job: JobId, line: u32) -> sqlx::Result<Vec<Revision>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT line, revision, translation, voice_id, start_ms, end_ms, keep_original, created_at
         FROM segment_edits WHERE job_id = $1 AND line = $2 ORDER BY revision",
    )
    .bind(job)
    .bind(line as i32)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Revision::from).collect())
}

/// Records a new revision of each line, all or none. `expected` is the newest revision the
/// caller saw of each line (0: none): a line edited meanwhile by another request makes the
/// whole batch fail with `Ok(false)`, so no edit is made from a stale draft.
pub async fn append(
    db: &PgPool,
    job: JobId,
    edits: &[(u32, u32, LineState)],
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    for (line, expected, state) in edits {
        let inserted = sqlx::query(
            "INSERT INTO segment_edits (job_id, line, revision, translation, voice_id, start_ms,
                 end_ms, keep_original)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(*line as i32)
        .bind(*expected as i32 + 1)
        .bind(&state.translation)
        .bind(&state.voice_id)
        .bind(state.start_ms as i64)
        .bind(state.end_ms as i64)
        .bind(state.keep_original)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
    }
    tx.commit().await?;
    Ok(true)
}
