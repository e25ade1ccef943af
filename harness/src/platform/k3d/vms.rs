//! The QEMU VM nodes of a k3d cluster ([`crate::nodes::qemu`] boots them): which scenario
//! nodes they are, their place on the cluster's Docker network, the server they join and the
//! token they join with, and the wait until each is a Ready node of its arch. `up` runs
//! [`join_all`] after the cluster exists and before OpenFaaS goes in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{ClusterPlan, ExternalAgent};
use super::error::K3dError;
use crate::dryrun;
use crate::exec::{Cmd, Runner};
use crate::nodes::qemu::assets::VmAssets;
use crate::nodes::qemu::node::{self, Join, NodeFiles};
use crate::nodes::qemu::{self, net, run, Running, VmError};
use crate::platform::kube::Kube;
use crate::spec::{Arch, Backend, Scenario};

/// How long a booted VM's k3s agent may take to register its node Ready.
pub const NODE_READY_DEADLINE: Duration = Duration::from_secs(600);
/// Pause between two looks at the node list.
const NODE_POLL: Duration = Duration::from_secs(2);
/// The port the k3s server's API listens on inside the cluster network.
pub const SERVER_PORT: u16 = 6443;
/// Where k3s keeps the agent token on a server.
const NODE_TOKEN: &str = "/var/lib/rancher/k3s/server/node-token";

/// The scenario's QEMU VM nodes, as the cluster plan lists them.
pub fn vm_nodes(cp: &ClusterPlan) -> Vec<&ExternalAgent> {
    cp.external_agents
        .iter()
        .filter(|a| a.backend == Backend::Qemu)
        .collect()
}

/// Each VM node's name and arch (what [`qemu::abandon`] and [`qemu::preflight`] need).
pub fn vm_node_arches(cp: &ClusterPlan) -> Vec<(&str, Arch)> {
    vm_nodes(cp)
        .iter()
        .map(|a| (a.node.as_str(), a.arch))
        .collect()
}

/// The distinct arches of the plan's VM nodes, in node order (one set of assets each).
pub fn vm_arches(cp: &ClusterPlan) -> Vec<Arch> {
    let mut out: Vec<Arch> = Vec::new();
    for a in vm_nodes(cp) {
        if !out.contains(&a.arch) {
            out.push(a.arch);
        }
    }
    out
}

/// Fail before anything starts when the plan has VM nodes this host cannot start.
pub fn preflight(
    cp: &ClusterPlan,
    found: impl Fn(&str) -> Option<PathBuf>,
    root: bool,
) -> Result<(), VmError> {
    qemu::preflight(&vm_node_arches(cp), found, root)
}

/// The Docker network k3d creates for cluster `name`.
pub fn network_name(cluster: &str) -> String {
    format!("k3d-{cluster}")
}

/// `docker network inspect k3d-CLUSTER`.
pub fn network_inspect(cluster: &str) -> Cmd {
    Cmd::new("docker").args(["network", "inspect", &network_name(cluster)])
}

/// `docker exec SERVER cat …/node-token`: the token agents join with (never logged: only the
/// command line is).
pub fn read_token(server_container: &str) -> Cmd {
    Cmd::new("docker").args(["exec", server_container, "cat", NODE_TOKEN])
}

