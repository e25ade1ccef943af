//! The results store: one folder per run, `results/<run-id>/`, written as the run goes.
//!
//! - `run.json`: provenance ([`manifest::RunManifest`]), rewritten atomically as the run advances.
//! - `samples.jsonl`: every raw sample, appended and flushed as measured.
//! - `hdr/<function>.<node>.hlog`: HdrHistogram V2 interval logs (corrected and uncorrected tags).
//! - `events.jsonl`: replica crashes and restarts, as the platform reported them.
//! - `summary.json`: the computed summary, validated in tests against `schemas/summary.schema.json`.
//!
//! A crash leaves everything measured so far readable; `faasbed report` needs nothing else.

pub mod clock;
pub mod events;
pub mod hlog;
pub mod home;
pub mod jsonl;
pub mod manifest;
pub mod samples;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Errors reading or writing the store; each names its path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File-system error.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored file does not parse.
    #[error("{}:{line}: {message}; the file may be truncated by a crash — earlier lines are intact", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// An HdrHistogram log could not be written or read.
    #[error("hdr log {}: {message}", path.display())]
    Hdr { path: PathBuf, message: String },
    /// The run directory exists already.
    #[error("run directory {} already exists; pick another run id", path.display())]
    Exists { path: PathBuf },
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Names of the files in a run directory.
pub mod files {
    /// Provenance.
    pub const RUN: &str = "run.json";
    /// Raw samples.
    pub const SAMPLES: &str = "samples.jsonl";
    /// Summary.
    pub const SUMMARY: &str = "summary.json";
    /// HdrHistogram logs folder.
    pub const HDR: &str = "hdr";
    /// Replica crashes and restarts.
    pub const EVENTS: &str = "events.jsonl";
}

/// A run directory being written.
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
}

impl RunStore {
    /// Create `<root>/<run_id>/` (it must not exist).
    pub fn create(root: &Path, run_id: &str) -> Result<RunStore, StoreError> {
        let dir = root.join(run_id);
        if dir.exists() {
            return Err(StoreError::Exists { path: dir });
        }
        std::fs::create_dir_all(dir.join(files::HDR)).map_err(io_err("create", &dir))?;
        Ok(RunStore { dir })
    }

    /// Open an existing run directory.
    pub fn open(dir: &Path) -> RunStore {
        RunStore {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a file in the run directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Path of the HdrHistogram log of one function × node.
    pub fn hlog_path(&self, function: &str, node: &str) -> PathBuf {
        self.dir
            .join(files::HDR)
            .join(format!("{function}.{node}.hlog"))
    }

    /// Write `value` as pretty JSON to `name`, atomically (temp file + rename).
    pub fn write_json<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<PathBuf, StoreError> {
        let path = self.path(name);
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Parse {
            path: path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        write_atomic(&path, &bytes)?;
        Ok(path)
    }

    /// Read `name` as JSON.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, StoreError> {
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Parse {
            path: path.clone(),
            line: e.line(),
            message: e.to_string(),
        })
    }
}

/// Write `bytes` to `path` with mode 0600 (credentials, kubeconfigs). A file that already
/// existed is made private too, since `open` keeps an older file's mode.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    // An older file keeps its mode on open: make it private too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

/// Write `bytes` to `path` through a temp file and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_data().map_err(io_err("sync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename into", path))
}
