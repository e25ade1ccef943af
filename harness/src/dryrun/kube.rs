//! The kube API of a recorded run: a [`Kube`] whose every request is recorded into the
//! [`Journal`] and answered from a placeholder cluster of the scenario's nodes.
//!
//! The placeholder cluster is a fresh, healthy one: every node is Ready with only the
//! kubelet's labels until a label patch adds more, OpenFaaS is not installed (unless
//! [`PlaceholderCluster::with_openfaas`]), every function Deployment has rolled out at once and
//! its pods run on the first node (scenario order) whose current labels satisfy its
//! nodeSelector. Timestamps and addresses are placeholders (a fixed time, documentation IP
//! ranges): nothing answered here is ever measured. Requests it does not model are still
//! recorded and answered 404, as a real API server answers an unknown path.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use ::kube::client::Body;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response};
use serde_json::{json, Map, Value};

use super::{Journal, Step};
use crate::platform::kube::api::{
    Kube, BASIC_AUTH_SECRET, CORE_NAMESPACE, FUNCTION_LABEL, FUNCTION_NAMESPACE,
    GATEWAY_DEPLOYMENT, JSON_MERGE, STRATEGIC_MERGE,
};
use crate::platform::kube::label::{kubelet_manages, kubelet_may_set};
use crate::spec::{labels, Scenario};

mod objects;
mod request;
#[cfg(test)]
mod tests;

use objects::{
    cpu_quantity, deployment_object, endpoints_object, gateway_object, invalid, list,
    namespace_object, node_object, not_found, pod_object, secret_object, status,
};
pub use request::normalise;
use request::{json_body, parse_selector, patch_type, percent_decode, respond};

/// Every timestamp the placeholder cluster answers (pod conditions, container starts): fixed,
/// never measured.
pub const PLACEHOLDER_TIME: &str = "2000-01-01T00:00:00Z";
/// The gateway password in the placeholder `basic-auth` secret.
pub const PLACEHOLDER_PASSWORD: &str = "<redacted>";
/// Content type of a JSON patch (RFC 6902).
pub const JSON_PATCH: &str = "application/json-patch+json";
/// Content type of a server-side apply patch.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// Namespaces a fresh cluster has.
const FRESH_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// A Kubernetes answer: HTTP status and JSON body.
type Answer = (u16, Value);

/// One node of the placeholder cluster.
#[derive(Debug, Clone)]
struct PlaceholderNode {
    name: String,
    arch: &'static str,
    cpu: String,
    memory: String,
    labels: BTreeMap<String, String>,
    /// The scenario's labels that k3s sets at registration (`--node-label`).
    join_labels: BTreeMap<String, String>,
}

/// One function Deployment of the placeholder cluster.
#[derive(Debug, Clone)]
struct PlaceholderFunction {
    /// `spec.replicas` (the scale).
    replicas: u32,
    /// The scenario's `replicas`: what a gateway deploy sets.
    deployed_replicas: u32,
    /// The scenario's constraints, as a nodeSelector map: where pods go before a patch.
    constraints: BTreeMap<String, String>,
    /// `spec.template.spec.nodeSelector` once patched.
    node_selector: Option<BTreeMap<String, String>>,
    /// The function container's env entries, merged by name.
    env: Vec<Value>,
    /// `metadata.generation` (also observed: the rollout is always complete).
    generation: i64,
}

/// A fresh, healthy cluster of a scenario's nodes, answering the kube API of a recorded run.
#[derive(Debug, Clone)]
pub struct PlaceholderCluster {
    nodes: Vec<PlaceholderNode>,
    functions: BTreeMap<String, PlaceholderFunction>,
    namespaces: BTreeSet<String>,
    openfaas: bool,
}