/// Start every VM node of the plan on the cluster's network and wait until each is a Ready
/// node of its arch. A VM of this run that is running already (its pid alive) is kept.
pub async fn join_all<R: Runner>(
    runner: &R,
    kube: &Kube,
    scenario: &Scenario,
    cp: &ClusterPlan,
    assets: &[(Arch, VmAssets)],
    run_dir: &Path,
    run_id: &str,
) -> Result<Vec<Running>, K3dError> {
    dryrun::section("agents outside k3d (QEMU VMs)");
    let vms = vm_nodes(cp);
    if vms.is_empty() {
        dryrun::note("no qemu node: nothing joins from outside k3d");
        return Ok(Vec::new());
    }
    let cluster = &cp.config.metadata.name;
    let network = net::docker_network(&run(runner, &network_inspect(cluster)).await?)
        .map_err(VmError::from)?;
    let container = |name: &str| {
        network.container(name).ok_or_else(|| VmError::NoContainer {
            network: network.name.clone(),
            name: name.to_string(),
        })
    };
    let server = cp.k3d_nodes.first().map_or("", |n| n.container.as_str());
    let server_url = format!("https://{}:{SERVER_PORT}", container(server)?);
    let registry_name = &scenario.platform.k3d.registry_name;
    let registry = network.container(registry_name).map(|ip| {
        let port = cp.registry_pull.rsplit(':').next().unwrap_or("5000");
        (cp.registry_pull.clone(), format!("http://{ip}:{port}"))
    });
    let token = run(runner, &read_token(server)).await?.trim().to_string();
    dryrun::note(format!(
        "the join token ({}) stays in memory and goes only onto each VM's node disk (k3s.yaml, \
         mode 0600); addresses come from the top of {}'s subnet",
        crate::dryrun::REDACTED,
        network_name(cluster)
    ));
    let addresses = network
        .vm_addresses(vms.len())
        .ok_or_else(|| VmError::NoAddress {
            network: network.name.clone(),
            wanted: vms.len(),
        })?;
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns = net::name_servers(&resolv);

    let mut running = Vec::new();
    for (agent, ip) in vms.iter().zip(addresses) {
        let Some(node) = scenario.node(&agent.node) else {
            continue;
        };
        let files = NodeFiles::new(run_dir, &node.name);
        let tap = net::tap_name(&node.name);
        running.push(Running {
            node: node.name.clone(),
            arch: node.arch,
            tap: tap.clone(),
            files: files.clone(),
            clock_offset_ns: None,
        });
        if node::pid(&files).is_some_and(crate::exec::pid_alive) {
            continue;
        }
        let Some((_, a)) = assets.iter().find(|(arch, _)| *arch == node.arch) else {
            continue;
        };
        dryrun::note(format!(
            "write {}/faasbed/: node.env (address, gateway, name servers), k3s.yaml (server \
             https://<{server} address>:{SERVER_PORT}, token {}, {}), registries.yaml ({})",
            files.staging.display(),
            crate::dryrun::REDACTED,
            agent.k3s_args.join(" "),
            if registry.is_some() {
                format!("{} via http://<registry address>", cp.registry_pull)
            } else {
                format!("none: {registry_name} is not on {}", network.name)
            }
        ));
        let join = Join {
            node,
            ip,
            prefix: network.prefix,
            gateway: network.gateway,
            dns: dns.clone(),
            server_url: server_url.clone(),
            token: &token,
            k3s_args: &agent.k3s_args,
            registry: registry.clone(),
        };
        qemu::start(runner, &join, a, &files, &network.bridge, &tap, run_id).await?;
    }
    for r in &mut running {
        dryrun::wait(
            format!(
                "{} prints `{}` ({} reads it; `{}` stops the run with its reason)",
                r.node,
                node::READY_MARK,
                r.files.console.display(),
                node::FAILED_MARK.trim()
            ),
            qemu::BOOT_DEADLINE,
        );
        qemu::booted(r).await?;
    }
    for r in &running {
        wait_node(kube, &r.node, r.arch, &r.files.console).await?;
    }
    Ok(running)
}

/// Wait until `name` is a Ready node, then check its arch.
async fn wait_node(kube: &Kube, name: &str, arch: Arch, console: &Path) -> Result<(), K3dError> {
    dryrun::wait(
        format!("node {name} Ready with kubernetes.io/arch={}", arch.k8s()),
        NODE_READY_DEADLINE,
    );
    let started = Instant::now();
    let deadline = started + NODE_READY_DEADLINE;
    loop {
        let facts = kube.node_facts().await?;
        let seen = facts.iter().find(|f| f.name == name);
        if let Some(f) = seen.filter(|f| f.ready) {
            if f.arch != arch.k8s() {
                return Err(K3dError::WrongArch {
                    node: name.to_string(),
                    want: arch.k8s(),
                    got: f.arch.clone(),
                });
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(K3dError::NotReady {
                node: name.to_string(),
                waited: started.elapsed(),
                seen: if seen.is_some() {
                    "registered, not Ready"
                } else {
                    "never registered"
                }
                .into(),
                console: console.to_path_buf(),
            });
        }
        tokio::time::sleep(NODE_POLL).await;
    }
}
