//! Edits of a finished job's lines: a new translation, another voice, a new span within the
//! neighbours, or the original audio kept. Each edit is a new revision of the line holding its
//! whole wanted state (`segment_edits`): the text before it stays, and the newest revision is
//! what the next re-render speaks. A batch is validated whole and stored all or nothing.

use super::Segment;
use crate::services::dubs::voice_usable;
use crate::services::{Result, ServiceError};
use crate::state::AppState;
use crate::text;
use onevoice_shared::ids::{JobId, UserId};
use onevoice_shared::language::Language;
use onevoice_shared::repo::segment_edits::{self, LineState, Revision};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most lines one batch edits.
pub const MAX_BATCH: usize = 500;
/// The longest translation of a line, in characters.
pub const MAX_TRANSLATION_CHARS: usize = 1000;
/// The shortest span a line may be given.
pub const MIN_LINE_MS: u64 = 200;

/// What to change in a line; what is left out stays as it is.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"translation": "Hola y bienvenidos.", "end_ms": 3600}))]
pub struct SegmentPatch {
    /// The text to speak (and show in the dub's subtitles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 1000)]
    pub translation: Option<String>,
    /// The voice to speak the line with (see `/api/videos/voices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "nonblank-line", max_length = 200)]
    pub voice_id: Option<String>,
    /// Where the line starts, in milliseconds from the start of the video; not before the
    /// previous line ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// Where the line ends; not after the next line starts nor after the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// Keep the original audio for this line instead of dubbing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_original: Option<bool>,
}

impl SegmentPatch {
    fn is_empty(&self) -> bool {
        self.translation.is_none()
            && self.voice_id.is_none()
            && self.start_ms.is_none()
            && self.end_ms.is_none()
            && self.keep_original.is_none()
    }
}

/// Where a batch's fields are named in errors: `translation` for one line, `edits[2].translation`
/// for the third edit of a batch.
#[derive(Clone, Copy)]
pub enum Fields {
    One,
    Batch,
}

impl Fields {
    fn name(self, position: usize, field: &str) -> String {
        match self {
            Fields::One => field.to_string(),
            Fields::Batch => format!("edits[{position}].{field}"),
        }
    }

    /// The edit as a whole: the body, or the batch's entry.
    fn whole(self, position: usize) -> String {
        match self {
            Fields::One => "body".to_string(),
            Fields::Batch => format!("edits[{position}]"),
        }
    }
}

