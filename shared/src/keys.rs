//! Every object key in the bucket: the only place a key is formatted. The API, the workflows, the
//! activities and the tests ask here, and cleanup deletes what these prefixes cover, so nothing a
//! job or a video wrote can be missed by a cancel, a video deletion or an account erasure.
//!
//! ```text
//! videos/{user}/{video}/                      a video and everything derived from it
//!   original.{ext}                            the original, written once by the ingest
//!   upload/original.{ext}                     what the client uploads (presigned URLs write only this)
//!   thumbnails/{name}.{jpg,png,webp}
//!   dubbed/{job}.{lang}.mp4                   a job's outputs, each named `{job}.…`
//!   dubbed/{job}.{lang}.m4a                   (and its audio alone)
//!   subtitled/{job}.{lang}.mp4
//!   transcripts/{job}.srt
//!   dubbed/{job}/v{n}.{lang}.mp4              version n ≥ 2 of a job's outputs (re-renders)
//! avatars/{user}/{name}.{ext}
//! jobs/{job}/                                 a job's intermediate artifacts
//!   steps/{step}.json                         each step's stored result (its memo)
//!   audio/…  text/…  tts/…  subtitles/…  llm/…
//!   speakers/{speaker}/…                      per-speaker artifacts
//!   clips/{sha256}.wav                        synthesised lines keyed by a hash of what shaped
//!                                             them, shared by every version that speaks them alike
//!   v{n}/steps/…  v{n}/tts/…  v{n}/audio/…    what render n ≥ 2 (a re-render) writes of its own
//! asr-cache/{recognizer}/{sha256}.json        recognized speech keyed by a hash of the audio
//! ```
//!
//! Version 1 of a job keeps the flat layout every job had before versions existed, so stored
//! keys and recorded workflow histories stay valid. Clips live under their job, not their user,
//! so deleting a video or a job deletes every voice it made.

use crate::contracts::LineBatch;
use crate::ids::{JobId, UserId, VideoId};
use crate::language::Language;
use crate::pipeline::Step;

/// Everything of a user's, for an account erasure (jobs are listed by id, see [`JobKeys`]).
pub fn user_prefixes(user: UserId) -> [String; 2] {
    [format!("videos/{user}/"), avatars(user)]
}

/// Every profile picture of a user.
pub fn avatars(user: UserId) -> String {
    format!("avatars/{user}/")
}

/// A profile picture; a new name per upload, so caches never serve an old one.
pub fn avatar(user: UserId, name: &str, ext: &str) -> String {
    format!("{}{name}.{ext}", avatars(user))
}

/// Keys of one video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoKeys {
    pub user: UserId,
    pub video: VideoId,
}

impl VideoKeys {
    pub fn new(user: UserId, video: VideoId) -> Self {
        VideoKeys { user, video }
    }

    /// The video and everything derived from it (deleted with the video).
    pub fn prefix(&self) -> String {
        format!("videos/{}/{}/", self.user, self.video)
    }

    /// The original as stored: what is probed, priced and dubbed.
    pub fn original(&self, ext: &str) -> String {
        format!("{}original.{ext}", self.prefix())
    }

    /// Where the client uploads the original (see [`upload_of`]).
    pub fn upload(&self, ext: &str) -> String {
        upload_of(&self.original(ext))
    }

    /// A thumbnail image (`ext` as its content is: frames are `jpg`).
    pub fn thumbnail(&self, name: &str, ext: &str) -> String {
        format!("{}thumbnails/{name}.{ext}", self.prefix())
    }

    /// The outputs of one of the video's jobs (version 1).
    pub fn job(&self, job: JobId) -> JobOutputs {
        JobOutputs {
            video: *self,
            job,
            version: 1,
        }
    }
}

/// Where the client uploads a video's original: beside the server-owned original, under the
/// video's prefix (so deleting the video removes it too). Presigned URLs only ever write this
/// key; the original itself is written once, by the ingest, from the completed upload.
pub fn upload_of(original_key: &str) -> String {
    match original_key.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/upload/{name}"),
        None => format!("upload/{original_key}"),
    }
}

/// The audio-only copy of a dubbed video, beside it (`….{lang}.m4a`: under the same job prefix, so
/// cleaned up with it).
pub fn audio_only_of(video_key: &str) -> String {
    let stem = video_key.strip_suffix(".mp4").unwrap_or(video_key);
    format!("{stem}.m4a")
}

