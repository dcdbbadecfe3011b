//! The encoder delay ("priming") of the audio track of an MP4/MOV, from its edit list.
//!
//! AAC encoders prepend about a thousand samples that are not part of the audio; MP4 files say
//! how many in the track's edit list (`elst` media time) and players skip them. symphonia reads
//! the edit list but does not apply it, so the engine does, keeping the decoded track aligned
//! with the video (and with what ffmpeg decodes).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Samples to skip at the start of the first sound track, at its media time scale's rate
/// converted to `rate`; `None` when the file is not an MP4 or has no edit list.
pub fn audio_priming(path: &Path, rate: u32) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let moov = find_box(&mut file, 0, len, b"moov")?;
    let mut at = moov.0;
    while at < moov.1 {
        let (kind, start, end) = read_header(&mut file, at, moov.1)?;
        if &kind == b"trak"
            && let Some(priming) = track_priming(&mut file, start, end, rate)
        {
            return Some(priming);
        }
        at = end;
    }
    None
}

fn track_priming(file: &mut File, start: u64, end: u64, rate: u32) -> Option<u64> {
    let mdia = find_box(file, start, end, b"mdia")?;
    let hdlr = find_box(file, mdia.0, mdia.1, b"hdlr")?;
    let mut handler = [0u8; 12];
    read_at(file, hdlr.0, &mut handler)?;
    if &handler[8..12] != b"soun" {
        return None;
    }
    let mdhd = find_box(file, mdia.0, mdia.1, b"mdhd")?;
    let mut head = [0u8; 32];
    read_at(file, mdhd.0, &mut head)?;
    let timescale = if head[0] == 1 {
        u32::from_be_bytes(head[20..24].try_into().ok()?)
    } else {
        u32::from_be_bytes(head[12..16].try_into().ok()?)
    };
    let edts = find_box(file, start, end, b"edts")?;
    let elst = find_box(file, edts.0, edts.1, b"elst")?;
    let mut head = [0u8; 8];
    read_at(file, elst.0, &mut head)?;
    let version = head[0];
    let entries = u32::from_be_bytes(head[4..8].try_into().ok()?);
    let entry_len = if version == 1 { 20 } else { 12 };
    for i in 0..u64::from(entries.min(16)) {
        let mut e = [0u8; 20];
        read_at(
            file,
            elst.0 + 8 + i * entry_len,
            &mut e[..entry_len as usize],
        )?;
        let media_time = if version == 1 {
            i64::from_be_bytes(e[8..16].try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(e[4..8].try_into().ok()?))
        };
        // -1 marks an empty edit (a delay before the track starts); the next one counts.
        if media_time >= 0 {
            return Some(media_time as u64 * u64::from(rate) / u64::from(timescale.max(1)));
        }
    }
    None
}

/// The payload range of the first box of `kind` directly inside `[start, end)`.
fn find_box(file: &mut File, start: u64, end: u64, kind: &[u8; 4]) -> Option<(u64, u64)> {
    let mut at = start;
    while at + 8 <= end {
        let (k, payload, next) = read_header(file, at, end)?;
        if &k == kind {
            return Some((payload, next));
        }
        at = next;
    }
    None
}

fn read_header(file: &mut File, at: u64, end: u64) -> Option<([u8; 4], u64, u64)> {
    let mut h = [0u8; 16];
    read_at(file, at, &mut h[..8])?;
    let size = u64::from(u32::from_be_bytes(h[0..4].try_into().ok()?));
    let kind: [u8; 4] = h[4..8].try_into().ok()?;
    let (payload, size) = match size {
        0 => (at + 8, end - at),
        1 => {
            read_at(file, at + 8, &mut h[8..16])?;
            (at + 16, u64::from_be_bytes(h[8..16].try_into().ok()?))
        }
        s => (at + 8, s),
    };
    let next = at.checked_add(size)?;
    (size >= 8 && next <= end).then_some((kind, payload, next))
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> Option<()> {
    file.seek(SeekFrom::Start(at)).ok()?;
    file.read_exact(buf).ok()
}
