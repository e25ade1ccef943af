//! The kube API calls of OpenFaaS on a cluster: placement enforcement and verification, forcing a
//! cold start, cold-start phases from pod conditions, and the gateway password.
//!
//! OpenFaaS CE (faas-netes ≥ 0.18.10) ignores a function's `constraints`, so [`Kube`] writes
//! them as `spec.template.spec.nodeSelector` on the function's Deployment (again after every
//! gateway update, which resets it) and then checks the node of every pod. The same patch
//! gives the function's container `NODE_NAME` from the downward API (`spec.nodeName`), which
//! faas-netes does not set and the function contract reports as `X-Faasbed-Node`. CE also refuses
//! 0 replicas through the gateway, so a cold start is forced here by scaling the Deployment to
//! 0 through the `apps/v1` scale subresource and waiting until its pods and ready endpoints are
//! gone. Pure parts (patch bodies, conditions, phase extraction, placement checks) are free
//! functions so they can be tested without a server; [`Kube`] only adds the requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::kube::api::{Api, ListParams, ObjectList, Patch, PatchParams};
use ::kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use ::kube::{Client, Config};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::parse::{self, NodeFacts, ParseError};
use crate::spec::{labels, Arch, Constraint};

/// Namespace of the function Deployments (`functionNamespace` of the chart).
pub const FUNCTION_NAMESPACE: &str = "openfaas-fn";
/// Namespace of the OpenFaaS core (gateway, provider, NATS, Prometheus).
pub const CORE_NAMESPACE: &str = "openfaas";
/// Secret the chart creates with `generateBasicAuth=true`.
pub const BASIC_AUTH_SECRET: &str = "basic-auth";
/// Key of the gateway password in [`BASIC_AUTH_SECRET`].
pub const BASIC_AUTH_PASSWORD_KEY: &str = "basic-auth-password";
/// Pod label faas-netes puts on every replica of a function.
pub const FUNCTION_LABEL: &str = "faas_function";
/// Deployment of the OpenFaaS gateway in [`CORE_NAMESPACE`] (present once the chart is installed).
pub const GATEWAY_DEPLOYMENT: &str = "gateway";
/// Field manager recorded on faasbed's patches.
pub const FIELD_MANAGER: &str = "faasbed";
/// Environment variable of the function contract that names the node (`X-Faasbed-Node`).
pub const NODE_NAME_ENV: &str = "NODE_NAME";
/// Content type of a strategic merge patch.
pub const STRATEGIC_MERGE: &str = "application/strategic-merge-patch+json";
/// Content type of a JSON merge patch.
pub const JSON_MERGE: &str = "application/merge-patch+json";
/// Pause between two polls of a wait condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Resolution of the timestamps in pod conditions and container states: 1 s (RFC 3339 without
/// fractions), in ns.
pub const CONDITION_RESOLUTION_NS: u64 = 1_000_000_000;

/// Errors from the kube API calls of OpenFaaS on a cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be read.
    #[error("cannot read kubeconfig {}; is the cluster up (`faasbed up`)?", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: KubeconfigError,
    },
    /// A client could not be built from the kubeconfig.
    #[error("cannot build a kube client from {}", path.display())]
    Client {
        path: PathBuf,
        #[source]
        source: ::kube::Error,
    },
    /// An API request failed.
    #[error("kube API: {action} failed")]
    Api {
        action: String,
        #[source]
        source: ::kube::Error,
    },
    /// A wait condition did not hold before its deadline.
    #[error(
        "function {function}: {condition} did not hold within {waited:?}; still there: {left}"
    )]
    Timeout {
        function: String,
        condition: &'static str,
        waited: Duration,
        left: String,
    },
    /// A pod runs on a node that does not satisfy a constraint.
    #[error("placement violated: function {function} pod {pod} runs on node {node}, which has {actual} where {constraint} is required")]
    Placement {
        function: String,
        pod: String,
        node: String,
        /// What the node has for the constraint's key, e.g. `type="faas-02"` or `no label type`.
        actual: String,
        constraint: String,
    },
    /// A pod is not on any node yet, so its placement cannot be checked.
    #[error("function {function}: pod {pod} is not scheduled to a node (nodeSelector {selector} may match no node; see `kubectl -n openfaas-fn describe pod {pod}`)")]
    Unscheduled {
        function: String,
        pod: String,
        selector: String,
    },
    /// No pod of the function exists to verify.
    #[error("function {function}: no pod in namespace {namespace} to verify; is it deployed and scaled above 0?")]
    NoPods { function: String, namespace: String },
    /// The API answered with nodes faasbed cannot read.
    #[error("kube API: cannot read the node list")]
    Nodes {
        #[source]
        source: ParseError,
    },
    /// The gateway secret has no password key, or it is not UTF-8.
    #[error("secret {namespace}/{secret} has no UTF-8 key {key}; was OpenFaaS installed with generateBasicAuth=true?")]
    SecretKey {
        namespace: String,
        secret: String,
        key: String,
    },
}

