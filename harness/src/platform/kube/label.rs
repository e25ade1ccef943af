//! Node auto-labelling (the thesis's "future work"): from what a node reports, decide its class
//! and the label changes (`kubectl label` equivalents) that make it match the scenario.
//!
//! Rule table, first match wins (`arch` is `status.nodeInfo.architecture`; CPUs and memory are
//! `status.capacity`):
//!
//! | rule | arch          | CPUs | memory               | class |
//! |------|---------------|------|----------------------|-------|
//! | 1    | `amd64`       | any  | any                  | `vps` |
//! | 2    | `arm`/`arm64` | ≤ 4  | ≤ 1 GiB              | `pi3` |
//! | 3    | `arm`/`arm64` | ≤ 4  | > 1 GiB and ≤ 8 GiB  | `pi4` |
//! | –    | anything else |      |                      | none: name the node in the scenario |
//!
//! Memory capacity is the kernel's MemTotal, a little below the board's RAM: a 1 GB Pi 3 (or a
//! QEMU VM with `-m 1024`) reports just under 1 GiB, a 2 GB Pi 4 about 1.8 GiB. The table
//! cannot tell a 1 GB Pi 4 from a Pi 3, nor a Pi 5 from a Pi 4, and it leaves ARM machines with
//! more than 4 CPUs or 8 GiB alone (not Raspberry Pi shaped). When the scenario names the node,
//! the scenario's class wins and the table's answer is kept only for comparison.
//!
//! Kubelet sets `kubernetes.io/arch` and `kubernetes.io/hostname` itself from the real machine,
//! and may set only an allow-list of other `kubernetes.io`/`k8s.io` keys on its own node
//! (`k8s.io/kubelet/pkg/apis`: `KubeletLabels`, `KubeletLabelNamespaces`); these rules never
//! change the former and [`kubelet_may_set`] encodes the latter.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::parse::NodeFacts;
use crate::spec::{labels, Node};

const GIB: u64 = 1 << 30;

/// Labels kubelet sets from the machine itself; faasbed never passes or changes them.
pub const KUBELET_MANAGED: [&str; 5] = [
    labels::ARCH,
    labels::HOSTNAME,
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
];

/// Does kubelet set this label itself?
pub fn kubelet_manages(key: &str) -> bool {
    KUBELET_MANAGED.contains(&key)
}

/// May kubelet set this label on its own node at registration (`k3s --node-label`)?
///
/// Keys outside the `kubernetes.io` and `k8s.io` namespaces always may; inside them only the
/// well-known node labels and the `kubelet.kubernetes.io` / `node.kubernetes.io` namespaces.
pub fn kubelet_may_set(key: &str) -> bool {
    const ALLOWED: [&str; 11] = [
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
    ];
    let Some((ns, _)) = key.split_once('/') else {
        return true;
    };
    let in_ns = |n: &str, base: &str| n == base || n.ends_with(&format!(".{base}"));
    if !(in_ns(ns, "kubernetes.io") || in_ns(ns, "k8s.io")) {
        return true;
    }
    ALLOWED.contains(&key) || in_ns(ns, "kubelet.kubernetes.io") || in_ns(ns, "node.kubernetes.io")
}

/// Errors from auto-labelling a node.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// No rule of the table matches and the scenario does not name the node.
    #[error("node {node} ({arch}, {cpu_cores} CPUs, {memory_mib} MiB) matches no auto-labelling rule; add it to the scenario with its class")]
    Unclassified {
        node: String,
        arch: String,
        cpu_cores: f64,
        memory_mib: u64,
    },
    /// The node reports another architecture than the scenario gives it.
    #[error("node {node}: the scenario says kubernetes.io/arch={scenario} but the node reports {reported}; boot an image of that architecture or fix `arch` in the scenario")]
    ArchMismatch {
        node: String,
        scenario: &'static str,
        reported: String,
    },
}

/// The facts the rule table looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeShape<'a> {
    /// `status.nodeInfo.architecture`.
    pub arch: &'a str,
    /// CPU capacity, in cores.
    pub cpu_cores: f64,
    /// Memory capacity, in bytes.
    pub memory_bytes: u64,
}

impl NodeFacts {
    /// The facts the auto-labelling table looks at.
    pub fn shape(&self) -> NodeShape<'_> {
        NodeShape {
            arch: &self.arch,
            cpu_cores: self.cpu_cores,
            memory_bytes: self.memory_bytes,
        }
    }
}

/// Which rule decided a node's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Rule 1: amd64 → vps.
    Amd64IsVps,
    /// Rule 2: ARM, ≤ 4 CPUs, ≤ 1 GiB → pi3.
    SmallArmIsPi3,
    /// Rule 3: ARM, ≤ 4 CPUs, > 1 GiB and ≤ 8 GiB → pi4.
    MidArmIsPi4,
    /// The scenario names the node and gives its class.
    Scenario,
}

