//! `[experiment.trace]`, checked: which trace file is replayed, over which window, how fast,
//! onto which functions, and the keep-alive (idle scale-to-zero) policy during the replay.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// A trace file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// Azure Functions 2019: invocations per minute per function (+ durations, memory).
    Azure2019,
    /// Azure Functions 2021: one row per invocation (`app,func,end_timestamp,duration`).
    Azure2021,
}

impl TraceFormat {
    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Azure2019 => "azure2019",
            TraceFormat::Azure2021 => "azure2021",
        }
    }
}

/// How the invocations counted in one minute (2019) are placed inside that minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    /// `n` independent uniform draws in the minute, sorted: a Poisson process conditioned on
    /// exactly `n` arrivals (exponential gaps, as InVitro's default `exponential` IAT).
    Poisson,
    /// Evenly spaced, at `(i + 0.5) × 60 s / n` (InVitro's `equidistant`).
    Equidistant,
}

/// Which trace function drives which scenario function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// The i-th most invoked trace function (in the window) drives the i-th scenario function.
    Top,
    /// Every trace function with invocations in the window, in file order, goes to scenario
    /// function `j mod n`; their arrivals merge.
    RoundRobin,
    /// Every scenario function replays the same trace function: the most invoked one. Each class
    /// then sees identical arrivals.
    Same,
    /// Scenario function name → trace function id (`HashFunction`, or `app/func` for 2021).
    Explicit(BTreeMap<String, String>),
}

/// The files of one trace, resolved against the scenario file's folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceFiles {
    /// Format.
    pub format: TraceFormat,
    /// Invocations (2019 per-minute counts, or the 2021 per-invocation rows).
    pub invocations: PathBuf,
    /// 2019 duration percentiles (optional).
    pub durations: Option<PathBuf>,
    /// 2019 app memory percentiles (optional).
    pub memory: Option<PathBuf>,
}

/// `[experiment.trace]`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSpec {
    /// The trace files.
    pub files: TraceFiles,
    /// Where in the trace the window starts (trace time; 2019: whole minutes).
    #[serde(with = "super::humantime_serde_compat")]
    pub start: Duration,
    /// Trace time replayed, from `start`.
    #[serde(with = "super::humantime_serde_compat")]
    pub window: Duration,
    /// Time compression: trace seconds per replay second (1 = real time, 60 = a trace minute
    /// per second). The replay lasts `window / compress`.
    pub compress: f64,
    /// Seed of the within-minute spreading (default: the experiment seed).
    pub seed: u64,
    /// Within-minute placement (2019).
    pub spread: Spread,
    /// Trace functions → scenario functions.
    pub mapping: Mapping,
    /// Idle time (replay time) after which a function is scaled to zero; `None`: never.
    #[serde(with = "opt_duration")]
    pub keep_alive: Option<Duration>,
    /// Per-function keep-alive overriding `keep_alive` (replay time).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", with = "map_duration")]
    pub keep_alive_for: BTreeMap<String, Duration>,
    /// Connections per function (open loop: the most requests in flight at once).
    pub connections: u32,
}

impl TraceSpec {
    /// The keep-alive of `function`: its own, else the replay's; `None`: never scaled to zero.
    pub fn keep_alive_of(&self, function: &str) -> Option<Duration> {
        self.keep_alive_for
            .get(function)
            .copied()
            .or(self.keep_alive)
    }

    /// Replay length: `window / compress`.
    pub fn replay_duration(&self) -> Duration {
        Duration::from_secs_f64(self.window.as_secs_f64() / self.compress)
    }
}

mod map_duration {
    use std::collections::BTreeMap;
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(
        m: &BTreeMap<String, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(
            m.iter()
                .map(|(k, d)| (k, humantime::format_duration(*d).to_string())),
        )
    }
}

mod opt_duration {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}
