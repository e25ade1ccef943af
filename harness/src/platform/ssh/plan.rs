//! The host steps in order, as data: the one list that [`super::build_cluster`] runs and
//! `faasbed plan` prints ([`extend`]), so the plan is exactly what runs on every host.

use std::path::Path;

use super::{hosts, Host, SshPlatformError, READY_DEADLINE};
use crate::nodes::ssh::hostkey;
use crate::nodes::ssh::k3s::{self, Input, RemoteStep, Role};
use crate::platform::k3d::plan::{Plan, Section, Step, REDACTED};
use crate::spec::Scenario;

/// What a step of the install sequence is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Runs once; a failure stops the run.
    Install,
    /// Repeated on the server until every node is Ready with its arch.
    WaitReady,
    /// Its output is the kubeconfig.
    Kubeconfig,
}

/// After every host passed its probe: the server's install, each agent's install (scenario
/// order), then on the server the wait for Ready and the kubeconfig. Each item names its host
/// by index into `hosts`.
pub fn sequence(
    scenario: &Scenario,
    run_id: &str,
    hosts: &[Host],
) -> Vec<(usize, Phase, RemoteStep)> {
    let Some(k) = &scenario.platform.k3s else {
        return Vec::new();
    };
    let Some(si) = hosts.iter().position(|h| h.role == Role::Server) else {
        return Vec::new();
    };
    let x = k3s::Install {
        run_id,
        version: &k.version,
        files: k.files.as_deref(),
        server_host: &hosts[si].ssh.host,
    };
    let mut out = Vec::new();
    let order = std::iter::once(si).chain((0..hosts.len()).filter(|i| *i != si));
    for i in order {
        let h = &hosts[i];
        for s in k3s::install_steps(&h.node, h.role, &x) {
            out.push((i, Phase::Install, s));
        }
    }
    out.push((si, Phase::WaitReady, k3s::nodes_step()));
    out.push((si, Phase::Kubeconfig, k3s::kubeconfig_step()));
    out
}

/// Every remote line run on each host by `up`, in order, by node name: the probe, then its
/// part of [`sequence`] (the wait for Ready, repeated at run time, appears once).
pub fn host_lines(
    scenario: &Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<Vec<(String, Vec<String>)>, SshPlatformError> {
    let hosts = hosts(scenario, run_dir)?;
    let seq = sequence(scenario, run_id, &hosts);
    Ok(hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut lines = vec![k3s::probe_step().remote];
            lines.extend(
                seq.iter()
                    .filter(|(j, _, _)| *j == i)
                    .map(|(_, _, s)| s.remote.clone()),
            );
            (h.node.name.clone(), lines)
        })
        .collect())
}

fn input_note(input: &Input) -> Option<String> {
    match input {
        Input::None => None,
        Input::Text(t) if t == crate::nodes::ssh::probe::SCRIPT => Some(format!(
            "stdin: the host probe script ({} lines, nodes/ssh/probe.rs)",
            t.lines().count()
        )),
        Input::Text(t) => Some(format!("stdin: {}", t.trim_end().replace('\n', "\\n"))),
        Input::File(p) => Some(format!("stdin: the file {}", p.display())),
        Input::Secret(what) => Some(format!("stdin: {what} ({REDACTED})")),
    }
}

fn push(steps: &mut Vec<Step>, h: &Host, s: &RemoteStep) {
    steps.push(Step::Note(s.what.clone()));
    steps.push(Step::Command {
        cmd: h.ssh.command(&s.remote),
        on: Some(h.node.name.clone()),
    });
    if let Some(n) = input_note(&s.input) {
        steps.push(Step::Note(n));
    }
}

