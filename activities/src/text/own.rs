//! A dub of the user's own translation: its cues are the job's lines as given (timing, text,
//! speakers). With a source transcript, each line is told the source text it translates, so
//! the segments show both and a speaker named only in the source still gets their voice.

use onevoice_shared::srt::Cue;

/// The source of each translated line: for every translated cue, a cue with its timing and the
/// text of the source cues it overlaps most (each source cue goes to one line only, so nothing
/// is shown twice), joined with `joiner`. A translated cue without a speaker takes the speaker
/// of the source it overlaps longest. Returns the sources and the translation with speakers.
pub fn match_sources(translated: &[Cue], sources: &[Cue], joiner: &str) -> (Vec<Cue>, Vec<Cue>) {
    let overlap = |a: &Cue, b: &Cue| {
        a.end_ms
            .min(b.end_ms)
            .saturating_sub(a.start_ms.max(b.start_ms))
    };
    // For each translated line, its source cues and how long each overlaps it.
    let mut owned: Vec<Vec<(&Cue, u64)>> = vec![Vec::new(); translated.len()];
    for source in sources {
        let best = translated
            .iter()
            .enumerate()
            .map(|(k, t)| (k, overlap(t, source)))
            .filter(|(_, o)| *o > 0)
            // The first of equal overlaps: a source cue on a boundary belongs to the earlier line.
            .max_by(|(ka, a), (kb, b)| a.cmp(b).then(kb.cmp(ka)));
        if let Some((k, o)) = best {
            owned[k].push((source, o));
        }
    }
    let mut with_speakers = Vec::with_capacity(translated.len());
    let mut matched = Vec::with_capacity(translated.len());
    for (cue, parts) in translated.iter().zip(&owned) {
        let text = parts
            .iter()
            .map(|(s, _)| s.text.as_str())
            .collect::<Vec<_>>()
            .join(joiner);
        let speaker = cue.speaker.clone().or_else(|| {
            parts
                .iter()
                .filter(|(s, _)| s.speaker.is_some())
                .max_by_key(|(_, o)| *o)
                .and_then(|(s, _)| s.speaker.clone())
        });
        matched.push(Cue {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
            text,
            speaker: speaker.clone(),
        });
        with_speakers.push(Cue {
            speaker,
            ..cue.clone()
        });
    }
    (matched, with_speakers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start_ms: u64, end_ms: u64, text: &str, speaker: Option<&str>) -> Cue {
        Cue {
            start_ms,
            end_ms,
            text: text.into(),
            speaker: speaker.map(Into::into),
        }
    }

    #[test]
    fn every_source_line_goes_to_the_translated_line_it_overlaps_most() {
        // Two source cues translated as one line, then one source cue split across two.
        let sources = [
            cue(0, 1_000, "Hello", Some("Kim")),
            cue(1_000, 2_000, "and welcome.", Some("Kim")),
            cue(3_000, 6_000, "This is the long one.", Some("Lee")),
        ];
        let translated = [
            cue(0, 2_000, "Hola y bienvenidos.", None),
            cue(3_000, 4_800, "Esta es", None),
            cue(4_800, 6_000, "la larga.", Some("Ana")),
            cue(7_000, 8_000, "Nadie dijo esto.", None),
        ];
        let (matched, spoken) = match_sources(&translated, &sources, " ");
        let texts: Vec<&str> = matched.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Hello and welcome.", "This is the long one.", "", ""]
        );
        let speakers: Vec<Option<&str>> = spoken.iter().map(|c| c.speaker.as_deref()).collect();
        // The user's own label wins; a line with no source keeps none.
        assert_eq!(speakers, [Some("Kim"), Some("Lee"), Some("Ana"), None]);
        assert_eq!(matched[1].start_ms, 3_000, "timed as the translation");
        assert_eq!(spoken[0].text, "Hola y bienvenidos.");
    }

    #[test]
    fn without_sources_the_translation_is_kept_as_given() {
        let translated = [cue(0, 900, "Hola.", None)];
        let (matched, spoken) = match_sources(&translated, &[], " ");
        assert_eq!(matched[0].text, "");
        assert_eq!(spoken, translated);
    }
}
