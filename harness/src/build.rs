//! Builds function binaries per architecture (Go cross-compile) and caches them by content hash.
//! (Interface stub; the implementation lands from the functions branch.)

use std::path::{Path, PathBuf};

use crate::spec::Arch;

/// Errors building a function.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Go is not installed.
    #[error("go is not installed; run `sudo apt-get install -y golang-go` (or `faasbed setup`)")]
    NoGo,
}

/// One built binary.
#[derive(Debug, Clone)]
pub struct Built {
    /// The binary.
    pub path: PathBuf,
    /// Content hash, hex.
    pub hash: String,
    /// Its arch.
    pub arch: Arch,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Find `images/functions` above `start`.
pub fn functions_root(_start: &Path) -> Option<PathBuf> {
    None
}

/// Find the go binary.
pub fn go_binary() -> Result<PathBuf, BuildError> {
    crate::exec::which("go").ok_or(BuildError::NoGo)
}

/// Build `source` for every arch.
pub async fn build_all(
    _root: &Path,
    _source: &str,
    _arches: &[Arch],
    _cache: &Path,
) -> Result<Vec<Built>, BuildError> {
    Err(BuildError::NoGo)
}
