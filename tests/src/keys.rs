//! The bucket's keys for tests, which hold ids as the API's JSON gives them (strings): the key
//! layout itself is `onevoice_shared::keys`, never spelled out here.

use onevoice_shared::ids::UserId;
use onevoice_shared::keys::{JobKeys, JobOutputs, VideoKeys};

/// A video's keys, from its id as the API answered it.
pub fn video(user: UserId, video: &str) -> VideoKeys {
    VideoKeys::new(user, video.parse().expect("a video id"))
}

/// A job's intermediate artifacts, from its id as the API answered it.
pub fn job(job: &str) -> JobKeys {
    JobKeys(job.parse().expect("a job id"))
}

/// What a job writes beside its video.
pub fn outputs(user: UserId, video_id: &str, job: &str) -> JobOutputs {
    video(user, video_id).job(job.parse().expect("a job id"))
}
