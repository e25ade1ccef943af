//! Pure parsers of what Kubernetes and buildx report: `kubectl get nodes -o json` (typed
//! `k8s_openapi` Nodes) read into the [`NodeFacts`] the platform and the labelling rules use,
//! resource quantities, and buildx's metadata file. Fields faasbed does not use are ignored,
//! so newer versions that add fields still parse. Bad input gives an error naming the command
//! and the JSON path ([`crate::tooljson`]); nothing here panics.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::tooljson::ParseError;
use crate::tooljson::{self, step};

/// The command line whose output [`kube_nodes`] reads.
pub const KUBECTL_GET_NODES: &str = "kubectl get nodes -o json";
/// The request whose answer [`super::Kube::node_facts`] reads.
pub const KUBE_API_NODES: &str = "GET /api/v1/nodes";
/// The file [`buildx_metadata`] reads.
pub const BUILDX_METADATA: &str = "docker buildx build --metadata-file";

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
    /// The facts of node `n`, found at JSON path `at` of what `command` printed (errors name
    /// the field's path).
    pub fn of(n: &Node, at: &str, command: &'static str) -> Result<NodeFacts, ParseError> {
        let missing = |field: &str| ParseError::Missing {
            command,
            path: format!("{at}{field}"),
        };
        let bad = |field: &str, reason: String| ParseError::Value {
            command,
            path: format!("{at}{field}"),
            reason,
        };
        let status = n.status.as_ref().ok_or_else(|| missing(".status"))?;
        let info = status
            .node_info
            .as_ref()
            .ok_or_else(|| missing(".status.nodeInfo"))?;
        if info.architecture.is_empty() {
            return Err(missing(".status.nodeInfo.architecture"));
        }
        let capacity = status
            .capacity
            .as_ref()
            .ok_or_else(|| missing(".status.capacity"))?;
        let cpu = capacity
            .get("cpu")
            .ok_or_else(|| missing(".status.capacity.cpu"))?;
        let cpu_cores =
            crate::spec::parse_cpu(&cpu.0).map_err(|e| bad(".status.capacity.cpu", e))?;
        let mem = capacity
            .get("memory")
            .ok_or_else(|| missing(".status.capacity.memory"))?;
        let memory_bytes = quantity_bytes(&mem.0).map_err(|e| bad(".status.capacity.memory", e))?;
        let ready = status
            .conditions
            .iter()
            .flatten()
            .filter(|c| c.type_ == "Ready")
            .next_back()
            .is_some_and(|c| c.status == "True");
        let name = n
            .metadata
            .name
            .clone()
            .ok_or_else(|| missing(".metadata.name"))?;
        Ok(NodeFacts {
            name,
            arch: info.architecture.clone(),
            cpu_cores,
            memory_bytes,
            labels: n.metadata.labels.clone().unwrap_or_default(),
            ready,
            kubelet_version: Some(info.kubelet_version.clone()).filter(|v| !v.is_empty()),
        })
    }
}

/// Parse `kubectl get nodes -o json` (a `List` of `Node`s; a single `Node` object is accepted
/// too, as `kubectl get node NAME -o json` prints it).
pub fn kube_nodes(text: &str) -> Result<Vec<NodeFacts>, ParseError> {
    let doc: Value = tooljson::parse(text, KUBECTL_GET_NODES)?;
    if doc.get("kind").and_then(Value::as_str) == Some("Node") {
        let n: Node = tooljson::from_value(doc, "$", KUBECTL_GET_NODES)?;
        return Ok(vec![NodeFacts::of(&n, "$", KUBECTL_GET_NODES)?]);
    }
    let items = match doc {
        Value::Object(mut o) => o.remove("items").ok_or_else(|| ParseError::Missing {
            command: KUBECTL_GET_NODES,
            path: "$.items".into(),
        })?,
        _ => {
            return Err(ParseError::Value {
                command: KUBECTL_GET_NODES,
                path: "$".into(),
                reason: "expected a List or a Node object".into(),
            })
        }
    };
    let nodes: Vec<Node> = tooljson::from_value(items, "$.items", KUBECTL_GET_NODES)?;
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeFacts::of(n, &format!("$.items[{i}]"), KUBECTL_GET_NODES))
        .collect()
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

