//! The gateway served in this process: every node prepared, the registry and the gateway API on
//! a free loopback port. The daemon ([`super::run_daemon`]) and tests start it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{cgroup, gateway, io, limits, node, registry, secrets, LocalError, NodeReport};
use crate::spec::Scenario;

/// A gateway serving in this process (the daemon's core; tests use it directly).
pub struct Served {
    /// Base URL.
    pub url: String,
    /// The function registry.
    pub registry: Arc<registry::Registry>,
    /// Per-node provenance.
    pub nodes: Vec<NodeReport>,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stop accepting calls and end every replica.
    pub async fn stop(self) {
        self.server.abort();
        self.registry.shutdown().await;
    }
}

/// Prepare every node of `scenario` and serve the gateway API on a free loopback port. `logs`
/// is `<run dir>/logs`; the run's secrets go to `<run dir>/secrets/` (mode 0700).
pub async fn serve(
    scenario: &Scenario,
    run_id: &str,
    password: &str,
    images: &Path,
    logs: &Path,
) -> Result<Served, LocalError> {
    serve_with(
        scenario,
        run_id,
        password,
        images,
        logs,
        limits::Limits::default(),
    )
    .await
}

/// [`serve`] with other body limits, timeouts and async workers (tests shorten them).
pub async fn serve_with(
    scenario: &Scenario,
    run_id: &str,
    password: &str,
    images: &Path,
    logs: &Path,
    limits: limits::Limits,
) -> Result<Served, LocalError> {
    let hierarchy = cgroup::detect();
    // Bound first: every replica is told the gateway's URL (`gateway_url`).
    let (listener, addr) = gateway::bind().await?;
    std::fs::create_dir_all(logs).map_err(io(format!("create {}", logs.display())))?;
    let mut nodes = Vec::new();
    for n in &scenario.nodes {
        let files = logs.parent().unwrap_or(logs); // the run folder: its device is throttled
        let mut nr =
            node::NodeRuntime::prepare(scenario, n, run_id, hierarchy.as_ref(), files).await?;
        nr.gateway_url = Some(format!("http://{addr}"));
        nodes.push(nr);
    }
    let reports = nodes
        .iter()
        .map(|n| NodeReport {
            name: n.node.name.clone(),
            class: n.node.class.clone(),
            arch: n.node.arch.to_string(),
            backend: n.node.backend.to_string(),
            site: n.node.site.clone(),
            launcher: n.launcher_provenance(),
            link: serde_json::to_value(&n.shape).unwrap_or_default(),
            enforcement: serde_json::to_value(&n.enforcement).unwrap_or_default(),
            profile: serde_json::to_value(&n.node.profile).unwrap_or_default(),
            labels: n.node.labels(),
            runtime: n.node.runtime.to_string(),
        })
        .collect();
    // The run directory holds `logs/`; secrets live beside them (never in results/).
    let secrets = secrets::SecretStore::open(logs.parent().unwrap_or(logs))?;
    let mut registry = registry::Registry::new(
        run_id,
        nodes,
        images.to_path_buf(),
        logs.to_path_buf(),
        scenario.experiment.cold.timeout,
    )
    .with_secrets(secrets)
    .with_model(scenario.platform.gateway_model);
    if let Some(c) =
        registry::container::start(scenario, run_id, logs.parent().unwrap_or(logs)).await?
    {
        registry = registry.with_containers(Arc::new(c));
    }
    let registry = Arc::new(registry);
    let invoke_timeout = scenario
        .experiment
        .warm
        .timeout
        .max(Duration::from_secs(60));
    let gw = Arc::new(
        gateway::Gateway::new(registry.clone(), password, invoke_timeout).with_limits(limits),
    );
    let server = tokio::spawn(gw.serve(listener));
    Ok(Served {
        url: format!("http://{addr}"),
        registry,
        nodes: reports,
        server,
    })
}
