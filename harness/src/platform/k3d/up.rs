//! Bringing a k3d cluster up and down: its QEMU VM nodes' assets, the cluster (created, or
//! this run's reused; any other cluster of the name refused), the VMs joined ([`super::vms`]),
//! then OpenFaaS through [`crate::platform::kube`]. The steps run in the dry-run plan's order
//! ([`super::plan`]) with the same command lines ([`super::cmd`]). Once the cluster exists, a
//! failing step deletes it before the error is returned; `down` deletes it always. The user's
//! kubeconfig is never touched: the cluster's goes to `RUN/kubeconfig`.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::config::{self, RUN_LABEL};
use super::error::K3dError;
use super::parse::{self, K3dCluster};
use super::{cmd, vms};
use crate::dryrun;
use crate::exec::{Runner, System};
use crate::nodes::qemu::{self, Running, VmError};
use crate::platform::kube::live::{install, step, write, Parts, Target};
use crate::platform::kube::{Cluster, Kube, KubeError, KubePlatform};
use crate::platform::{GatewayAccess, PlatformError};
use crate::spec::{Backend, ImageRegistry, Node, Scenario};

/// OpenFaaS on a k3d cluster, as a [`crate::platform::Platform`].
pub type K3dPlatform<R = System> = KubePlatform<K3d, R>;

/// A k3d cluster faasbed made, with the QEMU VM nodes it started.
#[derive(Debug)]
pub struct K3d {
    /// The cluster's name (`k3d cluster delete NAME` on `down`).
    pub name: String,
    /// QEMU VM nodes this platform started (stopped on `down`).
    pub vms: Vec<Running>,
}

impl Cluster for K3d {
    fn deletes(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        self.vms
            .iter()
            .find(|v| v.node == node)
            .and_then(|v| v.clock_offset_ns)
    }

    /// A QEMU VM gets its CPU model, CPU count and memory; a k3d container shares the host's.
    fn enforcement(&self, n: &Node) -> serde_json::Value {
        if n.backend == Backend::Qemu {
            let (smp, mem_mib) = qemu::node::size(n);
            serde_json::json!({
                "enforced": true,
                "how": "QEMU VM (TCG emulation): -cpu, -smp and -m from the class profile",
                "qemu_cpu": n.qemu_cpu(),
                "smp": smp,
                "memory_mib": mem_mib,
            })
        } else {
            serde_json::json!({
                "enforced": false,
                "reason": "k3d containers share the host's CPUs and memory; the class profile is \
                           not applied",
            })
        }
    }

    async fn release<R: Runner>(&mut self, runner: &R) -> Result<(), PlatformError> {
        dryrun::section("down");
        // The VMs go first: their k3s agents lose the server with the cluster.
        let stopped = qemu::stop(runner, &self.vms).await;
        step(
            runner,
            &cmd::cluster_delete(&self.name),
            "delete k3d cluster",
        )
        .await
        .map_err(K3dError::from)?;
        stopped.map_err(K3dError::from)?;
        Ok(())
    }
}

impl<R: Runner> KubePlatform<K3d, R> {
    /// Bring up the k3d cluster of `scenario` for run `run_id`, writing `k3d.yaml` and
    /// `kubeconfig` into `run_dir`, and connect to it with its kubeconfig.
    pub async fn up(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
        runner: R,
    ) -> Result<Self, K3dError> {
        let cache = qemu::assets::cache_root();
        Self::up_with(
            scenario,
            run_id,
            run_dir,
            runner,
            cache.as_deref(),
            |p: PathBuf| async move { Kube::from_kubeconfig(&p).await },
        )
        .await
    }

