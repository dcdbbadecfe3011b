//! The files of a dub's versions: version 1's are the job's registered media files, a
//! re-render's are named in its stored result. The download route serves the job's current
//! version unless it asks for another.

use crate::services::{Result, ServiceError};
use crate::state::AppState;
use onevoice_shared::contracts::RerenderOutput;
use onevoice_shared::ids::JobId;
use onevoice_shared::keys::JobKeys;
use onevoice_shared::repo::job_versions;
use onevoice_shared::repo::media::MediaFileRow;
use onevoice_shared::status::FileType;

/// The files every version has its own of.
pub fn versioned(file_type: FileType) -> bool {
    matches!(
        file_type,
        FileType::DubbedVideo | FileType::DubbedAudio | FileType::DubSubtitles
    )
}

/// The key and download name of one of a job's rendered files in `version` (default: the
/// job's current version). `first` is version 1's registered file (for dub subtitles, the SRT).
pub async fn rendered_file(
    state: &AppState,
    job: JobId,
    version: Option<u32>,
    file_type: FileType,
    vtt: bool,
    first: &MediaFileRow,
) -> Result<(String, String)> {
    let version = match version {
        Some(0) => return Err(ServiceError::invalid("version", "must be 1 or more")),
        Some(v) => v,
        None => job_versions::current(&state.db, job).await?,
    };
    let stem = first
        .filename
        .rsplit_once('.')
        .map_or(first.filename.as_str(), |(stem, _)| stem);
    let vtt = vtt && file_type == FileType::DubSubtitles;
    let ext = if vtt {
        "vtt"
    } else {
        first.file_format.as_str()
    };
    let (_, vtt_key) = JobKeys(job).render(version).dub_subtitles();
    let key = if version == 1 {
        if vtt { vtt_key } else { first.s3_key.clone() }
    } else {
        let output = completed(state, job, version).await?;
        match file_type {
            FileType::DubbedVideo => output.output_key,
            FileType::DubbedAudio => output.dubbed_audio_key.ok_or_else(|| {
                ServiceError::NotFound(format!("version {version} has no audio file"))
            })?,
            _ if vtt => vtt_key,
            _ => output.dub_srt_key,
        }
    };
    // Renders from before the WebVTT was written have only the SRT.
    if vtt && state.storage.size_of(&key).await?.is_none() {
        return Err(ServiceError::NotFound(
            "this version's dub subtitles exist only as SRT".into(),
        ));
    }
    let filename = match version {
        1 => format!("{stem}.{ext}"),
        n => format!("{stem}.v{n}.{ext}"),
    };
    Ok((key, filename))
}

/// What a completed re-render produced; 404 for a version that does not exist or did not
/// complete.
pub async fn completed(state: &AppState, job: JobId, version: u32) -> Result<RerenderOutput> {
    let row = job_versions::get(&state.db, job, version)
        .await?
        .filter(|v| v.status == "completed")
        .ok_or_else(|| {
            ServiceError::NotFound(format!("the dub has no completed version {version}"))
        })?;
    row.result
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| ServiceError::NotFound(format!("version {version} has no files")))
}
