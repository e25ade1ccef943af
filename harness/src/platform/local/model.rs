//! The gateway's cold-start model (`[platform.gateway] model`): how a new replica is found
//! ready and how the gateway learns of it.
//!
//! `none` probes a starting replica every [`super::registry::HEALTH_POLL`] and uses it at the
//! first pass. `openfaas-ce` runs the OpenFaaS CE mechanism for real:
//! - a readiness probe on `/_/health` with the initial delay, period and timeout the pinned
//!   chart gives function pods (faas-netes `chart/openfaas/values.yaml`,
//!   `faasnetes.readinessProbe`: `initialDelaySeconds: 2`, `periodSeconds: 2`,
//!   `timeoutSeconds: 1`; read at faas-netes commit 0033b97, the same values as the pinned
//!   chart line `crate::pins::OPENFAAS_CHART`);
//! - the gateway's scale-from-zero loop (openfaas/faas `gateway/main.go`, `scalingConfig`:
//!   `FunctionPollInterval: 100ms`, `CacheExpiry: 250ms`, `MaxPollCount: 1000`; the loop is
//!   `gateway/scaling/function_scaler.go`): look the replica count up in a cache that is fresh
//!   for 250 ms, else ask the provider; at zero available replicas, set 1 and poll the provider
//!   every 100 ms until one is available (ready), caching each answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::spec::GatewayModel;

/// faas-netes chart `faasnetes.readinessProbe.initialDelaySeconds`.
pub const CE_PROBE_INITIAL_DELAY: Duration = Duration::from_secs(2);
/// faas-netes chart `faasnetes.readinessProbe.periodSeconds`.
pub const CE_PROBE_PERIOD: Duration = Duration::from_secs(2);
/// faas-netes chart `faasnetes.readinessProbe.timeoutSeconds`.
pub const CE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// OpenFaaS gateway `scalingConfig.FunctionPollInterval`.
pub const CE_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// OpenFaaS gateway `scalingConfig.CacheExpiry` (freshness of a cached replica count).
pub const CE_CACHE_EXPIRY: Duration = Duration::from_millis(250);
/// OpenFaaS gateway `scalingConfig.MaxPollCount`.
pub const CE_MAX_POLL_COUNT: u32 = 1000;

/// When a starting replica's health is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSchedule {
    /// Wait before the first probe, from the replica's start.
    pub initial_delay: Duration,
    /// Between probes.
    pub period: Duration,
    /// One probe's deadline.
    pub timeout: Duration,
}

impl ProbeSchedule {
    /// The schedule of `model`.
    pub fn of(model: GatewayModel) -> ProbeSchedule {
        match model {
            GatewayModel::None => ProbeSchedule {
                initial_delay: Duration::ZERO,
                period: super::registry::HEALTH_POLL,
                timeout: Duration::from_secs(2),
            },
            GatewayModel::OpenfaasCe => ProbeSchedule {
                initial_delay: CE_PROBE_INITIAL_DELAY,
                period: CE_PROBE_PERIOD,
                timeout: CE_PROBE_TIMEOUT,
            },
        }
    }
}

/// The gateway's replica-count cache: one entry per function, fresh for `expiry`.
#[derive(Debug)]
pub struct ReplicaCache {
    expiry: Duration,
    entries: Mutex<HashMap<String, (Instant, usize)>>,
}

impl ReplicaCache {
    /// An empty cache whose entries are fresh for `expiry`.
    pub fn new(expiry: Duration) -> ReplicaCache {
        ReplicaCache {
            expiry,
            entries: Mutex::default(),
        }
    }
    /// The available replicas of `function` cached at most `expiry` before `now`.
    pub fn get(&self, function: &str, now: Instant) -> Option<usize> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.get(function)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.expiry)
            .map(|(_, n)| *n)
    }
    /// Remember that `function` had `available` replicas at `now`.
    pub fn set(&self, function: &str, available: usize, now: Instant) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.insert(function.to_string(), (now, available));
    }
}

/// What one poll of the provider found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// This many replicas are available (ready).
    Available(usize),
    /// The replica being started is gone or failed: stop polling.
    Failed,
}

/// How a scale-from-zero wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// A replica became available; the poll that saw it ran at this instant.
    Noticed(Instant),
    /// The starting replica failed.
    Failed,
    /// No replica within `CE_MAX_POLL_COUNT` polls or the deadline.
    TimedOut,
}

/// The CE gateway's wait for a function it just scaled up: poll, cache the answer, and sleep
/// `interval` between polls, at most `max_polls` times or until `deadline`.
pub async fn poll_until_available(
    cache: &ReplicaCache,
    function: &str,
    mut poll: impl FnMut() -> Poll,
    interval: Duration,
    max_polls: u32,
    deadline: Instant,
) -> Waited {
    for _ in 0..max_polls {
        let now = Instant::now();
        match poll() {
            Poll::Failed => return Waited::Failed,
            Poll::Available(n) => {
                cache.set(function, n, now);
                if n > 0 {
                    return Waited::Noticed(now);
                }
            }
        }
        if now + interval > deadline {
            return Waited::TimedOut;
        }
        tokio::time::sleep(interval).await;
    }
    Waited::TimedOut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_entries_go_stale_after_the_expiry() {
        let c = ReplicaCache::new(CE_CACHE_EXPIRY);
        let t0 = Instant::now();
        assert_eq!(c.get("f", t0), None);
        c.set("f", 1, t0);
        assert_eq!(c.get("f", t0 + Duration::from_millis(249)), Some(1));
        assert_eq!(c.get("f", t0 + Duration::from_millis(250)), None);
        assert_eq!(c.get("g", t0), None);
    }

    #[test]
    fn schedules_follow_the_model() {
        let ce = ProbeSchedule::of(GatewayModel::OpenfaasCe);
        assert_eq!(ce.initial_delay, Duration::from_secs(2));
        assert_eq!(ce.period, Duration::from_secs(2));
        let none = ProbeSchedule::of(GatewayModel::None);
        assert_eq!(none.initial_delay, Duration::ZERO);
        assert!(none.period < ce.period);
    }

    #[tokio::test]
    async fn polling_stops_at_the_first_available_replica_and_caches_each_answer() {
        let c = ReplicaCache::new(CE_CACHE_EXPIRY);
        let mut answers =
            vec![Poll::Available(0), Poll::Available(0), Poll::Available(1)].into_iter();
        let mut polls = 0;
        let start = Instant::now();
        let w = poll_until_available(
            &c,
            "f",
            || {
                polls += 1;
                answers.next().unwrap_or(Poll::Failed)
            },
            CE_POLL_INTERVAL,
            CE_MAX_POLL_COUNT,
            start + Duration::from_secs(60),
        )
        .await;
        assert!(matches!(w, Waited::Noticed(_)), "{w:?}");
        assert_eq!(polls, 3);
        let Waited::Noticed(at) = w else { return };
        assert_eq!(c.get("f", at), Some(1));
        let failed = poll_until_available(
            &c,
            "f",
            || Poll::Failed,
            CE_POLL_INTERVAL,
            CE_MAX_POLL_COUNT,
            start + Duration::from_secs(60),
        )
        .await;
        assert_eq!(failed, Waited::Failed);
        let timed_out = poll_until_available(
            &c,
            "f",
            || Poll::Available(0),
            CE_POLL_INTERVAL,
            3,
            Instant::now() + Duration::from_secs(60),
        )
        .await;
        assert_eq!(timed_out, Waited::TimedOut);
    }
}
