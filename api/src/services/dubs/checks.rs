//! What a dub request must pass before anything is written: a ready video, a price, credits
//! the user may spend, a configured recognizer, a clean glossary.

use super::*;
use crate::text;
use onevoice_shared::voices::{CloneProvider, Provider, VoiceChoice};

/// Why a suspended customer cannot start dubbing, and how to get going again.
const OVERDUE: &str = "dubbing is suspended: your subscription payment is overdue; update your payment method to continue";
const DISPUTED: &str = "dubbing is suspended: a payment of this account was charged back; contact support to settle it";

/// The caller's video, ready to be dubbed: uploaded and probed.
pub(super) async fn ready_video(
    state: &AppState,
    user: UserId,
    id: VideoId,
) -> Result<VideoDetail> {
    let v = videos::detail(&state.db, user, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("video not found".into()))?;
    let ready = [
        VideoStatus::Uploaded,
        VideoStatus::Processing,
        VideoStatus::Completed,
    ];
    if !ready.contains(&v.status) || v.duration.is_none() {
        let why = match v.status {
            VideoStatus::Pending => "the video's upload has not been completed yet".to_string(),
            VideoStatus::Failed => format!(
                "the video cannot be dubbed: {}",
                v.status_reason.as_deref().unwrap_or("its upload failed")
            ),
            other => format!("the video is {other}"),
        };
        return Err(ServiceError::Conflict(why));
    }
    Ok(v)
}

/// Credits and a rough processing time in seconds of `ms` of media.
pub(super) fn price_of(state: &AppState, ms: u64) -> (i64, u64) {
    let credits = credit_cost(ms, state.settings.credits.cost_per_minute);
    let estimate =
        (ms as f64 / 1000.0 * state.settings.credits.processing_ratio).ceil() as u64 + 10;
    (credits, estimate)
}

/// Whether the user may hold `credits` now (inside the transaction that locked their balance):
/// not while dubbing is suspended, and not beyond the balance (a negative one after a refund
/// refuses every dub until credits are added).
pub(crate) async fn may_spend(
    tx: &mut sqlx::PgConnection,
    user: UserId,
    credits: i64,
) -> Result<()> {
    match billing::suspension(&mut *tx, user).await? {
        Some(billing::Suspension::Overdue) => return Err(ServiceError::Suspended(OVERDUE.into())),
        Some(billing::Suspension::Disputed) => {
            return Err(ServiceError::Suspended(DISPUTED.into()));
        }
        None => {}
    }
    let available = ledger::balance(&mut *tx, user).await?;
    if available < credits {
        return Err(ServiceError::NotEnoughCredits {
            needed: credits,
            available,
        });
    }
    Ok(())
}

/// The recognizer a dub asks for: one the server has configured, for a video without a
/// transcript.
pub(super) fn requested_recognizer(
    state: &AppState,
    req: &DubRequest,
) -> Result<Option<Recognizer>> {
    let Some(name) = req.asr_provider.as_deref() else {
        return Ok(None);
    };
    let configured: Vec<&str> = Recognizer::ALL
        .into_iter()
        .filter(|r| r.is_configured(&state.settings.speech))
        .map(Recognizer::name)
        .collect();
    let recognizer = Recognizer::from_name(name)
        .filter(|r| r.is_configured(&state.settings.speech))
        .ok_or_else(|| {
            ServiceError::invalid(
                "asr_provider",
                format!(
                    "not a recognizer of this server (configured: {})",
                    configured.join(", ")
                ),
            )
        })?;
    if req.source_transcript.is_some() || req.translated_transcript.is_some() {
        return Err(ServiceError::invalid(
            "asr_provider",
            "a job with source_transcript or translated_transcript recognizes no speech: omit \
             one of them",
        ));
    }
    Ok(Some(recognizer))
}

pub(super) fn check_glossary(entries: &[GlossaryEntry]) -> Result<Vec<GlossaryTerm>> {
    if entries.len() > 200 {
        return Err(ServiceError::invalid("glossary", "at most 200 terms"));
    }
    // Brackets would break Apertium's protection of the terms.
    let term = |field: String, t: &str| -> Result<String> {
        let t = text::nonblank_line(&field, t, 100)?;
        if t.contains(['[', ']']) {
            return Err(ServiceError::invalid(&field, "must not contain `[` or `]`"));
        }
        Ok(t.to_string())
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(GlossaryTerm {
                source: term(format!("glossary[{i}].source"), &e.source)?,
                target: term(format!("glossary[{i}].target"), &e.target)?,
            })
        })
        .collect()
}