/// Recognized speech, cached by recognizer and a hash of the audio: the same audio is not sent
/// to a paid recognizer twice (a resumed or repeated job finds it here).
pub fn asr_cache(recognizer: &str, sha256_hex: &str) -> String {
    format!("asr-cache/{recognizer}/{sha256_hex}.json")
}

/// Where the preview samples of the local voices live (no user's data: the catalogue's).
pub const VOICE_PREVIEWS: &str = "voice-previews/";

/// A voice's preview sample in a language (`voice_id` as the catalogue lists it), generated once
/// by a worker.
pub fn voice_preview(voice_id: &str, language: Language) -> String {
    format!("{VOICE_PREVIEWS}{}/{voice_id}.wav", language.code())
}

/// What a job writes beside its video: the dubbed and subtitled videos and the transcript (the
/// user's or the recognized one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOutputs {
    pub video: VideoKeys,
    pub job: JobId,
    /// 1 for a job's first render; each re-render writes a new version beside the others.
    pub version: u32,
}

impl JobOutputs {
    pub fn version(self, version: u32) -> Self {
        JobOutputs {
            version: version.max(1),
            ..self
        }
    }

    fn output(&self, dir: &str, lang: Language) -> String {
        let (prefix, job) = (self.video.prefix(), self.job);
        match self.version {
            1 => format!("{prefix}{dir}/{job}.{lang}.mp4"),
            n => format!("{prefix}{dir}/{job}/v{n}.{lang}.mp4"),
        }
    }

    pub fn dubbed(&self, lang: Language) -> String {
        self.output("dubbed", lang)
    }

    /// The original video with the translation burned in.
    pub fn subtitled(&self, lang: Language) -> String {
        self.output("subtitled", lang)
    }

    /// The job's source transcript, the user's or the recognized one (one per job: versions
    /// re-render the same source).
    pub fn transcript(&self) -> String {
        format!("{}transcripts/{}.srt", self.video.prefix(), self.job)
    }

    /// The user's own translation, when the dub request carried one (kept beside the source
    /// transcript; one per job).
    pub fn own_translation(&self) -> String {
        format!(
            "{}transcripts/{}.translation.srt",
            self.video.prefix(),
            self.job
        )
    }

    /// Every key of these outputs, of every version, starts with one of these (a cancelled
    /// job's are deleted).
    pub fn prefixes(&self) -> [String; 5] {
        let (p, job) = (self.video.prefix(), self.job);
        [
            format!("{p}dubbed/{job}."),
            format!("{p}subtitled/{job}."),
            format!("{p}transcripts/{job}."),
            format!("{p}dubbed/{job}/"),
            format!("{p}subtitled/{job}/"),
        ]
    }
}

/// Keys of a job's intermediate artifacts, all under [`JobKeys::prefix`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobKeys(pub JobId);

impl JobKeys {
    /// Every intermediate artifact of the job (deleted with the job).
    pub fn prefix(&self) -> String {
        format!("jobs/{}/", self.0)
    }

    /// An activity's stored result, keyed on job id + step, so a retry returns it.
    pub fn step_result(&self, step: Step) -> String {
        format!("{}steps/{}.json", self.prefix(), step.name())
    }

    /// The keys of render `version` of the job (1: the first dub).
    pub fn render(&self, version: u32) -> RenderKeys {
        RenderKeys {
            job: *self,
            version: version.max(1),
        }
    }

    /// A synthesised line, named by the hash of everything that shaped it (text, voice,
    /// language, model): the versions of a job that speak a line alike share one clip.
    pub fn clip(&self, sha256_hex: &str) -> String {
        format!("{}{sha256_hex}.wav", self.clips())
    }

    /// Every clip of the job.
    pub fn clips(&self) -> String {
        format!("{}clips/", self.prefix())
    }

    /// The part of the source video a ranged job dubs.
    pub fn trimmed_video(&self) -> String {
        format!("{}video/trimmed.mkv", self.prefix())
    }

    /// Chunk `n` of the source track as the recognizer hears it (16 kHz mono WAV).
    pub fn speech_chunk(&self, n: usize) -> String {
        format!("{}audio/speech-{n:04}.wav", self.prefix())
    }

    /// The list of the source track's recognition chunks (the memo of `speech.cut`).
    pub fn speech_chunks(&self) -> String {
        format!("{}steps/speech-chunks.json", self.prefix())
    }

    /// The source audio extracted from the video.
    pub fn source_audio(&self) -> String {
        format!("{}audio/source.flac", self.prefix())
    }

