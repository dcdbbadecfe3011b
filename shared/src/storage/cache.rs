//! A worker's local copies of the objects it wrote, so that the next activity on the same machine
//! reading one (the mux reading the mix, the mix reading the background stem, a re-render reading
//! either) copies it from disk instead of downloading it again. An entry is named by its key and
//! the ETag S3 answered the upload with, and is used only while a HEAD of the object still
//! answers that ETag, so an object rewritten elsewhere is never served stale. It holds at most
//! `max_bytes`; the least recently used entries go first. It is only an optimisation: every
//! failure of it falls back to S3.

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug)]
pub struct FileCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Hashes of the keys that may have an entry: a download of any other key asks S3 nothing
    /// more than it would without the cache.
    keys: Mutex<HashSet<String>>,
}

impl FileCache {
    /// Opens (or creates) the cache in `dir`, forgetting half-written entries.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut keys = HashSet::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.split_once('-') {
                Some(("tmp", _)) => {
                    let _ = std::fs::remove_file(entry.path());
                }
                Some((key, _)) => {
                    keys.insert(key.to_string());
                }
                None => {}
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            keys: Mutex::new(keys),
        })
    }

    fn entry(&self, key: &str, etag: &str) -> (String, PathBuf) {
        let key = hex::encode(Sha256::digest(key.as_bytes()));
        let tag = hex::encode(&Sha256::digest(etag.as_bytes())[..8]);
        let path = self.dir.join(format!("{key}-{tag}"));
        (key, path)
    }

    /// Whether `key` may have an entry (then a HEAD tells which).
    pub fn may_hold(&self, key: &str) -> bool {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        self.keys.lock().expect("cache index").contains(&hash)
    }

    /// Keeps a copy of `from`, the file just uploaded as `key` with `etag`.
    pub fn insert(&self, key: &str, etag: &str, from: &Path) -> io::Result<()> {
        let size = std::fs::metadata(from)?.len();
        if size > self.max_bytes {
            return Ok(());
        }
        let (hash, path) = self.entry(key, etag);
        let tmp = self
            .dir
            .join(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        // A copy, not a link: the uploader may still rewrite its file in place.
        if let Err(e) = std::fs::copy(from, &tmp).and_then(|_| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.keys.lock().expect("cache index").insert(hash);
        self.evict()
    }

    /// Copies the entry of `key` at `etag` to `to`; none when there is no such entry.
    pub fn copy_out(&self, key: &str, etag: &str, to: &Path) -> io::Result<Option<u64>> {
        let (_, path) = self.entry(key, etag);
        match std::fs::copy(&path, to) {
            Ok(size) => {
                // Recently used: last to be evicted.
                let _ = std::fs::File::open(&path).and_then(|f| f.set_modified(SystemTime::now()));
                Ok(Some(size))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Drops the least recently used entries until the cache fits in `max_bytes`.
    fn evict(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with("tmp-") {
                continue;
            }
            let meta = entry.metadata()?;
            entries.push((meta.modified()?, meta.len(), entry.path()));
        }
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort();
        for (_, size, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            // Another worker may have removed it already.
            let _ = std::fs::remove_file(&path);
            total = total.saturating_sub(size);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: usize) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![7u8; bytes]).unwrap();
        path
    }

    #[test]
    fn an_entry_is_served_only_at_its_etag() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(&dir.path().join("cache"), 1 << 20).unwrap();
        let src = file(dir.path(), "mix.wav", 1000);
        assert!(!cache.may_hold("jobs/1/audio/mix.wav"));
        cache
            .insert("jobs/1/audio/mix.wav", "\"abc\"", &src)
            .unwrap();
        assert!(cache.may_hold("jobs/1/audio/mix.wav"));
        let out = dir.path().join("out.wav");
        assert_eq!(
            cache
                .copy_out("jobs/1/audio/mix.wav", "\"abc\"", &out)
                .unwrap(),
            Some(1000)
        );
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
        assert_eq!(
            cache
                .copy_out("jobs/1/audio/mix.wav", "\"rewritten\"", &out)
                .unwrap(),
            None,
            "another ETag is another object"
        );
        assert_eq!(
            cache
                .copy_out("jobs/2/audio/mix.wav", "\"abc\"", &out)
                .unwrap(),
            None
        );
        // Reopened, it still knows what it holds.
        let again = FileCache::open(&dir.path().join("cache"), 1 << 20).unwrap();
        assert!(again.may_hold("jobs/1/audio/mix.wav"));
    }

    #[test]
    fn it_keeps_within_its_size_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(&dir.path().join("cache"), 2500).unwrap();
        let src = file(dir.path(), "a", 1000);
        let out = dir.path().join("out");
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        cache.insert("a", "1", &src).unwrap();
        cache.insert("b", "1", &src).unwrap();
        // "a" was written first but is used since, so "b" is the least recently used.
        for (key, age) in [("a", 60), ("b", 30)] {
            let (_, path) = cache.entry(key, "1");
            let f = std::fs::File::options().write(true).open(path).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(60 - age))
                .unwrap();
        }
        assert!(cache.copy_out("a", "1", &out).unwrap().is_some());
        cache.insert("c", "1", &src).unwrap();
        assert!(
            cache.copy_out("b", "1", &out).unwrap().is_none(),
            "b evicted"
        );
        assert!(cache.copy_out("a", "1", &out).unwrap().is_some());
        assert!(cache.copy_out("c", "1", &out).unwrap().is_some());
        // Larger than the whole cache: not kept.
        let big = file(dir.path(), "big", 3000);
        cache.insert("d", "1", &big).unwrap();
        assert!(cache.copy_out("d", "1", &out).unwrap().is_none());
    }
}
