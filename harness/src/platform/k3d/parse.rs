//! Pure parsers of `k3d cluster list -o json` and `k3d node list -o json`.
//!
//! The shapes follow k3d's `pkg/types/types.go` (`Cluster`, `Node`; fields without a json tag,
//! such as `State` and `IP`, keep their Go names) plus the extra counters of
//! `cmd/cluster/clusterList.go`. Fields faasbed does not use are ignored, so newer k3d
//! versions that add fields still parse; Go's `null` for an empty slice or map is empty. Bad
//! input gives an error naming the command and the JSON path ([`crate::tooljson`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tooljson::{self, ParseError};

/// The command line whose output [`k3d_clusters`] reads.
pub const K3D_CLUSTER_LIST: &str = "k3d cluster list -o json";
/// The command line whose output [`k3d_nodes`] reads.
pub const K3D_NODE_LIST: &str = "k3d node list -o json";

/// The role of a k3d container (`k3d.role`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", from = "String")]
pub enum K3dRole {
    /// A k3s server.
    Server,
    /// A k3s agent.
    Agent,
    /// The nginx load balancer in front of the servers.
    LoadBalancer,
    /// An image registry.
    Registry,
    /// A role this version of faasbed does not know.
    Other(String),
}

impl From<String> for K3dRole {
    fn from(s: String) -> K3dRole {
        match s.as_str() {
            "server" => K3dRole::Server,
            "agent" => K3dRole::Agent,
            "loadbalancer" => K3dRole::LoadBalancer,
            "registry" => K3dRole::Registry,
            _ => K3dRole::Other(s),
        }
    }
}

/// One k3d container, as `k3d node list` / `k3d cluster list` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct K3dNode {
    /// Container name, e.g. `k3d-faasbed-agent-0`.
    pub name: String,
    /// Its role.
    pub role: K3dRole,
    /// Is the container running (`State.Running`)?
    pub running: bool,
    /// Docker status text (`State.Status`), e.g. `running`, `exited`.
    pub status: String,
    /// Docker labels (`runtimeLabels`), e.g. `k3d.cluster`, `faasbed.io/run`.
    pub runtime_labels: BTreeMap<String, String>,
    /// Kubernetes labels k3d passed to k3s (`k3sNodeLabels`), where it reports them.
    pub k3s_node_labels: BTreeMap<String, String>,
    /// Address on the cluster network (`IP.IP`), if it has one.
    pub ip: Option<String>,
}

/// One k3d cluster, as `k3d cluster list -o json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct K3dCluster {
    /// Cluster name.
    pub name: String,
    /// Servers running / total.
    pub servers_running: u32,
    /// Servers in the cluster.
    pub servers_count: u32,
    /// Agents running.
    pub agents_running: u32,
    /// Agents in the cluster.
    pub agents_count: u32,
    /// Does the cluster have a server load balancer?
    pub has_loadbalancer: bool,
    /// Its containers.
    pub nodes: Vec<K3dNode>,
}

impl K3dCluster {
    /// Are all servers and agents running?
    pub fn all_running(&self) -> bool {
        self.servers_running == self.servers_count && self.agents_running == self.agents_count
    }
}

/// A k3d cluster as k3d prints it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCluster {
    name: String,
    servers_running: u32,
    servers_count: u32,
    agents_running: u32,
    agents_count: u32,
    #[serde(default)]
    has_loadbalancer: Option<bool>,
    #[serde(default)]
    nodes: Option<Vec<RawNode>>,
}

/// A k3d node as k3d prints it.
#[derive(Deserialize)]
struct RawNode {
    name: String,
    role: K3dRole,
    #[serde(rename = "State")]
    state: RawState,
    #[serde(rename = "runtimeLabels", default)]
    runtime_labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "k3sNodeLabels", default)]
    k3s_node_labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "IP", default)]
    ip: Option<RawIp>,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(rename = "Running")]
    running: bool,
    #[serde(rename = "Status")]
    status: String,
}

#[derive(Deserialize)]
struct RawIp {
    #[serde(rename = "IP", default)]
    ip: Option<String>,
}

impl From<RawNode> for K3dNode {
    fn from(n: RawNode) -> K3dNode {
        K3dNode {
            name: n.name,
            role: n.role,
            running: n.state.running,
            status: n.state.status,
            runtime_labels: n.runtime_labels.unwrap_or_default(),
            k3s_node_labels: n.k3s_node_labels.unwrap_or_default(),
            ip: n.ip.and_then(|i| i.ip).filter(|s| !s.is_empty()),
        }
    }
}

