//! A trace replay's plan: which trace functions drive each scenario function, and the planned
//! arrival offsets from the replay start, seeded and time-scaled.
//!
//! Azure 2019 counts invocations per minute; inside a minute the `n` arrivals are placed by
//! [`Spread`]: `poisson` draws `n` independent uniform times in the minute and sorts them (a
//! Poisson process conditioned on exactly `n` arrivals, so the per-minute counts are kept
//! exactly and the gaps are exponential, as InVitro's default `exponential` inter-arrival
//! distribution and FaaSRail's Poisson spreading do); `equidistant` spaces them evenly. Azure
//! 2021 arrivals are replayed at their own times. Every offset is `(t - start) / compress`.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{Arrivals, Trace, TraceFunction};
use crate::measure::schedule::stream_seed;
use crate::spec::{Mapping, Spread, TraceSpec};

/// The most planned arrivals of one function (each is a stored sample).
pub const MAX_ARRIVALS: usize = 10_000_000;

/// Errors from planning a replay.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplayError {
    /// An explicit mapping names a trace function the trace does not have.
    #[error("experiment.trace.map: function {function} = {id:?}: the trace has no function {id:?}; the most invoked in the window are: {top}")]
    UnknownTraceFunction {
        /// Scenario function.
        function: String,
        /// The missing id.
        id: String,
        /// Ids the trace does have, for the message.
        top: String,
    },
    /// The window holds no invocation.
    #[error("the trace has no invocation in the window {start_s} s + {window_s} s; move experiment.trace.start or widen experiment.trace.window")]
    EmptyWindow {
        /// Window start, trace seconds.
        start_s: f64,
        /// Window length, trace seconds.
        window_s: f64,
    },
    /// Too many arrivals for one function.
    #[error("function {function}: {count} planned arrivals, above the limit of {MAX_ARRIVALS}; shorten experiment.trace.window")]
    TooMany {
        /// Scenario function.
        function: String,
        /// Planned arrivals.
        count: usize,
    },
}

/// The replay plan of one scenario function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// Scenario function.
    pub function: String,
    /// Trace functions whose arrivals it replays.
    pub trace_functions: Vec<String>,
    /// Planned arrival offsets from the replay start, sorted.
    #[serde(skip)]
    pub offsets: Vec<Duration>,
}

/// Arrival times of one trace function inside `[start_s, start_s + window_s)`, trace seconds
/// from the window start, sorted.
pub fn arrivals(
    f: &TraceFunction,
    start_s: f64,
    window_s: f64,
    spread: Spread,
    seed: u64,
) -> Vec<f64> {
    let end_s = start_s + window_s;
    match &f.arrivals {
        Arrivals::At(ts) => ts
            .iter()
            .filter(|t| **t >= start_s && **t < end_s)
            .map(|t| t - start_s)
            .collect(),
        Arrivals::PerMinute(counts) => {
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, &format!("trace/{}", f.id)));
            let mut out = Vec::new();
            for (m, n) in counts.iter().enumerate() {
                let m0 = m as f64 * 60.0;
                if m0 < start_s || m0 >= end_s || *n == 0 {
                    continue;
                }
                let base = m0 - start_s;
                let mut minute: Vec<f64> = match spread {
                    Spread::Poisson => (0..*n).map(|_| base + rng.gen::<f64>() * 60.0).collect(),
                    Spread::Equidistant => (0..*n)
                        .map(|i| base + (f64::from(i) + 0.5) * 60.0 / f64::from(*n))
                        .collect(),
                };
                minute.sort_by(f64::total_cmp);
                out.extend(minute);
            }
            out
        }
    }
}

