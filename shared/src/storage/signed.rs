//! Download URLs signed recently, reused by listings. A video list of 20 videos signs 40 URLs per
//! request (thumbnail and original); signing is most of that route's CPU (about 31 µs each), and
//! a URL signed a minute ago serves as well as a new one. An URL is reused while at least half of
//! its lifetime remains, so a client always gets at least `ttl / 2` to use it. The memory is
//! bounded: when full, it forgets what has passed its half-life, and everything if that is not
//! enough (the cost of forgetting is one signature per URL).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// More URLs than a busy API lists within one half-life, and a few MiB at most.
const CAPACITY: usize = 20_000;

#[derive(Debug, Default)]
pub struct SignedUrls {
    /// (key, filename) → (URL, when it was signed).
    urls: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl SignedUrls {
    /// The URL for `key` saved as `filename`, if one was signed less than `ttl / 2` ago.
    pub fn fresh(&self, key: &str, filename: &str, ttl: Duration, now: Instant) -> Option<String> {
        let urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        // The tuple key needs owned strings to look up; lists are short, this stays cheap.
        let (url, signed) = urls.get(&(key.to_string(), filename.to_string()))?;
        (now.saturating_duration_since(*signed) < ttl / 2).then(|| url.clone())
    }

    pub fn keep(&self, key: &str, filename: &str, url: &str, ttl: Duration, now: Instant) {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        if urls.len() >= CAPACITY {
            urls.retain(|_, (_, signed)| now.saturating_duration_since(*signed) < ttl / 2);
            if urls.len() >= CAPACITY {
                urls.clear();
            }
        }
        urls.insert(
            (key.to_string(), filename.to_string()),
            (url.to_string(), now),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn a_url_is_reused_for_half_its_lifetime_and_only_for_its_key_and_name() {
        let urls = SignedUrls::default();
        let t0 = Instant::now();
        urls.keep("a/video.mp4", "clip.mp4", "https://s3/a?sig=1", TTL, t0);
        let later = t0 + TTL / 2 - Duration::from_secs(1);
        assert_eq!(
            urls.fresh("a/video.mp4", "clip.mp4", TTL, later).as_deref(),
            Some("https://s3/a?sig=1")
        );
        assert_eq!(urls.fresh("a/video.mp4", "other.mp4", TTL, later), None);
        assert_eq!(urls.fresh("b/video.mp4", "clip.mp4", TTL, later), None);
        assert_eq!(
            urls.fresh("a/video.mp4", "clip.mp4", TTL, t0 + TTL / 2),
            None
        );
    }

    #[test]
    fn a_full_memory_forgets_instead_of_growing() {
        let urls = SignedUrls::default();
        let t0 = Instant::now();
        for n in 0..CAPACITY + 10 {
            urls.keep(&format!("k{n}"), "f", "u", TTL, t0);
        }
        let len = urls.urls.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len} entries");
        assert!(
            urls.fresh(&format!("k{}", CAPACITY + 9), "f", TTL, t0)
                .is_some()
        );
    }
}
