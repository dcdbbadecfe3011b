//! The separation stage: the background stem, the source track without its original voices, for
//! the mix to lay the dub over at full level. Two separators behind one trait: the offline voice
//! suppressor of the engine (the default) and LALAL.AI when it is configured. A track the service
//! refuses for good (too long for the licence, a failed task) is separated offline instead, and
//! the job result says so; a service that is only down is retried like any step.

use super::RATE;
use super::engine;
use super::lalalai::LalalAi;
use crate::{blocking, error};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// A source track to separate.
pub(crate) struct Track<'a> {
    pub source: &'a Path,
    /// The original speech, as frame spans at `RATE`.
    pub speech: &'a [(u64, u64)],
    /// Where the stem goes: 16-bit stereo WAV at `RATE`, as long as the source.
    pub out: &'a Path,
    /// Where the voices alone go, as the stem, when asked for and the separator gives them.
    pub vocals: Option<&'a Path>,
}

/// What a separator did.
pub(crate) struct Separated {
    /// How the voices went (`BackgroundReport::method`).
    pub method: &'static str,
    /// Whether it wrote `Track::vocals`.
    pub vocals: bool,
}

pub(crate) trait Separator {
    /// Writes `track.out` (and `track.vocals` when it can).
    async fn separate(
        &self,
        ctx: &ActivityContext,
        track: &Track<'_>,
    ) -> Result<Separated, ActivityError>;
}

/// The engine's voice suppressor (`engine::separate`): the centre of a stereo track, the speech
/// band of a mono one, under the original speech only. It has no voices alone to give (what it
/// takes out of a stereo track's centre is the centred music too).
pub(crate) struct Offline;

impl Separator for Offline {
    async fn separate(
        &self,
        ctx: &ActivityContext,
        track: &Track<'_>,
    ) -> Result<Separated, ActivityError> {
        let (source, out, speech) = (
            track.source.to_owned(),
            track.out.to_owned(),
            track.speech.to_vec(),
        );
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let stereo = blocking::run(ctx, cancel, move || {
            let layout = engine::separate::measure(&source, RATE, &flag)?;
            engine::separate::suppress_voices(&source, RATE, layout, &speech, &out, &flag)?;
            Ok(layout.stereo)
        })
        .await?;
        Ok(Separated {
            method: if stereo { "centre" } else { "speech_band" },
            vocals: false,
        })
    }
}

/// The service's `back` and `stem` tracks, conformed to the source: the mix and the speakers
/// step read them frame for frame against the source's timeline. Its voices are gone
/// everywhere, not only under speech.
impl Separator for LalalAi<'_> {
    async fn separate(
        &self,
        ctx: &ActivityContext,
        track: &Track<'_>,
    ) -> Result<Separated, ActivityError> {
        let stem = track.out.with_extension("provider");
        let voices = track
            .vocals
            .map(|v| (v.with_extension("provider"), v.to_owned()));
        let vocals = self
            .background(
                track.source,
                &stem,
                voices.as_ref().map(|(v, _)| v.as_path()),
            )
            .await?;
        let (source, out) = (track.source.to_owned(), track.out.to_owned());
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        blocking::run(ctx, cancel, move || {
            let frames = engine::separate::measure(&source, RATE, &flag)?.frames;
            engine::separate::conform(&stem, RATE, frames, &out, &flag)?;
            if let (true, Some((voices, vocals_out))) = (vocals, &voices) {
                engine::separate::conform(voices, RATE, frames, vocals_out, &flag)?;
            }
            Ok(())
        })
        .await
        // A stem that does not decode is the service's failure, like a refusal (and the
        // decoder's message names local paths).
        .map_err(|e| match error::refused(&e) {
            Some(_) => error::fatal(format!("{}: an unreadable stem", super::lalalai::NAME)),
            None => e,
        })?;
        Ok(Separated {
            method: "lalalai",
            vocals,
        })
    }
}
