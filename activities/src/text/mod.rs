//! The text stages of a dub: the user's transcript, sentences, lines split by meaning, the
//! terminology, the translation and the display subtitles. The LLM stages use an
//! OpenAI-compatible endpoint when one is configured; without one, rules and Apertium do the work.

mod align;
mod apertium;
mod estimate;
mod llm;
mod meaning;
mod own;
pub(crate) mod script;
mod sentences;
mod subtitles;
mod terminology;
pub mod timed;
mod translate;

use crate::deps::Deps;
use crate::{error, heartbeat, memo};
use llm::Llm;
use onevoice_shared::contracts::{
    LoadTranscriptInput, OwnTranslationInput, SentencesOutput, SplitMeaningInput,
    SplitSentencesInput, SubtitleFiles, SubtitlesInput, TerminologyInput, TerminologyOutput,
    TranscriptOutput, TranslateInput, TranslateOutput, activity,
};
use onevoice_shared::ids::JobId;
use onevoice_shared::keys::JobKeys;
use onevoice_shared::pipeline::Step;
use onevoice_shared::settings::Translator;
use onevoice_shared::srt::{self, Cue};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use terminology::Terminology;
use timed::{TimedLine, Word};
use tokio::sync::Semaphore;

pub struct TextActivities {
    deps: Deps,
    http: reqwest::Client,
    /// Requests in flight to the LLM from this worker.
    llm_limit: Arc<Semaphore>,
}

impl TextActivities {
    pub fn new(deps: Deps) -> Self {
        let http = reqwest::Client::builder()
            .timeout(deps.text.llm_timeout)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let llm_limit = Arc::new(Semaphore::new(deps.text.llm_concurrency.max(1)));
        Self {
            deps,
            http,
            llm_limit,
        }
    }

    /// The configured LLM, caching its answers under the job.
    fn llm(&self, job: JobId) -> Option<Llm> {
        self.deps.text.llm.clone().map(|provider| {
            Llm::new(
                self.http.clone(),
                provider,
                self.llm_limit.clone(),
                self.deps.storage.clone(),
                JobKeys(job).llm_prefix(),
            )
        })
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, ActivityError> {
        self.deps
            .storage
            .get_json(key)
            .await
            .map_err(error::storage)
    }

    async fn write<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), ActivityError> {
        self.deps
            .storage
            .put_json(key, value)
            .await
            .map_err(error::storage)
    }

    /// Writes a subtitle track of the job as `{name}.srt` and `.vtt`; returns both keys.
    async fn put_track(
        &self,
        job: JobId,
        name: &str,
        cues: &[Cue],
    ) -> Result<(String, String), ActivityError> {
        let (srt_key, vtt_key) = JobKeys(job).subtitles(name);
        self.put_text(&srt_key, srt::write(cues), "application/x-subrip")
            .await?;
        self.put_text(&vtt_key, srt::write_vtt(cues), "text/vtt")
            .await?;
        Ok((srt_key, vtt_key))
    }

    async fn put_text(
        &self,
        key: &str,
        text: String,
        content_type: &str,
    ) -> Result<(), ActivityError> {
        self.deps
            .storage
            .put_bytes(key, text.into_bytes(), content_type)
            .await
            .map_err(error::storage)
    }
}

