//! Subtitles: SubRip (SRT) and WebVTT, strict parsers with line-numbered errors, and writers.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One subtitle cue; times in milliseconds from the start of the media.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// Who says it, as the transcript or the recognizer names them (`Kim`, `speaker_0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SrtError {
    #[error("line {line}: expected a cue number, found `{found}`")]
    BadIndex { line: usize, found: String },
    #[error("line {line}: expected `HH:MM:SS,mmm --> HH:MM:SS,mmm`, found `{found}`")]
    BadTiming { line: usize, found: String },
    #[error("line {line}: cue ends before it starts")]
    NegativeDuration { line: usize },
    #[error("line {line}: cue has no text")]
    EmptyText { line: usize },
    #[error("the file contains no cues")]
    Empty,
}

/// Parses an SRT document. Accepts a BOM, CRLF line ends and `.` as the millisecond separator
/// (common in the wild); rejects anything else with the line number of the problem.
pub fn parse(input: &str) -> Result<Vec<Cue>, SrtError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines: Vec<&str> = input.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut cues = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let index_line = lines[i].trim();
        if index_line.parse::<u64>().is_err() {
            return Err(SrtError::BadIndex {
                line: i + 1,
                found: index_line.to_string(),
            });
        }
        i += 1;
        let timing = lines.get(i).copied().unwrap_or_default();
        let (start_ms, end_ms) = parse_timing(timing).ok_or_else(|| SrtError::BadTiming {
            line: i + 1,
            found: timing.to_string(),
        })?;
        if end_ms < start_ms {
            return Err(SrtError::NegativeDuration { line: i + 1 });
        }
        let timing_line = i + 1;
        i += 1;
        let mut text = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            text.push(lines[i].trim());
            i += 1;
        }
        if text.is_empty() {
            return Err(SrtError::EmptyText { line: timing_line });
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            text: text.join("\n"),
            speaker: None,
        });
    }
    if cues.is_empty() {
        return Err(SrtError::Empty);
    }
    Ok(cues)
}

/// Parses a user's transcript (SRT or WebVTT, as [`parse_any`]) with its speakers: WebVTT voice
/// spans, or SRT `Name:` / `[Name]` prefixes when every cue has one. Only transcripts are read
/// so: a subtitle file's text (`Note: …` on every line) is never taken for names.
pub fn parse_transcript(input: &str) -> Result<Vec<Cue>, SrtError> {
    let cues = parse_any(input)?;
    if cues.iter().any(|c| c.speaker.is_some()) {
        return Ok(cues);
    }
    Ok(with_prefixed_speakers(cues))
}

/// Longest speaker name kept (longer `<v …>` names are cut, longer prefixes are not names).
pub const MAX_SPEAKER_CHARS: usize = 40;

/// SRT has no speaker syntax; transcripts write `Name: text` or `[Name] text`. Only when every
/// cue starts so are these names (a colon in one line of ordinary text is not a speaker).
fn with_prefixed_speakers(cues: Vec<Cue>) -> Vec<Cue> {
    let split: Vec<Option<(String, String)>> =
        cues.iter().map(|c| speaker_prefix(&c.text)).collect();
    if split.iter().any(Option::is_none) {
        return cues;
    }
    cues.into_iter()
        .zip(split.into_iter().flatten())
        .map(|(cue, (speaker, text))| Cue {
            text,
            speaker: Some(speaker),
            ..cue
        })
        .collect()
}

/// `Name: text` or `[Name] text` → (name, text). A name is 1 to 4 words of at most
/// `MAX_SPEAKER_CHARS`, not a number (`10: 30` is not a speaker), followed by some text.
fn speaker_prefix(text: &str) -> Option<(String, String)> {
    let (name, rest) = if let Some(bracketed) = text.strip_prefix('[') {
        let (name, rest) = bracketed.split_once(']')?;
        (name, rest)
    } else {
        let (name, rest) = text.split_once(':')?;
        // `Name:` then a space or a new line, never `12:30`.
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        (name, rest)
    };
    let name = name.trim();
    let rest = rest.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_SPEAKER_CHARS
        && name.split_whitespace().count() <= 4
        && name.chars().any(char::is_alphabetic)
        && !name.contains(['\n', '<', '>', '[', ']', ':']);
    (valid && !rest.is_empty()).then(|| (name.to_string(), rest.to_string()))
}

