//! The report's opening: per workload × class the key figure (warm p50/p99, cold median), what
//! dominates it according to the run's own provenance (the link's RTT against the latency, the
//! class's CPU quota, QEMU emulation), and the errors; then each node's profile (CPUs, memory,
//! QEMU CPU, link RTT/bandwidth/loss, what was enforced), which explains most gaps between
//! classes.

use serde_json::Value;

use super::data::ReportData;
use super::markdown::TextTable;
use crate::store::manifest::NodeProvenance;

/// A link whose RTT is at least this share of the warm median dominates it.
pub const LINK_DOMINATES: f64 = 0.5;

/// The profile figures of one node that explain its latency.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// Round-trip time of the link from the gateway, ms (`None`: not recorded).
    pub rtt_ms: Option<f64>,
    /// Bandwidth, Mbit/s.
    pub mbit: Option<f64>,
    /// Loss, percent.
    pub loss_pct: Option<f64>,
    /// CPU quota, cores.
    pub cpus: Option<f64>,
    /// Memory limit, bytes.
    pub memory_bytes: Option<u64>,
    /// QEMU `-cpu` model, for emulated nodes.
    pub qemu_cpu: Option<String>,
    /// Emulated (QEMU).
    pub emulated: bool,
    /// CPU quota enforced, memory limit enforced (`None`: not recorded).
    pub enforced: Option<(bool, bool)>,
}

fn f(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

impl NodeFacts {
    /// Read from a node's provenance in run.json.
    pub fn of(n: &NodeProvenance) -> NodeFacts {
        let qemu = n
            .launcher
            .get("cpu")
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|_| n.emulated);
        let enforced = match (
            n.enforcement.get("cpu").and_then(Value::as_bool),
            n.enforcement.get("memory").and_then(Value::as_bool),
        ) {
            (Some(c), Some(m)) => Some((c, m)),
            _ => None,
        };
        NodeFacts {
            rtt_ms: f(&n.link, "one_way").map(|ow| ow * 2.0),
            mbit: f(&n.link, "bits_per_sec").map(|b| b / 1e6),
            loss_pct: f(&n.link, "loss").map(|l| l * 100.0),
            cpus: f(&n.profile, "cpus"),
            memory_bytes: n.profile.get("memory_bytes").and_then(Value::as_u64),
            qemu_cpu: qemu,
            emulated: n.emulated,
            enforced,
        }
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// What dominates a warm median of `p50_ms` on a node with `facts`, in words.
pub fn dominant(p50_ms: Option<f64>, facts: &NodeFacts) -> String {
    let quota = facts
        .cpus
        .filter(|c| *c < 1.0)
        .map(|c| format!("CPU quota {c} core"));
    let link = match (facts.rtt_ms, p50_ms) {
        (Some(rtt), Some(p)) if p > 0.0 => Some((rtt, rtt / p)),
        _ => None,
    };
    let link_note = link.map(|(rtt, share)| {
        if rtt == 0.0 {
            "no link delay".to_string()
        } else {
            format!(
                "link RTT {} = {:.0}% of p50",
                ms(rtt),
                (share * 100.0).min(999.0)
            )
        }
    });
    let mut parts = Vec::new();
    match link {
        Some((rtt, share)) if share >= LINK_DOMINATES => {
            parts.push(format!(
                "link (RTT {} = {:.0}% of p50)",
                ms(rtt),
                (share * 100.0).min(999.0)
            ));
            parts.extend(quota);
            if facts.emulated {
                parts.push("emulated".into());
            }
        }
        _ => {
            if facts.emulated {
                parts.push(format!(
                    "emulation (QEMU {} on the host)",
                    facts.qemu_cpu.as_deref().unwrap_or("user mode")
                ));
                parts.extend(quota);
            } else if let Some(q) = quota {
                parts.push(q);
            } else {
                parts.push("compute on the host CPU".into());
            }
            parts.extend(link_note);
        }
    }
    parts.join("; ")
}

/// The facts of `class`: those of its first node (a class shares one profile).
fn class_facts<'a>(d: &'a ReportData, class: &str) -> Option<&'a NodeProvenance> {
    d.manifest.nodes.iter().find(|n| n.class == class)
}