/// A node's class and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The class (`vps`, `pi3`, ...).
    pub class: String,
    /// The rule that decided it.
    pub rule: Rule,
    /// What the table alone says, when the scenario decided (`None`: no rule matched).
    pub table_says: Option<String>,
}

/// Apply the rule table (see the module docs); `None` when no rule matches.
pub fn classify(shape: &NodeShape) -> Option<(&'static str, Rule)> {
    let arm = matches!(shape.arch, "arm" | "arm64");
    let pi_cpus = shape.cpu_cores <= 4.0;
    match shape.arch {
        "amd64" => Some(("vps", Rule::Amd64IsVps)),
        _ if arm && pi_cpus && shape.memory_bytes <= GIB => Some(("pi3", Rule::SmallArmIsPi3)),
        _ if arm && pi_cpus && shape.memory_bytes <= 8 * GIB => Some(("pi4", Rule::MidArmIsPi4)),
        _ => None,
    }
}

/// One label to set on one node, as `kubectl label node NAME KEY=VALUE [--overwrite]` would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelChange {
    /// Node name.
    pub node: String,
    /// Label key.
    pub key: String,
    /// New value.
    pub value: String,
    /// The value it replaces (`None`: the label is new).
    pub previous: Option<String>,
}

impl fmt::Display for LabelChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kubectl label node {} {}={}",
            self.node, self.key, self.value
        )?;
        if self.previous.is_some() {
            f.write_str(" --overwrite")?;
        }
        Ok(())
    }
}

/// The class and full label set a node should carry.
///
/// With `scenario_node` (the scenario's entry for this node), the scenario's class and labels
/// win, after checking the reported arch; without it the table decides and only
/// `faasbed.io/class` is wanted. Kubelet-managed labels are never in the result.
pub fn desired_labels(
    facts: &NodeFacts,
    scenario_node: Option<&Node>,
) -> Result<(Classification, BTreeMap<String, String>), LabelError> {
    let table = classify(&facts.shape());
    let Some(node) = scenario_node else {
        let Some((class, rule)) = table else {
            return Err(LabelError::Unclassified {
                node: facts.name.clone(),
                arch: facts.arch.clone(),
                cpu_cores: facts.cpu_cores,
                memory_mib: facts.memory_bytes >> 20,
            });
        };
        let wanted = BTreeMap::from([(labels::CLASS.to_string(), class.to_string())]);
        let c = Classification {
            class: class.into(),
            rule,
            table_says: Some(class.into()),
        };
        return Ok((c, wanted));
    };
    if node.arch.k8s() != facts.arch {
        return Err(LabelError::ArchMismatch {
            node: facts.name.clone(),
            scenario: node.arch.k8s(),
            reported: facts.arch.clone(),
        });
    }
    let mut wanted = node.labels();
    wanted.retain(|k, _| !kubelet_manages(k));
    let c = Classification {
        class: node.class.clone(),
        rule: Rule::Scenario,
        table_says: table.map(|(c, _)| c.to_string()),
    };
    Ok((c, wanted))
}

/// The changes that give `facts`'s node every label in `wanted` (labels it already has with
/// the same value are left out; other labels are never removed).
pub fn changes(facts: &NodeFacts, wanted: &BTreeMap<String, String>) -> Vec<LabelChange> {
    wanted
        .iter()
        .filter(|(k, v)| facts.labels.get(*k) != Some(*v))
        .map(|(k, v)| LabelChange {
            node: facts.name.clone(),
            key: k.clone(),
            value: v.clone(),
            previous: facts.labels.get(k).cloned(),
        })
        .collect()
}

