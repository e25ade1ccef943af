//! Scenario → k3d `Simple` config (`k3d.io/v1alpha5`) plus the plan for agents k3d does not run.
//!
//! The config is built from typed serde structs that mirror k3d's JSON schema
//! (`pkg/config/v1alpha5/schema.json`, vendored in `schemas/upstream/`), never from hand-built YAML.
//! The server and `agent` nodes become k3d containers; `qemu` and `ssh` nodes join the same
//! cluster as k3s agents later, so they are listed in [`ClusterPlan::external_agents`].
//!
//! Every node keeps its scenario name as its Kubernetes node name (`--node-name`, as the k3d
//! maintainers suggest in k3d-io/k3d issue #851), so `kubernetes.io/hostname`, `$NODE_NAME` in
//! the function and placement checks all agree with the scenario file. Labels that kubelet sets itself (`kubernetes.io/arch`, `/hostname`) are
//! not passed: kubelet reports the real values, which placement verification then checks.

use serde::Serialize;

use crate::platform::kube::label::{kubelet_manages, kubelet_may_set};
use crate::spec::{Arch, Backend, Node, PlatformKind, Scenario};

/// The config schema version this module writes.
pub const API_VERSION: &str = "k3d.io/v1alpha5";
pub use crate::platform::kube::helm::GATEWAY_NODE_PORT;
/// Label (Docker runtime label on every k3d container) that ties a container to a run.
pub const RUN_LABEL: &str = "faasbed.io/run";
/// Port the k3d registry listens on inside the cluster network.
pub const REGISTRY_INTERNAL_PORT: u16 = 5000;
/// How long `k3d cluster create` may wait for the nodes to come up (a Go duration string).
pub const CREATE_WAIT: &str = "300s";

/// Errors from turning a scenario into a k3d config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The scenario is for another platform.
    #[error("scenario {path} is for the {kind} platform, not k3d; set `kind = \"k3d\"` under [platform]")]
    NotK3d { path: String, kind: &'static str },
    /// No node is the k3s server.
    #[error(
        "scenario {path} has no node with backend = \"server\"; the k3d platform needs exactly one"
    )]
    NoServer { path: String },
    /// A label kubelet would refuse to set on its own node.
    #[error("node {node}: label {key:?} cannot be set at join time (kubelet may only set an allow-list of kubernetes.io and k8s.io keys on its own node); use a faasbed.io/ key instead")]
    RestrictedLabel { node: String, key: String },
    /// The run id cannot be used as a label value.
    #[error(
        "run id {run_id:?} is not a valid label value (letters, digits, '-', '_', '.'; at most 63)"
    )]
    BadRunId { run_id: String },
    /// The config could not be serialized.
    #[error("cannot write the k3d config as YAML")]
    Yaml {
        #[source]
        source: serde_yaml::Error,
    },
}

/// The k3d `Simple` config (only the fields faasbed sets).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleConfig {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always `Simple`.
    pub kind: String,
    /// The cluster name.
    pub metadata: Metadata,
    /// Number of k3s servers (always 1).
    pub servers: u32,
    /// Number of k3d agent containers (the scenario's `agent` nodes).
    pub agents: u32,
    /// Where the Kubernetes API is published on the host.
    #[serde(rename = "kubeAPI")]
    pub kube_api: KubeApi,
    /// The pinned k3s image.
    pub image: String,
    /// Host port mappings (the OpenFaaS gateway).
    pub ports: Vec<PortMapping>,
    /// The image registry created with the cluster.
    pub registries: Registries,
    /// k3d, k3s, kubeconfig and runtime options.
    pub options: Options,
}

/// `metadata`.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// Cluster name (k3d prefixes its containers with `k3d-<name>-`).
    pub name: String,
}

/// `kubeAPI`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeApi {
    /// Host address the API binds to.
    #[serde(rename = "hostIP")]
    pub host_ip: String,
    /// Host port, as a string (the schema's type).
    pub host_port: String,
}

/// One `ports` entry: `HOSTPORT:CONTAINERPORT` on the nodes the filters pick.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// `host:container`, e.g. `8081:31112`.
    pub port: String,
    /// k3d node filters, e.g. `server:0`.
    pub node_filters: Vec<String>,
}

/// `registries`.
#[derive(Debug, Clone, Serialize)]
pub struct Registries {
    /// The registry to create.
    pub create: RegistryCreate,
}

/// `registries.create`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCreate {
    /// Registry name (a `*.localhost` name).
    pub name: String,
    /// Host address the registry binds to.
    pub host: String,
    /// Host port, as a string.
    pub host_port: String,
}

/// `options`.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// `options.k3d`.
    pub k3d: K3dOptions,
    /// `options.k3s`.
    pub k3s: K3sOptions,
    /// `options.kubeconfig`.
    pub kubeconfig: KubeconfigOptions,
    /// `options.runtime`.
    pub runtime: RuntimeOptions,
}

