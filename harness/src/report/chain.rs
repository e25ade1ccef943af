//! Chains: functions that call others through the gateway and answer `X-Faasbed-Hops`.
//! Each measured, successful warm request of such a function splits its end-to-end time into
//! segments: the way in and out (client, gateway, link to the first hop), each hop's own time
//! (its total minus its downstream call) and each link between hops (a hop's call time minus the
//! next hop's total: the gateway and the emulated links both ways). The report gives the median
//! of each segment and its share: the segment's sum over all requests divided by the sum of
//! their end-to-end times, so the shares of one chain add up to 100 %.

use std::collections::BTreeMap;

use crate::stats;

/// One hop as `X-Faasbed-Hops` states it; times in ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Node that ran the hop.
    pub node: String,
    /// Its arch (contract spelling).
    pub arch: String,
    /// The hop's handler time, ns.
    pub total_ns: u64,
    /// The part of it spent waiting on the next hop, ns (0 for the last).
    pub call_ns: u64,
}

/// Parse `X-Faasbed-Hops`: `node/arch/total_ns/call_ns` per hop, comma-separated, outermost
/// first. The arch may hold a `/` (`arm/v7`): the last two fields are the times.
pub fn parse_hops(header: &str) -> Result<Vec<Hop>, String> {
    header
        .split(',')
        .map(|part| {
            let bad = || format!("hop {part:?} is not node/arch/total_ns/call_ns");
            let mut it = part.trim().rsplitn(3, '/');
            let call = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            let total = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            let (node, arch) = it.next().ok_or_else(bad)?.split_once('/').ok_or_else(bad)?;
            if node.is_empty() || call > total {
                return Err(bad());
            }
            Ok(Hop {
                node: node.into(),
                arch: arch.into(),
                total_ns: total,
                call_ns: call,
            })
        })
        .collect()
}

/// The segments of one request of `e2e_ns` (uncorrected, send to end): names and ns.
pub fn segments(e2e_ns: u64, hops: &[Hop]) -> Vec<(String, u64)> {
    let Some(first) = hops.first() else {
        return Vec::new();
    };
    let mut out = vec![(
        format!("client ⇄ gateway ⇄ {}", first.node),
        e2e_ns.saturating_sub(first.total_ns),
    )];
    for (i, h) in hops.iter().enumerate() {
        out.push((
            format!("hop {} on {} ({}) own", i + 1, h.node, h.arch),
            h.total_ns - h.call_ns,
        ));
        if let Some(next) = hops.get(i + 1) {
            out.push((
                format!("{} ⇄ gateway ⇄ {}", h.node, next.node),
                h.call_ns.saturating_sub(next.total_ns),
            ));
        }
    }
    out
}

/// One chain function's measured requests, reduced.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    /// The function called first.
    pub function: String,
    /// Its nodes in call order, ` → `-joined.
    pub route: String,
    /// Requests with hops.
    pub requests: usize,
    /// Median end-to-end latency (send to end), ms.
    pub e2e_p50_ms: f64,
    /// Per segment: name, median ms, share of the summed end-to-end time (0..1).
    pub segments: Vec<(String, f64, f64)>,
}

/// Collects requests per (function, route).
#[derive(Debug, Default)]
pub struct ChainAcc {
    /// (function, route) → end-to-end ns and segments of each request.
    by_route: BTreeMap<(String, String), Vec<(u64, Vec<(String, u64)>)>>,
    /// Headers that did not parse.
    pub malformed: usize,
}

impl ChainAcc {
    /// Add one successful measured request of `function`.
    pub fn observe(&mut self, function: &str, e2e_ns: u64, header: &str) {
        let Ok(hops) = parse_hops(header) else {
            self.malformed += 1;
            return;
        };
        let route = hops
            .iter()
            .map(|h| h.node.as_str())
            .collect::<Vec<_>>()
            .join(" → ");
        self.by_route
            .entry((function.to_string(), route))
            .or_default()
            .push((e2e_ns, segments(e2e_ns, &hops)));
    }

    /// Append what `later` read (the next part of the file).
    pub fn append(&mut self, later: ChainAcc) {
        for (k, v) in later.by_route {
            self.by_route.entry(k).or_default().extend(v);
        }
        self.malformed += later.malformed;
    }

    /// The rows, by function then route.
    pub fn rows(&self) -> Vec<ChainRow> {
        self.by_route
            .iter()
            .map(|((function, route), reqs)| {
                let e2e: Vec<f64> = reqs.iter().map(|(e, _)| *e as f64 / 1e6).collect();
                let total: f64 = reqs.iter().map(|(e, _)| *e as f64).sum();
                let names: Vec<String> = reqs[0].1.iter().map(|(n, _)| n.clone()).collect();
                let segments = names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let v: Vec<f64> = reqs
                            .iter()
                            .filter_map(|(_, s)| s.get(i).map(|(_, ns)| *ns as f64))
                            .collect();
                        let ms: Vec<f64> = v.iter().map(|ns| ns / 1e6).collect();
                        let share = if total > 0.0 {
                            v.iter().sum::<f64>() / total
                        } else {
                            0.0
                        };
                        (name.clone(), median(&ms), share)
                    })
                    .collect();
                ChainRow {
                    function: function.clone(),
                    route: route.clone(),
                    requests: reqs.len(),
                    e2e_p50_ms: median(&e2e),
                    segments,
                }
            })
            .collect()
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    stats::quantile::quantile_sorted(&s, 0.5).unwrap_or(f64::NAN)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hops_parse_with_slashed_arches_and_bad_ones_are_refused() {
        let h = parse_hops("vps-1/amd64/900/800,pi3-1/arm/v7/500/300,vps-1/amd64/100/0").unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].arch, "arm/v7");
        assert_eq!((h[1].total_ns, h[1].call_ns), (500, 300));
        for bad in ["", "a/b/1", "a/amd64/x/0", "a/amd64/1/2", "/amd64/2/1"] {
            assert!(parse_hops(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_add_up_to_the_end_to_end_time() {
        let h = parse_hops("vps-1/amd64/900/800,pi3-1/arm/v7/500/300,vps-1/amd64/100/0").unwrap();
        let s = segments(1000, &h);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "client ⇄ gateway ⇄ vps-1",
                "hop 1 on vps-1 (amd64) own",
                "vps-1 ⇄ gateway ⇄ pi3-1",
                "hop 2 on pi3-1 (arm/v7) own",
                "pi3-1 ⇄ gateway ⇄ vps-1",
                "hop 3 on vps-1 (amd64) own"
            ]
        );
        let v: Vec<u64> = s.iter().map(|(_, ns)| *ns).collect();
        assert_eq!(v, [100, 100, 300, 200, 200, 100]);
        assert_eq!(v.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn shares_of_a_route_sum_to_one() {
        let mut acc = ChainAcc::default();
        acc.observe("c", 1000, "a/amd64/600/400,b/arm64/300/0");
        acc.observe("c", 2000, "a/amd64/1500/1000,b/arm64/800/0");
        acc.observe("c", 10, "garbage");
        let rows = acc.rows();
        assert_eq!(acc.malformed, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].route, "a → b");
        assert_eq!(rows[0].requests, 2);
        let sum: f64 = rows[0].segments.iter().map(|s| s.2).sum();
        assert!((sum - 1.0).abs() < 1e-12, "{sum}");
        assert!((rows[0].e2e_p50_ms - 0.0015).abs() < 1e-12);
    }
}
