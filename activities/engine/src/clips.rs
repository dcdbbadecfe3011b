//! The editors' clip archive: every spoken line as it is heard in the mix (sped up and cut as
//! planned, at the mix's rate and gain) as a WAV of its own, in a zip with `timing.csv`, which
//! says where each clip goes. Placed at their start times, the clips add up to the voice stem.

use super::mix::{Resamplers, prepare_clip};
use super::plan::Plan;
use super::{EngineError, wav};
use onevoice_shared::contracts::SynthesizedLine;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zip::write::SimpleFileOptions;

/// What the archive is made of: the lines, one clip file and one placement for each, and the
/// mix's rate and gain (linear).
pub struct ClipArchive<'a> {
    pub lines: &'a [SynthesizedLine],
    pub clips: &'a [PathBuf],
    pub plan: &'a Plan,
    pub rate: u32,
    pub gain: f32,
}

/// Writes the archive to `out`, using `scratch` for each clip's WAV; returns the clips written
/// (a line that nothing of fits is in the sheet without a file).
pub fn clip_archive(
    archive: &ClipArchive<'_>,
    out: &Path,
    scratch: &Path,
    cancel: &Arc<AtomicBool>,
) -> Result<u32, EngineError> {
    let ClipArchive {
        lines,
        clips,
        plan,
        rate,
        gain,
    } = *archive;
    let file = File::create(out).map_err(|e| EngineError::io(out, e))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    // WAV barely compresses; stored entries keep the archive quick to write and to open.
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let zipped = |e: zip::result::ZipError| EngineError::Io(format!("clip archive: {e}"));
    let ms = |samples: u64| samples * 1000 / u64::from(rate);
    let mut sheet = String::from("line,file,speaker,voice_id,start_ms,end_ms,speed,cut_ms,text\n");
    let mut resamplers = Resamplers::default();
    let mut written = 0;
    for (i, ((line, clip), p)) in lines.iter().zip(clips).zip(&plan.placements).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let name = if p.placed > 0 {
            let name = format!("line-{:05}.wav", i + 1);
            let samples = prepare_clip(clip, p, rate, &mut resamplers)?;
            let path = scratch.join(&name);
            let mut w = wav::Writer::create(&path, rate, 1, samples.len() as u64)?;
            let pcm: Vec<i16> = samples
                .iter()
                .map(|s| (s * gain * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
                .collect();
            w.write(&pcm)?;
            w.finish()?;
            zip.start_file(&name, options).map_err(zipped)?;
            let mut wav = File::open(&path).map_err(|e| EngineError::io(&path, e))?;
            std::io::copy(&mut wav, &mut zip).map_err(|e| EngineError::io(&path, e))?;
            let _ = std::fs::remove_file(&path);
            written += 1;
            name
        } else {
            String::new()
        };
        let row = [
            (i + 1).to_string(),
            name,
            cell(line.speaker.as_deref().unwrap_or("")),
            cell(line.voice_id.as_deref().unwrap_or("")),
            ms(p.start).to_string(),
            ms(p.start + p.placed).to_string(),
            format!("{:.3}", p.speed),
            ms(p.overrun()).to_string(),
            cell(&line.text),
        ];
        sheet.push_str(&row.join(","));
        sheet.push('\n');
    }
    zip.start_file("timing.csv", options).map_err(zipped)?;
    zip.write_all(sheet.as_bytes())
        .map_err(|e| EngineError::io(out, e))?;
    zip.finish()
        .map_err(zipped)?
        .flush()
        .map_err(|e| EngineError::io(out, e))?;
    Ok(written)
}

/// One CSV cell: quoted, with quotes doubled. Text a spreadsheet would run as a formula (a
/// leading `=`, `+`, `@`, tab or carriage return) is kept as text by a leading apostrophe; a
/// leading `-`, a dialogue dash in subtitles, is left alone.
fn cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("a \"b\", c"), "\"a \"\"b\"\", c\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("- Hola"), "\"- Hola\"");
    }
}