    /// The source track without its voices (the separation stage), and its memo.
    pub fn background_stem(&self) -> String {
        format!("{}audio/background.wav", self.prefix())
    }

    /// The original voices alone, when the separator gives them.
    pub fn vocals_stem(&self) -> String {
        format!("{}audio/vocals.wav", self.prefix())
    }

    pub fn separation(&self) -> String {
        format!("{}steps/separate.json", self.prefix())
    }

    /// The separation service's upload and task while the step runs.
    pub fn separation_task(&self) -> String {
        format!("{}steps/separate-task.json", self.prefix())
    }

    /// A text document of the pipeline (`source_cues`, `translation_cues`, `terminology`, …).
    pub fn text_json(&self, name: &str) -> String {
        format!("{}text/{name}.json", self.prefix())
    }

    /// What the user approved at the review checkpoint (`contracts::Approval`), and the lines
    /// it names (the translation as edited).
    pub fn approval(&self) -> String {
        self.text_json("approval")
    }

    pub fn approved_cues(&self) -> String {
        self.text_json("approved_cues")
    }

    /// Indices of the translated lines the LLM shortened to fit their slot (JSON list).
    pub fn shortened_lines(&self) -> String {
        self.text_json("shortened")
    }

    /// The translation as SRT.
    pub fn translation_srt(&self) -> String {
        format!("{}text/translation.srt", self.prefix())
    }

    /// Where a recognized transcript goes when the job has no video to keep it beside.
    pub fn recognized_srt(&self) -> String {
        format!("{}text/recognized.srt", self.prefix())
    }

    /// The subtitle files (`{name}.srt`, `{name}.vtt`).
    pub fn subtitles(&self, name: &str) -> (String, String) {
        let dir = format!("{}subtitles/", self.prefix());
        (format!("{dir}{name}.srt"), format!("{dir}{name}.vtt"))
    }

    /// Cached answers of the translation model, one object per request.
    pub fn llm_prefix(&self) -> String {
        format!("{}llm/", self.prefix())
    }

    /// Artifacts of one speaker of the video (reference audio, cloned-voice id, …).
    pub fn speaker(&self, speaker: &str, name: &str) -> String {
        format!("{}speakers/{speaker}/{name}", self.prefix())
    }
}

/// What one render of a job writes of its own: its step results, spoken lines, timing plan, mix
/// and dub subtitles. Version 1 is the flat layout of [`JobKeys`]; a re-render `n` writes under
/// `v{n}/`, so its steps are not answered by the first render's memos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderKeys {
    pub job: JobKeys,
    pub version: u32,
}

impl RenderKeys {
    fn under(&self, rest: &str) -> String {
        match self.version {
            1 => format!("{}{rest}", self.job.prefix()),
            n => format!("{}v{n}/{rest}", self.job.prefix()),
        }
    }

    /// A render step's stored result (its memo).
    pub fn step_result(&self, step: Step) -> String {
        self.under(&format!("steps/{}.json", step.name()))
    }

    /// The spoken lines (`SynthesizedLine` list).
    pub fn tts_manifest(&self) -> String {
        self.under("tts/manifest.json")
    }

    /// The spoken lines of a batch (named by its bounds: a job resumed with another batch
    /// size does not mistake one batch's lines for another's).
    pub fn tts_part(&self, batch: LineBatch) -> String {
        self.under(&format!(
            "tts/part-{:06}-{:06}.json",
            batch.first, batch.end
        ))
    }

    /// The stored result of one batch of a step done in batches.
    pub fn batch_result(&self, step: Step, batch: LineBatch) -> String {
        self.under(&format!(
            "steps/{}-{:06}-{:06}.json",
            step.name(),
            batch.first,
            batch.end
        ))
    }

    /// The lines a re-render speaks (cues with their voices), written when it is asked for.
    pub fn cues(&self) -> String {
        self.under("text/render_cues.json")
    }

    /// Where each line is placed and how much it is sped up.
    pub fn timing_plan(&self) -> String {
        self.under("audio/plan.json")
    }

    pub fn mix(&self) -> String {
        self.under("audio/mix.wav")
    }

    /// The mix encoded (ADTS) and its chunk sheet (`.json`), from which the next version copies
    /// the chunks whose audio did not change.
    pub fn encoded_mix(&self) -> (String, String) {
        let aac = self.under("audio/mix.aac");
        (aac.clone(), format!("{aac}.json"))
    }