/// The request's voices by speaker: each label one of the uploaded transcript's speakers, each
/// voice one of the catalogue's for the target language.
pub(super) async fn check_speaker_voices(
    state: &AppState,
    user: UserId,
    requested: &BTreeMap<String, String>,
    cues: Option<&[Cue]>,
    target: Language,
) -> Result<BTreeMap<String, String>> {
    if requested.is_empty() {
        return Ok(BTreeMap::new());
    }
    if requested.len() > MAX_REQUESTED {
        return Err(ServiceError::invalid(
            "voices",
            format!("at most {MAX_REQUESTED} speakers"),
        ));
    }
    let Some(cues) = cues else {
        return Err(ServiceError::invalid(
            "voices",
            "speakers are known in advance only from source_transcript (WebVTT `<v Name>` or \
             `Name:` lines); without one, every speaker found gets a distinct voice",
        ));
    };
    for (label, voice) in requested {
        let field = format!("voices.{label}");
        let label = text::nonblank_line(&field, label, MAX_SPEAKER_CHARS)?;
        if !cues.iter().any(|c| c.speaker.as_deref() == Some(label)) {
            return Err(ServiceError::invalid(
                &field,
                "no line of source_transcript is spoken by this speaker",
            ));
        }
        if !voice_usable(state, user, voice, target).await? {
            return Err(ServiceError::invalid(
                &field,
                format!("not a voice for {target}; see /api/videos/voices and /api/voices"),
            ));
        }
    }
    Ok(requested.clone())
}

/// Whether `voice` may dub into `target` for `user`: a voice of the catalogue, or a clone the
/// user saved to their library (never another user's), at a provider configured here.
pub(crate) async fn voice_usable(
    state: &AppState,
    user: UserId,
    voice: &str,
    target: Language,
) -> Result<bool> {
    let speech = &state.settings.speech;
    if onevoice_shared::voices::is_available(voice, target, speech) {
        return Ok(true);
    }
    let configured = match VoiceChoice::parse(voice).map(|v| v.provider()) {
        Some(Provider::ElevenLabs) => speech.elevenlabs.is_some(),
        Some(Provider::Fish) => speech.fish.is_some(),
        _ => false,
    };
    Ok(configured && cloned_voices::is_saved_by(&state.db, user, voice).await?)
}

/// A request to clone voices: only with a consent attestation, at a provider that clones, and
/// for speakers the job can tell apart. Returns the provider and who attested.
pub(super) fn check_cloning(
    state: &AppState,
    req: &DubRequest,
    voice_id: Option<&str>,
    cues: Option<&[Cue]>,
    recognizer: Option<Recognizer>,
) -> Result<Option<(CloneProvider, String)>> {
    if !req.clone_voices {
        if req.voice_consent.is_some() {
            return Err(ServiceError::invalid(
                "voice_consent",
                "only with clone_voices: true",
            ));
        }
        return Ok(None);
    }
    let Some(consent) = &req.voice_consent else {
        return Err(ServiceError::invalid(
            "voice_consent",
            "required to clone voices: confirm that everyone heard in the video consented",
        ));
    };
    if !consent.confirmed {
        return Err(ServiceError::invalid(
            "voice_consent.confirmed",
            "must be true to clone voices",
        ));
    }
    let name = text::nonblank_line("voice_consent.name", &consent.name, 200)?;
    let speech = &state.settings.speech;
    let provider = CloneProvider::for_job(voice_id, speech).ok_or_else(|| {
        ServiceError::invalid(
            "clone_voices",
            "voice cloning is not available on this server (it needs ElevenLabs or Fish Audio)",
        )
    })?;
    let knows_speakers = match cues {
        Some(cues) => cues.iter().any(|c| c.speaker.is_some()),
        None => recognizer.is_some_and(|r| r.diarizes(speech)),
    };
    if !knows_speakers {
        return Err(ServiceError::invalid(
            "clone_voices",
            "cloning needs the speakers: name them in source_transcript (WebVTT `<v Name>` or \
             `Name:` lines), or use a recognizer that tells them apart",
        ));
    }
    Ok(Some((provider, name.to_string())))
}