impl PlaceholderCluster {
    /// One Ready node per scenario node (kubelet labels only), one Deployment per scenario
    /// function at its `replicas`, OpenFaaS not installed.
    pub fn new(scenario: &Scenario) -> Self {
        let nodes = scenario
            .nodes
            .iter()
            .map(|n| PlaceholderNode {
                name: n.name.clone(),
                arch: n.arch.k8s(),
                cpu: cpu_quantity(n.profile.cpus),
                memory: n.profile.memory_bytes.to_string(),
                labels: BTreeMap::from([
                    (labels::ARCH.to_string(), n.arch.k8s().to_string()),
                    ("kubernetes.io/os".to_string(), "linux".to_string()),
                    (labels::HOSTNAME.to_string(), n.name.clone()),
                ]),
                join_labels: n
                    .labels()
                    .into_iter()
                    .filter(|(k, _)| !kubelet_manages(k) && kubelet_may_set(k))
                    .collect(),
            })
            .collect();
        let functions = scenario
            .functions
            .iter()
            .map(|f| {
                let constraints = f
                    .constraints
                    .iter()
                    .map(|c| (c.key.clone(), c.value.clone()))
                    .collect();
                let state = PlaceholderFunction {
                    replicas: f.replicas,
                    deployed_replicas: f.replicas,
                    constraints,
                    node_selector: None,
                    env: Vec::new(),
                    generation: 1,
                };
                (f.name.clone(), state)
            })
            .collect();
        PlaceholderCluster {
            nodes,
            functions,
            namespaces: FRESH_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            openfaas: false,
        }
    }

    /// Is OpenFaaS already installed (the gateway Deployment and its namespaces exist)?
    pub fn with_openfaas(mut self, installed: bool) -> Self {
        self.openfaas = installed;
        for ns in [CORE_NAMESPACE, FUNCTION_NAMESPACE] {
            if installed {
                self.namespaces.insert(ns.to_string());
            } else {
                self.namespaces.remove(ns);
            }
        }
        self
    }

    /// Did the nodes join with the scenario's labels (as k3d and faasbed's VMs pass them to
    /// k3s with `--node-label`), rather than with the kubelet's labels only?
    pub fn with_join_labels(mut self, joined: bool) -> Self {
        for n in &mut self.nodes {
            for (k, v) in &n.join_labels {
                if joined {
                    n.labels.insert(k.clone(), v.clone());
                } else {
                    n.labels.remove(k);
                }
            }
        }
        self
    }

    /// A [`Kube`] served by this cluster, recording every request into `journal`. Call it
    /// inside a tokio runtime (the client spawns its request buffer there).
    pub fn kube(self, journal: Journal) -> Kube {
        self.shared().kube(journal)
    }

    /// This cluster behind a handle that the other stand-ins share with its kube clients.
    pub fn shared(self) -> PlaceholderHandle {
        PlaceholderHandle(Arc::new(Mutex::new(self)))
    }

