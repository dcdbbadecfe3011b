//! Writes the sample video and its SRT transcript into a directory (used by scripts/dub-sample.sh).
//!
//! `make-sample <dir>`: English lines spoken by espeak-ng. `make-sample <dir> en|es`: English
//! lines spoken by Piper's voice, or Spanish lines by a Kokoro voice, of the local speech service
//! (`LOCAL_TTS_BASE_URL`): natural speech for the offline profile to recognize.

use onevoice_tests::sample::{self, LINES, SPANISH_LINES, Speaker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: make-sample <dir> [es]"))?;
    let dir = std::path::PathBuf::from(dir);
    let language = args.next();
    let local = |voice, language| -> anyhow::Result<(String, &'static str, &'static str)> {
        let url = std::env::var("LOCAL_TTS_BASE_URL")
            .map_err(|_| anyhow::anyhow!("LOCAL_TTS_BASE_URL is not set"))?;
        Ok((url, voice, language))
    };
    let (lines, voice) = match language.as_deref() {
        None => (&LINES, None),
        Some("en") => (&LINES, Some(local("joe", "en")?)),
        Some("es") => (&SPANISH_LINES, Some(local("jm_kumo", "es")?)),
        Some(other) => anyhow::bail!("no sample lines in `{other}` (en or es)"),
    };
    let speaker = match &voice {
        None => Speaker::Espeak,
        Some((base_url, voice, language)) => Speaker::Local {
            base_url,
            voice,
            language,
        },
    };
    let sample = sample::make_spoken(&dir, lines, speaker).await?;
    let srt = dir.join("sample.srt");
    tokio::fs::write(&srt, &sample.transcript).await?;
    println!("{}\n{}", sample.video.display(), srt.display());
    Ok(())
}