#[activities]
impl TextActivities {
    /// Parses the user's SRT or WebVTT transcript strictly; a malformed file fails the job with
    /// the line number of the problem.
    #[activity(name = activity::LOAD_TRANSCRIPT)]
    pub async fn load_transcript(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: LoadTranscriptInput,
    ) -> Result<TranscriptOutput, ActivityError> {
        let storage = &self.deps.storage;
        let key = JobKeys(input.job_id).step_result(Step::SpeechRecognition);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let cues = self
                    .read_subtitles(&input.transcript_key, "transcript")
                    .await?;
                let cues_key = JobKeys(input.job_id).text_json("source_cues");
                self.write(&cues_key, &cues).await?;
                Ok(TranscriptOutput {
                    cues_key,
                    lines: cues.len() as u32,
                    language: None,
                    words_key: None,
                })
            }),
        )
        .await
    }

    /// The transcript as sentences and clauses, each timed by its words.
    #[activity(name = activity::SPLIT_SENTENCES)]
    pub async fn split_sentences(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SplitSentencesInput,
    ) -> Result<SentencesOutput, ActivityError> {
        let storage = &self.deps.storage;
        let key = JobKeys(input.job_id).step_result(Step::NlpSplit);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let cues: Vec<Cue> = self.read(&input.cues_key).await?;
                let words: Vec<Word> = match &input.words_key {
                    Some(k) => self.read(k).await?,
                    None => Vec::new(),
                };
                // Sentences are found within each speaker's turn: a line has one speaker.
                let lines: Vec<TimedLine> = timed::turns(&cues, &words, input.language)
                    .iter()
                    .flat_map(|turn| sentences::segment(turn, input.language))
                    .collect();
                self.store_sentences(input.job_id, "sentences", &lines)
                    .await
            }),
        )
        .await
    }

    /// Lines still too long, split where their meaning breaks (the LLM), else by rule.
    #[activity(name = activity::SPLIT_MEANING)]
    pub async fn split_meaning(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SplitMeaningInput,
    ) -> Result<SentencesOutput, ActivityError> {
        let key = JobKeys(input.job_id).step_result(Step::MeaningSplit);
        heartbeat::beating(
            &ctx,
            memo::once(&self.deps.storage, &key, || async {
                let lines: Vec<TimedLine> = self.read(&input.sentences_key).await?;
                let llm = self.llm(input.job_id);
                let text = &self.deps.text;
                let lines = meaning::split(
                    llm.as_ref(),
                    lines,
                    input.language,
                    text.max_words,
                    text.llm_concurrency,
                )
                .await?;
                self.store_sentences(input.job_id, "lines", &lines).await
            }),
        )
        .await
    }

    /// The theme and glossary: the user's terms, and what the LLM finds.
    #[activity(name = activity::TERMINOLOGY)]
    pub async fn terminology(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TerminologyInput,
    ) -> Result<TerminologyOutput, ActivityError> {
        let storage = &self.deps.storage;
        let key = JobKeys(input.job_id).step_result(Step::Summarize);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let lines: Vec<Cue> = self.read(&input.sentences_key).await?;
                let joined = lines
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join(script::joiner(input.source_language));
                let text: String = joined.chars().take(self.deps.text.summary_chars).collect();
                let llm = self.llm(input.job_id);
                let terminology = terminology::build(
                    llm.as_ref(),
                    &text,
                    input.source_language,
                    input.target_language,
                    &input.glossary,
                )
                .await?;
                let terminology_key = JobKeys(input.job_id).text_json("terminology");
                self.write(&terminology_key, &terminology).await?;
                Ok(TerminologyOutput {
                    terminology_key,
                    terms: terminology.terms.len() as u32,
                })
            }),
        )
        .await
    }

    /// Translates every line, keeping its timing: the LLM when configured (two passes, then
    /// lines too long to speak in their slot shortened), else Apertium.
    #[activity(name = activity::TRANSLATE)]
    pub async fn translate(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TranslateInput,
    ) -> Result<TranslateOutput, ActivityError> {
        let deps = &self.deps;
        let key = JobKeys(input.job_id).step_result(Step::Translate);
        heartbeat::beating(
            &ctx,
            memo::once(&deps.storage, &key, || async {
                let cues: Vec<Cue> = self.read(&input.cues_key).await?;
                let terminology: Terminology = match &input.terminology_key {
                    Some(k) => self.read(k).await?,
                    None => Terminology {
                        theme: String::new(),
                        terms: input
                            .glossary
                            .iter()
                            .map(|t| terminology::Term {
                                source: t.source.clone(),
                                target: t.target.clone(),
                                note: String::new(),
                            })
                            .collect(),
                    },
                };
                let (from, to) = (input.source_language, input.target_language);
                let llm = match deps.text.translator {
                    Translator::Apertium => None,
                    Translator::Auto | Translator::Llm => self.llm(input.job_id),
                };
                // Lines the LLM shortened to fit their slot (served with the job's segments).
                let mut shortened: Vec<usize> = Vec::new();
                let translated: Vec<Cue> = if from == to {
                    cues
                } else if let Some(llm) = &llm {
                    let translation = translate::Translation {
                        llm,
                        from,
                        to,
                        terminology: &terminology,
                        reflect: deps.text.reflect,
                        concurrency: deps.text.llm_concurrency,
                    };
                    let sources: Vec<String> = cues.iter().map(|c| c.text.clone()).collect();
                    let mut texts = translation.run(&sources).await?;
                    let slots =
                        translate::slots(&cues, deps.audio.gap_tolerance.as_millis() as u64);
                    shortened = translation
                        .shorten(&sources, &mut texts, &slots, deps.audio.max_speed)
                        .await?;
                    tracing::info!(
                        lines = cues.len(),
                        shortened = shortened.len(),
                        "translated by the LLM"
                    );
                    cues.into_iter()
                        .zip(texts)
                        .map(|(cue, text)| Cue { text, ..cue })
                        .collect()
                } else {
                    apertium::translate(
                        &ctx,
                        &deps.tools.apertium,
                        from,
                        to,
                        cues,
                        &terminology.glossary(),
                    )
                    .await?
                };
                self.store_translation(input.job_id, &translated, &shortened)
                    .await
            }),
        )
        .await
    }

    /// The user's own translation as the job's lines, spoken as given: stored where the
    /// translation goes (nothing shortened), with the source text of each line when the job has
    /// a transcript (the lines the segments show).
    #[activity(name = activity::OWN_TRANSLATION)]
    pub async fn own_translation(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: OwnTranslationInput,
    ) -> Result<TranslateOutput, ActivityError> {
        let storage = &self.deps.storage;
        let keys = JobKeys(input.job_id);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &keys.step_result(Step::Translate), || async {
                let translated = self
                    .read_subtitles(&input.translation_key, "translation")
                    .await?;
                let translated = match &input.source_cues_key {
                    Some(k) => {
                        let sources: Vec<Cue> = self.read(k).await?;
                        let joiner = script::joiner(input.source_language);
                        let (lines, spoken) = own::match_sources(&translated, &sources, joiner);
                        self.write(&keys.text_json("lines"), &lines).await?;
                        spoken
                    }
                    None => translated,
                };
                self.store_translation(input.job_id, &translated, &[]).await
            }),
        )
        .await
    }

    /// Display subtitles for the source, the translation and both, as SRT and WebVTT.
    #[activity(name = activity::SUBTITLES)]
    pub async fn subtitles(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SubtitlesInput,
    ) -> Result<SubtitleFiles, ActivityError> {
        let storage = &self.deps.storage;
        let key = JobKeys(input.job_id).step_result(Step::GenerateSubtitles);
        heartbeat::beating(
            &ctx,
            memo::once(storage, &key, || async {
                let sentences: Vec<TimedLine> = self.read(&input.sentences_key).await?;
                let translation: Vec<Cue> = self.read(&input.translation_key).await?;
                if sentences.len() != translation.len() {
                    return Err(error::invalid_input(format!(
                        "{} source lines but {} translated ones",
                        sentences.len(),
                        translation.len()
                    )));
                }
                let texts: Vec<String> = translation.into_iter().map(|c| c.text).collect();
                let limits = subtitles::Limits {
                    max_length: self.deps.text.subtitle_max_length as f64,
                    target_multiplier: self.deps.text.subtitle_target_multiplier,
                };
                let (from, to) = (input.source_language, input.target_language);
                let mut groups = subtitles::split_all(&sentences, &texts, to, limits);
                if let Some(llm) = self.llm(input.job_id) {
                    let concurrency = self.deps.text.llm_concurrency;
                    let realigned =
                        align::align(&llm, &mut groups, &texts, from, to, concurrency).await?;
                    tracing::debug!(realigned, "subtitle translations aligned by the LLM");
                }
                let pairs = subtitles::smooth(groups);
                let [source, translation, both] = subtitles::tracks(&pairs, input.target_language);
                let job = input.job_id;
                let (source_srt, source_vtt) = self.put_track(job, "source", &source).await?;
                let (translation_srt, translation_vtt) =
                    self.put_track(job, "translation", &translation).await?;
                let (bilingual_srt, bilingual_vtt) =
                    self.put_track(job, "bilingual", &both).await?;
                Ok(SubtitleFiles {
                    source_srt,
                    source_vtt,
                    translation_srt,
                    translation_vtt,
                    bilingual_srt,
                    bilingual_vtt,
                })
            }),
        )
        .await
    }
}