    /// The answer to one request (`path` without its query).
    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        content_type: Option<&'static str>,
        body: &Value,
    ) -> Answer {
        let writes = *method == Method::PATCH || *method == Method::POST;
        if writes && !body.is_object() {
            return status(
                400,
                "BadRequest",
                format!("the body is not a JSON object: {body}"),
            );
        }
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method.as_str(), seg.as_slice()) {
            ("GET", ["api", "v1", "nodes"]) => {
                let items = self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| node_object(i, n));
                (200, list("NodeList", items))
            }
            ("GET", ["api", "v1", "nodes", name]) => match self.node(name) {
                Some((i, n)) => (200, node_object(i, n)),
                None => not_found("nodes", name),
            },
            ("PATCH", ["api", "v1", "nodes", name]) => self.patch_node(name, content_type, body),
            ("POST", ["api", "v1", "namespaces"]) => self.create_namespace(body),
            ("GET", ["api", "v1", "namespaces", ns]) => match self.namespaces.get(*ns) {
                Some(ns) => (200, namespace_object(ns)),
                None => not_found("namespaces", ns),
            },
            ("GET", ["api", "v1", "namespaces", CORE_NAMESPACE, "secrets", BASIC_AUTH_SECRET]) => {
                (200, secret_object())
            }
            (
                "GET",
                ["apis", "apps", "v1", "namespaces", CORE_NAMESPACE, "deployments", GATEWAY_DEPLOYMENT],
            ) if self.openfaas => (200, gateway_object()),
            (
                "GET",
                ["apis", "apps", "v1", "namespaces", FUNCTION_NAMESPACE, "deployments", name],
            ) => match self.functions.get(*name) {
                Some(f) => (200, deployment_object(name, f)),
                None => not_found("deployments.apps", name),
            },
            (
                "PATCH",
                ["apis", "apps", "v1", "namespaces", FUNCTION_NAMESPACE, "deployments", name],
            ) => self.patch_deployment(name, content_type, body),
            (
                "GET" | "PATCH",
                ["apis", "apps", "v1", "namespaces", FUNCTION_NAMESPACE, "deployments", name, "scale"],
            ) => self.scale(name, *method == Method::PATCH, content_type, body),
            ("GET", ["api", "v1", "namespaces", FUNCTION_NAMESPACE, "pods"]) => {
                self.list_pods(query)
            }
            ("GET", ["api", "v1", "namespaces", FUNCTION_NAMESPACE, "pods", pod]) => {
                let found = self
                    .functions
                    .iter()
                    .flat_map(|(name, f)| self.pods(name, f))
                    .find(|p| p["metadata"]["name"] == *pod);
                match found {
                    Some(p) => (200, p),
                    None => not_found("pods", pod),
                }
            }
            ("GET", ["api", "v1", "namespaces", FUNCTION_NAMESPACE, "endpoints", name]) => {
                match self.functions.get(*name).filter(|f| f.replicas > 0) {
                    Some(f) => (200, endpoints_object(name, &self.pods(name, f))),
                    None => not_found("endpoints", name),
                }
            }
            _ => status(
                404,
                "NotFound",
                format!("the placeholder cluster has nothing at {method} {path}"),
            ),
        }
    }

    fn node(&self, name: &str) -> Option<(usize, &PlaceholderNode)> {
        self.nodes.iter().enumerate().find(|(_, n)| n.name == name)
    }

    /// A merge patch of a node's `metadata.labels` (a null value removes the label).
    fn patch_node(&mut self, name: &str, ct: Option<&'static str>, body: &Value) -> Answer {
        if let Some(refused) = refuse_non_merge(ct) {
            return refused;
        }
        let Some((i, node)) = self
            .nodes
            .iter_mut()
            .enumerate()
            .find(|(_, n)| n.name == name)
        else {
            return not_found("nodes", name);
        };
        let patch = match body.pointer("/metadata/labels") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => return invalid(format!("metadata.labels must be a map, not {other}")),
        };
        if let Err(e) = merge_strings(&mut node.labels, &patch, "metadata.labels") {
            return invalid(e);
        }
        (200, node_object(i, node))
    }

    fn create_namespace(&mut self, body: &Value) -> Answer {
        let Some(name) = body.pointer("/metadata/name").and_then(Value::as_str) else {
            return invalid("a Namespace needs metadata.name".into());
        };
        if !self.namespaces.insert(name.to_string()) {
            return status(
                409,
                "AlreadyExists",
                format!("namespaces \"{name}\" already exists"),
            );
        }
        (201, namespace_object(name))
    }

    /// A strategic (or JSON) merge patch of a function Deployment: its pod template's
    /// nodeSelector, its container's env (merged by name) and `spec.replicas` are kept; other
    /// fields are accepted and not modelled.
    fn patch_deployment(&mut self, name: &str, ct: Option<&'static str>, body: &Value) -> Answer {
        if let Some(refused) = refuse_non_merge(ct) {
            return refused;
        }
        let Some(f) = self.functions.get_mut(name) else {
            return not_found("deployments.apps", name);
        };
        let mut next = f.clone();
        match body.pointer("/spec/template/spec/nodeSelector") {
            None => {}
            Some(Value::Null) => next.node_selector = None,
            Some(Value::Object(m)) => {
                let selector = next.node_selector.get_or_insert_with(BTreeMap::new);
                if let Err(e) = merge_strings(selector, m, "nodeSelector") {
                    return invalid(e);
                }
            }
            Some(other) => return invalid(format!("nodeSelector must be a map, not {other}")),
        }
        let containers = body.pointer("/spec/template/spec/containers");
        for c in containers.and_then(Value::as_array).into_iter().flatten() {
            if c["name"] != name {
                continue;
            }
            for e in c["env"].as_array().into_iter().flatten() {
                let Some(key) = e["name"].as_str() else {
                    return invalid(format!("an env entry without a name: {e}"));
                };
                next.env.retain(|old| old["name"] != key);
                next.env.push(e.clone());
            }
        }
        if let Some(r) = body.pointer("/spec/replicas") {
            match replicas(r) {
                Ok(r) => next.replicas = r,
                Err(e) => return e,
            }
        }
        let changed = next.node_selector != f.node_selector
            || next.env != f.env
            || next.replicas != f.replicas;
        if changed {
            next.generation += 1;
        }
        *f = next;
        (200, deployment_object(name, f))
    }

    /// The `scale` subresource: read, or a merge patch of `spec.replicas`.
    fn scale(&mut self, name: &str, patch: bool, ct: Option<&'static str>, body: &Value) -> Answer {
        if patch {
            if let Some(refused) = refuse_non_merge(ct) {
                return refused;
            }
        }
        let Some(f) = self.functions.get_mut(name) else {
            return not_found("deployments.apps", name);
        };
        if let Some(r) = body.pointer("/spec/replicas").filter(|_| patch) {
            match replicas(r) {
                Ok(r) if r != f.replicas => {
                    f.replicas = r;
                    f.generation += 1;
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
        let scale = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": { "name": name, "namespace": FUNCTION_NAMESPACE },
            "spec": { "replicas": f.replicas },
            "status": { "replicas": f.replicas, "selector": format!("{FUNCTION_LABEL}={name}") },
        });
        (200, scale)
    }

    fn list_pods(&self, query: &str) -> Answer {
        let selector = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "labelSelector")
            .map(|(_, v)| percent_decode(v))
            .unwrap_or_default();
        let wanted = match parse_selector(&selector) {
            Ok(w) => w,
            Err(e) => return status(400, "BadRequest", e),
        };
        let pods = self
            .functions
            .iter()
            .flat_map(|(name, f)| self.pods(name, f))
            .filter(|p| {
                wanted
                    .iter()
                    .all(|(k, v)| p["metadata"]["labels"][k.as_str()] == v.as_str())
            });
        (200, list("PodList", pods))
    }

    /// Where the pods of a function go: the first node whose current labels satisfy its
    /// nodeSelector (the scenario's constraints until one is patched in).
    fn target_node(&self, f: &PlaceholderFunction) -> Option<&PlaceholderNode> {
        let selector = f.node_selector.as_ref().unwrap_or(&f.constraints);
        self.nodes
            .iter()
            .find(|n| selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
    }

    /// The pods of a function, one per replica.
    fn pods(&self, name: &str, f: &PlaceholderFunction) -> Vec<Value> {
        let index = self.functions.keys().position(|k| k == name).unwrap_or(0);
        let node = self.target_node(f);
        (0..f.replicas)
            .map(|i| pod_object(name, f, index, i, node.map(|n| n.name.as_str())))
            .collect()
    }
}

