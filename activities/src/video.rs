//! Activities of uploaded videos: probing, thumbnails, recording the result, deletion.

use crate::deps::Deps;
use crate::scratch::Scratch;
use crate::voice::clones;
use crate::{error, heartbeat, import, process};
use onevoice_shared::contracts::{
    CompletedUpload, DeleteVideoInput, IngestInput, IngestOutcome, MediaInfo, RecordIngestInput,
    ThumbnailInput, activity,
};
use onevoice_shared::keys;
use onevoice_shared::keys::{JobKeys, VideoKeys};
use onevoice_shared::outbound::AddressRule;
use onevoice_shared::repo::{cloned_voices, jobs, media, videos, webhooks};
use onevoice_shared::status::VideoStatus;
use onevoice_shared::storage::StorageError;
use onevoice_shared::webhook::EventType;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::process::Command;

pub struct VideoActivities {
    deps: Deps,
}

impl VideoActivities {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

impl VideoActivities {
    /// Copies the completed upload to the original's key, which no presigned URL can write, and
    /// removes the upload: whatever is PUT to the upload URL afterwards changes nothing that was
    /// priced or dubbed. The copy is of the object `complete` checked (its entity tag, and its
    /// size for stores that ignore the condition); a retried attempt finds the original there.
    async fn freeze(&self, upload: &CompletedUpload, original: &str) -> Result<(), ActivityError> {
        let storage = &self.deps.storage;
        let changed = || {
            error::invalid_input("the file changed after its upload was completed; upload it again")
        };
        if storage
            .stat(original)
            .await
            .map_err(error::storage)?
            .is_none()
        {
            let copied = match &upload.etag {
                Some(etag) => storage.copy_if_match(&upload.key, original, etag).await,
                None => storage.copy(&upload.key, original).await,
            };
            match copied {
                Ok(()) => {}
                Err(StorageError::Changed(_)) => return Err(changed()),
                Err(StorageError::NotFound(_)) => return Err(changed()),
                Err(e) => return Err(error::storage(e)),
            }
        }
        let frozen = storage
            .stat(original)
            .await
            .map_err(error::storage)?
            .ok_or_else(changed)?;
        if frozen.size != upload.size {
            storage.delete(original).await.map_err(error::storage)?;
            return Err(changed());
        }
        storage.delete(&upload.key).await.map_err(error::storage)?;
        Ok(())
    }
}

#[activities]
impl VideoActivities {
    /// Freezes the completed upload as the video's original, then downloads the original and
    /// reads its streams with ffprobe. A file ffprobe cannot read is not media: that is
    /// permanent.
    #[activity(name = activity::PROBE_VIDEO)]
    pub async fn probe_video(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: IngestInput,
    ) -> Result<MediaInfo, ActivityError> {
        let d = &self.deps;
        if let Some(upload) = &input.upload {
            self.freeze(upload, &input.key).await?;
        }
        let scratch = Scratch::new(&d.tools.work_dir, "probe")?;
        let file = scratch.path("upload");
        // A large upload takes a while to fetch: the attempt heartbeats meanwhile.
        let size_bytes = heartbeat::beating(&ctx, async {
            d.storage
                .download_to(&input.key, &file)
                .await
                .map_err(error::storage)
        })
        .await?;
        let mut cmd = Command::new(&d.tools.ffprobe);
        cmd.args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(&file);
        let out = process::run(&ctx, cmd, None, |_| {
            error::invalid_input("the file is not playable media")
        })
        .await?;
        let mut info = parse_media_info(&out.stdout)?;
        info.size_bytes = size_bytes;
        Ok(info)
    }

