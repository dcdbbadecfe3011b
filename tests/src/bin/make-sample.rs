//! Writes the sample video and its SRT transcript into a directory (used by scripts/dub-sample.sh).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: make-sample <dir>"))?;
    let dir = std::path::PathBuf::from(dir);
    let sample = onevoice_tests::sample::make(&dir).await?;
    let srt = dir.join("sample.srt");
    tokio::fs::write(&srt, &sample.transcript).await?;
    println!("{}\n{}", sample.video.display(), srt.display());
    Ok(())
}