/// A shared placeholder cluster: its kube clients and what the gateway stand-in does to it.
#[derive(Debug, Clone)]
pub struct PlaceholderHandle(Arc<Mutex<PlaceholderCluster>>);

impl PlaceholderHandle {
    /// A [`Kube`] served by this cluster, recording every request into `journal` (inside a
    /// tokio runtime).
    pub fn kube(&self, journal: Journal) -> Kube {
        let state = Arc::clone(&self.0);
        let service = tower::service_fn(move |req: Request<Body>| {
            serve(Arc::clone(&state), journal.clone(), req)
        });
        Kube::new(::kube::Client::new(service, "default"))
    }

    fn with<T>(&self, f: impl FnOnce(&mut PlaceholderCluster) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The gateway scaled `function` to `replicas` (as a call does to a function at 0).
    /// False: the cluster has no such function.
    pub fn scale(&self, function: &str, replicas: u32) -> bool {
        self.with(|c| match c.functions.get_mut(function) {
            Some(f) => {
                if f.replicas != replicas {
                    f.replicas = replicas;
                    f.generation += 1;
                }
                true
            }
            None => false,
        })
    }

    /// The gateway deployed `function` again: faas-netes rewrites its Deployment, so the
    /// nodeSelector and env patched in are gone and it runs the scenario's `replicas`.
    /// False: the cluster has no such function.
    pub fn redeployed(&self, function: &str) -> bool {
        self.with(|c| match c.functions.get_mut(function) {
            Some(f) => {
                f.node_selector = None;
                f.env.clear();
                f.replicas = f.deployed_replicas;
                f.generation += 1;
                true
            }
            None => false,
        })
    }
}

/// A [`Kube`] whose every request is recorded into `journal` and answered from a placeholder
/// cluster made of `scenario`'s nodes, with OpenFaaS not installed yet. Call it inside a tokio
/// runtime.
pub fn placeholder_kube(scenario: &Scenario, journal: Journal) -> Kube {
    PlaceholderCluster::new(scenario).kube(journal)
}

/// Record one request, then answer it from `state`.
async fn serve(
    state: Arc<Mutex<PlaceholderCluster>>,
    journal: Journal,
    req: Request<Body>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let path = normalise(uri.path(), uri.query());
    let raw_type = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let content_type = raw_type.as_deref().and_then(patch_type);
    let body = match req.into_body().collect_bytes().await {
        Ok(bytes) => json_body(&bytes),
        Err(e) => {
            journal.step(Step::Note(format!("kube {method} {path}: unreadable body")));
            let refused = status(400, "BadRequest", format!("cannot read the body: {e}"));
            return Ok(respond(refused));
        }
    };
    journal.step(match method {
        Method::GET => Step::Read { via: "kube", path },
        Method::PATCH => match content_type {
            Some(content_type) => Step::KubePatch {
                path,
                content_type,
                body: body.clone(),
            },
            None => Step::Note(format!(
                "kube PATCH {path} with content type {}",
                raw_type.as_deref().unwrap_or("(none)")
            )),
        },
        Method::POST => Step::KubeCreate {
            path,
            body: body.clone(),
        },
        _ => Step::Note(format!("kube {method} {path}")),
    });
    let answer = state.lock().unwrap_or_else(|p| p.into_inner()).answer(
        &method,
        uri.path(),
        uri.query().unwrap_or(""),
        content_type,
        &body,
    );
    Ok(respond(answer))
}

/// Only merge patches change the placeholder cluster; others are refused as unsupported.
fn refuse_non_merge(ct: Option<&'static str>) -> Option<Answer> {
    match ct {
        Some(STRATEGIC_MERGE | JSON_MERGE) => None,
        other => Some(status(
            415,
            "UnsupportedMediaType",
            format!(
                "the placeholder cluster applies only merge patches, not {}",
                other.unwrap_or("this content type")
            ),
        )),
    }
}

/// Merge `patch` into `into`: a string sets a key, `null` removes it.
fn merge_strings(
    into: &mut BTreeMap<String, String>,
    patch: &Map<String, Value>,
    field: &str,
) -> Result<(), String> {
    for (k, v) in patch {
        match v {
            Value::String(s) => {
                into.insert(k.clone(), s.clone());
            }
            Value::Null => {
                into.remove(k);
            }
            other => return Err(format!("{field}.{k} must be a string, not {other}")),
        }
    }
    Ok(())
}

/// A `spec.replicas` value, or 422 Invalid.
fn replicas(v: &Value) -> Result<u32, Answer> {
    v.as_u64()
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| invalid(format!("spec.replicas must be a count, not {v}")))
}