/// Parse `k3d cluster list -o json` (a JSON array of clusters).
pub fn k3d_clusters(text: &str) -> Result<Vec<K3dCluster>, ParseError> {
    let raw: Option<Vec<RawCluster>> = tooljson::parse(text, K3D_CLUSTER_LIST)?;
    Ok(raw
        .into_iter()
        .flatten()
        .map(|c| K3dCluster {
            name: c.name,
            servers_running: c.servers_running,
            servers_count: c.servers_count,
            agents_running: c.agents_running,
            agents_count: c.agents_count,
            has_loadbalancer: c.has_loadbalancer.unwrap_or(false),
            nodes: c.nodes.into_iter().flatten().map(K3dNode::from).collect(),
        })
        .collect())
}

/// Parse `k3d node list -o json` (a JSON array of nodes, registries included).
pub fn k3d_nodes(text: &str) -> Result<Vec<K3dNode>, ParseError> {
    let raw: Option<Vec<RawNode>> = tooljson::parse(text, K3D_NODE_LIST)?;
    Ok(raw.into_iter().flatten().map(K3dNode::from).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CLUSTERS: &str = include_str!("../../../tests/fixtures/k3d/cluster-list.json");
    const NODES: &str = include_str!("../../../tests/fixtures/k3d/node-list.json");

    #[test]
    fn cluster_list_fixture() {
        let cs = k3d_clusters(CLUSTERS).unwrap();
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert_eq!(c.name, "faasbed");
        assert_eq!((c.servers_count, c.agents_count), (1, 2));
        assert!(c.all_running() && c.has_loadbalancer);
        let roles: Vec<&K3dRole> = c.nodes.iter().map(|n| &n.role).collect();
        assert_eq!(
            roles,
            [
                &K3dRole::Server,
                &K3dRole::Agent,
                &K3dRole::Agent,
                &K3dRole::LoadBalancer
            ]
        );
        assert_eq!(
            c.nodes[1]
                .runtime_labels
                .get("faasbed.io/run")
                .map(String::as_str),
            Some("run-20261127-0931")
        );
        assert_eq!(c.nodes[0].ip.as_deref(), Some("172.18.0.3"));
    }

    #[test]
    fn node_list_fixture_includes_the_registry() {
        let ns = k3d_nodes(NODES).unwrap();
        let reg: Vec<&K3dNode> = ns.iter().filter(|n| n.role == K3dRole::Registry).collect();
        assert_eq!(reg.len(), 1);
        assert_eq!(reg[0].name, "faasbed-registry.localhost");
        let stopped: Vec<&str> = ns
            .iter()
            .filter(|n| !n.running)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(stopped, ["k3d-faasbed-agent-1"]);
    }

    #[test]
    fn wrong_types_name_the_path_and_not_json_the_command() {
        let bad = CLUSTERS.replacen(r#""serversCount": 1"#, r#""serversCount": "one""#, 1);
        assert_ne!(bad, CLUSTERS);
        let e = k3d_clusters(&bad).unwrap_err().to_string();
        assert!(e.contains("$[0].serversCount"), "{e}");
        let e = k3d_nodes("WARN no nodes").unwrap_err().to_string();
        assert!(e.contains(K3D_NODE_LIST) && e.contains("not JSON"), "{e}");
        assert!(k3d_clusters("[]").unwrap().is_empty());
    }

    mod garbled {
        use super::*;
        use proptest::prelude::*;

        /// A parser with its output thrown away.
        type Parser = fn(&str) -> Result<(), ParseError>;

        /// Every parser with its fixture and command.
        fn cases() -> [(&'static str, &'static str, Parser); 2] {
            [
                (CLUSTERS, K3D_CLUSTER_LIST, |t| k3d_clusters(t).map(drop)),
                (NODES, K3D_NODE_LIST, |t| k3d_nodes(t).map(drop)),
            ]
        }

        proptest! {
            #[test]
            fn truncated_output_is_an_error_naming_the_command(cut in 0usize..10_000) {
                for (text, command, parse) in cases() {
                    let whole = text.trim_end();
                    let t = whole.get(..cut % whole.len()).unwrap_or("");
                    let e = parse(t).expect_err("a strict prefix of a JSON document is not JSON");
                    prop_assert!(e.to_string().contains(command), "{}", e);
                }
            }

            #[test]
            fn garbled_output_never_panics(at in 0usize..10_000, byte in any::<u8>()) {
                for (text, command, parse) in cases() {
                    let mut b = text.as_bytes().to_vec();
                    let i = at % b.len();
                    b[i] = byte;
                    let t = String::from_utf8_lossy(&b);
                    if let Err(e) = parse(&t) {
                        prop_assert!(e.to_string().contains(command), "{}", e);
                    }
                }
            }
        }
    }
}