impl TextActivities {
    /// The user's SRT or WebVTT file (`what` names it in the error), parsed strictly.
    async fn read_subtitles(&self, key: &str, what: &str) -> Result<Vec<Cue>, ActivityError> {
        let bytes = self
            .deps
            .storage
            .get_bytes(key)
            .await
            .map_err(error::storage)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| error::invalid_input(format!("the {what} is not UTF-8 text")))?;
        srt::parse_transcript(&text).map_err(|e| {
            error::invalid_input(format!("the {what} is not valid SRT or WebVTT: {e}"))
        })
    }

    /// Stores the job's translated lines (JSON and SRT) and which of them were shortened.
    async fn store_translation(
        &self,
        job: JobId,
        translated: &[Cue],
        shortened: &[usize],
    ) -> Result<TranslateOutput, ActivityError> {
        let keys = JobKeys(job);
        let (cues_key, srt_key) = (keys.text_json("translation_cues"), keys.translation_srt());
        self.write(&cues_key, &translated).await?;
        self.write(&keys.shortened_lines(), &shortened).await?;
        self.put_text(&srt_key, srt::write(translated), "application/x-subrip")
            .await?;
        Ok(TranslateOutput {
            cues_key,
            srt_key,
            lines: translated.len() as u32,
        })
    }

    /// Stores timed lines as `text/{name}.json`.
    async fn store_sentences(
        &self,
        job: JobId,
        name: &str,
        lines: &[TimedLine],
    ) -> Result<SentencesOutput, ActivityError> {
        if lines.is_empty() {
            return Err(error::invalid_input("the transcript has no text to dub"));
        }
        let sentences_key = JobKeys(job).text_json(name);
        self.write(&sentences_key, &lines).await?;
        Ok(SentencesOutput {
            sentences_key,
            lines: lines.len() as u32,
        })
    }
}
