//! User-space link emulation on the gateway → replica path: one-way delay, bandwidth, loss.
//!
//! This kernel has no netem, so the gateway holds each message for its one-way delay plus its
//! serialisation time at the link's bandwidth. A lost message costs one TCP retransmission
//! timeout, max(200 ms, 2 × RTT) (Linux `TCP_RTO_MIN` is 200 ms); that models what a lossy path
//! does to a request's latency without breaking the connection.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::spec::{Link, Node, Scenario};

/// The shape of the path between the gateway's site and one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shape {
    /// One-way delay (half the link's RTT).
    #[serde(serialize_with = "ser_ms")]
    pub one_way: Duration,
    /// Bandwidth in bits per second: the lower of the link's and the node's NIC.
    pub bits_per_sec: Option<f64>,
    /// Probability that one message is lost (0..1).
    pub loss: f64,
    /// Retransmission penalty for a lost message.
    #[serde(serialize_with = "ser_ms")]
    pub rto: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl Shape {
    /// The path from `scenario.platform.gateway_site` to `node`.
    pub fn for_node(scenario: &Scenario, node: &Node) -> Shape {
        let link: Option<&Link> = scenario.link(&scenario.platform.gateway_site, &node.site);
        let nic = node.profile.nic_mbit * 1e6;
        let (rtt_ms, bw, loss) = match link {
            Some(l) => (
                l.rtt_ms,
                l.bandwidth_mbit.map(|b| b * 1e6),
                l.loss_pct / 100.0,
            ),
            None => (0.0, None, 0.0),
        };
        let bits = Some(bw.map_or(nic, |b| b.min(nic)));
        let rtt = Duration::from_secs_f64(rtt_ms / 1e3);
        Shape {
            one_way: rtt / 2,
            bits_per_sec: bits,
            loss,
            rto: (rtt * 2).max(Duration::from_millis(200)),
        }
    }

    /// Is there anything to emulate at all?
    pub fn is_transparent(&self) -> bool {
        self.one_way.is_zero() && self.loss == 0.0 && self.bits_per_sec.is_none()
    }

    /// How long to hold a message of `bytes` bytes: delay + serialisation (+ RTO if lost).
    pub fn hold(&self, bytes: usize, rng: &mut impl Rng) -> Duration {
        let mut d = self.one_way;
        if let Some(bps) = self.bits_per_sec {
            d += Duration::from_secs_f64(bytes as f64 * 8.0 / bps);
        }
        if self.loss > 0.0 && rng.gen_bool(self.loss.min(1.0)) {
            d += self.rto;
        }
        d
    }
}

/// Below this, a hold is spun rather than slept: the tokio timer fires on 1 ms ticks.
const SPIN: Duration = Duration::from_micros(1100);

/// Wait `d` with sub-millisecond precision: sleep until [`SPIN`] before the deadline, then
/// yield until it. A plain `tokio::time::sleep` of a few microseconds would cost a whole
/// millisecond tick and add phantom delay to every emulated message.
pub async fn hold_for(d: Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = std::time::Instant::now() + d;
    if d > SPIN {
        tokio::time::sleep_until((deadline - SPIN).into()).await;
    }
    while std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn shape(rtt_ms: f64, mbit: Option<f64>, loss: f64) -> Shape {
        let rtt = Duration::from_secs_f64(rtt_ms / 1e3);
        Shape {
            one_way: rtt / 2,
            bits_per_sec: mbit.map(|m| m * 1e6),
            loss,
            rto: (rtt * 2).max(Duration::from_millis(200)),
        }
    }

    #[test]
    fn delay_plus_serialisation() {
        let s = shape(20.0, Some(8.0), 0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        // 1000 bytes at 8 Mbit/s = 1 ms, plus 10 ms one way
        assert_eq!(s.hold(1000, &mut rng), Duration::from_millis(11));
    }

    #[test]
    fn loss_adds_rto_at_the_configured_rate() {
        let s = shape(10.0, None, 0.25);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 10_000;
        let lost = (0..n)
            .filter(|_| s.hold(0, &mut rng) > Duration::from_millis(100))
            .count();
        let rate = lost as f64 / n as f64;
        assert!((0.22..0.28).contains(&rate), "{rate}");
    }

    #[tokio::test]
    async fn hold_waits_at_least_the_requested_time() {
        for us in [0u64, 3, 250, 1500] {
            let d = Duration::from_micros(us);
            let t = std::time::Instant::now();
            hold_for(d).await;
            assert!(t.elapsed() >= d, "{us} µs");
        }
    }

    #[test]
    fn zero_link_is_transparent() {
        assert!(shape(0.0, None, 0.0).is_transparent());
        assert!(!shape(1.0, None, 0.0).is_transparent());
    }
}