fn parse_timing(line: &str) -> Option<(u64, u64)> {
    let (a, b) = line.split_once("-->")?;
    // Anything after the end time (position hints such as `X1:…`) is ignored, as players do.
    let b = b.split_whitespace().next()?;
    Some((parse_timestamp(a.trim())?, parse_timestamp(b)?))
}

fn parse_timestamp(s: &str) -> Option<u64> {
    let (hms, ms) = s.split_once([',', '.'])?;
    let mut parts = hms.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || ms.len() != 3 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (h, m, sec, ms): (u64, u64, u64, u64) = (
        h.parse().ok()?,
        m.parse().ok()?,
        sec.parse().ok()?,
        ms.parse().ok()?,
    );
    if m >= 60 || sec >= 60 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

fn format_timestamp(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Writes cues as SRT, numbered from 1.
pub fn write(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (n, cue) in cues.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            n + 1,
            format_timestamp(cue.start_ms),
            format_timestamp(cue.end_ms),
            cue.text
        );
    }
    out
}

/// Writes cues as SRT with each speaker's name before the text (`Kim: Hello`), which
/// [`parse_transcript`] reads back: how a transcript keeps who says what.
pub fn write_with_speakers(cues: &[Cue]) -> String {
    if cues.iter().any(|c| c.speaker.is_none()) {
        return write(cues);
    }
    let labelled: Vec<Cue> = cues
        .iter()
        .map(|c| Cue {
            text: format!("{}: {}", c.speaker.as_deref().unwrap_or_default(), c.text),
            ..c.clone()
        })
        .collect();
    write(&labelled)
}

/// Parses a transcript in either format: WebVTT when it starts with the `WEBVTT` signature,
/// SRT otherwise.
pub fn parse_any(input: &str) -> Result<Vec<Cue>, SrtError> {
    let body = input.strip_prefix('\u{feff}').unwrap_or(input);
    if body.starts_with("WEBVTT") {
        parse_vtt(body)
    } else {
        parse(body)
    }
}

fn parse_vtt_timestamp(s: &str) -> Option<u64> {
    // `HH:MM:SS.mmm` or `MM:SS.mmm`; WebVTT requires the dot.
    let (hms, ms) = s.split_once('.')?;
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (h.parse::<u64>().ok()?, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return None,
    };
    if ms.len() != 3 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (m, sec, ms): (u64, u64, u64) = (m.parse().ok()?, sec.parse().ok()?, ms.parse().ok()?);
    if m >= 60 || sec >= 60 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

/// Parses WebVTT: the `WEBVTT` header, then cues (an optional identifier line, a timing line with
/// optional cue settings, text). `NOTE`, `STYLE` and `REGION` blocks are skipped; cue tags such as
/// `<v Speaker>` or `<i>` are removed from the text.
pub fn parse_vtt(input: &str) -> Result<Vec<Cue>, SrtError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines: Vec<&str> = input.lines().map(|l| l.trim_end_matches('\r')).collect();
    match lines.first() {
        Some(first)
            if *first == "WEBVTT"
                || first.starts_with("WEBVTT ")
                || first.starts_with("WEBVTT\t") => {}
        _ => {
            return Err(SrtError::BadIndex {
                line: 1,
                found: lines.first().unwrap_or(&"").to_string(),
            });
        }
    }
    let mut cues = Vec::new();
    let mut i = 1;
    // The header block ends at the first blank line.
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let first = lines[i].trim();
        if first.starts_with("NOTE") || first == "STYLE" || first == "REGION" {
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        // An identifier line, unless this line already is the timing.
        if !first.contains("-->") {
            i += 1;
        }
        let timing = lines.get(i).copied().unwrap_or_default();
        let parsed = timing.split_once("-->").and_then(|(a, b)| {
            let end = b.split_whitespace().next()?;
            Some((parse_vtt_timestamp(a.trim())?, parse_vtt_timestamp(end)?))
        });
        let (start_ms, end_ms) = parsed.ok_or_else(|| SrtError::BadTiming {
            line: i + 1,
            found: timing.to_string(),
        })?;
        if end_ms < start_ms {
            return Err(SrtError::NegativeDuration { line: i + 1 });
        }
        let timing_line = i + 1;
        i += 1;
        let mut text = Vec::new();
        let mut speaker = None;
        while i < lines.len() && !lines[i].trim().is_empty() {
            let line = lines[i].trim();
            speaker = speaker.or_else(|| voice_span(line));
            text.push(strip_tags(line));
            i += 1;
        }
        let text: Vec<String> = text.into_iter().filter(|t| !t.is_empty()).collect();
        if text.is_empty() {
            return Err(SrtError::EmptyText { line: timing_line });
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            text: text.join("\n"),
            speaker,
        });
    }
    if cues.is_empty() {
        return Err(SrtError::Empty);
    }
    Ok(cues)
}