/// Applies `patches` (line index, patch) to one of the caller's finished jobs, all or none;
/// returns the edited lines as they now are.
pub async fn apply(
    state: &AppState,
    user: UserId,
    job: JobId,
    patches: &[(u32, SegmentPatch)],
    fields: Fields,
) -> Result<Vec<Segment>> {
    if patches.is_empty() {
        return Err(ServiceError::invalid(
            "edits",
            "must edit at least one line",
        ));
    }
    if patches.len() > MAX_BATCH {
        return Err(ServiceError::invalid(
            "edits",
            format!("at most {MAX_BATCH} lines per request"),
        ));
    }
    let all = super::checkpoint::reviewable(state, user, job).await?;
    let target: Option<Language> = all.job.config().map(|c| c.target_language);
    let mut lines = all.lines;
    let count = lines.len();
    let mut drafts: Vec<LineState> = lines.iter().map(|s| s.draft().clone()).collect();
    let mut edited: Vec<usize> = Vec::with_capacity(patches.len());
    for (position, (index, patch)) in patches.iter().enumerate() {
        let field = |name: &str| fields.name(position, name);
        let k = *index as usize;
        if k >= count {
            return Err(match fields {
                Fields::One => ServiceError::NotFound(format!("the job has no line {index}")),
                Fields::Batch => ServiceError::invalid(
                    &field("index"),
                    format!(
                        "the job has {count} lines (0 to {})",
                        count.saturating_sub(1)
                    ),
                ),
            });
        }
        if edited.contains(&k) {
            return Err(ServiceError::invalid(
                &field("index"),
                format!("line {index} is edited twice in this request"),
            ));
        }
        if patch.is_empty() {
            return Err(ServiceError::invalid(
                &fields.whole(position),
                "give at least one of translation, voice_id, start_ms, end_ms, keep_original",
            ));
        }
        let draft = &mut drafts[k];
        if let Some(t) = &patch.translation {
            let t = text::multiline(&field("translation"), t, MAX_TRANSLATION_CHARS)?.trim();
            if t.is_empty() {
                return Err(ServiceError::invalid(
                    &field("translation"),
                    "must not be blank (use keep_original to leave the line undubbed)",
                ));
            }
            draft.translation = t.to_string();
        }
        if let Some(v) = &patch.voice_id {
            let v = text::nonblank_line(&field("voice_id"), v, 200)?;
            // The voices the job already speaks with stay usable (a clone made for it).
            let known = lines[k].rendered.voice_id.as_deref() == Some(v)
                || draft.voice_id.as_deref() == Some(v);
            let usable = match target {
                Some(lang) => known || voice_usable(state, user, v, lang).await?,
                None => known,
            };
            if !usable {
                return Err(ServiceError::invalid(
                    &field("voice_id"),
                    "not a voice this job's language can be dubbed with (see /api/videos/voices)",
                ));
            }
            draft.voice_id = Some(v.to_string());
        }
        if let Some(start) = patch.start_ms {
            draft.start_ms = start;
        }
        if let Some(end) = patch.end_ms {
            draft.end_ms = end;
        }
        if let Some(keep) = patch.keep_original {
            draft.keep_original = keep;
        }
        edited.push(k);
    }
    // Timing is checked once every edit is applied: a batch may move two neighbours together.
    for (position, &k) in edited.iter().enumerate() {
        let field = |name: &str| fields.name(position, name);
        let (draft, before) = (&drafts[k], lines[k].draft());
        if draft.start_ms == before.start_ms && draft.end_ms == before.end_ms {
            continue;
        }
        if draft.end_ms < draft.start_ms + MIN_LINE_MS {
            return Err(ServiceError::invalid(
                &field("end_ms"),
                format!(
                    "must be at least {MIN_LINE_MS} ms after start_ms ({} ms)",
                    draft.start_ms
                ),
            ));
        }
        if draft.end_ms > all.duration_ms {
            return Err(ServiceError::invalid(
                &field("end_ms"),
                format!(
                    "must not be after the end of the video ({} ms)",
                    all.duration_ms
                ),
            ));
        }
        // A line may keep an overlap it already had with a neighbour (people talking over each
        // other), never move further into one.
        if k > 0 {
            let floor = drafts[k - 1].end_ms.min(before.start_ms);
            if draft.start_ms < floor {
                return Err(ServiceError::invalid(
                    &field("start_ms"),
                    format!("must not be before {floor} ms, where line {} ends", k - 1),
                ));
            }
        }
        if k + 1 < count {
            let ceiling = drafts[k + 1].start_ms.max(before.end_ms);
            if draft.end_ms > ceiling {
                return Err(ServiceError::invalid(
                    &field("end_ms"),
                    format!(
                        "must not be after {ceiling} ms, where line {} starts",
                        k + 1
                    ),
                ));
            }
        }
    }
    // Only what changes is recorded: a repeated request adds no revision.
    let revisions: Vec<(u32, u32, LineState)> = edited
        .iter()
        .filter(|&&k| &drafts[k] != lines[k].draft())
        .map(|&k| {
            let seen = lines[k].edit.as_ref().map_or(0, |e| e.revision);
            (k as u32, seen, drafts[k].clone())
        })
        .collect();
    if !segment_edits::append(&state.db, job, &revisions).await? {
        return Err(ServiceError::Conflict(
            "a line was edited by another request meanwhile; reload the segments and try again"
                .into(),
        ));
    }
    let now = chrono::Utc::now();
    for (line, seen, state) in revisions {
        lines[line as usize].edit = Some(Revision {
            line,
            revision: seen + 1,
            state,
            edited_at: now,
        });
    }
    Ok(edited.into_iter().map(|k| lines[k].clone()).collect())
}
