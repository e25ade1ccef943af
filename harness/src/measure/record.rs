//! Recording warm samples: the raw [`Sample`] (one JSON line each), the [`Sink`] raw samples stream
//! into, and the [`Recorder`] that folds measured samples into HDR histograms and counters to
//! produce a [`WarmResult`].
//!
//! Units: sample timestamps are nanoseconds since the run's start `Instant` (the absolute start is
//! `WarmResult::t0_unix_ns`). Histograms hold **nanoseconds**, bounded 1 ns ..= 60 s with 3
//! significant digits (larger values saturate at 60 s); percentiles in the result are microseconds.
//! Only successful (non-error) measured samples enter the histograms; every sample is counted.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::spec::WarmMode;

/// Largest latency a histogram holds, nanoseconds (60 s); larger values are clamped to it.
pub const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;
/// Significant decimal digits every histogram keeps.
pub const HISTOGRAM_SIGFIG: u8 = 3;
/// Default lateness above which a send counts as late: `sent - intended` > 1 ms, in nanoseconds.
pub const DEFAULT_LATE_THRESHOLD_NS: u64 = 1_000_000;

/// Errors from recording samples.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The HDR histogram could not be created (bounds or precision rejected).
    #[error("cannot create a latency histogram (1 ns..={HISTOGRAM_MAX_NS} ns, {HISTOGRAM_SIGFIG} digits): {0:?}")]
    Histogram(hdrhistogram::CreationError),
    /// Merging per-node histograms into the total failed.
    #[error("cannot merge latency histograms of function {function}: {source:?}")]
    Merge {
        /// Function whose histograms were being merged.
        function: String,
        /// Why hdrhistogram refused.
        source: hdrhistogram::AdditionError,
    },
}

/// Whether a sample belongs to the discarded warm-up or to the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Sent during warm-up; kept in samples.jsonl, excluded from histograms.
    Warmup,
    /// Sent during the measured window.
    Measure,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The TCP connect or HTTP handshake failed.
    #[serde(rename = "connect")]
    Connect,
    /// No complete response within the per-request timeout.
    #[serde(rename = "timeout")]
    Timeout,
    /// The response status was 500..=599.
    #[serde(rename = "status_5xx")]
    Status5xx,
    /// The response status was 400..=499.
    #[serde(rename = "status_4xx")]
    Status4xx,
    /// The response head arrived but reading the body failed.
    #[serde(rename = "body")]
    Body,
    /// Anything else (for example the connection closed mid-request).
    #[serde(rename = "other")]
    Other,
}

impl ErrorKind {
    /// The error kind a response status implies, if any (4xx and 5xx only).
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        match status {
            400..=499 => Some(ErrorKind::Status4xx),
            500..=599 => Some(ErrorKind::Status5xx),
            _ => None,
        }
    }
}

/// One request as it happened; written as one JSON line of samples.jsonl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Warm-up or measurement.
    pub phase: Phase,
    /// Function the request invoked.
    pub function: String,
    /// `X-Faasbed-Node` of the response, if one arrived with it.
    pub node: Option<String>,
    /// `X-Faasbed-Instance` of the response, if one arrived with it.
    pub instance: Option<String>,
    /// The node the request was routed to when no response named one but the platform routes
    /// this function to a single node (its constraints match one node); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_node: Option<String>,
    /// `X-Faasbed-Hops` of the response, when a chain function sent one: per hop, outermost
    /// first, `node/arch/total_ns/call_ns`, comma-separated (see `report::chain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<String>,
    /// When the schedule meant the request to leave, ns since run start (closed loop: = `sent_ns`).
    pub intended_ns: u64,
    /// When the request was handed to the connection, ns since run start.
    pub sent_ns: u64,
    /// When the response head arrived, ns since run start; `None` if none did.
    pub first_byte_ns: Option<u64>,
    /// When the response body ended or the request failed, ns since run start.
    pub end_ns: u64,
    /// HTTP status, if a response head arrived.
    pub status: Option<u16>,
    /// Response body bytes received.
    pub bytes: u64,
    /// Why the request failed; `None` for success.
    pub error: Option<ErrorKind>,
    /// `X-Faasbed-Started` of the response: the serving instance's process start, unix ns. A
    /// start after the send means the request waited for a cold start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ns: Option<u64>,
}

impl Sample {
    /// Latency from the intended send time to the end, ns (coordinated-omission corrected).
    pub fn corrected_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.intended_ns)
    }

    /// Latency from the actual send time to the end, ns.
    pub fn uncorrected_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.sent_ns)
    }

    /// How late the send was against its schedule, ns.
    pub fn lateness_ns(&self) -> u64 {
        self.sent_ns.saturating_sub(self.intended_ns)
    }
}