/// Plan the replay of `trace` onto `functions` (scenario order) by `spec`.
pub fn plan(
    trace: &Trace,
    spec: &TraceSpec,
    functions: &[String],
) -> Result<Vec<Planned>, ReplayError> {
    let start_s = spec.start.as_secs_f64();
    let window_s = spec.window.as_secs_f64();
    let counted: Vec<(usize, u64)> = trace
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| (i, f.arrivals.count_in(start_s, start_s + window_s)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if counted.is_empty() {
        return Err(ReplayError::EmptyWindow { start_s, window_s });
    }
    let mut ranked = counted.clone();
    // Most invoked first; ties in file order (the sort is stable).
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut sources: Vec<Vec<usize>> = vec![Vec::new(); functions.len()];
    match &spec.mapping {
        Mapping::Top => {
            for (slot, (i, _)) in sources.iter_mut().zip(&ranked) {
                slot.push(*i);
            }
        }
        Mapping::Same => {
            for slot in &mut sources {
                slot.push(ranked[0].0);
            }
        }
        Mapping::RoundRobin => {
            for (j, (i, _)) in counted.iter().enumerate() {
                if let Some(slot) = sources.get_mut(j % functions.len().max(1)) {
                    slot.push(*i);
                }
            }
        }
        Mapping::Explicit(map) => {
            for (slot, name) in sources.iter_mut().zip(functions) {
                let Some(id) = map.get(name) else { continue };
                let Some(i) = trace.functions.iter().position(|f| f.id == *id) else {
                    let top: Vec<&str> = ranked
                        .iter()
                        .take(5)
                        .map(|(i, _)| trace.functions[*i].id.as_str())
                        .collect();
                    return Err(ReplayError::UnknownTraceFunction {
                        function: name.clone(),
                        id: id.clone(),
                        top: top.join(", "),
                    });
                };
                slot.push(i);
            }
        }
    }
    functions
        .iter()
        .zip(sources)
        .map(|(name, src)| {
            let mut times: Vec<f64> = src
                .iter()
                .flat_map(|i| {
                    arrivals(
                        &trace.functions[*i],
                        start_s,
                        window_s,
                        spec.spread,
                        spec.seed,
                    )
                })
                .collect();
            if times.len() > MAX_ARRIVALS {
                return Err(ReplayError::TooMany {
                    function: name.clone(),
                    count: times.len(),
                });
            }
            times.sort_by(f64::total_cmp);
            Ok(Planned {
                function: name.clone(),
                trace_functions: src.iter().map(|i| trace.functions[*i].id.clone()).collect(),
                offsets: times
                    .into_iter()
                    .map(|t| Duration::from_secs_f64(t / spec.compress))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::*;
    use crate::spec::{TraceFiles, TraceFormat};

    fn spec(mapping: Mapping, start_min: u64, minutes: u64, compress: f64, seed: u64) -> TraceSpec {
        TraceSpec {
            files: TraceFiles {
                format: TraceFormat::Azure2019,
                invocations: PathBuf::from("t.csv"),
                durations: None,
                memory: None,
            },
            start: Duration::from_secs(start_min * 60),
            window: Duration::from_secs(minutes * 60),
            compress,
            seed,
            spread: Spread::Poisson,
            mapping,
            keep_alive: None,
            keep_alive_for: BTreeMap::new(),
            connections: 4,
        }
    }

    fn trace2019(rows: &[(&str, Vec<u32>)]) -> Trace {
        let minutes = rows[0].1.len();
        let mut text = String::from("HashOwner,HashApp,HashFunction,Trigger");
        for m in 1..=minutes {
            text.push_str(&format!(",{m}"));
        }
        text.push('\n');
        for (id, counts) in rows {
            let c: Vec<String> = counts.iter().map(u32::to_string).collect();
            text.push_str(&format!("o,a,{id},http,{}\n", c.join(",")));
        }
        super::super::azure2019::parse_invocations(&text, Path::new("t.csv")).unwrap()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("fn{i}")).collect()
    }

    proptest! {
        /// Each minute's count is kept exactly, inside that minute, for any seed and scale.
        #[test]
        fn counts_per_minute_are_preserved(counts in prop::collection::vec(0u32..40, 1..8), seed: u64, compress in 1.0f64..120.0) {
            let t = trace2019(&[("f", counts.clone())]);
            let p = plan(&t, &spec(Mapping::Top, 0, counts.len() as u64, compress, seed), &names(1));
            if counts.iter().all(|c| *c == 0) {
                prop_assert!(p.is_err());
                return Ok(());
            }
            let p = p.unwrap();
            let minute = 60.0 / compress;
            for (m, n) in counts.iter().enumerate() {
                let inside = p[0].offsets.iter().filter(|o| {
                    let s = o.as_secs_f64();
                    s >= m as f64 * minute && s < (m + 1) as f64 * minute
                }).count();
                prop_assert_eq!(inside, *n as usize, "minute {}", m + 1);
            }
            prop_assert!(p[0].offsets.windows(2).all(|w| w[0] <= w[1]));
        }

        /// The same seed gives the same arrivals; compressing by k divides every offset by k.
        #[test]
        fn deterministic_and_scaled(counts in prop::collection::vec(1u32..30, 1..5), seed: u64, k in 1.5f64..50.0) {
            let t = trace2019(&[("f", counts.clone())]);
            let n = counts.len() as u64;
            let a = plan(&t, &spec(Mapping::Top, 0, n, 1.0, seed), &names(1)).unwrap();
            let b = plan(&t, &spec(Mapping::Top, 0, n, 1.0, seed), &names(1)).unwrap();
            prop_assert_eq!(&a, &b);
            let c = plan(&t, &spec(Mapping::Top, 0, n, k, seed), &names(1)).unwrap();
            for (x, y) in a[0].offsets.iter().zip(&c[0].offsets) {
                prop_assert!((x.as_secs_f64() / k - y.as_secs_f64()).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn another_seed_moves_arrivals_but_not_counts() {
        let t = trace2019(&[("f", vec![20, 20])]);
        let a = plan(&t, &spec(Mapping::Top, 0, 2, 1.0, 1), &names(1)).unwrap();
        let b = plan(&t, &spec(Mapping::Top, 0, 2, 1.0, 2), &names(1)).unwrap();
        assert_eq!(a[0].offsets.len(), b[0].offsets.len());
        assert_ne!(a[0].offsets, b[0].offsets);
    }

    #[test]
    fn equidistant_spacing_and_window_start() {
        let t = trace2019(&[("f", vec![9, 4, 2])]);
        let mut s = spec(Mapping::Top, 1, 2, 2.0, 0);
        s.spread = Spread::Equidistant;
        let p = plan(&t, &s, &names(1)).unwrap();
        let got: Vec<f64> = p[0].offsets.iter().map(Duration::as_secs_f64).collect();
        // Minute 2 (4 calls at 7.5, 22.5, 37.5, 52.5 s) and minute 3 (2 calls at 75, 105 s), halved.
        assert_eq!(got, vec![3.75, 11.25, 18.75, 26.25, 37.5, 52.5]);
    }

    #[test]
    fn mappings_assign_trace_functions() {
        let t = trace2019(&[
            ("a", vec![1]),
            ("b", vec![5]),
            ("c", vec![3]),
            ("z", vec![0]),
        ]);
        let top = plan(&t, &spec(Mapping::Top, 0, 1, 1.0, 0), &names(2)).unwrap();
        assert_eq!(top[0].trace_functions, ["b"]);
        assert_eq!(top[1].trace_functions, ["c"]);
        assert_eq!((top[0].offsets.len(), top[1].offsets.len()), (5, 3));
        let rr = plan(&t, &spec(Mapping::RoundRobin, 0, 1, 1.0, 0), &names(2)).unwrap();
        assert_eq!(rr[0].trace_functions, ["a", "c"]);
        assert_eq!(rr[1].trace_functions, ["b"]);
        assert_eq!(rr[0].offsets.len(), 4);
        let same = plan(&t, &spec(Mapping::Same, 0, 1, 1.0, 0), &names(3)).unwrap();
        assert!(same
            .iter()
            .all(|p| p.offsets == same[0].offsets && p.offsets.len() == 5));
        let map = BTreeMap::from([("fn1".to_string(), "a".to_string())]);
        let ex = plan(&t, &spec(Mapping::Explicit(map), 0, 1, 1.0, 0), &names(2)).unwrap();
        assert!(ex[0].offsets.is_empty());
        assert_eq!(ex[1].trace_functions, ["a"]);
        let bad = BTreeMap::from([("fn0".to_string(), "nope".to_string())]);
        let e = plan(&t, &spec(Mapping::Explicit(bad), 0, 1, 1.0, 0), &names(1)).unwrap_err();
        assert!(e.to_string().contains(
            "the trace has no function \"nope\"; the most invoked in the window are: b, c, a"
        ));
    }

    #[test]
    fn azure2021_arrivals_replay_at_their_times() {
        let t = super::super::azure2021::parse(
            "app,func,end_timestamp,duration\na,f,2.5,0.5\na,f,30,1\na,f,100,0\n",
            Path::new("t.csv"),
        )
        .unwrap();
        let mut s = spec(Mapping::Top, 0, 1, 4.0, 0);
        s.start = Duration::from_secs(1);
        s.window = Duration::from_secs(60);
        let p = plan(&t, &s, &names(1)).unwrap();
        let got: Vec<f64> = p[0].offsets.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(got, vec![0.25, 7.0]);
    }
}
