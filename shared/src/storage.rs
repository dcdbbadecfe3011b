//! S3 storage: uploads, downloads, presigned URLs and cleanup of object prefixes.
//!
//! Works with AWS S3 and S3-compatible stores (MinIO, R2, moto) through an endpoint override and
//! path-style addressing. Credentials come from settings, not the AWS default chain, so the
//! process never probes instance metadata or shared config files.

mod cache;
mod signed;

pub use cache::FileCache;

use crate::settings::S3Settings;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    bucket: String,
    presign_ttl: Duration,
    upload_url_ttl: Duration,
    /// The worker's copies of what it uploaded (none for the API).
    cache: Option<Arc<FileCache>>,
    /// Download URLs that listings reuse (see [`Storage::listed_url`]).
    signed: Arc<signed::SignedUrls>,
}

/// What `stat` tells of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectStat {
    pub size: u64,
    pub content_type: Option<String>,
    /// The entity tag, quotes included, as S3 sends it.
    pub etag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object `{0}` does not exist")]
    NotFound(String),
    #[error("object `{0}` changed since it was checked")]
    Changed(String),
    #[error("S3 {operation} of `{key}` failed: {message}")]
    Service {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("local file error for `{key}`: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("object `{key}` is not valid JSON of the expected shape: {source}")]
    Json {
        key: String,
        source: serde_json::Error,
    },
}

impl StorageError {
    /// Missing objects and malformed documents stay that way on retry; everything else may pass.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Service { .. } | StorageError::Io { .. })
    }
}

fn service_error<E, R>(operation: &'static str, key: &str, err: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = match &err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            )
        }
        other => format!("{other}"),
    };
    StorageError::Service {
        operation,
        key: key.to_string(),
        message,
    }
}

impl Storage {
    pub fn new(settings: &S3Settings) -> Self {
        let credentials = Credentials::new(
            settings.access_key_id.expose(),
            settings.secret_access_key.expose(),
            None,
            None,
            "onevoice-settings",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.force_path_style)
            // No CRC32 trailer on uploads unless an operation requires one: computing it (and the
            // aws-chunked framing it needs) halved the upload speed of the tracks of hundreds of MB a long
            // dub stores (700 MB: 10.5 s with it, 5.6 s without, on the local stack). TLS already
            // protects the bytes in transit to S3.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint_url {
            config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Self {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            presign_ttl: settings.presign_ttl,
            upload_url_ttl: settings.upload_url_ttl,
            cache: None,
            signed: Default::default(),
        }
    }

    /// Keeps a local copy of every file this handle uploads and serves downloads of it from
    /// there while the object is unchanged (see [`FileCache`]).
    pub fn with_cache(mut self, cache: FileCache) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn presign_ttl(&self) -> Duration {
        self.presign_ttl
    }

    pub fn upload_url_ttl(&self) -> Duration {
        self.upload_url_ttl
    }

