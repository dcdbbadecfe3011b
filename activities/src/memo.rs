//! Step results stored in S3, keyed on job id + step: the first successful attempt writes the
//! document last, every later attempt (retry, resume, reset) returns it without redoing the work.

use crate::error;
use onevoice_shared::storage::{Storage, StorageError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use temporalio_sdk::activities::ActivityError;

pub(crate) async fn once<T, F, Fut>(
    storage: &Storage,
    key: &str,
    work: F,
) -> Result<T, ActivityError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ActivityError>>,
{
    match storage.get_json::<T>(key).await {
        Ok(done) => {
            tracing::info!(key, "step already done; returning its stored result");
            return Ok(done);
        }
        Err(StorageError::NotFound(_)) => {}
        // A result document of an older shape is recomputed rather than trusted.
        Err(StorageError::Json { .. }) => {
            tracing::warn!(key, "unreadable step result; recomputing")
        }
        Err(e) => return Err(error::storage(e)),
    }
    let result = work().await?;
    storage
        .put_json(key, &result)
        .await
        .map_err(error::storage)?;
    Ok(result)
}
