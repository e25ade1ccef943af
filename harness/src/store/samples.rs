//! `samples.jsonl`: warm and cold samples in one append-only file, tagged by `kind`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::jsonl::{read_each, read_lines, read_lines_parallel, JsonlWriter, ReadStats};
use super::StoreError;
use crate::measure::cold::ColdSample;
use crate::measure::record::{ErrorKind, Phase, Sample, Sink};

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

/// The fields of a warm sample that reports read, borrowed from its line.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct WarmView<'a> {
    /// Warm-up or measurement.
    pub phase: Phase,
    /// Function the request invoked.
    pub function: &'a str,
    /// Node that answered, if known.
    #[serde(default)]
    pub node: Option<&'a str>,
    /// Node the request was routed to when no response named one (see `Sample::routed_node`).
    #[serde(default)]
    pub routed_node: Option<&'a str>,
    /// `X-Faasbed-Hops` of a chain function's response (see `Sample::hops`).
    #[serde(default)]
    pub hops: Option<&'a str>,
    /// Intended send, ns since run start.
    pub intended_ns: u64,
    /// Actual send, ns since run start.
    pub sent_ns: u64,
    /// End of the response or failure, ns since run start.
    pub end_ns: u64,
    /// Why the request failed; `None` for success.
    #[serde(default)]
    pub error: Option<ErrorKind>,
}

impl WarmView<'_> {
    /// The node the request counts against: the one that answered, else the one it was routed
    /// to, when known.
    pub fn attributed_node(&self) -> Option<&str> {
        self.node.or(self.routed_node)
    }

    /// Latency from the intended send to the end, ns (see [`Sample::corrected_ns`]).
    pub fn corrected_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.intended_ns)
    }

    /// Latency from the actual send to the end, ns.
    pub fn uncorrected_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.sent_ns)
    }
}

impl<'a> From<&'a Sample> for WarmView<'a> {
    fn from(s: &'a Sample) -> Self {
        WarmView {
            phase: s.phase,
            function: &s.function,
            node: s.node.as_deref(),
            routed_node: s.routed_node.as_deref(),
            hops: s.hops.as_deref(),
            intended_ns: s.intended_ns,
            sent_ns: s.sent_ns,
            end_ns: s.end_ns,
            error: s.error,
        }
    }
}

/// One record of `samples.jsonl` as [`read_views`] gives it.
#[derive(Debug)]
pub enum View<'a> {
    /// A warm request's report fields.
    Warm(WarmView<'a>),
    /// A cold start.
    Cold(ColdSample),
}

/// How every warm line starts as [`SamplesFile`] writes it (`kind` is the first key).
const WARM_PREFIX: &str = r#"{"kind":"warm","#;

/// Read every record of a `samples.jsonl` as a [`View`]: warm lines as written by faasbed are
/// read straight into a borrowed [`WarmView`] (no allocation per line); any other line (a cold
/// sample, another key order, escaped strings) goes through [`Record`]. Errors as [`read`].
pub fn read_views(path: &Path, mut each: impl FnMut(View<'_>)) -> Result<ReadStats, StoreError> {
    read_lines(path, |text| view_line(text, &mut each))
}

/// [`read_views`] on `parts` threads, each into its own state made by `init`; the states come
/// back in file order (see [`read_lines_parallel`]).
pub fn read_views_parallel<S: Send>(
    path: &Path,
    parts: usize,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, View<'_>) + Sync,
) -> Result<(Vec<S>, ReadStats), StoreError> {
    read_lines_parallel(path, parts, init, |state, text| {
        view_line(text, |v| each(state, v))
    })
}

/// One line as a [`View`]: the borrowed fast path for warm lines as faasbed writes them, the full
/// [`Record`] otherwise.
fn view_line(text: &str, mut each: impl FnMut(View<'_>)) -> Result<(), serde_json::Error> {
    if text.starts_with(WARM_PREFIX) {
        if let Ok(v) = serde_json::from_str::<WarmView<'_>>(text) {
            each(View::Warm(v));
            return Ok(());
        }
    }
    match serde_json::from_str::<Record>(text)? {
        Record::Warm(s) => each(View::Warm(WarmView::from(&s))),
        Record::Cold(c) => each(View::Cold(c)),
    }
    Ok(())
}
