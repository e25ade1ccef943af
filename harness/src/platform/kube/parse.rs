//! Pure parsers of `k3d cluster list -o json`, `k3d node list -o json` and
//! `kubectl get nodes -o json`.
//!
//! The shapes follow the upstream types: k3d's `pkg/types/types.go` (`Cluster`, `Node`; fields
//! without a json tag, such as `State` and `IP`, keep their Go names) plus the extra counters of
//! `cmd/cluster/clusterList.go`, and the Kubernetes core/v1 `Node` object. Fields faasbed does
//! not use are ignored, so newer tool versions that add fields still parse. Bad input gives an
//! error naming the command and the JSON path; nothing here panics.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::jpath::At;
use super::label::NodeShape;

/// The command line whose output [`k3d_clusters`] reads.
pub const K3D_CLUSTER_LIST: &str = "k3d cluster list -o json";
/// The command line whose output [`k3d_nodes`] reads.
pub const K3D_NODE_LIST: &str = "k3d node list -o json";
/// The command line whose output [`kube_nodes`] reads.
pub const KUBECTL_GET_NODES: &str = "kubectl get nodes -o json";
/// The file [`buildx_metadata`] reads.
pub const BUILDX_METADATA: &str = "docker buildx build --metadata-file";

/// Errors from reading a tool's JSON output.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The output is not JSON at all.
    #[error("`{command}` printed something that is not JSON ({source}); run it by hand to see what it printed")]
    Json {
        command: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent.
    #[error("`{command}` output: {path} is missing; check the tool is the pinned version (harness/src/pins.rs)")]
    Missing { command: &'static str, path: String },
    /// A value has the wrong type.
    #[error("`{command}` output: {path}: expected {expected}, found {found}")]
    Shape {
        command: &'static str,
        path: String,
        expected: &'static str,
        found: String,
    },
    /// A resource quantity (CPU, memory) cannot be read.
    #[error("`{command}` output: {path}: {reason}")]
    Quantity {
        command: &'static str,
        path: String,
        reason: String,
    },
}

/// The role of a k3d container (`k3d.role`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

impl K3dRole {
    fn parse(s: &str) -> K3dRole {
        match s {
            "server" => K3dRole::Server,
            "agent" => K3dRole::Agent,
            "loadbalancer" => K3dRole::LoadBalancer,
            "registry" => K3dRole::Registry,
            other => K3dRole::Other(other.to_string()),
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

/// What Kubernetes reports about one node, as the platform and the labelling rules need it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeFacts {
    /// Node name.
    pub name: String,
    /// `status.nodeInfo.architecture` (`amd64`, `arm64`, `arm`).
    pub arch: String,
    /// `status.capacity.cpu`, in cores.
    pub cpu_cores: f64,
    /// `status.capacity.memory`, in bytes.
    pub memory_bytes: u64,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Is the `Ready` condition `True`? (False, Unknown or absent: not ready.)
    pub ready: bool,
    /// `status.nodeInfo.kubeletVersion`, e.g. `v1.34.2+k3s1`.
    pub kubelet_version: Option<String>,
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

fn document(text: &str, command: &'static str) -> Result<Value, ParseError> {
    serde_json::from_str(text).map_err(|source| ParseError::Json { command, source })
}

/// Parse `k3d cluster list -o json` (a JSON array of clusters).
pub fn k3d_clusters(text: &str) -> Result<Vec<K3dCluster>, ParseError> {
    let doc = document(text, K3D_CLUSTER_LIST)?;
    let root = At::root(&doc, K3D_CLUSTER_LIST);
    root.items()?.iter().map(k3d_cluster).collect()
}

fn k3d_cluster(c: &At) -> Result<K3dCluster, ParseError> {
    let nodes = match c.opt("nodes")? {
        Some(n) => n.items()?.iter().map(k3d_node).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(K3dCluster {
        name: c.key("name")?.str()?.to_string(),
        servers_running: c.key("serversRunning")?.u32()?,
        servers_count: c.key("serversCount")?.u32()?,
        agents_running: c.key("agentsRunning")?.u32()?,
        agents_count: c.key("agentsCount")?.u32()?,
        has_loadbalancer: match c.opt("hasLoadbalancer")? {
            Some(b) => b.bool()?,
            None => false,
        },
        nodes,
    })
}

/// Parse `k3d node list -o json` (a JSON array of nodes, registries included).
pub fn k3d_nodes(text: &str) -> Result<Vec<K3dNode>, ParseError> {
    let doc = document(text, K3D_NODE_LIST)?;
    let root = At::root(&doc, K3D_NODE_LIST);
    root.items()?.iter().map(k3d_node).collect()
}

fn k3d_node(n: &At) -> Result<K3dNode, ParseError> {
    let state = n.key("State")?;
    let labels = |k: &str| -> Result<BTreeMap<String, String>, ParseError> {
        Ok(match n.opt(k)? {
            Some(m) => m.str_map()?,
            None => BTreeMap::new(),
        })
    };
    let ip = match n.opt("IP")? {
        Some(ip) => match ip.opt("IP")? {
            Some(a) => Some(a.str()?.to_string()).filter(|s| !s.is_empty()),
            None => None,
        },
        None => None,
    };
    Ok(K3dNode {
        name: n.key("name")?.str()?.to_string(),
        role: K3dRole::parse(n.key("role")?.str()?),
        running: state.key("Running")?.bool()?,
        status: state.key("Status")?.str()?.to_string(),
        runtime_labels: labels("runtimeLabels")?,
        k3s_node_labels: labels("k3sNodeLabels")?,
        ip,
    })
}

/// Parse `kubectl get nodes -o json` (a `List` of `Node`s; a single `Node` object is accepted
/// too, as `kubectl get node NAME -o json` prints it).
pub fn kube_nodes(text: &str) -> Result<Vec<NodeFacts>, ParseError> {
    let doc = document(text, KUBECTL_GET_NODES)?;
    let root = At::root(&doc, KUBECTL_GET_NODES);
    if root.opt("kind")?.map(|k| k.str()).transpose()? == Some("Node") {
        return Ok(vec![kube_node(&root)?]);
    }
    root.key("items")?.items()?.iter().map(kube_node).collect()
}

fn kube_node(n: &At) -> Result<NodeFacts, ParseError> {
    let meta = n.key("metadata")?;
    let status = n.key("status")?;
    let info = status.key("nodeInfo")?;
    let capacity = status.key("capacity")?;
    let cpu = capacity.key("cpu")?;
    let cpu_cores = crate::spec::parse_cpu(cpu.str()?).map_err(|e| cpu.bad_quantity(e))?;
    let mem = capacity.key("memory")?;
    let memory_bytes = quantity_bytes(mem.str()?).map_err(|e| mem.bad_quantity(e))?;
    let mut ready = false;
    if let Some(conds) = status.opt("conditions")? {
        for c in conds.items()? {
            if c.key("type")?.str()? == "Ready" {
                ready = c.key("status")?.str()? == "True";
            }
        }
    }
    Ok(NodeFacts {
        name: meta.key("name")?.str()?.to_string(),
        arch: info.key("architecture")?.str()?.to_string(),
        cpu_cores,
        memory_bytes,
        labels: match meta.opt("labels")? {
            Some(l) => l.str_map()?,
            None => BTreeMap::new(),
        },
        ready,
        kubelet_version: match info.opt("kubeletVersion")? {
            Some(v) => Some(v.str()?.to_string()),
            None => None,
        },
    })
}

/// What `docker buildx build --push --metadata-file FILE` reports about the pushed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushedImage {
    /// `image.name`: the reference pushed (the first, when buildx lists several).
    pub name: String,
    /// `containerimage.digest`: the pushed manifest (a multi-platform index), `sha256:<hex>`.
    pub digest: String,
}

impl PushedImage {
    /// `name` pinned to the digest, with its registry replaced by `pull_registry` (the same
    /// registry as the nodes reach it), e.g. `reg:5000/faasbed/echo:abc@sha256:...`.
    pub fn pull_ref(&self, push_registry: &str, pull_registry: &str) -> String {
        let name = self.name.strip_prefix(push_registry).map_or_else(
            || self.name.clone(),
            |rest| format!("{pull_registry}{rest}"),
        );
        format!("{name}@{}", self.digest)
    }
}

/// Parse the metadata file `docker buildx build --metadata-file` writes (a JSON object with
/// `containerimage.digest` and `image.name`, among build-specific keys that are ignored).
pub fn buildx_metadata(text: &str) -> Result<PushedImage, ParseError> {
    let doc = document(text, BUILDX_METADATA)?;
    let root = At::root(&doc, BUILDX_METADATA);
    let digest = root.key("containerimage.digest")?;
    let digest_str = digest.str()?;
    if !digest_str.starts_with("sha256:") {
        return Err(digest.error("a sha256:<hex> digest"));
    }
    let name = root.key("image.name")?.str()?;
    Ok(PushedImage {
        name: name.split(',').next().unwrap_or(name).to_string(),
        digest: digest_str.to_string(),
    })
}

/// A Kubernetes quantity (`"8148204Ki"`, `"4Gi"`, `"1G"`, `"129e6"`, `"1500m"`) in whole
/// units (bytes for memory), rounded up as Kubernetes does.
pub fn quantity_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a Kubernetes quantity (e.g. \"8148204Ki\", \"4Gi\")"))?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..]
                .parse()
                .map_err(|_| format!("{s:?} has a bad exponent {e:?}"))?;
            10f64.powi(exp)
        }
        other => return Err(format!("{s:?} has an unknown suffix {other:?}")),
    };
    let v = (n * mult).ceil();
    if !(v.is_finite() && v >= 0.0 && v < u64::MAX as f64) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(v as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CLUSTERS: &str = include_str!("../../../tests/fixtures/k3d/cluster-list.json");
    const NODES: &str = include_str!("../../../tests/fixtures/k3d/node-list.json");
    const KUBE_THESIS: &str = include_str!("../../../tests/fixtures/kube/nodes-thesis.json");
    const KUBE_UNLABELLED: &str =
        include_str!("../../../tests/fixtures/kube/nodes-unlabelled.json");

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
    fn kube_nodes_fixture() {
        let ns = kube_nodes(KUBE_THESIS).unwrap();
        let names: Vec<&str> = ns.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "faas-cluster-01",
                "faas-cluster-02",
                "faas-cluster-03",
                "raspberrypi-01",
                "raspberrypi-02"
            ]
        );
        let pi = &ns[3];
        assert_eq!(pi.arch, "arm");
        assert_eq!(pi.cpu_cores, 4.0);
        assert_eq!(pi.memory_bytes, 948_204 * 1024);
        assert_eq!(pi.labels.get("type").map(String::as_str), Some("rsbpi-01"));
        assert!(pi.ready);
        assert!(!ns[4].ready, "raspberrypi-02 is NotReady in the fixture");
        assert_eq!(ns[0].kubelet_version.as_deref(), Some("v1.34.2+k3s1"));
    }

    #[test]
    fn a_single_node_object_is_accepted() {
        let doc: Value = serde_json::from_str(KUBE_UNLABELLED).unwrap();
        let one = serde_json::to_string(&doc["items"][0]).unwrap();
        let ns = kube_nodes(&one).unwrap();
        assert_eq!(ns.len(), 1);
    }

    #[test]
    fn wrong_types_name_the_path() {
        let bad = KUBE_THESIS.replacen(r#""architecture": "arm""#, r#""architecture": 7"#, 1);
        assert_ne!(
            bad, KUBE_THESIS,
            "fixture changed: the replacement must hit"
        );
        let e = kube_nodes(&bad).unwrap_err().to_string();
        assert!(e.contains("$.items[3].status.nodeInfo.architecture"), "{e}");
        assert!(e.contains(KUBECTL_GET_NODES), "{e}");

        let bad = CLUSTERS.replacen(r#""serversCount": 1"#, r#""serversCount": "one""#, 1);
        assert_ne!(bad, CLUSTERS);
        let e = k3d_clusters(&bad).unwrap_err().to_string();
        assert!(e.contains("$[0].serversCount"), "{e}");

        let bad = KUBE_THESIS.replacen(r#""memory": "948204Ki""#, r#""memory": "lots""#, 1);
        assert_ne!(bad, KUBE_THESIS);
        let e = kube_nodes(&bad).unwrap_err().to_string();
        assert!(e.contains("$.items[3].status.capacity.memory"), "{e}");
    }

    #[test]
    fn not_json_and_missing_fields() {
        let e = k3d_nodes("WARN no nodes").unwrap_err().to_string();
        assert!(e.contains(K3D_NODE_LIST) && e.contains("not JSON"), "{e}");
        let e = kube_nodes(r#"{"kind":"List","items":[{"metadata":{}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("$.items[0].status is missing"), "{e}");
        assert!(k3d_clusters("[]").unwrap().is_empty());
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("8148204Ki").unwrap(), 8_148_204 * 1024);
        assert_eq!(quantity_bytes("4Gi").unwrap(), 4 << 30);
        assert_eq!(quantity_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(quantity_bytes("129e6").unwrap(), 129_000_000);
        assert_eq!(quantity_bytes("1500m").unwrap(), 2);
        assert_eq!(quantity_bytes("1024").unwrap(), 1024);
        assert!(quantity_bytes("12 parsecs").is_err());
        assert!(quantity_bytes("").is_err());
        assert!(quantity_bytes("1e999").is_err());
    }

    mod garbled {
        use super::*;
        use proptest::prelude::*;

        /// A parser with its output thrown away.
        type Parser = fn(&str) -> Result<(), ParseError>;

        /// Every parser with its fixture and command.
        fn cases() -> [(&'static str, &'static str, Parser); 3] {
            [
                (CLUSTERS, K3D_CLUSTER_LIST, |t| k3d_clusters(t).map(drop)),
                (NODES, K3D_NODE_LIST, |t| k3d_nodes(t).map(drop)),
                (KUBE_THESIS, KUBECTL_GET_NODES, |t| kube_nodes(t).map(drop)),
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
