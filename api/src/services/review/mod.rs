//! Review of a finished dub: its lines as rendered (segments), how they fit their time (the fit
//! report), and the user's edits of them (`edits`), which the next re-render speaks.
//!
//! A job's lines are read from the documents its steps stored: the source lines the translation
//! was made from, the synthesized lines (text, speaker, voice, original timing), the timing plan
//! (where each clip was placed, how much it was sped up and cut) and the lines the LLM
//! shortened. Line `k` of each is the same line.

pub mod checkpoint;
pub mod edits;
pub mod exports;
pub mod files;
pub mod fit;
pub mod rerender;

use super::{Result, ServiceError};
use crate::state::AppState;
use onevoice_activities::audio::RATE;
use onevoice_activities::audio::engine::plan::{Placement, Plan};
use onevoice_shared::contracts::SynthesizedLine;
use onevoice_shared::ids::{JobId, UserId};
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::rerender_cost;
use onevoice_shared::repo::segment_edits::{self, LineState, Revision};
use onevoice_shared::repo::{job_versions, jobs, ledger};
use onevoice_shared::srt::Cue;
use onevoice_shared::status::JobStatus;
use onevoice_shared::storage::StorageError;

/// One line of a rendered dub.
#[derive(Clone, Debug)]
pub struct Segment {
    pub index: u32,
    /// The speaker's label, when the job knows who speaks.
    pub speaker: Option<String>,
    pub source_text: String,
    /// As rendered: text, voice, original timing, whether the original audio was kept.
    pub rendered: LineState,
    /// Where the timing plan put the clip: its start and its end before any cut.
    pub planned_ms: (u64, u64),
    /// What is heard: start and end after the cut (none when nothing of it fits the video).
    pub spoken_ms: Option<(u64, u64)>,
    /// The room the line had (its slot plus the allowed spill into the gap after it).
    pub room_ms: u64,
    /// The clip's length as synthesized, before any speed-up.
    pub natural_ms: u64,
    pub speed: f64,
    /// How much of the end was cut for not fitting even at the maximum speed-up.
    pub overrun_ms: u64,
    /// Whether the translation was shortened to fit the slot.
    pub shortened: bool,
    /// The user's newest edit of this line, when there is one.
    pub edit: Option<Revision>,
}

impl Segment {
    /// What the next render speaks here: the newest edit, else what was rendered.
    pub fn draft(&self) -> &LineState {
        self.edit.as_ref().map_or(&self.rendered, |e| &e.state)
    }

    /// Whether the next render would speak this line differently. An edit that names no voice
    /// keeps the one the line was rendered with (edits made at the review checkpoint, before
    /// any voice was chosen, name none).
    pub fn changed(&self) -> bool {
        let (d, r) = (self.draft(), &self.rendered);
        d.translation != r.translation
            || (d.start_ms, d.end_ms, d.keep_original) != (r.start_ms, r.end_ms, r.keep_original)
            || (d.voice_id.is_some() && d.voice_id != r.voice_id)
    }

    /// The line's own time (its subtitle's span).
    pub(crate) fn slot_ms(&self) -> u64 {
        self.rendered.end_ms.saturating_sub(self.rendered.start_ms)
    }
}

/// A finished job's lines as its current version speaks them, in order, with the job.
pub struct Segments {
    pub job: jobs::JobRow,
    /// The version the lines are of (`jobs.current_version`).
    pub version: u32,
    pub duration_ms: u64,
    pub lines: Vec<Segment>,
}

impl Segments {
    /// What the next render speaks: every line as drafted (its newest edit, else as rendered),
    /// the voices the user gave single lines, and the lines kept undubbed.
    pub fn drafts(&self) -> Drafts {
        let mut drafts = Drafts::default();
        for s in &self.lines {
            let d = s.draft();
            drafts.cues.push(Cue {
                start_ms: d.start_ms,
                end_ms: d.end_ms,
                text: d.translation.clone(),
                speaker: s.speaker.clone(),
            });
            if let Some(voice) = &d.voice_id {
                drafts.voices.insert(s.index, voice.clone());
            }
            if d.keep_original {
                drafts.kept.insert(s.index);
            }
        }
        drafts
    }
}

/// The lines as the next render speaks them (`Segments::drafts`).
#[derive(Default)]
pub struct Drafts {
    pub cues: Vec<Cue>,
    pub voices: std::collections::BTreeMap<u32, String>,
    pub kept: std::collections::BTreeSet<u32>,
}

fn ms(samples: u64) -> u64 {
    samples * 1000 / u64::from(RATE)
}

/// The caller's finished job (404 for anyone else's, 409 while it has no rendered lines).
async fn finished_job(state: &AppState, user: UserId, job: JobId) -> Result<jobs::JobRow> {
    let row = jobs::find_owned(&state.db, user, job)
        .await?
        .ok_or_else(|| ServiceError::NotFound("job not found".into()))?;
    if row.status != JobStatus::Completed {
        return Err(ServiceError::Conflict(format!(
            "the job is {}: its lines can be reviewed once it has completed",
            row.status.as_str()
        )));
    }
    Ok(row)
}