    /// An editor's export of this version (`voices.wav`, `background.wav`, `clips.zip`,
    /// `result.json`: the memo of the activity that makes them).
    pub fn export(&self, name: &str) -> String {
        self.under(&format!("exports/{name}"))
    }

    /// The dub's subtitles with the times the lines are really spoken (`.srt`, `.vtt`).
    pub fn dub_subtitles(&self) -> (String, String) {
        let dir = self.under("subtitles/");
        (format!("{dir}dub.srt"), format!("{dir}dub.vtt"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (UserId, VideoId, JobId) {
        (
            "11111111-1111-1111-1111-111111111111".parse().unwrap(),
            "22222222-2222-2222-2222-222222222222".parse().unwrap(),
            "33333333-3333-3333-3333-333333333333".parse().unwrap(),
        )
    }

    #[test]
    fn version_one_keeps_the_layout_of_stored_jobs() {
        let (user, video, job) = ids();
        let out = VideoKeys::new(user, video).job(job);
        let es: Language = "es".parse().unwrap();
        assert_eq!(
            out.dubbed(es),
            format!("videos/{user}/{video}/dubbed/{job}.es.mp4")
        );
        assert_eq!(
            out.subtitled(es),
            format!("videos/{user}/{video}/subtitled/{job}.es.mp4")
        );
        assert_eq!(
            out.transcript(),
            format!("videos/{user}/{video}/transcripts/{job}.srt")
        );
    }

    #[test]
    fn every_output_of_every_version_is_under_a_job_output_prefix() {
        let (user, video, job) = ids();
        let out = VideoKeys::new(user, video).job(job);
        let es: Language = "es".parse().unwrap();
        let prefixes = out.prefixes();
        for version in [1, 2, 7] {
            let v = out.version(version);
            for key in [v.dubbed(es), v.subtitled(es), v.transcript()] {
                assert!(
                    prefixes.iter().any(|p| key.starts_with(p.as_str())),
                    "{key} escapes {prefixes:?}"
                );
            }
        }
        // Another job of the same video shares no prefix with this one.
        let other: JobId = "33333333-3333-3333-3333-333333333334".parse().unwrap();
        let theirs = VideoKeys::new(user, video).job(other).dubbed(es);
        assert!(!prefixes.iter().any(|p| theirs.starts_with(p.as_str())));
    }

    #[test]
    fn everything_of_a_video_and_a_job_is_under_their_prefixes() {
        let (user, video, job) = ids();
        let v = VideoKeys::new(user, video);
        for key in [
            v.original("mp4"),
            v.upload("mp4"),
            v.thumbnail("default", "jpg"),
        ] {
            assert!(key.starts_with(&v.prefix()), "{key}");
        }
        assert_eq!(
            v.upload("mp4"),
            format!("videos/{user}/{video}/upload/original.mp4")
        );
        let j = JobKeys(job);
        let (srt, vtt) = j.subtitles("dub");
        for key in [
            j.step_result(Step::Translate),
            j.source_audio(),
            j.text_json("source_cues"),
            j.clip("ab"),
            j.speaker("s1", "reference.wav"),
            srt,
            vtt,
        ] {
            assert!(key.starts_with(&j.prefix()), "{key}");
        }
        // A render's keys: version 1 the flat layout, later ones their own, all under the job.
        let (one, two) = (j.render(1), j.render(2));
        let p = j.prefix();
        assert_eq!(one.tts_manifest(), format!("{p}tts/manifest.json"));
        assert_eq!(one.timing_plan(), format!("{p}audio/plan.json"));
        assert_eq!(one.mix(), format!("{p}audio/mix.wav"));
        assert_eq!(
            one.step_result(Step::MergeAudio),
            j.step_result(Step::MergeAudio)
        );
        assert_eq!(one.dub_subtitles().0, j.subtitles("dub").0);
        for key in [
            two.tts_manifest(),
            two.timing_plan(),
            two.mix(),
            two.cues(),
            two.step_result(Step::MergeAudio),
            two.dub_subtitles().0,
            j.clip("ab"),
        ] {
            assert!(key.starts_with(&j.prefix()), "{key}");
        }
        assert_ne!(
            two.step_result(Step::MergeAudio),
            one.step_result(Step::MergeAudio)
        );
        assert_ne!(two.tts_manifest(), j.render(3).tts_manifest());
        assert_ne!(one.export("voices.wav"), two.export("voices.wav"));
        assert!(two.export("clips.zip").starts_with(&p));
    }
}