    /// [`KubePlatform::up`] with the kube client made by `connect` from the run's kubeconfig
    /// path (tests pass a scripted API server) and QEMU VM assets cached under `vm_cache`.
    ///
    /// QEMU VM nodes: their assets are built (or found in the cache) before the cluster is
    /// created; once it exists they boot on its Docker network and join before OpenFaaS goes
    /// in, so the chart's pods see every node.
    pub async fn up_with<C, F>(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
        runner: R,
        vm_cache: Option<&Path>,
        connect: C,
    ) -> Result<Self, K3dError>
    where
        C: FnOnce(PathBuf) -> F,
        F: Future<Output = Result<Kube, KubeError>>,
    {
        let cp = config::plan(scenario, run_id)?;
        let ssh: Vec<&str> = cp
            .external_agents
            .iter()
            .filter(|a| a.backend == Backend::Ssh)
            .map(|a| a.node.as_str())
            .collect();
        if !ssh.is_empty() {
            return Err(K3dError::SshAgents {
                path: scenario.path.display().to_string(),
                nodes: ssh.join(", "),
            });
        }
        let vm_assets = if vms::vm_nodes(&cp).is_empty() {
            Vec::new()
        } else {
            let cache = vm_cache.ok_or(VmError::NoCache)?;
            qemu::prepare_all(&runner, &vms::vm_arches(&cp), cache).await?
        };
        let name = cp.config.metadata.name.clone();
        let config_path = run_dir.join("k3d.yaml");
        let kubeconfig = run_dir.join("kubeconfig");
        dryrun::section("cluster");
        dryrun::note(format!(
            "write {} (k3d.io/v1alpha5 Simple: {} server, {} agent container(s), registry {})",
            config_path.display(),
            cp.config.servers,
            cp.config.agents,
            cp.registry_push
        ));
        write(&config_path, &cp.config_yaml()?)?;
        let listed = step(&runner, &cmd::cluster_list(), "list k3d clusters").await?;
        dryrun::skip_when(format!(
            "cluster {name} exists with {RUN_LABEL}={run_id} on its containers (reused)"
        ));
        let reused = cluster_of_run(&parse::k3d_clusters(&listed.stdout)?, &name, run_id)?;
        if !reused {
            step(
                &runner,
                &cmd::cluster_create(&config_path, &kubeconfig),
                "create k3d cluster",
            )
            .await?;
        }
        // The cluster exists from here on: a failing step deletes it.
        let ready = async {
            step(
                &runner,
                &cmd::kubeconfig_write(&name, &kubeconfig),
                "write the cluster's kubeconfig",
            )
            .await?;
            if !reused {
                dryrun::wait(
                    format!(
                        "nodes {} Ready (k3d waits itself: options.k3d.wait)",
                        cp.k3d_nodes
                            .iter()
                            .map(|n| n.node.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    cmd::CREATE_TIMEOUT,
                );
            }
            let kube = connect(kubeconfig.clone()).await?;
            let vms =
                vms::join_all(&runner, &kube, scenario, &cp, &vm_assets, run_dir, run_id).await?;
            let server = cp.k3d_nodes.first().map_or("", |n| n.node.as_str());
            let url = format!("http://127.0.0.1:{}", scenario.platform.k3d.gateway_port);
            dryrun::section("node labels");
            dryrun::note(
                "labels are passed at join already; these make them hold on a node that joined \
                 without them",
            );
            let target = Target {
                run_dir,
                kubeconfig: &kubeconfig,
                server,
                url,
                install_chart: true,
            };
            let gateway = install(&runner, &kube, scenario, target).await?;
            Ok::<_, K3dError>((kube, gateway, vms))
        }
        .await;
        match ready {
            Ok((kube, gateway, vms)) => Ok(KubePlatform::new(
                K3d { name, vms },
                Parts {
                    runner,
                    kube,
                    gateway,
                    registry: Some(cp.registry()),
                    run_dir: run_dir.to_path_buf(),
                    kubeconfig,
                    reused,
                },
            )),
            Err(error) => {
                qemu::abandon(&runner, run_dir, &vms::vm_node_arches(&cp)).await;
                match runner.run(&cmd::cluster_delete(&name)).await {
                    Ok(_) => Err(error),
                    Err(cleanup) => Err(K3dError::Cleanup {
                        cluster: name,
                        error: Box::new(error),
                        cleanup: Box::new(cleanup),
                    }),
                }
            }
        }
    }

    /// A platform that `up` made earlier on k3d cluster `name`, reconnected from its saved
    /// parts (`platform::cluster::attach`): no VM is held, nothing is installed.
    pub fn reconnect(
        runner: R,
        kube: Kube,
        gateway: GatewayAccess,
        name: String,
        registry: Option<ImageRegistry>,
        run_dir: &Path,
        kubeconfig: &Path,
    ) -> Self {
        KubePlatform::new(
            K3d {
                name,
                vms: Vec::new(),
            },
            Parts::reconnected(runner, kube, gateway, registry, run_dir, kubeconfig),
        )
    }
}

/// Is cluster `name` in `clusters` this run's (reuse it), absent (create it), or someone
/// else's (refuse)?
fn cluster_of_run(clusters: &[K3dCluster], name: &str, run_id: &str) -> Result<bool, K3dError> {
    let Some(c) = clusters.iter().find(|c| c.name == name) else {
        return Ok(false);
    };
    let owner = c
        .nodes
        .iter()
        .find_map(|n| n.runtime_labels.get(RUN_LABEL))
        .map_or_else(
            || format!("no faasbed run (no {RUN_LABEL} label)"),
            |r| format!("run {r}"),
        );
    if owner == format!("run {run_id}") {
        Ok(true)
    } else {
        Err(K3dError::ClusterTaken {
            name: name.to_string(),
            owner,
        })
    }
}

/// Delete every k3d cluster a faasbed run created (its containers carry [`RUN_LABEL`]), e.g.
/// after a crash; clusters without the label are left alone. Returns the names deleted.
/// Only clusters whose run id `ours` accepts are deleted (`faasbed clean` without `--all`: the
/// runs of its home).
pub async fn sweep_clusters<R: Runner>(
    runner: &R,
    ours: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, K3dError> {
    let listed = step(runner, &cmd::cluster_list(), "list k3d clusters").await?;
    let mut deleted = Vec::new();
    for c in parse::k3d_clusters(&listed.stdout)? {
        let ours = c
            .nodes
            .iter()
            .any(|n| n.runtime_labels.get(RUN_LABEL).is_some_and(|r| ours(r)));
        if ours {
            step(runner, &cmd::cluster_delete(&c.name), "delete k3d cluster").await?;
            deleted.push(c.name);
        }
    }
    Ok(deleted)
}
