//! `samples.jsonl`: warm and cold samples in one append-only file, tagged by `kind`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::jsonl::{read_each, JsonlWriter, ReadStats};
use super::StoreError;
use crate::measure::cold::ColdSample;
use crate::measure::record::{Sample, Sink};

/// One line of `samples.jsonl`, as written.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RecordRef<'a> {
    /// A warm request.
    Warm(&'a Sample),
    /// A cold start.
    Cold(&'a ColdSample),
}

/// One line of `samples.jsonl`, as read back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// A warm request.
    Warm(Sample),
    /// A cold start.
    Cold(ColdSample),
}

/// Appends samples to `samples.jsonl`, flushing each.
#[derive(Debug)]
pub struct SamplesFile {
    w: JsonlWriter<RecordRef<'static>>,
}

impl SamplesFile {
    /// Open (append) `path`.
    pub fn append(path: &Path) -> Result<Self, StoreError> {
        Ok(SamplesFile {
            w: JsonlWriter::append(path)?,
        })
    }

    /// Write one cold sample.
    pub fn cold(&mut self, s: &ColdSample) -> Result<(), StoreError> {
        self.w.write_ref(&RecordRef::Cold(s))
    }

    /// Lines written.
    pub fn written(&self) -> u64 {
        self.w.written()
    }
}

impl Sink for SamplesFile {
    fn record(&mut self, sample: &Sample) -> std::io::Result<()> {
        self.w
            .write_ref(&RecordRef::Warm(sample))
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// Read every record of a `samples.jsonl`.
pub fn read(path: &Path, each: impl FnMut(Record)) -> Result<ReadStats, StoreError> {
    read_each(path, each)
}
