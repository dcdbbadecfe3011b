//! Subtitles: SubRip (SRT) and WebVTT, strict parsers with line-numbered errors, and writers.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One subtitle cue; times in milliseconds from the start of the media.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
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
        });
    }
    if cues.is_empty() {
        return Err(SrtError::Empty);
    }
    Ok(cues)
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
        while i < lines.len() && !lines[i].trim().is_empty() {
            text.push(strip_tags(lines[i].trim()));
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
        });
    }
    if cues.is_empty() {
        return Err(SrtError::Empty);
    }
    Ok(cues)
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
                text: "Hello\nworld".into()
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
                    text: "Hello there".into()
                },
                Cue {
                    start_ms: 3000,
                    end_ms: 4000,
                    text: "Bye & thanks".into()
                },
            ]
        );
        assert_eq!(parse_vtt(&write_vtt(&cues)).unwrap(), cues);
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
}