/// The host sections of the plan of `scenario` (empty without `[platform.k3s]`): trust and
/// probe, install, and the down steps.
pub fn sections(
    scenario: &Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<(Vec<Section>, Vec<Step>), SshPlatformError> {
    if scenario.platform.k3s.is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let hosts = hosts(scenario, run_dir)?;
    let mut probe = vec![Step::Note(
        "every host in parallel; any failure stops the run here, before anything is installed"
            .into(),
    )];
    for h in &hosts {
        if let Some(pin) = &h.pin {
            probe.push(Step::Command {
                cmd: hostkey::keyscan(&h.ssh),
                on: None,
            });
            probe.push(Step::Note(format!(
                "keep the key whose fingerprint is {pin}, write it to {} (0600); a host offering no such key is refused as changed",
                h.ssh.known_hosts.display()
            )));
        }
        push(&mut probe, h, &k3s::probe_step());
        probe.push(Step::Note(format!(
            "check: arch {}, memory cgroup on, ≥ {} MiB memory, ≥ {} MiB free in /var/lib, clock within {} s; no k3s installed",
            h.node.arch,
            crate::nodes::ssh::probe::MIN_MEM_KIB / 1024,
            crate::nodes::ssh::probe::MIN_DISK_KIB / 1024,
            crate::nodes::ssh::probe::MAX_CLOCK_OFFSET_NS / 1_000_000_000
        )));
    }
    let mut install = vec![Step::Note(
        "a k3s join token is made here (32 random bytes); it goes only through stdin".into(),
    )];
    for (i, phase, s) in sequence(scenario, run_id, &hosts) {
        let h = &hosts[i];
        push(&mut install, h, &s);
        if phase == Phase::WaitReady {
            install.push(Step::Wait {
                condition: format!(
                    "every node ({}) is listed Ready with its scenario arch",
                    hosts
                        .iter()
                        .map(|h| format!("{} {}", h.node.name, h.node.arch.k8s()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                deadline: READY_DEADLINE,
                polls: Vec::new(),
            });
        }
        if phase == Phase::Kubeconfig {
            install.push(Step::Note(format!(
                "its server address becomes {}; saved as {} (0600)",
                k3s::server_url(&h.ssh.host),
                run_dir.join("kubeconfig").display()
            )));
        }
    }
    let mut down = Vec::new();
    let mut order: Vec<&Host> = hosts.iter().collect();
    order.sort_by_key(|h| h.role == Role::Server);
    for h in order {
        push(&mut down, h, &k3s::uninstall_step(h.role, run_id));
    }
    Ok((
        vec![
            Section {
                title: "hosts: trust and probe".into(),
                steps: probe,
            },
            Section {
                title: "hosts: install k3s".into(),
                steps: install,
            },
        ],
        down,
    ))
}

/// Put the host sections of `scenario` into the existing-cluster `plan`: before everything,
/// and the uninstall steps as its `down` section.
pub fn extend(
    plan: &mut Plan,
    scenario: &Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<(), SshPlatformError> {
    let (sections, down) = sections(scenario, run_id, run_dir)?;
    if sections.is_empty() {
        return Ok(());
    }
    plan.header.push(format!(
        "k3s {} installed by faasbed on the ssh nodes; the cluster is then used as an existing one",
        scenario
            .platform
            .k3s
            .as_ref()
            .map_or("", |k| k.version.as_str())
    ));
    let kubeconfig = run_dir.join("kubeconfig");
    for h in &mut plan.header {
        *h = h.replace(
            "kubeconfig <kubeconfig>",
            &format!("kubeconfig {}", kubeconfig.display()),
        );
    }
    for s in &mut plan.sections {
        // The existing-cluster notes speak of a cluster someone else built.
        if s.title == "existing cluster" {
            for step in &mut s.steps {
                if let Step::Note(t) = step {
                    if t.starts_with("attach through") {
                        *t = format!(
                            "attach through {} (fetched above): the cluster faasbed just built",
                            kubeconfig.display()
                        );
                    }
                }
            }
        }
    }
    plan.sections.retain(|s| s.title != "down");
    plan.sections.splice(0..0, sections);
    let mut steps = vec![Step::Note(
        "k3s comes off every host, agents first, only where /var/lib/faasbed/installed names this run (OpenFaaS and the functions go with it)".into(),
    )];
    steps.extend(down);
    plan.sections.push(Section {
        title: "down".into(),
        steps,
    });
    Ok(())
}
