//! The review checkpoint of a dub that asked for one (`review: "translation"`): it stops after
//! the text stages and waits, durably, for the user. Meanwhile its lines are the translation
//! with the transcript's timing (nothing is synthesized yet), edited like a finished dub's; the
//! approval hands the lines as edited to the workflow, which speaks them.

use super::{Segment, Segments, segments};
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use crate::temporal;
use onevoice_shared::contracts::Approval;
use onevoice_shared::ids::{JobId, UserId};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::repo::jobs::{self, AWAITING_APPROVAL};
use onevoice_shared::repo::media;
use onevoice_shared::repo::segment_edits::{self, LineState};
use onevoice_shared::srt::Cue;
use onevoice_shared::status::{FileType, JobStatus};

/// The lines a user reviews: a finished dub's, or those of one waiting at its checkpoint.
pub async fn reviewable(state: &AppState, user: UserId, job: JobId) -> Result<Segments> {
    let row = jobs::find_owned(&state.db, user, job)
        .await?
        .ok_or_else(|| ServiceError::NotFound("job not found".into()))?;
    if row.status == JobStatus::Processing && row.review_state.as_deref() == Some(AWAITING_APPROVAL)
    {
        return waiting(state, row).await;
    }
    segments(state, user, job).await
}

/// A waiting job's lines: the translation, timed as the transcript, with the user's edits.
async fn waiting(state: &AppState, row: jobs::JobRow) -> Result<Segments> {
    let keys = JobKeys(row.id);
    let translated: Vec<Cue> = state
        .storage
        .get_json(&keys.text_json("translation_cues"))
        .await?;
    let sources: Vec<Cue> = super::optional(state, &keys.text_json("lines"))
        .await?
        .unwrap_or_default();
    let shortened: Vec<usize> = super::optional(state, &keys.shortened_lines())
        .await?
        .unwrap_or_default();
    let video = row
        .video_id
        .ok_or_else(|| ServiceError::NotFound("job not found".into()))?;
    let duration_ms = media::newest(&state.db, video, FileType::Original, None, None)
        .await?
        .and_then(|m| m.duration)
        .map(|s| (s * 1000.0).round() as u64)
        .unwrap_or_else(|| translated.iter().map(|c| c.end_ms).max().unwrap_or(0));
    let mut edits = segment_edits::newest(&state.db, row.id)
        .await?
        .into_iter()
        .peekable();
    let lines = translated
        .into_iter()
        .enumerate()
        .map(|(k, cue)| Segment {
            index: k as u32,
            speaker: cue.speaker,
            source_text: sources.get(k).map(|c| c.text.clone()).unwrap_or_default(),
            rendered: LineState {
                translation: cue.text,
                voice_id: None,
                start_ms: cue.start_ms,
                end_ms: cue.end_ms,
                keep_original: false,
            },
            planned_ms: (cue.start_ms, cue.end_ms),
            spoken_ms: None,
            room_ms: cue.end_ms.saturating_sub(cue.start_ms),
            natural_ms: 0,
            speed: 1.0,
            overrun_ms: 0,
            shortened: shortened.contains(&k),
            edit: edits.next_if(|e| e.line as usize == k),
        })
        .collect();
    Ok(Segments {
        job: row,
        version: 1,
        duration_ms,
        lines,
    })
}

/// Approves the translation of one of the caller's dubs waiting at its checkpoint: the lines
/// as edited are stored and handed to the workflow, which synthesizes them. 409 when the job
/// does not wait (not asked for, approved already, or ended).
#[tracing::instrument(skip_all, fields(%user, %job))]
pub async fn approve(state: &AppState, user: UserId, job: JobId) -> Result<u32> {
    let all = reviewable(state, user, job).await?;
    if all.job.review_state.as_deref() != Some(AWAITING_APPROVAL)
        || all.job.status != JobStatus::Processing
    {
        return Err(ServiceError::Conflict(
            "the job is not waiting for a review: only a dub started with `review` can be approved, once".into(),
        ));
    }
    let keys = JobKeys(job);
    let drafts = all.drafts();
    let approval = Approval {
        cues_key: keys.approved_cues(),
        line_voices: drafts.voices,
        kept: drafts.kept,
    };
    // One approval wins (the row is the lock); its lines are stored before the workflow hears
    // of them, so a resume of the job finds them.
    if !jobs::mark_approved(&state.db, job, false).await? {
        return Err(ServiceError::Conflict(
            "the job was approved already".into(),
        ));
    }
    let delivered = async {
        state
            .storage
            .put_json(&approval.cues_key, &drafts.cues)
            .await?;
        state.storage.put_json(&keys.approval(), &approval).await?;
        temporal::approve_dubbing(&state.temporal, job, approval).await
    }
    .await;
    if let Err(e) = delivered {
        tracing::error!(error = %e, "approval not delivered");
        jobs::mark_approved(&state.db, job, true).await?;
        return Err(ServiceError::Unavailable(
            "the approval could not be delivered; try again".into(),
        ));
    }
    Ok(all.lines.iter().filter(|s| s.changed()).count() as u32)
}