/// Where one pod of a function runs, joined with its node's labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodPlacement {
    /// Pod name.
    pub pod: String,
    /// `spec.nodeName`; `None` while the pod is unscheduled.
    pub node: Option<String>,
    /// The node's `kubernetes.io/arch`, parsed (`None` if unknown or unscheduled).
    pub arch: Option<Arch>,
    /// The node's `faasbed.io/class` label (empty if absent).
    pub class: String,
    /// Every label of the node (empty if unscheduled or the node is unknown).
    pub node_labels: BTreeMap<String, String>,
    /// The pod's `Ready` condition is `True`.
    pub ready: bool,
    /// The pod has a deletion timestamp (it is going away).
    pub terminating: bool,
}

/// The timestamps of one pod's start, from its conditions and container state (unix ns).
///
/// Kubernetes writes these with **1 s resolution** ([`CONDITION_RESOLUTION_NS`]): each value is
/// a whole second, truncated, so a phase shorter than a second may show as 0 or 1 s. Use them
/// to split a cold start into coarse phases, never as the cold-start latency itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PodPhases {
    /// Pod name.
    pub pod: String,
    /// `spec.nodeName`.
    pub node: Option<String>,
    /// `PodScheduled` condition's lastTransitionTime.
    pub scheduled_ns: Option<u64>,
    /// `Initialized` condition's lastTransitionTime.
    pub initialized_ns: Option<u64>,
    /// First container's `state.running.startedAt`.
    pub container_started_ns: Option<u64>,
    /// `ContainersReady` condition's lastTransitionTime.
    pub containers_ready_ns: Option<u64>,
    /// `Ready` condition's lastTransitionTime.
    pub ready_ns: Option<u64>,
    /// Resolution of every field above, ns (always [`CONDITION_RESOLUTION_NS`]).
    pub resolution_ns: u64,
}

impl PodPhases {
    /// As the platform-neutral phases: scheduled → spawned, ready → healthy.
    pub fn to_cold_phases(&self) -> crate::platform::ColdPhases {
        crate::platform::ColdPhases {
            spawned_ns: self.scheduled_ns,
            healthy_ns: self.ready_ns,
        }
    }
}

/// The kube API of one cluster, scoped to the OpenFaaS namespaces.
#[derive(Clone)]
pub struct Kube {
    client: Client,
}

impl Kube {
    /// Use this client (a real one, or a scripted service in tests).
    pub fn new(client: Client) -> Self {
        Kube { client }
    }