/// A stored document of the job that may be absent (jobs from before it existed).
pub(super) async fn optional<T: serde::de::DeserializeOwned>(
    state: &AppState,
    key: &str,
) -> Result<Option<T>> {
    match state.storage.get_json(key).await {
        Ok(doc) => Ok(Some(doc)),
        Err(StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The lines the LLM shortened to fit their slot, and what it made of them: a line says
/// "shortened" only while it speaks those words (a user's rewrite of it is not).
pub(super) struct Shortened {
    lines: Vec<usize>,
    translation: Vec<Cue>,
}

impl Shortened {
    pub(super) async fn read(state: &AppState, keys: &JobKeys) -> Result<Self> {
        let lines: Vec<usize> = optional(state, &keys.shortened_lines())
            .await?
            .unwrap_or_default();
        let translation = if lines.is_empty() {
            Vec::new()
        } else {
            optional(state, &keys.text_json("translation_cues"))
                .await?
                .unwrap_or_default()
        };
        Ok(Self { lines, translation })
    }

    /// Whether line `k`, saying `text`, is the LLM's shortening.
    pub(super) fn of(&self, k: usize, text: &str) -> bool {
        self.lines.contains(&k) && self.translation.get(k).is_some_and(|c| c.text == text)
    }
}

/// Every line of one of the caller's finished jobs, with the user's newest edits.
pub async fn segments(state: &AppState, user: UserId, job: JobId) -> Result<Segments> {
    let row = finished_job(state, user, job).await?;
    let keys = JobKeys(job);
    let version = job_versions::current(&state.db, job).await?;
    let render = keys.render(version);
    let synthesized: Vec<SynthesizedLine> = state.storage.get_json(&render.tts_manifest()).await?;
    let plan: Plan = state.storage.get_json(&render.timing_plan()).await?;
    // The lines the translation was made from: split by meaning, or (jobs from before the text
    // stages) the transcript's cues.
    let sources: Vec<Cue> = match optional(state, &keys.text_json("lines")).await? {
        Some(lines) => lines,
        None => optional(state, &keys.text_json("source_cues"))
            .await?
            .unwrap_or_default(),
    };
    let shortened = Shortened::read(state, &keys).await?;
    let mut edits = segment_edits::newest(&state.db, job)
        .await?
        .into_iter()
        .peekable();
    let mut lines = Vec::with_capacity(synthesized.len());
    for (k, line) in synthesized.into_iter().enumerate() {
        let p = plan.placements.get(k).cloned().unwrap_or(Placement {
            start: line.start_ms * u64::from(RATE) / 1000,
            slot: 0,
            window: 0,
            natural: 0,
            speed: 1.0,
            stretched: 0,
            placed: 0,
        });
        let edit = edits.next_if(|e| e.line as usize == k);
        lines.push(Segment {
            index: k as u32,
            speaker: line.speaker,
            source_text: sources.get(k).map(|c| c.text.clone()).unwrap_or_default(),
            rendered: LineState {
                translation: line.text.clone(),
                voice_id: line.voice_id,
                start_ms: line.start_ms,
                end_ms: line.end_ms,
                keep_original: line.keep_original,
            },
            planned_ms: (ms(p.start), ms(p.start + p.stretched)),
            spoken_ms: (p.placed > 0).then(|| (ms(p.start), ms(p.start + p.placed))),
            room_ms: ms(p.window),
            natural_ms: ms(p.natural),
            speed: p.speed,
            overrun_ms: ms(p.overrun()),
            shortened: shortened.of(k, &line.text),
            edit,
        });
    }
    Ok(Segments {
        version,
        duration_ms: ms(plan.frames),
        job: row,
        lines,
    })
}

/// What re-rendering a job's edited lines costs.
pub struct RerenderQuote {
    /// Lines the re-render would speak anew, and their time (each line's longer span, before or
    /// after its edit).
    pub changed_lines: u32,
    pub changed_ms: u64,
    /// 0 when nothing changed (there is nothing to re-render).
    pub credits: i64,
    /// The caller's balance.
    pub available: i64,
}

/// The quote of a re-render of one of the caller's finished jobs, with the function it is
/// charged with.
pub async fn rerender_quote(state: &AppState, user: UserId, job: JobId) -> Result<RerenderQuote> {
    let all = segments(state, user, job).await?;
    let mut quote = quote_of(&all, state.settings.credits.cost_per_minute);
    quote.available = ledger::balance(&state.db, user).await?;
    Ok(quote)
}

/// The price of re-rendering what changed in `all` (without the balance).
pub(super) fn quote_of(all: &Segments, per_minute: u32) -> RerenderQuote {
    let changed: Vec<&Segment> = all.lines.iter().filter(|s| s.changed()).collect();
    let span = |l: &LineState| l.end_ms.saturating_sub(l.start_ms);
    let changed_ms: u64 = changed
        .iter()
        .map(|s| span(&s.rendered).max(span(s.draft())))
        .sum();
    let credits = if changed.is_empty() {
        0
    } else {
        rerender_cost(changed_ms, per_minute)
    };
    RerenderQuote {
        changed_lines: changed.len() as u32,
        changed_ms,
        credits,
        available: 0,
    }
}