/// `options.k3d`.
#[derive(Debug, Clone, Serialize)]
pub struct K3dOptions {
    /// Wait for the nodes to be ready before returning.
    pub wait: bool,
    /// How long to wait (Go duration, e.g. `300s`).
    pub timeout: String,
}

/// `options.k3s`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct K3sOptions {
    /// Extra k3s arguments per node.
    pub extra_args: Vec<Filtered<ArgField>>,
    /// Kubernetes node labels per node.
    pub node_labels: Vec<Filtered<LabelField>>,
}

/// `options.kubeconfig`: both off, the kubeconfig is written into the run directory instead.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigOptions {
    /// Merge into the default kubeconfig.
    pub update_default_kubeconfig: bool,
    /// Switch the default kubeconfig's current context.
    pub switch_current_context: bool,
}

/// `options.runtime`.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeOptions {
    /// Docker labels on the node containers.
    pub labels: Vec<Filtered<LabelField>>,
}

/// A value applied to the nodes picked by k3d node filters.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filtered<T> {
    /// The value (`arg: ...` or `label: ...`).
    #[serde(flatten)]
    pub value: T,
    /// k3d node filters, e.g. `server:0`, `agent:1`, `all`.
    pub node_filters: Vec<String>,
}

/// `{arg: "--flag=value"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ArgField {
    /// One k3s command-line argument.
    pub arg: String,
}

/// `{label: "key=value"}`.
#[derive(Debug, Clone, Serialize)]
pub struct LabelField {
    /// `key=value`.
    pub label: String,
}

/// Which k3d role a scenario node gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// The k3s server container.
    Server,
    /// A k3s agent container.
    Agent,
}

/// A scenario node that k3d runs as a container.
#[derive(Debug, Clone, Serialize)]
pub struct K3dNodePlan {
    /// Scenario node name (also its Kubernetes node name).
    pub node: String,
    /// Server or agent.
    pub role: NodeRole,
    /// k3d node filter that selects it, e.g. `agent:1`.
    pub filter: String,
    /// The Docker container k3d creates, e.g. `k3d-faasbed-agent-1`.
    pub container: String,
}

/// A scenario node that joins as a k3s agent outside k3d (QEMU VM or SSH host).
#[derive(Debug, Clone, Serialize)]
pub struct ExternalAgent {
    /// Scenario node name (also its Kubernetes node name).
    pub node: String,
    /// `qemu` or `ssh`.
    pub backend: Backend,
    /// CPU architecture the agent must report.
    pub arch: Arch,
    /// For SSH hosts, `user@host[:port]`.
    pub address: Option<String>,
    /// `k3s agent` arguments besides the server URL and token: node name and labels.
    pub k3s_args: Vec<String>,
}

/// Everything needed to bring the scenario's cluster up.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    /// The k3d config to write and pass to `k3d cluster create --config`.
    pub config: SimpleConfig,
    /// Scenario nodes k3d runs, server first.
    pub k3d_nodes: Vec<K3dNodePlan>,
    /// Scenario nodes that join as agents afterwards, in file order.
    pub external_agents: Vec<ExternalAgent>,
    /// Where the host pushes function images, e.g. `localhost:5111`.
    pub registry_push: String,
    /// The same registry as the nodes pull from it, e.g. `faasbed-registry.localhost:5000`
    /// (k3d uses `registries.create.name` verbatim as the container and DNS name).
    pub registry_pull: String,
}

impl ClusterPlan {
    /// Where the k3d registry is reached from the host and from the nodes.
    pub fn registry(&self) -> crate::spec::ImageRegistry {
        crate::spec::ImageRegistry {
            push: self.registry_push.clone(),
            pull: self.registry_pull.clone(),
        }
    }

    /// The config as YAML, ready to write to a file.
    pub fn config_yaml(&self) -> Result<String, ConfigError> {
        serde_yaml::to_string(&self.config).map_err(|source| ConfigError::Yaml { source })
    }
}