    /// A URL the client PUTs the object to; the `Content-Type` is signed, so the client must send it.
    pub async fn presign_put(&self, key: &str, content_type: &str) -> Result<String, StorageError> {
        let config = presigning(key, self.upload_url_ttl)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| service_error("presign put", key, e))?;
        Ok(req.uri().to_string())
    }

    /// A download URL that makes browsers save the object as `filename`.
    pub async fn presign_get(&self, key: &str, filename: &str) -> Result<String, StorageError> {
        let config = self.presigning_config(key)?;
        let disposition = format!(
            "attachment; filename=\"{}\"",
            filename.replace(['"', '\\'], "_")
        );
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(disposition)
            .presigned(config)
            .await
            .map_err(|e| service_error("presign get", key, e))?;
        Ok(req.uri().to_string())
    }

    /// [`Storage::presign_get`] for listings and views polled often (video list, video): a URL
    /// signed for the same object and name less than half of `PRESIGN_TTL` ago is reused. Where
    /// the response states when the URL expires, use `presign_get`.
    pub async fn listed_url(&self, key: &str, filename: &str) -> Result<String, StorageError> {
        let now = std::time::Instant::now();
        if let Some(url) = self.signed.fresh(key, filename, self.presign_ttl, now) {
            return Ok(url);
        }
        let url = self.presign_get(key, filename).await?;
        self.signed.keep(key, filename, &url, self.presign_ttl, now);
        Ok(url)
    }

    fn presigning_config(&self, key: &str) -> Result<PresigningConfig, StorageError> {
        presigning(key, self.presign_ttl)
    }

    pub async fn put_bytes(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| service_error("put", key, e))?;
        Ok(())
    }

    /// Streams a local file to S3 without loading it into memory.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        self.upload(key, path, content_type, false).await
    }

    /// [`Storage::put_file`], keeping a local copy for a later activity on this worker that
    /// reads the object back (intermediate tracks; see [`FileCache`]). Final outputs, read only
    /// by clients, are not worth the disk.
    pub async fn put_file_kept(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        self.upload(key, path, content_type, true).await
    }

    async fn upload(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        keep: bool,
    ) -> Result<u64, StorageError> {
        let io = |source| StorageError::Io {
            key: key.to_string(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io)?.len();
        // Large reads: with the default 4 KiB ones a big upload spends most of its time per chunk.
        let body = ByteStream::read_from()
            .path(path)
            .buffer_size(1 << 20)
            .build()
            .await
            .map_err(|e| StorageError::Io {
                key: key.to_string(),
                source: std::io::Error::other(e),
            })?;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| service_error("put", key, e))?;
        if let (true, Some(cache), Some(etag)) = (keep, &self.cache, put.e_tag()) {
            let (cache, key, etag, path) = (
                cache.clone(),
                key.to_string(),
                etag.to_string(),
                path.to_path_buf(),
            );
            let kept = tokio::task::spawn_blocking(move || cache.insert(&key, &etag, &path)).await;
            if let Ok(Err(e)) = kept {
                tracing::debug!(error = %e, "file cache: not kept");
            }
        }
        Ok(size)
    }

    /// The cache's copy of `key` written to `path`, if it holds the object's current version.
    async fn cached(&self, key: &str, path: &Path) -> Option<u64> {
        let cache = self.cache.as_ref().filter(|c| c.may_hold(key))?.clone();
        let stat = self.stat(key).await.ok().flatten()?;
        let etag = stat.etag?;
        let (key, path) = (key.to_string(), path.to_path_buf());
        match tokio::task::spawn_blocking(move || cache.copy_out(&key, &etag, &path)).await {
            Ok(Ok(size)) => size.filter(|&size| size == stat.size),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "file cache: not read");
                None
            }
            Err(_) => None,
        }
    }

    /// Streams an object into a local file; returns its size.
    pub async fn download_to(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        if let Some(size) = self.cached(key, path).await {
            return Ok(size);
        }
        let io = |source| StorageError::Io {
            key: key.to_string(),
            source,
        };
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(StorageError::NotFound(key.to_string()));
            }
            Err(e) => return Err(service_error("get", key, e)),
        };
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut body = out.body;
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| StorageError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        })? {
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(size)
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(StorageError::NotFound(key.to_string()));
            }
            Err(e) => return Err(service_error("get", key, e)),
        };
        let data = out.body.collect().await.map_err(|e| StorageError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        })?;
        Ok(data.to_vec())
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<T, StorageError> {
        let bytes = self.get_bytes(key).await?;
        serde_json::from_slice(&bytes).map_err(|source| StorageError::Json {
            key: key.to_string(),
            source,
        })
    }

    pub async fn put_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let body = serde_json::to_vec(value).map_err(|source| StorageError::Json {
            key: key.to_string(),
            source,
        })?;
        self.put_bytes(key, body, "application/json").await
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size_of(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(service_error("head", key, e)),
        }
    }

    /// A presigned PUT that also signs the object's exact size, so S3 refuses any other length.
    pub async fn presign_put_sized(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<String, StorageError> {
        let config = presigning(key, self.upload_url_ttl)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .presigned(config)
            .await
            .map_err(|e| service_error("presign put", key, e))?;
        Ok(req.uri().to_string())
    }

    /// Size and content type of an object, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<(u64, Option<String>)>, StorageError> {
        Ok(self.stat(key).await?.map(|s| (s.size, s.content_type)))
    }

    /// Size, content type and entity tag of an object, or `None` when it does not exist.
    pub async fn stat(&self, key: &str) -> Result<Option<ObjectStat>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => Ok(Some(ObjectStat {
                size: h.content_length().unwrap_or(0).max(0) as u64,
                content_type: h.content_type().map(str::to_string),
                etag: h.e_tag().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(service_error("head", key, e)),
        }
    }

    /// Server-side copy of `from` as it was when its entity tag was `etag`: S3 refuses (412,
    /// [`StorageError::Changed`]) if it was overwritten since.
    pub async fn copy_if_match(
        &self,
        from: &str,
        to: &str,
        etag: &str,
    ) -> Result<(), StorageError> {
        let source = format!("{}/{}", self.bucket, urlencode_key(from));
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .copy_source_if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Err(StorageError::Changed(from.to_string()))
            }
            Err(e) => Err(service_error("copy", from, e)),
        }
    }

    /// Server-side copy within the bucket (no bytes pass through this process).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let source = format!("{}/{}", self.bucket, urlencode_key(from));
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map_err(|e| service_error("copy", from, e))?;
        Ok(())
    }

    /// Starts a multipart upload; returns its upload id.
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| service_error("create multipart upload", key, e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| StorageError::Service {
                operation: "create multipart upload",
                key: key.to_string(),
                message: "no upload id returned".into(),
            })
    }

    /// A presigned URL for one part (1-based) of a multipart upload.
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
    ) -> Result<String, StorageError> {
        let config = presigning(key, self.upload_url_ttl)?;
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .presigned(config)
            .await
            .map_err(|e| service_error("presign part", key, e))?;
        Ok(req.uri().to_string())
    }

    /// Completes a multipart upload from the parts' numbers and ETags.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StorageError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let parts = parts
            .iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
            .collect::<Vec<_>>();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| service_error("complete multipart upload", key, e))?;
        Ok(())
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_upload()) => Ok(()),
            Err(e) => Err(service_error("abort multipart upload", key, e)),
        }
    }

    /// Deletes every object under `prefix`; returns how many were deleted.
    /// Deletes one object; deleting one that is not there succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| service_error("delete", key, e))?;
        Ok(())
    }

    /// Deletes every object whose key starts with `prefix`; returns how many there were.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }

    /// The keys of every object whose key starts with `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| service_error("list", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Health check: the bucket exists and the credentials may read it.
    pub async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| service_error("head bucket", &self.bucket, e))?;
        Ok(())
    }
}

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/` separators.
fn presigning(key: &str, ttl: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Service {
        operation: "presign",
        key: key.to_string(),
        message: e.to_string(),
    })
}

fn urlencode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