    /// Fetches an imported video from its URL to the video's upload key (see `crate::import`);
    /// returns the upload as `complete` would have checked it. A retried attempt that finds the
    /// upload stored uses it.
    #[activity(name = activity::IMPORT_URL)]
    pub async fn import_url(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: IngestInput,
    ) -> Result<CompletedUpload, ActivityError> {
        let d = &self.deps;
        let source = input
            .import
            .as_ref()
            .ok_or_else(|| error::fatal("import_url without an import source"))?;
        let upload = keys::upload_of(&input.key);
        if let Some(stat) = d.storage.stat(&upload).await.map_err(error::storage)? {
            return Ok(CompletedUpload {
                key: upload,
                size: stat.size,
                etag: stat.etag,
            });
        }
        let scratch = Scratch::new(&d.tools.work_dir, "import")?;
        let file = scratch.path("download");
        let fetch = import::Fetch {
            url: &source.url,
            rule: AddressRule {
                allow_private: d.outbound.allow_private,
            },
            max_bytes: d.max_upload_bytes,
            timeout: Duration::from_secs(source.timeout_secs.max(1)),
        };
        let size = import::download(&ctx, fetch, &file).await?;
        heartbeat::beating(&ctx, async {
            d.storage
                .put_file(&upload, &file, "application/octet-stream")
                .await
                .map_err(error::storage)
        })
        .await?;
        let stat = d
            .storage
            .stat(&upload)
            .await
            .map_err(error::storage)?
            .ok_or_else(|| error::transient("the imported file is not in storage yet"))?;
        tracing::info!(video = %input.video_id, size, "video imported");
        Ok(CompletedUpload {
            key: upload,
            size: stat.size,
            etag: stat.etag,
        })
    }

    /// Extracts one frame as a JPEG (at most 1280 px wide): at `at_ms`, or a representative frame
    /// (ffmpeg's `thumbnail` filter over the first seconds, skipping black intros).
    #[activity(name = activity::EXTRACT_THUMBNAIL)]
    pub async fn extract_thumbnail(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ThumbnailInput,
    ) -> Result<String, ActivityError> {
        let d = &self.deps;
        let scratch = Scratch::new(&d.tools.work_dir, "thumbnail")?;
        let (file, jpg) = (scratch.path("upload"), scratch.path("thumb.jpg"));
        d.storage
            .download_to(&input.key, &file)
            .await
            .map_err(error::storage)?;
        let mut cmd = Command::new(&d.tools.ffmpeg);
        cmd.args(["-nostdin", "-v", "error", "-y"]);
        match input.at_ms {
            Some(ms) => {
                cmd.args(["-ss", &format!("{:.3}", ms as f64 / 1000.0), "-i"])
                    .arg(&file);
                cmd.args(["-frames:v", "1", "-vf", "scale='min(1280,iw)':-2"]);
            }
            None => {
                cmd.arg("-i").arg(&file);
                cmd.args([
                    "-frames:v",
                    "1",
                    "-vf",
                    "thumbnail=50,scale='min(1280,iw)':-2",
                ]);
            }
        }
        cmd.args(["-q:v", "3"]).arg(&jpg);
        process::run(&ctx, cmd, None, |_| {
            error::invalid_input("no frame could be taken from the video at that time")
        })
        .await?;
        if tokio::fs::metadata(&jpg)
            .await
            .map(|m| m.len())
            .unwrap_or(0)
            == 0
        {
            return Err(error::invalid_input(
                "no frame at that time (is it past the end of the video?)",
            ));
        }
        d.storage
            .put_file(&input.output_key, &jpg, "image/jpeg")
            .await
            .map_err(error::storage)?;
        Ok(input.output_key)
    }

    #[activity(name = activity::RECORD_INGEST)]
    pub async fn record_ingest(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordIngestInput,
    ) -> Result<(), ActivityError> {
        let d = &self.deps;
        match &input.outcome {
            IngestOutcome::Ready {
                info,
                thumbnail_key,
            } => {
                videos::record_media(&d.db, input.video_id, info)
                    .await
                    .map_err(error::db)?;
                if let Some(key) = thumbnail_key {
                    videos::set_thumbnail(&d.db, input.video_id, d.storage.bucket(), key)
                        .await
                        .map_err(error::db)?;
                }
                let video = videos::find_by_id(&d.db, input.video_id)
                    .await
                    .map_err(error::db)?;
                let mut tx = d.db.begin().await.map_err(error::db)?;
                videos::set_status_reason(&mut *tx, input.video_id, VideoStatus::Uploaded, None)
                    .await
                    .map_err(error::db)?;
                if let Some(video) = video {
                    let event = webhooks::NewEvent {
                        user: video.user_id,
                        event_type: EventType::VideoReady,
                        subject: webhooks::Subject::Video(video.id),
                        dedupe_key: &format!("video:{}:ready", video.id),
                        data: serde_json::json!({
                            "video_id": video.id,
                            "title": video.title,
                            "duration_secs": info.duration_ms as f64 / 1000.0,
                            "width": info.width,
                            "height": info.height,
                        }),
                    };
                    webhooks::emit(&mut tx, event).await.map_err(error::db)?;
                }
                tx.commit().await.map_err(error::db)?;
            }
            IngestOutcome::Rejected { reason } => {
                videos::set_status_reason(&d.db, input.video_id, VideoStatus::Failed, Some(reason))
                    .await
                    .map_err(error::db)?;
            }
        }
        Ok(())
    }

