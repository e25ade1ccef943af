//! Bringing a Kubernetes platform up (a k3d cluster, or an existing cluster through its
//! kubeconfig), releasing what an interrupted bring-up left, and saving what `faasbed up`
//! made in the home ([`ClusterState`]) so that later commands reconnect ([`attach`]): the
//! steps around [`K3dPlatform`] and [`ExistingPlatform`] that [`super::AnyPlatform`] only
//! dispatches to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::existing::{ExistingError, ExistingPlatform};
use super::k3d::{self, K3dError, K3dPlatform};
use super::kube::{self, Cluster, KubePlatform};
use super::{AnyPlatform, GatewayAccess, Platform, PlatformError};
use crate::exec::{Runner, System};
use crate::nodes::qemu;
use crate::spec::{PlatformKind, Scenario};
use crate::store::home::Home;

/// Bring up `scenario`'s cluster for run `run_id`: first check the programs are on `PATH`
/// ([`kube::preflight`]) and, for k3d, that QEMU VM nodes can run; then create (or reuse) the
/// run's k3d cluster, or attach to the existing cluster of `platform.kubeconfig`. Working
/// files go to `home`'s run directory.
pub async fn up(
    home: &Home,
    scenario: &Scenario,
    run_id: &str,
) -> Result<AnyPlatform, PlatformError> {
    kube::preflight(&scenario.platform, crate::exec::which)
        .map_err(|e| PlatformError::Kube(Box::new(e)))?;
    let run_dir = home.runs().join(run_id);
    if scenario.platform.kind == PlatformKind::Existing {
        let kc =
            scenario
                .platform
                .kubeconfig
                .as_ref()
                .ok_or_else(|| ExistingError::NoKubeconfig {
                    path: scenario.path.clone(),
                })?;
        let p = ExistingPlatform::attach(scenario, kc, &run_dir, System).await?;
        return Ok(AnyPlatform::Existing(p));
    }
    let cp = k3d::config::plan(scenario, run_id).map_err(K3dError::from)?;
    k3d::vms::preflight(&cp, crate::exec::which, crate::doctor::is_root())
        .map_err(K3dError::from)?;
    Ok(AnyPlatform::K3d(
        K3dPlatform::up(scenario, run_id, &run_dir, System).await?,
    ))
}

/// Release what an interrupted [`up`] of run `run_id` may have started: the run's QEMU VMs and
/// k3d cluster (a cluster that was never created is no error; an existing cluster is left
/// alone). Best effort: nothing is returned.
pub async fn abandon(home: &Home, scenario: &Scenario, run_id: &str) {
    if scenario.platform.kind != PlatformKind::K3d {
        return;
    }
    if let Ok(cp) = k3d::config::plan(scenario, run_id) {
        let run_dir = home.runs().join(run_id);
        qemu::abandon(&System, &run_dir, &k3d::vms::vm_node_arches(&cp)).await;
        let _ = crate::exec::run(&k3d::cmd::cluster_delete(&cp.config.metadata.name)).await;
    }
}

/// The file in a run directory that records what `faasbed up` made on a cluster platform.
pub const STATE_FILE: &str = "cluster.json";
pub use crate::store::home::PASSWORD_FILE;

/// Errors saving or reading a cluster platform's state.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The state file (or the password file it names) cannot be read, written or parsed.
    #[error("cluster state {}: {message}; run `faasbed down` and `faasbed up` again", path.display())]
    State { path: PathBuf, message: String },
}

/// What `faasbed up` made on a k3d or existing cluster: enough for the next command to
/// reconnect ([`attach_with`]). Saved as [`STATE_FILE`] in the run directory; the password
/// is in `credentials` (mode 0600), never in this file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Run id.
    pub run_id: String,
    /// `k3d` or `existing`.
    pub kind: String,
    /// Scenario file the topology was made from.
    pub scenario: PathBuf,
    /// sha256 of that file.
    pub scenario_hash: String,
    /// The k3d cluster `down` deletes (`None`: an existing cluster, never deleted).
    pub cluster: Option<String>,
    /// The cluster's kubeconfig.
    pub kubeconfig: PathBuf,
    /// Gateway base URL.
    pub gateway_url: String,
    /// Gateway basic-auth user.
    pub gateway_user: String,
    /// The file holding the gateway password.
    pub credentials: PathBuf,
    /// Start time, unix ns.
    pub started_ns: u64,
}

fn state_err(path: &Path) -> impl Fn(String) -> ClusterError + '_ {
    move |message| ClusterError::State {
        path: path.to_path_buf(),
        message,
    }
}