/// The background mode a request asks for: `background` when given (it must agree with
/// `preserve_background_music: false`), else none without the background, else separated.
pub(super) fn check_background(req: &DubRequest) -> Result<BackgroundMode> {
    let Some(name) = req.background.as_deref() else {
        return Ok(if req.preserve_background_music {
            BackgroundMode::Separated
        } else {
            BackgroundMode::None
        });
    };
    let mode = BackgroundMode::parse(name).ok_or_else(|| {
        ServiceError::invalid("background", "must be `separated`, `ducked` or `none`")
    })?;
    if !req.preserve_background_music && mode != BackgroundMode::None {
        return Err(ServiceError::invalid(
            "background",
            "contradicts preserve_background_music: false (which is `none`)",
        ));
    }
    Ok(mode)
}

/// Where the dub stops for the caller's review, if anywhere.
pub(super) fn check_review(req: &DubRequest) -> Result<Option<ReviewStage>> {
    match req.review.as_deref() {
        None => Ok(None),
        Some("translation") => Ok(Some(ReviewStage::Translation)),
        Some(_) => Err(ServiceError::invalid("review", "must be `translation`")),
    }
}

/// The part of the video a request dubs: `None` for all of it. A preview is the first
/// `PREVIEW_SECONDS`; `start`/`end` (seconds) pick any part of at least a second.
pub(super) fn span(state: &AppState, part: Part, duration_secs: f64) -> Result<Option<TimeRange>> {
    let whole_ms = (duration_secs * 1000.0).round() as u64;
    if part.preview {
        if part.start.is_some() || part.end.is_some() {
            return Err(ServiceError::invalid(
                "preview",
                "a preview is the video's first seconds: omit start and end",
            ));
        }
        let end_ms = whole_ms.min(u64::from(state.settings.credits.preview_seconds) * 1000);
        return Ok(Some(TimeRange {
            start_ms: 0,
            end_ms,
        }));
    }
    if part.start.is_none() && part.end.is_none() {
        return Ok(None);
    }
    let seconds = |field: &str, v: f64| -> Result<u64> {
        if !v.is_finite() || v < 0.0 {
            return Err(ServiceError::invalid(
                field,
                "must be a number of seconds, 0 or more",
            ));
        }
        if v > duration_secs + 0.001 {
            return Err(ServiceError::invalid(
                field,
                format!("the video is {duration_secs:.3} s long"),
            ));
        }
        Ok(((v * 1000.0).round() as u64).min(whole_ms))
    };
    let start_ms = part
        .start
        .map(|s| seconds("start", s))
        .transpose()?
        .unwrap_or(0);
    let end_ms = part
        .end
        .map(|e| seconds("end", e))
        .transpose()?
        .unwrap_or(whole_ms);
    if end_ms < start_ms + 1000 {
        return Err(ServiceError::invalid(
            "end",
            "must be at least a second after start",
        ));
    }
    if start_ms == 0 && end_ms == whole_ms {
        return Ok(None);
    }
    Ok(Some(TimeRange { start_ms, end_ms }))
}

/// The cues of a transcript within `range`, clipped to it and shifted to start at 0 (the cut is
/// the video the job sees). A transcript with nothing in the range is refused.
pub(super) fn within(cues: Vec<Cue>, range: TimeRange, field: &str) -> Result<Vec<Cue>> {
    let kept: Vec<Cue> = cues
        .into_iter()
        .filter(|c| c.end_ms > range.start_ms && c.start_ms < range.end_ms)
        .map(|c| Cue {
            start_ms: c.start_ms.max(range.start_ms) - range.start_ms,
            end_ms: c.end_ms.min(range.end_ms) - range.start_ms,
            ..c
        })
        .filter(|c| c.end_ms > c.start_ms)
        .collect();
    if kept.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "no line of it falls within start and end",
        ));
    }
    Ok(kept)
}

/// Whether the user may start another free preview now (inside the transaction that locked
/// their balance, so two at once cannot both pass): `PREVIEWS_PER_DAY` in any 24 hours.
pub(super) async fn may_preview(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: UserId,
) -> Result<()> {
    let (count, next_in) = jobs::previews_in_last_day(tx, user).await?;
    if count >= i64::from(state.settings.credits.previews_per_day) {
        return Err(ServiceError::RateLimited {
            retry_after: next_in.max(1) as u64,
        });
    }
    Ok(())
}