/// Build the k3d config and agent plan for a checked k3d scenario; `run_id` labels the containers.
pub fn plan(scenario: &Scenario, run_id: &str) -> Result<ClusterPlan, ConfigError> {
    let path = scenario.path.display().to_string();
    if scenario.platform.kind != PlatformKind::K3d {
        return Err(ConfigError::NotK3d {
            path,
            kind: scenario.platform.kind.as_str(),
        });
    }
    if !is_label_value(run_id) {
        return Err(ConfigError::BadRunId {
            run_id: run_id.to_string(),
        });
    }
    let k = &scenario.platform.k3d;
    let mut servers = Vec::new();
    let mut agents = Vec::new();
    let mut external_agents = Vec::new();
    for node in &scenario.nodes {
        match node.backend {
            Backend::Server => servers.push(node),
            Backend::Agent => agents.push(node),
            _ => external_agents.push(external_agent(node)?),
        }
    }
    let [server] = servers[..] else {
        return Err(ConfigError::NoServer { path });
    };
    let placed: Vec<(&Node, K3dNodePlan)> = std::iter::once((server, NodeRole::Server, 0))
        .chain(
            agents
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, NodeRole::Agent, i)),
        )
        .map(|(n, role, i)| (n, k3d_node_plan(n, role, i, &k.cluster_name)))
        .collect();

    // SSH hosts must reach the API and the registry over the network; otherwise bind to
    // loopback so nothing is published beyond this machine (QEMU VMs sit on the cluster's
    // Docker network and reach both at their container addresses).
    let bind = if !external_agents.iter().any(|a| a.backend == Backend::Ssh) {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };

    let mut extra_args = vec![Filtered {
        value: ArgField {
            arg: "--disable=traefik".into(),
        },
        node_filters: vec!["server:0".into()],
    }];
    let mut node_labels = Vec::new();
    for (node, p) in &placed {
        extra_args.push(Filtered {
            value: ArgField {
                arg: format!("--node-name={}", node.name),
            },
            node_filters: vec![p.filter.clone()],
        });
        for label in join_labels(node)? {
            node_labels.push(Filtered {
                value: LabelField { label },
                node_filters: vec![p.filter.clone()],
            });
        }
    }

    let config = SimpleConfig {
        api_version: API_VERSION.into(),
        kind: "Simple".into(),
        metadata: Metadata {
            name: k.cluster_name.clone(),
        },
        servers: 1,
        agents: agents.len() as u32,
        kube_api: KubeApi {
            host_ip: bind.into(),
            host_port: k.api_port.to_string(),
        },
        image: k.k3s_image.clone(),
        ports: vec![PortMapping {
            port: format!("{}:{GATEWAY_NODE_PORT}", k.gateway_port),
            node_filters: vec!["server:0".into()],
        }],
        registries: Registries {
            create: RegistryCreate {
                name: k.registry_name.clone(),
                host: bind.into(),
                host_port: k.registry_port.to_string(),
            },
        },
        options: Options {
            k3d: K3dOptions {
                wait: true,
                timeout: CREATE_WAIT.into(),
            },
            k3s: K3sOptions {
                extra_args,
                node_labels,
            },
            kubeconfig: KubeconfigOptions {
                update_default_kubeconfig: false,
                switch_current_context: false,
            },
            runtime: RuntimeOptions {
                labels: vec![Filtered {
                    value: LabelField {
                        label: format!("{RUN_LABEL}={run_id}"),
                    },
                    node_filters: vec!["all".into()],
                }],
            },
        },
    };
    Ok(ClusterPlan {
        config,
        k3d_nodes: placed.into_iter().map(|(_, p)| p).collect(),
        external_agents,
        registry_push: format!("localhost:{}", k.registry_port),
        registry_pull: format!("{}:{REGISTRY_INTERNAL_PORT}", k.registry_name),
    })
}

/// Where k3d runs a node: its filter (`agent:1`) and container (`k3d-NAME-agent-1`).
fn k3d_node_plan(node: &Node, role: NodeRole, index: usize, cluster: &str) -> K3dNodePlan {
    let role_name = match role {
        NodeRole::Server => "server",
        NodeRole::Agent => "agent",
    };
    K3dNodePlan {
        node: node.name.clone(),
        role,
        filter: format!("{role_name}:{index}"),
        container: format!("k3d-{cluster}-{role_name}-{index}"),
    }
}

fn external_agent(node: &Node) -> Result<ExternalAgent, ConfigError> {
    let mut k3s_args = vec![format!("--node-name={}", node.name)];
    k3s_args.extend(
        join_labels(node)?
            .into_iter()
            .map(|l| format!("--node-label={l}")),
    );
    Ok(ExternalAgent {
        node: node.name.clone(),
        backend: node.backend,
        arch: node.arch,
        address: node.address.clone(),
        k3s_args,
    })
}

/// The node's labels as `key=value`, minus those kubelet sets itself; refuses keys kubelet
/// would reject at registration.
fn join_labels(node: &Node) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (key, value) in node.labels() {
        if kubelet_manages(&key) {
            continue;
        }
        if !kubelet_may_set(&key) {
            return Err(ConfigError::RestrictedLabel {
                node: node.name.clone(),
                key,
            });
        }
        out.push(format!("{key}={value}"));
    }
    Ok(out)
}

/// A Kubernetes label value (the spec's check, shared).
fn is_label_value(s: &str) -> bool {
    crate::spec::is_label_name(s)
}