/// Per workload × class: warm p50/p99, cold median, what dominates, errors.
pub fn headline_table(d: &ReportData) -> TextTable {
    let mut rows = Vec::new();
    for g in &d.groups {
        let label = g.class_label();
        let (warm, cold) = d.tables.rows_of(&g.workload, &label);
        if warm.is_none() && cold.is_none() {
            continue;
        }
        let ws = warm.and_then(|w| w.stats.as_ref());
        let p50 = ws.map(|s| s.p50);
        let facts = class_facts(d, &g.class).map(NodeFacts::of);
        let why = match &facts {
            Some(fx) => dominant(p50, fx),
            None => "no node provenance for this class".into(),
        };
        let (req, err, kinds) = d
            .requests
            .iter()
            .filter(|r| g.functions.contains(&r.function) && r.class == label)
            .fold((0u64, 0u64, Vec::new()), |(q, e, mut k), r| {
                if r.counts.error_total() > 0 {
                    k.push(r.counts.kinds());
                }
                (q + r.counts.requests, e + r.counts.error_total(), k)
            });
        let crashes: u64 = super::requests::event_counts(&d.events)
            .iter()
            .filter(|((f, node), _)| {
                g.functions.contains(f)
                    && d.manifest
                        .nodes
                        .iter()
                        .any(|n| &n.name == node && n.class == g.class)
            })
            .map(|(_, (c, _, _))| *c)
            .sum();
        let mut errors = if req == 0 {
            "–".to_string()
        } else if err == 0 {
            format!("0 of {req}")
        } else {
            format!(
                "{err} of {req} ({:.2}%: {})",
                err as f64 * 100.0 / req as f64,
                kinds.join(", ")
            )
        };
        if crashes > 0 {
            errors.push_str(&format!("; {crashes} replica crash(es)"));
        }
        let cold_cell = match cold {
            Some(c) => match &c.stats {
                Some(s) => format!(
                    "{} ({}/{} verified)",
                    ms(s.median.value),
                    c.verified,
                    c.total
                ),
                None => format!("– (0/{} verified)", c.total),
            },
            None => "–".into(),
        };
        rows.push(vec![
            g.workload.clone(),
            label,
            ws.map_or_else(|| "–".into(), |s| ms(s.p50)),
            ws.map_or_else(|| "–".into(), |s| ms(s.p99)),
            cold_cell,
            why,
            errors,
        ]);
    }
    TextTable {
        title: "Headline".into(),
        header: [
            "workload",
            "class",
            "warm p50",
            "warm p99",
            "cold median",
            "warm p50 dominated by",
            "errors",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

/// `; storage enforced` / `; storage not enforced` for a node whose class has SD-card limits
/// (its provenance records `storage`), else nothing.
fn storage_cell(n: &NodeProvenance) -> String {
    match n.enforcement.get("storage").and_then(Value::as_bool) {
        Some(true) => "; storage enforced".into(),
        Some(false) => "; storage not enforced".into(),
        None => String::new(),
    }
}

/// Each node's profile: what it was given and what was enforced.
pub fn nodes_table(d: &ReportData) -> TextTable {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
    let rows = d
        .manifest
        .nodes
        .iter()
        .map(|n| {
            let fx = NodeFacts::of(n);
            vec![
                n.name.clone(),
                n.class.clone(),
                n.arch.clone(),
                if n.emulated {
                    format!("{} (emulated)", n.backend)
                } else {
                    n.backend.clone()
                },
                opt(fx.cpus.map(|c| format!("{c}"))),
                opt(fx
                    .memory_bytes
                    .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))),
                opt(fx.qemu_cpu.clone()),
                opt(fx.rtt_ms.map(|r| format!("{r:.1} ms"))),
                opt(fx.mbit.map(|m| format!("{m:.0} Mbit/s"))),
                opt(fx.loss_pct.map(|l| format!("{l:.2}%"))),
                match fx.enforced {
                    Some((true, true)) => "yes".into(),
                    Some((c, m)) => format!(
                        "no ({})",
                        [(!c).then_some("cpu"), (!m).then_some("memory")]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(", ")
                            + " not enforced"
                    ),
                    None => "–".into(),
                } + &storage_cell(n),
            ]
        })
        .collect();
    TextTable {
        title: "Nodes (profile, link from the gateway, enforcement)".into(),
        header: [
            "node",
            "class",
            "arch",
            "backend",
            "cpus",
            "memory",
            "qemu cpu",
            "link rtt",
            "bandwidth",
            "loss",
            "enforced",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(rtt: f64, cpus: f64, emulated: bool) -> NodeFacts {
        NodeFacts {
            rtt_ms: Some(rtt),
            mbit: Some(50.0),
            loss_pct: Some(0.0),
            cpus: Some(cpus),
            memory_bytes: Some(1 << 30),
            qemu_cpu: emulated.then(|| "cortex-a7".to_string()),
            emulated,
            enforced: Some((true, true)),
        }
    }

    #[test]
    fn the_link_dominates_when_its_rtt_is_most_of_the_median() {
        assert_eq!(
            dominant(Some(12.0), &facts(10.0, 1.0, false)),
            "link (RTT 10.0 ms = 83% of p50)"
        );
        assert_eq!(
            dominant(Some(40.0), &facts(10.0, 0.5, true)),
            "emulation (QEMU cortex-a7 on the host); CPU quota 0.5 core; link RTT 10.0 ms = 25% of p50"
        );
        assert_eq!(
            dominant(Some(2.0), &facts(0.0, 0.5, false)),
            "CPU quota 0.5 core; no link delay"
        );
        assert_eq!(
            dominant(Some(0.3), &facts(0.0, 1.0, false)),
            "compute on the host CPU; no link delay"
        );
    }

    #[test]
    fn the_storage_of_a_pi_node_is_said_enforced_or_not_from_its_provenance() {
        let node = |enforcement: Value| NodeProvenance {
            name: "pi3-a".into(),
            class: "pi3".into(),
            arch: "armhf".into(),
            backend: "qemu-user".into(),
            site: "edge".into(),
            emulated: true,
            launcher: Value::Null,
            link: Value::Null,
            enforcement,
            profile: Value::Null,
        };
        let on = serde_json::json!({"cgroup": "v1", "cpu": true, "memory": true, "storage": true});
        assert_eq!(storage_cell(&node(on)), "; storage enforced");
        let off = serde_json::json!({"cgroup": "none", "cpu": false, "storage": false});
        assert_eq!(storage_cell(&node(off)), "; storage not enforced");
        assert_eq!(storage_cell(&node(serde_json::json!({"cpu": true}))), "");
    }
}