/// [`desired_labels`] then [`changes`]: what to run to label one node.
pub fn auto_label(
    facts: &NodeFacts,
    scenario_node: Option<&Node>,
) -> Result<Vec<LabelChange>, LabelError> {
    let (_, wanted) = desired_labels(facts, scenario_node)?;
    Ok(changes(facts, &wanted))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::platform::kube::parse::kube_nodes;

    const UNLABELLED: &str = include_str!("../../../tests/fixtures/kube/nodes-unlabelled.json");
    const THESIS: &str = include_str!("../../../tests/fixtures/kube/nodes-thesis.json");

    fn shape(arch: &str, cpus: f64, mem: u64) -> Option<&'static str> {
        classify(&NodeShape {
            arch,
            cpu_cores: cpus,
            memory_bytes: mem,
        })
        .map(|(c, _)| c)
    }

    #[test]
    fn the_table_row_by_row() {
        assert_eq!(shape("amd64", 64.0, 512 * GIB), Some("vps"));
        assert_eq!(shape("arm", 4.0, 948_204 * 1024), Some("pi3"));
        assert_eq!(
            shape("arm64", 4.0, GIB),
            Some("pi3"),
            "exactly 1 GiB is still a pi3"
        );
        assert_eq!(shape("arm64", 4.0, GIB + 1), Some("pi4"));
        assert_eq!(
            shape("arm", 4.0, 3 * GIB),
            Some("pi4"),
            "a Pi 4 on a 32-bit OS"
        );
        assert_eq!(shape("arm64", 4.0, 8 * GIB), Some("pi4"));
        assert_eq!(shape("arm64", 4.0, 8 * GIB + 1), None);
        assert_eq!(
            shape("arm64", 16.0, 2 * GIB),
            None,
            "not Raspberry Pi shaped"
        );
        assert_eq!(shape("riscv64", 4.0, GIB), None);
    }

    #[test]
    fn the_table_alone_labels_bare_pis() {
        let nodes = kube_nodes(UNLABELLED).unwrap();
        let lines: Vec<String> = nodes[2..]
            .iter()
            .flat_map(|n| auto_label(n, None).unwrap())
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "kubectl label node pi3-a faasbed.io/class=pi3",
                "kubectl label node pi4-a faasbed.io/class=pi4",
                "kubectl label node pi-spare faasbed.io/class=pi4",
            ]
        );
    }

    #[test]
    fn with_the_scenario_only_missing_labels_change() {
        let text = include_str!("../../../../scenarios/pi3-pi4-vps.toml");
        let sc =
            crate::spec::parse(text, std::path::Path::new("scenarios/pi3-pi4-vps.toml")).unwrap();
        let nodes = kube_nodes(UNLABELLED).unwrap();
        let lines: Vec<String> = nodes
            .iter()
            .flat_map(|n| auto_label(n, sc.node(&n.name)).unwrap())
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "kubectl label node pi3-a faasbed.io/class=pi3",
                "kubectl label node pi3-a faasbed.io/site=lab",
                "kubectl label node pi4-a faasbed.io/class=pi4",
                "kubectl label node pi4-a faasbed.io/site=lab",
                "kubectl label node pi-spare faasbed.io/class=pi4",
            ],
            "control and vps-a joined through k3d with their labels; pi-spare is not in the scenario"
        );
    }

    #[test]
    fn wrong_class_is_overwritten() {
        let mut n = kube_nodes(UNLABELLED).unwrap().remove(3);
        n.labels.insert(labels::CLASS.into(), "pi3".into());
        let c = auto_label(&n, None).unwrap();
        assert_eq!(c[0].previous.as_deref(), Some("pi3"));
        assert!(c[0]
            .to_string()
            .ends_with("faasbed.io/class=pi4 --overwrite"));
    }

    #[test]
    fn unknown_shapes_are_refused_with_the_facts() {
        let mut n = kube_nodes(UNLABELLED).unwrap().remove(3);
        n.arch = "riscv64".into();
        let e = auto_label(&n, None).unwrap_err().to_string();
        assert!(e.contains("pi4-a (riscv64, 4 CPUs"), "{e}");
    }

    #[test]
    fn the_scenario_wins_and_arch_is_checked() {
        let text = include_str!("../../../../scenarios/thesis.toml");
        let sc = crate::spec::parse(text, std::path::Path::new("scenarios/thesis.toml")).unwrap();
        let facts = kube_nodes(THESIS).unwrap();
        let pi = facts.iter().find(|f| f.name == "raspberrypi-01").unwrap();
        let (c, wanted) = desired_labels(pi, sc.node("raspberrypi-01")).unwrap();
        assert_eq!((c.class.as_str(), c.rule), ("pi3", Rule::Scenario));
        assert_eq!(c.table_says.as_deref(), Some("pi3"));
        assert_eq!(wanted.get("type").map(String::as_str), Some("rsbpi-01"));
        assert!(!wanted.contains_key(labels::ARCH));
        assert!(
            changes(pi, &wanted).is_empty(),
            "the fixture node is fully labelled"
        );

        let mut booted_64 = pi.clone();
        booted_64.arch = "arm64".into();
        let e = desired_labels(&booted_64, sc.node("raspberrypi-01")).unwrap_err();
        assert!(
            e.to_string()
                .contains("kubernetes.io/arch=arm but the node reports arm64"),
            "{e}"
        );
    }

    #[test]
    fn kubelet_allow_list() {
        assert!(kubelet_may_set("faasbed.io/class"));
        assert!(kubelet_may_set("type"));
        assert!(kubelet_may_set("topology.kubernetes.io/zone"));
        assert!(kubelet_may_set("example.node.kubernetes.io/x"));
        assert!(!kubelet_may_set("node-role.kubernetes.io/worker"));
        assert!(!kubelet_may_set("kubernetes.io/role"));
        assert!(!kubelet_may_set("foo.k8s.io/bar"));
        assert!(kubelet_manages("kubernetes.io/arch"));
        assert!(!kubelet_manages("faasbed.io/class"));
    }
}