/// Where raw samples stream as they are produced (the store writes them to samples.jsonl).
pub trait Sink: Send {
    /// Take one sample; an error stops the run (a result must not silently lose samples).
    fn record(&mut self, sample: &Sample) -> std::io::Result<()>;
    /// The run starts now: its sample offsets count from this unix time, ns.
    fn started(&mut self, t0_unix_ns: u64) {
        let _ = t0_unix_ns;
    }
}

/// A sink that keeps every sample in memory (tests, small runs).
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    /// Samples in the order they completed.
    pub samples: Vec<Sample>,
}

impl Sink for VecSink {
    fn record(&mut self, sample: &Sample) -> std::io::Result<()> {
        self.samples.push(sample.clone());
        Ok(())
    }
}

/// A sink that drops every sample (when only the histograms matter).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    fn record(&mut self, _sample: &Sample) -> std::io::Result<()> {
        Ok(())
    }
}

/// Error counts by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Connect or handshake failures.
    pub connect: u64,
    /// Per-request timeouts.
    pub timeout: u64,
    /// 5xx responses.
    pub status_5xx: u64,
    /// 4xx responses.
    pub status_4xx: u64,
    /// Body read failures.
    pub body: u64,
    /// Other failures.
    pub other: u64,
}

impl ErrorCounts {
    fn add(&mut self, kind: ErrorKind) {
        let slot = match kind {
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Status5xx => &mut self.status_5xx,
            ErrorKind::Status4xx => &mut self.status_4xx,
            ErrorKind::Body => &mut self.body,
            ErrorKind::Other => &mut self.other,
        };
        *slot += 1;
    }

    /// All errors, of every kind.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.status_5xx + self.status_4xx + self.body + self.other
    }
}

/// Request counters of one key or of a whole phase.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests that finished, successful or not.
    pub requests: u64,
    /// Requests without error.
    pub ok: u64,
    /// Failed requests by kind.
    pub errors: ErrorCounts,
    /// Sends later than the late threshold against their schedule (still sent; cf. k6's
    /// dropped iterations, which are not).
    pub late_sends: u64,
}

impl Counters {
    fn add(&mut self, sample: &Sample, late_threshold_ns: u64) {
        self.requests += 1;
        match sample.error {
            Some(kind) => self.errors.add(kind),
            None => self.ok += 1,
        }
        if sample.lateness_ns() > late_threshold_ns {
            self.late_sends += 1;
        }
    }

    fn merge(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.late_sends += other.late_sends;
        let (a, b) = (&mut self.errors, &other.errors);
        a.connect += b.connect;
        a.timeout += b.timeout;
        a.status_5xx += b.status_5xx;
        a.status_4xx += b.status_4xx;
        a.body += b.body;
        a.other += b.other;
    }
}

/// Percentiles of one histogram, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest value, µs.
    pub max_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
}

impl Percentiles {
    /// Percentiles of a nanosecond histogram; `None` when it is empty.
    pub fn of(hist: &Histogram<u64>) -> Option<Percentiles> {
        if hist.is_empty() {
            return None;
        }
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
        Some(Percentiles {
            count: hist.len(),
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: hist.max() as f64 / 1e3,
            mean_us: hist.mean() / 1e3,
        })
    }
}

fn new_histogram() -> Result<Histogram<u64>, RecordError> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG)
        .map_err(RecordError::Histogram)
}

/// Results of one (function, node) key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyResult {
    /// Function name.
    pub function: String,
    /// Node that answered (or the node hint when no response named one).
    pub node: String,
    /// Measured counters.
    pub counters: Counters,
    /// Percentiles of end − intended, µs.
    pub corrected: Option<Percentiles>,
    /// Percentiles of end − sent, µs.
    pub uncorrected: Option<Percentiles>,
    #[serde(skip)]
    corrected_hist: Histogram<u64>,
    #[serde(skip)]
    uncorrected_hist: Histogram<u64>,
}

impl KeyResult {
    /// Raw histogram of end − intended, nanoseconds.
    pub fn corrected_histogram(&self) -> &Histogram<u64> {
        &self.corrected_hist
    }

    /// Raw histogram of end − sent, nanoseconds.
    pub fn uncorrected_histogram(&self) -> &Histogram<u64> {
        &self.uncorrected_hist
    }
}