/// Save what `up` made of run `run_id` in its run directory (state, and the password in a
/// 0600 file) and make it the home's current run.
pub fn save<C: Cluster, R: Runner>(
    home: &Home,
    scenario: &Scenario,
    run_id: &str,
    p: &KubePlatform<C, R>,
) -> Result<ClusterState, ClusterError> {
    let run_dir = home.runs().join(run_id);
    let path = run_dir.join(STATE_FILE);
    let err = state_err(&path);
    std::fs::create_dir_all(&run_dir).map_err(|e| err(e.to_string()))?;
    let credentials = run_dir.join(PASSWORD_FILE);
    crate::store::write_private(&credentials, p.gateway().password.as_bytes())
        .map_err(|e| state_err(&credentials)(e.to_string()))?;
    let state = ClusterState {
        run_id: run_id.to_string(),
        kind: scenario.platform.kind.as_str().to_string(),
        scenario: std::fs::canonicalize(&scenario.path).unwrap_or_else(|_| scenario.path.clone()),
        scenario_hash: scenario.hash.clone(),
        cluster: p.cluster().map(str::to_string),
        kubeconfig: p.kubeconfig().to_path_buf(),
        gateway_url: p.gateway().url.clone(),
        gateway_user: p.gateway().user.clone(),
        credentials,
        started_ns: crate::store::clock::now_ns(),
    };
    let text = serde_json::to_string_pretty(&state).map_err(|e| err(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| err(e.to_string()))?;
    std::fs::write(home.root.join("current"), run_id).map_err(|e| err(e.to_string()))?;
    Ok(state)
}

/// The cluster state of the run in `run_dir`, if `up` saved one there.
pub fn load(run_dir: &Path) -> Result<Option<ClusterState>, ClusterError> {
    let path = run_dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let err = state_err(&path);
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| err(e.to_string()))
}

/// A cluster platform reconnected from its saved state.
pub enum Attached<R: Runner> {
    /// The run's k3d cluster.
    K3d(K3dPlatform<R>),
    /// An existing cluster.
    Existing(ExistingPlatform<R>),
}

/// Reconnect to the cluster `state` records: read the password, connect the kube client
/// with `connect` (the real one, or a scripted API server in tests) and rebuild the platform
/// with `runner`. Installs and creates nothing.
pub async fn attach_with<R, C, F>(
    home: &Home,
    state: &ClusterState,
    runner: R,
    connect: C,
) -> Result<Attached<R>, PlatformError>
where
    R: Runner,
    C: FnOnce(PathBuf) -> F,
    F: std::future::Future<Output = Result<kube::Kube, kube::KubeError>>,
{
    let password = std::fs::read_to_string(&state.credentials)
        .map_err(|e| state_err(&state.credentials)(e.to_string()))?;
    let scenario = crate::spec::load(&state.scenario).map_err(|e| {
        state_err(&state.scenario)(format!("the scenario of run {}: {e}", state.run_id))
    })?;
    let kube = connect(state.kubeconfig.clone())
        .await
        .map_err(|e| PlatformError::Kube(Box::new(e.into())))?;
    let gateway = GatewayAccess {
        url: state.gateway_url.clone(),
        user: state.gateway_user.clone(),
        password: password.trim().to_string(),
    };
    let run_dir = home.runs().join(&state.run_id);
    Ok(match &state.cluster {
        Some(name) => {
            let cp = k3d::config::plan(&scenario, &state.run_id).map_err(K3dError::from)?;
            Attached::K3d(K3dPlatform::reconnect(
                runner,
                kube,
                gateway,
                name.clone(),
                Some(cp.registry()),
                &run_dir,
                &state.kubeconfig,
            ))
        }
        None => Attached::Existing(ExistingPlatform::reconnect(
            runner,
            kube,
            gateway,
            scenario.platform.registry.clone(),
            &run_dir,
            &state.kubeconfig,
        )),
    })
}

/// [`attach_with`] the real kube API and runner.
pub async fn attach(home: &Home, state: &ClusterState) -> Result<AnyPlatform, PlatformError> {
    let attached = attach_with(home, state, System, |p: PathBuf| async move {
        kube::Kube::from_kubeconfig(&p).await
    })
    .await?;
    Ok(match attached {
        Attached::K3d(p) => AnyPlatform::K3d(p),
        Attached::Existing(p) => AnyPlatform::Existing(p),
    })
}

/// End run `state` after `down`: stop the run's QEMU VMs that a reconnected platform does not
/// hold (best effort) and forget the home's current run.
pub async fn forget<R: Runner>(home: &Home, state: &ClusterState, runner: &R) {
    if let Ok(scenario) = crate::spec::load(&state.scenario) {
        if let Ok(cp) = k3d::config::plan(&scenario, &state.run_id) {
            let run_dir = home.runs().join(&state.run_id);
            qemu::abandon(runner, &run_dir, &k3d::vms::vm_node_arches(&cp)).await;
        }
    }
    let current = home.root.join("current");
    if std::fs::read_to_string(&current).is_ok_and(|c| c.trim() == state.run_id) {
        let _ = std::fs::remove_file(current);
    }
}