    /// Deletes every object of the video (original, thumbnails, transcripts, outputs, and each
    /// job's intermediate artifacts), then its row; idempotent.
    #[activity(name = activity::DELETE_VIDEO)]
    pub async fn delete_video(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: DeleteVideoInput,
    ) -> Result<u64, ActivityError> {
        let d = &self.deps;
        // The clones of its jobs go too (saved ones stay in the user's library). A provider
        // that cannot delete now leaves them to the maintenance loop.
        cloned_voices::request_delete_of_video(&d.db, input.video_id)
            .await
            .map_err(error::db)?;
        clones::delete_doomed(d, &clones::client(d)).await?;
        let jobs = jobs::ids_of_video(&d.db, input.video_id)
            .await
            .map_err(error::db)?;
        let uploads = media::open_uploads(&d.db, input.video_id)
            .await
            .map_err(error::db)?;
        for (key, upload_id) in uploads {
            d.storage
                .abort_multipart(&key, &upload_id)
                .await
                .map_err(error::storage)?;
        }
        let mut prefixes = vec![VideoKeys::new(input.user_id, input.video_id).prefix()];
        prefixes.extend(jobs.into_iter().map(|job| JobKeys(job).prefix()));
        let mut deleted = 0u64;
        for prefix in prefixes {
            deleted += d
                .storage
                .delete_prefix(&prefix)
                .await
                .map_err(error::storage)? as u64;
            let _ = ctx.record_heartbeat(deleted).await;
        }
        videos::delete(&d.db, input.video_id)
            .await
            .map_err(error::db)?;
        Ok(deleted)
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    #[serde(default)]
    disposition: Disposition,
}

#[derive(Default, Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct Format {
    duration: Option<String>,
    format_name: Option<String>,
}

fn parse_rate(rate: &str) -> Option<f64> {
    let (n, d) = rate.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| (n / d * 1000.0).round() / 1000.0)
}

/// Reads ffprobe's JSON. A file without a video stream (cover art does not count) or without a
/// duration is not a video we can dub.
pub fn parse_media_info(json: &[u8]) -> Result<MediaInfo, ActivityError> {
    let p: Probe = serde_json::from_slice(json)
        .map_err(|e| error::transient(format!("unexpected ffprobe output: {e}")))?;
    let video = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .ok_or_else(|| error::invalid_input("the file has no video stream"))?;
    let audio: Vec<&Stream> = p
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("audio"))
        .collect();
    let format = p
        .format
        .ok_or_else(|| error::invalid_input("the file has no container format"))?;
    let seconds = format
        .duration
        .as_deref()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| error::invalid_input("the file has no readable duration"))?;
    Ok(MediaInfo {
        duration_ms: (seconds * 1000.0).round() as u64,
        size_bytes: 0,
        format_name: format.format_name.unwrap_or_default(),
        width: video.width,
        height: video.height,
        fps: video.avg_frame_rate.as_deref().and_then(parse_rate),
        video_codec: video.codec_name.clone(),
        audio_codec: audio.first().and_then(|a| a.codec_name.clone()),
        audio_tracks: audio.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_streams_and_rates() {
        let json = br#"{"streams":[
            {"codec_type":"video","codec_name":"h264","width":640,"height":360,"avg_frame_rate":"30000/1001"},
            {"codec_type":"audio","codec_name":"aac"},{"codec_type":"audio","codec_name":"ac3"},
            {"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}}],
            "format":{"duration":"10.010","format_name":"mov,mp4,m4a,3gp,3g2,mj2"}}"#;
        let info = parse_media_info(json).unwrap();
        assert_eq!(
            (info.width, info.height, info.fps),
            (Some(640), Some(360), Some(29.97))
        );
        assert_eq!(
            (info.audio_tracks, info.audio_codec.as_deref()),
            (2, Some("aac"))
        );
        assert_eq!(info.duration_ms, 10_010);
        let cover_only = br#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","disposition":{"attached_pic":1}}],"format":{"duration":"3"}}"#;
        assert!(parse_media_info(cover_only).is_err());
    }
}