    /// A client from the run's kubeconfig file (never the user's default one).
    pub async fn from_kubeconfig(path: &Path) -> Result<Self, KubeError> {
        let kc = Kubeconfig::read_from(path).map_err(|source| KubeError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|source| KubeError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
        let client = Client::try_from(config).map_err(|source| KubeError::Client {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Kube { client })
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), FUNCTION_NAMESPACE)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), FUNCTION_NAMESPACE)
    }

    /// Write `constraints` as the nodeSelector of the function's Deployment, with `NODE_NAME`
    /// for its container ([`placement_patch`], a strategic merge patch). Call it after every
    /// gateway deploy or update.
    pub async fn enforce_placement(
        &self,
        function: &str,
        constraints: &[Constraint],
    ) -> Result<(), KubeError> {
        self.deployments()
            .patch(
                function,
                &patch_params(),
                &Patch::Strategic(placement_patch(function, constraints)),
            )
            .await
            .map_err(api(format!(
                "patch nodeSelector of deployments/{function} in {FUNCTION_NAMESPACE}"
            )))?;
        Ok(())
    }

    /// Scale the function's Deployment to 0 through the `apps/v1` scale subresource.
    pub async fn scale_to_zero(&self, function: &str) -> Result<(), KubeError> {
        self.deployments()
            .patch_scale(function, &patch_params(), &Patch::Merge(scale_patch(0)))
            .await
            .map_err(api(format!(
                "scale deployments/{function} in {FUNCTION_NAMESPACE} to 0"
            )))?;
        Ok(())
    }

    /// Wait until no pod of `function` exists and `endpoints/<function>` has no ready address;
    /// polls every [`POLL_INTERVAL`] and fails at `deadline` naming what is left.
    pub async fn wait_gone(&self, function: &str, deadline: Instant) -> Result<(), KubeError> {
        let started = Instant::now();
        let endpoints: Api<Endpoints> = Api::namespaced(self.client.clone(), FUNCTION_NAMESPACE);
        loop {
            let pods = self.function_pods(function).await?;
            let ep = endpoints.get_opt(function).await.map_err(api(format!(
                "get endpoints/{function} in {FUNCTION_NAMESPACE}"
            )))?;
            let left = still_there(&pods.items, ep.as_ref());
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(KubeError::Timeout {
                    function: function.to_string(),
                    condition: "no pod and no ready endpoint",
                    waited: started.elapsed(),
                    left: left.join(", "),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Wait until the function's Deployment has rolled out its current template
    /// ([`is_rolled_out`]), e.g. after [`Kube::enforce_placement`] moved it to other nodes.
    pub async fn wait_rolled_out(
        &self,
        function: &str,
        deadline: Instant,
    ) -> Result<(), KubeError> {
        let started = Instant::now();
        loop {
            let d = self.deployments().get(function).await.map_err(api(format!(
                "get deployments/{function} in {FUNCTION_NAMESPACE}"
            )))?;
            if is_rolled_out(&d) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let st = d.status.unwrap_or_default();
                return Err(KubeError::Timeout {
                    function: function.to_string(),
                    condition: "rollout of the current template",
                    waited: started.elapsed(),
                    left: format!(
                        "{} replica(s), {} updated, {} available, generation {} observed {}",
                        st.replicas.unwrap_or(0),
                        st.updated_replicas.unwrap_or(0),
                        st.available_replicas.unwrap_or(0),
                        d.metadata.generation.unwrap_or(0),
                        st.observed_generation.unwrap_or(0)
                    ),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn function_pods(&self, function: &str) -> Result<ObjectList<Pod>, KubeError> {
        self.pods()
            .list(&ListParams::default().labels(&format!("{FUNCTION_LABEL}={function}")))
            .await
            .map_err(api(format!(
                "list pods {FUNCTION_LABEL}={function} in {FUNCTION_NAMESPACE}"
            )))
    }

    /// Every pod of `function` with its node's labels and readiness.
    pub async fn placement(&self, function: &str) -> Result<Vec<PodPlacement>, KubeError> {
        let pods = self.function_pods(function).await?;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let nodes = nodes
            .list(&ListParams::default())
            .await
            .map_err(api("list nodes".to_string()))?;
        Ok(join_placement(&pods.items, &nodes.items))
    }

    /// [`Kube::placement`], then check every pod's node against `constraints`; terminating
    /// pods are skipped (they are on their way out after a nodeSelector change).
    pub async fn verify_placement(
        &self,
        function: &str,
        constraints: &[Constraint],
    ) -> Result<Vec<PodPlacement>, KubeError> {
        let placed = self.placement(function).await?;
        check_placement(function, constraints, &placed)?;
        Ok(placed)
    }

    /// The start phases of one pod of the function namespace.
    pub async fn cold_phases(&self, pod: &str) -> Result<PodPhases, KubeError> {
        let p = self
            .pods()
            .get(pod)
            .await
            .map_err(api(format!("get pods/{pod} in {FUNCTION_NAMESPACE}")))?;
        Ok(pod_phases(&p))
    }

    /// Every node as [`NodeFacts`] (the same reader as `kubectl get nodes -o json` output).
    pub async fn node_facts(&self) -> Result<Vec<NodeFacts>, KubeError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(api("list nodes".to_string()))?;
        let doc = json!({ "items": list.items });
        parse::kube_nodes(&doc.to_string()).map_err(|source| KubeError::Nodes { source })
    }

    /// Set `labels` on `node` (a JSON merge patch of `metadata.labels`; other labels stay).
    pub async fn label_node(
        &self,
        node: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), KubeError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .patch(node, &patch_params(), &Patch::Merge(labels_patch(labels)))
            .await
            .map_err(api(format!("label nodes/{node}")))?;
        Ok(())
    }

    /// Create namespace `name` unless it exists (409 AlreadyExists is success).
    pub async fn ensure_namespace(&self, name: &str) -> Result<(), KubeError> {
        let ns: Api<Namespace> = Api::all(self.client.clone());
        let object: Namespace =
            serde_json::from_value(namespace_object(name)).map_err(|e| KubeError::Api {
                action: format!("build namespace {name}"),
                source: ::kube::Error::SerdeError(e),
            })?;
        match ns
            .create(&::kube::api::PostParams::default(), &object)
            .await
        {
            Ok(_) => Ok(()),
            Err(::kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(source) => Err(KubeError::Api {
                action: format!("create namespace {name}"),
                source,
            }),
        }
    }

    /// Is the OpenFaaS gateway Deployment present in [`CORE_NAMESPACE`]?
    pub async fn gateway_installed(&self) -> Result<bool, KubeError> {
        let d: Api<Deployment> = Api::namespaced(self.client.clone(), CORE_NAMESPACE);
        let found = d.get_opt(GATEWAY_DEPLOYMENT).await.map_err(api(format!(
            "get deployments/{GATEWAY_DEPLOYMENT} in {CORE_NAMESPACE}"
        )))?;
        Ok(found.is_some())
    }

    /// The gateway's basic-auth password (user `admin`) from the chart's secret. Never log it.
    pub async fn read_gateway_password(&self) -> Result<String, KubeError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), CORE_NAMESPACE);
        let s = secrets.get(BASIC_AUTH_SECRET).await.map_err(api(format!(
            "get secrets/{BASIC_AUTH_SECRET} in {CORE_NAMESPACE}"
        )))?;
        s.data
            .as_ref()
            .and_then(|d| d.get(BASIC_AUTH_PASSWORD_KEY))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or_else(|| KubeError::SecretKey {
                namespace: CORE_NAMESPACE.into(),
                secret: BASIC_AUTH_SECRET.into(),
                key: BASIC_AUTH_PASSWORD_KEY.into(),
            })
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

fn api(action: String) -> impl FnOnce(::kube::Error) -> KubeError {
    move |source| KubeError::Api { action, source }
}

/// The constraints as a nodeSelector map (`key: value`).
pub fn node_selector(constraints: &[Constraint]) -> BTreeMap<&str, &str> {
    constraints
        .iter()
        .map(|c| (c.key.as_str(), c.value.as_str()))
        .collect()
}

/// The strategic merge patch of a function's Deployment: the pod template's nodeSelector gets
/// the constraints' `key: value` pairs (keys are added or overwritten; the gateway leaves
/// none), and the container named after the function gets `NODE_NAME` from `spec.nodeName`
/// (containers and env entries merge by name, so nothing else of them changes).
pub fn placement_patch(function: &str, constraints: &[Constraint]) -> Value {
    json!({ "spec": { "template": { "spec": {
        "nodeSelector": node_selector(constraints),
        "containers": [{
            "name": function,
            "env": [{
                "name": NODE_NAME_ENV,
                "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } }
            }]
        }]
    } } } })
}

/// The JSON merge patch that sets `labels` on a node.
pub fn labels_patch(labels: &BTreeMap<String, String>) -> Value {
    json!({ "metadata": { "labels": labels } })
}

/// A core/v1 Namespace object named `name`.
pub fn namespace_object(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } })
}

/// The merge patch of a scale subresource to `replicas`.
pub fn scale_patch(replicas: u32) -> Value {
    json!({ "spec": { "replicas": replicas } })
}

/// What keeps a function from being gone: its pods (terminating ones included) and the ready
/// addresses of its Endpoints. Empty means the next call must start a new replica.
pub fn still_there(pods: &[Pod], endpoints: Option<&Endpoints>) -> Vec<String> {
    let mut left: Vec<String> = pods
        .iter()
        .map(|p| format!("pod {}", p.metadata.name.as_deref().unwrap_or("?")))
        .collect();
    let ready = endpoints
        .and_then(|e| e.subsets.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| format!("endpoint {}", a.ip));
    left.extend(ready);
    left
}

/// Join pods with the nodes they run on.
pub fn join_placement(pods: &[Pod], nodes: &[Node]) -> Vec<PodPlacement> {
    pods.iter()
        .map(|p| {
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            let node_labels: BTreeMap<String, String> = node
                .as_deref()
                .and_then(|n| nodes.iter().find(|x| x.metadata.name.as_deref() == Some(n)))
                .and_then(|n| n.metadata.labels.clone())
                .unwrap_or_default();
            PodPlacement {
                pod: p.metadata.name.clone().unwrap_or_default(),
                arch: node_labels.get(labels::ARCH).and_then(|a| Arch::parse(a)),
                class: node_labels.get(labels::CLASS).cloned().unwrap_or_default(),
                node,
                node_labels,
                ready: condition_true(p, "Ready"),
                terminating: p.metadata.deletion_timestamp.is_some(),
            }
        })
        .collect()
}

/// Check every live pod against the constraints; the first violation is the error.
pub fn check_placement(
    function: &str,
    constraints: &[Constraint],
    placed: &[PodPlacement],
) -> Result<(), KubeError> {
    let live: Vec<&PodPlacement> = placed.iter().filter(|p| !p.terminating).collect();
    if live.is_empty() {
        return Err(KubeError::NoPods {
            function: function.into(),
            namespace: FUNCTION_NAMESPACE.into(),
        });
    }
    for p in live {
        let Some(node) = &p.node else {
            return Err(KubeError::Unscheduled {
                function: function.into(),
                pod: p.pod.clone(),
                selector: json!(node_selector(constraints)).to_string(),
            });
        };
        if let Some(c) = constraints.iter().find(|c| !c.matches(&p.node_labels)) {
            return Err(KubeError::Placement {
                function: function.into(),
                pod: p.pod.clone(),
                node: node.clone(),
                actual: p.node_labels.get(&c.key).map_or_else(
                    || format!("no label {}", c.key),
                    |v| format!("{}={v:?}", c.key),
                ),
                constraint: c.to_string(),
            });
        }
    }
    Ok(())
}

fn condition_true(p: &Pod, kind: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

fn condition_time(p: &Pod, kind: &str) -> Option<u64> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")?
        .last_transition_time
        .as_ref()
        .and_then(unix_ns)
}

/// A Kubernetes timestamp as unix ns (`None` before 1970).
fn unix_ns(t: &Time) -> Option<u64> {
    u64::try_from(t.0.as_nanosecond()).ok()
}

/// The start phases of a pod (conditions that are not `True` yet are `None`).
pub fn pod_phases(p: &Pod) -> PodPhases {
    let started = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.as_ref())
        .and_then(unix_ns);
    PodPhases {
        pod: p.metadata.name.clone().unwrap_or_default(),
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
        scheduled_ns: condition_time(p, "PodScheduled"),
        initialized_ns: condition_time(p, "Initialized"),
        container_started_ns: started,
        containers_ready_ns: condition_time(p, "ContainersReady"),
        ready_ns: condition_time(p, "Ready"),
        resolution_ns: CONDITION_RESOLUTION_NS,
    }
}

/// Has the Deployment finished rolling out its current template (after a nodeSelector patch)?
/// True when the controller saw the latest generation and every replica is updated and
/// available with no old one left.
pub fn is_rolled_out(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(st) = &d.status else {
        return false;
    };
    let generation_seen = match (d.metadata.generation, st.observed_generation) {
        (Some(g), Some(o)) => o >= g,
        _ => false,
    };
    generation_seen
        && st.updated_replicas.unwrap_or(0) == want
        && st.available_replicas.unwrap_or(0) == want
        && st.replicas.unwrap_or(0) == want
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c(s: &str) -> Constraint {
        Constraint::parse(s).unwrap()
    }

    #[test]
    fn placement_patch_holds_exactly_the_constraints_and_node_name() {
        let p = placement_patch("echo", &[c("type=rsbpi-01"), c("faasbed.io/class=pi3")]);
        let spec = &p["spec"]["template"]["spec"];
        assert_eq!(
            spec["nodeSelector"],
            json!({"faasbed.io/class":"pi3","type":"rsbpi-01"})
        );
        assert_eq!(spec["containers"][0]["name"], "echo");
        assert_eq!(
            spec["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName"
        );
    }

    #[test]
    fn a_pod_without_node_is_unscheduled_not_placed() {
        let placed = [PodPlacement {
            pod: "echo-1".into(),
            node: None,
            arch: None,
            class: String::new(),
            node_labels: BTreeMap::new(),
            ready: false,
            terminating: false,
        }];
        let e = check_placement("echo", &[c("type=x")], &placed).unwrap_err();
        assert!(matches!(e, KubeError::Unscheduled { .. }), "{e}");
    }

    #[test]
    fn only_terminating_pods_is_no_pods() {
        let placed = [PodPlacement {
            pod: "echo-1".into(),
            node: Some("n".into()),
            arch: None,
            class: String::new(),
            node_labels: BTreeMap::new(),
            ready: true,
            terminating: true,
        }];
        let e = check_placement("echo", &[], &placed).unwrap_err();
        assert!(matches!(e, KubeError::NoPods { .. }), "{e}");
    }
}
