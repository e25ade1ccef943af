//! The rows of the run's one model ([`crate::report::ReportData::results`]): per function ×
//! node, warm latency and verified cold starts. summary.json, summary.csv, exports, thresholds
//! and every report print these rows; nothing here depends on how they are shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats;

/// The node of failures whose response named none.
pub const UNKNOWN_NODE: &str = "unknown";

/// Results of one function on one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Function.
    pub function: String,
    /// Node (`unknown` for failures that named none).
    pub node: String,
    /// Node class.
    pub class: String,
    /// Node arch.
    pub arch: String,
    /// Measured under emulation.
    pub emulated: bool,
    /// The function's runtime when it is not the default Go (`"python"`); absent for Go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Warm latency, when measured.
    pub warm: Option<WarmSummary>,
    /// Cold starts, when measured.
    pub cold: Option<ColdSummary>,
}

/// Latency percentiles in microseconds, of successful requests (see
/// [`crate::stats::PERCENTILE_DEFINITION`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PercentilesUs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Warm results of one function × node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmSummary {
    /// Measured requests (warm-up excluded).
    pub requests: u64,
    /// Successful (2xx) requests.
    pub ok: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Sends later than 1 ms against their schedule.
    pub late_sends: u64,
    /// Target rate, requests per second (open loop).
    pub target_rps: Option<f64>,
    /// Measured requests per second over the measured window.
    pub achieved_rps: f64,
    /// From the intended send time (coordinated-omission corrected), µs.
    pub corrected_us: Option<PercentilesUs>,
    /// From the actual send time, µs.
    pub uncorrected_us: Option<PercentilesUs>,
}

/// Cold-start results of one function × node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdSummary {
    /// Cold invocations attempted.
    pub total: u64,
    /// Verified cold starts (new instance, allowed node).
    pub verified: u64,
    /// Rejected samples by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Time to first byte of verified samples, ms.
    pub first_byte_ms: Option<stats::Summary>,
    /// Median of each phase over verified samples, ms.
    pub phases_median_ms: BTreeMap<String, f64>,
}

impl PercentilesUs {
    /// The percentiles of latencies in ms, converted to µs: the summary of
    /// [`stats::Summary::from_samples`], which every report prints; `None` for no sample.
    pub fn from_ms(latencies_ms: &[f64]) -> Option<PercentilesUs> {
        let s = stats::Summary::from_samples(latencies_ms).ok()?;
        let us = |ms: f64| ms * 1e3;
        Some(PercentilesUs {
            p50: us(s.p50),
            p90: us(s.p90),
            p99: us(s.p99),
            p999: us(s.p999),
            max: us(s.max),
            mean: us(s.mean),
        })
    }
}
