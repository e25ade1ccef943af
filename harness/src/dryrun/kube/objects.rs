//! The Kubernetes objects the placeholder cluster answers with (nodes, Deployments, pods,
//! Endpoints, the gateway secret, `Status` errors), as JSON the typed `k8s_openapi` readers
//! accept. Timestamps are [`PLACEHOLDER_TIME`]; addresses come from the IPv6 documentation
//! prefix `2001:db8::/32`, so none can be taken for a measured or reachable one.

use serde_json::{json, Value};

use super::{Answer, PlaceholderFunction, PlaceholderNode, PLACEHOLDER_PASSWORD, PLACEHOLDER_TIME};
use crate::platform::kube::api::{
    BASIC_AUTH_PASSWORD_KEY, BASIC_AUTH_SECRET, CORE_NAMESPACE, FUNCTION_LABEL, FUNCTION_NAMESPACE,
    GATEWAY_DEPLOYMENT,
};

/// A kube `Status` answer.
pub(super) fn status(code: u16, reason: &str, message: String) -> Answer {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    (code, body)
}

/// 404 NotFound for object `name` of `kind` (`nodes`, `deployments.apps`, ...).
pub(super) fn not_found(kind: &str, name: &str) -> Answer {
    status(404, "NotFound", format!("{kind} \"{name}\" not found"))
}

/// 422 Invalid: the request's body is not what the object takes.
pub(super) fn invalid(message: String) -> Answer {
    status(422, "Invalid", message)
}

/// A CPU count as a Kubernetes quantity: whole cores, else millicores.
pub(super) fn cpu_quantity(cpus: f64) -> String {
    let milli = (cpus * 1000.0).round().max(1.0);
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

/// A `kind` list (`NodeList`, `PodList`) of `items`.
pub(super) fn list(kind: &str, items: impl Iterator<Item = Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {},
        "items": items.collect::<Vec<_>>(),
    })
}

/// Node number `index` (scenario order).
pub(super) fn node_object(index: usize, n: &PlaceholderNode) -> Value {
    let resources = json!({ "cpu": n.cpu, "memory": n.memory, "pods": "110" });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": n.name, "labels": n.labels },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "lastTransitionTime": PLACEHOLDER_TIME,
            }],
            "addresses": [
                { "type": "InternalIP", "address": format!("2001:db8:1::{:x}", index + 1) },
                { "type": "Hostname", "address": n.name },
            ],
            "nodeInfo": { "architecture": n.arch, "operatingSystem": "linux" },
        },
    })
}

/// An active Namespace.
pub(super) fn namespace_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name },
        "status": { "phase": "Active" },
    })
}

/// The chart's `basic-auth` secret, holding [`PLACEHOLDER_PASSWORD`].
pub(super) fn secret_object() -> Value {
    use base64::Engine as _;
    let password = base64::engine::general_purpose::STANDARD.encode(PLACEHOLDER_PASSWORD);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": BASIC_AUTH_SECRET, "namespace": CORE_NAMESPACE },
        "type": "Opaque",
        "data": { BASIC_AUTH_PASSWORD_KEY: password },
    })
}

/// A rolled-out Deployment of `replicas` pods labelled `faas_function=name`.
fn deployment(namespace: &str, name: &str, replicas: u32, generation: i64, pod: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace, "generation": generation },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { FUNCTION_LABEL: name } },
            "template": pod,
        },
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    })
}

/// The rolled-out OpenFaaS gateway Deployment (one replica).
pub(super) fn gateway_object() -> Value {
    let pod = json!({
        "metadata": { "labels": { "app": GATEWAY_DEPLOYMENT } },
        "spec": { "containers": [{ "name": GATEWAY_DEPLOYMENT, "image": "placeholder" }] },
    });
    deployment(CORE_NAMESPACE, GATEWAY_DEPLOYMENT, 1, 1, pod)
}

/// The rolled-out Deployment of function `name`, with its patched nodeSelector and env.
pub(super) fn deployment_object(name: &str, f: &PlaceholderFunction) -> Value {
    let mut spec = json!({
        "containers": [{ "name": name, "image": "placeholder", "env": f.env }],
    });
    if let Some(sel) = &f.node_selector {
        spec["nodeSelector"] = json!(sel);
    }
    let pod = json!({ "metadata": { "labels": { FUNCTION_LABEL: name } }, "spec": spec });
    deployment(FUNCTION_NAMESPACE, name, f.replicas, f.generation, pod)
}

/// Replica `i` of function number `index`: running on `node`, or pending unscheduled.
pub(super) fn pod_object(
    name: &str,
    f: &PlaceholderFunction,
    index: usize,
    i: u32,
    node: Option<&str>,
) -> Value {
    let condition = |kind: &str| json!({ "type": kind, "status": "True", "lastTransitionTime": PLACEHOLDER_TIME });
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-placeholder-{i}"),
            "namespace": FUNCTION_NAMESPACE,
            "labels": { FUNCTION_LABEL: name },
            "creationTimestamp": PLACEHOLDER_TIME,
        },
        "spec": { "containers": [{ "name": name, "image": "placeholder", "env": f.env }] },
    });
    if let Some(sel) = &f.node_selector {
        pod["spec"]["nodeSelector"] = json!(sel);
    }
    let conditions = ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(condition);
    pod["status"] = match node {
        Some(node) => {
            pod["spec"]["nodeName"] = json!(node);
            json!({
                "phase": "Running",
                "podIP": format!("2001:db8:2:{index:x}::{:x}", i + 1),
                "conditions": conditions,
                "containerStatuses": [{
                    "name": name,
                    "image": "placeholder",
                    "imageID": "",
                    "ready": true,
                    "restartCount": 0,
                    "state": { "running": { "startedAt": PLACEHOLDER_TIME } },
                }],
            })
        }
        None => json!({
            "phase": "Pending",
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "no node of the placeholder cluster matches the nodeSelector",
                "lastTransitionTime": PLACEHOLDER_TIME,
            }],
        }),
    };
    pod
}

/// The Endpoints of a function: the address of each of its running `pods`.
pub(super) fn endpoints_object(name: &str, pods: &[Value]) -> Value {
    let addresses: Vec<Value> = pods
        .iter()
        .filter(|p| p["status"]["podIP"].is_string())
        .map(|p| {
            json!({
                "ip": p["status"]["podIP"],
                "nodeName": p["spec"]["nodeName"],
                "targetRef": {
                    "kind": "Pod",
                    "name": p["metadata"]["name"],
                    "namespace": FUNCTION_NAMESPACE,
                },
            })
        })
        .collect();
    let subsets = if addresses.is_empty() {
        json!([])
    } else {
        json!([{
            "addresses": addresses,
            "ports": [{ "name": "http", "port": 8080, "protocol": "TCP" }],
        }])
    };
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": { "name": name, "namespace": FUNCTION_NAMESPACE },
        "subsets": subsets,
    })
}