/// The keys of buildx's metadata file faasbed reads.
#[derive(Deserialize)]
struct BuildxMetadata {
    #[serde(rename = "containerimage.digest")]
    digest: String,
    #[serde(rename = "image.name")]
    name: String,
}

/// Parse the metadata file `docker buildx build --metadata-file` writes (a JSON object with
/// `containerimage.digest` and `image.name`, among build-specific keys that are ignored).
pub fn buildx_metadata(text: &str) -> Result<PushedImage, ParseError> {
    let m: BuildxMetadata = tooljson::parse(text, BUILDX_METADATA)?;
    if !m.digest.starts_with("sha256:") {
        return Err(ParseError::Value {
            command: BUILDX_METADATA,
            path: format!("${}", step("containerimage.digest")),
            reason: format!("expected a sha256:<hex> digest, found {:?}", m.digest),
        });
    }
    Ok(PushedImage {
        name: m.name.split(',').next().unwrap_or(&m.name).to_string(),
        digest: m.digest,
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

    const KUBE_THESIS: &str = include_str!("../../../tests/fixtures/kube/nodes-thesis.json");
    const KUBE_UNLABELLED: &str =
        include_str!("../../../tests/fixtures/kube/nodes-unlabelled.json");

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

        let bad = KUBE_THESIS.replacen(r#""memory": "948204Ki""#, r#""memory": "lots""#, 1);
        assert_ne!(bad, KUBE_THESIS);
        let e = kube_nodes(&bad).unwrap_err().to_string();
        assert!(e.contains("$.items[3].status.capacity.memory"), "{e}");
    }

    #[test]
    fn not_json_and_missing_fields() {
        let e = kube_nodes("WARN no nodes").unwrap_err().to_string();
        assert!(
            e.contains(KUBECTL_GET_NODES) && e.contains("not JSON"),
            "{e}"
        );
        let e = kube_nodes(r#"{"kind":"List","items":[{"metadata":{}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("$.items[0].status is missing"), "{e}");
    }

    #[test]
    fn buildx_metadata_pins_the_digest() {
        let m = buildx_metadata(
            r#"{"containerimage.digest":"sha256:ab","image.name":"r:5000/faasbed/echo:1,r:5000/x"}"#,
        )
        .unwrap();
        assert_eq!(m.name, "r:5000/faasbed/echo:1");
        assert_eq!(
            m.pull_ref("r:5000", "reg:5000"),
            "reg:5000/faasbed/echo:1@sha256:ab"
        );
        let e = buildx_metadata(r#"{"containerimage.digest":"md5:ab","image.name":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains(r#"$["containerimage.digest"]"#), "{e}");
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

        proptest! {
            #[test]
            fn truncated_output_is_an_error_naming_the_command(cut in 0usize..10_000) {
                let whole = KUBE_THESIS.trim_end();
                let t = whole.get(..cut % whole.len()).unwrap_or("");
                let e = kube_nodes(t).expect_err("a strict prefix of a JSON document is not JSON");
                prop_assert!(e.to_string().contains(KUBECTL_GET_NODES), "{}", e);
            }

            #[test]
            fn garbled_output_never_panics(at in 0usize..10_000, byte in any::<u8>()) {
                let mut b = KUBE_THESIS.as_bytes().to_vec();
                let i = at % b.len();
                b[i] = byte;
                let t = String::from_utf8_lossy(&b);
                if let Err(e) = kube_nodes(&t) {
                    prop_assert!(e.to_string().contains(KUBECTL_GET_NODES), "{}", e);
                }
            }
        }
    }
}
