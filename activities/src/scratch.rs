//! Per-attempt scratch directories, removed when the attempt ends (success, failure or panic).

use crate::error;
use std::path::{Path, PathBuf};
use temporalio_sdk::activities::ActivityError;

pub(crate) struct Scratch(tempfile::TempDir);

impl Scratch {
    pub(crate) fn new(work_dir: &Path, label: &str) -> Result<Self, ActivityError> {
        std::fs::create_dir_all(work_dir)
            .map_err(|e| error::transient(format!("cannot create {}: {e}", work_dir.display())))?;
        tempfile::Builder::new()
            .prefix(&format!("{label}-"))
            .tempdir_in(work_dir)
            .map(Self)
            .map_err(|e| error::transient(format!("cannot create scratch dir: {e}")))
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}
