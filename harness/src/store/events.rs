//! `events.jsonl`: what happened to replicas during a run (a replica crashed, a replacement was
//! started), one JSON line each, appended as the platform reports them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::jsonl::{read_each, JsonlWriter, ReadStats};
use super::StoreError;

/// What happened to a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaEventKind {
    /// The replica's process exited without being asked to (scale-down and shutdown are not
    /// crashes).
    Crashed,
    /// A replacement for a crashed replica was started.
    Restarted,
}

/// One replica event, as the platform saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaEvent {
    /// When it happened, unix ns.
    pub unix_ns: u64,
    /// Function of the replica.
    pub function: String,
    /// Node the replica ran (or runs) on.
    pub node: String,
    /// What happened.
    pub kind: ReplicaEventKind,
    /// Process id of the replica concerned (the new one for `restarted`).
    pub pid: u32,
    /// How the process ended (`exit status 2`, `signal 9`), for `crashed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Appends events to `events.jsonl`, flushing each.
#[derive(Debug)]
pub struct EventsFile {
    w: JsonlWriter<ReplicaEvent>,
}

impl EventsFile {
    /// Open (append) `path`.
    pub fn append(path: &Path) -> Result<Self, StoreError> {
        Ok(EventsFile {
            w: JsonlWriter::append(path)?,
        })
    }

    /// Write one event.
    pub fn write(&mut self, e: &ReplicaEvent) -> Result<(), StoreError> {
        self.w.write(e)
    }
}

/// Every event of an `events.jsonl`; a missing file has none.
pub fn read(path: &Path) -> Result<(Vec<ReplicaEvent>, ReadStats), StoreError> {
    let mut out = Vec::new();
    if !path.exists() {
        return Ok((out, ReadStats::default()));
    }
    let stats = read_each(path, |e| out.push(e))?;
    Ok((out, stats))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let e = ReplicaEvent {
            unix_ns: 5,
            function: "echo".into(),
            node: "pi3-1".into(),
            kind: ReplicaEventKind::Crashed,
            pid: 42,
            detail: Some("signal 9".into()),
        };
        let mut f = EventsFile::append(&path).unwrap();
        f.write(&e).unwrap();
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"kind\":\"crashed\""), "{text}");
        assert_eq!(read(&path).unwrap().0, [e]);
        assert!(read(&dir.path().join("none")).unwrap().0.is_empty());
    }
}