/// The outcome of one warm run.
#[derive(Debug, Clone, Serialize)]
pub struct WarmResult {
    /// Open or closed loop.
    pub mode: WarmMode,
    /// Function the run invoked.
    pub function: String,
    /// Unix time of the run start `Instant`, ns; sample timestamps are relative to it.
    pub t0_unix_ns: u64,
    /// Warm-up length, ns; samples sent (closed) or intended (open) before it are warm-up.
    pub warmup_ns: u64,
    /// Measured wall time, ns: from the end of warm-up to the later of the planned end and the
    /// last measured response.
    pub measured_wall_ns: u64,
    /// Target rate, requests per second (open loop only).
    pub target_rps: Option<f64>,
    /// Measured requests / measured wall time, requests per second.
    pub achieved_rps: f64,
    /// Connections (one per worker).
    pub connections: u32,
    /// Lateness above which a send counts in `late_sends`, ns.
    pub late_threshold_ns: u64,
    /// Warm-up counters (warm-up samples are otherwise ignored).
    pub warmup: Counters,
    /// Measured counters over all keys.
    pub total: Counters,
    /// Corrected percentiles over all keys, µs.
    pub corrected: Option<Percentiles>,
    /// Uncorrected percentiles over all keys, µs.
    pub uncorrected: Option<Percentiles>,
    /// Per (function, node) results, sorted by function then node.
    pub keys: Vec<KeyResult>,
}

/// How a run was shaped, for [`Recorder::finish`].
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    /// Open or closed loop.
    pub mode: WarmMode,
    /// Target rate, requests per second (open loop).
    pub target_rps: Option<f64>,
    /// Connections.
    pub connections: u32,
    /// Unix time of the run start, ns.
    pub t0_unix_ns: u64,
    /// Start of the measured window, ns since run start (the warm-up length).
    pub measure_start_ns: u64,
    /// Planned end of the measured window, ns since run start.
    pub measure_end_ns: u64,
}

/// Folds samples into per-key histograms and counters.
#[derive(Debug)]
pub struct Recorder {
    function: String,
    node_hint: String,
    late_threshold_ns: u64,
    warmup: Counters,
    /// Few keys (functions × nodes) per run, so a linear search beats hashing a key per sample.
    keys: Vec<KeyResult>,
    last_end_ns: u64,
}

impl Recorder {
    /// A recorder for `function`; samples without an `X-Faasbed-Node` go under `node_hint`.
    /// Sends later than `late_threshold_ns` count as late.
    pub fn new(function: &str, node_hint: &str, late_threshold_ns: u64) -> Recorder {
        Recorder {
            function: function.to_owned(),
            node_hint: node_hint.to_owned(),
            late_threshold_ns,
            warmup: Counters::default(),
            keys: Vec::new(),
            last_end_ns: 0,
        }
    }

    /// Count one sample; measured successes also enter the histograms.
    pub fn observe(&mut self, sample: &Sample) -> Result<(), RecordError> {
        if sample.phase == Phase::Warmup {
            self.warmup.add(sample, self.late_threshold_ns);
            return Ok(());
        }
        self.last_end_ns = self.last_end_ns.max(sample.end_ns);
        let node = sample
            .node
            .as_deref()
            .or(sample.routed_node.as_deref())
            .unwrap_or(&self.node_hint);
        let found = self
            .keys
            .iter()
            .position(|k| k.node == node && k.function == sample.function);
        let index = match found {
            Some(index) => index,
            None => {
                self.keys.push(KeyResult {
                    function: sample.function.clone(),
                    node: node.to_owned(),
                    counters: Counters::default(),
                    corrected: None,
                    uncorrected: None,
                    corrected_hist: new_histogram()?,
                    uncorrected_hist: new_histogram()?,
                });
                self.keys.len() - 1
            }
        };
        let entry = &mut self.keys[index];
        entry.counters.add(sample, self.late_threshold_ns);
        if sample.error.is_none() {
            entry
                .corrected_hist
                .saturating_record(sample.corrected_ns().max(1));
            entry
                .uncorrected_hist
                .saturating_record(sample.uncorrected_ns().max(1));
        }
        Ok(())
    }

