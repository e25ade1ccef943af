//! Serde types of the OpenFaaS gateway API (`openfaas-gateway.openapi.yml`, OpenAPI 3.0.1).
//! Fields the gateway may omit carry `#[serde(default)]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label that carries the minimum replica count (how faas-cli passes `replicas`).
pub const LABEL_SCALE_MIN: &str = "com.openfaas.scale.min";

/// `FunctionResources`: Kubernetes quantities as strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionResources {
    /// e.g. `"64Mi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// e.g. `"500m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

/// `FunctionDeployment`: the body of `POST`/`PUT /system/functions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeployment {
    /// Function name.
    pub service: String,
    /// Image reference.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_process: Option<String>,
    /// `key=value` node selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_filesystem: bool,
}

/// `FunctionStatus`: one entry of `GET /system/functions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    /// Function name.
    pub name: String,
    /// Image reference.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_process: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_filesystem: bool,
    /// Invocations served through the gateway.
    #[serde(default)]
    pub invocation_count: u64,
    /// Desired replicas.
    #[serde(default)]
    pub replicas: u64,
    /// Replicas that are ready.
    #[serde(default)]
    pub available_replicas: u64,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl FunctionStatus {
    /// The status a gateway lists for deployment `d` in `namespace`: every field the deployment
    /// sets, with nothing counted yet (replicas, invocations) and no creation time.
    pub fn of_deployment(d: &FunctionDeployment, namespace: &str) -> Self {
        FunctionStatus {
            name: d.service.clone(),
            image: d.image.clone(),
            namespace: Some(namespace.to_string()),
            env_process: d.env_process.clone(),
            env_vars: d.env_vars.clone(),
            constraints: d.constraints.clone(),
            secrets: d.secrets.clone(),
            labels: d.labels.clone(),
            annotations: d.annotations.clone(),
            limits: d.limits.clone(),
            requests: d.requests.clone(),
            read_only_root_filesystem: d.read_only_root_filesystem,
            ..FunctionStatus::default()
        }
    }
}

/// `DeleteFunctionRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteFunctionRequest {
    /// Function to delete.
    pub function_name: String,
    /// Not in the upstream type (faas-cli sends `?namespace=`), but honoured when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `ScaleServiceRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleServiceRequest {
    /// Function to scale.
    pub service_name: String,
    /// Namespace (required by the spec; the local platform has one).
    #[serde(default)]
    pub namespace: String,
    /// Desired replicas.
    pub replicas: u64,
}

/// `FunctionNamespace` (faas-provider `types.FunctionNamespace`): the body of
/// `GET /system/namespace/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionNamespace {
    /// Namespace name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `Secret` (faas-provider `types.Secret`): the body of `POST`/`PUT`/`DELETE /system/secrets`.
/// `rawValue` is base64 (Go's `[]byte`) and wins over `value` when both are set.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Secret name (also the file name under `/var/openfaas/secrets/`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Plain-text value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Base64 value, for binary data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_value: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a value, not even in a debug log.
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// `SecretDescription`: one entry of `GET /system/secrets` (names only, never values).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretDescription {
    /// Secret name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `VersionInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Git SHA.
    pub sha: String,
    /// Release (semver).
    pub release: String,
}

/// `ProviderInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Provider name, e.g. `faasbed-local` or `faas-netes`.
    pub provider: String,
    /// Orchestration, e.g. `kubernetes`.
    pub orchestration: String,
    /// Provider version.
    pub version: Option<VersionInfo>,
}

/// `GatewayInfo`: the body of `GET /system/info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// Provider details.
    pub provider: Option<ProviderInfo>,
    /// Gateway version.
    pub version: Option<VersionInfo>,
    /// Gateway architecture.
    pub arch: String,
}

/// Response headers every faasbed function sets (the function contract).
pub mod headers {
    /// Random id made at process start.
    pub const INSTANCE: &str = "x-faasbed-instance";
    /// Process start time, unix ns.
    pub const STARTED: &str = "x-faasbed-started";
    /// GOARCH plus GOARM where set.
    pub const ARCH: &str = "x-faasbed-arch";
    /// `$NODE_NAME`.
    pub const NODE: &str = "x-faasbed-node";
    /// The handler's own time in seconds.
    pub const DURATION: &str = "x-duration-seconds";
    /// Set by the local gateway on cold (scale-from-zero) calls: spawn time, unix ns.
    pub const SPAWNED: &str = "x-faasbed-spawned";
    /// Set by the local gateway on cold calls: when `/_/health` first answered, unix ns.
    pub const HEALTHY: &str = "x-faasbed-healthy";
}
