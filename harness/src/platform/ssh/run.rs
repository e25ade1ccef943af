//! Running the host steps: trust and probe every host in parallel, install in order, wait for
//! the nodes, fetch the kubeconfig; and `down`. The steps themselves come from
//! [`super::plan::sequence`], the same list `faasbed plan` prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;

use super::plan::{sequence, Phase};
use super::{hosts, record, Host, HostRecord, SshPlatformError, HOSTS_FILE, READY_DEADLINE};
use crate::exec::{Cmd, Runner};
use crate::nodes::ssh::k3s::{self, Input, RemoteStep, Role};
use crate::nodes::ssh::{self, probe};
use crate::spec::Scenario;

/// How long one upload or install may take (a k3s binary to a Pi over a slow link).
const LONG_STEP: Duration = Duration::from_secs(900);
/// Pause between two looks at the nodes while waiting for Ready.
const POLL: Duration = Duration::from_secs(3);

/// What [`build_cluster`] made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The kubeconfig (mode 0600) with the server's address, in the run directory.
    pub kubeconfig: PathBuf,
    /// What each host's probe found.
    pub records: Vec<HostRecord>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SshPlatformError + '_ {
    move |source| SshPlatformError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Trust (a pinned key) and probe `h`, then check it can be the node the scenario says.
async fn preflight<R: Runner>(runner: &R, h: &Host) -> Result<HostRecord, SshPlatformError> {
    let pre = |e| SshPlatformError::Preflight {
        source: Box::new(e),
    };
    if let Some(pin) = &h.pin {
        ssh::trust_pinned(runner, &h.ssh, pin).await.map_err(pre)?;
    }
    let (facts, offset) = ssh::probe(runner, &h.ssh).await.map_err(pre)?;
    let mut problems = probe::check(h.node.arch, &facts, offset);
    problems.extend(k3s::refuse_existing(&facts));
    if !problems.is_empty() {
        return Err(SshPlatformError::Unfit {
            node: h.node.name.clone(),
            host: h.ssh.host.clone(),
            port: h.ssh.port,
            problems: problems.join("; "),
        });
    }
    Ok(record(h, &facts, offset))
}

/// The command of `step` on `h`, its stdin filled in (`secret` for [`Input::Secret`]).
fn command(
    h: &Host,
    step: &RemoteStep,
    secret: &[u8],
    version: &str,
) -> Result<Cmd, SshPlatformError> {
    let cmd = h.ssh.command(&step.remote);
    Ok(match &step.input {
        Input::None => cmd,
        Input::Text(t) => cmd.stdin(t.as_bytes().to_vec()),
        Input::Secret(_) => cmd.stdin(secret.to_vec()),
        Input::File(p) => cmd
            .stdin(std::fs::read(p).map_err(|source| SshPlatformError::Files {
                path: p.clone(),
                version: version.to_string(),
                source,
            })?)
            .timeout(LONG_STEP),
    })
}

async fn run_step<R: Runner>(
    runner: &R,
    h: &Host,
    step: &RemoteStep,
    secret: &[u8],
    version: &str,
) -> Result<String, SshPlatformError> {
    let mut cmd = command(h, step, secret, version)?;
    if step.remote.contains(k3s::INSTALLER) {
        cmd = cmd.timeout(LONG_STEP);
    }
    runner
        .run(&cmd)
        .await
        .map(|o| o.stdout)
        .map_err(|e| SshPlatformError::from(h.ssh.classify(&step.remote, e)))
}

/// Build the k3s cluster of `scenario` on its hosts for run `run_id`: every host trusted,
/// probed and checked first (in parallel; any failure stops here, naming the host), then each
/// host's install in [`sequence`] order, every node Ready with its arch, and the kubeconfig
/// saved (0600) in `run_dir` with the server's address.
pub async fn build_cluster<R: Runner>(
    runner: &R,
    scenario: &Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<Built, SshPlatformError> {
    std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;
    let hosts = hosts(scenario, run_dir)?;
    let checked = futures::future::join_all(hosts.iter().map(|h| preflight(runner, h))).await;
    let mut records = Vec::new();
    for r in checked {
        records.push(r?);
    }
    let version = scenario
        .platform
        .k3s
        .as_ref()
        .map_or(crate::pins::K3S_VERSION, |k| k.version.as_str());
    let steps = sequence(scenario, run_id, &hosts);
    // Every release file is there before the first install, not found missing halfway.
    for (_, _, step) in &steps {
        if let Input::File(p) = &step.input {
            std::fs::metadata(p).map_err(|source| SshPlatformError::Files {
                path: p.clone(),
                version: version.to_string(),
                source,
            })?;
        }
    }
    let path = run_dir.join(HOSTS_FILE);
    let text = serde_json::to_string_pretty(&records).unwrap_or_default();
    std::fs::write(&path, text).map_err(io(&path))?;

    let mut token = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut token);
    let token = hex::encode(token).into_bytes();
    let mut kubeconfig = None;
    for (i, phase, step) in steps {
        let h = &hosts[i];
        match phase {
            Phase::Install => {
                run_step(runner, h, &step, &token, version).await?;
            }
            Phase::WaitReady => wait_ready(runner, &hosts, h, &step).await?,
            Phase::Kubeconfig => {
                let yaml = run_step(runner, h, &step, &token, version).await?;
                let kc = k3s::rewrite_kubeconfig(&yaml, &h.ssh.host).ok_or_else(|| {
                    SshPlatformError::Kubeconfig {
                        node: h.node.name.clone(),
                        host: h.ssh.host.clone(),
                    }
                })?;
                let path = run_dir.join("kubeconfig");
                crate::store::write_private(&path, kc.as_bytes()).map_err(io(&path))?;
                kubeconfig = Some(path);
            }
        }
    }
    Ok(Built {
        kubeconfig: kubeconfig.unwrap_or_else(|| run_dir.join("kubeconfig")),
        records,
    })
}

async fn wait_ready<R: Runner>(
    runner: &R,
    hosts: &[Host],
    server: &Host,
    step: &RemoteStep,
) -> Result<(), SshPlatformError> {
    let want: Vec<&crate::spec::Node> = hosts.iter().map(|h| &h.node).collect();
    let deadline = tokio::time::Instant::now() + READY_DEADLINE;
    loop {
        // A failed look (the API still starting) counts as "not yet".
        let missing = match run_step(runner, server, step, &[], "").await {
            Ok(out) => k3s::not_ready(&want, &k3s::parse_nodes(&out)),
            Err(e) => vec![e.to_string()],
        };
        if missing.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SshPlatformError::NotReady {
                server: server.node.name.clone(),
                deadline: READY_DEADLINE,
                missing: missing.join("; "),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Remove what run `run_id` installed on the hosts of `scenario`, agents before the server;
/// a host whose manifest names another run (or none) is left as it is. Every host is tried;
/// the failures are returned together.
pub async fn uninstall<R: Runner>(
    runner: &R,
    scenario: &Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<(), SshPlatformError> {
    let mut hosts = hosts(scenario, run_dir)?;
    hosts.sort_by_key(|h| h.role == Role::Server);
    let mut failed = Vec::new();
    for h in &hosts {
        let step = k3s::uninstall_step(h.role, run_id);
        if let Err(e) = run_step(runner, h, &step, &[], "").await {
            failed.push(e.to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(SshPlatformError::Down {
            failed: failed.len(),
            messages: failed.join("; "),
        })
    }
}