    /// The result: percentiles extracted, counters summed, achieved rate computed.
    pub fn finish(self, shape: RunShape) -> Result<WarmResult, RecordError> {
        let mut total = Counters::default();
        let mut corrected = new_histogram()?;
        let mut uncorrected = new_histogram()?;
        let mut keys = Vec::with_capacity(self.keys.len());
        let mut sorted = self.keys;
        sorted.sort_by(|a, b| (&a.function, &a.node).cmp(&(&b.function, &b.node)));
        for mut key in sorted {
            total.merge(&key.counters);
            let merge = |source: hdrhistogram::AdditionError| RecordError::Merge {
                function: key.function.clone(),
                source,
            };
            corrected.add(&key.corrected_hist).map_err(merge)?;
            uncorrected.add(&key.uncorrected_hist).map_err(merge)?;
            key.corrected = Percentiles::of(&key.corrected_hist);
            key.uncorrected = Percentiles::of(&key.uncorrected_hist);
            keys.push(key);
        }
        let end_ns = shape.measure_end_ns.max(self.last_end_ns);
        let measured_wall_ns = end_ns.saturating_sub(shape.measure_start_ns);
        let achieved_rps = if measured_wall_ns == 0 {
            0.0
        } else {
            total.requests as f64 / (measured_wall_ns as f64 / 1e9)
        };
        Ok(WarmResult {
            mode: shape.mode,
            function: self.function,
            t0_unix_ns: shape.t0_unix_ns,
            warmup_ns: shape.measure_start_ns,
            measured_wall_ns,
            target_rps: shape.target_rps,
            achieved_rps,
            connections: shape.connections,
            late_threshold_ns: self.late_threshold_ns,
            warmup: self.warmup,
            total,
            corrected: Percentiles::of(&corrected),
            uncorrected: Percentiles::of(&uncorrected),
            keys,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(
        phase: Phase,
        intended: u64,
        late: u64,
        took: u64,
        error: Option<ErrorKind>,
    ) -> Sample {
        Sample {
            phase,
            function: "f".into(),
            node: Some("n1".into()),
            instance: Some("i1".into()),
            routed_node: None,
            hops: None,
            intended_ns: intended,
            sent_ns: intended + late,
            first_byte_ns: Some(intended + late + took / 2),
            end_ns: intended + late + took,
            status: Some(200),
            bytes: 2,
            error,
            started_unix_ns: None,
        }
    }

    fn shape() -> RunShape {
        RunShape {
            mode: WarmMode::Open,
            target_rps: Some(10.0),
            connections: 1,
            t0_unix_ns: 0,
            measure_start_ns: 0,
            measure_end_ns: 1_000_000_000,
        }
    }

    #[test]
    fn error_kinds_serialize_as_documented() {
        let names: Vec<String> = [
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::Status5xx,
            ErrorKind::Status4xx,
            ErrorKind::Body,
            ErrorKind::Other,
        ]
        .iter()
        .map(|k| serde_json::to_string(k).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"connect\"",
                "\"timeout\"",
                "\"status_5xx\"",
                "\"status_4xx\"",
                "\"body\"",
                "\"other\""
            ]
        );
    }

    #[test]
    fn sample_round_trips_as_one_json_line() {
        let s = sample(Phase::Warmup, 5, 1, 10, Some(ErrorKind::Status5xx));
        let line = serde_json::to_string(&s).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains("\"phase\":\"warmup\""));
        assert_eq!(serde_json::from_str::<Sample>(&line).unwrap(), s);
    }

    #[test]
    fn warmup_and_errors_stay_out_of_histograms() {
        let mut r = Recorder::new("f", "hint", DEFAULT_LATE_THRESHOLD_NS);
        r.observe(&sample(Phase::Warmup, 0, 0, 100, None)).unwrap();
        r.observe(&sample(Phase::Measure, 0, 2_000_000, 100, None))
            .unwrap();
        r.observe(&sample(Phase::Measure, 0, 0, 100, Some(ErrorKind::Timeout)))
            .unwrap();
        let mut no_node = sample(Phase::Measure, 0, 0, 100, Some(ErrorKind::Connect));
        no_node.node = None;
        r.observe(&no_node).unwrap();
        let res = r.finish(shape()).unwrap();
        assert_eq!(res.warmup.requests, 1);
        assert_eq!(res.total.requests, 3);
        assert_eq!(res.total.ok, 1);
        assert_eq!(res.total.late_sends, 1);
        assert_eq!(res.total.errors.timeout, 1);
        assert_eq!(res.total.errors.connect, 1);
        assert_eq!(res.corrected.unwrap().count, 1);
        let nodes: Vec<&str> = res.keys.iter().map(|k| k.node.as_str()).collect();
        assert_eq!(nodes, ["hint", "n1"]);
        assert_eq!(res.keys[1].corrected_histogram().len(), 1);
    }

    proptest! {
        #[test]
        fn corrected_dominates_uncorrected(
            xs in proptest::collection::vec((0u64..1_000_000_000, 0u64..50_000_000, 1u64..5_000_000_000), 1..200)
        ) {
            let mut r = Recorder::new("f", "hint", DEFAULT_LATE_THRESHOLD_NS);
            for (i, l, t) in &xs {
                r.observe(&sample(Phase::Measure, *i, *l, *t, None)).unwrap();
            }
            let res = r.finish(shape()).unwrap();
            let (c, u) = (res.corrected.unwrap(), res.uncorrected.unwrap());
            prop_assert_eq!(c.count, xs.len() as u64);
            prop_assert!(c.p50_us >= u.p50_us && c.p90_us >= u.p90_us && c.p99_us >= u.p99_us);
            prop_assert!(c.p999_us >= u.p999_us && c.max_us >= u.max_us);
            let late = xs.iter().filter(|(_, l, _)| *l > DEFAULT_LATE_THRESHOLD_NS).count() as u64;
            prop_assert_eq!(res.total.late_sends, late);
        }
    }
}
