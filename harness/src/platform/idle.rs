//! Keep-alive on every platform: scale a function to zero once it has been idle for its
//! keep-alive, as faasd's and OpenFaaS Pro's idler (faas-idler) do. It watches the gateway's
//! per-function invocation count and desired replicas (the same `GET /system/functions` on the
//! local and the kube platforms) and scales through `POST /system/scale-function/{name}`; the
//! next call then scales the function up from zero, so cold starts follow the arrivals.
//!
//! Activity is what the gateway reports: the invocation count (counted by the local gateway as
//! each call is forwarded; on OpenFaaS CE it comes from Prometheus, so it lags by its scrape
//! interval) or the desired replicas changing (a scale from zero under way). The idle time is
//! measured from the poll that saw the last change, so a scale-down happens between
//! `keep_alive` and `keep_alive + tick` after the last call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::openfaas::client::Client;

/// One scale to zero by the idler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleDown {
    /// Function.
    pub function: String,
    /// When the idler scaled it to zero, unix ns.
    pub at_unix_ns: u64,
    /// How long it had been idle then, ms.
    pub idle_ms: f64,
    /// Why the scale call failed, if it did (the function then stays up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How often the idler polls: a tenth of the keep-alive, between 50 ms and 1 s.
pub fn tick(keep_alive: Duration) -> Duration {
    (keep_alive / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// What the idler knows of one function.
struct Seen {
    activity: (u64, u64),
    since: Instant,
}

/// Run the idler over `functions` (name → keep-alive) until `stop` turns true (or its sender
/// goes away); returns every scale to zero it made.
pub async fn run(
    client: Client,
    functions: BTreeMap<String, Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<ScaleDown> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut downs = Vec::new();
    let shortest = functions
        .values()
        .min()
        .copied()
        .unwrap_or(Duration::from_secs(1));
    let mut every = tokio::time::interval(tick(shortest));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            r = stop.wait_for(|s| *s) => if r.is_ok() { return downs } else { break },
        }
        // A failed poll is retried at the next tick; nothing is scaled on stale figures.
        let Ok(list) = client.list().await else {
            continue;
        };
        let now = Instant::now();
        for f in &list {
            let Some(keep_alive) = functions.get(&f.name).copied() else {
                continue;
            };
            let activity = (f.invocation_count, f.replicas);
            let s = seen.entry(f.name.clone()).or_insert(Seen {
                activity,
                since: now,
            });
            if s.activity != activity {
                *s = Seen {
                    activity,
                    since: now,
                };
                continue;
            }
            let idle = now - s.since;
            if f.replicas == 0 || idle < keep_alive {
                continue;
            }
            let error = client.scale(&f.name, 0).await.err().map(|e| e.to_string());
            downs.push(ScaleDown {
                function: f.name.clone(),
                at_unix_ns: crate::store::clock::now_ns(),
                idle_ms: idle.as_secs_f64() * 1e3,
                error,
            });
            // The next poll sees replicas 0 (or the failure again after another keep-alive).
            s.since = Instant::now();
            s.activity.1 = 0;
        }
    }
    // The stop sender is gone: nobody will stop the idler, so it stops now.
    downs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_a_tenth_of_the_keep_alive_within_bounds() {
        assert_eq!(tick(Duration::from_secs(5)), Duration::from_millis(500));
        assert_eq!(tick(Duration::from_millis(100)), Duration::from_millis(50));
        assert_eq!(tick(Duration::from_secs(600)), Duration::from_secs(1));
    }
}