/// The name of the first voice span of a cue line: `<v Kim>`, `<v.loud Kim Lee>` → `Kim Lee`
/// (characters that would break an SRT prefix removed, at most `MAX_SPEAKER_CHARS`).
fn voice_span(line: &str) -> Option<String> {
    let at = line.find("<v")?;
    let tag = &line[at + 2..];
    let tag = &tag[..tag.find('>')?];
    // Classes (`.loud`) come before the whitespace that starts the name.
    if !tag.starts_with(['.', ' ', '\t']) {
        return None;
    }
    let name = tag.split_once([' ', '\t'])?.1;
    let name: String = name
        .chars()
        .filter(|c| !matches!(c, ':' | '[' | ']' | '<' | '>') && !c.is_control())
        .take(MAX_SPEAKER_CHARS)
        .collect();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .trim()
        .to_string()
}

/// Writes cues as WebVTT.
pub fn write_vtt(cues: &[Cue]) -> String {
    let ts = |ms: u64| {
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    };
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            ts(cue.start_ms),
            ts(cue.end_ms),
            cue.text
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let src = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\nworld\r\n\r\n2\n00:01:00.250 --> 01:00:00,000\nBye\n";
        let cues = parse(src).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(
            cues[0],
            Cue {
                start_ms: 1000,
                end_ms: 2500,
                text: "Hello\nworld".into(),
                speaker: None,
            }
        );
        assert_eq!(cues[1].start_ms, 60_250);
        assert_eq!(cues[1].end_ms, 3_600_000);
        assert_eq!(parse(&write(&cues)).unwrap(), cues);
    }

    #[test]
    fn rejects_malformed_input_with_line_numbers() {
        assert_eq!(parse(""), Err(SrtError::Empty));
        assert!(matches!(
            parse("x\n00:00:01,000 --> 00:00:02,000\nHi\n"),
            Err(SrtError::BadIndex { line: 1, .. })
        ));
        assert!(matches!(
            parse("1\n00:00:01 --> 00:00:02,000\nHi\n"),
            Err(SrtError::BadTiming { line: 2, .. })
        ));
        assert!(matches!(
            parse("1\n00:00:03,000 --> 00:00:02,000\nHi\n"),
            Err(SrtError::NegativeDuration { line: 2 })
        ));
        assert!(matches!(
            parse("1\n00:00:01,000 --> 00:00:02,000\n\n"),
            Err(SrtError::EmptyText { line: 2 })
        ));
        assert!(matches!(
            parse("1\n00:61:01,000 --> 00:62:02,000\nHi\n"),
            Err(SrtError::BadTiming { .. })
        ));
    }

    #[test]
    fn parses_webvtt_with_notes_settings_and_tags() {
        let vtt = "WEBVTT - a title\n\nNOTE written by hand\nsecond line\n\nintro\n00:01.000 --> 00:02.500 align:start\n<v Kim>Hello</v> <i>there</i>\n\n00:00:03.000 --> 00:00:04.000\nBye &amp; thanks\n";
        let cues = parse_any(vtt).unwrap();
        assert_eq!(
            cues,
            vec![
                Cue {
                    start_ms: 1000,
                    end_ms: 2500,
                    text: "Hello there".into(),
                    speaker: Some("Kim".into()),
                },
                Cue {
                    start_ms: 3000,
                    end_ms: 4000,
                    text: "Bye & thanks".into(),
                    speaker: None,
                },
            ]
        );
        let unnamed: Vec<Cue> = cues
            .iter()
            .map(|c| Cue {
                speaker: None,
                ..c.clone()
            })
            .collect();
        assert_eq!(parse_vtt(&write_vtt(&cues)).unwrap(), unnamed);
        assert!(matches!(
            parse_vtt("WEBVTT\n\n00:01,000 --> 00:02.000\nHi\n"),
            Err(SrtError::BadTiming { line: 3, .. })
        ));
        assert!(matches!(
            parse_vtt("not vtt"),
            Err(SrtError::BadIndex { line: 1, .. })
        ));
        assert_eq!(parse_vtt("WEBVTT\n\n"), Err(SrtError::Empty));
        // SRT still goes to the SRT parser.
        assert_eq!(
            parse_any("1\n00:00:01,000 --> 00:00:02,000\nHi\n")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn reads_speakers_of_webvtt_voice_spans() {
        let vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v.loud Dr. Kim Lee>Hello</v>\n\n00:02.000 --> 00:03.000\n<v\tAna:[x]>Hola\n\n00:03.000 --> 00:04.000\n<vibe>no voice</vibe>\n";
        let speakers: Vec<Option<String>> = parse_vtt(vtt)
            .unwrap()
            .into_iter()
            .map(|c| c.speaker)
            .collect();
        assert_eq!(
            speakers,
            [Some("Dr. Kim Lee".into()), Some("Anax".into()), None]
        );
        let long = format!(
            "WEBVTT\n\n00:01.000 --> 00:02.000\n<v {}>Hi\n",
            "n".repeat(99)
        );
        let name = parse_vtt(&long).unwrap()[0].speaker.clone().unwrap();
        assert_eq!(name.chars().count(), MAX_SPEAKER_CHARS);
    }

    #[test]
    fn reads_srt_speaker_prefixes_only_when_every_cue_has_one() {
        let named = "1\n00:00:01,000 --> 00:00:02,000\nKim: Hello there\n\n2\n00:00:02,000 --> 00:00:03,000\n[Ana Lopez] Hi Kim\n";
        let cues = parse_transcript(named).unwrap();
        assert_eq!(
            cues.iter()
                .map(|c| (c.speaker.as_deref(), c.text.as_str()))
                .collect::<Vec<_>>(),
            [(Some("Kim"), "Hello there"), (Some("Ana Lopez"), "Hi Kim")]
        );
        // Written back with the names, read back the same.
        assert_eq!(parse_transcript(&write_with_speakers(&cues)).unwrap(), cues);
        // A subtitle file is not a transcript: its text stays whole.
        assert_eq!(parse(named).unwrap()[0].text, "Kim: Hello there");
        // One line without a name: the colons are text.
        let mixed = "1\n00:00:01,000 --> 00:00:02,000\nNote: this matters\n\n2\n00:00:02,000 --> 00:00:03,000\nplain text\n";
        assert!(
            parse_transcript(mixed)
                .unwrap()
                .iter()
                .all(|c| c.speaker.is_none())
        );
        // Clock times, long sentences, nothing after the name: not speakers.
        for text in [
            "10:30 is the time",
            "We met at the station last night: it rained",
            "Kim:",
            "Kim:no space",
        ] {
            let doc = format!("1\n00:00:01,000 --> 00:00:02,000\n{text}\n");
            assert_eq!(parse_transcript(&doc).unwrap()[0].speaker, None, "{text}");
        }
        // Without speakers, the writer writes plain SRT.
        let plain = parse(mixed).unwrap();
        assert_eq!(write_with_speakers(&plain), write(&plain));
    }
}
